"""``docveil audit``, ``docveil keys`` and ``docveil documents``: commands for compliance staff
and administrators."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from docveil.files import write_whole, writing_whole
from docveil.interfaces.cli import (
    JsonOpt,
    RoleOpt,
    TenantOpt,
    UserOpt,
    _engine,
    acl_from,
    app,
    cells,
    emit_json,
    err,
    fail,
    guarded,
    out,
    principal_from,
    readers_text,
    require_output_file,
    say,
)

if TYPE_CHECKING:
    from docveil.security.audit_chain import VerifyResult

audit_app = typer.Typer(help="Review and verify the hash-chained audit log (auditor or admin role).",
                        no_args_is_help=True)
keys_app = typer.Typer(help="Rotate the key-encryption and data keys (admin role); manage API keys of the HTTP server (`keys api`).", no_args_is_help=True)
documents_app = typer.Typer(help="List documents, change their ACL, delete them.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
app.add_typer(documents_app, name="documents")


@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Option("--file", help="Verify an export file offline instead of the database.")] = None,
    verify_key: Annotated[str | None, typer.Option("--verify-key", help="With --file: pin the tenant's public key (hex, from `docveil audit key`).")] = None,
    mac_key_file: Annotated[Path | None, typer.Option("--mac-key-file", help="With --file: also check MACs with this raw key file.")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Check the chain, MACs, signed checkpoints and head; report the first broken record.

    Exit status 2 when the log or export does not verify, 1 for any other error."""
    if file is not None:
        result = guarded(lambda: _verify_export_file(file, verify_key, mac_key_file))
    elif verify_key is not None or mac_key_file is not None:
        fail("--verify-key and --mac-key-file apply to an export: give it with --file")
    else:
        principal = principal_from(tenant, user, role)

        def run() -> VerifyResult:
            with _engine() as engine:
                return engine.audit_verify(principal)

        result = guarded(run)
    subject = "audit log" if file is None else "audit export"
    if as_json:
        emit_json(result.as_dict())
    elif result.ok:
        say(out, (f"{subject} verified", "green"), f": {result.records} records, {result.checkpoints} signed checkpoints"
            + ("" if result.macs_checked else " (MACs not checked: no key given)"))
    elif result.first_broken_seq is not None:
        say(err, (f"{subject} BROKEN", "bold red"), f" at record {result.first_broken_seq}: {result.reason}")
    else:  # not tied to a record: a malformed line, another signing key
        say(err, (f"{subject} does not verify", "bold red"), f": {result.reason}")
    if not as_json and result.key_fingerprint:
        # Compare it with the tenant's fingerprint on record: a rewritten export can carry its own key.
        unpinned = file is not None and verify_key is None
        say(out if result.ok else err, f"signing key fingerprint: {result.key_fingerprint}"
            + (" (not pinned: compare it with the tenant's, `docveil audit key`, or pass --verify-key;"
               " a rewritten export can carry a key of its own)" if unpinned else ""))
    if not result.ok:
        raise typer.Exit(2)


def _verify_export_file(file: Path, verify_key: str | None, mac_key_file: Path | None) -> VerifyResult:
    from docveil.security import audit
    from docveil.security.audit_chain import MIN_MAC_KEY_BYTES, load_verify_key

    pinned = None
    if verify_key is not None:
        try:
            pinned = load_verify_key(verify_key)
        except ValueError as exc:
            fail(f"--verify-key: {exc}")
    mac_key = None
    if mac_key_file is not None:
        try:
            mac_key = mac_key_file.read_bytes()
        except OSError as exc:
            fail(f"--mac-key-file {mac_key_file}: {exc.strerror or exc}")
        if len(mac_key) < MIN_MAC_KEY_BYTES:
            fail(f"--mac-key-file {mac_key_file}: {len(mac_key)} bytes, not an audit MAC key (at least "
                 f"{MIN_MAC_KEY_BYTES}; `docveil audit mac-key` writes it)")
    return audit.verify_export(file, mac_key=mac_key, verify_key=pinned)  # not an export: AuditError, exit 1


