"""ModelCatalog: what the gateway reads of the model hub, as an interface the hub's store satisfies.

The gateway never imports the hub: the server's composition root hands it the store, typed as this.
"""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any, Protocol

from hubserve.types.manifest import Manifest
from hubserve.types.names import ModelId, Resolved


class ModelCatalog(Protocol):
    """The models and aliases of one hub, read-only."""

    root: Path

    def get(self, model_id: ModelId) -> Manifest:
        """The manifest of one model; ModelNotFound if it is not there."""

    def list(self) -> list[Manifest]:
        """Every model, sorted by id."""

    def candidates(self, text: str) -> builtins.list[Resolved]:
        """Every model ``text`` (an id, an alias or a bare name) may mean."""

    def aliased(self) -> builtins.list[tuple[str, str]]:
        """(alias, its model) for every alias that leads to a model."""

    def model_config(self, model_id: ModelId) -> dict[str, Any]:
        """The model's ``config.json`` ({} when it has none)."""

    def files_dir(self, model_id: ModelId) -> Path:
        """The folder holding the repo's files."""
