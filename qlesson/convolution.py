"""Exact integer convolution with an input zero point, and the padding trap.

Taught in the lesson "The padding trap in integer convolution". Every function here is on the
integer-only inference path: it returns the exact int64 accumulator

    acc = Σ (x_q − x_zp)(w_q − w_zp)                                   (1)

over the taps of each output position, where a tap that falls in the padding has the real
value 0, which is the integer ``x_zp``. Float tensors appear only as a faster carrier of the same
integers, and only when every partial sum is provably exact in that format (see
:func:`accumulation_dtype`).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F

from . import _checks
from .i18n import localize, register_messages

register_messages({
    "too_large": {
        "en": ("input size {size} with padding {padding} gives {positions} padded positions per channel, more than "
               "the {limit} these lessons allow. Check the padding and the input size for a typo."),
        "zh-TW": ("輸入大小 {size} 加上填補 {padding} 後，每個通道有 {positions} 個位置，超過這些課程允許的 {limit} 個。"
                  "請檢查填補與輸入大小是否打錯。"),
    },
})

Method = Literal["naive_zero_pad", "zero_point_pad", "border_correction", "skip_taps"]

#: The four ways :func:`conv_integer` can treat the border; all but the first are exact.
METHODS: tuple[str, ...] = ("naive_zero_pad", "zero_point_pad", "border_correction", "skip_taps")

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}

# Largest integer magnitude below which every integer, and so every partial sum, is exact.
_EXACT_LIMIT = {torch.float32: 2**24, torch.float64: 2**53}

# Integer dtypes whose values, and so their zero points, are below 2**16 in magnitude. A value
# minus a zero point is then below 2**17, which float32 and float64 represent exactly.
_NARROW_DTYPES = (torch.uint8, torch.int8, torch.int16)

# NOTE: an estimate from back-to-back calls on one core of the machine in docs/benchmarks.md
# (torch 2.13). There a padded copy saved about 0.3 ns per element of the unfolded matrix of a
# Slow3d convolution and cost about 10 µs per call, so the two break even near 2**15 elements.
# Both inputs measured above 2**16 gained. For example, conv_integer on (1, 8, 8, 16, 16) with
# 3 × 3 × 3 kernels took 0.71 to 0.76 × the float32 convolution with the copy and 1.03 to 1.09 ×
# without it.
_MIN_UNFOLDED_FOR_PADDED_COPY = 2**16

# NOTE: a teaching-size limit, chosen so that a typo such as padding=10**6 gets a message instead
# of a failed allocation; 2**27 padded positions of float32 are 512 MiB per channel.
MAX_PADDED_POSITIONS = 2**27

# PyTorch CPU convolution algorithms that add exact products in some order (direct or im2col
# plus GEMM). Winograd, FFT and NNPACK transform the operands and are not exact, so a float
# carrier is used only when torch selects one of these.
_EXACT_BACKENDS = ("Slow2d", "Slow3d", "SlowDilated2d", "SlowDilated3d", "Mkldnn", "Empty")


@dataclass(frozen=True)
class ConvGeometry:
    """Shapes and hyperparameters of one convolution, validated and expanded per spatial axis."""

    input_size: tuple[int, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    dilation: tuple[int, ...]
    groups: int
    in_channels: int
    out_channels: int

    @property
    def rank(self) -> int:
        return len(self.input_size)

    @property
    def output_size(self) -> tuple[int, ...]:
        return tuple(
            (size + before + after - dilation * (kernel - 1) - 1) // stride + 1
            for size, kernel, stride, (before, after), dilation in zip(
                self.input_size, self.kernel_size, self.stride, self.padding, self.dilation)
        )

    @property
    def taps(self) -> int:
        """Number of products per output value, N in the four-term expansion."""
        return self.in_channels // self.groups * math.prod(self.kernel_size)

    @property
    def torch_padding(self) -> list[int]:
        """Padding in the order ``torch.nn.functional.pad`` takes it: last axis first."""
        return [amount for pair in reversed(self.padding) for amount in pair]


def conv_geometry(
    input_size: tuple[int, ...], in_channels: int, w_shape: tuple[int, ...], *,
    stride: object = 1, padding: object = 0, dilation: object = 1, groups: object = 1,
) -> ConvGeometry:
    """Validate the hyperparameters of a convolution and return its :class:`ConvGeometry`."""
    rank = len(input_size)
    out_channels = w_shape[0]
    groups = _checks.require_int("groups", groups)
    if groups < 1 or in_channels % groups or out_channels % groups:
        raise ValueError(localize("bad_groups", groups=groups, c_in=in_channels, c_out=out_channels))
    if w_shape[1] * groups != in_channels:
        raise ValueError(localize(
            "channel_mismatch", w_channels=w_shape[1], c_in=in_channels, groups=groups,
            expected=in_channels // groups))
    geometry = ConvGeometry(
        input_size=tuple(input_size),
        kernel_size=tuple(w_shape[2:]),
        stride=_checks.expand_per_axis("stride", stride, rank),
        padding=_checks.expand_padding(padding, rank),
        dilation=_checks.expand_per_axis("dilation", dilation, rank),
        groups=groups,
        in_channels=in_channels,
        out_channels=out_channels,
    )
    padded_positions = math.prod(size + before + after for size, (before, after) in zip(geometry.input_size,
                                                                                        geometry.padding))
    if padded_positions > MAX_PADDED_POSITIONS:
        raise ValueError(localize("too_large", positions=padded_positions, limit=MAX_PADDED_POSITIONS,
                                  padding=geometry.padding, size=geometry.input_size))
    for axis, (size, kernel, dilation_, (before, after)) in enumerate(zip(
            geometry.input_size, geometry.kernel_size, geometry.dilation, geometry.padding)):
        span = dilation_ * (kernel - 1) + 1
        if span > size + before + after:
            raise ValueError(localize(
                "kernel_too_large", axis=axis, span=span, padded=size + before + after,
                size=size, before=before, after=after))
    return geometry


def _validate_conv_inputs(x: object, w: object) -> tuple[torch.Tensor, torch.Tensor]:
    x = _checks.require_integer_tensor("x", x)
    w = _checks.require_integer_tensor("w", w)
    _checks.spatial_rank("x", x)
    if w.dim() != x.dim():
        raise ValueError(localize("rank_mismatch", x_shape=tuple(x.shape), w_shape=tuple(w.shape)))
    return x, w


def accumulation_dtype(bound: int, *, x: torch.Tensor | None = None, w: torch.Tensor | None = None,
                       geometry: ConvGeometry | None = None, conv_padding: tuple[int, ...] | None = None,
                       ) -> torch.dtype:
    """Choose the fastest carrier dtype that represents every partial sum of an accumulation exactly.

    ``bound`` is an upper bound on the sum of absolute products of one output value,
    ``taps · max|x − x_zp| · max|w − w_zp|``. Every partial sum of integers is then an integer of at
    most that magnitude, so float32 is exact below 2**24 and float64 below 2**53 whatever order the
    algorithm adds in, as long as it adds exact products (see ``_EXACT_BACKENDS``). Beyond that,
    or when torch would pick a transforming algorithm, the carrier is int64.

    With ``x``, ``w`` and ``geometry``, the convolution that torch will run is probed. By default
    the probe uses the input padded by ``geometry.padding``. With ``conv_padding``, it uses the
    unpadded input and passes that symmetric padding to torch.
    """
    for dtype in (torch.float32, torch.float64):
        if bound < _EXACT_LIMIT[dtype] and _backend_is_exact(dtype, x, w, geometry, conv_padding):
            return dtype
    return torch.int64


def _backend_is_exact(dtype: torch.dtype, x: torch.Tensor | None, w: torch.Tensor | None,
                      geometry: ConvGeometry | None, conv_padding: tuple[int, ...] | None) -> bool:
    if x is None or w is None or geometry is None:
        return True
    if getattr(torch.backends.mkldnn, "conv", None) is not None:
        # A reduced fp32 precision ("bf16", "tf32") makes oneDNN round the operands.
        if torch.backends.mkldnn.conv.fp32_precision not in ("none", "ieee"):
            return False
    return _selected_backend(*_probe_key(dtype, x, w, geometry, conv_padding)) in _EXACT_BACKENDS


def _probe_key(dtype: torch.dtype, x: torch.Tensor, w: torch.Tensor, geometry: ConvGeometry,
               conv_padding: tuple[int, ...] | None) -> tuple:
    """Return the arguments of :func:`_selected_backend`, with ``conv_padding`` as in :func:`accumulation_dtype`."""
    if conv_padding is None:
        input_size = tuple(size + before + after for size, (before, after) in zip(geometry.input_size, geometry.padding))
        conv_padding = (0,) * geometry.rank
    else:
        input_size = geometry.input_size
    return (dtype, x.shape[0], geometry.in_channels, input_size, tuple(w.shape), geometry.stride,
            tuple(conv_padding), geometry.dilation, geometry.groups, torch.get_num_threads())


def _padded_copy_is_faster(x: torch.Tensor, w: torch.Tensor, geometry: ConvGeometry,
                           conv_padding: tuple[int, ...]) -> bool:
    """Return whether a copy padded beforehand convolves faster than letting torch add ``conv_padding``.

    It can when torch runs the float32 convolution with its Slow3d algorithm (vol2col, then a
    matrix product) at unit strides. With padding, the unfolding checks bounds element by element
    (``Unfold3dCopyKernelImpl`` in ATen's ``native/Unfold3d.cpp``). Without padding, it copies
    whole rows (``Unfold3dZeroPaddingCopyKernelImpl`` in the same file). The padded copy itself
    costs a few more torch calls, so it pays off only once the unfolded matrix is large.
    """
    if any(stride != 1 for stride in geometry.stride):
        return False
    unfolded = x.shape[0] * geometry.groups * geometry.taps * math.prod(geometry.output_size)
    if unfolded < _MIN_UNFOLDED_FOR_PADDED_COPY:
        return False
    return _selected_backend(*_probe_key(torch.float32, x, w, geometry, conv_padding)) == "Slow3d"


@functools.lru_cache(maxsize=256)
def _selected_backend(dtype: torch.dtype, batch: int, in_channels: int, input_size: tuple[int, ...],
                      w_shape: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                      dilation: tuple[int, ...], groups: int, threads: int) -> str:
    """Return the name of the convolution algorithm torch selects for these shapes, or "" if unknown."""
    select = getattr(torch._C, "_select_conv_backend", None)
    if select is None:
        return ""
    # torch.empty does not touch the memory, so even a large probe costs nothing.
    probe_x = torch.empty((batch, in_channels, *input_size), dtype=dtype)
    probe_w = torch.empty(w_shape, dtype=dtype)
    rank = len(input_size)
    try:
        backend = select(probe_x, probe_w, None, list(stride), list(padding), list(dilation), False,
                         [0] * rank, groups)
    except RuntimeError:
        return ""
    return backend.name


def _conv_exact(x_centered: torch.Tensor, w_centered: torch.Tensor, geometry: ConvGeometry,
                carrier: torch.dtype, conv_padding: tuple[int, ...] | None = None) -> torch.Tensor:
    """Convolve centered operands in ``carrier`` and return int64.

    ``x_centered`` is already padded unless ``conv_padding`` gives a symmetric padding for torch
    to add, which is zero padding in the centered domain, that is real 0.
    """
    conv = _CONV[geometry.rank]
    result = conv(x_centered.to(carrier), w_centered.to(carrier), stride=geometry.stride,
                  padding=conv_padding or 0, dilation=geometry.dilation, groups=geometry.groups)
    return result.to(torch.int64)


def _center(x: torch.Tensor, x_zp: int, carrier: torch.dtype) -> torch.Tensor:
    """Return ``x − x_zp`` in ``carrier`` as a new tensor, exact because every difference fits it."""
    if x.dtype in _NARROW_DTYPES and carrier != torch.int64:
        # The float carrier represents such values, their zero points and the differences exactly.
        centered = x.to(carrier)
        return centered.sub_(x_zp) if x_zp else centered
    # x_q itself may not fit the carrier (int32 x near a large zero point), while x_q − x_zp does.
    return (x.to(torch.int64) - x_zp).to(carrier)


def _center_weights(w: torch.Tensor, w_zp: int | torch.Tensor, carrier: torch.dtype) -> torch.Tensor:
    """Return ``w − w_zp`` in ``carrier`` as a new tensor, for one zero point or one per output channel."""
    if not isinstance(w_zp, torch.Tensor):
        return _center(w, w_zp, carrier)
    zero_points = _channel_view(w_zp, w.dim() - 2)
    if w.dtype in _NARROW_DTYPES and carrier != torch.int64:
        # Exact for the same reason as in _center.
        return w.to(carrier).sub_(zero_points.to(carrier))
    return (w.to(torch.int64) - zero_points).to(carrier)


def _weight_zero_point(value: object, dtype: torch.dtype, channels: int) -> int | torch.Tensor:
    """Validate ``w_zero_point`` as ``_checks.check_channel_zero_point`` does, but return a single one as an int."""
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return _checks.check_channel_zero_point("w_zero_point", value, dtype, channels)
    return _checks.check_zero_point("w_zero_point", value, dtype)


def _dtype_bound(x_dtype: torch.dtype, x_zp: int, w_dtype: torch.dtype, w_zp: int | torch.Tensor,
                 geometry: ConvGeometry) -> int:
    """Return ``taps · max|x − x_zp| · max|w − w_zp|`` over the whole ranges of the dtypes, reading no data.

    The range of ``x_dtype`` contains 0, so this also bounds the tap ``0 − x_zp`` that
    naive_zero_pad and border_correction pad with.
    """
    w_zp_low, w_zp_high = (w_zp, w_zp) if isinstance(w_zp, int) else (int(value) for value in torch.aminmax(w_zp))
    return geometry.taps * _checks.max_offset(x_dtype, x_zp) * _checks.max_offset(w_dtype, w_zp_low, w_zp_high)


def _data_bound(x: torch.Tensor, x_zp: int, w: torch.Tensor, w_zp: int | torch.Tensor, geometry: ConvGeometry,
                method: str) -> int:
    """Compute ``taps · max|x − x_zp| · max|w − w_zp|`` over the values present, and raise if it exceeds int64."""
    max_w = _weight_distance(w, w_zp)
    max_x = _extreme_distance(x, x_zp)
    if method in ("naive_zero_pad", "border_correction") and any(
            amount for pair in geometry.padding for amount in pair):
        max_x = max(max_x, abs(x_zp))  # a zero-padded tap contributes (0 − x_zp)
    bound = geometry.taps * max_x * max_w
    _check_accumulator_bound(bound)
    return bound


def _weight_distance(w: torch.Tensor, w_zp: int | torch.Tensor) -> int:
    """Return max |w − w_zp|, each weight against its output channel's zero point, in Python ints that cannot wrap."""
    if not isinstance(w_zp, torch.Tensor):
        return _extreme_distance(w, w_zp)
    lows, highs = torch.aminmax(w.reshape(w.shape[0], -1), dim=1)
    return max(max(abs(low - zero_point), abs(high - zero_point))
               for low, high, zero_point in zip(lows.tolist(), highs.tolist(), w_zp.tolist()))


def _extreme_distance(tensor: torch.Tensor, zero_point: int | torch.Tensor) -> int:
    """Return max |tensor − zero_point| without materializing the difference."""
    low, high = (int(value) for value in torch.aminmax(tensor))
    if isinstance(zero_point, torch.Tensor):
        zp_low, zp_high = int(zero_point.min()), int(zero_point.max())
    else:
        zp_low = zp_high = int(zero_point)
    return max(abs(high - zp_low), abs(zp_high - low), abs(low - zp_low), abs(high - zp_high))


def _channel_view(values: torch.Tensor, rank: int) -> torch.Tensor:
    """Reshape a per-output-channel vector so it broadcasts on axis 0 of a weight or axis 1 of an output."""
    return values.view(-1, *([1] * (rank + 1)))


class _CallPlan(NamedTuple):
    """Validated arguments of a :func:`conv_integer` call and the choices they fix without reading x or w."""

    geometry: ConvGeometry
    x_zp: int
    w_zp: int | torch.Tensor
    #: ``taps · max|x − x_zp| · max|w − w_zp|`` over the whole ranges of the dtypes.
    dtype_bound: int
    #: The symmetric padding that torch adds itself, or None when x is padded beforehand.
    torch_pads: tuple[int, ...] | None


# Plans of recent calls, keyed by the dtypes and shapes of x and w, the other arguments and the
# torch thread count (see _plan_key), and emptied when full. Only calls that passed every check
# are stored, so a call with invalid arguments raises each time.
_PLANS: dict[tuple, _CallPlan] = {}
_MAX_PLANS = 256


def _is_plain_int_tuple(value: object) -> bool:
    """Return whether ``value`` is an int or a tuple that nests only ints, with no bool or other int-like type."""
    if type(value) is int:
        return True
    return type(value) is tuple and all(_is_plain_int_tuple(item) for item in value)


def _plan_key(x: object, w: object, x_zero_point: object, w_zero_point: object, stride: object, padding: object,
              dilation: object, groups: object, method: object) -> tuple | None:
    """Return the key under which a call's plan is stored, or None when the call is not cached.

    The key fixes the outcome of every check, because the checks read only the dtypes and shapes
    of x and w and the values of the other arguments. Calls with arguments of other types are
    validated every time: ``True`` and NumPy's ``True`` equal ``1`` but are rejected, lists are
    unhashable, and a tensor hashes by identity.
    """
    if not (isinstance(x, torch.Tensor) and isinstance(w, torch.Tensor)):
        return None
    if type(x_zero_point) is not int or type(w_zero_point) is not int or type(method) is not str:
        return None
    if not all(_is_plain_int_tuple(value) for value in (stride, padding, dilation, groups)):
        return None
    # The thread count is part of the key because torch's choice of algorithm depends on it.
    return (x.dtype, x.shape, w.dtype, w.shape, x_zero_point, w_zero_point, stride, padding, dilation, groups,
            method, torch.get_num_threads())


def _make_plan(x: object, w: object, x_zero_point: object, w_zero_point: object, stride: object, padding: object,
               dilation: object, groups: object, method: object) -> _CallPlan:
    """Validate every argument of :func:`conv_integer` and return the plan of the call."""
    x, w = _validate_conv_inputs(x, w)
    method = _checks.check_method(method, METHODS)
    geometry = conv_geometry(tuple(x.shape[2:]), x.shape[1], tuple(w.shape),
                             stride=stride, padding=padding, dilation=dilation, groups=groups)
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype)
    w_zp = _weight_zero_point(w_zero_point, w.dtype, geometry.out_channels)
    dtype_bound = _dtype_bound(x.dtype, x_zp, w.dtype, w_zp, geometry)

    symmetric = tuple(before for before, after in geometry.padding if before == after)
    torch_pads = symmetric if method == "zero_point_pad" and len(symmetric) == geometry.rank else None
    if torch_pads is not None and any(torch_pads) and _padded_copy_is_faster(x, w, geometry, torch_pads):
        torch_pads = None
    return _CallPlan(geometry, x_zp, w_zp, dtype_bound, torch_pads)


