"""A float convolution layer quantized end to end, and the same integer problem run by real engines.

Taught in "A quantized convolution layer, end to end" and "Do real engines pad with the zero
point?". :func:`quantize_conv_layer` turns a float ``torch.nn.Conv2d`` and its input into the
integer tensors and parameters of ONNX ``QLinearConv``. That is preparation, so it uses floats.
:meth:`QuantizedConv.output` then runs the integer-only inference path, and
:func:`run_engines` with :func:`compare_engines` checks real engines against it bit by bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from . import _checks
from .borders import _display_width, _pad
from .convolution import METHODS, conv_integer
from .engines import onnxruntime_conv_integer, onnxruntime_qlinear_conv, torch_quantized_conv, torch_quantized_engines
from .i18n import join_choices, localize, register_messages
from .qlinear import ROUNDINGS, _check_bias, _scale_tensor, _scale_to_output, output_multipliers
from .quantization import choose_qparams, dequantize, quantize, quantized_range
from .requantization import INT32_MAX, INT32_MIN, choose_qparams_reduced_range, reduced_range

register_messages({
    "pipeline.bad_float_bias": {
        "en": ("bias must be a 1-D floating-point tensor with one real bias per output channel, "
               "got dtype {dtype} and shape {shape}."),
        "zh-TW": "bias 必須是一維浮點數張量，每個輸出通道一個實數偏置；收到的資料型別是 {dtype}、形狀是 {shape}。",
    },
    "pipeline.not_conv2d": {
        "en": "layer must be a torch.nn.Conv2d, got {kind}.",
        "zh-TW": "layer 必須是 torch.nn.Conv2d，收到的是 {kind}。",
    },
    "pipeline.padding_mode": {
        "en": ("layer.padding_mode is {mode!r}; only 'zeros' pads with real 0, the padding that integer engines "
               "reproduce with the zero point. Use a layer with padding_mode='zeros'."),
        "zh-TW": ("layer.padding_mode 是 {mode!r}；只有 'zeros' 是用實數 0 填補，也就是整數推論引擎以零點重現的填補方式。"
                  "請使用 padding_mode='zeros' 的層。"),
    },
    "pipeline.padding_string": {
        "en": "layer.padding is {padding!r}; pass explicit ints such as padding=1 instead of a string.",
        "zh-TW": "layer.padding 是 {padding!r}；請改用明確的整數，例如 padding=1，而不是字串。",
    },
    "pipeline.bad_input": {
        "en": "x must be a float tensor of shape (N, C_in, H, W) with C_in = {channels}, got {dtype} with shape {shape}.",
        "zh-TW": "x 必須是形狀為 (N, C_in, H, W)、C_in = {channels} 的浮點數張量，收到的是形狀 {shape} 的 {dtype}。",
    },
    "pipeline.bias_outside_int32": {
        "en": ("bias {value} of channel {channel} becomes {quantized} in units of x_scale · w_scale, outside int32. "
               "Choose larger scales or a smaller bias."),
        "zh-TW": ("第 {channel} 個通道的偏置 {value} 以 x_scale · w_scale 為單位是 {quantized}，超出 int32。"
                  "請選擇較大的縮放因子或較小的偏置。"),
    },
    "pipeline.not_quantized_conv": {
        "en": "problem must be a qlesson.QuantizedConv, got {kind}. Build one with qlesson.quantize_conv_layer(...).",
        "zh-TW": "problem 必須是 qlesson.QuantizedConv，收到的是 {kind}。請用 qlesson.quantize_conv_layer(...) 建立。",
    },
    "pipeline.not_engine_outputs": {
        "en": ("outputs must be a tuple or list of qlesson.EngineOutput, got {kind}. "
               "Pass the result of qlesson.run_engines(problem)."),
        "zh-TW": ("outputs 必須是由 qlesson.EngineOutput 組成的 tuple 或 list，收到的是 {kind}。"
                  "請傳入 qlesson.run_engines(problem) 的結果。"),
    },
    "pipeline.not_engine_output": {
        "en": ("outputs[{index}] must be a qlesson.EngineOutput, got {kind}. "
               "Pass the result of qlesson.run_engines(problem)."),
        "zh-TW": ("outputs[{index}] 必須是 qlesson.EngineOutput，收到的是 {kind}。"
                  "請傳入 qlesson.run_engines(problem) 的結果。"),
    },
    "pipeline.bad_method": {
        "en": "method={value!r} is not one of {choices}.",
        "zh-TW": "method={value!r} 不是 {choices} 之一。",
    },
    "pipeline.bad_rounding": {
        "en": "rounding={value!r} is not one of {choices}.",
        "zh-TW": "rounding={value!r} 不是 {choices} 之一。",
    },
    "pipeline.shape_mismatch": {
        "en": "result has shape {result_shape} but reference has shape {reference_shape}; compare outputs of one layer.",
        "zh-TW": "result 的形狀是 {result_shape}，reference 的形狀是 {reference_shape}；請比較同一層的輸出。",
    },
    "pipeline.header.difference": {"en": "|difference|", "zh-TW": "差的絕對值"},
    "pipeline.header.outputs": {"en": "outputs", "zh-TW": "輸出數"},
    "pipeline.header.share": {"en": "share", "zh-TW": "比例"},
    "pipeline.header.engine": {"en": "engine", "zh-TW": "推論引擎"},
    "pipeline.header.op": {"en": "op", "zh-TW": "運算"},
    "pipeline.header.elements": {"en": "elements", "zh-TW": "元素數"},
    "pipeline.header.differing": {"en": "differing", "zh-TW": "不同的元素"},
    "pipeline.header.max_difference": {"en": "max |difference|", "zh-TW": "最大絕對差"},
    "pipeline.header.explanation": {"en": "explanation", "zh-TW": "說明"},
    "pipeline.explanation.identical": {"en": "bit-exact", "zh-TW": "逐位元相同"},
    "pipeline.explanation.rounding": {
        "en": "rounding rule: float32, rounded once",
        "zh-TW": "捨入規則：以 float32 計算，只捨入一次",
    },
    "pipeline.explanation.padding": {
        "en": "padding: the engine pads with x_zp",
        "zh-TW": "填補：引擎以零點 x_zp 填補",
    },
    "pipeline.explanation.padding_rounding": {
        "en": "padding with x_zp and the float32 rounding rule",
        "zh-TW": "以零點填補，加上 float32 的捨入規則",
    },
    "pipeline.explanation.unexplained": {
        "en": "not explained by padding or rounding",
        "zh-TW": "無法以填補或捨入解釋",
    },
})

Explanation = Literal["identical", "rounding", "padding", "padding_rounding", "unexplained"]


def edge_filter_conv() -> torch.nn.Conv2d:
    """Return a float ``Conv2d(1, 4, 3, padding=1)`` holding four classic 3 × 3 image filters and a bias.

    Taught in "A quantized convolution layer, end to end". Output channel 0 is a binomial blur
    (weights 1, 2, 4 over 16, all positive), 1 and 2 are the Sobel filters for horizontal and
    vertical change (divided by 8), and 3 is the Laplacian (divided by 4). The divisions give the
    four outputs of a standardized photo similar ranges. The bias is ``(0.5, −0.25, 0.25, 0.1)``.
    """
    blur = torch.tensor([[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]) / 16
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8
    laplacian = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]) / 4
    layer = torch.nn.Conv2d(1, 4, 3, padding=1)
    with torch.no_grad():
        layer.weight.copy_(torch.stack([blur, sobel_x, sobel_x.T, laplacian]).unsqueeze(1))
        layer.bias.copy_(torch.tensor([0.5, -0.25, 0.25, 0.1]))
    return layer


def quantize_bias(bias: torch.Tensor, x_scale: float, w_scale: torch.Tensor) -> torch.Tensor:
    """Quantize a float bias to int32 with scale ``x_scale · w_scale_c`` and zero point 0, rounding half to even.

    Taught in "A quantized convolution layer, end to end". With that scale one unit of the bias
    is one unit of the accumulator, so the engine adds the bias to the accumulator directly.
    Preparation, so it uses float64.

    Args:
        bias: float tensor (C_out,).
        x_scale: the input scale.
        w_scale: float tensor (C_out,), the per-channel weight scales, or one value for all channels.

    Returns:
        int32 tensor (C_out,).

    Raises:
        ValueError: a quantized value lies outside int32.
    """
    bias = _checks.require_tensor("bias", bias)
    if not bias.is_floating_point() or bias.dim() != 1:
        raise TypeError(localize("pipeline.bad_float_bias", shape=tuple(bias.shape),
                                 dtype=str(bias.dtype).replace("torch.", "")))
    if not bool(torch.isfinite(bias).all()):
        raise ValueError(localize("not_finite", name="bias", value=bias.tolist()))
    # Validated as qlinear_conv validates scales; the values themselves stay float64 below.
    _scale_tensor("x_scale", x_scale, None)
    _scale_tensor("w_scale", w_scale, bias.numel())
    bias = bias.to(torch.float64)
    scale = float(x_scale) * torch.as_tensor(w_scale, dtype=torch.float64).reshape(-1)
    quantized = torch.round(bias / scale)
    outside = (quantized < INT32_MIN) | (quantized > INT32_MAX)
    if bool(outside.any()):
        channel = int(outside.nonzero()[0, 0])
        raise ValueError(localize("pipeline.bias_outside_int32", value=float(bias[channel]), channel=channel,
                                  quantized=int(quantized[channel])))
    return quantized.to(torch.int32)


def requantize(
    acc: torch.Tensor,
    x_scale: float,
    w_scale: float | torch.Tensor,
    y_scale: float,
    y_zero_point: int,
    bias: torch.Tensor | None = None,
    *,
    rounding: str = "double",
    out_dtype: torch.dtype = torch.uint8,
) -> torch.Tensor:
    """Turn an accumulator into the quantized output, as steps 2 to 4 of :func:`qlesson.qlinear_conv` do.

    Taught in "A quantized convolution layer, end to end", where it carries the accumulator of the
    padding trap (``method="naive_zero_pad"``) through to the uint8 output. For an accumulator
    padded with ``x_zp`` the result equals :func:`qlesson.qlinear_conv` with the same ``rounding``.
    Only the multipliers are prepared with floats. With ``"double"`` and ``"single"`` every later
    step is integer-only, and ``"float"`` emulates the float32 arithmetic of ONNX Runtime and PyTorch.

    Args:
        acc: integer tensor (N, C_out, *spatial), ``Σ (x − x_zp)(w − w_zp)`` without the bias.
        x_scale, y_scale: positive floats.
        w_scale: a positive float, or a 1-D float tensor with one scale per output channel.
        y_zero_point: an int in the range of ``out_dtype``.
        bias: optional int32 tensor (C_out,), quantized with scale ``x_scale · w_scale_c``.
        rounding: ``"double"``, ``"single"`` or ``"float"``, as in :func:`qlesson.qlinear_conv`.
        out_dtype: ``torch.uint8`` or ``torch.int8``.

    Returns:
        tensor of ``out_dtype`` with the shape of ``acc``.

    Raises:
        ValueError: ``acc + bias`` leaves int32, or an argument is invalid.
    """
    acc = _checks.require_integer_tensor("acc", acc).to(torch.int64)
    if rounding not in ROUNDINGS:
        raise ValueError(localize("pipeline.bad_rounding", value=rounding, choices=join_choices(ROUNDINGS)))
    low, high = quantized_range(out_dtype)
    y_zp = _checks.check_zero_point("y_zero_point", y_zero_point, out_dtype)
    channels = acc.shape[1]
    multipliers = output_multipliers(x_scale, w_scale, y_scale, channels)
    if bias is not None:
        acc = acc + _check_bias(bias, channels).view(1, channels, *([1] * (acc.dim() - 2)))

    # Integer-only from here on, except rounding="float".
    return _scale_to_output(acc, multipliers, rounding, y_zp, low, high, out_dtype)


@dataclass(frozen=True)
class QuantizedConv:
    """One quantized 2-D convolution: uint8 input, int8 per-channel weights, int32 bias, uint8 output.

    The fields follow the inputs of ONNX ``QLinearConv``. The weight zero point is 0 because the
    weights are quantized symmetrically.
    """

    x: torch.Tensor  # uint8 (N, C_in, H, W)
    x_scale: float
    x_zero_point: int
    w: torch.Tensor  # int8 (C_out, C_in / groups, kH, kW)
    w_scale: torch.Tensor  # float64 (C_out,)
    y_scale: float
    y_zero_point: int
    bias: torch.Tensor | None  # int32 (C_out,) or None
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1
    w_zero_point: int = 0

    def arguments(self) -> tuple:
        """Return the nine positional arguments of :func:`qlesson.qlinear_conv`, in ONNX order."""
        return (self.x, self.x_scale, self.x_zero_point, self.w, self.w_scale, self.w_zero_point,
                self.y_scale, self.y_zero_point, self.bias)

    def geometry(self) -> dict[str, object]:
        """Return ``stride``, ``padding``, ``dilation`` and ``groups`` as keyword arguments."""
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation, "groups": self.groups}

    def accumulator(self, method: str = "zero_point_pad") -> torch.Tensor:
        """Return ``Σ (x − x_zp)(w − w_zp)`` without the bias, int64, from :func:`qlesson.conv_integer`."""
        if method not in METHODS:
            raise ValueError(localize("pipeline.bad_method", value=method, choices=join_choices(METHODS)))
        return conv_integer(self.x, self.w, self.x_zero_point, self.w_zero_point, method=method, **self.geometry())

    def output(self, rounding: str = "double", method: str = "zero_point_pad") -> torch.Tensor:
        """Return the uint8 output: :meth:`accumulator` plus the bias, requantized by :func:`requantize`."""
        return requantize(self.accumulator(method), self.x_scale, self.w_scale, self.y_scale, self.y_zero_point,
                          self.bias, rounding=rounding)

    def dequantize_output(self, y_q: torch.Tensor) -> torch.Tensor:
        """Return the real values ``y_scale · (y_q − y_zero_point)`` of a quantized output (float64)."""
        return dequantize(y_q, self.y_scale, self.y_zero_point)

    def tie_distances(self) -> torch.Tensor:
        """Return, per output, the distance of ``M_c · (acc + bias)`` from the nearest rounding tie ``k + 1/2``.

        Taught in "Do real engines pad with the zero point?". The product is computed in float64
        from the float32 scales, so each distance is off by at most about 1e-16 times the product.
        Engines that compute the same product in float32 land on the same integer wherever this
        distance exceeds their float32 error.
        """
        acc = self.accumulator()
        if self.bias is not None:
            acc = acc + self.bias.to(torch.int64).view(1, -1, 1, 1)
        real = output_multipliers(self.x_scale, self.w_scale, self.y_scale, acc.shape[1]).real
        exact = acc.to(torch.float64) * real.view(1, -1, 1, 1)
        return (exact - torch.floor(exact) - 0.5).abs()


def _check_layer(layer: object) -> torch.nn.Conv2d:
    if not isinstance(layer, torch.nn.Conv2d):
        raise TypeError(localize("pipeline.not_conv2d", kind=type(layer).__name__))
    if layer.padding_mode != "zeros":
        raise ValueError(localize("pipeline.padding_mode", mode=layer.padding_mode))
    if isinstance(layer.padding, str):
        raise ValueError(localize("pipeline.padding_string", padding=layer.padding))
    return layer


def quantize_conv_layer(layer: torch.nn.Conv2d, x: torch.Tensor, *, reduce_range: bool = False) -> QuantizedConv:
    """Quantize a float ``Conv2d`` layer and its input ``x`` for integer-only inference.

    Taught in "A quantized convolution layer, end to end". Preparation, so floats are used:

    1. the input: uint8, asymmetric, from the range of ``x`` (:func:`qlesson.choose_qparams`);
       with ``reduce_range`` the 7-bit range 0..127 of :func:`qlesson.choose_qparams_reduced_range`;
    2. the weights: int8, symmetric, one scale per output channel, ``S_c = max |w_c| / 127``;
    3. the bias: int32 with scale ``x_scale · w_scale_c`` (:func:`quantize_bias`);
    4. the output: uint8, asymmetric, from the range of the float layer's output on ``x``.
       A deployed model measures that range on calibration data; here ``x`` is the calibration data.

    Args:
        layer: a ``torch.nn.Conv2d`` with ``padding_mode="zeros"`` and numeric padding.
        x: float tensor (N, C_in, H, W).
        reduce_range: quantize the input to 0..127, as PyTorch's observers do for x86 engines.

    Returns:
        the :class:`QuantizedConv` holding the quantized input, weights, bias and parameters.
    """
    layer = _check_layer(layer)
    x = _checks.require_tensor("x", x)
    if not x.is_floating_point() or x.dim() != 4 or x.shape[1] != layer.in_channels:
        raise ValueError(localize("pipeline.bad_input", channels=layer.in_channels,
                                  dtype=str(x.dtype).replace("torch.", ""), shape=tuple(x.shape)))
    r_min, r_max = float(x.min()), float(x.max())
    if reduce_range:
        x_scale, x_zp = choose_qparams_reduced_range(r_min, r_max, torch.uint8)
        x_q = quantize(x, x_scale, x_zp, torch.uint8).clamp(*reduced_range(torch.uint8))
    else:
        x_scale, x_zp = choose_qparams(r_min, r_max, torch.uint8)
        x_q = quantize(x, x_scale, x_zp, torch.uint8)

    weight = layer.weight.detach()
    peaks = weight.abs().amax(dim=(1, 2, 3))
    w_scale = torch.tensor([choose_qparams(-float(peak), float(peak), torch.int8, symmetric=True)[0]
                            for peak in peaks], dtype=torch.float64)
    w_q = quantize(weight, w_scale, 0, torch.int8, axis=0)
    bias = None if layer.bias is None else quantize_bias(layer.bias.detach(), x_scale, w_scale)

    with torch.no_grad():
        y = layer(x)
    y_scale, y_zp = choose_qparams(float(y.min()), float(y.max()), torch.uint8)
    return QuantizedConv(x=x_q, x_scale=x_scale, x_zero_point=x_zp, w=w_q, w_scale=w_scale, y_scale=y_scale,
                         y_zero_point=y_zp, bias=bias, stride=tuple(layer.stride), padding=tuple(layer.padding),
                         dilation=tuple(layer.dilation), groups=layer.groups)


# ---------------------------------------------------------------------------------------------
# Comparing integer outputs
# ---------------------------------------------------------------------------------------------

def _format_table(lines: list[list[str]], text_columns: set[int]) -> str:
    """Align ``lines`` (the header first) in columns: text columns to the left, numbers to the right."""
    widths = [max(_display_width(line[column]) for line in lines) for column in range(len(lines[0]))]
    text = []
    for index, line in enumerate(lines):
        cells = [_pad(cell, width, left=column in text_columns)
                 for column, (cell, width) in enumerate(zip(line, widths))]
        text.append("  ".join(cells).rstrip())
        if index == 0:
            text.append("  ".join("-" * width for width in widths))
    return "\n".join(text)


@dataclass(frozen=True)
class DifferenceCounts:
    """How many outputs equal a reference, are off by one, and are off by more. Prints as a table."""

    total: int
    equal: int
    off_by_one: int
    larger: int

    def __str__(self) -> str:
        header = [localize(f"pipeline.header.{key}") for key in ("difference", "outputs", "share")]
        rows = [(label, count) for label, count in (("0", self.equal), ("1", self.off_by_one),
                                                    ("≥ 2", self.larger))]
        lines = [header] + [[label, str(count), f"{count / self.total:.2%}"] for label, count in rows]
        return _format_table(lines, text_columns={0})

    __repr__ = __str__


def count_differences(result: torch.Tensor, reference: torch.Tensor) -> DifferenceCounts:
    """Count the outputs of ``result`` that equal ``reference``, differ by 1, and differ by 2 or more.

    Taught in "A quantized convolution layer, end to end". Both are integer tensors of one shape.
    """
    result = _checks.require_integer_tensor("result", result)
    reference = _checks.require_integer_tensor("reference", reference)
    if result.shape != reference.shape:
        raise ValueError(localize("pipeline.shape_mismatch", result_shape=tuple(result.shape),
                                  reference_shape=tuple(reference.shape)))
    distance = (result.to(torch.int64) - reference.to(torch.int64)).abs()
    return DifferenceCounts(total=distance.numel(), equal=int((distance == 0).sum()),
                            off_by_one=int((distance == 1).sum()), larger=int((distance >= 2).sum()))


# ---------------------------------------------------------------------------------------------
# Real engines
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngineOutput:
    """The integer output of one engine: ``ConvInteger``'s accumulator or a uint8 ``QLinearConv`` result, as int64."""

    engine: str
    op: str
    values: torch.Tensor


