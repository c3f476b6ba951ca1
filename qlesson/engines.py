"""Run the same integer convolution through real inference engines and compare with qlesson.

Taught in "Do real engines pad with the zero point?". Each runner takes the integer tensors and
parameters that :func:`qlesson.conv_integer` and :func:`qlesson.qlinear_conv` take, runs one
engine on the CPU and returns its integer output as a torch tensor. A configuration that the
engine cannot run raises :class:`UnsupportedConfiguration` before the engine is called, with the
reason in the active language. An unexpected failure inside the engine raises :class:`EngineError`.
Where an engine would return a result computed from a wrapped int32 accumulator, the runner raises
``OverflowError`` before the engine is called.

Engines:

- ONNX Runtime ``ConvInteger`` and ``QLinearConv``: a one-node ONNX model built in memory and run
  by an ``InferenceSession`` on ``CPUExecutionProvider``; nothing is written to disk.
- PyTorch's quantized CPU engines (``torch.backends.quantized.supported_engines`` less
  ``"none"``): ``torch.ops.quantized.conv{1,2,3}d`` after ``conv{1,2,3}d_prepack``.

PyTorch's quantized tensors (``torch.quint8``, ``torch.qint8``) are deprecated in torch 2.13,
which warns once per process with a ``UserWarning`` that starts "torch.quantize_per_tensor,
torch.quantize_per_channel and other quantized tensor creation functions ... are deprecated".
:func:`torch_quantized_conv` suppresses exactly that warning around its own calls and no other.
The replacement is to keep plain ``torch.uint8`` / ``torch.int8`` tensors and handle scales and
zero points in model code, as torchao does. Its ``torchao.quantization.quantize_`` replaces eager
mode quantization, and ``torchao.quantization.pt2e`` (``prepare_pt2e`` / ``convert_pt2e``) replaces
FX graph mode for exported graphs; ExecuTorch's backend quantizers use the latter. Sources: the
PyTorch 2.13 quantization page (docs.pytorch.org/docs/2.13/quantization.html) and the deprecation
notice that the warning links to.
"""

from __future__ import annotations

import contextlib
import math
import platform
import re
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch

from . import _checks
from .convolution import ConvGeometry, conv_geometry, conv_integer
from .i18n import join_choices, localize, register_messages
from .qlinear import _check_bias, _check_operand, _check_zero_point_dtype, _scale_tensor, activation_range
from .requantization import INT32_MAX, INT32_MIN, wrap_int32

#: Start of the message of PyTorch 2.13's deprecation warning for quantized tensor creation.
TORCH_QUANTIZED_DEPRECATION = (
    r"torch\.quantize_per_tensor, torch\.quantize_per_channel and other quantized tensor creation "
    r"functions that produce tensors with dtype torch\.quint8, torch\.qint8, and torch\.qint32 are deprecated"
)

# ONNX opset and IR version of the generated models; ONNX Runtime 1.31 runs both.
_OPSET = 21
_IR_VERSION = 10

#: Limit, in output steps, on the bound of the float32 rounding error of PyTorch's bias path.
#: :func:`torch_quantized_conv` raises UnsupportedConfiguration where an output's bound reaches it.
FLOAT_BIAS_ERROR_LIMIT = 2.0**-10

# Bound on the float32 rounding error of PyTorch's bias path, as a fraction of M_c · (|acc| + |bias_c|), with
# M_c the float32 multiplier. Each float32 rounding to nearest moves a value by at most 2^-24 of its magnitude,
# and the error terms below are first order in 2^-24.
# FBGEMM's src/QuantUtilsAvx2.cc rounds acc once when it converts it to float32. With a per-tensor scale it
# rounds the bias three times: the runner's float32 bias · x_scale · w_scale, fbgemm's float32 reciprocal of
# x_scale · w_scale, and their product. With per-channel scales a single float32 quotient replaces the last two.
# Rounding the sum of acc and bias, and that sum times M_c, adds 2 · 2^-24 · |acc + bias|. So fbgemm is off by
# at most 5 · 2^-24 · (|acc| + |bias|) before the factor M_c.
# For bias 2^31 − 129, qnnpack returned acc + 2^31 − 128 exactly, so it rounds the bias through float32 to an
# integer and adds that in int32. If that path also rounds three times, the integer is off by at most
# 6 · 2^-24 · |bias|, which makes 8 · 2^-24 in all. rounding="float" itself is off by at most
# 2 · 2^-24 · |acc + bias|. One rounding (2^-24) or two (2^-23) would not cover these errors, so the constant
# is 8 · 2^-24 = 2^-21.
_FLOAT32_BIAS_ERROR = 2.0**-21

