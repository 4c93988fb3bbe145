"""`strangler` command: inspect and flip routes, read the audit trail, roll back, drain tunnels, serve,
and drive rollouts (strangler.control.rollout.cli).

set/rollback/history talk to the store directly, so an operator can roll back with every proxy
down; running replicas pick the change up through the watcher. So does a drain (``drain``, or
``set --drain-grace``): after its grace, every replica closes the WebSocket tunnels the route's
state then sends to the other side.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from strangler.control.cli_output import (
    describe,
    describe_drain,
    live_breakers,
    state_text,
    table_print,
    when,
)
from strangler.control.flip_gate import config_guard
from strangler.control.rollout.cli import add_rollout_commands
from strangler.control.store import (
    FlipRefused,
    Store,
    StoreError,
    open_store,
    parse_state,
    validate_grace,
)
from strangler.control.sync_gate import sync_guard
from strangler.proxy.config import ConfigError, ProxyConfig, load_config
from strangler.proxy.routing import sign_override
from strangler.proxy.types import Mode, Side

DEFAULT_CONFIG = Path(__file__).resolve().parent / "examples" / "routes.toml"
EXIT_INVALID = 1  # `check`: the file is invalid
EXIT_ERROR = 2  # anything else went wrong
_SHADOW_TUNNELS = ("shadow mode mirrors no WebSocket tunnel: upgrades go to the monolith alone and the service "
                   "sees none of their traffic")


class CliError(Exception):
    pass


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (CliError, ConfigError, StoreError) as exc:
        print(f"strangler: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # database or network failure: a message, not a traceback
        if os.environ.get("STRANGLER_DEBUG"):
            raise
        print(f"strangler: error: {type(exc).__name__}: {exc} (STRANGLER_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="route table file (default: $STRANGLER_CONFIG or strangler/examples/routes.toml)",
    )
    parser = argparse.ArgumentParser(prog="strangler", description=__doc__, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("routes", parents=[common], help="route table with live modes and breaker states")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_routes)

    p = sub.add_parser("set", parents=[common], help="flip a route's mode/weight")
    p.add_argument("route")
    p.add_argument("--mode", required=True, choices=[m.value for m in Mode])
    p.add_argument("--weight", type=int, help="percent of cohorts to the service (required for canary)")
    p.add_argument("--reason", required=True, help="why; recorded in the audit trail")
    p.add_argument("--actor", default=_default_actor(), help="who (default: $USER)")
    p.add_argument("--force", action="store_true",
                   help="go past a refusing check (contracts); the refusal is kept in the audit trail")
    p.add_argument("--drain-grace", type=float, metavar="SECONDS",
                   help="then close the route's WebSocket tunnels the flip moved after SECONDS (close code 1012, "
                        "clients reconnect to the new side), on every replica")
    p.set_defaults(func=cmd_set)

    p = sub.add_parser("drain", parents=[common],
                       help="close the route's WebSocket tunnels on the side its state no longer picks")
    p.add_argument("route")
    p.add_argument("--grace", type=float, required=True, metavar="SECONDS",
                   help="seconds before they are closed with code 1012 (service restart: reconnect)")
    p.add_argument("--reason", required=True, help="why; recorded with the drain")
    p.add_argument("--actor", default=_default_actor(), help="who (default: $USER)")
    p.set_defaults(func=cmd_drain)

    p = sub.add_parser("history", parents=[common], help="audit trail, newest first")
    p.add_argument("route", nargs="?")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("rollback", parents=[common], help="undo the route's latest change")
    p.add_argument("route")
    p.add_argument("--reason", required=True)
    p.add_argument("--actor", default=_default_actor())
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("override", parents=[common], help="sign an override that forces one side of a route")
    p.add_argument("route")
    p.add_argument("--side", required=True, choices=[s.value for s in Side])
    p.add_argument("--ttl", type=int, default=900, help="seconds the override stays valid (default 900)")
    p.add_argument("--reason", help="why; recorded in the audit trail (required with --force)")
    p.add_argument("--actor", default=_default_actor(), help="who (default: $USER)")
    p.add_argument("--force", action="store_true",
                   help="sign an override to the service past a refusing check (contracts, sync); audited as forced")
    p.set_defaults(func=cmd_override)

    p = sub.add_parser("serve", parents=[common], help="run the proxy, admin API and watcher")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("check", help="validate a route table file")
    p.add_argument("path", metavar="CONFIG")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("export", parents=[common], help="the route plan as a Gateway API HTTPRoute or nginx config")
    p.add_argument("--format", required=True, choices=["gateway", "nginx"])
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.add_argument("--from-file", action="store_true", help="the file's initial states; no store needed")
    p.add_argument("--gateway", default="gateway", help="gateway format: parentRef Gateway name (default gateway)")
    p.add_argument("--namespace", help="gateway format: metadata.namespace (default: none, kubectl -n decides)")
    p.set_defaults(func=cmd_export)

    add_rollout_commands(sub, common, open_store=lambda args: _store(_config(args)), actor=_default_actor(),
                         reconcile_commands=lambda args: _config(args).rollout_reconcile)
    return parser


def _default_actor() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _config_path(args: argparse.Namespace) -> Path:
    return Path(getattr(args, "config", None) or os.environ.get("STRANGLER_CONFIG") or DEFAULT_CONFIG)


def _config(args: argparse.Namespace) -> ProxyConfig:
    return load_config(_config_path(args))


@contextmanager
def _store(config: ProxyConfig) -> Iterator[Store]:
    """The store, announcing changes on Redis when configured (so replicas apply them at once)."""
    publisher = None
    if config.redis_url:
        from strangler.control.watcher import RedisPublisher

        publisher = RedisPublisher(config.redis_url)
    try:
        try:
            store = open_store(config.store_url, config.table, on_commit=publisher,
                               guard=config_guard(config.contracts, sync_guard(config)))
        except StoreError:
            raise
        except Exception as exc:  # sqlite3 / psycopg errors: say which store
            raise CliError(f"cannot open store {config.store_url}: {exc}") from exc
        with store:
            yield store
    finally:
        if publisher is not None:
            publisher.close()


# -- commands ------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.path)
    except ConfigError as exc:
        print(f"{args.path}: invalid: {exc}", file=sys.stderr)
        return EXIT_INVALID
    routes = config.table.routes
    print(
        f"{args.path}: ok: {len(routes)} routes ({', '.join(r.name for r in routes)}), "
        f"{len(config.table.targets)} targets, proxy {config.listen_host}:{config.listen_port}, "
        f"admin {config.admin_host}:{config.admin_port}, store {config.store_url}"
    )
    for route in routes:
        if route.service and route.state.mode is Mode.SHADOW and route.tunnel.upgrades:
            print(f"note: route {route.name}: {_SHADOW_TUNNELS}")
    return 0


def cmd_routes(args: argparse.Namespace) -> int:
    config = _config(args)
    with _store(config) as store:
        version, states = store.snapshot()
    breakers = live_breakers(config)
    rows = []
    for route in config.table.routes:
        state = states.get(route.name, route.state)
        breaker = "-" if route.service is None else breakers.get(route.name, "unknown")
        rows.append({
            "route": route.name,
            "prefix": route.prefix,
            "service": route.service or "-",
            "mode": state.mode.value,
            "weight": state.weight,
            "breaker": breaker,
        })
    if args.json:
        print(json.dumps({"version": version, "routes": rows}, indent=1))
    else:
        table_print(rows, ["route", "prefix", "service", "mode", "weight", "breaker"])
        print(f"store version {version}")
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    config = _config(args)
    state = parse_state(args.mode, args.weight)
    if args.drain_grace is not None:
        validate_grace(args.drain_grace)  # before the flip: a bad drain must not leave it half done
    with _store(config) as store:
        entry = store.set_state(args.route, state, actor=args.actor, reason=args.reason, force=args.force)
        print(describe(entry))
        if args.drain_grace is not None:
            print(describe_drain(store.request_drain(args.route, args.drain_grace, actor=args.actor,
                                                      reason=args.reason)))
    if state.mode is Mode.SHADOW:
        print(f"note: {_SHADOW_TUNNELS}")
    return 0


def cmd_drain(args: argparse.Namespace) -> int:
    config = _config(args)
    with _store(config) as store:
        print(describe_drain(store.request_drain(args.route, args.grace, actor=args.actor, reason=args.reason)))
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    config = _config(args)
    with _store(config) as store:
        entry = store.rollback(args.route, actor=args.actor, reason=args.reason)
    print(describe(entry))
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    config = _config(args)
    with _store(config) as store:
        entries = store.history(args.route, args.limit)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=1))
        return 0
    rows = [
        {
            "id": e.id,
            "at": when(e.at),
            "actor": e.actor,
            "route": e.route,
            "change": f"{state_text(e.from_state)} -> {state_text(e.to_state)}",
            "reason": e.reason + (f" (rollback of #{e.undoes})" if e.undoes else ""),
        }
        for e in entries
    ]
    table_print(rows, ["id", "at", "actor", "route", "change", "reason"])
    return 0


def cmd_override(args: argparse.Namespace) -> int:
    """Print a header a tester sends to reach one side on purpose; the proxy ignores it once expired."""
    config = _config(args)
    if args.route not in {r.name for r in config.table.routes}:
        raise CliError(f"unknown route {args.route!r}")
    if not config.override_secret:
        raise CliError(f"no override secret: set ${config.override_secret_env}")
    if not 1 <= args.ttl <= 86400:
        raise CliError("--ttl must be 1-86400 seconds")
    if args.force and not (args.reason or "").strip():
        raise CliError("--force needs a --reason: the audit trail keeps why the gate was overridden")
    # The bearer's requests reach that side whatever the route's mode: the gates are asked as for
    # a flip of the whole route there, and every override is in the audit trail.
    reaches = parse_state(Mode.SERVICE.value if args.side == Side.SERVICE.value else Mode.MONOLITH.value, None)
    reason = f"signed override to {args.side} for {args.ttl} s: {args.reason or 'no reason given'}"
    with _store(config) as store:
        try:
            store.override_audit(args.route, reaches, actor=args.actor, reason=reason, force=args.force)
        except FlipRefused as refusal:
            raise CliError(f"no override to the {args.side}: {refusal} (an override is gated like a flip)") from None
    token = sign_override(config.override_secret, args.side, args.route, int(time.time()) + args.ttl)
    print(f"X-Strangler-Override: {token}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from strangler.control.app import StartupError, run

    try:
        run(_config_path(args))
    except StartupError as exc:
        raise CliError(str(exc)) from exc
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """The same plan on another gateway: current states from the store (what `routes` shows), or
    with --from-file the file's initial states, without touching a store."""
    from strangler.export.gateway import ExportError, httproute_export, to_yaml
    from strangler.export.nginx import nginx_export

    config = _config(args)
    if args.from_file:
        states, source = {r.name: r.state for r in config.table.routes}, f"{_config_path(args)}, initial states"
    else:
        with _store(config) as store:
            version, states = store.snapshot()
        source = f"{_config_path(args)}, states of the store at version {version}"
    try:
        if args.format == "gateway":
            text = to_yaml(httproute_export(config.table, states, namespace=args.namespace, gateway=args.gateway,
                                            source=source))
        else:
            text = nginx_export(config.table, states, source=source)
    except ExportError as exc:
        raise CliError(str(exc)) from exc
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
