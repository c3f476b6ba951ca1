"""A whole quantized convolution, ONNX ``QLinearConv``: accumulate, add the bias, requantize, saturate.

Taught in "Requantization". The output is

    y_q = clamp(y_zp + round(M_c · (Σ (x − x_zp)(w − w_zp) + bias_c)), lo, hi),
    M_c = x_scale · w_scale_c / y_scale,                                                  (5)

with one multiplier per output channel ``c`` when the weights are quantized per channel. The
multipliers are prepared once with float arithmetic (:func:`output_multipliers`). After that,
:func:`qlinear_conv`'s inference path uses integers only. The one exception is
``rounding="float"``, which reproduces the float32 requantization of ONNX Runtime's ``QLinearConv``
on purpose. It adds the bias in int32. PyTorch's quantized engines take the bias in float32, so
they match it only where the float32 bias check of :func:`qlesson.torch_quantized_conv` passes.
Even there an output may differ if it lies within that check's error bound of a rounding tie.

Which engine rounds how, as read in their sources:

- TFLite (int8 conv): ``rounding="double"``. ``PopulateConvolutionQuantizationParams`` in
  ``tensorflow/lite/kernels/kernel_util.cc`` computes ``M_c`` in double from the float32 scales
  and calls ``QuantizeMultiplier``; the kernels call ``MultiplyByQuantizedMultiplier``.
- ONNX Runtime ``QLinearConv`` on CPU: ``rounding="float"``. ``ComputeOutputScale`` in
  ``onnxruntime/core/providers/cpu/quantization/qlinearconv.cc`` computes
  ``x_scale * w_scale / y_scale`` in float32, and ``MlasRequantizeOutput`` multiplies in float32
  and rounds half to even.
- PyTorch ``fbgemm`` and ``x86`` engines: ``rounding="float"``. ``GetQuantizationParams`` in
  ``aten/src/ATen/native/quantized/cpu/qconv.cpp`` computes ``(x_scale * w_scale) / y_scale`` in
  float32, and fbgemm's ``requantizeOutputProcessingAvx2`` multiplies and rounds as ONNX Runtime does,
  after adding the bias in float32 (see above).
- PyTorch ``qnnpack`` and ``onednn`` engines: their outputs matched ``rounding="float"`` in
  ``tests/test_engines.py`` wherever the float32 bias check passes; their requantization code was
  not read for this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import torch

from . import _checks
from .convolution import conv_integer
from .i18n import join_choices, localize, register_messages
from .quantization import QUANTIZED_DTYPES
from .requantization import (
    INT32_MAX,
    INT32_MIN,
    _round_half_away,
    multiply_by_float_multiplier,
    multiply_by_quantized_multiplier,
    quantize_multipliers,
    wrap_int32,
)

OutputRounding = Literal["double", "single", "float"]
Activation = Literal["relu", "relu6"]

#: Rounding modes of :func:`qlinear_conv`: the two fixed-point ones and the engines' float32 one.
ROUNDINGS: tuple[str, ...] = ("double", "single", "float")

#: Activations that :func:`qlinear_conv` can fuse as a clamp of the quantized output.
ACTIVATIONS: tuple[str, ...] = ("relu", "relu6")

register_messages({
    "qlinear.bad_scale_type": {
        "en": ("{name}={value!r} must be a positive float, or a float tensor with one value{per_channel}. "
               "Pass for example 0.02."),
        "zh-TW": "{name}={value!r} 必須是正的 float，或只含一個值{per_channel}的浮點數張量。例如傳入 0.02。",
    },
    "qlinear.per_channel_hint": {
        "en": " or one value per output channel",
        "zh-TW": "或每個輸出通道一個值",
    },
    "qlinear.scale_length": {
        "en": ("{name} has {length} entries but there are {channels} output channels. Pass one scale per "
               "output channel (a 1-D tensor of length {channels}) or a single float."),
        "zh-TW": ("{name} 有 {length} 個元素，但輸出通道有 {channels} 個。請每個輸出通道給一個縮放因子"
                  "（長度 {channels} 的一維張量），或只給一個 float。"),
    },
    "qlinear.scale_float32": {
        "en": ("{name}={value!r} becomes {rounded} in float32, the type ONNX and TFLite store scales in. "
               "Use a scale between about 1e-38 and 3e38."),
        "zh-TW": ("{name}={value!r} 轉成 float32（ONNX 與 TFLite 存放縮放因子的型別）後變成 {rounded}。"
                  "請使用大約介於 1e-38 與 3e38 之間的縮放因子。"),
    },
    "qlinear.zero_point_dtype": {
        "en": ("{name} has dtype {zp_dtype} but {tensor} is {dtype}. ONNX requires a zero point of the "
               "same type as its tensor, so convert it with .to({dtype_code}) or pass a Python int."),
        "zh-TW": ("{name} 的資料型別是 {zp_dtype}，但 {tensor} 是 {dtype}。ONNX 要求零點（zero point）"
                  "與其張量同型別，請用 .to({dtype_code}) 轉換，或傳入 Python int。"),
    },
    "qlinear.bias_dtype": {
        "en": ("bias must be an int32 tensor, got dtype {dtype}. The bias is quantized with scale "
               "x_scale · w_scale and zero point 0; quantize it with torch.round(b / (x_scale * w_scale)).to(torch.int32)."),
        "zh-TW": ("bias 必須是 int32 張量，收到的資料型別是 {dtype}。偏置（bias）以 x_scale · w_scale 為縮放因子、"
                  "0 為零點量化，請用 torch.round(b / (x_scale * w_scale)).to(torch.int32) 量化。"),
    },
    "qlinear.bias_shape": {
        "en": "bias has shape {shape} but there are {channels} output channels. Pass a 1-D tensor of length {channels}.",
        "zh-TW": "bias 的形狀是 {shape}，但輸出通道有 {channels} 個。請傳入長度 {channels} 的一維張量。",
    },
    "qlinear.bad_out_dtype": {
        "en": "out_dtype={value!r} is not supported; use torch.uint8 or torch.int8.",
        "zh-TW": "不支援 out_dtype={value!r}，請使用 torch.uint8 或 torch.int8。",
    },
    "qlinear.bad_operand_dtype": {
        "en": "{name} has dtype {dtype}; QLinearConv takes uint8 or int8. Quantize it with qlesson.quantize(...).",
        "zh-TW": "{name} 的資料型別是 {dtype}；QLinearConv 只接受 uint8 或 int8。請用 qlesson.quantize(...) 量化。",
    },
    "qlinear.bad_activation": {
        "en": "activation={value!r} is not one of None, {choices}.",
        "zh-TW": "activation={value!r} 不是 None、{choices} 之一。",
    },
    "qlinear.bad_rounding": {
        "en": "rounding={value!r} is not one of {choices}.",
        "zh-TW": "rounding={value!r} 不是 {choices} 之一。",
    },
    "qlinear.empty_activation_range": {
        "en": ("activation={activation!r} with y_scale={scale} and y_zero_point={zero_point} leaves no output "
               "value: the clamp range [{low}, {high}] is empty. Choose y_zero_point inside the range of out_dtype "
               "so that real 0 is representable."),
        "zh-TW": ("activation={activation!r} 搭配 y_scale={scale} 與 y_zero_point={zero_point} 時沒有任何輸出值："
                  "夾限範圍 [{low}, {high}] 是空的。請讓 y_zero_point 落在 out_dtype 的範圍內，使實數 0 可以表示。"),
    },
})


@dataclass(frozen=True)
class OutputMultipliers:
    """The per-channel requantization multipliers of one convolution, in the forms each engine uses.

    ``real`` is float64, computed in double from the float32 scales as TFLite does. ``float32``
    is computed in float32 as ONNX Runtime and PyTorch do, ``fl32(fl32(x_scale · w_scale) / y_scale)``.
    Both are 1-D with one entry per output channel.
    """

    real: torch.Tensor
    float32: torch.Tensor

    def fixed_point(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(M0, shift)`` per channel from :func:`qlesson.quantize_multiplier` applied to ``real``."""
        return quantize_multipliers(self.real)


