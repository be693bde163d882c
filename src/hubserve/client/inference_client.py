"""``InferenceClient`` and ``AsyncInferenceClient``: huggingface_hub's methods over hubserve, retried.

The token comes from ``token``, else ``HUBSERVE_TOKEN``, else ``HF_TOKEN``; the server from ``base_url``,
else ``HUBSERVE_URL``, else ``http://127.0.0.1:8000``. Model ids are the server's (``org/name`` or an
alias): the SDK never calls a remote hub. Each method is written once, in ``_Methods``: it builds a
``calls.Call`` and names the reader of its answer; the sync and async clients differ only in how they
send (``_run``, ``_stream``), so the async client's methods return awaitables of the same results.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import mimetypes
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Generic, TypeVar

import httpx

from hubserve import __version__
from hubserve.client import calls
from hubserve.client import results as r
from hubserve.client.errors import APIConnectionError
from hubserve.client.retry import RetryPolicy
from hubserve.client.sending import asend, send
from hubserve.client.streams import aevents, events

DEFAULT_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_S = 120.0
T = TypeVar("T")
CHAT_OPTIONS = (
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "max_tokens",
    "n",
    "presence_penalty",
    "response_format",
    "seed",
    "stop",
    "stream_options",
    "temperature",
    "tool_choice",
    "tool_prompt",
    "tools",
    "top_logprobs",
    "top_p",
    "extra_body",
)


class _TaskMethod:
    """A task method built from its row in ``calls.TASKS``: one code path for every task, both clients."""

    def __init__(self, name: str) -> None:
        self.name = name
        spec = calls.TASKS[name]
        self.__doc__ = spec.doc
        keyword = inspect.Parameter.KEYWORD_ONLY
        positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
        self.__signature__ = inspect.Signature(
            [
                *(inspect.Parameter(a, positional) for a in spec.arguments),
                inspect.Parameter("model", keyword, default=None),
                *(inspect.Parameter(p, keyword, default=None) for p in spec.parameters),
            ]
        )

    def __get__(self, client: _Methods | None, owner: type[Any]) -> Any:
        if client is None:
            return self
        name, target = self.name, client

        def method(*args: Any, model: str | None = None, **kwargs: Any) -> Any:
            return target._task(name, args, model, kwargs)

        method.__name__ = method.__qualname__ = name
        method.__doc__ = self.__doc__
        method.__signature__ = self.__signature__  # type: ignore[attr-defined]
        return method


def _read_file(value: Any) -> bytes:
    """A file argument's bytes: bytes, a path, or an open binary file."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        raise ValueError("Pass the file's bytes, a path or an open file: the SDK does not fetch URLs")
    if isinstance(value, str | os.PathLike):
        return Path(value).read_bytes()
    if hasattr(value, "read"):
        data = value.read()
        if isinstance(data, bytes):
            return data
    raise TypeError(f"Expected bytes, a path or a binary file, got {type(value).__name__}")


def _content_type(value: Any) -> str:
    if isinstance(value, str | os.PathLike):
        return mimetypes.guess_type(str(value))[0] or "application/octet-stream"
    return "application/octet-stream"


def server_url(base_url: str | None = None) -> str:
    """The server to call: ``base_url``, else ``HUBSERVE_URL``, else ``http://127.0.0.1:8000``."""
    return (base_url or os.environ.get("HUBSERVE_URL") or DEFAULT_URL).rstrip("/")


def request_headers(token: str | bool | None = None, **extra: str) -> dict[str, str]:
    """The SDK's headers: its user agent and the token (else ``HUBSERVE_TOKEN``, else ``HF_TOKEN``).

    ``token=False`` sends none, as in huggingface_hub.
    """
    headers = {"User-Agent": f"hubserve-sdk/{__version__}", **extra}
    if token is False:
        return headers
    if not isinstance(token, str) or not token:
        token = os.environ.get("HUBSERVE_TOKEN") or os.environ.get("HF_TOKEN")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


