"""Figures of the padding error: heatmaps per depth slice, predicted against observed, and a photo.

Taught in "The padding trap in integer convolution". Every function builds a
:class:`matplotlib.figure.Figure` directly, without pyplot, and returns it, so a notebook shows it
once as the last expression of a cell and pyplot's list of open figures never grows.

Text is drawn in fonts that cover the active language: importing this module registers Noto Sans
TC (from the ``pylopdf-fonts-zh-tw`` package) with matplotlib's font manager, and each figure is
built inside :func:`matplotlib.rc_context`, so the global ``rcParams`` are never changed.

Every kind of figure has one layout, fixed by the constants below in inches: a heatmap panel is
``PANEL_INCHES`` on its longer side in every lesson, and a figure grows by whole panels.
"""

from __future__ import annotations

import io
import math
import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import matplotlib
import numpy as np
import pylopdf_fonts_zh_tw
import torch
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, fontManager
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .borders import region_name
from .i18n import get_language, localize, register_messages

#: Resolution of :func:`figure_to_png` and of every figure, in dots per inch.
PNG_DPI = 100
#: Longer side of one heatmap panel of a 2-D map, in inches; the shorter side follows the map's aspect.
PANEL_INCHES = 1.9
#: Width and height of the one-row heatmap of a 1-D map, in inches.
STRIP_INCHES = (6.0, 0.45)
#: Maximum number of panels in one row; further depth slices wrap onto new rows.
MAX_COLUMNS = 5
#: Width of the photo comparison (four panels and two colour bars), in inches.
PHOTO_FIGURE_INCHES = 10.0
#: Narrowest figure, in inches, so that a two-line title fits above a single panel.
MIN_FIGURE_INCHES = 4.6
#: Largest map side, in cells, on which every border cell gets a region mark; larger maps get outlines only.
MARK_LIMIT = 16
#: Diverging colormap of every error map; the colour scale is symmetric so that white is exactly 0.
ERROR_CMAP = "RdBu_r"
#: Colormap of the convolution results in the photo comparison.
IMAGE_CMAP = "gray"

# Margins and gaps in inches. The left margin leaves room for the y tick labels and the y axis
# label, and the bottom margin for the x tick labels and the x axis label.
_LEFT = 0.55
_BOTTOM = 0.45
_RIGHT = 0.2
_GAP = 0.18
_ROW_GAP = 0.4
_PANEL_TITLE = 0.28
_TITLE_LINE = 0.24
_ROW_LABEL = 0.3
_LEGEND = 0.32
_COLORBAR_GAP = 0.12
_COLORBAR_THICKNESS = 0.13
_COLORBAR_ROOM = 0.75  # tick labels and the rotated label right of a vertical colour bar
_COLORBAR_BELOW_ROOM = 0.5  # tick labels and the label under a horizontal colour bar

_FONT_SIZE = 9
_SMALL_FONT_SIZE = 7

# Figure label that lets refresh_error_heatmaps recognise a figure of error_heatmaps.
_HEATMAP_LABEL = "qlesson.error_heatmaps"

# Marker of each boundary region; the interior gets none.
_REGION_MARKERS = {"face": "o", "edge": "^", "corner": "s"}

_FONT_PATH = pylopdf_fonts_zh_tw.sans_path()
_CJK_FAMILY = FontProperties(fname=_FONT_PATH).get_name()  # "Noto Sans TC"

