"""Tests of qlinear_conv against the exact rational reference, and of folding the zero point into the bias."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import qlesson
from qlesson.qlinear import activation_range, fold_zero_point_into_bias, output_multipliers, qlinear_conv

from bilingual import assert_raises_in_both_languages

FLOAT32_MARGIN = Fraction(1, 2**21)  # relative error of float32 requantization, with room (3 roundings)


def round_half_away(value: Fraction) -> int:
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


def distance_to_tie(value: Fraction) -> Fraction:
    """Distance from ``value`` to the nearest k + 1/2, where rounding changes."""
    return abs(value - math.floor(value) - Fraction(1, 2))


def float32_fraction(value: float) -> Fraction:
    return Fraction(float(torch.tensor(value, dtype=torch.float32)))


@st.composite
def conv_problems(draw):
    """A small quantized convolution with random shapes, hyperparameters, dtypes and scales."""
    rank = draw(st.integers(1, 3))
    groups = draw(st.integers(1, 2))
    c_in = groups * draw(st.integers(1, 2))
    c_out = groups * draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilation = [draw(st.integers(1, 2)) for _ in range(rank)]
    stride = [draw(st.integers(1, 2)) for _ in range(rank)]
    padding = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank)]

    size = []
    for k, d, (before, after) in zip(kernel, dilation, padding):
        minimum = max(1, d * (k - 1) + 1 - before - after)
        size.append(draw(st.integers(minimum, minimum + 4)))

    x_dtype = draw(st.sampled_from([torch.uint8, torch.int8]))
    w_dtype = draw(st.sampled_from([torch.uint8, torch.int8]))
    out_dtype = draw(st.sampled_from([torch.uint8, torch.int8]))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    x_low, x_high = qlesson.quantized_range(x_dtype)
    w_low, w_high = qlesson.quantized_range(w_dtype)
    x = torch.randint(x_low, x_high + 1, (draw(st.integers(1, 2)), c_in, *size), generator=generator).to(x_dtype)
    w = torch.randint(w_low, w_high + 1, (c_out, c_in // groups, *kernel), generator=generator).to(w_dtype)

    per_channel = draw(st.booleans())
    x_zp = draw(st.integers(x_low, x_high))
    if per_channel:
        w_zp = torch.randint(w_low, w_high + 1, (c_out,), generator=generator).to(w_dtype)
        w_scale = torch.exp2(-torch.rand(c_out, generator=generator) * 10 - 3)
    else:
        w_zp = draw(st.integers(w_low, w_high))
        w_scale = draw(st.floats(2.0**-13, 2.0**-3))
    x_scale = draw(st.floats(2.0**-10, 1.0))
    bias = None
    if draw(st.booleans()):
        bias = torch.randint(-5000, 5001, (c_out,), generator=generator, dtype=torch.int32)

    # Aim y_scale at the accumulator's spread so that outputs use the range and some saturate.
    taps = c_in // groups * math.prod(kernel)
    max_w_scale = float(w_scale.max()) if per_channel else w_scale
    y_scale = x_scale * max_w_scale * math.sqrt(taps) * 128 * 40 / draw(st.floats(5.0, 400.0))
    y_low, y_high = qlesson.quantized_range(out_dtype)
    y_zp = draw(st.integers(y_low, y_high))
    return dict(x=x, x_scale=x_scale, x_zero_point=x_zp, w=w, w_scale=w_scale, w_zero_point=w_zp,
                y_scale=y_scale, y_zero_point=y_zp, bias=bias, stride=stride, padding=padding,
                dilation=dilation, groups=groups, out_dtype=out_dtype)


def exact_reference(problem) -> tuple[torch.Tensor, list[Fraction]]:
    """Return the exactly rounded output (ties away from zero) and the exact real value M_c · (acc + bias)."""
    acc = qlesson.conv_integer(problem["x"], problem["w"], problem["x_zero_point"], problem["w_zero_point"],
                               stride=problem["stride"], padding=problem["padding"],
                               dilation=problem["dilation"], groups=problem["groups"])
    channels = problem["w"].shape[0]
    if problem["bias"] is not None:
        acc = acc + problem["bias"].to(torch.int64).view(1, channels, *([1] * (acc.dim() - 2)))
    w_scale = problem["w_scale"]
    w_scales = w_scale.tolist() if isinstance(w_scale, torch.Tensor) else [w_scale] * channels
    x32, y32 = float32_fraction(problem["x_scale"]), float32_fraction(problem["y_scale"])
    multipliers = [x32 * float32_fraction(scale) / y32 for scale in w_scales]
    low, high = qlesson.quantized_range(problem["out_dtype"])
    flat_acc = acc.movedim(1, -1).reshape(-1, channels)
    exact_values, exact_outputs = [], []
    for row in flat_acc.tolist():
        for channel, value in enumerate(row):
            real = multipliers[channel] * value
            exact_values.append(real)
            exact_outputs.append(min(max(problem["y_zero_point"] + round_half_away(real), low), high))
    shape = acc.movedim(1, -1).shape
    outputs = torch.tensor(exact_outputs).reshape(shape).movedim(-1, 1)
    return outputs, exact_values


def explained_margin(problem, rounding: str, channel: int, acc_real: Fraction) -> Fraction:
    """How far from a rounding tie an output may be and still round differently from the exact value."""
    multipliers = output_multipliers(problem["x_scale"], problem["w_scale"], problem["y_scale"],
                                      problem["w"].shape[0])
    x32, y32 = float32_fraction(problem["x_scale"]), float32_fraction(problem["y_scale"])
    w_scale = problem["w_scale"]
    w32 = float32_fraction(float(w_scale[channel]) if isinstance(w_scale, torch.Tensor) else w_scale)
    exact_multiplier = x32 * w32 / y32
    acc = abs(acc_real / exact_multiplier)
    if rounding == "float":
        return abs(acc_real) * FLOAT32_MARGIN + FLOAT32_MARGIN
    m0, shift = multipliers.fixed_point()
    m0, shift = int(m0[channel]), int(shift[channel])
    fixed = Fraction(m0) * Fraction(2) ** (shift - 31)
    margin = acc * abs(fixed - exact_multiplier)
    if rounding == "double" and shift < 0:
        margin += Fraction(2) ** (shift - 1)  # the first rounding, before the right shift
    return margin


def check_against_exact(problem, rounding: str) -> int:
    """Assert every difference from the exact result is at most 1 and explained; return their count."""
    result = qlinear_conv(**problem, rounding=rounding)
    assert result.dtype == problem["out_dtype"]
    exact, values = exact_reference(problem)
    assert result.shape == exact.shape
    difference = result.to(torch.int64) - exact
    assert int(difference.abs().max()) <= 1
    channels = problem["w"].shape[0]
    flat_difference = difference.movedim(1, -1).reshape(-1).tolist()
    for index, delta in enumerate(flat_difference):
        if delta:
            margin = explained_margin(problem, rounding, index % channels, values[index])
            assert distance_to_tie(values[index]) <= margin, (index, values[index], margin)
    return sum(1 for delta in flat_difference if delta)


@settings(max_examples=60, deadline=None)
@given(conv_problems())
def test_qlinear_double_rounding_matches_exact(problem):
    check_against_exact(problem, "double")


@settings(max_examples=60, deadline=None)
@given(conv_problems())
def test_qlinear_single_rounding_matches_exact(problem):
    check_against_exact(problem, "single")


@settings(max_examples=60, deadline=None)
@given(conv_problems())
def test_qlinear_float_rounding_matches_exact(problem):
    check_against_exact(problem, "float")


def test_output_multipliers_match_engine_arithmetic():
    generator = torch.Generator().manual_seed(2)
    x_scales = torch.exp2(-torch.rand(200, generator=generator) * 12).tolist()
    w_scales = torch.exp2(-torch.rand(200, generator=generator) * 12)
    y_scales = torch.exp2(-torch.rand(200, generator=generator) * 6).tolist()
    for index, (x_scale, y_scale) in enumerate(zip(x_scales, y_scales)):
        multipliers = output_multipliers(x_scale, w_scales[index:index + 2], y_scale)
        x32 = np.float32(x_scale)
        w32 = w_scales[index:index + 2].numpy().astype(np.float32)
        y32 = np.float32(y_scale)
        # ONNX Runtime and PyTorch: (x_scale * w_scale) / y_scale, every step in float32.
        assert multipliers.float32.numpy().tolist() == ((x32 * w32) / y32).tolist()
        # TFLite: the same float32 scales, multiplied and divided in double.
        assert multipliers.real.numpy().tolist() == (np.float64(x32) * w32.astype(np.float64) / np.float64(y32)).tolist()


def test_qlinear_power_of_two_scales_exact():
    # With power-of-two scales M0 · 2^(shift − 31) equals M exactly, so single rounding is exact.
    generator = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (2, 3, 7, 7), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (4, 3, 3, 3), dtype=torch.int8, generator=generator)
    bias = torch.randint(-3000, 3000, (4,), dtype=torch.int32, generator=generator)
    problem = dict(x=x, x_scale=2.0**-5, x_zero_point=90, w=w, w_scale=torch.tensor([2.0**-7, 2.0**-8, 2.0**-6, 2.0**-9]),
                   w_zero_point=0, y_scale=2.0**-3, y_zero_point=128, bias=bias, stride=1, padding=1,
                   dilation=1, groups=1, out_dtype=torch.uint8)
    assert check_against_exact(problem, "single") == 0


def test_qlinear_saturates_to_out_dtype():
    x = torch.full((1, 1, 3), 255, dtype=torch.uint8)
    w = torch.tensor([[[127, 127, 127]], [[-128, -128, -128]]], dtype=torch.int8)
    result = qlinear_conv(x, 1.0, 0, w, 1.0, 0, 1.0, 0, out_dtype=torch.int8)
    assert result.flatten().tolist() == [127, -128]


def test_qlinear_relu_clamps_at_zero_point():
    generator = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, (1, 2, 6, 6), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (3, 2, 3, 3), dtype=torch.int8, generator=generator)
    arguments = (x, 0.05, 120, w, 0.01, 0, 0.1, 100)
    plain = qlinear_conv(*arguments, padding=1)
    relu = qlinear_conv(*arguments, padding=1, activation="relu")
    assert int(plain.min()) < 100
    assert torch.equal(relu, plain.clamp(min=100))


def test_qlinear_relu6_upper_bound():
    assert activation_range("relu6", 0.05, 10) == (10, 130)
    assert activation_range("relu6", 0.01, 10) == (10, 255)  # 6 / 0.01 = 600 steps, beyond uint8
    assert activation_range("relu", 0.05, -20, torch.int8) == (-20, 127)
    # 6 / 0.048 = 125 exactly in real numbers; the float32 quotient rounds half away from zero.
    x = torch.full((1, 1, 1), 255, dtype=torch.uint8)
    w = torch.full((1, 1, 1), 127, dtype=torch.int8)
    result = qlinear_conv(x, 1.0, 0, w, 1.0, 0, 0.048, 0, activation="relu6")
    assert int(result) == activation_range("relu6", 0.048, 0)[1]


def test_qlinear_zero_bias_equals_none():
    generator = torch.Generator().manual_seed(5)
    x = torch.randint(-128, 128, (1, 2, 5), dtype=torch.int8, generator=generator)
    w = torch.randint(-128, 128, (2, 2, 3), dtype=torch.int8, generator=generator)
    arguments = (x, 0.1, -3, w, 0.02, 0, 0.3, 0)
    zero = torch.zeros(2, dtype=torch.int32)
    assert torch.equal(qlinear_conv(*arguments, zero, padding=1, out_dtype=torch.int8),
                       qlinear_conv(*arguments, None, padding=1, out_dtype=torch.int8))


def test_qlinear_accepts_zero_point_tensors_of_matching_dtype():
    generator = torch.Generator().manual_seed(6)
    x = torch.randint(0, 256, (1, 2, 5, 5), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (2, 2, 3, 3), dtype=torch.int8, generator=generator)
    as_ints = qlinear_conv(x, 0.1, 7, w, 0.02, 3, 0.5, 128, padding=1)
    as_tensors = qlinear_conv(x, 0.1, torch.tensor(7, dtype=torch.uint8), w, 0.02,
                              torch.tensor([3, 3], dtype=torch.int8), 0.5, torch.tensor(128, dtype=torch.uint8),
                              padding=1)
    assert torch.equal(as_ints, as_tensors)


# --- fold_zero_point_into_bias ----------------------------------------------------------------

def test_fold_exact_with_zero_point_padding():
    generator = torch.Generator().manual_seed(7)
    x = torch.randint(0, 256, (2, 3, 6, 6), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (4, 3, 3, 3), dtype=torch.int8, generator=generator)
    bias = torch.randint(-1000, 1000, (4,), dtype=torch.int32, generator=generator)
    x_zp, w_zp = 77, torch.tensor([0, 3, -2, 5], dtype=torch.int8)
    expected = qlesson.conv_integer(x, w, x_zp, w_zp, padding=1) + bias.view(1, 4, 1, 1)
    folded = fold_zero_point_into_bias(bias, w, x_zp, w_zp)

    # Raw x times (w − w_zp), with the padding holding x_zp, plus the folded bias.
    padded = F.pad(x.to(torch.int64), (1, 1, 1, 1), value=x_zp)
    raw = qlesson.conv_integer(padded, w, 0, w_zp, padding=0)
    assert torch.equal(raw + folded.view(1, 4, 1, 1), expected)

    # Padding with the integer 0 instead leaves exactly the padding error of the naive method.
    zero_padded = F.pad(x.to(torch.int64), (1, 1, 1, 1), value=0)
    wrong = qlesson.conv_integer(zero_padded, w, 0, w_zp, padding=0) + folded.view(1, 4, 1, 1)
    error_map = qlesson.padding_error_map((6, 6), w, x_zp, w_zp, padding=1)
    assert torch.equal(wrong - expected, error_map.unsqueeze(0).expand_as(expected))


def test_fold_zero_point_without_bias():
    w = torch.tensor([[[1, 2, 3]], [[-1, 0, 4]]], dtype=torch.int8)
    folded = fold_zero_point_into_bias(None, w, 10, 1)
    assert folded.tolist() == [-10 * (0 + 1 + 2), -10 * (-2 - 1 + 3)]


# --- bad inputs -------------------------------------------------------------------------------

def small_problem(**overrides):
    generator = torch.Generator().manual_seed(8)
    problem = dict(
        x=torch.randint(0, 256, (1, 2, 5, 5), dtype=torch.uint8, generator=generator), x_scale=0.1,
        x_zero_point=3, w=torch.randint(-128, 128, (3, 2, 3, 3), dtype=torch.int8, generator=generator),
        w_scale=0.02, w_zero_point=0, y_scale=0.5, y_zero_point=100, bias=None)
    problem.update(overrides)
    return problem


@pytest.mark.parametrize("name", ["x_scale", "w_scale", "y_scale"])
@pytest.mark.parametrize("value", [0.0, -0.1, float("nan"), float("inf")])
def test_qlinear_rejects_bad_scale(name, value):
    problem = small_problem(**{name: value})
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), ValueError,
                                    f"{name}=", "必須是大於 0 的有限數值")


def test_qlinear_rejects_scale_underflowing_float32():
    problem = small_problem(y_scale=1e-50)
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), ValueError,
                                    "becomes 0.0 in float32", "轉成 float32")


def test_qlinear_rejects_per_channel_scale_length():
    problem = small_problem(w_scale=torch.tensor([0.1, 0.2]))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), ValueError,
                                    "w_scale has 2 entries but there are 3 output channels", "w_scale 有 2 個元素")


def test_qlinear_rejects_bias_dtype():
    problem = small_problem(bias=torch.zeros(3, dtype=torch.int64))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), TypeError,
                                    "bias must be an int32 tensor, got dtype int64", "bias 必須是 int32 張量")


def test_qlinear_rejects_bias_length():
    problem = small_problem(bias=torch.zeros(2, dtype=torch.int32))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), ValueError,
                                    "bias has shape (2,) but there are 3 output channels", "bias 的形狀是 (2,)")


def test_qlinear_rejects_y_zero_point_outside_out_dtype():
    problem = small_problem(y_zero_point=200)
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem, out_dtype=torch.int8), ValueError,
                                    "y_zero_point=200 is outside the range of int8", "y_zero_point=200 超出 int8")


def test_qlinear_rejects_mismatched_zero_point_dtype():
    problem = small_problem(x_zero_point=torch.tensor(3, dtype=torch.int8))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), TypeError,
                                    "x_zero_point has dtype int8 but x is uint8", "x_zero_point 的資料型別是 int8")


def test_qlinear_rejects_mismatched_weight_zero_point_dtype():
    problem = small_problem(w_zero_point=torch.tensor([0, 0, 0], dtype=torch.uint8))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), TypeError,
                                    "w_zero_point has dtype uint8 but w is int8", "w_zero_point 的資料型別是 uint8")


def test_qlinear_rejects_wide_operand():
    problem = small_problem(x=torch.zeros(1, 2, 5, 5, dtype=torch.int32))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), TypeError,
                                    "x has dtype int32; QLinearConv takes uint8 or int8", "x 的資料型別是 int32")


def test_qlinear_rejects_bad_out_dtype():
    assert_raises_in_both_languages(lambda: qlinear_conv(**small_problem(), out_dtype=torch.int32), ValueError,
                                    "out_dtype=torch.int32 is not supported", "不支援 out_dtype=torch.int32")


def test_qlinear_rejects_bad_rounding():
    assert_raises_in_both_languages(lambda: qlinear_conv(**small_problem(), rounding="nearest"), ValueError,
                                    "rounding='nearest' is not one of double, single, float", "rounding='nearest' 不是")


def test_qlinear_rejects_bad_activation():
    assert_raises_in_both_languages(lambda: qlinear_conv(**small_problem(), activation="gelu"), ValueError,
                                    "activation='gelu' is not one of None, relu, relu6", "activation='gelu' 不是")


def test_qlinear_rejects_bias_overflowing_int32():
    problem = small_problem(bias=torch.full((3,), 2**31 - 1, dtype=torch.int32), x_zero_point=0,
                            x=torch.full((1, 2, 5, 5), 255, dtype=torch.uint8),
                            w=torch.full((3, 2, 3, 3), 127, dtype=torch.int8))
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), OverflowError,
                                    "int32 accumulator wraps around", "int32 累加器")


def test_qlinear_rejects_multiplier_out_of_fixed_point_range():
    problem = small_problem(x_scale=1e-6, w_scale=1e-6, y_scale=1.0)
    assert_raises_in_both_languages(lambda: qlinear_conv(**problem), ValueError,
                                    "shifts from -31 to 30", "-31 到 30")
    # The float32 path has no such limit.
    assert qlinear_conv(**problem, rounding="float").shape == (1, 3, 3, 3)
