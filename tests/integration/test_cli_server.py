"""The CLI against a real server: ``rm`` of a loaded model stops its runner, and errors keep their type."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import Scope
from hubserve.accounts.store import AccountStore
from hubserve.cli.main import main
from hubserve.hub.store import HubStore
from tests.conftest import import_tiny, running_server


def _admin_token(home: Path) -> str:
    accounts = AccountStore(make_engine(default_url(home)))
    migrate(accounts.engine)
    accounts.create_account("root", is_admin=True, tier="unlimited")
    token = accounts.create_token("root", "tests", scopes=tuple(Scope)).token
    accounts.engine.dispose()
    return token


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_rm_of_a_loaded_model_stops_its_runner(
    tmp_path: Path, tiny_dirs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    import_tiny(HubStore(home / "hub"), tiny_dirs["cls"], "t/cls")
    token = _admin_token(home)
    admin = {"Authorization": f"Bearer {token}"}
    env = {"HUBSERVE_KEEP_ALIVE_S": "600", "HUBSERVE_SPARE_RUNNERS": "0"}
    with running_server(home, **env) as (url, _):
        loaded = httpx.post(f"{url}/api/models/t/cls/load", headers=admin, timeout=120)
        assert loaded.status_code == 200, loaded.text
        (model,) = httpx.get(f"{url}/api/ps", headers=admin).json()["models"]
        pid = model["pid"]
        assert model["model"] == "t/cls" and _alive(pid)

        code = main(["--home", str(home), "rm", "t/cls", "--url", url, "--token", token])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.strip() == f"removed t/cls (unloaded from {url})"
        assert httpx.get(f"{url}/api/ps", headers=admin).json()["models"] == []
        deadline = time.monotonic() + 10
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(pid)  # the runner process is gone, not waiting out its keep-alive
        time.sleep(1.5)  # the gateway trusts a manifest it read for a second (HubStore.recheck_s)
        gone = httpx.post(f"{url}/models/t/cls", json={"inputs": "hi"}, timeout=30)
        assert gone.status_code == 404 and gone.headers["x-error-type"] == "model_not_found"

        code = main(["--home", str(home), "unload", "t/cls", "--url", url, "--token", token])
        err = " ".join(capsys.readouterr().err.split())
        assert code == 2 and "error (model_not_found):" in err and "t/cls" in err
