"""``hubserve endpoint create | ls | describe | update | pause | resume | scale-to-zero | rm``, over HTTP.

Each command calls the running server's Inference Endpoints API (``/v2/endpoint/{namespace}``) with the
caller's token; the namespace defaults to the token's own account (``/api/whoami-v2``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console
from rich.table import Table

from hubserve.config import Settings
from hubserve.errors import HubserveError
from hubserve.types.endpoint_shapes import ACCESS_TYPES, FAILED_STATES, RUNNING, create_body, update_body

Call = Callable[..., Any]
Server = Callable[[argparse.Namespace, Settings], str]
ENV_HELP = "a variable for the endpoint's runner processes (repeat for more; update replaces them all)"


class EndpointFailed(HubserveError):
    """An endpoint that ended failed (or updateFailed) while the command waited for it."""

    error_type = "endpoint_failed"


def add_commands(sub: Any, call: Call, server: Server) -> None:
    """Add ``hubserve endpoint ...`` to the CLI's subcommands."""
    endpoint = sub.add_parser("endpoint", help="manage Inference Endpoints on a running server")
    verbs = endpoint.add_subparsers(required=True, metavar="ACTION")

    def verb(name: str, text: str, run: Callable[[argparse.Namespace, Settings, Call, str], int]) -> Any:
        cmd = verbs.add_parser(name, help=text)
        cmd.add_argument("--url", help="server URL (default: http://HUBSERVE_HOST:HUBSERVE_PORT)")
        cmd.add_argument("--token", help="a token with the write scope (default: $HUBSERVE_TOKEN)")
        cmd.add_argument("--namespace", help="user or organisation (default: the token's account)")
        cmd.set_defaults(handler=lambda args, settings: run(args, settings, call, server(args, settings)))
        return cmd

    create = verb("create", "create an endpoint for a hub model", _create)
    create.add_argument("name")
    create.add_argument("--model", required=True, help="the hub model (namespace/name)")
    create.add_argument("--task", help="the task it serves (default: the model's own)")
    create.add_argument("--type", default="authenticated", choices=sorted(ACCESS_TYPES))
    create.add_argument("--instance-size", default="x1", help="x1, x2, ... (GET /v2/provider lists them)")
    create.add_argument("--accelerator", default="cpu")
    create.add_argument("--min-replica", type=int, default=1)
    create.add_argument("--max-replica", type=int, default=1)
    create.add_argument("--scale-to-zero-min", type=int, help="idle minutes before it scales to zero")
    create.add_argument("--env", action="append", type=_variable, metavar="NAME=VALUE", help=ENV_HELP)
    create.add_argument("--wait", action="store_true", help="wait until it is running")
    verb("ls", "list the namespace's endpoints", _ls)
    for name, text, run in (
        ("describe", "show one endpoint as JSON", _describe),
        ("pause", "stop its runners until resumed", _action("pause")),
        ("resume", "start a paused endpoint again", _action("resume")),
        ("scale-to-zero", "stop its replicas until the next request", _action("scale-to-zero")),
        ("rm", "delete an endpoint", _rm),
    ):
        verb(name, text, run).add_argument("name")
    update = verb("update", "change an endpoint (a new model or revision rolls over)", _update)
    update.add_argument("name")
    update.add_argument("--model")
    update.add_argument("--revision")
    update.add_argument("--min-replica", type=int)
    update.add_argument("--max-replica", type=int)
    update.add_argument("--env", action="append", type=_variable, metavar="NAME=VALUE", help=ENV_HELP)
    update.add_argument("--wait", action="store_true", help="wait until it is running again")


