"""Links between the notebooks: every relative link resolves, and previous / next form one chain."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from lesson_notebooks import INDEX_NAME, LANGUAGES, NOTEBOOKS, all_notebook_paths, lesson_paths, notebook_id, read

# [text](target) and [text](target "title"); images ![alt](target) match too.
MARKDOWN_LINK = re.compile(r"\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)(?:\s+\"[^\"]*\")?\)")
HTML_LINK = re.compile(r"<(?:a|img)\b[^>]*?\b(?:href|src)\s*=\s*[\"'](?P<target>[^\"']+)[\"']", re.IGNORECASE)


def markdown_links(path: Path) -> list[tuple[str, str]]:
    """Return (text, target) of every link in the Markdown cells of a notebook; HTML links have no text."""
    links = []
    for cell in read(path).cells:
        if cell.cell_type != "markdown":
            continue
        links += [(match["text"], match["target"]) for match in MARKDOWN_LINK.finditer(cell.source)]
        links += [("", match["target"]) for match in HTML_LINK.finditer(cell.source)]
    return links


def is_relative(target: str) -> bool:
    parts = urlsplit(target)
    return not parts.scheme and not parts.netloc and bool(parts.path)


def navigation_links(cell_source: str) -> dict[str, str]:
    """Classify the links of a navigation line by the arrows the build writes around them."""
    links = {}
    for match in MARKDOWN_LINK.finditer(cell_source):
        text, target = match["text"], match["target"]
        if text.startswith("←"):
            role = "previous"
        elif text.endswith("→"):
            role = "next"
        else:
            role = "contents"
        assert role not in links, f"two {role} links in {cell_source!r}"
        links[role] = target
    return links


@pytest.mark.parametrize("path", all_notebook_paths(), ids=notebook_id)
def test_relative_links_resolve(path: Path):
    for text, target in markdown_links(path):
        if not is_relative(target):
            continue
        resolved = (path.parent / unquote(urlsplit(target).path)).resolve()
        assert resolved.exists(), f"{notebook_id(path)}: link [{text}]({target}) points to missing {resolved}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_previous_next_chain(language: str):
    lessons = lesson_paths(language)
    assert lessons, f"no lesson notebook in notebooks/{language}; run python notebooks/build.py"
    names = [path.name for path in lessons]
    for position, path in enumerate(lessons):
        notebook = read(path)
        top, bottom = notebook.cells[0].source, notebook.cells[-1].source
        assert top == bottom, f"{path.name}: the navigation lines at the top and the bottom differ"
        links = navigation_links(top)
        assert links.get("contents") == INDEX_NAME, f"{path.name}: contents link is {links.get('contents')}"
        expected_previous = names[position - 1] if position > 0 else None
        expected_next = names[position + 1] if position + 1 < len(names) else None
        assert links.get("previous") == expected_previous, f"{path.name}: previous link"
        assert links.get("next") == expected_next, f"{path.name}: next link"


@pytest.mark.parametrize("language", LANGUAGES)
def test_index_lists_every_lesson_in_order(language: str):
    index = NOTEBOOKS / language / INDEX_NAME
    listed = [
        target for _, target in markdown_links(index)
        if is_relative(target) and "/" not in target and target != INDEX_NAME
    ]
    assert listed == [path.name for path in lesson_paths(language)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_index_links_other_language(language: str):
    index = NOTEBOOKS / language / INDEX_NAME
    others = [other for other in LANGUAGES if other != language]
    targets = [target for _, target in markdown_links(index)]
    for other in others:
        assert f"../{other}/{INDEX_NAME}" in targets, f"{language} contents page does not link to the {other} one"


def test_index_has_no_code():
    for language in LANGUAGES:
        cells = read(NOTEBOOKS / language / INDEX_NAME).cells
        assert all(cell.cell_type == "markdown" for cell in cells), f"{language} contents page has a code cell"
