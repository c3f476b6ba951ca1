"""Widgets and figures of the lessons "Affine quantization" and "The four terms of an integer convolution".

Each widget is an :class:`ipywidgets.VBox` of controls, an :class:`ipywidgets.Image` holding a
PNG of its figure and an :class:`ipywidgets.HTML` report. It uses neither ``interact`` nor an
``Output`` widget, so a stored notebook keeps only the widget state and a short text, and its
``repr`` is a deterministic one-line summary in the active language, which nbval compares.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass

import ipywidgets
import matplotlib
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from . import _checks
from ._canvas import CachingCanvasAgg, StoredBackground
from .borders import border_regions
from .convolution import conv_geometry, conv_integer
from .expansion import FourTerms, four_terms, window_sum
from .i18n import get_language, join_choices, localize, register_messages
from .plots import PNG_DPI, error_heatmaps, figure_to_png, font_families, refresh_error_heatmaps
from .quantization import choose_qparams, quantized_range
from .widgets import _one_torch_thread

register_messages({
    "lesson_widgets.bad_dtype": {
        "en": "dtype={value!r} is not supported here; use \"uint8\" or \"int8\" (or torch.uint8, torch.int8).",
        "zh-TW": "這裡不支援 dtype={value!r}，請使用 \"uint8\" 或 \"int8\"（或 torch.uint8、torch.int8）。",
    },
    "lesson_widgets.not_bool": {
        "en": "{name}={value!r} must be True or False.",
        "zh-TW": "{name}={value!r} 必須是 True 或 False。",
    },
    "lesson_widgets.unknown_control": {
        "en": "no control named {names}; the controls are {known}.",
        "zh-TW": "沒有名為 {names} 的控制項；可用的控制項是 {known}。",
    },
    "lesson_widgets.requested_range": {"en": "requested range", "zh-TW": "要求的範圍"},
    "lesson_widgets.integer_grid": {"en": "integer grid ({count} values)", "zh-TW": "整數格點（{count} 個值）"},
    "lesson_widgets.real_zero": {"en": "real 0", "zh-TW": "實數 0"},
    "lesson_widgets.real_axis": {"en": "real value r", "zh-TW": "實數值 r"},
    "lesson_widgets.integer_axis": {"en": "integer q", "zh-TW": "整數 q"},
    "lesson_widgets.zoom_title": {"en": "near real 0, one tick per integer", "zh-TW": "實數 0 附近，每個刻度是一個整數"},
    "lesson_widgets.zero_at": {"en": "r = 0 → q = {q}", "zh-TW": "r = 0 → q = {q}"},
    "lesson_widgets.zero_left": {
        "en": "real 0 is {steps} steps to the left, outside the grid",
        "zh-TW": "實數 0 在左方 {steps} 格之外，不在格點上",
    },
    "lesson_widgets.zero_right": {
        "en": "real 0 is {steps} steps to the right, outside the grid",
        "zh-TW": "實數 0 在右方 {steps} 格之外，不在格點上",
    },
    "lesson_widgets.grid_title": {
        "en": "{dtype}, {kind}: S = {scale}, Z = {zero_point}",
        "zh-TW": "{dtype}，{kind}：S = {scale}，Z = {zero_point}",
    },
    "lesson_widgets.symmetric": {"en": "symmetric", "zh-TW": "對稱"},
    "lesson_widgets.asymmetric": {"en": "asymmetric", "zh-TW": "非對稱"},
    "lesson_widgets.exact_zero": {"en": "make real 0 exact", "zh-TW": "讓實數 0 精確"},
    "lesson_widgets.invalid_title": {"en": "no grid for this range", "zh-TW": "這個範圍沒有格點"},
    "lesson_widgets.report_scale": {
        "en": "scale S = {scale}, zero point Z = {zero_point}",
        "zh-TW": "縮放因子 S = {scale}，零點 Z = {zero_point}",
    },
    "lesson_widgets.report_unrounded": {
        "en": "Z before rounding: {value}",
        "zh-TW": "取整前的 Z：{value}",
    },
    "lesson_widgets.report_grid": {
        "en": "grid: q = {q_min} … {q_max} represents r = {low} … {high}",
        "zh-TW": "格點：q = {q_min} … {q_max} 代表 r = {low} … {high}",
    },
    "lesson_widgets.report_widened": {
        "en": "the range was widened to [{low}, {high}] so that it contains 0",
        "zh-TW": "範圍已擴大成 [{low}, {high}]，以包含 0",
    },
    "lesson_widgets.report_exact": {
        "en": "real 0 → q = {zero_point}: exact ✓",
        "zh-TW": "實數 0 → q = {zero_point}：精確 ✓",
    },
    "lesson_widgets.report_between": {
        "en": ("real 0 → q = {position}, between two integers: not exact ✗. "
               "The nearest integer, {nearest}, represents {value}."),
        "zh-TW": "實數 0 → q = {position}，落在兩個整數之間：不精確 ✗。最接近的整數 {nearest} 代表 {value}。",
    },
    "lesson_widgets.report_outside": {
        "en": ("real 0 lies {steps} steps outside the grid: not representable ✗. "
               "It quantizes to {nearest}, which represents {value}."),
        "zh-TW": "實數 0 在格點外 {steps} 格：無法表示 ✗。它會被量化成 {nearest}，代表 {value}。",
    },
    "lesson_widgets.grid_repr": {
        "en": "QuantizationGridExplorer: r ∈ [{r_min}, {r_max}], {dtype}, {kind} → S = {scale}, Z = {zero_point}",
        "zh-TW": "QuantizationGridExplorer：r ∈ [{r_min}, {r_max}]，{dtype}，{kind} → S = {scale}，Z = {zero_point}",
    },
    "lesson_widgets.grid_repr_invalid": {
        "en": "QuantizationGridExplorer: r ∈ [{r_min}, {r_max}], {dtype}, {kind} → no grid (r_min > r_max)",
        "zh-TW": "QuantizationGridExplorer：r ∈ [{r_min}, {r_max}]，{dtype}，{kind} → 沒有格點（r_min > r_max）",
    },
    "lesson_widgets.need_2d": {
        "en": ("{name} has shape {shape}, but this widget draws 2-D maps. Pass an input (N, C_in, H, W) "
               "and weights (C_out, C_in, kH, kW)."),
        "zh-TW": ("{name} 的形狀是 {shape}，但這個互動元件畫的是二維圖。請傳入形狀為 (N, C_in, H, W) 的輸入"
                  "與 (C_out, C_in, kH, kW) 的權重。"),
    },
    "lesson_widgets.stride": {"en": "stride", "zh-TW": "步幅"},
    "lesson_widgets.padding": {"en": "padding", "zh-TW": "填補"},
    "lesson_widgets.dilation": {"en": "dilation", "zh-TW": "擴張"},
    "lesson_widgets.window_pad": {"en": "window sum pads with", "zh-TW": "視窗總和的填補值"},
    "lesson_widgets.follow_geometry": {"en": "follow stride and dilation", "zh-TW": "跟著步幅與擴張"},
    "lesson_widgets.term_title": {
        "en": "error of (3) against conv_integer, output channel 0",
        "zh-TW": "(3) 相對於 conv_integer 的誤差，輸出通道 0",
    },
    "lesson_widgets.term_column": {"en": "term", "zh-TW": "項"},
    "lesson_widgets.first_output": {"en": "output (0, 0)", "zh-TW": "輸出 (0, 0)"},
    "lesson_widgets.centre_output": {"en": "centre output ({row}, {column})", "zh-TW": "中央輸出 ({row}, {column})"},
    "lesson_widgets.combined": {"en": "= (3)", "zh-TW": "= (3)"},
    "lesson_widgets.reference": {"en": "conv_integer", "zh-TW": "conv_integer"},
    "lesson_widgets.term_summary": {
        "en": "channel 0 shown; over all channels {wrong} of {total} outputs are wrong, max |error| = {max_error}",
        "zh-TW": "表格為通道 0；所有通道共 {total} 個輸出中有 {wrong} 個錯誤，最大絕對誤差 = {max_error}",
    },
    "lesson_widgets.terms_repr": {
        "en": ("FourTermsExplorer: w_zp={w_zp}, stride={stride}, padding={padding}, dilation={dilation}, "
               "pad {pad}{follow} → {wrong}/{total} wrong"),
        "zh-TW": ("FourTermsExplorer：w_zp={w_zp}，步幅={stride}，填補={padding}，擴張={dilation}，"
                  "填補值 {pad}{follow} → {wrong}/{total} 錯誤"),
    },
    "lesson_widgets.terms_repr_unfollowed": {"en": ", not following", "zh-TW": "，未跟隨"},
    "lesson_widgets.terms_repr_invalid": {
        "en": "FourTermsExplorer: w_zp={w_zp}, stride={stride}, padding={padding}, dilation={dilation} → invalid",
        "zh-TW": "FourTermsExplorer：w_zp={w_zp}，步幅={stride}，填補={padding}，擴張={dilation} → 無效",
    },
})

#: Size of the number-line figure of :func:`quantization_grid_figure`, in inches.
GRID_FIGURE_INCHES = (6.4, 2.7)
#: Integers shown on each side of real 0 in the lower panel of the number-line figure.
ZOOM_HALF_WIDTH = 5
#: Spacing of the integers labelled in the upper panel of the number-line figure.
GRID_LABEL_EVERY = 32
#: Limits of the range sliders of :class:`QuantizationGridExplorer`.
SLIDER_LIMITS = (-4.0, 4.0)

_DTYPES = {"uint8": torch.uint8, "int8": torch.int8}
_FONT_SIZE = 9
_SMALL_FONT_SIZE = 7
_RANGE_COLOR = "#f4a259"
_GRID_COLOR = "0.35"
_ZERO_COLOR = "#c0392b"


def _dtype_name(dtype: object) -> str:
    for name, value in _DTYPES.items():
        if dtype == name or dtype is value:
            return name
    raise ValueError(localize("lesson_widgets.bad_dtype", value=dtype))


def _require_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(localize("lesson_widgets.not_bool", name=name, value=value))
    return value


def _format(value: float, digits: int = 6) -> str:
    """Format a real value with ``digits`` significant digits and a true minus sign."""
    text = f"{value:.{digits}g}"
    return "0" if text in ("0", "-0") else text.replace("-", "−")


@dataclass(frozen=True)
class QuantizationGrid:
    """The integer grid that one choice of range, dtype and options gives, and where real 0 lands.

    ``zero_point`` is a float because the grid that skips the exact-zero rules has a fractional
    zero point. With the rules it is an integer, and :attr:`zero_is_exact` is true.
    """

    r_min: float
    r_max: float
    dtype: str
    symmetric: bool
    exact_zero: bool
    scale: float
    zero_point: float
    q_min: int
    q_max: int

    @property
    def zero_is_exact(self) -> bool:
        """Whether real 0 is one of the grid's integers."""
        return self.zero_point == round(self.zero_point) and self.q_min <= self.zero_point <= self.q_max

    @property
    def widened(self) -> bool:
        """Whether the rules widened the requested range to contain 0."""
        return self.exact_zero and (self.r_min > 0 or self.r_max < 0)

    def real_value(self, q: float) -> float:
        """Return the real value ``S (q − Z)`` that integer ``q`` represents."""
        return self.scale * (q - self.zero_point)

    @property
    def nearest_to_zero(self) -> int:
        """The integer that real 0 quantizes to: ``Z`` rounded half to even, then clamped."""
        return int(min(max(round(self.zero_point), self.q_min), self.q_max))


