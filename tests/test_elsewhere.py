"""Tests of qlesson.elsewhere against independent real-domain references and ONNX Runtime.

The references share no code with qlesson:

- pooling: dequantize, pad with PyTorch's real padding value (real 0 or −inf), pool in float64
  with PyTorch, and quantize back, dividing with ``fractions.Fraction`` so that rounding is exact;
- transposed convolution: scatter every product to output ``i·stride − padding + k·dilation``
  in NumPy int64, the definition itself, and PyTorch's ``conv_transpose`` in int64;
- padding modes: ``torch.nn.functional.pad`` on the dequantized float64 tensor.

ONNX Runtime 1.31 cross-checks ``QLinearAveragePool`` (com.microsoft) and ``MaxPool`` on uint8 and
int8. It has no CPU kernel for a quantized transposed convolution: ``QLinearConvTranspose`` exists
only in its internal NHWC domain and fails with NOT_IMPLEMENTED on ``CPUExecutionProvider``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.figure import Figure

import qlesson
from qlesson import (avg_pool_integer, conv_transpose_error_map, conv_transpose_integer, insert_zeros,
                     max_pool_integer, pad_integer, padding_sources, panel_heatmaps)

X_DTYPES = (torch.uint8, torch.int8, torch.int16, torch.int32)
W_DTYPES = (torch.int8, torch.uint8)


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """Run this module's tiny tensors on one thread; thread start-up costs more than the work."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def _torch_pads(pairs):
    """Flatten one (before, after) pair per spatial axis into F.pad's order, last axis first."""
    return [amount for pair in reversed(pairs) for amount in pair]


def _random_integers(rng, shape, dtype):
    info = torch.iinfo(dtype)
    values = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=np.int64)
    return torch.from_numpy(values).to(dtype)


# ---------------------------------------------------------------------------------------------
# Pooling


