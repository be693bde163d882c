"""Server routes: ``/health``, ``/info``, per-model info, and loading and unloading models."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from hubserve import __version__
from hubserve.accounts.principal import Scope
from hubserve.gateway.callers import Admin, Reader
from hubserve.gateway.openapi import AUTHENTICATED, MODEL, QUERY, errors
from hubserve.gateway.state import Services, services_dependency
from hubserve.tasks.embedding import read_embedding_config
from hubserve.tasks.registry import supported_tasks, unsupported_tasks
from hubserve.types.names import ModelId

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]


@router.get("/health")
async def health() -> dict[str, str]:
    """Liveness: 200 while the server answers."""
    return {"status": "ok"}


@router.get("/info", responses=errors(*AUTHENTICATED, 404))
async def info(principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """Server info; with a default model set, also that model's TEI-style info.

    Counts only the models the caller may see; the hub's folder and the runners (pids, memory) are for
    administrators.
    """
    settings = services.settings
    visible = [m for m in services.store.list() if await services.access.visible(principal, m.id)]
    body: dict[str, Any] = {
        "version": __version__,
        "runtime": settings.runtime,
        "models": len(visible),
        "max_client_batch_size": settings.max_batch_inputs,
        "max_body_bytes": settings.max_body_bytes,
        "tasks": {"supported": sorted(supported_tasks()), "not_supported": sorted(unsupported_tasks())},
    }
    if principal.can(Scope.ADMIN):
        body["hub"] = str(services.store.root)
        body["loaded"] = services.scheduler.ps()
    if settings.default_model:
        resolved = await services.access.find(principal, settings.default_model)
        body.update(model_info(services, resolved.model_id))
    return body


@router.get("/models/{model:path}/info", responses=errors(*AUTHENTICATED, *MODEL, *QUERY))
async def per_model_info(model: str, principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """TEI-style info for one model (an id, an alias or a bare name)."""
    resolved = await services.access.find(principal, model)
    return model_info(services, resolved.model_id)


@router.get("/status/{model:path}", responses=errors(*AUTHENTICATED, *MODEL))
async def model_status(model: str, principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """The old Inference API's ``/status/{model}``: whether it is loaded, and what runs it."""
    resolved = await services.access.find(principal, model)
    model_id = str(resolved.model_id)
    if model_id in services.scheduler.loaded():
        state = "Loaded"
    elif any(m["model"] == model_id for m in services.scheduler.ps()):
        state = "Loading"
    else:
        state = "Loadable"
    manifest = services.store.get(resolved.model_id)
    return {
        "loaded": state == "Loaded",
        "state": state,
        "compute_type": "cpu",
        "framework": manifest.library if manifest.format != "gguf" else "llama.cpp",
    }


@router.get("/api/ps", responses=errors(*AUTHENTICATED))
async def ps(_: Admin, services: ServicesDep) -> dict[str, Any]:
    """Loaded and loading models: memory, idle time, requests running and queued."""
    models = services.scheduler.ps()
    progress = await services.scheduler.progress()
    for model in models:
        for runner in model["runners"]:
            runner["progress"] = progress.get(runner["pid"])
    return {
        "models": models,
        "memory_budget_bytes": services.scheduler.limits.memory_budget_bytes,
        "memory_used_bytes": sum(m["memory_bytes"] for m in models),
        "startup_s": services.scheduler.startup_s,
        "encoder_calls": services.scheduler.batcher.calls,
        "cached_responses": len(services.cache),
    }


@router.post(
    "/api/models/{namespace}/{name}/load",
    responses=errors(*AUTHENTICATED, *MODEL, *QUERY, 500, 502, 504),
)
async def load_model(
    namespace: str, name: str, admin: Admin, services: ServicesDep, pin: bool = False, wait: bool = True
) -> dict[str, Any]:
    """Start a model ahead of traffic; ``pin=true`` keeps it loaded until unloaded."""
    resolved = await services.access.find(admin, f"{namespace}/{name}")
    return await services.scheduler.load(resolved.model_id, pin=pin, wait=wait)


@router.post("/api/models/{namespace}/{name}/unload", responses=errors(*AUTHENTICATED, *MODEL, *QUERY))
async def unload_model(namespace: str, name: str, admin: Admin, services: ServicesDep) -> dict[str, Any]:
    """Stop a model now, or when its running requests end."""
    model_id = (await services.access.find(admin, f"{namespace}/{name}")).model_id
    services.store.get(model_id)
    return {"model": str(model_id), "was_loaded": await services.scheduler.unload(model_id)}


def tei_model_type(services: Services, model_id: ModelId, task: str, config: dict[str, Any]) -> Any:
    """TEI's ``model_type``: ``{"embedding": {pooling}}``, ``{"reranker": ...}`` or ``{"classifier": ...}``.

    Models TEI does not serve keep transformers' own ``model_type`` string.
    """
    labels = {"id2label": config.get("id2label") or {}, "label2id": config.get("label2id") or {}}
    if task == "text-ranking":
        return {"reranker": labels}
    if task == "text-classification":
        return {"classifier": labels}
    if task in ("feature-extraction", "sentence-similarity"):
        return {"embedding": {"pooling": read_embedding_config(services.store.files_dir(model_id)).pooling}}
    return config.get("model_type")


def model_info(services: Services, model_id: ModelId) -> dict[str, Any]:
    """TEI-like ``/info`` fields for one model."""
    manifest = services.store.get(model_id)
    config = services.store.model_config(model_id)
    return {
        "model_id": manifest.id,
        "model_sha": manifest.revision,
        "model_pipeline_tag": manifest.pipeline_tag,
        "model_type": tei_model_type(services, model_id, manifest.pipeline_tag, config),
        "model_architecture": config.get("model_type"),
        "tasks": manifest.tasks,
        "format": manifest.format,
        "max_input_length": config.get("max_position_embeddings"),
        "max_client_batch_size": services.settings.max_batch_inputs,
        "version": __version__,
    }
