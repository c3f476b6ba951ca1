"""Tests of qlesson._canvas: the caching Agg canvas and the stored background draw the pixels of a plain canvas."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from qlesson import (accumulator_bound_figure, accumulator_wrap_figure, double_rounding_figure, error_heatmaps,
                     figure_to_png, image_comparison, plots, quantization_grid_figure, quantize_multiplier)
from qlesson._canvas import CachingCanvasAgg, StoredBackground

TEXTS = ["Hello", "整數格點", "r = 0 → q = 63", "−1.25", "$10^{4}$", "$x_{zp}$", "AVAWfi", "g y j", "通道 0 的誤差"]


def text_figure(seed: int) -> Figure:
    """Return a figure of 60 texts at random positions, rotations, sizes, colours and antialiasing."""
    draw = random.Random(seed)
    with plots._figure_context():
        figure = Figure(figsize=(6.4, 3.0), dpi=plots.PNG_DPI)
        for _ in range(60):
            figure.text(draw.random(), draw.random(), draw.choice(TEXTS), rotation=draw.choice([0, 0, 90, 33.3, -12]),
                        fontsize=draw.choice([7, 8, 9, 10.5]), antialiased=draw.choice([True, True, False]),
                        color=draw.choice(["black", "#c0392b"]))
    return figure


def pixels(figure: Figure) -> np.ndarray:
    """Draw ``figure`` and return a copy of its RGBA pixels."""
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba()).copy()


@pytest.mark.parametrize("seed", range(8))
def test_caching_canvas_matches_plain_canvas(seed, language):
    plain = text_figure(seed)
    FigureCanvasAgg(plain)
    cached = text_figure(seed)
    CachingCanvasAgg(cached)

    expected = pixels(plain)
    first = pixels(cached)  # fills the caches
    second = pixels(cached)  # takes the layouts and glyphs from them

    assert np.array_equal(first, expected), f"{int((first != expected).any(axis=2).sum())} pixels differ"
    assert np.array_equal(second, expected), f"{int((second != expected).any(axis=2).sum())} pixels differ"


def lesson_figures() -> dict[str, Figure]:
    """Build one figure of every lesson figure function in the active language."""
    products = torch.full((73728,), -255 * 128, dtype=torch.int64)
    error = torch.arange(-12, 13, dtype=torch.int64).reshape(5, 5)
    photo = torch.linspace(-1, 1, 24 * 32, dtype=torch.float64).reshape(24, 32)
    return {
        "grid": quantization_grid_figure(-0.62, 1.9, "uint8"),
        "bound": accumulator_bound_figure(576, 128, -128),
        "wrap": accumulator_wrap_figure(products),
        "rounding": double_rounding_figure(*quantize_multiplier(0.0123), 41),
        "heatmap": error_heatmaps(error, title="error"),
        "photo": image_comparison(photo, photo + 0.5, photo, title="photo"),
    }


def test_caching_canvas_keeps_lesson_pngs(language):
    expected = {name: figure_to_png(figure) for name, figure in lesson_figures().items()}
    for name, figure in lesson_figures().items():
        CachingCanvasAgg(figure)
        for attempt in ("first", "second"):
            assert figure_to_png(figure) == expected[name], f"{name}, {attempt} draw"


def draw_band_and_line(axes, slope: float, top: float) -> None:
    """Draw a band below zorder 1.9 that reaches the top limit, and a line and a text above it."""
    axes.axhspan(1e6, top, color="#c0392b", alpha=0.08, linewidth=0)
    axes.plot([1, 1e4], [slope, slope * 1e4], color="#1f5fa8", linewidth=1.5)
    axes.text(10, 1e5, f"slope {slope}")
    axes.set_ylim(1e2, top)


def line_figure(slope: float, top: float) -> Figure:
    """Return a log-log figure like that of accumulator_bound_figure."""
    figure = Figure(figsize=(6.4, 3.0), dpi=plots.PNG_DPI)
    axes = figure.add_axes([0.11, 0.17, 0.86, 0.6])
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(1, 1e4)
    axes.set_xlabel("taps")
    draw_band_and_line(axes, slope, top)
    return figure


def test_stored_background_equals_full_draw(monkeypatch):
    figure = line_figure(100.0, 1e9)
    axes = figure.axes[0]
    CachingCanvasAgg(figure)
    background = StoredBackground(axes)
    tick_updates = []
    update_ticks = axes.xaxis._update_ticks

    def counting_update_ticks():
        tick_updates.append(1)
        return update_ticks()

    monkeypatch.setattr(axes.xaxis, "_update_ticks", counting_update_ticks)

    def redraw(slope: float, top: float) -> bytes:
        for artist in [*axes.lines, *axes.texts, *axes.patches]:
            artist.remove()
        draw_band_and_line(axes, slope, top)
        # The key is the y limits, because they fix everything drawn below the line, which is the
        # band's top and both axes.
        return background.render(axes.get_ylim(), lambda: figure_to_png(figure))

    assert redraw(100.0, 1e9) == figure_to_png(line_figure(100.0, 1e9))
    drawn = len(tick_updates)
    assert drawn > 0

    assert redraw(300.0, 1e9) == figure_to_png(line_figure(300.0, 1e9))
    assert len(tick_updates) == drawn, "the axis was drawn again although the key did not change"

    assert redraw(300.0, 1e10) == figure_to_png(line_figure(300.0, 1e10))
    assert len(tick_updates) > drawn, "the axis was not drawn again after the key changed"
    hidden = [artist for artist in [figure.patch, *axes.get_children()] if not artist.get_visible()]
    assert hidden == [], "render left these artists hidden"
