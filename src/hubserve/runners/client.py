"""RunnerClient: the gateway's side of a runner: load, encode, tokenize and stream tokens over its socket."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
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
        # aiohttp rather than httpx: measured on this socket, a batch call costs the gateway ~100 us of
        # CPU against ~430 us, and the gateway's CPU is what the runner's forwards compete with.
        # No timeout: a generation may run for minutes; a dead runner closes the socket.
        self._http = aiohttp.ClientSession(
            "http://runner",
            connector=aiohttp.UnixConnector(path=str(process.socket)),
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
        )
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
        status, headers, content = await self._send("/encode", body)
        if headers.get("content-type") == ARRAY_MEDIA_TYPE:
            return array_from_wire(content, headers.get(SHAPE_HEADER, ""))
        return _json_or_error(status, content)

    async def tokenize(self, text: str, *, add_special: bool) -> tuple[list[int], list[str]]:
        """Token ids of ``text`` and each token's text."""
        data = await self._post("/tokenize", {"text": text, "add_special": add_special})
        return list(data["ids"]), list(data["texts"])

    async def stream(self, prompt: list[int], params: SamplingParams) -> AsyncGenerator[TokenEvent, None]:
        """Token events; closing the generator closes the stream, which cancels the sequence in the runner."""
        body = {"prompt": prompt, "params": params_to_wire(params)}
        try:
            async with self._http.post("/generate", data=orjson.dumps(body), headers=_JSON) as response:
                try:
                    if response.status != 200:
                        raise error_from_data(json.loads(await response.read()))
                    async for line in response.content:
                        if not line.strip():
                            continue
                        data = json.loads(line)
                        if "error" in data:
                            raise error_from_data(data)
                        yield event_from_data(data)
                finally:
                    # A stream left early (the caller went away) must close its connection: that is
                    # how the runner learns to cancel the sequence.
                    if not response.content.at_eof():
                        response.close()
        except aiohttp.ClientError as exc:
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
        await self._http.close()
        await self.process.stop()

    def kill(self) -> None:
        """SIGKILL the process."""
        self.process.kill()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        status, _, content = await self._send(path, body)
        return _json_or_error(status, content)

    async def _send(self, path: str, body: dict[str, Any]) -> tuple[int, Mapping[str, str], bytes]:
        """One call: its status, headers and whole body."""
        try:
            async with self._http.post(path, data=orjson.dumps(body), headers=_JSON) as response:
                return response.status, response.headers, await response.read()
        except aiohttp.ClientError as exc:
            raise self._crashed(exc) from exc

    def _crashed(self, exc: Exception) -> HubserveError:
        return RunnerCrashed(
            f"The process serving {self.model} stopped while handling the request ({type(exc).__name__})"
        )


def _json_or_error(status: int, content: bytes) -> Any:
    data = orjson.loads(content)
    if status != 200:
        raise error_from_data(data)
    return data
