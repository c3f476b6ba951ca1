"""Requantization: from the int32 accumulator back to 8-bit outputs, and how wide the accumulator must be.

Taught in "Requantization" and "Accumulator width". The
output of a quantized convolution is

    y_q = y_zp + round(M · acc),   M = x_scale · w_scale / y_scale,                        (3)

where ``acc`` is the int32 accumulator plus the int32 bias. Preparation, which may use floats,
turns the real multiplier ``M`` into a fixed-point multiplier ``M0`` and a shift with

    M ≈ M0 · 2^(shift − 31),   2^30 ≤ M0 < 2^31,                                           (4)

and inference then computes (3) with integer operations only. Engines differ in how they round:

- ``"double"``: TFLite's default ``MultiplyByQuantizedMultiplier`` (gemmlowp's
  ``SaturatingRoundingDoublingHighMul`` then ``RoundingDivideByPOT``), which rounds twice.
- ``"single"``: the product ``acc · M0 · 2^(shift − 31)`` rounded once, exactly.
- ``"float"``: ONNX Runtime and PyTorch's CPU engines multiply in float32 and round half to even;
  see :func:`multiply_by_float_multiplier`.

Sources, as read for this module: TFLite ``tensorflow/lite/kernels/internal/quantization_util.cc``
(``QuantizeMultiplier``) and ``common.cc`` (``MultiplyByQuantizedMultiplier``), gemmlowp
``fixedpoint/fixedpoint.h``.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Literal, NamedTuple

import torch

from . import _checks
from .convolution import conv_integer
from .i18n import join_choices, localize, register_messages
from .quantization import _check_finite

Rounding = Literal["double", "single"]

#: The two integer-only ways :func:`multiply_by_quantized_multiplier` can round.
FIXED_POINT_ROUNDINGS: tuple[str, ...] = ("double", "single")

#: Smallest and largest shift that int32 arithmetic can apply (TFLite's limits).
MIN_SHIFT, MAX_SHIFT = -31, 30

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1

register_messages({
    "requantization.multiplier_not_number": {
        "en": "{name}={value!r} must be a real number such as 0.0123. Pass a Python float.",
        "zh-TW": "{name}={value!r} 必須是實數，例如 0.0123。請傳入 Python float。",
    },
    "requantization.multiplier_not_positive": {
        "en": ("real_multiplier={value!r} must be a finite number greater than 0. It is x_scale · w_scale / y_scale, "
               "so check that every scale is positive and finite."),
        "zh-TW": ("real_multiplier={value!r} 必須是大於 0 的有限數值。它等於 x_scale · w_scale / y_scale，"
                  "請確認每個縮放因子（scale）都是正的有限數值。"),
    },
    "requantization.multiplier_out_of_range": {
        "en": ("real_multiplier={value!r} needs shift={shift}, but int32 arithmetic supports shifts from {min_shift} "
               "to {max_shift}, that is multipliers from 2^-32 ≈ 2.3e-10 up to just below 2^30 ≈ 1.07e9. "
               "Choose scales whose ratio x_scale · w_scale / y_scale lies in that range."),
        "zh-TW": ("real_multiplier={value!r} 需要 shift={shift}，但 int32 運算只支援 {min_shift} 到 {max_shift} 的位移，"
                  "也就是乘數介於 2^-32 ≈ 2.3e-10 與略小於 2^30 ≈ 1.07e9 之間。"
                  "請選擇讓 x_scale · w_scale / y_scale 落在此範圍內的縮放因子。"),
    },
    "requantization.bad_rounding": {
        "en": "rounding={value!r} is not one of {choices}.",
        "zh-TW": "rounding={value!r} 不是 {choices} 之一。",
    },
    "requantization.fixed_point_out_of_range": {
        "en": ("M0={value} is outside [0, 2^31 − 1]. M0 is a Q0.31 fixed-point value; get it from "
               "qlesson.quantize_multiplier(...)."),
        "zh-TW": ("M0={value} 超出 [0, 2^31 − 1]。M0 是 Q0.31 定點數，"
                  "請用 qlesson.quantize_multiplier(...) 取得。"),
    },
    "requantization.shift_out_of_range": {
        "en": "shift={value} is outside [{min_shift}, {max_shift}], the shifts that int32 arithmetic supports.",
        "zh-TW": "shift={value} 超出 [{min_shift}, {max_shift}]，也就是 int32 運算支援的位移範圍。",
    },
    "requantization.per_channel_mismatch": {
        "en": ("M0 has {m0_length} entries and shift has {shift_length}, but acc has shape {shape} with "
               "{channels} channels on axis 1. Pass one M0 and one shift per output channel, or one int each."),
        "zh-TW": ("M0 有 {m0_length} 個元素、shift 有 {shift_length} 個，但 acc 的形狀是 {shape}，第 1 軸有 "
                  "{channels} 個通道。請每個輸出通道各給一個 M0 與一個 shift，或各給一個整數。"),
    },
    "requantization.multiplier_length": {
        "en": ("multiplier has {length} entries but acc has shape {shape} with {channels} channels on axis 1. "
               "Pass one multiplier per output channel, or a single float."),
        "zh-TW": ("multiplier 有 {length} 個元素，但 acc 的形狀是 {shape}，第 1 軸有 {channels} 個通道。"
                  "請每個輸出通道給一個乘數，或只給一個 float。"),
    },
    "requantization.acc_outside_int32": {
        "en": ("{name} contains {value}, outside the int32 range [-2^31, 2^31 − 1]. An int32 pipeline cannot hold it; "
               "check the accumulator with qlesson.conv_integer_int32(...)."),
        "zh-TW": ("{name} 含有 {value}，超出 int32 範圍 [-2^31, 2^31 − 1]。int32 管線無法存放這個值，"
                  "請用 qlesson.conv_integer_int32(...) 檢查累加器（accumulator）。"),
    },
    "requantization.left_shift_overflow": {
        "en": ("acc={value} shifted left by {shift} bits is {shifted}, outside int32, so TFLite's "
               "MultiplyByQuantizedMultiplier would overflow here. Use a smaller multiplier or a smaller accumulator."),
        "zh-TW": ("acc={value} 左移 {shift} 位元後是 {shifted}，超出 int32，TFLite 的 MultiplyByQuantizedMultiplier "
                  "在這裡會溢位（overflow）。請使用較小的乘數或較小的累加器值。"),
    },
    "requantization.result_outside_int32": {
        "en": ("acc={value} times the multiplier rounds to {result}, outside int32; TFLite's single-rounding "
               "MultiplyByQuantizedMultiplier requires the result to fit. Use a smaller multiplier."),
        "zh-TW": ("acc={value} 乘上乘數後捨入為 {result}，超出 int32；TFLite 單次捨入的 "
                  "MultiplyByQuantizedMultiplier 要求結果放得進 int32。請使用較小的乘數。"),
    },
    "requantization.bad_search_limit": {
        "en": ("limit={value!r} must be an int from 1 to 2^22 = 4194304, the largest |acc| to try; the search "
               "holds every candidate in memory at once."),
        "zh-TW": ("limit={value!r} 必須是 1 到 2^22 = 4194304 的整數，也就是要嘗試的最大 |acc|；"
                  "搜尋時所有候選值會同時放在記憶體中。"),
    },
    "requantization.bad_taps": {
        "en": "taps={value!r} must be a positive int, the number of products per output (C_in / groups · kernel size).",
        "zh-TW": "taps={value!r} 必須是正整數，也就是每個輸出的乘積個數（C_in / groups · 卷積核大小）。",
    },
    "requantization.bad_dtype": {
        "en": "{name}={value!r} is not supported here; use {choices}.",
        "zh-TW": "這裡不支援 {name}={value!r}，請使用 {choices}。",
    },
    "requantization.int32_wrap": {
        "en": ("The int32 accumulator wraps around at {count} of {total} outputs. At index {index} the exact sum "
               "is {exact} but int32 holds {wrapped}. Use fewer taps or narrower operand ranges, or accumulate "
               "in int64; qlesson.accumulator_bound(...) gives the worst case."),
        "zh-TW": ("int32 累加器在 {total} 個輸出中有 {count} 個繞回（wrap around）。在索引 {index}，"
                  "精確的和是 {exact}，但 int32 存放的是 {wrapped}。請減少取樣點（tap）、縮小運算元範圍，"
                  "或改用 int64 累加；qlesson.accumulator_bound(...) 會算出最壞情況。"),
    },
    "requantization.pair_dtypes": {
        "en": ("x must be uint8 and w int8 for the u8 × s8 multiply-add, got {x_dtype} and {w_dtype}. "
               "This instruction multiplies unsigned activations by signed weights."),
        "zh-TW": ("u8 × s8 乘加需要 uint8 的 x 與 int8 的 w，收到的是 {x_dtype} 與 {w_dtype}。"
                  "這個指令是把無號的激勵值乘上有號的權重。"),
    },
    "requantization.pair_shapes": {
        "en": ("x has shape {x_shape} and w has shape {w_shape}: they must match, with an even last axis, "
               "because adjacent pairs along the last axis are added. Pad the last axis with one zero if needed."),
        "zh-TW": ("x 的形狀是 {x_shape}、w 的形狀是 {w_shape}：兩者必須相同，且最後一軸長度為偶數，"
                  "因為是把最後一軸上相鄰的兩個乘積相加。必要時請在最後一軸補一個 0。"),
    },
})


# ---------------------------------------------------------------------------------------------
# Preparation (float arithmetic allowed): the fixed-point multiplier
# ---------------------------------------------------------------------------------------------

def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """Split a positive real multiplier into a Q0.31 fixed-point multiplier and a power-of-two shift.

    Taught in "Requantization". This is preparation, so it uses
    float arithmetic. It follows TFLite's ``QuantizeMultiplier``: ``frexp`` gives
    ``real = q · 2^shift`` with ``q`` in [0.5, 1), then ``M0 = round(q · 2^31)`` rounds half away
    from zero. When that rounding reaches ``2^31``, ``M0`` is halved and ``shift`` grows by one, so
    ``M0`` always lies in [2^30, 2^31). A positive ``shift`` is a left shift.

    TFLite flushes a multiplier whose shift would be below -31 to zero. This function raises
    ``ValueError`` for any shift outside [-31, 30] instead.

    Returns:
        ``(M0, shift)`` with ``real_multiplier ≈ M0 · 2^(shift − 31)``, the relative error at most 2^-31.
    """
    if isinstance(real_multiplier, bool) or not isinstance(real_multiplier, (int, float)):
        if isinstance(real_multiplier, torch.Tensor) and real_multiplier.numel() == 1 \
                and real_multiplier.is_floating_point():
            real_multiplier = float(real_multiplier)
        else:
            raise TypeError(localize("requantization.multiplier_not_number", name="real_multiplier",
                                     value=real_multiplier))
    real_multiplier = float(real_multiplier)
    if not math.isfinite(real_multiplier) or real_multiplier <= 0:
        raise ValueError(localize("requantization.multiplier_not_positive", value=real_multiplier))
    fraction, shift = math.frexp(real_multiplier)
    # q · 2^31 is exact in a double, so only the final rounding to an integer is inexact.
    m0 = _round_half_away(Fraction(fraction) * 2**31)
    if m0 == 2**31:
        m0 //= 2
        shift += 1
    if not MIN_SHIFT <= shift <= MAX_SHIFT:
        raise ValueError(localize(
            "requantization.multiplier_out_of_range", value=real_multiplier, shift=shift,
            min_shift=MIN_SHIFT, max_shift=MAX_SHIFT))
    return m0, shift


def quantize_multipliers(real_multipliers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply :func:`quantize_multiplier` to each entry of a 1-D tensor, one per output channel.

    Returns:
        ``(M0, shift)``, two int64 tensors with the shape of ``real_multipliers``.
    """
    reals = _checks.require_tensor("real_multipliers", real_multipliers)
    pairs = [quantize_multiplier(float(value)) for value in reals.reshape(-1).tolist()]
    m0 = torch.tensor([pair[0] for pair in pairs], dtype=torch.int64).reshape(reals.shape)
    shift = torch.tensor([pair[1] for pair in pairs], dtype=torch.int64).reshape(reals.shape)
    return m0, shift


