"""Figures and widgets of the lessons "Accumulator width" and "Requantization".

:func:`accumulator_wrap_figure` draws the running sum of one output as an int64 and as an int32
accumulator would hold it. :func:`accumulator_bound_figure` and :class:`AccumulatorExplorer` set
the worst-case accumulator against the int32 limit. :func:`trace_double_rounding`,
:func:`double_rounding_figure` and :class:`MultiplierExplorer` show the two roundings of TFLite's
default fixed-point multiplication next to the single exact one.

The explorers follow the other lesson widgets: an :class:`ipywidgets.VBox` of controls, an
:class:`ipywidgets.Image` holding a PNG and an :class:`ipywidgets.HTML` report, with neither
``interact`` nor an ``Output`` widget, and a deterministic text form in the active language,
which nbval compares.
"""

from __future__ import annotations

import functools
import html
import math
from dataclasses import dataclass
from fractions import Fraction

import ipywidgets
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from . import _checks
from .i18n import get_language, join_choices, localize, register_messages
from .lesson_widgets import GRID_FIGURE_INCHES, _blank_axes, _ReusedFigure
from .plots import PNG_DPI, _figure_context, figure_to_png, placeholder_figure
from .widgets import _one_torch_thread
from .requantization import (
    INT32_MAX,
    RoundingMismatch,
    accumulator_bound,
    check_search_limit,
    max_taps_int32,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    wrap_int32,
)

