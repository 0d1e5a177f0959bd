"""The audit log in PostgreSQL: appends in the caller's transaction, concurrency, row-level
security and privileges, tampering by someone with owner access, export."""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from dataclasses import replace
from pathlib import Path

import pluggy
import psycopg
import pytest

from docveil import hookspecs
from docveil.engine import Engine
from docveil.errors import AuditError
from docveil.security import audit
from docveil.security.audit import (
    AuditEvent,
    AuditKeys,
    append_event,
    export_tenant_log,
    fetch_checkpoints,
    fetch_head,
    fetch_records,
    keyed_hash,
    verify_export,
    verify_log,
    write_checkpoint,
)
from docveil.security.audit_chain import record_mac
from docveil.security.keyring import AUDIT, SIGNING, TenantKeyring
from docveil.security.keys import DataKeyRing, LocalKeyProvider
from docveil.store.database import Database
from docveil.types import Principal

TENANT = "acme"
ANALYST = Principal(TENANT, "analyst-7", frozenset({"analyst"}))
OFFICER = Principal(TENANT, "officer-1", frozenset({"reidentify", "auditor"}))
AUDITOR = Principal(TENANT, "auditor-2", frozenset({"auditor"}))
QUERY = "salary of Jane Roe, born 1984-02-17"


@pytest.fixture(scope="module")
def keys() -> AuditKeys:
    return AuditKeys.generate()


def append(db: Database, keys: AuditKeys, n: int, *, every: int = 10, principal: Principal = ANALYST) -> None:
    for i in range(n):
        with db.transaction(principal.tenant) as conn:
            append_event(conn, principal, AuditEvent(
                "search" if i % 3 else "ingest", targets=(f"doc-{i}",), counts={"hits": i},
                hashes={"query": keyed_hash(keys.mac_key, f"{QUERY} {i}")}), keys, checkpoint_every=every)


def verify(db: Database, keys: AuditKeys | object, tenant: str = TENANT) -> audit.VerifyResult:
    with db.transaction(tenant) as conn:
        return verify_log(conn, keys)  # type: ignore[arg-type]


def test_appends_form_a_verifying_chain_with_checkpoints_and_head(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 25)

    with db.transaction(TENANT) as conn:
        records = fetch_records(conn)
        checkpoints = fetch_checkpoints(conn)
        head = fetch_head(conn)
    result = verify(db, keys)

    assert result.ok and result.records == 25 and result.macs_checked
    assert verify(db, keys.verify_key).ok
    assert [r.seq for r in records] == list(range(1, 26))
    assert [c.seq for c in checkpoints] == [10, 20]
    assert head is not None and (head.seq, head.hash, head.checkpoint_seq) == (25, records[-1].hash, 20)
    assert records[3].ts.tzinfo is not None and records[3].ts <= records[4].ts
    assert records[0].roles == ("analyst",) and records[0].targets == ("doc-0",)


def test_record_rolls_back_with_the_action_it_describes(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 2)
    with pytest.raises(RuntimeError), db.transaction(TENANT) as conn:
        append_event(conn, ANALYST, AuditEvent("forget"), keys)
        raise RuntimeError("the action failed after auditing")
    append(db, keys, 1)

    with db.transaction(TENANT) as conn:
        assert [(r.seq, r.action) for r in fetch_records(conn)] == [(1, "ingest"), (2, "search"), (3, "ingest")]
    assert verify(db, keys).ok


def test_concurrent_appends_from_several_connections_form_one_gap_free_chain(db: Database, keys: AuditKeys) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(12):
                with db.transaction(TENANT) as conn:
                    append_event(conn, Principal(TENANT, f"user-{n}"), AuditEvent("search", counts={"i": i}), keys,
                                 checkpoint_every=7)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    with db.transaction(TENANT) as conn:
        records = fetch_records(conn)
        assert [c.seq for c in fetch_checkpoints(conn)] == [7, 14, 21, 28, 35, 42]
    assert [r.seq for r in records] == list(range(1, 49))
    assert {r.user for r in records} == {f"user-{n}" for n in range(4)}
    assert verify(db, keys).ok