def _round_half_away(value: Fraction) -> int:
    """Round a rational to the nearest integer, ties away from zero (C's ``std::round``)."""
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return magnitude if value >= 0 else -magnitude


# ---------------------------------------------------------------------------------------------
# Inference (integer-only): multiplying the accumulator by M0 · 2^(shift − 31)
# ---------------------------------------------------------------------------------------------

def multiply_by_quantized_multiplier(
    acc: torch.Tensor, M0: int | torch.Tensor, shift: int | torch.Tensor, *, rounding: Rounding = "double",
) -> torch.Tensor:
    """Multiply an int32 accumulator by ``M0 · 2^(shift − 31)`` with integer operations only.

    Taught in "Requantization". The arithmetic runs in int64 on
    values within the int32 range, so it matches a C implementation bit for bit.

    - ``"double"`` is TFLite's default build. The accumulator is first shifted left by
      ``max(shift, 0)``, then ``SaturatingRoundingDoublingHighMul`` rounds ``acc · M0 / 2^31`` to
      the nearest integer with ties toward +∞, then ``RoundingDivideByPOT`` divides by
      ``2^max(−shift, 0)`` with ties away from zero. Two roundings can differ from one by 1;
      :func:`find_double_rounding_mismatch` finds such an input.
    - ``"single"`` rounds the exact product ``acc · M0 · 2^(shift − 31)`` once, ties away from zero.
      TFLite's ``TFLITE_SINGLE_ROUNDING`` build also rounds once, but with ties toward +∞, so the
      two differ only at negative exact ties.

    Args:
        acc: integer tensor whose values lie in the int32 range. With per-channel ``M0`` and
            ``shift`` its shape is (N, C, ...), with C on axis 1.
        M0: an int in [0, 2^31), or a 1-D integer tensor of C values, one per output channel.
        shift: an int in [-31, 30], or a 1-D integer tensor of C values.
        rounding: ``"double"`` or ``"single"``.

    Returns:
        int64 tensor with the shape of ``acc``; every value lies in the int32 range.

    Raises:
        ValueError: an input is outside the range an int32 implementation accepts.
        OverflowError: the left shift (``"double"``) or the result (``"single"``) leaves int32,
            where a C implementation would overflow.
    """
    acc = _checks.require_integer_tensor("acc", acc)
    if rounding not in FIXED_POINT_ROUNDINGS:
        raise ValueError(localize("requantization.bad_rounding", value=rounding,
                                  choices=join_choices(FIXED_POINT_ROUNDINGS)))
    _require_int32("acc", acc)
    acc = acc.to(torch.int64)
    m0, shift = _fixed_point_operands(acc, M0, shift)
    if rounding == "double":
        return _multiply_double_rounding(acc, m0, shift)
    return _multiply_single_rounding(acc, m0, shift)


