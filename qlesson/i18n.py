"""Language setting and message catalogs for everything a learner reads.

Each module registers its own messages with :func:`register_messages`, keyed by an English
identifier, with one template per language. :func:`localize` formats a message in the active
language, which a lesson picks in its first cell with :func:`set_language`.
"""

from __future__ import annotations

import os
from typing import Iterable, Mapping

#: Languages the lessons are written in, by BCP 47 tag.
LANGUAGES = ("en", "zh-TW")

_catalog: dict[str, dict[str, str]] = {}
_active = os.environ.get("QLESSON_LANGUAGE", "en")
if _active not in LANGUAGES:
    _active = "en"


def _normalize(language: str) -> str:
    if not isinstance(language, str):
        raise TypeError(
            f"language must be one of {LANGUAGES}, got {language!r} of type {type(language).__name__}. "
            f"語言必須是 {LANGUAGES} 之一，收到的是 {language!r}。"
        )
    for known in LANGUAGES:
        if language.replace("_", "-").lower() == known.lower():
            return known
    raise ValueError(
        f"language {language!r} is not supported; use one of {LANGUAGES}. "
        f"不支援語言 {language!r}，請使用 {LANGUAGES} 之一。"
    )


_catalog["i18n.unknown_key"] = {
    "en": "no message is registered under the key {key!r}. qlesson.i18n.message_keys() lists the keys.",
    "zh-TW": "沒有以 {key!r} 為鍵註冊的訊息。qlesson.i18n.message_keys() 會列出所有的鍵。",
}
_catalog["i18n.missing_field"] = {
    "en": "message {key!r} needs the field {field}, which was not passed. Call localize({key!r}, {field}=...).",
    "zh-TW": "訊息 {key!r} 需要欄位 {field}，但呼叫時沒有傳入。請呼叫 localize({key!r}, {field}=...)。",
}


def set_language(language: str) -> None:
    """Set the language of messages, labels and figure text: ``"en"`` or ``"zh-TW"``.

    The environment variable ``QLESSON_LANGUAGE`` sets the default at import time.
    """
    global _active
    _active = _normalize(language)


def get_language() -> str:
    """Return the active language tag, ``"en"`` or ``"zh-TW"``."""
    return _active


def register_messages(messages: Mapping[str, Mapping[str, str]]) -> None:
    """Add message templates, each a mapping from language tag to a ``str.format`` template.

    Every template must exist in every language, and a key may be registered only once,
    so two modules cannot silently overwrite each other's wording.
    """
    for key, templates in messages.items():
        missing = [language for language in LANGUAGES if language not in templates]
        if missing:
            raise ValueError(f"message {key!r} has no template for {missing}")
        if key in _catalog and dict(templates) != _catalog[key]:
            raise ValueError(f"message {key!r} is already registered with other templates")
        _catalog[key] = dict(templates)


def localize(key: str, /, language: str | None = None, **fields: object) -> str:
    """Format message ``key`` with ``fields`` in ``language`` (default: the active language)."""
    language = _normalize(language) if language else _active
    templates = _catalog.get(key) if isinstance(key, str) else None
    if templates is None:
        error = KeyError if isinstance(key, str) else TypeError
        raise error(_catalog["i18n.unknown_key"][language].format(key=key))
    try:
        return templates[language].format(**fields)
    except KeyError as missing:
        raise KeyError(_catalog["i18n.missing_field"][language].format(key=key, field=missing.args[0])) from None


def join_choices(items: Iterable[object]) -> str:
    """Join ``items`` as a list in a sentence of the active language: ``a, b`` or ``a、b``."""
    return ("、" if _active == "zh-TW" else ", ").join(str(item) for item in items)


def tr(en: str, zh_tw: str) -> str:
    """Return ``en`` or ``zh_tw``, whichever is in the active language.

    For the labels that a lesson's code cells print: the code stays the same in both twins and
    the output follows the language setting.
    """
    if not isinstance(en, str) or not isinstance(zh_tw, str):
        raise TypeError(
            f"tr(en, zh_tw) takes two strings, got {type(en).__name__} and {type(zh_tw).__name__}. "
            f"tr(en, zh_tw) 需要兩個字串，收到的是 {type(en).__name__} 與 {type(zh_tw).__name__}。"
        )
    return zh_tw if _active == "zh-TW" else en


def message_keys() -> list[str]:
    """Return the keys of every registered message, sorted."""
    return sorted(_catalog)