def _scale_tensor(name: str, value: object, channels: int | None) -> torch.Tensor:
    """Validate a scale and return it as float32, shape (1,) or (channels,)."""
    hint = localize("qlinear.per_channel_hint") if channels is not None else ""
    if isinstance(value, bool):
        raise TypeError(localize("qlinear.bad_scale_type", name=name, value=value, per_channel=hint))
    if isinstance(value, (int, float)):
        values = torch.tensor([float(value)], dtype=torch.float64)
    elif isinstance(value, torch.Tensor) and value.is_floating_point():
        if value.dim() > 1 or (value.numel() != 1 and channels is None):
            raise TypeError(localize("qlinear.bad_scale_type", name=name, value=value, per_channel=hint))
        values = value.reshape(-1).to(torch.float64)
        if channels is not None and values.numel() not in (1, channels):
            raise ValueError(localize("qlinear.scale_length", name=name, length=values.numel(), channels=channels))
    else:
        raise TypeError(localize("qlinear.bad_scale_type", name=name, value=value, per_channel=hint))

    bad = ~torch.isfinite(values) | (values <= 0)
    if bool(bad.any()):
        raise ValueError(localize("bad_scale", name=name, value=float(values[bad][0])))
    rounded = values.to(torch.float32)
    bad = ~torch.isfinite(rounded) | (rounded <= 0)
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise ValueError(localize("qlinear.scale_float32", name=name, value=float(values[index]),
                                  rounded=float(rounded[index])))
    if channels is not None and rounded.numel() == 1:
        rounded = rounded.expand(channels)
    return rounded


