"""Tests of the fixed-point multiplier, the three roundings and the accumulator-width helpers."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import qlesson
from qlesson.requantization import (
    INT32_MAX,
    INT32_MIN,
    accumulator_bound,
    choose_qparams_reduced_range,
    conv_integer_int32,
    dot_u8s8_saturating,
    find_double_rounding_mismatch,
    max_taps_int32,
    multiply_by_float_multiplier,
    multiply_by_quantized_multiplier,
    pairwise_multiply_add,
    quantize_multiplier,
    quantize_multipliers,
    reduced_range,
    wrap_int32,
)

from bilingual import assert_raises_in_both_languages


def round_half_away(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def gemmlowp_double_rounding(x: int, m0: int, shift: int) -> int:
    """Scalar transcription of TFLite's MultiplyByQuantizedMultiplier (gemmlowp fixedpoint.h)."""
    left, right = max(shift, 0), max(-shift, 0)
    product = x * (1 << left) * m0
    nudge = (1 << 30) if product >= 0 else 1 - (1 << 30)
    numerator = product + nudge
    high = abs(numerator) // (1 << 31) * (1 if numerator >= 0 else -1)  # C division truncates
    mask = (1 << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if remainder > threshold else 0)


multipliers_below_one = st.floats(min_value=2.0**-32, max_value=1.0, exclude_max=True)
multipliers_above_one = st.floats(min_value=1.0, max_value=2.0**30 * (1 - 2.0**-30))


@st.composite
def fixed_point_multipliers(draw, max_shift: int = 30):
    real = draw(st.floats(min_value=2.0**-32, max_value=2.0 ** max_shift * (1 - 2.0**-30)))
    return quantize_multiplier(real)


# --- quantize_multiplier --------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(st.one_of(multipliers_below_one, multipliers_above_one))
def test_quantize_multiplier_within_31_bits(real):
    m0, shift = quantize_multiplier(real)
    assert 2**30 <= m0 < 2**31
    assert -31 <= shift <= 30
    represented = Fraction(m0) * Fraction(2) ** (shift - 31)
    # M0 is q · 2^31 rounded to an integer, so the error is at most half a unit of 2^(shift − 31).
    assert abs(represented - Fraction(real)) <= Fraction(2) ** (shift - 32)
    assert abs(represented - Fraction(real)) <= Fraction(real) * Fraction(1, 2**31)


@pytest.mark.parametrize("exponent", [-20, -1, 0, 1, 10])
def test_quantize_multiplier_rounds_up_to_next_power(exponent):
    # q just below 1 rounds to 2^31, which must become 2^30 with the shift one larger.
    real = 2.0**exponent * (1 - 2.0**-40)
    assert quantize_multiplier(real) == (2**30, exponent + 1)


def test_quantize_multiplier_known_values():
    assert quantize_multiplier(0.5) == (2**30, 0)
    assert quantize_multiplier(0.75) == (3 * 2**29, 0)
    assert quantize_multiplier(1.0) == (2**30, 1)
    assert quantize_multiplier(2.0**-32) == (2**30, -31)


def test_quantize_multipliers_per_channel():
    reals = torch.tensor([0.25, 0.3, 3.0], dtype=torch.float64)
    m0, shift = quantize_multipliers(reals)
    expected = [quantize_multiplier(value) for value in reals.tolist()]
    assert m0.tolist() == [pair[0] for pair in expected]
    assert shift.tolist() == [pair[1] for pair in expected]


# --- multiply_by_quantized_multiplier -------------------------------------------------------