def _fixed_point_operands(acc: torch.Tensor, m0: object, shift: object
                          ) -> tuple[int | torch.Tensor, int | torch.Tensor]:
    """Validate ``M0`` and ``shift`` and shape per-channel values to broadcast on axis 1 of ``acc``."""
    per_channel = any(isinstance(value, torch.Tensor) and value.dim() > 0 for value in (m0, shift))
    if not per_channel:
        m0_int = _checks.require_int("M0", m0)
        shift_int = _checks.require_int("shift", shift)
        _check_fixed_point_range(torch.tensor([m0_int]), torch.tensor([shift_int]))
        return m0_int, shift_int

    channels = acc.shape[1] if acc.dim() >= 2 else 0
    m0_tensor = _as_channel_vector("M0", m0, channels)
    shift_tensor = _as_channel_vector("shift", shift, channels)
    if m0_tensor.numel() != channels or shift_tensor.numel() != channels:
        raise ValueError(localize(
            "requantization.per_channel_mismatch", m0_length=m0_tensor.numel(),
            shift_length=shift_tensor.numel(), shape=tuple(acc.shape), channels=channels))
    _check_fixed_point_range(m0_tensor, shift_tensor)
    view = (1, channels, *([1] * (acc.dim() - 2)))
    return m0_tensor.view(view), shift_tensor.view(view)


