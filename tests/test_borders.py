"""Tests of qlesson.borders: region maps checked by hand and by a brute-force count, and the summary table."""

from __future__ import annotations

import itertools

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import qlesson
from qlesson import REGIONS, border_regions, padding_error_map, region_name, summarize_regions


def brute_force_regions(input_size, kernel_size, stride, padding, dilation):
    """Count, for each output position, the axes on which some tap index lies outside [0, size)."""
    out_size = [
        (size + before + after - d * (k - 1) - 1) // s + 1
        for size, k, s, (before, after), d in zip(input_size, kernel_size, stride, padding, dilation)
    ]
    counts = torch.zeros(out_size, dtype=torch.int64)
    for position in itertools.product(*(range(o) for o in out_size)):
        touching = 0
        for axis, o in enumerate(position):
            first = o * stride[axis] - padding[axis][0]
            taps = [first + k * dilation[axis] for k in range(kernel_size[axis])]
            touching += any(tap < 0 or tap >= input_size[axis] for tap in taps)
        counts[position] = touching
    return counts


def region_counts(regions):
    """Return how many output positions each region name has."""
    rank = regions.dim()
    return {region_name(touching, rank): int((regions == touching).sum())
            for touching in range(rank + 1) if bool((regions == touching).any())}


# ---------------------------------------------------------------------------------------------
# Hand-checked region maps


def test_border_regions_1d_ends_are_corners():
    regions = border_regions((5,), (3,), padding=1)

    assert regions.tolist() == [1, 0, 0, 0, 1]
    assert region_counts(regions) == {"interior": 3, "corner": 2}


def test_border_regions_1d_stride():
    # Windows start at −1, 1 and 3: the first reaches index −1 and the last index 5.
    regions = border_regions((5,), (3,), stride=2, padding=1)

    assert regions.tolist() == [1, 0, 1]


def test_border_regions_1d_asymmetric_padding():
    # Padding only after: windows [0..2], [1..3] stay inside, [2..4] and [3..5] reach past index 3.
    regions = border_regions((4,), (3,), padding=((0, 2),))

    assert regions.tolist() == [0, 0, 1, 1]


def test_border_regions_stride_steps_over_padding():
    # Outputs read indices 0 and 3 only; the two padded positions 4 and 5 are never visited.
    regions = border_regions((4,), (1,), stride=3, padding=((0, 2),))

    assert regions.tolist() == [0, 0]


def test_border_regions_dilation_steps_over_input():
    # Taps at −1 and 1 around a single input value: both land in the padding.
    regions = border_regions((1,), (2,), padding=1, dilation=2)

    assert regions.tolist() == [1]


def test_border_regions_dilation_reaches_far_padding():
    # Taps o − 1 and o + 2: o = 0 reaches −1, o = 3 reaches 5, the middle two stay inside.
    regions = border_regions((5,), (2,), padding=1, dilation=3)

    assert regions.tolist() == [1, 0, 0, 1]


def test_border_regions_2d_square():
    regions = border_regions((4, 4), (3, 3), padding=1)

    assert regions.tolist() == [[2, 1, 1, 2], [1, 0, 0, 1], [1, 0, 0, 1], [2, 1, 1, 2]]
    assert region_counts(regions) == {"interior": 4, "edge": 8, "corner": 4}


def test_border_regions_2d_asymmetric():
    # Rows: only the last window reaches the padding after. Columns: both ends reach it.
    regions = border_regions((3, 5), (2, 3), padding=((0, 1), (1, 1)))

    assert regions.tolist() == [[1, 0, 0, 0, 1], [1, 0, 0, 0, 1], [2, 1, 1, 1, 2]]
    assert region_counts(regions) == {"interior": 6, "edge": 7, "corner": 2}


def test_border_regions_2d_stride_and_dilation():
    # Rows: taps 2o − 1 and 2o + 1 over height 6, so o = 0 reaches −1 and o = 3 reaches 7.
    # Columns: taps 2o − 2, 2o and 2o + 2 over width 5, so only o = 0 reaches the padding.
    regions = border_regions((6, 5), (2, 3), stride=(2, 2), padding=((1, 2), (2, 0)), dilation=(2, 2))

    assert regions.tolist() == [[2, 1], [1, 0], [1, 0], [2, 1]]


def test_border_regions_3d_cube():
    regions = border_regions((3, 3, 3), (3, 3, 3), padding=1)

    assert regions[1, 1, 1] == 0
    assert regions[0, 1, 1] == 1
    assert regions[0, 0, 1] == 2
    assert regions[0, 0, 0] == 3
    assert region_counts(regions) == {"interior": 1, "face": 6, "edge": 12, "corner": 8}


def test_border_regions_3d_no_padding_all_interior():
    regions = border_regions((4, 3, 5), (2, 2, 2))

    assert regions.shape == (3, 2, 4)
    assert region_counts(regions) == {"interior": 24}


