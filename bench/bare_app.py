"""The bare app bench/gateway.py measures hubserve against: Starlette answering fixed JSON bytes."""

from __future__ import annotations

import os
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

ANSWER = Path(os.environ["BARE_ANSWER"]).read_bytes() if "BARE_ANSWER" in os.environ else b"[]"


async def answer(request: Request) -> Response:
    """Read the body, as hubserve must, and send the same answer it sends."""
    await request.body()
    return Response(ANSWER, media_type="application/json")


app = Starlette(routes=[Route("/models/{model:path}", answer, methods=["POST"])])