def quantization_grid(
    r_min: float, r_max: float, dtype: object = "uint8", *, symmetric: bool = False, exact_zero: bool = True,
) -> QuantizationGrid:
    """Choose the grid of the real range ``[r_min, r_max]`` on ``dtype``, with or without the exact-zero rules.

    Taught in "Affine quantization". With ``exact_zero`` (and always for a symmetric grid) the
    parameters are those of :func:`qlesson.choose_qparams`: the range is widened to contain 0 and
    the zero point is rounded. Without it, ``r_min`` maps to ``q_min`` and ``r_max`` to ``q_max``
    exactly, and the zero point ``q_min − r_min / S`` keeps its fraction, which is what the two
    rules exist to prevent. Floats are allowed here: this is the preparation side.

    Raises:
        ValueError: for ``r_min > r_max``, a range that is not finite, or a dtype other than uint8 or int8.
    """
    name = _dtype_name(dtype)
    symmetric = _require_bool("symmetric", symmetric)
    exact_zero = _require_bool("exact_zero", exact_zero)
    torch_dtype = _DTYPES[name]
    scale, zero_point = choose_qparams(r_min, r_max, torch_dtype, symmetric=symmetric)  # validates the range
    q_min, q_max = quantized_range(torch_dtype, narrow=symmetric)
    fractional_zero_point = float(zero_point)
    if not exact_zero and not symmetric:
        # Map r_min to q_min and r_max to q_max with no widening and no rounding.
        steps = q_max - q_min
        scale = r_max / steps - r_min / steps
        if scale > 0:
            fractional_zero_point = q_min - r_min / scale
        else:  # a range of one value: any scale maps it onto q_min
            scale = 1.0
            fractional_zero_point = q_min - float(r_min)
    return QuantizationGrid(float(r_min), float(r_max), name, symmetric, exact_zero, scale,
                            fractional_zero_point, q_min, q_max)