def _require_problem(problem: object) -> QuantizedConv:
    if not isinstance(problem, QuantizedConv):
        raise TypeError(localize("pipeline.not_quantized_conv", kind=type(problem).__name__))
    return problem


def run_engines(problem: QuantizedConv) -> tuple[EngineOutput, ...]:
    """Run ``problem`` through ONNX Runtime (``ConvInteger``, ``QLinearConv``) and every PyTorch quantized engine.

    Taught in "Do real engines pad with the zero point?". The runners are those of
    :mod:`qlesson.engines`, which keep PyTorch's deprecation warning for quantized tensors out
    of the output and let every other warning through.

    Returns:
        one :class:`EngineOutput` per engine and op, ONNX Runtime first, then the PyTorch engines
        in the order of ``torch.backends.quantized.supported_engines``.
    """
    problem = _require_problem(problem)
    geometry = problem.geometry()
    outputs = [
        EngineOutput("ONNX Runtime", "ConvInteger",
                     onnxruntime_conv_integer(problem.x, problem.w, problem.x_zero_point, problem.w_zero_point,
                                              **geometry)),
        EngineOutput("ONNX Runtime", "QLinearConv", onnxruntime_qlinear_conv(*problem.arguments(), **geometry)),
    ]
    for engine in torch_quantized_engines():
        outputs.append(EngineOutput(f"PyTorch {engine}", "quantized::conv2d",
                                    torch_quantized_conv(engine, *problem.arguments(), **geometry)))
    return tuple(outputs)


