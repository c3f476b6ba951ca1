"""Tests of qlesson.quantization: real 0 stays exact, round trips stay within half a step, bad input is named."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from qlesson import choose_qparams, dequantize, quantize, quantized_range

QUANTIZED_DTYPES = (torch.uint8, torch.int8)

# Any finite float64, without subnormals, so that r / S is computed with full precision.
finite_floats = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)
# Ranges a lesson would meet, from tiny activations to large accumulators.
wide_floats = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False, allow_subnormal=False)
moderate_floats = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_subnormal=False)


def _ordered(a, b):
    return (a, b) if a <= b else (b, a)


def _values_in_range(r_min, r_max, fractions):
    """Return real values spread over ``[r_min, r_max]``, both ends and 0 included, as float64."""
    inside = [r_min * (1.0 - f) + r_max * f for f in fractions]
    return torch.tensor([r_min, r_max, 0.0, *inside], dtype=torch.float64)


def _round_trip_tolerance(scale, values):
    # Half a step, plus the rounding of the float64 division and product, a few ulps of |r|.
    return scale / 2 + 8 * math.ulp(float(values.abs().max())) + 8 * math.ulp(scale)


# ---------------------------------------------------------------------------------------------
# choose_qparams


# Ranges at the float limits: the width overflows, or the scale underflows to 0.
EXTREME_RANGES = [(-1.7e308, 1.7e308), (0.0, 5e-324), (-5e-324, 0.0)]


@settings(max_examples=300)
@given(bounds=st.tuples(finite_floats, finite_floats), dtype=st.sampled_from(QUANTIZED_DTYPES),
       symmetric=st.booleans())
@example(bounds=EXTREME_RANGES[0], dtype=torch.uint8, symmetric=False)
@example(bounds=EXTREME_RANGES[1], dtype=torch.uint8, symmetric=False)
@example(bounds=EXTREME_RANGES[2], dtype=torch.int8, symmetric=True)
def test_choose_qparams_keeps_zero_exact(bounds, dtype, symmetric):
    r_min, r_max = _ordered(*bounds)

    scale, zero_point = choose_qparams(r_min, r_max, dtype, symmetric=symmetric)

    assert isinstance(scale, float) and isinstance(zero_point, int)
    assert math.isfinite(scale)
    assert scale > 0
    low, high = quantized_range(dtype)
    assert low <= zero_point <= high
    zero = torch.zeros(1, dtype=torch.float64)
    q_zero = quantize(zero, scale, zero_point, dtype)
    assert q_zero.item() == zero_point
    assert dequantize(q_zero, scale, zero_point).item() == 0.0


@settings(max_examples=300)
# Bounded well inside the float range: the check's own difference of two values near the float
# maximum would overflow.
@given(bounds=st.tuples(wide_floats, wide_floats), dtype=st.sampled_from(QUANTIZED_DTYPES),
       symmetric=st.booleans(),
       fractions=st.lists(st.floats(0, 1), min_size=1, max_size=20))
@example(bounds=EXTREME_RANGES[0], dtype=torch.int8, symmetric=False, fractions=[0.25, 0.5, 0.75])
@example(bounds=EXTREME_RANGES[0], dtype=torch.uint8, symmetric=True, fractions=[0.1, 0.9])
@example(bounds=EXTREME_RANGES[1], dtype=torch.uint8, symmetric=False, fractions=[0.5])
def test_round_trip_error_within_half_step(bounds, dtype, symmetric, fractions):
    r_min, r_max = _ordered(*bounds)
    scale, zero_point = choose_qparams(r_min, r_max, dtype, symmetric=symmetric)
    # The chosen range always contains 0, and the symmetric one is centered on it.
    low, high = min(r_min, 0.0), max(r_max, 0.0)
    values = _values_in_range(low, high, fractions)

    restored = dequantize(quantize(values, scale, zero_point, dtype), scale, zero_point)

    error = (restored - values).abs().max().item()
    assert error <= _round_trip_tolerance(scale, values), (scale, zero_point, error)


@settings(max_examples=200)
@given(bounds=st.tuples(moderate_floats, moderate_floats), dtype=st.sampled_from(QUANTIZED_DTYPES))
def test_asymmetric_range_maps_to_dtype_ends(bounds, dtype):
    r_min, r_max = _ordered(*bounds)
    assume(r_min < 0 < r_max and r_max - r_min > 1e-3)
    scale, zero_point = choose_qparams(r_min, r_max, dtype)
    q_min, q_max = quantized_range(dtype)

    q = quantize(torch.tensor([r_min, r_max], dtype=torch.float64), scale, zero_point, dtype)

    # Z is chosen so that r_min lands on q_min exactly; rounding Z may move r_max down one step.
    assert int(q[0]) == q_min
    assert q_max - 1 <= int(q[1]) <= q_max
    assert scale == pytest.approx((r_max - r_min) / (q_max - q_min), rel=1e-12)


def test_choose_qparams_hand_checked_uint8():
    scale, zero_point = choose_qparams(-1.0, 2.0, torch.uint8)

    assert scale == pytest.approx(3.0 / 255)
    assert zero_point == 85  # 0 − round(−1 / (3 / 255)) = round(85.0)


def test_choose_qparams_symmetric_int8_uses_narrow_range():
    scale, zero_point = choose_qparams(-0.5, 1.27, torch.int8, symmetric=True)

    assert scale == pytest.approx(0.01)
    assert zero_point == 0
    assert quantize(torch.tensor([-1.27, 1.27]), scale, zero_point, torch.int8).tolist() == [-127, 127]


def test_choose_qparams_symmetric_uint8_centers_at_128():
    scale, zero_point = choose_qparams(-2.54, 1.0, torch.uint8, symmetric=True)

    assert zero_point == 128
    assert quantize(torch.tensor([-2.54, 2.54]), scale, zero_point, torch.uint8).tolist() == [1, 255]


def test_choose_qparams_positive_range_is_widened_to_zero():
    scale, zero_point = choose_qparams(2.0, 5.1, torch.uint8)

    assert zero_point == 0
    assert scale == pytest.approx(5.1 / 255)


def test_choose_qparams_zero_range():
    assert choose_qparams(0.0, 0.0, torch.uint8) == (1.0, 0)
    assert choose_qparams(0.0, 0.0, torch.int8) == (1.0, 0)
    assert choose_qparams(0.0, 0.0, torch.int8, symmetric=True) == (1.0, 0)


def test_choose_qparams_range_near_float_limit_is_finite():
    # r_max − r_min overflows to infinity; the scale must not.
    scale, zero_point = choose_qparams(-1e308, 1e308, torch.uint8)

    assert math.isfinite(scale)
    assert zero_point in (127, 128)


def test_choose_qparams_subnormal_range_has_positive_scale():
    # 5e-324 / 255 rounds to 0 in float64, which no quantize call could use.
    for symmetric in (False, True):
        scale, zero_point = choose_qparams(0.0, 5e-324, torch.uint8, symmetric=symmetric)
        assert scale > 0
        q = quantize(torch.tensor([0.0, 5e-324], dtype=torch.float64), scale, zero_point)
        assert dequantize(q, scale, zero_point).tolist() == [0.0, 5e-324]


def test_choose_qparams_accepts_zero_dim_tensors():
    assert choose_qparams(torch.tensor(-1.0), torch.tensor(2.0)) == choose_qparams(-1.0, 2.0)


# ---------------------------------------------------------------------------------------------
# quantize and dequantize


def test_quantize_rounds_half_to_even_and_clamps():
    r = torch.tensor([0.5, 1.5, 2.5, -0.5, 1000.0, -1000.0], dtype=torch.float64)

    q = quantize(r, 1.0, 10, torch.uint8)

    assert q.dtype == torch.uint8
    assert q.tolist() == [10, 12, 12, 10, 255, 0]


def test_quantize_keeps_float64_scale():
    # A float32 copy of 0.1 is 0.10000000149, which would dequantize 255 to 25.50000038.
    q = quantize(torch.tensor([25.5], dtype=torch.float64), 0.1, 0)

    assert q.item() == 255
    assert dequantize(q, 0.1, 0).item() == 0.1 * 255


def test_dequantize_returns_float64():
    r = dequantize(torch.tensor([0, 128, 255], dtype=torch.uint8), 0.5, 128)

    assert r.dtype == torch.float64
    assert r.tolist() == [-64.0, 0.0, 63.5]


@settings(max_examples=100)
@given(channels=st.integers(1, 5), width=st.integers(1, 6), seed=st.integers(0, 2**31 - 1),
       dtype=st.sampled_from(QUANTIZED_DTYPES))
def test_per_channel_quantize_axis_0(channels, width, seed, dtype):
    generator = torch.Generator().manual_seed(seed)
    r = torch.randn((channels, width, 2), dtype=torch.float64, generator=generator) * 3
    params = [choose_qparams(float(row.min()), float(row.max()), dtype) for row in r]
    scales = torch.tensor([scale for scale, _ in params], dtype=torch.float64)
    zero_points = torch.tensor([zero_point for _, zero_point in params])

    q = quantize(r, scales, zero_points, dtype, axis=0)
    restored = dequantize(q, scales, zero_points, axis=0)

    for channel, (scale, zero_point) in enumerate(params):
        assert torch.equal(q[channel], quantize(r[channel], scale, zero_point, dtype))
        error = (restored[channel] - r[channel]).abs().max().item()
        assert error <= _round_trip_tolerance(scale, r[channel])


def test_per_channel_quantize_negative_axis():
    r = torch.tensor([[1.0, 2.0], [3.0, 4.0]])

    q = quantize(r, torch.tensor([1.0, 0.5]), torch.tensor([0, 10]), axis=-1)

    assert q.tolist() == [[1, 14], [3, 18]]


def test_per_channel_broadcasts_single_scale():
    r = torch.tensor([[1.0, 2.0], [3.0, 4.0]])

    q = quantize(r, 1.0, torch.tensor([0, 10]), axis=0)

    assert q.tolist() == [[1, 2], [13, 14]]


# ---------------------------------------------------------------------------------------------
# Bad input, message checked in both languages

R = torch.tensor([[-1.0, 0.0, 1.0], [0.5, 0.25, 2.0]])
Q = torch.zeros((2, 3), dtype=torch.uint8)

BAD_INPUTS = [
    pytest.param(lambda: choose_qparams(float("nan"), 1.0), ValueError, {
        "en": ["r_min=nan is not a finite number", "not NaN or infinity"],
        "zh-TW": ["r_min=nan 不是有限的數值", "不能是 NaN 或無限大"]}, id="range-nan"),
    pytest.param(lambda: choose_qparams(0.0, float("inf")), ValueError, {
        "en": ["r_max=inf is not a finite number"],
        "zh-TW": ["r_max=inf 不是有限的數值"]}, id="range-inf"),
    pytest.param(lambda: choose_qparams(2.0, 1.0), ValueError, {
        "en": ["r_min=2.0 is larger than r_max=1.0", "smallest real value first"],
        "zh-TW": ["r_min=2.0 大於 r_max=1.0", "請先傳入最小的實數值"]}, id="range-reversed"),
    pytest.param(lambda: choose_qparams("0", 1.0), TypeError, {
        "en": ["r_min='0' must be a real number"],
        "zh-TW": ["r_min='0' 必須是實數"]}, id="range-string"),
    pytest.param(lambda: choose_qparams(True, 1.0), TypeError, {
        "en": ["r_min=True must be a real number"],
        "zh-TW": ["r_min=True 必須是實數"]}, id="range-bool"),
    pytest.param(lambda: choose_qparams(0.0, 1.0, torch.int16), ValueError, {
        "en": ["dtype=torch.int16 is not supported here", "use torch.uint8 or torch.int8"],
        "zh-TW": ["這裡不支援 dtype=torch.int16", "請使用 torch.uint8 或 torch.int8"]}, id="choose-dtype"),
    pytest.param(lambda: choose_qparams(0.0, 1.0, "uint8"), ValueError, {
        "en": ["dtype='uint8' is not supported here"],
        "zh-TW": ["這裡不支援 dtype='uint8'"]}, id="choose-dtype-string"),
    pytest.param(lambda: quantize(R, 0.1, 0, torch.int32), ValueError, {
        "en": ["dtype=torch.int32 is not supported here"],
        "zh-TW": ["這裡不支援 dtype=torch.int32"]}, id="quantize-dtype"),
    pytest.param(lambda: quantized_range(torch.float32), ValueError, {
        "en": ["dtype=torch.float32 is not supported here"],
        "zh-TW": ["這裡不支援 dtype=torch.float32"]}, id="range-dtype"),
    pytest.param(lambda: quantize(R, 0.0, 0), ValueError, {
        "en": ["scale=0.0 must be a finite number greater than 0", "the real step between two integers"],
        "zh-TW": ["scale=0.0 必須是大於 0 的有限數值", "相鄰整數之間的實數間距"]}, id="scale-zero"),
    pytest.param(lambda: quantize(R, -0.5, 0), ValueError, {
        "en": ["scale=-0.5 must be a finite number greater than 0"],
        "zh-TW": ["scale=-0.5 必須是大於 0 的有限數值"]}, id="scale-negative"),
    pytest.param(lambda: quantize(R, float("nan"), 0), ValueError, {
        "en": ["scale=nan must be a finite number greater than 0"],
        "zh-TW": ["scale=nan 必須是大於 0 的有限數值"]}, id="scale-nan"),
    pytest.param(lambda: dequantize(Q, float("inf"), 0), ValueError, {
        "en": ["scale=inf must be a finite number greater than 0"],
        "zh-TW": ["scale=inf 必須是大於 0 的有限數值"]}, id="dequantize-scale-inf"),
    pytest.param(lambda: quantize(R, None, 0), TypeError, {
        "en": ["scale=None must be a finite number greater than 0"],
        "zh-TW": ["scale=None 必須是大於 0 的有限數值"]}, id="scale-none"),
    pytest.param(lambda: quantize(R, "0.1", 0), TypeError, {
        "en": ["scale='0.1' must be a finite number greater than 0"],
        "zh-TW": ["scale='0.1' 必須是大於 0 的有限數值"]}, id="scale-string"),
    pytest.param(lambda: quantize(R, torch.tensor([0.1, 0.2, 0.3]), 0, axis=0), ValueError, {
        "en": ["scale has 3 entries and zero_point has 1, but axis 0 of the tensor has 2",
               "one scale and one zero point per channel"],
        "zh-TW": ["scale 有 3 個元素、zero_point 有 1 個，但張量第 0 軸有 2 個", "每個通道各給一個縮放因子與零點"]},
        id="per-channel-scale-length"),
    pytest.param(lambda: dequantize(Q, 0.1, torch.tensor([0, 1, 2]), axis=0), ValueError, {
        "en": ["scale has 1 entries and zero_point has 3, but axis 0 of the tensor has 2"],
        "zh-TW": ["scale 有 1 個元素、zero_point 有 3 個，但張量第 0 軸有 2 個"]},
        id="per-channel-zero-point-length"),
    pytest.param(lambda: quantize(R, torch.tensor([0.1, 0.2]), 0), ValueError, {
        "en": ["scale has 2 entries and zero_point has 1, but without axis one of each is expected",
               "Pass axis=<channel axis>"],
        "zh-TW": ["scale 有 2 個元素、zero_point 有 1 個，但未指定 axis 時兩者各只能有一個", "請傳入 axis=<通道所在的軸>"]},
        id="per-channel-without-axis"),
    pytest.param(lambda: quantize(R, 0.1, 0, axis=2), ValueError, {
        "en": ["axis=2 is not an axis of a tensor with shape (2, 3)", "Use an axis from 0 to 1"],
        "zh-TW": ["axis=2 不是形狀為 (2, 3) 的張量的軸", "請使用 0 到 1 之間的軸"]}, id="axis-out-of-range"),
    pytest.param(lambda: quantize(torch.arange(3), 0.1, 0), TypeError, {
        "en": ["r must be a floating-point tensor of real values, got dtype int64", "Use .float() first"],
        "zh-TW": ["r 必須是存放實數的浮點數張量，收到的資料型別是 int64", "請先使用 .float()"]}, id="r-integer"),
    pytest.param(lambda: quantize([0.5], 0.1, 0), TypeError, {
        "en": ["r must be a torch.Tensor, got list"],
        "zh-TW": ["r 必須是 torch.Tensor，收到的是 list"]}, id="r-not-tensor"),
    pytest.param(lambda: quantize(torch.tensor([float("nan"), 1.0, float("-inf")]), 0.1, 0), ValueError, {
        "en": ["r contains 2 NaN or infinite value(s)", "Replace or clip them before quantizing"],
        "zh-TW": ["r 含有 2 個 NaN 或無限大的值", "請先取代或截斷（clip）這些值再量化"]}, id="r-not-finite"),
    pytest.param(lambda: quantize(R, 0.1, 0.5), TypeError, {
        "en": ["zero_point must be an integer, got 0.5"],
        "zh-TW": ["zero_point 必須是整數，收到的是 0.5"]}, id="zero-point-float"),
    pytest.param(lambda: quantize(R, 0.1, True), TypeError, {
        "en": ["zero_point must be an integer, got True"],
        "zh-TW": ["zero_point 必須是整數，收到的是 True"]}, id="zero-point-bool"),
    pytest.param(lambda: dequantize(Q, 0.1, None), TypeError, {
        "en": ["zero_point must be an integer, got None"],
        "zh-TW": ["zero_point 必須是整數，收到的是 None"]}, id="zero-point-none"),
    pytest.param(lambda: quantize(R, 0.1, 300), ValueError, {
        "en": ["zero_point=300 is outside the range of uint8, [0, 255]"],
        "zh-TW": ["zero_point=300 超出 uint8 的範圍 [0, 255]"]}, id="zero-point-outside"),
    pytest.param(lambda: quantize(R, 0.1, -129, torch.int8), ValueError, {
        "en": ["zero_point=-129 is outside the range of int8, [-128, 127]"],
        "zh-TW": ["zero_point=-129 超出 int8 的範圍 [-128, 127]"]}, id="zero-point-outside-int8"),
    pytest.param(lambda: dequantize(R, 0.1, 0), TypeError, {
        "en": ["q must hold quantized integers", "got dtype float32"],
        "zh-TW": ["q 必須是量化後的整數", "float32"]}, id="dequantize-float"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])
