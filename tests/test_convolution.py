"""Tests of qlesson.convolution against an independent int64 reference.

The reference centers both operands, pads the centered input with real 0 and adds one shifted
product per kernel tap in NumPy int64 (exact integer arithmetic, no BLAS). It shares no code
with qlesson.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import qlesson
from qlesson import conv_integer, padding_error_map
from qlesson.convolution import METHODS, accumulation_dtype, conv_geometry

EXACT_METHODS = ("zero_point_pad", "border_correction", "skip_taps")
X_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32)
W_DTYPES = (torch.int8, torch.uint8)


@pytest.fixture(scope="module", autouse=True)
def default_thread_count():
    """Run this module's tiny convolutions on one thread, and return the default thread count.

    Thread start-up costs more than these convolutions: on a loaded 2-core machine a 2-thread
    float64 conv1d of shape (3, 6, 12) took about 10 ms, against 0.1 ms on one thread.
    """
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield saved
    torch.set_num_threads(saved)


def reference_accumulator(x, w, x_zero_point, w_zero_point, *, stride, padding, dilation, groups):
    """Return Σ (x − x_zp)(w − w_zp) with the centered input padded by 0, as an int64 ndarray.

    ``stride`` and ``dilation`` are one int per spatial axis, ``padding`` one (before, after)
    pair per spatial axis and ``w_zero_point`` one int per output channel.
    """
    rank = x.dim() - 2
    x_centered = x.numpy().astype(np.int64) - np.int64(x_zero_point)
    w_zp = np.asarray(w_zero_point, dtype=np.int64).reshape(-1, *([1] * (rank + 1)))
    w_centered = w.numpy().astype(np.int64) - w_zp
    x_padded = np.pad(x_centered, [(0, 0), (0, 0), *padding], constant_values=0)

    batch, in_channels = x.shape[:2]
    out_channels = w.shape[0]
    kernel = tuple(w.shape[2:])
    out_size = [
        (x_padded.shape[2 + axis] - dilation[axis] * (kernel[axis] - 1) - 1) // stride[axis] + 1
        for axis in range(rank)
    ]
    in_per_group = in_channels // groups
    out_per_group = out_channels // groups

    acc = np.zeros((batch, out_channels, *out_size), dtype=np.int64)
    for tap in np.ndindex(*kernel):
        # The input values that this tap multiplies, for every output position at once.
        window = x_padded[(slice(None), slice(None), *(
            slice(k * d, k * d + (o - 1) * s + 1, s)
            for k, d, o, s in zip(tap, dilation, out_size, stride)))]
        for group in range(groups):
            inputs = window[:, group * in_per_group:(group + 1) * in_per_group]
            weights = w_centered[group * out_per_group:(group + 1) * out_per_group, :, *tap]
            acc[:, group * out_per_group:(group + 1) * out_per_group] += np.einsum(
                "nc...,oc->no...", inputs, weights)
    return acc


def _random_values(rng, shape, dtype, zero_point, spread):
    """Draw integers of ``dtype`` all over its range, near ``zero_point``, or at its two ends."""
    info = torch.iinfo(dtype)
    if spread == "full":
        values = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=np.int64)
    elif spread == "near":
        values = np.clip(zero_point + rng.integers(-3, 3, size=shape, endpoint=True), info.min, info.max)
    else:
        values = rng.choice(np.array([info.min, info.max], dtype=np.int64), size=shape)
    return torch.from_numpy(values.astype(np.int64)).to(dtype)


def _relayout(tensor, layout):
    """Return a tensor equal to ``tensor`` but with a contiguous, permuted-dense or strided layout."""
    if layout == "permuted":
        # Same values, stored with the channel axis last, as channels_last does.
        order = (0, *range(2, tensor.dim()), 1)
        inverse = (0, tensor.dim() - 1, *range(1, tensor.dim() - 1))
        return tensor.permute(order).contiguous().permute(inverse)
    if layout == "strided":
        doubled = torch.zeros((*tensor.shape[:-1], 2 * tensor.shape[-1]), dtype=tensor.dtype)
        doubled[..., ::2] = tensor
        return doubled[..., ::2]
    return tensor


@st.composite
def conv_cases(draw, rank):
    """Draw one convolution: operands, zero points and hyperparameters, with the padding as pairs."""
    if draw(st.booleans()):  # depthwise: one input channel per group
        groups = draw(st.integers(1, 4))
        in_per_group, out_per_group = 1, draw(st.integers(1, 2))
    else:
        groups = draw(st.integers(1, 3))
        in_per_group, out_per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(st.integers(1, 3))
    max_kernel = 3 if rank < 3 else 2

    kernel, stride, dilation, padding, size = [], [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, max_kernel))
        d = draw(st.integers(1, 3))
        before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
        smallest = max(1, d * (k - 1) + 1 - before - after)  # the dilated kernel must fit the padded input
        kernel.append(k)
        dilation.append(d)
        stride.append(draw(st.integers(1, 3)))
        padding.append((before, after))
        size.append(draw(st.integers(smallest, smallest + (4 if rank < 3 else 2))))

    x_dtype = draw(st.sampled_from(X_DTYPES))
    w_dtype = draw(st.sampled_from(W_DTYPES))
    x_info, w_info = torch.iinfo(x_dtype), torch.iinfo(w_dtype)
    x_zero_point = draw(st.integers(x_info.min, x_info.max))
    in_channels, out_channels = groups * in_per_group, groups * out_per_group
    if draw(st.booleans()):
        w_zero_point = draw(st.lists(st.integers(w_info.min, w_info.max),
                                     min_size=out_channels, max_size=out_channels))
    else:
        w_zero_point = [draw(st.integers(w_info.min, w_info.max))] * out_channels

    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _random_values(rng, (batch, in_channels, *size), x_dtype, x_zero_point,
                       draw(st.sampled_from(("full", "near", "ends"))))
    # Weights near one channel's zero point make the accumulator bound small, so the float32
    # carrier is chosen while the input values can still be large.
    w = _random_values(rng, (out_channels, in_per_group, *kernel), w_dtype, w_zero_point[0],
                       draw(st.sampled_from(("full", "near", "ends"))))
    x = _relayout(x, draw(st.sampled_from(("contiguous", "permuted", "strided"))))
    return dict(x=x, w=w, x_zero_point=x_zero_point, w_zero_point=w_zero_point, groups=groups,
                stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation))


def _call_arguments(case, data):
    """Return the keyword arguments of qlesson's functions for ``case``, in a randomly drawn form."""
    rank = case["x"].dim() - 2
    padding = case["padding"]
    if all(before == after for before, after in padding):
        per_axis = tuple(before for before, _ in padding)
        forms = [padding, per_axis] + ([per_axis[0]] if len(set(per_axis)) == 1 else [])
        padding = data.draw(st.sampled_from(forms))
    if len(set(case["w_zero_point"])) == 1 and data.draw(st.booleans()):
        w_zero_point = case["w_zero_point"][0]
    else:
        w_zero_point = torch.tensor(case["w_zero_point"], dtype=data.draw(
            st.sampled_from((torch.int64, case["w"].dtype))))
    stride, dilation = case["stride"], case["dilation"]
    if rank == 1 and data.draw(st.booleans()):
        stride, dilation = stride[0], dilation[0]
    return dict(x_zero_point=case["x_zero_point"], w_zero_point=w_zero_point, stride=stride,
                padding=padding, dilation=dilation, groups=case["groups"])


