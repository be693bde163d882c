"""Importing the SDK's modules pulls in none of the server: no torch, no onnxruntime, no gateway."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
import hubserve, hubserve.client.errors, hubserve.client.retry, hubserve.client.sending
heavy = ("torch", "onnxruntime", "transformers", "fastapi", "hubserve.gateway", "hubserve.server")
print(json.dumps([m for m in heavy if m in sys.modules]))
"""


def test_the_client_imports_nothing_heavy() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []
