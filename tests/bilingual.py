"""Checks shared by the test modules: an error message in both languages."""

from __future__ import annotations

import pytest

import qlesson


def assert_raises_in_both_languages(function, error_type, english: str, chinese: str) -> None:
    """Call ``function`` in English and in zh-TW and check each message names the problem."""
    previous = qlesson.get_language()
    try:
        qlesson.set_language("en")
        with pytest.raises(error_type) as english_error:
            function()
        assert english in str(english_error.value)

        qlesson.set_language("zh-TW")
        with pytest.raises(error_type) as chinese_error:
            function()
        assert chinese in str(chinese_error.value)
    finally:
        qlesson.set_language(previous)