def _as_channel_vector(name: str, value: object, channels: int) -> torch.Tensor:
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        if value.dim() != 1:
            raise ValueError(localize("per_channel_shape", name=name, shape=tuple(value.shape)))
        if value.dtype not in _checks.INTEGER_DTYPES:
            raise TypeError(localize("not_integer_dtype", name=name, dtype=str(value.dtype).replace("torch.", "")))
        return value.to(torch.int64)
    return torch.full((max(channels, 1),), _checks.require_int(name, value), dtype=torch.int64)


def _check_fixed_point_range(m0: torch.Tensor, shift: torch.Tensor) -> None:
    bad_m0 = m0[(m0 < 0) | (m0 > INT32_MAX)]
    if bad_m0.numel():
        raise ValueError(localize("requantization.fixed_point_out_of_range", value=int(bad_m0[0])))
    bad_shift = shift[(shift < MIN_SHIFT) | (shift > MAX_SHIFT)]
    if bad_shift.numel():
        raise ValueError(localize("requantization.shift_out_of_range", value=int(bad_shift[0]),
                                  min_shift=MIN_SHIFT, max_shift=MAX_SHIFT))


def _require_int32(name: str, values: torch.Tensor) -> None:
    outside = values[(values < INT32_MIN) | (values > INT32_MAX)] if values.dtype == torch.int64 else values[:0]
    if outside.numel():
        raise ValueError(localize("requantization.acc_outside_int32", name=name, value=int(outside[0])))