def test_app_role_can_append_and_read_but_not_change_or_remove_audit_rows(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 12)
    attempts = [
        ("UPDATE audit_records SET outcome = 'ok'", psycopg.errors.InsufficientPrivilege),
        ("DELETE FROM audit_records", psycopg.errors.InsufficientPrivilege),
        ("TRUNCATE audit_records", psycopg.errors.InsufficientPrivilege),
        ("DELETE FROM audit_checkpoints", psycopg.errors.InsufficientPrivilege),
        ("UPDATE audit_checkpoints SET hash = 'x'", psycopg.errors.InsufficientPrivilege),
        ("DELETE FROM audit_heads", psycopg.errors.InsufficientPrivilege),
        ("UPDATE audit_heads SET tenant_id = 'globex'", psycopg.errors.InsufficientPrivilege),
        ("UPDATE audit_heads SET seq = 3", psycopg.errors.RaiseException),
        ("UPDATE audit_heads SET checkpoint_seq = 0", psycopg.errors.RaiseException),
    ]
    for statement, error in attempts:
        with pytest.raises(error), db.transaction(TENANT) as conn:
            conn.execute(statement)

    assert verify(db, keys).ok


def test_tenants_see_only_their_own_log_and_their_keyed_hashes_differ(db: Database, tmp_path: Path) -> None:
    keyring = TenantKeyring(DataKeyRing(LocalKeyProvider(tmp_path)))
    digests = {}
    for tenant in ("acme", "globex"):
        with db.transaction(tenant) as conn:
            keys = AuditKeys.from_seeds(keyring.current(conn, tenant, AUDIT).key,
                                        keyring.current(conn, tenant, SIGNING).key)
            digests[tenant] = keyed_hash(keys.mac_key, QUERY)
            append_event(conn, Principal(tenant, "same-user"), AuditEvent("search", hashes={"query": digests[tenant]}),
                         keys)

    with db.transaction("acme") as conn:
        visible = fetch_records(conn)
        head = fetch_head(conn)
    assert digests["acme"] != digests["globex"]
    assert [(r.tenant, r.hashes["query"]) for r in visible] == [("acme", digests["acme"])]
    assert head is not None and head.tenant == "acme"


def test_append_refuses_a_connection_bound_to_another_tenant(db: Database, keys: AuditKeys) -> None:
    with pytest.raises(AuditError, match="another tenant"), db.transaction("globex") as conn:
        append_event(conn, ANALYST, AuditEvent("search"), keys)
    with db.transaction("globex") as conn:
        assert fetch_records(conn) == [] and fetch_head(conn) is None


def test_no_raw_query_or_unkeyed_digest_is_stored(db: Database, keys: AuditKeys) -> None:
    with db.transaction(TENANT) as conn:
        append_event(conn, ANALYST, AuditEvent("search", counts={"hits": 2}, hashes={
            "query": keyed_hash(keys.mac_key, QUERY), "results": keyed_hash(keys.mac_key, ["41", "42"])}), keys)

    with db.admin() as conn:
        stored = " ".join(row[0] for row in conn.execute(
            "SELECT row_to_json(r)::text FROM audit_records r UNION ALL "
            "SELECT row_to_json(h)::text FROM audit_heads h"))
    assert TENANT in stored  # the dump does hold the rows
    # Only values that cannot occur by chance inside the hex digests and signatures stored beside them.
    for leak in (QUERY, "Jane", "Roe", "1984-02-17", hashlib.sha256(QUERY.encode()).hexdigest()):
        assert leak not in stored


def test_fetch_records_filters_by_user_action_outcome_time_and_limit(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 6)
    with db.transaction(TENANT) as conn:
        append_event(conn, OFFICER, AuditEvent("reidentify", outcome="denied"), keys)
        everything = fetch_records(conn)
        middle = everything[3].ts

        assert [r.seq for r in fetch_records(conn, user="officer-1")] == [7]
        assert [r.seq for r in fetch_records(conn, action="ingest")] == [1, 4]
        assert [r.seq for r in fetch_records(conn, outcome="denied")] == [7]
        assert [r.seq for r in fetch_records(conn, since=middle)] == [4, 5, 6, 7]
        assert [r.seq for r in fetch_records(conn, until=middle)] == [1, 2, 3]
        assert [r.seq for r in fetch_records(conn, limit=2, newest_first=True)] == [7, 6]


