"""An Agg canvas for the figures that an explorer redraws on every update, faster but pixel for pixel the same.

Two costs dominate the redraw of a kept figure in matplotlib 3.11.2, as measured with
``benchmarks/widget_latency.py``. Every text is laid out and every glyph rasterized by FreeType
again, and an axis draws all its ticks again even when its limits did not change.
:class:`CachingCanvasAgg` keeps the layouts, the glyph bitmaps and the parsed mathtext, and
:class:`StoredBackground` copies back the pixels of the artists that an update did not change.
Both give the same pixels as a plain :class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`,
so the PNG of an explorer equals that of the public figure function
(``tests/test_widget_corners.py`` and ``tests/test_canvas.py`` compare the bytes).

The text cache reimplements ``RendererAgg.draw_text`` and ``_draw_text_glyphs_and_boxes`` on the
private ``FT2Font._layout``, ``_set_transform`` and ``_render_glyph`` of matplotlib 3.11.2, the
version that requirements.txt pins. NOTE: another matplotlib version may change those private
methods or how the plain renderer uses them. ``tests/test_canvas.py`` compares the pixels with
those of a plain canvas to catch that.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable

import matplotlib as mpl
import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg, get_hinting_flag
from matplotlib.figure import Figure
from matplotlib.ft2font import RenderMode
from matplotlib.mathtext import MathTextParser
from matplotlib.path import Path
from matplotlib.transforms import Affine2D

# Maximum number of entries of each cache, which is emptied when full. A glyph entry took about
# 800 bytes in a tracemalloc measurement, so a full glyph cache takes an estimated 16 MB. The five
# explorers, driven through the settings of benchmarks/widget_latency.py, fill about 1,400 glyph
# entries.
_CACHE_LIMIT = 20_000

# Text layouts: (font, size, dpi, text, hinting flags, font features, language) → glyphs as
# (font of the glyph, glyph index, x offset, y offset) in pixels.
_LAYOUTS: dict[tuple, list[tuple]] = {}
# Glyph bitmaps: (font, size, dpi, glyph index, rotation, hinting flags, antialiased, x and y in
# 1/64 pixel modulo one pixel) → (coverage bitmap, left, top) for that position within the pixel.
_GLYPHS: dict[tuple, tuple[np.ndarray, int, int]] = {}
# FreeType transformation matrices in 16.16 fixed point, by (cos, sin, slant, extend).
_MATRICES: dict[tuple[float, float, float, float], np.ndarray] = {}
# Parsed mathtext, such as the 10^k tick labels of a log axis: (text, dpi, font properties, antialiased) → parse.
_MATHTEXT: dict[tuple, object] = {}


def _store(cache: dict, key: tuple, value: object) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value


class _CachingMathTextParser(MathTextParser):
    """``MathTextParser`` whose results stay in ``_MATHTEXT``, shared by every caching renderer.

    matplotlib 3.11.2 keeps parses in one cache of 50 entries for all parsers (the
    ``functools.lru_cache(50)`` of ``MathTextParser._parse_cached``), and every new renderer has a
    parser of its own. So each new figure with a log axis can evict the parses of an
    explorer's figure, whose next full redraw then parses every tick label again.
    """

    def parse(self, s, dpi=72, prop=None, *, antialiased=None):
        # prop is mutable, so the key contains a copy, as matplotlib's own cache does.
        antialiased = mpl.rcParams["text.antialiased"] if antialiased is None else antialiased
        key = (s, dpi, None if prop is None else prop.copy(), antialiased)
        parse = _MATHTEXT.get(key)
        if parse is None:
            parse = super().parse(s, dpi, prop, antialiased=antialiased)
            _store(_MATHTEXT, key, parse)
        return parse


class _CachingRendererAgg(RendererAgg):
    """``RendererAgg`` that reuses text layouts and glyph bitmaps between draws.

    FreeType rasterizes a glyph after moving its outline by the glyph's position in 1/64 pixel,
    and the rasterizer works relative to the whole pixels of the outline's bounding box. So a
    bitmap rendered at the position modulo one pixel and then moved by the whole pixels equals the
    bitmap rendered at the full position. A glyph is therefore rasterized once for each position
    within a pixel.
    """

    def __init__(self, width, height, dpi):
        super().__init__(width, height, dpi)
        self.mathtext_parser = _CachingMathTextParser("path")

    def draw_text(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if ismath:
            return self.draw_mathtext(gc, x, y, s, prop, angle)
        font = self._prepare_font(prop)
        flags = get_hinting_flag()
        features = mtext.get_fontfeatures() if mtext is not None else None
        language = mtext.get_language() if mtext is not None else None
        size = prop.get_size_in_points()
        key = (font, size, self.dpi, s, flags, features, language)
        try:
            items = _LAYOUTS.get(key)
        except TypeError:
            # A language given as a list of ranges is not hashable, so such text is laid out every time.
            key, items = None, None
        if items is None:
            items = [(item.ft_object, item.glyph_index, item.x, item.y)
                     for item in font._layout(s, flags=flags, features=features, language=language)]
            if key is not None:
                _store(_LAYOUTS, key, items)
        self._draw_text_glyphs_and_boxes(
            gc, x, y, angle, ((glyph_font, size, index, 0, 1, dx, dy) for glyph_font, index, dx, dy in items), [])

    def _draw_text_glyphs_and_boxes(self, gc, x, y, angle, glyphs, boxes):
        # These are the steps of RendererAgg._draw_text_glyphs_and_boxes in matplotlib 3.11.2, except
        # that a glyph's bitmap comes from _GLYPHS when it was rasterized before. y is downwards.
        cos = math.cos(math.radians(angle))
        sin = math.sin(math.radians(angle))
        load_flags = get_hinting_flag()
        antialiased = gc.get_antialiased()
        height = self.height
        for font, size, glyph_index, slant, extend, dx, dy in glyphs:  # dy is upwards
            rotation = (cos, sin, slant, extend)
            # FreeType's positions are in 1/64 pixel and its y is upwards.
            x64 = round(0x40 * (x + dx * cos - dy * sin))
            y64 = round(0x40 * (height - y + dx * sin + dy * cos))
            key = (font, size, self.dpi, glyph_index, rotation, load_flags, antialiased, x64 & 0x3F, y64 & 0x3F)
            cached = _GLYPHS.get(key)
            if cached is None:
                matrix = _MATRICES.get(rotation)
                if matrix is None:
                    matrix = (0x10000 * np.array([[cos, -sin], [sin, cos]])
                              @ [[extend, extend * slant], [0, 1]]).round().astype(int)
                    _store(_MATRICES, rotation, matrix)
                font.set_size(size, self.dpi)
                font._set_transform(matrix, [x64 & 0x3F, y64 & 0x3F])
                bitmap = font._render_glyph(glyph_index, load_flags,
                                            RenderMode.NORMAL if antialiased else RenderMode.MONO)
                buffer = bitmap.buffer
                if not antialiased:
                    buffer *= 0xFF
                cached = (buffer, bitmap.left, bitmap.top)
                _store(_GLYPHS, key, cached)
            buffer, left, top = cached
            # >> 6 floors, so it and the remainder & 0x3F add up to the position, for negative ones too.
            left += x64 >> 6
            top += y64 >> 6
            # draw_text_image's y is downwards and names the bitmap's bottom side.
            self._renderer.draw_text_image(buffer, left, int(height) - top + buffer.shape[0], 0, gc)

        boxes = list(boxes)
        if not boxes:
            return
        rgba = gc.get_rgb()
        if len(rgba) == 3 or gc.get_forced_alpha():
            rgba = rgba[:3] + (gc.get_alpha(),)
        gc1 = self.new_gc()
        gc1.set_linewidth(0)
        gc1.set_snap(gc.get_snap())
        for dx, dy, w, h in boxes:  # dy is upwards
            if gc1.get_snap() in [None, True]:
                # Prevent thin bars from disappearing by growing symmetrically.
                if w < 1:
                    dx -= (1 - w) / 2
                    w = 1
                if h < 1:
                    dy -= (1 - h) / 2
                    h = 1
            path = Path._create_closed([(dx, dy), (dx + w, dy), (dx + w, dy + h), (dx, dy + h)])
            self._renderer.draw_path(gc1, path, Affine2D().rotate_deg(angle).translate(x, self.height - y), rgba)
        gc1.restore()


class CachingCanvasAgg(FigureCanvasAgg):
    """Agg canvas whose renderer reuses text layouts and glyph bitmaps and draws the same pixels as ``FigureCanvasAgg``.

    ``replaces`` is the figure that ``figure`` takes the place of. When that figure has a canvas of
    this class, the new canvas draws into its renderer while the size and dpi stay the same. So
    matplotlib's text metrics, which it caches per renderer, are at hand on the first draw. The
    replaced figure must not be drawn any more, because both figures would then draw into one pixel
    buffer.
    """

    def __init__(self, figure: Figure, *, replaces: Figure | None = None) -> None:
        super().__init__(figure)
        previous = getattr(replaces, "canvas", None)
        if isinstance(previous, CachingCanvasAgg) and previous._lastKey is not None:
            self.renderer, self._lastKey = previous.renderer, previous._lastKey

    def get_renderer(self):
        width, height = self.get_width_height(physical=True)
        key = width, height, self.figure.dpi
        if self._lastKey != key:
            self.renderer = _CachingRendererAgg(width, height, self.figure.dpi)
            self._lastKey = key
        return self.renderer


class StoredBackground(Artist):
    """Invisible child of a one-axes figure that stores the pixels drawn before it and can copy them back.

    Axes draw their children in order of zorder. So when this artist draws at ``ZORDER``, the
    figure and axes backgrounds, the patches and collections (zorder 1) and the axis objects with
    their ticks and labels (zorder 1.5 unless ``axes.axisbelow`` is changed) have been drawn.
    While the caller's key stays the same, :meth:`render` hides the figure's background and the
    axes' artists below ``ZORDER`` and copies their stored pixels back. So the key must change
    whenever anything drawn before this artist would draw differently.
    """

    ZORDER = 1.9

    def __init__(self, axes: Axes) -> None:
        super().__init__()
        self.set_zorder(self.ZORDER)
        self.set_in_layout(False)
        self._axes = axes
        self._key: Hashable | None = None
        self._region = None
        self._renderer = None
        self._restoring = False
        axes.add_artist(self)

    def draw(self, renderer) -> None:
        if self._restoring:
            renderer.restore_region(self._region)
        else:
            self._region = renderer.copy_from_bbox(renderer.bbox)
            self._renderer = renderer

    def render(self, key: Hashable, render: Callable[[], bytes]) -> bytes:
        """Call ``render`` and return its bytes, drawn on the stored background if ``key`` is that of the last call."""
        figure = self._axes.get_figure(root=True)
        reusable = (key == self._key and self._region is not None and len(figure.axes) == 1
                    and figure.canvas.get_renderer() is self._renderer)
        self._key = key
        if not reusable:
            self._region = None
            return render()
        below = [figure.patch, self._axes.patch,
                 *(child for child in self._axes.get_children() if child.get_zorder() < self.ZORDER)]
        hidden = [artist for artist in below if artist.get_visible()]
        for artist in hidden:
            artist.set_visible(False)
        self._restoring = True
        try:
            return render()
        finally:
            self._restoring = False
            for artist in hidden:
                artist.set_visible(True)
