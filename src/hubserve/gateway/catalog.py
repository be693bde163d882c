"""Catalog: the models and aliases one caller may see, as Hub API bodies, filtered and sorted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from hubserve.accounts.principal import Principal
from hubserve.gateway.catalog_shapes import model_body
from hubserve.gateway.state import Services
from hubserve.tasks.registry import GENERATION_TASKS, supported_tasks, unsupported_tasks
from hubserve.types.manifest import Manifest

SortKey = Literal["id", "createdAt", "lastModified", "downloads", "likes", "trendingScore"]
# Tasks huggingface_hub accepts a model for when its pipeline_tag is another (``_check_supported_task``).
INTERCHANGEABLE = {"feature-extraction", "sentence-similarity"}


@dataclass(frozen=True)
class Listing:
    """What ``GET /api/models`` asks for."""

    search: str | None
    author: str | None
    pipeline_tag: str | None
    filter: list[str]
    sort: SortKey | None
    direction: int | None
    limit: int | None


class Catalog:
    """The hub as one caller sees it."""

    def __init__(self, services: Services, principal: Principal) -> None:
        self.services = services
        self.principal = principal

    async def one(self, name: str) -> tuple[dict[str, Any], Manifest]:
        """The body and manifest of one model or alias; ModelNotFound for one the caller may not see."""
        resolved = await self.services.access.find(self.principal, name)
        manifest = self.services.store.get(resolved.model_id)
        return self._body(manifest, resolved.name, self._loaded()), manifest

    async def entries(self) -> list[tuple[str, Manifest]]:
        """(name, manifest) of every visible model, and of every alias whose target is visible."""
        access, store = self.services.access, self.services.store
        manifests = {m.id: m for m in store.list() if await access.visible(self.principal, m.id)}
        out = [(model_id, m) for model_id, m in manifests.items()]
        for alias, target in store.aliased():  # one in a loop serves nothing, so it lists nothing
            if target in manifests:
                out.append((alias, manifests[target]))
        return sorted(out, key=lambda entry: entry[0].lower())

    async def listing(self, query: Listing) -> list[dict[str, Any]]:
        """``GET /api/models``: filtered by the query, sorted, cut to its limit."""
        loaded = self._loaded()
        bodies = [self._body(m, name, loaded) for name, m in await self.entries()]
        if query.search:
            bodies = [b for b in bodies if query.search.lower() in b["id"].lower()]
        if query.author:
            bodies = [
                b for b in bodies if b["author"] == query.author or b["id"].startswith(f"{query.author}/")
            ]
        if query.pipeline_tag:
            bodies = [b for b in bodies if b["pipeline_tag"] == query.pipeline_tag]
        for tag in query.filter:
            bodies = [b for b in bodies if tag in b["tags"] or tag == b["library_name"] or tag == b["id"]]
        if query.sort is not None:
            bodies.sort(key=lambda b: b[query.sort or "id"], reverse=query.direction != 1)
        return bodies[: query.limit] if query.limit is not None else bodies

    def _body(self, manifest: Manifest, name: str, loaded: set[str]) -> dict[str, Any]:
        owner, private = self.services.access.access_of(manifest.id)
        return model_body(manifest, name, owner=owner, private=private, loaded=manifest.id in loaded)

    def _loaded(self) -> set[str]:
        return {str(m["model"]) for m in self.services.scheduler.ps()}


def serves(pipeline_tag: str, tasks: list[str], task: str) -> bool:
    """Whether huggingface_hub would take a model with this pipeline_tag and these tasks for ``task``."""
    if task == "conversational":
        return pipeline_tag in GENERATION_TASKS
    if task in INTERCHANGEABLE:
        return pipeline_tag in INTERCHANGEABLE and task in tasks
    return pipeline_tag == task


async def recommended(catalog: Catalog) -> dict[str, Any]:
    """``GET /api/tasks``: every task with the models that serve it; the default model first, if it does."""
    default = catalog.services.settings.default_model
    entries = [(name, m) for name, m in await catalog.entries() if name == m.id]  # models, not aliases
    out: dict[str, Any] = {}
    served = supported_tasks() | {"conversational"}
    for task in sorted(served | unsupported_tasks()):
        models = (
            [name for name, m in entries if serves(m.pipeline_tag, m.tasks, task)] if task in served else []
        )
        models.sort(key=lambda name: name != default)
        out[task] = {
            "id": task,
            "label": task.replace("-", " ").capitalize(),
            "widgetModels": models,
            "supported": task in served,  # hubserve's: a task no runtime here serves is listed, as false
        }
    return out