@st.composite
def products(draw):
    m0, shift = draw(fixed_point_multipliers())
    # Keep |acc · M| within int32, where TFLite's single rounding is defined.
    limit = min(INT32_MAX, (INT32_MAX * 2 ** (31 - shift)) // m0)
    if shift > 0:
        limit = min(limit, INT32_MAX >> shift)  # the double-rounding left shift must fit too
    acc = draw(st.lists(st.integers(-limit, limit), min_size=1, max_size=20))
    return m0, shift, acc


@settings(max_examples=300, deadline=None)
@given(products())
def test_single_rounding_equals_exact_rational(case):
    m0, shift, acc = case
    result = multiply_by_quantized_multiplier(torch.tensor(acc), m0, shift, rounding="single")
    scale = Fraction(m0) * Fraction(2) ** (shift - 31)
    assert result.tolist() == [round_half_away(value * scale) for value in acc]


@settings(max_examples=300, deadline=None)
@given(products())
def test_double_rounding_matches_gemmlowp(case):
    m0, shift, acc = case
    result = multiply_by_quantized_multiplier(torch.tensor(acc), m0, shift, rounding="double")
    assert result.tolist() == [gemmlowp_double_rounding(value, m0, shift) for value in acc]


@settings(max_examples=300, deadline=None)
@given(products())
def test_double_rounding_within_one_of_single(case):
    m0, shift, acc = case
    values = torch.tensor(acc)
    double = multiply_by_quantized_multiplier(values, m0, shift, rounding="double")
    single = multiply_by_quantized_multiplier(values, m0, shift, rounding="single")
    assert int((double - single).abs().max()) <= 1


def test_double_rounding_ties_toward_positive_infinity():
    # acc · M0 / 2^31 = ±0.5 exactly: SaturatingRoundingDoublingHighMul rounds both ties up.
    result = multiply_by_quantized_multiplier(torch.tensor([1, -1, 3, -3]), 2**30, 0, rounding="double")
    assert result.tolist() == [1, 0, 2, -1]


def test_single_rounding_ties_away_from_zero():
    result = multiply_by_quantized_multiplier(torch.tensor([1, -1, 3, -3]), 2**30, 0, rounding="single")
    assert result.tolist() == [1, -1, 2, -2]


def test_multiplier_per_channel_matches_scalar():
    generator = torch.Generator().manual_seed(0)
    acc = torch.randint(-2**20, 2**20, (2, 3, 4, 5), generator=generator)
    m0 = torch.tensor([2**30, 1518500250, 2**31 - 1])
    shift = torch.tensor([-7, 0, 3])
    for rounding in ("double", "single"):
        per_channel = multiply_by_quantized_multiplier(acc, m0, shift, rounding=rounding)
        for channel in range(3):
            scalar = multiply_by_quantized_multiplier(acc[:, channel], int(m0[channel]), int(shift[channel]),
                                                      rounding=rounding)
            assert torch.equal(per_channel[:, channel], scalar)


def test_multiplier_returns_int64_of_same_shape():
    acc = torch.arange(-6, 6, dtype=torch.int32).reshape(3, 4)
    result = multiply_by_quantized_multiplier(acc, 2**30, -1)
    assert result.dtype == torch.int64
    assert result.shape == acc.shape


def test_find_double_rounding_mismatch_is_real():
    m0, shift = quantize_multiplier(0.3)
    found = find_double_rounding_mismatch(m0, shift)
    assert found is not None
    double = multiply_by_quantized_multiplier(torch.tensor([found.acc]), m0, shift, rounding="double")
    single = multiply_by_quantized_multiplier(torch.tensor([found.acc]), m0, shift, rounding="single")
    assert int(double) == found.double
    assert int(single) == found.single
    assert found.double != found.single
    assert found.exact == Fraction(found.acc * m0, 2 ** (31 - shift))


def test_find_double_rounding_mismatch_negative_tie():
    # Multiplier 0.5 with no shift rounds only once, so only the tie rule differs: at acc = −1.
    assert find_double_rounding_mismatch(2**30, 0).acc == -1


def test_find_double_rounding_mismatch_none():
    # An odd M0 with no right shift gives no exact half and rounds once.
    assert find_double_rounding_mismatch(2**31 - 1, 0, limit=1000) is None


# --- multiply_by_float_multiplier -----------------------------------------------------------

def test_float_multiplier_rounds_half_to_even():
    result = multiply_by_float_multiplier(torch.tensor([5, 7, -5, -7, 1]), 0.5)
    assert result.tolist() == [2, 4, -2, -4, 0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(INT32_MIN, INT32_MAX), min_size=1, max_size=20),
       st.floats(min_value=1e-6, max_value=10.0))
def test_float_multiplier_matches_numpy_float32(acc, multiplier):
    expected = np.rint(np.array(acc, dtype=np.int32).astype(np.float32) * np.float32(multiplier)).astype(np.int64)
    result = multiply_by_float_multiplier(torch.tensor(acc), multiplier)
    assert result.tolist() == expected.tolist()


def test_float_multiplier_per_channel():
    acc = torch.tensor([[[10], [10]]])
    result = multiply_by_float_multiplier(acc, torch.tensor([0.25, 0.35]))
    assert result.flatten().tolist() == [2, 4]