@dataclass(frozen=True)
class EngineRow:
    """One engine's output compared with a qlesson reference, and the cause of the differences."""

    engine: str
    op: str
    elements: int
    differing: int
    max_abs_difference: int
    explanation: Explanation


@dataclass(frozen=True)
class EngineTable:
    """The comparison of every engine with one reference. Prints as a table in the active language."""

    rows: tuple[EngineRow, ...]

    def row(self, engine: str, op: str) -> EngineRow:
        """Return the row of ``engine`` and ``op``, for example ``("PyTorch fbgemm", "quantized::conv2d")``."""
        for row in self.rows:
            if (row.engine, row.op) == (engine, op):
                return row
        raise KeyError((engine, op))

    def __str__(self) -> str:
        keys = ("engine", "op", "elements", "differing", "max_difference", "explanation")
        lines = [[localize(f"pipeline.header.{key}") for key in keys]]
        for row in self.rows:
            lines.append([row.engine, row.op, str(row.elements), str(row.differing), str(row.max_abs_difference),
                          localize(f"pipeline.explanation.{row.explanation}")])
        return _format_table(lines, text_columns={0, 1, 5})

    __repr__ = __str__


def _explain(values: torch.Tensor, differing: int, candidates: list[tuple[Explanation, torch.Tensor]]) -> Explanation:
    """Return the first candidate cause whose reference the engine output equals exactly."""
    if differing == 0:
        return "identical"
    for explanation, reference in candidates:
        if torch.equal(values, reference.to(torch.int64)):
            return explanation
    return "unexplained"