@st.composite
def pool_cases(draw, rank, dilated, symmetric=False):
    """Draw an integer tensor and a pooling geometry that PyTorch accepts; padding is (before, after) pairs."""
    kernel, stride, dilation, padding, size = [], [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, 4 if rank < 3 else 3))
        d = draw(st.integers(1, 3)) if dilated else 1
        before = draw(st.integers(0, k // 2))
        after = before if symmetric else draw(st.integers(0, k // 2))
        span = d * (k - 1) + 1
        smallest = max(1, span - before - after)
        kernel.append(k)
        dilation.append(d)
        stride.append(draw(st.integers(1, 3)))
        padding.append((before, after))
        size.append(draw(st.integers(smallest, smallest + (4 if rank < 3 else 2))))
    dtype = draw(st.sampled_from(X_DTYPES))
    info = torch.iinfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _random_integers(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *size), dtype)
    return dict(x=x, kernel=tuple(kernel), stride=tuple(stride), padding=tuple(padding),
                dilation=tuple(dilation), zero_point=draw(st.integers(info.min, info.max)))


def _as_2d(tensor):
    """View a 1-D pooling input (N, C, W) as 2-D (N, C, 1, W), since avg_pool1d has no divisor_override."""
    return tensor.unsqueeze(2) if tensor.dim() == 3 else tensor


def reference_avg_pool(x, kernel, zero_point, *, stride, padding, count_include_pad, pad_value):
    """Quantize the float64 average of the real values, with ``S = 1/4`` so every real value is exact."""
    scale = 0.25
    rank = x.dim() - 2
    real = scale * (x.double() - zero_point)
    pad_real = scale * (pad_value - zero_point) if count_include_pad else 0.0
    padded = F.pad(real, _torch_pads(padding), value=pad_real)
    inside = F.pad(torch.ones_like(real), _torch_pads(padding), value=0.0)
    pool = (F.avg_pool2d, F.avg_pool2d, F.avg_pool3d)[rank - 1]
    pool_kernel = ((1, *kernel), (1, *stride)) if rank == 1 else (kernel, stride)
    real_sums = pool(_as_2d(padded), pool_kernel[0], pool_kernel[1], divisor_override=1)
    counts = pool(_as_2d(inside), pool_kernel[0], pool_kernel[1], divisor_override=1)
    result = torch.empty(real_sums.shape, dtype=torch.int64)
    for index in np.ndindex(*real_sums.shape):
        count = math.prod(kernel) if count_include_pad else int(counts[index])
        steps = Fraction(float(real_sums[index])) / Fraction(scale)
        result[index] = zero_point + round(steps / count)  # round() of a Fraction is half to even
    return result.reshape(real_sums.shape[:2] + tuple(real_sums.shape[2 + (rank == 1):]))


def _some_window_in_padding(x, case):
    """Return whether PyTorch's float max pool, padding with −inf, gives −inf somewhere."""
    padded = F.pad(torch.zeros_like(x, dtype=torch.float64), _torch_pads(case["padding"]), value=-math.inf)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[x.dim() - 3]
    pooled = pool(padded, case["kernel"], case["stride"], dilation=case["dilation"])
    return not bool(torch.isfinite(pooled).all())


def reference_max_pool(x, kernel, *, stride, padding, dilation, pad_value, scale, zero_point):
    """Quantize the float64 max pool of the real values, padded with −inf or the pad value's real value."""
    rank = x.dim() - 2
    real = scale * (x.double() - zero_point)
    pad_real = -math.inf if pad_value is None else scale * (pad_value - zero_point)
    padded = F.pad(real, _torch_pads(padding), value=pad_real)
    pool = (F.max_pool1d, F.max_pool2d, F.max_pool3d)[rank - 1]
    pooled = pool(padded, kernel, stride, dilation=dilation)
    return torch.round(pooled / scale).to(torch.int64) + zero_point


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=120)
@given(data=st.data())
def test_avg_pool_matches_real_reference(rank, data):
    case = data.draw(pool_cases(rank, dilated=False))
    x, zero_point = case["x"], case["zero_point"]
    info = torch.iinfo(x.dtype)
    count_include_pad = data.draw(st.booleans())
    pad_value = data.draw(st.one_of(st.none(), st.integers(info.min, info.max)))

    result = avg_pool_integer(x, case["kernel"], zero_point, stride=case["stride"], padding=case["padding"],
                              count_include_pad=count_include_pad, pad_value=pad_value)
    expected = reference_avg_pool(x, case["kernel"], zero_point, stride=case["stride"], padding=case["padding"],
                                  count_include_pad=count_include_pad,
                                  pad_value=zero_point if pad_value is None else pad_value)

    assert result.dtype == x.dtype
    assert result.shape == expected.shape
    assert torch.equal(result.to(torch.int64), expected)


@settings(max_examples=60)
@given(data=st.data())
def test_avg_pool_symmetric_matches_torch_rounding(data):
    """With symmetric padding, the result is Z + torch.round of PyTorch's own float64 average."""
    case = data.draw(pool_cases(2, dilated=False, symmetric=True))
    padding = tuple(before for before, _ in case["padding"])
    count_include_pad = data.draw(st.booleans())
    x, zero_point = case["x"], case["zero_point"]

    result = avg_pool_integer(x, case["kernel"], zero_point, stride=case["stride"], padding=padding,
                              count_include_pad=count_include_pad)
    average = F.avg_pool2d(x.double() - zero_point, case["kernel"], case["stride"], padding,
                           count_include_pad=count_include_pad)

    assert torch.equal(result.to(torch.int64), zero_point + torch.round(average).to(torch.int64))


@settings(max_examples=60)
@given(data=st.data())
def test_avg_pool_without_pad_count_ignores_pad_value(data):
    case = data.draw(pool_cases(data.draw(st.integers(1, 3)), dilated=False))
    info = torch.iinfo(case["x"].dtype)
    arguments = dict(stride=case["stride"], padding=case["padding"], count_include_pad=False)

    default = avg_pool_integer(case["x"], case["kernel"], case["zero_point"], **arguments)
    other = avg_pool_integer(case["x"], case["kernel"], case["zero_point"],
                             pad_value=data.draw(st.integers(info.min, info.max)), **arguments)

    assert torch.equal(default, other)


@settings(max_examples=60)
@given(data=st.data())
def test_avg_pool_naive_sum_error_is_padded_taps(data):
    """Padding with 0 changes each centered window sum by −Z per padded tap."""
    case = data.draw(pool_cases(2, dilated=False, symmetric=True))
    x, zero_point = case["x"], case["zero_point"]
    kernel, padding = case["kernel"], tuple(before for before, _ in case["padding"])
    taps = math.prod(kernel)

    naive = avg_pool_integer(x, kernel, zero_point, stride=case["stride"], padding=padding, pad_value=0)
    sums = F.avg_pool2d(x.double() - zero_point, kernel, case["stride"], padding, divisor_override=1)
    inside = F.avg_pool2d(torch.ones_like(x, dtype=torch.float64), kernel, case["stride"], padding,
                          divisor_override=1)
    shifted = (sums - (taps - inside) * zero_point).to(torch.int64)
    expected = torch.tensor([zero_point + round(Fraction(int(value), taps)) for value in shifted.flatten()])

    assert torch.equal(naive.to(torch.int64).flatten(), expected)


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=120)
@given(data=st.data())
def test_max_pool_matches_real_reference(rank, data):
    case = data.draw(pool_cases(rank, dilated=True))
    x = case["x"]
    info = torch.iinfo(x.dtype)
    pad_value = data.draw(st.one_of(st.none(), st.integers(info.min, info.max)))
    scale = data.draw(st.sampled_from((0.5, 0.013, 3.7)))
    reference = dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"],
                     scale=scale, zero_point=case["zero_point"])
    # A window entirely in the padding has the real maximum −inf, which qlesson rejects.
    assume(not _some_window_in_padding(x, case))
    expected = reference_max_pool(x, case["kernel"], pad_value=pad_value, **reference)

    result = max_pool_integer(x, case["kernel"], stride=case["stride"], padding=case["padding"],
                              dilation=case["dilation"], pad_value=pad_value)

    assert result.dtype == x.dtype
    assert torch.equal(result.to(torch.int64), expected)


@settings(max_examples=60)
@given(data=st.data())
def test_max_pool_default_equals_torch_integer_pool(data):
    """PyTorch pools integer tensors itself, padding with the dtype's lowest value."""
    case = data.draw(pool_cases(2, dilated=True, symmetric=True))
    padding = tuple(before for before, _ in case["padding"])
    assume(not _some_window_in_padding(case["x"], case))
    expected = F.max_pool2d(case["x"].to(torch.int64), case["kernel"], case["stride"], padding,
                            dilation=case["dilation"])

    result = max_pool_integer(case["x"], case["kernel"], stride=case["stride"], padding=padding,
                              dilation=case["dilation"])

    assert torch.equal(result.to(torch.int64), expected)


def test_max_pool_uint8_zero_padding_is_exact():
    x = torch.tensor([[[[0, 3], [1, 2]]]], dtype=torch.uint8)
    assert torch.equal(max_pool_integer(x, 3, stride=1, padding=1, pad_value=0), max_pool_integer(x, 3, stride=1, padding=1))


def test_max_pool_int8_wrong_padding_raises():
    # Zero point −64: the integer 0 is real +64 S, and the zero point is real 0, both above real −S.
    x = torch.full((1, 1, 2, 2), -65, dtype=torch.int8)
    exact = max_pool_integer(x, 3, stride=1, padding=1)
    assert torch.equal(exact, x)
    assert torch.equal(max_pool_integer(x, 3, stride=1, padding=1, pad_value=0), torch.zeros_like(x))
    assert torch.equal(max_pool_integer(x, 3, stride=1, padding=1, pad_value=-64), torch.full_like(x, -64))