def _multiply_double_rounding(acc: torch.Tensor, m0: int | torch.Tensor, shift: int | torch.Tensor) -> torch.Tensor:
    if isinstance(shift, torch.Tensor):
        left, right = shift.clamp(min=0), (-shift).clamp(min=0)
    else:
        left, right = max(shift, 0), max(-shift, 0)

    # TFLite computes x * (1 << left_shift) in int32; reject what would overflow there.
    shifted = acc << left
    overflow = (shifted < INT32_MIN) | (shifted > INT32_MAX)
    if bool(overflow.any()):
        index = tuple(int(i) for i in overflow.nonzero()[0])
        left_at = torch.broadcast_to(torch.as_tensor(left), acc.shape)[index]
        raise OverflowError(localize("requantization.left_shift_overflow", value=int(acc[index]),
                                     shift=int(left_at), shifted=int(shifted[index])))

    # SaturatingRoundingDoublingHighMul: round(a · b / 2^31), ties toward +∞. The product of two
    # int32 values fits int64, and C's integer division truncates toward zero. Its one saturating
    # case, a == b == −2^31, cannot occur because M0 ≥ 0.
    product = shifted * m0
    nudge = torch.where(product >= 0, torch.tensor(2**30), torch.tensor(1 - 2**30))
    high = torch.div(product + nudge, 2**31, rounding_mode="trunc")

    # RoundingDivideByPOT: high / 2^right, ties away from zero.
    mask = (torch.ones_like(high) << right) - 1
    remainder = high & mask
    threshold = (mask >> 1) + (high < 0).to(torch.int64)
    return (high >> right) + (remainder > threshold).to(torch.int64)


def _multiply_single_rounding(acc: torch.Tensor, m0: int | torch.Tensor, shift: int | torch.Tensor) -> torch.Tensor:
    # |acc · M0| < 2^62 and the total shift 31 − shift lies in [1, 62], so every step fits in int64.
    product = acc * m0
    total_shift = 31 - shift
    half = (torch.ones_like(product) << (total_shift - 1))
    magnitude = (product.abs() + half) >> total_shift
    result = torch.where(product < 0, -magnitude, magnitude)
    outside = (result < INT32_MIN) | (result > INT32_MAX)
    if bool(outside.any()):
        index = tuple(int(i) for i in outside.nonzero()[0])
        raise OverflowError(localize(
            "requantization.result_outside_int32", value=int(acc[index]), result=int(result[index])))
    return result


