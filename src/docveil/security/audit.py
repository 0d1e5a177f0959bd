"""The audit log in PostgreSQL: append inside the caller's transaction, read back, verify, export.

Records are appended on the connection of the action they describe, so the action and its
record commit or roll back together. Writers of one tenant are serialised by locking that
tenant's ``audit_heads`` row (``SELECT ... FOR UPDATE``) until their transaction ends, which
makes seq strictly increasing without gaps and seq order equal to commit order; append as late
in the transaction as you can. Connections run at READ COMMITTED (the default); at REPEATABLE
READ a concurrent append makes PostgreSQL raise a serialisation failure instead of waiting.

The tenant is the transaction's ``docveil.tenant`` setting; row-level security confines every
read and write to it. The chain, checkpoint and export logic is in ``audit_chain``.

This module is an essential default plugin: its ``docveil_audit_record`` sink only logs the
seq, action and outcome of each committed record at DEBUG.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any, Literal, TextIO

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from psycopg.types.json import Json

from docveil.errors import AuditError
from docveil.hookspecs import hookimpl
from docveil.security.audit_chain import (
    DEFAULT_CHECKPOINT_EVERY,
    GENESIS_HASH,
    AuditEvent,
    AuditHead,
    AuditKeys,
    AuditRecord,
    Checkpoint,
    VerifyResult,
    canonical_json,
    export_log,
    keyed_hash,
    next_record,
    sign_checkpoint,
    verify_chain,
    verify_export,
)
from docveil.types import Principal

__all__ = [
    "AuditEvent", "AuditHead", "AuditKeys", "AuditRecord", "Checkpoint", "VerifyResult",
    "append_event", "export_log", "export_tenant_log", "fetch_checkpoints", "fetch_head",
    "fetch_records", "iter_records", "keyed_hash", "verify_chain", "verify_export",
    "verify_log", "write_checkpoint",
]

logger = logging.getLogger(__name__)

_TENANT = "current_setting('docveil.tenant', true)"
_RECORD_COLUMNS = ("tenant_id, seq, ts, user_id, roles, action, outcome, targets, counts, hashes, "
                   "extra, checkpoint_seq, prev_hash, hash, mac")


def _json(value: Mapping[str, Any]) -> Json:
    # The json (not jsonb) columns keep this text byte for byte, so 1 and 1.0 come back apart.
    return Json(dict(value), dumps=lambda obj: canonical_json(obj).decode("utf-8"))


def _failed(what: str, exc: psycopg.Error) -> AuditError:
    # The primary message names the table or constraint, never row values.
    detail = exc.diag.message_primary or type(exc).__name__
    return AuditError(f"audit log: {what} failed: {detail}")


def _bound_tenant(conn: psycopg.Connection) -> str:
    row = conn.execute(f"SELECT {_TENANT}").fetchone()
    return _checked_tenant(row)


def _checked_tenant(row: tuple[Any, ...] | None) -> str:
    if row is None or not row[0]:
        raise AuditError("audit log: the connection has no tenant; use Database.transaction(tenant)")
    return str(row[0])


_LOCK_HEAD = "SELECT seq, hash, checkpoint_seq FROM audit_heads WHERE tenant_id = %s FOR UPDATE"


def _lock_head(conn: psycopg.Connection, tenant: str) -> AuditHead:
    """The tenant's head row, locked until the transaction ends; created on first use."""
    return _head(conn, tenant, conn.execute(_LOCK_HEAD, [tenant]).fetchone())


def _head(conn: psycopg.Connection, tenant: str, row: tuple[Any, ...] | None) -> AuditHead:
    if row is None:
        conn.execute("INSERT INTO audit_heads (tenant_id, seq, hash, checkpoint_seq)"
                     " VALUES (%s, 0, %s, 0) ON CONFLICT (tenant_id) DO NOTHING", [tenant, GENESIS_HASH])
        row = conn.execute(_LOCK_HEAD, [tenant]).fetchone()
        if row is None:
            raise AuditError(f"audit log: the head of tenant {tenant!r} could not be created")
    return AuditHead(tenant, int(row[0]), row[1], int(row[2]))


def _now(conn: psycopg.Connection) -> datetime:
    # The database clock, read after the lock: one clock for all application servers, and
    # timestamps that follow seq order as long as that clock does not step back.
    row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def _locked_head_and_now(conn: psycopg.Connection, tenant: str) -> tuple[AuditHead, datetime]:
    """The locked head and the clock read after the lock, with the bound tenant checked, in one
    round trip."""
    with conn.pipeline():
        bound = conn.execute(f"SELECT {_TENANT}")
        head = conn.execute(_LOCK_HEAD, [tenant])
        clock = conn.execute("SELECT clock_timestamp()")
    if _checked_tenant(bound.fetchone()) != tenant:
        raise AuditError(f"audit log: a record of tenant {tenant!r} cannot be written "
                         "on a connection bound to another tenant")
    row = head.fetchone()
    if row is None:  # the tenant's first record: the head is made, and the clock read again
        return _head(conn, tenant, row), _now(conn)
    now = clock.fetchone()
    assert now is not None
    return _head(conn, tenant, row), now[0]