# Tampering by someone with the owner's database access


def tamper(db: Database, *statements: str) -> None:
    with db.admin() as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_heads DISABLE TRIGGER audit_heads_forward_only")
        for statement in statements:
            conn.execute(statement)
        conn.execute("ALTER TABLE audit_heads ENABLE TRIGGER audit_heads_forward_only")


def test_edited_record_is_detected_at_its_seq(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 25)
    tamper(db, "UPDATE audit_records SET outcome = 'denied' WHERE seq = 7")

    result = verify(db, keys)

    assert (result.ok, result.first_broken_seq) == (False, 7)
    assert "hash mismatch" in (result.reason or "")


def test_edited_json_field_is_detected_even_when_the_value_is_numerically_equal(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 5)
    tamper(db, "UPDATE audit_records SET counts = '{\"hits\":2.0}' WHERE seq = 3")

    assert verify(db, keys).first_broken_seq == 3


def test_deleted_record_is_detected_at_its_seq(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 25)
    tamper(db, "DELETE FROM audit_records WHERE seq = 12")

    result = verify(db, keys)

    assert (result.ok, result.first_broken_seq) == (False, 12)


def test_reordered_records_are_detected_at_the_first_one(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 25)
    columns = ("ts", "user_id", "roles", "action", "outcome", "targets", "counts", "hashes", "extra",
               "checkpoint_seq", "prev_hash", "hash", "mac")
    swap = ", ".join(f"{c} = o.{c}" for c in columns)
    tamper(db, f"UPDATE audit_records r SET {swap} FROM audit_records o"
               " WHERE (r.seq, o.seq) IN ((5, 6), (6, 5)) AND r.tenant_id = o.tenant_id")

    result = verify(db, keys)

    assert (result.ok, result.first_broken_seq) == (False, 5)
    assert "prev_hash" in (result.reason or "")


def test_forged_record_with_recomputed_hash_is_detected_by_its_mac(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 25)
    with db.transaction(TENANT) as conn:
        last = fetch_records(conn)[-1]
    forged = replace(last, seq=26, action="ask", prev_hash=last.hash, hash="", mac="")
    digest = forged.compute_hash()
    tamper(db,
           "INSERT INTO audit_records SELECT tenant_id, 26, ts, user_id, roles, 'ask', outcome, targets, counts,"
           f" hashes, extra, checkpoint_seq, '{last.hash}', '{digest}',"
           f" '{record_mac(AuditKeys.generate().mac_key, digest)}' FROM audit_records WHERE seq = 25",
           f"UPDATE audit_heads SET seq = 26, hash = '{digest}'")

    result = verify(db, keys)

    assert (result.ok, result.first_broken_seq) == (False, 26)
    assert "MAC mismatch" in (result.reason or "")


def test_truncated_tail_with_fixed_up_head_is_detected_through_the_checkpoint(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 25)
    with db.transaction(TENANT) as conn:
        kept = fetch_records(conn)[14]
    tamper(db, "DELETE FROM audit_records WHERE seq > 15",
           f"UPDATE audit_heads SET seq = 15, hash = '{kept.hash}', checkpoint_seq = 10")

    result = verify(db, keys.verify_key)

    assert (result.ok, result.first_broken_seq) == (False, 16)
    assert "truncated" in (result.reason or "")


def test_truncated_tail_after_an_on_demand_checkpoint_is_detected(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 14)
    with db.transaction(TENANT) as conn:
        checkpoint = write_checkpoint(conn, TENANT, keys)
        assert write_checkpoint(conn, TENANT, keys) is None  # already at the head
        kept = fetch_records(conn)[11]
    assert checkpoint is not None and checkpoint.seq == 14
    tamper(db, "DELETE FROM audit_records WHERE seq > 12",
           f"UPDATE audit_heads SET seq = 12, hash = '{kept.hash}', checkpoint_seq = 10")

    assert verify(db, keys).first_broken_seq == 13