register_messages({
    "plots.depth": {"en": "depth {depth}", "zh-TW": "深度 {depth}"},
    "plots.row_axis": {"en": "row h", "zh-TW": "列 h"},
    "plots.column_axis": {"en": "column w", "zh-TW": "欄 w"},
    "plots.position_axis": {"en": "position w", "zh-TW": "位置 w"},
    "plots.error_label": {"en": "error (accumulator units)", "zh-TW": "誤差（累加器單位）"},
    "plots.region_boundary": {"en": "region boundary", "zh-TW": "區域交界"},
    "plots.predicted": {"en": "predicted", "zh-TW": "預測"},
    "plots.observed": {"en": "observed", "zh-TW": "觀測"},
    "plots.compare_title": {
        "en": "Predicted and observed error, channel {channel}",
        "zh-TW": "通道 {channel} 的預測誤差與觀測誤差",
    },
    "plots.compare_mismatches": {
        "en": "{mismatches} of {total} positions differ",
        "zh-TW": "{total} 個位置中有 {mismatches} 個不同",
    },
    "plots.float_result": {"en": "float result", "zh-TW": "浮點數結果"},
    "plots.naive_result": {"en": "naive integer result", "zh-TW": "直覺做法（填 0）的整數結果"},
    "plots.fixed_result": {"en": "fixed integer result", "zh-TW": "修正後的整數結果"},
    "plots.naive_minus_fixed": {"en": "naive − fixed", "zh-TW": "直覺做法 − 修正後"},
    "plots.naive_minus_float": {"en": "naive − float", "zh-TW": "直覺做法 − 浮點數"},
    "plots.value_label": {"en": "value", "zh-TW": "數值"},
    "plots.error_short_label": {"en": "error", "zh-TW": "誤差"},
    "plots.with_unit": {"en": "{label} ({unit})", "zh-TW": "{label}（{unit}）"},
    "plots.bad_map_rank": {
        "en": ("{name} has shape {shape}, but {function} takes {expected}. "
               "Select one channel and batch item first, for example {name}[0]."),
        "zh-TW": ("{name} 的形狀是 {shape}，但 {function} 接受的是 {expected}。"
                  "請先選出一個通道與批次項目，例如 {name}[0]。"),
    },
    "plots.shape_mismatch": {
        "en": ("{name} has shape {shape} but {other} has shape {other_shape}. "
               "Pass maps of the same convolution."),
        "zh-TW": "{name} 的形狀是 {shape}，{other} 的形狀卻是 {other_shape}。請傳入同一個卷積的結果。",
    },
    "plots.bad_index": {
        "en": "{name}={value} is out of range: that axis has {count} entries, so use 0 to {last}.",
        "zh-TW": "{name}={value} 超出範圍：該軸有 {count} 個元素，請使用 0 到 {last}。",
    },
    "plots.not_array": {
        "en": "{name} must be a torch.Tensor or a NumPy array of numbers, got {kind}. Convert it with torch.as_tensor(...).",
        "zh-TW": "{name} 必須是存放數值的 torch.Tensor 或 NumPy 陣列，收到的是 {kind}。請先用 torch.as_tensor(...) 轉換。",
    },
    "plots.bad_rank": {
        "en": ("rank={rank!r} is invalid for a map with {ndim} axes: the convolution has at least as many "
               "spatial axes as the map and at most 3."),
        "zh-TW": "rank={rank!r} 不適用於有 {ndim} 個軸的圖：卷積的空間軸數至少等於圖的軸數，且最多為 3。",
    },
    "plots.bad_regions": {
        "en": ("regions contains values from {low} to {high}, but a convolution with {rank} spatial axes has "
               "0 to {rank}. Pass the output of qlesson.border_regions, and rank=3 for a slice of a 3-D output."),
        "zh-TW": ("regions 的值介於 {low} 到 {high}，但有 {rank} 個空間軸的卷積只會有 0 到 {rank}。"
                  "請傳入 qlesson.border_regions 的輸出；畫三維輸出的一個切片時請設定 rank=3。"),
    },
    "plots.bad_error_against": {
        "en": "error_against={value!r} is not one of 'fixed', 'float'.",
        "zh-TW": "error_against={value!r} 不是 'fixed' 或 'float'。",
    },
    "plots.not_figure": {
        "en": ("figure must be a matplotlib.figure.Figure, got {kind}. "
               "Pass the Figure that a qlesson figure function returns, for example qlesson.error_heatmaps(...)."),
        "zh-TW": ("figure 必須是 matplotlib.figure.Figure，收到的是 {kind}。"
                  "請傳入 qlesson 繪圖函式傳回的 Figure，例如 qlesson.error_heatmaps(...) 的結果。"),
    },
    "plots.bad_dpi": {
        "en": ("dpi={value!r} is invalid: the resolution is a number of dots per inch. "
               "Pass a number above 0, for example the default {default}."),
        "zh-TW": "dpi={value!r} 無效：解析度是每英吋的點數。請傳入大於 0 的數，例如預設值 {default}。",
    },
    "plots.dpi_size": {
        "en": ("dpi={value!r} gives a {width} × {height} pixel image for this {inches_w} × {inches_h} inch "
               "figure. Pass a dpi from {low} to {high}, which keeps each side between 1 and {max_side} "
               "pixels and the whole image at most {max_pixels} pixels."),
        "zh-TW": ("dpi={value!r} 會讓這張 {inches_w} × {inches_h} 英吋的圖變成 {width} × {height} 像素。"
                  "請傳入 {low} 到 {high} 之間的 dpi，讓每邊介於 1 到 {max_side} 像素，"
                  "整張圖最多 {max_pixels} 像素。"),
    },
})


def _register_font() -> None:
    """Add Noto Sans TC to matplotlib's font manager once; rcParams stay as they are."""
    if not any(entry.fname == str(_FONT_PATH) for entry in fontManager.ttflist):
        fontManager.addfont(_FONT_PATH)


_register_font()


def font_families(language: str | None = None) -> list[str]:
    """Return the font family list that renders ``language`` (default: the active language).

    Both lists name both fonts, so a glyph missing from the first font is taken from the second
    by matplotlib's font fallback instead of being drawn as a box.
    """
    if (language or get_language()) == "zh-TW":
        return [_CJK_FAMILY, "DejaVu Sans"]
    return ["DejaVu Sans", _CJK_FAMILY]