def _reference(case):
    return torch.from_numpy(reference_accumulator(
        case["x"], case["w"], case["x_zero_point"], case["w_zero_point"], stride=case["stride"],
        padding=case["padding"], dilation=case["dilation"], groups=case["groups"]))


# ---------------------------------------------------------------------------------------------
# Properties over random convolutions


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=250)
@given(data=st.data())
def test_exact_methods_equal_reference(rank, data):
    case = data.draw(conv_cases(rank))
    arguments = _call_arguments(case, data)
    expected = _reference(case)

    for method in EXACT_METHODS:
        result = conv_integer(case["x"], case["w"], method=method, **arguments)
        assert result.dtype == torch.int64, method
        assert result.shape == expected.shape, method
        assert torch.equal(result, expected), (
            f"{method}: {int((result != expected).sum())} of {expected.numel()} outputs differ")


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=150)
@given(data=st.data())
def test_naive_error_equals_padding_error_map(rank, data):
    case = data.draw(conv_cases(rank))
    arguments = _call_arguments(case, data)
    expected = _reference(case)

    naive = conv_integer(case["x"], case["w"], method="naive_zero_pad", **arguments)
    error_map = padding_error_map(tuple(case["x"].shape[2:]), case["w"], x_dtype=case["x"].dtype, **arguments)

    assert error_map.shape == expected.shape[1:]
    assert torch.equal(naive - expected, error_map.unsqueeze(0).expand_as(expected))


@settings(max_examples=150)
@given(data=st.data())
def test_conv_geometry_output_size_matches_torch(data):
    case = data.draw(conv_cases(data.draw(st.integers(1, 3))))
    geometry = conv_geometry(tuple(case["x"].shape[2:]), case["x"].shape[1], tuple(case["w"].shape),
                             stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                             groups=case["groups"])
    padded = F.pad(case["x"].double(), [amount for pair in reversed(case["padding"]) for amount in pair])
    conv = (F.conv1d, F.conv2d, F.conv3d)[geometry.rank - 1]
    output = conv(padded, case["w"].double(), stride=case["stride"], dilation=case["dilation"],
                  groups=case["groups"])

    assert geometry.output_size == tuple(output.shape[2:])
    assert geometry.taps == case["w"][0].numel()


