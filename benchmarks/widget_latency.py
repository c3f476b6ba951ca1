"""Measure the update latency of every explorer against a bare matplotlib render of the same figure.

An update is timed from setting one control's ``value``, as the browser does when a learner
releases a slider, to the moment both the new PNG and the new report (the summary) have been set
on the widget. The baseline is the bare render of the figure the widget shows. It calls the same
qlesson figure function on inputs computed beforehand and saves the figure as PNG with
``figure_to_png``, so it includes no convolution, no search, no widget traits and no figure reuse.
Both are measured side by side in the same run, on the same sequence of settings.

Each explorer is measured at its lesson's default size. The two explorers that draw a convolution
are also measured at a large size, a (1, 2, 16, 64, 64) input for the 3-D padding explorer and a
(1, 16, 64, 64) input for the 2-D four-terms explorer.

    python benchmarks/widget_latency.py             # every explorer, default and large sizes
    python benchmarks/widget_latency.py --quick     # default sizes only, fewer rounds
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

import qlesson as ql
from qlesson.lesson_widgets import quantization_grid_figure
from qlesson.plots import error_heatmaps, figure_to_png, placeholder_figure
from qlesson.requant_widgets import MULTIPLIER_SEARCH_LIMIT, accumulator_bound_figure, double_rounding_figure

from common import describe_machine, percentile, spread_text

# Targets: a median update of at most TARGET_MEDIAN_MS at the default sizes, and at every size at
# most TARGET_RATIO times the median bare render.
TARGET_MEDIAN_MS = 50.0
TARGET_RATIO = 1.5


@dataclass
class Case:
    """One explorer at one size, the settings an update cycles through, and its bare render."""

    name: str
    size: str
    make: Callable[[], object]
    # (control name, value) pairs applied one per update, in order, cyclically.
    changes: list[tuple[str, object]]
    bare_render: Callable[[object], bytes]


def _four_terms_data(channels: int, side: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Return x, w and zero points drawn as the lesson "The four terms" draws them."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (1, channels, side, side), generator=generator).to(torch.uint8)
    x_zp = int(torch.randint(1, 256, (), generator=generator))
    w = torch.randint(0, 256, (8, channels, 3, 3), generator=generator).to(torch.uint8)
    w_zp = int(torch.randint(1, 256, (), generator=generator))
    return x, w, x_zp, w_zp


def _padding_bare(explorer: ql.PaddingExplorer) -> bytes:
    parameters = explorer.parameters
    error = explorer.error
    if error is None:
        return figure_to_png(placeholder_figure(str(explorer.summary)))
    depth, channel = parameters["depth"], parameters["channel"]
    k = parameters["kernel_size"]
    regions = ql.border_regions(tuple(explorer.x.shape[2:]), (k, k, k), stride=parameters["stride"],
                                padding=(parameters["padding"],) * 3, dilation=parameters["dilation"])
    figure = error_heatmaps(error[0, channel, depth], regions=regions[depth], legend=False, rank=3)
    return figure_to_png(figure)


def _grid_bare(explorer: ql.QuantizationGridExplorer) -> bytes:
    grid = explorer.grid
    return figure_to_png(quantization_grid_figure(grid.r_min, grid.r_max, grid.dtype, symmetric=grid.symmetric,
                                                  exact_zero=grid.exact_zero))


def _terms_bare(explorer: ql.FourTermsExplorer) -> bytes:
    assembled = explorer.assembled
    settings = explorer._settings()
    regions = ql.border_regions(tuple(explorer._x.shape[2:]), tuple(explorer._w.shape[2:]), **{
        name: settings[name] for name in ("stride", "padding", "dilation")})
    return figure_to_png(error_heatmaps(assembled.error[0, 0], regions=regions,
                                        title=ql.localize("lesson_widgets.term_title")))


def _accumulator_bare(explorer: ql.AccumulatorExplorer) -> bytes:
    setting = explorer.setting
    return figure_to_png(accumulator_bound_figure(setting.taps, setting.x_zero_point, setting.w_zero_point))


def _multiplier_bare(explorer: ql.MultiplierExplorer) -> bytes:
    m0, shift = explorer.fixed_point
    mismatch = explorer.first_mismatch
    if mismatch is None:
        return figure_to_png(placeholder_figure(ql.localize("requant_widgets.no_mismatch",
                                                            limit=MULTIPLIER_SEARCH_LIMIT)))
    return figure_to_png(double_rounding_figure(m0, shift, mismatch.acc))


# Settings a learner would try, each changing the figure: zero points, geometry and method.
_PADDING_CHANGES = [("x_zero_point", 0), ("x_zero_point", 200), ("method", "zero_point_pad"),
                    ("method", "naive_zero_pad"), ("padding", 2), ("padding", 1), ("w_zero_point", 5),
                    ("w_zero_point", 0), ("stride", 2), ("stride", 1), ("kernel_size", 5), ("kernel_size", 3),
                    ("channel", 1), ("channel", 0)]
_GRID_CHANGES = [("r_min", -1.0), ("r_max", 2.5), ("dtype", "int8"), ("exact_zero", False), ("r_min", 0.3),
                 ("symmetric", True), ("symmetric", False), ("dtype", "uint8"), ("exact_zero", True), ("r_min", -0.62),
                 ("r_max", 1.9)]
_TERMS_CHANGES = [("w_zp", 0), ("w_zp", 200), ("stride", 2), ("dilation", 2), ("padding", 2), ("window_pad", "0"),
                  ("follow_geometry", False), ("follow_geometry", True), ("stride", 1), ("dilation", 1),
                  ("padding", 1), ("window_pad", "x_zp")]
_ACCUMULATOR_CHANGES = [("c_in", 128), ("kernel_size", 5), ("spatial_axes", 3), ("x_zero_point", 128),
                        ("w_zero_point", -128), ("c_in", 64), ("kernel_size", 3), ("spatial_axes", 2),
                        ("x_zero_point", 0), ("w_zero_point", 0)]
# Only multipliers whose two roundings differ for some |acc| ≤ 65536, so that every update draws the
# figure; the others (about 4 in 10 slider positions) show a placeholder drawn once.
_MULTIPLIER_CHANGES = [("real_multiplier", value) for value in (0.0013, 0.03, 0.3, 0.07, 1.5, 1e-4, 0.0123)]


def _control(explorer: object, name: str):
    """Return the ipywidgets control behind a ``set_values`` name."""
    controls = getattr(explorer, "controls", None) or getattr(explorer, "_controls")
    return controls[name]


def build_cases(large: bool) -> list[Case]:
    cases = [
        Case("PaddingExplorer", "default (1, 2, 4, 10, 10)", ql.PaddingExplorer, _PADDING_CHANGES, _padding_bare),
        Case("QuantizationGridExplorer", "default", lambda: ql.QuantizationGridExplorer(-0.62, 1.9, "uint8"),
             _GRID_CHANGES, _grid_bare),
        Case("FourTermsExplorer", "default (1, 3, 8, 8)", lambda: _make_terms(3, 8), _TERMS_CHANGES, _terms_bare),
        Case("AccumulatorExplorer", "default", lambda: ql.AccumulatorExplorer(c_in=64, kernel_size=3, spatial_axes=2),
             _ACCUMULATOR_CHANGES, _accumulator_bare),
        Case("MultiplierExplorer", "default, figure drawn", lambda: ql.MultiplierExplorer(0.0123), _MULTIPLIER_CHANGES,
             _multiplier_bare),
    ]
    if large:
        cases.insert(1, Case("PaddingExplorer", "large (1, 2, 16, 64, 64)",
                             lambda: ql.PaddingExplorer(input_shape=(1, 2, 16, 64, 64)), _PADDING_CHANGES,
                             _padding_bare))
        cases.insert(4, Case("FourTermsExplorer", "large (1, 16, 64, 64)", lambda: _make_terms(16, 64),
                             _TERMS_CHANGES, _terms_bare))
    return cases


def _make_terms(channels: int, side: int) -> ql.FourTermsExplorer:
    x, w, x_zp, w_zp = _four_terms_data(channels, side)
    return ql.FourTermsExplorer(x, w, x_zp, w_zp=w_zp, padding=1)


@dataclass
class Timing:
    latencies: list[float]
    bare: list[float]
    round_medians: list[float]


def measure(case: Case, rounds: int) -> Timing:
    """Apply every change of ``case`` once per round; time each update and the bare render after it.

    ipywidgets runs the observers of a value synchronously when no browser is attached, so the
    update is over, with the new PNG and report set, when the assignment returns.
    """
    explorer = case.make()
    image = explorer.image
    report = getattr(explorer, "report", None) or explorer.html
    changed: set[str] = set()
    image.observe(lambda change: changed.add("image"), names="value")
    report.observe(lambda change: changed.add("report"), names="value")

    # One untimed round first fills the caches that a fresh kernel also fills on first use (fonts, glyphs).
    for name, value in case.changes:
        _control(explorer, name).value = value
    latencies, bare, round_medians = [], [], []
    for _ in range(rounds):
        this_round = []
        for name, value in case.changes:
            changed.clear()
            start = time.perf_counter()
            _control(explorer, name).value = value
            this_round.append((time.perf_counter() - start) * 1e3)
            if not changed:
                raise RuntimeError(f"{case.name}: setting {name}={value!r} changed neither the image nor the report")

            start = time.perf_counter()
            case.bare_render(explorer)
            bare.append((time.perf_counter() - start) * 1e3)
        latencies.extend(this_round)
        round_medians.append(statistics.median(this_round))
    return Timing(latencies, bare, round_medians)


def run(quick: bool = False, rounds: int | None = None) -> list[str]:
    """Measure every case and return the Markdown table lines."""
    rounds = rounds or (2 if quick else 5)
    lines = [
        f"Widget update latency, {rounds} rounds of every listed change per explorer; "
        f"target: median ≤ {TARGET_MEDIAN_MS:.0f} ms at default sizes and ≤ {TARGET_RATIO} × the bare render.",
        "",
        "| explorer | size | updates | median ms | p95 ms | round medians ms | bare render median ms "
        "| median ÷ bare | target met |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for case in build_cases(large=not quick):
        timing = measure(case, rounds)
        median = statistics.median(timing.latencies)
        bare = statistics.median(timing.bare)
        ratio = median / bare
        met = ratio <= TARGET_RATIO and (median <= TARGET_MEDIAN_MS or not case.size.startswith("default"))
        lines.append(
            f"| {case.name} | {case.size} | {len(timing.latencies)} | {median:.1f} | "
            f"{percentile(timing.latencies, 95):.1f} | {spread_text(timing.round_medians)} | {bare:.1f} | "
            f"{ratio:.2f} | {'yes' if met else 'no'} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="default sizes only, 2 rounds")
    parser.add_argument("--rounds", type=int, help="rounds of every change per explorer (default 5, 2 with --quick)")
    arguments = parser.parse_args()
    print(describe_machine())
    print()
    print("\n".join(run(arguments.quick, arguments.rounds)))


if __name__ == "__main__":
    main()