register_messages({
    "engines.not_a_geometry": {
        "en": "geometry must be a qlesson.ConvGeometry, got {kind}. Build one with qlesson.conv_geometry(...).",
        "zh-TW": "geometry 必須是 qlesson.ConvGeometry，收到的是 {kind}。請用 qlesson.conv_geometry(...) 建立。",
    },
    "engines.unsupported": {
        "en": "{engine} cannot run this configuration: {reason}",
        "zh-TW": "{engine} 無法執行這個設定：{reason}",
    },
    "engines.failed": {
        "en": "{engine} failed on a configuration qlesson expected it to run: {detail}",
        "zh-TW": "{engine} 在 qlesson 預期可執行的設定上失敗：{detail}",
    },
    "engines.reason.per_channel_zero_point": {
        "en": "w_zero_point must be one value for all output channels, got {values}.",
        "zh-TW": "w_zero_point 必須所有輸出通道共用同一個值，收到的是 {values}。",
    },
    "engines.reason.ort_dtypes": {
        "en": ("it takes uint8 x and output with uint8 or int8 w, or int8 for all three; got x {x_dtype}, "
               "w {w_dtype}, output {y_dtype}."),
        "zh-TW": ("它只接受 uint8 的 x 與輸出搭配 uint8 或 int8 的 w，或三者都是 int8；收到的是 x {x_dtype}、"
                  "w {w_dtype}、輸出 {y_dtype}。"),
    },
    "engines.reason.torch_dtypes": {
        "en": "it takes uint8 x (quint8) and int8 w (qint8) and returns uint8; got x {x_dtype}, w {w_dtype}.",
        "zh-TW": "它只接受 uint8 的 x（quint8）與 int8 的 w（qint8），並輸出 uint8；收到的是 x {x_dtype}、w {w_dtype}。",
    },
    "engines.reason.asymmetric_padding": {
        "en": "padding must be the same before and after on each axis, got {padding}.",
        "zh-TW": "每個軸前後的填補（padding）必須相同，收到的是 {padding}。",
    },
    "engines.reason.weight_zero_point_nonzero": {
        "en": "onednn takes only symmetric weights, w_zero_point = 0, got {values}.",
        "zh-TW": "onednn 只接受對稱量化的權重，也就是 w_zero_point = 0，收到的是 {values}。",
    },
    "engines.reason.activation": {
        "en": "only activation=None or 'relu' can be fused, got {value!r}.",
        "zh-TW": "只能融合 activation=None 或 'relu'，收到的是 {value!r}。",
    },
    "engines.reason.engine_missing": {
        "en": "this PyTorch build offers the quantized engines {available}.",
        "zh-TW": "這個 PyTorch 版本提供的量化推論引擎（engine）是 {available}。",
    },
    "engines.reason.onednn_padding_only": {
        "en": ("on spatial axis {axis} every tap of every output falls in the padding, so the convolution reads "
               "no input. PyTorch {version}'s onednn kernels crash (segmentation fault) or return wrong values "
               "there; use fbgemm or qnnpack, or a smaller padding."),
        "zh-TW": ("在第 {axis} 個空間軸上，每個輸出的每個取樣點（tap）都落在填補區，卷積完全沒有讀到輸入。"
                  "PyTorch {version} 的 onednn 核心在這種情況會當掉（segmentation fault）或傳回錯誤的值；"
                  "請改用 fbgemm 或 qnnpack，或縮小填補。"),
    },
    "engines.reason.float32_bias": {
        "en": ("PyTorch passes the bias to the engine in float32, so the engine rounds it before adding it to "
               "the int32 accumulator. At index {index} the accumulator is {acc} and the bias is {bias}, so the "
               "worst-case float32 rounding error there is {error} output steps, and the limit is {limit}. "
               "Use a smaller bias and accumulator, or use qlesson.qlinear_conv(...) or "
               "qlesson.onnxruntime_qlinear_conv(...), which add the bias in int32."),
        "zh-TW": ("PyTorch 以 float32 把偏置（bias）傳給推論引擎，所以引擎會先捨入偏置，再把它加到 int32 累加器。"
                  "在索引 {index}，累加器是 {acc}，偏置是 {bias}，因此該處 float32 捨入的最壞情況誤差是 {error} "
                  "個輸出間距，上限則是 {limit}。請縮小偏置與累加器，或改用以 int32 加上偏置的 "
                  "qlesson.qlinear_conv(...) 或 qlesson.onnxruntime_qlinear_conv(...)。"),
    },
    "engines.reason.kernel_missing": {
        "en": "it has no kernel for these types ({detail}).",
        "zh-TW": "它沒有這些型別的核心實作（{detail}）。",
    },
    "engines.torch_label": {
        "en": "PyTorch {version} quantized engine {engine!r}",
        "zh-TW": "PyTorch {version} 的量化推論引擎 {engine!r}",
    },
    "engines.int32_wrap": {
        "en": ("{engine} accumulates in int32, and that accumulator would wrap around at {count} of {total} outputs. "
               "At index {index} {quantity} is {exact} but int32 holds {wrapped}. {fix}"),
        "zh-TW": ("{engine} 以 int32 累加，這個累加器會在 {total} 個輸出中的 {count} 個繞回（wrap around）。"
                  "在索引 {index}，{quantity}是 {exact}，但 int32 存放的是 {wrapped}。{fix}"),
    },
    "engines.int32_wrap.sum": {
        "en": "the exact sum of products",
        "zh-TW": "乘積的精確和",
    },
    "engines.int32_wrap.sum_with_bias": {
        "en": "the exact sum of products plus bias",
        "zh-TW": "乘積的精確和加上偏置（bias）",
    },
    "engines.int32_wrap.fix_conv_integer": {
        "en": ("Use qlesson.conv_integer(...), which accumulates in int64, or use fewer taps or narrower operand "
               "ranges; qlesson.accumulator_bound(...) gives the worst case."),
        "zh-TW": ("請改用以 int64 累加的 qlesson.conv_integer(...)，或減少取樣點（tap）、縮小運算元範圍；"
                  "qlesson.accumulator_bound(...) 會算出最壞情況。"),
    },
    "engines.int32_wrap.fix_qlinear_conv": {
        "en": ("Use fewer taps, narrower operand ranges or a smaller bias; qlesson.conv_integer(...) accumulates "
               "in int64 and returns the exact sums."),
        "zh-TW": ("請減少取樣點（tap）、縮小運算元範圍或使用較小的偏置；qlesson.conv_integer(...) 以 int64 累加，"
                  "會傳回精確的和。"),
    },
    "engines.shape_mismatch": {
        "en": "result has shape {result_shape} but reference has shape {reference_shape}; compare outputs of the same problem.",
        "zh-TW": "result 的形狀是 {result_shape}，reference 的形狀是 {reference_shape}；請比較同一個問題的輸出。",
    },
    "engines.comparison": {
        "en": "{mismatches} of {total} outputs differ, max |difference| {max_difference}",
        "zh-TW": "{total} 個輸出中有 {mismatches} 個不同，最大絕對差 {max_difference}",
    },
})


