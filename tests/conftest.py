"""Shared test setup: a reproducible hypothesis profile, the message language and the screenshot folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

import qlesson
from lesson_notebooks import SCREENSHOTS

# Every run tests the same examples, so a failure in CI is reproduced by a local run.
# HYPOTHESIS_PROFILE=thorough draws ten times as many fresh random examples for a local search.
settings.register_profile("deterministic", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("thorough", max_examples=1000, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))

#: Directory of the qlesson package, to tell its own errors from errors raised inside torch.
PACKAGE_DIR = Path(qlesson.__file__).resolve().parent


@pytest.fixture(autouse=True)
def _restore_language():
    """Put back the message language that a test changed."""
    saved = qlesson.get_language()
    yield
    qlesson.set_language(saved)


@pytest.fixture(params=qlesson.LANGUAGES)
def language(request: pytest.FixtureRequest) -> str:
    """Run the test once per language, with that language active."""
    qlesson.set_language(request.param)
    return request.param


@pytest.fixture
def expect_error():
    """Return a checker: ``call()`` raises ``error_type`` from qlesson's own code with every fragment in its message."""

    def check(call, error_type, fragments):
        with pytest.raises(error_type) as info:
            call()
        message = str(info.value)
        for fragment in fragments:
            assert fragment in message, f"{fragment!r} missing from {message!r}"
        raised_in = Path(str(info.traceback[-1].path)).resolve()
        assert PACKAGE_DIR in raised_in.parents, f"raised in {raised_in}, not by qlesson's checks"
        return message

    return check


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the folder of this run's browser and slide screenshots, if a test created it."""
    if SCREENSHOTS.exists():
        terminalreporter.write_line(f"screenshots of this run: {SCREENSHOTS}")
