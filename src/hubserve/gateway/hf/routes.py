"""HF Inference API routes: per-model URLs, the pipeline and legacy forms, and POST / for a default model."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from hubserve.errors import NotFound
from hubserve.gateway.callers import Inferrer
from hubserve.gateway.hf.service import infer
from hubserve.gateway.state import Services, services_dependency

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]


@router.post("/models/{namespace}/{name}")
async def model_task(
    namespace: str, name: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """Run the model's own task (embedding models pick similarity by input shape)."""
    return await infer(request, services, principal, f"{namespace}/{name}", None)


@router.post("/models/{namespace}/{name}/pipeline/{task}")
async def model_pipeline(
    namespace: str, name: str, task: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """Run a named task on the model (the HF router's form)."""
    return await infer(request, services, principal, f"{namespace}/{name}", task)


@router.post("/pipeline/{task}/{namespace}/{name}")
async def legacy_pipeline(
    task: str, namespace: str, name: str, request: Request, principal: Inferrer, services: ServicesDep
) -> Response:
    """The api-inference era form of the pipeline route."""
    return await infer(request, services, principal, f"{namespace}/{name}", task)


@router.post("/")
async def default_model(request: Request, principal: Inferrer, services: ServicesDep) -> Response:
    """Inference Endpoint style: POST / runs the configured default model."""
    if not services.settings.default_model:
        raise NotFound("No default model is set (HUBSERVE_DEFAULT_MODEL); POST to /models/{namespace}/{name}")
    return await infer(request, services, principal, services.settings.default_model, None)