# --- accumulator width ----------------------------------------------------------------------

def test_accumulator_bound_values():
    assert accumulator_bound(9, 128, 0, torch.uint8, torch.int8) == 9 * 128 * 128
    assert accumulator_bound(9, 0, 0, torch.uint8, torch.int8) == 9 * 255 * 128
    assert accumulator_bound(1, 0, torch.tensor([0, 5]), torch.uint8, torch.int8) == 255 * 133


def test_max_taps_int32_is_tight():
    taps = max_taps_int32(0, 0, torch.uint8, torch.int8)
    assert accumulator_bound(taps, 0, 0) <= INT32_MAX
    assert accumulator_bound(taps + 1, 0, 0) > INT32_MAX


def test_accumulator_bound_is_reached():
    # All inputs at the extreme distance from their zero points reach the bound exactly.
    x = torch.full((1, 4, 3, 3), 255, dtype=torch.uint8)
    w = torch.full((2, 4, 3, 3), -128, dtype=torch.int8)
    acc = qlesson.conv_integer(x, w, 0, 0)
    assert int(acc.abs().max()) == accumulator_bound(4 * 9, 0, 0)


def test_wrap_int32_values():
    values = torch.tensor([0, INT32_MAX, INT32_MAX + 1, INT32_MIN - 1, 2**32 + 5])
    assert wrap_int32(values).tolist() == [0, INT32_MAX, INT32_MIN, INT32_MAX, 5]


def test_conv_integer_int32_in_range_is_exact():
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (1, 3, 6, 6), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (2, 3, 3, 3), dtype=torch.int8, generator=generator)
    assert torch.equal(conv_integer_int32(x, w, 10, 0, padding=1), qlesson.conv_integer(x, w, 10, 0, padding=1))


def test_conv_integer_int32_raises_on_wrap():
    # Three int16 products of 32767 · 32767 exceed 2^31 − 1.
    x = torch.full((1, 3, 1), 32767, dtype=torch.int16)
    w = torch.full((1, 3, 1), 32767, dtype=torch.int16)
    exact = 3 * 32767 * 32767
    with pytest.raises(OverflowError) as error:
        conv_integer_int32(x, w)
    assert str(exact) in str(error.value)
    assert str(int(wrap_int32(torch.tensor(exact)))) in str(error.value)


def test_pairwise_multiply_add_saturates():
    x = torch.tensor([255, 255, 255, 0, 1, 2], dtype=torch.uint8)
    w = torch.tensor([127, 127, -128, -128, 3, -4], dtype=torch.int8)
    assert pairwise_multiply_add(x, w).tolist() == [32767, -32640, -5]
    assert int(dot_u8s8_saturating(x, w)) == 32767 - 32640 - 5
    assert int((x.long() * w.long()).sum()) == 64770 - 32640 - 5


def test_reduce_range_avoids_saturation_and_changes_result():
    activations = torch.tensor([3.9, 4.0, 0.1, 2.0], dtype=torch.float64)
    w = torch.tensor([127, 127, 5, -9], dtype=torch.int8)

    full_scale, full_zp = qlesson.choose_qparams(0.0, 4.0, torch.uint8)
    x_full = qlesson.quantize(activations, full_scale, full_zp, torch.uint8)
    assert int(dot_u8s8_saturating(x_full, w)) != int((x_full.long() * w.long()).sum())

    reduced_scale, reduced_zp = choose_qparams_reduced_range(0.0, 4.0, torch.uint8)
    low, high = reduced_range(torch.uint8)
    x_reduced = qlesson.quantize(activations, reduced_scale, reduced_zp, torch.uint8).clamp(low, high)
    assert int(x_reduced.max()) <= 127
    assert int(dot_u8s8_saturating(x_reduced, w)) == int((x_reduced.long() * w.long()).sum())

    # The coarser 7-bit scale changes the real result of the dot product.
    full_real = full_scale * int((x_full.long() - full_zp).mul(w.long()).sum())
    reduced_real = reduced_scale * int((x_reduced.long() - reduced_zp).mul(w.long()).sum())
    assert full_real != reduced_real


def test_reduced_range_values():
    assert reduced_range(torch.uint8) == (0, 127)
    assert reduced_range(torch.int8) == (-64, 63)
    assert choose_qparams_reduced_range(0.0, 1.27) == (pytest.approx(0.01), 0)


