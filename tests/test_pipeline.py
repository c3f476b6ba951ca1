"""Tests of the end-to-end quantized layer and of the engine comparison table built on it."""

from __future__ import annotations

import math
import subprocess
import sys
from fractions import Fraction

import pytest
import torch
import torch.nn.functional as F

import qlesson
from qlesson.pipeline import (DifferenceCounts, EngineOutput, QuantizedConv, compare_engines, count_differences,
                              edge_filter_conv, quantize_bias, quantize_conv_layer, requantize, run_engines)
from qlesson.qlinear import output_multipliers, qlinear_conv

from bilingual import assert_raises_in_both_languages


def random_layer(generator: torch.Generator, *, stride=1, padding=1, dilation=1, groups=1) -> torch.nn.Conv2d:
    layer = torch.nn.Conv2d(2 * groups, 3 * groups, 3, stride=stride, padding=padding, dilation=dilation,
                            groups=groups)
    with torch.no_grad():
        # Output channels of very different size, so that per-channel scales matter.
        spread = torch.tensor([0.05, 0.5, 2.0]).repeat(groups).view(-1, 1, 1, 1)
        layer.weight.copy_(torch.randn(layer.weight.shape, generator=generator) * spread)
        layer.bias.copy_(torch.randn(layer.bias.shape, generator=generator))
    return layer


@pytest.fixture(scope="module")
def photo_problem() -> QuantizedConv:
    """The problem of "Do real engines pad with the zero point?", whose stored outputs depend on it."""
    return quantize_conv_layer(edge_filter_conv(), qlesson.sample_photo(64), reduce_range=True)


# --- the float layer ----------------------------------------------------------------------------

def test_edge_filter_conv_filters():
    layer = edge_filter_conv()
    assert tuple(layer.weight.shape) == (4, 1, 3, 3)
    assert layer.padding == (1, 1)
    sums = layer.weight.detach().sum(dim=(1, 2, 3))
    assert torch.allclose(sums, torch.tensor([1.0, 0.0, 0.0, 0.0]))
    assert torch.equal(layer.weight[2, 0], layer.weight[1, 0].T)
    assert torch.allclose(layer.bias.detach(), torch.tensor([0.5, -0.25, 0.25, 0.1]))


# --- quantize_bias ------------------------------------------------------------------------------

def test_quantize_bias_per_channel():
    bias = torch.tensor([0.5, -0.25, 1e-3])
    w_scale = torch.tensor([0.01, 0.02, 0.04], dtype=torch.float64)
    quantized = quantize_bias(bias, 0.1, w_scale)
    assert quantized.dtype == torch.int32
    expected = [round(float(b) / (0.1 * float(s))) for b, s in zip(bias.double(), w_scale)]
    assert quantized.tolist() == expected


def test_quantize_bias_rounds_half_to_even():
    # With scales of 1 each bias is its own quotient, so 2.5, 3.5 and −2.5 are exact ties.
    quantized = quantize_bias(torch.tensor([2.5, 3.5, -2.5]), 1.0, torch.tensor([1.0, 1.0, 1.0]))
    assert quantized.tolist() == [2, 4, -2]


def test_quantize_bias_rejects_int32_overflow():
    assert_raises_in_both_languages(
        lambda: quantize_bias(torch.tensor([0.0, 1e6]), 1e-3, torch.tensor([1e-3, 1e-3])),
        ValueError, "outside int32", "超出 int32")


# --- requantize ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rounding", qlesson.ROUNDINGS)
@pytest.mark.parametrize("geometry", [dict(), dict(stride=2), dict(dilation=2, padding=2), dict(groups=2)])
def test_requantize_matches_qlinear_conv(rounding, geometry):
    generator = torch.Generator().manual_seed(5)
    layer = random_layer(generator, **geometry)
    x = torch.randn(2, layer.in_channels, 9, 9, generator=generator)
    problem = quantize_conv_layer(layer, x)
    expected = qlinear_conv(*problem.arguments(), **problem.geometry(), rounding=rounding)
    acc = problem.accumulator()
    assert torch.equal(requantize(acc, problem.x_scale, problem.w_scale, problem.y_scale, problem.y_zero_point,
                                  problem.bias, rounding=rounding), expected)
    assert torch.equal(problem.output(rounding), expected)


def test_requantize_bias_equals_adding_it_first():
    generator = torch.Generator().manual_seed(6)
    problem = quantize_conv_layer(random_layer(generator), torch.randn(1, 2, 7, 7, generator=generator))
    acc = problem.accumulator()
    with_bias = acc + problem.bias.to(torch.int64).view(1, -1, 1, 1)
    arguments = (problem.x_scale, problem.w_scale, problem.y_scale, problem.y_zero_point)
    assert torch.equal(requantize(acc, *arguments, problem.bias), requantize(with_bias, *arguments))