register_messages({
    "requant_widgets.exact_sum": {"en": "exact sum (int64)", "zh-TW": "精確的和（int64）"},
    "requant_widgets.int32_sum": {"en": "int32 accumulator", "zh-TW": "int32 累加器"},
    "requant_widgets.int32_limits": {"en": "int32 limits ±2^31", "zh-TW": "int32 上下限 ±2^31"},
    "requant_widgets.tap_axis": {"en": "taps added so far", "zh-TW": "已加總的取樣點數"},
    "requant_widgets.sum_axis": {"en": "running sum / 2^31", "zh-TW": "累加中的和 / 2^31"},
    "requant_widgets.first_wrap": {"en": "first wrap at tap {tap}", "zh-TW": "第 {tap} 個取樣點第一次繞回"},
    "requant_widgets.wrap_title": {
        "en": "Running sum of one output over its {taps} taps",
        "zh-TW": "一個輸出在 {taps} 個取樣點上的累加過程",
    },
    "requant_widgets.bad_products": {
        "en": "products has shape {shape}; pass a 1-D integer tensor with at least one product per tap.",
        "zh-TW": "products 的形狀是 {shape}；請傳入至少含一個乘積的一維整數張量，每個取樣點一個乘積。",
    },
    "requant_widgets.bound_line": {
        "en": "worst-case |acc| = K · {per_tap}",
        "zh-TW": "最壞情況 |acc| = K · {per_tap}",
    },
    "requant_widgets.int32_max": {"en": "int32 max 2^31 − 1", "zh-TW": "int32 上限 2^31 − 1"},
    "requant_widgets.can_wrap": {"en": "int32 can wrap", "zh-TW": "int32 可能繞回"},
    "requant_widgets.max_taps_line": {"en": "most taps that fit: {taps}", "zh-TW": "放得下的最多取樣點：{taps}"},
    "requant_widgets.this_layer": {"en": "this layer, K = {taps}", "zh-TW": "這一層，K = {taps}"},
    "requant_widgets.taps_axis": {"en": "taps per output K", "zh-TW": "每個輸出的取樣點數 K"},
    "requant_widgets.acc_axis": {"en": "worst-case |acc|", "zh-TW": "最壞情況的 |acc|"},
    "requant_widgets.bound_title": {
        "en": "x_zp = {x_zp}, w_zp = {w_zp}: per tap at most {per_tap}",
        "zh-TW": "x_zp = {x_zp}，w_zp = {w_zp}：每個取樣點最多 {per_tap}",
    },
    "requant_widgets.spatial_axes": {"en": "spatial axes", "zh-TW": "空間軸數"},
    "requant_widgets.kernel_size": {"en": "kernel size", "zh-TW": "卷積核大小"},
    "requant_widgets.report_taps": {
        "en": "taps K = C_in · k^d = {c_in} · {kernel}^{axes} = {taps}",
        "zh-TW": "取樣點數 K = C_in · k^d = {c_in} · {kernel}^{axes} = {taps}",
    },
    "requant_widgets.report_per_tap": {
        "en": "one product: max|x − x_zp| · max|w − w_zp| = {x_distance} · {w_distance} = {per_tap}",
        "zh-TW": "一個乘積：max|x − x_zp| · max|w − w_zp| = {x_distance} · {w_distance} = {per_tap}",
    },
    "requant_widgets.report_bound": {
        "en": "worst-case |acc| = K · {per_tap} = {bound}",
        "zh-TW": "最壞情況 |acc| = K · {per_tap} = {bound}",
    },
    "requant_widgets.report_fits": {
        "en": "≤ int32 max {limit}: no input can wrap ✓ (the limit is {ratio} times the bound)",
        "zh-TW": "≤ int32 上限 {limit}：任何輸入都不會繞回 ✓（上限是上界的 {ratio} 倍）",
    },
    "requant_widgets.report_wraps": {
        "en": "> int32 max {limit}: some inputs wrap around ✗ (the bound is {ratio} times the limit)",
        "zh-TW": "> int32 上限 {limit}：有些輸入會繞回 ✗（上界是上限的 {ratio} 倍）",
    },
    "requant_widgets.report_max_taps": {
        "en": "most taps that fit: {taps}, so C_in ≤ {c_in} for this kernel",
        "zh-TW": "放得下的最多取樣點：{taps}，所以這個卷積核的 C_in ≤ {c_in}",
    },
    "requant_widgets.accumulator_repr_fits": {
        "en": "AccumulatorExplorer: K = {taps} taps, worst-case |acc| = {bound} ≤ {limit} (int32 max): fits",
        "zh-TW": "AccumulatorExplorer：K = {taps} 個取樣點，最壞情況 |acc| = {bound} ≤ {limit}（int32 上限）：放得下",
    },
    "requant_widgets.accumulator_repr_wraps": {
        "en": "AccumulatorExplorer: K = {taps} taps, worst-case |acc| = {bound} > {limit} (int32 max): can wrap",
        "zh-TW": "AccumulatorExplorer：K = {taps} 個取樣點，最壞情況 |acc| = {bound} > {limit}（int32 上限）：可能繞回",
    },
    "requant_widgets.unknown_control": {
        "en": "{name!r} is not a control of {widget}. Use one of: {choices}.",
        "zh-TW": "{name!r} 不是 {widget} 的控制項。請使用下列之一：{choices}。",
    },
    "requant_widgets.out_of_range": {
        "en": "{name}={value!r} is outside the control's range [{low}, {high}]. Pick a value in that range.",
        "zh-TW": "{name}={value!r} 超出控制項的範圍 [{low}, {high}]。請選擇此範圍內的值。",
    },
    "requant_widgets.exact_marker": {"en": "exact acc · M = {value}", "zh-TW": "精確的 acc · M = {value}"},
    "requant_widgets.first_rounding": {
        "en": "after the first rounding: {value}",
        "zh-TW": "第一次捨入後：{value}",
    },
    "requant_widgets.halfway": {"en": "halfway, {value}", "zh-TW": "正中間 {value}"},
    "requant_widgets.single_row": {"en": "round once (exact)", "zh-TW": "捨入一次（精確）"},
    "requant_widgets.double_row": {"en": "TFLite's default (round twice)", "zh-TW": "TFLite 預設（捨入兩次）"},
    "requant_widgets.offset_axis": {
        "en": "distance from the halfway point, in steps of 2^−{right} (the grid of the first rounding)",
        "zh-TW": "與正中間的距離，以 2^−{right} 為單位（第一次捨入的格點）",
    },
    "requant_widgets.rounding_title": {
        "en": "acc = {acc}, M0 = {m0}, shift = {shift}: once → {single}, twice → {double}",
        "zh-TW": "acc = {acc}，M0 = {m0}，shift = {shift}：捨入一次 → {single}，捨入兩次 → {double}",
    },
    "requant_widgets.multiplier": {"en": "real multiplier M", "zh-TW": "實數乘數 M"},
    "requant_widgets.report_fixed_point": {
        "en": "M = {real} ≈ M0 · 2^(shift − 31) with M0 = {m0}, shift = {shift}",
        "zh-TW": "M = {real} ≈ M0 · 2^(shift − 31)，其中 M0 = {m0}、shift = {shift}",
    },
    "requant_widgets.report_error": {
        "en": "M0 · 2^(shift − 31) = {value}, relative error {error} (at most 2^−31 ≈ 4.7e−10)",
        "zh-TW": "M0 · 2^(shift − 31) = {value}，相對誤差 {error}（最多 2^−31 ≈ 4.7e−10）",
    },
    "requant_widgets.report_mismatch": {
        "en": "smallest |acc| where the roundings differ: acc = {acc}, exact {exact} → once {single}, twice {double}",
        "zh-TW": "兩種捨入結果不同的最小 |acc|：acc = {acc}，精確值 {exact} → 捨入一次 {single}、捨入兩次 {double}",
    },
    "requant_widgets.report_count": {
        "en": "rounding twice differs on {count} of the {total} accumulators with 1 ≤ |acc| ≤ {limit}",
        "zh-TW": "在 1 ≤ |acc| ≤ {limit} 的 {total} 個累加器值中，捨入兩次有 {count} 個結果不同",
    },
    "requant_widgets.no_mismatch": {
        "en": "rounding once and twice agree for every 1 ≤ |acc| ≤ {limit}",
        "zh-TW": "在每個 1 ≤ |acc| ≤ {limit} 上，捨入一次與捨入兩次的結果都相同",
    },
    "requant_widgets.multiplier_repr": {
        "en": "MultiplierExplorer: M = {real} → M0 = {m0}, shift = {shift}; first difference at acc = {acc} "
              "(twice {double}, once {single})",
        "zh-TW": "MultiplierExplorer：M = {real} → M0 = {m0}，shift = {shift}；第一個不同在 acc = {acc}"
                 "（兩次 {double}，一次 {single}）",
    },
    "requant_widgets.multiplier_repr_none": {
        "en": "MultiplierExplorer: M = {real} → M0 = {m0}, shift = {shift}; no difference for |acc| ≤ {limit}",
        "zh-TW": "MultiplierExplorer：M = {real} → M0 = {m0}，shift = {shift}；|acc| ≤ {limit} 時沒有差異",
    },
})

