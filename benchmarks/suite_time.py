"""Measure the wall time of ``pytest --nbval`` against its floor.

The serial floor is the number of notebooks times the time to start one Jupyter kernel, import
every module that the lesson notebooks import, and shut the kernel down. pyproject.toml runs the
suite on several pytest-xdist workers, so the notebooks' kernels start in parallel and the serial
floor is no longer a bound. The parallel floor is the wall time of the same kernel starts spread
over as many worker processes as the suite uses. No suite with that many workers that executes
each notebook in a fresh kernel can be faster, so the target is judged against it. All three are
measured in the same run. The single kernel start is repeated ``--floor-repeats`` times, the
parallel floor ``--parallel-floor-repeats`` times and the suite ``--suite-repeats`` times, and
ratios are taken between medians.

    python benchmarks/suite_time.py                    # the whole suite: unit tests and notebooks
    python benchmarks/suite_time.py --notebooks-only   # only the notebooks, both languages
    python benchmarks/suite_time.py --workers 1        # the suite in one process (pytest -n 0)
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from types import SimpleNamespace

import nbformat
from jupyter_client.manager import start_new_kernel
from xdist.plugin import pytest_xdist_auto_num_workers

from common import REPOSITORY, describe_machine, spread_text

NOTEBOOK_DIRECTORIES = ("notebooks/en", "notebooks/zh-TW")
# qlesson imports matplotlib and ipywidgets itself; they are named so the floor does not depend on that.
BASE_IMPORTS = {"torch", "matplotlib", "ipywidgets", "qlesson"}
TARGET_RATIO = 1.5
KERNEL_TIMEOUT_SECONDS = 300


def notebook_paths() -> list:
    """Return the notebooks that have code cells; nbval starts no kernel for the others."""
    paths = sorted(path for directory in NOTEBOOK_DIRECTORIES for path in (REPOSITORY / directory).glob("*.ipynb"))
    return [path for path in paths
            if any(cell.cell_type == "code" for cell in nbformat.read(path, as_version=4).cells)]


def lesson_imports() -> list[str]:
    """Return the top-level modules that the code cells of the notebooks import, and BASE_IMPORTS, sorted."""
    modules = set(BASE_IMPORTS)
    for path in notebook_paths():
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            # IPython magics and shell escapes are not Python, so they are left out before parsing.
            source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            for node in ast.walk(ast.parse(source)):
                if isinstance(node, ast.Import):
                    modules.update(alias.name.split(".")[0] for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules.add(node.module.split(".")[0])
    return sorted(modules)


def time_kernel_start(modules: list[str]) -> float:
    """Start a kernel, import ``modules`` in it and shut it down; return the seconds taken."""
    start = time.perf_counter()
    manager, client = start_new_kernel(kernel_name="python3", cwd=str(REPOSITORY))
    try:
        reply = client.execute_interactive("import " + ", ".join(modules), timeout=KERNEL_TIMEOUT_SECONDS,
                                           output_hook=lambda message: None)
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"importing {modules} in a kernel failed: {reply['content']}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel()
    return time.perf_counter() - start


def auto_worker_count() -> int:
    """Return the number of workers that ``-n auto`` in pyproject.toml's addopts starts on this machine.

    This calls pytest-xdist's own implementation of the hook, so it reads PYTEST_XDIST_AUTO_NUM_WORKERS
    too, but ignores any other plugin's implementation of that hook.
    """
    return pytest_xdist_auto_num_workers(SimpleNamespace(option=SimpleNamespace(numprocesses="auto")))


def time_parallel_floor(modules: list[str], count: int, workers: int) -> float:
    """Start ``count`` kernels with ``modules`` imported on ``workers`` processes and return the wall seconds."""
    start = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(time_kernel_start, [modules] * count))
    return time.perf_counter() - start


def time_suite(notebooks_only: bool, workers: int | None) -> tuple[float, str]:
    """Run ``pytest --nbval`` from the repository root and return the seconds taken and pytest's summary line.

    With ``workers`` None, pyproject.toml's ``-n auto`` applies. A number is passed as ``-n``, except
    that 1 runs ``-n 0``, so the suite runs in pytest's own process.
    """
    command = [sys.executable, "-m", "pytest", "--nbval", "-q", "-p", "no:randomly"]
    if workers is not None:
        command += ["-n", str(workers if workers > 1 else 0)]
    if notebooks_only:
        command += list(NOTEBOOK_DIRECTORIES)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=REPOSITORY, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    lines = [line for line in result.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    return seconds, lines[-1].strip("= ") if lines else f"pytest exited with {result.returncode}"


def run(notebooks_only: bool = False, floor_repeats: int = 5, suite_repeats: int = 1, workers: int | None = None,
        parallel_floor_repeats: int = 1) -> list[str]:
    modules = lesson_imports()
    count = len(notebook_paths())
    floor_workers = workers if workers is not None else auto_worker_count()
    kernel_times = [time_kernel_start(modules) for _ in range(floor_repeats)]
    parallel_times = [time_parallel_floor(modules, count, floor_workers) for _ in range(parallel_floor_repeats)]
    suites = [time_suite(notebooks_only, workers) for _ in range(suite_repeats)]
    suite_times = [seconds for seconds, _ in suites]
    kernel = statistics.median(kernel_times)
    serial_floor = count * kernel
    floor = statistics.median(parallel_times)
    suite = statistics.median(suite_times)
    scope = "notebooks only" if notebooks_only else "whole suite"
    lines = [
        f"pytest --nbval ({scope}, {floor_workers} worker{'s' if floor_workers > 1 else ''}) against the floor: "
        f"{count} notebooks with code × (start a kernel, import {', '.join(modules)}, shut down), spread over "
        f"{floor_workers} process{'es' if floor_workers > 1 else ''}. Target: ≤ {TARGET_RATIO} × the floor.",
        "",
        "| measurement | runs | median s | min–max s | × floor |",
        "|---|---:|---:|---:|---:|",
        f"| one kernel start with the lesson imports | {floor_repeats} | {kernel:.2f} | {spread_text(kernel_times, 2)} "
        f"| {kernel / floor:.2f} |",
        f"| serial floor: {count} × kernel start | – | {serial_floor:.1f} "
        f"| {spread_text([count * t for t in kernel_times])} | {serial_floor / floor:.2f} |",
        f"| floor: {count} kernel starts on {floor_workers} processes | {parallel_floor_repeats} | {floor:.1f} "
        f"| {spread_text(parallel_times)} | 1.00 |",
        f"| pytest --nbval, {scope} | {suite_repeats} | {suite:.1f} | {spread_text(suite_times)} | {suite / floor:.2f} |",
        "",
        f"pytest reported: {'; '.join(summary for _, summary in suites)}. "
        f"Target {'met' if suite / floor <= TARGET_RATIO else 'not met'} ({suite / floor:.2f} × the floor, "
        f"{suite / serial_floor:.2f} × the serial floor).",
    ]
    return lines


def positive_int(text: str) -> int:
    """Parse a command-line count, which must be a whole number of at least 1."""
    message = f"invalid count {text!r}: expected a whole number of at least 1"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if value < 1:
        raise argparse.ArgumentTypeError(message)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notebooks-only", action="store_true", help="time only the notebooks, not the unit tests")
    parser.add_argument("--floor-repeats", type=int, default=5, help="kernel starts timed for the floor (default 5)")
    parser.add_argument("--suite-repeats", type=int, default=1, help="pytest runs timed (default 1)")
    parser.add_argument("--parallel-floor-repeats", type=positive_int, default=1,
                        help="timed runs of the parallel floor, all kernel starts spread over the workers (default 1)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="pytest-xdist workers for the suite, and processes for the floor. 1 runs "
                             "pytest -n 0 (default: the number that -n auto in pyproject.toml starts)")
    arguments = parser.parse_args()
    print(describe_machine())
    print()
    print("\n".join(run(arguments.notebooks_only, arguments.floor_repeats, arguments.suite_repeats, arguments.workers,
                        arguments.parallel_floor_repeats)))


if __name__ == "__main__":
    main()
