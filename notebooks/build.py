"""Build the zh-TW and English twin notebooks from one bilingual source per lesson, and execute them.

A lesson source, ``notebooks/source/NN_name.md``, is a sequence of cells, each opened by a marker
line that starts with ``%%``:

    %% en            an English Markdown cell; the next cell must be its zh-TW twin
    %% zh-TW         the zh-TW twin of the English cell before it
    %% code          a code cell, the same in both languages

A marker may end with a slide type for the classroom slides (``slide``, ``subslide``,
``fragment``, ``skip``, ``notes`` or ``-``), as in ``%% en slide``. A cell with no slide type
gets one from its content: a Markdown cell whose first line is a ``#`` or ``##`` heading
starts a slide, a ``###`` heading starts a subslide, and any other cell, code included,
continues the slide before it (``-``). In a code cell, ``{language}`` is replaced by the
notebook's language tag; it is the only difference between the twins' code.

The first cell of a source is a ``%% title`` cell. It holds four ``key: value`` lines: the
lesson title in both languages as ``en:`` and ``zh-TW:``, and a one-line description of the
lesson for the contents page as ``summary-en:`` and ``summary-zh-TW:``::

    %% title
    en: The padding trap
    zh-TW: 填補陷阱
    summary-en: Why padding with 0 instead of the zero point corrupts the border outputs.
    summary-zh-TW: 為什麼用 0 而不是零點填補，會弄錯邊界的輸出。

Besides the lessons, the build writes the contents page ``00_index.ipynb`` in each language,
listing every lesson with its title and summary; the lessons link to it.

Usage:
    python notebooks/build.py                  build and execute every lesson
    python notebooks/build.py 01_padding_trap  build and execute one lesson
    python notebooks/build.py --no-execute     write the notebooks without outputs
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

NOTEBOOKS = Path(__file__).resolve().parent
SOURCES = NOTEBOOKS / "source"
LANGUAGES = ("en", "zh-TW")
SLIDE_TYPES = ("slide", "subslide", "fragment", "skip", "notes", "-")
CELL_TIMEOUT_SECONDS = 600
# PYTHONHASHSEED of the kernels in which this script executes the lessons, and of the kernels in
# which `pytest --nbval` executes them again (set by notebooks/conftest.py). The seeds differ, so
# if the order of printed text follows string hashing, the fresh output differs from the stored
# one and nbval reports it.
BUILD_HASH_SEED = "1"
NBVAL_HASH_SEED = "2026"

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
TITLE_KEYS = ("en", "zh-TW", "summary-en", "summary-zh-TW")
INDEX_STEM = "00_index"

COLLECTION_TITLES = {
    "en": "Integer-only quantized inference",
    "zh-TW": "純整數量化推論",
}
INDEX_TEXT = {
    "en": {
        "intro": "Lessons on how a quantized network computes with integers only, and on the "
                 "mistakes that make its results differ from the real-valued model. "
                 "Open a lesson and run all its cells from the top (Run > Run All Cells).",
        "lessons": "Lessons",
        "other_language": "[這套課程的中文（台灣）版本](../zh-TW/00_index.ipynb)",
    },
    "zh-TW": {
        "intro": "這套課程說明量化網路如何只用整數計算，以及哪些錯誤會讓結果和實數模型不同。"
                 "打開一課後，請從頭執行所有儲存格（執行 > 執行所有儲存格）。",
        "lessons": "課程",
        "other_language": "[The English version of this collection](../en/00_index.ipynb)",
    },
}


@dataclass
class SourceCell:
    """One cell of a lesson source: Markdown in both languages, or shared code."""

    kind: str  # "markdown" or "code"
    text: dict[str, str] = field(default_factory=dict)  # language tag -> text; code uses key "code"
    slide_type: str | None = None


@dataclass
class Lesson:
    """A parsed lesson source."""

    stem: str
    titles: dict[str, str]  # language tag -> lesson title
    summaries: dict[str, str]  # language tag -> one-line description for the contents page
    cells: list[SourceCell]


def parse_lesson(path: Path) -> Lesson:
    """Parse a bilingual lesson source; raise ``ValueError`` naming the line of any mistake."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[tuple[int, str, str | None, list[str]]] = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("%%"):
            words = line[2:].split()
            if not words:
                raise ValueError(f"{path.name}:{number}: a marker needs a kind: en, zh-TW, code or title")
            kind = words[0]
            slide = words[1] if len(words) > 1 else None
            if kind not in ("en", "zh-TW", "code", "title") or (slide is not None and slide not in SLIDE_TYPES):
                raise ValueError(f"{path.name}:{number}: unknown marker {line!r}")
            blocks.append((number, kind, slide, []))
        elif blocks:
            blocks[-1][3].append(line)
        elif line.strip():
            raise ValueError(f"{path.name}:{number}: text before the first %% marker")

    if not blocks or blocks[0][1] != "title":
        raise ValueError(f"{path.name}:1: a lesson source starts with a %% title cell")
    title_fields: dict[str, str] = {}
    for offset, line in enumerate(blocks[0][3], start=blocks[0][0] + 1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or key not in TITLE_KEYS or not value.strip():
            raise ValueError(f"{path.name}:{offset}: a title cell line is 'KEY: text' with KEY one of {TITLE_KEYS}")
        if key in title_fields:
            raise ValueError(f"{path.name}:{offset}: {key!r} appears twice in the title cell")
        title_fields[key] = value.strip()
    missing = [key for key in TITLE_KEYS if key not in title_fields]
    if missing:
        raise ValueError(f"{path.name}: the title cell has no line for {missing}; it needs one for each of {TITLE_KEYS}")
    titles = {language: title_fields[language] for language in LANGUAGES}
    summaries = {language: title_fields[f"summary-{language}"] for language in LANGUAGES}

    cells: list[SourceCell] = []
    pending_english: tuple[int, str | None, str] | None = None
    for number, kind, slide, body in blocks[1:]:
        text = "\n".join(body).strip("\n")
        if kind == "en":
            if pending_english:
                raise ValueError(f"{path.name}:{pending_english[0]}: English cell without a zh-TW twin")
            pending_english = (number, slide, text)
        elif kind == "zh-TW":
            if not pending_english:
                raise ValueError(f"{path.name}:{number}: zh-TW cell without an English cell before it")
            english_line, english_slide, english_text = pending_english
            cells.append(SourceCell("markdown", {"en": english_text, "zh-TW": text}, slide or english_slide))
            pending_english = None
        elif kind == "code":
            if pending_english:
                raise ValueError(f"{path.name}:{pending_english[0]}: English cell without a zh-TW twin")
            cells.append(SourceCell("code", {"code": text}, slide))
    if pending_english:
        raise ValueError(f"{path.name}:{pending_english[0]}: English cell without a zh-TW twin")
    return Lesson(path.stem, titles, summaries, cells)


HEADING = re.compile(r"^(#{1,6})\s")


def slide_type(cell: SourceCell) -> str:
    """Return the slide type of ``cell``: its marker's, or one derived from its first line.

    A Markdown cell opening with a ``#`` or ``##`` heading starts a slide and one opening with
    a deeper heading starts a subslide, in both languages alike because the derivation reads the
    English text. Every other cell continues the current slide.
    """
    if cell.slide_type:
        return cell.slide_type
    if cell.kind == "markdown":
        first_line = cell.text["en"].lstrip("\n").split("\n", 1)[0]
        heading = HEADING.match(first_line)
        if heading:
            return "slide" if len(heading.group(1)) <= 2 else "subslide"
    return "-"


def lesson_sources() -> list[Path]:
    """Return every lesson source in lesson order."""
    return sorted(SOURCES.glob("[0-9][0-9]_*.md"))


# Chinese text takes the full-width colon with no space after it.
COLON = {"en": ": ", "zh-TW": "："}


def navigation(lesson: Lesson, language: str, lessons: list[Lesson]) -> str:
    """Return the previous / contents / next line of ``lesson`` in ``language``."""
    labels = {
        "en": ("Previous", "Contents", "Next"),
        "zh-TW": ("上一課", "目錄", "下一課"),
    }[language]
    stems = [item.stem for item in lessons]
    colon = COLON[language]
    index = stems.index(lesson.stem)
    parts = []
    if index > 0:
        previous = lessons[index - 1]
        parts.append(f"[← {labels[0]}{colon}{previous.titles[language]}]({previous.stem}.ipynb)")
    parts.append(f"[{labels[1]}](00_index.ipynb)")
    if index + 1 < len(lessons):
        following = lessons[index + 1]
        parts.append(f"[{labels[2]}{colon}{following.titles[language]} →]({following.stem}.ipynb)")
    return " | ".join(parts)


# A line break between two Chinese characters, as the sources wrap long zh-TW paragraphs.
# Markdown renders such a break as a space, which Chinese text does not have.
_CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
_CJK_LINE_BREAK = re.compile(f"(?<=[{_CJK}])\n(?=[{_CJK}])")


def join_chinese_lines(text: str) -> str:
    """Remove the line breaks that fall between two Chinese characters or punctuation marks."""
    return _CJK_LINE_BREAK.sub("", text)


def to_notebook(lesson: Lesson, language: str, lessons: list[Lesson]) -> nbformat.NotebookNode:
    """Render ``lesson`` in ``language`` as an unexecuted notebook with navigation links."""
    nav = navigation(lesson, language, lessons)
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "qlesson": {"language": language, "source": f"source/{lesson.stem}.md"},
    }
    cells = [nbformat.v4.new_markdown_cell(nav, metadata={"slideshow": {"slide_type": "skip"}})]
    for source_cell in lesson.cells:
        metadata = {"slideshow": {"slide_type": slide_type(source_cell)}}
        if source_cell.kind == "markdown":
            text = source_cell.text[language]
            if language == "zh-TW":
                text = join_chinese_lines(text)
            cells.append(nbformat.v4.new_markdown_cell(text, metadata=metadata))
        else:
            code = source_cell.text["code"].replace("{language}", language)
            cells.append(nbformat.v4.new_code_cell(code, metadata=metadata))
    cells.append(nbformat.v4.new_markdown_cell(nav, metadata={"slideshow": {"slide_type": "skip"}}))
    for index, cell in enumerate(cells):
        cell.id = f"{lesson.stem}-{index:03d}"  # stable ids keep diffs of rebuilt notebooks small
    notebook.cells = cells
    return notebook