#: Size of the line plots of this module (running sum, bound against taps), in inches.
LINE_FIGURE_INCHES = (6.4, 3.0)
#: Largest |acc| that :class:`MultiplierExplorer` searches for a rounding difference.
MULTIPLIER_SEARCH_LIMIT = 2**16
#: Range of :class:`MultiplierExplorer`'s slider, as powers of ten.
MULTIPLIER_EXPONENTS = (-6.0, 2.0)
#: Range of the taps axis of :func:`accumulator_bound_figure`, widened when a layer needs more.
TAPS_AXIS = (1, 10**7)

_EXACT_COLOR = "0.45"
_INT32_COLOR = "#1f5fa8"
_LIMIT_COLOR = "#c0392b"
_SINGLE_COLOR = "#1f5fa8"
_DOUBLE_COLOR = "#d35400"
_GRID_COLOR = "0.6"


def _signed(value: int) -> str:
    """Format an int for figure text, with a true minus sign as the tick labels have."""
    return str(value).replace("-", "−")


def _set_controls(explorer, controls: dict[str, ipywidgets.ValueWidget], ranges: dict[str, tuple],
                  values: dict[str, object]) -> None:
    """Check every value against its control's range, then set them all with one redraw."""
    for name, value in values.items():
        if name not in controls:
            raise TypeError(localize("requant_widgets.unknown_control", name=name, widget=type(explorer).__name__,
                                     choices=join_choices(controls)))
        if name in ranges:
            low, high = ranges[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                raise ValueError(localize("requant_widgets.out_of_range", name=name, value=value, low=low, high=high))
    explorer._holding = True
    try:
        for name, value in values.items():
            controls[name].value = value
    finally:
        explorer._holding = False
    explorer._update()


def _with_full_text(bundle: dict | None, text: str) -> dict | None:
    # ipywidgets cuts text/plain at 110 characters; nbval compares the whole text, so store it all.
    if bundle is not None:
        bundle["text/plain"] = text
    return bundle


# ---------------------------------------------------------------------------------------------
# Accumulator width
# ---------------------------------------------------------------------------------------------

def accumulator_wrap_figure(products: torch.Tensor) -> Figure:
    """Draw the running sum of one output's products, exact and as an int32 accumulator stores it.

    Taught in "Accumulator width". ``products`` contains ``(x − x_zp)(w − w_zp)`` of each tap in
    the order they are added. The exact running sum is computed in int64. After every addition the
    int32 accumulator contains :func:`qlesson.wrap_int32` of it, because wrapping integer addition
    equals the exact sum modulo 2^32. Both are drawn in units of 2^31, so the int32 limits are ±1.

    Returns:
        a figure of ``LINE_FIGURE_INCHES``.
    """
    products = _checks.require_integer_tensor("products", products)
    if products.dim() != 1 or products.numel() == 0:
        raise ValueError(localize("requant_widgets.bad_products", shape=tuple(products.shape)))
    exact = torch.cumsum(products.to(torch.int64), dim=0)
    int32_sum = wrap_int32(exact)
    taps = np.arange(1, exact.numel() + 1)
    unit = float(2**31)
    wrapped = (int32_sum != exact).nonzero()
    with _figure_context():
        figure = Figure(figsize=LINE_FIGURE_INCHES, dpi=PNG_DPI)
        axes = figure.add_axes([0.11, 0.17, 0.86, 0.62])
        axes.axhline(1.0, color=_LIMIT_COLOR, linewidth=0.9, linestyle=":", label=localize("requant_widgets.int32_limits"))
        axes.axhline(-1.0, color=_LIMIT_COLOR, linewidth=0.9, linestyle=":")
        axes.axhline(0.0, color="0.8", linewidth=0.6)
        axes.plot(taps, exact.numpy() / unit, color=_EXACT_COLOR, linewidth=1.6, linestyle="--",
                  label=localize("requant_widgets.exact_sum"))
        # Break the int32 line where it jumps by 2^32, so that the jump is not drawn as a steep segment.
        int32_values = int32_sum.numpy() / unit
        jumps = np.flatnonzero(np.abs(np.diff(int32_values)) > 1.0) + 1
        int32_line = np.insert(int32_values, jumps, np.nan)
        int32_taps = np.insert(taps.astype(float), jumps, np.nan)
        axes.plot(int32_taps, int32_line, color=_INT32_COLOR, linewidth=1.6,
                  label=localize("requant_widgets.int32_sum"))
        if wrapped.numel():
            first = int(wrapped[0, 0])
            axes.plot([first + 1], [int32_values[first]], marker="o", color=_LIMIT_COLOR, markersize=5)
            axes.annotate(localize("requant_widgets.first_wrap", tap=first + 1), (first + 1, int32_values[first]),
                          xytext=(-8, -4), textcoords="offset points", ha="right", va="top", color=_LIMIT_COLOR)
        low = min(-1.2, float(exact.min()) / unit * 1.1)
        high = max(1.2, float(exact.max()) / unit * 1.1)
        axes.set_ylim(low, high)
        axes.set_xlim(0, exact.numel() + 1)
        axes.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
        axes.set_xlabel(localize("requant_widgets.tap_axis"))
        axes.set_ylabel(localize("requant_widgets.sum_axis"))
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False)
        figure.suptitle(localize("requant_widgets.wrap_title", taps=exact.numel()), y=0.98, va="top")
    return figure