# ---------------------------------------------------------------------------------------------
# Hand-checked small case


def test_conv_integer_hand_checked_1d():
    # Centered input [-1, 0, 1], padded with real 0 to [0, -1, 0, 1, 0], summed by a 3-tap box.
    x = torch.tensor([[[1, 2, 3]]], dtype=torch.uint8)
    w = torch.tensor([[[1, 1, 1]]], dtype=torch.int8)

    for method in EXACT_METHODS:
        assert conv_integer(x, w, 2, padding=1, method=method).tolist() == [[[-1, 0, 1]]], method
    # The naive method pads with integer 0, which is real −2 after centering: [-2, -1, 0, 1, -2].
    assert conv_integer(x, w, 2, padding=1, method="naive_zero_pad").tolist() == [[[-3, 0, -1]]]
    assert padding_error_map((3,), w, 2, padding=1).tolist() == [[-2, 0, -2]]


def test_conv_integer_per_channel_zero_point_hand_checked():
    x = torch.tensor([[[5, 7]]], dtype=torch.uint8)
    w = torch.tensor([[[3]], [[10]]], dtype=torch.uint8)

    result = conv_integer(x, w, 5, torch.tensor([1, 10]))

    # Channel 0: (x − 5)(3 − 1) = [0, 4]. Channel 1: (x − 5)(10 − 10) = [0, 0].
    assert result.tolist() == [[[0, 4], [0, 0]]]


def test_conv_integer_accepts_tensor_zero_points():
    x = torch.tensor([[[1, 2, 3]]], dtype=torch.uint8)
    w = torch.tensor([[[1, 1, 1]]], dtype=torch.int8)

    result = conv_integer(x, w, torch.tensor(2), torch.tensor(0, dtype=torch.int8), padding=1)

    assert result.tolist() == [[[-1, 0, 1]]]


# ---------------------------------------------------------------------------------------------
# The float carrier: exact while the accumulator bound allows it, int64 beyond


def test_accumulation_dtype_thresholds():
    assert accumulation_dtype(0) == torch.float32
    assert accumulation_dtype(2**24 - 1) == torch.float32
    assert accumulation_dtype(2**24) == torch.float64
    assert accumulation_dtype(2**53 - 1) == torch.float64
    assert accumulation_dtype(2**53) == torch.int64
    assert accumulation_dtype(2**62) == torch.int64


def test_accumulation_dtype_rejects_reduced_precision_backend():
    x = torch.zeros((1, 2, 8, 8), dtype=torch.uint8)
    w = torch.zeros((3, 2, 3, 3), dtype=torch.int8)
    geometry = conv_geometry((8, 8), 2, (3, 2, 3, 3), padding=1)
    saved = torch.backends.mkldnn.conv.fp32_precision
    assert accumulation_dtype(100, x=x, w=w, geometry=geometry) == torch.float32
    try:
        # oneDNN then rounds float32 operands to bfloat16, so no float carrier is exact.
        torch.backends.mkldnn.conv.fp32_precision = "bf16"
        assert accumulation_dtype(100, x=x, w=w, geometry=geometry) == torch.int64
    finally:
        torch.backends.mkldnn.conv.fp32_precision = saved


def _constant_case(taps, x_value, w_value, x_dtype, w_dtype, length=1):
    """Return x and w whose every product is ``x_value · w_value``, summed over ``taps`` input channels."""
    x = torch.full((1, taps, length), x_value, dtype=x_dtype)
    w = torch.full((1, taps, 1), w_value, dtype=w_dtype)
    return x, w


def test_bound_just_below_2_24_uses_exact_float32():
    # 63 · 4097 · 65 = 2**24 − 1, below the 2**24 limit under which float32 represents every integer.
    x, w = _constant_case(63, 4097, 65, torch.int16, torch.int8)
    bound = 63 * 4097 * 65
    assert bound == 2**24 - 1
    geometry = conv_geometry((1,), 63, (1, 63, 1))

    assert accumulation_dtype(bound, x=x, w=w, geometry=geometry) == torch.float32
    for method in EXACT_METHODS:
        assert conv_integer(x, w, method=method).item() == bound, method


def test_bound_just_above_2_24_uses_float64():
    # 257 · 673 · 97 = 2**24 + 1, an odd integer that float32 cannot represent.
    x, w = _constant_case(257, 673, 97, torch.int16, torch.int8)
    exact = 257 * 673 * 97
    assert exact == 2**24 + 1
    geometry = conv_geometry((1,), 257, (1, 257, 1))

    assert accumulation_dtype(exact, x=x, w=w, geometry=geometry) == torch.float64
    assert F.conv1d(x.float(), w.float()).item() != exact  # what ignoring the bound would return
    for method in EXACT_METHODS:
        assert conv_integer(x, w, method=method).item() == exact, method


