"""The padding explorer: sliders over a 3-D integer convolution and the error they cause.

Taught in "The padding trap in integer convolution". :class:`PaddingExplorer` recomputes a small
seeded convolution with :func:`qlesson.conv_integer` on every change and shows the error of the
chosen method against an independent exact reference, as a heatmap and as a
:class:`qlesson.RegionSummary` table.

The explorer uses only ``ipywidgets.Image`` and ``ipywidgets.HTML`` for its output, never
``interact`` or an ``Output`` widget, so that a notebook executed without a browser (nbval, nbclient)
stores the same text as a live one.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import ipywidgets as widgets
import torch
import torch.nn.functional as F

from . import _checks
from ._canvas import CachingCanvasAgg
from .borders import RegionSummary, border_regions, summarize_regions
from .convolution import METHODS, conv_integer
from .i18n import get_language, join_choices, localize, register_messages
from .plots import (
    error_heatmaps,
    figure_to_png,
    placeholder_figure,
    refresh_error_heatmaps,
)

#: Default input shape (N, C_in, D, H, W) of the explorer.
DEFAULT_INPUT_SHAPE = (1, 2, 4, 10, 10)
#: Default number of output channels of the explorer.
DEFAULT_OUT_CHANNELS = 2
#: Largest kernel size the kernel slider offers; weights are drawn once at this size and cropped.
MAX_KERNEL_SIZE = 5

register_messages({
    "explorer.title": {"en": "Padding explorer", "zh-TW": "填補探索器"},
    "explorer.x_zero_point": {"en": "input zero point", "zh-TW": "輸入零點"},
    "explorer.w_zero_point": {"en": "weight zero point", "zh-TW": "權重零點"},
    "explorer.padding": {"en": "padding", "zh-TW": "填補"},
    "explorer.padding_before": {"en": "padding before", "zh-TW": "前側填補"},
    "explorer.padding_after": {"en": "padding after", "zh-TW": "後側填補"},
    "explorer.asymmetric": {"en": "asymmetric padding", "zh-TW": "非對稱填補"},
    "explorer.kernel_size": {"en": "kernel size", "zh-TW": "卷積核大小"},
    "explorer.stride": {"en": "stride", "zh-TW": "步幅"},
    "explorer.dilation": {"en": "dilation", "zh-TW": "擴張"},
    "explorer.method": {"en": "method", "zh-TW": "方法"},
    "explorer.depth": {"en": "depth slice", "zh-TW": "深度切片"},
    "explorer.channel": {"en": "channel", "zh-TW": "通道"},
    "explorer.caption": {
        "en": "Error of “{method}” against the exact reference, channel {channel}, depth {depth}",
        "zh-TW": "「{method}」與精確參考值的誤差，通道 {channel}、深度 {depth}",
    },
    "explorer.marks": {
        "en": "Marks: ○ face, △ edge, □ corner; lines separate the regions.",
        "zh-TW": "標記：○ 面、△ 邊、□ 角；線條分隔各區域。",
    },
    "explorer.no_output": {"en": "no output for these settings", "zh-TW": "這組設定沒有輸出"},
    "explorer.bad_shape": {
        "en": ("input_shape={input_shape!r} and out_channels={out_channels!r} must be five positive ints "
               "(N, C_in, D, H, W) and one positive int."),
        "zh-TW": "input_shape={input_shape!r} 必須是五個正整數 (N, C_in, D, H, W)，out_channels={out_channels!r} 必須是一個正整數。",
    },
    "explorer.bad_seed": {
        "en": "seed={value!r} must be an int from 0 to 2^64 − 1. Pass a whole number such as 0 or 7.",
        "zh-TW": "seed={value!r} 必須是 0 到 2^64 − 1 的整數。請傳入像 0 或 7 這樣的整數。",
    },
    "explorer.not_a_bool": {
        "en": "{name} must be True or False, got {value!r}.",
        "zh-TW": "{name} 必須是 True 或 False，收到的是 {value!r}。",
    },
    "explorer.setting": {"en": "{label}: {value}", "zh-TW": "{label}：{value}"},
    "explorer.unknown_parameter": {
        "en": "{name!r} is not a parameter of the padding explorer. Use one of: {choices}.",
        "zh-TW": "{name!r} 不是填補探索器的參數。請使用下列之一：{choices}。",
    },
    "explorer.out_of_range": {
        "en": "{name}={value!r} is outside the control's range [{low}, {high}]. Pick a value in that range.",
        "zh-TW": "{name}={value!r} 超出控制項的範圍 [{low}, {high}]。請選擇此範圍內的值。",
    },
    "method.naive_zero_pad": {"en": "naive: pad with integer 0 (the trap)", "zh-TW": "直覺做法：以整數 0 填補（陷阱）"},
    "method.zero_point_pad": {"en": "pad with the zero point", "zh-TW": "以零點填補"},
    "method.border_correction": {"en": "pad with 0, then correct the border", "zh-TW": "填 0 後修正邊界"},
    "method.skip_taps": {"en": "skip the taps in the padding", "zh-TW": "略過落在填補區的乘積"},
})

# Integer parameters with their slider range and default value.
_RANGES = {
    "x_zero_point": (0, 255, 128),
    "w_zero_point": (-128, 127, 0),
    "padding": (0, 3, 1),
    "padding_after": (0, 3, 1),
    "kernel_size": (1, MAX_KERNEL_SIZE, 3),
    "stride": (1, 3, 1),
    "dilation": (1, 3, 1),
    "depth": (0, DEFAULT_INPUT_SHAPE[2] - 1, 0),  # the maximum follows the output depth
}


@dataclass(frozen=True)
class _Result:
    """One computed setting: the error (N, C_out, D, H, W) and the border regions (D, H, W)."""

    error: torch.Tensor
    regions: torch.Tensor
    summary: RegionSummary


class PaddingExplorer(widgets.VBox):
    """Sliders for the zero points and the convolution geometry, a heatmap of the error and a region table.

    Taught in "The padding trap in integer convolution". Every change recomputes the integer
    convolution of a seeded uint8 input with seeded int8 weights using the chosen method, and
    shows the difference from an exact reference: the float64 convolution of ``x − x_zp`` and
    ``w − w_zp`` with the padding holding real 0. That reference is exact because every partial
    sum is an integer of magnitude at most ``C_in · k³ · 255²``, far below 2**53. The heatmap
    shows one channel and depth slice, and the table counts every output of every channel.

    A setting whose kernel does not fit the padded input shows the localized error message and a
    placeholder image instead of raising. Control labels are in the language active at
    construction; the figure, the table and ``repr`` are in the language active when drawn.

    Args:
        input_shape: (N, C_in, D, H, W) of the random uint8 input.
        out_channels: C_out of the random int8 weights (C_out, C_in, k, k, k).
        seed: seed of the ``torch.Generator`` that draws the input and the weights.
    """

    def __init__(self, *, input_shape: tuple[int, int, int, int, int] = DEFAULT_INPUT_SHAPE,
                 out_channels: int = DEFAULT_OUT_CHANNELS, seed: int = 0) -> None:
        if (len(input_shape) != 5 or any(isinstance(size, bool) or not isinstance(size, int) or size < 1
                                         for size in (*input_shape, out_channels))):
            raise ValueError(localize("explorer.bad_shape", input_shape=input_shape, out_channels=out_channels))
        seed = _checks.require_int("seed", seed)
        if not 0 <= seed < 2**64:
            raise ValueError(localize("explorer.bad_seed", value=seed))
        generator = torch.Generator().manual_seed(seed)
        self._x = torch.randint(0, 256, tuple(input_shape), generator=generator, dtype=torch.uint8)
        # The weights of every kernel size k are the [:k, :k, :k] corner of one draw, so changing k
        # keeps the weights that both sizes share.
        k = MAX_KERNEL_SIZE
        self._weights = torch.randint(-128, 128, (out_channels, input_shape[1], k, k, k),
                                      generator=generator, dtype=torch.int8)
        self._language = get_language()
        self._result: _Result | str = ""
        self._figure = None
        self._figure_key: tuple | None = None
        self._updating = False

        self.controls = self._build_controls(input_shape[2], out_channels)
        self.image = widgets.Image(format="png", layout=widgets.Layout(width="auto"))
        self.html = widgets.HTML()
        for name, control in self.controls.items():
            handler = self._on_view_change if name in ("depth", "channel") else self._on_compute_change
            control.observe(handler, names="value")

        left = widgets.VBox([self.controls[name] for name in
                             ("x_zero_point", "w_zero_point", "method", "channel", "depth")])
        right = widgets.VBox([self.controls[name] for name in
                              ("kernel_size", "padding", "asymmetric", "padding_after", "stride", "dilation")])
        super().__init__([widgets.HBox([left, right]), widgets.HBox([self.image, self.html])])
        self._recompute()

    # ------------------------------------------------------------ construction

    def _build_controls(self, input_depth: int, out_channels: int) -> dict[str, widgets.Widget]:
        width = "10em" if self._language == "en" else "6.5em"
        style = {"description_width": width}
        controls: dict[str, widgets.Widget] = {}
        for name, (low, high, default) in _RANGES.items():
            if name == "depth":
                high = input_depth - 1
            controls[name] = widgets.IntSlider(
                value=default, min=low, max=high, description=self._label(name), style=style)
        controls["padding_after"].disabled = True
        controls["asymmetric"] = widgets.Checkbox(
            value=False, description=self._label("asymmetric"), style=style, indent=True)
        controls["method"] = widgets.Dropdown(
            options=[(self._label(f"method.{method}"), method) for method in METHODS],
            value="naive_zero_pad", description=self._label("method"), style=style,
            layout=widgets.Layout(width="30em"))
        controls["channel"] = widgets.IntSlider(
            value=0, min=0, max=out_channels - 1, description=self._label("channel"), style=style)
        return controls

    def _label(self, key: str) -> str:
        return localize(key if key.startswith("method.") else f"explorer.{key}", language=self._language)

    # ------------------------------------------------------------ public interface

    @property
    def parameters(self) -> dict[str, object]:
        """Current settings: zero points, ``padding`` as a (before, after) pair, kernel size, stride,
        dilation, method, depth slice and channel."""
        before = self.controls["padding"].value
        after = self.controls["padding_after"].value if self.controls["asymmetric"].value else before
        return {
            "x_zero_point": self.controls["x_zero_point"].value,
            "w_zero_point": self.controls["w_zero_point"].value,
            "padding": (before, after),
            "kernel_size": self.controls["kernel_size"].value,
            "stride": self.controls["stride"].value,
            "dilation": self.controls["dilation"].value,
            "method": self.controls["method"].value,
            "depth": self.controls["depth"].value,
            "channel": self.controls["channel"].value,
        }

    @property
    def x(self) -> torch.Tensor:
        """Seeded uint8 input, (N, C_in, D, H, W)."""
        return self._x

    @property
    def w(self) -> torch.Tensor:
        """Seeded int8 weights of the current kernel size k, (C_out, C_in, k, k, k)."""
        k = self.controls["kernel_size"].value
        return self._weights[:, :, :k, :k, :k]

    @property
    def summary(self) -> RegionSummary | str:
        """Region table of the current error, or the error message when the setting has no output."""
        return self._result.summary if isinstance(self._result, _Result) else self._result

    @property
    def error(self) -> torch.Tensor | None:
        """Current error ``method − exact``, int64 (N, C_out, D_out, H_out, W_out), or ``None`` without output."""
        return self._result.error if isinstance(self._result, _Result) else None

    def set_values(self, **values: object) -> None:
        """Set several controls at once and recompute once, as a learner moving the sliders would.

        Keyword names are the control names: ``x_zero_point``, ``w_zero_point``, ``padding``,
        ``padding_after``, ``asymmetric``, ``kernel_size``, ``stride``, ``dilation``, ``method``,
        ``depth`` and ``channel``. Passing ``padding_after`` without ``asymmetric`` turns
        asymmetric padding on. ``depth`` is checked against the output depth of the new setting.

        Raises:
            TypeError: for an unknown name or a value of the wrong type.
            ValueError: for a value outside its control's range or an unknown method. Every value
                except ``depth`` is checked before any control changes.
        """
        for name in values:
            if name not in self.controls:
                raise TypeError(localize("explorer.unknown_parameter", name=name, choices=join_choices(self.controls)))
        if "padding_after" in values and "asymmetric" not in values:
            values = {**values, "asymmetric": True}
        depth = values.pop("depth", None)
        for name, value in values.items():
            self._check_value(name, value)
        self._updating = True
        try:
            for name, value in values.items():
                self.controls[name].value = value
        finally:
            self._updating = False
        self._recompute()
        if depth is not None:
            self._check_value("depth", depth)
            self.controls["depth"].value = depth  # its observer redraws

    def _check_value(self, name: str, value: object) -> None:
        if name == "method":
            if value not in METHODS:
                raise ValueError(localize("bad_method", value=value, choices=join_choices(METHODS)))
            return
        if name == "asymmetric":
            if not isinstance(value, bool):
                raise TypeError(localize("explorer.not_a_bool", name=name, value=value))
            return
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(localize("not_an_int", name=name, value=value))
        control = self.controls[name]
        if not control.min <= value <= control.max:
            raise ValueError(localize("explorer.out_of_range", name=name, value=value,
                                      low=control.min, high=control.max))

    # ------------------------------------------------------------ updates

    def _on_compute_change(self, change: Mapping[str, object]) -> None:
        if not self._updating:
            self._recompute()

    def _on_view_change(self, change: Mapping[str, object]) -> None:
        if not self._updating:
            self._render()

    def _sync_padding_controls(self) -> None:
        asymmetric = self.controls["asymmetric"].value
        padding_after = self.controls["padding_after"]
        padding_after.disabled = not asymmetric
        if not asymmetric:
            padding_after.value = self.controls["padding"].value
        self.controls["padding"].description = self._label("padding_before" if asymmetric else "padding")

    def _recompute(self) -> None:
        self._updating = True
        try:
            self._sync_padding_controls()
            self._result = self._compute(self.parameters)
            if isinstance(self._result, _Result):
                # Setting max below the value lowers the value too, so the slider stays valid.
                self.controls["depth"].max = self._result.error.shape[2] - 1
        finally:
            self._updating = False
        self._render()

    def _compute(self, parameters: Mapping[str, object]) -> _Result | str:
        k = parameters["kernel_size"]
        weights = self.w
        padding = (parameters["padding"],) * 3
        geometry = dict(stride=parameters["stride"], padding=padding, dilation=parameters["dilation"])
        x_zp, w_zp = parameters["x_zero_point"], parameters["w_zero_point"]
        with _one_torch_thread():
            try:
                result = conv_integer(self._x, weights, x_zp, w_zp, method=parameters["method"], **geometry)
                regions = border_regions(tuple(self._x.shape[2:]), (k, k, k), **geometry)
            except (ValueError, TypeError) as error:
                return str(error)
            error = result - self._reference(weights, x_zp, w_zp, padding, parameters)
            return _Result(error, regions, summarize_regions(error, regions))

    def _reference(self, weights: torch.Tensor, x_zp: int, w_zp: int, padding: tuple,
                   parameters: Mapping[str, object]) -> torch.Tensor:
        """Return the exact accumulator with the padding holding real 0, computed in float64."""
        centered = self._x.to(torch.float64) - x_zp
        before, after = padding[0]
        padded = F.pad(centered, [before, after] * 3, value=0.0)
        reference = F.conv3d(padded, weights.to(torch.float64) - w_zp,
                             stride=parameters["stride"], dilation=parameters["dilation"])
        return reference.round().to(torch.int64)

    def _render(self) -> None:
        parameters = self.parameters
        if not isinstance(self._result, _Result):
            self.image.value = _placeholder_png(get_language())
            self.html.value = f'<p style="color:#b00020">{html.escape(self._result)}</p>'
            return
        depth, channel = parameters["depth"], parameters["channel"]
        error = self._result.error[0, channel, depth]
        regions = self._result.regions[depth]
        self.image.value = self._heatmap_png(error, regions)
        caption = localize("explorer.caption", method=localize(f"method.{parameters['method']}"),
                           channel=channel, depth=depth)
        self.html.value = (f"<p><b>{html.escape(caption)}</b><br>{html.escape(localize('explorer.marks'))}</p>"
                           f"<pre>{html.escape(str(self._result.summary))}</pre>")

    def _heatmap_png(self, error: torch.Tensor, regions: torch.Tensor) -> bytes:
        # Building a figure adds roughly half of the drawing time, so the figure is reused while the
        # map shape and the region marks stay the same, as they do for zero point, method and channel changes.
        key = (tuple(error.shape), regions.numpy().tobytes(), get_language())
        if key != self._figure_key or not refresh_error_heatmaps(self._figure, error):
            previous = self._figure
            self._figure = error_heatmaps(error, regions=regions, legend=False, rank=3)
            CachingCanvasAgg(self._figure, replaces=previous)
            self._figure_key = key
        return figure_to_png(self._figure)

    # ------------------------------------------------------------ text form

    def __repr__(self) -> str:
        parameters = self.parameters
        before, after = parameters["padding"]
        if before == after:
            padding = [self._setting("padding", before)]
        else:
            padding = [self._setting("padding_before", before), self._setting("padding_after", after)]
        lines = [
            localize("explorer.title"),
            self._setting("x_zero_point", parameters["x_zero_point"]),
            self._setting("w_zero_point", parameters["w_zero_point"]),
            self._setting("method", localize(f"method.{parameters['method']}")),
            self._setting("kernel_size", parameters["kernel_size"]),
            *padding,
            self._setting("stride", parameters["stride"]),
            self._setting("dilation", parameters["dilation"]),
            self._setting("channel", parameters["channel"]),
            self._setting("depth", parameters["depth"]),
        ]
        return "\n".join(lines) + "\n" + str(self.summary)

    @staticmethod
    def _setting(name: str, value: object) -> str:
        return "  " + localize("explorer.setting", label=localize(f"explorer.{name}"), value=value)

    def _repr_mimebundle_(self, **kwargs: object) -> dict | None:
        # ipywidgets cuts text/plain at 110 characters; nbval compares the whole text, so store it all.
        bundle = super()._repr_mimebundle_(**kwargs)
        if bundle is not None:
            bundle["text/plain"] = repr(self)
        return bundle


@contextmanager
def _one_torch_thread() -> Iterator[None]:
    """Run the enclosed torch calls on one intra-op thread and restore the previous thread count.

    The explorer's tensors have a few thousand elements, too few to gain from threads, and while
    another process keeps a core busy, torch's thread pool stalled such calls by tens of
    milliseconds (measured with 2 cores shared by several processes).
    NOTE: the thread count is process-wide, so torch calls from other Python threads meanwhile also use one thread.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


_PLACEHOLDERS: dict[str, bytes] = {}


def _placeholder_png(language: str) -> bytes:
    if language not in _PLACEHOLDERS:
        _PLACEHOLDERS[language] = figure_to_png(placeholder_figure(localize("explorer.no_output", language=language)))
    return _PLACEHOLDERS[language]
