"""Tests of qlesson.requant_widgets: the accumulator figures and explorer against the library's bounds,
the two roundings against an independent Fraction reference, the widgets' text forms and bad input."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest
import torch
from matplotlib.figure import Figure

import qlesson
from qlesson import (AccumulatorExplorer, MultiplierExplorer, accumulator_bound, accumulator_bound_figure,
                     accumulator_wrap_figure, count_double_rounding_mismatches, double_rounding_figure, figure_to_png,
                     max_taps_int32, multiply_by_quantized_multiplier, quantize_multiplier, trace_double_rounding)
from qlesson.requant_widgets import MULTIPLIER_SEARCH_LIMIT, AccumulatorSetting

INT32_MAX = 2**31 - 1
# Multipliers with a second rounding (shift < 0), with none (shift = 0) and with a left shift.
MULTIPLIERS = (0.0123, 0.00129, 3e-6, 0.3, 0.49, 0.7, 0.75, 1.5, 37.0)


def _round_half_away(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def _tflite_double(acc: int, m0: int, shift: int) -> int:
    """Round as TFLite's default MultiplyByQuantizedMultiplier is documented to, with exact fractions.

    SaturatingRoundingDoublingHighMul rounds ``a · M0 / 2^31`` to the nearest integer with ties
    toward +∞; RoundingDivideByPOT divides by ``2^right`` and rounds ties away from zero.
    """
    left, right = max(shift, 0), max(-shift, 0)
    high = math.floor(Fraction(acc * 2**left * m0, 2**31) + Fraction(1, 2))
    return _round_half_away(Fraction(high, 2**right))


def _texts(figure: Figure) -> str:
    texts = [text.get_text() for text in figure.texts]
    for axes in figure.axes:
        texts += [text.get_text() for text in axes.texts]
        texts.append(axes.get_xlabel())
        legend = axes.get_legend()
        if legend is not None:
            texts += [text.get_text() for text in legend.get_texts()]
    return "\n".join(texts + [figure.get_suptitle()])


# ------------------------------------------------------------------------- accumulator figures


def test_wrap_figure_marks_first_wrap(language):
    products = torch.full((73728,), -255 * 128, dtype=torch.int64)
    figure = accumulator_wrap_figure(products)

    assert isinstance(figure, Figure)
    assert len(figure.axes) == 1
    text = _texts(figure)
    assert "73728" in figure.get_suptitle()
    # 65794 · 32640 is the first running sum below −2^31.
    assert 65793 * 32640 <= 2**31 < 65794 * 32640
    assert ("第 65794 個取樣點第一次繞回" if language == "zh-TW" else "first wrap at tap 65794") in text


def test_wrap_figure_without_wrap_has_no_mark():
    qlesson.set_language("en")
    figure = accumulator_wrap_figure(torch.tensor([32640, -32640, 5], dtype=torch.int32))

    assert "first wrap" not in _texts(figure)


def test_wrap_figure_int32_line_follows_wrap_int32():
    products = torch.full((70000,), 32640, dtype=torch.int64)
    figure = accumulator_wrap_figure(products)

    int32_line = figure.axes[0].lines[-2]  # exact line, int32 line, then the wrap marker
    x_values, y_values = int32_line.get_data()
    finite = ~torch.isnan(torch.as_tensor(y_values))
    exact = torch.cumsum(products, 0)
    expected = qlesson.wrap_int32(exact).double() / 2**31
    assert torch.equal(torch.as_tensor(y_values)[finite], expected)
    assert torch.equal(torch.as_tensor(x_values)[finite], torch.arange(1, 70001, dtype=torch.float64))
    assert int((~finite).sum()) == 1  # one break, at the one jump


def test_bound_figure_marks_layer_on_line():
    figure = accumulator_bound_figure(576, 0, 0)
    axes = figure.axes[0]
    marker = [line for line in axes.lines if line.get_marker() == "o"]

    assert len(marker) == 1
    assert list(marker[0].get_xdata()) == [576]
    assert list(marker[0].get_ydata()) == [accumulator_bound(576)]
    vertical = [line for line in axes.lines if list(line.get_xdata()) == [max_taps_int32(), max_taps_int32()]]
    assert vertical, "no vertical line at max_taps_int32()"


def test_bound_figure_widens_taps_axis():
    figure = accumulator_bound_figure(10**9, 128, 0)

    assert figure.axes[0].get_xlim()[1] >= 10**10


@pytest.mark.parametrize(("c_in", "kernel", "axes", "fits"), [
    (7310, 3, 2, True), (7311, 3, 2, False), (2436, 3, 3, True), (2437, 3, 3, False), (65793, 1, 1, True),
    (65794, 1, 1, False),
])
def test_setting_fits_at_max_taps(c_in, kernel, axes, fits):
    setting = AccumulatorSetting(c_in, kernel, axes, 0, 0)

    assert setting.taps == c_in * kernel**axes
    assert setting.bound == accumulator_bound(setting.taps)
    assert setting.fits is fits
    assert (setting.taps <= max_taps_int32()) is fits


# ------------------------------------------------------------------------- accumulator explorer


def test_accumulator_explorer_repr_text():
    qlesson.set_language("en")
    explorer = AccumulatorExplorer(c_in=64, kernel_size=3, spatial_axes=2)
    assert repr(explorer) == ("AccumulatorExplorer: K = 576 taps, worst-case |acc| = 18800640 ≤ 2147483647 "
                              "(int32 max): fits")

    explorer.set_values(c_in=8192)
    qlesson.set_language("zh-TW")
    assert repr(explorer) == ("AccumulatorExplorer：K = 73728 個取樣點，最壞情況 |acc| = 2406481920 > 2147483647"
                              "（int32 上限）：可能繞回")


def test_accumulator_explorer_stores_full_text():
    qlesson.set_language("en")
    explorer = AccumulatorExplorer(c_in=1_000_000, kernel_size=11, spatial_axes=3, w_zero_point=-128)
    bundle = explorer._repr_mimebundle_()

    assert len(repr(explorer)) >= 110  # ipywidgets would cut a longer text at 110 characters
    assert bundle["text/plain"] == repr(explorer)


def test_accumulator_explorer_report(language):
    explorer = AccumulatorExplorer(c_in=64, kernel_size=3, spatial_axes=2, x_zero_point=128, w_zero_point=-128)
    report = explorer.report.value

    assert "64 · 3^2 = 576" in report
    assert "128 · 255 = 32640" in report
    assert str(accumulator_bound(576, 128, -128)) in report
    assert str(max_taps_int32(128, -128)) in report
    assert f"C_in ≤ {max_taps_int32(128, -128) // 9}" in report
    assert ("任何輸入都不會繞回" if language == "zh-TW" else "no input can wrap") in report


def test_accumulator_explorer_every_corner_renders():
    explorer = AccumulatorExplorer()
    for c_in, kernel, axes, x_zp, w_zp in itertools.product((1, 1_000_000), (1, 11), (1, 3), (0, 255), (-128, 127)):
        explorer.set_values(c_in=c_in, kernel_size=kernel, spatial_axes=axes, x_zero_point=x_zp, w_zero_point=w_zp)

        setting = (c_in, kernel, axes, x_zp, w_zp)
        assert bytes(explorer.image.value).startswith(b"\x89PNG"), setting
        assert explorer.setting.bound == accumulator_bound(c_in * kernel**axes, x_zp, w_zp), setting
        assert str(explorer.setting.bound) in explorer.report.value, setting


def test_accumulator_explorer_png_equals_new_figure(language):
    # Updates that keep the axes limits copy the stored axes instead of drawing them. The others
    # raise the top limit (x_zero_point=0 with w_zero_point=-128) or widen the taps axis (C_in = 10^6, 3-D).
    explorer = AccumulatorExplorer()
    steps = ({"x_zero_point": 128}, {"w_zero_point": -128}, {"c_in": 128, "kernel_size": 5}, {"x_zero_point": 0},
             {"c_in": 1_000_000, "spatial_axes": 3}, {"c_in": 64, "kernel_size": 3, "spatial_axes": 2},
             {"w_zero_point": 0}, {"x_zero_point": 200})
    for values in steps:
        explorer.set_values(**values)

        setting = explorer.setting
        expected = figure_to_png(accumulator_bound_figure(setting.taps, setting.x_zero_point, setting.w_zero_point))
        assert bytes(explorer.image.value) == expected, values


def test_accumulator_explorer_set_values_redraws_once():
    explorer = AccumulatorExplorer()
    images = []
    explorer.image.observe(lambda change: images.append(change["new"]), names="value")

    explorer.set_values(c_in=128, kernel_size=5, x_zero_point=10)

    assert len(images) == 1
    assert explorer.setting == AccumulatorSetting(128, 5, 2, 10, 0)


# ------------------------------------------------------------------------- rounding once and twice


def test_trace_of_known_case():
    m0, shift = quantize_multiplier(0.0123)
    trace = trace_double_rounding(203, m0, shift)

    assert (m0, shift) == (1690499128, -6)
    assert trace.exact == Fraction(203 * m0, 2**37)
    assert trace.intermediate == Fraction(5, 2)
    assert (trace.single, trace.double) == (2, 3)
    assert trace.right_shift == 6


@pytest.mark.parametrize("real", MULTIPLIERS)
def test_trace_matches_fraction_reference(real):
    m0, shift = quantize_multiplier(real)
    generator = torch.Generator().manual_seed(7)
    limit = min(2**31 - 1, int(2**30 / max(real, 1.0)))
    accs = [1, -1, 2, -2] + torch.randint(-limit, limit, (40,), generator=generator).tolist()
    for acc in accs:
        trace = trace_double_rounding(acc, m0, shift)

        exact = Fraction(acc * m0) * Fraction(2) ** (shift - 31)
        assert trace.exact == exact, acc
        assert trace.single == _round_half_away(exact), acc
        assert trace.double == _tflite_double(acc, m0, shift), acc
        assert abs(trace.intermediate - exact) <= Fraction(1, 2 ** (trace.right_shift + 1)), acc
        if trace.right_shift:
            assert trace.double == _round_half_away(trace.intermediate), acc
        else:
            assert trace.double == trace.intermediate, acc


@pytest.mark.parametrize("real", MULTIPLIERS)
def test_count_matches_fraction_reference(real):
    m0, shift = quantize_multiplier(real)
    limit = 300
    expected = sum(
        _tflite_double(acc, m0, shift) != _round_half_away(Fraction(acc * m0) * Fraction(2) ** (shift - 31))
        for magnitude in range(1, limit + 1) for acc in (magnitude, -magnitude)
    )

    assert count_double_rounding_mismatches(m0, shift, limit) == expected


def test_double_rounding_figure_text(language):
    m0, shift = quantize_multiplier(0.0123)
    figure = double_rounding_figure(m0, shift, 203)
    text = _texts(figure)

    assert isinstance(figure, Figure)
    assert "acc = 203" in text
    assert "2.4969" in text  # the exact value 203 · M0 / 2^37 = 2.4969000004…, to 6 decimals
    if language == "zh-TW":
        assert "捨入一次 → 2，捨入兩次 → 3" in text
        assert "第一次捨入後：2.5" in text
    else:
        assert "once → 2, twice → 3" in text
        assert "after the first rounding: 2.5" in text


def test_double_rounding_figure_without_second_rounding():
    qlesson.set_language("en")
    m0, shift = quantize_multiplier(1.5)
    figure = double_rounding_figure(m0, shift, -1)

    assert "shift = 1: once → −2, twice → −1" in figure.get_suptitle()


# ------------------------------------------------------------------------- multiplier explorer


def test_multiplier_explorer_repr_text():
    qlesson.set_language("en")
    explorer = MultiplierExplorer(0.0123)
    assert repr(explorer) == ("MultiplierExplorer: M = 0.0123 → M0 = 1690499128, shift = -6; "
                              "first difference at acc = 203 (twice 3, once 2)")

    qlesson.set_language("zh-TW")
    explorer.set_values(real_multiplier=0.7)
    assert repr(explorer) == ("MultiplierExplorer：M = 0.7 → M0 = 1503238554，shift = 0；"
                              f"|acc| ≤ {MULTIPLIER_SEARCH_LIMIT} 時沒有差異")


def test_multiplier_explorer_report(language):
    explorer = MultiplierExplorer(0.3)
    m0, shift = quantize_multiplier(0.3)
    report = explorer.report.value

    assert f"M0 = {m0}" in report
    assert f"shift = {shift}" in report
    assert "acc = 1" in report
    count = count_double_rounding_mismatches(m0, shift)
    assert f" {count} " in report
    assert explorer.first_mismatch.acc == 1


def test_multiplier_explorer_without_difference(language):
    explorer = MultiplierExplorer(3e-6)

    assert explorer.first_mismatch is None
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    assert ("結果都相同" if language == "zh-TW" else "agree for every") in explorer.report.value


def test_multiplier_explorer_slider_ends_render():
    explorer = MultiplierExplorer()
    for real in (1e-6, 1e-3, 0.5, 100.0):
        explorer.set_values(real_multiplier=real)

        assert bytes(explorer.image.value).startswith(b"\x89PNG"), real
        assert explorer.fixed_point == quantize_multiplier(real), real
        mismatch = explorer.first_mismatch
        if mismatch is not None:
            value = torch.tensor([mismatch.acc])
            assert multiply_by_quantized_multiplier(value, *explorer.fixed_point, rounding="double") != \
                multiply_by_quantized_multiplier(value, *explorer.fixed_point, rounding="single"), real


def test_multiplier_explorer_set_values_redraws_once():
    explorer = MultiplierExplorer(0.0123)
    images = []
    explorer.image.observe(lambda change: images.append(change["new"]), names="value")

    explorer.set_values(real_multiplier=0.3)

    assert len(images) == 1
    assert explorer.first_mismatch.acc == 1


# ------------------------------------------------------------------------- bad input

BAD_INPUTS = [
    pytest.param(lambda: accumulator_wrap_figure(torch.zeros((2, 3), dtype=torch.int64)), ValueError, {
        "en": ["products has shape (2, 3)", "1-D integer tensor"],
        "zh-TW": ["products 的形狀是 (2, 3)", "一維整數張量"]}, id="wrap-figure-2d"),
    pytest.param(lambda: accumulator_wrap_figure(torch.zeros(5)), TypeError, {
        "en": ["products must hold quantized integers"],
        "zh-TW": ["products 必須是量化後的整數"]}, id="wrap-figure-float"),
    pytest.param(lambda: accumulator_bound_figure(0), ValueError, {
        "en": ["taps=0 must be a positive int"],
        "zh-TW": ["taps=0 必須是正整數"]}, id="bound-figure-taps"),
    pytest.param(lambda: AccumulatorExplorer(c_in=0), ValueError, {
        "en": ["c_in=0 is outside the control's range [1, 1000000]"],
        "zh-TW": ["c_in=0 超出控制項的範圍 [1, 1000000]"]}, id="accumulator-explorer-c-in"),
    pytest.param(lambda: AccumulatorExplorer().set_values(x_zero_point=256), ValueError, {
        "en": ["x_zero_point=256 is outside the control's range [0, 255]"],
        "zh-TW": ["x_zero_point=256 超出控制項的範圍 [0, 255]"]}, id="accumulator-explorer-zero-point"),
    pytest.param(lambda: AccumulatorExplorer().set_values(groups=2), TypeError, {
        "en": ["'groups' is not a control of AccumulatorExplorer", "c_in, kernel_size"],
        "zh-TW": ["'groups' 不是 AccumulatorExplorer 的控制項", "c_in、kernel_size"]}, id="accumulator-explorer-name"),
    pytest.param(lambda: trace_double_rounding(1.5, 2**30, -1), TypeError, {
        "en": ["acc must be an integer, got 1.5"],
        "zh-TW": ["acc 必須是整數，收到的是 1.5"]}, id="trace-float-acc"),
    pytest.param(lambda: trace_double_rounding(2**31, 2**30, -1), ValueError, {
        "en": ["outside the int32 range"],
        "zh-TW": ["超出 int32 範圍"]}, id="trace-acc-beyond-int32"),
    pytest.param(lambda: double_rounding_figure(2**31, -1, 5), ValueError, {
        "en": ["M0=2147483648 is outside [0, 2^31 − 1]"],
        "zh-TW": ["M0=2147483648 超出 [0, 2^31 − 1]"]}, id="rounding-figure-m0"),
    pytest.param(lambda: MultiplierExplorer(1e-9), ValueError, {
        "en": ["real_multiplier=1e-09 is outside the control's range"],
        "zh-TW": ["real_multiplier=1e-09 超出控制項的範圍"]}, id="multiplier-explorer-range"),
    pytest.param(lambda: MultiplierExplorer().set_values(multiplier=0.5), TypeError, {
        "en": ["'multiplier' is not a control of MultiplierExplorer", "real_multiplier"],
        "zh-TW": ["'multiplier' 不是 MultiplierExplorer 的控制項", "real_multiplier"]}, id="multiplier-explorer-name"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])