def _zero_point_text(grid: QuantizationGrid) -> str:
    if grid.zero_point == round(grid.zero_point):
        return _format(int(grid.zero_point))
    return _format(grid.zero_point, 6)


def _figure_rc() -> dict[str, object]:
    return {
        "font.family": font_families(),
        "font.size": _FONT_SIZE,
        "axes.titlesize": _FONT_SIZE,
        "axes.labelsize": _FONT_SIZE,
        "legend.fontsize": _SMALL_FONT_SIZE + 1,
        "axes.unicode_minus": True,
    }


def _draw_full_grid(axes, grid: QuantizationGrid) -> None:
    """Draw the requested range, every integer of the grid and real 0 on a real-valued axis."""
    low, high = grid.real_value(grid.q_min), grid.real_value(grid.q_max)
    span_low, span_high = min(low, grid.r_min, 0.0), max(high, grid.r_max, 0.0)
    margin = 0.04 * (span_high - span_low) or 0.5
    axes.set_xlim(span_low - margin, span_high + margin)
    axes.set_ylim(0, 1)
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)

    if grid.r_max > grid.r_min:
        axes.axvspan(grid.r_min, grid.r_max, ymin=0.62, ymax=0.95, color=_RANGE_COLOR, alpha=0.55,
                     label=localize("lesson_widgets.requested_range"))
    else:
        axes.vlines([grid.r_min], 0.62, 0.95, color=_RANGE_COLOR, linewidth=2.5,
                    label=localize("lesson_widgets.requested_range"))

    # 256 lines a few pixels apart would alias, so the grid is a band with every GRID_LABEL_EVERY-th integer marked.
    axes.axvspan(low, high, ymin=0.05, ymax=0.45, color=_GRID_COLOR, alpha=0.25, linewidth=0,
                 label=localize("lesson_widgets.integer_grid", count=grid.q_max - grid.q_min + 1))
    marked = [q for q in range(grid.q_min, grid.q_max + 1) if q % GRID_LABEL_EVERY == 0 or q in (grid.q_min, grid.q_max)]
    if grid.q_max - marked[-2] < GRID_LABEL_EVERY // 2:
        del marked[-2]  # keep the labels of the last marked integer and q_max apart
    if marked[1] - grid.q_min < GRID_LABEL_EVERY // 2:
        del marked[1]
    axes.vlines([grid.real_value(q) for q in marked], 0.05, 0.45, color=_GRID_COLOR, linewidth=0.8)
    for q in marked:
        axes.text(grid.real_value(q), 0.47, _format(q), ha="center", va="bottom", fontsize=_SMALL_FONT_SIZE - 1,
                  color=_GRID_COLOR)

    axes.axvline(0.0, color=_ZERO_COLOR, linewidth=1.3, label=localize("lesson_widgets.real_zero"))
    axes.set_xlabel(localize("lesson_widgets.real_axis"), labelpad=1)
    axes.tick_params(labelsize=_SMALL_FONT_SIZE, length=2, pad=1.5)
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=3, frameon=False, handlelength=1.4)


