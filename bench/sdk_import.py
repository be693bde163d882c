"""The SDK's import time, against huggingface_hub's and openai's clients, in fresh processes of one venv.

Run: ``python -m bench.sdk_import [--repeats N]``. Each statement runs in a new interpreter, in turns
(A B C A B C ...), and the figure is the median wall time with its spread, less a bare interpreter's.
Results go to stdout and ``bench/results/sdk_import.json``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from typing import Any

from bench.common import save_results

STATEMENTS = {
    "python (bare)": "pass",
    "import hubserve": "import hubserve",
    "hubserve.InferenceClient": "from hubserve import InferenceClient",
    "huggingface_hub.InferenceClient": "from huggingface_hub import InferenceClient",
    "openai.OpenAI": "from openai import OpenAI",
}


def timed(statement: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - started


def main() -> None:
    """Time each import in turns; print and save medians, spreads and ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    runs: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(args.repeats):
        for name, statement in STATEMENTS.items():
            runs[name].append(timed(statement))
    bare = statistics.median(runs["python (bare)"])
    rows: dict[str, dict[str, Any]] = {
        name: {
            "median_s": round(statistics.median(times) - bare, 4),
            "spread_s": [round(min(times) - bare, 4), round(max(times) - bare, 4)],
        }
        for name, times in runs.items()
        if name != "python (bare)"
    }
    ours = rows["hubserve.InferenceClient"]["median_s"]
    for peer in ("huggingface_hub.InferenceClient", "openai.OpenAI"):
        rows[peer]["hubserve_ratio"] = round(ours / rows[peer]["median_s"], 3)
    save_results("sdk_import", {"repeats": args.repeats, "bare_python_s": round(bare, 4), "imports": rows})


if __name__ == "__main__":
    main()
