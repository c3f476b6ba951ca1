"""Measure conv_integer per method and per carrier dtype against float32 torch convolution, and peak memory.

The timing table gives, for every case, the median and spread (min–max) of each call's time and
the ratio to the float32 ``torch.nn.functional.conv{1,2,3}d`` of the same shapes. The calls are
interleaved: every repeat times the float32 convolution and then each other call once, so a burst
of load from other processes hits both sides of a ratio, and the ratio's median and spread are
taken over the per-repeat ratios. float32 is exact for these cases, because every partial sum stays
below 2**24 (the "bound" column), so the target is the fastest exact method at most
``TARGET_RATIO`` times float32.

The memory table runs each method of the large 3-D case once in a fresh process and reports the
peak resident memory above the memory held once the inputs exist (Linux ``VmHWM``, reset through
``/proc/self/clear_refs`` after the inputs are made). tracemalloc does not see torch's allocations,
so the process's own high-water mark is measured instead.

    python benchmarks/conv_speed.py            # all cases and the memory table
    python benchmarks/conv_speed.py --quick    # the small cases only, no memory table
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

import qlesson as ql
from qlesson.convolution import _conv_exact, conv_geometry

from common import describe_machine, spread_text

CASES = [
    # name, input shape, kernel, padding
    ("1-D", (8, 16, 4096), (16, 16, 5), 2),
    ("2-D", (4, 16, 128, 128), (16, 16, 3, 3), 1),
    ("3-D small", (1, 3, 4, 12, 12), (3, 3, 3, 3, 3), 1),
    ("3-D large", (1, 16, 32, 64, 64), (16, 16, 3, 3, 3), 1),
]
QUICK = {"1-D", "3-D small"}
MEMORY_CASE = "3-D large"
EXACT_METHODS = ("zero_point_pad", "border_correction", "skip_taps")
TARGET_RATIO = 1.2
X_ZERO_POINT = 113
FLOAT32_EXACT_LIMIT = 2**24


def make_inputs(x_shape: tuple[int, ...], w_shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, x_shape, generator=generator).to(torch.uint8)
    w = torch.randint(-127, 128, w_shape, generator=generator).to(torch.int8)
    return x, w


def case_calls(x_shape, w_shape, padding) -> tuple[dict[str, object], int]:
    """Return the calls to time by name, the float32 reference first, and the accumulator bound."""
    x, w = make_inputs(x_shape, w_shape)
    conv = {3: F.conv1d, 4: F.conv2d, 5: F.conv3d}[len(x_shape)]
    x_float, w_float = x.float() - X_ZERO_POINT, w.float()
    calls = {"torch float32 conv": lambda: conv(x_float, w_float, padding=padding)}
    for method in ql.METHODS:
        calls[f"conv_integer {method}"] = (
            lambda method=method: ql.conv_integer(x, w, X_ZERO_POINT, padding=padding, method=method))

    # The same zero-point-padded accumulation on each carrier, to show what the float carrier saves.
    geometry = conv_geometry(tuple(x_shape[2:]), x_shape[1], tuple(w_shape), padding=padding)
    padded = F.pad(x.to(torch.int64) - X_ZERO_POINT, geometry.torch_padding)
    w64 = w.to(torch.int64)
    bound = geometry.taps * max(255 - X_ZERO_POINT, X_ZERO_POINT) * 127
    for carrier in (torch.float32, torch.float64, torch.int64):
        if carrier == torch.float32 and bound >= FLOAT32_EXACT_LIMIT:
            continue
        padded_carrier = padded.to(carrier)
        calls[f"carrier {str(carrier).replace('torch.', '')}"] = (
            lambda padded_carrier=padded_carrier, carrier=carrier: _conv_exact(padded_carrier, w64, geometry, carrier))
    return calls, bound


def time_interleaved(calls: dict[str, object], repeats: int) -> dict[str, list[float]]:
    """Call every function once per repeat after one untimed round, and return each call's times in ms.

    The timed calls run in the order of ``calls``, except that skip_taps runs last. The int64
    carrier multiplies int64 matrices. After it, the next float32 or float64 convolution on torch's
    Slow3d path ran 1.7 to 3.2 times slower until another torch kernel, such as a pad or a dtype
    conversion, ran (torch 2.13 on the machine in docs/benchmarks.md). The float32 reference of
    the 3-D small case took 83 instead of 49 µs there. The carrier rows also slowed the next calls
    of the 1-D case by up to 10 percent. skip_taps starts with such kernels and takes several
    times as long as the reference, so it follows the carriers in place of the reference.
    """
    order = sorted(calls, key=lambda name: name == "conv_integer skip_taps")
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name in order:
            call = calls[name]
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1e3)
    return times


def timing_table(quick: bool, repeats: int) -> list[str]:
    lines = [
        f"conv_integer against float32 torch convolution, {repeats} interleaved repeats; "
        f"target: the fastest exact method ≤ {TARGET_RATIO} × float32 where float32 is exact.",
        "",
        "| case | call | median ms | min–max ms | × float32 (median) | × float32 (min–max) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    verdicts = []
    for name, x_shape, w_shape, padding in CASES:
        if quick and name not in QUICK:
            continue
        calls, bound = case_calls(x_shape, w_shape, padding)
        times = time_interleaved(calls, repeats)
        reference = times["torch float32 conv"]
        ratios = {label: [value / base for value, base in zip(values, reference)] for label, values in times.items()}
        for label, values in times.items():
            lines.append(f"| {name} | {label} | {statistics.median(values):.2f} | {spread_text(values, 2)} | "
                         f"{statistics.median(ratios[label]):.2f} | {spread_text(ratios[label], 2)} |")
        exact = {method: statistics.median(ratios[f"conv_integer {method}"]) for method in EXACT_METHODS}
        fastest = min(exact, key=exact.get)
        float32_exact = bound < FLOAT32_EXACT_LIMIT
        met = "yes" if exact[fastest] <= TARGET_RATIO else "no"
        verdicts.append(f"| {name} | {bound} | {'yes' if float32_exact else 'no'} | {fastest} | "
                        f"{exact[fastest]:.3f} | {met if float32_exact else 'not applicable'} |")
    lines += ["", "| case | accumulator bound | float32 exact | fastest exact method | × float32 | target met |",
              "|---|---:|---|---|---:|---|", *verdicts]
    return lines


# ------------------------------------------------------------------------------- memory

def _memory_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing from /proc/self/status")


def measure_memory_child(label: str) -> None:
    """Run the call named ``label`` once on the memory case in this process and print its peak in KiB as JSON."""
    _, x_shape, w_shape, padding = next(case for case in CASES if case[0] == MEMORY_CASE)
    calls, _ = case_calls(x_shape, w_shape, padding)
    call = calls[label]
    before = _memory_kib("VmRSS")
    # Writing 5 resets the high-water mark VmHWM to the current RSS (Linux 4.0 and later, proc(5)).
    Path("/proc/self/clear_refs").write_text("5")
    call()
    print(json.dumps({"peak_kib": _memory_kib("VmHWM") - before}))


def memory_table(repeats: int) -> list[str]:
    labels = ["torch float32 conv", *(f"conv_integer {method}" for method in EXACT_METHODS)]
    peaks: dict[str, list[float]] = {label: [] for label in labels}
    for _ in range(repeats):
        for label in labels:
            command = [sys.executable, __file__, "--memory-child", label, "--threads", str(torch.get_num_threads())]
            result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
            peaks[label].append(json.loads(result.stdout.strip().splitlines()[-1])["peak_kib"] / 1024)
    reference = statistics.median(peaks["conv_integer zero_point_pad"])
    x_shape = next(case for case in CASES if case[0] == MEMORY_CASE)[1]
    lines = [
        f"Peak memory above the inputs, {MEMORY_CASE} case (input {x_shape}), one call per fresh process, "
        f"{repeats} processes per row.",
        "",
        "| call | median MiB | min–max MiB | × zero_point_pad |",
        "|---|---:|---:|---:|",
    ]
    for label, values in peaks.items():
        lines.append(f"| {label} | {statistics.median(values):.1f} | {spread_text(values)} | "
                     f"{statistics.median(values) / reference:.2f} |")
    return lines


def run(quick: bool = False, repeats: int = 7, memory_repeats: int = 3) -> list[str]:
    lines = timing_table(quick, repeats)
    if not quick:
        lines += ["", *memory_table(memory_repeats)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="run only the small cases and skip the memory table")
    parser.add_argument("--repeats", type=int, default=7, help="timed calls per figure (default 7)")
    parser.add_argument("--memory-repeats", type=int, default=3, help="fresh processes per memory figure (default 3)")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument("--memory-child", metavar="LABEL", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.threads:
        torch.set_num_threads(arguments.threads)
    if arguments.memory_child:
        measure_memory_child(arguments.memory_child)
        return
    print(describe_machine())
    print()
    print("\n".join(run(arguments.quick, arguments.repeats, arguments.memory_repeats)))


if __name__ == "__main__":
    main()
