"""The JSON of huggingface_hub's endpoint functions: create and update bodies in, Endpoint objects out.

Shapes checked against huggingface_hub 2.4.0: ``HfApi.create_inference_endpoint`` and
``update_inference_endpoint`` (hf_api.py) build the bodies; ``InferenceEndpoint._populate_from_raw``
(_inference_endpoints.py) reads ``name``, ``type``, ``healthRoute``, ``model.{repository, framework,
revision, task}`` and ``status.{state, url, createdAt, updatedAt}``, and raises KeyError on a missing one.
"""

from __future__ import annotations

import re
from typing import Any

from hubserve.errors import BadRequest, ValidationFailed
from hubserve.gateway.endpoints.hardware import REGION, VENDOR, Compute
from hubserve.types.endpoint_shapes import ACCESS_TYPES, HEALTH_ROUTE
from hubserve.types.endpoints import ENDPOINT_NAME, EndpointSpec

METRICS = ("pendingRequests",)
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_env(env: Any) -> dict[str, str]:
    """``model.env``: variable names (letters, digits, ``_``, not starting with a digit) to strings."""
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ValidationFailed("model.env must map variable names to strings", param="model.env")
    bad = [k for k in env if not isinstance(k, str) or not ENV_NAME.fullmatch(k)]
    if bad:
        raise ValidationFailed(
            f"model.env names must be letters, digits and '_', not starting with a digit: {bad[0]!r} is not",
            param="model.env",
        )
    if any("\0" in v for v in env.values()):
        raise ValidationFailed("model.env values may not contain NUL characters", param="model.env")
    return dict(env)


def check_name(name: Any) -> str:
    """An endpoint name: a DNS label of at most 32 characters."""
    if not isinstance(name, str) or not ENDPOINT_NAME.fullmatch(name):
        raise ValidationFailed(
            f"Endpoint name {name!r} is not valid: use 1 to 32 lower-case letters, digits and '-', "
            "starting and ending with a letter or digit",
            param="name",
        )
    return name


def _object(body: Any, key: str) -> dict[str, Any]:
    value = body.get(key) if isinstance(body, dict) else None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationFailed(f"{key} must be an object", param=key)
    return value