def _call_plan(x: object, w: object, x_zero_point: object, w_zero_point: object, stride: object, padding: object,
               dilation: object, groups: object, method: object) -> _CallPlan:
    """Return the plan of a call, from ``_PLANS`` when a call with the same key passed the checks before."""
    arguments = (x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups, method)
    key = _plan_key(*arguments)
    plan = _PLANS.get(key) if key is not None else None
    if plan is None:
        plan = _make_plan(*arguments)
        if key is not None:
            if len(_PLANS) >= _MAX_PLANS:
                _PLANS.clear()
            _PLANS[key] = plan
    return plan


def conv_integer(
    x: torch.Tensor,
    w: torch.Tensor,
    x_zero_point: int = 0,
    w_zero_point: int | torch.Tensor = 0,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    method: Method = "zero_point_pad",
) -> torch.Tensor:
    """Compute the integer convolution accumulator ``Σ (x − x_zp)(w − w_zp)`` as int64.

    Taught in "The padding trap in integer convolution". Argument names follow ONNX's ConvInteger.

    Args:
        x: integer tensor (N, C_in, *spatial) with 1, 2 or 3 spatial axes.
        w: integer tensor (C_out, C_in / groups, *kernel).
        x_zero_point: the integer that stands for real 0 in ``x``, in the range of ``x.dtype``.
        w_zero_point: an int, or a 1-D tensor with one zero point per output channel.
        stride, dilation: an int, or one int per spatial axis, each at least 1.
        padding: an int, one int per spatial axis, or one (before, after) pair per spatial axis.
        groups: number of channel groups; ``groups == C_in`` is a depthwise convolution.
        method: how the border is handled.

            - ``"naive_zero_pad"``: the trap. Pads ``x`` with the integer 0 and subtracts the
              zero-point terms as if every tap were inside, so border outputs are wrong by
              :func:`padding_error_map`.
            - ``"zero_point_pad"``: pads ``x`` with ``x_zero_point``, the integer for real 0.
            - ``"border_correction"``: pads with 0, then subtracts the per-position correction
              of :func:`padding_error_map`, which depends only on shapes and weights.
            - ``"skip_taps"``: visits kernel taps one by one and adds only the products whose input
              position lies inside ``x``, as TFLite's reference kernels do.

    Returns:
        int64 tensor (N, C_out, *out_spatial). The three exact methods return the same integers.
    """
    plan = _call_plan(x, w, x_zero_point, w_zero_point, stride, padding, dilation, groups, method)
    geometry, x_zp, w_zp, torch_pads = plan.geometry, plan.x_zp, plan.w_zp, plan.torch_pads

    # A dtype bound below 2**24 gives accumulation_dtype the same result as the bound of the data,
    # which is no larger. Above it, the data may still allow float32 or float64, or may exceed
    # int64, which raises.
    bound = plan.dtype_bound
    if bound >= _EXACT_LIMIT[torch.float32]:
        bound = _data_bound(x, x_zp, w, w_zp, geometry, method)
    carrier = accumulation_dtype(bound, x=x, w=w, geometry=geometry, conv_padding=torch_pads)
    w_centered = _center_weights(w, w_zp, carrier)

    if method == "skip_taps":
        return _conv_skip_taps(x, x_zp, w_centered, geometry, carrier)

    if torch_pads is not None:
        # Padding x_q with x_zp is padding the centered values with real 0, which torch's own
        # zero padding does without a padded copy when the padding is symmetric.
        return _conv_exact(_center(x, x_zp, carrier), w_centered, geometry, carrier, conv_padding=torch_pads)

    # zero_point_pad pads x_q with x_zp, the integer for real 0. naive_zero_pad and
    # border_correction pad it with the integer 0, which is −x_zp once centered.
    pad_value = x_zp if method == "zero_point_pad" else 0
    padded = _center(_pad_constant(x, geometry, pad_value), x_zp, carrier)
    result = _conv_exact(padded, w_centered, geometry, carrier)
    if method != "border_correction":
        return result
    return result - _padding_error(geometry, _center_weights(w, w_zp, torch.int64), x_zp).unsqueeze(0)