def _draw_zoom(axes, grid: QuantizationGrid) -> None:
    """Draw the integers nearest to real 0 on an integer axis, with real 0 at its fractional position."""
    centre = min(max(grid.zero_point, grid.q_min), grid.q_max)
    first = max(grid.q_min, math.floor(centre) - ZOOM_HALF_WIDTH)
    last = min(grid.q_max, math.ceil(centre) + ZOOM_HALF_WIDTH)
    axes.set_xlim(centre - ZOOM_HALF_WIDTH - 0.7, centre + ZOOM_HALF_WIDTH + 0.7)
    axes.set_ylim(0, 1)
    axes.set_yticks([])
    for side in ("left", "right", "top"):
        axes.spines[side].set_visible(False)
    integers = list(range(first, last + 1))
    axes.vlines(integers, 0.0, 0.45, color=_GRID_COLOR, linewidth=1.0)
    axes.set_xticks(integers)
    axes.tick_params(labelsize=_SMALL_FONT_SIZE, length=2, pad=1.5)
    axes.set_xlabel(localize("lesson_widgets.integer_axis"), labelpad=1)
    axes.set_title(localize("lesson_widgets.zoom_title"), pad=2, fontsize=_SMALL_FONT_SIZE + 1)
    left, right = axes.get_xlim()
    if left <= grid.zero_point <= right:
        axes.vlines([grid.zero_point], 0.0, 0.75, color=_ZERO_COLOR, linewidth=1.5)
        axes.text(grid.zero_point + 0.12, 0.55, localize("lesson_widgets.zero_at", q=_zero_point_text(grid)),
                  color=_ZERO_COLOR, ha="left", va="center", fontsize=_SMALL_FONT_SIZE + 1)
        return
    steps = _format(abs(grid.zero_point - centre), 6)
    key, x, align = (("lesson_widgets.zero_left", left, "left") if grid.zero_point < left
                     else ("lesson_widgets.zero_right", right, "right"))
    axes.text(x, 0.55, ("← " if align == "left" else "") + localize(key, steps=steps) + (" →" if align == "right" else ""),
              color=_ZERO_COLOR, ha=align, va="bottom", fontsize=_SMALL_FONT_SIZE + 1)


def quantization_grid_figure(
    r_min: float, r_max: float, dtype: object = "uint8", *, symmetric: bool = False, exact_zero: bool = True,
) -> Figure:
    """Draw the integer grid of a real range on a number line, and where real 0 lands on it.

    Taught in "Affine quantization". The upper panel shows the requested range, all integers of
    the grid at the real values they represent, and real 0. The lower panel shows the integers
    nearest to real 0, so that a zero point between two integers is visible. Arguments are those
    of :func:`quantization_grid`.

    Returns:
        a figure of ``GRID_FIGURE_INCHES``.
    """
    grid = quantization_grid(r_min, r_max, dtype, symmetric=symmetric, exact_zero=exact_zero)
    return _draw_quantization_grid(None, grid)


def _draw_quantization_grid(figure: Figure | None, grid: QuantizationGrid) -> Figure:
    """Draw :func:`quantization_grid_figure` of ``grid`` into ``figure``, or into a new figure when it is None."""
    kind = localize("lesson_widgets.symmetric" if grid.symmetric else "lesson_widgets.asymmetric")
    title = localize("lesson_widgets.grid_title", dtype=grid.dtype, kind=kind, scale=_format(grid.scale),
                     zero_point=_zero_point_text(grid))
    with matplotlib.rc_context(_figure_rc()):
        if figure is None:
            figure = Figure(figsize=GRID_FIGURE_INCHES, dpi=PNG_DPI)
        _draw_full_grid(_blank_axes(figure, 0, [0.05, 0.55, 0.9, 0.22]), grid)
        _draw_zoom(_blank_axes(figure, 1, [0.05, 0.13, 0.9, 0.2]), grid)
        figure.suptitle(title, y=0.98, va="top", fontsize=_FONT_SIZE + 1)
    return figure