def test_requantize_clamps_to_out_dtype():
    acc = torch.tensor([[-10**6, 0, 10**6]]).view(1, 1, 3)
    low, high = requantize(acc, 1.0, 1.0, 1.0, 5, out_dtype=torch.int8)[0, 0, [0, 2]].tolist()
    assert (low, high) == (-128, 127)


def test_requantize_rejects_unknown_rounding():
    acc = torch.zeros(1, 1, 2, dtype=torch.int64)
    assert_raises_in_both_languages(lambda: requantize(acc, 1.0, 1.0, 1.0, 0, rounding="nearest"),
                                    ValueError, "rounding='nearest'", "rounding='nearest'")


def test_requantize_rejects_accumulator_outside_int32():
    acc = torch.tensor([2**31]).view(1, 1, 1)
    with pytest.raises(ValueError, match="int32"):
        requantize(acc, 1.0, 1.0, 1.0, 0)


# --- quantize_conv_layer ------------------------------------------------------------------------

def test_quantize_conv_layer_parameters():
    generator = torch.Generator().manual_seed(7)
    layer = random_layer(generator)
    x = torch.randn(1, 2, 8, 8, generator=generator) * 1.5 + 0.4
    problem = quantize_conv_layer(layer, x)
    assert problem.x.dtype == torch.uint8
    assert problem.w.dtype == torch.int8
    assert problem.bias.dtype == torch.int32
    x_error = (qlesson.dequantize(problem.x, problem.x_scale, problem.x_zero_point) - x).abs().max()
    assert float(x_error) <= problem.x_scale / 2 + 1e-7
    assert [int(problem.w[c].abs().max()) for c in range(3)] == [127, 127, 127]
    w_error = (qlesson.dequantize(problem.w, problem.w_scale, 0, axis=0) - layer.weight.detach()).abs()
    assert bool((w_error.amax(dim=(1, 2, 3)) <= problem.w_scale / 2 + 1e-9).all())
    with torch.no_grad():
        y = layer(x)
    y_low = problem.y_scale * (0 - problem.y_zero_point)
    y_high = problem.y_scale * (255 - problem.y_zero_point)
    assert y_low <= float(y.min()) + problem.y_scale / 2
    assert float(y.max()) - problem.y_scale / 2 <= y_high


def test_quantize_conv_layer_reduce_range(photo_problem):
    assert int(photo_problem.x.max()) <= 127
    assert photo_problem.x_zero_point == qlesson.choose_qparams_reduced_range(
        *[float(value) for value in qlesson.sample_photo(64).aminmax()], torch.uint8)[1]


def test_quantize_conv_layer_follows_float_layer():
    """The dequantized integer output is within a few output steps of the float layer everywhere."""
    layer = edge_filter_conv()
    photo = qlesson.sample_photo(32)
    problem = quantize_conv_layer(layer, photo)
    with torch.no_grad():
        y = layer(photo)
    steps = (problem.dequantize_output(problem.output()) - y).abs().max() / problem.y_scale
    assert float(steps) < 3


def test_quantize_conv_layer_without_bias():
    layer = torch.nn.Conv2d(1, 2, 3, padding=1, bias=False)
    problem = quantize_conv_layer(layer, torch.randn(1, 1, 5, 5, generator=torch.Generator().manual_seed(8)))
    assert problem.bias is None
    assert torch.equal(problem.output(), qlinear_conv(*problem.arguments(), **problem.geometry()))


def test_quantize_conv_layer_rejects_other_modules():
    assert_raises_in_both_languages(lambda: quantize_conv_layer(torch.nn.Linear(2, 2), torch.zeros(1, 2, 3, 3)),
                                    TypeError, "torch.nn.Conv2d, got Linear", "torch.nn.Conv2d，收到的是 Linear")


def test_quantize_conv_layer_rejects_reflect_padding():
    layer = torch.nn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect")
    assert_raises_in_both_languages(lambda: quantize_conv_layer(layer, torch.zeros(1, 1, 4, 4)),
                                    ValueError, "'reflect'", "'reflect'")


def test_quantize_conv_layer_rejects_string_padding():
    layer = torch.nn.Conv2d(1, 1, 3, padding="same")
    assert_raises_in_both_languages(lambda: quantize_conv_layer(layer, torch.zeros(1, 1, 4, 4)),
                                    ValueError, "padding=1 instead of a string", "而不是字串")