def accumulator_bound_figure(
    taps: int, x_zero_point: int = 0, w_zero_point: int = 0,
    x_dtype: torch.dtype = torch.uint8, w_dtype: torch.dtype = torch.int8,
) -> Figure:
    """Draw the worst-case |acc| against the number of taps, the int32 limit, and one layer on it.

    Taught in "Accumulator width". Both axes are logarithmic, so the bound
    ``K · max|x − x_zp| · max|w − w_zp|`` of :func:`qlesson.accumulator_bound` is a straight
    line, and it crosses the int32 maximum at :func:`qlesson.max_taps_int32`. The layer with
    ``taps`` taps is marked on the line.

    Returns:
        a figure of ``LINE_FIGURE_INCHES``.
    """
    return _draw_accumulator_bound(None, taps, x_zero_point, w_zero_point, x_dtype, w_dtype)


def _draw_accumulator_bound(figure: Figure | None, taps: int, x_zero_point: int, w_zero_point: int,
                            x_dtype: torch.dtype = torch.uint8, w_dtype: torch.dtype = torch.int8) -> Figure:
    """Draw :func:`accumulator_bound_figure` into ``figure``, or into a new figure when it is None."""
    bound = accumulator_bound(taps, x_zero_point, w_zero_point, x_dtype, w_dtype)
    per_tap = bound // taps
    max_taps = max_taps_int32(x_zero_point, w_zero_point, x_dtype, w_dtype)
    first, last = TAPS_AXIS[0], max(TAPS_AXIS[1], 10 ** math.ceil(math.log10(taps) + 1))
    line_taps = np.array([first, last], dtype=float)
    with _figure_context():
        if figure is None:
            figure = Figure(figsize=LINE_FIGURE_INCHES, dpi=PNG_DPI)
        axes = _blank_axes(figure, 0, [0.11, 0.17, 0.86, 0.6])
        axes.set_xscale("log")
        axes.set_yscale("log")
        top = max(1e12, per_tap * last * 2.0)
        axes.axhspan(INT32_MAX, top, color=_LIMIT_COLOR, alpha=0.08, linewidth=0, label=localize("requant_widgets.can_wrap"))
        axes.axhline(INT32_MAX, color=_LIMIT_COLOR, linewidth=1.0, label=localize("requant_widgets.int32_max"))
        axes.plot(line_taps, line_taps * per_tap, color=_INT32_COLOR, linewidth=1.5,
                  label=localize("requant_widgets.bound_line", per_tap=per_tap))
        axes.axvline(max_taps, color=_EXACT_COLOR, linewidth=0.9, linestyle=":")
        axes.text(max_taps * 1.15, 2e4, localize("requant_widgets.max_taps_line", taps=max_taps), color=_EXACT_COLOR,
                  ha="left", va="bottom", fontsize=8)
        color = _INT32_COLOR if bound <= INT32_MAX else _LIMIT_COLOR
        axes.plot([taps], [bound], marker="o", markersize=7, color=color, linestyle="none",
                  label=localize("requant_widgets.this_layer", taps=taps))
        axes.set_xlim(first, last)
        axes.set_ylim(1e4, top)
        axes.set_xlabel(localize("requant_widgets.taps_axis"))
        axes.set_ylabel(localize("requant_widgets.acc_axis"))
        axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False)
        figure.suptitle(localize("requant_widgets.bound_title", x_zp=_signed(x_zero_point), w_zp=_signed(w_zero_point),
                                 per_tap=per_tap),
                        y=0.985, va="top")
    return figure


def _bound_background_key(figure: Figure) -> tuple:
    """Return the axes limits of a figure of :func:`accumulator_bound_figure`.

    They fix everything it draws below the data lines: the log axes with their ticks and labels,
    and the "int32 can wrap" band from the int32 maximum to the top limit.
    """
    axes = figure.axes[0]
    return axes.get_xlim(), axes.get_ylim()


#: Ranges of :class:`AccumulatorExplorer`'s integer controls.
_ACCUMULATOR_RANGES = {
    "c_in": (1, 1_000_000),
    "kernel_size": (1, 11),
    "spatial_axes": (1, 3),
    "x_zero_point": (0, 255),
    "w_zero_point": (-128, 127),
}


@dataclass(frozen=True)
class AccumulatorSetting:
    """One layer of :class:`AccumulatorExplorer`: its taps and its worst-case accumulator."""

    c_in: int
    kernel_size: int
    spatial_axes: int
    x_zero_point: int
    w_zero_point: int

    @property
    def taps(self) -> int:
        """K = C_in · kernel_size ^ spatial_axes, the products per output."""
        return self.c_in * self.kernel_size**self.spatial_axes

    @property
    def bound(self) -> int:
        """The largest |acc| any uint8 input and int8 weights can give, :func:`qlesson.accumulator_bound`."""
        return accumulator_bound(self.taps, self.x_zero_point, self.w_zero_point)

    @property
    def fits(self) -> bool:
        """Whether no input can make an int32 accumulator wrap around."""
        return self.bound <= INT32_MAX