def compare_engines(outputs: tuple[EngineOutput, ...], problem: QuantizedConv, *, rounding: str = "double",
                    method: str = "zero_point_pad") -> EngineTable:
    """Compare each engine output bit by bit with qlesson's result for ``rounding`` and ``method``.

    Taught in "Do real engines pad with the zero point?". A ``ConvInteger`` output is compared with
    :meth:`QuantizedConv.accumulator`, every other output with :meth:`QuantizedConv.output`. The
    explanation of a row is checked, not assumed. It names the first change of the reference
    that makes the engine's output equal to it everywhere: the float32 rounding rule
    (``rounding="float"``), padding with ``x_zp`` (``method="zero_point_pad"``), or both.
    """
    problem = _require_problem(problem)
    if not isinstance(outputs, (tuple, list)):
        raise TypeError(localize("pipeline.not_engine_outputs", kind=type(outputs).__name__))
    for index, item in enumerate(outputs):
        if not isinstance(item, EngineOutput):
            raise TypeError(localize("pipeline.not_engine_output", index=index, kind=type(item).__name__))
    if rounding not in ROUNDINGS:
        raise ValueError(localize("pipeline.bad_rounding", value=rounding, choices=join_choices(ROUNDINGS)))
    if method not in METHODS:
        raise ValueError(localize("pipeline.bad_method", value=method, choices=join_choices(METHODS)))
    padding_fixed = "zero_point_pad"
    accumulator = problem.accumulator(method)
    accumulator_candidates = [] if method == padding_fixed else [("padding", problem.accumulator(padding_fixed))]
    output = problem.output(rounding, method).to(torch.int64)
    output_candidates: list[tuple[Explanation, torch.Tensor]] = []
    if rounding != "float":
        output_candidates.append(("rounding", problem.output("float", method)))
    if method != padding_fixed:
        output_candidates.append(("padding", problem.output(rounding, padding_fixed)))
        if rounding != "float":
            output_candidates.append(("padding_rounding", problem.output("float", padding_fixed)))

    rows = []
    for item in outputs:
        is_accumulator = item.op == "ConvInteger"
        reference = accumulator if is_accumulator else output
        difference = item.values.to(torch.int64) - reference
        differing = int((difference != 0).sum())
        explanation = _explain(item.values.to(torch.int64), differing,
                               accumulator_candidates if is_accumulator else output_candidates)
        rows.append(EngineRow(item.engine, item.op, difference.numel(), differing,
                              int(difference.abs().max()), explanation))
    return EngineTable(tuple(rows))