@contextmanager
def _figure_context() -> Iterator[list[str]]:
    families = font_families()
    with matplotlib.rc_context({
        "font.family": families,
        "font.size": _FONT_SIZE,
        "axes.titlesize": _FONT_SIZE,
        "axes.labelsize": _FONT_SIZE,
        "legend.fontsize": _SMALL_FONT_SIZE + 1,
        "axes.unicode_minus": True,
    }):
        yield families


# ---------------------------------------------------------------- inputs


def _as_array(name: str, value: object) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    raise TypeError(localize("plots.not_array", name=name, kind=type(value).__name__))


def _is_integer(array: np.ndarray) -> bool:
    return array.dtype.kind in "biu"


def _select(name: str, array: np.ndarray, index: int, axis_name: str) -> np.ndarray:
    """Return ``array[index]`` or raise a localized error naming ``axis_name`` and the valid range."""
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise TypeError(localize("not_an_int", name=axis_name, value=index))
    count = array.shape[0]
    if not 0 <= index < count:
        raise ValueError(localize("plots.bad_index", name=axis_name, value=index, count=count, last=count - 1))
    return array[index]


def _check_rank(name: str, array: np.ndarray, function: str, expected: str) -> None:
    if array.ndim not in (1, 2, 3):
        raise ValueError(localize("plots.bad_map_rank", name=name, shape=tuple(array.shape),
                                  function=function, expected=expected))


def _check_same_shape(name: str, array: np.ndarray, other: str, other_array: np.ndarray) -> None:
    if array.shape != other_array.shape:
        raise ValueError(localize("plots.shape_mismatch", name=name, shape=tuple(array.shape),
                                  other=other, other_shape=tuple(other_array.shape)))


def _check_regions_rank(regions: np.ndarray, rank: object, ndim: int) -> None:
    """Check that ``rank`` is a convolution rank that fits a map of ``ndim`` axes and its region counts."""
    if isinstance(rank, bool) or not isinstance(rank, int) or not ndim <= rank <= 3:
        raise ValueError(localize("plots.bad_rank", rank=rank, ndim=ndim))
    if regions.size and (regions.min() < 0 or regions.max() > rank):
        raise ValueError(localize("plots.bad_regions", low=int(regions.min()), high=int(regions.max()), rank=rank))


def _symmetric_norm(*arrays: np.ndarray) -> Normalize:
    """Return a colour scale from −m to m, m the largest |value|, so that 0 is the middle colour."""
    limit = max(float(np.abs(array).max()) for array in arrays)
    if limit == 0 or not np.isfinite(limit):
        limit = 1.0
    return Normalize(vmin=-limit, vmax=limit)


# ---------------------------------------------------------------- layout


@dataclass(frozen=True)
class _Grid:
    """A grid of equal heatmap panels with one colour bar, its figure size and its axes positions."""

    rows: int
    columns: int
    panel_size: tuple[float, float]  # width, height in inches
    title_lines: int
    panel_titles: bool
    row_labels: bool
    legend: bool
    strip: bool  # 1-D maps: one-row panels and a horizontal colour bar under the grid

    def build(self) -> tuple[Figure, list[list[Axes]], Axes, float]:
        """Create the figure and its axes; also return the x of the row labels in figure coordinates."""
        panel_width, panel_height = self.panel_size
        axis_room = _RIGHT if self.strip else _LEFT  # a strip has no y tick labels
        left = axis_room + (_ROW_LABEL if self.row_labels else 0.0)
        grid_width = self.columns * panel_width + (self.columns - 1) * _GAP
        row_gap = _ROW_GAP if self.panel_titles or not self.strip else _GAP
        grid_height = self.rows * panel_height + (self.rows - 1) * row_gap
        right = _RIGHT if self.strip else _COLORBAR_GAP + _COLORBAR_THICKNESS + _COLORBAR_ROOM
        top = self.title_lines * _TITLE_LINE + (_PANEL_TITLE if self.panel_titles else 0.12)
        legend = _LEGEND if self.legend else 0.0
        colorbar_below = _COLORBAR_THICKNESS + _COLORBAR_BELOW_ROOM if self.strip else 0.0
        bottom = legend + colorbar_below + _BOTTOM

        content_width = left + grid_width + right
        # A title or a legend needs room that a single narrow panel does not give.
        width = max(MIN_FIGURE_INCHES, content_width) if self.title_lines or self.legend else content_width
        height = top + grid_height + bottom
        shift = (width - content_width) / 2  # centre the grid in a figure widened to the minimum

        figure = Figure(figsize=(width, height), dpi=PNG_DPI)

        def rect(x: float, y: float, w: float, h: float) -> list[float]:
            return [x / width, y / height, w / width, h / height]

        axes = []
        for row in range(self.rows):
            y = height - top - row * (panel_height + row_gap) - panel_height
            axes.append([
                figure.add_axes(rect(shift + left + column * (panel_width + _GAP), y, panel_width, panel_height))
                for column in range(self.columns)
            ])
        if self.strip:
            colorbar_axes = figure.add_axes(rect(
                shift + left, legend + _COLORBAR_BELOW_ROOM, grid_width, _COLORBAR_THICKNESS))
        else:
            colorbar_axes = figure.add_axes(rect(
                shift + left + grid_width + _COLORBAR_GAP, bottom, _COLORBAR_THICKNESS, grid_height))
        return figure, axes, colorbar_axes, (shift + _ROW_LABEL / 2) / width