def _pad_constant(tensor: torch.Tensor, geometry: ConvGeometry, value: int) -> torch.Tensor:
    """Pad the spatial axes with the integer ``value``, exactly for any int64 value.

    Returns ``tensor`` itself when there is no padding.
    """
    if not any(amount for pair in geometry.padding for amount in pair):
        return tensor
    if abs(value) <= _EXACT_LIMIT[torch.float64]:
        return F.pad(tensor, geometry.torch_padding, value=value)
    # F.pad passes its fill value through a double, which rounds integers beyond 2**53.
    padded_size = [size + before + after for size, (before, after) in zip(geometry.input_size, geometry.padding)]
    padded = torch.full((*tensor.shape[:2], *padded_size), value, dtype=tensor.dtype)
    inside = tuple(slice(before, before + size) for size, (before, _) in zip(geometry.input_size, geometry.padding))
    padded[(slice(None), slice(None), *inside)] = tensor
    return padded


def _check_accumulator_bound(bound: int) -> None:
    """Raise if ``bound``, the largest possible partial sum, does not fit in the int64 accumulator."""
    limit = torch.iinfo(torch.int64).max
    if bound > limit:
        raise ValueError(localize("accumulator_overflow", bound=bound, limit=limit))


def _padding_error(geometry: ConvGeometry, w_centered: torch.Tensor, x_zp: int) -> torch.Tensor:
    """Return ``−x_zp · Σ (w − w_zp)`` over the padded taps of each output, shape (C_out, *out)."""
    # A tensor that is 1 in the padding and 0 inside, the same for every channel.
    inside = torch.zeros((1, geometry.in_channels, *geometry.input_size), dtype=torch.int64)
    in_padding = F.pad(inside, geometry.torch_padding, value=1)
    max_w = int(w_centered.abs().max())
    _check_accumulator_bound(geometry.taps * abs(x_zp) * max_w)
    carrier = accumulation_dtype(geometry.taps * max_w, x=inside, w=w_centered, geometry=geometry)
    padded_sum = _CONV[geometry.rank](
        in_padding.to(carrier), w_centered.to(carrier), stride=geometry.stride,
        dilation=geometry.dilation, groups=geometry.groups,
    ).to(torch.int64)
    return -x_zp * padded_sum[0]