def to_index(language: str, lessons: list[Lesson]) -> nbformat.NotebookNode:
    """Render the contents page in ``language``: the collection title and one line per lesson."""
    text = INDEX_TEXT[language]
    entries = [
        f"{number}. [{lesson.titles[language]}]({lesson.stem}.ipynb){COLON[language]}{lesson.summaries[language]}"
        for number, lesson in enumerate(lessons, start=1)
    ]
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        "qlesson": {"language": language, "source": "build.py"},
    }
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"# {COLLECTION_TITLES[language]}\n\n{text['intro']}"),
        nbformat.v4.new_markdown_cell(f"## {text['lessons']}\n\n" + "\n".join(entries)),
        nbformat.v4.new_markdown_cell(text["other_language"]),
    ]
    for index, cell in enumerate(notebook.cells):
        cell.id = f"{INDEX_STEM}-{index:03d}"
    return notebook


def execute(notebook: nbformat.NotebookNode, directory: Path) -> None:
    """Run every cell in a fresh kernel started in ``directory``, as a learner's Run All would."""
    client = NotebookClient(
        notebook, timeout=CELL_TIMEOUT_SECONDS, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(directory)}},
    )
    client.execute(env={**os.environ, "PYTHONHASHSEED": BUILD_HASH_SEED})
    # How a cell's printed text is split into stream outputs depends on when the kernel flushed.
    # Merging consecutive pieces makes the stored outputs repeat from one run to the next.
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    # The kernel's own version string differs between machines and is not part of the lesson.
    notebook.metadata["language_info"] = {"name": "python"}
    # tests/test_determinism.py reads this to check that the stored outputs come from BUILD_HASH_SEED.
    notebook.metadata.setdefault("qlesson", {})["hash_seed"] = BUILD_HASH_SEED


