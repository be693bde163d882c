from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import pytest

from hubserve.config import Settings


def test_reads_prefixed_environment() -> None:
    env = {"HUBSERVE_PORT": "9001", "HUBSERVE_HOME": "/tmp/x", "HUBSERVE_RUNTIME": "torch"}
    settings = Settings.from_env(env)
    assert settings.port == 9001
    assert settings.home == Path("/tmp/x")
    assert settings.runtime == "torch"


def test_overrides_win_and_none_is_ignored() -> None:
    settings = Settings.from_env({"HUBSERVE_PORT": "9001"}, port=9002, home=None)
    assert settings.port == 9002


def test_threads_never_exceed_cores() -> None:
    cores = os.cpu_count() or 1
    assert Settings.from_env({"HUBSERVE_THREADS": str(cores * 4)}).threads == cores
    assert Settings.from_env({"HUBSERVE_THREADS": "0"}).threads == 1


def test_bad_number_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="HUBSERVE_PORT"):
        Settings.from_env({"HUBSERVE_PORT": "eighty"})


def test_encoder_split_is_rows_or_ops() -> None:
    assert Settings.from_env({}).encoder_split == "rows"
    assert Settings.from_env({"HUBSERVE_ENCODER_SPLIT": "ops"}).encoder_split == "ops"
    with pytest.raises(ValueError, match="HUBSERVE_ENCODER_SPLIT='threads' is not one of rows, ops"):
        Settings.from_env({"HUBSERVE_ENCODER_SPLIT": "threads"})


def test_the_gguf_engine_is_checked_at_start() -> None:
    assert Settings.from_env({}).gguf_engine == "auto"
    assert Settings.from_env({"HUBSERVE_GGUF_ENGINE": "llama-server"}).gguf_engine == "llama-server"
    with pytest.raises(
        ValueError, match="HUBSERVE_GGUF_ENGINE='vllm' is not one of auto, llama-cpp-python, llama-server"
    ):
        Settings.from_env({"HUBSERVE_GGUF_ENGINE": "vllm"})


def test_every_setting_is_documented() -> None:
    assert all(f.metadata.get("doc") for f in fields(Settings))
    assert {row[0] for row in Settings().as_table()} == {
        f"HUBSERVE_{f.name.upper()}" for f in fields(Settings)
    }


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


def test_a_runner_gets_the_gateways_settings_handed_down(tmp_path: Path) -> None:
    from hubserve.protocol import RunnerConfig
    from hubserve.scheduler.factory import runner_config

    settings = Settings.from_env(
        {}, home=tmp_path, threads=1, gen_slots=3, runtime="torch", log_level="debug"
    )
    config = runner_config(settings)
    assert config.hub_dir == tmp_path / "hub"
    assert (config.threads, config.gen_slots, config.runtime, config.log_level) == (1, 3, "torch", "debug")
    assert RunnerConfig.from_json(config.to_json()) == config
