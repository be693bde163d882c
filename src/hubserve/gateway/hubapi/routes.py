"""The Hub API routes huggingface_hub reads: ``/api/models`` (list, one, tree) and ``/api/tasks``.

``InferenceClient`` asks ``{HF_ENDPOINT}/api/models/{id}`` which provider serves a Hub model id and
whether it serves the task, and ``/api/tasks`` for a task's default model (``_providers/hf_inference``
and ``_providers/__init__`` in huggingface_hub 2.4.0); ``HfApi`` lists, describes and lists files.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from hubserve.errors import NotFound
from hubserve.gateway.callers import Reader
from hubserve.gateway.catalog import Catalog, Listing, SortKey, recommended
from hubserve.gateway.catalog_shapes import expanded, tree
from hubserve.gateway.openapi import AUTHENTICATED, MODEL, QUERY, errors
from hubserve.gateway.state import Services, services_dependency

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]


class RevisionNotFound(NotFound):
    """A revision the repo does not have (the Hub's ``RevisionNotFound`` code)."""

    error_type = "revision_not_found"

    @property
    def headers(self) -> dict[str, str]:
        """huggingface_hub turns this code into ``RevisionNotFoundError``."""
        return {"X-Error-Code": "RevisionNotFound"}


@router.get("/api/models", responses=errors(*AUTHENTICATED, *QUERY, 400))
async def list_models(
    principal: Reader,
    services: ServicesDep,
    search: str | None = None,
    author: str | None = None,
    pipeline_tag: str | None = None,
    filter: Annotated[list[str] | None, Query()] = None,
    sort: SortKey | None = None,
    direction: int | None = None,
    limit: Annotated[int | None, Query(ge=1)] = None,
    expand: Annotated[list[str] | None, Query()] = None,
) -> list[dict[str, Any]]:
    """The hub's models and aliases in the Hub's list shape; private ones only for those who see them."""
    listing = Listing(search, author, pipeline_tag, filter or [], sort, direction, limit)
    bodies = await Catalog(services, principal).listing(listing)
    return [expanded(b, expand) for b in bodies] if expand else bodies


@router.get("/api/models/{repo:path}", responses=errors(*AUTHENTICATED, *MODEL, *QUERY))
async def model_route(
    repo: str,
    principal: Reader,
    services: ServicesDep,
    expand: Annotated[list[str] | None, Query()] = None,
    recursive: bool = False,
) -> Any:
    """``{id}``, ``{id}/revision/{rev}`` and ``{id}/tree/{rev}[/{path}]``, for ``org/name`` or bare ids."""
    catalog = Catalog(services, principal)
    name, kind, revision, folder = _split(repo)
    body, manifest = await catalog.one(name)
    if revision is not None and revision not in ("main", manifest.revision):
        raise RevisionNotFound(f"Revision {revision} not found in {name}; it has main ({manifest.revision})")
    if kind == "tree":
        return tree(manifest.files, folder, recursive=recursive)
    return expanded(body, expand) if expand else body


@router.get("/api/tasks", responses=errors(*AUTHENTICATED))
async def tasks(principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """Each task with the local models that serve it, the default first (``widgetModels``)."""
    return await recommended(Catalog(services, principal))


def _split(repo: str) -> tuple[str, str, str | None, str]:
    """(model name, "info" or "tree", revision, folder) of the path below ``/api/models/``."""
    parts = repo.split("/")
    for size in (2, 1):  # "org/name/..." before the bare "name/..."
        rest = parts[size:]
        if not rest:
            return "/".join(parts[:size]), "info", None, ""
        if rest[0] == "revision" and len(rest) == 2:
            return "/".join(parts[:size]), "info", rest[1], ""
        if rest[0] == "tree" and len(rest) >= 2:
            return "/".join(parts[:size]), "tree", rest[1], "/".join(rest[2:])
    raise NotFound(f"No route GET /api/models/{repo}")
