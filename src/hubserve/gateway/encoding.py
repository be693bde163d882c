"""Run one prepared encoder call for an admitted model: from the response cache, or on its runner.

Every encoder route (HF's, OpenAI's embeddings, TEI's, rerank) ends here, so each batches with the others
in the scheduler's batcher and shares the cache; only the shaping of the answer differs by dialect.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request

from hubserve.gateway.access import Admission
from hubserve.gateway.cold_start import ServeOptions
from hubserve.gateway.metering import Meter
from hubserve.gateway.state import Services
from hubserve.protocol import EncodeCall
from hubserve.tasks.base import CallContext

_HF_HUB_UA = re.compile(r"hf_hub/(\d+)\.(\d+)(?:\.(\d+))?")


def call_context(request: Request, services: Services) -> CallContext:
    """What the caller's headers tell us: the huggingface_hub version, if that is the client."""
    match = _HF_HUB_UA.search(request.headers.get("user-agent", ""))
    version = tuple(int(g or 0) for g in match.groups()) if match else None
    settings = services.settings
    return CallContext(
        hf_hub_version=version,
        max_batch_inputs=settings.max_batch_inputs,
        max_speech_characters=settings.max_speech_characters,
        max_image_pixels=settings.max_image_pixels,
        max_image_steps=settings.max_image_steps,
    )


async def run_encoder(
    services: Services,
    admission: Admission,
    meter: Meter,
    call: EncodeCall,
    options: ServeOptions,
    *,
    key_body: dict[str, Any] | None = None,
) -> Any:
    """The call's answer; ``key_body`` is what the cache keys on (the call itself when None)."""
    manifest, model_id = admission.manifest, admission.model_id
    meter.task = call.task
    body = (
        key_body
        if key_body is not None
        else {"inputs": call.inputs, "params": call.params, "single": call.single}
    )
    key = services.cache.key(str(model_id), manifest.revision, call.task, body)
    result = services.cache.get(key) if options.use_cache else None
    if result is not None:
        meter.cache_hit = True
        return result
    async with services.scheduler.lease(
        model_id, hold_s=options.hold_s, keep_alive_s=options.keep_alive_s, deployment=admission.deployment
    ) as lease:
        result = await lease.encode(call, batch_key=f"{model_id}@{manifest.revision}")
    services.cache.put(key, result)
    return result