def _int(value: Any, param: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValidationFailed(f"{param} must be an integer of at least {low}, got {value!r}", param=param)
    return value


def _text(value: Any, param: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationFailed(f"{param} must be a non-empty string, got {value!r}", param=param)
    return value


def changes(body: Any) -> dict[str, Any]:
    """The spec fields a create or update body sets (only those it names), checked one by one."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object", param="body")
    out: dict[str, Any] = {}
    compute, model, provider = _object(body, "compute"), _object(body, "model"), _object(body, "provider")
    scaling = _object(compute, "scaling")
    for key, field in (
        ("accelerator", "accelerator"),
        ("instanceType", "instance_type"),
        ("instanceSize", "instance_size"),
    ):
        if key in compute:
            out[field] = _text(compute[key], f"compute.{key}")
    for key, field in (("vendor", "vendor"), ("region", "region")):
        if key in provider:
            out[field] = _text(provider[key], f"provider.{key}")
    if "minReplica" in scaling:
        out["min_replica"] = _int(scaling["minReplica"], "compute.scaling.minReplica", 0)
    if "maxReplica" in scaling:
        out["max_replica"] = _int(scaling["maxReplica"], "compute.scaling.maxReplica", 1)
    if scaling.get("scaleToZeroTimeout") is not None:
        out["scale_to_zero_timeout_min"] = _int(
            scaling["scaleToZeroTimeout"], "compute.scaling.scaleToZeroTimeout", 1
        )
    measure = _object(scaling, "measure")
    if measure:
        (metric, threshold), *rest = measure.items()
        if rest or metric not in METRICS:
            raise BadRequest(
                f"compute.scaling.measure must name one metric: {', '.join(METRICS)} "
                f"(got {', '.join(measure)})",
                param="compute.scaling.measure",
            )
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold <= 0:
            raise ValidationFailed(
                f"The {metric} threshold must be a positive number, got {threshold!r}",
                param="compute.scaling.measure",
            )
        out["scaling_metric"], out["scaling_threshold"] = metric, float(threshold)
    for key in ("repository", "framework", "task"):
        if model.get(key) is not None:
            out[key] = _text(model[key], f"model.{key}")
    if model.get("revision") is not None:
        out["revision"] = _text(model["revision"], "model.revision")
    image = _object(model, "image")
    if image and set(image) != {"huggingface"}:
        raise BadRequest(
            f"model.image {', '.join(image)} is not supported: hubserve runs models from its own hub with "
            "its own runtimes; "
            'send {"huggingface": {}} or leave it out',
            param="model.image",
        )
    for key in ("command", "args"):
        if model.get(key):
            raise BadRequest(
                f"model.{key} is for custom containers, which hubserve does not run", param=f"model.{key}"
            )
    if "env" in model:
        out["env"] = check_env(model["env"] or {})
    if model.get("secrets"):
        raise BadRequest(
            "model.secrets is not supported: hubserve keeps no secret store, and an endpoint's spec is "
            "readable by its namespace's members; put the value in the server's environment, or in "
            "model.env if it need not be secret",
            param="model.secrets",
        )
    if "type" in body:
        kind = body["type"]
        if kind not in ACCESS_TYPES:
            raise BadRequest(f"type {kind!r} is not one of: public, authenticated, private", param="type")
        out["type"] = ACCESS_TYPES[kind]
    if isinstance(body.get("tags"), list):
        out["tags"] = [str(t) for t in body["tags"]]
    return out


def check_compute(spec: EndpointSpec, offered: list[Compute]) -> Compute:
    """The compute a spec names, and replica counts it can hold; a miss names what is offered."""
    if (spec.vendor, spec.region) != (VENDOR, REGION):
        raise BadRequest(
            f"Provider {spec.vendor}/{spec.region} is not offered: this server is vendor {VENDOR!r}, region "
            f"{REGION!r} (GET /v2/provider/{{namespace}} lists its hardware)",
            param="provider",
        )
    for compute in offered:
        if (compute.accelerator, compute.instance_type, compute.instance_size) == (
            spec.accelerator,
            spec.instance_type,
            spec.instance_size,
        ):
            break
    else:
        valid = ", ".join(f"{c.accelerator}/{c.instance_type}/{c.instance_size}" for c in offered)
        raise BadRequest(
            f"Instance {spec.accelerator}/{spec.instance_type}/{spec.instance_size} is not offered; "
            f"accelerator/instanceType/instanceSize must be one of: {valid}",
            param="compute",
        )
    if spec.min_replica > spec.max_replica:
        raise ValidationFailed(
            f"minReplica ({spec.min_replica}) must not be more than maxReplica ({spec.max_replica})",
            param="compute.scaling",
        )
    if spec.max_replica > compute.max_replicas:
        raise BadRequest(
            f"maxReplica {spec.max_replica} is more than {compute.id} allows here: "
            f"at most {compute.max_replicas}",
            param="compute.scaling.maxReplica",
        )
    if spec.scale_to_zero_timeout_min is not None and spec.min_replica != 0:
        raise ValidationFailed(
            "scaleToZeroTimeout needs minReplica 0: an endpoint with minReplica above 0 never scales to zero",
            param="compute.scaling.scaleToZeroTimeout",
        )
    return compute


def endpoint_json(
    spec: EndpointSpec, status: dict[str, Any], *, url: str, created: dict[str, Any]
) -> dict[str, Any]:
    """An Endpoint object, as the Inference Endpoints API answers."""
    measure = {spec.scaling_metric: spec.scaling_threshold} if spec.scaling_threshold is not None else {}
    return {
        "accountId": None,
        "name": spec.name,
        "type": spec.type,
        "provider": {"vendor": spec.vendor, "region": spec.region},
        "compute": {
            "id": f"{spec.accelerator}-{spec.instance_type}-{spec.instance_size}",
            "accelerator": spec.accelerator,
            "instanceType": spec.instance_type,
            "instanceSize": spec.instance_size,
            "scaling": {
                "minReplica": spec.min_replica,
                "maxReplica": spec.max_replica,
                "scaleToZeroTimeout": spec.scale_to_zero_timeout_min,
                "measure": measure,
            },
        },
        "model": {
            "repository": spec.repository,
            "revision": spec.revision,
            "task": spec.task,
            "framework": spec.framework,
            "image": {"huggingface": {}},
            "env": spec.env,
            "secrets": {},
        },
        "healthRoute": HEALTH_ROUTE,
        "tags": spec.tags,
        "status": {**status, **created, "url": url, "private": None},
    }