# --- bad inputs -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0.0, -0.5, float("nan"), float("inf"), -float("inf")])
def test_quantize_multiplier_rejects_non_positive(value):
    assert_raises_in_both_languages(lambda: quantize_multiplier(value), ValueError,
                                    "finite number greater than 0", "大於 0 的有限數值")


@pytest.mark.parametrize("value", [2.0**-33, 2.0**31, 2.0**30 * (1 - 2.0**-40)])
def test_quantize_multiplier_rejects_shift_out_of_range(value):
    assert_raises_in_both_languages(lambda: quantize_multiplier(value), ValueError,
                                    "shifts from -31 to 30", "-31 到 30")


def test_quantize_multiplier_rejects_non_number():
    assert_raises_in_both_languages(lambda: quantize_multiplier("0.5"), TypeError,
                                    "must be a real number", "必須是實數")


def test_multiplier_rejects_fixed_point_out_of_range():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([1]), 2**31, 0), ValueError,
        "M0=2147483648 is outside [0, 2^31 − 1]", "M0=2147483648 超出")


def test_multiplier_rejects_shift_out_of_range():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([1]), 2**30, 31), ValueError,
        "shift=31 is outside [-31, 30]", "shift=31 超出 [-31, 30]")


def test_multiplier_rejects_float_accumulator():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([1.5]), 2**30, 0), TypeError,
        "acc must hold quantized integers", "acc 必須是量化後的整數")


def test_multiplier_rejects_accumulator_outside_int32():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([2**31]), 2**30, 0), ValueError,
        "acc contains 2147483648, outside the int32 range", "acc 含有 2147483648，超出 int32 範圍")


def test_multiplier_rejects_per_channel_length():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.zeros(1, 3, 2, dtype=torch.int64),
                                                 torch.tensor([2**30, 2**30]), torch.tensor([0, 0])),
        ValueError, "with 3 channels on axis 1", "第 1 軸有 3 個通道")


def test_multiplier_rejects_unknown_rounding():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([1]), 2**30, 0, rounding="float"), ValueError,
        "rounding='float' is not one of double, single", "rounding='float' 不是 double、single 之一")


def test_double_rounding_rejects_left_shift_overflow():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([2**20]), 2**30, 12, rounding="double"),
        OverflowError, "shifted left by 12 bits", "左移 12 位元")


def test_single_rounding_rejects_result_outside_int32():
    assert_raises_in_both_languages(
        lambda: multiply_by_quantized_multiplier(torch.tensor([2**30]), 2**30, 5, rounding="single"),
        OverflowError, "outside int32", "超出 int32")


def test_float_multiplier_rejects_non_positive():
    assert_raises_in_both_languages(
        lambda: multiply_by_float_multiplier(torch.tensor([1]), -0.5), ValueError,
        "finite number greater than 0", "大於 0 的有限數值")


def test_accumulator_bound_rejects_bad_taps():
    assert_raises_in_both_languages(lambda: accumulator_bound(0), ValueError,
                                    "taps=0 must be a positive int", "taps=0 必須是正整數")


def test_accumulator_bound_rejects_bad_dtype():
    assert_raises_in_both_languages(lambda: accumulator_bound(9, 0, 0, torch.float32), ValueError,
                                    "x_dtype=torch.float32 is not supported", "不支援 x_dtype=torch.float32")


def test_accumulator_bound_rejects_zero_point_outside_dtype():
    assert_raises_in_both_languages(lambda: accumulator_bound(9, 300, 0), ValueError,
                                    "x_zero_point=300 is outside the range of uint8", "x_zero_point=300 超出 uint8")


def test_pairwise_rejects_wrong_dtypes():
    x = torch.zeros(4, dtype=torch.int8)
    assert_raises_in_both_languages(lambda: pairwise_multiply_add(x, x), TypeError,
                                    "x must be uint8 and w int8", "需要 uint8 的 x 與 int8 的 w")


def test_pairwise_rejects_odd_length():
    x = torch.zeros(3, dtype=torch.uint8)
    w = torch.zeros(3, dtype=torch.int8)
    assert_raises_in_both_languages(lambda: pairwise_multiply_add(x, w), ValueError,
                                    "with an even last axis", "最後一軸長度為偶數")


def test_find_mismatch_rejects_bad_limit():
    assert_raises_in_both_languages(lambda: find_double_rounding_mismatch(2**30, 0, limit=0), ValueError,
                                    "limit=0 must be an int from 1", "limit=0 必須是 1 到")
