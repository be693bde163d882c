"""The SDK installs and runs without the server: ``pip install hubserve`` pulls only what the client needs.

A child process may import only the standard library and the distributions that ``pip install hubserve``
brings (its requirements, and theirs): any other import fails there, as it would on a machine with the SDK
alone. The SDK still makes calls, streams, and reads typed errors; the ``hubserve`` command says what to
install instead of failing with a traceback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).parents[3]


def base_requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [re.split(r"[<>=!~;\[ ]", r)[0] for r in project["dependencies"]]


def installed_closure(names: list[str]) -> set[str]:
    """The distributions these require, transitively, without extras (what pip would install)."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop().lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        todo += [re.split(r"[<>=!~;\[ (]", r)[0] for r in requires if "extra ==" not in r]
    return seen


def allowed_modules() -> list[str]:
    closure = installed_closure(base_requirements())
    tops = {
        top
        for top, dists in metadata.packages_distributions().items()
        if any(d.lower().replace("_", "-") in closure for d in dists)
    }
    return sorted(tops | {"hubserve", "_distutils_hack"})


PROBE = """
import importlib.abc, json, sys
ALLOWED = set(json.loads(sys.argv[1]))

class Only(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in sys.stdlib_module_names or top in ALLOWED or top.startswith("_"):
            return None
        raise ModuleNotFoundError(f"No module named {name!r} (not installed with the SDK)", name=name)

sys.meta_path.insert(0, Only())
{body}
"""

BODY = """
import httpx, hubserve
from hubserve.client import endpoints, results

def answer(request):
    if request.url.path == "/models/org/e/pipeline/feature-extraction":
        return httpx.Response(200, json=[0.25, 0.5])
    if request.url.path == "/models/org/m":
        return httpx.Response(200, content=b'data:{"token":{"id":1,"text":"hi"}}\\n\\n')
    limited = {"X-Error-Type": "rate_limited", "Retry-After": "9"}
    return httpx.Response(429, headers=limited, json={"error": "slow"})

http = httpx.Client(transport=httpx.MockTransport(answer))
once = hubserve.RetryPolicy(max_attempts=1)
client = hubserve.InferenceClient(base_url="http://hs.test", http_client=http, retry=once)
out = {"vector": client.feature_extraction("x", model="org/e").tolist()}
out["stream"] = list(client.text_generation("x", model="org/m", stream=True))
try:
    client.text_classification("x", model="org/c")
except hubserve.RateLimitError as exc:
    out["error"] = [exc.status, exc.error_type, exc.retry_after]
heavy = ("torch", "onnxruntime", "transformers", "fastapi", "pydantic", "starlette", "huggingface_hub")
server = ("hubserve.gateway", "hubserve.server")
out["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in heavy or m.startswith(server))
print(json.dumps(out))
"""


def probe(body: str) -> subprocess.CompletedProcess[str]:
    code = PROBE.replace("{body}", textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, "-c", code, json.dumps(allowed_modules())],
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_sdk_needs_only_its_own_requirements() -> None:
    assert sorted(base_requirements()) == ["httpx", "numpy", "pillow"]
    assert not {"torch", "fastapi", "pydantic", "huggingface-hub"} & installed_closure(base_requirements())
    done = probe(BODY)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out == {"vector": [0.25, 0.5], "stream": ["hi"], "error": [429, "rate_limited", 9.0], "loaded": []}


def test_the_probe_does_refuse_the_servers_packages() -> None:
    done = probe("import fastapi")
    assert done.returncode != 0 and "not installed with the SDK" in done.stderr


def test_the_command_says_what_to_install_without_the_server() -> None:
    done = probe("from hubserve.cli.entry import main; sys.exit(main())")
    assert done.returncode == 2
    assert "pip install 'hubserve[server]'" in done.stderr and "Traceback" not in done.stderr


def test_import_hubserve_loads_no_client_until_asked() -> None:
    code = "import sys, hubserve; print(sorted(m for m in sys.modules if m.startswith('hubserve')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == ["hubserve"]
