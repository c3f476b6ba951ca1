"""Cross-checks of conv_integer and qlinear_conv against ONNX Runtime and PyTorch's quantized engines.

ConvInteger must agree exactly. A QLinearConv-style output may differ from
``qlinear_conv(..., rounding="float")`` by at most 1, and only where the exact value
M_c · (acc + bias) lies within a float32 rounding margin of a tie k + 1/2. Saturation must agree.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from fractions import Fraction

import pytest
import torch

import qlesson
import qlesson.engines
from qlesson.engines import (
    FLOAT_BIAS_ERROR_LIMIT,
    TORCH_QUANTIZED_DEPRECATION,
    Comparison,
    UnsupportedConfiguration,
    compare_integers,
    onnxruntime_conv_integer,
    padding_only_axis,
    onnxruntime_qlinear_conv,
    torch_quantized_conv,
    torch_quantized_engines,
    x86_u8s8_may_saturate,
)
from qlesson.qlinear import qlinear_conv

from bilingual import assert_raises_in_both_languages


ENGINES = torch_quantized_engines()
# Without VNNI, u8 × s8 kernels add products in int16 pairs that saturate (see qlesson.dot_u8s8_saturating);
# the documented workaround, reduce_range, keeps activations in [0, 127].
U8S8_X_MAX = 127 if x86_u8s8_may_saturate() else 255
# NOTE: int8 × int8 cases are not narrowed. Without VNNI, a kernel that shifts int8 activations to uint8
# before vpmaddubsw could still saturate; these tests have run only on a CPU with AVX512-VNNI.
FLOAT32_MARGIN = Fraction(1, 2**20)


def random_geometry(generator: torch.Generator, rank: int, *, symmetric_padding: bool):
    """Draw channels, kernel, stride, dilation, padding and an input size that fits them."""
    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    groups = draw(1, 3)
    c_in = groups * draw(1, 2)
    c_out = groups * draw(1, 2)
    kernel = [draw(1, 3) for _ in range(rank)]
    stride = [draw(1, 2) for _ in range(rank)]
    dilation = [draw(1, 2) for _ in range(rank)]
    padding = []
    for _ in range(rank):
        before = draw(0, 2)
        padding.append((before, before) if symmetric_padding else (before, draw(0, 2)))
    size = []
    for k, d, (before, after) in zip(kernel, dilation, padding):
        minimum = max(1, d * (k - 1) + 1 - before - after)
        size.append(draw(minimum, minimum + (5 if rank < 3 else 2)))
    batch = draw(1, 2)
    return dict(groups=groups, c_in=c_in, c_out=c_out, kernel=kernel, stride=stride, dilation=dilation,
                padding=padding, size=size, batch=batch)


def random_tensor(generator: torch.Generator, shape, dtype: torch.dtype, high: int | None = None) -> torch.Tensor:
    low, top = qlesson.quantized_range(dtype)
    top = top if high is None else high
    return torch.randint(low, top + 1, tuple(shape), generator=generator).to(dtype)


def random_qlinear_problem(generator: torch.Generator, rank: int, x_dtype, w_dtype, out_dtype, *,
                           symmetric_padding: bool, per_channel: bool, equal_weight_zero_points: bool,
                           zero_weight_zero_point: bool):
    geometry = random_geometry(generator, rank, symmetric_padding=symmetric_padding)
    x_high = U8S8_X_MAX if (x_dtype == torch.uint8 and w_dtype == torch.int8) else None
    x = random_tensor(generator, (geometry["batch"], geometry["c_in"], *geometry["size"]), x_dtype, x_high)
    w = random_tensor(generator, (geometry["c_out"], geometry["c_in"] // geometry["groups"], *geometry["kernel"]),
                      w_dtype)
    c_out = geometry["c_out"]
    x_low, x_top = qlesson.quantized_range(x_dtype)
    x_zp = int(torch.randint(x_low, (x_top if x_high is None else x_high) + 1, (1,), generator=generator))
    if zero_weight_zero_point:
        w_zp = torch.zeros(c_out, dtype=w_dtype)
    elif equal_weight_zero_points:
        w_zp = random_tensor(generator, (1,), w_dtype).expand(c_out).clone()
    else:
        w_zp = random_tensor(generator, (c_out,), w_dtype)
    x_scale = float(torch.empty(1).uniform_(0.002, 0.05, generator=generator))
    if per_channel:
        w_scale = torch.empty(c_out).uniform_(0.001, 0.03, generator=generator)
    else:
        w_scale = float(torch.empty(1).uniform_(0.001, 0.03, generator=generator))
        w_zp = int(w_zp[0])
    bias = torch.randint(-3000, 3001, (c_out,), generator=generator, dtype=torch.int32)
    taps = geometry["c_in"] // geometry["groups"] * math.prod(geometry["kernel"])
    max_w_scale = float(w_scale.max()) if per_channel else w_scale
    spread = x_scale * max_w_scale * 128 * 70 * math.sqrt(taps)
    y_scale = spread / float(torch.empty(1).uniform_(20.0, 200.0, generator=generator))
    y_low, y_high = qlesson.quantized_range(out_dtype)
    y_zp = int(torch.randint(y_low + (y_high - y_low) // 4, y_high - (y_high - y_low) // 4 + 1, (1,),
                             generator=generator))
    return dict(x=x, x_scale=x_scale, x_zero_point=x_zp, w=w, w_scale=w_scale, w_zero_point=w_zp,
                y_scale=y_scale, y_zero_point=y_zp, bias=bias, stride=geometry["stride"],
                padding=geometry["padding"], dilation=geometry["dilation"], groups=geometry["groups"])


def problem_geometry(problem):
    return qlesson.conv_geometry(tuple(problem["x"].shape[2:]), problem["x"].shape[1], tuple(problem["w"].shape),
                                 stride=problem["stride"], padding=problem["padding"],
                                 dilation=problem["dilation"], groups=problem["groups"])


def accumulator_with_bias(problem) -> torch.Tensor:
    acc = qlesson.conv_integer(problem["x"], problem["w"], problem["x_zero_point"], problem["w_zero_point"],
                               stride=problem["stride"], padding=problem["padding"],
                               dilation=problem["dilation"], groups=problem["groups"])
    channels = problem["w"].shape[0]
    return acc + problem["bias"].to(torch.int64).view(1, channels, *([1] * (acc.dim() - 2)))


def to_float32_fraction(value: float) -> Fraction:
    return Fraction(float(torch.tensor(value, dtype=torch.float32)))


def assert_rounding_rule(result: torch.Tensor, problem, out_dtype: torch.dtype, label: str,
                         activation: str | None = None) -> Comparison:
    """Check ``result`` against qlinear_conv(rounding="float") under the module's rule."""
    reference = qlinear_conv(**problem, out_dtype=out_dtype, rounding="float", activation=activation)
    comparison = compare_integers(result, reference)
    assert comparison.max_abs_difference <= 1, (label, str(comparison))
    if comparison.mismatches:
        acc = accumulator_with_bias(problem)
        w_scale = problem["w_scale"]
        for index in comparison.difference.nonzero().tolist():
            channel = index[1]
            scale = float(w_scale[channel]) if isinstance(w_scale, torch.Tensor) else w_scale
            multiplier = to_float32_fraction(problem["x_scale"]) * to_float32_fraction(scale) \
                / to_float32_fraction(problem["y_scale"])
            real = multiplier * int(acc[tuple(index)])
            distance = abs(real - math.floor(real) - Fraction(1, 2))
            assert distance <= abs(real) * FLOAT32_MARGIN + FLOAT32_MARGIN, (label, index, float(real))
    return comparison


