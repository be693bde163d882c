from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest

from hubserve.errors import InputTooLong, UnknownOption, ValidationFailed
from tests.unit.tasks.helpers import run_task

MODEL = "test/tiny-embed"
TEXTS = ["i love pizza", "the weather today is sunny", "cancel my subscription please"]


@pytest.fixture(scope="module")
def st_model(tiny_dirs: dict[str, Path]):  # type: ignore[no-untyped-def]
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(tiny_dirs["embed"]), device="cpu")


@pytest.mark.parametrize("runtime", ["onnx", "torch"])
def test_matches_sentence_transformers(hub, st_model, runtime: str) -> None:
    ours = np.asarray(run_task(hub, MODEL, "feature-extraction", TEXTS, runtime=runtime))
    ref = st_model.encode(TEXTS)
    assert ours.shape == (3, 32)
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)


def test_single_input_is_nested(hub) -> None:
    ours = run_task(hub, MODEL, "feature-extraction", TEXTS[0])
    assert len(ours) == 1 and len(ours[0]) == 32


def test_batch_equals_single(hub) -> None:
    batch = np.asarray(run_task(hub, MODEL, "feature-extraction", TEXTS))
    singles = np.asarray([run_task(hub, MODEL, "feature-extraction", t)[0] for t in TEXTS])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_normalize_false_and_dimensions(hub) -> None:
    raw = np.asarray(run_task(hub, MODEL, "feature-extraction", TEXTS, normalize=False))
    assert not np.allclose(np.linalg.norm(raw, axis=1), 1.0)
    cut = np.asarray(run_task(hub, MODEL, "feature-extraction", TEXTS, dimensions=8))
    assert cut.shape == (3, 8)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-5)


def test_prompt_name_prefixes_the_prompt(hub, st_model) -> None:
    ours = np.asarray(run_task(hub, MODEL, "feature-extraction", ["pizza"], prompt_name="query"))
    np.testing.assert_allclose(ours[0], st_model.encode("what is pizza"), atol=1e-4)
    with pytest.raises(UnknownOption, match="passage, query"):
        run_task(hub, MODEL, "feature-extraction", ["pizza"], prompt_name="nope")


def test_truncation(hub) -> None:
    long = "pizza " * 100
    with pytest.raises(InputTooLong, match="at most 48"):
        run_task(hub, MODEL, "feature-extraction", long)
    right = run_task(hub, MODEL, "feature-extraction", long + "weather", truncate=True)
    left = run_task(
        hub, MODEL, "feature-extraction", "weather " + long, truncate=True, truncation_direction="left"
    )
    np.testing.assert_allclose(right, left, atol=1e-4)


def test_base64(hub) -> None:
    floats = run_task(hub, MODEL, "feature-extraction", TEXTS[:1])
    encoded = run_task(hub, MODEL, "feature-extraction", TEXTS[:1], encoding_format="base64")
    decoded = np.frombuffer(base64.b64decode(encoded[0]), dtype="<f4")
    np.testing.assert_allclose(decoded, floats[0], atol=1e-7)


def test_similarity(hub, st_model) -> None:
    scores = run_task(
        hub, MODEL, "sentence-similarity", {"source_sentence": TEXTS[0], "sentences": TEXTS[1:]}
    )
    ref = st_model.encode(TEXTS)
    assert scores == pytest.approx([float(ref[0] @ ref[1]), float(ref[0] @ ref[2])], abs=1e-4)


@pytest.mark.parametrize(
    "inputs",
    [
        {"source_sentence": "a"},
        {"source_sentence": "a", "sentences": []},
        {"source_sentence": "", "sentences": ["b"]},
        {"source_sentence": "a", "sentences": ["b", ""]},
        "text",
    ],
)
def test_similarity_bad_inputs(hub, inputs: object) -> None:
    with pytest.raises(ValidationFailed):
        run_task(hub, MODEL, "sentence-similarity", inputs)


def test_unknown_root_field_for_other_tasks(hub) -> None:
    with pytest.raises(ValidationFailed, match="top-level"):
        run_task(hub, "test/tiny-cls", "text-classification", "hi", normalize=True)


def test_too_many_inputs(hub) -> None:
    with pytest.raises(ValidationFailed, match="at most 256"):
        run_task(hub, MODEL, "feature-extraction", ["x"] * 257)


def test_many_inputs_keep_their_order(hub) -> None:
    texts = [("pizza " * (i % 7 + 1)) + f"number {i}" for i in range(45)]
    batch = np.asarray(run_task(hub, MODEL, "feature-extraction", texts))
    singles = np.asarray([run_task(hub, MODEL, "feature-extraction", t)[0] for t in texts])
    np.testing.assert_allclose(batch, singles, atol=1e-5)


def test_sorted_inputs_go_in_equal_chunks(hub, monkeypatch: pytest.MonkeyPatch) -> None:
    from hubserve.tasks.embedding import SUB_BATCH, embed
    from tests.unit.tasks.helpers import encoder

    model = encoder(hub, MODEL, "base")
    sizes: list[int] = []
    lengths: list[list[int]] = []
    forward_many = model.forward_many

    def counting(encodings):  # type: ignore[no-untyped-def]
        for encoding in encodings:
            sizes.append(int(encoding["input_ids"].shape[0]))
            lengths.append([int(n) for n in np.asarray(encoding["attention_mask"]).sum(axis=1)])
        return forward_many(encodings)

    monkeypatch.setattr(model, "forward_many", counting)
    texts = [("pizza " * (i % 9 + 1)).strip() for i in range(SUB_BATCH + 1)]
    embed(model, texts, truncate=False)
    assert sizes == [(SUB_BATCH + 2) // 2, (SUB_BATCH + 1) // 2]
    assert min(lengths[0]) >= max(lengths[1]), "the longer texts share a forward, and it goes first"


def test_a_two_thread_model_embeds_a_small_batch_in_two_forwards_at_once(hub) -> None:
    from hubserve.runtimes.registry import load_encoder
    from hubserve.runtimes.specs import build_spec
    from hubserve.tasks.embedding import embed, tokenize_sorted
    from hubserve.types.names import ModelId

    texts = [("pizza " * (i % 9 + 1)).strip() for i in range(10)]
    results = {}
    for split in ("rows", "ops"):
        model = load_encoder(build_spec(hub, ModelId.parse(MODEL), "base", threads=2, split=split), "onnx")
        try:
            chunks = [len(rows) for rows in tokenize_sorted(model, texts, truncate=False).rows]
            assert chunks == ([5, 5] if split == "rows" else [10])
            results[split] = embed(model, texts, truncate=False)
        finally:
            model.close()
    np.testing.assert_allclose(results["rows"], results["ops"], atol=1e-5)


@pytest.mark.parametrize(
    ("texts", "threads", "chunks"),
    [(1, 2, 1), (10, 2, 2), (24, 1, 1), (25, 1, 2), (32, 2, 2), (50, 2, 4), (50, 1, 3), (73, 2, 4)],
)
def test_chunks_are_a_whole_number_per_thread(texts: int, threads: int, chunks: int) -> None:
    from hubserve.tasks.embedding import _chunk_count

    assert _chunk_count(texts, threads) == chunks
