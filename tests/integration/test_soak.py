"""The soak for 60 seconds: 64 clients, runners killed on a schedule, usage equal to what clients saw."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bench.soak import SERVER_ENV, load_models, soak

from tests.conftest import running_server


def test_a_minute_of_mixed_load_with_runner_kills(hub_home: Path, admin_headers: dict[str, str]) -> None:
    with running_server(hub_home, **SERVER_ENV) as (url, _):
        asyncio.run(load_models(url, admin_headers))
        report = asyncio.run(
            soak(
                url,
                admin=admin_headers,
                database_url=f"sqlite:///{hub_home / 'accounts.db'}",
                seconds=60,
                clients=64,
                kill_every_s=15,
            )
        )
    summary = report.summary()
    print(json.dumps(summary, indent=2))
    assert report.problems == []
    assert report.usage_mismatch == {}
    assert summary["streams_started"] > 0 and summary["streams_completed"] == summary["streams_started"]
    assert len(report.kills) >= 2
    # On two cores the encoders' clients keep both busy, so a generation model's restart takes a while.
    assert all(k.served_again_s is not None and k.served_again_s < 60 for k in report.kills), summary["kills"]
    served = {key.split()[0] for key in summary["by_model_and_status"] if key.endswith(" 200")}
    assert served == {
        "sentence-transformers/all-MiniLM-L6-v2",
        "arcjet/sensitive-info-rampart",
        "google/gemma-3-270m",
    }
