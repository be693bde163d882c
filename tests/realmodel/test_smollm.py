"""The real SmolLM2-135M-Instruct GGUF: a chat model whose own ChatML template comes from its metadata."""

from __future__ import annotations

import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI

from tests.conftest import SMOLLM

pytestmark = pytest.mark.realmodel


def test_answers_the_capital_of_france(client: OpenAI) -> None:
    out = client.chat.completions.create(
        model=SMOLLM,
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        max_tokens=30,
        temperature=0,
    )
    reply = out.choices[0].message.content or ""
    assert "Paris" in reply
    assert out.choices[0].finish_reason == "stop"  # the template's <|im_end|> ends the turn
    assert "<|im_" not in reply and "assistant" not in reply.lower()[:10]


def test_chat_renders_the_models_own_chatml_template(client: OpenAI) -> None:
    chat = client.chat.completions.create(
        model=SMOLLM, messages=[{"role": "user", "content": "Name a colour."}], max_tokens=12, temperature=0
    )
    # What the GGUF's template makes of that conversation, its default system turn included.
    chatml = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nName a colour.<|im_end|>\n<|im_start|>assistant\n"
    )
    raw = client.completions.create(model=SMOLLM, prompt=chatml, max_tokens=12, temperature=0)
    assert chat.usage is not None and raw.usage is not None
    assert chat.usage.prompt_tokens == raw.usage.prompt_tokens
    assert chat.choices[0].message.content == raw.choices[0].text


def test_hf_client_chat(server: str) -> None:
    hf = InferenceClient(model=f"{server}/models/{SMOLLM}")
    out = hf.chat_completion([{"role": "user", "content": "Say hi"}], max_tokens=5, temperature=0)
    assert out.choices[0].message.content