class _Methods:
    """Settings and every method, written once; the shells below say how a call is sent."""

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        token: str | bool | None = None,
        timeout: float | None = None,
        retry: RetryPolicy | None = None,
        wait_for_model: bool = False,
        headers: dict[str, str] | None = None,
        api_key: str | None = None,
    ) -> None:
        if token is None:
            token = api_key  # huggingface_hub's other name for it
        if model and model.startswith(("http://", "https://")):  # huggingface_hub's URL-as-model
            base_url, model = base_url or model, None
        self.model = model
        self.base_url = server_url(base_url)
        self.headers = request_headers(token, **(headers or {}))
        if wait_for_model:  # the server holds a request for a cold model instead of answering 503
            self.headers["X-Wait-For-Model"] = "true"
        self.timeout = timeout if timeout is not None else DEFAULT_TIMEOUT_S
        self.retry = retry if retry is not None else RetryPolicy()

    def __repr__(self) -> str:
        return f"<{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r})>"

    # ---- how a call is sent: the shells' part ----------------------------------------------------------

    def _run(self, call: calls.Call, parse: Callable[[httpx.Response], Any]) -> Any:
        raise NotImplementedError

    def _stream(self, call: calls.Call, read: Callable[[Any], Any]) -> Any:
        raise NotImplementedError

    def _request(self, http: httpx.Client | httpx.AsyncClient, call: calls.Call) -> httpx.Request:
        return http.build_request(
            call.method,
            self.base_url + call.path,
            json=call.json,
            content=call.content,
            params=dict(call.params),
            headers={**self.headers, **call.headers},
        )

    # ---- tasks ---------------------------------------------------------------------------------------

    def _task(self, name: str, args: tuple[Any, ...], model: str | None, kwargs: dict[str, Any]) -> Any:
        spec = calls.TASKS[name]
        inputs, parameters = calls.bind(spec, name, args, dict(kwargs))
        if spec.kind == "file":
            call = calls.task_call(
                spec, model or self.model, _read_file(inputs), parameters, _content_type(inputs)
            )
        else:
            call = calls.task_call(spec, model or self.model, inputs, parameters)
        return self._run(call, lambda a: spec.parse(a.content if spec.binary_answer else a.json()))

    feature_extraction = _TaskMethod("feature_extraction")
    sentence_similarity = _TaskMethod("sentence_similarity")
    text_classification = _TaskMethod("text_classification")
    zero_shot_classification = _TaskMethod("zero_shot_classification")
    token_classification = _TaskMethod("token_classification")
    fill_mask = _TaskMethod("fill_mask")
    question_answering = _TaskMethod("question_answering")
    summarization = _TaskMethod("summarization")
    translation = _TaskMethod("translation")
    text_to_image = _TaskMethod("text_to_image")
    text_to_speech = _TaskMethod("text_to_speech")
    automatic_speech_recognition = _TaskMethod("automatic_speech_recognition")
    audio_classification = _TaskMethod("audio_classification")
    image_classification = _TaskMethod("image_classification")
    object_detection = _TaskMethod("object_detection")
    image_to_text = _TaskMethod("image_to_text")

    def rerank(
        self,
        query: str,
        texts: list[str],
        *,
        model: str | None = None,
        top_n: int | None = None,
        return_text: bool = False,
        raw_scores: bool = False,
        truncate: bool = False,
    ) -> Any:
        """``texts`` ranked by relevance to ``query``, best first (``list[RerankResult]``)."""
        call = calls.rerank_call(
            model or self.model,
            query,
            texts,
            return_text=return_text,
            raw_scores=raw_scores,
            truncate=truncate,
        )
        return self._run(call, lambda a: calls.rerank_answer(a.json(), top_n))

    # ---- generation ----------------------------------------------------------------------------------

    def text_generation(
        self,
        prompt: str,
        *,
        details: bool = False,
        stream: bool = False,
        model: str | None = None,
        **parameters: Any,
    ) -> Any:
        """Continue ``prompt``: the text, ``TextGenerationOutput`` with ``details``, or a stream of either.

        The parameters are TGI's (``max_new_tokens``, ``temperature``, ``stop``, ``grammar``, ...). A
        stream yields each token's text, or ``TextGenerationStreamOutput`` with ``details``; stopping
        early (``break``, ``close()``, leaving a ``with`` block) closes the connection and frees the slot.
        """
        allowed = {*calls.TEXT_GENERATION_PARAMETERS, "stop_sequences"}
        unknown = sorted(set(parameters) - allowed)
        if unknown:
            raise TypeError(f"text_generation() got an unexpected keyword argument {unknown[0]!r}")
        call = calls.text_generation_call(
            model or self.model, prompt, details=details, stream=stream, parameters=parameters
        )
        if stream:
            return self._stream(call, lambda e: calls.text_generation_event(e, details=details))
        return self._run(call, lambda a: calls.text_generation_answer(a.json(), details=details))

    def chat_completion(
        self,
        messages: list[Any],
        *,
        model: str | None = None,
        stream: bool = False,
        **options: Any,
    ) -> Any:
        """A chat completion (``ChatCompletionOutput``), or a stream of ``ChatCompletionStreamOutput``.

        The options are huggingface_hub's (``max_tokens``, ``temperature``, ``tools``, ``response_format``,
        ...); ``extra_body`` adds fields of the server's own.
        """
        unknown = sorted(set(options) - set(CHAT_OPTIONS))
        if unknown:
            raise TypeError(f"chat_completion() got an unexpected keyword argument {unknown[0]!r}")
        return self._chat(model, messages, stream, options)

    def _chat(self, model: str | None, messages: list[Any], stream: bool, options: dict[str, Any]) -> Any:
        call = calls.chat_call(model or self.model, messages, stream=stream, options=options)
        if stream:
            return self._stream(call, calls.chat_event)
        return self._run(call, lambda a: calls.chat_answer(a.json()))

    @property
    def chat(self) -> _Chat:
        """The OpenAI-style spelling: ``client.chat.completions.create(model=..., messages=...)``."""
        return _Chat(self)

    # ---- the server ----------------------------------------------------------------------------------

    def get_model_status(self, model: str | None = None) -> Any:
        """Whether the model is loaded (``ModelStatus``), as the old Inference API said."""
        return self._run(
            calls.model_status_call(self._named(model)), lambda a: r.read(r.ModelStatus, a.json())
        )

    def list_models(
        self,
        *,
        search: str | None = None,
        author: str | None = None,
        pipeline_tag: str | None = None,
        task: str | None = None,
        limit: int | None = None,
    ) -> Any:
        """The models of the server's hub this token may see (``list[ModelInfo]``); ``task`` is a tag too."""
        call = calls.list_models_call(search, author, pipeline_tag or task, limit)
        return self._run(call, lambda a: [r.read(r.ModelInfo, m) for m in a.json()])

    def load(self, model: str | None = None, *, pin: bool = False, wait: bool = True) -> Any:
        """Start a model ahead of traffic (an administrator's call); ``pin`` keeps it loaded."""
        call = calls.load_call(self._named(model), pin=pin, wait=wait)
        return self._run(call, lambda a: r.read(r.LoadedModel, a.json()))

    def unload(self, model: str | None = None) -> Any:
        """Stop a model (an administrator's call); True if it was loaded."""
        return self._run(calls.unload_call(self._named(model)), lambda a: bool(a.json()["was_loaded"]))

    def ps(self) -> Any:
        """What the server has loaded (``ProcessStatus``; an administrator's call)."""
        return self._run(calls.ps_call(), lambda a: r.read(r.ProcessStatus, a.json()))

    def _named(self, model: str | None) -> str:
        chosen = model or self.model
        if not chosen:
            raise ValueError("Name a model: pass model=..., or give the client one")
        return chosen