def multiply_by_float_multiplier(acc: torch.Tensor, multiplier: float | torch.Tensor) -> torch.Tensor:
    """Multiply an accumulator by a float32 multiplier and round half to even, as CPU engines do.

    Taught in "Requantization". This is not integer-only: it
    emulates ONNX Runtime's ``MlasRequantizeOutput`` (``onnxruntime/core/mlas/lib/quantize.cpp``)
    and fbgemm's ``requantizeOutputProcessingAvx2`` (``src/QuantUtilsAvx2.cc``), which PyTorch's
    ``fbgemm`` and ``x86`` engines call. Both convert the int32 value to float32 (exact below
    2^24, rounded half to even above), multiply by a float32 multiplier (one more rounding), and
    convert back to an integer rounding half to even. Every float32 operation here is IEEE 754,
    so the result is bit-identical to theirs.

    Args:
        acc: integer tensor in the int32 range; with a per-channel multiplier its shape is (N, C, ...).
        multiplier: a positive float, or a 1-D float tensor with one entry per channel on axis 1.
            It is first rounded to float32.

    Returns:
        int64 tensor with the shape of ``acc``, not yet clamped to any output range.
    """
    acc = _checks.require_integer_tensor("acc", acc)
    _require_int32("acc", acc)
    if isinstance(multiplier, torch.Tensor) and multiplier.dim() > 0:
        channels = acc.shape[1] if acc.dim() >= 2 else 0
        if multiplier.dim() != 1 or multiplier.numel() != channels:
            raise ValueError(localize("requantization.multiplier_length", length=multiplier.numel(),
                                      shape=tuple(acc.shape), channels=channels))
        if not multiplier.is_floating_point():
            raise TypeError(localize("not_float_tensor", name="multiplier",
                                     dtype=str(multiplier.dtype).replace("torch.", "")))
        values = multiplier.to(torch.float32)
        factor = values.view(1, channels, *([1] * (acc.dim() - 2)))
    else:
        if isinstance(multiplier, bool) or not isinstance(multiplier, (int, float, torch.Tensor)):
            raise TypeError(localize("requantization.multiplier_not_number", name="multiplier", value=multiplier))
        values = torch.tensor([float(multiplier)], dtype=torch.float32)
        factor = values[0]
    if not bool((torch.isfinite(values) & (values > 0)).all()):
        raise ValueError(localize("requantization.multiplier_not_positive", value=multiplier))
    scaled = acc.to(torch.float32) * factor
    return torch.round(scaled).to(torch.int64)


class RoundingMismatch(NamedTuple):
    """An accumulator value where double rounding and single rounding give different outputs."""

    acc: int
    double: int
    single: int
    exact: Fraction


#: Largest ``limit`` of the rounding searches. Each search keeps 2 · limit int64 candidates and the
#: temporaries of both roundings in memory at once, a measured peak of about 800 MiB at this limit.
MAX_SEARCH_LIMIT = 2**22


def check_search_limit(limit: object) -> int:
    """Return ``limit`` if it is an int from 1 to :data:`MAX_SEARCH_LIMIT`, and raise otherwise."""
    limit = _checks.require_int("limit", limit)
    if not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise ValueError(localize("requantization.bad_search_limit", value=limit))
    return limit


def find_double_rounding_mismatch(M0: int, shift: int, *, limit: int = 2**20) -> RoundingMismatch | None:
    """Find the accumulator of smallest magnitude where ``"double"`` and ``"single"`` rounding disagree.

    Taught in "Requantization". Tries every ``acc`` with
    ``1 ≤ |acc| ≤ limit``, positive first on equal magnitude, all in one vectorized pass.

    Returns:
        a :class:`RoundingMismatch` with both results and the exact product ``acc · M0 · 2^(shift − 31)``
        as a :class:`fractions.Fraction`, or ``None`` if the two roundings agree on the whole range.
    """
    check_search_limit(limit)
    magnitudes = torch.arange(1, limit + 1, dtype=torch.int64)
    # Interleave +1, −1, +2, −2, ... so that the first hit has the smallest magnitude.
    candidates = torch.stack([magnitudes, -magnitudes], dim=1).reshape(-1)
    double = multiply_by_quantized_multiplier(candidates, M0, shift, rounding="double")
    single = multiply_by_quantized_multiplier(candidates, M0, shift, rounding="single")
    differing = (double != single).nonzero()
    if differing.numel() == 0:
        return None
    first = int(differing[0, 0])
    acc = int(candidates[first])
    return RoundingMismatch(acc=acc, double=int(double[first]), single=int(single[first]),
                            exact=Fraction(acc * M0) * Fraction(2) ** (shift - 31))


# ---------------------------------------------------------------------------------------------
# Accumulator width: the worst case, int32 wrap-around and 16-bit pair saturation
# ---------------------------------------------------------------------------------------------

