"""One table of bad input to every public function of qlesson, checked in both languages.

Each row calls one function of ``qlesson.__all__`` with one invalid argument and expects the
exception type that qlesson's own checks raise, with a message that contains the offending value
and the fix, in English and in Traditional Chinese. A known gap, where a function lets a raw
Python or matplotlib error through or accepts the value, gets a row marked with a strict
``xfail`` and its reason, so that fixing it makes the row fail until the mark is removed. No row
is marked today.

The second table covers overflow: wherever an int32 accumulator is requested or simulated, a value
that int32 cannot hold must raise instead of coming back wrapped.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from matplotlib.figure import Figure

import qlesson as ql
from qlesson import UnsupportedConfiguration

PACKAGE_DIR = Path(ql.__file__).resolve().parent
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def u8(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.uint8)


def i8(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.int8)


def i64(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.int64)


def f32(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.float32)


@dataclass(frozen=True)
class BadInput:
    """One invalid call: the public name it tests, the call, the exception and the message fragments.

    ``en`` and ``zh`` are (value, fix) pairs. The first fragment names the offending value and the
    second states what to pass instead, each as the message in that language words it.
    """

    function: str
    call: Callable[[], object]
    error: type[BaseException]
    en: tuple[str, str]
    zh: tuple[str, str]
    # The language errors are written in both languages at once, because the language is the problem.
    bilingual: bool = False


def gap(case: BadInput, reason: str) -> pytest.param:
    """Mark a row whose function does not yet check this input; ``reason`` states what it does instead."""
    return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=reason))


ZP_EN = "pick one in that range"
ZP_ZH = "請選擇此範圍內的值"
QUANTIZE_EN = "qlesson.quantize(...)"
QUANTIZE_ZH = "請先把實數量化"
SCALE_EN = "must be a finite number greater than 0"
SCALE_ZH = "必須是大於 0 的有限數值"

BAD_INPUTS = [
    # ------------------------------------------------------------------ convolution
    BadInput("conv_integer", lambda: ql.conv_integer(f32(1, 1, 4, 4), i8(1, 1, 3, 3)), TypeError,
             en=("got dtype float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("conv_integer", lambda: ql.conv_integer([[1]], i8(1, 1, 3, 3)), TypeError,
             en=("got list", "torch.as_tensor(...)"), zh=("收到的是 list", "請先用 torch.as_tensor(...) 轉換")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 1, 4, 4), i8(1, 1, 3, 3), method="fast"), ValueError,
             en=("method='fast'", "naive_zero_pad, zero_point_pad, border_correction, skip_taps"),
             zh=("method='fast'", "naive_zero_pad、zero_point_pad、border_correction、skip_taps 之一")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 1, 4, 4), i8(1, 1, 3, 3), True), TypeError,
             en=("got True", "Pass a Python int"), zh=("收到的是 True", "請傳入 Python 的 int")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 1, 2, 2), i8(1, 1, 3, 3)), ValueError,
             en=("spans 3 positions", "Add padding or use a smaller kernel"), zh=("涵蓋 3 個位置", "請加大填補")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 3, 4, 4), i8(2, 1, 3, 3), groups=2), ValueError,
             en=("groups=2", "divides both C_in=3 and C_out=2"), zh=("groups=2", "能整除 C_in=3 與 C_out=2")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 1, 4, 4), i8(2, 1, 3, 3), 0, torch.tensor([0, 0, 0])),
             ValueError, en=("has 3 entries", "a 1-D tensor of length 2"), zh=("有 3 個元素", "長度 2 的 1 維張量")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 1, 4, 4), i8(1, 1, 3, 3), padding=((1, 2, 3), (1, 1))),
             ValueError, en=("padding=((1, 2, 3), (1, 1))", "one (before, after) pair per spatial axis"),
             zh=("padding=((1, 2, 3), (1, 1))", "每個空間軸一組 (前, 後)")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(1, 1, 2, 2, 2, 2), i8(1, 1, 1, 1, 1, 1)), ValueError,
             en=("(1, 1, 2, 2, 2, 2)", "Use the layout (N, C, W)"), zh=("(1, 1, 2, 2, 2, 2)", "請使用 (N, C, W)")),
    BadInput("conv_integer", lambda: ql.conv_integer(u8(0, 1, 4, 4), i8(1, 1, 3, 3)), ValueError,
             en=("(0, 1, 4, 4)", "at least one element on every axis"), zh=("(0, 1, 4, 4)", "請傳入每個軸至少有一個元素")),
    BadInput("conv_integer", lambda: ql.conv_integer(torch.full((1, 1, 3, 3), 2**62), torch.full((1, 1, 3, 3), 2**20)),
             ValueError, en=("43521329506126650289422336", "Use narrower inputs"),
             zh=("43521329506126650289422336", "請改用較窄的輸入")),
    BadInput("conv_geometry", lambda: ql.conv_geometry((4, 4), 1, (1, 1, 3, 3), stride=0), ValueError,
             en=("stride=0", "Use 1 for no stride"), zh=("stride=0", "不需要 stride 時請用 1")),
    BadInput("conv_geometry", lambda: ql.conv_geometry((4, 4), 1, (1, 1, 3, 3), padding=(1,)), ValueError,
             en=("padding=(1,) has 1 entries", "Pass one int or 2 ints"), zh=("padding=(1,) 有 1 個元素", "請傳入一個整數或 2 個整數")),
    BadInput("padding_error_map", lambda: ql.padding_error_map((4,), i8(1, 1, 3, 3), 0), ValueError,
             en=("input_size=(4,)", "must be 2 positive ints"), zh=("input_size=(4,)", "必須是 2 個正整數")),
    BadInput("padding_error_map", lambda: ql.padding_error_map((4, 4), i8(1, 1, 3, 3), 0, x_dtype=torch.float32),
             TypeError, en=("float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("border_regions", lambda: ql.border_regions((4, 4), (0, 3)), ValueError,
             en=("kernel_size=(0, 3)", "for example (3, 3)"), zh=("kernel_size=(0, 3)", "例如 (3, 3)")),
    BadInput("border_regions", lambda: ql.border_regions((4, 4), (3, 3, 3)), ValueError,
             en=("input_size=(4, 4)", "must be 3 positive ints"), zh=("input_size=(4, 4)", "必須是 3 個正整數")),
    BadInput("summarize_regions", lambda: ql.summarize_regions(i64(2, 3), i64(3, 3)), ValueError,
             en=("(2, 3)", "Build both from the same convolution"), zh=("(2, 3)", "請用同一個卷積產生兩者")),
    BadInput("summarize_regions", lambda: ql.summarize_regions(f32(3, 3), i64(3, 3)), TypeError,
             en=("float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("region_name", lambda: ql.region_name(1, 5), ValueError,
             en=("in 5 spatial dimensions", "rank 1, 2 or 3"), zh=("在 5 個空間維度中", "維度須為 1、2 或 3")),
    BadInput("region_name", lambda: ql.region_name(4, 3), ValueError,
             en=("on 4 axes", "expected 0 to 3"), zh=("在 4 個軸上", "應介於 0 到 3")),
    # ------------------------------------------------------------------ the four terms
    BadInput("four_terms", lambda: ql.four_terms(u8(1, 1, 4, 4), i8(1, 1, 3, 3), 0, 300), ValueError,
             en=("w_zero_point=300", ZP_EN), zh=("w_zero_point=300", ZP_ZH)),
    BadInput("window_sum", lambda: ql.window_sum(u8(1, 1, 4, 4), (3, 3), 0, padding=-1), ValueError,
             en=("padding=-1", "use 0 or more"), zh=("padding=-1", "請使用 0 或更大的值")),
    BadInput("window_sum", lambda: ql.window_sum(u8(1, 1, 4, 4), (3, 3, 3), 0), ValueError,
             en=("kernel_size=(3, 3, 3)", "one int per spatial axis"), zh=("kernel_size=(3, 3, 3)", "每個空間軸一個整數")),
    # ------------------------------------------------------------------ quantization
    BadInput("quantize", lambda: ql.quantize(f32(3), 0.0, 0), ValueError,
             en=("scale=0.0", SCALE_EN), zh=("scale=0.0", SCALE_ZH)),
    BadInput("quantize", lambda: ql.quantize(f32(3), 0.1, 300), ValueError,
             en=("zero_point=300", ZP_EN), zh=("zero_point=300", ZP_ZH)),
    BadInput("quantize", lambda: ql.quantize(i64(3), 0.1, 0), TypeError,
             en=("got dtype int64", "Use .float() first"), zh=("int64", "請先使用 .float()")),
    BadInput("quantize", lambda: ql.quantize(f32(2, 3), torch.tensor([0.1, 0.1]), 0, axis=1), ValueError,
             en=("scale has 2 entries", "one scale and one zero point per channel"),
             zh=("scale 有 2 個元素", "請每個通道各給一個縮放因子與零點")),
    BadInput("dequantize", lambda: ql.dequantize(f32(3), 0.1, 0), TypeError,
             en=("float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("choose_qparams", lambda: ql.choose_qparams(1.0, -1.0), ValueError,
             en=("r_min=1.0 is larger than r_max=-1.0", "Pass the smallest real value first"),
             zh=("r_min=1.0 大於 r_max=-1.0", "請先傳入最小的實數值")),
    BadInput("choose_qparams", lambda: ql.choose_qparams("a", 1.0), TypeError,
             en=("r_min='a'", "such as -1.0 or 2.5"), zh=("r_min='a'", "例如 -1.0 或 2.5")),
    BadInput("choose_qparams_reduced_range", lambda: ql.choose_qparams_reduced_range(0.0, float("inf")), ValueError,
             en=("r_max=inf", "not NaN or infinity"), zh=("r_max=inf", "不能是 NaN 或無限大")),
    BadInput("quantized_range", lambda: ql.quantized_range(torch.float32), ValueError,
             en=("dtype=torch.float32", "use torch.uint8 or torch.int8"), zh=("dtype=torch.float32", "請使用 torch.uint8 或 torch.int8")),
    BadInput("reduced_range", lambda: ql.reduced_range(torch.float32), ValueError,
             en=("dtype=torch.float32", "use torch.uint8, torch.int8"), zh=("dtype=torch.float32", "請使用 torch.uint8、torch.int8")),
    BadInput("quantization_grid", lambda: ql.quantization_grid(-1.0, 1.0, "int16"), ValueError,
             en=("dtype='int16'", 'use "uint8" or "int8"'), zh=("dtype='int16'", '請使用 "uint8" 或 "int8"')),
    BadInput("quantization_grid", lambda: ql.quantization_grid(-1.0, 1.0, exact_zero="no"), TypeError,
             en=("exact_zero='no'", "must be True or False"), zh=("exact_zero='no'", "必須是 True 或 False")),
    BadInput("quantization_grid_figure", lambda: ql.quantization_grid_figure(2.0, 1.0), ValueError,
             en=("r_min=2.0 is larger than r_max=1.0", "Pass the smallest real value first"),
             zh=("r_min=2.0 大於 r_max=1.0", "請先傳入最小的實數值")),
    # ------------------------------------------------------------------ accumulator width
    BadInput("accumulator_bound", lambda: ql.accumulator_bound(0), ValueError,
             en=("taps=0", "must be a positive int"), zh=("taps=0", "必須是正整數")),
    BadInput("accumulator_bound", lambda: ql.accumulator_bound(True), ValueError,
             en=("taps=True", "must be a positive int"), zh=("taps=True", "必須是正整數")),
    BadInput("max_taps_int32", lambda: ql.max_taps_int32(300), ValueError,
             en=("x_zero_point=300", ZP_EN), zh=("x_zero_point=300", ZP_ZH)),
    BadInput("max_taps_int32", lambda: ql.max_taps_int32(0, 0, torch.int32), ValueError,
             en=("x_dtype=torch.int32", "use torch.uint8, torch.int8, torch.int16"),
             zh=("x_dtype=torch.int32", "請使用 torch.uint8、torch.int8、torch.int16")),
    BadInput("conv_integer_int32", lambda: ql.conv_integer_int32(u8(1, 1, 4, 4), i8(1, 1, 3, 3), 300), ValueError,
             en=("x_zero_point=300", ZP_EN), zh=("x_zero_point=300", ZP_ZH)),
    BadInput("wrap_int32", lambda: ql.wrap_int32([1, 2]), TypeError,
             en=("got list", "torch.as_tensor(...)"), zh=("收到的是 list", "請先用 torch.as_tensor(...) 轉換")),
    BadInput("wrap_int32", lambda: ql.wrap_int32(f32(3)), TypeError,
             en=("float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("pairwise_multiply_add", lambda: ql.pairwise_multiply_add(u8(3), i8(3)), ValueError,
             en=("x has shape (3,)", "Pad the last axis with one zero"), zh=("x 的形狀是 (3,)", "必要時請在最後一軸補一個 0")),
    BadInput("pairwise_multiply_add", lambda: ql.pairwise_multiply_add(i8(4), i8(4)), TypeError,
             en=("got int8 and int8", "x must be uint8 and w int8"), zh=("收到的是 int8 與 int8", "需要 uint8 的 x 與 int8 的 w")),
    BadInput("dot_u8s8_saturating", lambda: ql.dot_u8s8_saturating(u8(4), i8(6)), ValueError,
             en=("w has shape (6,)", "they must match"), zh=("w 的形狀是 (6,)", "兩者必須相同")),
    BadInput("accumulator_bound_figure", lambda: ql.accumulator_bound_figure(-3), ValueError,
             en=("taps=-3", "must be a positive int"), zh=("taps=-3", "必須是正整數")),
    BadInput("accumulator_bound_figure", lambda: ql.accumulator_bound_figure(9, 300), ValueError,
             en=("x_zero_point=300", ZP_EN), zh=("x_zero_point=300", ZP_ZH)),
    BadInput("accumulator_wrap_figure", lambda: ql.accumulator_wrap_figure(i64(0)), ValueError,
             en=("(0,)", "at least one element on every axis"), zh=("(0,)", "請傳入每個軸至少有一個元素")),
    BadInput("accumulator_wrap_figure", lambda: ql.accumulator_wrap_figure(i64(2, 3)), ValueError,
             en=("products has shape (2, 3)", "pass a 1-D integer tensor"), zh=("products 的形狀是 (2, 3)", "請傳入至少含一個乘積的一維整數張量")),
    # ------------------------------------------------------------------ requantization
    BadInput("quantize_multiplier", lambda: ql.quantize_multiplier(-0.5), ValueError,
             en=("real_multiplier=-0.5", "check that every scale is positive and finite"),
             zh=("real_multiplier=-0.5", "請確認每個縮放因子（scale）都是正的有限數值")),
    BadInput("quantize_multiplier", lambda: ql.quantize_multiplier("0.5"), TypeError,
             en=("real_multiplier='0.5'", "Pass a Python float"), zh=("real_multiplier='0.5'", "請傳入 Python float")),
    BadInput("quantize_multipliers", lambda: ql.quantize_multipliers(torch.tensor([0.5, -1.0])), ValueError,
             en=("real_multiplier=-1.0", "check that every scale is positive and finite"),
             zh=("real_multiplier=-1.0", "請確認每個縮放因子（scale）都是正的有限數值")),
    BadInput("quantize_multipliers", lambda: ql.quantize_multipliers([0.5]), TypeError,
             en=("got list", "torch.as_tensor(...)"), zh=("收到的是 list", "請先用 torch.as_tensor(...) 轉換")),
    BadInput("multiply_by_quantized_multiplier", lambda: ql.multiply_by_quantized_multiplier(i64(3), 2**31, -1),
             ValueError, en=("M0=2147483648", "get it from qlesson.quantize_multiplier(...)"),
             zh=("M0=2147483648", "請用 qlesson.quantize_multiplier(...) 取得")),
    BadInput("multiply_by_quantized_multiplier",
             lambda: ql.multiply_by_quantized_multiplier(i64(1, 2, 3), torch.tensor([2**30] * 3), torch.tensor([-1] * 3)),
             ValueError, en=("M0 has 3 entries", "one M0 and one shift per output channel"),
             zh=("M0 有 3 個元素", "請每個輸出通道各給一個 M0 與一個 shift")),
    BadInput("multiply_by_quantized_multiplier",
             lambda: ql.multiply_by_quantized_multiplier(i64(3), 2**30, -1, rounding="up"), ValueError,
             en=("rounding='up'", "double, single"), zh=("rounding='up'", "double、single 之一")),
    BadInput("multiply_by_float_multiplier", lambda: ql.multiply_by_float_multiplier(i64(3), float("nan")), ValueError,
             en=("real_multiplier=nan", "check that every scale is positive and finite"),
             zh=("real_multiplier=nan", "請確認每個縮放因子（scale）都是正的有限數值")),
    BadInput("find_double_rounding_mismatch", lambda: ql.find_double_rounding_mismatch(2**30, -1, limit=0), ValueError,
             en=("limit=0", "an int from 1 to 2^22"), zh=("limit=0", "必須是 1 到 2^22")),
    BadInput("find_double_rounding_mismatch", lambda: ql.find_double_rounding_mismatch(2**30, -1, limit=2**31 - 1),
             ValueError, en=("limit=2147483647", "an int from 1 to 2^22 = 4194304"),
             zh=("limit=2147483647", "必須是 1 到 2^22 = 4194304 的整數")),
    BadInput("count_double_rounding_mismatches", lambda: ql.count_double_rounding_mismatches(2**30, 40), ValueError,
             en=("shift=40", "[-31, 30]"), zh=("shift=40", "[-31, 30]")),
    BadInput("count_double_rounding_mismatches", lambda: ql.count_double_rounding_mismatches(2**30, -1, 0),
             ValueError, en=("limit=0", "an int from 1 to 2^22"), zh=("limit=0", "必須是 1 到 2^22")),
    BadInput("count_double_rounding_mismatches", lambda: ql.count_double_rounding_mismatches(2**30, -1, 2.5),
             TypeError, en=("limit must be an integer, got 2.5", "Pass a Python int"),
             zh=("limit 必須是整數，收到的是 2.5", "請傳入 Python 的 int")),
    BadInput("trace_double_rounding", lambda: ql.trace_double_rounding(5, -1, -1), ValueError,
             en=("M0=-1", "get it from qlesson.quantize_multiplier(...)"), zh=("M0=-1", "請用 qlesson.quantize_multiplier(...) 取得")),
    BadInput("trace_double_rounding", lambda: ql.trace_double_rounding("5", 2**30, -1), TypeError,
             en=("got '5'", "Pass a Python int"), zh=("收到的是 '5'", "請傳入 Python 的 int")),
    BadInput("double_rounding_figure", lambda: ql.double_rounding_figure(2**30, 31, 5), ValueError,
             en=("shift=31", "[-31, 30]"), zh=("shift=31", "[-31, 30]")),
    BadInput("output_multipliers", lambda: ql.output_multipliers(0.1, 0.1, 0.0), ValueError,
             en=("y_scale=0.0", SCALE_EN), zh=("y_scale=0.0", SCALE_ZH)),
    BadInput("output_multipliers", lambda: ql.output_multipliers(0.1, torch.tensor([0.1, 0.2]), 0.1, channels=3),
             ValueError, en=("w_scale has 2 entries", "a 1-D tensor of length 3"), zh=("w_scale 有 2 個元素", "長度 3 的一維張量")),
    BadInput("activation_range", lambda: ql.activation_range("gelu", 0.1, 0), ValueError,
             en=("activation='gelu'", "None, relu, relu6"), zh=("activation='gelu'", "relu、relu6 之一")),
    BadInput("activation_range", lambda: ql.activation_range("relu", 0.1, 300), ValueError,
             en=("y_zero_point=300", "Choose y_zero_point inside the range of out_dtype"),
             zh=("y_zero_point=300", "請讓 y_zero_point 落在 out_dtype 的範圍內")),
    BadInput("fold_zero_point_into_bias", lambda: ql.fold_zero_point_into_bias(None, i8(2, 1, 3, 3), 1.5), TypeError,
             en=("got 1.5", "Pass a Python int"), zh=("收到的是 1.5", "請傳入 Python 的 int")),
    BadInput("fold_zero_point_into_bias",
             lambda: ql.fold_zero_point_into_bias(torch.zeros(3, dtype=torch.int32), i8(2, 1, 3, 3), 0), ValueError,
             en=("bias has shape (3,)", "Pass a 1-D tensor of length 2"), zh=("bias 的形狀是 (3,)", "請傳入長度 2 的一維張量")),
    BadInput("qlinear_conv",
             lambda: ql.qlinear_conv(u8(1, 1, 4, 4), 0.1, 0, i8(1, 1, 3, 3), 0.1, 0, 0.1, 0, activation="gelu"),
             ValueError, en=("activation='gelu'", "None, relu, relu6"), zh=("activation='gelu'", "relu、relu6 之一")),
    BadInput("qlinear_conv", lambda: ql.qlinear_conv(u8(1, 1, 4, 4), "0.1", 0, i8(1, 1, 3, 3), 0.1, 0, 0.1, 0),
             TypeError, en=("x_scale='0.1'", "Pass for example 0.02"), zh=("x_scale='0.1'", "例如傳入 0.02")),
    BadInput("qlinear_conv",
             lambda: ql.qlinear_conv(u8(1, 1, 4, 4), 0.1, 0, i8(1, 1, 3, 3), 0.1, 0, 0.1, 0, out_dtype=torch.int16),
             ValueError, en=("out_dtype=torch.int16", "use torch.uint8 or torch.int8"),
             zh=("out_dtype=torch.int16", "請使用 torch.uint8 或 torch.int8")),
    # ------------------------------------------------------------------ the layer end to end
    BadInput("requantize", lambda: ql.requantize(i64(1, 1, 2, 2), 0.1, 0.1, 0.1, 0, rounding="up"), ValueError,
             en=("rounding='up'", "double, single, float"), zh=("rounding='up'", "double、single、float 之一")),
    BadInput("requantize", lambda: ql.requantize(i64(1, 1, 2, 2), 0.1, 0.1, 0.1, 300), ValueError,
             en=("y_zero_point=300", ZP_EN), zh=("y_zero_point=300", ZP_ZH)),
    BadInput("quantize_bias", lambda: ql.quantize_bias([0.0], 0.1, torch.tensor([0.1])), TypeError,
             en=("got list", "torch.as_tensor(...)"), zh=("收到的是 list", "請先用 torch.as_tensor(...) 轉換")),
    BadInput("quantize_bias", lambda: ql.quantize_bias(f32(2), -0.1, torch.tensor([0.1, 0.1])), ValueError,
             en=("x_scale=-0.1", SCALE_EN), zh=("x_scale=-0.1", SCALE_ZH)),
    BadInput("quantize_conv_layer", lambda: ql.quantize_conv_layer(torch.nn.Linear(2, 2), f32(1, 1, 4, 4)), TypeError,
             en=("got Linear", "must be a torch.nn.Conv2d"), zh=("收到的是 Linear", "必須是 torch.nn.Conv2d")),
    BadInput("quantize_conv_layer", lambda: ql.quantize_conv_layer(ql.edge_filter_conv(), f32(1, 1, 4)), ValueError,
             en=("shape (1, 1, 4)", "must be a float tensor of shape (N, C_in, H, W)"),
             zh=("形狀 (1, 1, 4)", "必須是形狀為 (N, C_in, H, W)")),
    BadInput("count_differences", lambda: ql.count_differences(i64(2, 2), i64(3)), ValueError,
             en=("reference has shape (3,)", "compare outputs of one layer"), zh=("reference 的形狀是 (3,)", "請比較同一層的輸出")),
    BadInput("count_differences", lambda: ql.count_differences(f32(3), i64(3)), TypeError,
             en=("float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("run_engines", lambda: ql.run_engines("problem"), TypeError,
             en=("got str", "Build one with qlesson.quantize_conv_layer(...)"),
             zh=("收到的是 str", "請用 qlesson.quantize_conv_layer(...) 建立")),
    BadInput("compare_engines", lambda: ql.compare_engines((), "problem"), TypeError,
             en=("got str", "Build one with qlesson.quantize_conv_layer(...)"),
             zh=("收到的是 str", "請用 qlesson.quantize_conv_layer(...) 建立")),
    # ------------------------------------------------------------------ real engines
    BadInput("onnxruntime_conv_integer", lambda: ql.onnxruntime_conv_integer(u8(1, 1, 4, 4), i8(1, 1, 3, 3), 300),
             ValueError, en=("x_zero_point=300", ZP_EN), zh=("x_zero_point=300", ZP_ZH)),
    BadInput("onnxruntime_qlinear_conv",
             lambda: ql.onnxruntime_qlinear_conv(u8(1, 1, 4, 4), -0.1, 0, i8(1, 1, 3, 3), 0.1, 0, 0.1, 0), ValueError,
             en=("x_scale=-0.1", SCALE_EN), zh=("x_scale=-0.1", SCALE_ZH)),
    BadInput("onnxruntime_qlinear_conv",
             lambda: ql.onnxruntime_qlinear_conv(torch.zeros(1, 1, 4, 4, dtype=torch.int16), 0.1, 0, i8(1, 1, 3, 3),
                                                 0.1, 0, 0.1, 0), TypeError,
             en=("x has dtype int16", "Quantize it with qlesson.quantize(...)"),
             zh=("x 的資料型別是 int16", "請用 qlesson.quantize(...) 量化")),
    BadInput("torch_quantized_conv",
             lambda: ql.torch_quantized_conv("nope", u8(1, 1, 4, 4), 0.1, 0, i8(1, 1, 3, 3), 0.1, 0, 0.1, 0),
             UnsupportedConfiguration, en=("'nope'", "qnnpack"), zh=("'nope'", "qnnpack")),
    BadInput("torch_quantized_conv",
             lambda: ql.torch_quantized_conv("x86", i8(1, 1, 4, 4), 0.1, 0, i8(1, 1, 3, 3), 0.1, 0, 0.1, 0),
             UnsupportedConfiguration, en=("got x int8", "it takes uint8 x (quint8)"),
             zh=("收到的是 x int8", "只接受 uint8 的 x（quint8）")),
    BadInput("compare_integers", lambda: ql.compare_integers(i64(2, 2), i64(3)), ValueError,
             en=("reference has shape (3,)", "compare outputs of the same problem"),
             zh=("reference 的形狀是 (3,)", "請比較同一個問題的輸出")),
    BadInput("padding_only_axis", lambda: ql.padding_only_axis("geometry"), TypeError,
             en=("got str", "Build one with qlesson.conv_geometry(...)"),
             zh=("收到的是 str", "請用 qlesson.conv_geometry(...) 建立")),
    # ------------------------------------------------------------------ where else the trap lives
    BadInput("avg_pool_integer", lambda: ql.avg_pool_integer(u8(1, 1, 4, 4), 0), ValueError,
             en=("kernel_size=0", "Pass 1 or more"), zh=("kernel_size=0", "請傳入 1 或更大的值")),
    BadInput("avg_pool_integer", lambda: ql.avg_pool_integer(u8(1, 1, 4, 4), 2, count_include_pad="yes"), TypeError,
             en=("got 'yes'", "must be True or False"), zh=("收到的是 'yes'", "必須是 True 或 False")),
    BadInput("max_pool_integer", lambda: ql.max_pool_integer(u8(1, 1, 4, 4), 2, padding=1, pad_value=-1), ValueError,
             en=("pad_value=-1", "pick a value in that range"), zh=("pad_value=-1", "請選擇此範圍內的值")),
    BadInput("max_pool_integer", lambda: ql.max_pool_integer(f32(1, 1, 4, 4), 2), TypeError,
             en=("float32", QUANTIZE_EN), zh=("float32", QUANTIZE_ZH)),
    BadInput("conv_transpose_integer", lambda: ql.conv_transpose_integer(u8(1, 1, 4, 4), i8(1, 1, 3, 3), method="fast"),
             ValueError, en=("method='fast'", "zero_point_fill, naive_zero_fill"),
             zh=("method='fast'", "zero_point_fill、naive_zero_fill 之一")),
    BadInput("conv_transpose_integer", lambda: ql.conv_transpose_integer(u8(1, 2, 4, 4), i8(3, 1, 3, 3)), ValueError,
             en=("w has shape (3, 1, 3, 3)", "the first axis of w must equal C_in"),
             zh=("w 的形狀是 (3, 1, 3, 3)", "w 的第一個軸必須等於 C_in")),
    BadInput("conv_transpose_error_map", lambda: ql.conv_transpose_error_map((4, 4), i8(1, 1, 3, 3), 0, output_padding=2),
             ValueError, en=("output_padding 2", "Use a smaller output_padding"), zh=("output_padding 2", "請使用較小的 output_padding")),
    BadInput("insert_zeros", lambda: ql.insert_zeros(u8(1, 1, 4, 4), 300, 3), ValueError,
             en=("fill=300", "pick a value in that range"), zh=("fill=300", "請選擇此範圍內的值")),
    BadInput("pad_integer", lambda: ql.pad_integer(u8(1, 1, 4, 4), 1, "wrap"), ValueError,
             en=("mode='wrap'", "constant, reflect, replicate, circular"), zh=("mode='wrap'", "constant、reflect、replicate、circular 之一")),
    BadInput("pad_integer", lambda: ql.pad_integer(u8(1, 1, 4, 4), 1, "reflect", value=1.0), ValueError,
             en=("value=1.0", "Leave value at 0"), zh=("value=1.0", "請讓 value 維持 0")),
    BadInput("padding_sources", lambda: ql.padding_sources(0, 1, 1, "reflect"), ValueError,
             en=("size=0", "size at least 1"), zh=("size=0", "size 至少為 1")),
    BadInput("panel_heatmaps", lambda: ql.panel_heatmaps(i64(2, 3, 3), ["one"]), ValueError,
             en=("panel_titles=['one']", "a list of 2 titles"), zh=("panel_titles=['one']", "含 2 個標題的串列")),
    BadInput("panel_heatmaps", lambda: ql.panel_heatmaps(i64(3, 3)), ValueError,
             en=("maps has shape (3, 3)", "Select one batch item first"), zh=("maps 的形狀是 (3, 3)", "請先選出一個批次項目")),
    # ------------------------------------------------------------------ figures
    BadInput("error_heatmaps", lambda: ql.error_heatmaps(i64(2, 2, 2, 2)), ValueError,
             en=("(2, 2, 2, 2)", "Select one channel and batch item first"), zh=("(2, 2, 2, 2)", "請先選出一個通道與批次項目")),
    BadInput("error_heatmaps", lambda: ql.error_heatmaps([[1, 2]]), TypeError,
             en=("got list", "torch.as_tensor(...)"), zh=("收到的是 list", "請先用 torch.as_tensor(...) 轉換")),
    BadInput("error_heatmaps", lambda: ql.error_heatmaps(i64(3, 3), regions=torch.full((3, 3), 5)), ValueError,
             en=("from 5 to 5", "Pass the output of qlesson.border_regions"), zh=("介於 5 到 5", "請傳入 qlesson.border_regions 的輸出")),
    BadInput("compare_error_maps", lambda: ql.compare_error_maps(i64(2, 3), i64(3, 3)), ValueError,
             en=("predicted has shape (2, 3)", "Pass maps of the same convolution"), zh=("predicted 的形狀卻是 (2, 3)", "請傳入同一個卷積的結果")),
    BadInput("compare_error_maps", lambda: ql.compare_error_maps(i64(1, 2, 3, 3), i64(1, 2, 3, 3), channel=5), ValueError,
             en=("channel=5", "use 0 to 0"), zh=("channel=5", "請使用 0 到 0")),
    BadInput("image_comparison", lambda: ql.image_comparison(i64(3, 3), i64(3, 4), i64(3, 3)), ValueError,
             en=("naive has shape (3, 4)", "Pass maps of the same convolution"), zh=("naive 的形狀是 (3, 4)", "請傳入同一個卷積的結果")),
    BadInput("image_comparison", lambda: ql.image_comparison(i64(3, 3), i64(3, 3), i64(3, 3), error_against="naive"),
             ValueError, en=("error_against='naive'", "'fixed', 'float'"), zh=("error_against='naive'", "'fixed' 或 'float'")),
    BadInput("figure_to_png", lambda: ql.figure_to_png("figure"), TypeError,
             en=("got str", "Pass the Figure that a qlesson figure function returns"),
             zh=("收到的是 str", "請傳入 qlesson 繪圖函式傳回的 Figure")),
    BadInput("figure_to_png", lambda: ql.figure_to_png(Figure(), dpi=0), ValueError,
             en=("dpi=0", "Pass a number above 0"), zh=("dpi=0", "請傳入大於 0 的數")),
    BadInput("figure_to_png", lambda: ql.figure_to_png(Figure(figsize=(4, 2)), dpi=1e7), ValueError,
             en=("dpi=10000000.0 gives a 40000000 × 20000000 pixel image", "Pass a dpi from 0.5 to 2896"),
             zh=("dpi=10000000.0", "請傳入 0.5 到 2896 之間的 dpi")),
    BadInput("figure_to_png", lambda: ql.figure_to_png(Figure(figsize=(4, 2)), dpi=0.1), ValueError,
             en=("gives a 0 × 0 pixel image", "each side between 1 and 32768 pixels"),
             zh=("變成 0 × 0 像素", "讓每邊介於 1 到 32768 像素")),
    BadInput("sample_photo", lambda: ql.sample_photo(4), ValueError,
             en=("size=4", "an int from 8 to 512"), zh=("size=4", "8 到 512 之間的整數")),
    BadInput("sample_photo", lambda: ql.sample_photo(True), TypeError,
             en=("got True", "Pass a Python int"), zh=("收到的是 True", "請傳入 Python 的 int")),
    # ------------------------------------------------------------------ language and exercises
    BadInput("set_language", lambda: ql.set_language("fr"), ValueError,
             en=("'fr'", "use one of ('en', 'zh-TW')"), zh=("'fr'", "請使用 ('en', 'zh-TW') 之一"), bilingual=True),
    BadInput("set_language", lambda: ql.set_language(1), TypeError,
             en=("got 1", "one of ('en', 'zh-TW')"), zh=("收到的是 1", "('en', 'zh-TW') 之一"), bilingual=True),
    BadInput("localize", lambda: ql.localize("explorer.title", language="de"), ValueError,
             en=("'de'", "use one of ('en', 'zh-TW')"), zh=("'de'", "請使用 ('en', 'zh-TW') 之一"), bilingual=True),
    BadInput("tr", lambda: ql.tr(1, "一"), TypeError,
             en=("got int and str", "takes two strings"), zh=("收到的是 int 與 str", "需要兩個字串"), bilingual=True),
    BadInput("localize", lambda: ql.localize("explorer.bad_seed"), KeyError,
             en=("'explorer.bad_seed' needs the field value", "localize('explorer.bad_seed', value=...)"),
             zh=("'explorer.bad_seed' 需要欄位 value", "localize('explorer.bad_seed', value=...)")),
    BadInput("localize", lambda: ql.localize("no.such.key"), KeyError,
             en=("'no.such.key'", "qlesson.i18n.message_keys() lists the keys"),
             zh=("'no.such.key'", "qlesson.i18n.message_keys() 會列出所有的鍵")),
    BadInput("check_answer", lambda: ql.check_answer(3, 4, {"en": "count the taps"}), ValueError,
             en=("{'en': 'count the taps'}", "Add the missing 'zh-TW' text"),
             zh=("{'en': 'count the taps'}", "請補上缺少的 'zh-TW' 文字")),
    BadInput("check_answer", lambda: ql.check_answer(3, 4, {"en": 3, "zh-TW": "數一數取樣點"}), TypeError,
             en=("hint['en'] must be a str, got 3", "Write the hint as text"),
             zh=("hint['en'] 必須是字串（str），收到的是 3", "請把提示寫成文字")),
    BadInput("check_answer", lambda: ql.check_answer(3, 4, "count the taps"), TypeError,
             en=("got 'count the taps'", "Pass one such as {'en': '…', 'zh-TW': '…'}"),
             zh=("收到的是 'count the taps'", "請傳入像 {'en': '…', 'zh-TW': '…'} 這樣的 dict")),
    # ------------------------------------------------------------------ explorers
    BadInput("PaddingExplorer", lambda: ql.PaddingExplorer(input_shape=(1, 2, 4, 10)), ValueError,
             en=("input_shape=(1, 2, 4, 10)", "five positive ints (N, C_in, D, H, W)"),
             zh=("input_shape=(1, 2, 4, 10)", "必須是五個正整數 (N, C_in, D, H, W)")),
    BadInput("PaddingExplorer", lambda: ql.PaddingExplorer(seed="a"), TypeError,
             en=("seed must be an integer, got 'a'", "Pass a Python int"),
             zh=("seed 必須是整數，收到的是 'a'", "請傳入 Python 的 int")),
    BadInput("PaddingExplorer", lambda: ql.PaddingExplorer(seed=1.0), TypeError,
             en=("seed must be an integer, got 1.0", "Pass a Python int"),
             zh=("seed 必須是整數，收到的是 1.0", "請傳入 Python 的 int")),
    BadInput("PaddingExplorer", lambda: ql.PaddingExplorer(seed=-1), ValueError,
             en=("seed=-1", "an int from 0 to 2^64 − 1"), zh=("seed=-1", "0 到 2^64 − 1 的整數")),
    BadInput("PaddingExplorer", lambda: ql.PaddingExplorer().set_values(speed=1), TypeError,
             en=("'speed'", "Use one of: x_zero_point"), zh=("'speed'", "請使用下列之一：x_zero_point")),
    BadInput("PaddingExplorer", lambda: ql.PaddingExplorer().set_values(stride=9), ValueError,
             en=("stride=9", "Pick a value in that range"), zh=("stride=9", "請選擇此範圍內的值")),
    BadInput("QuantizationGridExplorer", lambda: ql.QuantizationGridExplorer(dtype="int4"), ValueError,
             en=("dtype='int4'", 'use "uint8" or "int8"'), zh=("dtype='int4'", '請使用 "uint8" 或 "int8"')),
    BadInput("QuantizationGridExplorer", lambda: ql.QuantizationGridExplorer().set_values(r_minimum=1.0), ValueError,
             en=("r_minimum", "the controls are r_min, r_max"), zh=("r_minimum", "可用的控制項是 r_min、r_max")),
    BadInput("FourTermsExplorer", lambda: ql.FourTermsExplorer(u8(1, 1, 4, 4), u8(1, 1, 3, 3), 0, w_zp=300), ValueError,
             en=("w_zero_point=300", ZP_EN), zh=("w_zero_point=300", ZP_ZH)),
    BadInput("FourTermsExplorer", lambda: ql.FourTermsExplorer(u8(1, 1, 4), u8(1, 1, 3), 0), ValueError,
             en=("x has shape (1, 1, 4)", "Pass an input (N, C_in, H, W)"), zh=("x 的形狀是 (1, 1, 4)", "請傳入形狀為 (N, C_in, H, W) 的輸入")),
    BadInput("AccumulatorExplorer", lambda: ql.AccumulatorExplorer(kernel_size=12), ValueError,
             en=("kernel_size=12", "Pick a value in that range"), zh=("kernel_size=12", "請選擇此範圍內的值")),
    BadInput("AccumulatorExplorer", lambda: ql.AccumulatorExplorer().set_values(groups=2), TypeError,
             en=("'groups'", "Use one of: c_in"), zh=("'groups'", "請使用下列之一：c_in")),
    BadInput("MultiplierExplorer", lambda: ql.MultiplierExplorer(1000.0), ValueError,
             en=("real_multiplier=1000.0", "Pick a value in that range"), zh=("real_multiplier=1000.0", "請選擇此範圍內的值")),
    BadInput("MultiplierExplorer", lambda: ql.MultiplierExplorer().set_values(real_multiplier=0.0), ValueError,
             en=("real_multiplier=0.0", "Pick a value in that range"), zh=("real_multiplier=0.0", "請選擇此範圍內的值")),
]


def _case_of(row: BadInput | object) -> BadInput:
    return row.values[0] if hasattr(row, "values") else row


def _case_id(row: BadInput | object) -> str:
    case = _case_of(row)
    same = [other for other in map(_case_of, BAD_INPUTS) if other.function == case.function]
    return case.function if len(same) == 1 else f"{case.function}-{same.index(case) + 1}"


CASE_IDS = [_case_id(row) for row in BAD_INPUTS]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=CASE_IDS)
@pytest.mark.parametrize("language", ql.LANGUAGES)
def test_bad_input_message(case: BadInput, language: str):
    ql.set_language(language)
    with pytest.raises(BaseException) as info:
        case.call()
    message = str(info.value)

    assert type(info.value) is case.error, f"raised {type(info.value).__name__}: {message}"
    raised_in = Path(str(info.traceback[-1].path)).resolve()
    assert PACKAGE_DIR in raised_in.parents, f"raised in {raised_in}, not by qlesson's own checks"
    value, fix = case.en if language == "en" else case.zh
    assert value in message, f"the value {value!r} is missing from {message!r}"
    assert fix in message, f"the fix {fix!r} is missing from {message!r}"
    if language == "zh-TW":
        assert CJK.search(message), f"no Chinese in the zh-TW message {message!r}"
    elif not case.bilingual:
        assert not CJK.search(message), f"Chinese in the English message {message!r}"


def _is_record(value: object) -> bool:
    """Whether a public name is a plain record (dataclass or named tuple) or an exception type."""
    if not isinstance(value, type):
        return False
    return dataclasses.is_dataclass(value) or issubclass(value, (tuple, BaseException))


def _takes_arguments(value: object) -> bool:
    return callable(value) and bool(inspect.signature(value).parameters)


# Records carry results and check nothing, and exceptions are raised, not called with user input.
RECORDS = {name for name in ql.__all__ if _is_record(getattr(ql, name))}


def test_table_covers_every_public_function():
    functions = {name for name in ql.__all__
                 if name not in RECORDS and _takes_arguments(getattr(ql, name))}
    covered = {_case_of(row).function for row in BAD_INPUTS}
    assert functions - covered == set(), "public functions without a bad-input row"
    assert covered - functions == set(), "rows for names that are not public functions"


def test_table_size():
    passing = [row for row in BAD_INPUTS if isinstance(row, BadInput)]
    assert len(passing) >= 30


def test_records_are_plain():
    # A record that gains a validating __post_init__ needs rows in the table.
    for name in RECORDS:
        record = getattr(ql, name)
        assert not hasattr(record, "__post_init__"), f"{name} validates its fields; add it to BAD_INPUTS"
    assert {"EngineError", "UnsupportedConfiguration"} <= RECORDS


# ---------------------------------------------------------------------------------- overflow

def _taps_beyond_int32() -> tuple[torch.Tensor, torch.Tensor]:
    """Return uint8 x and int8 w whose one output, Σ 255 · (−128), is just below the int32 minimum."""
    channels = 2**31 // (255 * 128) + 1
    x = torch.full((1, channels, 1, 1), 255, dtype=torch.uint8)
    w = torch.full((1, channels, 1, 1), -128, dtype=torch.int8)
    return x, w


def _one_tap(value: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Return x holding ``value`` and a single weight 1, so the accumulator is ``value`` exactly."""
    return torch.tensor([[[value]]], dtype=dtype), torch.ones((1, 1, 1), dtype=torch.int8)