class _Completions:
    def __init__(self, client: _Methods) -> None:
        self._client = client

    def create(
        self, *, model: str | None = None, messages: list[Any], stream: bool = False, **body: Any
    ) -> Any:
        """OpenAI's ``chat.completions.create``: every other argument goes into the body as given."""
        return self._client._chat(model, messages, stream, {"extra_body": body})


class _Chat:
    def __init__(self, client: _Methods) -> None:
        self.completions = _Completions(client)


class Stream(Generic[T]):
    """The events of a streamed answer; closing it (or stopping early) closes the connection."""

    def __init__(self, response: httpx.Response, read: Callable[[Any], T]) -> None:
        self._response = response
        self._events = (read(e) for e in events(response.iter_lines()))

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        try:
            return next(self._events)
        except httpx.TransportError as exc:
            self.close()
            raise APIConnectionError(f"The stream broke: {exc!r}") from exc
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Close the connection: the server stops generating."""
        self._events.close()
        self._response.close()

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self._response.close()


class AsyncStream(Generic[T]):
    """``Stream`` for the async client: ``async for``, ``aclose()`` and ``async with``."""

    def __init__(self, response: httpx.Response, read: Callable[[Any], T]) -> None:
        self._response = response
        self._read = read
        self._events: AsyncGenerator[Any, None] = aevents(response.aiter_lines())

    def __aiter__(self) -> AsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return self._read(await self._events.__anext__())
        except httpx.TransportError as exc:
            await self.aclose()
            raise APIConnectionError(f"The stream broke: {exc!r}") from exc
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Close the connection: the server stops generating."""
        await self._events.aclose()
        await self._response.aclose()

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped unclosed (``break`` out of ``async for``): close it on the loop, if one still runs.
        if self._response.is_closed:
            return
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop().create_task(self._response.aclose())