def _panel_size(shape: tuple[int, ...]) -> tuple[float, float]:
    """Return the panel size in inches of a map.

    A 2-D map keeps square cells unless one side is more than four times the other; a 1-D map is a strip.
    """
    if len(shape) == 1:
        return STRIP_INCHES
    height, width = shape
    longer = max(height, width)
    return PANEL_INCHES * max(width / longer, 0.25), PANEL_INCHES * max(height / longer, 0.25)


def _row_label(text: str) -> str:
    """Stack Chinese characters top to bottom, as vertical CJK text is read; English text is rotated instead."""
    return "\n".join(text) if get_language() == "zh-TW" else text


def _title_lines(title: str | None) -> int:
    return 0 if not title else title.count("\n") + 1


def _add_title(figure: Figure, title: str | None) -> None:
    if title:
        figure.suptitle(title, y=1 - 0.06 / figure.get_figheight(), va="top", fontsize=_FONT_SIZE + 1)


# ---------------------------------------------------------------- drawing


def _draw_panel(axes: Axes, values: np.ndarray, norm: Normalize, cmap: str, families: list[str]):
    """Draw one map with cell-centred integer ticks and return the image artist."""
    strip = values.ndim == 1
    image = axes.imshow(values[np.newaxis, :] if strip else values, cmap=cmap, norm=norm,
                        interpolation="nearest", aspect="auto")
    axes.xaxis.set_major_locator(MaxNLocator(nbins=6 if strip else 4, integer=True))
    axes.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    axes.tick_params(labelsize=_SMALL_FONT_SIZE, length=2, pad=1.5, labelfontfamily=families)
    if strip:
        axes.set_yticks([])
    return image


def _region_outline(regions: np.ndarray) -> list[list[tuple[float, float]]]:
    """Return the cell edges that separate two different regions, as line segments in pixel coordinates."""
    segments = []
    rows, columns = np.nonzero(regions[:, 1:] != regions[:, :-1])  # vertical edges between columns
    segments += [[(c + 0.5, r - 0.5), (c + 0.5, r + 0.5)] for r, c in zip(rows.tolist(), columns.tolist())]
    rows, columns = np.nonzero(regions[1:, :] != regions[:-1, :])  # horizontal edges between rows
    segments += [[(c - 0.5, r + 0.5), (c + 0.5, r + 0.5)] for r, c in zip(rows.tolist(), columns.tolist())]
    return segments


def _mark_regions(axes: Axes, regions: np.ndarray, rank: int, marks: bool) -> set[str]:
    """Outline the regions of one panel and, on small maps, mark each border cell by its region.

    ``regions`` is a slice of :func:`qlesson.border_regions`: per cell, the number of axes on which
    the window reaches into the padding. Returns the names of the regions that got a mark.
    """
    cells = regions[np.newaxis, :] if regions.ndim == 1 else regions
    axes.add_collection(LineCollection(_region_outline(cells), colors="0.15", linewidths=0.8))
    marked = set()
    if not marks:
        return marked
    for touching in range(1, rank + 1):
        rows, columns = np.nonzero(cells == touching)
        if rows.size == 0:
            continue
        name = region_name(touching, rank)
        axes.plot(columns, rows, linestyle="none", marker=_REGION_MARKERS[name], markersize=2.8,
                  markerfacecolor="none", markeredgecolor="0.1", markeredgewidth=0.6)
        marked.add(name)
    return marked


def _add_region_legend(figure: Figure, marked: set[str]) -> None:
    handles = [Line2D([], [], color="0.15", linewidth=0.8, label=localize("plots.region_boundary"))]
    for name in ("face", "edge", "corner"):
        if name in marked:
            handles.append(Line2D([], [], linestyle="none", marker=_REGION_MARKERS[name], markersize=4,
                                  markerfacecolor="none", markeredgecolor="0.1",
                                  label=localize(f"region.{name}")))
    figure.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, 0.0), ncols=len(handles),
                  frameon=False, handlelength=1.6, columnspacing=1.2)


def _add_colorbar(figure: Figure, image, colorbar_axes: Axes, label: str, integer: bool, families: list[str],
                  horizontal: bool = False, extend: str = "neither"):
    colorbar = figure.colorbar(image, cax=colorbar_axes, orientation="horizontal" if horizontal else "vertical",
                               extend=extend)
    colorbar.set_label(label)
    colorbar.ax.tick_params(labelsize=_SMALL_FONT_SIZE, labelfontfamily=families)
    if integer:
        colorbar.locator = MaxNLocator(nbins=5, integer=True, symmetric=True)
        colorbar.update_ticks()
    return colorbar


