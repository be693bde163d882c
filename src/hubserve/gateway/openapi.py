"""The OpenAPI schema: every route's body, its error answers in the route's dialect, and bearer auth.

Routes declare which statuses they can answer with ``responses=errors(...)`` in HF terms (422 for a
validation error); the schema builder gives each the error body of its dialect, found as ``dialect_of``
finds it at run time (OpenAI's routes carry its tag, and answer 400 where the others answer 422).
Routes that read their body by hand declare it with ``openapi_extra=json_body(Model)``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from hubserve.gateway.errors import TGI_ERROR_TYPES, Dialect, dialect_of_tags

REF = "#/components/schemas/{model}"
BEARER = "HTTPBearer"
_COMPONENTS_KEY = "x-hubserve-components"  # carried from a route to the schema's components, then dropped

ERROR_STATUSES: dict[int, str] = {
    400: "Bad request: invalid_model_id, ambiguous_model_id, task_not_supported, unknown_option, "
    "model_too_large, endpoint_capacity, and on OpenAI routes validation and json_too_deep",
    401: "unauthorized: no token where one is needed, a malformed Authorization header, or an unknown, "
    "revoked or expired token",
    403: "forbidden: the token lacks the scope this route needs",
    404: "model_not_found, not_found, no_default_model, revision_not_found, account_not_found or "
    "endpoint_not_found",
    409: "conflict: endpoint_exists, model_exists or account_exists",
    408: "request_timeout: the request body stalled",
    413: "payload_too_large (the body) or input_too_long (an input's tokens)",
    422: "validation or json_too_deep: the body or a parameter is not what the route takes",
    424: "generation: the backend failed while generating",
    429: "overloaded (the model's queue is full) or rate_limited, with Retry-After",
    500: "model_load_failed or hub_error: the runtime could not load the model, or the hub is unreadable",
    502: "runner_crashed: the model's process died during the request",
    503: "model_loading (with estimated_time), no_capacity, shutting_down, model_failed, or a database "
    "or rate-limit store that does not answer, endpoint_unavailable (paused); with Retry-After",
    504: "runner_timeout: the model's process did not answer in time and was restarted",
}

# What each kind of route can answer besides 200, in HF terms.
AUTHENTICATED = (401, 403, 503)
QUERY = (422,)
MODEL = (400, 404)
BODY = (408, 413, 422)
INFERENCE = (*AUTHENTICATED, *MODEL, *BODY, 424, 429, 500, 502, 504)

_HF_ERROR: dict[str, Any] = {
    "type": "object",
    "title": "HFError",
    "description": "HF and TGI error body; error_type only for TGI's own four types.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "error_type": {"type": "string", "enum": sorted(TGI_ERROR_TYPES)},
    },
}
_OPENAI_ERROR: dict[str, Any] = {
    "type": "object",
    "title": "OpenAIError",
    "description": "OpenAI error body; code is hubserve's error_type.",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}
_TEI_ERROR: dict[str, Any] = {
    "type": "object",
    "title": "TEIError",
    "description": "TEI's error body; X-Error-Type has hubserve's finer error type.",
    "required": ["error", "error_type"],
    "properties": {
        "error": {"type": "string"},
        "error_type": {"type": "string", "enum": ["Validation", "Overloaded", "Unhealthy", "Backend"]},
    },
}
_COHERE_ERROR: dict[str, Any] = {
    "type": "object",
    "title": "CohereError",
    "description": "Cohere's error body; X-Error-Type has hubserve's error type.",
    "required": ["message"],
    "properties": {"message": {"type": "string"}},
}
_ESTIMATED_TIME = {
    "estimated_time": {"type": "number", "description": "Seconds until a loading model should be ready."}
}
# Each dialect's error body, by the prefix its schemas are named with.
_DIALECT_ERRORS = {"HF": _HF_ERROR, "OpenAI": _OPENAI_ERROR, "TEI": _TEI_ERROR, "Cohere": _COHERE_ERROR}
ERROR_SCHEMAS: dict[str, dict[str, Any]] = {
    name: schema
    for prefix, body in _DIALECT_ERRORS.items()
    for name, schema in (
        (f"{prefix}Error", body),
        (
            f"{prefix}Unavailable",
            {
                **body,
                "title": f"{prefix}Unavailable",
                "properties": {**body["properties"], **_ESTIMATED_TIME},
            },
        ),
    )
}
_SCHEMA_PREFIX = {Dialect.HF: "HF", Dialect.OPENAI: "OpenAI", Dialect.TEI: "TEI", Dialect.COHERE: "Cohere"}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route that can answer these error statuses (HF terms: 422 for validation)."""
    return {status: {"description": ERROR_STATUSES[status]} for status in sorted(set(statuses))}


def json_body(*models: type[BaseModel], required: bool = True) -> dict[str, Any]:
    """``openapi_extra`` declaring the JSON body of a route that reads it by hand (one of ``models``)."""
    components: dict[str, Any] = {}
    refs = []
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
        refs.append({"$ref": REF.format(model=model.__name__)})
    body_schema = refs[0] if len(refs) == 1 else {"oneOf": refs}
    return {
        "requestBody": {"required": required, "content": {"application/json": {"schema": body_schema}}},
        _COMPONENTS_KEY: components,
    }


# schemathesis checks each event of a stream against this: its data is one JSON chunk, or [DONE].
SSE = {
    "text/event-stream": {
        "schema": {
            "type": "object",
            "description": "One server-sent event",
            "required": ["data"],
            "properties": {"data": {"type": "string"}, "event": {"type": "string"}},
        }
    }
}


def streaming(description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry for a 200 that is JSON or, when the body asks for a stream, SSE."""
    return {200: {"description": description, "content": {"application/json": {"schema": {}}, **SSE}}}


def build_schema(app: FastAPI, *, allow_anonymous: bool) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's 422 shape, which hubserve never sends
        schemas.pop(name, None)
    schemas.update(ERROR_SCHEMAS)
    components["securitySchemes"] = {
        BEARER: {
            "type": "http",
            "scheme": "bearer",
            "description": "A hubserve token (hs_...); `hubserve token create` makes one.",
        }
    }
    for item in schema["paths"].values():
        for operation in item.values():
            schemas.update(operation.pop(_COMPONENTS_KEY, {}))
            _document_operation(operation, allow_anonymous=allow_anonymous)
    app.openapi_schema = schema
    return schema


def _document_operation(operation: dict[str, Any], *, allow_anonymous: bool) -> None:
    dialect = dialect_of_tags(operation.get("tags", ()))
    openai = dialect is Dialect.OPENAI
    responses: dict[str, Any] = operation["responses"]
    declared = {int(code) for code in responses if code[0] in "45"}
    for code in [c for c in responses if c[0] in "45"]:
        del responses[code]
    if openai and 422 in declared:
        declared = (declared - {422}) | {400}
    for status in sorted(declared):
        name = _SCHEMA_PREFIX[dialect] + ("Unavailable" if status == 503 else "Error")
        responses[str(status)] = {
            "description": ERROR_STATUSES[status],
            "content": {"application/json": {"schema": {"$ref": REF.format(model=name)}}},
        }
    if 401 in declared:  # a route that checks tokens; anonymous calls may be allowed
        operation["security"] = [{BEARER: []}, {}] if allow_anonymous else [{BEARER: []}]
    else:
        operation["security"] = []
