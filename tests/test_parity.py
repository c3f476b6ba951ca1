"""The zh-TW and English twins: same cells, same code up to the language tag, same language-free outputs.

An output counts as language-free when its zh-TW text has no CJK character. That rule is sound
only while every zh-TW message template in qlesson's catalog contains Chinese or equals its
English template, which ``test_catalog_zh_templates_are_chinese`` checks. Such outputs, ASCII
tables and printed numbers among them, must match the English twin exactly. In an output with
Chinese text, each line without Chinese (a table row under a translated header, say) must
match the English line at the same position, up to spacing. Images are compared only by kind,
because figures carry translated labels.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

import qlesson.i18n
from lesson_notebooks import CJK, NOTEBOOKS, lesson_paths, output_texts, read

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
# "zh-TW" as a quoted string: a line of the zh-TW twin that differs from the English line may
# differ only there, where build.py replaced {language}.
LANGUAGE_LITERAL = re.compile(r"([\"'])zh-TW\1")
SETS_LANGUAGE = r"set_language\(\s*([\"']){language}\1\s*\)"

ZH_LESSONS = lesson_paths("zh-TW")


def twin_of(path: Path) -> Path:
    return NOTEBOOKS / "en" / path.name


def lesson_id(path: Path) -> str:
    return path.stem


def merged_outputs(cell) -> list:
    """Return copies of the cell's outputs with consecutive pieces of one stream merged.

    How printed text is split into stream outputs depends on when the kernel flushed.
    """
    merged = []
    for output in cell.outputs:
        previous = merged[-1] if merged else None
        if (previous is not None and output.output_type == "stream" and previous.output_type == "stream"
                and previous.name == output.name):
            previous.text += output.text
        else:
            merged.append(copy.deepcopy(output))
    return merged


def language_free_lines(zh_text: str, en_text: str) -> list[tuple[str, str]]:
    """Pair the lines of two outputs of equal line count where the zh-TW line has no CJK character.

    Spaces are collapsed and rule lines of dashes are left out, because a translated column
    header changes the padding and the rules of a table.
    """
    zh_lines, en_lines = zh_text.splitlines(), en_text.splitlines()
    if len(zh_lines) != len(en_lines):
        return []
    return [
        (" ".join(zh_line.split()), " ".join(en_line.split()))
        for zh_line, en_line in zip(zh_lines, en_lines)
        if not CJK.search(zh_line) and re.search(r"[A-Za-z0-9]", zh_line)
    ]


def test_every_lesson_has_both_languages():
    english = [path.name for path in lesson_paths("en")]
    chinese = [path.name for path in ZH_LESSONS]
    assert chinese, "no zh-TW lesson notebook; run python notebooks/build.py"
    assert english == chinese


def test_catalog_zh_templates_are_chinese():
    """Keep the CJK rule sound: a zh-TW message without Chinese would pass as language-free."""
    catalog = qlesson.i18n._catalog  # no public accessor returns the raw templates
    for key, templates in catalog.items():
        chinese, english = templates["zh-TW"], templates["en"]
        assert CJK.search(chinese) or chinese == english, (
            f"message {key!r}: zh-TW template {chinese!r} has no Chinese and differs from {english!r}"
        )


@pytest.mark.parametrize("path", ZH_LESSONS, ids=lesson_id)
class TestTwins:
    def test_same_cells_in_same_order(self, path: Path):
        chinese, english = read(path), read(twin_of(path))
        assert [(cell.id, cell.cell_type) for cell in chinese.cells] == [
            (cell.id, cell.cell_type) for cell in english.cells
        ]

    def test_code_differs_only_in_language(self, path: Path):
        chinese, english = read(path), read(twin_of(path))
        for zh_cell, en_cell in zip(chinese.cells, english.cells):
            if zh_cell.cell_type != "code":
                continue
            zh_lines, en_lines = zh_cell.source.splitlines(), en_cell.source.splitlines()
            assert len(zh_lines) == len(en_lines), f"cell {zh_cell.id}: the twins have different line counts"
            for zh_line, en_line in zip(zh_lines, en_lines):
                if zh_line != en_line:
                    assert LANGUAGE_LITERAL.sub(r"\1en\1", zh_line) == en_line, (
                        f"cell {zh_cell.id}: the twins differ in more than the language tag:\n"
                        f"zh-TW: {zh_line}\nen:    {en_line}"
                    )

    def test_each_twin_sets_its_language(self, path: Path):
        for notebook, language in ((read(path), "zh-TW"), (read(twin_of(path)), "en")):
            code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
            pattern = SETS_LANGUAGE.format(language=re.escape(language))
            assert re.search(pattern, code), f"the {language} notebook never calls set_language({language!r})"
            assert notebook.metadata.qlesson.language == language

    def test_markdown_translated(self, path: Path):
        chinese, english = read(path), read(twin_of(path))
        for zh_cell, en_cell in zip(chinese.cells, english.cells):
            if zh_cell.cell_type == "markdown":
                assert CJK.search(zh_cell.source) or zh_cell.source == en_cell.source, (
                    f"cell {zh_cell.id} has no Chinese text but differs from English: {zh_cell.source[:200]!r}"
                )

    def test_same_output_kinds(self, path: Path):
        chinese, english = read(path), read(twin_of(path))
        for zh_cell, en_cell in zip(chinese.cells, english.cells):
            if zh_cell.cell_type != "code":
                continue
            zh_kinds = [(output.output_type, output.get("name"), sorted(output.get("data", {}))) for output in merged_outputs(zh_cell)]
            en_kinds = [(output.output_type, output.get("name"), sorted(output.get("data", {}))) for output in merged_outputs(en_cell)]
            assert zh_kinds == en_kinds, f"cell {zh_cell.id}"

    def test_language_free_outputs_match(self, path: Path):
        chinese, english = read(path), read(twin_of(path))
        for zh_cell, en_cell in zip(chinese.cells, english.cells):
            if zh_cell.cell_type != "code":
                continue
            for zh_output, en_output in zip(merged_outputs(zh_cell), merged_outputs(en_cell)):
                if WIDGET_VIEW in zh_output.get("data", {}):
                    continue  # a widget's text form contains its random model id and its state
                zh_text, en_text = "\n".join(output_texts(zh_output)), "\n".join(output_texts(en_output))
                if CJK.search(zh_text):
                    for zh_line, en_line in language_free_lines(zh_text, en_text):
                        assert zh_line == en_line, (
                            f"cell {zh_cell.id}: a line with no Chinese differs in the translated output\n"
                            f"zh-TW: {zh_line}\nen:    {en_line}"
                        )
                else:
                    assert zh_text == en_text, (
                        f"cell {zh_cell.id}: the output has no Chinese but differs\n"
                        f"zh-TW: {zh_text[:500]}\nen: {en_text[:500]}"
                    )
