"""``hubserve alias add | ls | rm``: names that stand for models in the hub (``hub.aliases``)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from hubserve.config import Settings
from hubserve.errors import AliasLoop
from hubserve.hub.store import HubStore


def add_commands(sub: Any) -> None:
    """Add ``alias`` and its verbs to the CLI's subcommands."""
    alias = sub.add_parser("alias", help="let a Hub model id be served by a model in this hub")
    verbs = alias.add_subparsers(required=True, metavar="VERB")
    add = verbs.add_parser("add", help="make NAME stand for TARGET (a model in the hub, or another alias)")
    add.add_argument("name", help="the id clients use, e.g. mistralai/Mistral-7B-Instruct-v0.3")
    add.add_argument("target", help="the model that serves it, e.g. HuggingFaceTB/SmolLM2-135M-Instruct")
    add.add_argument("--replace", action="store_true", help="repoint an existing alias")
    add.set_defaults(handler=_add)
    ls = verbs.add_parser("ls", help="list the aliases and what they lead to")
    ls.set_defaults(handler=_ls)
    rm = verbs.add_parser("rm", help="remove an alias")
    rm.add_argument("name")
    rm.set_defaults(handler=_rm)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    store = HubStore(settings.hub_dir)
    store.add_alias(args.name, args.target, replace=args.replace)
    print(f"alias {args.name} -> {args.target}")
    return 0


def _ls(args: argparse.Namespace, settings: Settings) -> int:
    store = HubStore(settings.hub_dir)
    table = Table("ALIAS", "TARGET", "SERVED BY")
    for name, target in store.aliases.all().items():
        try:
            final = store.aliases.follow(name)
            served = final if store.holds(final) else f"{final} (missing)"
        except AliasLoop:
            served = "(loop)"
        table.add_row(name, target, served)
    Console(width=200 if not sys.stdout.isatty() else None).print(table)
    return 0


def _rm(args: argparse.Namespace, settings: Settings) -> int:
    target = HubStore(settings.hub_dir).aliases.remove(args.name)
    print(f"removed alias {args.name} (-> {target})")
    return 0
