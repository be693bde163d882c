"""Image classification, object detection and audio classification through huggingface_hub, on tiny models.

The client sends the file as the body; with parameters, as base64 JSON. Both reach the same task.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from huggingface_hub import InferenceClient

from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests.conftest import running_server
from tests.tiny_media import LABELS, build_audio_classifier, build_captioner, build_vision, png, wav

VIT, YOLOS, CLIPS, CAPTIONS = "test/tiny-vit", "test/tiny-yolos", "test/tiny-clips", "test/tiny-captions"
HOLD = {"X-Wait-For-Model": "true"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = tmp_path_factory.mktemp("files")
    store = HubStore(home / "hub")
    tasks = supported_tasks()
    for model, folder in (
        (VIT, build_vision("vit", home / "vit")),
        (YOLOS, build_vision("yolos", home / "yolos")),
        (CLIPS, build_audio_classifier(home / "clips")),
        (CAPTIONS, build_captioner(home / "captions")),
    ):
        import_folder(store, folder, ModelId.parse(model), supported_tasks=tasks, show_progress=False)
    with running_server(home, HUBSERVE_MAX_IMAGE_PIXELS=str(512 * 512)) as (url, _):
        yield url


def client(server: str, model: str) -> InferenceClient:
    return InferenceClient(base_url=f"{server}/models/{model}", headers=HOLD, timeout=120)


def test_image_classification_names_the_models_labels_best_first(server: str) -> None:
    out = client(server, VIT).image_classification(png())
    assert {o.label for o in out} == set(LABELS.values())
    assert [o.score for o in out] == sorted((o.score for o in out), reverse=True)
    assert abs(sum(o.score for o in out) - 1.0) < 1e-4
    top = client(server, VIT).image_classification(png(), top_k=1)  # parameters: base64 JSON
    assert len(top) == 1 and top[0].label == out[0].label


def test_object_detection_gives_boxes_inside_the_image(server: str) -> None:
    found = client(server, YOLOS).object_detection(png(50, 40), threshold=0.0)
    assert found and all(f.label in LABELS.values() for f in found)
    for f in found:
        assert 0 <= f.box.xmin <= f.box.xmax <= 50 and 0 <= f.box.ymin <= f.box.ymax <= 40


def test_image_to_text_writes_a_caption(server: str) -> None:
    caption = client(server, CAPTIONS).image_to_text(png())
    assert isinstance(caption.generated_text, str) and caption.generated_text  # random weights: some text
    body = {"inputs": base64.b64encode(png()).decode(), "parameters": {"max_new_tokens": 2}}
    short = httpx.post(f"{server}/models/{CAPTIONS}", json=body, headers=HOLD, timeout=60).json()
    assert len(short) == 1 and len(short[0]["generated_text"]) <= len(caption.generated_text)


def test_audio_classification_resamples_and_labels_a_clip(server: str) -> None:
    out = client(server, CLIPS).audio_classification(wav(rate=22050))
    assert {o.label for o in out} == {"speech", "music"}
    assert abs(sum(o.score for o in out) - 1.0) < 1e-4


@pytest.mark.parametrize(
    ("model", "body", "headers", "status", "error_type"),
    [
        (VIT, b"not an image", {"Content-Type": "image/png"}, 400, "invalid_image"),
        (VIT, b"", {"Content-Type": "image/png"}, 400, "invalid_image"),
        (VIT, png(1000, 1000, plain=True), {"Content-Type": "image/png"}, 400, "image_too_large"),
        (YOLOS, b'{"inputs": "@@@"}', {"Content-Type": "application/json"}, 400, "invalid_image"),
        (CLIPS, b"not audio" * 50, {"Content-Type": "audio/wav"}, 400, "invalid_audio"),
    ],
)
def test_bad_files_get_a_clear_error(
    server: str, model: str, body: bytes, headers: dict[str, str], status: int, error_type: str
) -> None:
    answer = httpx.post(f"{server}/models/{model}", content=body, headers={**HOLD, **headers}, timeout=60)
    assert answer.status_code == status, answer.text
    assert answer.headers["x-error-type"] == error_type


@pytest.mark.parametrize(
    ("model", "parameters", "names"),
    [(VIT, {"top_k": 0}, "top_k"), (YOLOS, {"threshold": 2}, "threshold"), (CLIPS, {"colour": 1}, "colour")],
)
def test_bad_parameters_are_a_422(server: str, model: str, parameters: dict[str, Any], names: str) -> None:
    body = {"inputs": base64.b64encode(png() if model != CLIPS else wav()).decode(), "parameters": parameters}
    answer = httpx.post(f"{server}/models/{model}", json=body, headers=HOLD, timeout=60)
    assert answer.status_code == 422 and names in answer.json()["error"]