def test_quantize_conv_layer_rejects_wrong_input():
    layer = torch.nn.Conv2d(2, 1, 3)
    assert_raises_in_both_languages(lambda: quantize_conv_layer(layer, torch.zeros(1, 3, 4, 4)),
                                    ValueError, "C_in = 2", "C_in = 2")
    with pytest.raises(ValueError, match="float tensor"):
        quantize_conv_layer(layer, torch.zeros(1, 2, 4, 4, dtype=torch.uint8))


# --- QuantizedConv ------------------------------------------------------------------------------

def test_naive_output_wrong_only_at_border(photo_problem):
    difference = photo_problem.output(method="naive_zero_pad").to(torch.int64) - photo_problem.output().to(torch.int64)
    regions = qlesson.border_regions((64, 64), (3, 3), padding=1)
    summary = qlesson.summarize_regions(difference, regions)
    assert summary.row("interior").wrong == 0
    assert summary.row("corner").wrong == summary.row("corner").outputs
    assert summary.total.wrong > 0


def test_accumulator_rejects_unknown_method(photo_problem):
    assert_raises_in_both_languages(lambda: photo_problem.accumulator("pad_with_one"),
                                    ValueError, "method='pad_with_one'", "method='pad_with_one'")


def test_tie_distances_match_exact_fractions(photo_problem):
    distances = photo_problem.tie_distances()
    assert float(distances.min()) >= 0
    assert float(distances.max()) <= 0.5
    acc = photo_problem.accumulator() + photo_problem.bias.to(torch.int64).view(1, -1, 1, 1)
    real = output_multipliers(photo_problem.x_scale, photo_problem.w_scale, photo_problem.y_scale).real
    for index in [(0, 0, 0, 0), (0, 1, 5, 7), (0, 3, 31, 31)]:
        exact = Fraction(int(acc[index])) * Fraction(float(real[index[1]]))
        expected = abs(exact - math.floor(exact) - Fraction(1, 2))
        assert abs(float(distances[index]) - float(expected)) < 1e-12


# --- count_differences --------------------------------------------------------------------------

def test_count_differences_counts():
    result = torch.tensor([0, 1, 2, 5, 9], dtype=torch.uint8)
    reference = torch.tensor([0, 2, 2, 3, 9], dtype=torch.uint8)
    assert count_differences(result, reference) == DifferenceCounts(total=5, equal=3, off_by_one=1, larger=1)


def test_count_differences_prints_in_both_languages():
    counts = count_differences(torch.tensor([1, 2]), torch.tensor([1, 3]))
    previous = qlesson.get_language()
    try:
        qlesson.set_language("en")
        assert "|difference|" in str(counts)
        assert "50.00%" in str(counts)
        qlesson.set_language("zh-TW")
        assert "差的絕對值" in str(counts)
    finally:
        qlesson.set_language(previous)


def test_count_differences_rejects_shape_mismatch():
    assert_raises_in_both_languages(lambda: count_differences(torch.zeros(2, dtype=torch.int64),
                                                              torch.zeros(3, dtype=torch.int64)),
                                    ValueError, "reference has shape (3,)", "reference 的形狀是 (3,)")


# --- compare_engines with made-up engine outputs -------------------------------------------------

def made_up_outputs(problem: QuantizedConv) -> tuple[EngineOutput, ...]:
    """Outputs of imaginary engines, one for each cause that compare_engines can name."""
    garbled = problem.output().to(torch.int64).clone()
    garbled[0, 0, 5, 5] += 3
    return (
        EngineOutput("exact", "ConvInteger", problem.accumulator()),
        EngineOutput("zero-padding", "ConvInteger", problem.accumulator("naive_zero_pad")),
        EngineOutput("double", "QLinearConv", problem.output("double").to(torch.int64)),
        EngineOutput("float", "QLinearConv", problem.output("float").to(torch.int64)),
        EngineOutput("float, zero-padding", "QLinearConv", problem.output("float", "naive_zero_pad").to(torch.int64)),
        EngineOutput("garbled", "QLinearConv", garbled),
    )


def test_compare_engines_names_checked_causes(photo_problem):
    table = compare_engines(made_up_outputs(photo_problem), photo_problem)
    assert table.row("exact", "ConvInteger").explanation == "identical"
    assert table.row("zero-padding", "ConvInteger").explanation == "unexplained"
    assert table.row("double", "QLinearConv").explanation == "identical"
    float_row = table.row("float", "QLinearConv")
    assert float_row.explanation == "rounding"
    assert float_row.max_abs_difference == 1
    assert table.row("float, zero-padding", "QLinearConv").explanation == "unexplained"
    assert table.row("garbled", "QLinearConv").explanation == "unexplained"


