"""Tests of qlesson.plots: fonts in both languages, symmetric colour scales, panel layout and PNG output."""

from __future__ import annotations

import logging

import matplotlib
import numpy as np
import pytest
import torch
from matplotlib.font_manager import FontProperties, findfont, fontManager
from matplotlib.figure import Figure

import qlesson
from qlesson import border_regions, conv_integer, padding_error_map, plots


def seeded_case(depth=4, size=10, kernel=3, padding=1, x_zero_point=128):
    """Return x (1, 2, D, S, S) uint8, w (2, 2, k, k, k) int8, the predicted error map and the regions."""
    generator = torch.Generator().manual_seed(7)
    x = torch.randint(0, 256, (1, 2, depth, size, size), generator=generator, dtype=torch.uint8)
    w = torch.randint(-128, 128, (2, 2, kernel, kernel, kernel), generator=generator, dtype=torch.int8)
    predicted = padding_error_map((depth, size, size), w, x_zero_point, padding=padding)
    regions = border_regions((depth, size, size), (kernel,) * 3, padding=padding)
    return x, w, predicted, regions


def panels(figure: Figure):
    """Return the visible axes that draw a heatmap, in the order they were added."""
    return [axes for axes in figure.axes if axes.images and axes.get_visible()]


def every_text(figure: Figure) -> list[str]:
    """Return every non-empty text of the figure, tick labels included, after drawing it."""
    plots.figure_to_png(figure)  # tick labels exist only once the figure is drawn
    texts = [text.get_text() for text in figure.findobj(matplotlib.text.Text)]
    return [text for text in texts if text]


def all_figures():
    """Build one figure of every kind, in the active language."""
    x, w, predicted, regions = seeded_case()
    observed = (conv_integer(x, w, 128, padding=1, method="naive_zero_pad")
                - conv_integer(x, w, 128, padding=1, method="zero_point_pad"))
    photo = torch.linspace(-1, 1, 24 * 32, dtype=torch.float64).reshape(24, 32)
    naive = photo.clone()
    naive[0, :] += 2.0
    return {
        "heatmaps_3d": plots.error_heatmaps(predicted[0], title="3-D\nsecond line", regions=regions),
        "heatmaps_2d": plots.error_heatmaps(predicted[0, 1], regions=regions[1], rank=3),
        "heatmaps_1d": plots.error_heatmaps(predicted[0, 0, 0], regions=regions[0, 0], rank=3),
        "compare": plots.compare_error_maps(predicted, observed, channel=1, regions=regions),
        "photo": plots.image_comparison(photo, naive, photo, unit="u", title="photo"),
        "placeholder": plots.placeholder_figure(qlesson.localize("plots.observed")),
    }


# ------------------------------------------------------------------------------- fonts


def test_font_registered_with_font_manager():
    names = {entry.name for entry in fontManager.ttflist}
    assert "Noto Sans TC" in names


def test_import_leaves_rcparams_unchanged():
    assert "Noto Sans TC" not in matplotlib.rcParams["font.family"]
    assert "Noto Sans TC" not in matplotlib.rcParams["font.sans-serif"]


def test_figures_leave_rcparams_unchanged(language):
    before = dict(matplotlib.rcParams)
    for figure in all_figures().values():
        plots.figure_to_png(figure)
    assert dict(matplotlib.rcParams) == before


def test_figures_render_without_font_messages(language, caplog):
    # pytest turns a missing-glyph warning into an error; findfont complaints only reach the log.
    with caplog.at_level(logging.INFO, logger="matplotlib.font_manager"):
        for figure in all_figures().values():
            assert plots.figure_to_png(figure).startswith(b"\x89PNG")
    messages = [record.getMessage() for record in caplog.records if record.name.startswith("matplotlib")]
    assert not [message for message in messages if "findfont" in message], messages


def test_zh_tw_text_uses_noto_sans_tc():
    qlesson.set_language("zh-TW")
    figure = plots.error_heatmaps(seeded_case()[2][0])
    titles = [axes.get_title() for axes in panels(figure)]
    assert titles == ["深度 0", "深度 1", "深度 2", "深度 3"]
    title = panels(figure)[0].title
    assert title.get_fontfamily()[0] == "Noto Sans TC"
    assert findfont(FontProperties(family=title.get_fontfamily())).endswith("NotoSansTC-Regular.otf")


def test_english_text_uses_dejavu_sans():
    qlesson.set_language("en")
    figure = plots.error_heatmaps(seeded_case()[2][0])
    assert [axes.get_title() for axes in panels(figure)] == ["depth 0", "depth 1", "depth 2", "depth 3"]
    assert panels(figure)[0].title.get_fontfamily()[0] == "DejaVu Sans"


def test_tick_labels_keep_language_font():
    qlesson.set_language("zh-TW")
    figure = plots.error_heatmaps(seeded_case()[2][0, 0])
    plots.figure_to_png(figure)  # tick labels are created when the figure is drawn
    label = panels(figure)[0].xaxis.get_major_ticks()[0].label1
    assert label.get_fontfamily()[0] == "Noto Sans TC"


