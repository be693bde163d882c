"""Models, files and tasks in the shapes the Hub API answers and ``huggingface_hub.HfApi`` parses."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from hubserve.errors import UnknownOption
from hubserve.types.manifest import FileEntry, Manifest

# What ``HfApi.model_info(expand=...)`` and ``list_models(expand=...)`` may ask for (ExpandModelProperty_T).
EXPAND_KEYS = frozenset(
    {
        "author", "baseModels", "cardData", "childrenModelCount", "config", "createdAt", "disabled",
        "downloads", "downloadsAllTime", "evalResults", "gated", "gguf", "inference",
        "inferenceProviderMapping", "lastModified", "library_name", "likes", "mask_token", "model-index",
        "pipeline_tag", "private", "resourceGroup", "safetensors", "sha", "siblings", "spaces", "tags",
        "transformersInfo", "trendingScore", "usedStorage", "widgetData",
    }
)  # fmt: skip
# Tasks the hub's models serve that the client also asks for under another name.
TASK_TAGS = {"text-generation": ("conversational",)}
PROVIDER = "hf-inference"


def hub_time(iso: str) -> str:
    """An ISO-8601 time as the Hub writes it, the one form huggingface_hub parses: ``...:16.000Z``."""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def model_body(
    manifest: Manifest, name: str, *, owner: str | None, private: bool, loaded: bool
) -> dict[str, Any]:
    """One model as the Hub's ``/api/models/{id}`` answers it; ``name`` is the id the client used."""
    when = hub_time(manifest.created_at)
    tags = [*manifest.tasks, *(t for task in manifest.tasks for t in TASK_TAGS.get(task, ()))]
    tags += [manifest.library, manifest.format]
    if manifest.license:
        tags.append(f"license:{manifest.license}")
    return {
        "_id": manifest.revision[:24],
        "id": name,
        "modelId": name,
        "author": owner or name.split("/")[0],
        "sha": manifest.revision,
        "createdAt": when,
        "lastModified": when,
        "private": private,
        "disabled": False,
        "gated": False,
        "downloads": 0,
        "likes": 0,
        "library_name": manifest.library,
        "tags": list(dict.fromkeys(tags)),
        "pipeline_tag": manifest.pipeline_tag,
        "inference": "warm" if loaded else "cold",
        "inferenceProviderMapping": {
            PROVIDER: {"status": "live", "providerId": name, "task": manifest.pipeline_tag}
        },
        "cardData": {"license": manifest.license} if manifest.license else {},
        "siblings": [{"rfilename": f.path, "size": f.size_bytes} for f in manifest.files],
        "spaces": [],
        "usedStorage": manifest.size_bytes,
        # hubserve's own fields: the model behind an alias, every task it serves, where it came from
        "servedBy": manifest.id,
        "tasks": manifest.tasks,
        "source": manifest.source,
    }


def expanded(body: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """Only the properties asked for, as the Hub answers ``?expand=``; an unknown one is refused."""
    unknown = sorted(set(expand) - EXPAND_KEYS)
    if unknown:
        raise UnknownOption(
            f"Unknown expand value(s) {', '.join(unknown)}; valid: {', '.join(sorted(EXPAND_KEYS))}",
            param="expand",
        )
    return {"_id": body["_id"], "id": body["id"], **{k: body[k] for k in expand if k in body}}


def tree(files: list[FileEntry], folder: str, *, recursive: bool) -> list[dict[str, Any]]:
    """The Hub's ``/tree/{revision}/{folder}`` entries: files (and folders) under ``folder``."""
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    entries: dict[str, dict[str, Any]] = {}
    for entry in sorted(files, key=lambda f: f.path):
        if not entry.path.startswith(prefix):
            continue
        rest = entry.path[len(prefix) :].split("/")
        for depth in range(1, len(rest)):
            if not recursive and depth > 1:
                break
            path = prefix + "/".join(rest[:depth])
            entries.setdefault(path, {"type": "directory", "oid": _oid(path), "size": 0, "path": path})
        if recursive or len(rest) == 1:
            entries[entry.path] = {
                "type": "file",
                "oid": entry.sha256[:40],
                "size": entry.size_bytes,
                "path": entry.path,
                "lfs": {"oid": entry.sha256, "size": entry.size_bytes, "pointerSize": 134},
            }
    return list(entries.values())


def _oid(path: str) -> str:
    return hashlib.sha1(path.encode(), usedforsecurity=False).hexdigest()
