"""Input validation shared by the public functions.

Every check raises ``TypeError`` or ``ValueError`` with a message in the active language that
names the argument, the value received and what to pass instead, so that no raw torch error
reaches a learner.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

import torch

from .i18n import join_choices, localize, register_messages

INTEGER_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)

register_messages({
    "not_a_tensor": {
        "en": "{name} must be a torch.Tensor, got {kind}. Convert it with torch.as_tensor(...).",
        "zh-TW": "{name} 必須是 torch.Tensor，收到的是 {kind}。請先用 torch.as_tensor(...) 轉換。",
    },
    "not_integer_dtype": {
        "en": ("{name} must hold quantized integers (uint8, int8, int16, int32 or int64), got dtype {dtype}. "
               "Quantize real values first, for example with qlesson.quantize(...)."),
        "zh-TW": ("{name} 必須是量化後的整數（uint8、int8、int16、int32 或 int64），收到的資料型別是 {dtype}。"
                  "請先把實數量化，例如使用 qlesson.quantize(...)。"),
    },
    "not_an_int": {
        "en": "{name} must be an integer, got {value!r}. Pass a Python int such as 2; floats such as 2.0 and the "
              "bools True and False are not accepted.",
        "zh-TW": "{name} 必須是整數，收到的是 {value!r}。請傳入 Python 的 int，例如 2；不接受 2.0 這類浮點數，"
                 "也不接受 True、False。",
    },
    "zero_point_out_of_range": {
        "en": ("{name}={value} is outside the range of {dtype}, [{low}, {high}]. "
               "A zero point is a value of the quantized tensor's own dtype; pick one in that range."),
        "zh-TW": ("{name}={value} 超出 {dtype} 的範圍 [{low}, {high}]。"
                  "零點（zero point）是量化張量本身資料型別的一個值，請選擇此範圍內的值。"),
    },
    "per_channel_length": {
        "en": ("{name} has {length} entries but there are {channels} output channels. "
               "Pass one zero point per output channel (a 1-D tensor of length {channels}) or a single int."),
        "zh-TW": ("{name} 有 {length} 個元素，但輸出通道有 {channels} 個。"
                  "請為每個輸出通道提供一個零點（長度 {channels} 的 1 維張量），或只傳一個整數。"),
    },
    "per_channel_shape": {
        "en": "{name} must be an int or a 1-D tensor, got a tensor of shape {shape}. Flatten it with .reshape(-1).",
        "zh-TW": "{name} 必須是整數或 1 維張量，收到的張量形狀是 {shape}。請用 .reshape(-1) 攤平。",
    },
    "spatial_rank": {
        "en": ("{name} has shape {shape}: {rank} spatial dimension(s), but 1, 2 or 3 are supported. "
               "Use the layout (N, C, W), (N, C, H, W) or (N, C, D, H, W)."),
        "zh-TW": ("{name} 的形狀是 {shape}，有 {rank} 個空間維度，但只支援 1、2 或 3 個。"
                  "請使用 (N, C, W)、(N, C, H, W) 或 (N, C, D, H, W) 的排列。"),
    },
    "rank_mismatch": {
        "en": ("x has shape {x_shape} and w has shape {w_shape}: they must have the same number of dimensions, "
               "because w is (C_out, C_in / groups, *kernel) for x of shape (N, C_in, *spatial)."),
        "zh-TW": ("x 的形狀是 {x_shape}、w 的形狀是 {w_shape}，兩者的維度數必須相同，"
                  "因為對形狀 (N, C_in, *spatial) 的 x，w 的形狀是 (C_out, C_in / groups, *kernel)。"),
    },
    "bad_groups": {
        "en": ("groups={groups} is invalid: it must be a positive int that divides both C_in={c_in} "
               "and C_out={c_out}."),
        "zh-TW": "groups={groups} 無效：它必須是正整數，且能整除 C_in={c_in} 與 C_out={c_out}。",
    },
    "channel_mismatch": {
        "en": ("w has {w_channels} input channels per group but x has C_in={c_in} with groups={groups}, "
               "which needs {expected}. Make w.shape[1] equal C_in / groups."),
        "zh-TW": ("w 每組有 {w_channels} 個輸入通道，但 x 的 C_in={c_in}、groups={groups}，"
                  "需要的是 {expected}。請讓 w.shape[1] 等於 C_in / groups。"),
    },
    "bad_sequence_length": {
        "en": "{name}={value!r} has {length} entries but there are {rank} spatial dimensions. Pass one int or {rank} ints.",
        "zh-TW": "{name}={value!r} 有 {length} 個元素，但空間維度有 {rank} 個。請傳入一個整數或 {rank} 個整數。",
    },
    "not_positive": {
        "en": "{name}={value!r} must be at least 1 on every spatial axis. Use 1 for no {name}.",
        "zh-TW": "{name}={value!r} 在每個空間軸上都必須至少為 1。不需要 {name} 時請用 1。",
    },
    "not_positive_size": {
        "en": "{name}={value!r} must be at least 1 on every spatial axis. Pass 1 or more.",
        "zh-TW": "{name}={value!r} 在每個空間軸上都必須至少為 1。請傳入 1 或更大的值。",
    },
    "negative_padding": {
        "en": "padding={value!r} contains a negative amount. Padding adds positions, so use 0 or more.",
        "zh-TW": "padding={value!r} 含有負數。填補（padding）是加上位置，請使用 0 或更大的值。",
    },
    "bad_padding_form": {
        "en": ("padding={value!r} is not understood. Pass an int, one int per spatial axis, "
               "or one (before, after) pair per spatial axis."),
        "zh-TW": ("無法解讀 padding={value!r}。請傳入一個整數、每個空間軸一個整數，"
                  "或每個空間軸一組 (前, 後)。"),
    },
    "kernel_too_large": {
        "en": ("on spatial axis {axis} the dilated kernel spans {span} positions but the padded input has only "
               "{padded} ({size} + padding {before} + {after}). Add padding or use a smaller kernel or dilation."),
        "zh-TW": ("在第 {axis} 個空間軸上，擴張後的卷積核涵蓋 {span} 個位置，但填補後的輸入只有 {padded} 個"
                  "（{size} + 填補 {before} + {after}）。請加大填補，或改用較小的卷積核或擴張。"),
    },
    "empty_tensor": {
        "en": "{name} has shape {shape} with no elements. Pass a tensor with at least one element on every axis.",
        "zh-TW": "{name} 的形狀是 {shape}，沒有任何元素。請傳入每個軸至少有一個元素的張量。",
    },
    "bad_method": {
        "en": "method={value!r} is not one of {choices}.",
        "zh-TW": "method={value!r} 不是 {choices} 之一。",
    },
    "accumulator_overflow": {
        "en": ("the accumulator of this convolution can reach {bound}, beyond the int64 maximum {limit}. "
               "Use narrower inputs (uint8, int8 or int16) or values closer to the zero point."),
        "zh-TW": ("此卷積的累加器（accumulator）可能達到 {bound}，超過 int64 的最大值 {limit}。"
                  "請改用較窄的輸入（uint8、int8 或 int16），或讓數值更接近零點。"),
    },
    "bad_size": {
        "en": ("input_size={value!r} must be {rank} positive ints, the spatial size of the input "
               "(for example (D, H, W) for a 3-D kernel)."),
        "zh-TW": "input_size={value!r} 必須是 {rank} 個正整數，也就是輸入的空間大小（例如三維卷積核用 (D, H, W)）。",
    },
})


def dtype_range(dtype: torch.dtype) -> tuple[int, int]:
    """Return the smallest and largest value of integer ``dtype``."""
    info = torch.iinfo(dtype)
    return int(info.min), int(info.max)


def max_offset(dtype: torch.dtype, zero_point_low: int, zero_point_high: int | None = None) -> int:
    """Return max |q − zp| over every q of integer ``dtype`` and every zp in [zero_point_low, zero_point_high].

    ``zero_point_high`` defaults to ``zero_point_low``, for a single zero point.
    """
    low, high = dtype_range(dtype)
    zero_point_high = zero_point_low if zero_point_high is None else zero_point_high
    return max(high - zero_point_low, zero_point_high - low)


def require_tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(localize("not_a_tensor", name=name, kind=type(value).__name__))
    return value


def require_integer_tensor(name: str, value: object) -> torch.Tensor:
    tensor = require_tensor(name, value)
    if tensor.dtype not in INTEGER_DTYPES:
        raise TypeError(localize("not_integer_dtype", name=name, dtype=str(tensor.dtype).replace("torch.", "")))
    if tensor.numel() == 0:
        raise ValueError(localize("empty_tensor", name=name, shape=tuple(tensor.shape)))
    return tensor


def require_int(name: str, value: object) -> int:
    # bool is an int subclass, but True as a zero point or stride is always a mistake.
    if isinstance(value, bool):
        raise TypeError(localize("not_an_int", name=name, value=value))
    if isinstance(value, torch.Tensor):
        if value.numel() == 1 and value.dtype in INTEGER_DTYPES:
            return int(value.item())
        raise TypeError(localize("not_an_int", name=name, value=value))
    try:
        # operator.index takes Python and NumPy integers but no floats.
        return operator.index(value)
    except TypeError:
        raise TypeError(localize("not_an_int", name=name, value=value)) from None


def check_zero_point(name: str, value: object, dtype: torch.dtype) -> int:
    """Validate a per-tensor zero point against the range of ``dtype`` and return it as an int."""
    zero_point = require_int(name, value)
    low, high = dtype_range(dtype)
    if not low <= zero_point <= high:
        raise ValueError(localize(
            "zero_point_out_of_range", name=name, value=zero_point,
            dtype=str(dtype).replace("torch.", ""), low=low, high=high,
        ))
    return zero_point


def check_channel_zero_point(name: str, value: object, dtype: torch.dtype, channels: int) -> torch.Tensor:
    """Validate a per-tensor or per-channel zero point and return it as an int64 tensor of length ``channels``."""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        if value.dim() != 1:
            raise ValueError(localize("per_channel_shape", name=name, shape=tuple(value.shape)))
        if value.dtype not in INTEGER_DTYPES:
            raise TypeError(localize("not_integer_dtype", name=name, dtype=str(value.dtype).replace("torch.", "")))
        if value.numel() != channels:
            raise ValueError(localize("per_channel_length", name=name, length=value.numel(), channels=channels))
        low, high = dtype_range(dtype)
        values = value.to(torch.int64)
        outside = values[(values < low) | (values > high)]
        if outside.numel():
            raise ValueError(localize(
                "zero_point_out_of_range", name=name, value=int(outside[0]),
                dtype=str(dtype).replace("torch.", ""), low=low, high=high,
            ))
        return values
    return torch.full((channels,), check_zero_point(name, value, dtype), dtype=torch.int64)


def spatial_rank(name: str, tensor: torch.Tensor) -> int:
    rank = tensor.dim() - 2
    if rank not in (1, 2, 3):
        raise ValueError(localize("spatial_rank", name=name, shape=tuple(tensor.shape), rank=max(rank, 0)))
    return rank


def expand_per_axis(name: str, value: object, rank: int, minimum: int = 1) -> tuple[int, ...]:
    """Expand an int or a sequence of ``rank`` ints, each at least ``minimum``."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != rank:
            raise ValueError(localize("bad_sequence_length", name=name, value=value, length=len(value), rank=rank))
        values = tuple(require_int(name, item) for item in value)
    else:
        values = (require_int(name, value),) * rank
    if any(item < minimum for item in values):
        # A stride or dilation of 1 means "none", but a size such as kernel_size has no such meaning.
        key = "not_positive" if name in ("stride", "dilation") else "not_positive_size"
        raise ValueError(localize(key, name=name, value=value))
    return values


def expand_padding(value: object, rank: int) -> tuple[tuple[int, int], ...]:
    """Expand ``padding`` to one ``(before, after)`` pair per spatial axis.

    Accepts an int, ``rank`` ints, or ``rank`` pairs, the last form for asymmetric padding
    such as TensorFlow's ``SAME`` needs.
    """
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != rank:
            raise ValueError(localize("bad_sequence_length", name="padding", value=value, length=len(value), rank=rank))
        pairs = []
        for item in value:
            if isinstance(item, Sequence) and not isinstance(item, str):
                if len(item) != 2:
                    raise ValueError(localize("bad_padding_form", value=value))
                pairs.append((require_int("padding", item[0]), require_int("padding", item[1])))
            else:
                amount = require_int("padding", item)
                pairs.append((amount, amount))
    else:
        amount = require_int("padding", value)
        pairs = [(amount, amount)] * rank
    if any(before < 0 or after < 0 for before, after in pairs):
        raise ValueError(localize("negative_padding", value=value))
    return tuple(pairs)


def check_method(value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(localize("bad_method", value=value, choices=join_choices(choices)))
    return value  # type: ignore[return-value]