def _label_outer(axes_grid: list[list[Axes]], strip: bool) -> None:
    """Put axis labels on the left column and bottom row only, and tick labels where they are needed."""
    for row, line in enumerate(axes_grid):
        for column, axes in enumerate(line):
            below = axes_grid[row + 1][column] if row + 1 < len(axes_grid) else None
            if below is None or not below.get_visible():
                axes.set_xlabel(localize("plots.position_axis" if strip else "plots.column_axis"), labelpad=1)
            else:
                axes.tick_params(labelbottom=False)
            if strip:
                continue
            if column == 0:
                axes.set_ylabel(localize("plots.row_axis"), labelpad=1)
            else:
                axes.tick_params(labelleft=False)


# ---------------------------------------------------------------- public figures


def error_heatmaps(
    error: torch.Tensor | np.ndarray,
    *,
    title: str | None = None,
    regions: torch.Tensor | np.ndarray | None = None,
    label: str | None = None,
    legend: bool = True,
    rank: int | None = None,
) -> Figure:
    """Draw an error map as heatmaps, one panel per depth slice, on one symmetric colour scale.

    Taught in "The padding trap in integer convolution".

    Args:
        error: the error of one channel, for example one channel of :func:`qlesson.padding_error_map`,
            in accumulator units. A (D, H, W) error gives one panel per depth slice, titled "depth d".
            An (H, W) error gives one panel, and a (W,) error gives a one-row heatmap.
        title: the figure title; ``"\\n"`` starts a second line.
        regions: the output of :func:`qlesson.border_regions` for the same convolution, with the
            shape of ``error``. Region boundaries are outlined, and on maps of at most
            ``MARK_LIMIT`` cells a side every face, edge and corner cell gets a mark and a legend entry.
        label: the colour bar label; the default is "error (accumulator units)" in the active language.
        legend: whether to explain the region marks in a legend under the panels, when ``regions`` is given.
        rank: the number of spatial axes of the convolution, which names the regions (a cell
            whose window meets the padding on one axis is a face in 3-D but an edge in 2-D).
            The default is ``error.ndim``; pass 3 to draw one depth slice of a 3-D output.

    Returns:
        the figure: ``PANEL_INCHES`` per panel, at most ``MAX_COLUMNS`` panels a row, a diverging
        colormap (``ERROR_CMAP``) from −max|error| to +max|error| with white at 0.
    """
    values = _as_array("error", error)
    _check_rank("error", values, "error_heatmaps", "(D, H, W), (H, W) or (W,)")
    rank = values.ndim if rank is None else rank
    region_values = None
    if regions is not None:
        region_values = _as_array("regions", regions)
        _check_same_shape("regions", region_values, "error", values)
        _check_regions_rank(region_values, rank, values.ndim)

    if values.ndim == 3:
        slices = list(values)
        region_slices = list(region_values) if region_values is not None else [None] * len(slices)
        panel_titles = [localize("plots.depth", depth=d) for d in range(len(slices))]
    else:
        slices, region_slices, panel_titles = [values], [region_values], None
    figure = _heatmap_grid(
        slices, region_slices, rank=rank, title=title, panel_titles=panel_titles,
        row_labels=None, label=label or localize("plots.error_label"), integer=_is_integer(values),
        legend=legend,
    )
    figure.set_label(_HEATMAP_LABEL)
    return figure