def test_compare_engines_against_zero_padding(photo_problem):
    table = compare_engines(made_up_outputs(photo_problem), photo_problem, rounding="double", method="naive_zero_pad")
    assert table.row("exact", "ConvInteger").explanation == "padding"
    assert table.row("zero-padding", "ConvInteger").explanation == "identical"
    assert table.row("double", "QLinearConv").explanation == "padding"
    assert table.row("float", "QLinearConv").explanation == "padding_rounding"
    assert table.row("float, zero-padding", "QLinearConv").explanation == "rounding"


def test_compare_engines_table_prints_in_both_languages(photo_problem):
    table = compare_engines(made_up_outputs(photo_problem)[:1], photo_problem)
    previous = qlesson.get_language()
    try:
        qlesson.set_language("en")
        assert str(table).splitlines()[0].split() == ["engine", "op", "elements", "differing", "max", "|difference|",
                                                      "explanation"]
        assert "bit-exact" in str(table)
        qlesson.set_language("zh-TW")
        assert "推論引擎" in str(table)
        assert "逐位元相同" in str(table)
    finally:
        qlesson.set_language(previous)


def test_compare_engines_row_lookup_raises_for_unknown_engine(photo_problem):
    table = compare_engines(made_up_outputs(photo_problem)[:1], photo_problem)
    with pytest.raises(KeyError):
        table.row("TVM", "QLinearConv")


def test_compare_engines_rejects_bad_arguments(photo_problem):
    outputs = made_up_outputs(photo_problem)[:1]
    assert_raises_in_both_languages(lambda: compare_engines(outputs, photo_problem, rounding="up"),
                                    ValueError, "rounding='up'", "rounding='up'")
    assert_raises_in_both_languages(lambda: compare_engines(outputs, photo_problem, method="mirror"),
                                    ValueError, "method='mirror'", "method='mirror'")
    assert_raises_in_both_languages(lambda: compare_engines(outputs[0], photo_problem), TypeError,
                                    "outputs must be a tuple or list of qlesson.EngineOutput, got EngineOutput",
                                    "收到的是 EngineOutput")
    assert_raises_in_both_languages(lambda: compare_engines((outputs[0], "float"), photo_problem), TypeError,
                                    "outputs[1] must be a qlesson.EngineOutput, got str",
                                    "outputs[1] 必須是 qlesson.EngineOutput，收到的是 str")
    assert_raises_in_both_languages(lambda: compare_engines(outputs, photo_problem.x), TypeError,
                                    "problem must be a qlesson.QuantizedConv, got Tensor",
                                    "problem 必須是 qlesson.QuantizedConv，收到的是 Tensor")


# --- real engines -------------------------------------------------------------------------------

def test_real_engines_match_float_rounding(photo_problem):
    """With 7-bit input and no output near a tie, every engine equals rounding="float" on any x86 CPU."""
    assert int((photo_problem.tie_distances() < 1e-4).sum()) == 0
    outputs = run_engines(photo_problem)
    engines = [item.engine for item in outputs]
    assert engines[:2] == ["ONNX Runtime", "ONNX Runtime"]
    assert len(outputs) == 2 + len(qlesson.torch_quantized_engines())
    table = compare_engines(outputs, photo_problem, rounding="float")
    assert [row.explanation for row in table.rows] == ["identical"] * len(outputs)
    padded_with_zero = compare_engines(outputs, photo_problem, rounding="float", method="naive_zero_pad")
    assert {row.explanation for row in padded_with_zero.rows} == {"padding"}


def test_run_engines_leaves_stderr_empty():
    # PyTorch warns about quantized tensors once per process, so only a fresh interpreter shows it.
    script = ("import qlesson\n"
              "problem = qlesson.quantize_conv_layer(qlesson.edge_filter_conv(), qlesson.sample_photo(16),"
              " reduce_range=True)\n"
              "qlesson.run_engines(problem)\n")
    completed = subprocess.run([sys.executable, "-W", "always", "-c", script], capture_output=True, text=True,
                               check=True)
    assert completed.stderr == ""


def test_float_conv_reference_is_real_zero_padding():
    """The float layer pads with real 0, the padding that x_zp stands for in the integer layer."""
    layer = edge_filter_conv()
    photo = qlesson.sample_photo(16)
    with torch.no_grad():
        expected = F.conv2d(F.pad(photo, [1, 1, 1, 1], value=0.0), layer.weight, layer.bias)
        assert torch.allclose(layer(photo), expected)