class UnsupportedConfiguration(NotImplementedError):
    """Error raised when an engine cannot run the requested configuration, naming the engine and the reason."""


class EngineError(RuntimeError):
    """Error raised when an engine fails on a configuration that qlesson expected it to run."""


def _unsupported(engine: str, reason_key: str, **fields: object) -> UnsupportedConfiguration:
    return UnsupportedConfiguration(localize("engines.unsupported", engine=engine,
                                             reason=localize(reason_key, **fields)))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _problem_geometry(x: torch.Tensor, w: torch.Tensor, stride: object, padding: object, dilation: object,
                      groups: object) -> ConvGeometry:
    _checks.spatial_rank("x", x)
    if w.dim() != x.dim():
        raise ValueError(localize("rank_mismatch", x_shape=tuple(x.shape), w_shape=tuple(w.shape)))
    return conv_geometry(tuple(x.shape[2:]), x.shape[1], tuple(w.shape), stride=stride, padding=padding,
                         dilation=dilation, groups=groups)


def _weight_zero_points(w_zero_point: object, w: torch.Tensor) -> torch.Tensor:
    return _checks.check_channel_zero_point("w_zero_point", w_zero_point, w.dtype, w.shape[0])


def _check_zero_points(x_zero_point: object, x: torch.Tensor, w_zero_point: object,
                       w: torch.Tensor) -> tuple[int, torch.Tensor]:
    """Validate the zero points of ``x`` and ``w`` and return them as an int and a per-channel tensor.

    As in ONNX, a zero point given as a tensor must have the dtype of its operand.
    """
    _check_zero_point_dtype("x_zero_point", x_zero_point, "x", x.dtype)
    _check_zero_point_dtype("w_zero_point", w_zero_point, "w", w.dtype)
    return _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype), _weight_zero_points(w_zero_point, w)