class InferenceClient(_Methods):
    """The sync client, on an ``httpx.Client``; use it as a context manager or call ``close()``."""

    def __init__(
        self, model: str | None = None, *, http_client: httpx.Client | None = None, **settings: Any
    ) -> None:
        super().__init__(model, **settings)
        self._http = http_client or httpx.Client(timeout=self.timeout)

    def _run(self, call: calls.Call, parse: Callable[[httpx.Response], Any]) -> Any:
        return parse(
            send(self._http, self._request(self._http, call), self.retry, idempotent=call.idempotent)
        )

    def _stream(self, call: calls.Call, read: Callable[[Any], Any]) -> Any:
        request = self._request(self._http, call)
        return Stream(send(self._http, request, self.retry, idempotent=call.idempotent, stream=True), read)

    def health_check(self) -> bool:
        """Whether the server answers ``GET /health`` with 200 now (no retries)."""
        try:
            return self._http.get(f"{self.base_url}/health", headers=self.headers).status_code == 200
        except httpx.TransportError:
            return False

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def __enter__(self) -> InferenceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncInferenceClient(_Methods):
    """The async client, on an ``httpx.AsyncClient``: the same methods, awaited."""

    def __init__(
        self, model: str | None = None, *, http_client: httpx.AsyncClient | None = None, **settings: Any
    ) -> None:
        super().__init__(model, **settings)
        self._http = http_client or httpx.AsyncClient(timeout=self.timeout)

    async def _run(self, call: calls.Call, parse: Callable[[httpx.Response], Any]) -> Any:
        request = self._request(self._http, call)
        return parse(await asend(self._http, request, self.retry, idempotent=call.idempotent))

    async def _stream(self, call: calls.Call, read: Callable[[Any], Any]) -> Any:
        request = self._request(self._http, call)
        response = await asend(self._http, request, self.retry, idempotent=call.idempotent, stream=True)
        return AsyncStream(response, read)

    async def health_check(self) -> bool:
        """Whether the server answers ``GET /health`` with 200 now (no retries)."""
        try:
            response = await self._http.get(f"{self.base_url}/health", headers=self.headers)
            return response.status_code == 200
        except httpx.TransportError:
            return False

    async def close(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncInferenceClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
