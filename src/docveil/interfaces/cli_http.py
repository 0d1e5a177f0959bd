"""``docveil serve`` and ``docveil keys api``: the HTTP server and its API keys."""

from __future__ import annotations

import enum
import errno
import getpass
import socket
from typing import Annotated

import typer
from rich.table import Table

from docveil.config import Settings
from docveil.interfaces.cli import (
    JsonOpt,
    RoleOpt,
    _engine,
    app,
    cells,
    emit_json,
    err,
    fail,
    guarded,
    out,
    principal_from,
    say,
)
from docveil.interfaces.cli_admin import keys_app

api_keys_app = typer.Typer(help="API keys of the HTTP server: each acts as one principal (tenant, user, roles). "
                                "Needs the database owner's credentials (DOCVEIL_HOME or admin_dsn).",
                           no_args_is_help=True)
keys_app.add_typer(api_keys_app, name="api")


class LogLevel(str, enum.Enum):
    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Server processes, each with its own engine and models.")] = 1,
    log_level: Annotated[LogLevel, typer.Option(case_sensitive=False, help="Server log level.")] = LogLevel.info,
    access_log: Annotated[bool, typer.Option(help="Log one line per request (method, path, status).")] = True,
) -> None:
    """Run the HTTP API (docs/http.md): ingest, redact, search, ask, documents, forget, audit."""
    def check() -> None:
        import docveil.interfaces.http  # noqa: F401  (names the pip install if the extra is missing)
        from docveil.interfaces.http.auth import JwtVerifier

        JwtVerifier.from_settings(Settings.load())  # a bad key fails here, not in every worker

    guarded(check)
    _require_free_port(host, port)
    import uvicorn

    say(err, f"docveil serving on http://{host}:{port}/v1 (schema at /openapi.json)")
    uvicorn.run("docveil.interfaces.http.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level.value, access_log=access_log, proxy_headers=False)


def _require_free_port(host: str, port: int) -> None:
    """Fail at once, before the models load, when the address cannot be listened on: every
    address ``host`` resolves to is bound as the server binds them (asyncio's ``create_server``:
    IPv6 sockets IPv6 only, an address of a family the machine lacks skipped)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror}")
    for family, kind, proto, _, address in dict.fromkeys(infos):
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    continue
                fail(f"cannot listen on {host}:{port} ({address[0]}): {exc.strerror or exc}")


@api_keys_app.command("create")
def api_key_create(
    tenant: Annotated[str, typer.Option("--tenant", "-t", help="Tenant the key acts in.")],
    user: Annotated[str, typer.Option("--user", "-u", help="User the key acts as.")],
    role: RoleOpt = None,
    name: Annotated[str, typer.Option(help="A label for listings (e.g. the client's name).")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once; only its hash is stored."""
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            return engine.create_api_key(principal, created_by=getpass.getuser(), name=name)

    key, token = guarded(run)
    if as_json:
        emit_json({**key.as_dict(), "key": token})
        return
    say(err, f"created API key {key.key_id} for {key.user} in tenant {key.tenant} "
             f"(roles: {', '.join(sorted(key.roles)) or 'none'}). It is shown only now:")
    typer.echo(token)


@api_keys_app.command("revoke")
def api_key_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see `docveil keys api list`).")]) -> None:
    """Revoke a key; requests with it fail from now on."""
    def run():
        with _engine() as engine:
            return engine.revoke_api_key(key_id, revoked_by=getpass.getuser())

    key = guarded(run)
    say(out, f"revoked API key {key.key_id} ({key.user} in tenant {key.tenant})")


@api_keys_app.command("list")
def api_key_list(
    tenant: Annotated[str | None, typer.Option("--tenant", "-t", help="Only this tenant's keys.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """List keys (ids, principals, dates; never the keys)."""
    def run():
        with _engine() as engine:
            return engine.list_api_keys(tenant=tenant, include_revoked=show_all)

    keys = guarded(run)
    if as_json:
        emit_json([key.as_dict() for key in keys])
        return
    table = Table()
    table.add_column("id", no_wrap=True)  # whole, to be copied into `keys api revoke ID`
    for column in ("tenant", "user", "roles", "name", "created", "revoked"):
        table.add_column(column, overflow="fold")
    for key in keys:
        table.add_row(*cells(key.key_id, key.tenant, key.user, ", ".join(sorted(key.roles)), key.name,
                             key.created_at.isoformat(timespec="seconds"),
                             key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else ""))
    out.print(table)