# --- ONNX Runtime ConvInteger: exact ----------------------------------------------------------

@pytest.mark.parametrize("rank", [1, 2, 3])
def test_onnxruntime_conv_integer_exact(rank):
    generator = torch.Generator().manual_seed(100 + rank)
    dtypes = [(torch.uint8, torch.uint8), (torch.uint8, torch.int8), (torch.int8, torch.int8), (torch.int8, torch.uint8)]
    for case in range(60):
        x_dtype, w_dtype = dtypes[case % len(dtypes)]
        geometry = random_geometry(generator, rank, symmetric_padding=case % 3 == 0)
        x = random_tensor(generator, (geometry["batch"], geometry["c_in"], *geometry["size"]), x_dtype)
        w = random_tensor(generator, (geometry["c_out"], geometry["c_in"] // geometry["groups"],
                                      *geometry["kernel"]), w_dtype)
        x_zp = int(random_tensor(generator, (1,), x_dtype))
        w_zp = int(random_tensor(generator, (1,), w_dtype))
        options = dict(stride=geometry["stride"], padding=geometry["padding"], dilation=geometry["dilation"],
                       groups=geometry["groups"])
        engine = onnxruntime_conv_integer(x, w, x_zp, w_zp, **options)
        reference = qlesson.conv_integer(x, w, x_zp, w_zp, **options)
        assert torch.equal(engine, reference), (case, geometry, x_dtype, w_dtype, x_zp, w_zp)


