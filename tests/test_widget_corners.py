"""Drive every explorer through the corners of its controls and check that its summary stays consistent.

Each explorer is moved the way the user interface moves it, by assigning one control's ``value``.
Every slider and number box goes to its minimum and its maximum, every dropdown through each
option and every checkbox both ways. Then all sliders go to their minimum together and to their
maximum together, with every dropdown option and checkbox state. After every move:

- no exception, a PNG image and a non-empty report;
- the text summary (``repr``, which nbval compares) states the current settings and a result that
  an independent computation confirms;
- a second explorer of the same kind that reaches the same settings in one ``set_values`` call,
  without the intermediate states, shows the same summary, report and PNG bytes, so no stale state
  leaks from one setting to the next.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets
import pytest
import torch

import qlesson
from qlesson import (AccumulatorExplorer, FourTermsExplorer, MultiplierExplorer, PaddingExplorer,
                     QuantizationGridExplorer, accumulator_bound, accumulator_bound_figure, border_regions,
                     conv_integer, count_double_rounding_mismatches, double_rounding_figure, error_heatmaps,
                     figure_to_png, find_double_rounding_mismatch, localize, multiply_by_quantized_multiplier,
                     quantization_grid, quantization_grid_figure, quantize_multiplier)
from qlesson.requant_widgets import MULTIPLIER_SEARCH_LIMIT, _search_double_rounding

SLIDERS = (ipywidgets.IntSlider, ipywidgets.FloatSlider, ipywidgets.FloatLogSlider, ipywidgets.BoundedIntText,
           ipywidgets.BoundedFloatText)


def _four_terms_explorer() -> FourTermsExplorer:
    # The shapes and zero-point draw of the lesson "The four terms of an integer convolution".
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (1, 3, 8, 8), generator=generator).to(torch.uint8)
    x_zp = int(torch.randint(1, 256, (), generator=generator))
    w = torch.randint(0, 256, (8, 3, 3, 3), generator=generator).to(torch.uint8)
    w_zp = int(torch.randint(1, 256, (), generator=generator))
    return FourTermsExplorer(x, w, x_zp, w_zp=w_zp, padding=1)


def controls_of(explorer) -> dict[str, ipywidgets.ValueWidget]:
    """Return the explorer's controls by their ``set_values`` name."""
    controls = getattr(explorer, "controls", None)
    return controls if controls is not None else explorer._controls


def slider_extremes(control: ipywidgets.ValueWidget) -> tuple[object, object]:
    """Return the smallest and the largest value a slider or number box accepts."""
    if isinstance(control, ipywidgets.FloatLogSlider):
        return control.base ** control.min, control.base ** control.max
    return control.min, control.max


def slider_middle(control: ipywidgets.ValueWidget) -> object:
    """Return the value halfway along a slider, on its own scale (the exponent for a log slider)."""
    if isinstance(control, ipywidgets.FloatLogSlider):
        return control.base ** ((control.min + control.max) / 2)
    if isinstance(control, (ipywidgets.IntSlider, ipywidgets.BoundedIntText)):
        return (control.min + control.max) // 2
    return (control.min + control.max) / 2


def dropdown_values(control: ipywidgets.Dropdown) -> list[object]:
    """Return every value a dropdown offers; its options are plain values or (label, value) pairs."""
    return [option[1] if isinstance(option, tuple) else option for option in control.options]


def control_values(explorer) -> dict[str, object]:
    return {name: control.value for name, control in controls_of(explorer).items()}


# ----------------------------------------------------------------------------- summaries

def check_padding(explorer: PaddingExplorer) -> None:
    parameters = explorer.parameters
    text = repr(explorer)
    for name in ("x_zero_point", "w_zero_point", "kernel_size", "stride", "dilation", "channel", "depth"):
        line = "  " + localize("explorer.setting", label=localize(f"explorer.{name}"), value=parameters[name])
        assert line in text.splitlines(), f"{line!r} missing from the summary:\n{text}"
    before, after = parameters["padding"]
    assert (after == before) or explorer.controls["asymmetric"].value
    if explorer.error is None:
        assert isinstance(explorer.summary, str) and explorer.summary in text
        assert html.escape(explorer.summary) in explorer.html.value
        return
    error, summary = explorer.error, explorer.summary
    assert summary.total.outputs == error.numel()
    assert summary.total.wrong == int((error != 0).sum())
    assert summary.total.max_abs_error == int(error.abs().max())
    if parameters["method"] != "naive_zero_pad":
        assert summary.total.wrong == 0, "an exact method has wrong outputs"
    assert 0 <= parameters["depth"] <= error.shape[2] - 1
    assert 0 <= parameters["channel"] < error.shape[1]