def output_multipliers(x_scale: float, w_scale: float | torch.Tensor, y_scale: float,
                       channels: int | None = None) -> OutputMultipliers:
    """Compute ``M_c = x_scale · w_scale_c / y_scale`` per output channel, as the engines prepare it.

    Taught in "Requantization". Preparation, so floats are used.
    Every scale is first rounded to float32, the type ONNX and TFLite store scales in.

    Args:
        x_scale, y_scale: positive floats.
        w_scale: a positive float, or a 1-D float tensor with one scale per output channel.
        channels: the number of output channels; defaults to the length of ``w_scale``.
    """
    if channels is None:
        channels = w_scale.numel() if isinstance(w_scale, torch.Tensor) else 1
    x32 = _scale_tensor("x_scale", x_scale, None)
    w32 = _scale_tensor("w_scale", w_scale, channels)
    y32 = _scale_tensor("y_scale", y_scale, None)
    real = x32.to(torch.float64) * w32.to(torch.float64) / y32.to(torch.float64)
    # float32 tensors round every operation to float32, as C++ float arithmetic does.
    multiplier32 = (x32 * w32) / y32
    return OutputMultipliers(real=real, float32=multiplier32)


def _check_operand(name: str, value: object) -> torch.Tensor:
    tensor = _checks.require_integer_tensor(name, value)
    if tensor.dtype not in QUANTIZED_DTYPES:
        raise TypeError(localize("qlinear.bad_operand_dtype", name=name, dtype=str(tensor.dtype).replace("torch.", "")))
    return tensor


def _check_zero_point_dtype(name: str, zero_point: object, tensor_name: str, dtype: torch.dtype) -> None:
    """Reject a zero point given as a tensor of another dtype than its tensor, as ONNX does."""
    if isinstance(zero_point, torch.Tensor) and zero_point.dtype != dtype:
        dtype_text = str(dtype).replace("torch.", "")
        raise TypeError(localize(
            "qlinear.zero_point_dtype", name=name, zp_dtype=str(zero_point.dtype).replace("torch.", ""),
            tensor=tensor_name, dtype=dtype_text, dtype_code=f"torch.{dtype_text}"))


def _check_bias(bias: object, channels: int) -> torch.Tensor:
    bias = _checks.require_tensor("bias", bias)
    if bias.dtype != torch.int32:
        raise TypeError(localize("qlinear.bias_dtype", dtype=str(bias.dtype).replace("torch.", "")))
    if bias.dim() != 1 or bias.numel() != channels:
        raise ValueError(localize("qlinear.bias_shape", shape=tuple(bias.shape), channels=channels))
    return bias.to(torch.int64)