def test_labels_localized(language):
    predicted = seeded_case()[2]
    texts = every_text(plots.compare_error_maps(predicted, predicted))
    expected = {"en": ["predicted", "observed", "column w", "row h", "error (accumulator units)"],
                "zh-TW": ["預\n測", "觀\n測", "欄 w", "列 h", "誤差（累加器單位）"]}[language]
    for text in expected:
        assert text in texts


# ------------------------------------------------------------------------------- error heatmaps


def test_heatmaps_one_panel_per_depth_slice():
    for depth in (1, 3, 4, 7, 11):
        error = torch.arange(depth * 5 * 6).reshape(depth, 5, 6) - 40
        assert len(panels(plots.error_heatmaps(error))) == depth


def test_heatmaps_wrap_rows_after_max_columns():
    figure = plots.error_heatmaps(torch.zeros(7, 4, 4, dtype=torch.int64))
    rows = sorted({round(axes.get_position().y0, 6) for axes in panels(figure)})
    assert len(rows) == 2
    assert len(panels(figure)) == 7


def test_heatmaps_colour_scale_symmetric():
    error = torch.tensor([[[-3, 10], [0, 1]], [[2, 2], [0, -7]]])
    figure = plots.error_heatmaps(error)
    for axes in panels(figure):
        norm = axes.images[0].norm
        assert norm.vmin == -10
        assert norm.vmax == 10
    assert panels(figure)[0].images[0].get_cmap().name == plots.ERROR_CMAP


def test_heatmaps_all_zero_scale_is_unit():
    norm = panels(plots.error_heatmaps(torch.zeros(3, 3, dtype=torch.int64)))[0].images[0].norm
    assert (norm.vmin, norm.vmax) == (-1, 1)


def test_heatmaps_two_dimensional_is_one_panel():
    figure = plots.error_heatmaps(torch.ones(5, 8, dtype=torch.int64))
    assert len(panels(figure)) == 1
    assert panels(figure)[0].images[0].get_array().shape == (5, 8)


def test_heatmaps_one_dimensional_is_one_row():
    figure = plots.error_heatmaps(np.array([3, 0, 0, -3]))
    assert len(panels(figure)) == 1
    assert panels(figure)[0].images[0].get_array().shape == (1, 4)


def test_heatmaps_panel_size_constant():
    for error in (torch.zeros(4, 10, 10), torch.zeros(1, 6, 6), torch.zeros(10, 10)):
        figure = plots.error_heatmaps(error)
        for axes in panels(figure):
            width, height = axes.get_position().size * figure.get_size_inches()
            assert width == pytest.approx(plots.PANEL_INCHES)
            assert height == pytest.approx(plots.PANEL_INCHES)


def test_heatmaps_region_marks_and_legend(language):
    _, _, predicted, regions = seeded_case()
    figure = plots.error_heatmaps(predicted[0], regions=regions)
    legend_texts = [text.get_text() for text in figure.legends[0].get_texts()]
    names = [qlesson.localize(f"region.{name}") for name in ("face", "edge", "corner")]
    assert legend_texts == [qlesson.localize("plots.region_boundary"), *names]
    # Depth 0 of a 3-D output with padding 1: 64 face cells, 32 edge cells and 4 corner cells.
    marks = [line for line in panels(figure)[0].lines]
    assert sorted(len(line.get_xdata()) for line in marks) == [4, 32, 64]


def test_heatmaps_no_legend_when_asked():
    _, _, predicted, regions = seeded_case()
    assert not plots.error_heatmaps(predicted[0, 0], regions=regions[0], rank=3, legend=False).legends


def test_heatmaps_no_pyplot_figures():
    import matplotlib.pyplot as pyplot

    all_figures()
    assert pyplot.get_fignums() == []


def test_heatmaps_reject_four_axes(expect_error):
    expect_error(lambda: plots.error_heatmaps(torch.zeros(2, 3, 4, 5)), ValueError,
                 ["(2, 3, 4, 5)", "error_heatmaps", "(D, H, W)"])


def test_heatmaps_reject_regions_of_other_shape(expect_error):
    expect_error(lambda: plots.error_heatmaps(torch.zeros(3, 4), regions=torch.zeros(4, 3, dtype=torch.int64)),
                 ValueError, ["(4, 3)", "(3, 4)"])


def test_heatmaps_reject_regions_above_rank(expect_error):
    expect_error(lambda: plots.error_heatmaps(torch.zeros(3, 4), regions=torch.full((3, 4), 3)),
                 ValueError, ["0 to 2", "rank=3"])


def test_heatmaps_reject_list_input(expect_error):
    expect_error(lambda: plots.error_heatmaps([[1, 2]]), TypeError, ["error", "list"])


# ------------------------------------------------------------------------------- refresh