class AccumulatorExplorer(ipywidgets.VBox):
    """Vary C_in, the kernel and the zero points and compare the worst-case accumulator with int32.

    Taught in "Accumulator width". The input is uint8 and the weights int8, per tensor and without
    groups, so the taps are ``C_in · k^d``. The image is :func:`accumulator_bound_figure` and the
    report spells out the bound and how many taps still fit.
    """

    def __init__(self, c_in: int = 64, kernel_size: int = 3, spatial_axes: int = 2, *, x_zero_point: int = 0,
                 w_zero_point: int = 0) -> None:
        setting = {"c_in": c_in, "kernel_size": kernel_size, "spatial_axes": spatial_axes,
                   "x_zero_point": x_zero_point, "w_zero_point": w_zero_point}
        for name, value in setting.items():
            low, high = _ACCUMULATOR_RANGES[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(localize("requant_widgets.out_of_range", name=name, value=value, low=low, high=high))
        style = {"description_width": "initial"}
        self.c_in_text = ipywidgets.BoundedIntText(value=c_in, min=1, max=_ACCUMULATOR_RANGES["c_in"][1],
                                                   description="C_in", style=style)
        self.kernel_slider = ipywidgets.IntSlider(value=kernel_size, min=1, max=_ACCUMULATOR_RANGES["kernel_size"][1],
                                                  description=localize("requant_widgets.kernel_size"), style=style,
                                                  continuous_update=False)
        self.axes_dropdown = ipywidgets.Dropdown(options=[1, 2, 3], value=spatial_axes, style=style,
                                                 description=localize("requant_widgets.spatial_axes"))
        self.x_zp_slider = ipywidgets.IntSlider(value=x_zero_point, min=0, max=255, description="x_zp",
                                                continuous_update=False)
        self.w_zp_slider = ipywidgets.IntSlider(value=w_zero_point, min=-128, max=127, description="w_zp",
                                                continuous_update=False)
        self.image = ipywidgets.Image(format="png")
        self.report = ipywidgets.HTML()
        self._controls = {"c_in": self.c_in_text, "kernel_size": self.kernel_slider,
                          "spatial_axes": self.axes_dropdown, "x_zero_point": self.x_zp_slider,
                          "w_zero_point": self.w_zp_slider}
        super().__init__([
            ipywidgets.HBox([self.c_in_text, self.kernel_slider, self.axes_dropdown]),
            ipywidgets.HBox([self.x_zp_slider, self.w_zp_slider]),
            self.image,
            self.report,
        ])
        self._figure = _ReusedFigure(background_key=_bound_background_key)
        self._holding = False
        for control in self._controls.values():
            control.observe(self._update, names="value")
        self._update()

    def set_values(self, **values: object) -> None:
        """Set several controls by name (c_in, kernel_size, spatial_axes, x_zero_point, w_zero_point), redraw once."""
        _set_controls(self, self._controls, _ACCUMULATOR_RANGES, values)

    @property
    def setting(self) -> AccumulatorSetting:
        """The layer that the controls describe."""
        return AccumulatorSetting(self.c_in_text.value, self.kernel_slider.value, self.axes_dropdown.value,
                                  self.x_zp_slider.value, self.w_zp_slider.value)

    def _update(self, change: object = None) -> None:
        if self._holding:
            return
        setting = self.setting
        self.image.value = self._figure.draw(lambda figure: _draw_accumulator_bound(
            figure, setting.taps, setting.x_zero_point, setting.w_zero_point))
        self.report.value = _accumulator_html(setting)

    def __repr__(self) -> str:
        setting = self.setting
        key = "requant_widgets.accumulator_repr_fits" if setting.fits else "requant_widgets.accumulator_repr_wraps"
        return localize(key, taps=setting.taps, bound=setting.bound, limit=INT32_MAX)

    def _repr_mimebundle_(self, **kwargs: object) -> dict | None:
        return _with_full_text(super()._repr_mimebundle_(**kwargs), repr(self))


def _ratio_text(ratio: float) -> str:
    """Format a ratio with three significant digits, without exponent notation for large ones."""
    return f"{ratio:.0f}" if ratio >= 1000 else f"{ratio:.3g}"


def _accumulator_html(setting: AccumulatorSetting) -> str:
    x_distance = _checks.max_offset(torch.uint8, setting.x_zero_point)
    w_distance = _checks.max_offset(torch.int8, setting.w_zero_point)
    per_tap = x_distance * w_distance
    max_taps = max_taps_int32(setting.x_zero_point, setting.w_zero_point)
    lines = [
        localize("requant_widgets.report_taps", c_in=setting.c_in, kernel=setting.kernel_size,
                 axes=setting.spatial_axes, taps=setting.taps),
        localize("requant_widgets.report_per_tap", x_distance=x_distance, w_distance=w_distance, per_tap=per_tap),
        localize("requant_widgets.report_bound", per_tap=per_tap, bound=setting.bound),
    ]
    if setting.fits:
        lines.append(localize("requant_widgets.report_fits", limit=INT32_MAX,
                              ratio=_ratio_text(INT32_MAX / setting.bound)))
    else:
        lines.append(localize("requant_widgets.report_wraps", limit=INT32_MAX,
                              ratio=_ratio_text(setting.bound / INT32_MAX)))
    lines.append(localize("requant_widgets.report_max_taps", taps=max_taps,
                          c_in=max_taps // setting.kernel_size**setting.spatial_axes))
    return "<br>".join(html.escape(line) for line in lines)


# ---------------------------------------------------------------------------------------------
# Requantization: rounding once and twice
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoundingTrace:
    """The steps of ``acc · M0 · 2^(shift − 31)`` rounded once and rounded twice, in output units.

    ``intermediate`` is the first rounding of the double-rounding path, ``round(acc · M0 / 2^31)``
    after the left shift, divided by ``2^right`` so that it is on the scale of ``exact``.
    """

    acc: int
    M0: int
    shift: int
    exact: Fraction
    intermediate: Fraction
    single: int
    double: int

    @property
    def right_shift(self) -> int:
        """The shift of the second rounding, ``max(−shift, 0)``; 0 means that only one rounding happens."""
        return max(-self.shift, 0)


def trace_double_rounding(acc: int, M0: int, shift: int) -> RoundingTrace:
    """Return each step of :func:`qlesson.multiply_by_quantized_multiplier` for one accumulator.

    Taught in "Requantization". TFLite's default first rounds ``(acc · 2^left) · M0 / 2^31`` to an
    integer, then divides that by ``2^right`` and rounds again. The first step is computed here
    as the ``"double"`` multiplication with ``shift`` set to 0, which skips the second step.
    """
    acc = _checks.require_int("acc", acc)
    value = torch.tensor([acc], dtype=torch.int64)
    single = int(multiply_by_quantized_multiplier(value, M0, shift, rounding="single")[0])
    double = int(multiply_by_quantized_multiplier(value, M0, shift, rounding="double")[0])
    left, right = max(shift, 0), max(-shift, 0)
    high = int(multiply_by_quantized_multiplier(value * 2**left, M0, 0, rounding="double")[0])
    exact = Fraction(acc * M0) * Fraction(2) ** (shift - 31)
    return RoundingTrace(acc, M0, shift, exact, Fraction(high, 2**right), single, double)


def _fraction_text(value: Fraction, digits: int = 6) -> str:
    text = f"{float(value):.{digits}f}".rstrip("0").rstrip(".")
    return text.replace("-", "−")


def double_rounding_figure(M0: int, shift: int, acc: int) -> Figure:
    """Draw one accumulator's product rounded once and rounded twice on a number line around the tie.

    Taught in "Requantization". The axis is centred on the half-integer next to the exact value
    ``acc · M0 · 2^(shift − 31)`` and counts steps of ``2^−right``, the grid the first rounding
    lands on. Rounding once takes the exact value to the nearer integer. Rounding twice first
    moves it to the grid and then rounds that, so a value just short of the halfway point that the
    grid moves onto it is rounded away from zero.

    Returns:
        a figure of the number-line size of the lesson widgets, ``GRID_FIGURE_INCHES``.
    """
    return _draw_double_rounding(None, M0, shift, acc)


def _draw_double_rounding(figure: Figure | None, M0: int, shift: int, acc: int) -> Figure:
    """Draw :func:`double_rounding_figure` into ``figure``, or into a new figure when it is None."""
    trace = trace_double_rounding(acc, M0, shift)
    step = Fraction(1, 2**trace.right_shift)
    halfway = math.floor(trace.exact) + Fraction(1, 2)

    def offset(value: Fraction) -> float:
        return float((value - halfway) / step)

    exact_at, intermediate_at = offset(trace.exact), offset(trace.intermediate)
    reach = max(3.0, abs(exact_at), abs(intermediate_at)) * 1.35
    with _figure_context():
        if figure is None:
            figure = Figure(figsize=GRID_FIGURE_INCHES, dpi=PNG_DPI)
        axes = _blank_axes(figure, 0, [0.04, 0.2, 0.92, 0.6])
        axes.set_xlim(-reach, reach)
        axes.set_ylim(0, 1)
        axes.set_yticks([])
        for side in ("left", "right", "top"):
            axes.spines[side].set_visible(False)
        if trace.right_shift:
            grid = np.arange(math.ceil(-reach), math.floor(reach) + 1)
        else:  # no second rounding: the first rounding lands on integers, half a step from the tie
            grid = np.arange(math.ceil(-reach - 0.5), math.floor(reach - 0.5) + 1) + 0.5
        axes.vlines(grid, 0.05, 0.95, color=_GRID_COLOR, linewidth=0.6)
        axes.axvline(0.0, color=_LIMIT_COLOR, linewidth=1.3, linestyle="--")
        axes.text(0.0, 0.98, localize("requant_widgets.halfway", value=_fraction_text(halfway)), color=_LIMIT_COLOR,
                  ha="center", va="bottom", fontsize=8)
        rows = ((0.72, "requant_widgets.single_row", trace.single, _SINGLE_COLOR),
                (0.3, "requant_widgets.double_row", trace.double, _DOUBLE_COLOR))
        for y, label, result, color in rows:
            axes.text(-reach, y + 0.1, localize(label), ha="left", va="bottom", color=color, fontsize=8)
            # The result is written at the end of the row that it lies towards.
            if result > halfway:
                axes.text(reach, y, f"→ {_signed(result)}", ha="right", va="center", color=color, fontsize=10)
            else:
                axes.text(-reach, y, f"{_signed(result)} ←", ha="left", va="center", color=color, fontsize=10)
            axes.plot([exact_at], [y], marker="o", color=_SINGLE_COLOR, markersize=6)
        axes.annotate("", xy=(intermediate_at, 0.3), xytext=(exact_at, 0.3),
                      arrowprops={"arrowstyle": "->", "color": _DOUBLE_COLOR, "linewidth": 1.3})
        axes.plot([intermediate_at], [0.3], marker="s", color=_DOUBLE_COLOR, markersize=6)
        # Labels sit beside their marker on the side away from the halfway line, which they would cross.
        exact_side = -1.0 if exact_at <= 0 else 1.0
        axes.text(exact_at + 0.15 * exact_side, 0.72 + 0.07,
                  localize("requant_widgets.exact_marker", value=_fraction_text(trace.exact)),
                  ha="right" if exact_side < 0 else "left", va="bottom", color=_SINGLE_COLOR, fontsize=8)
        if intermediate_at == 0:
            intermediate_side = exact_side
        else:
            intermediate_side = -1.0 if intermediate_at < 0 else 1.0
        axes.text(intermediate_at + 0.15 * intermediate_side, 0.3 - 0.07,
                  localize("requant_widgets.first_rounding", value=_fraction_text(trace.intermediate)),
                  ha="right" if intermediate_side < 0 else "left", va="top", color=_DOUBLE_COLOR, fontsize=8)
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}".replace("-", "−")))
        axes.set_xlabel(localize("requant_widgets.offset_axis", right=trace.right_shift), fontsize=8)
        figure.suptitle(localize("requant_widgets.rounding_title", acc=_signed(acc), m0=M0, shift=_signed(shift),
                                 single=_signed(trace.single), double=_signed(trace.double)), y=0.98, va="top")
    return figure


def count_double_rounding_mismatches(M0: int, shift: int, limit: int = MULTIPLIER_SEARCH_LIMIT) -> int:
    """Count the accumulators with ``1 ≤ |acc| ≤ limit`` where rounding twice and once disagree.

    Taught in "Requantization". Compares :func:`qlesson.multiply_by_quantized_multiplier` with
    ``rounding="double"`` and ``"single"`` on all ``2 · limit`` values at once.
    """
    check_search_limit(limit)
    magnitudes = torch.arange(1, limit + 1, dtype=torch.int64)
    values = torch.cat([magnitudes, -magnitudes])
    double = multiply_by_quantized_multiplier(values, M0, shift, rounding="double")
    single = multiply_by_quantized_multiplier(values, M0, shift, rounding="single")
    return int((double != single).sum())


@functools.cache
def _search_candidates() -> torch.Tensor:
    """Return the accumulators 1, −1, 2, −2, … up to ±MULTIPLIER_SEARCH_LIMIT, in the order of the search."""
    magnitudes = torch.arange(1, MULTIPLIER_SEARCH_LIMIT + 1, dtype=torch.int64)
    return torch.stack([magnitudes, -magnitudes], dim=1).reshape(-1)


def _search_double_rounding(m0: int, shift: int) -> tuple[RoundingMismatch | None, int]:
    """Return the results of the two public searches for ``1 ≤ |acc| ≤ MULTIPLIER_SEARCH_LIMIT``.

    The first is ``find_double_rounding_mismatch(m0, shift, limit=MULTIPLIER_SEARCH_LIMIT)`` and the
    second ``count_double_rounding_mismatches(m0, shift)``. Both come from one pass of each rounding
    over the same accumulators, which halves the work of calling the two functions.
    """
    candidates = _search_candidates()
    # The 2 · 65536 values gain little from a second thread, and while other processes kept both
    # cores busy the two-thread pool stalled this search by up to 0.46 s instead of 5 ms.
    with _one_torch_thread():
        double = multiply_by_quantized_multiplier(candidates, m0, shift, rounding="double")
        single = multiply_by_quantized_multiplier(candidates, m0, shift, rounding="single")
        differs = double != single
        count = int(differs.sum())
        # argmax returns the first of equal maxima, so this is the first difference in search order.
        first = int(differs.to(torch.uint8).argmax())
    if count == 0:
        return None, 0
    acc = int(candidates[first])
    mismatch = RoundingMismatch(acc=acc, double=int(double[first]), single=int(single[first]),
                                exact=Fraction(acc * m0) * Fraction(2) ** (shift - 31))
    return mismatch, count


_NO_MISMATCH_PNGS: dict[str, bytes] = {}


def _no_mismatch_png(language: str) -> bytes:
    """Return the placeholder image of a multiplier whose two roundings agree, drawn once per language."""
    if language not in _NO_MISMATCH_PNGS:
        _NO_MISMATCH_PNGS[language] = figure_to_png(placeholder_figure(
            localize("requant_widgets.no_mismatch", language=language, limit=MULTIPLIER_SEARCH_LIMIT)))
    return _NO_MISMATCH_PNGS[language]


class MultiplierExplorer(ipywidgets.VBox):
    """Vary the real multiplier M and see its fixed-point form and where rounding twice goes wrong.

    Taught in "Requantization". The slider sets ``M`` on a logarithmic scale. The report gives
    ``M0`` and ``shift`` from :func:`qlesson.quantize_multiplier`, the relative error of the
    fixed-point form, the smallest |acc| where TFLite's double rounding differs from rounding once,
    and how often the two differ for ``|acc| ≤ MULTIPLIER_SEARCH_LIMIT``. The image is
    :func:`double_rounding_figure` at that accumulator.
    """

    def __init__(self, real_multiplier: float = 0.0123) -> None:
        low, high = (10.0**exponent for exponent in MULTIPLIER_EXPONENTS)
        self._ranges = {"real_multiplier": (low, high)}
        if isinstance(real_multiplier, bool) or not isinstance(real_multiplier, (int, float)) \
                or not low <= real_multiplier <= high:
            raise ValueError(localize("requant_widgets.out_of_range", name="real_multiplier", value=real_multiplier,
                                      low=low, high=high))
        self.multiplier_slider = ipywidgets.FloatLogSlider(
            value=real_multiplier, base=10, min=MULTIPLIER_EXPONENTS[0], max=MULTIPLIER_EXPONENTS[1], step=0.001,
            readout_format=".4g", description=localize("requant_widgets.multiplier"),
            style={"description_width": "initial"}, layout=ipywidgets.Layout(width="36em"), continuous_update=False)
        self.image = ipywidgets.Image(format="png")
        self.report = ipywidgets.HTML()
        self._controls = {"real_multiplier": self.multiplier_slider}
        super().__init__([self.multiplier_slider, self.image, self.report])
        self._figure = _ReusedFigure()
        self._holding = False
        self.multiplier_slider.observe(self._update, names="value")
        self._update()

    def set_values(self, **values: object) -> None:
        """Set the control by name (real_multiplier) and redraw once."""
        _set_controls(self, self._controls, self._ranges, values)

    @property
    def fixed_point(self) -> tuple[int, int]:
        """``(M0, shift)`` of the slider's multiplier."""
        return quantize_multiplier(float(self.multiplier_slider.value))

    @property
    def first_mismatch(self) -> RoundingMismatch | None:
        """The :class:`qlesson.RoundingMismatch` of smallest |acc| up to the search limit, or ``None``."""
        return self._mismatch

    def _update(self, change: object = None) -> None:
        if self._holding:
            return
        real = float(self.multiplier_slider.value)
        m0, shift = self.fixed_point
        # The search result is kept for repr and the property, which would otherwise search again.
        self._mismatch, count = _search_double_rounding(m0, shift)
        mismatch = self._mismatch
        if mismatch is None:
            self.image.value = _no_mismatch_png(get_language())
        else:
            self.image.value = self._figure.draw(lambda figure: _draw_double_rounding(figure, m0, shift, mismatch.acc))
        self.report.value = _multiplier_html(real, m0, shift, mismatch, count)

    def __repr__(self) -> str:
        m0, shift = self.fixed_point
        mismatch = self._mismatch
        fields = {"real": f"{self.multiplier_slider.value:.6g}", "m0": m0, "shift": shift}
        if mismatch is None:
            return localize("requant_widgets.multiplier_repr_none", limit=MULTIPLIER_SEARCH_LIMIT, **fields)
        return localize("requant_widgets.multiplier_repr", acc=mismatch.acc, double=mismatch.double,
                        single=mismatch.single, **fields)

    def _repr_mimebundle_(self, **kwargs: object) -> dict | None:
        return _with_full_text(super()._repr_mimebundle_(**kwargs), repr(self))


def _multiplier_html(real: float, m0: int, shift: int, mismatch: RoundingMismatch | None, count: int) -> str:
    fixed = Fraction(m0) * Fraction(2) ** (shift - 31)
    error = abs(fixed - Fraction(real)) / Fraction(real)
    lines = [
        localize("requant_widgets.report_fixed_point", real=f"{real:.6g}", m0=m0, shift=shift),
        localize("requant_widgets.report_error", value=f"{float(fixed):.12g}", error=f"{float(error):.2g}"),
    ]
    if mismatch is None:
        lines.append(localize("requant_widgets.no_mismatch", limit=MULTIPLIER_SEARCH_LIMIT))
    else:
        lines.append(localize("requant_widgets.report_mismatch", acc=mismatch.acc, exact=_fraction_text(mismatch.exact),
                              single=mismatch.single, double=mismatch.double))
        lines.append(localize("requant_widgets.report_count", count=count, total=2 * MULTIPLIER_SEARCH_LIMIT,
                              limit=MULTIPLIER_SEARCH_LIMIT))
    return "<br>".join(html.escape(line) for line in lines)
