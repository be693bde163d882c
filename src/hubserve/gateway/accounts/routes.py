"""Account routes: the Hub's ``/api/whoami-v2``, ``/api/usage``, and a model's privacy settings."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict

from hubserve.accounts.principal import Scope
from hubserve.accounts.usage import query_usage
from hubserve.durations import parse_duration_s
from hubserve.errors import Forbidden, Unauthorized, ValidationFailed
from hubserve.gateway.callers import Reader, Writer
from hubserve.gateway.json_body import read_object
from hubserve.gateway.openapi import AUTHENTICATED, BODY, MODEL, QUERY, errors, json_body
from hubserve.gateway.state import Services, services_dependency
from hubserve.tasks.base import parse_model
from hubserve.types.names import ModelId

router = APIRouter()
ServicesDep = Annotated[Services, Depends(services_dependency)]


@router.get("/api/whoami-v2", responses=errors(*AUTHENTICATED))
async def whoami(principal: Reader, services: ServicesDep) -> dict[str, Any]:
    """The token's owner, orgs and token role, in the shape huggingface_hub reads."""
    if principal.anonymous:
        raise Unauthorized("whoami needs a token: send 'Authorization: Bearer hs_...'")
    return await asyncio.to_thread(services.accounts.whoami, principal)


@router.get("/api/usage", responses=errors(*AUTHENTICATED, *QUERY, 400, 404))
async def usage(
    principal: Reader,
    services: ServicesDep,
    model: str | None = None,
    token: int | None = None,
    user: str | None = None,
    start: str | None = None,
    end: str | None = None,
    interval: str = "1h",
) -> dict[str, Any]:
    """Totals and a time series of metered calls; a non-admin sees only their own."""
    if principal.anonymous:
        raise Unauthorized("Usage is per account: send 'Authorization: Bearer hs_...'")
    account_id = principal.account_id
    if principal.can(Scope.ADMIN):
        account_id = (await asyncio.to_thread(services.accounts.get_account, user)).id if user else None
    elif user is not None and user != principal.name:
        raise Forbidden("Only administrators can read another user's usage")
    if token is not None and not principal.can(Scope.ADMIN):
        mine = await asyncio.to_thread(services.accounts.list_tokens, principal.name)
        if token not in {t.id for t in mine}:
            raise Forbidden(f"Token {token} is not one of yours")
    body = await asyncio.to_thread(
        query_usage,
        services.accounts.engine,
        account_id=account_id,
        token_id=token,
        model=str(ModelId.parse(model)) if model else None,
        start_ms=_epoch_ms(start, "start"),
        end_ms=_epoch_ms(end, "end"),
        interval_s=_interval_s(interval),
    )
    body["filters"] = {
        "user": user or (None if principal.can(Scope.ADMIN) else principal.name),
        "token": token,
        "model": model,
    }
    return body


class RepoSettings(BaseModel):
    """The body of huggingface_hub's ``update_repo_settings``: ``visibility`` (2.x) or ``private`` (1.x)."""

    model_config = ConfigDict(extra="ignore")
    visibility: Literal["public", "private"] | None = None
    private: bool | None = None
    owner: str | None = None

    @property
    def wants_private(self) -> bool | None:
        """The privacy asked for, whichever field said it."""
        return self.private if self.visibility is None else self.visibility == "private"


@router.put(
    "/api/models/{namespace}/{name}/settings",
    responses=errors(*AUTHENTICATED, *MODEL, *BODY),
    openapi_extra=json_body(RepoSettings, required=False),
)
async def model_settings(
    namespace: str, name: str, request: Request, principal: Writer, services: ServicesDep
) -> dict[str, Any]:
    """Make a model private or public (its owner, a member of the owning org, or an admin)."""
    model_id = ModelId.parse(f"{namespace}/{name}")
    await services.access.check_visible(principal, model_id)
    services.store.get(model_id)
    body = parse_model(RepoSettings, await _json(request), where="body")
    assert isinstance(body, RepoSettings)
    owner, _ = services.access.access_of(str(model_id))
    allowed = principal.can(Scope.ADMIN) or (owner is not None and principal.manages(owner))
    if not allowed:
        raise Forbidden(
            f"Only the owner of {model_id} (for an organisation: a member with the write or admin role) "
            "or an administrator can change its settings"
        )
    if body.owner is not None and not principal.can(Scope.ADMIN):
        raise Forbidden("Only an administrator can give a model to another owner")
    await asyncio.to_thread(
        services.accounts.set_model_access, str(model_id), owner=body.owner, private=body.wants_private
    )
    services.access.forget_visibility()
    access = (await asyncio.to_thread(services.accounts.model_access)).get(str(model_id), (None, False))
    return {"id": str(model_id), "owner": access[0], "private": access[1]}


async def _json(request: Request) -> dict[str, Any]:
    return await read_object(request, empty={})


def _epoch_ms(text: str | None, name: str) -> int | None:
    """An ISO-8601 time (naive means UTC) or epoch seconds, as epoch milliseconds."""
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            seconds = math.nan
        else:
            seconds = (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(seconds):
        raise ValidationFailed(
            f"{name} must be ISO-8601 (2026-11-25T10:00:00Z) or epoch seconds, got {text!r}", param=name
        )
    return round(seconds * 1000)


def _interval_s(text: str) -> int:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise ValidationFailed(f"interval: {exc}", param="interval") from None
