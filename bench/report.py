"""``make bench``: run every suite, then write one report, ``bench/results/report.md`` and ``report.json``.

Run: ``python -m bench.report [--smoke] [--only SUITE ...]``. Each suite runs in its own process, one after
another (never two at once, so none steals another's cores), and saves its figures as JSON; the report
gathers them with the machine they were measured on and the settings of each suite, and renders every
suite's tables in Markdown. Ratios, medians and spreads are the suites' own: each measures hubserve and
its peer in the same run.

``--smoke`` runs every suite with the smallest counts that still exercise its whole path (seconds each,
figures meaningless) into ``bench/results/smoke/``: the test suite runs it, so the harness cannot rot.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
RESULTS_ENV = "HUBSERVE_BENCH_RESULTS"  # where bench.common.save_results writes
PACKAGES = ("hubserve", "onnxruntime", "torch", "llama_cpp_python", "xllamacpp", "sentence-transformers")


@dataclass(frozen=True)
class Suite:
    """One benchmark module and its arguments for a full run and for a smoke run."""

    module: str
    full: tuple[str, ...]
    smoke: tuple[str, ...]
    about: str


SUITES: dict[str, Suite] = {
    "gateway": Suite(
        "bench.gateway",
        ("--seconds", "10", "--rounds", "3"),
        ("--seconds", "1", "--rounds", "1", "--connections", "4"),
        "Gateway overhead: a cached answer and a tiny model against a bare Starlette app, wrk at 64 "
        "connections.",
    ),
    "embeddings": Suite(
        "bench.embeddings",
        (),
        ("--requests", "64", "--clients", "4", "--seconds", "1", "--rounds", "1"),
        "Embeddings on MiniLM: hubserve against infinity-emb and in-process sentence-transformers.",
    ),
    "embeddings_peers": Suite(
        "bench.embeddings_peers",
        ("--seconds", "5", "--rounds", "2"),
        ("--seconds", "1", "--rounds", "1", "--clients", "4"),
        "Embeddings against infinity-emb (its own venv): 1, 16 and 64 clients, 16- and 128-token texts.",
    ),
    "chat": Suite(
        "bench.chat",
        ("--tokens", "128", "--rounds", "2"),
        (
            "--tokens",
            "4",
            "--rounds",
            "1",
            "--levels",
            "1",
            "--only",
            "hubserve_llama_cpp_python",
            "llama_server",
        ),
        "Streaming generation on Gemma 3 270M: hubserve's two GGUF engines against llama-server and "
        "llama-cpp-python's server.",
    ),
    "coldstart": Suite(
        "bench.coldstart",
        ("--rounds", "3"),
        ("--rounds", "1", "--models", "arcjet/sensitive-info-rampart"),
        "Cold start against the bare load, and the estimated_time error.",
    ),
    "scale": Suite(
        "bench.scale",
        ("--seconds", "10"),
        ("--seconds", "1", "--models", "1", "3"),
        "Scale with models: 1, 3 and 10 tiny models in rotation under a memory budget for 3.",
    ),
    "memory": Suite(
        "bench.memory",
        ("--rounds", "2"),
        ("--rounds", "1", "--models", "arcjet/sensitive-info-rampart"),
        "Each runner's RSS against its weights, and the spare runner's.",
    ),
    "endpoints": Suite(
        "bench.endpoints",
        ("--rounds", "2", "--seconds", "5"),
        ("--rounds", "1", "--seconds", "1", "--clients", "4"),
        "Inference Endpoints against the serverless route on MiniLM: start, throughput, rollover.",
    ),
    "speech": Suite(
        "bench.speech",
        ("--rounds", "2"),
        ("--rounds", "1"),
        "Speech recognition and text-to-speech against their runtimes in process.",
    ),
    "sdk_import": Suite(
        "bench.sdk_import",
        ("--repeats", "15"),
        ("--repeats", "1"),
        "Import time of hubserve's SDK against huggingface_hub's and openai's clients.",
    ),
}


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in _lines("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    memory = next((line.split()[1] for line in _lines("/proc/meminfo") if line.startswith("MemTotal")), "0")
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024**2, 1),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "commit": commit or None,
        "packages": versions,
    }


def _lines(path: str) -> list[str]:
    try:
        return Path(path).read_text().splitlines()
    except OSError:
        return []


def run_suite(name: str, suite: Suite, out: Path, smoke: bool) -> dict[str, Any]:
    """Run one suite in a fresh process; its saved figures, or what went wrong."""
    args = suite.smoke if smoke else suite.full
    env = {**os.environ, RESULTS_ENV: str(out)}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", suite.module, *args],
        cwd=Path(__file__).parent.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    seconds = round(time.perf_counter() - started, 1)
    saved = out / f"{name}.json"
    entry: dict[str, Any] = {"about": suite.about, "command": f"python -m {suite.module} {' '.join(args)}"}
    entry["seconds"] = seconds
    if done.returncode != 0 or not saved.exists():
        entry["error"] = (done.stderr or done.stdout)[-4000:]
        return entry
    entry["figures"] = json.loads(saved.read_text())
    return entry


def markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: the machine, then each suite's settings and tables."""
    m = report["machine"]
    lines = [
        "# hubserve benchmarks",
        "",
        f"{m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; {m['system']}; Python {m['python']}; "
        f"commit {m['commit']}. Mode: {report['mode']}; {report['seconds']} s in all.",
        "",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + ".",
    ]
    for name, entry in report["suites"].items():
        lines += ["", f"## {name}", "", entry["about"], "", f"`{entry['command']}` ({entry['seconds']} s)"]
        if "error" in entry:
            lines += ["", "**Failed:**", "", "```", entry["error"].strip(), "```"]
            continue
        lines += _render(entry["figures"], level=3)
    return "\n".join(lines) + "\n"


