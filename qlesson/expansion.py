"""The four-term expansion of an integer convolution, computed term by term.

Taught in "The four terms of an integer convolution". Over the N taps of one output, the exact
accumulator of :func:`qlesson.conv_integer` expands into

    Σ (x_q − x_zp)(w_q − w_zp) = Σ x_q w_q − x_zp Σ w_q − w_zp Σ x_q + N x_zp w_zp      (3)

The second and fourth terms depend only on the weights and the zero points, so an engine computes
them once per output channel, offline. The first is the convolution of the stored integers, and
the third needs the window sum ``Σ x_q`` of the input at run time. Both run-time terms must read
every padded position as ``x_zp``, the integer for real 0, and follow the convolution's stride
and dilation. Everything here is on the integer-only inference path and computes in int64.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import _checks
from .convolution import ConvGeometry, conv_geometry
from .i18n import localize, register_messages

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

register_messages({
    "expansion.kernel_rank": {
        "en": ("kernel_size={value!r} does not match x of shape {shape}, which has {rank} spatial axes. "
               "Pass one int, or one int per spatial axis."),
        "zh-TW": ("kernel_size={value!r} 與形狀為 {shape} 的 x 不符，x 有 {rank} 個空間軸。"
                  "請傳入一個整數，或每個空間軸一個整數。"),
    },
})


class FourTerms(NamedTuple):
    """The four terms of expansion (3) for every output, each as an int64 tensor.

    The run-time terms have the output's shape (N, C_out, *out_spatial). The offline terms have
    one value per output channel, in shape (1, C_out, 1, ...), so they broadcast on the channel axis.
    """

    sum_xw: torch.Tensor
    """``Σ x_q w_q``: the convolution of the stored integers, computed at run time."""
    x_zp_sum_w: torch.Tensor
    """``x_zp Σ w_q``: one value per output channel, computed offline from the weights."""
    w_zp_sum_x: torch.Tensor
    """``w_zp Σ x_q``: the weight zero point times the input's window sum, computed at run time."""
    n_x_zp_w_zp: torch.Tensor
    """``N x_zp w_zp``: one value per output channel, computed offline."""

    def total(self) -> torch.Tensor:
        """Combine the terms with their signs into the accumulator, shape (N, C_out, *out_spatial)."""
        return self.sum_xw - self.x_zp_sum_w - self.w_zp_sum_x + self.n_x_zp_w_zp

    def offline(self) -> torch.Tensor:
        """Return ``N x_zp w_zp − x_zp Σ w_q``, the part an engine folds into the bias, shape (1, C_out, 1, ...)."""
        return self.n_x_zp_w_zp - self.x_zp_sum_w

    def __repr__(self) -> str:
        # Shapes, not values: they show which terms are per position and which are per channel.
        fields = ", ".join(f"{name}: {tuple(getattr(self, name).shape)}" for name in self._fields)
        return f"FourTerms({fields})"


def _validate_inputs(x: object, w: object) -> tuple[torch.Tensor, torch.Tensor]:
    x = _checks.require_integer_tensor("x", x)
    w = _checks.require_integer_tensor("w", w)
    _checks.spatial_rank("x", x)
    if w.dim() != x.dim():
        raise ValueError(localize("rank_mismatch", x_shape=tuple(x.shape), w_shape=tuple(w.shape)))
    return x, w


def _check_accumulator_bound(bound: int) -> None:
    limit = torch.iinfo(torch.int64).max
    if bound > limit:
        raise ValueError(localize("accumulator_overflow", bound=bound, limit=limit))


def _largest_magnitude(tensor: torch.Tensor) -> int:
    return max(abs(int(tensor.min())), abs(int(tensor.max())))