def _max_distance(dtype_name: str, dtype: torch.dtype, name: str, zero_point: object) -> int:
    """Return max |q − zp| over every q of ``dtype`` and every zero point given."""
    if dtype not in (torch.uint8, torch.int8, torch.int16):
        raise ValueError(localize("requantization.bad_dtype", name=dtype_name, value=dtype,
                                  choices=join_choices(("torch.uint8", "torch.int8", "torch.int16"))))
    if isinstance(zero_point, torch.Tensor) and zero_point.dim() > 0:
        zero_points = _checks.check_channel_zero_point(name, zero_point, dtype, zero_point.numel()).tolist()
    else:
        zero_points = [_checks.check_zero_point(name, zero_point, dtype)]
    return _checks.max_offset(dtype, min(zero_points), max(zero_points))


def accumulator_bound(
    taps: int, x_zero_point: int = 0, w_zero_point: int | torch.Tensor = 0,
    x_dtype: torch.dtype = torch.uint8, w_dtype: torch.dtype = torch.int8,
) -> int:
    """Return the largest possible |acc|, ``taps · max|x − x_zp| · max|w − w_zp|``, over all inputs of these dtypes.

    Taught in "Accumulator width". ``taps`` is the number of products per output,
    ``C_in / groups · prod(kernel)``. If the bound is at most 2^31 − 1, no input can make an
    int32 accumulator wrap around. Compare it with ``2**31 - 1``.
    """
    if isinstance(taps, bool) or not isinstance(taps, int) or taps < 1:
        raise ValueError(localize("requantization.bad_taps", value=taps))
    x_distance = _max_distance("x_dtype", x_dtype, "x_zero_point", x_zero_point)
    w_distance = _max_distance("w_dtype", w_dtype, "w_zero_point", w_zero_point)
    return taps * x_distance * w_distance


def max_taps_int32(
    x_zero_point: int = 0, w_zero_point: int | torch.Tensor = 0,
    x_dtype: torch.dtype = torch.uint8, w_dtype: torch.dtype = torch.int8,
) -> int:
    """Return the most taps per output for which :func:`accumulator_bound` still fits int32."""
    per_tap = accumulator_bound(1, x_zero_point, w_zero_point, x_dtype, w_dtype)
    return INT32_MAX // per_tap if per_tap else INT32_MAX


def wrap_int32(values: torch.Tensor) -> torch.Tensor:
    """Return what a two's-complement int32 holds for each integer: the value modulo 2^32, as int64.

    Taught in "Accumulator width". Integer addition wraps, so a sum of int32 terms
    equals the exact sum modulo 2^32 whatever the order; only the final value matters.
    """
    values = _checks.require_integer_tensor("values", values).to(torch.int64)
    return torch.remainder(values + 2**31, 2**32) - 2**31


def conv_integer_int32(
    x: torch.Tensor,
    w: torch.Tensor,
    x_zero_point: int = 0,
    w_zero_point: int | torch.Tensor = 0,
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int = 1,
) -> torch.Tensor:
    """Compute :func:`qlesson.conv_integer` as an int32 accumulator would, and raise where it wraps around.

    Taught in "Accumulator width". The exact int64 accumulator is computed first. If any
    value lies outside the int32 range, an int32 accumulator contains :func:`wrap_int32` of it
    instead, and this function raises ``OverflowError`` naming the count, the first index, the
    exact value and the wrapped one. It never returns a wrapped value.

    Returns:
        the int64 accumulator (N, C_out, *out_spatial), every value in the int32 range.
    """
    exact = conv_integer(x, w, x_zero_point, w_zero_point, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, method="zero_point_pad")
    outside = (exact < INT32_MIN) | (exact > INT32_MAX)
    if bool(outside.any()):
        index = tuple(int(i) for i in outside.nonzero()[0])
        value = int(exact[index])
        raise OverflowError(localize(
            "requantization.int32_wrap", count=int(outside.sum()), total=exact.numel(), index=index,
            exact=value, wrapped=int(wrap_int32(torch.tensor(value)))))
    return exact