@settings(max_examples=200)
@given(data=st.data())
def test_border_regions_match_brute_force(data):
    rank = data.draw(st.integers(1, 3))
    kernel, stride, dilation, padding, size = [], [], [], [], []
    for _ in range(rank):
        k, d = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 3))
        before, after = data.draw(st.integers(0, 4)), data.draw(st.integers(0, 4))
        smallest = max(1, d * (k - 1) + 1 - before - after)
        kernel.append(k)
        dilation.append(d)
        stride.append(data.draw(st.integers(1, 3)))
        padding.append((before, after))
        size.append(data.draw(st.integers(smallest, smallest + 5)))

    regions = border_regions(tuple(size), tuple(kernel), stride=tuple(stride), padding=tuple(padding),
                             dilation=tuple(dilation))

    assert torch.equal(regions, brute_force_regions(size, kernel, stride, padding, dilation))


@settings(max_examples=100)
@given(data=st.data())
def test_padding_error_is_zero_exactly_in_interior(data):
    # With every centered weight positive, a position has an error exactly when a tap is padded.
    rank = data.draw(st.integers(1, 3))
    kernel = tuple(data.draw(st.integers(1, 3)) for _ in range(rank))
    size = tuple(data.draw(st.integers(k, k + 4)) for k in kernel)
    padding = tuple((data.draw(st.integers(0, 2)), data.draw(st.integers(0, 2))) for _ in range(rank))
    stride = tuple(data.draw(st.integers(1, 2)) for _ in range(rank))
    w = torch.full((1, 1, *kernel), 7, dtype=torch.int8)

    error = padding_error_map(size, w, 9, 2, stride=stride, padding=padding)
    regions = border_regions(size, kernel, stride=stride, padding=padding)

    assert torch.equal(error[0] != 0, regions > 0)


# ---------------------------------------------------------------------------------------------
# Region names


@pytest.mark.parametrize(("touching", "rank", "name"), [
    (0, 1, "interior"), (1, 1, "corner"),
    (0, 2, "interior"), (1, 2, "edge"), (2, 2, "corner"),
    (0, 3, "interior"), (1, 3, "face"), (2, 3, "edge"), (3, 3, "corner"),
])
def test_region_name(touching, rank, name):
    assert region_name(touching, rank) == name


def test_region_names_are_localized():
    names = {"en": [], "zh-TW": []}
    for language in names:
        names[language] = [qlesson.localize(f"region.{region}", language=language) for region in REGIONS]

    assert names["en"] == ["interior", "face", "edge", "corner"]
    assert names["zh-TW"] == ["內部", "面", "邊", "角"]


# ---------------------------------------------------------------------------------------------
# Summaries


def _square_summary():
    # All-ones 3×3 weights and x_zp = 5: each padded tap adds −5. A corner has 5 padded taps,
    # an edge 3 and the interior none.
    w = torch.ones((2, 1, 3, 3), dtype=torch.int8)
    error = padding_error_map((4, 4), w, 5, padding=1)
    return summarize_regions(error, border_regions((4, 4), (3, 3), padding=1))


def test_summarize_regions_counts_per_channel():
    summary = _square_summary()

    assert summary.row("interior") == qlesson.RegionRow("interior", 8, 0, 0)
    assert summary.row("edge") == qlesson.RegionRow("edge", 16, 16, 15)
    assert summary.row("corner") == qlesson.RegionRow("corner", 8, 8, 25)
    assert summary.total == qlesson.RegionRow("total", 32, 24, 25)
    assert summary.row("total") == summary.total


def test_summarize_regions_missing_region_is_empty_row():
    summary = _square_summary()

    assert summary.row("face") == qlesson.RegionRow("face", 0, 0, 0)
    assert [row.region for row in summary.rows] == ["interior", "edge", "corner"]


def test_summarize_regions_counts_batch_and_zero_errors():
    # Padded tap 0 of o = 0 has weight 2 = w_zp, so its error is 0; tap 2 of o = 4 has 9 − 2 = 7.
    x = torch.tensor([[[3, 4, 5, 6, 7]], [[9, 9, 9, 9, 9]]], dtype=torch.uint8)
    w = torch.tensor([[[2, 4, 9]]], dtype=torch.uint8)
    naive = qlesson.conv_integer(x, w, 3, 2, padding=1, method="naive_zero_pad")
    exact = qlesson.conv_integer(x, w, 3, 2, padding=1)

    summary = summarize_regions(naive - exact, border_regions((5,), (3,), padding=1))

    assert summary.row("interior") == qlesson.RegionRow("interior", 6, 0, 0)
    assert summary.row("corner") == qlesson.RegionRow("corner", 4, 2, 21)
    assert summary.total == qlesson.RegionRow("total", 10, 2, 21)


