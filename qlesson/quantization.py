"""Affine quantization: ``r = S (q − Z)`` for uint8 and int8.

Taught in "The padding trap in integer convolution" and "Affine quantization". This is the
preparation side, where float arithmetic is allowed: choosing a scale ``S`` and a zero point
``Z``, and mapping real tensors to integers and back.
"""

from __future__ import annotations

import math
import numbers
import sys

import torch

from . import _checks
from .i18n import localize, register_messages

QUANTIZED_DTYPES = (torch.uint8, torch.int8)

register_messages({
    "bad_qdtype": {
        "en": "dtype={dtype!r} is not supported here; use torch.uint8 or torch.int8.",
        "zh-TW": "這裡不支援 dtype={dtype!r}，請使用 torch.uint8 或 torch.int8。",
    },
    "not_finite": {
        "en": "{name}={value!r} is not a finite number. Pass a real number (not NaN or infinity).",
        "zh-TW": "{name}={value!r} 不是有限的數值。請傳入實數（不能是 NaN 或無限大）。",
    },
    "not_a_number": {
        "en": "{name}={value!r} must be a real number such as -1.0 or 2.5.",
        "zh-TW": "{name}={value!r} 必須是實數，例如 -1.0 或 2.5。",
    },
    "not_a_bool": {
        "en": "{name}={value!r} must be True or False.",
        "zh-TW": "{name}={value!r} 必須是 True 或 False。",
    },
    "bad_range": {
        "en": "r_min={r_min} is larger than r_max={r_max}. Pass the smallest real value first.",
        "zh-TW": "r_min={r_min} 大於 r_max={r_max}。請先傳入最小的實數值。",
    },
    "bad_scale": {
        "en": "{name}={value!r} must be a finite number greater than 0. A scale is the real step between two integers.",
        "zh-TW": "{name}={value!r} 必須是大於 0 的有限數值。縮放因子（scale）是兩個相鄰整數之間的實數間距。",
    },
    "not_finite_tensor": {
        "en": "{name} contains {count} NaN or infinite value(s). Replace or clip them before quantizing.",
        "zh-TW": "{name} 含有 {count} 個 NaN 或無限大的值。請先取代或截斷（clip）這些值再量化。",
    },
    "not_float_tensor": {
        "en": "{name} must be a floating-point tensor of real values, got dtype {dtype}. Use .float() first.",
        "zh-TW": "{name} 必須是存放實數的浮點數張量，收到的資料型別是 {dtype}。請先使用 .float()。",
    },
    "bad_axis": {
        "en": "axis={axis} is not an axis of a tensor with shape {shape}. Use an axis from 0 to {last}.",
        "zh-TW": "axis={axis} 不是形狀為 {shape} 的張量的軸。請使用 0 到 {last} 之間的軸。",
    },
    "per_tensor_params": {
        "en": ("scale has {scales} entries and zero_point has {zero_points}, but without axis one of each is "
               "expected. Pass axis=<channel axis> for per-channel quantization."),
        "zh-TW": ("scale 有 {scales} 個元素、zero_point 有 {zero_points} 個，但未指定 axis 時兩者各只能有一個。"
                  "若要逐通道量化，請傳入 axis=<通道所在的軸>。"),
    },
    "per_channel_params": {
        "en": ("scale has {scales} entries and zero_point has {zero_points}, but axis {axis} of the tensor has "
               "{channels}. Pass one scale and one zero point per channel, or one of each for the whole tensor."),
        "zh-TW": ("scale 有 {scales} 個元素、zero_point 有 {zero_points} 個，但張量第 {axis} 軸有 {channels} 個。"
                  "請每個通道各給一個縮放因子與零點，或整個張量各給一個。"),
    },
})


# The smallest positive float64 (5e-324). A range narrower than about 128 of these, divided into
# 255 steps, gives a scale that rounds to 0, so the scale is never chosen smaller than this.
_MIN_SCALE = math.ulp(0.0)


