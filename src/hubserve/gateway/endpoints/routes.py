"""The Inference Endpoints management API: ``/v2/endpoint/{namespace}[/{name}[/pause|resume|scale-to-zero]]``.

Only members of a namespace with a write (or admin) role, through a token with the write scope, or
administrators may change its endpoints; members may read them. Anyone else gets 404 for the namespace.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from hubserve.accounts.principal import Principal, Scope
from hubserve.errors import (
    BadRequest,
    EndpointNotFound,
    Forbidden,
    ModelNotFound,
    TaskNotSupported,
    Unauthorized,
)
from hubserve.gateway.callers import Reader
from hubserve.gateway.endpoint_controller import EndpointController, Live
from hubserve.gateway.endpoints.hardware import catalogue, computes
from hubserve.gateway.endpoints.wire import changes, check_compute, check_name, endpoint_json
from hubserve.gateway.json_body import read_object
from hubserve.gateway.openapi import AUTHENTICATED, errors
from hubserve.gateway.state import Services, services_dependency
from hubserve.types.endpoints import EndpointSpec

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]
RESPONSES = errors(*AUTHENTICATED, 400, 404, 409, 422)
_LISTED_MODELS = 20


def sees_namespace(principal: Principal, namespace: str) -> bool:
    """Whether the caller is the namespace, a member of it, or an administrator."""
    if principal.anonymous:
        return False
    return principal.can(Scope.ADMIN) or namespace == principal.name or namespace in principal.orgs


def _check(principal: Principal, namespace: str, *, manage: bool) -> None:
    if principal.anonymous:
        raise Unauthorized("Inference Endpoints need a token: send 'Authorization: Bearer hs_...'")
    if not sees_namespace(principal, namespace):
        raise EndpointNotFound(f"Namespace {namespace} does not exist")
    if manage and not (
        principal.can(Scope.ADMIN) or (principal.can(Scope.WRITE) and principal.manages(namespace))
    ):
        raise Forbidden(
            f"Changing endpoints in {namespace} needs a token with the write scope of a member with the "
            "write or admin role"
        )


def _controller(services: Services) -> EndpointController:
    assert services.endpoints is not None
    return services.endpoints


def _json(request: Request, services: Services, live: Live) -> dict[str, Any]:
    stored = live.stored
    spec = stored.spec
    created = {
        "createdAt": stored.created_at.isoformat().replace("+00:00", "Z"),
        "updatedAt": stored.updated_at.isoformat().replace("+00:00", "Z"),
        "createdBy": {"id": stored.created_by, "name": stored.created_by},
        "updatedBy": {"id": stored.updated_by, "name": stored.updated_by},
    }
    url = f"{str(request.base_url).rstrip('/')}/endpoints/{spec.namespace}/{spec.name}"
    return endpoint_json(spec, _controller(services).status(live), url=url, created=created)


async def _model(
    services: Services, principal: Principal, spec: EndpointSpec, asked: dict[str, Any]
) -> EndpointSpec:
    """Resolve the repository, and check the task and revision against it."""
    try:
        resolved = await services.access.find(principal, spec.repository)
        manifest = services.store.get(resolved.model_id)
    except ModelNotFound:
        names = [m.id for m in services.store.list() if await services.access.visible(principal, m.id)]
        more = ", ..." if len(names) > _LISTED_MODELS else ""
        raise BadRequest(
            f"Repository {spec.repository} is not in this hub; it holds: "
            f"{', '.join(names[:_LISTED_MODELS])}{more}",
            param="model.repository",
        ) from None
    task = asked.get("task") or (spec.task if spec.task in manifest.tasks else manifest.pipeline_tag)
    if task not in manifest.tasks:
        raise TaskNotSupported(
            f"Model {resolved.model_id} does not serve {task}; it serves: {', '.join(manifest.tasks)}",
            param="model.task",
        )
    revision = asked.get("revision")
    if revision is not None and not (len(revision) >= 7 and manifest.revision.startswith(revision)):
        raise BadRequest(
            f"Revision {revision} of {resolved.model_id} is not in this hub; "
            f"its revision is {manifest.revision}",
            param="model.revision",
        )
    return spec.model_copy(
        update={"repository": str(resolved.model_id), "task": task, "revision": manifest.revision}
    )


@router.get("/v2/provider/{namespace}", responses=errors(*AUTHENTICATED, 404))
async def hardware(namespace: str, principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """This machine as one vendor and region, with the computes an endpoint may run on."""
    _check(principal, namespace, manage=False)
    return catalogue(services.settings.memory_budget_bytes)


@router.get("/v2/endpoint/{namespace}", responses=errors(*AUTHENTICATED, 404))
async def list_endpoints(
    namespace: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """The namespace's endpoints."""
    _check(principal, namespace, manage=False)
    return {
        "items": [_json(request, services, live) for live in _controller(services).in_namespace(namespace)]
    }