def check_grid(explorer: QuantizationGridExplorer) -> None:
    values = control_values(explorer)
    text = repr(explorer)
    assert f"r ∈ [{values['r_min']:.2f}, {values['r_max']:.2f}]" in text
    assert values["dtype"] in text
    if values["r_min"] > values["r_max"]:
        assert explorer.grid is None
        assert "r_min > r_max" in text
        assert f"r_min={values['r_min']}" in explorer.report.value
        return
    grid = quantization_grid(values["r_min"], values["r_max"], values["dtype"], symmetric=values["symmetric"],
                             exact_zero=values["exact_zero"])
    assert f"S = {grid.scale:.6g}" in text
    assert explorer.grid == grid
    if values["exact_zero"] or values["symmetric"]:
        assert grid.zero_is_exact, "the exact-zero rules left real 0 off the grid"


def check_four_terms(explorer: FourTermsExplorer) -> None:
    values = control_values(explorer)
    text = repr(explorer)
    assert f"w_zp={values['w_zp']}" in text
    assembled = explorer.assembled
    if assembled is None:
        assert text.endswith(("invalid", "無效"))
        return
    reference = conv_integer(explorer._x, explorer._w, explorer._x_zp, values["w_zp"], stride=values["stride"],
                             padding=values["padding"], dilation=values["dilation"])
    assert torch.equal(assembled.reference, reference)
    wrong = int((assembled.combined != reference).sum())
    assert f"→ {wrong}/{reference.numel()}" in text
    geometry_followed = values["follow_geometry"] or (values["stride"] == 1 and values["dilation"] == 1)
    if values["window_pad"] == "x_zp" and geometry_followed:
        assert wrong == 0, "the four terms with the right window sum are not exact"


def check_accumulator(explorer: AccumulatorExplorer) -> None:
    values = control_values(explorer)
    taps = values["c_in"] * values["kernel_size"] ** values["spatial_axes"]
    x_distance = max(255 - values["x_zero_point"], values["x_zero_point"])
    w_distance = max(127 - values["w_zero_point"], values["w_zero_point"] + 128)
    bound = taps * x_distance * w_distance
    assert bound == accumulator_bound(taps, values["x_zero_point"], values["w_zero_point"])
    text = repr(explorer)
    key = "fits" if bound <= 2**31 - 1 else "wraps"
    assert text == localize(f"requant_widgets.accumulator_repr_{key}", taps=taps, bound=bound, limit=2**31 - 1)
    assert str(bound) in explorer.report.value


def check_multiplier(explorer: MultiplierExplorer) -> None:
    real = explorer.multiplier_slider.value
    m0, shift = quantize_multiplier(float(real))
    text = repr(explorer)
    fields = {"real": f"{real:.6g}", "m0": m0, "shift": shift}
    mismatch = explorer.first_mismatch
    if mismatch is None:
        assert text == localize("requant_widgets.multiplier_repr_none", limit=MULTIPLIER_SEARCH_LIMIT, **fields)
        return
    assert text == localize("requant_widgets.multiplier_repr", acc=mismatch.acc, double=mismatch.double,
                            single=mismatch.single, **fields)
    value = torch.tensor([mismatch.acc])
    double = int(multiply_by_quantized_multiplier(value, m0, shift, rounding="double")[0])
    single = int(multiply_by_quantized_multiplier(value, m0, shift, rounding="single")[0])
    assert (double, single) == (mismatch.double, mismatch.single)
    assert double != single
    # No smaller |acc| differs: the summary names the first one.
    smaller = torch.arange(1, abs(mismatch.acc), dtype=torch.int64)
    candidates = torch.cat([smaller, -smaller])
    assert torch.equal(multiply_by_quantized_multiplier(candidates, m0, shift, rounding="double"),
                       multiply_by_quantized_multiplier(candidates, m0, shift, rounding="single"))


@dataclass(frozen=True)
class Explorer:
    make: Callable[[], ipywidgets.VBox]
    check: Callable[[ipywidgets.VBox], None]
    # A setting that draws a figure other than the default one, when the sliders' middle does not.
    other_setting: dict[str, object] | None = None


