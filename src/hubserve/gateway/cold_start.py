"""How a request asks to be served while its model loads: hold or not, keep-alive, cache use."""

from __future__ import annotations

import math
from dataclasses import dataclass

from fastapi import Request

from hubserve.config import Settings
from hubserve.errors import ValidationFailed
from hubserve.tasks.base import Options

_TRUE = {"1", "true", "yes", "on"}
_SERVING_HEADERS = frozenset({b"x-wait-for-model", b"x-scale-up-timeout", b"x-keep-alive", b"x-use-cache"})


@dataclass(frozen=True)
class ServeOptions:
    """Per-request serving choices."""

    hold_s: float
    keep_alive_s: float | None
    use_cache: bool


def serve_options(
    request: Request,
    settings: Settings,
    options: Options | None = None,
    *,
    keep_alive_s: float | None = None,
) -> ServeOptions:
    """Merge body options with the headers X-Wait-For-Model, X-Scale-Up-Timeout, X-Use-Cache, X-Keep-Alive."""
    opts = options or Options()
    if opts.keep_alive is not None:
        keep_alive_s = opts.keep_alive
    use_cache = opts.use_cache
    # One pass over the raw headers: each starlette Headers lookup scans them all again.
    headers = {
        k.decode("latin-1"): v.decode("latin-1") for k, v in request.scope["headers"] if k in _SERVING_HEADERS
    }
    hold = settings.hold_cold_requests_s
    if opts.wait_for_model or headers.get("x-wait-for-model", "").lower() in _TRUE:
        hold = settings.max_hold_s
    if "x-scale-up-timeout" in headers:
        hold = min(_seconds(headers["x-scale-up-timeout"], "X-Scale-Up-Timeout"), settings.max_hold_s)
    if "x-keep-alive" in headers:
        keep_alive_s = _seconds(headers["x-keep-alive"], "X-Keep-Alive", allow_negative=True)
    if headers.get("x-use-cache", "").lower() in {"0", "false", "no", "off"}:
        use_cache = False
    return ServeOptions(hold_s=max(0.0, hold), keep_alive_s=keep_alive_s, use_cache=use_cache)


def _seconds(raw: str, name: str, *, allow_negative: bool = False) -> float:
    try:
        value = float(raw.strip().rstrip("s"))
    except ValueError:
        raise ValidationFailed(f"{name} must be a number of seconds, got {raw!r}", param=name) from None
    if math.isnan(value):
        raise ValidationFailed(f"{name} must be a number of seconds, got {raw!r}", param=name)
    if value < 0 and not allow_negative:
        raise ValidationFailed(f"{name} must not be negative", param=name)
    return value