def _check_qdtype(dtype: object) -> torch.dtype:
    if dtype not in QUANTIZED_DTYPES:
        raise ValueError(localize("bad_qdtype", dtype=dtype))
    return dtype  # type: ignore[return-value]


def _check_finite(name: str, value: object) -> float:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.dtype != torch.bool:
        value = value.item()
    # numbers.Real takes Python and NumPy ints and floats; bool is an int but never a real bound.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(localize("not_a_number", name=name, value=value))
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(localize("not_finite", name=name, value=value))
    return float(value)


def quantized_range(dtype: torch.dtype, *, narrow: bool = False) -> tuple[int, int]:
    """Return ``(q_min, q_max)`` of ``dtype``; ``narrow`` drops the lowest value (int8: −127..127)."""
    low, high = _checks.dtype_range(_check_qdtype(dtype))
    return (low + 1 if narrow else low), high


def choose_qparams(
    r_min: float, r_max: float, dtype: torch.dtype = torch.uint8, *, symmetric: bool = False,
) -> tuple[float, int]:
    """Choose a scale and zero point that map the real range ``[r_min, r_max]`` onto ``dtype``.

    The range is first widened to contain 0, so that real 0 is exactly the integer ``Z``: that is
    what lets padding, ReLU and zero-initialised buffers be exact. The asymmetric form maps
    ``r_min`` to ``q_min`` and ``r_max`` to ``q_max``; the symmetric form, the convention for
    weights, uses ``Z = 0`` for int8 (``Z = 128`` for uint8) and the narrow range −127..127, as
    TFLite does, so that ``−S · 127`` and ``S · 127`` are both representable.

    Returns:
        ``(scale, zero_point)``: a Python float and a Python int in the range of ``dtype``.
    """
    if not isinstance(symmetric, bool):
        raise TypeError(localize("not_a_bool", name="symmetric", value=symmetric))
    r_min = _check_finite("r_min", r_min)
    r_max = _check_finite("r_max", r_max)
    if r_min > r_max:
        raise ValueError(localize("bad_range", r_min=r_min, r_max=r_max))
    _check_qdtype(dtype)
    r_min, r_max = min(r_min, 0.0), max(r_max, 0.0)
    if symmetric:
        q_min, q_max = quantized_range(dtype, narrow=True)
        half_steps = (q_max - q_min) // 2
        bound = max(-r_min, r_max)
        scale = max(bound / half_steps, _MIN_SCALE) if bound > 0 else 1.0
        zero_point = 0 if dtype == torch.int8 else 128
        return scale, zero_point
    q_min, q_max = quantized_range(dtype)
    if r_max == r_min:  # both are 0: any scale represents the range exactly
        return 1.0, 0 if dtype == torch.int8 else q_min
    # Dividing before subtracting keeps the scale finite when r_max − r_min overflows a float.
    scale = max(r_max / (q_max - q_min) - r_min / (q_max - q_min), _MIN_SCALE)
    zero_point = int(min(max(q_min - round(r_min / scale), q_min), q_max))
    # Near the float maximum an end of the grid can land past it; shrink the step so both ends stay finite.
    widest = max(q_max - zero_point, zero_point - q_min)
    if not math.isfinite(scale * widest):
        scale = sys.float_info.max / widest
        while not math.isfinite(scale * widest):
            scale = math.nextafter(scale, 0.0)
    return scale, zero_point