@router.post("/v2/endpoint/{namespace}", responses=RESPONSES)
async def create_endpoint(
    namespace: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """Create an endpoint and start its runners; poll it until its state is ``running``."""
    _check(principal, namespace, manage=True)
    body = await read_object(request)
    name = check_name(body.get("name"))
    asked = changes(body)
    if "repository" not in asked:
        raise BadRequest(
            "model.repository is required: the hub model the endpoint serves", param="model.repository"
        )
    spec = EndpointSpec.model_validate(
        {"revision": "", "task": "", **asked, "namespace": namespace, "name": name}
    )
    spec = await _model(services, principal, spec, asked)
    check_compute(spec, computes(services.settings.memory_budget_bytes))
    live = await _controller(services).create(spec, principal.name or "")
    return _json(request, services, live)


@router.get("/v2/endpoint/{namespace}/{name}", responses=errors(*AUTHENTICATED, 404))
async def get_endpoint(
    namespace: str, name: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """One endpoint, with its state now."""
    _check(principal, namespace, manage=False)
    return _json(request, services, _controller(services).get(namespace, name))


@router.put("/v2/endpoint/{namespace}/{name}", responses=RESPONSES)
async def update_endpoint(
    namespace: str, name: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """Change an endpoint: only the fields the body names. A new model or revision rolls over."""
    _check(principal, namespace, manage=True)
    live = _controller(services).get(namespace, name)
    asked = changes(await read_object(request))
    spec = live.spec.model_copy(update=asked)
    if {"repository", "revision", "task"} & set(asked):
        spec = await _model(services, principal, spec, asked)
    check_compute(spec, computes(services.settings.memory_budget_bytes))
    live = await _controller(services).update(live, spec, principal.name or "")
    return _json(request, services, live)


@router.delete("/v2/endpoint/{namespace}/{name}", responses=errors(*AUTHENTICATED, 404))
async def delete_endpoint(
    namespace: str, name: str, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """Delete an endpoint; its runners stop once their requests end."""
    _check(principal, namespace, manage=True)
    await _controller(services).delete(_controller(services).get(namespace, name))
    return {}


@router.post("/v2/endpoint/{namespace}/{name}/pause", responses=errors(*AUTHENTICATED, 404))
async def pause_endpoint(
    namespace: str, name: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """Stop its runners until resumed; calls to it get 503 meanwhile."""
    _check(principal, namespace, manage=True)
    controller = _controller(services)
    return _json(
        request, services, await controller.pause(controller.get(namespace, name), principal.name or "")
    )


@router.post("/v2/endpoint/{namespace}/{name}/resume", responses=errors(*AUTHENTICATED, 400, 404))
async def resume_endpoint(
    namespace: str, name: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """Start a paused or failed endpoint again (400 'already running' if it runs)."""
    _check(principal, namespace, manage=True)
    controller = _controller(services)
    return _json(
        request, services, await controller.resume(controller.get(namespace, name), principal.name or "")
    )


@router.post("/v2/endpoint/{namespace}/{name}/scale-to-zero", responses=errors(*AUTHENTICATED, 404))
async def scale_endpoint_to_zero(
    namespace: str, name: str, request: Request, principal: Reader, services: ServicesDep
) -> dict[str, Any]:
    """Stop its replicas now; the next call starts one (503 meanwhile, or held with X-Scale-Up-Timeout)."""
    _check(principal, namespace, manage=True)
    controller = _controller(services)
    return _json(request, services, await controller.scale_to_zero(controller.get(namespace, name)))