# --- ONNX Runtime QLinearConv -----------------------------------------------------------------

ORT_QLINEAR_DTYPES = [(torch.uint8, torch.uint8), (torch.uint8, torch.int8), (torch.int8, torch.int8)]


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_onnxruntime_qlinear_conv_rule(rank):
    generator = torch.Generator().manual_seed(200 + rank)
    for case in range(40):
        x_dtype, w_dtype = ORT_QLINEAR_DTYPES[case % len(ORT_QLINEAR_DTYPES)]
        problem = random_qlinear_problem(
            generator, rank, x_dtype, w_dtype, x_dtype, symmetric_padding=case % 2 == 0,
            per_channel=case % 4 < 2, equal_weight_zero_points=True, zero_weight_zero_point=case % 5 == 0)
        result = onnxruntime_qlinear_conv(**problem, out_dtype=x_dtype)
        assert result.shape == qlinear_conv(**problem, out_dtype=x_dtype).shape
        assert_rounding_rule(result, problem, x_dtype, f"onnxruntime case {case}")


# --- PyTorch quantized engines ----------------------------------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_torch_engine_rule(engine, rank):
    generator = torch.Generator().manual_seed(300 + 10 * rank + ENGINES.index(engine))
    for case in range(25):
        problem = random_qlinear_problem(
            generator, rank, torch.uint8, torch.int8, torch.uint8, symmetric_padding=True,
            per_channel=case % 2 == 0, equal_weight_zero_points=case % 3 == 0,
            zero_weight_zero_point=engine == "onednn" or case % 4 == 0)
        activation = "relu" if case % 5 == 0 else None
        if engine in ("onednn", "x86") and padding_only_axis(problem_geometry(problem)) is not None:
            with pytest.raises(UnsupportedConfiguration):
                torch_quantized_conv(engine, **problem, activation=activation)
            continue
        result = torch_quantized_conv(engine, **problem, activation=activation)
        assert_rounding_rule(result, problem, torch.uint8, f"{engine} case {case}", activation)


def test_torch_engines_listed():
    assert "none" not in ENGINES
    assert set(ENGINES) <= set(torch.backends.quantized.supported_engines)


def test_torch_engine_restores_global_engine():
    before = torch.backends.quantized.engine
    problem = random_qlinear_problem(torch.Generator().manual_seed(9), 2, torch.uint8, torch.int8, torch.uint8,
                                     symmetric_padding=True, per_channel=False, equal_weight_zero_points=True,
                                     zero_weight_zero_point=True)
    for engine in ENGINES:
        torch_quantized_conv(engine, **problem)
    assert torch.backends.quantized.engine == before


def test_deprecation_regex_matches_real_warning():
    # The warning fires once per process, so read its text in a fresh interpreter.
    script = ("import warnings, torch\n"
              "with warnings.catch_warnings(record=True) as caught:\n"
              "    warnings.simplefilter('always')\n"
              "    torch.quantize_per_tensor(torch.zeros(2), 0.1, 0, torch.quint8)\n"
              "for item in caught:\n"
              "    print(item.category.__name__ + '|' + str(item.message))\n")
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    lines = [line for line in output.splitlines() if "deprecated" in line]
    assert lines, output
    category, message = lines[0].split("|", 1)
    assert category == "UserWarning"
    assert re.match(TORCH_QUANTIZED_DEPRECATION, message, re.IGNORECASE)


# --- unsupported configurations ---------------------------------------------------------------

def unsupported_problem(**overrides):
    generator = torch.Generator().manual_seed(11)
    problem = dict(x=random_tensor(generator, (1, 2, 5, 5), torch.uint8), x_scale=0.02, x_zero_point=5,
                   w=random_tensor(generator, (3, 2, 3, 3), torch.int8), w_scale=torch.tensor([0.01, 0.02, 0.03]),
                   w_zero_point=torch.zeros(3, dtype=torch.int8), y_scale=0.5, y_zero_point=100,
                   bias=torch.tensor([1, 2, 3], dtype=torch.int32), stride=1, padding=1, dilation=1, groups=1)
    problem.update(overrides)
    return problem


def test_onnxruntime_conv_integer_rejects_per_channel_zero_points():
    x = torch.zeros(1, 2, 4, 4, dtype=torch.uint8)
    w = torch.zeros(3, 2, 3, 3, dtype=torch.uint8)
    zero_points = torch.tensor([1, 2, 3], dtype=torch.uint8)
    assert_raises_in_both_languages(lambda: onnxruntime_conv_integer(x, w, 0, zero_points), UnsupportedConfiguration,
                                    "ConvInteger cannot run this configuration", "ConvInteger 無法執行這個設定")