def _variable(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _namespace(args: argparse.Namespace, call: Call, base: str) -> str:
    if args.namespace:
        return str(args.namespace)
    return str(call(args, "GET", f"{base}/api/whoami-v2")["name"])


def _create(args: argparse.Namespace, settings: Settings, call: Call, base: str) -> int:
    namespace = _namespace(args, call, base)
    body = create_body(
        args.name,
        args.model,
        accelerator=args.accelerator,
        instance_size=args.instance_size,
        min_replica=args.min_replica,
        max_replica=args.max_replica,
        scale_to_zero_timeout=args.scale_to_zero_min,
        task=args.task,
        env=dict(args.env) if args.env else None,
        type=args.type,
    )
    data = call(args, "POST", f"{base}/v2/endpoint/{namespace}", json=body)
    if args.wait:
        data = _wait(args, call, f"{base}/v2/endpoint/{namespace}/{args.name}")
    print(f"{namespace}/{args.name}: {data['status']['state']} at {data['status']['url']}")
    return 0


def _wait(args: argparse.Namespace, call: Call, url: str, timeout_s: float = 1800) -> Any:
    """Poll until running, with a progress line; EndpointFailed if it fails."""
    console = Console(stderr=True)
    deadline = time.monotonic() + timeout_s
    with console.status("waiting") as status:
        while True:
            data = call(args, "GET", url)
            state = data["status"]
            if state["state"] == RUNNING:
                return data
            if state["state"] in FAILED_STATES:
                raise EndpointFailed(f"{data['name']} is {state['state']}: {state.get('message')}")
            if time.monotonic() > deadline:
                raise EndpointFailed(f"{data['name']} was not running after {timeout_s:.0f}s")
            ready = f"{state['readyReplica']}/{state['targetReplica']}"
            status.update(f"{data['name']}: {state['state']} ({ready} replicas)")
            time.sleep(0.5)


def _ls(args: argparse.Namespace, settings: Settings, call: Call, base: str) -> int:
    namespace = _namespace(args, call, base)
    data = call(args, "GET", f"{base}/v2/endpoint/{namespace}")
    table = Table("NAME", "STATE", "MODEL", "TASK", "TYPE", "REPLICAS", "URL")
    for item in data["items"]:
        status = item["status"]
        scaling = item["compute"]["scaling"]
        table.add_row(
            item["name"],
            status["state"],
            item["model"]["repository"],
            item["model"]["task"],
            item["type"],
            f"{status['readyReplica']}/{status['targetReplica']} "
            f"({scaling['minReplica']}-{scaling['maxReplica']})",
            status["url"],
        )
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    return 0


def _describe(args: argparse.Namespace, settings: Settings, call: Call, base: str) -> int:
    namespace = _namespace(args, call, base)
    print(json.dumps(call(args, "GET", f"{base}/v2/endpoint/{namespace}/{args.name}"), indent=2))
    return 0


def _action(action: str) -> Callable[[argparse.Namespace, Settings, Call, str], int]:
    def run(args: argparse.Namespace, settings: Settings, call: Call, base: str) -> int:
        namespace = _namespace(args, call, base)
        data = call(args, "POST", f"{base}/v2/endpoint/{namespace}/{args.name}/{action}")
        print(f"{namespace}/{args.name}: {data['status']['state']}")
        return 0

    return run


def _update(args: argparse.Namespace, settings: Settings, call: Call, base: str) -> int:
    namespace = _namespace(args, call, base)
    body = update_body(
        min_replica=args.min_replica,
        max_replica=args.max_replica,
        repository=args.model,
        revision=args.revision,
        env=dict(args.env) if args.env else None,
    )
    url = f"{base}/v2/endpoint/{namespace}/{args.name}"
    data = call(args, "PUT", url, json=body)
    if args.wait:
        data = _wait(args, call, url)
    print(f"{namespace}/{args.name}: {data['status']['state']}")
    return 0


def _rm(args: argparse.Namespace, settings: Settings, call: Call, base: str) -> int:
    namespace = _namespace(args, call, base)
    call(args, "DELETE", f"{base}/v2/endpoint/{namespace}/{args.name}")
    print(f"deleted {namespace}/{args.name}")
    return 0