def test_a_log_cut_back_to_nothing_does_not_verify_once_its_keys_exist(engine: Engine) -> None:
    assert engine.audit_verify(AUDITOR).ok  # the audit keys are made, and audited, first
    tamper(engine.database, f"DELETE FROM audit_records WHERE tenant_id = '{TENANT}'",
           f"DELETE FROM audit_checkpoints WHERE tenant_id = '{TENANT}'",
           f"DELETE FROM audit_heads WHERE tenant_id = '{TENANT}'")

    result = engine.audit_verify(AUDITOR)

    assert (result.ok, result.records, result.first_broken_seq) == (False, 0, 1)
    assert "every record was deleted" in (result.reason or "")
    with engine.database.transaction(TENANT) as conn:  # a bare chain cannot tell: a new log is empty too
        assert verify_log(conn, engine._audit_keys(conn, TENANT)).ok


@pytest.mark.parametrize("deleted", [10, 20])
def test_deleted_checkpoint_is_detected_while_records_past_it_remain(db: Database, keys: AuditKeys,
                                                                     deleted: int) -> None:
    append(db, keys, 25)
    tamper(db, f"DELETE FROM audit_checkpoints WHERE seq = {deleted}",
           "UPDATE audit_heads SET checkpoint_seq = 10" if deleted == 20 else "SELECT 1")

    result = verify(db, keys.verify_key)

    assert (result.ok, result.first_broken_seq) == (False, deleted)
    assert "missing" in (result.reason or "")


# Export


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_database_export_verifies_offline_and_fails_once_edited(db: Database, keys: AuditKeys,
                                                               tmp_path: Path, fmt: str) -> None:
    append(db, keys, 23)
    path = tmp_path / f"audit.{fmt}"
    with db.transaction(TENANT) as conn, path.open("w", encoding="utf-8", newline="") as out:
        assert export_tenant_log(conn, keys, fmt, out) == 23  # type: ignore[arg-type]

    assert verify_export(path, mac_key=keys.mac_key).ok
    assert verify_export(path, verify_key=keys.verify_key).ok
    text = path.read_text(encoding="utf-8")
    assert QUERY not in text

    path.write_text(text.replace("analyst-7", "analyst-8", 1), encoding="utf-8")
    result = verify_export(path)
    assert (result.ok, result.first_broken_seq) == (False, 1)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_file_that_is_no_export_is_an_error_and_a_damaged_export_does_not_verify(
        db: Database, keys: AuditKeys, tmp_path: Path, fmt: str) -> None:
    append(db, keys, 3)
    path = tmp_path / f"audit.{fmt}"
    with db.transaction(TENANT) as conn, path.open("w", encoding="utf-8", newline="") as out:
        export_tenant_log(conn, keys, fmt, out)  # type: ignore[arg-type]
    lines = path.read_bytes().splitlines(keepends=True)

    header = 1 if fmt == "jsonl" else 2  # a CSV's column names, then its export row
    path.write_bytes(b"".join([*lines[:header], b"\xff\xfe not text\n", *lines[header:]]))  # damaged after its header
    damaged = verify_export(path)
    assert not damaged.ok and f"line {header + 1}: not UTF-8 text" in damaged.reason
    for other in (b"\x89PNG\r\n" + bytes(range(256)), b"Meeting notes, nothing else.\n", b""):
        path.write_bytes(other)
        with pytest.raises(AuditError, match="is not a docveil audit export"):
            verify_export(path)


class _AppendsDuringExport(io.StringIO):
    """An export target whose first write (the header: the head is read, the records are not
    yet) lets another connection try to append, and goes on once that append has committed or
    waits on a lock."""

    def __init__(self, db: Database, keys: AuditKeys) -> None:
        super().__init__()
        self.db = db
        self.writer = threading.Thread(target=append, args=(db, keys, 1))

    def write(self, text: str) -> int:
        if self.writer.ident is None:
            self.writer.start()
            deadline = time.monotonic() + 60
            with self.db.admin() as admin:
                while self.writer.is_alive() and not admin.execute(
                        "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
                        "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())").fetchone()[0]:
                    assert time.monotonic() < deadline, "the append neither committed nor waited"
                    time.sleep(0.02)
        return super().write(text)


