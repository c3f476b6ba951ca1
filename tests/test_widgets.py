"""Tests of qlesson.widgets.PaddingExplorer: every corner of the controls, consistency with
padding_error_map, the text form that nbval compares, and localized labels."""

from __future__ import annotations

import html
import itertools

import ipywidgets
import pytest
import torch

import qlesson
from qlesson import METHODS, PaddingExplorer, RegionSummary, padding_error_map
from qlesson.widgets import _placeholder_png

# (padding, padding_after, kernel_size, stride, dilation); padding_after None is symmetric padding.
GEOMETRY_CORNERS = list(itertools.product((0, 3), (None, 0, 3), (1, 5), (1, 3), (1, 3)))
ZERO_POINT_CORNERS = list(itertools.product((0, 255), (-128, 127)))


@pytest.fixture(scope="module")
def explorer() -> PaddingExplorer:
    return PaddingExplorer()


def geometry_values(padding, padding_after, kernel_size, stride, dilation) -> dict:
    values = {"padding": padding, "kernel_size": kernel_size, "stride": stride, "dilation": dilation}
    if padding_after is None:
        values["asymmetric"] = False
    else:
        values["padding_after"] = padding_after
    return values


def check_consistent(explorer: PaddingExplorer) -> None:
    """Check the explorer's summary, error and output widgets against a direct padding_error_map call."""
    parameters = explorer.parameters
    predict = lambda: padding_error_map(  # noqa: E731
        tuple(explorer.x.shape[2:]), explorer.w, parameters["x_zero_point"], parameters["w_zero_point"],
        stride=parameters["stride"], padding=(parameters["padding"],) * 3, dilation=parameters["dilation"])

    if isinstance(explorer.summary, str):
        with pytest.raises(ValueError) as info:
            predict()
        assert str(info.value) == explorer.summary
        assert explorer.error is None
        assert html.escape(explorer.summary) in explorer.html.value
        assert bytes(explorer.image.value) == _placeholder_png(qlesson.get_language())
        return

    assert isinstance(explorer.summary, RegionSummary)
    predicted = predict()
    error = explorer.error
    assert explorer.controls["depth"].max == error.shape[2] - 1
    assert bytes(explorer.image.value).startswith(b"\x89PNG")
    assert "<pre>" in explorer.html.value
    if parameters["method"] == "naive_zero_pad":
        for item in error:
            assert torch.equal(item, predicted)
        assert explorer.summary.total.wrong == int((predicted != 0).sum()) * error.shape[0]
        assert explorer.summary.total.max_abs_error == int(predicted.abs().max())
    else:
        assert explorer.summary.total.wrong == 0
        assert int(error.abs().max()) == 0


# ------------------------------------------------------------------------------- corners


def test_corners_every_geometry_and_method(explorer):
    # Every geometry corner with every method. The zero-point corner and the channel change with
    # the geometry and are shifted per method, so each method meets every zero-point corner.
    for index, (geometry, method) in enumerate(itertools.product(GEOMETRY_CORNERS, METHODS)):
        geometry_index, method_index = divmod(index, len(METHODS))
        x_zero_point, w_zero_point = ZERO_POINT_CORNERS[(geometry_index + method_index) % len(ZERO_POINT_CORNERS)]
        explorer.set_values(**geometry_values(*geometry), method=method, x_zero_point=x_zero_point,
                            w_zero_point=w_zero_point, channel=geometry_index % 2, depth=0)
        check_consistent(explorer)
        # Only the method with a nonzero error also draws its last depth slice, to keep the test short.
        # test_every_slider_minimum_and_maximum moves every slider, the depth slider included.
        if explorer.error is not None and method == "naive_zero_pad":
            explorer.set_values(depth=explorer.controls["depth"].max)
            check_consistent(explorer)


def test_corners_every_zero_point_and_method(explorer):
    explorer.set_values(padding=1, asymmetric=False, kernel_size=3, stride=1, dilation=1)
    for (x_zero_point, w_zero_point), method in itertools.product(ZERO_POINT_CORNERS, METHODS):
        explorer.set_values(x_zero_point=x_zero_point, w_zero_point=w_zero_point, method=method)
        check_consistent(explorer)


def test_every_slider_minimum_and_maximum(explorer):
    # Move each control the way the user interface does, by assigning its value.
    explorer.set_values(padding=1, asymmetric=True, padding_after=1, kernel_size=3, stride=1, dilation=1)
    for name, control in explorer.controls.items():
        if isinstance(control, ipywidgets.IntSlider):
            for value in (control.min, control.max, control.min):
                control.value = value
                check_consistent(explorer)
    for method in METHODS:
        explorer.controls["method"].value = method
        check_consistent(explorer)
    for asymmetric in (False, True, False):
        explorer.controls["asymmetric"].value = asymmetric
        check_consistent(explorer)


def test_naive_zero_input_zero_point_is_exact(explorer):
    explorer.set_values(x_zero_point=0, w_zero_point=5, method="naive_zero_pad", padding=2, asymmetric=False,
                        kernel_size=3, stride=1, dilation=1)
    assert explorer.summary.total.wrong == 0


def test_naive_wrong_only_at_border(explorer):
    explorer.set_values(x_zero_point=200, w_zero_point=0, method="naive_zero_pad", padding=1, asymmetric=False,
                        kernel_size=3, stride=1, dilation=1)
    summary = explorer.summary
    assert summary.row("interior").outputs > 0
    assert summary.row("interior").wrong == 0
    assert summary.row("corner").wrong == summary.row("corner").outputs


