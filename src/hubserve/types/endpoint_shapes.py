"""The Inference Endpoints wire shapes both sides build: create and update bodies, access types, states.

The server's endpoints routes read these bodies; the CLI and the SDK write them, with huggingface_hub's
field names (``HfApi.create_inference_endpoint`` in 2.4.0). Standard library only: the SDK imports it.
"""

from __future__ import annotations

from typing import Any

# huggingface_hub's names of an endpoint's access, and what each is here: "protected" (the tutorial's)
# means any valid token, as "authenticated" does.
ACCESS_TYPES = {
    "public": "public",
    "authenticated": "authenticated",
    "private": "private",
    "protected": "authenticated",
}
RUNNING = "running"
FAILED_STATES = frozenset({"failed", "updateFailed"})
HEALTH_ROUTE = "/health"


def _given(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def create_body(
    name: str,
    repository: str,
    *,
    framework: str = "pytorch",
    accelerator: str = "cpu",
    instance_size: str = "x1",
    instance_type: str | None = None,
    vendor: str = "local",
    region: str = "local",
    min_replica: int = 1,
    max_replica: int = 1,
    scale_to_zero_timeout: int | None = None,
    scaling_metric: str | None = None,
    scaling_threshold: float | None = None,
    revision: str | None = None,
    task: str | None = None,
    env: dict[str, str] | None = None,
    type: str = "authenticated",
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """``POST /v2/endpoint/{namespace}``'s body."""
    scaling = _given(
        {"minReplica": min_replica, "maxReplica": max_replica, "scaleToZeroTimeout": scale_to_zero_timeout}
    )
    if scaling_metric:
        scaling["measure"] = {scaling_metric: scaling_threshold}
    compute = {
        "accelerator": accelerator,
        "instanceType": instance_type or ("local-gpu" if accelerator == "gpu" else "local-cpu"),
        "instanceSize": instance_size,
        "scaling": scaling,
    }
    model = _given(
        {"repository": repository, "framework": framework, "revision": revision, "task": task, "env": env}
    )
    model["image"] = {"huggingface": {}}
    body = {
        "name": name,
        "type": type,
        "provider": {"vendor": vendor, "region": region},
        "compute": compute,
        "model": model,
    }
    return {**body, "tags": tags} if tags is not None else body


def update_body(
    *,
    accelerator: str | None = None,
    instance_size: str | None = None,
    instance_type: str | None = None,
    min_replica: int | None = None,
    max_replica: int | None = None,
    scale_to_zero_timeout: int | None = None,
    repository: str | None = None,
    framework: str | None = None,
    revision: str | None = None,
    task: str | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``PUT /v2/endpoint/{namespace}/{name}``'s body: only the fields given."""
    scaling = _given(
        {"minReplica": min_replica, "maxReplica": max_replica, "scaleToZeroTimeout": scale_to_zero_timeout}
    )
    compute = _given(
        {"accelerator": accelerator, "instanceSize": instance_size, "instanceType": instance_type}
    )
    if scaling:
        compute["scaling"] = scaling
    model = _given(
        {"repository": repository, "framework": framework, "revision": revision, "task": task, "env": env}
    )
    return _given({"compute": compute or None, "model": model or None})
