"""Extreme numeric parameters on the real generation engine: each answer is a 200 or a 4xx, and none hangs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

LM = "test/tiny-llama"
TGI = f"/models/{LM}/generate"
HI = [{"role": "user", "content": "hi"}]


def tgi(**parameters: Any) -> tuple[str, dict[str, Any]]:
    return TGI, {"inputs": "hello", "parameters": {"max_new_tokens": 4, **parameters}}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        tgi(repetition_penalty=1e-300, do_sample=True),
        tgi(repetition_penalty=1e300, do_sample=True),
        tgi(temperature=1e-300),
        tgi(temperature=1e300),
        tgi(top_k=2**63),
        tgi(seed=2**64 - 1, do_sample=True),
        tgi(truncate=2**63),
        (TGI, {"inputs": "hello", "parameters": {"max_new_tokens": 2**64 - 1}}),
        (
            "/v1/completions",
            {"model": LM, "prompt": "hello", "max_tokens": 2**63, "logprobs": 5, "top_k": 2**63},
        ),
        ("/v1/completions", {"model": LM, "prompt": "hi", "max_tokens": 4, "logit_bias": {"9" * 20: 100}}),
        ("/v1/completions", {"model": LM, "prompt": "hi", "max_tokens": 4, "repetition_penalty": 1e-300}),
        ("/v1/completions", {"model": LM, "prompt": "hi", "max_tokens": 4, "keep_alive": 1e308}),
        ("/v1/chat/completions", {"model": LM, "messages": HI, "max_tokens": 4, "seed": 2**64 - 1}),
        ("/v1/chat/completions", {"model": LM, "messages": HI, "max_tokens": 4, "seed": -1}),
    ],
)
def test_extreme_numbers_answer_without_a_5xx(server: str, path: str, body: dict[str, Any]) -> None:
    r = httpx.post(f"{server}{path}", json=body, timeout=60)
    assert r.status_code < 500, r.text
    after = httpx.post(
        f"{server}{TGI}", json={"inputs": "hi", "parameters": {"max_new_tokens": 2}}, timeout=30
    )
    assert after.status_code == 200, after.text  # the engine still serves