def activation_range(activation: Activation | None, y_scale: float, y_zero_point: int,
                     out_dtype: torch.dtype = torch.uint8) -> tuple[int, int]:
    """Return the clamp bounds ``(lo, hi)`` of the quantized output for a fused activation.

    Taught in "Requantization". Because real 0 is exactly the
    integer ``y_zp``, ReLU on real values is the clamp ``max(y_q, y_zp)`` on integers, and ReLU6
    also clamps at ``y_zp + round(6 / y_scale)``. As in TFLite's
    ``CalculateActivationRangeQuantizedImpl`` (``tensorflow/lite/kernels/kernel_util.cc``),
    ``6 / y_scale`` is computed in float32 and rounded half away from zero, and both bounds are
    limited to the range of ``out_dtype``.
    """
    low, high = _checks.dtype_range(out_dtype)
    if activation is None:
        return low, high
    if activation not in ACTIVATIONS:
        raise ValueError(localize("qlinear.bad_activation", value=activation, choices=join_choices(ACTIVATIONS)))
    lo = max(low, y_zero_point)
    hi = high
    if activation == "relu6":
        six_steps = torch.tensor(6.0, dtype=torch.float32) / _scale_tensor("y_scale", y_scale, None)[0]
        # Round the float32 quotient exactly: adding 0.5 in float32 could itself round.
        hi = min(high, y_zero_point + _round_half_away(Fraction(float(six_steps))))
    if lo > hi:
        raise ValueError(localize("qlinear.empty_activation_range", activation=activation, scale=y_scale,
                                  zero_point=y_zero_point, low=lo, high=hi))
    return lo, hi


def qlinear_conv(
    x: torch.Tensor,
    x_scale: float,
    x_zero_point: int | torch.Tensor,
    w: torch.Tensor,
    w_scale: float | torch.Tensor,
    w_zero_point: int | torch.Tensor,
    y_scale: float,
    y_zero_point: int | torch.Tensor,
    bias: torch.Tensor | None = None,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    out_dtype: torch.dtype = torch.uint8,
    rounding: OutputRounding = "double",
    activation: Activation | None = None,
) -> torch.Tensor:
    """Run a quantized convolution with ONNX ``QLinearConv`` semantics, from integers to integers.

    Taught in "A quantized convolution layer, end to end". Argument order follows ONNX's
    ``QLinearConv`` inputs. The steps are equation (5):

    1. ``acc = conv_integer(x, w, x_zp, w_zp, method="zero_point_pad")``, exact, padded with ``x_zp``.
    2. ``acc + bias``, which must fit int32 as it does in every engine (``OverflowError`` otherwise).
    3. Multiply by ``M_c`` with ``rounding``: ``"double"`` (TFLite), ``"single"`` (exactly rounded
       once, ties away from zero) or ``"float"`` (ONNX Runtime and PyTorch, float32, ties to even).
    4. Add ``y_zp`` and clamp to ``out_dtype``, narrowed by ``activation``.

    The multipliers are prepared with floats by :func:`output_multipliers`. With ``"double"`` and
    ``"single"`` every later step is integer-only.

    Args:
        x: uint8 or int8 tensor (N, C_in, *spatial), 1 to 3 spatial axes.
        x_scale, y_scale: positive floats, rounded to float32.
        x_zero_point, y_zero_point: ints in the range of ``x.dtype`` and ``out_dtype``, or scalar
            tensors of exactly those dtypes.
        w: uint8 or int8 tensor (C_out, C_in / groups, *kernel).
        w_scale: a positive float, or a 1-D float tensor with one scale per output channel.
        w_zero_point: an int, or a 1-D tensor of ``w.dtype`` with one zero point per output channel.
        bias: optional int32 tensor (C_out,), quantized with scale ``x_scale · w_scale_c`` and zero point 0.
        stride, padding, dilation, groups: as in :func:`qlesson.conv_integer`.
        out_dtype: ``torch.uint8`` or ``torch.int8``.
        rounding: ``"double"``, ``"single"`` or ``"float"``.
        activation: ``None``, ``"relu"`` or ``"relu6"``, fused as a clamp (:func:`activation_range`).

    Returns:
        tensor of ``out_dtype`` with shape (N, C_out, *out_spatial).
    """
    x = _check_operand("x", x)
    w = _check_operand("w", w)
    if out_dtype not in QUANTIZED_DTYPES:
        raise ValueError(localize("qlinear.bad_out_dtype", value=out_dtype))
    if rounding not in ROUNDINGS:
        raise ValueError(localize("qlinear.bad_rounding", value=rounding, choices=join_choices(ROUNDINGS)))
    _check_zero_point_dtype("x_zero_point", x_zero_point, "x", x.dtype)
    _check_zero_point_dtype("w_zero_point", w_zero_point, "w", w.dtype)
    _check_zero_point_dtype("y_zero_point", y_zero_point, "out_dtype", out_dtype)
    y_zp = _checks.check_zero_point("y_zero_point", y_zero_point, out_dtype)
    channels = w.shape[0]
    multipliers = output_multipliers(x_scale, w_scale, y_scale, channels)
    low, high = activation_range(activation, y_scale, y_zp, out_dtype)
    bias_values = None if bias is None else _check_bias(bias, channels)

    # Integer-only inference path from here on (except rounding="float", see the module docstring).
    acc = conv_integer(x, w, x_zero_point, w_zero_point, stride=stride, padding=padding,
                       dilation=dilation, groups=groups, method="zero_point_pad")
    if bias_values is not None:
        acc = acc + bias_values.view(1, channels, *([1] * (acc.dim() - 2)))
    outside = (acc < INT32_MIN) | (acc > INT32_MAX)
    if bool(outside.any()):
        index = tuple(int(i) for i in outside.nonzero()[0])
        value = int(acc[index])
        raise OverflowError(localize(
            "requantization.int32_wrap", count=int(outside.sum()), total=acc.numel(), index=index,
            exact=value, wrapped=int(wrap_int32(torch.tensor(value)))))

    return _scale_to_output(acc, multipliers, rounding, y_zp, low, high, out_dtype)


