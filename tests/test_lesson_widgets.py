"""Tests of qlesson.lesson_widgets: the quantization grid against choose_qparams, every extreme
setting of both explorers, their text forms that nbval compares, and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from matplotlib.figure import Figure

import qlesson
from qlesson import (FourTermsExplorer, QuantizationGridExplorer, choose_qparams, conv_integer, quantization_grid,
                     quantization_grid_figure, quantized_range, window_sum)
from qlesson.lesson_widgets import assemble_four_terms

# ipywidgets truncates a widget's text/plain form beyond this many characters.
REPR_LIMIT = 110
RANGE_CORNERS = (-4.0, -0.01, 0.0, 0.01, 4.0)


def _data():
    generator = torch.Generator().manual_seed(2026)
    x = torch.randint(0, 256, (1, 3, 8, 8), generator=generator).to(torch.uint8)
    w = torch.randint(0, 256, (4, 3, 3, 3), generator=generator).to(torch.uint8)
    return x, w


# ------------------------------------------------------------------------- quantization grid


@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("symmetric", [False, True])
def test_grid_with_exact_zero_matches_choose_qparams(dtype, symmetric):
    for r_min, r_max in [(-0.62, 1.9), (0.5, 2.0), (-3.0, -1.0), (0.0, 0.0), (-0.21, 0.63)]:
        grid = quantization_grid(r_min, r_max, dtype, symmetric=symmetric)
        scale, zero_point = choose_qparams(r_min, r_max, getattr(torch, dtype), symmetric=symmetric)

        assert grid.scale == scale
        assert grid.zero_point == zero_point
        assert (grid.q_min, grid.q_max) == quantized_range(getattr(torch, dtype), narrow=symmetric)
        assert grid.zero_is_exact
        assert grid.real_value(zero_point) == 0.0


def test_grid_without_rules_maps_ends_exactly():
    grid = quantization_grid(-0.62, 1.9, "uint8", exact_zero=False)

    assert math.isclose(grid.real_value(grid.q_min), -0.62, rel_tol=1e-12)
    assert math.isclose(grid.real_value(grid.q_max), 1.9, rel_tol=1e-12)
    assert math.isclose(grid.zero_point, 0.62 / grid.scale, rel_tol=1e-12)
    assert not grid.zero_is_exact
    assert grid.nearest_to_zero == 63


def test_grid_without_rules_can_lose_zero():
    grid = quantization_grid(0.5, 2.0, "uint8", exact_zero=False)

    assert not grid.zero_is_exact
    assert math.isclose(grid.zero_point, -85.0, rel_tol=1e-12)
    assert grid.nearest_to_zero == 0
    assert math.isclose(grid.real_value(grid.nearest_to_zero), 0.5, rel_tol=1e-12)


def test_grid_widened_only_with_rules():
    assert quantization_grid(0.5, 2.0, "uint8").widened
    assert not quantization_grid(0.5, 2.0, "uint8", exact_zero=False).widened
    assert not quantization_grid(-0.5, 2.0, "uint8").widened


def test_symmetric_grid_ignores_exact_zero_switch():
    with_rules = quantization_grid(-0.21, 0.63, "int8", symmetric=True)
    without_rules = quantization_grid(-0.21, 0.63, "int8", symmetric=True, exact_zero=False)

    assert with_rules == quantization_grid(-0.21, 0.63, "int8", symmetric=True, exact_zero=True)
    assert (without_rules.scale, without_rules.zero_point) == (with_rules.scale, with_rules.zero_point)
    assert without_rules.zero_is_exact


def test_grid_figure_has_two_panels(language):
    figure = quantization_grid_figure(-0.62, 1.9, torch.uint8, exact_zero=False)

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 2
    title = figure.get_suptitle()
    assert ("非對稱" if language == "zh-TW" else "asymmetric") in title
    assert "62.7381" in title


# ------------------------------------------------------------------------- grid explorer


def test_grid_explorer_every_corner_renders():
    explorer = QuantizationGridExplorer()
    for r_min, r_max, dtype, symmetric, exact_zero in itertools.product(
            RANGE_CORNERS, RANGE_CORNERS, ("uint8", "int8"), (False, True), (False, True)):
        explorer.set_values(r_min=r_min, r_max=r_max, dtype=dtype, symmetric=symmetric, exact_zero=exact_zero)

        setting = (r_min, r_max, dtype, symmetric, exact_zero)
        assert bytes(explorer.image.value).startswith(b"\x89PNG"), setting
        assert explorer.report.value, setting
        assert len(repr(explorer)) <= REPR_LIMIT, setting
        if r_min > r_max:
            assert explorer.grid is None, setting
            assert "r_min" in explorer.report.value, setting
            assert "r_max" in explorer.report.value, setting
        else:
            assert explorer.grid is not None, setting


def test_grid_explorer_report_states_exactness(language):
    explorer = QuantizationGridExplorer(-0.62, 1.9, "uint8")
    exact = "精確 ✓" if language == "zh-TW" else "exact ✓"
    assert exact in explorer.report.value

    explorer.exact_zero_checkbox.value = False
    assert ("不精確 ✗" if language == "zh-TW" else "not exact ✗") in explorer.report.value
    assert "62.7381" in explorer.report.value

    explorer.r_min_slider.value = 0.5
    explorer.r_max_slider.value = 2.0
    assert ("無法表示" if language == "zh-TW" else "not representable") in explorer.report.value


def test_grid_explorer_repr_text():
    qlesson.set_language("en")
    explorer = QuantizationGridExplorer(-0.62, 1.9, "uint8")
    assert repr(explorer) == "QuantizationGridExplorer: r ∈ [-0.62, 1.90], uint8, asymmetric → S = 0.00988235, Z = 63"

    qlesson.set_language("zh-TW")
    assert repr(explorer) == "QuantizationGridExplorer：r ∈ [-0.62, 1.90]，uint8，非對稱 → S = 0.00988235，Z = 63"

    explorer.r_min_slider.value = 3.0
    assert repr(explorer).endswith("沒有格點（r_min > r_max）")


def test_set_values_redraws_once():
    explorer = QuantizationGridExplorer(-0.62, 1.9, "uint8")
    images = []
    explorer.image.observe(lambda change: images.append(change["new"]), names="value")

    explorer.set_values(r_min=-1.0, r_max=1.0, dtype="int8")

    assert len(images) == 1
    assert explorer.grid.dtype == "int8"
    assert explorer.grid.r_min == -1.0


def test_grid_explorer_dtype_shifts_zero_point_by_128():
    explorer = QuantizationGridExplorer(-0.62, 1.9, "uint8")
    uint8_grid = explorer.grid
    explorer.dtype_dropdown.value = "int8"

    assert explorer.grid.scale == uint8_grid.scale
    assert explorer.grid.zero_point == uint8_grid.zero_point - 128


# ------------------------------------------------------------------------- four-terms explorer


def test_terms_explorer_every_corner_renders():
    x, w = _data()
    explorer = FourTermsExplorer(x, w, 178, w_zp=76, padding=1)
    # Every geometry corner with both window-sum choices; w_zp changes only values, so its corners rotate.
    corners = itertools.product((1, 3), (0, 3), (1, 3), ("x_zp", "0"), (True, False))
    for index, (stride, padding, dilation, pad, follow) in enumerate(corners):
        w_zp = (0, 255)[index % 2]
        explorer.set_values(w_zp=w_zp, stride=stride, padding=padding, dilation=dilation, window_pad=pad,
                            follow_geometry=follow)

        setting = (w_zp, stride, padding, dilation, pad, follow)
        assembled = explorer.assembled
        assert assembled is not None, setting
        assert bytes(explorer.image.value).startswith(b"\x89PNG"), setting
        assert "<table>" in explorer.report.value, setting
        assert len(repr(explorer)) <= REPR_LIMIT, setting
        if pad == "x_zp" and follow:
            assert int(assembled.error.abs().max()) == 0, setting
        if w_zp == 0:
            assert int(assembled.error.abs().max()) == 0, setting


def test_terms_explorer_zero_padded_sum_error():
    x, w = _data()
    explorer = FourTermsExplorer(x, w, 178, w_zp=76, padding=1)
    explorer.pad_dropdown.value = "0"

    padded_taps = 27 - window_sum(torch.ones_like(x), 3, 0, padding=1)
    assert torch.equal(explorer.assembled.error, (76 * 178 * padded_taps).expand(1, 4, 8, 8))


def test_terms_explorer_invalid_geometry_shows_message(language):
    x = torch.zeros((1, 1, 4, 4), dtype=torch.uint8)
    w = torch.zeros((2, 1, 3, 3), dtype=torch.uint8)
    explorer = FourTermsExplorer(x, w, 0)
    explorer.dilation_slider.value = 3

    assert explorer.assembled is None
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    assert ("擴張後的卷積核涵蓋 7 個位置" if language == "zh-TW" else "the dilated kernel spans 7 positions") \
        in explorer.report.value
    assert repr(explorer).endswith("無效" if language == "zh-TW" else "invalid")


def test_terms_explorer_repr_text():
    x, w = _data()
    qlesson.set_language("en")
    explorer = FourTermsExplorer(x, w, 178, w_zp=76, padding=1)
    assert repr(explorer) == "FourTermsExplorer: w_zp=76, stride=1, padding=1, dilation=1, pad x_zp → 0/256 wrong"

    explorer.follow_checkbox.value = False
    explorer.dilation_slider.value = 2
    explorer.padding_slider.value = 2
    qlesson.set_language("zh-TW")
    assert repr(explorer) == "FourTermsExplorer：w_zp=76，步幅=1，填補=2，擴張=2，填補值 x_zp，未跟隨 → 256/256 錯誤"


def test_assemble_matches_conv_integer_when_right():
    x, w = _data()
    for stride, padding, dilation in itertools.product((1, 2), (0, 1, 2), (1, 2)):
        assembled = assemble_four_terms(x, w, 178, 76, stride=stride, padding=padding, dilation=dilation)
        expected = conv_integer(x, w, 178, 76, stride=stride, padding=padding, dilation=dilation)

        assert torch.equal(assembled.combined, expected)
        assert torch.equal(assembled.reference, expected)


# ------------------------------------------------------------------------- bad input

BAD_INPUTS = [
    pytest.param(lambda: quantization_grid(-1.0, 1.0, "float32"), ValueError, {
        "en": ["dtype='float32' is not supported here", "\"uint8\" or \"int8\""],
        "zh-TW": ["這裡不支援 dtype='float32'", "\"uint8\" 或 \"int8\""]}, id="grid-dtype"),
    pytest.param(lambda: quantization_grid(-1.0, 1.0, "uint8", symmetric=1), TypeError, {
        "en": ["symmetric=1 must be True or False"],
        "zh-TW": ["symmetric=1 必須是 True 或 False"]}, id="grid-symmetric-int"),
    pytest.param(lambda: quantization_grid(2.0, 1.0), ValueError, {
        "en": ["r_min=2.0 is larger than r_max=1.0"],
        "zh-TW": ["r_min=2.0 大於 r_max=1.0"]}, id="grid-reversed-range"),
    pytest.param(lambda: quantization_grid(float("nan"), 1.0), ValueError, {
        "en": ["r_min=nan is not a finite number"],
        "zh-TW": ["r_min=nan 不是有限的數值"]}, id="grid-nan"),
    pytest.param(lambda: QuantizationGridExplorer(2.0, 1.0), ValueError, {
        "en": ["r_min=2.0 is larger than r_max=1.0"],
        "zh-TW": ["r_min=2.0 大於 r_max=1.0"]}, id="grid-explorer-reversed-range"),
    pytest.param(lambda: FourTermsExplorer(torch.zeros((1, 1, 5), dtype=torch.uint8),
                                           torch.zeros((1, 1, 3), dtype=torch.uint8), 0), ValueError, {
        "en": ["x has shape (1, 1, 5), but this widget draws 2-D maps"],
        "zh-TW": ["x 的形狀是 (1, 1, 5)，但這個互動元件畫的是二維圖"]}, id="terms-explorer-1d"),
    pytest.param(lambda: FourTermsExplorer(torch.zeros((1, 1, 5, 5)), torch.zeros((1, 1, 3, 3), dtype=torch.uint8), 0),
                 TypeError, {
        "en": ["x must hold quantized integers"],
        "zh-TW": ["x 必須是量化後的整數"]}, id="terms-explorer-float"),
    pytest.param(lambda: FourTermsExplorer(*_data(), 300), ValueError, {
        "en": ["x_zero_point=300 is outside the range of uint8"],
        "zh-TW": ["x_zero_point=300 超出 uint8 的範圍"]}, id="terms-explorer-zero-point"),
    pytest.param(lambda: QuantizationGridExplorer().set_values(r_minimum=1.0), ValueError, {
        "en": ["no control named r_minimum", "r_min, r_max, dtype, symmetric, exact_zero"],
        "zh-TW": ["沒有名為 r_minimum 的控制項", "r_min、r_max、dtype、symmetric、exact_zero"]},
        id="grid-explorer-unknown-control"),
    pytest.param(lambda: assemble_four_terms(*_data(), 0, 0, follow_geometry="yes"), TypeError, {
        "en": ["follow_geometry='yes' must be True or False"],
        "zh-TW": ["follow_geometry='yes' 必須是 True 或 False"]}, id="assemble-follow-string"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])