def _insert_checkpoint(conn: psycopg.Connection, checkpoint: Checkpoint) -> None:
    conn.execute("INSERT INTO audit_checkpoints (tenant_id, seq, hash, ts, signature)"
                 " VALUES (%s, %s, %s, %s, %s)",
                 [checkpoint.tenant, checkpoint.seq, checkpoint.hash, checkpoint.ts, checkpoint.signature])


def _save_head(conn: psycopg.Connection, head: AuditHead) -> None:
    conn.execute("UPDATE audit_heads SET seq = %s, hash = %s, checkpoint_seq = %s WHERE tenant_id = %s",
                 [head.seq, head.hash, head.checkpoint_seq, head.tenant])


def append_event(conn: psycopg.Connection, principal: Principal, event: AuditEvent, keys: AuditKeys,
                 *, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY) -> AuditRecord:
    """Append ``event`` by ``principal`` to its tenant's chain, in the transaction of ``conn``.

    Writes a signed checkpoint with every ``checkpoint_every``-th record. Returns the sealed
    record; forward it to sinks (``docveil_audit_record``) only after the transaction commits.
    Raises ``AuditError`` if the connection is bound to another tenant or the write fails (the
    caller's transaction is then aborted, so the action does not happen unaudited).
    """
    if keys.signing_key is None:
        raise AuditError("these audit keys can verify but not append: the signing key is missing")
    if checkpoint_every < 1:
        raise ValueError("checkpoint_every must be at least 1")
    try:
        head, now = _locked_head_and_now(conn, principal.tenant)
        record, checkpoint, new_head = next_record(head, principal, event, now, keys,
                                                   checkpoint_every=checkpoint_every)
        # The writes need no answer from each other: one round trip for all of them.
        with conn.pipeline():
            conn.execute(
                f"INSERT INTO audit_records ({_RECORD_COLUMNS})"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [record.tenant, record.seq, record.ts, record.user, list(record.roles), record.action,
                 record.outcome, list(record.targets), _json(record.counts), _json(record.hashes),
                 _json(record.extra), record.checkpoint_seq, record.prev_hash, record.hash, record.mac])
            if checkpoint is not None:
                _insert_checkpoint(conn, checkpoint)
            _save_head(conn, new_head)
    except psycopg.Error as exc:
        raise _failed(f"appending {event.action!r}", exc) from exc
    return record


def write_checkpoint(conn: psycopg.Connection, tenant: str, keys: AuditKeys) -> Checkpoint | None:
    """Sign a checkpoint at the tenant's current head now (e.g. before an export, or from a
    scheduled job, so that little of the tail is protected only by the head row).

    Returns the checkpoint, or None when the log is empty or the head already has one.
    """
    if keys.signing_key is None:
        raise AuditError("these audit keys can verify but not sign: the signing key is missing")
    try:
        if _bound_tenant(conn) != tenant:
            raise AuditError(f"audit log: a checkpoint of tenant {tenant!r} cannot be written on "
                             "a connection bound to another tenant")
        head = _lock_head(conn, tenant)
        if head.seq == 0 or head.checkpoint_seq == head.seq:
            return None
        checkpoint = sign_checkpoint(tenant, head.seq, head.hash, _now(conn), keys.signing_key)
        _insert_checkpoint(conn, checkpoint)
        _save_head(conn, AuditHead(tenant, head.seq, head.hash, head.seq))
    except psycopg.Error as exc:
        raise _failed("writing a checkpoint", exc) from exc
    return checkpoint


def _record(row: tuple[Any, ...]) -> AuditRecord:
    (tenant, seq, ts, user, roles, action, outcome, targets, counts, hashes, extra,
     checkpoint_seq, prev_hash, digest, mac) = row
    return AuditRecord(tenant=tenant, seq=seq, ts=ts, user=user, roles=tuple(roles), action=action,
                       outcome=outcome, targets=tuple(targets), counts=counts, hashes=hashes,
                       extra=extra, checkpoint_seq=checkpoint_seq, prev_hash=prev_hash, hash=digest,
                       mac=mac)


