"""ModelId: a validated ``namespace/name`` that never names a path outside the hub; and names to ask for."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hubserve.errors import InvalidModelId

# Same alphabet as the Hugging Face Hub: letters, digits, '-', '_', '.', no leading dot or dash.
_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")


@dataclass(frozen=True, order=True)
class ModelId:
    """A model repo id, ``namespace/name``."""

    namespace: str
    name: str

    @classmethod
    def parse(cls, text: str) -> ModelId:
        """Parse and validate ``namespace/name``; raise InvalidModelId with the reason."""
        if not isinstance(text, str) or not text:
            raise InvalidModelId("Model id is empty; expected 'namespace/name'.")
        parts = text.split("/")
        if len(parts) != 2:
            raise InvalidModelId(f"Model id {text!r} must have exactly one '/': 'namespace/name'.")
        for part in parts:
            _check_part(part, text)
        return cls(parts[0], parts[1])

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Resolved:
    """The model that serves a request, and the name the client used for it."""

    model_id: ModelId
    name: str


def check_reference(text: str) -> str:
    """A name a client may ask for: ``namespace/name``, or a bare ``name`` as the Hub's old canonical ids.

    Returns the text; raises InvalidModelId with the reason.
    """
    if not isinstance(text, str) or not text:
        raise InvalidModelId("Model id is empty; expected 'namespace/name'.")
    parts = text.split("/")
    if len(parts) > 2:
        raise InvalidModelId(f"Model id {text!r} has more than one '/': expected 'namespace/name' or 'name'.")
    for part in parts:
        _check_part(part, text)
    return text


def _check_part(part: str, whole: str) -> None:
    if part in {"", ".", ".."} or ".." in part:
        raise InvalidModelId(f"Model id {whole!r} has an empty or '..' segment.")
    if not _PART.fullmatch(part):
        raise InvalidModelId(
            f"Model id {whole!r}: each part must start with a letter or digit and use only "
            "letters, digits, '-', '_' and '.' (at most 96 characters)."
        )