def test_export_is_consistent_while_another_connection_appends(db: Database, keys: AuditKeys, tmp_path: Path) -> None:
    append(db, keys, 5)
    out = _AppendsDuringExport(db, keys)

    with db.transaction(TENANT) as conn:
        exported = export_tenant_log(conn, keys, "jsonl", out)
    out.writer.join()
    path = tmp_path / "audit.jsonl"
    path.write_text(out.getvalue(), encoding="utf-8")

    assert exported == 5
    assert verify_export(path, mac_key=keys.mac_key).ok
    assert verify(db, keys).records == 6


def _append_refused_if_waiting(db: Database, keys: AuditKeys) -> None:
    """One append on another connection that fails at once if it has to wait for a lock."""
    with db.transaction(TENANT) as conn:
        conn.execute("SET LOCAL lock_timeout = '500ms'")
        append_event(conn, ANALYST, AuditEvent("search"), keys)


def test_a_snapshot_transaction_reads_one_state_and_holds_up_no_append(db: Database, keys: AuditKeys) -> None:
    append(db, keys, 5)
    with db.transaction(TENANT, snapshot=True) as conn:
        assert verify_log(conn, keys).records == 5
        _append_refused_if_waiting(db, keys)  # the head is not locked by the verification
        assert verify_log(conn, keys).records == 5  # still its first statement's state
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM audit_heads")
    assert verify(db, keys).records == 6


@pytest.mark.parametrize("action", ["verify", "export"])
def test_engine_verification_and_export_hold_up_no_audited_action(engine: Engine, monkeypatch, action: str,
                                                                   tmp_path: Path) -> None:
    assert engine.audit_verify(AUDITOR).ok  # records 1 and 2: the keys, then the verification
    with engine.database.transaction(TENANT) as conn:
        keys = engine._audit_keys(conn, TENANT)
    read_all = audit.iter_records

    def append_while_reading(conn: psycopg.Connection, **options: int):
        records = read_all(conn, **options)
        yield next(records)
        _append_refused_if_waiting(engine.database, keys)
        yield from records

    monkeypatch.setattr(audit, "iter_records", append_while_reading)
    if action == "verify":
        result = engine.audit_verify(AUDITOR)
        assert result.ok and result.records == 2  # the append came after its snapshot
    else:
        exported = io.StringIO()
        assert engine.audit_export(AUDITOR, exported) == 2
        path = tmp_path / "audit.jsonl"
        path.write_text(exported.getvalue(), encoding="utf-8")
        # Its checkpoint and head are of its snapshot: it verifies on its own, MACs and key pinned.
        offline = verify_export(path, mac_key=keys.mac_key, verify_key=keys.verify_key)
        assert offline.ok and offline.records == 2 and offline.checkpoints == 1
    monkeypatch.undo()
    result = engine.audit_verify(AUDITOR)
    assert result.ok and result.records == 4  # the two before, the append, this action's record


# The default sink


def test_default_sink_logs_seq_action_and_outcome_only(caplog: pytest.LogCaptureFixture) -> None:
    pm = pluggy.PluginManager("docveil")
    pm.add_hookspecs(hookspecs)
    pm.register(audit, name="docveil.security.audit")
    record = {"seq": 4, "action": "search", "outcome": "ok", "user": "jane.roe@example.com",
              "targets": ["doc-9"], "ts": "2025-01-01T00:00:00.000000Z"}

    with caplog.at_level(logging.DEBUG, logger="docveil.security.audit"):
        pm.hook.docveil_audit_record(record=record, context=None)

    assert "seq=4 action=search outcome=ok" in caplog.text
    assert "jane.roe" not in caplog.text and "doc-9" not in caplog.text