def _render(figures: dict[str, Any], level: int) -> list[str]:
    """Scalars as a settings line; a dict of flat dicts as a table; deeper dicts as sub-sections."""
    out: list[str] = []
    scalars = {k: v for k, v in figures.items() if not isinstance(v, dict)}
    if scalars:
        out += ["", "; ".join(f"{k}: {_cell(v)}" for k, v in scalars.items())]
    nested = {k: v for k, v in figures.items() if isinstance(v, dict)}
    flat = {k: v for k, v in nested.items() if not any(isinstance(x, dict) for x in v.values())}
    if flat:
        columns: list[str] = []
        for row in flat.values():
            columns += [c for c in row if c not in columns]
        out += ["", "| | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
        for key, row in flat.items():
            out.append(f"| {key} | " + " | ".join(_cell(row.get(c, "")) for c in columns) + " |")
    for key, value in nested.items():
        if key not in flat:
            out += ["", "#" * level + f" {key}", *_render(value, level + 1)]
    return out


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return (
            "–".join(str(v) for v in value)
            if len(value) == 2 and all(_number(v) for v in value)
            else str(value)
        )
    return str(value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def main() -> None:
    """Run the suites asked for and write the report."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny counts, into bench/results/smoke/")
    parser.add_argument("--only", nargs="*", choices=sorted(SUITES), help="suites to run (default: all)")
    parser.add_argument("--out", type=Path, help="folder of the results (default: bench/results[/smoke])")
    args = parser.parse_args()
    out = args.out or (RESULTS / "smoke" if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    suites = {}
    for name in args.only or SUITES:
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        suites[name] = run_suite(name, SUITES[name], out, args.smoke)
        status = "failed" if "error" in suites[name] else "done"
        print(f"bench: {name} {status} in {suites[name]['seconds']} s", file=sys.stderr, flush=True)
    report = {
        "mode": "smoke" if args.smoke else "full",
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(),
        "suites": suites,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))
    print(out / "report.md")
    if any("error" in entry for entry in suites.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