EXPLORERS = {
    "PaddingExplorer": Explorer(PaddingExplorer, check_padding),
    "QuantizationGridExplorer": Explorer(lambda: QuantizationGridExplorer(-0.62, 1.9, "uint8"), check_grid),
    "FourTermsExplorer": Explorer(_four_terms_explorer, check_four_terms),
    "AccumulatorExplorer": Explorer(lambda: AccumulatorExplorer(c_in=64, kernel_size=3, spatial_axes=2),
                                    check_accumulator),
    # Rounding twice first differs from rounding once at acc = 1 for M = 0.3, but never for M = 0.01.
    "MultiplierExplorer": Explorer(MultiplierExplorer, check_multiplier, other_setting={"real_multiplier": 0.3}),
}


def report_of(explorer) -> str:
    return (getattr(explorer, "report", None) or explorer.html).value


class Driver:
    """Move one explorer and keep a second one at the same settings by ``set_values``, comparing both."""

    def __init__(self, kind: Explorer):
        self.kind = kind
        self.threads = torch.get_num_threads()
        self.explorer = kind.make()
        self.reference = kind.make()
        self.moves: list[str] = []

    def move(self, name: str, value: object) -> None:
        control = controls_of(self.explorer)[name]
        control.value = value
        self.moves.append(f"{name}={value!r}")
        self.check()

    def set_all(self, values: dict[str, object]) -> None:
        self.explorer.set_values(**values)
        self.moves.append(f"set_values({values})")
        self.check()

    def check(self) -> None:
        explorer, where = self.explorer, f"after {self.moves[-1]}"
        assert torch.get_num_threads() == self.threads, f"torch's thread count changed {where}"
        assert bytes(explorer.image.value).startswith(b"\x89PNG"), where
        assert report_of(explorer).strip(), where
        self.kind.check(explorer)

        self.reference.set_values(**control_values(explorer))
        assert control_values(self.reference) == control_values(explorer), where
        assert repr(self.reference) == repr(explorer), where
        assert report_of(self.reference) == report_of(explorer), where
        assert bytes(self.reference.image.value) == bytes(explorer.image.value), f"images differ {where}"


def test_every_explorer_is_driven():
    exported = {name for name in qlesson.__all__
                if isinstance(getattr(qlesson, name), type) and issubclass(getattr(qlesson, name), ipywidgets.Box)}
    assert exported == set(EXPLORERS)


@pytest.mark.parametrize("name", EXPLORERS)
def test_each_control_at_its_extremes(name):
    driver = Driver(EXPLORERS[name])
    for control_name, control in controls_of(driver.explorer).items():
        if control.disabled:
            continue  # the interface cannot move it; the combined corners below set it
        if isinstance(control, SLIDERS):
            # The depth slider's maximum follows the output, so it is read just before the move.
            values = [slider_extremes(control)[0], None]
        elif isinstance(control, ipywidgets.Dropdown):
            values = dropdown_values(control)
        elif isinstance(control, ipywidgets.Checkbox):
            values = [not control.value, control.value]
        else:
            raise AssertionError(f"{name}.{control_name} is a {type(control).__name__}, which this test does not know")
        # Each control stays where its last move left it, so later controls meet earlier extremes.
        for value in values:
            driver.move(control_name, slider_extremes(control)[1] if value is None else value)


@pytest.mark.parametrize("name", EXPLORERS)
def test_all_sliders_at_once(name):
    driver = Driver(EXPLORERS[name])
    controls = controls_of(driver.explorer)
    choices = {control_name: (dropdown_values(control) if isinstance(control, ipywidgets.Dropdown)
                              else [False, True])
               for control_name, control in controls.items()
               if isinstance(control, (ipywidgets.Dropdown, ipywidgets.Checkbox))}
    sliders = [control_name for control_name, control in controls.items() if isinstance(control, SLIDERS)]
    # Every dropdown option and checkbox state meets both slider ends. Row i takes option i + j of
    # the j-th choice, which mixes the states better than the diagonal and costs far fewer renders
    # than every combination.
    rows = max((len(options) for options in choices.values()), default=1)
    for row in range(rows):
        for end in (0, 1):
            values = {control_name: options[(row + index) % len(options)]
                      for index, (control_name, options) in enumerate(choices.items())}
            # The depth slider's range follows the output, so it moves after the others.
            values |= {control_name: slider_extremes(controls[control_name])[end] for control_name in sliders
                       if control_name != "depth"}
            driver.set_all(values)
            if "depth" in controls:
                driver.move("depth", controls["depth"].max)


