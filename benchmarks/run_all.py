"""Run every benchmark and print all tables, headed by the machine and its load.

    python benchmarks/run_all.py            # everything; the suite run alone takes several minutes
    python benchmarks/run_all.py --quick    # small cases, default widget sizes, notebooks-only suite run

The whole suite runs last, because it starts its own kernels and would disturb the other timings.
"""

from __future__ import annotations

import argparse

import conv_speed
import suite_time
import widget_latency
from common import describe_machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="small convolution cases, default widget sizes, and only the notebooks of the suite")
    arguments = parser.parse_args()
    sections = [
        ("Exact convolution speed and peak memory", lambda: conv_speed.run(quick=arguments.quick)),
        ("Widget update latency", lambda: widget_latency.run(quick=arguments.quick)),
        ("Test suite time", lambda: suite_time.run(notebooks_only=arguments.quick)),
    ]
    print(describe_machine())
    for title, run in sections:
        print(f"\n## {title}\n")
        print("\n".join(run()), flush=True)
        print(f"\n{describe_machine()}", flush=True)


if __name__ == "__main__":
    main()
