"""Measure conv_integer per method and per carrier dtype against float32 torch convolution.

Prints a Markdown table: median and spread (min–max) over repeats of each timing, and the ratio of
each median to the float32 ``torch.nn.functional.conv{1,2,3}d`` of the same shapes, measured side
by side in the same run. Run it from the repository root:

    python benchmarks/conv_speed.py            # all cases
    python benchmarks/conv_speed.py --quick    # the small cases only
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

import qlesson as ql
from qlesson.convolution import _conv_exact, conv_geometry

CASES = [
    # name, input shape, kernel, padding
    ("1-D", (8, 16, 4096), (16, 16, 5), 2),
    ("2-D", (4, 16, 128, 128), (16, 16, 3, 3), 1),
    ("3-D small", (1, 3, 4, 12, 12), (3, 3, 3, 3, 3), 1),
    ("3-D large", (1, 16, 32, 64, 64), (16, 16, 3, 3, 3), 1),
]
QUICK = {"1-D", "3-D small"}


def median_and_spread(function, repeats: int) -> tuple[float, float, float]:
    """Time ``function`` ``repeats`` times after one warm-up call; return median, min, max in ms."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), min(times), max(times)


def run_case(name, x_shape, w_shape, padding, repeats):
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, x_shape, generator=generator).to(torch.uint8)
    w = torch.randint(-127, 128, w_shape, generator=generator).to(torch.int8)
    x_zp = 113
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(x_shape)]
    x_float, w_float = x.float() - x_zp, w.float()
    rows = []
    reference = median_and_spread(lambda: conv(x_float, w_float, padding=padding), repeats)
    rows.append((name, "torch float32 conv (not exact in general)", reference))

    for method in ql.METHODS:
        timing = median_and_spread(lambda: ql.conv_integer(x, w, x_zp, padding=padding, method=method), repeats)
        rows.append((name, f"conv_integer {method}", timing))

    # The same zero-point-padded accumulation on each carrier, to show what the fast path saves.
    geometry = conv_geometry(tuple(x_shape[2:]), x_shape[1], tuple(w_shape), padding=padding)
    padded = F.pad(x.to(torch.int64) - x_zp, geometry.torch_padding)
    w64 = w.to(torch.int64)
    bound = geometry.taps * 255 * 128
    for carrier in (torch.float32, torch.float64, torch.int64):
        if carrier == torch.float32 and bound >= 2**24:
            continue
        padded_carrier = padded.to(carrier)
        timing = median_and_spread(lambda: _conv_exact(padded_carrier, w64, geometry, carrier), repeats)
        rows.append((name, f"carrier {str(carrier).replace('torch.', '')}", timing))
    return rows, reference[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="run only the small cases")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per figure (default 7)")
    arguments = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"Python {platform.python_version()}")
    print()
    print("| case | what | median ms | min–max ms | × float32 conv |")
    print("|---|---|---:|---:|---:|")
    for name, x_shape, w_shape, padding in CASES:
        if arguments.quick and name not in QUICK:
            continue
        rows, reference_ms = run_case(name, x_shape, w_shape, padding, arguments.repeats)
        for case, what, (median, low, high) in rows:
            print(f"| {case} | {what} | {median:.2f} | {low:.2f}–{high:.2f} | {median / reference_ms:.2f} |")


if __name__ == "__main__":
    main()
