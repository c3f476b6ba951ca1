"""The padding trap beyond convolution: pooling, depthwise and transposed convolution, padding modes.

Taught in the lesson "Where else the trap lives". Some operations read values that are not in
their input: a padded border position, or a gap that a transposed convolution inserts between
input values. The float model reads a real value there, so the integer model must read the
integer that stands for that same real value:

- average pooling with ``count_include_pad=True`` and transposed convolution read real 0, which is
  the integer zero point ``x_zp``;
- max pooling reads −inf, which the dtype's minimum, or skipping the position, replaces;
- reflect, replicate and circular padding copy input values, so they need no zero point at all;
- constant padding with a constant ``c`` reads ``round(c / S) + x_zp``.

The functions here are on the integer-only inference path and compute in int64. Only
:func:`pad_integer` uses floats, to quantize its constant once before any padding is done.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from . import _checks
from .convolution import ConvGeometry, _check_accumulator_bound, _extreme_distance, conv_geometry
from .i18n import join_choices, localize, register_messages
from .plots import error_heatmaps

TransposeMethod = Literal["zero_point_fill", "naive_zero_fill"]
PadMode = Literal["constant", "reflect", "replicate", "circular"]

#: The ways :func:`conv_transpose_integer` can fill the positions that hold no input value.
TRANSPOSE_METHODS: tuple[str, ...] = ("zero_point_fill", "naive_zero_fill")
#: The padding modes of :func:`pad_integer`, named as in ``torch.nn.functional.pad``.
PAD_MODES: tuple[str, ...] = ("constant", "reflect", "replicate", "circular")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

register_messages({
    "elsewhere.channel": {"en": "channel {channel}", "zh-TW": "通道 {channel}"},
    "elsewhere.output_steps": {
        "en": "error (integer steps of the output)",
        "zh-TW": "誤差（輸出的整數步數）",
    },
    "elsewhere.not_bool": {
        "en": "{name} must be True or False, got {value!r}.",
        "zh-TW": "{name} 必須是 True 或 False，收到的是 {value!r}。",
    },
    "elsewhere.kernel_rank": {
        "en": ("{name}={value!r} does not match x of shape {shape}, which has {rank} spatial axes. "
               "Pass one int, or one int per spatial axis."),
        "zh-TW": ("{name}={value!r} 與形狀為 {shape} 的 x 不符，x 有 {rank} 個空間軸。"
                  "請傳入一個整數，或每個空間軸一個整數。"),
    },
    "elsewhere.pool_padding_too_large": {
        "en": ("padding {amount} on spatial axis {axis} is more than half of the kernel size {kernel}. "
               "PyTorch's pooling rejects this too; use at most {limit}."),
        "zh-TW": ("第 {axis} 個空間軸的填補 {amount} 超過卷積核大小 {kernel} 的一半，"
                  "PyTorch 的池化也不接受。請使用不超過 {limit} 的值。"),
    },
    "elsewhere.window_in_padding": {
        "en": ("on spatial axis {axis} the window of output {position} lies entirely in the padding, so it "
               "holds no input value to take the maximum of. Use less padding or a smaller dilation."),
        "zh-TW": ("在第 {axis} 個空間軸上，輸出 {position} 的視窗完全落在填補區，沒有任何輸入值可以取最大值。"
                  "請減少填補或改用較小的擴張。"),
    },
    "elsewhere.pad_value_out_of_range": {
        "en": ("{name}={value} is outside the range of {dtype}, [{low}, {high}]. The padding is stored in "
               "the input's own dtype; pick a value in that range."),
        "zh-TW": ("{name}={value} 超出 {dtype} 的範圍 [{low}, {high}]。填補值以輸入本身的資料型別儲存，"
                  "請選擇此範圍內的值。"),
    },
    "elsewhere.sum_overflow": {
        "en": ("the window sums of this pooling can reach {bound}, beyond the int64 maximum {limit}. "
               "Use narrower inputs (uint8, int8 or int16) or values closer to the zero point."),
        "zh-TW": ("此池化的視窗總和可能達到 {bound}，超過 int64 的最大值 {limit}。"
                  "請改用較窄的輸入（uint8、int8 或 int16），或讓數值更接近零點。"),
    },
    "elsewhere.negative_amount": {
        "en": "{name}={value!r} contains a negative amount. Use 0 or more on every spatial axis.",
        "zh-TW": "{name}={value!r} 含有負數。每個空間軸都請使用 0 或更大的值。",
    },
    "elsewhere.transpose_in_channels": {
        "en": ("w has shape {w_shape} but x has C_in={c_in}: the first axis of w must equal C_in, because the "
               "weight of a transposed convolution is (C_in, C_out / groups, *kernel)."),
        "zh-TW": ("w 的形狀是 {w_shape}，但 x 的 C_in={c_in}：w 的第一個軸必須等於 C_in，"
                  "因為轉置卷積的權重形狀是 (C_in, C_out / groups, *kernel)。"),
    },
    "elsewhere.transpose_groups": {
        "en": "groups={groups} is invalid: it must be a positive int that divides C_in={c_in}.",
        "zh-TW": "groups={groups} 無效：它必須是能整除 C_in={c_in} 的正整數。",
    },
    "elsewhere.output_padding_too_large": {
        "en": ("output_padding {amount} on spatial axis {axis} must be smaller than the stride ({stride}) or "
               "the dilation ({dilation}) of that axis, as in PyTorch. Use a smaller output_padding."),
        "zh-TW": ("第 {axis} 個空間軸的 output_padding {amount} 必須小於該軸的步幅（{stride}）或擴張（{dilation}），"
                  "和 PyTorch 的規定相同。請使用較小的 output_padding。"),
    },
    "elsewhere.empty_transpose_output": {
        "en": ("on spatial axis {axis} the output would have {size} positions: (n − 1)·stride − 2·padding + "
               "dilation·(kernel − 1) + output_padding + 1 with n={n}. Use less padding."),
        "zh-TW": ("在第 {axis} 個空間軸上，輸出只會有 {size} 個位置：(n − 1)·stride − 2·padding + "
                  "dilation·(kernel − 1) + output_padding + 1，其中 n={n}。請減少填補。"),
    },
    "elsewhere.bad_mode": {
        "en": "mode={value!r} is not one of {choices}.",
        "zh-TW": "mode={value!r} 不是 {choices} 之一。",
    },
    "elsewhere.reflect_too_large": {
        "en": ("reflect padding of {amount} on spatial axis {axis} needs more than {amount} input positions, "
               "but that axis has {size}. Use less padding, or mode='replicate'."),
        "zh-TW": ("第 {axis} 個空間軸的 reflect 填補為 {amount}，需要超過 {amount} 個輸入位置，"
                  "但該軸只有 {size} 個。請減少填補，或改用 mode='replicate'。"),
    },
    "elsewhere.circular_too_large": {
        "en": ("circular padding of {amount} on spatial axis {axis} is larger than that axis, {size} positions, "
               "so it would wrap around more than once. Use at most {size}."),
        "zh-TW": ("第 {axis} 個空間軸的 circular 填補為 {amount}，比該軸的 {size} 個位置還多，"
                  "會繞回不只一次。請使用不超過 {size} 的值。"),
    },
    "elsewhere.value_needs_constant": {
        "en": "value={value!r} is only used by mode='constant'; mode={mode!r} copies input values. Leave value at 0.",
        "zh-TW": "value={value!r} 只用於 mode='constant'；mode={mode!r} 是複製輸入值。請讓 value 維持 0。",
    },
    "elsewhere.scale_needed": {
        "en": ("value={value!r} is not 0, so its integer round(value / scale) + x_zero_point needs the input's "
               "scale. Pass scale=S."),
        "zh-TW": "value={value!r} 不是 0，它的整數 round(value / scale) + x_zero_point 需要輸入的縮放因子。請傳入 scale=S。",
    },
    "elsewhere.constant_out_of_range": {
        "en": ("value={value!r} quantizes to round({value!r} / {scale!r}) + {zero_point} = {q}, outside the range "
               "of {dtype}, [{low}, {high}], so the input's quantization cannot represent it. "
               "Pick a constant inside the input's real range."),
        "zh-TW": ("value={value!r} 量化後是 round({value!r} / {scale!r}) + {zero_point} = {q}，超出 {dtype} 的範圍 "
                  "[{low}, {high}]，輸入的量化方式無法表示它。請選擇落在輸入實數範圍內的常數。"),
    },
    "elsewhere.bad_padding_size": {
        "en": "size={size!r}, before={before!r} and after={after!r} must be ints, size at least 1 and the others at least 0.",
        "zh-TW": "size={size!r}、before={before!r} 與 after={after!r} 必須是整數，size 至少為 1，其他至少為 0。",
    },
    "elsewhere.panel_map_rank": {
        "en": ("maps has shape {shape}, but panel_heatmaps takes one 2-D map per panel, (P, H, W). "
               "Select one batch item first, for example error[0]."),
        "zh-TW": ("maps 的形狀是 {shape}，但 panel_heatmaps 接受的是每格一張二維圖 (P, H, W)。"
                  "請先選出一個批次項目，例如 error[0]。"),
    },
    "elsewhere.panel_titles": {
        "en": "panel_titles={value!r} must be a list of {count} titles, one per map.",
        "zh-TW": "panel_titles={value!r} 必須是含 {count} 個標題的串列，每張圖一個。",
    },
})


# ---------------------------------------------------------------- shared helpers


def _divide_round_half_even(numerator: torch.Tensor, denominator: torch.Tensor | int) -> torch.Tensor:
    """Divide int64 tensors exactly and round the quotient half to even, with integer operations only."""
    quotient = torch.div(numerator, denominator, rounding_mode="floor")
    remainder = numerator - quotient * denominator  # 0 <= remainder < denominator
    twice = 2 * remainder
    odd = torch.remainder(quotient, 2) == 1
    round_up = (twice > denominator) | ((twice == denominator) & odd)
    return quotient + round_up.to(torch.int64)


def _pad_exact(tensor: torch.Tensor, pairs: tuple[tuple[int, int], ...], fill: int) -> torch.Tensor:
    """Pad the spatial axes of (N, C, *spatial) with ``fill``, cropping where an amount is negative.

    ``F.pad`` converts its fill to float64 (torch 2.13 pads an int64 tensor with −2**63 when asked
    for −2**63 + 3), so large int64 fills are written with ``torch.full`` instead.
    """
    crop = tuple(slice(max(-before, 0), size - max(-after, 0))
                 for size, (before, after) in zip(tensor.shape[2:], pairs))
    cropped = tensor[(slice(None), slice(None), *crop)]
    inner = tuple(slice(max(before, 0), max(before, 0) + size) for size, (before, _) in zip(cropped.shape[2:], pairs))
    shape = [size + max(before, 0) + max(after, 0) for size, (before, after) in zip(cropped.shape[2:], pairs)]
    padded = torch.full((*cropped.shape[:2], *shape), fill, dtype=tensor.dtype)
    padded[(slice(None), slice(None), *inner)] = cropped
    return padded


def _windows(padded: torch.Tensor, geometry: ConvGeometry) -> torch.Tensor:
    """Return every window of ``padded`` (N, C, *spatial) as (N, C, *out_spatial, taps), taps last."""
    windows = padded
    for axis in range(geometry.rank):
        span = geometry.dilation[axis] * (geometry.kernel_size[axis] - 1) + 1
        # unfold appends the window axis at the end; every dilation-th entry of it is a tap.
        windows = windows.unfold(2 + axis, span, geometry.stride[axis])[..., ::geometry.dilation[axis]]
    return windows.reshape(*windows.shape[:2 + geometry.rank], -1)


def _kernel_sizes(name: str, value: object, x: torch.Tensor, rank: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list, torch.Size)) and len(value) != rank:
        raise ValueError(localize("elsewhere.kernel_rank", name=name, value=value, shape=tuple(x.shape), rank=rank))
    return _checks.expand_per_axis(name, value, rank)


def _pool_geometry(x: torch.Tensor, kernel_size: object, stride: object, padding: object,
                   dilation: object) -> ConvGeometry:
    """Validate a pooling's hyperparameters against PyTorch's rules and return its geometry."""
    rank = _checks.spatial_rank("x", x)
    kernel = _kernel_sizes("kernel_size", kernel_size, x, rank)
    stride = kernel if stride is None else stride
    geometry = conv_geometry(tuple(x.shape[2:]), 1, (1, 1, *kernel),
                             stride=stride, padding=padding, dilation=dilation)
    for axis, ((before, after), k) in enumerate(zip(geometry.padding, kernel)):
        amount = max(before, after)
        if amount > k // 2:
            raise ValueError(localize("elsewhere.pool_padding_too_large", amount=amount, axis=axis,
                                      kernel=k, limit=k // 2))
    return geometry


def _check_pad_value(name: str, value: object, dtype: torch.dtype) -> int:
    pad_value = _checks.require_int(name, value)
    low, high = _checks.dtype_range(dtype)
    if not low <= pad_value <= high:
        raise ValueError(localize("elsewhere.pad_value_out_of_range", name=name, value=pad_value,
                                  dtype=str(dtype).replace("torch.", ""), low=low, high=high))
    return pad_value


# ---------------------------------------------------------------- pooling


def avg_pool_integer(
    x: torch.Tensor,
    kernel_size: int | tuple[int, ...],
    x_zero_point: int = 0,
    *,
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple = 0,
    count_include_pad: bool = True,
    pad_value: int | None = None,
) -> torch.Tensor:
    """Average-pool a quantized tensor with integer arithmetic only; the output keeps its scale and zero point.

    Taught in "Where else the trap lives". Averaging commutes with ``r = S (q − Z)``, so with the
    same ``S`` and ``Z`` for the output, the quantized average of a window of ``K`` taps is

        q_out = Z + round(Σ (q − Z) / divisor)

    with the division done exactly and rounded half to even, as ``qlesson.quantize`` rounds
    ``r / S`` before adding ``Z``. ONNX Runtime 1.31's ``QLinearAveragePool`` rounds the sum
    ``r / S + Z`` instead, so at an exact tie with an odd ``Z`` the two differ by 1; for an even
    ``Z`` they agree everywhere (the tests check this). With ``count_include_pad=True`` the
    divisor is every tap of the kernel, and each padded tap must add real 0, which is ``q = Z``.
    Padding the integer tensor with 0 instead adds ``−Z`` per padded tap and pulls a border output
    toward the real value ``−S·Z``. With ``count_include_pad=False`` padded taps are left out of both
    the sum and the divisor, so no padded value is ever read.

    Args:
        x: integer tensor (N, C, *spatial) with 1, 2 or 3 spatial axes.
        kernel_size: an int, or one int per spatial axis.
        x_zero_point: the integer that stands for real 0 in ``x``, in the range of ``x.dtype``.
        stride: an int or one int per spatial axis; the default is ``kernel_size``, as in PyTorch.
        padding: an int, one int per spatial axis, or one (before, after) pair per spatial axis.
            Each amount is at most half the kernel size, as PyTorch requires.
        count_include_pad: whether padded taps count in the divisor, as in ``torch.nn.AvgPool2d``.
        pad_value: the integer stored at padded positions. The default, ``x_zero_point``, is exact;
            pass 0 to reproduce the trap. It is not read when ``count_include_pad`` is False.

    Returns:
        tensor of ``x.dtype`` (N, C, *out_spatial). An average of values in the dtype's range stays
        in that range, so nothing saturates. ``ceil_mode`` and ``divisor_override`` are not supported.
    """
    x = _checks.require_integer_tensor("x", x)
    geometry = _pool_geometry(x, kernel_size, stride, padding, 1)
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype)
    if not isinstance(count_include_pad, bool):
        raise TypeError(localize("elsewhere.not_bool", name="count_include_pad", value=count_include_pad))
    fill = x_zp if pad_value is None else _check_pad_value("pad_value", pad_value, x.dtype)
    # Every partial sum is at most K taps of the largest |q − Z|, padding included.
    bound = math.prod(geometry.kernel_size) * max(_extreme_distance(x, x_zp), abs(fill - x_zp))
    limit = torch.iinfo(torch.int64).max
    if bound > limit:
        raise ValueError(localize("elsewhere.sum_overflow", bound=bound, limit=limit))

    centered = x.to(torch.int64) - x_zp
    if count_include_pad:
        padded = _pad_exact(centered, geometry.padding, fill - x_zp)
        divisor: torch.Tensor | int = math.prod(geometry.kernel_size)
    else:
        # A centered padding of 0 adds nothing to the sum. The divisor counts the taps inside x.
        padded = _pad_exact(centered, geometry.padding, 0)
        inside = _pad_exact(torch.ones((1, 1, *geometry.input_size), dtype=torch.int64), geometry.padding, 0)
        divisor = _windows(inside, geometry).sum(dim=-1)
    sums = _windows(padded, geometry).sum(dim=-1)
    return (x_zp + _divide_round_half_even(sums, divisor)).to(x.dtype)


def max_pool_integer(
    x: torch.Tensor,
    kernel_size: int | tuple[int, ...],
    *,
    stride: int | tuple[int, ...] | None = None,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    pad_value: int | None = None,
) -> torch.Tensor:
    """Max-pool a quantized tensor with integer arithmetic only; the output keeps its scale and zero point.

    Taught in "Where else the trap lives". The map ``r = S (q − Z)`` is increasing (``S > 0``), so
    the largest real value of a window is the real value of its largest integer, and no zero point
    is needed. PyTorch pads max pooling with −inf, a value that never wins. In the integer domain
    the dtype's minimum takes its place. Every window contains at least one input value, which is at
    least the minimum, so the result is the same as skipping the padding. Padding with 0 (real
    ``−S·Z``) or with ``Z`` (real 0) instead can exceed every input value of a window and raise its
    maximum. For uint8, 0 happens to be the minimum and so is exact.

    Args:
        x: integer tensor (N, C, *spatial) with 1, 2 or 3 spatial axes.
        kernel_size: an int, or one int per spatial axis.
        stride: an int or one int per spatial axis; the default is ``kernel_size``, as in PyTorch.
        padding: an int, one int per spatial axis, or one (before, after) pair per spatial axis.
            Each amount is at most half the kernel size, as PyTorch requires.
        dilation: an int, or one int per spatial axis, each at least 1.
        pad_value: the integer stored at padded positions; the default is the minimum of ``x.dtype``.

    Returns:
        tensor of ``x.dtype`` (N, C, *out_spatial). ``ceil_mode`` is not supported.
    """
    x = _checks.require_integer_tensor("x", x)
    geometry = _pool_geometry(x, kernel_size, stride, padding, dilation)
    _check_every_window_reads_input(geometry)
    fill = _checks.dtype_range(x.dtype)[0] if pad_value is None else _check_pad_value("pad_value", pad_value, x.dtype)
    padded = _pad_exact(x.to(torch.int64), geometry.padding, fill)
    return _windows(padded, geometry).amax(dim=-1).to(x.dtype)


def _check_every_window_reads_input(geometry: ConvGeometry) -> None:
    """Raise if some window's taps all fall in the padding, which a large dilation can cause."""
    for axis in range(geometry.rank):
        outputs = torch.arange(geometry.output_size[axis])
        first = outputs * geometry.stride[axis] - geometry.padding[axis][0]
        taps = first.unsqueeze(1) + geometry.dilation[axis] * torch.arange(geometry.kernel_size[axis])
        reads_input = ((taps >= 0) & (taps < geometry.input_size[axis])).any(dim=1)
        if not bool(reads_input.all()):
            position = int(torch.nonzero(~reads_input)[0])
            raise ValueError(localize("elsewhere.window_in_padding", axis=axis, position=position))


