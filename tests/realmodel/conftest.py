"""What the real-model tests share: the official openai client on the session's server."""

from __future__ import annotations

import pytest
from openai import OpenAI


@pytest.fixture(scope="module")
def client(server: str) -> OpenAI:
    """No retries: a real model that fails should fail the test at once."""
    return OpenAI(base_url=f"{server}/v1", api_key="test", max_retries=0)