def test_ignoring_bound_breaks_conv_integer(monkeypatch):
    # Forcing the float32 carrier reproduces the rounding the bound guards against.
    x, w = _constant_case(257, 673, 97, torch.int16, torch.int8)
    monkeypatch.setattr(qlesson.convolution, "accumulation_dtype", lambda *args, **kwargs: torch.float32)

    assert conv_integer(x, w).item() != 2**24 + 1


def test_bound_beyond_2_53_uses_int64():
    # x − x_zp = 2**32 − 1 from int32 ends; 8225 · (2**32 − 1) · 255 is odd and above 2**53.
    x, w = _constant_case(8225, 2**31 - 1, 255, torch.int32, torch.uint8, length=2)
    x_zero_point = -(2**31)
    exact = 8225 * (2**32 - 1) * 255
    assert exact > 2**53
    assert exact % 2 == 1
    geometry = conv_geometry((2,), 8225, (1, 8225, 1))

    assert accumulation_dtype(exact, x=x, w=w, geometry=geometry) == torch.int64
    assert int(F.conv1d(x.double() - x_zero_point, w.double())[0, 0, 0]) != exact
    for method in EXACT_METHODS:
        assert conv_integer(x, w, x_zero_point, method=method).tolist() == [[[exact, exact]]], method


def test_int32_padding_beyond_2_53_is_exact():
    # The padded taps hold x_zp = 2**31 − 1; the naive method feeds them 0, an error past 2**53.
    x, w = _constant_case(8225, -(2**31), 255, torch.int32, torch.uint8)
    x_zero_point = 2**31 - 1
    inside = 8225 * -(2**32 - 1) * 255
    error = -x_zero_point * 8225 * 255

    for method in EXACT_METHODS:
        assert conv_integer(x, w, x_zero_point, padding=1, method=method).tolist() == [[[0, inside, 0]]], method
    naive = conv_integer(x, w, x_zero_point, padding=1, method="naive_zero_pad")
    assert naive.tolist() == [[[error, inside, error]]]


def test_int64_input_beyond_2_53_is_exact():
    x = torch.tensor([[[2**45 + 1, -(2**45) - 3, 2**45 + 7]]], dtype=torch.int64)
    w = torch.tensor([[[127, 125, 123]]], dtype=torch.int8)
    x_zero_point = -5
    exact = sum((xv + 5) * wv for xv, wv in zip(x[0, 0].tolist(), w[0, 0].tolist()))

    for method in EXACT_METHODS:
        assert conv_integer(x, w, x_zero_point, method=method).item() == exact, method


def test_int32_near_large_zero_point_is_exact():
    # x_q does not fit float32, but x_q − x_zp does; centering must happen before the conversion.
    x = torch.tensor([[[2**30, 2**30 + 1, 2**30 + 3]]], dtype=torch.int32)
    w = torch.tensor([[[1]]], dtype=torch.int8)

    for method in qlesson.METHODS:
        assert conv_integer(x, w, 2**30, method=method).tolist() == [[[0, 1, 3]]], method


def test_border_correction_bound_counts_padded_taps():
    # Every input equals x_zp, so max|x − x_zp| = 0, yet the zero-padded taps hold −127 and their
    # sum over 3000 channels passes 2**24: the carrier must be chosen with |x_zp| in the bound.
    generator = torch.Generator().manual_seed(0)
    x = torch.full((1, 3000, 3), 127, dtype=torch.uint8)
    w = torch.randint(0, 256, (1, 3000, 1), dtype=torch.uint8, generator=generator)
    error = -127 * int(w.to(torch.int64).sum())

    corrected = conv_integer(x, w, 127, padding=1, method="border_correction")
    naive = conv_integer(x, w, 127, padding=1, method="naive_zero_pad")

    assert corrected.tolist() == [[[0, 0, 0, 0, 0]]]
    assert naive.tolist() == [[[error, 0, 0, 0, error]]]


def test_padding_error_map_int64_extreme_zero_point():
    # Weights equal to their zero point give no error, even for the most negative int64 zero point.
    w = torch.full((1, 1, 1), 3, dtype=torch.int8)

    error = padding_error_map((3,), w, -(2**63), 3, padding=1, x_dtype=torch.int64)

    assert error.tolist() == [[0, 0, 0, 0, 0]]


