"""The ``beckon`` command: serve, worker, and site administration."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any, Sequence
from urllib.parse import urlsplit

import redis.exceptions

from backend import store
from backend.config import Settings
from backend.core.rep_profile import skills_from_text, split_list
from backend.domain.reps import RepError, Reps
from backend.domain.sessions import Sessions
from backend.domain.sites import SiteError, Sites, validate_site


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def secrets_refusal(settings: Settings, host: str) -> tuple[str, bool]:
    """(message, refuse?) about default or short secrets: refused on an address other machines
    reach, where "Bearer change-me" would open every site; a warning on loopback."""
    weak = settings.weak_secrets()
    if not weak:
        return "", False
    names = " and ".join(weak)
    if host in LOOPBACK or host.startswith("127."):
        return f"beckon: warning: default or short secrets; set {names} before serving other machines", False
    return f"beckon: refusing to serve on {host} with default or short secrets; set {names}", True


SHUTDOWN_GRACE_S = 5


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = Settings.from_env()
    message, refuse = secrets_refusal(settings, args.host)
    if message:
        print(message, file=sys.stderr)
    if refuse:
        return 2
    uvicorn.run(
        "backend.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        # X-Forwarded-For only from the configured proxies (BECKON_TRUSTED_PROXIES).
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        # Offer and chat frames are a few hundred bytes: compression gains nothing and costs
        # ~34 KB of zlib state per idle page connection (scripts/bench/push.py).
        ws_per_message_deflate=False,
        # On SIGTERM, connections (pages and consoles are told to reconnect) get this long to
        # finish before they are cut; then the background loops stop. A worker exits within
        # 10 s, Redis or not.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from backend.domain.jobs import run_worker

    run_worker(Settings.from_env(), burst=args.burst)
    return 0


async def _with_sites(fn: Any) -> Any:
    settings = Settings.from_env()
    redis = store.connect(settings)
    try:
        return await fn(Sites(redis, settings), settings)
    finally:
        await redis.aclose()


def cmd_site_create(args: argparse.Namespace) -> int:
    try:
        name, origins, consent = validate_site(
            {"name": args.name, "origins": args.origin, "consent_required": args.consent_required}
        )
    except SiteError as exc:
        for path, message in exc.errors:
            print(f"error: {path}: {message}", file=sys.stderr)
        return 2

    async def run(sites: Sites, settings: Settings) -> dict[str, Any]:
        if args.key:
            existing = await sites.get(args.key, fresh=True)
            if existing:
                site = await sites.update(args.key, name, origins, consent)
                return site.as_json(settings)
        return (await sites.create(name, origins, consent, key=args.key)).as_json(settings)

    print(json.dumps(asyncio.run(_with_sites(run)), indent=2))
    return 0


def cmd_site_list(args: argparse.Namespace) -> int:
    async def run(sites: Sites, settings: Settings) -> list[dict[str, Any]]:
        return [site.as_json(settings) for site in await sites.every()]

    print(json.dumps(asyncio.run(_with_sites(run)), indent=2))
    return 0


def cmd_rep_create(args: argparse.Namespace) -> int:
    """Create a representative (with --admin: one who also runs the site's admin pages);
    this is how a site gets its first console login."""
    password = args.password
    if password is None:
        import getpass

        password = getpass.getpass("password (10-200 characters): ")
    data: dict[str, Any] = {
        "name": args.name, "email": args.email, "password": password, "capacity": args.capacity,
        "skills": skills_from_text(args.skills or ""), "languages": split_list(args.languages or ""),
        "areas": split_list(args.areas or ""),
        "role": "admin" if args.admin else "rep",
    }

    async def run(sites: Sites, settings: Settings) -> dict[str, Any] | str:
        if await sites.get(args.site, fresh=True) is None:
            return f"no site with key {args.site!r} (see: beckon site list)"
        try:
            return (await Reps(sites.redis, Sessions(sites.redis)).create(args.site, data)).as_json()
        except RepError as exc:
            return "\n".join(f"{path}: {message}" for path, message in exc.errors)

    result = asyncio.run(_with_sites(run))
    if isinstance(result, str):
        for line in result.splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beckon", description="Proactive, human help on websites.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web server (collector, API, console)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="web worker processes")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(fn=cmd_serve)

    worker = sub.add_parser("worker", help="run the background job worker (it sends mail)")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(fn=cmd_worker)

    site = sub.add_parser("site", help="manage sites").add_subparsers(dest="site_command", required=True)
    create = site.add_parser("create", help="create a site; prints its key and script tag as JSON")
    create.add_argument("--name", required=True)
    create.add_argument("--origin", action="append", required=True, help="allowed origin (repeatable)")
    create.add_argument("--consent-required", action="store_true")
    create.add_argument("--key", help="use this key (creates or updates); default: a new random key")
    create.set_defaults(fn=cmd_site_create)
    lst = site.add_parser("list", help="list sites as JSON")
    lst.set_defaults(fn=cmd_site_list)

    rep = sub.add_parser("rep", help="manage representatives")
    rep = rep.add_subparsers(dest="rep_command", required=True)
    rc = rep.add_parser("create", help="create a representative who logs in at /console/")
    rc.add_argument("--site", required=True,
                    help="the site key (one made before keys never began with a dash: --site=KEY)")
    rc.add_argument("--name", required=True)
    rc.add_argument("--email", required=True)
    rc.add_argument("--password", help="10-200 characters; asked for when left out")
    rc.add_argument("--capacity", type=int, default=3, help="chats held at once (1-20)")
    rc.add_argument("--skills", default="", help="comma-separated, with a proficiency 1-5 (3 when left out), "
                                                 "e.g. billing:4,returns")
    rc.add_argument("--languages", default="", help="comma-separated language tags, e.g. en,fr,pt-BR")
    rc.add_argument("--areas", "--area", default="", help="comma-separated postcode prefixes, area codes or regions")
    rc.add_argument("--admin", action="store_true",
                    help="may also edit the site's settings and representatives")
    rc.set_defaults(fn=cmd_rep_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        parts = urlsplit(Settings.from_env().redis_url)
        where = f"{parts.hostname}:{parts.port or 6379}" if parts.hostname else parts.path
        print(f"beckon: cannot reach Redis at {where} ({exc}); is it running, and is BECKON_REDIS_URL right?",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