def _conv_skip_taps(x: torch.Tensor, x_zp: int, w_centered: torch.Tensor, geometry: ConvGeometry,
                    carrier: torch.dtype) -> torch.Tensor:
    """Accumulate tap by tap, adding only the products whose input position lies inside ``x``."""
    batch = x.shape[0]
    groups = geometry.groups
    c_in_group = geometry.in_channels // groups
    c_out_group = geometry.out_channels // groups
    out_size = geometry.output_size
    x_centered = (x.to(torch.int64) - x_zp).to(carrier).view(batch, groups, c_in_group, *geometry.input_size)
    w_grouped = w_centered.to(carrier).view(groups, c_out_group, c_in_group, *geometry.kernel_size)
    acc = torch.zeros((batch, groups, c_out_group, *out_size), dtype=carrier)

    for tap in itertools.product(*(range(k) for k in geometry.kernel_size)):
        out_slices, in_slices = [], []
        for axis, k in enumerate(tap):
            stride, dilation = geometry.stride[axis], geometry.dilation[axis]
            before = geometry.padding[axis][0]
            size = geometry.input_size[axis]
            # Input index of output o on this axis: o * stride − before + k * dilation.
            offset = k * dilation - before
            first = max(0, -(offset // stride))  # smallest o with o * stride + offset >= 0
            last = min(out_size[axis] - 1, (size - 1 - offset) // stride)
            if last < first:
                break
            out_slices.append(slice(first, last + 1))
            start = first * stride + offset
            in_slices.append(slice(start, start + (last - first) * stride + 1, stride))
        else:
            window = x_centered[(slice(None), slice(None), slice(None), *in_slices)]
            weights = w_grouped[(slice(None), slice(None), slice(None), *tap)]
            # (N, G, C_in_g, *S) × (G, C_out_g, C_in_g) → (N, G, C_out_g, *S)
            contribution = torch.einsum("ngc...,goc->ngo...", window, weights)
            acc[(slice(None), slice(None), slice(None), *out_slices)] += contribution
    return acc.reshape(batch, geometry.out_channels, *out_size).to(torch.int64)


def padding_error_map(
    input_size: tuple[int, ...],
    w: torch.Tensor,
    x_zero_point: int,
    w_zero_point: int | torch.Tensor = 0,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
    x_dtype: torch.dtype = torch.uint8,
) -> torch.Tensor:
    """Predict, without any input data, the error of ``method="naive_zero_pad"`` at every output.

    Taught in "The padding trap in integer convolution". A tap in the padding should contribute
    ``(x_zp − x_zp)(w − w_zp) = 0`` but the naive method feeds it the integer 0, so it contributes
    ``(0 − x_zp)(w − w_zp)``. The error is therefore

        naive − exact = −x_zp · Σ (w − w_zp)   over the taps that fall in the padding.   (2)

    Args:
        input_size: the spatial size of the input, one positive int per spatial axis of ``w``.
        w, x_zero_point, w_zero_point, stride, padding, dilation, groups: as in :func:`conv_integer`.
        x_dtype: the integer dtype of the input, against whose range ``x_zero_point`` is checked.

    Returns:
        int64 tensor (C_out, *out_spatial); the error is the same for every batch item.
    """
    w = _checks.require_integer_tensor("w", w)
    if w.dim() - 2 not in (1, 2, 3):
        raise ValueError(localize("spatial_rank", name="w", shape=tuple(w.shape), rank=max(w.dim() - 2, 0)))
    rank = w.dim() - 2
    size = tuple(input_size) if isinstance(input_size, (tuple, list, torch.Size)) else None
    if size is None or len(size) != rank or any(
            isinstance(item, bool) or not isinstance(item, int) or item < 1 for item in size):
        raise ValueError(localize("bad_size", value=input_size, rank=rank))
    in_channels = w.shape[1] * _checks.require_int("groups", groups)
    geometry = conv_geometry(size, in_channels, tuple(w.shape),
                             stride=stride, padding=padding, dilation=dilation, groups=groups)
    if x_dtype not in _checks.INTEGER_DTYPES:
        dtype_name = str(x_dtype).replace("torch.", "") if isinstance(x_dtype, torch.dtype) else repr(x_dtype)
        raise TypeError(localize("not_integer_dtype", name="x_dtype", dtype=dtype_name))
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x_dtype)
    w_zp = _checks.check_channel_zero_point("w_zero_point", w_zero_point, w.dtype, geometry.out_channels)
    w_centered = w.to(torch.int64) - _channel_view(w_zp, rank)
    return _padding_error(geometry, w_centered, x_zp)
