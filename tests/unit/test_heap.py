from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import gc
from hubserve import heap
kept = [[i] for i in range(1000)]  # alive at start-up: frozen
before = gc.get_threshold()
heap.settle(collect=True)
assert gc.get_freeze_count() >= 1000, gc.get_freeze_count()
assert gc.get_threshold() == (10_000, *before[1:]), gc.get_threshold()
garbage = []
garbage.append(garbage)  # a cycle made after start-up is still collected
del garbage
assert gc.collect() >= 1
print("ok")
"""


def test_settle_freezes_what_start_up_left_and_still_collects_later_cycles() -> None:
    # In a child process: freezing is process-wide, and this test process must keep its own collector.
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