@pytest.mark.parametrize("name", EXPLORERS)
def test_corners_summary_in_chinese(name):
    qlesson.set_language("zh-TW")
    driver = Driver(EXPLORERS[name])
    controls = controls_of(driver.explorer)
    for end in (0, 1):
        driver.set_all({control_name: slider_extremes(control)[end] for control_name, control in controls.items()
                        if isinstance(control, SLIDERS) and control_name != "depth"})
        assert any("\u4e00" <= character <= "\u9fff" for character in repr(driver.explorer) + report_of(driver.explorer))


# ----------------------------------------------------------------------------- figure reuse

def new_figure_png(explorer) -> bytes | None:
    """Return the PNG that the explorer's public figure function draws for its settings, or None for a message."""
    values = control_values(explorer)
    if isinstance(explorer, QuantizationGridExplorer):
        grid = explorer.grid
        return None if grid is None else figure_to_png(quantization_grid_figure(
            grid.r_min, grid.r_max, grid.dtype, symmetric=grid.symmetric, exact_zero=grid.exact_zero))
    if isinstance(explorer, AccumulatorExplorer):
        setting = explorer.setting
        return figure_to_png(accumulator_bound_figure(setting.taps, setting.x_zero_point, setting.w_zero_point))
    if isinstance(explorer, MultiplierExplorer):
        mismatch = explorer.first_mismatch
        return None if mismatch is None else figure_to_png(double_rounding_figure(*explorer.fixed_point, mismatch.acc))
    if isinstance(explorer, FourTermsExplorer):
        assembled = explorer.assembled
        if assembled is None:
            return None
        regions = border_regions(tuple(explorer._x.shape[2:]), tuple(explorer._w.shape[2:]), stride=values["stride"],
                                 padding=values["padding"], dilation=values["dilation"])
        return figure_to_png(error_heatmaps(assembled.error[0, 0], regions=regions,
                                            title=localize("lesson_widgets.term_title")))
    parameters = explorer.parameters
    if explorer.error is None:
        return None
    k, depth = parameters["kernel_size"], parameters["depth"]
    regions = border_regions(tuple(explorer.x.shape[2:]), (k, k, k), stride=parameters["stride"],
                             padding=(parameters["padding"],) * 3, dilation=parameters["dilation"])
    return figure_to_png(error_heatmaps(explorer.error[0, parameters["channel"], depth], regions=regions[depth],
                                        legend=False, rank=3))


@pytest.mark.parametrize("name", EXPLORERS)
def test_redrawn_figure_equals_new_figure(name):
    # Explorers redraw into the figure of the previous update; the PNG must not show that.
    kind = EXPLORERS[name]
    explorer = kind.make()
    controls = controls_of(explorer)
    sliders = [control_name for control_name, control in controls.items()
               if isinstance(control, SLIDERS) and control_name != "depth"]
    defaults = control_values(explorer)
    minimum, maximum = ({control_name: slider_extremes(controls[control_name])[end] for control_name in sliders}
                        for end in (0, 1))
    middle = kind.other_setting or {control_name: slider_middle(controls[control_name]) for control_name in sliders}
    # A step in the same language as the step before redraws into that step's figure. A step after
    # a language change starts a new figure. So every explorer redraws into an old figure at least once.
    steps = (("en", maximum), ("zh-TW", middle), ("zh-TW", defaults), ("en", minimum), ("en", middle))
    for language, values in steps:
        qlesson.set_language(language)
        explorer.set_values(**values)
        expected = new_figure_png(explorer)
        if expected is not None:
            assert bytes(explorer.image.value) == expected, f"{language}, {control_values(explorer)}"


@pytest.mark.parametrize("real", [0.0123, 0.3, 0.0013, 0.49, 0.7, 1e-6, 37.0])
def test_multiplier_search_matches_public_functions(real):
    m0, shift = quantize_multiplier(real)
    mismatch, count = _search_double_rounding(m0, shift)

    assert mismatch == find_double_rounding_mismatch(m0, shift, limit=MULTIPLIER_SEARCH_LIMIT)
    assert count == count_double_rounding_mismatches(m0, shift)