def _blank_axes(figure: Figure, index: int, rect: list[float]) -> Axes:
    """Return the figure's ``index``-th axes with everything drawn in it removed, or add one at ``rect``.

    An explorer draws each update into the figure of the previous one, because keeping the axes
    keeps their tick objects, whose creation is most of the cost of a new figure. The drawing
    functions set every limit, tick, label and legend again, so the PNG equals that of a new figure
    (the tests compare the bytes).
    """
    if index < len(figure.axes):
        axes = figure.axes[index]
        for artist in [*axes.lines, *axes.texts, *axes.collections, *axes.patches, *axes.images]:
            artist.remove()
        return axes
    return figure.add_axes(rect)


class _ReusedFigure:
    """The figure an explorer redraws on every update, with a :class:`CachingCanvasAgg` of its own.

    A figure without a canvas gets a new Agg canvas and renderer on every ``savefig``, which
    discards matplotlib's caches of text layout and of the mathtext of log-scale tick labels.
    The figure is replaced when the language changes, because tick labels keep the font family
    they were created with.

    ``background_key``, for a figure of one axes, returns a key of everything drawn below
    :attr:`StoredBackground.ZORDER`. While the key stays the same, those pixels are copied from
    the previous update instead of drawn again.
    """

    def __init__(self, background_key: Callable[[Figure], Hashable] | None = None) -> None:
        self._figure: Figure | None = None
        self._language = ""
        self._background_key = background_key
        self._background: StoredBackground | None = None

    def draw(self, draw: Callable[[Figure | None], Figure]) -> bytes:
        """Call ``draw`` with the kept figure (None at first or after a language change) and return the PNG."""
        if self._language != get_language():
            self._figure, self._language = None, get_language()
        figure = draw(self._figure)
        if figure is not self._figure:
            CachingCanvasAgg(figure)
            self._figure = figure
            self._background = StoredBackground(figure.axes[0]) if self._background_key else None
        if self._background is None:
            return figure_to_png(figure)
        return self._background.render(self._background_key(figure), lambda: figure_to_png(figure))


def _message_figure(text: str) -> Figure:
    with matplotlib.rc_context(_figure_rc()):
        figure = Figure(figsize=GRID_FIGURE_INCHES, dpi=PNG_DPI)
        figure.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return figure


class QuantizationGridExplorer(ipywidgets.VBox):
    """Explore how a real range, a dtype and the symmetric option set the integer grid and where 0 lands.

    Taught in "Affine quantization". Two sliders set ``r_min`` and ``r_max``, a dropdown the
    dtype, and two checkboxes the symmetric form and the exact-zero rules (widen the range to
    contain 0, round the zero point). The image is :func:`quantization_grid_figure`, and the
    report below it gives S, Z and whether real 0 is exact. A range with ``r_min > r_max`` shows
    the error message in place of the figure.
    """

    def __init__(self, r_min: float = -0.62, r_max: float = 1.9, dtype: object = "uint8", *,
                 symmetric: bool = False, exact_zero: bool = True) -> None:
        low, high = SLIDER_LIMITS
        quantization_grid(r_min, r_max, dtype, symmetric=symmetric, exact_zero=exact_zero)  # validates
        slider = {"min": low, "max": high, "step": 0.01, "readout_format": ".2f", "continuous_update": False}
        self.r_min_slider = ipywidgets.FloatSlider(value=min(max(r_min, low), high), description="r_min", **slider)
        self.r_max_slider = ipywidgets.FloatSlider(value=min(max(r_max, low), high), description="r_max", **slider)
        self.dtype_dropdown = ipywidgets.Dropdown(options=list(_DTYPES), value=_dtype_name(dtype),
                                                  description="dtype")
        self.symmetric_checkbox = ipywidgets.Checkbox(value=symmetric,
                                                      description=localize("lesson_widgets.symmetric"))
        self.exact_zero_checkbox = ipywidgets.Checkbox(value=exact_zero,
                                                       description=localize("lesson_widgets.exact_zero"))
        self.image = ipywidgets.Image(format="png")
        self.report = ipywidgets.HTML()
        controls = [self.r_min_slider, self.r_max_slider, self.dtype_dropdown, self.symmetric_checkbox,
                    self.exact_zero_checkbox]
        super().__init__([
            ipywidgets.HBox([self.r_min_slider, self.r_max_slider]),
            ipywidgets.HBox([self.dtype_dropdown, self.symmetric_checkbox, self.exact_zero_checkbox]),
            self.image,
            self.report,
        ])
        self._controls = {"r_min": self.r_min_slider, "r_max": self.r_max_slider, "dtype": self.dtype_dropdown,
                          "symmetric": self.symmetric_checkbox, "exact_zero": self.exact_zero_checkbox}
        self._figure = _ReusedFigure()
        self._holding = False
        for control in controls:
            control.observe(self._update, names="value")
        self._update()

    def set_values(self, **values: object) -> None:
        """Set several controls by name (r_min, r_max, dtype, symmetric, exact_zero) and redraw once."""
        _set_controls(self, self._controls, values)

    @property
    def grid(self) -> QuantizationGrid | None:
        """The grid of the current controls, or ``None`` while ``r_min > r_max``."""
        try:
            return quantization_grid(self.r_min_slider.value, self.r_max_slider.value, self.dtype_dropdown.value,
                                     symmetric=self.symmetric_checkbox.value,
                                     exact_zero=self.exact_zero_checkbox.value)
        except ValueError:
            return None

    def _update(self, change: object = None) -> None:
        if self._holding:
            return
        r_min, r_max = self.r_min_slider.value, self.r_max_slider.value
        grid = self.grid
        if grid is None:
            message = localize("bad_range", r_min=r_min, r_max=r_max)
            self.image.value = figure_to_png(_message_figure(message))
            self.report.value = f"<p>{html.escape(message)}</p>"
            return
        self.image.value = self._figure.draw(lambda figure: _draw_quantization_grid(figure, grid))
        self.report.value = _report_html(grid)

    def __repr__(self) -> str:
        # Plain ASCII numbers, unlike the figure and the report, so that the text can be copied into code.
        grid = self.grid
        kind = localize("lesson_widgets.symmetric" if self.symmetric_checkbox.value else "lesson_widgets.asymmetric")
        fields = {"r_min": f"{self.r_min_slider.value:.2f}", "r_max": f"{self.r_max_slider.value:.2f}",
                  "dtype": self.dtype_dropdown.value, "kind": kind}
        if grid is None:
            return localize("lesson_widgets.grid_repr_invalid", **fields)
        zero_point = f"{grid.zero_point:.6g}" if grid.zero_point != round(grid.zero_point) else str(int(grid.zero_point))
        return localize("lesson_widgets.grid_repr", scale=f"{grid.scale:.6g}", zero_point=zero_point, **fields)