def test_avg_pool_hand_checked_corner():
    # 2 × 2 input, zero point 10, 3 × 3 window at stride 1 and padding 1: every window is the whole
    # input plus 5 padded taps, so the centered sum is (0 + 2 + 4 + 6) = 12 and 12 / 9 rounds to 1.
    x = torch.tensor([[[[10, 12], [14, 16]]]], dtype=torch.uint8)
    assert avg_pool_integer(x, 3, 10, stride=1, padding=1).flatten().tolist() == [11, 11, 11, 11]
    # Padding with 0 adds 5 · (0 − 10) = −50: (12 − 50) / 9 = −4.2 rounds to −4.
    assert avg_pool_integer(x, 3, 10, stride=1, padding=1, pad_value=0).flatten().tolist() == [6, 6, 6, 6]
    # Leaving the padding out: 12 / 4 = 3.
    assert avg_pool_integer(x, 3, 10, stride=1, padding=1, count_include_pad=False).flatten().tolist() == [13] * 4


def test_avg_pool_rounds_ties_half_to_even():
    # Centered sums 1 and 3 over 2 taps: 0.5 rounds to 0 and 1.5 rounds to 2.
    x = torch.tensor([[[0, 1, 1, 2]]], dtype=torch.int8)
    assert avg_pool_integer(x, 2, 0).flatten().tolist() == [0, 2]
    negative = torch.tensor([[[0, -1, -1, -2]]], dtype=torch.int8)
    assert avg_pool_integer(negative, 2, 0).flatten().tolist() == [0, -2]


# ---------------------------------------------------------------------------------------------
# ONNX Runtime cross-checks


def _run_onnx_pool(op_type, domain, x, extra_inputs, attributes, output_shape):
    """Run a one-node pooling model on ONNX Runtime's CPU provider and return int64."""
    import onnx
    import onnxruntime
    from onnx import helper, numpy_helper

    x_numpy = x.contiguous().numpy()
    x_type = helper.np_dtype_to_tensor_dtype(x_numpy.dtype)
    node = helper.make_node(op_type, ["x", *extra_inputs], ["y"], domain=domain, **attributes)
    graph = helper.make_graph(
        [node], "pool", [helper.make_tensor_value_info("x", x_type, list(x_numpy.shape))],
        [helper.make_tensor_value_info("y", x_type, list(output_shape))],
        [numpy_helper.from_array(array, name) for name, array in extra_inputs.items()],
    )
    opsets = [helper.make_opsetid("", 21)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    onnx.checker.check_model(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x_numpy})
    return torch.from_numpy(y.astype(np.int64))


def _onnx_geometry(case):
    return {
        "kernel_shape": list(case["kernel"]),
        "strides": list(case["stride"]),
        "pads": [before for before, _ in case["padding"]] + [after for _, after in case["padding"]],
    }


@settings(max_examples=30)
@given(data=st.data())
def test_avg_pool_matches_onnxruntime_for_even_zero_point(data):
    """ONNX Runtime rounds r / S + Z half to even, which agrees with round(r / S) + Z when Z is even."""
    case = data.draw(pool_cases(2, dilated=False))
    dtype = data.draw(st.sampled_from((torch.uint8, torch.int8)))
    info = torch.iinfo(dtype)
    x = _random_integers(np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), case["x"].shape, dtype)
    zero_point = 2 * data.draw(st.integers(-(-info.min // 2), info.max // 2))
    count_include_pad = data.draw(st.booleans())
    numpy_dtype = x.numpy().dtype
    inputs = {"x_scale": np.array(1.0, np.float32), "x_zero_point": np.array(zero_point, numpy_dtype),
              "y_scale": np.array(1.0, np.float32), "y_zero_point": np.array(zero_point, numpy_dtype)}

    result = avg_pool_integer(x, case["kernel"], zero_point, stride=case["stride"], padding=case["padding"],
                              count_include_pad=count_include_pad)
    expected = _run_onnx_pool("QLinearAveragePool", "com.microsoft", x, inputs,
                              {**_onnx_geometry(case), "count_include_pad": int(count_include_pad)}, result.shape)

    assert torch.equal(result.to(torch.int64), expected)


@settings(max_examples=30)
@given(data=st.data())
def test_max_pool_matches_onnxruntime(data):
    case = data.draw(pool_cases(2, dilated=True))
    dtype = data.draw(st.sampled_from((torch.uint8, torch.int8)))
    x = _random_integers(np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))), case["x"].shape, dtype)
    assume(not _some_window_in_padding(x, case))

    result = max_pool_integer(x, case["kernel"], stride=case["stride"], padding=case["padding"],
                              dilation=case["dilation"])
    expected = _run_onnx_pool("MaxPool", "", x, {}, {**_onnx_geometry(case), "dilations": list(case["dilation"])},
                              result.shape)

    assert torch.equal(result.to(torch.int64), expected)


# ---------------------------------------------------------------------------------------------
# Transposed convolution