def test_refresh_updates_values_and_scale():
    figure = plots.error_heatmaps(torch.tensor([[1, -2], [0, 0]]))
    assert plots.refresh_error_heatmaps(figure, torch.tensor([[5, 0], [0, -1]]))
    image = panels(figure)[0].images[0]
    assert image.get_array().tolist() == [[5, 0], [0, -1]]
    assert (image.norm.vmin, image.norm.vmax) == (-5, 5)


def test_refresh_rejects_other_shape():
    figure = plots.error_heatmaps(torch.zeros(2, 2))
    assert not plots.refresh_error_heatmaps(figure, torch.zeros(3, 2))
    assert not plots.refresh_error_heatmaps(plots.placeholder_figure("x"), torch.zeros(2, 2))


# ------------------------------------------------------------------------------- compare


def test_compare_rows_predicted_and_observed():
    x, w, predicted, regions = seeded_case()
    observed = (conv_integer(x, w, 128, padding=1, method="naive_zero_pad")
                - conv_integer(x, w, 128, padding=1, method="skip_taps"))
    figure = plots.compare_error_maps(predicted, observed, channel=1, regions=regions)
    assert len(panels(figure)) == 2 * 4
    assert figure.get_suptitle().splitlines() == ["Predicted and observed error, channel 1",
                                                  "0 of 400 positions differ"]
    norms = {(axes.images[0].norm.vmin, axes.images[0].norm.vmax) for axes in panels(figure)}
    assert len(norms) == 1
    low, high = norms.pop()
    assert low == -high == -int(predicted[1].abs().max())


def test_compare_counts_mismatches(language):
    _, _, predicted, _ = seeded_case()
    observed = predicted.clone()
    observed[0, 2, 3, 4] += 1
    observed[0, 0, 0, 0] -= 5
    figure = plots.compare_error_maps(predicted, observed)
    expected = {"en": "2 of 400 positions differ", "zh-TW": "400 個位置中有 2 個不同"}[language]
    assert figure.get_suptitle().splitlines()[1] == expected


def test_compare_two_dimensional_has_two_panels():
    predicted = torch.tensor([[[1, 0], [0, 2]]])
    figure = plots.compare_error_maps(predicted, predicted.unsqueeze(0))
    assert len(panels(figure)) == 2


def test_compare_rejects_shape_mismatch(expect_error):
    expect_error(lambda: plots.compare_error_maps(torch.zeros(2, 3, 3), torch.zeros(2, 3, 4)),
                 ValueError, ["(2, 3, 4)", "(2, 3, 3)"])


def test_compare_rejects_bad_channel(expect_error):
    expect_error(lambda: plots.compare_error_maps(torch.zeros(2, 3, 3), torch.zeros(2, 3, 3), channel=2),
                 ValueError, ["channel=2", "0 to 1"])


# ------------------------------------------------------------------------------- photo comparison


def test_photo_four_panels_with_titles(language):
    image = torch.rand(1, 1, 12, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    naive = image.clone()
    naive[..., :, 0] -= 3
    figure = plots.image_comparison(image, naive, image)
    titles = [axes.get_title() for axes in panels(figure)]
    keys = ("float_result", "naive_result", "fixed_result", "naive_minus_fixed")
    assert titles == [qlesson.localize(f"plots.{key}") for key in keys]
    error_norm = panels(figure)[3].images[0].norm
    assert error_norm.vmin == -error_norm.vmax == -3


def test_photo_error_against_float():
    real = torch.zeros(4, 4)
    fixed = torch.full((4, 4), 0.5)
    figure = plots.image_comparison(real, fixed, fixed, error_against="float")
    assert panels(figure)[3].images[0].get_array().max() == 0.5


def test_photo_rejects_shape_mismatch(expect_error):
    expect_error(lambda: plots.image_comparison(torch.zeros(4, 4), torch.zeros(4, 5), torch.zeros(4, 4)),
                 ValueError, ["naive", "(4, 5)", "(4, 4)"])


def test_photo_rejects_unknown_error_against(expect_error):
    expect_error(lambda: plots.image_comparison(torch.zeros(2, 2), torch.zeros(2, 2), torch.zeros(2, 2),
                                                error_against="exact"),
                 ValueError, ["'exact'", "'fixed'", "'float'"])


# ------------------------------------------------------------------------------- PNG


def test_png_deterministic():
    figure = plots.error_heatmaps(seeded_case()[2][0], regions=seeded_case()[3])
    first = plots.figure_to_png(figure)
    assert first == plots.figure_to_png(figure)
    assert first.startswith(b"\x89PNG")


def test_png_same_for_rebuilt_figure(language):
    first = plots.figure_to_png(all_figures()["compare"])
    second = plots.figure_to_png(all_figures()["compare"])
    assert first == second


def test_png_has_no_software_entry():
    assert b"Software" not in plots.figure_to_png(plots.placeholder_figure("x"))
