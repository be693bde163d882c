"""Settings: one typed, frozen object read once from the environment at start and passed down."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "HUBSERVE_"
ENCODER_SPLITS = ("rows", "ops")
GGUF_ENGINE_CHOICES = ("auto", "llama-cpp-python", "llama-server")


def _default_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME", str(Path.home() / ".local" / "share"))) / "hubserve"


@dataclass(frozen=True)
class Settings:
    """Every setting of the server; each field reads ``HUBSERVE_<FIELD>`` from the environment."""

    home: Path = field(default_factory=_default_home, metadata={"doc": "Data folder: the hub and caches."})
    host: str = field(default="127.0.0.1", metadata={"doc": "Address the server binds to."})
    port: int = field(default=8000, metadata={"doc": "TCP port the server listens on."})
    runtime: str = field(
        default="auto",
        metadata={"doc": "Encoder runtime: auto (ONNX Runtime on CPU), onnx or torch."},
    )
    threads: int = field(
        default_factory=lambda: os.cpu_count() or 1,
        metadata={"doc": "Compute threads per model; never more than the cores."},
    )
    encoder_split: str = field(
        default="rows",
        metadata={
            "doc": "How an ONNX encoder spends its threads: rows (each forward on one thread, as many "
            "forwards at once as threads: more throughput under load) or ops (each forward on all threads: "
            "a lone long input finishes sooner)."
        },
    )
    max_body_bytes: int = field(default=4 * 1024 * 1024, metadata={"doc": "Largest request body accepted."})
    max_batch_inputs: int = field(default=256, metadata={"doc": "Most inputs in one request."})
    max_audio_s: float = field(
        default=600.0,
        metadata={
            "doc": "Longest audio one speech-recognition request may send, in seconds (audio_too_long)."
        },
    )
    max_image_pixels: int = field(
        default=1024 * 1024,
        metadata={"doc": "Most pixels (width x height) of one generated image (400 image_too_large)."},
    )
    max_image_steps: int = field(
        default=100, metadata={"doc": "Most denoising steps one text-to-image request may ask for (422)."}
    )
    file_ttl_s: float = field(
        default=3600.0,
        metadata={"doc": "Seconds a generated image fetched by URL (/files/…) stays available."},
    )
    file_store_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata={"doc": "Most bytes of generated files kept for /files/… URLs; the oldest go first."},
    )
    chat_text_tasks: bool = field(
        default=False,
        metadata={
            "doc": "Let a chat model serve summarization, translation and text2text as prompts (answers say "
            "x-served-as: chat-prompt); off, such a call is a 400."
        },
    )
    max_speech_characters: int = field(
        default=4096,
        metadata={"doc": "Longest text one text-to-speech request may send, in characters (input_too_long)."},
    )
    max_json_depth: int = field(
        default=64,
        metadata={
            "doc": "Deepest nesting of arrays and objects a JSON body may have (orjson's own ceiling is "
            "1024); deeper is refused as json_too_deep (422, on OpenAI routes 400)."
        },
    )
    gen_slots: int = field(
        default=8,
        metadata={"doc": "Sequences a text-generation model decodes together (continuous batching)."},
    )
    gguf_engine: str = field(
        default="auto",
        metadata={
            "doc": "Engine for GGUF models: llama-cpp-python (hubserve's batching engine over "
            "llama-cpp-python, built for this CPU), llama-server (llama.cpp's own server engine, through "
            "xllamacpp's prebuilt wheels), or auto (the first of these installed, in that order)."
        },
    )
    gen_context_tokens: int = field(
        default=2048, metadata={"doc": "Context (prompt + output tokens) of each generation sequence."}
    )
    memory_budget_bytes: int = field(
        default_factory=lambda: _default_budget(),
        metadata={"doc": "Memory all model runners may hold together; idle ones are evicted LRU to fit."},
    )
    keep_alive_s: float = field(
        default=300.0,
        metadata={"doc": "Idle seconds before a model is unloaded; 0 unloads after each request, <0 never."},
    )
    spare_runners: int = field(
        default=1,
        metadata={"doc": "Runner processes started ahead of need, so a cold start only loads weights."},
    )
    endpoint_scale_up_after_s: float = field(
        default=10.0,
        metadata={
            "doc": "Seconds an endpoint's pending requests per replica stay above its threshold before "
            "it gets another replica."
        },
    )
    endpoint_scale_down_after_s: float = field(
        default=300.0,
        metadata={
            "doc": "Seconds an endpoint could do with one replica fewer before it drops one "
            "(the stabilisation window)."
        },
    )
    hold_cold_requests_s: float = field(
        default=0.0,
        metadata={"doc": "Seconds a request for a loading model waits by default; 0 answers 503 at once."},
    )
    max_hold_s: float = field(
        default=300.0, metadata={"doc": "Longest wait for X-Wait-For-Model / options.wait_for_model."}
    )
    model_concurrency: int = field(default=64, metadata={"doc": "Requests one model runs at once."})
    model_queue: int = field(default=256, metadata={"doc": "Requests that may wait per model; past it, 429."})
    batch_wait_ms: float = field(
        default=3.0, metadata={"doc": "How long encoder requests wait to be batched with others."}
    )
    batch_max_tokens: int = field(default=8192, metadata={"doc": "Padded tokens in one encoder batch."})
    cache_entries: int = field(
        default=2048, metadata={"doc": "Responses of deterministic tasks kept; 0 turns caching off."}
    )
    pinned_models: str = field(
        default="", metadata={"doc": "Comma-separated models loaded at start and never unloaded."}
    )
    default_model: str = field(
        default="", metadata={"doc": "Model served on POST / (Inference Endpoint style); empty for none."}
    )
    log_level: str = field(default="info", metadata={"doc": "Log level: debug, info, warning, error."})
    runner_backend: str = field(
        default="local", metadata={"doc": "Where model runners run: local (child processes of the gateway)."}
    )
    database_url: str = field(
        default="",
        metadata={
            "doc": "SQLAlchemy URL of the accounts database; empty: a SQLite file in the data folder. "
            "PostgreSQL: postgresql+psycopg://user:password@host/db."
        },
    )
    allow_anonymous: bool = field(
        default=True,
        metadata={"doc": "Whether calls without a token may read and run public models; off: 401."},
    )
    rate_limit_tiers: str = field(
        default="anonymous=300/1h;free=300/1h;pro=10000/1h;unlimited=none",
        metadata={
            "doc": "Rate-limit tiers: name=LIMIT/WINDOW[,LIMIT/WINDOW...] separated by ';' (windows in "
            "s, m, h or d; 'none' = unlimited). Tokens get their user's tier; calls without one 'anonymous'."
        },
    )
    database_timeout_s: float = field(
        default=30.0,
        metadata={
            "doc": "How long a call waits for a locked SQLite file or a database connection; past it, "
            "503 database_unavailable (tokens checked recently keep working from the cache)."
        },
    )
    redis_url: str = field(
        default="",
        metadata={"doc": "Redis URL for rate-limit counters shared by several gateways; empty: in-process."},
    )
    auth_cache_s: float = field(
        default=5.0,
        metadata={
            "doc": "Seconds a gateway reuses a checked token or model visibility before asking the database."
        },
    )
    runner_call_timeout_s: float = field(
        default=120.0,
        metadata={
            "doc": "Deadline of one runner call: an encoder batch, a generation's first token, and each gap "
            "between its tokens. A runner past it is killed and restarted, the call answers 504; 0: none."
        },
    )
    runner_load_timeout_s: float = field(
        default=600.0,
        metadata={"doc": "Deadline for a runner to load its model; past it, model_load_failed. 0: none."},
    )
    health_check_every_s: float = field(
        default=5.0,
        metadata={
            "doc": "Seconds between health checks of each runner; two missed in a row get it killed and "
            "restarted. 0: no checks."
        },
    )
    health_check_timeout_s: float = field(
        default=5.0, metadata={"doc": "Seconds a runner has to answer a health check."}
    )
    restart_backoff_s: float = field(
        default=1.0,
        metadata={
            "doc": "Wait before restarting a crashed runner, doubled for each crash in the last 5 minutes "
            "(at most 30 s)."
        },
    )
    max_crashes: int = field(
        default=3,
        metadata={
            "doc": "Crashes within 5 minutes after which a model is marked failed (503 model_failed) "
            "instead of restarted."
        },
    )
    failed_retry_s: float = field(
        default=60.0,
        metadata={"doc": "Seconds a failed model stays failed before a request may try it again."},
    )
    shutdown_grace_s: float = field(
        default=20.0,
        metadata={
            "doc": "On SIGTERM, seconds in-flight requests and streams may still run; streams still "
            "going then end with a final shutting_down error event."
        },
    )
    cors_origins: str = field(
        default="",
        metadata={
            "doc": "Origins a browser may call from (CORS): comma-separated, or * for any; empty: no CORS "
            "headers."
        },
    )
    header_timeout_s: float = field(
        default=10.0,
        metadata={
            "doc": "Seconds a client has to send a request's headers, from connecting (or from the "
            "request's first byte); slower: 408 and the connection is closed."
        },
    )
    body_timeout_s: float = field(
        default=30.0,
        metadata={
            "doc": "Longest pause between two parts of a request body; longer: 408 and the connection "
            "is closed."
        },
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from ``HUBSERVE_*`` variables; explicit keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _coerce(f.type, raw, f.name)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        if settings.gguf_engine not in GGUF_ENGINE_CHOICES:
            choices = ", ".join(GGUF_ENGINE_CHOICES)
            raise ValueError(f"{ENV_PREFIX}GGUF_ENGINE={settings.gguf_engine!r} is not one of {choices}")
        if settings.encoder_split not in ENCODER_SPLITS:
            choices = ", ".join(ENCODER_SPLITS)
            raise ValueError(f"{ENV_PREFIX}ENCODER_SPLIT={settings.encoder_split!r} is not one of {choices}")
        cores = os.cpu_count() or 1
        if settings.threads < 1 or settings.threads > cores:
            settings = dataclasses.replace(settings, threads=max(1, min(settings.threads, cores)))
        return settings

    @property
    def hub_dir(self) -> Path:
        """The model hub's folder inside the data folder."""
        return self.home / "hub"

    def as_table(self) -> list[tuple[str, str, str]]:
        """Rows of (environment variable, value, meaning) for ``hubserve config``."""
        return [
            (ENV_PREFIX + f.name.upper(), str(getattr(self, f.name)), str(f.metadata.get("doc", "")))
            for f in fields(self)
        ]


def _default_budget() -> int:
    """Three quarters of the machine's memory."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        pages = 8 << 30
    return int(pages * 0.75)


def _coerce(type_name: Any, raw: str, name: str) -> Any:
    kind = str(type_name)
    if kind == "bool":
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid bool (true/false)")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw).expanduser()
    except ValueError as exc:
        raise ValueError(f"{ENV_PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