def _set_controls(explorer, controls: dict[str, ipywidgets.ValueWidget], values: dict[str, object]) -> None:
    """Set the named controls of ``explorer`` with its redraws held back, then redraw once."""
    unknown = sorted(set(values) - set(controls))
    if unknown:
        raise ValueError(localize("lesson_widgets.unknown_control", names=join_choices(unknown),
                                  known=join_choices(controls)))
    explorer._holding = True
    try:
        for name, value in values.items():
            controls[name].value = value
    finally:
        explorer._holding = False
    explorer._update()


def _report_html(grid: QuantizationGrid) -> str:
    """Return the widget's report: S and Z, the grid's real span, widening, and whether real 0 is exact."""
    lines = [localize("lesson_widgets.report_scale", scale=_format(grid.scale), zero_point=_zero_point_text(grid))]
    if not grid.zero_is_exact and grid.q_min <= grid.zero_point <= grid.q_max:
        lines.append(localize("lesson_widgets.report_unrounded", value=_format(grid.zero_point)))
    lines.append(localize("lesson_widgets.report_grid", q_min=grid.q_min, q_max=grid.q_max,
                          low=_format(grid.real_value(grid.q_min), 4), high=_format(grid.real_value(grid.q_max), 4)))
    if grid.widened:
        lines.append(localize("lesson_widgets.report_widened", low=_format(min(grid.r_min, 0.0), 4),
                              high=_format(max(grid.r_max, 0.0), 4)))
    nearest = grid.nearest_to_zero
    if grid.zero_is_exact:
        lines.append(localize("lesson_widgets.report_exact", zero_point=_zero_point_text(grid)))
    elif grid.q_min <= grid.zero_point <= grid.q_max:
        lines.append(localize("lesson_widgets.report_between", position=_format(grid.zero_point), nearest=nearest,
                              value=_format(grid.real_value(nearest), 4)))
    else:
        steps = abs(grid.zero_point - min(max(grid.zero_point, grid.q_min), grid.q_max))
        lines.append(localize("lesson_widgets.report_outside", steps=_format(steps, 6), nearest=nearest,
                              value=_format(grid.real_value(nearest), 4)))
    return "<br>".join(html.escape(line) for line in lines)


#: Largest stride, padding and dilation offered by the sliders of :class:`FourTermsExplorer`.
TERMS_SLIDER_MAX = 3


@dataclass(frozen=True)
class AssembledTerms:
    """The four terms of :class:`FourTermsExplorer` for one setting, combined with a chosen window sum."""

    terms: FourTerms
    w_zp_sum_x: torch.Tensor
    combined: torch.Tensor
    reference: torch.Tensor

    @property
    def error(self) -> torch.Tensor:
        return self.combined - self.reference