@audit_app.command("show")
def audit_show(
    since: Annotated[datetime | None, typer.Option(help="Only records at or after this time (ISO 8601).")] = None,
    until: Annotated[datetime | None, typer.Option(help="Only records before this time.")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Only records of this user.")] = None,
    action: Annotated[str | None, typer.Option(help="Only this action (ingest, search, forget, deny...).")] = None,
    outcome: Annotated[str | None, typer.Option(help="Only this outcome (ok, denied, error...).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many records: the most recent, or with --oldest the oldest.")] = 100,
    oldest: Annotated[bool, typer.Option("--oldest", help="Keep the oldest matching records instead of the most recent.")] = False,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Show audit records, filtered, oldest first (by default the most recent --limit of them)."""
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            return engine.audit_records(principal, since=since, until=until, user=by, action=action,
                                        outcome=outcome, limit=limit, newest_first=not oldest)

    records = guarded(run)
    if not oldest:
        records.reverse()  # fetched newest first so that the limit keeps the recent ones
    if as_json:
        emit_json([record.as_dict() for record in records])
        return
    table = Table()
    table.add_column("seq", no_wrap=True, justify="right")
    for column in ("time", "user", "action", "outcome", "targets", "counts"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(*cells(record.seq, record.ts.isoformat(timespec="seconds"), record.user, record.action,
                             record.outcome, ", ".join(record.targets),
                             ", ".join(f"{k}={v}" for k, v in sorted(record.counts.items()))))
    out.print(table)


@audit_app.command("export")
def audit_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout); replaced only once the export is complete.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Export the log with its signed checkpoints; `docveil audit verify --file` checks it offline."""
    if fmt not in ("jsonl", "csv"):
        fail("--format must be jsonl or csv")
    principal = principal_from(tenant, user, role)
    require_output_file(output, "--output")

    def run() -> int:
        with _engine() as engine:
            if output is None:
                return engine.audit_export(principal, sys.stdout, fmt)  # type: ignore[arg-type]
            with writing_whole(output, "w", encoding="utf-8", newline="") as handle:
                return engine.audit_export(principal, handle, fmt)  # type: ignore[arg-type]

    count = guarded(run)
    if output is not None:
        say(err, f"exported {count} records to {output}")


@audit_app.command("key")
def audit_key(tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None) -> None:
    """Print the tenant's public checkpoint-signing key (hex), to pin when verifying exports."""
    principal = principal_from(tenant, user, role)

    def run() -> bytes:
        with _engine() as engine:
            return engine.audit_verify_key(principal)

    out.print(guarded(run).hex())


@audit_app.command("mac-key")
def audit_mac_key(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write the raw key to (created 0600).")],
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Write the tenant's secret audit MAC key (admin role; audited), for `audit verify --file
    --mac-key-file` away from the database. Hand it only to whoever must check MACs: with it,
    MACs of forged records can be recomputed (checkpoint signatures still catch rewrites)."""
    principal = principal_from(tenant, user, role)
    require_output_file(output, "--output")

    def run() -> None:
        with _engine() as engine:
            key = engine.audit_mac_key(principal)
        write_whole(output, key)

    guarded(run)
    say(err, f"wrote {output} (the audit MAC key of tenant {tenant}; keep it secret)")


@keys_app.command("rotate")
def keys_rotate(
    data: Annotated[bool, typer.Option("--data", help="Rotate the tenant's data key (re-encrypts metadata in batches) instead of the KEK.")] = False,
    retire_old: Annotated[bool, typer.Option("--retire-old", help="Delete old KEKs this database no longer uses (only if no other database shares them).")] = False,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Rotate the key-encryption key (re-wraps data keys) or a tenant's data key. Resumable."""
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            return engine.rotate_data_key(principal) if data else engine.rotate_kek(principal, retire_old=retire_old)

    result = guarded(run)
    if as_json:
        emit_json({"key_id": result.key_id, "rewrapped": result.rewrapped, "reencrypted": result.reencrypted,
                   "retired": list(result.retired)})
    elif data:
        say(out, f"data key is now {result.key_id}; {result.reencrypted} values re-encrypted")
    else:
        say(out, f"KEK is now {result.key_id}; {result.rewrapped} data keys re-wrapped; "
                 f"retired: {', '.join(result.retired) or 'none'}")


@documents_app.command("list")
def documents_list(
    limit: Annotated[int, typer.Option(min=1, help="At most this many documents, newest first.")] = 100,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Documents the principal may read."""
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            return engine.documents(principal, limit=limit)

    documents = guarded(run)
    if as_json:
        emit_json([d.as_dict() for d in documents])
        return
    table = Table()
    table.add_column("id", no_wrap=True)  # whole, to be copied into `documents acl ID`
    for column in ("source", "type", "pages", "chunks", "redactions", "owner", "readers"):
        table.add_column(column, overflow="fold")
    for d in documents:
        readers = readers_text(d.acl)
        table.add_row(*cells(d.document_id, d.source, d.media_type, d.pages, d.chunks, d.findings, d.owner, readers))
    out.print(table)


@documents_app.command("acl")
def documents_acl(
    document_id: Annotated[str, typer.Argument(help="The document's id (see `docveil documents list`).")],
    acl_user: Annotated[list[str] | None, typer.Option("--acl-user", help="User allowed to read (repeatable).")] = None,
    acl_role: Annotated[list[str] | None, typer.Option("--acl-role", help="'*' means everyone in the tenant.")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Replace a document's readers (owner or admin)."""
    acl = acl_from(acl_user, acl_role)
    principal = principal_from(tenant, user, role)

    def run() -> None:
        with _engine() as engine:
            engine.set_acl(document_id, acl, principal)

    guarded(run)
    out.print("ACL updated")


@documents_app.command("delete")
def documents_delete(
    document_id: Annotated[str, typer.Argument(help="The document's id (see `docveil documents list`).")],
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Delete a document and its chunks (owner or admin)."""
    principal = principal_from(tenant, user, role)

    def run() -> None:
        with _engine() as engine:
            engine.delete_document(document_id, principal)

    guarded(run)
    out.print("deleted")