def test_conv_integer_handles_large_batch_mkldnn_path(default_thread_count):
    # Batch 16 and 8 channels make torch choose oneDNN for float32. It runs here on the default
    # number of threads, which may add partial sums in another order, and must stay exact.
    generator = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (16, 8, 9, 9), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (8, 8, 3, 3), dtype=torch.int8, generator=generator)
    expected = torch.from_numpy(reference_accumulator(
        x, w, 100, [-3] * 8, stride=(1, 1), padding=((1, 1), (1, 1)), dilation=(1, 1), groups=1))
    geometry = conv_geometry((9, 9), 8, (8, 8, 3, 3), padding=1)
    assert accumulation_dtype(100, x=x, w=w, geometry=geometry) == torch.float32

    torch.set_num_threads(default_thread_count)
    try:
        for method in EXACT_METHODS:
            assert torch.equal(conv_integer(x, w, 100, -3, padding=1, method=method), expected), method
    finally:
        torch.set_num_threads(1)


def test_reference_matches_brute_force_loop():
    # The reference itself, checked against one Python loop per output, tap and channel.
    generator = torch.Generator().manual_seed(2)
    x = torch.randint(0, 256, (1, 4, 5, 4), dtype=torch.uint8, generator=generator)
    w = torch.randint(-128, 128, (4, 2, 2, 3), dtype=torch.int8, generator=generator)
    stride, padding, dilation, groups = (2, 1), ((1, 0), (2, 1)), (2, 1), 2
    x_zp, w_zp = 77, [1, -2, 3, -4]

    reference = reference_accumulator(x, w, x_zp, w_zp, stride=stride, padding=padding,
                                      dilation=dilation, groups=groups)

    xs, ws = x.tolist(), w.tolist()
    for o in range(4):
        group = o // 2
        for oh in range(reference.shape[2]):
            for ow in range(reference.shape[3]):
                total = 0
                for c in range(2):
                    for kh in range(2):
                        for kw in range(3):
                            ih = oh * stride[0] - padding[0][0] + kh * dilation[0]
                            iw = ow * stride[1] - padding[1][0] + kw * dilation[1]
                            if 0 <= ih < 5 and 0 <= iw < 4:
                                total += (xs[0][group * 2 + c][ih][iw] - x_zp) * (ws[o][c][kh][kw] - w_zp[o])
                assert reference[0, o, oh, ow] == total, (o, oh, ow)


# ---------------------------------------------------------------------------------------------
# Bad input: one case each, message checked in both languages

X = torch.zeros((1, 2, 5), dtype=torch.uint8)
W = torch.zeros((3, 2, 3), dtype=torch.int8)


def _conv(x=X, w=W, *args, **kwargs):
    return lambda: conv_integer(x, w, *args, **kwargs)


def _error_map(input_size=(5,), w=W, x_zero_point=0, **kwargs):
    return lambda: padding_error_map(input_size, w, x_zero_point, **kwargs)


