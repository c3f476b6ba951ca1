"""The classroom slide decks: one slide per slide cell, and nothing loaded from the network.

The decks are exported once per test session into a temporary folder by notebooks/slides.py,
which fetches reveal.js, MathJax and the widgets renderer with npm into build/npm-packages.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from lesson_notebooks import (
    CHROMIUM,
    CHROMIUM_ARGUMENTS,
    LANGUAGES,
    NOTEBOOKS,
    lesson_paths,
    load_module,
    read,
    require_browser,
    require_npm,
    screenshot_folder,
)

slides_script = load_module("qlesson_slides", NOTEBOOKS / "slides.py")

LESSONS = [(language, path) for language in LANGUAGES for path in lesson_paths(language)]
NETWORK_URL = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
# Places in a deck where a URL makes the browser fetch something.
CSS_URL = re.compile(r"url\(\s*[\"']?(?P<url>[^\"')]+)", re.IGNORECASE)
MODULE_IMPORT = re.compile(r"\bimport\b[^;'\"]*?\bfrom\s*[\"'](?P<url>[^\"']+)[\"']")
WIDGET_RENDERER = re.compile(r"widgetRendererSrc\s*=\s*[\"'](?P<url>[^\"']+)[\"']")
DECK_LOAD_TIMEOUT_MS = 30_000


def lesson_id(item: tuple[str, Path]) -> str:
    language, path = item
    return f"{language}/{path.stem}"


class DeckParser(HTMLParser):
    """Count the slides (outer sections) and subslides (inner sections), and collect fetched URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.slides = 0
        self.subslides = 0
        self.fetched: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "section":
            self.depth += 1
            if self.depth == 1:
                self.slides += 1
            elif self.depth == 2:
                self.subslides += 1
        elif tag == "script" and attributes.get("src"):
            self.fetched.append(attributes["src"])
        elif tag == "link" and attributes.get("href"):
            self.fetched.append(attributes["href"])
        elif tag in ("img", "iframe", "audio", "video", "source") and attributes.get("src"):
            self.fetched.append(attributes["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self.depth -= 1


def expected_slide_counts(path: Path) -> tuple[int, int]:
    """Return (slides, subslides) that nbconvert makes from the notebook's slide metadata.

    nbconvert turns the first cell that is neither skipped nor a note into a slide, whatever
    its own type, and every later "slide" or "subslide" cell opens a new one.
    """
    types = [cell.metadata.get("slideshow", {}).get("slide_type", "-") for cell in read(path).cells]
    visible = [index for index, kind in enumerate(types) if kind not in ("skip", "notes")]
    assert visible, f"{path}: every cell is skipped, so the deck would be empty"
    later = types[visible[0] + 1:]
    slides = 1 + later.count("slide")
    subslides = slides + later.count("subslide")
    return slides, subslides


def headings(path: Path) -> list[str]:
    """Return the heading lines of the cells that appear on the slides."""
    found = []
    for cell in read(path).cells:
        if cell.cell_type == "markdown" and cell.metadata.get("slideshow", {}).get("slide_type") not in ("skip", "notes"):
            found += [line.lstrip("#").strip() for line in cell.source.splitlines() if line.startswith("#")]
    return found


@pytest.fixture(scope="module")
def decks(tmp_path_factory) -> Path:
    require_npm()
    output = tmp_path_factory.mktemp("slides")
    slides_script.export_all(output)
    return output


def deck_path(decks: Path, language: str, path: Path) -> Path:
    return decks / language / f"{path.stem}.slides.html"


def test_lessons_exist():
    assert LESSONS, "no lesson notebook; run python notebooks/build.py"


@pytest.mark.parametrize("item", LESSONS, ids=lesson_id)
class TestDeck:
    def test_one_section_per_slide_cell(self, decks: Path, item):
        language, path = item
        parser = DeckParser()
        parser.feed(deck_path(decks, language, path).read_text(encoding="utf-8"))
        slides, subslides = expected_slide_counts(path)
        assert parser.depth == 0, "unbalanced <section> tags"
        assert parser.slides == slides, f"{parser.slides} slides, the notebook marks {slides}"
        assert parser.subslides == subslides, f"{parser.subslides} subslides, the notebook marks {subslides}"

    def test_every_heading_on_a_slide(self, decks: Path, item):
        language, path = item
        text = html.unescape(deck_path(decks, language, path).read_text(encoding="utf-8"))
        missing = [heading for heading in headings(path) if heading not in text]
        assert not missing, f"headings missing from the deck: {missing}"

    def test_no_network_urls(self, decks: Path, item):
        language, path = item
        deck = deck_path(decks, language, path)
        source = deck.read_text(encoding="utf-8")
        parser = DeckParser()
        parser.feed(source)
        urls = parser.fetched
        urls += [match["url"] for match in CSS_URL.finditer(source)]
        urls += [match["url"] for match in MODULE_IMPORT.finditer(source)]
        urls += [match["url"] for match in WIDGET_RENDERER.finditer(source)]
        remote = [url for url in urls if NETWORK_URL.match(url)]
        assert not remote, f"{deck.name} loads from the network: {remote}"

    def test_local_files_exist(self, decks: Path, item):
        language, path = item
        deck = deck_path(decks, language, path)
        parser = DeckParser()
        parser.feed(deck.read_text(encoding="utf-8"))
        local = [url.split("?")[0] for url in parser.fetched if not url.startswith(("data:", "#"))]
        missing = [url for url in local if not (deck.parent / url).exists()]
        assert not missing, f"{deck.name} refers to files that were not copied: {missing}"


@pytest.mark.parametrize("item", LESSONS, ids=lesson_id)
def test_deck_opens_offline(decks: Path, item):
    """Open the deck from disk in Chromium with every non-file request blocked, as in a classroom with no network."""
    require_browser()
    from playwright.sync_api import sync_playwright

    language, path = item
    deck = deck_path(decks, language, path)
    slides, _ = expected_slide_counts(path)
    blocked, failed, errors = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGUMENTS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)

            def only_local(route):
                if route.request.url.startswith(("file:", "data:", "blob:")):
                    route.continue_()
                else:
                    blocked.append(route.request.url)
                    route.abort()

            page.route("**/*", only_local)
            page.goto(deck.as_uri())
            page.wait_for_selector(".reveal.ready", state="attached", timeout=DECK_LOAD_TIMEOUT_MS)
            page.wait_for_load_state("networkidle")
            shown_slides = page.locator(".reveal .slides > section").count()
            widget_outputs = sum(
                1 for cell in read(path).cells for output in cell.get("outputs", [])
                if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
            )
            if widget_outputs:
                page.wait_for_selector(".jupyter-widgets.widget-vbox", state="attached", timeout=DECK_LOAD_TIMEOUT_MS)
            rendered_widgets = page.locator(".jp-OutputArea-output .jupyter-widgets.widget-vbox").count()
            page.screenshot(path=str(screenshot_folder() / f"slides_{language}_{path.stem}.png"))
        finally:
            browser.close()

    assert not blocked, f"{deck.name} requested network addresses: {blocked}"
    assert not failed, f"{deck.name} failed to load: {failed}"
    assert not errors, f"{deck.name} logged errors: {errors}"
    assert shown_slides == slides
    assert rendered_widgets >= widget_outputs, f"{rendered_widgets} of {widget_outputs} widget outputs rendered"
