"""Where the border is: labelling output positions by how their window meets the padding.

Taught in "The padding trap in integer convolution". An output position whose window reaches into
the padding on ``t`` of the ``r`` spatial axes lies on a boundary element of dimension ``r − t``
of the output box: the interior (``t = 0``), a face (dimension 2), an edge (dimension 1) or a
corner (dimension 0). In 2-D the sides of the square are therefore edges, and in 1-D the two
ends are corners.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import torch

from . import _checks
from .convolution import conv_geometry
from .i18n import localize, register_messages

REGIONS = ("interior", "face", "edge", "corner")

register_messages({
    "region.interior": {"en": "interior", "zh-TW": "內部"},
    "region.face": {"en": "face", "zh-TW": "面"},
    "region.edge": {"en": "edge", "zh-TW": "邊"},
    "region.corner": {"en": "corner", "zh-TW": "角"},
    "region.total": {"en": "total", "zh-TW": "合計"},
    "summary.region": {"en": "region", "zh-TW": "區域"},
    "summary.outputs": {"en": "outputs", "zh-TW": "輸出數"},
    "summary.wrong": {"en": "wrong", "zh-TW": "錯誤數"},
    "summary.max_abs_error": {"en": "max |error|", "zh-TW": "最大絕對誤差"},
    "bad_kernel_size": {
        "en": "kernel_size={value!r} must be 1, 2 or 3 positive ints, one per spatial axis, for example (3, 3).",
        "zh-TW": "kernel_size={value!r} 必須是 1、2 或 3 個正整數，每個空間軸一個，例如 (3, 3)。",
    },
    "bad_touching_axes": {
        "en": ("a position touching the padding on {touching} axes is impossible in {rank} spatial dimensions; "
               "expected 0 to {rank} from border_regions(...) with rank 1, 2 or 3."),
        "zh-TW": ("在 {rank} 個空間維度中，不可能有位置在 {touching} 個軸上碰到填補；"
                  "border_regions(...) 的值應介於 0 到 {rank}，且維度須為 1、2 或 3。"),
    },
    "regions_shape": {
        "en": ("error has shape {error_shape} but the region map has shape {regions_shape}; the trailing axes "
               "of error must equal the region map. Build both from the same convolution."),
        "zh-TW": ("error 的形狀是 {error_shape}，區域圖的形狀是 {regions_shape}；error 最後幾個軸必須與區域圖相同。"
                  "請用同一個卷積產生兩者。"),
    },
})


def region_name(touching_axes: int, rank: int) -> str:
    """Return the English region name for a position whose window meets the padding on ``touching_axes`` axes."""
    rank = _checks.require_int("rank", rank)
    touching_axes = _checks.require_int("touching_axes", touching_axes)
    if rank not in (1, 2, 3) or not 0 <= touching_axes <= rank:
        raise ValueError(localize("bad_touching_axes", touching=touching_axes, rank=rank))
    if touching_axes == 0:
        return "interior"
    return ("corner", "edge", "face")[rank - touching_axes]


def border_regions(
    input_size: tuple[int, ...],
    kernel_size: tuple[int, ...],
    *,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
) -> torch.Tensor:
    """Count, for every output position, the spatial axes on which its window reaches into the padding.

    Returns an int64 tensor of the output's spatial shape with values 0 to ``len(input_size)``;
    :func:`region_name` turns a count into interior, face, edge or corner.
    """
    kernel = _positive_ints(kernel_size)
    if kernel is None or len(kernel) not in (1, 2, 3):
        raise ValueError(localize("bad_kernel_size", value=kernel_size))
    rank = len(kernel)
    size = _positive_ints(input_size)
    if size is None or len(size) != rank:
        raise ValueError(localize("bad_size", value=input_size, rank=rank))
    geometry = conv_geometry(size, 1, (1, 1, *kernel),
                             stride=stride, padding=padding, dilation=dilation)
    touching = torch.zeros(geometry.output_size, dtype=torch.int64)
    for axis in range(rank):
        outputs = torch.arange(geometry.output_size[axis])
        first_input = outputs * geometry.stride[axis] - geometry.padding[axis][0]
        # A dilated window can step over the padding without touching it; count only real taps.
        taps = first_input.unsqueeze(1) + geometry.dilation[axis] * torch.arange(geometry.kernel_size[axis])
        in_padding = ((taps < 0) | (taps >= geometry.input_size[axis])).any(dim=1)
        shape = [1] * rank
        shape[axis] = -1
        touching += in_padding.to(torch.int64).view(shape)
    return touching


def _positive_ints(value: object) -> tuple[int, ...] | None:
    """Return ``value`` as a tuple if it is a tuple, list or torch.Size of positive ints, else None."""
    if not isinstance(value, (tuple, list, torch.Size)):
        return None
    if any(isinstance(item, bool) or not isinstance(item, int) or item < 1 for item in value):
        return None
    return tuple(value)


@dataclass(frozen=True)
class RegionRow:
    """One line of a :class:`RegionSummary`: how many outputs a region has and how wrong they are."""

    region: str
    outputs: int
    wrong: int
    max_abs_error: int


@dataclass(frozen=True)
class RegionSummary:
    """Per-region count of outputs, of wrong outputs and the largest absolute error, with a total row.

    Prints as a table in the active language.
    """

    rows: tuple[RegionRow, ...]

    @property
    def total(self) -> RegionRow:
        return RegionRow(
            "total",
            sum(row.outputs for row in self.rows),
            sum(row.wrong for row in self.rows),
            max((row.max_abs_error for row in self.rows), default=0),
        )

    def row(self, region: str) -> RegionRow:
        """Return the row of ``region`` ("interior", "face", "edge", "corner" or "total")."""
        if region == "total":
            return self.total
        for row in self.rows:
            if row.region == region:
                return row
        return RegionRow(region, 0, 0, 0)

    def __str__(self) -> str:
        lines = [[localize(f"summary.{column}") for column in ("region", "outputs", "wrong", "max_abs_error")]]
        for row in (*self.rows, self.total):
            lines.append([localize(f"region.{row.region}"), str(row.outputs), str(row.wrong), str(row.max_abs_error)])
        widths = [max(_display_width(line[column]) for line in lines) for column in range(4)]
        text = []
        for index, line in enumerate(lines):
            cells = [_pad(line[0], widths[0], left=True)]
            cells += [_pad(cell, width, left=False) for cell, width in zip(line[1:], widths[1:])]
            text.append("  ".join(cells).rstrip())
            if index == 0 or index == len(lines) - 2:
                text.append("  ".join("-" * width for width in widths))
        return "\n".join(text)

    __repr__ = __str__


def _display_width(text: str) -> int:
    # Chinese characters take two columns in a monospaced font.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int, *, left: bool) -> str:
    fill = " " * (width - _display_width(text))
    return text + fill if left else fill + text


def summarize_regions(error: torch.Tensor, regions: torch.Tensor) -> RegionSummary:
    """Summarize an error tensor region by region.

    Args:
        error: integer tensor (..., *out_spatial), for example (C_out, *out) from
            :func:`padding_error_map` or (N, C_out, *out) from a difference of accumulators.
        regions: the output of :func:`border_regions` for the same convolution.

    Returns:
        a :class:`RegionSummary` counting every output value (each batch item and channel) in each region.
    """
    error = _checks.require_integer_tensor("error", error)
    regions = _checks.require_integer_tensor("regions", regions)
    rank = regions.dim()
    if error.dim() < rank or tuple(error.shape[error.dim() - rank:]) != tuple(regions.shape):
        raise ValueError(localize("regions_shape", error_shape=tuple(error.shape), regions_shape=tuple(regions.shape)))
    outside = regions[(regions < 0) | (regions > rank)]
    if outside.numel():
        raise ValueError(localize("bad_touching_axes", touching=int(outside[0]), rank=rank))
    flat_error = error.reshape(-1, *regions.shape).abs()
    rows = []
    for touching in range(rank + 1):
        mask = regions == touching
        if not bool(mask.any()):
            continue
        values = flat_error[:, mask]
        rows.append(RegionRow(region_name(touching, rank), values.numel(), int((values != 0).sum()), int(values.max())))
    return RegionSummary(tuple(rows))