def _window_sum(x: torch.Tensor, pad_value: int, geometry: ConvGeometry) -> torch.Tensor:
    """Sum ``x`` over each window of ``geometry``, per channel group, padding with ``pad_value``."""
    groups = geometry.groups
    ones = torch.ones((groups, geometry.in_channels // groups, *geometry.kernel_size), dtype=torch.int64)
    padded = F.pad(x.to(torch.int64), geometry.torch_padding, value=pad_value)
    return _CONV[geometry.rank](padded, ones, stride=geometry.stride, dilation=geometry.dilation, groups=groups)


def window_sum(
    x: torch.Tensor,
    kernel_size: int | tuple[int, ...],
    pad_value: int,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Sum the input integers under every window of a convolution: the ``Σ x_q`` of expansion (3).

    Taught in "The four terms of an integer convolution". The window of an output covers the
    kernel taps of every input channel in its group, placed with the convolution's own stride,
    padding and dilation, so the result lines up with the convolution's output.

    Args:
        x: integer tensor (N, C_in, *spatial) with 1, 2 or 3 spatial axes.
        kernel_size: an int, or one int per spatial axis.
        pad_value: the integer read at every padded position. The exact sum needs the input zero
            point ``x_zp``, the integer for real 0; any other value, such as 0, gives a wrong sum
            at every window that reaches into the padding.
        stride, padding, dilation, groups: as in :func:`qlesson.conv_integer`.

    Returns:
        int64 tensor (N, groups, *out_spatial): one window sum per batch item, channel group and
        output position, shared by every output channel of the group.
    """
    x = _checks.require_integer_tensor("x", x)
    rank = _checks.spatial_rank("x", x)
    if isinstance(kernel_size, (tuple, list, torch.Size)) and len(kernel_size) != rank:
        raise ValueError(localize("expansion.kernel_rank", value=kernel_size, shape=tuple(x.shape), rank=rank))
    kernel = _checks.expand_per_axis("kernel_size", kernel_size, rank)
    groups = _checks.require_int("groups", groups)
    in_channels = x.shape[1]
    # The window sum is a convolution with one all-ones kernel per group. conv_geometry rejects
    # groups below 1, or not dividing C_in, before it reads the per-group channel count.
    per_group = in_channels // groups if groups >= 1 else 0
    geometry = conv_geometry(tuple(x.shape[2:]), in_channels, (groups, per_group, *kernel),
                             stride=stride, padding=padding, dilation=dilation, groups=groups)
    pad_value = _checks.check_zero_point("pad_value", pad_value, x.dtype)
    _check_accumulator_bound(geometry.taps * max(_largest_magnitude(x), abs(pad_value)))
    return _window_sum(x, pad_value, geometry)


def four_terms(
    x: torch.Tensor,
    w: torch.Tensor,
    x_zero_point: int = 0,
    w_zero_point: int | torch.Tensor = 0,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> FourTerms:
    """Compute each of the four terms of expansion (3) for every output of an integer convolution.

    Taught in "The four terms of an integer convolution". Both run-time terms read every padded
    position as ``x_zero_point``, and a per-channel ``w_zero_point`` is broadcast on the channel
    axis, so ``four_terms(...).total()`` equals :func:`qlesson.conv_integer` with the same arguments.

    Args:
        x: integer tensor (N, C_in, *spatial) with 1, 2 or 3 spatial axes.
        w: integer tensor (C_out, C_in / groups, *kernel).
        x_zero_point: the integer that represents real 0 in ``x``, in the range of ``x.dtype``.
        w_zero_point: an int, or a 1-D tensor with one zero point per output channel.
        stride, padding, dilation, groups: as in :func:`qlesson.conv_integer`.

    Returns:
        a :class:`FourTerms` of int64 tensors.
    """
    x, w = _validate_inputs(x, w)
    rank = x.dim() - 2
    geometry = conv_geometry(tuple(x.shape[2:]), x.shape[1], tuple(w.shape),
                             stride=stride, padding=padding, dilation=dilation, groups=groups)
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype)
    w_zp = _checks.check_channel_zero_point("w_zero_point", w_zero_point, w.dtype, geometry.out_channels)
    largest_x = max(_largest_magnitude(x), abs(x_zp))
    largest_w = max(_largest_magnitude(w), _largest_magnitude(w_zp))
    _check_accumulator_bound(geometry.taps * largest_x * largest_w)

    channel_shape = (1, geometry.out_channels) + (1,) * rank
    w_wide = w.to(torch.int64)
    padded = F.pad(x.to(torch.int64), geometry.torch_padding, value=x_zp)
    sum_xw = _CONV[rank](padded, w_wide, stride=geometry.stride, dilation=geometry.dilation, groups=geometry.groups)
    sum_w = w_wide.sum(dim=tuple(range(1, w.dim()))).view(channel_shape)
    # One window sum per channel group; every output channel of the group reuses it.
    sums_x = _window_sum(x, x_zp, geometry).repeat_interleave(geometry.out_channels // geometry.groups, dim=1)
    w_zp_channels = w_zp.view(channel_shape)
    return FourTerms(
        sum_xw=sum_xw,
        x_zp_sum_w=x_zp * sum_w,
        w_zp_sum_x=w_zp_channels * sums_x,
        n_x_zp_w_zp=geometry.taps * x_zp * w_zp_channels,
    )

