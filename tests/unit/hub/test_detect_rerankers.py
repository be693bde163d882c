"""Cross-encoders are detected on import in each layout the Hub's rerankers are saved in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubserve.hub.detect import detect_tasks
from hubserve.hub.importers import import_folder
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.names import ModelId
from tests import tiny_models

RERANKER = ["text-ranking", "text-classification"]


def folder(tmp_path: Path, config: dict[str, object], readme_tag: str | None = None, **files: object) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "config.json").write_text(json.dumps(config))
    if readme_tag is not None:
        (tmp_path / "README.md").write_text(f"---\npipeline_tag: {readme_tag}\n---\n# a model\n")
    for name, content in files.items():
        (tmp_path / name.replace("__", ".")).write_text(json.dumps(content))
    return tmp_path


ONE_LABEL = {"architectures": ["BertForSequenceClassification"], "id2label": {"0": "LABEL_0"}}


@pytest.mark.parametrize(
    ("config", "tag", "files"),
    [
        # cross-encoder/ms-marco-MiniLM-L6-v2: one label, the pre-4 activation key, tagged text-ranking.
        ({**ONE_LABEL, "sbert_ce_default_activation_function": "torch.nn.Identity"}, "text-ranking", {}),
        # BAAI/bge-reranker-base: an XLM-R head with one label, tagged before text-ranking existed.
        ({"architectures": ["XLMRobertaForSequenceClassification"], "id2label": {"0": "LABEL_0"}}, None, {}),
        (
            {"architectures": ["XLMRobertaForSequenceClassification"], "id2label": {"0": "LABEL_0"}},
            "text-classification",
            {},
        ),
        # sentence-transformers 4.x wrote its activation into config.json.
        ({**ONE_LABEL, "sentence_transformers": {"activation_fn": "torch.nn.Sigmoid"}}, None, {}),
        # sentence-transformers 5 and later: modules.json and a CrossEncoder config beside the weights.
        (
            ONE_LABEL,
            None,
            {
                "modules__json": [{"idx": 0, "path": ""}],
                "config_sentence_transformers__json": {"model_type": "CrossEncoder"},
            },
        ),
        # The Hub's older name for the task.
        (ONE_LABEL, "sentence-ranking", {}),
    ],
)
def test_cross_encoders_import_as_rerankers(
    tmp_path: Path, config: dict[str, object], tag: str | None, files: dict[str, object]
) -> None:
    assert detect_tasks(folder(tmp_path, config, tag, **files), None, supported_tasks()) == RERANKER


def test_classifiers_and_embedders_are_not_rerankers(tmp_path: Path) -> None:
    two = {"architectures": ["BertForSequenceClassification"], "id2label": {"0": "NEG", "1": "POS"}}
    assert detect_tasks(folder(tmp_path / "cls", two), None, supported_tasks()) == ["text-classification"]
    embedder = folder(
        tmp_path / "embed", {"architectures": ["BertModel"]}, None, modules__json=[{"idx": 0, "path": ""}]
    )
    assert "text-ranking" not in detect_tasks(embedder, None, supported_tasks())
    explicit = folder(tmp_path / "explicit", ONE_LABEL)  # --task wins over detection
    assert detect_tasks(explicit, "text-classification", supported_tasks())[0] == "text-classification"


def test_a_tiny_cross_encoder_saved_offline_imports_as_a_reranker(tmp_path: Path) -> None:
    saved = tiny_models.build("rerank", tmp_path / "saved")
    store = HubStore(tmp_path / "hub")
    import_folder(
        store,
        saved,
        ModelId.parse("cross-encoder/tiny"),
        supported_tasks=supported_tasks(),
        show_progress=False,
    )
    manifest = store.get(ModelId.parse("cross-encoder/tiny"))
    assert manifest.pipeline_tag == "text-ranking" and manifest.tasks == RERANKER