def fetch_records(conn: psycopg.Connection, *, since: datetime | None = None,
                  until: datetime | None = None, user: str | None = None, action: str | None = None,
                  outcome: str | None = None, limit: int | None = None,
                  newest_first: bool = False) -> list[AuditRecord]:
    """The tenant's records matching every given filter, in seq order (``since`` inclusive,
    ``until`` exclusive). For review screens; verification reads the whole chain."""
    where = [f"tenant_id = {_TENANT}"]
    params: list[Any] = []
    for column, op, value in (("ts", ">=", since), ("ts", "<", until), ("user_id", "=", user),
                              ("action", "=", action), ("outcome", "=", outcome)):
        if value is not None:
            where.append(f"{column} {op} %s")
            params.append(value)
    query = (f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE {' AND '.join(where)}"
             f" ORDER BY seq {'DESC' if newest_first else 'ASC'}")
    if limit is not None:
        if limit < 0:
            raise ValueError("limit must not be negative")
        query += " LIMIT %s"
        params.append(limit)
    try:
        return [_record(row) for row in conn.execute(query, params)]
    except psycopg.Error as exc:
        raise _failed("reading records", exc) from exc


def iter_records(conn: psycopg.Connection, *, batch: int = 2000) -> Iterator[AuditRecord]:
    """Every record of the tenant in seq order, streamed through a server-side cursor
    (``conn`` must be in a transaction)."""
    with conn.cursor(name="docveil_audit_records") as cursor:
        cursor.itersize = batch
        cursor.execute(f"SELECT {_RECORD_COLUMNS} FROM audit_records WHERE tenant_id = {_TENANT}"
                       " ORDER BY seq")
        for row in cursor:
            yield _record(row)


def fetch_checkpoints(conn: psycopg.Connection) -> list[Checkpoint]:
    rows = conn.execute("SELECT tenant_id, seq, hash, ts, signature FROM audit_checkpoints"
                        f" WHERE tenant_id = {_TENANT} ORDER BY seq").fetchall()
    return [Checkpoint(tenant=r[0], seq=r[1], hash=r[2], ts=r[3], signature=r[4]) for r in rows]


def fetch_head(conn: psycopg.Connection) -> AuditHead | None:
    row = conn.execute("SELECT tenant_id, seq, hash, checkpoint_seq FROM audit_heads"
                       f" WHERE tenant_id = {_TENANT}").fetchone()
    return None if row is None else AuditHead(row[0], row[1], row[2], row[3])


def _snapshot_head(conn: psycopg.Connection) -> AuditHead | None:
    """The head, read so that records, checkpoints and head form one consistent state.

    At READ COMMITTED each statement sees newer commits, so the head row is share-locked
    (appends of this tenant wait until the transaction ends); REPEATABLE READ or SERIALIZABLE
    transactions already read one snapshot.
    """
    level = conn.execute("SHOW transaction_isolation").fetchone()
    if level is not None and level[0] == "read committed":
        row = conn.execute("SELECT tenant_id, seq, hash, checkpoint_seq FROM audit_heads"
                           f" WHERE tenant_id = {_TENANT} FOR SHARE").fetchone()
        return None if row is None else AuditHead(row[0], row[1], row[2], row[3])
    return fetch_head(conn)


def verify_log(conn: psycopg.Connection, keys: AuditKeys | Ed25519PublicKey, *,
               require_records: bool = False) -> VerifyResult:
    """Verify the tenant's whole stored log (``docveil audit verify``).

    With ``require_records``, an empty log does not verify: set it when the keys were made by a
    writer that audits their creation, as the engine does, so that the log cannot be empty once
    they exist (the chain alone cannot tell a log cut back to nothing from a new one).
    """
    try:
        _bound_tenant(conn)
        head = _snapshot_head(conn)
        result = verify_chain(iter_records(conn), fetch_checkpoints(conn), head, keys)
    except psycopg.Error as exc:
        raise _failed("verifying", exc) from exc
    if require_records and result.ok and result.records == 0:
        return replace(result, ok=False, first_broken_seq=1,
                       reason="the log is empty, yet the tenant's audit keys exist and their creation is "
                              "its first record: every record was deleted")
    return result


def export_tenant_log(conn: psycopg.Connection, keys: AuditKeys,
                      fmt: Literal["jsonl", "csv"], out: TextIO) -> int:
    """Export the tenant's whole log, consistent with its head (``docveil audit export``).
    Returns the number of records written."""
    try:
        _bound_tenant(conn)
        head = _snapshot_head(conn)
        return export_log(iter_records(conn), fetch_checkpoints(conn), head, keys, fmt, out)
    except psycopg.Error as exc:
        raise _failed("exporting", exc) from exc


@hookimpl
def docveil_audit_record(record: Mapping[str, Any]) -> None:
    """Default sink: a DEBUG line with seq, action and outcome only (no user, ids or hashes)."""
    logger.debug("audit record seq=%s action=%s outcome=%s",
                 record.get("seq"), record.get("action"), record.get("outcome"))