def test_ort_conv_integer_equal_zero_points():
    generator = torch.Generator().manual_seed(12)
    x = random_tensor(generator, (1, 2, 5, 5), torch.uint8)
    w = random_tensor(generator, (3, 2, 3, 3), torch.int8)
    zero_points = torch.tensor([4, 4, 4], dtype=torch.int8)
    assert torch.equal(onnxruntime_conv_integer(x, w, 9, zero_points, padding=1),
                       qlesson.conv_integer(x, w, 9, zero_points, padding=1))


def test_onnxruntime_qlinear_rejects_different_weight_zero_points():
    problem = unsupported_problem(w_zero_point=torch.tensor([0, 1, 0], dtype=torch.int8))
    assert_raises_in_both_languages(lambda: onnxruntime_qlinear_conv(**problem), UnsupportedConfiguration,
                                    "must be one value for all output channels", "必須所有輸出通道共用同一個值")


def test_onnxruntime_qlinear_rejects_int8_x_with_uint8_w():
    problem = unsupported_problem(x=torch.zeros(1, 2, 4, 4, dtype=torch.int8), x_zero_point=0,
                                  w=torch.zeros(3, 2, 3, 3, dtype=torch.uint8), w_zero_point=0)
    assert_raises_in_both_languages(lambda: onnxruntime_qlinear_conv(**problem, out_dtype=torch.int8),
                                    UnsupportedConfiguration, "got x int8, w uint8, output int8",
                                    "收到的是 x int8、w uint8、輸出 int8")


def test_torch_engine_rejects_int8_activations():
    problem = unsupported_problem(x=torch.zeros(1, 2, 4, 4, dtype=torch.int8), x_zero_point=0)
    assert_raises_in_both_languages(lambda: torch_quantized_conv(ENGINES[0], **problem), UnsupportedConfiguration,
                                    "got x int8, w int8", "收到的是 x int8、w int8")


def test_torch_engine_rejects_asymmetric_padding():
    problem = unsupported_problem(padding=[(1, 0), (1, 1)])
    assert_raises_in_both_languages(lambda: torch_quantized_conv(ENGINES[0], **problem), UnsupportedConfiguration,
                                    "same before and after", "前後的填補（padding）必須相同")


def test_torch_engine_rejects_relu6():
    problem = unsupported_problem()
    assert_raises_in_both_languages(lambda: torch_quantized_conv(ENGINES[0], **problem, activation="relu6"),
                                    UnsupportedConfiguration, "got 'relu6'", "收到的是 'relu6'")


@pytest.mark.skipif("onednn" not in ENGINES, reason="this PyTorch build has no onednn engine")
def test_onednn_rejects_nonzero_weight_zero_point():
    problem = unsupported_problem(w_zero_point=torch.full((3,), 3, dtype=torch.int8))
    assert_raises_in_both_languages(lambda: torch_quantized_conv("onednn", **problem), UnsupportedConfiguration,
                                    "w_zero_point = 0", "w_zero_point = 0")


@pytest.mark.parametrize("engine", [engine for engine in ("onednn", "x86") if engine in ENGINES])
def test_onednn_rejects_padding_only_convolution(engine):
    # Width 1 with kernel 2, dilation 2 and padding 1: both taps of every output land in the padding.
    problem = unsupported_problem(x=torch.zeros(1, 2, 4, 1, dtype=torch.uint8),
                                  w=torch.ones(3, 2, 3, 2, dtype=torch.int8), dilation=(1, 2), padding=1)
    assert_raises_in_both_languages(lambda: torch_quantized_conv(engine, **problem), UnsupportedConfiguration,
                                    "on spatial axis 1 every tap of every output falls in the padding",
                                    "在第 1 個空間軸上")


def test_padding_only_axis_detection():
    reads_nothing = qlesson.conv_geometry((4, 1), 2, (3, 2, 3, 2), padding=1, dilation=(1, 2))
    assert padding_only_axis(reads_nothing) == 1
    ordinary = qlesson.conv_geometry((4, 4), 2, (3, 2, 3, 3), padding=1)
    assert padding_only_axis(ordinary) is None
    # Stride 2 from a padding of 1 steps over the single input position on axis 0.
    skipping = qlesson.conv_geometry((1,), 1, (1, 1, 1), padding=1, stride=2)
    assert padding_only_axis(skipping) == 0