def test_summary_table_english():
    qlesson.set_language("en")

    assert str(_square_summary()) == "\n".join([
        "region    outputs  wrong  max |error|",
        "--------  -------  -----  -----------",
        "interior        8      0            0",
        "edge           16     16           15",
        "corner          8      8           25",
        "--------  -------  -----  -----------",
        "total          32     24           25",
    ])


def test_summary_table_traditional_chinese():
    # Each Chinese character is two columns wide, so 區域 fills the four-dash column.
    qlesson.set_language("zh-TW")

    assert str(_square_summary()) == "\n".join([
        "區域  輸出數  錯誤數  最大絕對誤差",
        "----  ------  ------  ------------",
        "內部       8       0             0",
        "邊        16      16            15",
        "角         8       8            25",
        "----  ------  ------  ------------",
        "合計      32      24            25",
    ])


def test_summary_repr_is_table():
    summary = _square_summary()

    assert repr(summary) == str(summary)


# ---------------------------------------------------------------------------------------------
# Bad input, message checked in both languages

BAD_INPUTS = [
    pytest.param(lambda: border_regions((5,), 3), ValueError, {
        "en": ["kernel_size=3 must be 1, 2 or 3 positive ints", "for example (3, 3)"],
        "zh-TW": ["kernel_size=3 必須是 1、2 或 3 個正整數", "例如 (3, 3)"]}, id="kernel-size-int"),
    pytest.param(lambda: border_regions((5,), (0,)), ValueError, {
        "en": ["kernel_size=(0,) must be 1, 2 or 3 positive ints"],
        "zh-TW": ["kernel_size=(0,) 必須是 1、2 或 3 個正整數"]}, id="kernel-size-zero"),
    pytest.param(lambda: border_regions((5, 5, 5, 5), (3, 3, 3, 3)), ValueError, {
        "en": ["kernel_size=(3, 3, 3, 3) must be 1, 2 or 3 positive ints"],
        "zh-TW": ["kernel_size=(3, 3, 3, 3) 必須是 1、2 或 3 個正整數"]}, id="kernel-size-rank-4"),
    pytest.param(lambda: border_regions((5, 5), (3,)), ValueError, {
        "en": ["input_size=(5, 5) must be 1 positive ints"],
        "zh-TW": ["input_size=(5, 5) 必須是 1 個正整數"]}, id="input-size-rank-mismatch"),
    pytest.param(lambda: border_regions(5, (3,)), ValueError, {
        "en": ["input_size=5 must be 1 positive ints"],
        "zh-TW": ["input_size=5 必須是 1 個正整數"]}, id="input-size-int"),
    pytest.param(lambda: border_regions((-2,), (1,), padding=3), ValueError, {
        "en": ["input_size=(-2,) must be 1 positive ints"],
        "zh-TW": ["input_size=(-2,) 必須是 1 個正整數"]}, id="input-size-negative"),
    pytest.param(lambda: border_regions((5.0,), (3,)), ValueError, {
        "en": ["input_size=(5.0,) must be 1 positive ints"],
        "zh-TW": ["input_size=(5.0,) 必須是 1 個正整數"]}, id="input-size-float"),
    pytest.param(lambda: border_regions((2,), (3,)), ValueError, {
        "en": ["the dilated kernel spans 3 positions but the padded input has only 2"],
        "zh-TW": ["擴張後的卷積核涵蓋 3 個位置，但填補後的輸入只有 2 個"]}, id="kernel-larger-than-input"),
    pytest.param(lambda: border_regions((5,), (3,), stride=0), ValueError, {
        "en": ["stride=0 must be at least 1"],
        "zh-TW": ["stride=0 在每個空間軸上都必須至少為 1"]}, id="stride-zero"),
    pytest.param(lambda: border_regions((5,), (3,), padding=-1), ValueError, {
        "en": ["padding=-1 contains a negative amount"],
        "zh-TW": ["padding=-1 含有負數"]}, id="negative-padding"),
    pytest.param(lambda: summarize_regions(torch.zeros((2, 3), dtype=torch.int64), torch.zeros(4, dtype=torch.int64)),
                 ValueError, {
        "en": ["error has shape (2, 3) but the region map has shape (4,)", "Build both from the same convolution"],
        "zh-TW": ["error 的形狀是 (2, 3)，區域圖的形狀是 (4,)", "請用同一個卷積產生兩者"]}, id="summary-shape-mismatch"),
    pytest.param(lambda: summarize_regions(torch.zeros(3), torch.zeros(3, dtype=torch.int64)), TypeError, {
        "en": ["error must hold quantized integers", "float32"],
        "zh-TW": ["error 必須是量化後的整數", "float32"]}, id="summary-float-error"),
    pytest.param(lambda: summarize_regions(torch.zeros(3, dtype=torch.int64), [0, 0, 0]), TypeError, {
        "en": ["regions must be a torch.Tensor, got list"],
        "zh-TW": ["regions 必須是 torch.Tensor，收到的是 list"]}, id="summary-regions-not-tensor"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])
