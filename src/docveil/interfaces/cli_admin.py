"""``docveil audit``, ``docveil keys`` and ``docveil documents``: commands for compliance staff
and administrators."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from docveil.interfaces.cli import (
    JsonOpt,
    RoleOpt,
    TenantOpt,
    UserOpt,
    _engine,
    app,
    emit_json,
    err,
    guarded,
    out,
    principal_from,
)
from docveil.types import Acl

audit_app = typer.Typer(help="Review and verify the hash-chained audit log (auditor or admin role).",
                        no_args_is_help=True)
keys_app = typer.Typer(help="Rotate keys (admin role).", no_args_is_help=True)
documents_app = typer.Typer(help="List documents, change their ACL, delete them.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(documents_app, name="documents")


@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Option("--file", help="Verify an export file offline instead of the database.")] = None,
    verify_key: Annotated[str | None, typer.Option("--verify-key", help="Pin the tenant's public key (hex, from `docveil audit key`).")] = None,
    mac_key_file: Annotated[Path | None, typer.Option("--mac-key-file", help="Also check MACs with this raw key file.")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Check the chain, MACs, signed checkpoints and head; report the first broken record."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from docveil.security import audit

    def run():
        if file is not None:
            pinned = Ed25519PublicKey.from_public_bytes(bytes.fromhex(verify_key)) if verify_key else None
            mac_key = mac_key_file.read_bytes() if mac_key_file else None
            return audit.verify_export(file, mac_key=mac_key, verify_key=pinned)
        with _engine() as engine:
            return engine.audit_verify(principal_from(tenant, user, role))

    result = guarded(run)
    if as_json:
        emit_json(result.as_dict())
    elif result.ok:
        out.print(f"[green]audit log verified[/]: {result.records} records, {result.checkpoints} signed checkpoints"
                  + ("" if result.macs_checked else " (MACs not checked: no key given)"))
    else:
        err.print(f"[bold red]audit log BROKEN[/] at record {result.first_broken_seq}: {result.reason}")
    if not result.ok:
        raise typer.Exit(2)


@audit_app.command("show")
def audit_show(
    since: Annotated[datetime | None, typer.Option(help="Only records at or after this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Only records before this time.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Only records of this user.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (ingest, search, forget, deny...).")] = None,
    outcome: Annotated[str | None, typer.Option(help="Only this outcome (ok, denied, error...).")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show audit records, filtered."""
    def run():
        with _engine() as engine:
            return engine.audit_records(principal_from(tenant, user, role), since=since, until=until, user=by,
                                        action=action, outcome=outcome, limit=limit)

    records = guarded(run)
    if as_json:
        emit_json([record.as_dict() for record in records])
        return
    table = Table()
    for column in ("seq", "time", "user", "action", "outcome", "targets", "counts"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(str(record.seq), record.ts.isoformat(timespec="seconds"), record.user, record.action,
                      record.outcome, ", ".join(record.targets),
                      ", ".join(f"{k}={v}" for k, v in sorted(record.counts.items())))
    out.print(table)


@audit_app.command("export")
def audit_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Export the log with its signed checkpoints; `docveil audit verify --file` checks it offline."""
    if fmt not in ("jsonl", "csv"):
        err.print("[bold red]error:[/] --format must be jsonl or csv")
        raise typer.Exit(1)

    def run() -> int:
        with _engine() as engine:
            principal = principal_from(tenant, user, role)
            if output is None:
                return engine.audit_export(principal, sys.stdout, fmt)  # type: ignore[arg-type]
            with output.open("w", encoding="utf-8", newline="") as handle:
                return engine.audit_export(principal, handle, fmt)  # type: ignore[arg-type]

    count = guarded(run)
    if output is not None:
        err.print(f"exported {count} records to {output}")


@audit_app.command("key")
def audit_key(tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None) -> None:
    """Print the tenant's public checkpoint-signing key (hex), to pin when verifying exports."""
    def run() -> bytes:
        with _engine() as engine:
            return engine.audit_verify_key(principal_from(tenant, user, role))

    out.print(guarded(run).hex())


@keys_app.command("rotate")
def keys_rotate(
    data: Annotated[bool, typer.Option("--data", help="Rotate the tenant's data key (re-encrypts metadata in batches) instead of the KEK.")] = False,
    retire_old: Annotated[bool, typer.Option("--retire-old", help="Delete old KEKs this database no longer uses (only if no other database shares them).")] = False,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Rotate the key-encryption key (re-wraps data keys) or a tenant's data key. Resumable."""
    def run():
        with _engine() as engine:
            principal = principal_from(tenant, user, role)
            return engine.rotate_data_key(principal) if data else engine.rotate_kek(principal, retire_old=retire_old)

    result = guarded(run)
    if as_json:
        emit_json({"key_id": result.key_id, "rewrapped": result.rewrapped, "reencrypted": result.reencrypted,
                   "retired": list(result.retired)})
    elif data:
        out.print(f"data key is now {result.key_id}; {result.reencrypted} values re-encrypted")
    else:
        out.print(f"KEK is now {result.key_id}; {result.rewrapped} data keys re-wrapped; "
                  f"retired: {', '.join(result.retired) or 'none'}")


@documents_app.command("list")
def documents_list(
    limit: Annotated[int, typer.Option(min=1)] = 100,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Documents the principal may read."""
    def run():
        with _engine() as engine:
            return engine.documents(principal_from(tenant, user, role), limit=limit)

    documents = guarded(run)
    if as_json:
        emit_json([d.as_dict() for d in documents])
        return
    table = Table()
    for column in ("id", "source", "type", "pages", "chunks", "redactions", "owner", "readers"):
        table.add_column(column, overflow="fold")
    for d in documents:
        readers = ", ".join(sorted(d.acl.users) + [f"@{r}" for r in sorted(d.acl.roles)])
        table.add_row(d.document_id, d.source, d.media_type, str(d.pages), str(d.chunks), str(d.findings),
                      d.owner, readers)
    out.print(table)


@documents_app.command("acl")
def documents_acl(
    document_id: Annotated[str, typer.Argument()],
    acl_user: Annotated[list[str] | None, typer.Option("--acl-user")] = None,
    acl_role: Annotated[list[str] | None, typer.Option("--acl-role", help="'*' means everyone in the tenant.")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Replace a document's readers (owner or admin)."""
    def run() -> None:
        with _engine() as engine:
            engine.set_acl(document_id, Acl(users=frozenset(acl_user or ()), roles=frozenset(acl_role or ())),
                           principal_from(tenant, user, role))

    try:
        guarded(run)
    except ValueError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    out.print("ACL updated")


@documents_app.command("delete")
def documents_delete(
    document_id: Annotated[str, typer.Argument()],
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Delete a document and its chunks (owner or admin)."""
    def run() -> None:
        with _engine() as engine:
            engine.delete_document(document_id, principal_from(tenant, user, role))

    guarded(run)
    out.print("deleted")