@st.composite
def transpose_cases(draw, rank):
    groups = draw(st.integers(1, 2))
    in_per_group, out_per_group = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel, stride, dilation, padding, output_padding, size = [], [], [], [], [], []
    for _ in range(rank):
        k = draw(st.integers(1, 3 if rank < 3 else 2))
        s, d = draw(st.integers(1, 3)), draw(st.integers(1, 2))
        n = draw(st.integers(1, 4 if rank < 3 else 3))
        full = (n - 1) * s + d * (k - 1) + 1  # the output size before cropping
        kernel.append(k)
        stride.append(s)
        dilation.append(d)
        size.append(n)
        output_padding.append(draw(st.integers(0, max(s, d) - 1)))
        padding.append(draw(st.integers(0, (full + output_padding[-1] - 1) // 2)))
    x_dtype, w_dtype = draw(st.sampled_from(X_DTYPES[:3])), draw(st.sampled_from(W_DTYPES))
    x_info, w_info = torch.iinfo(x_dtype), torch.iinfo(w_dtype)
    out_channels = groups * out_per_group
    if draw(st.booleans()):
        w_zero_point = draw(st.lists(st.integers(w_info.min, w_info.max), min_size=out_channels,
                                     max_size=out_channels))
    else:
        w_zero_point = [draw(st.integers(w_info.min, w_info.max))] * out_channels
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _random_integers(rng, (draw(st.integers(1, 2)), groups * in_per_group, *size), x_dtype)
    w = _random_integers(rng, (groups * in_per_group, out_per_group, *kernel), w_dtype)
    return dict(x=x, w=w, x_zero_point=draw(st.integers(x_info.min, x_info.max)), w_zero_point=w_zero_point,
                stride=tuple(stride), padding=tuple(padding), output_padding=tuple(output_padding),
                dilation=tuple(dilation), groups=groups)


def reference_conv_transpose(x_centered, w_centered, *, stride, padding, output_padding, dilation, groups):
    """Scatter x_centered[i] · w_centered[k] onto output i·stride − padding + k·dilation, in NumPy int64."""
    rank = x_centered.ndim - 2
    batch, in_channels = x_centered.shape[:2]
    out_per_group = w_centered.shape[1]
    in_per_group = in_channels // groups
    kernel = w_centered.shape[2:]
    out_size = [(x_centered.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (kernel[a] - 1)
                + output_padding[a] + 1 for a in range(rank)]
    y = np.zeros((batch, groups * out_per_group, *out_size), dtype=np.int64)
    for position in np.ndindex(*x_centered.shape[2:]):
        for tap in np.ndindex(*kernel):
            out = [position[a] * stride[a] - padding[a] + tap[a] * dilation[a] for a in range(rank)]
            if not all(0 <= out[a] < out_size[a] for a in range(rank)):
                continue
            for group in range(groups):
                inputs = x_centered[:, group * in_per_group:(group + 1) * in_per_group, *position]
                weights = w_centered[group * in_per_group:(group + 1) * in_per_group, :, *tap]
                y[:, group * out_per_group:(group + 1) * out_per_group, *out] += inputs @ weights
    return y


def _centered_weight(case):
    w = case["w"].numpy().astype(np.int64)
    groups, out_per_group = case["groups"], w.shape[1]
    in_per_group = w.shape[0] // groups
    zero_points = np.asarray(case["w_zero_point"], dtype=np.int64).reshape(groups, 1, out_per_group)
    per_weight = np.broadcast_to(zero_points, (groups, in_per_group, out_per_group)).reshape(w.shape[0], out_per_group)
    return w - per_weight.reshape(*per_weight.shape, *([1] * (w.ndim - 2)))


def _transpose_arguments(case):
    return dict(stride=case["stride"], padding=case["padding"], output_padding=case["output_padding"],
                dilation=case["dilation"], groups=case["groups"])


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=100)
@given(data=st.data())
def test_conv_transpose_matches_scatter_reference(rank, data):
    case = data.draw(transpose_cases(rank))
    x_centered = case["x"].numpy().astype(np.int64) - case["x_zero_point"]
    w_centered = _centered_weight(case)
    w_zero_point = (torch.tensor(case["w_zero_point"]) if data.draw(st.booleans())
                    or len(set(case["w_zero_point"])) > 1 else case["w_zero_point"][0])

    result = conv_transpose_integer(case["x"], case["w"], case["x_zero_point"], w_zero_point,
                                    **_transpose_arguments(case))
    expected = reference_conv_transpose(x_centered, w_centered, **_transpose_arguments(case))
    conv_transpose = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[rank - 1]
    torch_result = conv_transpose(torch.from_numpy(x_centered), torch.from_numpy(w_centered),
                                  **_transpose_arguments(case))

    assert result.dtype == torch.int64
    assert tuple(result.shape) == expected.shape
    assert torch.equal(result, torch.from_numpy(expected))
    assert torch.equal(result, torch_result)


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=80)
@given(data=st.data())
def test_conv_transpose_naive_error_matches_closed_form(rank, data):
    """naive − exact = −x_zp (Σ all taps of w − Σ taps that meet an input), per output channel."""
    case = data.draw(transpose_cases(rank))
    arguments = _transpose_arguments(case)
    w_centered = _centered_weight(case)
    groups, out_per_group = case["groups"], w_centered.shape[1]
    in_per_group = w_centered.shape[0] // groups
    ones = np.ones((1, *case["x"].shape[1:]), dtype=np.int64)
    real_taps = reference_conv_transpose(ones, w_centered, **arguments)[0]
    grouped = w_centered.reshape(groups, in_per_group, out_per_group, -1)
    all_taps = grouped.sum(axis=(1, 3)).reshape(-1)  # one total per output channel
    expected_error = -case["x_zero_point"] * (all_taps.reshape(-1, *([1] * rank)) - real_taps)

    exact = conv_transpose_integer(case["x"], case["w"], case["x_zero_point"], torch.tensor(case["w_zero_point"]),
                                   **arguments)
    naive = conv_transpose_integer(case["x"], case["w"], case["x_zero_point"], torch.tensor(case["w_zero_point"]),
                                   method="naive_zero_fill", **arguments)
    error_map = conv_transpose_error_map(tuple(case["x"].shape[2:]), case["w"], case["x_zero_point"],
                                         torch.tensor(case["w_zero_point"]), x_dtype=case["x"].dtype, **arguments)

    assert torch.equal(error_map, torch.from_numpy(expected_error))
    assert torch.equal(naive - exact, error_map.unsqueeze(0).expand_as(exact))


def test_conv_transpose_naive_is_wrong_in_interior():
    # Stride 2, padding 1 and a 3-tap box: an even output reads one input and two zeros, an odd
    # output two inputs and one zero, so the naive error alternates −2 · 128 and −1 · 128.
    x = torch.full((1, 1, 6), 200, dtype=torch.uint8)
    w = torch.ones((1, 1, 3), dtype=torch.int8)
    error = conv_transpose_error_map((6,), w, 128, stride=2, padding=1)[0]
    assert error.tolist() == [-256, -128] * 5 + [-256]
    exact = conv_transpose_integer(x, w, 128, stride=2, padding=1)
    assert exact[0, 0].tolist() == [72, 144, 72, 144, 72, 144, 72, 144, 72, 144, 72]


@settings(max_examples=80)
@given(data=st.data())
def test_insert_zeros_places_inputs_on_stride_grid(data):
    case = data.draw(transpose_cases(data.draw(st.integers(1, 3))))
    x, kernel = case["x"], tuple(case["w"].shape[2:])
    info = torch.iinfo(x.dtype)
    fill = data.draw(st.integers(info.min, info.max))
    arguments = {key: case[key] for key in ("stride", "padding", "output_padding", "dilation")}

    spread = insert_zeros(x, fill, kernel, **arguments)

    rank = x.dim() - 2
    border = [case["dilation"][a] * (kernel[a] - 1) - case["padding"][a] for a in range(rank)]
    size = [(x.shape[2 + a] - 1) * case["stride"][a] + 1 + 2 * border[a] + case["output_padding"][a]
            for a in range(rank)]
    expected = np.full((*x.shape[:2], *size), fill, dtype=np.int64)
    for position in np.ndindex(*x.shape[2:]):
        target = [border[a] + position[a] * case["stride"][a] for a in range(rank)]
        if all(0 <= target[a] < size[a] for a in range(rank)):
            expected[(slice(None), slice(None), *target)] = x[(slice(None), slice(None), *position)].numpy()
    assert spread.dtype == x.dtype
    assert torch.equal(spread.to(torch.int64), torch.from_numpy(expected))


# ---------------------------------------------------------------------------------------------
# Padding modes


@st.composite
def pad_cases(draw, rank):
    mode = draw(st.sampled_from(qlesson.PAD_MODES))
    size, padding = [], []
    for _ in range(rank):
        n = draw(st.integers(1, 5))
        limit = {"reflect": n - 1, "circular": n}.get(mode, 3)
        size.append(n)
        padding.append((draw(st.integers(0, limit)), draw(st.integers(0, limit))))
    dtype = draw(st.sampled_from(X_DTYPES))
    info = torch.iinfo(dtype)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = _random_integers(rng, (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *size), dtype)
    return dict(x=x, mode=mode, padding=tuple(padding), zero_point=draw(st.integers(info.min, info.max)))


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=100)
@given(data=st.data())
def test_pad_integer_matches_real_padding(rank, data):
    case = data.draw(pad_cases(rank))
    x, zero_point, mode = case["x"], case["zero_point"], case["mode"]
    info = torch.iinfo(x.dtype)
    scale = data.draw(st.sampled_from((0.5, 0.013, 3.7)))
    value = 0.0
    if mode == "constant" and data.draw(st.booleans()):
        steps = data.draw(st.integers(info.min - zero_point, info.max - zero_point))
        value = scale * (steps + data.draw(st.sampled_from((0.0, 0.3, -0.3))))
        assume(info.min <= round(value / scale) + zero_point <= info.max)

    result = pad_integer(x, case["padding"], mode, x_zero_point=zero_point, value=value, scale=scale)
    real = scale * (x.double() - zero_point)
    real_padded = (F.pad(real, _torch_pads(case["padding"]), mode=mode, value=value) if mode == "constant"
                   else F.pad(real, _torch_pads(case["padding"]), mode=mode))
    expected = torch.round(real_padded / scale).to(torch.int64) + zero_point

    assert result.dtype == x.dtype
    assert torch.equal(result.to(torch.int64), expected)


@pytest.mark.parametrize("rank", [1, 2, 3])
@settings(max_examples=60)
@given(data=st.data())
def test_pad_integer_copying_modes_equal_torch_integer_pad(rank, data):
    case = data.draw(pad_cases(rank))
    assume(case["mode"] != "constant")
    expected = F.pad(case["x"], _torch_pads(case["padding"]), mode=case["mode"])
    assert torch.equal(pad_integer(case["x"], case["padding"], case["mode"], x_zero_point=case["zero_point"]), expected)


@settings(max_examples=100)
@given(size=st.integers(1, 6), before=st.integers(0, 6), after=st.integers(0, 6),
       mode=st.sampled_from(qlesson.PAD_MODES))
def test_padding_sources_match_torch_pad(size, before, after, mode):
    assume(mode not in ("reflect", "circular") or max(before, after) < size + (mode == "circular"))
    positions = torch.arange(size, dtype=torch.float64).view(1, 1, size)
    if mode == "constant":
        expected = F.pad(positions, [before, after], value=-1.0)
    else:
        expected = F.pad(positions, [before, after], mode=mode)
    assert padding_sources(size, before, after, mode).tolist() == expected.flatten().to(torch.int64).tolist()


def test_pad_integer_zero_needs_no_scale():
    x = torch.tensor([[[5, 6]]], dtype=torch.uint8)
    assert pad_integer(x, 1, x_zero_point=77).flatten().tolist() == [77, 5, 6, 77]


def test_pad_integer_constant_rounds_half_to_even():
    x = torch.tensor([[[5, 6]]], dtype=torch.uint8)
    # 0.25 / 0.5 = 0.5 rounds to 0 and 0.75 / 0.5 = 1.5 rounds to 2.
    assert pad_integer(x, (1,), x_zero_point=10, value=0.25, scale=0.5).flatten().tolist() == [10, 5, 6, 10]
    assert pad_integer(x, (1,), x_zero_point=10, value=0.75, scale=0.5).flatten().tolist() == [12, 5, 6, 12]


def test_int64_fills_beyond_2_53_are_exact():
    """F.pad rounds an int64 fill through float64, so these fills would be off by a few units there."""
    x = torch.tensor([[[-2**63 + 5, -2**63 + 7, 2**62 + 1]]])
    assert max_pool_integer(x, 3, stride=1, padding=1).flatten().tolist() == [-2**63 + 7, 2**62 + 1, 2**62 + 1]
    assert insert_zeros(torch.tensor([[[1, 2]]]), 2**62 + 3, 2, stride=2).flatten().tolist() == [
        2**62 + 3, 1, 2**62 + 3, 2, 2**62 + 3]
    zero_point = 2**61 + 1
    pooled = avg_pool_integer(torch.tensor([[[zero_point, zero_point + 1]]]), 3, zero_point, stride=1, padding=1,
                              pad_value=0)
    # Corner window: centered 0 + 1 and one padded tap −zero_point, divided by 3.
    assert int(pooled[0, 0, 0]) == zero_point + round(Fraction(1 - zero_point, 3))
    error = conv_transpose_error_map((2,), torch.ones((1, 1, 2), dtype=torch.int8), zero_point, stride=2,
                                     x_dtype=torch.int64)
    assert error.flatten().tolist() == [-zero_point, -zero_point, -zero_point, -zero_point]


# ---------------------------------------------------------------------------------------------
# Figures


def test_panel_heatmaps_titles(language):
    maps = torch.tensor([[[0, 1], [-1, 0]], [[2, 0], [0, -2]]])
    figure = panel_heatmaps(maps)
    assert isinstance(figure, Figure)
    titles = [axes.get_title() for axes in figure.axes if axes.images]
    assert titles == ([f"channel {c}" for c in range(2)] if language == "en" else [f"通道 {c}" for c in range(2)])
    custom = panel_heatmaps(maps, ["pad_value=0", "pad_value=x_zp"])
    assert [axes.get_title() for axes in custom.axes if axes.images] == ["pad_value=0", "pad_value=x_zp"]
    assert qlesson.figure_to_png(custom).startswith(b"\x89PNG")


# ---------------------------------------------------------------------------------------------
# Bad inputs


def _avg(x=None, kernel_size=3, x_zero_point=0, **keywords):
    x = torch.zeros((1, 1, 5), dtype=torch.uint8) if x is None else x
    return lambda: avg_pool_integer(x, kernel_size, x_zero_point, **keywords)


def _max(x=None, kernel_size=3, **keywords):
    x = torch.zeros((1, 1, 5), dtype=torch.int8) if x is None else x
    return lambda: max_pool_integer(x, kernel_size, **keywords)


def _transpose(x=None, w=None, x_zero_point=0, w_zero_point=0, **keywords):
    x = torch.zeros((1, 2, 4), dtype=torch.uint8) if x is None else x
    w = torch.zeros((2, 3, 3), dtype=torch.int8) if w is None else w
    return lambda: conv_transpose_integer(x, w, x_zero_point, w_zero_point, **keywords)


def _pad(x=None, padding=1, mode="constant", **keywords):
    x = torch.zeros((1, 1, 4), dtype=torch.uint8) if x is None else x
    return lambda: pad_integer(x, padding, mode, **keywords)


BAD_INPUTS = [
    pytest.param(_avg(x=torch.zeros((1, 1, 5))), TypeError, {
        "en": ["x must hold quantized integers", "got dtype float32"],
        "zh-TW": ["x 必須是量化後的整數", "float32"]}, id="avg-float-input"),
    pytest.param(_avg(kernel_size=(3, 3)), ValueError, {
        "en": ["kernel_size=(3, 3) does not match x of shape (1, 1, 5), which has 1 spatial axes"],
        "zh-TW": ["kernel_size=(3, 3) 與形狀為 (1, 1, 5) 的 x 不符，x 有 1 個空間軸"]}, id="avg-kernel-rank"),
    pytest.param(_avg(kernel_size=0), ValueError, {
        "en": ["kernel_size=0 must be at least 1"],
        "zh-TW": ["kernel_size=0 在每個空間軸上都必須至少為 1"]}, id="avg-kernel-zero"),
    pytest.param(_avg(padding=2), ValueError, {
        "en": ["padding 2 on spatial axis 0 is more than half of the kernel size 3", "use at most 1"],
        "zh-TW": ["第 0 個空間軸的填補 2 超過卷積核大小 3 的一半", "不超過 1"]}, id="avg-padding-too-large"),
    pytest.param(_avg(padding=((0, 2),)), ValueError, {
        "en": ["padding 2 on spatial axis 0"],
        "zh-TW": ["第 0 個空間軸的填補 2"]}, id="avg-padding-pair-too-large"),
    pytest.param(_avg(kernel_size=9, padding=1), ValueError, {
        "en": ["on spatial axis 0 the dilated kernel spans 9 positions but the padded input has only 7"],
        "zh-TW": ["擴張後的卷積核涵蓋 9 個位置，但填補後的輸入只有 7 個"]}, id="avg-kernel-larger-than-input"),
    pytest.param(_avg(count_include_pad=1), TypeError, {
        "en": ["count_include_pad must be True or False, got 1"],
        "zh-TW": ["count_include_pad 必須是 True 或 False，收到的是 1"]}, id="avg-count-include-pad-int"),
    pytest.param(_avg(pad_value=256), ValueError, {
        "en": ["pad_value=256 is outside the range of uint8, [0, 255]"],
        "zh-TW": ["pad_value=256 超出 uint8 的範圍 [0, 255]"]}, id="avg-pad-value-range"),
    pytest.param(_avg(pad_value=1.5), TypeError, {
        "en": ["pad_value must be an integer, got 1.5"],
        "zh-TW": ["pad_value 必須是整數，收到的是 1.5"]}, id="avg-pad-value-float"),
    pytest.param(_avg(x_zero_point=-1), ValueError, {
        "en": ["x_zero_point=-1 is outside the range of uint8, [0, 255]"],
        "zh-TW": ["x_zero_point=-1 超出 uint8 的範圍 [0, 255]"]}, id="avg-zero-point-range"),
    pytest.param(_avg(x=torch.tensor([[[2**62, 2**62]]]), kernel_size=2, x_zero_point=-2**62), ValueError, {
        "en": ["the window sums of this pooling can reach 18446744073709551616, beyond the int64 maximum"],
        "zh-TW": ["此池化的視窗總和可能達到 18446744073709551616，超過 int64 的最大值"]}, id="avg-sum-overflow"),
    pytest.param(_avg(stride=0), ValueError, {
        "en": ["stride=0 must be at least 1"],
        "zh-TW": ["stride=0 在每個空間軸上都必須至少為 1"]}, id="avg-stride-zero"),
    pytest.param(_max(x=torch.zeros((1, 1, 2), dtype=torch.int8), kernel_size=2, stride=1, padding=1, dilation=3),
                 ValueError, {
        "en": ["the window of output 0 lies entirely in the padding", "smaller dilation"],
        "zh-TW": ["輸出 0 的視窗完全落在填補區", "較小的擴張"]}, id="max-window-in-padding"),
    pytest.param(_max(padding=2), ValueError, {
        "en": ["more than half of the kernel size 3"],
        "zh-TW": ["超過卷積核大小 3 的一半"]}, id="max-padding-too-large"),
    pytest.param(_max(pad_value=-129), ValueError, {
        "en": ["pad_value=-129 is outside the range of int8, [-128, 127]"],
        "zh-TW": ["pad_value=-129 超出 int8 的範圍 [-128, 127]"]}, id="max-pad-value-range"),
    pytest.param(_max(x=[1, 2, 3]), TypeError, {
        "en": ["x must be a torch.Tensor, got list"],
        "zh-TW": ["x 必須是 torch.Tensor，收到的是 list"]}, id="max-not-tensor"),
    pytest.param(_max(x=torch.zeros((1, 5), dtype=torch.int8)), ValueError, {
        "en": ["x has shape (1, 5): 0 spatial dimension(s)"],
        "zh-TW": ["x 的形狀是 (1, 5)，有 0 個空間維度"]}, id="max-spatial-rank"),
    pytest.param(_transpose(w=torch.zeros((3, 3, 3), dtype=torch.int8)), ValueError, {
        "en": ["w has shape (3, 3, 3) but x has C_in=2", "(C_in, C_out / groups, *kernel)"],
        "zh-TW": ["w 的形狀是 (3, 3, 3)，但 x 的 C_in=2", "(C_in, C_out / groups, *kernel)"]},
        id="transpose-in-channels"),
    pytest.param(_transpose(groups=3), ValueError, {
        "en": ["groups=3 is invalid", "divides C_in=2"],
        "zh-TW": ["groups=3 無效", "整除 C_in=2"]}, id="transpose-groups"),
    pytest.param(_transpose(groups=0), ValueError, {
        "en": ["groups=0 is invalid"],
        "zh-TW": ["groups=0 無效"]}, id="transpose-groups-zero"),
    pytest.param(_transpose(stride=2, output_padding=2), ValueError, {
        "en": ["output_padding 2 on spatial axis 0 must be smaller than the stride (2) or the dilation (1)"],
        "zh-TW": ["第 0 個空間軸的 output_padding 2 必須小於該軸的步幅（2）或擴張（1）"]},
        id="transpose-output-padding"),
    pytest.param(_transpose(padding=3), ValueError, {
        "en": ["on spatial axis 0 the output would have 0 positions", "n=4", "Use less padding"],
        "zh-TW": ["在第 0 個空間軸上，輸出只會有 0 個位置", "n=4", "請減少填補"]}, id="transpose-empty-output"),
    pytest.param(_transpose(padding=-1), ValueError, {
        "en": ["padding=-1 contains a negative amount"],
        "zh-TW": ["padding=-1 含有負數"]}, id="transpose-negative-padding"),
    pytest.param(_transpose(output_padding=(-1,)), ValueError, {
        "en": ["output_padding=(-1,) contains a negative amount"],
        "zh-TW": ["output_padding=(-1,) 含有負數"]}, id="transpose-negative-output-padding"),
    pytest.param(_transpose(stride=0), ValueError, {
        "en": ["stride=0 must be at least 1"],
        "zh-TW": ["stride=0 在每個空間軸上都必須至少為 1"]}, id="transpose-stride-zero"),
    pytest.param(_transpose(method="skip_taps"), ValueError, {
        "en": ["method='skip_taps' is not one of zero_point_fill, naive_zero_fill"],
        "zh-TW": ["method='skip_taps' 不是 zero_point_fill、naive_zero_fill 之一"]}, id="transpose-method"),
    pytest.param(_transpose(w=torch.zeros((2, 3, 3, 3), dtype=torch.int8)), ValueError, {
        "en": ["x has shape (1, 2, 4) and w has shape (2, 3, 3, 3)"],
        "zh-TW": ["x 的形狀是 (1, 2, 4)、w 的形狀是 (2, 3, 3, 3)"]}, id="transpose-rank-mismatch"),
    pytest.param(_transpose(x_zero_point=256), ValueError, {
        "en": ["x_zero_point=256 is outside the range of uint8"],
        "zh-TW": ["x_zero_point=256 超出 uint8 的範圍"]}, id="transpose-zero-point"),
    pytest.param(_transpose(w_zero_point=torch.tensor([1, 2])), ValueError, {
        "en": ["w_zero_point has 2 entries but there are 3 output channels"],
        "zh-TW": ["w_zero_point 有 2 個元素，但輸出通道有 3 個"]}, id="transpose-per-channel-length"),
    pytest.param(lambda: conv_transpose_error_map((4, 4), torch.zeros((2, 3, 3), dtype=torch.int8), 0), ValueError, {
        "en": ["input_size=(4, 4) must be 1 positive ints"],
        "zh-TW": ["input_size=(4, 4) 必須是 1 個正整數"]}, id="error-map-size"),
    pytest.param(lambda: conv_transpose_error_map((4,), torch.zeros((2, 3, 3), dtype=torch.int8), 0,
                                                  x_dtype=torch.float32), TypeError, {
        "en": ["x_dtype must hold quantized integers"],
        "zh-TW": ["x_dtype 必須是量化後的整數"]}, id="error-map-float-dtype"),
    pytest.param(lambda: insert_zeros(torch.zeros((1, 1, 3), dtype=torch.uint8), -1, 3), ValueError, {
        "en": ["fill=-1 is outside the range of uint8"],
        "zh-TW": ["fill=-1 超出 uint8 的範圍"]}, id="insert-zeros-fill-range"),
    pytest.param(_pad(mode="zeros"), ValueError, {
        "en": ["mode='zeros' is not one of constant, reflect, replicate, circular"],
        "zh-TW": ["mode='zeros' 不是 constant、reflect、replicate、circular 之一"]}, id="pad-mode"),
    pytest.param(_pad(padding=4, mode="reflect"), ValueError, {
        "en": ["reflect padding of 4 on spatial axis 0", "that axis has 4", "mode='replicate'"],
        "zh-TW": ["第 0 個空間軸的 reflect 填補為 4", "該軸只有 4 個", "mode='replicate'"]}, id="pad-reflect-too-large"),
    pytest.param(_pad(padding=5, mode="circular"), ValueError, {
        "en": ["circular padding of 5 on spatial axis 0 is larger than that axis, 4 positions", "at most 4"],
        "zh-TW": ["第 0 個空間軸的 circular 填補為 5", "不超過 4"]}, id="pad-circular-too-large"),
    pytest.param(_pad(mode="reflect", value=1.0), ValueError, {
        "en": ["value=1.0 is only used by mode='constant'"],
        "zh-TW": ["value=1.0 只用於 mode='constant'"]}, id="pad-value-with-reflect"),
    pytest.param(_pad(value=0.5), ValueError, {
        "en": ["value=0.5 is not 0", "Pass scale=S"],
        "zh-TW": ["value=0.5 不是 0", "請傳入 scale=S"]}, id="pad-value-without-scale"),
    pytest.param(_pad(value=0.5, scale=0.0), ValueError, {
        "en": ["scale=0.0 must be a finite number greater than 0"],
        "zh-TW": ["scale=0.0 必須是大於 0 的有限數值"]}, id="pad-zero-scale"),
    pytest.param(_pad(value=300.0, scale=1.0), ValueError, {
        "en": ["value=300.0 quantizes to round(300.0 / 1.0) + 0 = 300", "[0, 255]"],
        "zh-TW": ["value=300.0 量化後是 round(300.0 / 1.0) + 0 = 300", "[0, 255]"]}, id="pad-constant-out-of-range"),
    pytest.param(_pad(value=float("nan"), scale=1.0), ValueError, {
        "en": ["value=nan is not a finite number"],
        "zh-TW": ["value=nan 不是有限的數值"]}, id="pad-value-nan"),
    pytest.param(_pad(padding=-1), ValueError, {
        "en": ["padding=-1 contains a negative amount"],
        "zh-TW": ["padding=-1 含有負數"]}, id="pad-negative"),
    pytest.param(lambda: padding_sources(0, 1, 1, "reflect"), ValueError, {
        "en": ["size=0, before=1 and after=1 must be ints"],
        "zh-TW": ["size=0、before=1 與 after=1 必須是整數"]}, id="sources-empty-axis"),
    pytest.param(lambda: padding_sources(3, 1, 1, "wrap"), ValueError, {
        "en": ["mode='wrap' is not one of"],
        "zh-TW": ["mode='wrap' 不是"]}, id="sources-mode"),
    pytest.param(lambda: panel_heatmaps(torch.zeros((3, 3))), ValueError, {
        "en": ["maps has shape (3, 3), but panel_heatmaps takes one 2-D map per panel"],
        "zh-TW": ["maps 的形狀是 (3, 3)，但 panel_heatmaps 接受的是每格一張二維圖"]}, id="panels-rank"),
    pytest.param(lambda: panel_heatmaps(torch.zeros((2, 3, 3)), ["only one"]), ValueError, {
        "en": ["panel_titles=['only one'] must be a list of 2 titles"],
        "zh-TW": ["panel_titles=['only one'] 必須是含 2 個標題的串列"]}, id="panels-titles"),
]


@pytest.mark.parametrize(("call", "error_type", "fragments"), BAD_INPUTS)
def test_bad_input_message(call, error_type, fragments, language, expect_error):
    expect_error(call, error_type, fragments[language])
