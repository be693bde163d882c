"""text-to-image through huggingface_hub and openai on a tiny random Stable Diffusion pipeline (diffusers).

Also: a running image's steps show in ``/api/ps``, and a client that hangs up stops it.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest
from huggingface_hub import InferenceClient
from openai import OpenAI
from PIL import Image

from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import add_admin, running_server
from tests.tiny_media import build_diffusion

SD = "test/tiny-sd"
MAX_STEPS = 400


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("images")
    store = HubStore(home / "hub")
    folder = build_diffusion(home / "sd")
    import_folder(store, folder, ModelId.parse(SD), supported_tasks=supported_tasks(), show_progress=False)
    (home / "root.token").write_text(add_admin(home, "root"))
    return home


@pytest.fixture(scope="module")
def server(home: Path) -> Iterator[str]:
    with running_server(home, HUBSERVE_MAX_IMAGE_STEPS=str(MAX_STEPS)) as (url, _):
        yield url


@pytest.fixture(scope="module")
def headers(home: Path) -> dict[str, str]:
    return {"Authorization": f"Bearer {(home / 'root.token').read_text()}", "X-Wait-For-Model": "true"}


def client(server: str, headers: dict[str, str]) -> InferenceClient:
    return InferenceClient(base_url=f"{server}/models/{SD}", headers=headers, timeout=120)


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


def test_text_to_image_gives_an_image_of_the_asked_size_and_a_seed_repeats_it(
    server: str, headers: dict[str, str]
) -> None:
    hf = client(server, headers)
    first = hf.text_to_image("a red cat", height=32, width=48, num_inference_steps=2, seed=7)
    assert isinstance(first, Image.Image) and first.size == (48, 32) and first.format == "PNG"
    again = hf.text_to_image("a red cat", height=32, width=48, num_inference_steps=2, seed=7)
    other = hf.text_to_image("a red cat", height=32, width=48, num_inference_steps=2, seed=8)
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))
    euler = hf.text_to_image(
        "a red cat", height=32, width=48, num_inference_steps=2, seed=7, scheduler="EulerDiscreteScheduler"
    )
    assert euler.size == (48, 32)
    body = {"inputs": "a red cat", "parameters": {"height": 16, "width": 16, "num_inference_steps": 2}}
    default = httpx.post(f"{server}/models/{SD}", json=body, headers=headers, timeout=60)
    body["parameters"]["scheduler"] = "EulerDiscreteScheduler"  # type: ignore[index]
    picked = httpx.post(f"{server}/models/{SD}", json=body, headers=headers, timeout=60)
    assert (default.headers["x-scheduler"], picked.headers["x-scheduler"]) == (
        "DDIMScheduler",
        "EulerDiscreteScheduler",
    )


def test_accept_asks_for_jpeg_and_the_answer_names_its_seed(server: str, headers: dict[str, str]) -> None:
    body = {"inputs": "a blue dog", "parameters": {"height": 16, "width": 16, "num_inference_steps": 2}}
    answer = httpx.post(
        f"{server}/models/{SD}", json=body, headers={**headers, "Accept": "image/jpeg"}, timeout=60
    )
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(answer.content)).format == "JPEG"
    seed = int(answer.headers["x-seed"])
    body["parameters"]["seed"] = seed  # type: ignore[index]
    same = httpx.post(
        f"{server}/models/{SD}", json=body, headers={**headers, "Accept": "image/jpeg"}, timeout=60
    )
    assert same.content == answer.content


def test_openai_images_as_urls_and_base64(server: str, headers: dict[str, str]) -> None:
    api = OpenAI(
        base_url=f"{server}/v1", api_key=headers["Authorization"].split()[1], default_headers=headers
    )
    made = api.images.generate(
        model=SD, prompt="a dog on the moon", size="32x32", n=2, extra_body={"num_inference_steps": 2}
    )
    assert made.size == "32x32" and made.data and len(made.data) == 2
    urls = [d.url for d in made.data]
    assert all(u and urlsplit(u).path.startswith("/files/") for u in urls)
    images = [Image.open(io.BytesIO(httpx.get(u).content)) for u in urls if u]
    assert all(i.size == (32, 32) for i in images)
    assert not np.array_equal(pixels(images[0]), pixels(images[1]))  # each image its own seed
    assert httpx.get(f"{server}/files/{'x' * 43}").status_code == 404
    inline = api.images.generate(
        model=SD,
        prompt="a dog",
        size="16x16",
        response_format="b64_json",
        output_format="webp",
        extra_body={"num_inference_steps": 2},
    )
    assert inline.data and inline.data[0].b64_json
    assert Image.open(io.BytesIO(base64.b64decode(inline.data[0].b64_json))).format == "WEBP"


@pytest.mark.parametrize(
    ("parameters", "status", "error_type", "names"),
    [
        ({"height": 0, "width": 0}, 422, "validation", "at least 8"),
        ({"height": 10000, "width": 10000}, 400, "image_too_large", "HUBSERVE_MAX_IMAGE_PIXELS"),
        ({"height": 20, "width": 24}, 422, "validation", "multiple of 8"),
        ({"scheduler": "Nope"}, 400, "unknown_option", "EulerDiscreteScheduler"),
        ({"num_inference_steps": MAX_STEPS + 1}, 422, "validation", "HUBSERVE_MAX_IMAGE_STEPS"),
        ({"num_inference_steps": 0}, 422, "validation", "num_inference_steps"),
        ({"seed": -1}, 422, "validation", "seed"),
        ({"style": "vivid"}, 422, "validation", "style"),
    ],
)
def test_bad_image_requests_get_a_clear_error(
    server: str, headers: dict[str, str], parameters: dict[str, Any], status: int, error_type: str, names: str
) -> None:
    answer = httpx.post(
        f"{server}/models/{SD}",
        json={"inputs": "a cat", "parameters": parameters},
        headers=headers,
        timeout=60,
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type
    assert names in answer.json()["error"]


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"size": "big"}, "WIDTHxHEIGHT"),
        ({"n": 9}, "n"),
        ({"quality": "hd"}, "quality"),
        ({"prompt": ""}, "prompt"),
    ],
)
def test_bad_openai_image_requests_get_openai_errors(
    server: str, headers: dict[str, str], body: dict[str, Any], names: str
) -> None:
    answer = httpx.post(
        f"{server}/v1/images/generations", json={"model": SD, "prompt": "a cat", **body}, headers=headers
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["x-error-type"] == "validation"
    assert names in answer.json()["error"]["message"]


def running_progress(server: str, headers: dict[str, str]) -> dict[str, Any] | None:
    ps = httpx.get(f"{server}/api/ps", headers=headers).json()
    for model in ps["models"]:
        for runner in model["runners"]:
            if runner.get("progress"):
                return dict(runner["progress"])
    return None


def test_steps_show_in_ps_and_a_client_that_hangs_up_stops_the_image(
    server: str, headers: dict[str, str]
) -> None:
    warm = {"inputs": "warm", "parameters": {"height": 16, "width": 16, "num_inference_steps": 1}}
    assert httpx.post(f"{server}/models/{SD}", json=warm, headers=headers, timeout=60).status_code == 200
    body = json.dumps(
        {"inputs": "a long one", "parameters": {"height": 64, "width": 64, "num_inference_steps": MAX_STEPS}}
    ).encode()
    host, port = urlsplit(server).hostname, urlsplit(server).port
    request = (
        f"POST /models/{SD} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: {headers['Authorization']}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    seen: list[dict[str, Any]] = []
    with socket.create_connection((host, port)) as sock:
        sock.sendall(request)
        deadline = time.monotonic() + 60
        while not seen or seen[-1]["step"] < 3:
            assert time.monotonic() < deadline, "no progress showed in /api/ps"
            view = running_progress(server, headers)
            if view:
                seen.append(view)
            time.sleep(0.05)
    # The socket is closed: the call must stop long before its 400 steps are done.
    assert seen[-1]["task"] == "text-to-image" and seen[-1]["steps"] == MAX_STEPS
    stopped_by = time.monotonic() + 30
    last = seen[-1]
    while (view := running_progress(server, headers)) is not None:
        last = view
        assert time.monotonic() < stopped_by, "the image went on after its client left"
        time.sleep(0.05)
    assert last["step"] < MAX_STEPS


def test_images_are_metered(server: str, headers: dict[str, str]) -> None:
    before = httpx.get(f"{server}/api/usage", headers=headers).json()["totals"]["output_images"]
    body = {
        "inputs": "count me",
        "parameters": {"height": 16, "width": 16, "num_inference_steps": 1, "seed": 3},
    }
    assert httpx.post(f"{server}/models/{SD}", json=body, headers=headers, timeout=60).status_code == 200
    deadline = time.monotonic() + 10
    while httpx.get(f"{server}/api/usage", headers=headers).json()["totals"]["output_images"] == before:
        assert time.monotonic() < deadline
        time.sleep(0.1)
