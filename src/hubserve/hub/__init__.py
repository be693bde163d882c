"""The model hub on disk: ``namespace/name`` repos, each with files and a manifest."""

from hubserve.hub.manifest import Manifest
from hubserve.hub.names import ModelId
from hubserve.hub.store import HubStore

__all__ = ["HubStore", "Manifest", "ModelId"]