def _check_scales(x_scale: object, w_scale: object, y_scale: object,
                  channels: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Validate the three scales and return them as float32 tensors, plus whether ``w_scale`` is per-channel."""
    per_channel = isinstance(w_scale, torch.Tensor) and w_scale.numel() > 1
    return (_scale_tensor("x_scale", x_scale, None), _scale_tensor("w_scale", w_scale, channels),
            _scale_tensor("y_scale", y_scale, None), per_channel)


def padding_only_axis(geometry: ConvGeometry) -> int | None:
    """Return the first spatial axis on which no tap of any output reaches the input, or ``None``.

    On such an axis every output window lies entirely in the padding, so every output equals its
    bias alone (a tap in the padding contributes ``(x_zp − x_zp)(w − w_zp) = 0``).
    """
    if not isinstance(geometry, ConvGeometry):
        raise TypeError(localize("engines.not_a_geometry", kind=type(geometry).__name__))
    for axis, (size, kernel, stride, dilation, (before, _)) in enumerate(zip(
            geometry.input_size, geometry.kernel_size, geometry.stride, geometry.dilation, geometry.padding)):
        out_size = geometry.output_size[axis]
        reaches_input = any(
            0 <= out * stride - before + tap * dilation < size
            for out in range(out_size) for tap in range(kernel))
        if not reaches_input:
            return axis
    return None


def x86_u8s8_may_saturate() -> bool:
    """Return whether this CPU may run u8 × s8 kernels with ``vpmaddubsw``, whose int16 pair sums saturate.

    Taught in "Accumulator width". x86 CPUs with AVX512-VNNI or AVX-VNNI have
    ``vpdpbusd``, which accumulates in int32 and cannot saturate. ONNX Runtime's change "x86/64
    U8S8 Gemm Precision Fix" names SSE4.1, AVX2 and AVX512 CPUs without VNNI as the ones with
    overflow problems. Reads ``/proc/cpuinfo``, so outside Linux an x86 CPU is assumed to lack VNNI.
    Non-x86 CPUs return ``False``.
    """
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = set(re.findall(r"\b\w+\b", cpuinfo.read()))
    except OSError:
        return True
    return not ({"avx512_vnni", "avx_vnni"} & flags)


# ---------------------------------------------------------------------------------------------
# ONNX Runtime
# ---------------------------------------------------------------------------------------------

def _onnx_attributes(geometry: ConvGeometry) -> dict[str, object]:
    return {
        "kernel_shape": list(geometry.kernel_size),
        "strides": list(geometry.stride),
        "dilations": list(geometry.dilation),
        # ONNX orders pads as all begins, then all ends.
        "pads": [before for before, _ in geometry.padding] + [after for _, after in geometry.padding],
        "group": geometry.groups,
    }


class _Accumulator:
    """Sums of products of one problem, with a static bound on their magnitude and the exact sums on request.

    The exact sums cost a second convolution, so :meth:`exact` computes them on its first call only.
    """

    def __init__(self, x: torch.Tensor, w: torch.Tensor, x_zp: int, w_zp: torch.Tensor,
                 geometry: ConvGeometry) -> None:
        self._operands = (x, w, x_zp, w_zp, geometry)
        self._exact: torch.Tensor | None = None
        taps = math.prod(w.shape[1:])
        max_x_offset = max(int(x.max()) - x_zp, x_zp - int(x.min()))
        w_offsets = w.to(torch.int64) - w_zp.view(-1, *([1] * (w.dim() - 1)))
        # The engines pad with x_zp, so padded taps add 0 and the bound holds for them too.
        self.bound = taps * max_x_offset * int(w_offsets.abs().max())

    def exact(self) -> torch.Tensor:
        """Return the exact int64 sums (N, C_out, *out_spatial), computed with the input padded by ``x_zp``."""
        if self._exact is None:
            x, w, x_zp, w_zp, geometry = self._operands
            self._exact = conv_integer(x, w, x_zp, w_zp, stride=geometry.stride, padding=geometry.padding,
                                       dilation=geometry.dilation, groups=geometry.groups, method="zero_point_pad")
        return self._exact


def _view_on_channels(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """View per-channel ``values`` so that they broadcast over an output shaped like ``like``."""
    return values.view(1, -1, *([1] * (like.dim() - 2)))


def _check_int32_accumulator(engine: str, fix_key: str, accumulator: _Accumulator, bias: torch.Tensor | None, *,
                             accumulator_must_fit: bool) -> None:
    """Raise ``OverflowError`` where an engine's int32 accumulator, bias included, would wrap around.

    The sum of products plus ``bias`` must always fit int32. With ``accumulator_must_fit`` the sum
    before the bias must fit too. ONNX Runtime 1.31 returns the exact result modulo 2^32, so an
    accumulator that the bias brings back into range comes out right, as ``tests/test_engines.py``
    checks. PyTorch 2.13's fbgemm, x86 and onednn engines returned wrong values in that case on an
    x86-64 CPU with AVX512-VNNI, so PyTorch's accumulator must fit on its own.

    The exact sums are computed only when the bound ``max|x − x_zp| · max|w − w_zp| · taps +
    max|bias|`` exceeds int32, so ordinary problems do not pay for a second convolution.
    """
    bias_max = 0 if bias is None else int(bias.abs().max())
    if accumulator.bound + bias_max <= INT32_MAX:
        return

    exact_sums = accumulator.exact()
    sums = []
    if bias is None or accumulator_must_fit:
        sums.append(("engines.int32_wrap.sum", exact_sums))
    if bias is not None:
        sums.append(("engines.int32_wrap.sum_with_bias", exact_sums + _view_on_channels(bias, exact_sums)))
    for quantity, exact in sums:
        outside = (exact < INT32_MIN) | (exact > INT32_MAX)
        if not bool(outside.any()):
            continue
        first = tuple(int(i) for i in outside.nonzero()[0])
        value = int(exact[first])
        raise OverflowError(localize(
            "engines.int32_wrap", engine=engine, count=int(outside.sum()), total=exact.numel(), index=first,
            quantity=localize(quantity), exact=value, wrapped=int(wrap_int32(torch.tensor(value))),
            fix=localize(fix_key)))


def _check_float32_bias(engine: str, accumulator: _Accumulator, bias: torch.Tensor | None,
                        multiplier32: torch.Tensor, y_zp: int, low: int, high: int) -> None:
    """Raise UnsupportedConfiguration where PyTorch's float32 bias may move an output by the limit or more.

    The bound of an output is ``E = M_c · (|acc| + |bias_c|) · 2^-21`` output steps (see
    ``_FLOAT32_BIAS_ERROR``). It is first taken with the static bound of ``|acc|``, and only when
    that reaches the limit are the exact sums computed. With the exact sums an output counts only
    if ``M_c · (acc + bias_c) + y_zp`` lies within ``E + 1/2`` of the clamp range ``[low, high]``,
    because an output further out saturates whichever way float32 rounds it.
    """
    if bias is None:
        return
    multiplier = multiplier32.to(torch.float64)
    bias_size = bias.abs().to(torch.float64)
    static_bound = float((multiplier * (accumulator.bound + bias_size)).max()) * _FLOAT32_BIAS_ERROR
    if static_bound < FLOAT_BIAS_ERROR_LIMIT:
        return

    acc = accumulator.exact()
    channel_multiplier = _view_on_channels(multiplier, acc)
    channel_bias = _view_on_channels(bias, acc)
    error = channel_multiplier * (acc.abs() + channel_bias.abs()).to(torch.float64) * _FLOAT32_BIAS_ERROR
    value = channel_multiplier * (acc + channel_bias).to(torch.float64) + y_zp
    may_land_in_range = (value > low - 0.5 - error) & (value < high + 0.5 + error)
    error = torch.where(may_land_in_range, error, torch.zeros_like(error))
    worst = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
    if float(error[worst]) < FLOAT_BIAS_ERROR_LIMIT:
        return
    raise _unsupported(engine, "engines.reason.float32_bias", index=worst, acc=int(acc[worst]),
                       bias=int(bias[worst[1]]), error=f"{float(error[worst]):.4g}",
                       limit=f"2^{math.log2(FLOAT_BIAS_ERROR_LIMIT):g} = {FLOAT_BIAS_ERROR_LIMIT:.4g}")


def _run_onnx_node(op_type: str, x: torch.Tensor, initializers: dict[str, np.ndarray], input_names: list[str],
                   output_type: int, geometry: ConvGeometry) -> torch.Tensor:
    """Build a one-node model whose only graph input is ``x``, run it on the CPU, return int64."""
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper
    from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors

    x_numpy = x.contiguous().numpy()
    node = helper.make_node(op_type, input_names, ["y"], **_onnx_attributes(geometry))
    output_shape = [x_numpy.shape[0], geometry.out_channels, *geometry.output_size]
    graph = helper.make_graph(
        [node], f"qlesson_{op_type}",
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x_numpy.dtype), list(x_numpy.shape))],
        [helper.make_tensor_value_info("y", output_type, output_shape)],
        [numpy_helper.from_array(array, name) for name, array in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3  # log errors only, because a failure is raised below anyway
    engine = f"ONNX Runtime {onnxruntime.__version__} {op_type}"
    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                               providers=["CPUExecutionProvider"])
        (y,) = session.run(None, {"x": x_numpy})
    except ort_errors.NotImplemented as error:
        raise _unsupported(engine, "engines.reason.kernel_missing", detail=str(error)) from error
    except (ort_errors.Fail, ort_errors.InvalidArgument, ort_errors.InvalidGraph,
            ort_errors.RuntimeException) as error:
        raise EngineError(localize("engines.failed", engine=engine, detail=str(error))) from error
    return torch.from_numpy(y.astype(np.int64))


def onnxruntime_conv_integer(
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
    """Run ONNX Runtime's ``ConvInteger`` on the CPU and return its int32 accumulator as int64.

    Taught in "Do real engines pad with the zero point?". Arguments are those of
    :func:`qlesson.conv_integer`. ONNX Runtime 1.31 runs uint8 and int8 for both ``x`` and ``w``,
    1 to 3 spatial axes, groups and asymmetric padding, but only one weight zero point: equal
    per-channel zero points are passed as one value, different ones raise
    :class:`UnsupportedConfiguration`. An accumulator outside the int32 range raises
    ``OverflowError`` with the exact value, where ONNX Runtime would return it wrapped.
    """
    x = _check_operand("x", x)
    w = _check_operand("w", w)
    geometry = _problem_geometry(x, w, stride, padding, dilation, groups)
    x_zp = _checks.check_zero_point("x_zero_point", x_zero_point, x.dtype)
    w_zp = _weight_zero_points(w_zero_point, w)
    engine = "ONNX Runtime ConvInteger"
    if bool((w_zp != w_zp[0]).any()):
        raise _unsupported(engine, "engines.reason.per_channel_zero_point", values=w_zp.tolist())
    _check_int32_accumulator(engine, "engines.int32_wrap.fix_conv_integer", _Accumulator(x, w, x_zp, w_zp, geometry),
                             None, accumulator_must_fit=True)
    from onnx import TensorProto

    initializers = {
        "w": w.contiguous().numpy(),
        "x_zero_point": np.array(x_zp, dtype=x.numpy().dtype),
        "w_zero_point": np.array(int(w_zp[0]), dtype=w.numpy().dtype),
    }
    return _run_onnx_node("ConvInteger", x, initializers, ["x", "w", "x_zero_point", "w_zero_point"],
                          TensorProto.INT32, geometry)


def onnxruntime_qlinear_conv(
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
) -> torch.Tensor:
    """Run ONNX Runtime's ``QLinearConv`` on the CPU and return its output as int64.

    Taught in "Do real engines pad with the zero point?". Arguments are those of
    :func:`qlesson.qlinear_conv`; compare with ``qlinear_conv(..., rounding="float")``. ONNX Runtime
    1.31 registers two CPU kernels, uint8 ``x`` and output with uint8 or int8 ``w``, and int8 for
    all three (``qlinearconv.cc``), and requires one weight zero point for all channels. Other
    configurations raise :class:`UnsupportedConfiguration`. An accumulator plus bias outside the
    int32 range raises ``OverflowError`` with the exact value, where ONNX Runtime would requantize
    it wrapped. ``w``, the scales, zero points and bias are constant initializers, as in a deployed
    model, so the prepacked weight paths run.
    """
    engine = "ONNX Runtime QLinearConv"
    x = _check_operand("x", x)
    w = _check_operand("w", w)
    geometry = _problem_geometry(x, w, stride, padding, dilation, groups)
    channels = geometry.out_channels
    x_zp, w_zp = _check_zero_points(x_zero_point, x, w_zero_point, w)
    _check_zero_point_dtype("y_zero_point", y_zero_point, "out_dtype", out_dtype)
    if out_dtype not in (torch.uint8, torch.int8):
        raise ValueError(localize("qlinear.bad_out_dtype", value=out_dtype))
    y_zp = _checks.check_zero_point("y_zero_point", y_zero_point, out_dtype)
    supported = (x.dtype == torch.uint8 and out_dtype == torch.uint8) or \
        (x.dtype == w.dtype == out_dtype == torch.int8)
    if not supported:
        raise _unsupported(engine, "engines.reason.ort_dtypes", x_dtype=_dtype_name(x.dtype),
                           w_dtype=_dtype_name(w.dtype), y_dtype=_dtype_name(out_dtype))
    if bool((w_zp != w_zp[0]).any()):
        raise _unsupported(engine, "engines.reason.per_channel_zero_point", values=w_zp.tolist())
    x_scale32, w_scale32, y_scale32, per_channel = _check_scales(x_scale, w_scale, y_scale, channels)
    bias_values = None if bias is None else _check_bias(bias, channels)
    _check_int32_accumulator(engine, "engines.int32_wrap.fix_qlinear_conv", _Accumulator(x, w, x_zp, w_zp, geometry),
                             bias_values, accumulator_must_fit=False)

    x_type, w_type = x.numpy().dtype, w.numpy().dtype
    initializers = {
        "x_scale": np.array(x_scale32[0].item(), dtype=np.float32),
        "x_zero_point": np.array(x_zp, dtype=x_type),
        "w": w.contiguous().numpy(),
        "w_scale": w_scale32.numpy() if per_channel else np.array(w_scale32[0].item(), dtype=np.float32),
        "w_zero_point": w_zp.numpy().astype(w_type) if per_channel else np.array(int(w_zp[0]), dtype=w_type),
        "y_scale": np.array(y_scale32[0].item(), dtype=np.float32),
        "y_zero_point": np.array(y_zp, dtype=x_type),
    }
    if bias_values is not None:
        initializers["bias"] = bias_values.to(torch.int32).numpy()
    from onnx import helper

    return _run_onnx_node("QLinearConv", x, initializers, ["x", *initializers],
                          helper.np_dtype_to_tensor_dtype(np.dtype(x_type)), geometry)


# ---------------------------------------------------------------------------------------------
# PyTorch quantized engines
# ---------------------------------------------------------------------------------------------

def torch_quantized_engines() -> tuple[str, ...]:
    """Return the quantized CPU engines of this PyTorch build, for example ``("qnnpack", "onednn", "x86", "fbgemm")``."""
    return tuple(engine for engine in torch.backends.quantized.supported_engines if engine != "none")


@contextlib.contextmanager
def _quantized_engine(engine: str) -> Iterator[None]:
    """Select a quantized engine and silence only the quantized-tensor deprecation warning."""
    previous = torch.backends.quantized.engine
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TORCH_QUANTIZED_DEPRECATION, category=UserWarning)
        torch.backends.quantized.engine = engine
        try:
            yield
        finally:
            torch.backends.quantized.engine = previous


def torch_quantized_conv(
    engine: str,
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
    activation: str | None = None,
) -> torch.Tensor:
    """Run one of PyTorch's quantized CPU engines on the integer problem and return its uint8 output as int64.

    Taught in "Do real engines pad with the zero point?". Arguments are those of
    :func:`qlesson.qlinear_conv` with ``out_dtype=torch.uint8``; compare with
    ``qlinear_conv(..., rounding="float")``. ``x`` becomes a ``quint8`` tensor and ``w`` a
    ``qint8`` tensor, per-tensor or per-channel (axis 0) as ``w_scale`` is.

    PyTorch takes a float32 bias and converts it back to the accumulator's units inside the
    engine, so the int32 ``bias`` is passed as ``bias · x_scale · w_scale`` in float32.

    NOTE: that float32 bias is rounded on its way into the sum. fbgemm also converts the
    accumulator to float32 and adds the two in float32, and qnnpack rounds the bias back to an
    integer. When ``|acc|`` and ``|bias|`` are large and nearly cancel, the output can be far off:
    with ``acc = −2147483448``, ``bias = 2^31 − 128`` and all scales 1, fbgemm, x86 and onednn
    returned 128 where the exact result is 72. This runner bounds the error of each output by
    ``E = M_c · (|acc| + |bias_c|) · 2^-21`` output steps and raises where ``E`` reaches
    :data:`FLOAT_BIAS_ERROR_LIMIT` (2^-10) at an output that can land inside the clamp range.
    Below that limit an output can differ from ``qlinear_conv(..., rounding="float")`` only where
    ``M_c · (acc + bias_c)``, with ``M_c`` the float32 multiplier, lies within ``E`` of a rounding
    tie. The bound follows fbgemm's source and qnnpack's measured rounding of the bias. For onednn,
    and for x86 when it dispatches to onednn, the bound is not derived from their source and rests
    only on the measurements in ``tests/test_engines.py``.

    Raises:
        UnsupportedConfiguration: ``x`` not uint8, ``w`` not int8, asymmetric padding, ``"relu6"``,
            an engine this build lacks, nonzero weight zero points on ``onednn``, on ``onednn``
            and ``x86`` a convolution that reads only padding (:func:`padding_only_axis`), or a
            float32 bias error bound ``E`` of :data:`FLOAT_BIAS_ERROR_LIMIT` or more.
        OverflowError: the sum of products, or that sum plus ``bias``, leaves the int32 range, where
            the engine would return a wrapped result.
    """
    available = torch_quantized_engines()
    # Localized on every call, so the label follows the language active at the time of the call.
    label = localize("engines.torch_label", version=torch.__version__, engine=engine)
    if engine not in available:
        raise _unsupported(label, "engines.reason.engine_missing", available=join_choices(available))
    x = _checks.require_integer_tensor("x", x)
    w = _checks.require_integer_tensor("w", w)
    geometry = _problem_geometry(x, w, stride, padding, dilation, groups)
    if x.dtype != torch.uint8 or w.dtype != torch.int8:
        raise _unsupported(label, "engines.reason.torch_dtypes", x_dtype=_dtype_name(x.dtype),
                           w_dtype=_dtype_name(w.dtype))
    if any(before != after for before, after in geometry.padding):
        raise _unsupported(label, "engines.reason.asymmetric_padding", padding=list(geometry.padding))
    if activation not in (None, "relu"):
        raise _unsupported(label, "engines.reason.activation", value=activation)
    channels = geometry.out_channels
    x_zp, w_zp = _check_zero_points(x_zero_point, x, w_zero_point, w)
    y_zp = _checks.check_zero_point("y_zero_point", y_zero_point, torch.uint8)
    if engine == "onednn" and bool((w_zp != 0).any()):
        raise _unsupported(label, "engines.reason.weight_zero_point_nonzero", values=w_zp.tolist())
    # NOTE: found by random cross-checks of torch 2.13 on an x86-64 CPU with AVX512-VNNI, about 2,000
    # cases. Every crash and every wrong value of onednn, and of x86 when it dispatches to onednn, had
    # such an axis. Not every case with such an axis failed, and other shapes may fail too.
    dead_axis = padding_only_axis(geometry)
    if engine in ("onednn", "x86") and dead_axis is not None:
        raise _unsupported(label, "engines.reason.onednn_padding_only", axis=dead_axis, version=torch.__version__)
    x_scale32, w_scale32, y_scale32, per_channel = _check_scales(x_scale, w_scale, y_scale, channels)
    bias_values = None if bias is None else _check_bias(bias, channels)
    accumulator = _Accumulator(x, w, x_zp, w_zp, geometry)
    _check_int32_accumulator(label, "engines.int32_wrap.fix_qlinear_conv", accumulator, bias_values,
                             accumulator_must_fit=True)
    low, high = activation_range(activation, y_scale, y_zp)
    multiplier32 = (x_scale32 * w_scale32) / y_scale32  # M_c in float32, as the engines compute it
    _check_float32_bias(label, accumulator, bias_values, multiplier32, y_zp, low, high)
    bias_float = None
    if bias_values is not None:
        product32 = x_scale32 * w_scale32  # float32, as the engines compute x_scale · w_scale
        bias_float = (bias_values.to(torch.float64) * product32.to(torch.float64)).to(torch.float32)

    rank = geometry.rank
    prepack = getattr(torch.ops.quantized, f"conv{rank}d_prepack")
    convolve = getattr(torch.ops.quantized, f"conv{rank}d" + ("_relu" if activation == "relu" else ""))
    with _quantized_engine(engine):
        try:
            q_x = torch._make_per_tensor_quantized_tensor(x.contiguous(), float(x_scale32[0]), x_zp)
            if per_channel:
                q_w = torch._make_per_channel_quantized_tensor(
                    w.contiguous(), w_scale32.to(torch.float64), w_zp, 0)
            else:
                q_w = torch._make_per_tensor_quantized_tensor(w.contiguous(), float(w_scale32[0]), int(w_zp[0]))
            packed = prepack(q_w, bias_float, list(geometry.stride), [before for before, _ in geometry.padding],
                             list(geometry.dilation), geometry.groups)
            q_y = convolve(q_x, packed, float(y_scale32[0]), y_zp)
        except (RuntimeError, NotImplementedError) as error:
            raise EngineError(localize("engines.failed", engine=label, detail=str(error).splitlines()[0])) from error
        return q_y.int_repr().to(torch.int64)


# ---------------------------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comparison:
    """Differences between an engine's integer output and a reference output of the same shape."""

    total: int
    mismatches: int
    max_abs_difference: int
    difference: torch.Tensor  # int64, result − reference, elementwise

    def __str__(self) -> str:
        return localize("engines.comparison", mismatches=self.mismatches, total=self.total,
                        max_difference=self.max_abs_difference)


def compare_integers(result: torch.Tensor, reference: torch.Tensor) -> Comparison:
    """Count the elements where two integer tensors differ and the largest absolute difference.

    Taught in "Do real engines pad with the zero point?". Integers are compared exactly, never with a
    tolerance; ``Comparison.difference`` keeps the signed differences for an error map.
    """
    result = _checks.require_integer_tensor("result", result)
    reference = _checks.require_integer_tensor("reference", reference)
    if result.shape != reference.shape:
        raise ValueError(localize("engines.shape_mismatch", result_shape=tuple(result.shape),
                                  reference_shape=tuple(reference.shape)))
    difference = result.to(torch.int64) - reference.to(torch.int64)
    return Comparison(total=difference.numel(), mismatches=int((difference != 0).sum()),
                      max_abs_difference=int(difference.abs().max()), difference=difference)