def test_padding_only_convolution_equals_bias_elsewhere():
    # fbgemm, qnnpack and ONNX Runtime return the requantized bias alone, as the exact reference does.
    problem = unsupported_problem(x=torch.randint(0, 256, (1, 2, 4, 1), dtype=torch.uint8),
                                  w=torch.ones(3, 2, 3, 2, dtype=torch.int8), dilation=(1, 2), padding=1)
    reference = qlinear_conv(**problem, rounding="float")
    for engine in ("fbgemm", "qnnpack"):
        if engine in ENGINES:
            assert torch.equal(torch_quantized_conv(engine, **problem), reference.to(torch.int64))
    assert torch.equal(onnxruntime_qlinear_conv(**problem), reference.to(torch.int64))


def test_torch_engine_rejects_unknown_engine():
    problem = unsupported_problem()
    assert_raises_in_both_languages(lambda: torch_quantized_conv("none", **problem), UnsupportedConfiguration,
                                    "offers the quantized engines", "提供的量化推論引擎")


# --- int32 accumulator overflow ----------------------------------------------------------------

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
CJK = re.compile(r"[\u4e00-\u9fff]")


def pairs_to_channels(pairs: list[tuple[int, int]],
                      w_dtype: torch.dtype = torch.uint8) -> tuple[torch.Tensor, torch.Tensor]:
    """Return uint8 x (1, C, 1, 1) and w (1, C, 1, 1) of ``w_dtype`` with one (x, w) pair per input channel."""
    x = torch.tensor([x_value for x_value, _ in pairs], dtype=torch.uint8).view(1, -1, 1, 1)
    w = torch.tensor([w_value for _, w_value in pairs], dtype=w_dtype).view(1, -1, 1, 1)
    return x, w


# ONNX Runtime cases are uint8 × uint8, because u8 × s8 kernels may saturate in int16 pairs on CPUs
# without VNNI. 33025 · 255 · 255 + 158 · 209 = 2^31 − 1.
AT_INT32_MAX = pairs_to_channels([(255, 255)] * 33025 + [(158, 209)])
BEYOND_INT32_MAX = pairs_to_channels([(255, 255)] * 33025 + [(158, 209), (1, 1)])
# With x = 0, x_zp = 128 and w = 128 each of the 2^17 taps adds −128 · 128, so the sum is −2^31.
AT_INT32_MIN = pairs_to_channels([(0, 128)] * 2**17)
BEYOND_INT32_MIN = pairs_to_channels([(0, 128)] * 2**17 + [(0, 1)])

