"""The model hub on disk: ``namespace/name`` repos, each with files and a manifest."""

from hubserve.hub.store import HubStore
from hubserve.types.manifest import Manifest
from hubserve.types.names import ModelId

__all__ = ["HubStore", "Manifest", "ModelId"]