def assemble_four_terms(
    x: torch.Tensor, w: torch.Tensor, x_zero_point: int, w_zero_point: int, *, stride: int = 1, padding: int = 0,
    dilation: int = 1, window_pad_value: int | None = None, follow_geometry: bool = True,
) -> AssembledTerms:
    """Combine the four terms of (3) with a window sum computed right or in one of two wrong ways.

    Taught in "The four terms of an integer convolution". The window sum reads padded positions
    as ``window_pad_value`` (default: ``x_zero_point``, the correct value). Without
    ``follow_geometry`` it is computed with stride 1 and dilation 1 and cropped to the output
    size from the top-left corner, the tempting fix when the shapes do not match. Every other
    term is exact, so the error is the window sum's alone.
    """
    follow_geometry = _require_bool("follow_geometry", follow_geometry)
    terms = four_terms(x, w, x_zero_point, w_zero_point, stride=stride, padding=padding, dilation=dilation)
    pad_value = x_zero_point if window_pad_value is None else window_pad_value
    kernel = tuple(w.shape[2:])
    if follow_geometry:
        sums = window_sum(x, kernel, pad_value, stride=stride, padding=padding, dilation=dilation)
    else:
        # Stride 1 and an undilated window never give fewer outputs, so the crop always fits.
        full = window_sum(x, kernel, pad_value, padding=padding)
        sums = full[(..., *(slice(0, size) for size in terms.sum_xw.shape[2:]))]
    w_zp_sum_x = torch.as_tensor(w_zero_point, dtype=torch.int64) * sums
    combined = terms.sum_xw - terms.x_zp_sum_w - w_zp_sum_x + terms.n_x_zp_w_zp
    reference = conv_integer(x, w, x_zero_point, w_zero_point, stride=stride, padding=padding, dilation=dilation)
    return AssembledTerms(terms, w_zp_sum_x, combined, reference)


class FourTermsExplorer(ipywidgets.VBox):
    """Vary the weight zero point, stride, padding and dilation and watch the four terms of (3).

    Taught in "The four terms of an integer convolution". The input, its zero point and the
    weights are fixed by the lesson; the weight zero point is per tensor. Two controls choose how
    the window sum is computed: the integer it reads at padded positions (``x_zp`` or 0), and
    whether it follows the convolution's stride and dilation (see :func:`assemble_four_terms`).
    The image is the error heatmap of output channel 0 against :func:`qlesson.conv_integer`; the
    report tabulates the four terms at the first and the centre output. A setting the geometry
    rejects shows its error message in place of the figure.
    """

    def __init__(self, x: torch.Tensor, w: torch.Tensor, x_zero_point: int, *, w_zp: int = 0, stride: int = 1,
                 padding: int = 0, dilation: int = 1) -> None:
        x = _checks.require_integer_tensor("x", x)
        w = _checks.require_integer_tensor("w", w)
        for name, tensor in (("x", x), ("w", w)):
            if tensor.dim() != 4:
                raise ValueError(localize("lesson_widgets.need_2d", name=name, shape=tuple(tensor.shape)))
        # Validate once so that a bad argument raises here and not in the first redraw.
        assemble_four_terms(x, w, x_zero_point, w_zp, stride=stride, padding=padding, dilation=dilation)
        self._x, self._w, self._x_zp = x, w, int(x_zero_point)
        low, high = _checks.dtype_range(w.dtype)
        layout = {"continuous_update": False}
        self.w_zp_slider = ipywidgets.IntSlider(value=w_zp, min=low, max=high, description="w_zp", **layout)
        self.stride_slider = ipywidgets.IntSlider(value=stride, min=1, max=max(TERMS_SLIDER_MAX, stride),
                                                  description=localize("lesson_widgets.stride"), **layout)
        self.padding_slider = ipywidgets.IntSlider(value=padding, min=0, max=max(TERMS_SLIDER_MAX, padding),
                                                   description=localize("lesson_widgets.padding"), **layout)
        self.dilation_slider = ipywidgets.IntSlider(value=dilation, min=1, max=max(TERMS_SLIDER_MAX, dilation),
                                                    description=localize("lesson_widgets.dilation"), **layout)
        self.pad_dropdown = ipywidgets.Dropdown(options=[("x_zp", "x_zp"), ("0", "0")], value="x_zp",
                                                description=localize("lesson_widgets.window_pad"),
                                                style={"description_width": "initial"})
        self.follow_checkbox = ipywidgets.Checkbox(value=True, description=localize("lesson_widgets.follow_geometry"))
        self.image = ipywidgets.Image(format="png")
        self.report = ipywidgets.HTML()
        controls = [self.w_zp_slider, self.stride_slider, self.padding_slider, self.dilation_slider,
                    self.pad_dropdown, self.follow_checkbox]
        super().__init__([
            ipywidgets.HBox([self.w_zp_slider, self.stride_slider]),
            ipywidgets.HBox([self.padding_slider, self.dilation_slider]),
            ipywidgets.HBox([self.pad_dropdown, self.follow_checkbox]),
            self.image,
            self.report,
        ])
        self._controls = {"w_zp": self.w_zp_slider, "stride": self.stride_slider, "padding": self.padding_slider,
                          "dilation": self.dilation_slider, "window_pad": self.pad_dropdown,
                          "follow_geometry": self.follow_checkbox}
        self._heatmap: Figure | None = None
        self._heatmap_key: tuple | None = None
        self._holding = False
        for control in controls:
            control.observe(self._update, names="value")
        self._update()

    def set_values(self, **values: object) -> None:
        """Set several controls by name (w_zp, stride, padding, dilation, window_pad, follow_geometry), redraw once."""
        _set_controls(self, self._controls, values)

    def _settings(self) -> dict[str, int]:
        return {"w_zp": self.w_zp_slider.value, "stride": self.stride_slider.value,
                "padding": self.padding_slider.value, "dilation": self.dilation_slider.value}

    @property
    def assembled(self) -> AssembledTerms | None:
        """The terms of the current controls, or ``None`` when the geometry is invalid."""
        settings = self._settings()
        try:
            with _one_torch_thread():
                return assemble_four_terms(
                    self._x, self._w, self._x_zp, settings["w_zp"], stride=settings["stride"],
                    padding=settings["padding"], dilation=settings["dilation"],
                    window_pad_value=self._x_zp if self.pad_dropdown.value == "x_zp" else 0,
                    follow_geometry=self.follow_checkbox.value)
        except ValueError:
            return None

    def _update(self, change: object = None) -> None:
        if self._holding:
            return
        assembled = self.assembled
        if assembled is None:
            settings = self._settings()
            try:
                conv_geometry(tuple(self._x.shape[2:]), self._x.shape[1], tuple(self._w.shape),
                              stride=settings["stride"], padding=settings["padding"], dilation=settings["dilation"])
                message = ""
            except ValueError as exception:
                message = str(exception)
            self.image.value = figure_to_png(_message_figure(message))
            self.report.value = f"<p>{html.escape(message)}</p>"
            return
        settings = self._settings()
        regions = border_regions(tuple(self._x.shape[2:]), tuple(self._w.shape[2:]), stride=settings["stride"],
                                 padding=settings["padding"], dilation=settings["dilation"])
        self.image.value = self._heatmap_png(assembled.error[0, 0], regions)
        self.report.value = _terms_html(assembled)

    def _heatmap_png(self, error: torch.Tensor, regions: torch.Tensor) -> bytes:
        # As in the padding explorer, the figure is kept while the map shape and the region marks
        # stay the same, as they do for changes of w_zp and of the window sum, and only its values change.
        key = (tuple(error.shape), regions.numpy().tobytes(), get_language())
        if key != self._heatmap_key or not refresh_error_heatmaps(self._heatmap, error):
            previous = self._heatmap
            self._heatmap = error_heatmaps(error, regions=regions, title=localize("lesson_widgets.term_title"))
            CachingCanvasAgg(self._heatmap, replaces=previous)
            self._heatmap_key = key
        return figure_to_png(self._heatmap)

    def __repr__(self) -> str:
        settings = self._settings()
        assembled = self.assembled
        if assembled is None:
            return localize("lesson_widgets.terms_repr_invalid", **settings)
        follow = "" if self.follow_checkbox.value else localize("lesson_widgets.terms_repr_unfollowed")
        return localize("lesson_widgets.terms_repr", pad=self.pad_dropdown.value, follow=follow,
                        wrong=int((assembled.error != 0).sum()), total=assembled.error.numel(), **settings)