def fold_zero_point_into_bias(
    bias: torch.Tensor | None, w: torch.Tensor, x_zero_point: int, w_zero_point: int | torch.Tensor = 0,
) -> torch.Tensor:
    """Return ``bias − x_zp · Σ (w − w_zp)`` per output channel, the input zero point folded into the bias.

    Taught in "Requantization". Expanding the accumulator gives

        Σ (x − x_zp)(w − w_zp) = Σ x · (w − w_zp) − x_zp · Σ (w − w_zp),

    and the second term depends only on the weights, so engines precompute it into the bias and
    then multiply raw ``x`` values. The sum runs over every tap of the kernel, so the fold is
    exact only if each tap really contains an ``x`` value. A tap in the padding must therefore still
    contain ``x_zp``: ``x_zp · (w − w_zp)`` is what the folded constant cancels, whereas a tap padded
    with the integer 0 adds nothing and leaves ``−x_zp · (w − w_zp)`` uncancelled, the error of
    :func:`qlesson.padding_error_map`.

    Args:
        bias: int32 tensor (C_out,) or ``None`` for no bias.
        w: integer tensor (C_out, C_in / groups, *kernel).
        x_zero_point: the input zero point, an int.
        w_zero_point: an int, or a 1-D tensor with one zero point per output channel.

    Returns:
        int64 tensor (C_out,). It may leave the int32 range, so check it before storing it as int32.
    """
    w = _checks.require_integer_tensor("w", w)
    x_zp = _checks.require_int("x_zero_point", x_zero_point)
    channels = w.shape[0]
    w_zp = _checks.check_channel_zero_point("w_zero_point", w_zero_point, w.dtype, channels)
    folded = torch.zeros(channels, dtype=torch.int64) if bias is None else _check_bias(bias, channels)
    w_sums = (w.to(torch.int64).reshape(channels, -1) - w_zp.view(-1, 1)).sum(dim=1)
    return folded - x_zp * w_sums


def _scale_to_output(acc: torch.Tensor, multipliers: OutputMultipliers, rounding: str, y_zp: int, low: int,
                    high: int, out_dtype: torch.dtype) -> torch.Tensor:
    """Multiply ``acc`` by the output multipliers with ``rounding``, add ``y_zp`` and clamp to [low, high].

    The common last step of :func:`qlinear_conv` and :func:`qlesson.requantize`. Arguments are
    already checked, and ``acc`` includes the bias.
    """
    if rounding == "float":
        scaled = multiply_by_float_multiplier(acc, multipliers.float32)
    else:
        m0, shift = multipliers.fixed_point()
        scaled = multiply_by_quantized_multiplier(acc, m0, shift, rounding=rounding)
    return (scaled + y_zp).clamp(low, high).to(out_dtype)
