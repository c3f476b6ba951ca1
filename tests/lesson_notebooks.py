"""Locate the built lesson notebooks and the helpers the notebook tests share."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import time
from pathlib import Path
from types import ModuleType

import nbformat
import pytest

REPOSITORY = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPOSITORY / "notebooks"
LANGUAGES = ("en", "zh-TW")
INDEX_NAME = "00_index.ipynb"
CHROMIUM = Path("/usr/bin/chromium")
PLAYWRIGHT_PIN = "playwright==1.65.2"

# CJK Unified Ideographs and their extension A, plus the CJK punctuation and full-width forms.
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")


def load_module(name: str, path: Path) -> ModuleType:
    """Import the script at ``path`` as module ``name``; the notebook scripts are not a package."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up in sys.modules
    spec.loader.exec_module(module)
    return module


def notebook_paths(language: str) -> list[Path]:
    """Return every notebook of ``language``, the contents page first, then the lessons in order."""
    return sorted((NOTEBOOKS / language).glob("*.ipynb"))


def lesson_paths(language: str) -> list[Path]:
    """Return the lesson notebooks of ``language`` in lesson order, without the contents page."""
    return [path for path in notebook_paths(language) if path.name != INDEX_NAME]


def all_notebook_paths() -> list[Path]:
    return [path for language in LANGUAGES for path in notebook_paths(language)]


def notebook_id(path: Path) -> str:
    """Return the short test id of a notebook, such as ``zh-TW/01_padding_trap``."""
    return f"{path.parent.name}/{path.stem}"


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def output_texts(output: nbformat.NotebookNode) -> list[str]:
    """Return the text a reader sees in one output: stream text, text data, or the traceback."""
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return [output.ename, output.evalue, *output.traceback]
    texts = []
    for mime, value in output.get("data", {}).items():
        if mime.startswith("text/") or mime.endswith("json"):
            texts.append(value if isinstance(value, str) else str(value))
    return texts


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_tool(available: bool, message: str) -> None:
    """Skip the calling test when a tool is missing, except under CI, where the test fails."""
    if available:
        return
    if running_in_ci():
        pytest.fail(f"{message} (CI=true, so this test must run and does not skip)")
    pytest.skip(message)


def require_browser() -> None:
    """Skip or fail unless Playwright for Python and Debian's Chromium are installed."""
    require_tool(
        importlib.util.find_spec("playwright") is not None,
        f"Playwright for Python is not installed; install it with: pip install {PLAYWRIGHT_PIN}",
    )
    require_tool(
        CHROMIUM.exists(),
        f"{CHROMIUM} not found; install Debian's Chromium with: apt-get install chromium fonts-noto-cjk",
    )


def require_npm() -> None:
    """Skip or fail unless npm is on PATH; the slides fetch reveal.js and MathJax with it."""
    require_tool(
        shutil.which("npm") is not None,
        "npm not found; the slides fetch reveal.js and MathJax with it; install it with: apt-get install npm",
    )


# Flags for Debian's Chromium as root in a container with no network but the package registries.
# The background-networking flags stop its own update and telemetry connections.
CHROMIUM_ARGUMENTS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


# The first process of a test run that imports this module stores the run id in QLESSON_TEST_RUN_ID.
# pytest-xdist's worker processes inherit it from the main process, which imports this module in
# tests/conftest.py, so they all write to one folder.
RUN_ID_VARIABLE = "QLESSON_TEST_RUN_ID"
RUN_ID = os.environ.setdefault(RUN_ID_VARIABLE, time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}")
SCREENSHOTS = REPOSITORY / "test-artifacts" / "screenshots" / RUN_ID


def screenshot_folder() -> Path:
    """Return this test run's screenshot folder, test-artifacts/screenshots/<run id>/, creating it."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