def _per_axis(tensor: torch.Tensor, scale: object, zero_point: object, axis: int | None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return scale (float64) and zero point (int64) shaped to broadcast along ``axis`` of ``tensor``."""
    scales = _number_tensor(scale)
    if scales is None or scales.dtype == torch.bool or scales.is_complex():
        raise TypeError(localize("bad_scale", name="scale", value=scale))
    scales = scales.to(torch.float64).reshape(-1)
    zero_points = _number_tensor(zero_point)
    if zero_points is None or zero_points.dtype not in _checks.INTEGER_DTYPES:
        raise TypeError(localize("not_an_int", name="zero_point", value=zero_point))
    zero_points = zero_points.to(torch.int64).reshape(-1)
    bad_scale = ~torch.isfinite(scales) | (scales <= 0)
    if bool(bad_scale.any()):
        raise ValueError(localize("bad_scale", name="scale", value=float(scales[bad_scale][0])))
    if axis is None:
        if scales.numel() != 1 or zero_points.numel() != 1:
            raise ValueError(localize("per_tensor_params", scales=scales.numel(), zero_points=zero_points.numel()))
        return scales.reshape(()), zero_points.reshape(())
    axis = _checks.require_int("axis", axis)
    if not -tensor.dim() <= axis < tensor.dim():
        raise ValueError(localize("bad_axis", axis=axis, shape=tuple(tensor.shape), last=tensor.dim() - 1))
    axis %= tensor.dim()
    channels = tensor.shape[axis]
    if scales.numel() not in (1, channels) or zero_points.numel() not in (1, channels):
        raise ValueError(localize(
            "per_channel_params", scales=scales.numel(), zero_points=zero_points.numel(), axis=axis,
            channels=channels))
    shape = [1] * tensor.dim()
    shape[axis] = -1
    return scales.expand(channels).reshape(shape), zero_points.expand(channels).reshape(shape)


def _number_tensor(value: object) -> torch.Tensor | None:
    """Return ``value`` (a number, a sequence of numbers or a tensor) as a tensor, or None for any other value.

    Python floats become float64, not torch's default float32, so that a scale keeps every bit.
    """
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (str, bytes)) or value is None:
        return None
    try:
        inferred = torch.as_tensor(value)
        if inferred.is_floating_point():
            return torch.as_tensor(value, dtype=torch.float64)
        return inferred
    except (TypeError, ValueError, RuntimeError):
        return None


def quantize(
    r: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor,
    dtype: torch.dtype = torch.uint8, *, axis: int | None = None,
) -> torch.Tensor:
    """Quantize real values: ``q = clamp(round(r / S) + Z, q_min, q_max)``.

    Rounding is half to even, as ONNX's QuantizeLinear does. With ``axis``, ``scale`` and
    ``zero_point`` are 1-D with one entry per channel along that axis (per-channel quantization).

    Returns:
        a tensor of ``dtype`` with the shape of ``r``.
    """
    r = _checks.require_tensor("r", r)
    if not r.is_floating_point():
        raise TypeError(localize("not_float_tensor", name="r", dtype=str(r.dtype).replace("torch.", "")))
    _check_qdtype(dtype)
    scales, zero_points = _per_axis(r, scale, zero_point, axis)
    low, high = _checks.dtype_range(dtype)
    outside = zero_points[(zero_points < low) | (zero_points > high)]
    if outside.numel():
        raise ValueError(localize(
            "zero_point_out_of_range", name="zero_point", value=int(outside.reshape(-1)[0]),
            dtype=str(dtype).replace("torch.", ""), low=low, high=high))
    not_finite = int((~torch.isfinite(r)).sum())
    if not_finite:
        raise ValueError(localize("not_finite_tensor", name="r", count=not_finite))
    steps = torch.round(r.to(torch.float64) / scales)
    return (steps + zero_points).clamp(low, high).to(dtype)


def dequantize(
    q: torch.Tensor, scale: float | torch.Tensor, zero_point: int | torch.Tensor, *, axis: int | None = None,
) -> torch.Tensor:
    """Map integers back to real values, ``r = S (q − Z)``, as float64 so that no step is rounded."""
    q = _checks.require_integer_tensor("q", q)
    scales, zero_points = _per_axis(q, scale, zero_point, axis)
    low, high = _checks.dtype_range(q.dtype)
    outside = zero_points[(zero_points < low) | (zero_points > high)]
    if outside.numel():
        raise ValueError(localize(
            "zero_point_out_of_range", name="zero_point", value=int(outside.reshape(-1)[0]),
            dtype=str(q.dtype).replace("torch.", ""), low=low, high=high))
    return scales * (q.to(torch.int64) - zero_points).to(torch.float64)
