"""zero-shot-classification: NLI entailment over candidate labels, or label/text similarity for embedders."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from hubserve.errors import TaskNotSupported, ValidationFailed
from hubserve.runtimes.base import Array, Head, LoadedEncoder
from hubserve.tasks.base import CallContext, Prepared, StrictParams, Task, sigmoid, softmax, tokenize
from hubserve.tasks.embedding import embed
from hubserve.types.manifest import Manifest

# The hypothesis each label is put in when the caller gives no template: the NLI pipeline's default for NLI
# models; for embedding models a phrasing measured better on a labelled set (30 topic sentences, 6 labels,
# all-MiniLM-L6-v2): top-1 accuracy 30/30, against 28/30 for the NLI default and for the bare label.
NLI_TEMPLATE = "This example is {}."
SIMILARITY_TEMPERATURE = 0.05  # single label: softmax of cosine / temperature, as contrastive models train
SIMILARITY_TEMPLATE = "This text is about {}."
# multi_label on an embedding model: each label on its own, sigmoid((cosine - threshold) / temperature).
# Sentence/topic cosines of MiniLM-like models run ~0.2-0.4 for a fitting label and ~0-0.15 for others.
MULTI_LABEL_THRESHOLD = 0.15  # cosine at which a label counts as half-likely
MULTI_LABEL_TEMPERATURE = 0.05
LIST_SHAPE_SINCE = (1, 2, 0)  # huggingface_hub parses a list of {label, score} from this version on


class ZeroShotParams(StrictParams):
    """Candidate labels (a list, or one comma-separated string), multi_label, hypothesis template."""

    candidate_labels: list[str] = Field(min_length=1)
    multi_label: bool = False
    hypothesis_template: str | None = None  # None: NLI_TEMPLATE, or SIMILARITY_TEMPLATE for embedders

    @field_validator("candidate_labels", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("candidate_labels")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if any(not v.strip() for v in value):
            raise ValueError("labels must not be empty strings")
        if len(set(value)) != len(value):
            raise ValueError("labels must be distinct")
        return value

    @field_validator("hypothesis_template")
    @classmethod
    def _has_slot(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if "{}" not in value:
            raise ValueError("hypothesis_template must contain '{}' where the label goes")
        try:
            value.format("label")  # one '{}' slot, other braces doubled: as str.format reads it
        except (IndexError, KeyError, ValueError):
            raise ValueError(
                "hypothesis_template must have exactly one '{}' slot; write a literal brace as '{{' or '}}'"
            ) from None
        return value


def uses_nli(manifest: Manifest) -> bool:
    """NLI path when the repo is a classifier; similarity path for embedding models."""
    return "text-classification" in manifest.tasks


def wants_list_shape(ctx: CallContext) -> bool:
    """Old huggingface_hub (< 1.2) parses ``{sequence, labels, scores}``; everyone else gets the list."""
    return ctx.hf_hub_version is None or ctx.hf_hub_version >= LIST_SHAPE_SINCE


class ZeroShotClassification(Task[ZeroShotParams]):
    """Score arbitrary labels for a text without training for them."""

    name = "zero-shot-classification"
    head = "sequence-classification"
    params_model = ZeroShotParams

    def head_for(self, manifest: Manifest) -> Head:
        """Classifier head for NLI models, base encoder for embedding models."""
        return "sequence-classification" if uses_nli(manifest) else "base"

    def check_inputs(self, inputs: Any, ctx: CallContext) -> tuple[Any, bool]:
        """One non-empty string (or ``{"text": ...}`` as the Endpoints toolkit accepts)."""
        if isinstance(inputs, dict) and set(inputs) in ({"text"}, {"sequences"}):
            inputs = next(iter(inputs.values()))
        if not isinstance(inputs, str) or not inputs.strip():
            raise ValidationFailed("`inputs` must be a non-empty string", param="inputs")
        return inputs, True

    def run(self, model: LoadedEncoder, request: Prepared[ZeroShotParams]) -> Any:
        """``[{label, score}]`` sorted by score (the gateway reshapes for old clients)."""
        p = request.params
        similarity = model.spec.head == "base"
        template = p.hypothesis_template or (SIMILARITY_TEMPLATE if similarity else NLI_TEMPLATE)
        hypotheses = [template.format(label) for label in p.candidate_labels]
        if similarity:
            scores = _by_similarity(model, request.inputs, hypotheses, p.multi_label)
        else:
            scores = _by_entailment(model, request.inputs, hypotheses, p.multi_label)
        order = np.argsort(-scores, kind="stable")
        return [{"label": p.candidate_labels[i], "score": float(scores[i])} for i in order]


def legacy_shape(text: str, result: list[dict[str, Any]]) -> dict[str, Any]:
    """The pre-1.2 wire shape ``{sequence, labels, scores}``."""
    return {"sequence": text, "labels": [r["label"] for r in result], "scores": [r["score"] for r in result]}


def _nli_ids(config: dict[str, Any]) -> tuple[int, int]:
    label2id = {str(k).lower(): int(v) for k, v in (config.get("label2id") or {}).items()}
    entail = next((i for name, i in label2id.items() if name.startswith("entail")), None)
    contra = next((i for name, i in label2id.items() if name.startswith("contra")), None)
    if entail is None or contra is None:
        raise TaskNotSupported(
            "This classifier has no entailment/contradiction labels, so it cannot do zero-shot"
        )
    return entail, contra


def _by_entailment(model: LoadedEncoder, text: str, hypotheses: list[str], multi: bool) -> Array:
    entail, contra = _nli_ids(model.config)
    encoding = tokenize(model, [text] * len(hypotheses), pairs=hypotheses, truncate=False)
    logits = model.forward(encoding)["logits"].astype(np.float64)
    if multi:
        out: Array = softmax(logits[:, [contra, entail]])[:, 1]
        return out
    return softmax(logits[:, entail])


def _by_similarity(model: LoadedEncoder, text: str, hypotheses: list[str], multi: bool) -> Array:
    vectors = embed(model, [text, *hypotheses], truncate=False, normalize=True).astype(np.float64)
    sims = vectors[1:] @ vectors[0]
    if multi:
        return sigmoid((sims - MULTI_LABEL_THRESHOLD) / MULTI_LABEL_TEMPERATURE)
    return softmax(sims / SIMILARITY_TEMPERATURE)