def refresh_navigation(lesson: Lesson, language: str, lessons: list[Lesson]) -> Path | None:
    """Rewrite the navigation lines of a stored notebook that is not rebuilt; return its path if it changed.

    Adding, removing or renaming a lesson changes its neighbours' previous / next links, and
    those notebooks need no new run for that, so their outputs stay as stored.
    """
    target = NOTEBOOKS / language / f"{lesson.stem}.ipynb"
    if not target.exists():
        return None
    notebook = nbformat.read(target, as_version=4)
    nav = navigation(lesson, language, lessons)
    if notebook.cells[0].source == nav and notebook.cells[-1].source == nav:
        return None
    notebook.cells[0].source = nav
    notebook.cells[-1].source = nav
    nbformat.write(notebook, target)
    print(f"updated the navigation links of {target.relative_to(NOTEBOOKS.parent)}")
    return target


def build(stems: list[str] | None, run: bool) -> list[Path]:
    """Write the requested lessons (default: all) in both languages, and both contents pages."""
    lessons = [parse_lesson(path) for path in lesson_sources()]
    written = []
    for language in LANGUAGES:
        directory = NOTEBOOKS / language
        directory.mkdir(exist_ok=True)
        target = directory / f"{INDEX_STEM}.ipynb"
        nbformat.write(to_index(language, lessons), target)
        written.append(target)
        print(f"wrote {target.relative_to(NOTEBOOKS.parent)}")
    for lesson in lessons:
        if stems and lesson.stem not in stems:
            for language in LANGUAGES:
                refreshed = refresh_navigation(lesson, language, lessons)
                if refreshed:
                    written.append(refreshed)
            continue
        for language in LANGUAGES:
            directory = NOTEBOOKS / language
            directory.mkdir(exist_ok=True)
            notebook = to_notebook(lesson, language, lessons)
            if run:
                execute(notebook, directory)
            target = directory / f"{lesson.stem}.ipynb"
            nbformat.write(notebook, target)
            written.append(target)
            print(f"wrote {target.relative_to(NOTEBOOKS.parent)}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson stems such as 01_padding_trap (default: all)")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    arguments = parser.parse_args(argv)
    known = {path.stem for path in lesson_sources()}
    unknown = [stem for stem in arguments.lessons if stem not in known]
    if unknown:
        parser.error(f"no lesson source for {unknown}; known lessons: {sorted(known)}")
    build(arguments.lessons or None, run=not arguments.no_execute)
    return 0


if __name__ == "__main__":
    sys.exit(main())
