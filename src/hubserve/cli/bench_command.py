"""``hubserve bench``: run the benchmark suites of a source checkout and write their report."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from hubserve.config import Settings
from hubserve.errors import BadRequest


def add_bench_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``hubserve bench``."""
    bench = sub.add_parser(
        "bench", help="run the benchmarks (from a source checkout); write bench/results/report.md"
    )
    bench.add_argument("--smoke", action="store_true", help="tiny counts: checks the harness, in minutes")
    bench.add_argument("--only", nargs="+", metavar="SUITE", help="suites to run (default: all)")
    bench.set_defaults(handler=_bench)


def checkout() -> Path:
    """The source checkout this hubserve runs from; the benchmarks live there, not in the package."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "bench" / "report.py").is_file():
        raise BadRequest(
            "hubserve bench runs the benchmarks of a source checkout (bench/ beside src/); this hubserve "
            f"is installed from {root}, which has none"
        )
    return root


def _bench(args: argparse.Namespace, settings: Settings) -> int:
    root = checkout()
    subprocess.run([str(root / "scripts" / "bench-peers.sh")], cwd=root, check=True)
    command = [sys.executable, "-m", "bench.report"]
    if args.smoke:
        command.append("--smoke")
    if args.only:
        command += ["--only", *args.only]
    return subprocess.run(command, cwd=root).returncode
