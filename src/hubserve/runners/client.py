"""RunnerClient: the gateway's side of a runner: load, encode, tokenize and stream tokens over its socket."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from hubserve.errors import HubserveError, RunnerCrashed
from hubserve.runners.process import RunnerProcess
from hubserve.runners.wire import (
    ARRAY_MEDIA_TYPE,
    SHAPE_HEADER,
    array_from_wire,
    error_from_data,
    event_from_data,
    params_to_wire,
)
from hubserve.runtimes.generation.base import SamplingParams, TokenEvent
from hubserve.tasks.base import CallContext

_JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class GenerationInfo:
    """What prompt building needs: the template, special tokens and context length."""

    template: str | None
    special_tokens: dict[str, str]
    context_length: int


class RunnerClient:
    """Calls into one runner; a dead runner surfaces as RunnerCrashed."""

    def __init__(self, process: RunnerProcess, model: str) -> None:
        self.process = process
        self.model = model
        # Plain HTTP on a socket: verify=False skips loading the CA bundle (~40 ms, on every cold start).
        transport = httpx.AsyncHTTPTransport(uds=str(process.socket), verify=False)
        self._http = httpx.AsyncClient(transport=transport, base_url="http://runner", timeout=None)
        self.generation: GenerationInfo | None = None
        self.load_s = 0.0

    async def load(self) -> dict[str, Any]:
        """Load the model into the runner; remember its generation info."""
        info: dict[str, Any] = await self._post("/load", {"model_id": self.model})
        # Seconds a load of this model takes from now on (one-time work such as an ONNX export excluded).
        self.load_s = float(info.get("load_s", 0.0)) - float(info.get("one_time_s", 0.0))
        gen = info.get("generation")
        if gen:
            self.generation = GenerationInfo(
                gen["template"], gen["special_tokens"], int(gen["context_length"])
            )
        return info

    async def encode(self, task: str, envelope: dict[str, Any], ctx: CallContext) -> Any:
        """Run an encoder task."""
        body = {
            "task": task,
            "envelope": envelope,
            "hf_hub_version": list(ctx.hf_hub_version) if ctx.hf_hub_version else None,
            "max_batch_inputs": ctx.max_batch_inputs,
        }
        response = await self._send("/encode", body)
        if response.headers.get("content-type") == ARRAY_MEDIA_TYPE:
            return array_from_wire(response.content, response.headers.get(SHAPE_HEADER, ""))
        return _json_or_error(response)

    async def tokenize(self, text: str, *, add_special: bool) -> tuple[list[int], list[str]]:
        """Token ids of ``text`` and each token's text."""
        data = await self._post("/tokenize", {"text": text, "add_special": add_special})
        return list(data["ids"]), list(data["texts"])

    async def stream(self, prompt: list[int], params: SamplingParams) -> AsyncGenerator[TokenEvent, None]:
        """Token events; closing the generator closes the stream, which cancels the sequence in the runner."""
        body = {"prompt": prompt, "params": params_to_wire(params)}
        try:
            async with self._http.stream("POST", "/generate", json=body) as response:
                if response.status_code != 200:
                    raise error_from_data(json.loads(await response.aread()))
                async for line in response.aiter_lines():
                    if not line:
                        continue
                    data = json.loads(line)
                    if "error" in data:
                        raise error_from_data(data)
                    yield event_from_data(data)
        except httpx.TransportError as exc:
            raise self._crashed(exc) from exc

    @property
    def pid(self) -> int:
        """The runner's process id."""
        return self.process.pid

    async def memory_bytes(self) -> int:
        """Resident memory of the runner process."""
        from hubserve.runners.model_host import rss_bytes

        return rss_bytes(self.process.pid)

    async def stopped(self) -> int:
        """Resolve when the process exits (for any reason); its exit code."""
        return await self.process.wait()

    async def stop(self) -> None:
        """Close the connections and stop the process (gracefully, then by force)."""
        await self._http.aclose()
        await self.process.stop()

    def kill(self) -> None:
        """SIGKILL the process."""
        self.process.kill()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        return _json_or_error(await self._send(path, body))

    async def _send(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            return await self._http.post(path, content=orjson.dumps(body), headers=_JSON)
        except httpx.TransportError as exc:
            raise self._crashed(exc) from exc

    def _crashed(self, exc: Exception) -> HubserveError:
        return RunnerCrashed(
            f"The process serving {self.model} stopped while handling the request ({type(exc).__name__})"
        )


def _json_or_error(response: httpx.Response) -> Any:
    data = orjson.loads(response.content)
    if response.status_code != 200:
        raise error_from_data(data)
    return data