BAD_INPUTS = [
    pytest.param(_conv(x=X.float()), TypeError, {
        "en": ["x must hold quantized integers", "got dtype float32", "qlesson.quantize"],
        "zh-TW": ["x 必須是量化後的整數", "float32", "qlesson.quantize"]}, id="float-x"),
    pytest.param(_conv(w=W.double()), TypeError, {
        "en": ["w must hold quantized integers", "got dtype float64"],
        "zh-TW": ["w 必須是量化後的整數", "float64"]}, id="float-w"),
    pytest.param(_conv(x=[[[1, 2, 3]]]), TypeError, {
        "en": ["x must be a torch.Tensor, got list", "torch.as_tensor"],
        "zh-TW": ["x 必須是 torch.Tensor，收到的是 list", "torch.as_tensor"]}, id="x-not-tensor"),
    pytest.param(_conv(w=np.zeros((3, 2, 3), dtype=np.int8)), TypeError, {
        "en": ["w must be a torch.Tensor, got ndarray"],
        "zh-TW": ["w 必須是 torch.Tensor，收到的是 ndarray"]}, id="w-not-tensor"),
    pytest.param(_conv(X, W, 256), ValueError, {
        "en": ["x_zero_point=256 is outside the range of uint8, [0, 255]", "pick one in that range"],
        "zh-TW": ["x_zero_point=256 超出 uint8 的範圍 [0, 255]", "請選擇此範圍內的值"]}, id="x-zero-point-above"),
    pytest.param(_conv(X.to(torch.int8), W, -129), ValueError, {
        "en": ["x_zero_point=-129 is outside the range of int8, [-128, 127]"],
        "zh-TW": ["x_zero_point=-129 超出 int8 的範圍 [-128, 127]"]}, id="x-zero-point-below"),
    pytest.param(_conv(X, W, 0, 128), ValueError, {
        "en": ["w_zero_point=128 is outside the range of int8, [-128, 127]"],
        "zh-TW": ["w_zero_point=128 超出 int8 的範圍 [-128, 127]"]}, id="w-zero-point-above"),
    pytest.param(_conv(X, W, 0, torch.tensor([0, 200, 0])), ValueError, {
        "en": ["w_zero_point=200 is outside the range of int8"],
        "zh-TW": ["w_zero_point=200 超出 int8 的範圍"]}, id="per-channel-zero-point-outside"),
    pytest.param(_conv(X, W, 0, torch.tensor([0, 0])), ValueError, {
        "en": ["w_zero_point has 2 entries but there are 3 output channels", "a 1-D tensor of length 3"],
        "zh-TW": ["w_zero_point 有 2 個元素，但輸出通道有 3 個", "長度 3 的 1 維張量"]}, id="per-channel-zero-point-length"),
    pytest.param(_conv(X, W, 0, torch.zeros((3, 1), dtype=torch.int64)), ValueError, {
        "en": ["w_zero_point must be an int or a 1-D tensor, got a tensor of shape (3, 1)", ".reshape(-1)"],
        "zh-TW": ["w_zero_point 必須是整數或 1 維張量，收到的張量形狀是 (3, 1)", ".reshape(-1)"]},
        id="per-channel-zero-point-shape"),
    pytest.param(_conv(X, W, 0, torch.zeros(3)), TypeError, {
        "en": ["w_zero_point must hold quantized integers", "float32"],
        "zh-TW": ["w_zero_point 必須是量化後的整數", "float32"]}, id="per-channel-zero-point-float"),
    pytest.param(_conv(X, W, True), TypeError, {
        "en": ["x_zero_point must be an integer, got True", "Pass a Python int"],
        "zh-TW": ["x_zero_point 必須是整數，收到的是 True", "請傳入 Python 的 int"]}, id="bool-x-zero-point"),
    pytest.param(_conv(X, W, 0, False), TypeError, {
        "en": ["w_zero_point must be an integer, got False"],
        "zh-TW": ["w_zero_point 必須是整數，收到的是 False"]}, id="bool-w-zero-point"),
    pytest.param(_conv(X, W, 0.5), TypeError, {
        "en": ["x_zero_point must be an integer, got 0.5"],
        "zh-TW": ["x_zero_point 必須是整數，收到的是 0.5"]}, id="float-x-zero-point"),
    pytest.param(_conv(w=torch.zeros((3, 3, 3), dtype=torch.int8)), ValueError, {
        "en": ["w has 3 input channels per group but x has C_in=2 with groups=1", "w.shape[1] equal C_in / groups"],
        "zh-TW": ["w 每組有 3 個輸入通道，但 x 的 C_in=2、groups=1", "w.shape[1] 等於 C_in / groups"]},
        id="channel-mismatch"),
    pytest.param(_conv(torch.zeros((1, 3, 5), dtype=torch.uint8), torch.zeros((4, 1, 3), dtype=torch.int8),
                       groups=2), ValueError, {
        "en": ["groups=2 is invalid", "divides both C_in=3 and C_out=4"],
        "zh-TW": ["groups=2 無效", "能整除 C_in=3 與 C_out=4"]}, id="groups-not-dividing-in-channels"),
    pytest.param(_conv(torch.zeros((1, 4, 5), dtype=torch.uint8), torch.zeros((3, 2, 3), dtype=torch.int8),
                       groups=2), ValueError, {
        "en": ["groups=2 is invalid", "C_out=3"],
        "zh-TW": ["groups=2 無效", "C_out=3"]}, id="groups-not-dividing-out-channels"),
    pytest.param(_conv(groups=0), ValueError, {
        "en": ["groups=0 is invalid: it must be a positive int"],
        "zh-TW": ["groups=0 無效：它必須是正整數"]}, id="groups-zero"),
    pytest.param(_conv(padding=-1), ValueError, {
        "en": ["padding=-1 contains a negative amount", "use 0 or more"],
        "zh-TW": ["padding=-1 含有負數", "請使用 0 或更大的值"]}, id="negative-padding"),
    pytest.param(_conv(padding=((0, -2),)), ValueError, {
        "en": ["padding=((0, -2),) contains a negative amount"],
        "zh-TW": ["padding=((0, -2),) 含有負數"]}, id="negative-padding-pair"),
    pytest.param(_conv(padding=(1, 1)), ValueError, {
        "en": ["padding=(1, 1) has 2 entries but there are 1 spatial dimensions", "Pass one int or 1 ints"],
        "zh-TW": ["padding=(1, 1) 有 2 個元素，但空間維度有 1 個", "請傳入一個整數或 1 個整數"]},
        id="padding-wrong-length"),
    pytest.param(_conv(padding=((1, 1, 1),)), ValueError, {
        "en": ["padding=((1, 1, 1),) is not understood", "one (before, after) pair per spatial axis"],
        "zh-TW": ["無法解讀 padding=((1, 1, 1),)", "每個空間軸一組 (前, 後)"]}, id="padding-triple"),
    pytest.param(_conv(padding="same"), TypeError, {
        "en": ["padding must be an integer, got 'same'"],
        "zh-TW": ["padding 必須是整數，收到的是 'same'"]}, id="padding-string"),
    pytest.param(_conv(stride=0), ValueError, {
        "en": ["stride=0 must be at least 1 on every spatial axis", "Use 1 for no stride"],
        "zh-TW": ["stride=0 在每個空間軸上都必須至少為 1", "不需要 stride 時請用 1"]}, id="stride-zero"),
    pytest.param(_conv(stride=(-2,)), ValueError, {
        "en": ["stride=(-2,) must be at least 1"],
        "zh-TW": ["stride=(-2,) 在每個空間軸上都必須至少為 1"]}, id="stride-negative"),
    pytest.param(_conv(stride=(1, 1)), ValueError, {
        "en": ["stride=(1, 1) has 2 entries but there are 1 spatial dimensions"],
        "zh-TW": ["stride=(1, 1) 有 2 個元素，但空間維度有 1 個"]}, id="stride-wrong-length"),
    pytest.param(_conv(dilation=0), ValueError, {
        "en": ["dilation=0 must be at least 1", "Use 1 for no dilation"],
        "zh-TW": ["dilation=0 在每個空間軸上都必須至少為 1", "不需要 dilation 時請用 1"]}, id="dilation-zero"),
    pytest.param(_conv(dilation=-1), ValueError, {
        "en": ["dilation=-1 must be at least 1"],
        "zh-TW": ["dilation=-1 在每個空間軸上都必須至少為 1"]}, id="dilation-negative"),
    pytest.param(_conv(w=torch.zeros((3, 2, 7), dtype=torch.int8), padding=((0, 1),)), ValueError, {
        "en": ["on spatial axis 0 the dilated kernel spans 7 positions but the padded input has only 6 "
               "(5 + padding 0 + 1)", "Add padding or use a smaller kernel or dilation"],
        "zh-TW": ["在第 0 個空間軸上，擴張後的卷積核涵蓋 7 個位置，但填補後的輸入只有 6 個", "請加大填補"]},
        id="kernel-larger-than-padded-input"),
    pytest.param(_conv(dilation=3), ValueError, {
        "en": ["the dilated kernel spans 7 positions but the padded input has only 5"],
        "zh-TW": ["擴張後的卷積核涵蓋 7 個位置，但填補後的輸入只有 5 個"]}, id="dilated-kernel-larger"),
    pytest.param(_conv(torch.zeros((1, 2), dtype=torch.uint8), torch.zeros((3, 2), dtype=torch.int8)), ValueError, {
        "en": ["x has shape (1, 2): 0 spatial dimension(s), but 1, 2 or 3 are supported", "(N, C, H, W)"],
        "zh-TW": ["x 的形狀是 (1, 2)，有 0 個空間維度，但只支援 1、2 或 3 個", "(N, C, H, W)"]},
        id="spatial-rank-0"),
    pytest.param(_conv(torch.zeros((1, 2, 2, 2, 2, 2), dtype=torch.uint8),
                       torch.zeros((3, 2, 1, 1, 1, 1), dtype=torch.int8)), ValueError, {
        "en": ["4 spatial dimension(s), but 1, 2 or 3 are supported"],
        "zh-TW": ["有 4 個空間維度，但只支援 1、2 或 3 個"]}, id="spatial-rank-4"),
    pytest.param(_conv(w=torch.zeros((3, 2, 3, 3), dtype=torch.int8)), ValueError, {
        "en": ["x has shape (1, 2, 5) and w has shape (3, 2, 3, 3)", "the same number of dimensions"],
        "zh-TW": ["x 的形狀是 (1, 2, 5)、w 的形狀是 (3, 2, 3, 3)", "維度數必須相同"]}, id="rank-mismatch"),
    pytest.param(_conv(x=torch.zeros((0, 2, 5), dtype=torch.uint8)), ValueError, {
        "en": ["x has shape (0, 2, 5) with no elements", "at least one element on every axis"],
        "zh-TW": ["x 的形狀是 (0, 2, 5)，沒有任何元素", "每個軸至少有一個元素"]}, id="empty-x"),
    pytest.param(_conv(w=torch.zeros((0, 2, 3), dtype=torch.int8)), ValueError, {
        "en": ["w has shape (0, 2, 3) with no elements"],
        "zh-TW": ["w 的形狀是 (0, 2, 3)，沒有任何元素"]}, id="empty-w"),
    pytest.param(_conv(method="zero_pad"), ValueError, {
        "en": ["method='zero_pad' is not one of naive_zero_pad, zero_point_pad, border_correction, skip_taps"],
        "zh-TW": ["method='zero_pad' 不是 naive_zero_pad、zero_point_pad、border_correction、skip_taps 之一"]},
        id="unknown-method"),
    pytest.param(_conv(torch.full((1, 1, 3), 2**62, dtype=torch.int64), torch.full((1, 1, 1), 2, dtype=torch.int8)),
                 ValueError, {
        "en": ["can reach 9223372036854775808, beyond the int64 maximum 9223372036854775807", "narrower inputs"],
        "zh-TW": ["可能達到 9223372036854775808，超過 int64 的最大值 9223372036854775807", "較窄的輸入"]},
        id="accumulator-overflow"),
    # w − w_zp itself leaves int64 here, so the bound must not be computed in int64.
    *[pytest.param(_conv(torch.ones((1, 1, 3), dtype=torch.int64), torch.full((1, 1, 1), 2**62, dtype=torch.int64),
                         w_zero_point=zero_point, method=method), ValueError, {
        "en": ["can reach 9223372036854775808, beyond the int64 maximum 9223372036854775807"],
        "zh-TW": ["可能達到 9223372036854775808，超過 int64 的最大值 9223372036854775807"]},
        id=f"weight-offset-overflow-{method}-{kind}")
      for method in METHODS
      for kind, zero_point in (("single", -2**62), ("per-channel", torch.tensor([-2**62])))],
    pytest.param(_error_map(input_size=(5, 5)), ValueError, {
        "en": ["input_size=(5, 5) must be 1 positive ints", "the spatial size of the input"],
        "zh-TW": ["input_size=(5, 5) 必須是 1 個正整數", "輸入的空間大小"]}, id="error-map-size-length"),
    pytest.param(_error_map(input_size=(0,)), ValueError, {
        "en": ["input_size=(0,) must be 1 positive ints"],
        "zh-TW": ["input_size=(0,) 必須是 1 個正整數"]}, id="error-map-size-zero"),
    pytest.param(_error_map(input_size=5), ValueError, {
        "en": ["input_size=5 must be 1 positive ints"],
        "zh-TW": ["input_size=5 必須是 1 個正整數"]}, id="error-map-size-int"),
    pytest.param(_error_map(input_size=(True,)), ValueError, {
        "en": ["input_size=(True,) must be 1 positive ints"],
        "zh-TW": ["input_size=(True,) 必須是 1 個正整數"]}, id="error-map-size-bool"),
    pytest.param(_error_map(x_dtype=torch.float32), TypeError, {
        "en": ["x_dtype must hold quantized integers", "got dtype float32"],
        "zh-TW": ["x_dtype 必須是量化後的整數", "float32"]}, id="error-map-float-dtype"),
    pytest.param(_error_map(x_dtype="uint8"), TypeError, {
        "en": ["got dtype 'uint8'"],
        "zh-TW": ["收到的資料型別是 'uint8'"]}, id="error-map-string-dtype"),
    pytest.param(_error_map(x_zero_point=300), ValueError, {
        "en": ["x_zero_point=300 is outside the range of uint8, [0, 255]"],
        "zh-TW": ["x_zero_point=300 超出 uint8 的範圍 [0, 255]"]}, id="error-map-zero-point"),
    pytest.param(_error_map(x_zero_point=True), TypeError, {
        "en": ["x_zero_point must be an integer, got True"],
        "zh-TW": ["x_zero_point 必須是整數，收到的是 True"]}, id="error-map-bool-zero-point"),
    pytest.param(_error_map(w=torch.zeros((3, 2), dtype=torch.int8)), ValueError, {
        "en": ["w has shape (3, 2): 0 spatial dimension(s)"],
        "zh-TW": ["w 的形狀是 (3, 2)，有 0 個空間維度"]}, id="error-map-weight-rank"),
    pytest.param(_error_map(groups=2), ValueError, {
        "en": ["groups=2 is invalid", "C_out=3"],
        "zh-TW": ["groups=2 無效", "C_out=3"]}, id="error-map-groups"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])


def test_naive_padding_exact_beyond_float64():
    # F.pad rounds its fill value through a double; a zero point beyond 2**53 must still pad exactly.
    x = torch.tensor([[[2**60 + 5, 2**60 + 9]]])
    w = torch.ones((1, 1, 3), dtype=torch.int8)
    zero_point = 2**60 + 1
    naive = conv_integer(x, w, zero_point, padding=1, method="naive_zero_pad")
    exact = conv_integer(x, w, zero_point, padding=1)
    predicted = padding_error_map((2,), w, zero_point, padding=1, x_dtype=torch.int64)
    assert torch.equal(naive - exact, predicted.unsqueeze(0))
