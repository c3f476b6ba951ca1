"""Tests of qlesson.expansion: each of the four terms against an independent NumPy reference,
their sum against conv_integer, the window sum's padding, and one test per bad input.

The reference pads the raw input with the input zero point and adds one shifted slice per kernel
tap in NumPy int64, sharing no code with qlesson.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from qlesson import FourTerms, conv_integer, four_terms, window_sum

X_DTYPES = (torch.uint8, torch.int8, torch.int16)
W_DTYPES = (torch.uint8, torch.int8)


def _tap_slices(tap, dilation, out_size, stride):
    return tuple(slice(k * d, k * d + (o - 1) * s + 1, s) for k, d, o, s in zip(tap, dilation, out_size, stride))


def reference_terms(x, w, x_zero_point, w_zero_point, *, stride, padding, dilation, groups, pad_value=None):
    """Return (Σ x w, x_zp Σ w, w_zp Σ x, N x_zp w_zp) as int64 ndarrays, shaped like FourTerms.

    ``stride`` and ``dilation`` are one int per spatial axis, ``padding`` one (before, after) pair
    per spatial axis, ``w_zero_point`` one int per output channel. The window sum reads padded
    positions as ``pad_value`` (default: ``x_zero_point``); the product term always reads ``x_zero_point``.
    """
    rank = x.dim() - 2
    pad_value = x_zero_point if pad_value is None else pad_value
    x_raw = x.numpy().astype(np.int64)
    w_raw = w.numpy().astype(np.int64)
    w_zp = np.asarray(w_zero_point, dtype=np.int64)
    x_for_products = np.pad(x_raw, [(0, 0), (0, 0), *padding], constant_values=x_zero_point)
    x_for_sums = np.pad(x_raw, [(0, 0), (0, 0), *padding], constant_values=pad_value)

    batch, in_channels = x.shape[:2]
    out_channels = w.shape[0]
    kernel = tuple(w.shape[2:])
    out_size = [
        (x_for_products.shape[2 + axis] - dilation[axis] * (kernel[axis] - 1) - 1) // stride[axis] + 1
        for axis in range(rank)
    ]
    in_per_group, out_per_group = in_channels // groups, out_channels // groups

    products = np.zeros((batch, out_channels, *out_size), dtype=np.int64)
    sums = np.zeros((batch, out_channels, *out_size), dtype=np.int64)
    for tap in np.ndindex(*kernel):
        slices = (slice(None), slice(None), *_tap_slices(tap, dilation, out_size, stride))
        product_window, sum_window = x_for_products[slices], x_for_sums[slices]
        for group in range(groups):
            inputs = product_window[:, group * in_per_group:(group + 1) * in_per_group]
            outputs = slice(group * out_per_group, (group + 1) * out_per_group)
            products[:, outputs] += np.einsum("nc...,oc->no...", inputs, w_raw[outputs, :, *tap])
            group_sum = sum_window[:, group * in_per_group:(group + 1) * in_per_group].sum(axis=1, keepdims=True)
            sums[:, outputs] += group_sum

    channel_shape = (1, out_channels) + (1,) * rank
    taps = in_per_group * int(np.prod(kernel))
    sum_w = w_raw.reshape(out_channels, -1).sum(axis=1).reshape(channel_shape)
    return (products, x_zero_point * sum_w, w_zp.reshape(channel_shape) * sums,
            taps * x_zero_point * w_zp.reshape(channel_shape))


@st.composite
def convolutions(draw):
    """Draw a small convolution: tensors, zero points and per-axis stride, padding and dilation."""
    rank = draw(st.integers(1, 3))
    groups = draw(st.sampled_from((1, 2)))
    in_channels = groups * draw(st.integers(1, 2))
    out_channels = groups * draw(st.integers(1, 3))
    kernel = [draw(st.integers(1, 3)) for _ in range(rank)]
    dilation = [draw(st.integers(1, 2)) for _ in range(rank)]
    stride = [draw(st.integers(1, 3)) for _ in range(rank)]
    padding = [(draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(rank)]

    size = []
    for axis in range(rank):
        span = dilation[axis] * (kernel[axis] - 1) + 1
        smallest = max(1, span - sum(padding[axis]))
        size.append(draw(st.integers(smallest, smallest + 4)))

    x_dtype = draw(st.sampled_from(X_DTYPES))
    w_dtype = draw(st.sampled_from(W_DTYPES))
    x_low, x_high = torch.iinfo(x_dtype).min, torch.iinfo(x_dtype).max
    w_low, w_high = torch.iinfo(w_dtype).min, torch.iinfo(w_dtype).max

    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    batch = draw(st.integers(1, 2))
    x = torch.randint(x_low, x_high + 1, (batch, in_channels, *size), generator=generator).to(x_dtype)
    w = torch.randint(w_low, w_high + 1, (out_channels, in_channels // groups, *kernel),
                      generator=generator).to(w_dtype)

    x_zero_point = draw(st.integers(x_low, x_high))
    if draw(st.booleans()):
        w_zero_point = torch.randint(w_low, w_high + 1, (out_channels,), generator=generator)
    else:
        w_zero_point = draw(st.integers(w_low, w_high))
    return {"x": x, "w": w, "x_zero_point": x_zero_point, "w_zero_point": w_zero_point,
            "stride": stride, "padding": padding, "dilation": dilation, "groups": groups}


def _per_channel(w_zero_point, out_channels):
    if isinstance(w_zero_point, torch.Tensor):
        return w_zero_point.tolist()
    return [w_zero_point] * out_channels


def _geometry(case):
    return {key: case[key] for key in ("stride", "padding", "dilation", "groups")}


# ------------------------------------------------------------------------------ properties


@settings(max_examples=150)
@given(case=convolutions())
def test_each_term_matches_reference(case):
    terms = four_terms(case["x"], case["w"], case["x_zero_point"], case["w_zero_point"], **_geometry(case))
    expected = reference_terms(case["x"], case["w"], case["x_zero_point"],
                               _per_channel(case["w_zero_point"], case["w"].shape[0]), **_geometry(case))

    for name, actual, expected_term in zip(FourTerms._fields, terms, expected):
        assert actual.dtype == torch.int64, name
        assert tuple(actual.shape) == expected_term.shape, name
        assert np.array_equal(actual.numpy(), expected_term), name


@settings(max_examples=150)
@given(case=convolutions())
def test_total_equals_conv_integer(case):
    terms = four_terms(case["x"], case["w"], case["x_zero_point"], case["w_zero_point"], **_geometry(case))
    exact = conv_integer(case["x"], case["w"], case["x_zero_point"], case["w_zero_point"], **_geometry(case))

    assert torch.equal(terms.total(), exact)


@settings(max_examples=100)
@given(case=convolutions(), pad_value=st.integers(0, 127))
def test_window_sum_matches_reference(case, pad_value):
    x, w = case["x"], case["w"]
    sums = window_sum(x, tuple(w.shape[2:]), pad_value, **_geometry(case))
    expected = reference_terms(x, w, case["x_zero_point"], [1] * w.shape[0], pad_value=pad_value,
                               **_geometry(case))[2]
    groups = case["groups"]
    per_group = w.shape[0] // groups

    assert sums.dtype == torch.int64
    assert tuple(sums.shape) == (x.shape[0], groups, *expected.shape[2:])
    # The reference repeats each group's sum for every output channel of the group.
    assert np.array_equal(sums.repeat_interleave(per_group, dim=1).numpy(), expected)


def test_window_sum_zero_padding_error():
    x = torch.randint(0, 256, (1, 3, 6, 7), generator=torch.Generator().manual_seed(5)).to(torch.uint8)
    ones = torch.ones((1, 3, 6, 7), dtype=torch.uint8)

    right = window_sum(x, 3, 91, padding=1)
    wrong = window_sum(x, 3, 0, padding=1)
    # With an input of ones and pad value 0, a window sum counts the taps inside the input.
    inside = window_sum(ones, 3, 0, padding=1)
    padded_taps = 27 - inside

    assert torch.equal(right - wrong, 91 * padded_taps)
    assert int(padded_taps[0, 0, 0, 0]) == 15
    assert int(padded_taps[0, 0, 3, 3]) == 0


def test_window_sum_follows_stride_and_dilation():
    x = torch.arange(64, dtype=torch.int16).view(1, 1, 8, 8)

    strided = window_sum(x, 1, 0, stride=2)
    dilated = window_sum(x, 3, 0, dilation=2)

    assert torch.equal(strided, x[..., ::2, ::2].to(torch.int64))
    assert tuple(dilated.shape) == (1, 1, 4, 4)
    assert int(dilated[0, 0, 0, 0]) == int(x[0, 0, 0:5:2, 0:5:2].sum())


def test_offline_folds_weight_terms():
    generator = torch.Generator().manual_seed(3)
    x = torch.randint(0, 256, (2, 3, 5, 5), generator=generator).to(torch.uint8)
    w = torch.randint(0, 256, (4, 3, 3, 3), generator=generator).to(torch.uint8)
    w_zero_point = torch.tensor([0, 7, 128, 255])

    terms = four_terms(x, w, 200, w_zero_point, padding=1)
    offline = terms.offline()

    assert tuple(offline.shape) == (1, 4, 1, 1)
    assert torch.equal(offline, terms.n_x_zp_w_zp - terms.x_zp_sum_w)
    assert torch.equal(terms.sum_xw - terms.w_zp_sum_x + offline, conv_integer(x, w, 200, w_zero_point, padding=1))


def test_zero_weight_zero_point_drops_two_terms():
    generator = torch.Generator().manual_seed(4)
    x = torch.randint(0, 256, (1, 2, 5), generator=generator).to(torch.uint8)
    w = torch.randint(-127, 128, (3, 2, 3), generator=generator).to(torch.int8)

    terms = four_terms(x, w, 17, 0, padding=1)

    assert int(terms.w_zp_sum_x.abs().max()) == 0
    assert int(terms.n_x_zp_w_zp.abs().max()) == 0


def test_four_terms_repr_lists_shapes():
    x = torch.zeros((1, 3, 8, 8), dtype=torch.uint8)
    w = torch.zeros((8, 3, 3, 3), dtype=torch.uint8)

    text = repr(four_terms(x, w, 1, 2, padding=1))

    assert text == ("FourTerms(sum_xw: (1, 8, 8, 8), x_zp_sum_w: (1, 8, 1, 1), "
                    "w_zp_sum_x: (1, 8, 8, 8), n_x_zp_w_zp: (1, 8, 1, 1))")


# ------------------------------------------------------------------------------ bad input

X = torch.zeros((1, 2, 5, 5), dtype=torch.uint8)
W = torch.zeros((3, 2, 3, 3), dtype=torch.uint8)


def _terms(x=X, w=W, x_zero_point=0, w_zero_point=0, **geometry):
    return lambda: four_terms(x, w, x_zero_point, w_zero_point, **geometry)


def _sum(x=X, kernel_size=3, pad_value=0, **geometry):
    return lambda: window_sum(x, kernel_size, pad_value, **geometry)


BAD_INPUTS = [
    pytest.param(_terms(x=X.float()), TypeError, {
        "en": ["x must hold quantized integers", "got dtype float32"],
        "zh-TW": ["x 必須是量化後的整數", "收到的資料型別是 float32"]}, id="float-input"),
    pytest.param(_terms(w=[[1]]), TypeError, {
        "en": ["w must be a torch.Tensor, got list"],
        "zh-TW": ["w 必須是 torch.Tensor，收到的是 list"]}, id="list-weights"),
    pytest.param(_terms(w=torch.zeros((3, 2, 3), dtype=torch.uint8)), ValueError, {
        "en": ["x has shape (1, 2, 5, 5) and w has shape (3, 2, 3)"],
        "zh-TW": ["x 的形狀是 (1, 2, 5, 5)、w 的形狀是 (3, 2, 3)"]}, id="rank-mismatch"),
    pytest.param(_terms(x_zero_point=256), ValueError, {
        "en": ["x_zero_point=256 is outside the range of uint8, [0, 255]"],
        "zh-TW": ["x_zero_point=256 超出 uint8 的範圍 [0, 255]"]}, id="x-zero-point-range"),
    pytest.param(_terms(w_zero_point=torch.zeros((3, 1), dtype=torch.int64)), ValueError, {
        "en": ["w_zero_point must be an int or a 1-D tensor, got a tensor of shape (3, 1)"],
        "zh-TW": ["w_zero_point 必須是整數或 1 維張量，收到的張量形狀是 (3, 1)"]}, id="w-zero-point-2d"),
    pytest.param(_terms(w_zero_point=torch.zeros(2, dtype=torch.int64)), ValueError, {
        "en": ["w_zero_point has 2 entries but there are 3 output channels"],
        "zh-TW": ["w_zero_point 有 2 個元素，但輸出通道有 3 個"]}, id="w-zero-point-length"),
    pytest.param(_terms(groups=2), ValueError, {
        "en": ["groups=2 is invalid", "C_out=3"],
        "zh-TW": ["groups=2 無效", "C_out=3"]}, id="groups-not-dividing"),
    pytest.param(_terms(dilation=3), ValueError, {
        "en": ["the dilated kernel spans 7 positions but the padded input has only 5"],
        "zh-TW": ["擴張後的卷積核涵蓋 7 個位置，但填補後的輸入只有 5 個"]}, id="kernel-too-large"),
    pytest.param(_terms(x=torch.full((1, 1, 3), 2**62, dtype=torch.int64), w=torch.full((1, 1, 1), 2, dtype=torch.int8)),
                 ValueError, {
        "en": ["beyond the int64 maximum 9223372036854775807"],
        "zh-TW": ["超過 int64 的最大值 9223372036854775807"]}, id="accumulator-overflow"),
    pytest.param(_sum(kernel_size=(3,)), ValueError, {
        "en": ["kernel_size=(3,) does not match x of shape (1, 2, 5, 5), which has 2 spatial axes"],
        "zh-TW": ["kernel_size=(3,) 與形狀為 (1, 2, 5, 5) 的 x 不符，x 有 2 個空間軸"]}, id="kernel-size-length"),
    pytest.param(_sum(kernel_size=0), ValueError, {
        "en": ["kernel_size=0 must be at least 1"],
        "zh-TW": ["kernel_size=0 在每個空間軸上都必須至少為 1"]}, id="kernel-size-zero"),
    pytest.param(_sum(pad_value=-1), ValueError, {
        "en": ["pad_value=-1 is outside the range of uint8, [0, 255]"],
        "zh-TW": ["pad_value=-1 超出 uint8 的範圍 [0, 255]"]}, id="pad-value-range"),
    pytest.param(_sum(pad_value=1.5), TypeError, {
        "en": ["pad_value must be an integer, got 1.5"],
        "zh-TW": ["pad_value 必須是整數，收到的是 1.5"]}, id="pad-value-float"),
    pytest.param(_sum(groups=0), ValueError, {
        "en": ["groups=0 is invalid"],
        "zh-TW": ["groups=0 無效"]}, id="window-groups-zero"),
    pytest.param(_sum(groups=3), ValueError, {
        "en": ["groups=3 is invalid", "C_in=2"],
        "zh-TW": ["groups=3 無效", "C_in=2"]}, id="window-groups-not-dividing"),
    pytest.param(_sum(x=torch.zeros((1, 2), dtype=torch.uint8)), ValueError, {
        "en": ["x has shape (1, 2): 0 spatial dimension(s)"],
        "zh-TW": ["x 的形狀是 (1, 2)，有 0 個空間維度"]}, id="window-spatial-rank"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])