# ------------------------------------------------------------------------------- controls


def test_depth_maximum_follows_output_depth(explorer):
    explorer.set_values(padding=1, asymmetric=False, kernel_size=3, stride=1, dilation=1, depth=3)
    explorer.set_values(stride=3)
    # Output depth (4 + 2 − 3) // 3 + 1 = 2, so the last depth slice is 1.
    assert explorer.controls["depth"].max == 1
    assert explorer.parameters["depth"] == 1


def test_asymmetric_padding_switch(explorer):
    explorer.set_values(padding=1, padding_after=2, kernel_size=3, stride=1, dilation=1)
    assert explorer.parameters["padding"] == (1, 2)
    assert not explorer.controls["padding_after"].disabled
    assert explorer.controls["padding"].description == qlesson.localize("explorer.padding_before",
                                                                        language=explorer._language)
    explorer.set_values(asymmetric=False)
    assert explorer.parameters["padding"] == (1, 1)
    assert explorer.controls["padding_after"].disabled
    assert explorer.controls["padding_after"].value == 1


def test_invalid_setting_shows_message(explorer, language):
    explorer.set_values(padding=0, asymmetric=False, kernel_size=5, stride=1, dilation=1)
    assert isinstance(explorer.summary, str)
    assert "5" in explorer.summary
    assert bytes(explorer.image.value) == _placeholder_png(language)
    check_consistent(explorer)


def test_set_values_rejects_unknown_name(explorer, expect_error):
    expect_error(lambda: explorer.set_values(zero_point=3), TypeError, ["'zero_point'", "x_zero_point"])


def test_set_values_rejects_out_of_range(explorer, expect_error):
    expect_error(lambda: explorer.set_values(x_zero_point=256), ValueError, ["x_zero_point=256", "[0, 255]"])


def test_set_values_rejects_unknown_method(explorer, expect_error):
    expect_error(lambda: explorer.set_values(method="zero_pad"), ValueError, ["'zero_pad'", "skip_taps"])


def test_set_values_rejects_float(explorer, expect_error):
    expect_error(lambda: explorer.set_values(stride=1.0), TypeError, ["stride", "1.0"])


def test_set_values_failure_changes_nothing(explorer):
    explorer.set_values(x_zero_point=10, kernel_size=3)
    before = explorer.parameters
    with pytest.raises(ValueError):
        explorer.set_values(x_zero_point=20, kernel_size=9)
    assert explorer.parameters == before


def test_updates_restore_torch_threads(explorer):
    threads = torch.get_num_threads()
    explorer.set_values(kernel_size=3, padding=1, asymmetric=False, stride=1, dilation=1, x_zero_point=7)
    assert torch.get_num_threads() == threads
    explorer.set_values(kernel_size=5, padding=0)  # no output: the computation returns the message early
    assert torch.get_num_threads() == threads


def test_constructor_rejects_bad_shape(expect_error):
    expect_error(lambda: PaddingExplorer(input_shape=(1, 2, 10, 10)), ValueError, ["(1, 2, 10, 10)", "(N, C_in, D, H, W)"])


# ------------------------------------------------------------------------------- text form


def test_repr_deterministic():
    first, second = PaddingExplorer(), PaddingExplorer()
    assert repr(first) == repr(second)
    first.set_values(x_zero_point=3, padding_after=2)
    second.set_values(x_zero_point=3, padding_after=2)
    assert repr(first) == repr(second)


def test_repr_parameters_and_table():
    explorer = PaddingExplorer()
    text = repr(explorer)
    assert text.splitlines()[:3] == ["Padding explorer", "  input zero point: 128", "  weight zero point: 0"]
    assert text.endswith(str(explorer.summary))
    for fragment in ("0x", "object at", "PNG", "<"):
        assert fragment not in text


def test_repr_localized_zh_tw():
    qlesson.set_language("zh-TW")
    text = repr(PaddingExplorer())
    assert text.splitlines()[:2] == ["填補探索器", "  輸入零點：128"]
    assert "合計" in text


def test_mimebundle_keeps_whole_repr():
    explorer = PaddingExplorer()
    bundle = explorer._repr_mimebundle_()
    assert len(repr(explorer)) > 110
    assert bundle["text/plain"] == repr(explorer)


# ------------------------------------------------------------------------------- labels


def test_labels_localized(language):
    explorer = PaddingExplorer()
    expected = {name: qlesson.localize(f"explorer.{name}") for name in
                ("x_zero_point", "w_zero_point", "padding", "padding_after", "asymmetric", "kernel_size",
                 "stride", "dilation", "method", "depth", "channel")}
    assert {name: control.description for name, control in explorer.controls.items()} == expected
    assert [label for label, _ in explorer.controls["method"].options] == [
        qlesson.localize(f"method.{method}") for method in METHODS]
    assert qlesson.localize("explorer.marks") in explorer.html.value


def test_labels_zh_tw_use_taiwan_terms():
    qlesson.set_language("zh-TW")
    controls = PaddingExplorer().controls
    assert controls["padding"].description == "填補"
    assert controls["stride"].description == "步幅"
    assert controls["dilation"].description == "擴張"
    assert controls["channel"].description == "通道"
    assert controls["depth"].description == "深度切片"