@dataclass(frozen=True)
class Overflow:
    """A call whose int32 accumulator or result cannot hold its value, and the value the message names."""

    function: str
    call: Callable[[], object]
    error: type[BaseException]
    value: str


OVERFLOWS = [
    Overflow("conv_integer_int32", lambda: ql.conv_integer_int32(*_taps_beyond_int32()), OverflowError, "-2147516160"),
    Overflow("conv_integer_int32", lambda: ql.conv_integer_int32(*_one_tap(INT32_MAX + 1, torch.int64)), OverflowError,
             "2147483648"),
    Overflow("conv_integer_int32", lambda: ql.conv_integer_int32(*_one_tap(INT32_MIN - 1, torch.int64)), OverflowError,
             "-2147483649"),
    Overflow("qlinear_conv", lambda: ql.qlinear_conv(_taps_beyond_int32()[0], 0.1, 0, _taps_beyond_int32()[1], 0.1, 0,
                                                     0.1, 0), OverflowError, "-2147516160"),
    Overflow("requantize", lambda: ql.requantize(torch.tensor([[[[INT32_MAX + 1]]]]), 0.1, 0.1, 0.1, 0), ValueError,
             "2147483648"),
    Overflow("multiply_by_quantized_multiplier",
             lambda: ql.multiply_by_quantized_multiplier(torch.tensor([2**30]), 2**30, 2), OverflowError, "4294967296"),
    Overflow("multiply_by_quantized_multiplier",
             lambda: ql.multiply_by_quantized_multiplier(torch.tensor([INT32_MIN - 1]), 2**30, 0), ValueError,
             "-2147483649"),
    Overflow("multiply_by_float_multiplier", lambda: ql.multiply_by_float_multiplier(torch.tensor([INT32_MAX + 1]), 0.5),
             ValueError, "2147483648"),
    Overflow("quantize_bias", lambda: ql.quantize_bias(torch.tensor([1e9]), 1e-3, torch.tensor([1e-3])), ValueError,
             "999999952502551"),
    Overflow("double_rounding_figure", lambda: ql.double_rounding_figure(2**30, -1, INT32_MAX + 1), ValueError,
             "2147483648"),
    Overflow("onnxruntime_conv_integer", lambda: ql.onnxruntime_conv_integer(*_taps_beyond_int32()), OverflowError,
             "-2147516160"),
    Overflow("onnxruntime_qlinear_conv",
             lambda: ql.onnxruntime_qlinear_conv(_taps_beyond_int32()[0], 0.1, 0, _taps_beyond_int32()[1], 0.1, 0,
                                                 0.1, 0), OverflowError, "-2147516160"),
]


@pytest.mark.parametrize("case", OVERFLOWS, ids=lambda case: getattr(case, "function", None))
@pytest.mark.parametrize("language", ql.LANGUAGES)
def test_int32_overflow_is_reported(case: Overflow, language: str):
    ql.set_language(language)
    with pytest.raises(BaseException) as info:
        case.call()

    assert type(info.value) is case.error, f"raised {type(info.value).__name__}: {info.value}"
    assert case.value in str(info.value)
    assert "int32" in str(info.value)
    if language == "zh-TW":
        assert CJK.search(str(info.value))


@pytest.mark.parametrize("value", [INT32_MAX, INT32_MIN])
def test_int32_limits_are_returned_exactly(value: int):
    # The limits themselves fit, so they come back unchanged and nothing is raised.
    x, w = _one_tap(value, torch.int32)
    assert int(ql.conv_integer_int32(x, w)) == value
    assert int(ql.wrap_int32(torch.tensor([value]))[0]) == value
