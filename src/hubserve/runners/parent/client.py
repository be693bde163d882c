"""RunnerClient: the gateway's side of one runner: load, encode and generate, over an injected transport."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from hubserve.errors import HubserveError, ModelLoadFailed, RunnerCrashed, RunnerTimeout
from hubserve.protocol import (
    ARRAY_MEDIA_TYPE,
    CANCEL,
    ENCODE,
    GENERATE,
    HEALTH,
    INFO,
    LOAD,
    SHAPE_HEADER,
    STREAM,
    EncodeCall,
    GenerateCall,
    GenerateHeader,
    Generation,
    GenerationInfo,
    LoadCall,
    LoadReply,
    array_from_wire,
    dumps,
    error_from_data,
    load_reply,
    stream_item,
)
from hubserve.runners.parent.process import RunnerProcess
from hubserve.runners.parent.transport import Reply, Stream, Transport, TransportError
from hubserve.types.generation import TokenEvent

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Deadlines:
    """How long a runner may take to answer, in seconds; 0 or less: no deadline.

    ``call_s`` bounds an encoder call, a generation's first token and each later gap between its tokens
    (and, for a pipeline call that reports its steps, each period in which no step was made);
    ``health_s`` (always on) bounds the health check.
    """

    load_s: float = 600.0
    call_s: float = 120.0
    health_s: float = 5.0


class RunnerClient:
    """Calls into one runner; a runner that cannot be reached surfaces as RunnerCrashed.

    A call past its deadline kills the runner (it is stuck: a process that answers nothing cannot be
    trusted with the next call) and fails with RunnerTimeout; the scheduler notices the exit and restarts it.

    ``process`` is the runner's OS process, when this side owns one (None in tests that fake the
    transport): memory, exit and stopping go to it.
    """

    def __init__(
        self,
        model: str,
        transport: Transport,
        process: RunnerProcess | None = None,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.model = model
        self.transport = transport
        self.process = process
        self.deadlines = deadlines or Deadlines()
        self.generation: GenerationInfo | None = None
        self.load_s = 0.0

    async def load(self, threads: int | None = None) -> LoadReply:
        """Load the model into the runner (on ``threads`` if given); remember its generation info."""
        call = LoadCall(self.model, threads)
        try:
            raw = await self._within(self.deadlines.load_s, "load", self._post(LOAD, call))
        except RunnerTimeout as exc:
            raise ModelLoadFailed(exc.message) from None
        reply = load_reply(self._json_or_error(raw.status, raw.content))
        # Seconds a load of this model takes from now on (one-time work such as an ONNX export excluded).
        self.load_s = reply.load_s - reply.one_time_s
        self.generation = reply.generation
        return reply

    async def encode(self, call: EncodeCall) -> Any:
        """Run an encoder task; an array answer comes back as a float32 array.

        A named (pipeline) call cancelled here, when its client went away, is stopped in the runner too.
        """
        try:
            posted = self._post(ENCODE, call)
            reply = await (
                self._while_progressing(posted)
                if call.call_id
                else self._within(self.deadlines.call_s, "call", posted)
            )
        except asyncio.CancelledError:
            if call.call_id:
                await asyncio.shield(self._cancel(call.call_id))
            raise
        if reply.status == 200 and reply.media_type == ARRAY_MEDIA_TYPE:
            return array_from_wire(reply.content, reply.headers.get(SHAPE_HEADER, ""))
        return self._json_or_error(reply.status, reply.content)

    async def generate(self, call: GenerateCall) -> Generation:
        """Start one generation; it returns once the runner has its first token (or its error)."""
        header, lines, stream = await self._opened(GENERATE, call, "first token", self._header)
        events = self._events(lines, stream)

        async def close() -> None:
            await events.aclose()
            await stream.close()  # the events' own cleanup runs only once they were started

        return Generation(header, events, close)

    async def _header(self, lines: AsyncIterator[bytes]) -> GenerateHeader:
        async for line in lines:
            item = stream_item(line)
            if isinstance(item, GenerateHeader):
                return item
            if item is not None:
                break
        raise TransportError("the stream did not start with its header")

    async def _events(self, lines: AsyncIterator[bytes], stream: Stream) -> AsyncGenerator[TokenEvent, None]:
        try:
            while True:
                try:
                    line = await self._within(self.deadlines.call_s, "next token", anext(lines))
                except StopAsyncIteration:
                    return
                item = stream_item(line)
                if isinstance(item, TokenEvent):
                    yield item
        except TransportError as exc:
            raise self._crashed(exc) from exc
        finally:
            await stream.close()

    async def stream(self, call: EncodeCall) -> AsyncGenerator[dict[str, Any], None]:
        """A pipeline call's pieces; returns once the first is there (so errors before it raise here)."""
        first, lines, stream = await self._opened(STREAM, call, "first piece", self._piece)
        return self._pieces(first, lines, stream)

    async def _opened(
        self, path: str, call: Any, what: str, first: Callable[[AsyncIterator[bytes]], Awaitable[T]]
    ) -> tuple[T, AsyncIterator[bytes], Stream]:
        """Open a streamed call and read its first item; a failure on the way closes the stream."""
        try:
            stream = await self._within(self.deadlines.call_s, what, self.transport.open(path, dumps(call)))
        except TransportError as exc:
            raise self._crashed(exc) from exc
        try:
            if stream.status != 200:
                self._json_or_error(stream.status, await stream.read())
            lines = stream.lines()
            head = await self._within(self.deadlines.call_s, what, first(lines))
        except TransportError as exc:
            await stream.close()
            raise self._crashed(exc) from exc
        except BaseException:
            await stream.close()
            raise
        return head, lines, stream

    async def _piece(self, lines: AsyncIterator[bytes]) -> dict[str, Any] | None:
        async for line in lines:
            if line.strip():
                data = orjson.loads(line)
                if "error_type" in data:
                    raise error_from_data(data)
                return dict(data)
        return None

    async def _pieces(
        self, first: dict[str, Any] | None, lines: AsyncIterator[bytes], stream: Stream
    ) -> AsyncGenerator[dict[str, Any], None]:
        try:
            piece = first
            while piece is not None:
                yield piece
                piece = await self._within(self.deadlines.call_s, "next piece", self._piece(lines))
        except TransportError as exc:
            raise self._crashed(exc) from exc
        finally:
            await stream.close()

    async def progress(self) -> dict[str, Any] | None:
        """The pipeline call the runner is on (task, step, steps), or None."""
        try:
            reply = await self.transport.get(INFO, self.deadlines.health_s)
        except (TimeoutError, TransportError):
            return None
        view = orjson.loads(reply.content).get("progress") if reply.status == 200 else None
        return view if isinstance(view, dict) else None

    async def _cancel(self, call_id: str) -> None:
        with contextlib.suppress(TimeoutError, TransportError, HubserveError):
            await asyncio.wait_for(self._post(CANCEL, {"call_id": call_id}), self.deadlines.health_s)

    async def healthy(self) -> bool:
        """Whether the runner answers its health check within the deadline."""
        try:
            return (await self.transport.get(HEALTH, self.deadlines.health_s)).status == 200
        except (TimeoutError, TransportError):
            return False

    async def _while_progressing(self, work: Awaitable[T]) -> T:
        """A pipeline call's deadline is per step: it runs on while its reported step moves each period."""
        seconds = self.deadlines.call_s
        task = asyncio.ensure_future(work)
        seen: object = None
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=seconds if seconds > 0 else None)
                if done:
                    return task.result()
                view = await self.progress()
                step = view.get("step") if view else None
                if not step or step == seen:  # no step reported, or none since the last look: stuck
                    raise self._timed_out("call", seconds)
                seen = step
        finally:
            if not task.done():
                task.cancel()

    async def _within(self, seconds: float, what: str, work: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(seconds if seconds > 0 else None):
                return await work
        except TimeoutError:
            raise self._timed_out(what, seconds) from None

    def _timed_out(self, what: str, seconds: float) -> RunnerTimeout:
        """Kill the runner that gave no answer in time; the error its callers get."""
        log.error("runner of %s gave no %s answer in %.0fs; killing it", self.model, what, seconds)
        self.kill()
        return RunnerTimeout(
            f"The process serving {self.model} gave no answer to a {what} in {seconds:g}s; "
            "it was stopped and is starting again"
        )

    @property
    def pid(self) -> int | None:
        """The runner's process id."""
        return self.process.pid if self.process else None

    async def memory_bytes(self) -> int:
        """Resident memory of the runner process."""
        return self.process.rss_bytes() if self.process else 0

    async def stopped(self) -> int:
        """Resolve when the process exits (for any reason); its exit code."""
        assert self.process is not None
        return await self.process.wait()

    async def stop(self) -> None:
        """Close the connections and stop the process (gracefully, then by force)."""
        await self.transport.close()
        if self.process is not None:
            await self.process.stop()

    def kill(self) -> None:
        """SIGKILL the process."""
        if self.process is not None:
            self.process.kill()

    async def _post(self, path: str, call: Any) -> Reply:
        try:
            return await self.transport.post(path, dumps(call))
        except TransportError as exc:
            raise self._crashed(exc) from exc

    def _crashed(self, exc: TransportError) -> HubserveError:
        return RunnerCrashed(
            f"The process serving {self.model} stopped while handling the request ({exc})", unsent=exc.unsent
        )

    def _json_or_error(self, status: int, content: bytes) -> Any:
        """The JSON answer, or the error it carries; an answer that is not JSON means a broken runner."""
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError:
            # Its own error handling failed (out of memory, typically): it cannot be trusted with more work.
            log.error("runner of %s answered %d with no protocol body; killing it", self.model, status)
            self.kill()
            raise RunnerCrashed(
                f"The process serving {self.model} broke while handling the request "
                f"(HTTP {status}: {content[:80].decode(errors='replace')})"
            ) from None
        if status != 200:
            raise error_from_data(data)
        return data
