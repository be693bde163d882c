"""``hubserve user | org | token | access | usage``: accounts commands that work on the database directly."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from hubserve.accounts.database import default_url, make_engine, migrate
from hubserve.accounts.principal import DEFAULT_SCOPES, Scope, parse_scopes
from hubserve.accounts.ratelimit import parse_tiers
from hubserve.accounts.store import AccountStore, CreatedToken, now_utc
from hubserve.accounts.usage import query_usage
from hubserve.config import Settings
from hubserve.durations import parse_duration_s
from hubserve.errors import BadRequest
from hubserve.hub.store import HubStore
from hubserve.types.names import ModelId


def account_store(settings: Settings) -> AccountStore:
    """The accounts database named by the settings, migrated to the newest schema."""
    engine = make_engine(settings.database_url or default_url(settings.home))
    migrate(engine)
    return AccountStore(engine)


def add_commands(sub: Any) -> None:
    """Register the accounts commands on the ``hubserve`` parser."""
    user = sub.add_parser("user", help="manage users").add_subparsers(required=True, metavar="ACTION")
    create = user.add_parser("create", help="create a user")
    create.add_argument("name")
    create.add_argument("--tier", default="free", help="rate-limit tier (HUBSERVE_RATE_LIMIT_TIERS)")
    create.add_argument("--admin", action="store_true", help="a server administrator")
    create.add_argument("--email")
    create.add_argument(
        "--token",
        action="store_true",
        help="also create a token (every scope for an admin) and print it once",
    )
    create.set_defaults(handler=_user_create)
    tier = user.add_parser("tier", help="move a user or organisation to another rate-limit tier")
    tier.add_argument("name")
    tier.add_argument("tier")
    tier.set_defaults(handler=_user_tier)
    user.add_parser("list", help="list users and organisations").set_defaults(handler=_user_list)

    org = sub.add_parser("org", help="manage organisations").add_subparsers(required=True, metavar="ACTION")
    org_create = org.add_parser("create", help="create an organisation")
    org_create.add_argument("name")
    org_create.add_argument("--tier", default="free")
    org_create.set_defaults(handler=_org_create)
    member = org.add_parser("add", help="add a user to an organisation (or change their role)")
    member.add_argument("org")
    member.add_argument("user")
    member.add_argument("--role", default="read", choices=("read", "write", "admin"))
    member.set_defaults(handler=_org_add)

    token = sub.add_parser("token", help="manage access tokens").add_subparsers(
        required=True, metavar="ACTION"
    )
    token_create = token.add_parser("create", help="create a token; it is printed once, never stored")
    token_create.add_argument("--user", required=True)
    token_create.add_argument("--name", required=True, help="what the token is for")
    token_create.add_argument(
        "--scopes", default=",".join(DEFAULT_SCOPES), help="comma-separated: read, inference, write, admin"
    )
    token_create.add_argument("--expires-in", help="lifetime, e.g. 30d, 12h or 90m (default: never)")
    token_create.set_defaults(handler=_token_create)
    token_list = token.add_parser("list", help="list tokens (never their secrets)")
    token_list.add_argument("--user")
    token_list.set_defaults(handler=_token_list)
    revoke = token.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=_token_revoke)

    access = sub.add_parser("access", help="set a model's owner and whether it is private")
    access.add_argument("model_id")
    access.add_argument("--owner", help="user or organisation that owns the model")
    privacy = access.add_mutually_exclusive_group()
    privacy.add_argument("--private", dest="private", action="store_true", default=None)
    privacy.add_argument("--public", dest="private", action="store_false")
    access.set_defaults(handler=_access)

    usage = sub.add_parser("usage", help="print metered usage: totals, per model and over time")
    usage.add_argument("--user")
    usage.add_argument("--token", type=int, help="a token id (see `hubserve token list`)")
    usage.add_argument("--model")
    usage.add_argument("--since", default="24h", help="period up to now, e.g. 90m, 24h, 7d")
    usage.add_argument("--interval", default="1h", help="time-series bucket, e.g. 5m, 1h, 1d")
    usage.set_defaults(handler=_usage)


def _console() -> Console:
    return Console(width=200 if not sys.stdout.isatty() else None)


def _check_tier(settings: Settings, tier: str) -> None:
    tiers = parse_tiers(settings.rate_limit_tiers)
    if tier not in tiers:
        raise BadRequest(
            f"Unknown tier {tier!r}; HUBSERVE_RATE_LIMIT_TIERS defines: {', '.join(sorted(tiers))}"
        )


def _user_create(args: argparse.Namespace, settings: Settings) -> int:
    _check_tier(settings, args.tier)
    store = account_store(settings)
    info = store.create_account(args.name, tier=args.tier, is_admin=args.admin, email=args.email)
    print(f"created user {info.name} (tier {info.tier}{', administrator' if info.is_admin else ''})")
    if args.token:
        scopes = tuple(Scope) if info.is_admin else DEFAULT_SCOPES
        _print_token(store.create_token(info.name, "default", scopes=scopes))
    return 0


def _user_tier(args: argparse.Namespace, settings: Settings) -> int:
    _check_tier(settings, args.tier)
    info = account_store(settings).set_tier(args.name, args.tier)
    print(f"{info.name} is now on tier {info.tier}")
    return 0


def _user_list(args: argparse.Namespace, settings: Settings) -> int:
    table = Table("NAME", "KIND", "TIER", "ADMIN", "CREATED")
    for a in account_store(settings).list_accounts():
        table.add_row(
            a.name, a.kind, a.tier, "yes" if a.is_admin else "", a.created_at.strftime("%Y-%m-%d %H:%M")
        )
    _console().print(table)
    return 0


def _org_create(args: argparse.Namespace, settings: Settings) -> int:
    _check_tier(settings, args.tier)
    info = account_store(settings).create_account(args.name, kind="org", tier=args.tier)
    print(f"created organisation {info.name}")
    return 0


def _org_add(args: argparse.Namespace, settings: Settings) -> int:
    account_store(settings).add_member(args.org, args.user, args.role)
    print(f"{args.user} is a member of {args.org} ({args.role})")
    return 0


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    expires = timedelta(seconds=_duration_s(args.expires_in)) if args.expires_in else None
    created = account_store(settings).create_token(
        args.user, args.name, scopes=parse_scopes(args.scopes), expires_in=expires
    )
    _print_token(created)
    return 0


def _print_token(created: CreatedToken) -> None:
    info = created.info
    scopes = ", ".join(info.scopes)
    print(f"token {info.id} '{info.name}' for {info.account} ({scopes}); shown once, keep it safe:")
    print(created.token)


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    table = Table("ID", "USER", "NAME", "TOKEN", "SCOPES", "CREATED", "LAST USED", "EXPIRES", "STATE")
    now = now_utc()
    for t in account_store(settings).list_tokens(args.user):
        state = t.state(now)
        table.add_row(
            str(t.id),
            t.account,
            t.name,
            t.shown,
            ",".join(t.scopes),
            _day(t.created_at),
            _day(t.last_used_at),
            _day(t.expires_at),
            state,
        )
    _console().print(table)
    return 0


def _day(when: Any) -> str:
    return when.strftime("%Y-%m-%d %H:%M") if when is not None else "-"


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    info = account_store(settings).revoke_token(args.id)
    print(f"revoked token {info.id} '{info.name}' of {info.account}")
    return 0


def _access(args: argparse.Namespace, settings: Settings) -> int:
    model_id = ModelId.parse(args.model_id)
    HubStore(settings.hub_dir).get(model_id)
    store = account_store(settings)
    store.set_model_access(str(model_id), owner=args.owner, private=args.private)
    owner, private = store.model_access().get(str(model_id), (None, False))
    print(f"{model_id}: owner {owner or '-'}, {'private' if private else 'public'}")
    return 0


def _usage(args: argparse.Namespace, settings: Settings) -> int:
    store = account_store(settings)
    end_ms = int(time.time() * 1000)
    body = query_usage(
        store.engine,
        account_id=store.get_account(args.user).id if args.user else None,
        token_id=args.token,
        model=str(ModelId.parse(args.model)) if args.model else None,
        start_ms=end_ms - _duration_s(args.since) * 1000,
        end_ms=end_ms,
        interval_s=_duration_s(args.interval),
    )
    columns = (
        "requests",
        "errors",
        "cache_hits",
        "input_tokens",
        "output_tokens",
        "input_items",
        "compute_ms",
    )
    heads = ("REQUESTS", "ERRORS", "CACHED", "TOKENS IN", "TOKENS OUT", "ITEMS IN", "COMPUTE MS")
    by_model = Table("MODEL", *heads, title="by model")
    for row in [*body["by_model"], {"model": "total", **body["totals"]}]:
        by_model.add_row(str(row["model"]), *(str(row[c]) for c in columns))
    series = Table("FROM", *heads, title=f"every {args.interval}")
    for row in body["series"]:
        series.add_row(str(row["start"]), *(str(row[c]) for c in columns))
    console = _console()
    console.print(f"usage from {body['period']['start']} to {body['period']['end']}")
    console.print(by_model)
    console.print(series)
    return 0


def _duration_s(text: str) -> int:
    try:
        return parse_duration_s(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