# PyTorch cases are uint8 × int8 with x at most 127, so no int16 pair sum saturates.
# 133144 · 127 · 127 + 69 · 59 = 2^31 − 1, and 2^18 · 64 · (−128) = −2^31.
S8_AT_INT32_MAX = pairs_to_channels([(127, 127)] * 133144 + [(69, 59)], torch.int8)
S8_BEYOND_INT32_MAX = pairs_to_channels([(127, 127)] * 133144 + [(69, 59), (1, 1)], torch.int8)
S8_AT_INT32_MIN = pairs_to_channels([(64, -128)] * 2**18, torch.int8)
# 65794 taps of 255 · (−128) sum to −2147516160, below −2^31. x = 255 is safe here because the runner
# raises before the engine runs.
S8_BELOW_INT32_MIN = pairs_to_channels([(255, -128)] * (2**31 // (255 * 128) + 1), torch.int8)


def collect_error_messages(function, error_type) -> dict[str, str]:
    """Call ``function`` in each language and return the message of the error it raised, by language."""
    previous = qlesson.get_language()
    messages = {}
    try:
        for language in qlesson.LANGUAGES:
            qlesson.set_language(language)
            with pytest.raises(error_type) as error:
                function()
            messages[language] = str(error.value)
    finally:
        qlesson.set_language(previous)
    return messages


@pytest.mark.parametrize(("operands", "x_zero_point", "limit"),
                         [(AT_INT32_MAX, 0, INT32_MAX), (AT_INT32_MIN, 128, INT32_MIN)], ids=["max", "min"])
def test_ort_conv_integer_at_int32_limit(operands, x_zero_point, limit):
    x, w = operands
    result = onnxruntime_conv_integer(x, w, x_zero_point)
    assert result.item() == limit
    assert torch.equal(result, qlesson.conv_integer(x, w, x_zero_point))


@pytest.mark.parametrize(("operands", "x_zero_point", "exact", "wrapped"),
                         [(BEYOND_INT32_MAX, 0, "2147483648", "-2147483648"),
                          (BEYOND_INT32_MIN, 128, "-2147483776", "2147483520")], ids=["max", "min"])
def test_ort_conv_integer_overflow_raises(operands, x_zero_point, exact, wrapped):
    x, w = operands
    messages = collect_error_messages(lambda: onnxruntime_conv_integer(x, w, x_zero_point, padding=1), OverflowError)

    # Padding 1 around a 1 × 1 input gives 3 × 3 outputs, and only the center reads the input.
    assert "at 1 of 9 outputs" in messages["en"]
    assert f"At index (0, 0, 1, 1) the exact sum of products is {exact} but int32 holds {wrapped}" in messages["en"]
    assert "Use qlesson.conv_integer(...), which accumulates in int64" in messages["en"]
    assert not CJK.search(messages["en"])
    assert f"是 {exact}，但 int32 存放的是 {wrapped}" in messages["zh-TW"]
    assert "請改用以 int64 累加的 qlesson.conv_integer(...)" in messages["zh-TW"]


def qlinear_arguments(operands: tuple[torch.Tensor, torch.Tensor], bias: int) -> dict[str, object]:
    """Return a uint8 QLinearConv problem whose output is (acc + bias) / 2^24 before clamping."""
    x, w = operands
    return dict(x=x, x_scale=1.0, x_zero_point=0, w=w, w_scale=1.0, w_zero_point=0, y_scale=2.0**24,
                y_zero_point=0, bias=torch.tensor([bias], dtype=torch.int32))


def test_ort_qlinear_conv_bias_overflow_raises():
    problem = qlinear_arguments(AT_INT32_MAX, 1)
    messages = collect_error_messages(lambda: onnxruntime_qlinear_conv(**problem), OverflowError)

    assert "the exact sum of products plus bias is 2147483648 but int32 holds -2147483648" in messages["en"]
    assert "or a smaller bias" in messages["en"]
    assert "乘積的精確和加上偏置（bias）是 2147483648" in messages["zh-TW"]
    assert "使用較小的偏置" in messages["zh-TW"]


def test_ort_qlinear_conv_bias_back_in_range():
    # The accumulator alone is 2^31, but ONNX Runtime's int32 sum wraps back once the bias is added.
    problem = qlinear_arguments(BEYOND_INT32_MAX, -1)
    result = onnxruntime_qlinear_conv(**problem)
    assert result.item() == 128
    assert torch.equal(result, qlinear_conv(**problem, rounding="float").to(torch.int64))


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("operands", "y_zero_point", "expected"),
                         [(S8_AT_INT32_MAX, 0, 128), (S8_AT_INT32_MIN, 128, 0)], ids=["max", "min"])
def test_torch_engine_at_int32_limit(engine, operands, y_zero_point, expected):
    problem = qlinear_arguments(operands, 0)
    problem["y_zero_point"] = y_zero_point
    result = torch_quantized_conv(engine, **problem)
    assert result.item() == expected
    assert torch.equal(result, qlinear_conv(**problem, rounding="float").to(torch.int64))


@pytest.mark.parametrize("engine", ENGINES)
def test_torch_engine_overflow_raises(engine):
    # Without the check every PyTorch 2.13 engine requantized the wrapped sum.
    problem = qlinear_arguments(S8_BELOW_INT32_MIN, 0)
    messages = collect_error_messages(lambda: torch_quantized_conv(engine, **problem), OverflowError)

    assert f"quantized engine {engine!r} accumulates in int32" in messages["en"]
    assert "the exact sum of products is -2147516160 but int32 holds 2147451136" in messages["en"]
    assert "乘積的精確和是 -2147516160" in messages["zh-TW"]


@pytest.mark.parametrize("engine", ENGINES)
def test_torch_engine_bias_overflow_raises(engine):
    problem = qlinear_arguments(pairs_to_channels([(255, 127)], torch.int8), INT32_MAX)
    messages = collect_error_messages(lambda: torch_quantized_conv(engine, **problem), OverflowError)

    assert "the exact sum of products plus bias is 2147516032" in messages["en"]
    assert "乘積的精確和加上偏置（bias）是 2147516032" in messages["zh-TW"]


@pytest.mark.parametrize("engine", ENGINES)
def test_torch_engine_accumulator_must_fit(engine):
    # Unlike ONNX Runtime, fbgemm, x86 and onednn returned 0 here although acc + bias fits int32.
    problem = qlinear_arguments(S8_BEYOND_INT32_MAX, -1)
    messages = collect_error_messages(lambda: torch_quantized_conv(engine, **problem), OverflowError)

    assert "the exact sum of products is 2147483648 but int32 holds -2147483648" in messages["en"]
    assert "乘積的精確和是 2147483648" in messages["zh-TW"]


def test_small_problem_skips_exact_sum(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the exact int64 sum was computed for a problem far inside int32")

    monkeypatch.setattr(qlesson.engines, "conv_integer", forbidden)
    problem = unsupported_problem()
    assert onnxruntime_conv_integer(problem["x"], problem["w"], 5, padding=1).shape == (1, 3, 5, 5)
    assert onnxruntime_qlinear_conv(**problem).shape == (1, 3, 5, 5)
    for engine in ENGINES:
        assert torch_quantized_conv(engine, **problem).shape == (1, 3, 5, 5)


# --- float32 bias of the PyTorch engines ------------------------------------------------------

# 2^18 − 1 taps of 64 · (−128) and one of 72 · (−111): acc = −2147483448. With bias 2^31 − 128 the exact
# output is 72, and PyTorch 2.13's fbgemm, x86 and onednn returned 128 from their float32 sum.
NEAR_INT32_MIN = pairs_to_channels([(64, -128)] * (2**18 - 1) + [(72, -111)], torch.int8)
# 127 · (−7) + 84 · (−1) = −973. With all scales 1, E = (973 + |bias|) · 2^-21 output steps.
SMALL_NEGATIVE = pairs_to_channels([(127, -7), (84, -1)], torch.int8)


def unit_scale_problem(operands: tuple[torch.Tensor, torch.Tensor], bias: int) -> dict[str, object]:
    """Return a uint8 problem with all scales 1 and zero points 0, whose output is acc + bias before clamping."""
    problem = qlinear_arguments(operands, bias)
    problem["y_scale"] = 1.0
    return problem


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("bias", [2**31 - 128, 2**31 - 129])
def test_torch_engine_float32_bias_raises(engine, bias):
    problem = unit_scale_problem(NEAR_INT32_MIN, bias)
    messages = collect_error_messages(lambda: torch_quantized_conv(engine, **problem), UnsupportedConfiguration)

    assert f"At index (0, 0, 0, 0) the accumulator is -2147483448 and the bias is {bias}" in messages["en"]
    assert "worst-case float32 rounding error there is 2048 output steps" in messages["en"]
    assert "the limit is 2^-10" in messages["en"]
    assert "qlesson.qlinear_conv(...) or qlesson.onnxruntime_qlinear_conv(...)" in messages["en"]
    assert f"累加器是 -2147483448，偏置是 {bias}" in messages["zh-TW"]
    assert "最壞情況誤差是 2048 個輸出間距" in messages["zh-TW"]


def test_cancelling_bias_exact_in_int32():
    # The runners the message suggests add the bias in int32 and return the exact 72.
    problem = unit_scale_problem(NEAR_INT32_MIN, 2**31 - 128)
    assert qlinear_conv(**problem, rounding="float").item() == 72
    x, w = NEAR_INT32_MIN
    # No int16 pair sum of two products can saturate, even on CPUs without VNNI.
    assert (x.to(torch.int64) * w.to(torch.int64)).min() * 2 >= -(2**15)
    assert onnxruntime_qlinear_conv(**problem).item() == 72


@pytest.mark.parametrize("engine", ENGINES)
def test_torch_engine_float32_bias_limit(engine):
    # |acc| + |bias| = 973 + 1074 = 2047 gives E just under 2^-10, and 973 + 1075 = 2048 reaches it.
    below = unit_scale_problem(SMALL_NEGATIVE, 1074)
    result = torch_quantized_conv(engine, **below)
    assert result.item() == 101
    assert torch.equal(result, qlinear_conv(**below, rounding="float").to(torch.int64))

    at_limit = unit_scale_problem(SMALL_NEGATIVE, 1075)
    with pytest.raises(UnsupportedConfiguration, match="error there is 0.0009766 output steps"):
        torch_quantized_conv(engine, **at_limit)


@pytest.mark.parametrize("engine", ENGINES)
def test_torch_engine_float32_bias_saturated(engine):
    # E is about 0.5 steps, but the output, about 2^20, saturates at 255 whichever way float32 rounds it.
    problem = unit_scale_problem(SMALL_NEGATIVE, 2**20)
    assert torch_quantized_conv(engine, **problem).item() == 255


@pytest.mark.parametrize("engine", ENGINES)
def test_float32_bias_error_within_bound(engine, monkeypatch):
    """Run near-cancelling problems past the limit and check each output against the bound E."""
    monkeypatch.setattr(qlesson.engines, "FLOAT_BIAS_ERROR_LIMIT", math.inf)
    generator = torch.Generator().manual_seed(400 + ENGINES.index(engine))
    largest_excess = 0.0
    for case in range(6):
        # 2^16 taps of about 65 · (−114) give |acc| near 2^29, where a float32 step is 32.
        x = torch.randint(60, 71, (1, 2**16, 1, 1), generator=generator).to(torch.uint8)
        w = torch.randint(-128, -99, (2, 2**16, 1, 1), generator=generator).to(torch.int8)
        acc = qlesson.conv_integer(x, w, 0, 0).view(2)
        x_scale = float(torch.empty(1).uniform_(0.01, 0.05, generator=generator))
        w_scale = torch.empty(2).uniform_(0.001, 0.03, generator=generator)
        if case % 2:
            w_scale = float(w_scale[0])
        y_scale = x_scale * float(torch.as_tensor(w_scale).max()) * float(
            torch.empty(1).uniform_(0.5, 2.0, generator=generator))
        multiplier = qlesson.output_multipliers(x_scale, w_scale, y_scale, 2).float32.to(torch.float64)
        # A bias that cancels acc up to an output of −100 to 100 steps, around y_zp = 128.
        target = torch.randint(-100, 101, (2,), generator=generator).to(torch.float64)
        bias = -acc + (target / multiplier).round().to(torch.int64)
        exact = multiplier * (acc + bias).to(torch.float64)
        bound = multiplier * (acc.abs() + bias.abs()).to(torch.float64) * qlesson.engines._FLOAT32_BIAS_ERROR
        assert float(bound.min()) >= FLOAT_BIAS_ERROR_LIMIT, "each case must be past the limit that the runner enforces"

        result = torch_quantized_conv(engine, x, x_scale, 0, w, w_scale, 0, y_scale, 128, bias.to(torch.int32))
        error = (result.view(2).to(torch.float64) - 128 - exact).abs()
        # The output is the engine's value rounded to an integer, so it may lie 1/2 further out.
        assert bool((error <= bound + 0.5).all()), (case, error.tolist(), bound.tolist())
        largest_excess = max(largest_excess, float((error - 0.5).max()))
    assert largest_excess > 0, "no output showed a float32 rounding error, so the bound went untested"


def test_torch_label_follows_language():
    float32_bias_problem = unit_scale_problem(NEAR_INT32_MIN, 2**31 - 128)
    int8_x_problem = unsupported_problem(x=torch.zeros(1, 2, 4, 4, dtype=torch.int8), x_zero_point=0)
    overflow_problem = qlinear_arguments(S8_BELOW_INT32_MIN, 0)
    calls = [(lambda: torch_quantized_conv(ENGINES[0], **float32_bias_problem), UnsupportedConfiguration),
             (lambda: torch_quantized_conv(ENGINES[0], **int8_x_problem), UnsupportedConfiguration),
             (lambda: torch_quantized_conv(ENGINES[0], **overflow_problem), OverflowError)]
    for call, error_type in calls:
        messages = collect_error_messages(call, error_type)
        assert messages["en"].startswith(f"PyTorch {torch.__version__} quantized engine {ENGINES[0]!r} ")
        assert messages["zh-TW"].startswith(f"PyTorch {torch.__version__} 的量化推論引擎 {ENGINES[0]!r} ")
        assert not re.search("quantized|engine", messages["zh-TW"], re.IGNORECASE), messages["zh-TW"]


# --- compare_integers -------------------------------------------------------------------------

def test_compare_integers_counts_differences():
    comparison = compare_integers(torch.tensor([[1, 2], [3, 9]]), torch.tensor([[1, 3], [3, 4]], dtype=torch.uint8))
    assert comparison.total == 4
    assert comparison.mismatches == 2
    assert comparison.max_abs_difference == 5
    assert comparison.difference.tolist() == [[0, -1], [0, 5]]
    assert str(comparison) == "2 of 4 outputs differ, max |difference| 5"


def test_compare_integers_rejects_shape_mismatch():
    assert_raises_in_both_languages(lambda: compare_integers(torch.zeros(2, dtype=torch.int8),
                                                             torch.zeros(3, dtype=torch.int8)),
                                    ValueError, "result has shape (2,) but reference has shape (3,)",
                                    "result 的形狀是 (2,)")
