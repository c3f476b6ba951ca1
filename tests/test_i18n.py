"""Tests of qlesson.i18n and of every registered message in both languages."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
import re
import string

import pytest

import qlesson
from qlesson import i18n

# Import every module so that every catalog is registered before the catalog tests run.
for _module in pkgutil.iter_modules(qlesson.__path__):
    importlib.import_module(f"qlesson.{_module.name}")

# Characters that exist only in Simplified Chinese, each above its Traditional form.
SIMPLIFIED = ("数据认设软对变络运为这个们时发现经过还说门问间关样长图画区输错误计类应该"
              "张维轴补换传请选围点将与处无实缩组两扩积负边总绝转释进从产开给没场结观视频质题写读码态标达显执层单")
TRADITIONAL = ("數據認設軟對變絡運為這個們時發現經過還說門問間關樣長圖畫區輸錯誤計類應該"
               "張維軸補換傳請選圍點將與處無實縮組兩擴積負邊總絕轉釋進從產開給沒場結觀視頻質題寫讀碼態標達顯執層單")
TRADITIONAL_OF = dict(zip(SIMPLIFIED, TRADITIONAL))

# Mainland terms, in either script, with the Taiwan term a reader expects.
MAINLAND_TERMS = {
    "默认": "預設", "默認": "預設", "数据": "資料", "數據": "資料", "内存": "記憶體", "內存": "記憶體",
    "函数": "函式", "变量": "變數", "變量": "變數", "对象": "物件", "對象": "物件", "文件": "檔案",
    "程序": "程式", "信息": "資訊、訊息", "視頻": "影片", "视频": "影片", "質量": "品質", "质量": "品質",
    "軟件": "軟體", "網絡": "網路", "運行": "執行", "設置": "設定", "缺省": "預設",
}

CJK = re.compile(r"[\u4e00-\u9fff]")
FIELD = re.compile(r"\{[^{}]*\}")
# A lowercase word of two or more letters; identifiers such as conv_integer or CamelCase do not match.
ENGLISH_WORD = re.compile(r"\b[a-z]{2,}\b")


def _field_names(template):
    """Return the names of the replacement fields of a ``str.format`` template."""
    names = set()
    for _, field, _, _ in string.Formatter().parse(template):
        if field is not None:
            names.add(re.split(r"[.\[]", field)[0])
    return names


def _catalog_items():
    return sorted(i18n._catalog.items())


def test_catalog_is_not_empty():
    # The modules whose messages the tests below check must have registered them.
    keys = set(i18n._catalog)

    assert {"not_a_tensor", "zero_point_out_of_range", "region.corner", "bad_scale"} <= keys


@pytest.mark.parametrize(("key", "templates"), _catalog_items(), ids=[key for key, _ in _catalog_items()])
def test_message_has_both_languages(key, templates):
    for language in qlesson.LANGUAGES:
        assert templates.get(language, "").strip(), f"{key} has no {language} template"


@pytest.mark.parametrize(("key", "templates"), _catalog_items(), ids=[key for key, _ in _catalog_items()])
def test_message_formats_with_its_fields(key, templates):
    fields = _field_names(templates["en"])
    assert _field_names(templates["zh-TW"]) == fields, f"{key}: the two languages use different fields"
    values = {name: f"<{name}>" for name in fields}

    for language in qlesson.LANGUAGES:
        text = qlesson.localize(key, language=language, **values)
        for name in fields:
            assert f"<{name}>" in text, f"{key} ({language}) does not show {name}"


@pytest.mark.parametrize(("key", "templates"), _catalog_items(), ids=[key for key, _ in _catalog_items()])
def test_message_languages_are_not_swapped(key, templates):
    assert not CJK.search(templates["en"]), f"{key}: the en template contains Chinese text"
    # Templates without English words, such as "{label} ({unit})" or "conv_integer", need no translation.
    english_words = ENGLISH_WORD.findall(FIELD.sub("", templates["en"]))
    if english_words:
        assert CJK.search(templates["zh-TW"]), f"{key}: the zh-TW template has no Chinese text"


@pytest.mark.parametrize(("key", "templates"), _catalog_items(), ids=[key for key, _ in _catalog_items()])
def test_message_uses_traditional_characters(key, templates):
    found = {char: TRADITIONAL_OF[char] for char in templates["zh-TW"] if char in TRADITIONAL_OF}

    assert not found, f"{key}: Simplified characters (use the Traditional form instead): {found}"


@pytest.mark.parametrize(("key", "templates"), _catalog_items(), ids=[key for key, _ in _catalog_items()])
def test_message_uses_taiwan_terms(key, templates):
    found = {term: taiwan for term, taiwan in MAINLAND_TERMS.items() if term in templates["zh-TW"]}

    assert not found, f"{key}: Mainland terms (use the Taiwan term instead): {found}"


def test_simplified_table_is_consistent():
    # Each Simplified character must differ from its Traditional form, and none may be a
    # character that Traditional text also uses (算, 面 and 角 are shared by both scripts).
    assert len(SIMPLIFIED) == len(TRADITIONAL) == len(TRADITIONAL_OF)
    assert not set(SIMPLIFIED) & set(TRADITIONAL)
    assert not set(SIMPLIFIED) & set("算面角內部合計存")


# ---------------------------------------------------------------------------------------------
# Language setting


def test_set_language_switches_localize():
    qlesson.set_language("zh-TW")
    assert qlesson.get_language() == "zh-TW"
    assert qlesson.localize("region.corner") == "角"

    qlesson.set_language("en")
    assert qlesson.localize("region.corner") == "corner"


def test_localize_explicit_language_overrides_active():
    qlesson.set_language("en")

    assert qlesson.localize("region.edge", language="zh-TW") == "邊"
    assert qlesson.get_language() == "en"


@pytest.mark.parametrize("spelling", ["zh-TW", "zh_TW", "ZH-tw", "zh_tw"])
def test_set_language_normalizes_tag(spelling):
    qlesson.set_language(spelling)

    assert qlesson.get_language() == "zh-TW"


def test_set_language_unknown(expect_error):
    expect_error(lambda: qlesson.set_language("zh-CN"), ValueError, [
        "language 'zh-CN' is not supported; use one of ('en', 'zh-TW')",
        "不支援語言 'zh-CN'，請使用 ('en', 'zh-TW') 之一"])


def test_set_language_not_a_string(expect_error):
    expect_error(lambda: qlesson.set_language(None), TypeError, [
        "language must be one of ('en', 'zh-TW'), got None of type NoneType",
        "語言必須是 ('en', 'zh-TW') 之一，收到的是 None"])


def test_failed_set_language_keeps_previous():
    qlesson.set_language("zh-TW")

    with pytest.raises(ValueError):
        qlesson.set_language("fr")

    assert qlesson.get_language() == "zh-TW"


def _load_fresh_i18n(monkeypatch, environment_value):
    """Import a private copy of the i18n module with ``QLESSON_LANGUAGE`` set, leaving qlesson's copy alone."""
    monkeypatch.setenv("QLESSON_LANGUAGE", environment_value)
    spec = importlib.util.spec_from_file_location("qlesson_i18n_copy", i18n.__file__)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_environment_sets_default_language(monkeypatch):
    assert _load_fresh_i18n(monkeypatch, "zh-TW").get_language() == "zh-TW"


def test_environment_unknown_language_falls_back_to_english(monkeypatch):
    assert _load_fresh_i18n(monkeypatch, "de").get_language() == "en"


# ---------------------------------------------------------------------------------------------
# Registration


def test_register_messages_requires_every_language(monkeypatch):
    monkeypatch.setattr(i18n, "_catalog", dict(i18n._catalog))

    with pytest.raises(ValueError, match=r"message 'test.only_english' has no template for \['zh-TW'\]"):
        i18n.register_messages({"test.only_english": {"en": "hello"}})


def test_register_messages_rejects_different_templates(monkeypatch):
    monkeypatch.setattr(i18n, "_catalog", dict(i18n._catalog))
    i18n.register_messages({"test.greeting": {"en": "hello", "zh-TW": "你好"}})

    # The same templates again are accepted, so re-running a module's registration is harmless.
    i18n.register_messages({"test.greeting": {"en": "hello", "zh-TW": "你好"}})
    with pytest.raises(ValueError, match="message 'test.greeting' is already registered with other templates"):
        i18n.register_messages({"test.greeting": {"en": "hi", "zh-TW": "你好"}})


def test_message_keys_sorted():
    keys = qlesson.i18n.message_keys()

    assert keys == sorted(i18n._catalog)