def _heatmap_grid(
    slices: Sequence[np.ndarray], region_slices: Sequence[np.ndarray | None], *, rank: int, title: str | None,
    panel_titles: Sequence[str] | None, row_labels: Sequence[str] | None, label: str, integer: bool,
    legend: bool = True,
) -> Figure:
    """Draw ``slices`` as heatmap panels on one symmetric colour scale with one colour bar.

    Without row labels the slices fill rows of ``MAX_COLUMNS`` panels. With row labels, each run
    of ``len(row_labels)`` consecutive slices is one column, one slice per labelled row, and every
    ``MAX_COLUMNS`` columns start a new block of labelled rows.
    """
    rows_per_block = len(row_labels) if row_labels else 1
    count = len(slices) // rows_per_block
    columns = min(count, MAX_COLUMNS)
    blocks = -(-count // columns)
    shape = slices[0].shape
    strip = len(shape) == 1
    marks = any(regions is not None for regions in region_slices) and max(shape) <= MARK_LIMIT
    grid = _Grid(rows=blocks * rows_per_block, columns=columns, panel_size=_panel_size(shape),
                 title_lines=_title_lines(title), panel_titles=panel_titles is not None,
                 row_labels=row_labels is not None,
                 legend=legend and any(regions is not None for regions in region_slices), strip=strip)
    norm = _symmetric_norm(*slices)

    with _figure_context() as families:
        figure, axes_grid, colorbar_axes, row_label_x = grid.build()
        marked: set[str] = set()
        image = None
        for index in range(count):
            block, column = divmod(index, columns)
            for offset in range(rows_per_block):
                axes = axes_grid[block * rows_per_block + offset][column]
                flat = index * rows_per_block + offset
                image = _draw_panel(axes, slices[flat], norm, ERROR_CMAP, families)
                if region_slices[flat] is not None:
                    marked |= _mark_regions(axes, region_slices[flat], rank, marks)
                if panel_titles is not None and offset == 0:
                    axes.set_title(panel_titles[index], pad=3)
        for line in axes_grid[grid.rows - rows_per_block:]:
            for axes in line[count - (blocks - 1) * columns:]:
                axes.set_visible(False)  # the unused places of a last, partly filled block
        _label_outer(axes_grid, strip)
        if row_labels:
            for row in range(grid.rows):
                box = axes_grid[row][0].get_position()
                figure.text(row_label_x, (box.y0 + box.y1) / 2, _row_label(row_labels[row % rows_per_block]),
                            rotation=0 if get_language() == "zh-TW" else 90, ha="center", va="center",
                            fontsize=_FONT_SIZE, linespacing=1.0)
        _add_colorbar(figure, image, colorbar_axes, label, integer, families, horizontal=strip)
        if grid.legend:
            _add_region_legend(figure, marked)
        _add_title(figure, title)
    return figure


def compare_error_maps(
    predicted: torch.Tensor | np.ndarray,
    observed: torch.Tensor | np.ndarray,
    *,
    channel: int = 0,
    batch: int = 0,
    regions: torch.Tensor | np.ndarray | None = None,
) -> Figure:
    """Draw the predicted error map above the observed error, one column per depth slice.

    Taught in "The padding trap in integer convolution". The title counts the positions of the
    drawn channel where the two maps differ, so a correct prediction reads "0 of N".

    Args:
        predicted: (C_out, *out_spatial), as :func:`qlesson.padding_error_map` returns.
        observed: the measured error ``naive − exact`` of :func:`qlesson.conv_integer` outputs,
            (N, C_out, *out_spatial) or (C_out, *out_spatial).
        channel: the output channel to draw.
        batch: the batch item of a 4-D or 5-D ``observed``.
        regions: optional output of :func:`qlesson.border_regions`, shape ``out_spatial``.

    Returns:
        the figure: rows "predicted" and "observed", one column per depth slice (at most
        ``MAX_COLUMNS`` a row), one symmetric colour scale shared by all panels.
    """
    predicted_values = _as_array("predicted", predicted)
    observed_values = _as_array("observed", observed)
    if observed_values.ndim == predicted_values.ndim + 1:
        observed_values = _select("observed", observed_values, batch, "batch")
    _check_same_shape("observed", observed_values, "predicted", predicted_values)
    predicted_values = _select("predicted", predicted_values, channel, "channel")
    observed_values = observed_values[channel]
    _check_rank("predicted[channel]", predicted_values, "compare_error_maps",
                "(C_out, D, H, W), (C_out, H, W) or (C_out, W)")
    region_values = None
    if regions is not None:
        region_values = _as_array("regions", regions)
        _check_same_shape("regions", region_values, "predicted[channel]", predicted_values)
        _check_regions_rank(region_values, predicted_values.ndim, predicted_values.ndim)

    mismatches = int((predicted_values != observed_values).sum())
    title = "\n".join((localize("plots.compare_title", channel=channel),
                       localize("plots.compare_mismatches", mismatches=mismatches, total=predicted_values.size)))
    if predicted_values.ndim == 3:
        pairs = list(zip(predicted_values, observed_values))
        region_list = list(region_values) if region_values is not None else [None] * len(pairs)
        panel_titles = [localize("plots.depth", depth=d) for d in range(len(pairs))]
    else:
        pairs = [(predicted_values, observed_values)]
        region_list = [region_values]
        panel_titles = None
    slices = [item for pair in pairs for item in pair]
    region_slices = [item for regions_ in region_list for item in (regions_, regions_)]
    return _heatmap_grid(
        slices, region_slices, rank=predicted_values.ndim, title=title, panel_titles=panel_titles,
        row_labels=[localize("plots.predicted"), localize("plots.observed")],
        label=localize("plots.error_label"),
        integer=_is_integer(predicted_values) and _is_integer(observed_values),
    )


def _image_plane(name: str, value: object, channel: int, batch: int) -> np.ndarray:
    """Return the (H, W) plane of an (H, W), (C, H, W) or (N, C, H, W) result as float64."""
    array = _as_array(name, value)
    if array.ndim == 4:
        array = _select(name, array, batch, "batch")
    if array.ndim == 3:
        array = _select(name, array, channel, "channel")
    if array.ndim != 2:
        raise ValueError(localize("plots.bad_map_rank", name=name, shape=tuple(array.shape),
                                  function="image_comparison", expected="(H, W), (C, H, W) or (N, C, H, W)"))
    return array.astype(np.float64)


def image_comparison(
    real_result: torch.Tensor | np.ndarray,
    naive: torch.Tensor | np.ndarray,
    fixed: torch.Tensor | np.ndarray,
    *,
    channel: int = 0,
    batch: int = 0,
    error_against: Literal["fixed", "float"] = "fixed",
    unit: str | None = None,
    title: str | None = None,
) -> Figure:
    """Draw a photo's float convolution beside the naive and the fixed integer results, and the error.

    Taught in "The padding trap in integer convolution", where a real photo shows the naive
    method's wrong frame. All three results must be in the same units, for example the integer
    accumulators dequantized with the product of the input and weight scales.

    Args:
        real_result: the float convolution, (H, W), (C, H, W) or (N, C, H, W).
        naive: the result of ``method="naive_zero_pad"``, same shape.
        fixed: the result of an exact method, same shape.
        channel, batch: the plane drawn from a 3-D or 4-D result.
        error_against: the last panel shows ``naive − fixed`` (the padding error alone) or
            ``naive − float`` (padding error plus quantization error).
        unit: appended in parentheses to both colour bar labels, for example "real units".
        title: the figure title.

    Returns:
        the figure, ``PHOTO_FIGURE_INCHES`` wide: three results in grey on the float result's range
        (values outside it, such as the naive frame, saturate) and the error on a symmetric diverging scale.
    """
    if error_against not in ("fixed", "float"):
        raise ValueError(localize("plots.bad_error_against", value=error_against))
    real_plane = _image_plane("real_result", real_result, channel, batch)
    naive_plane = _image_plane("naive", naive, channel, batch)
    fixed_plane = _image_plane("fixed", fixed, channel, batch)
    _check_same_shape("naive", naive_plane, "real_result", real_plane)
    _check_same_shape("fixed", fixed_plane, "real_result", real_plane)
    error = naive_plane - (fixed_plane if error_against == "fixed" else real_plane)

    def with_unit(key: str) -> str:
        return localize("plots.with_unit", label=localize(key), unit=unit) if unit else localize(key)

    # One row: three result panels, their colour bar, the error panel and its colour bar.
    # Photo colour bars have short tick labels, so they need less room than _COLORBAR_ROOM.
    left, gap, bar_block = 0.15, 0.12, _COLORBAR_GAP + _COLORBAR_THICKNESS + 0.55
    panel_width = (PHOTO_FIGURE_INCHES - left - 2 * gap - 2 * bar_block) / 4
    height_px, width_px = real_plane.shape
    panel_height = panel_width * height_px / width_px
    top = _title_lines(title) * _TITLE_LINE + _PANEL_TITLE + 0.05
    bottom = 0.15
    width, height = PHOTO_FIGURE_INCHES, top + panel_height + bottom

    low, high = float(real_plane.min()), float(real_plane.max())
    if low == high:
        low, high = low - 1.0, high + 1.0
    result_norm = Normalize(vmin=low, vmax=high)
    titles = [localize("plots.float_result"), localize("plots.naive_result"), localize("plots.fixed_result"),
              localize("plots.naive_minus_fixed" if error_against == "fixed" else "plots.naive_minus_float")]

    with _figure_context() as families:
        figure = Figure(figsize=(width, height), dpi=PNG_DPI)
        x = left
        panels = []
        for index in range(4):
            axes = figure.add_axes([x / width, bottom / height, panel_width / width, panel_height / height])
            panels.append(axes)
            x += panel_width + gap
            if index == 2:
                result_bar = figure.add_axes([(x - gap + _COLORBAR_GAP) / width, bottom / height,
                                              _COLORBAR_THICKNESS / width, panel_height / height])
                x += bar_block - gap
        error_bar = figure.add_axes([(x - gap + _COLORBAR_GAP) / width, bottom / height,
                                     _COLORBAR_THICKNESS / width, panel_height / height])
        images = []
        for axes, plane, panel_title in zip(panels[:3], (real_plane, naive_plane, fixed_plane), titles):
            images.append(axes.imshow(plane, cmap=IMAGE_CMAP, norm=result_norm, interpolation="nearest",
                                      aspect="auto"))
            axes.set_title(panel_title, pad=3)
        error_image = panels[3].imshow(error, cmap=ERROR_CMAP, norm=_symmetric_norm(error),
                                       interpolation="nearest", aspect="auto")
        panels[3].set_title(titles[3], pad=3)
        for axes in panels:
            axes.set_xticks([])
            axes.set_yticks([])
        outside = min(naive_plane.min(), fixed_plane.min()) < low or max(naive_plane.max(), fixed_plane.max()) > high
        clipped = "both" if outside else "neither"
        _add_colorbar(figure, images[0], result_bar, with_unit("plots.value_label"), False, families,
                      extend=clipped)
        _add_colorbar(figure, error_image, error_bar, with_unit("plots.error_short_label"), False, families)
        _add_title(figure, title)
    return figure


def refresh_error_heatmaps(figure: Figure, error: torch.Tensor | np.ndarray) -> bool:
    """Replace the values drawn by a figure of :func:`error_heatmaps`, keeping its layout and labels.

    Taught in "The padding trap in integer convolution", where the padding explorer redraws one
    figure instead of building a new one on every change. The colour scale becomes symmetric
    around 0 for the new values; titles, region marks and the colour bar's tick rule stay.

    Returns:
        ``True`` when the figure was updated. ``False``, with the figure unchanged, when the figure
        was not built by :func:`error_heatmaps` or ``error`` has another shape; build a new figure then.
    """
    values = _as_array("error", error)
    if figure.get_label() != _HEATMAP_LABEL or values.ndim not in (1, 2, 3):
        return False
    slices = list(values) if values.ndim == 3 else [values]
    slices = [item[np.newaxis, :] if item.ndim == 1 else item for item in slices]
    images = [axes.images[0] for axes in figure.axes if axes.images and axes.get_visible()]
    if len(images) != len(slices) or any(image.get_array().shape != item.shape for image, item in zip(images, slices)):
        return False
    for image, item in zip(images, slices):
        image.set_data(item)
    norm = _symmetric_norm(*slices)
    images[0].set_clim(norm.vmin, norm.vmax)  # the panels share one Normalize, so this sets every panel
    return True


def placeholder_figure(message: str) -> Figure:
    """Draw an empty figure that shows ``message``, for a widget whose settings give no output.

    Taught in "The padding trap in integer convolution": the padding explorer shows it when the
    kernel does not fit the padded input. The figure is ``MIN_FIGURE_INCHES`` wide.
    """
    with _figure_context():
        figure = Figure(figsize=(MIN_FIGURE_INCHES, 2.0), dpi=PNG_DPI)
        figure.text(0.5, 0.5, message, ha="center", va="center", wrap=True, color="0.35", fontsize=_FONT_SIZE + 1)
    return figure


#: Largest side and pixel count of a PNG from :func:`figure_to_png`. The RGBA buffer of the
#: largest image is 256 MiB, well below matplotlib's own limit of 2^23 pixels a side.
MAX_PNG_SIDE = 2**15
MAX_PNG_PIXELS = 2**26


def _check_png_size(figure: Figure, dpi: float) -> None:
    """Raise ``ValueError`` unless ``figure`` at ``dpi`` is 1 to MAX_PNG_SIDE pixels a side and at most MAX_PNG_PIXELS."""
    inches_w, inches_h = (float(size) for size in figure.get_size_inches())
    # Agg truncates the pixel size to whole pixels.
    width, height = int(inches_w * float(dpi)), int(inches_h * float(dpi))
    if 1 <= min(width, height) and max(width, height) <= MAX_PNG_SIDE and width * height <= MAX_PNG_PIXELS:
        return
    low = 1 / min(inches_w, inches_h)
    high = min(MAX_PNG_SIDE / max(inches_w, inches_h), math.sqrt(MAX_PNG_PIXELS / (inches_w * inches_h)))
    raise ValueError(localize("plots.dpi_size", value=dpi, width=width, height=height, inches_w=f"{inches_w:g}",
                              inches_h=f"{inches_h:g}", low=f"{low:.4g}", high=f"{high:.4g}",
                              max_side=MAX_PNG_SIDE, max_pixels=MAX_PNG_PIXELS))


def figure_to_png(figure: Figure, *, dpi: float = PNG_DPI) -> bytes:
    """Render ``figure`` to PNG bytes; the same figure gives the same bytes on every call.

    The PNG carries no "Software" entry, so the bytes do not name the matplotlib version, and
    ``dpi`` is fixed instead of following ``rcParams["savefig.dpi"]``.

    Raises:
        TypeError: ``figure`` is not a :class:`matplotlib.figure.Figure`, or ``dpi`` is not a number.
        ValueError: ``dpi`` is not a finite number above 0, or gives an image with a side under 1
            pixel, a side over :data:`MAX_PNG_SIDE` pixels or more than :data:`MAX_PNG_PIXELS` pixels.
    """
    if not isinstance(figure, Figure):
        raise TypeError(localize("plots.not_figure", kind=type(figure).__name__))
    if isinstance(dpi, bool) or not isinstance(dpi, numbers.Real):
        raise TypeError(localize("plots.bad_dpi", value=dpi, default=PNG_DPI))
    if not (math.isfinite(dpi) and dpi > 0):
        raise ValueError(localize("plots.bad_dpi", value=dpi, default=PNG_DPI))
    _check_png_size(figure, dpi)
    buffer = io.BytesIO()
    with _figure_context():
        figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()