# ---------------------------------------------------------------- transposed convolution


def _transpose_geometry(x: torch.Tensor, w: torch.Tensor, stride: object, padding: object, output_padding: object,
                        dilation: object, groups: object) -> dict[str, object]:
    """Validate a transposed convolution and return its per-axis hyperparameters and channel counts."""
    rank = _checks.spatial_rank("x", x)
    if w.dim() != x.dim():
        raise ValueError(localize("rank_mismatch", x_shape=tuple(x.shape), w_shape=tuple(w.shape)))
    in_channels = x.shape[1]
    groups = _checks.require_int("groups", groups)
    if groups < 1 or in_channels % groups:
        raise ValueError(localize("elsewhere.transpose_groups", groups=groups, c_in=in_channels))
    if w.shape[0] != in_channels:
        raise ValueError(localize("elsewhere.transpose_in_channels", w_shape=tuple(w.shape), c_in=in_channels))
    kernel = tuple(w.shape[2:])
    stride = _checks.expand_per_axis("stride", stride, rank)
    dilation = _checks.expand_per_axis("dilation", dilation, rank)
    padding_ = _non_negative_per_axis("padding", padding, rank)
    output_padding_ = _non_negative_per_axis("output_padding", output_padding, rank)
    output_size = []
    for axis in range(rank):
        if output_padding_[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(localize("elsewhere.output_padding_too_large", amount=output_padding_[axis], axis=axis,
                                      stride=stride[axis], dilation=dilation[axis]))
        n = x.shape[2 + axis]
        size = ((n - 1) * stride[axis] - 2 * padding_[axis] + dilation[axis] * (kernel[axis] - 1)
                + output_padding_[axis] + 1)
        if size < 1:
            raise ValueError(localize("elsewhere.empty_transpose_output", axis=axis, size=size, n=n))
        output_size.append(size)
    return {
        "rank": rank, "kernel": kernel, "stride": stride, "padding": padding_, "output_padding": output_padding_,
        "dilation": dilation, "groups": groups, "in_channels": in_channels,
        "out_channels": w.shape[1] * groups, "output_size": tuple(output_size),
    }


def _non_negative_per_axis(name: str, value: object, rank: int) -> tuple[int, ...]:
    amounts = _checks.expand_per_axis(name, value, rank, minimum=-math.inf)
    if any(amount < 0 for amount in amounts):
        raise ValueError(localize("elsewhere.negative_amount", name=name, value=value))
    return amounts


def _transpose_weight_zero_points(w_zp: torch.Tensor, w: torch.Tensor, groups: int) -> torch.Tensor:
    """Arrange per-output-channel zero points to broadcast on a (C_in, C_out / groups, *kernel) weight."""
    in_per_group, out_per_group = w.shape[0] // groups, w.shape[1]
    grid = w_zp.view(groups, 1, out_per_group).expand(groups, in_per_group, out_per_group)
    return grid.reshape(w.shape[0], out_per_group, *([1] * (w.dim() - 2)))


def _direct_weight(w_centered: torch.Tensor, groups: int) -> torch.Tensor:
    """Turn a transposed-convolution weight (C_in, C_out/g, *k) into the direct one (C_out, C_in/g, *k), flipped."""
    in_channels, out_per_group = w_centered.shape[:2]
    kernel = tuple(w_centered.shape[2:])
    grouped = w_centered.reshape(groups, in_channels // groups, out_per_group, *kernel).transpose(1, 2)
    direct = grouped.reshape(groups * out_per_group, in_channels // groups, *kernel)
    return direct.flip(dims=tuple(range(2, direct.dim())))


def _insert_and_border(x: torch.Tensor, fill: int, kernel: tuple[int, ...], stride: tuple[int, ...],
                       padding: tuple[int, ...], output_padding: tuple[int, ...],
                       dilation: tuple[int, ...]) -> torch.Tensor:
    """Place ``x`` every ``stride`` positions in a tensor of ``fill`` and add the direct convolution's border.

    The border is ``dilation·(kernel − 1) − padding`` positions before each axis and ``output_padding``
    more after it; a negative border crops instead.
    """
    rank = len(kernel)
    spread = [(n - 1) * s + 1 for n, s in zip(x.shape[2:], stride)]
    inserted = torch.full((*x.shape[:2], *spread), fill, dtype=x.dtype)
    inserted[(slice(None), slice(None), *(slice(None, None, s) for s in stride))] = x
    pairs = []
    for axis in range(rank):
        border = dilation[axis] * (kernel[axis] - 1) - padding[axis]
        pairs.append((border, border + output_padding[axis]))
    # A negative border crops, which is what a padding larger than dilation·(kernel − 1) means.
    return _pad_exact(inserted, tuple(pairs), fill)


def insert_zeros(
    x: torch.Tensor,
    fill: int,
    kernel_size: int | tuple[int, ...],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
) -> torch.Tensor:
    """Build the input of the direct convolution that computes a transposed convolution.

    Taught in "Where else the trap lives". A transposed convolution with stride ``s`` equals a
    stride-1 convolution, with the kernel flipped and its channel axes swapped, over ``x`` spread
    out with ``s − 1`` zeros between neighbouring values ("zero insertion") and bordered by
    ``dilation·(kernel − 1) − padding`` zeros, plus ``output_padding`` after. Every one of those
    zeros is real 0, so in the integer domain ``fill`` must be ``x_zero_point``; ``fill=0`` builds
    the naive input.

    Args:
        x: integer tensor (N, C, *spatial) with 1, 2 or 3 spatial axes.
        fill: the integer stored between and around the input values, in the range of ``x.dtype``.
        kernel_size, stride, padding, output_padding, dilation: of the transposed convolution, an int
            or one int per spatial axis.

    Returns:
        tensor of ``x.dtype`` (N, C, *spread), where on each axis
        ``spread = (n − 1)·stride + 1 + 2·(dilation·(kernel − 1) − padding) + output_padding``.
    """
    x = _checks.require_integer_tensor("x", x)
    rank = _checks.spatial_rank("x", x)
    kernel = _kernel_sizes("kernel_size", kernel_size, x, rank)
    fill = _check_pad_value("fill", fill, x.dtype)
    w_probe = torch.zeros((x.shape[1], 1, *kernel), dtype=torch.int8)
    shape = _transpose_geometry(x, w_probe, stride, padding, output_padding, dilation, 1)
    return _insert_and_border(x, fill, kernel, shape["stride"], shape["padding"], shape["output_padding"],
                              shape["dilation"])


def conv_transpose_integer(
    x: torch.Tensor,
    w: torch.Tensor,
    x_zero_point: int = 0,
    w_zero_point: int | torch.Tensor = 0,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    method: TransposeMethod = "zero_point_fill",
) -> torch.Tensor:
    """Compute the accumulator ``Σ (x − x_zp)(w − w_zp)`` of a transposed convolution exactly, as int64.

    Taught in "Where else the trap lives". Input position ``i`` and kernel tap ``k`` add their
    product to output ``o = i·stride − padding + k·dilation``, as in ``torch.nn.ConvTranspose2d``.
    Both methods compute it as the direct convolution over :func:`insert_zeros`:

    - ``"zero_point_fill"`` fills the inserted and border positions with ``x_zero_point``, real 0,
      and is exact;
    - ``"naive_zero_fill"`` fills them with the integer 0, then removes the zero points as if every
      tap held an input value. Each inserted or border tap then adds ``−x_zp (w − w_zp)``, so even
      interior outputs are wrong, in a pattern that repeats every ``stride`` positions; see
      :func:`conv_transpose_error_map`.

    Args:
        x: integer tensor (N, C_in, *spatial) with 1, 2 or 3 spatial axes.
        w: integer tensor (C_in, C_out / groups, *kernel), PyTorch's layout for transposed convolution.
        x_zero_point: the integer that stands for real 0 in ``x``, in the range of ``x.dtype``.
        w_zero_point: an int, or a 1-D tensor with one zero point per output channel.
        stride, padding, output_padding, dilation: an int or one int per spatial axis, as in
            ``torch.nn.functional.conv_transpose2d``. ``output_padding`` must be smaller than the
            stride or the dilation of its axis.
        groups: number of channel groups; it must divide C_in.
        method: ``"zero_point_fill"`` or ``"naive_zero_fill"``.

    Returns:
        int64 tensor (N, C_out, *out_spatial) with, on each axis,
        ``out = (n − 1)·stride − 2·padding + dilation·(kernel − 1) + output_padding + 1``.
    """
    x = _checks.require_integer_tensor("x", x)
    w = _checks.require_integer_tensor("w", w)
    method = _checks.check_method(method, TRANSPOSE_METHODS)
    shape = _transpose_geometry(x, w, stride, padding, output_padding, dilation, groups)
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype)
    w_zp = _checks.check_channel_zero_point("w_zero_point", w_zero_point, w.dtype, shape["out_channels"])
    w_centered = w.to(torch.int64) - _transpose_weight_zero_points(w_zp, w, shape["groups"])

    # Once centered, the naive fill 0 becomes −x_zp and the exact fill x_zp becomes 0.
    fill = -x_zp if method == "naive_zero_fill" else 0
    max_x = max(_extreme_distance(x, x_zp), abs(fill))
    taps = shape["in_channels"] // shape["groups"] * math.prod(shape["kernel"])
    _check_accumulator_bound(taps * max_x * int(w_centered.abs().max()))
    x_centered = x.to(torch.int64) - x_zp
    spread = _insert_and_border(x_centered, fill, shape["kernel"], shape["stride"], shape["padding"],
                                shape["output_padding"], shape["dilation"])
    return _CONV[shape["rank"]](spread, _direct_weight(w_centered, shape["groups"]),
                                dilation=shape["dilation"], groups=shape["groups"])


def conv_transpose_error_map(
    input_size: tuple[int, ...],
    w: torch.Tensor,
    x_zero_point: int,
    w_zero_point: int | torch.Tensor = 0,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    x_dtype: torch.dtype = torch.uint8,
) -> torch.Tensor:
    """Predict, without input data, the error of ``method="naive_zero_fill"`` at every output.

    Taught in "Where else the trap lives". An output's window in the direct convolution covers
    every kernel tap. A tap that lands on an inserted or border position should add 0 but adds
    ``−x_zp (w − w_zp)``, so

        naive − exact = −x_zp · Σ (w − w_zp)   over the taps that hold no input value.

    Args:
        input_size: the spatial size of the input, one positive int per spatial axis of ``w``.
        w, x_zero_point, w_zero_point, stride, padding, output_padding, dilation, groups: as in
            :func:`conv_transpose_integer`.
        x_dtype: the integer dtype of the input, against whose range ``x_zero_point`` is checked.

    Returns:
        int64 tensor (C_out, *out_spatial); the error is the same for every batch item.
    """
    w = _checks.require_integer_tensor("w", w)
    rank = w.dim() - 2
    if rank not in (1, 2, 3):
        raise ValueError(localize("spatial_rank", name="w", shape=tuple(w.shape), rank=max(rank, 0)))
    size = tuple(input_size) if isinstance(input_size, (tuple, list, torch.Size)) else None
    if size is None or len(size) != rank or any(
            isinstance(item, bool) or not isinstance(item, int) or item < 1 for item in size):
        raise ValueError(localize("bad_size", value=input_size, rank=rank))
    if x_dtype not in _checks.INTEGER_DTYPES:
        dtype_name = str(x_dtype).replace("torch.", "") if isinstance(x_dtype, torch.dtype) else repr(x_dtype)
        raise TypeError(localize("not_integer_dtype", name="x_dtype", dtype=dtype_name))
    # Centered input values of 0 add nothing, so only the filled positions contribute.
    probe = torch.full((1, w.shape[0], *size), _checks.check_zero_point("x_zero_point", x_zero_point, x_dtype),
                       dtype=torch.int64)
    error = conv_transpose_integer(probe, w, int(probe.flatten()[0]), w_zero_point, stride=stride, padding=padding,
                                   output_padding=output_padding, dilation=dilation, groups=groups,
                                   method="naive_zero_fill")
    return error[0]


# ---------------------------------------------------------------- padding modes


def padding_sources(size: int, before: int, after: int, mode: PadMode) -> torch.Tensor:
    """Return, for each position of a padded axis, the index of the input position whose value it holds.

    Taught in "Where else the trap lives". Reflect mirrors about the first and last input values
    without repeating them, replicate repeats the nearest end, and circular wraps around. Constant
    padding copies nothing and is marked −1: only that mode invents a value, and so only it needs
    the zero point.

    Returns:
        int64 tensor of length ``before + size + after`` with entries in 0..size − 1, or −1.
    """
    if any(isinstance(item, bool) or not isinstance(item, int) for item in (size, before, after)) \
            or size < 1 or before < 0 or after < 0:
        raise ValueError(localize("elsewhere.bad_padding_size", size=size, before=before, after=after))
    mode = _check_mode(mode)
    _check_mode_amount(mode, 0, size, before, after)
    positions = torch.arange(-before, size + after)
    if mode == "reflect":
        mirrored = torch.where(positions < 0, -positions, positions)
        return torch.where(mirrored >= size, 2 * (size - 1) - mirrored, mirrored)
    if mode == "replicate":
        return positions.clamp(0, size - 1)
    if mode == "circular":
        return torch.remainder(positions, size)
    return torch.where((positions >= 0) & (positions < size), positions, -1)


def _check_mode(mode: object) -> str:
    if mode not in PAD_MODES:
        raise ValueError(localize("elsewhere.bad_mode", value=mode, choices=join_choices(PAD_MODES)))
    return mode  # type: ignore[return-value]


def _check_mode_amount(mode: str, axis: int, size: int, before: int, after: int) -> None:
    amount = max(before, after)
    if mode == "reflect" and amount >= size:
        raise ValueError(localize("elsewhere.reflect_too_large", amount=amount, axis=axis, size=size))
    if mode == "circular" and amount > size:
        raise ValueError(localize("elsewhere.circular_too_large", amount=amount, axis=axis, size=size))


def _constant_fill(value: object, scale: object, x_zp: int, dtype: torch.dtype) -> int:
    """Quantize the padding constant: ``round(value / scale) + x_zp``, rounded half to even."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(localize("not_finite", name="value", value=value))
    if not math.isfinite(value):
        raise ValueError(localize("not_finite", name="value", value=value))
    if value == 0:
        return x_zp  # real 0 is exactly the zero point, whatever the scale
    if scale is None:
        raise ValueError(localize("elsewhere.scale_needed", value=value))
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
        raise ValueError(localize("bad_scale", name="scale", value=scale))
    q = round(value / scale) + x_zp  # Python's round() rounds half to even, as torch.round does
    low, high = _checks.dtype_range(dtype)
    if not low <= q <= high:
        raise ValueError(localize("elsewhere.constant_out_of_range", value=value, scale=scale, zero_point=x_zp, q=q,
                                  dtype=str(dtype).replace("torch.", ""), low=low, high=high))
    return q


def pad_integer(
    x: torch.Tensor,
    padding: int | tuple,
    mode: PadMode = "constant",
    *,
    x_zero_point: int = 0,
    value: float = 0.0,
    scale: float | None = None,
) -> torch.Tensor:
    """Pad a quantized tensor so that it stands for the padded real tensor, in any dtype and rank.

    Taught in "Where else the trap lives". Reflect, replicate and circular padding copy input
    integers, and a copy stands for the same real value, so they need no zero point. Constant
    padding with the real constant ``value`` stores ``round(value / scale) + x_zero_point``, which
    is exactly ``x_zero_point`` for ``value = 0`` and within ``scale / 2`` of ``value`` otherwise.
    Padding is done by indexing with :func:`padding_sources`, so it is exact for every integer dtype.

    Args:
        x: integer tensor (N, C, *spatial) with 1, 2 or 3 spatial axes.
        padding: an int, one int per spatial axis, or one (before, after) pair per spatial axis.
            Reflect padding must be smaller than the axis, and circular padding at most the axis.
        mode: ``"constant"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.
        x_zero_point: the integer that stands for real 0 in ``x``, in the range of ``x.dtype``.
        value: the real constant of ``mode="constant"``; it must be 0 for the other modes.
        scale: the scale of ``x``, needed only for a nonzero ``value``.

    Returns:
        tensor of ``x.dtype`` (N, C, *padded_spatial).
    """
    x = _checks.require_integer_tensor("x", x)
    rank = _checks.spatial_rank("x", x)
    pairs = _checks.expand_padding(padding, rank)
    mode = _check_mode(mode)
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype)
    if mode != "constant" and value != 0:
        raise ValueError(localize("elsewhere.value_needs_constant", value=value, mode=mode))
    fill = _constant_fill(value, scale, x_zp, x.dtype) if mode == "constant" else None

    padded = x
    for axis, (before, after) in enumerate(pairs):
        size = x.shape[2 + axis]
        _check_mode_amount(mode, axis, size, before, after)
        sources = padding_sources(size, before, after, mode)
        padded = padded.index_select(2 + axis, sources.clamp(min=0))
        if fill is not None:
            shape = [1] * padded.dim()
            shape[2 + axis] = -1
            padded = padded.masked_fill((sources < 0).view(shape), fill)
    return padded


# ---------------------------------------------------------------- figures


def panel_heatmaps(
    maps: torch.Tensor,
    panel_titles: list[str] | None = None,
    *,
    title: str | None = None,
    label: str | None = None,
) -> Figure:
    """Draw one 2-D error map per panel, on one symmetric colour scale, with a title above each panel.

    Taught in "Where else the trap lives", where each channel of a depthwise convolution gets its
    own border error, and two wrong paddings of max pooling are drawn side by side. The layout is
    that of :func:`qlesson.error_heatmaps`.

    Args:
        maps: tensor (P, H, W), one map per panel, for example one batch item of ``naive − exact``.
        panel_titles: one title per map; the default is "channel p" in the active language.
        title: the figure title.
        label: the colour bar label; the default is "error (accumulator units)" in the active language.
    """
    if not isinstance(maps, torch.Tensor) or maps.dim() != 3:
        shape = tuple(maps.shape) if hasattr(maps, "shape") else type(maps).__name__
        raise ValueError(localize("elsewhere.panel_map_rank", shape=shape))
    if panel_titles is None:
        panel_titles = [localize("elsewhere.channel", channel=index) for index in range(maps.shape[0])]
    elif isinstance(panel_titles, str) or len(panel_titles) != maps.shape[0]:
        raise ValueError(localize("elsewhere.panel_titles", count=maps.shape[0], value=panel_titles))
    figure = error_heatmaps(maps, title=title, label=label)
    panels = [axes for axes in figure.axes if axes.images and axes.get_visible()]
    for axes, panel_title in zip(panels, panel_titles):
        # set_text keeps the font that error_heatmaps chose for the active language.
        axes.title.set_text(str(panel_title))
    return figure