def pairwise_multiply_add(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Multiply uint8 by int8 and add adjacent pairs with signed 16-bit saturation, as x86 ``vpmaddubsw`` does.

    Taught in "Accumulator width". ``vpmaddubsw`` (``_mm256_maddubs_epi16``) computes
    ``clamp(x[2i]·w[2i] + x[2i+1]·w[2i+1], −32768, 32767)``. Two products of 255 and 127 add up
    to 64770, which saturates to 32767. This is why u8 × s8 kernels on CPUs without VNNI
    (``vpdpbusd``) can be wrong, and why PyTorch's observers offer ``reduce_range``.

    Args:
        x: uint8 tensor whose last axis has even length.
        w: int8 tensor of the same shape.

    Returns:
        int64 tensor with the last axis halved, each value in [−32768, 32767].
    """
    x, w = _check_pair_operands(x, w)
    products = x.to(torch.int64) * w.to(torch.int64)
    pairs = products.reshape(*products.shape[:-1], -1, 2).sum(dim=-1)
    return pairs.clamp(INT16_MIN, INT16_MAX)


def dot_u8s8_saturating(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Compute the dot product along the last axis as an AVX2 u8 × s8 kernel does.

    Taught in "Accumulator width". The kernel runs ``vpmaddubsw`` (saturating pair sums,
    :func:`pairwise_multiply_add`), then ``vpmaddwd`` with ones, which adds int16 pairs into int32
    exactly, then int32 additions. Only the first step can lose information. The zero-point
    terms are added separately by such kernels, so ``x`` and ``w`` are the raw quantized values.

    Returns:
        int64 tensor of the shape of ``x`` without its last axis. Compare it with
        ``(x.long() * w.long()).sum(-1)`` to see the saturation.
    """
    return pairwise_multiply_add(x, w).sum(dim=-1)


def _check_pair_operands(x: object, w: object) -> tuple[torch.Tensor, torch.Tensor]:
    x = _checks.require_tensor("x", x)
    w = _checks.require_tensor("w", w)
    if x.dtype != torch.uint8 or w.dtype != torch.int8:
        raise TypeError(localize("requantization.pair_dtypes", x_dtype=str(x.dtype).replace("torch.", ""),
                                 w_dtype=str(w.dtype).replace("torch.", "")))
    if x.shape != w.shape or x.dim() == 0 or x.shape[-1] % 2 or x.numel() == 0:
        raise ValueError(localize("requantization.pair_shapes", x_shape=tuple(x.shape), w_shape=tuple(w.shape)))
    return x, w


def reduced_range(dtype: torch.dtype) -> tuple[int, int]:
    """Return the 7-bit range that ``reduce_range`` uses: (0, 127) for uint8, (−64, 63) for int8.

    Taught in "Accumulator width". With activations in [0, 127] and weights in
    [−128, 127] a pair sum is at most 2 · 127 · 128 = 32512, so ``vpmaddubsw`` never saturates.
    The ranges are those of PyTorch's observers (``torch/ao/quantization/observer.py``).
    """
    if dtype == torch.uint8:
        return 0, 127
    if dtype == torch.int8:
        return -64, 63
    raise ValueError(localize("requantization.bad_dtype", name="dtype", value=dtype,
                              choices=join_choices(("torch.uint8", "torch.int8"))))


def choose_qparams_reduced_range(r_min: float, r_max: float, dtype: torch.dtype = torch.uint8
                                 ) -> tuple[float, int]:
    """Choose an asymmetric scale and zero point that map ``[r_min, r_max]`` onto :func:`reduced_range`.

    Taught in "Accumulator width". Preparation, so it uses floats. The range is first
    widened to contain 0, as :func:`qlesson.choose_qparams` does. Quantize with
    :func:`qlesson.quantize` and then clamp to :func:`reduced_range`, since ``quantize`` clamps
    to the full range of ``dtype``.

    Returns:
        ``(scale, zero_point)``, about twice the scale of the full 8-bit range.
    """
    r_min = _check_finite("r_min", r_min)
    r_max = _check_finite("r_max", r_max)
    if r_min > r_max:
        raise ValueError(localize("bad_range", r_min=r_min, r_max=r_max))
    q_min, q_max = reduced_range(dtype)
    r_min, r_max = min(r_min, 0.0), max(r_max, 0.0)
    if r_max == r_min:
        return 1.0, 0 if dtype == torch.int8 else q_min
    scale = (r_max - r_min) / (q_max - q_min)
    zero_point = int(min(max(q_min - round(r_min / scale), q_min), q_max))
    return scale, zero_point