def _terms_html(assembled: AssembledTerms) -> str:
    """Return the table of the four terms at the first and the centre output of channel 0, and the error count."""
    height, width = assembled.combined.shape[2:]
    positions = [(0, 0), (height // 2, width // 2)]
    headers = [localize("lesson_widgets.term_column"), localize("lesson_widgets.first_output"),
               localize("lesson_widgets.centre_output", row=positions[1][0], column=positions[1][1])]
    terms = assembled.terms
    rows = [
        ("Σ x_q w_q", lambda r, c: terms.sum_xw[0, 0, r, c]),
        ("− x_zp Σ w_q", lambda r, c: -terms.x_zp_sum_w[0, 0, 0, 0]),
        ("− w_zp Σ x_q", lambda r, c: -assembled.w_zp_sum_x[0, 0, r, c]),
        ("+ N x_zp w_zp", lambda r, c: terms.n_x_zp_w_zp[0, 0, 0, 0]),
        (localize("lesson_widgets.combined"), lambda r, c: assembled.combined[0, 0, r, c]),
        (localize("lesson_widgets.reference"), lambda r, c: assembled.reference[0, 0, r, c]),
    ]
    cell = 'style="text-align:right; padding:0 0.8em"'
    lines = ["<table>", "<tr>" + "".join(f"<th {cell}>{html.escape(text)}</th>" for text in headers) + "</tr>"]
    for label, value in rows:
        cells = "".join(f"<td {cell}>{int(value(r, c))}</td>" for r, c in positions)
        lines.append(f"<tr><td {cell}>{html.escape(label)}</td>{cells}</tr>")
    lines.append("</table>")
    error = assembled.error
    lines.append("<p>" + html.escape(localize(
        "lesson_widgets.term_summary", wrong=int((error != 0).sum()), total=error.numel(),
        max_error=int(error.abs().max()))) + "</p>")
    return "\n".join(lines)
