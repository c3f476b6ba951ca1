"""Timing statistics and the machine description that every benchmark script prints."""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path

import torch

REPOSITORY = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo, or the platform's processor string elsewhere."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load_average() -> str:
    """Return the 1-, 5- and 15-minute load averages, as `uptime` prints them."""
    try:
        return ", ".join(f"{value:.2f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def describe_machine() -> str:
    """Return one line naming the CPU, the cores this process may use, torch, Python and the load."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"machine: {cpu_model()}, {cores} cores available, torch {torch.__version__} "
            f"({torch.get_num_threads()} intra-op threads), Python {platform.python_version()}, "
            f"load average {load_average()} at {time.strftime('%Y-%m-%d %H:%M %Z')}")


def percentile(values: Sequence[float], percent: float) -> float:
    """Return the ``percent``-th percentile of ``values`` by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def spread_text(values: Sequence[float], digits: int = 1) -> str:
    """Format the smallest and largest value as ``min–max``."""
    return f"{min(values):.{digits}f}–{max(values):.{digits}f}"
