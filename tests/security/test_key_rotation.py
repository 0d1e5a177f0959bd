"""Key rotation against the real database: KEK re-wrap and data-key re-encryption."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from lock_waits import pause_document_stores, wait_for_a_waiter

from docveil.engine import Engine
from docveil.errors import AccessDeniedError, NotFoundError
from docveil.interfaces.demo import sample_paths
from docveil.security import rotation
from docveil.security.keyring import DATA
from docveil.types import Principal

ALICE = Principal("acme", "alice")
ADMIN = Principal("acme", "root", frozenset({"admin", "auditor", "reidentify"}))


@pytest.fixture
def engine(settings, db, model_stash, tmp_path) -> Engine:
    """An engine with a key-encryption key of its own: rotating and retiring the session's
    shared KEK would strand the other tests' databases."""
    with Engine(settings.with_overrides(home=tmp_path), database=db, stash=model_stash) as instance:
        yield instance


def kek_ids(engine: Engine) -> set[str]:
    with engine.database.admin() as conn:
        return {row[0] for row in conn.execute("SELECT kek_id FROM tenant_keys")}


def readable(engine: Engine) -> None:
    """Everything encrypted still opens: sources, metadata, vault values, the audit chain."""
    assert {d.source for d in engine.documents(ALICE)} == {str(p) for p in sample_paths()}
    hit = engine.search("Maria Gonzalez", ALICE, k=1)[0]
    tokens = [t for t in hit.text.split() if t.startswith("<PERSON_")]
    assert "Maria Gonzalez" in engine.reidentify(tokens, ADMIN).values()
    assert engine.audit_verify(ADMIN).ok


def test_kek_rotation_rewraps_every_data_key_and_retires_the_old_kek(engine: Engine) -> None:
    engine.ingest(sample_paths(), ALICE)
    engine.ingest(sample_paths()[:1], Principal("globex", "gina"))
    (old,) = kek_ids(engine)
    result = engine.rotate_kek(ADMIN, retire_old=True)
    assert result.key_id != old and result.rewrapped >= 8
    assert kek_ids(engine) == {result.key_id}
    assert old in result.retired and old not in engine.keyring.ring.provider.key_ids()
    readable(engine)
    actions = [r.action for r in engine.audit_records(ADMIN, action="keys.rotate_kek")]
    assert actions == ["keys.rotate_kek"]


def test_data_key_rotation_reencrypts_metadata_and_subject_keys(engine: Engine) -> None:
    engine.ingest(sample_paths(), ALICE)
    result = engine.rotate_data_key(ADMIN, batch_size=3)
    assert result.key_id == "data:v2" and result.reencrypted > 4
    with engine.database.transaction("acme") as conn:
        assert {r[0] for r in conn.execute("SELECT key_version FROM documents")} == {2}
        assert {r[0] for r in conn.execute("SELECT key_version FROM subject_keys")} == {2}
        states = dict(conn.execute("SELECT version, state FROM tenant_keys WHERE purpose = 'data'").fetchall())
    assert states == {1: "retired", 2: "active"}
    readable(engine)


def test_an_interrupted_data_key_rotation_resumes_instead_of_starting_over(engine: Engine) -> None:
    engine.ingest(sample_paths(), ALICE)
    with engine.database.transaction("acme") as conn:  # a rotation that stopped after one batch
        new = rotation.start_data_key_rotation(conn, engine.keyring, "acme")
        assert rotation.reencrypt_batch(conn, engine.keyring, "acme", new, 1) == 1
    result = engine.rotate_data_key(ADMIN)
    assert result.key_id == "data:v2"
    with engine.database.transaction("acme") as conn:
        assert engine.keyring.current(conn, "acme", DATA).version == 2
        assert conn.execute("SELECT count(*) FROM documents WHERE key_version < 2").fetchone()[0] == 0
    readable(engine)


def test_rotation_needs_the_admin_role(engine: Engine) -> None:
    with pytest.raises(AccessDeniedError):
        engine.rotate_kek(ALICE)
    with pytest.raises(AccessDeniedError):
        engine.rotate_data_key(ALICE)
    assert [r.outcome for r in engine.audit_records(ADMIN, action="deny")] == ["denied", "denied"]


def test_rotating_the_data_key_of_a_tenant_that_never_stored_anything_creates_no_keys(engine: Engine) -> None:
    with pytest.raises(NotFoundError, match="'acmee' has no keys"):
        engine.rotate_data_key(Principal("acmee", "root", frozenset({"admin"})))
    with engine.database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM tenant_keys WHERE tenant_id = 'acmee'").fetchone() == (0,)


def test_keys_read_together_are_the_active_versions_made_on_first_use(engine: Engine) -> None:
    from docveil.security.keyring import AUDIT, SIGNING

    engine.ingest(sample_paths()[:1], ALICE)
    engine.rotate_data_key(ADMIN)
    with engine.database.transaction("acme") as conn:
        data, audit_key = engine.keyring.current_many(conn, "acme", DATA, AUDIT)
        assert (data.version, data.key) == (2, engine.keyring.current(conn, "acme", DATA).key)
        assert audit_key.key == engine.keyring.current(conn, "acme", AUDIT).key
    with engine.database.transaction("initech") as conn:  # a tenant with no keys yet
        first = engine.keyring.current_many(conn, "initech", AUDIT, SIGNING)
        assert [(k.purpose, k.version) for k in first] == [(AUDIT, 1), (SIGNING, 1)]
        assert first[0].key != first[1].key
        assert engine.keyring.current_many(conn, "initech", AUDIT, SIGNING) == first


def test_keys_made_on_first_use_are_audited_under_the_principal_whose_action_needed_them(
        engine: Engine, settings, db, model_stash, tmp_path) -> None:
    engine.ingest(sample_paths()[:1], ALICE)
    records = engine.audit_records(ADMIN)
    created = [r for r in records if r.action == "keys.create"]
    assert {r.user for r in created} == {"alice"}
    assert sorted(t for r in created for t in r.targets) == ["audit:v1", "data:v1", "pseudonym:v1", "signing:v1"]
    assert records[0].action == "keys.create"  # the chain starts with the keys its records need
    ingest = next(r for r in records if r.action == "ingest")
    assert all(r.seq < ingest.seq for r in created)

    # Keys that exist are not recorded again, by this engine or another; a rotation is its own action.
    with Engine(settings.with_overrides(home=tmp_path), database=db, stash=model_stash) as other:
        other.ingest(sample_paths()[1:2], ALICE)
    engine.rotate_data_key(ADMIN)
    assert [r.seq for r in engine.audit_records(ADMIN, action="keys.create")] == [r.seq for r in created]

    # An action that records nothing of its own (reading the public key) still records the keys it made.
    carol = Principal("initech", "carol", frozenset({"auditor"}))
    engine.audit_verify_key(carol)
    (record,) = engine.audit_records(carol, action="keys.create")
    assert (record.user, sorted(record.targets)) == ("carol", ["audit:v1", "signing:v1"])
    assert engine.audit_verify(carol).ok and engine.audit_verify(ADMIN).ok


def test_a_key_made_first_by_a_concurrent_transaction_is_recorded_by_that_one_only(engine: Engine) -> None:
    from docveil.security.keyring import AUDIT

    waiter = Principal("globex", "dave", frozenset({"auditor"}))
    with engine.database.transaction("globex") as first:
        engine.keyring.current(first, "globex", AUDIT)  # inserted, not yet committed
        reader = threading.Thread(target=engine.audit_verify_key, args=(waiter,))
        reader.start()
        wait_for_a_waiter(engine, reader.is_alive)  # the reader, on the uncommitted row
    reader.join(60)
    (record,) = engine.audit_records(waiter, action="keys.create")
    assert record.targets == ("signing:v1",)


def test_a_data_key_rotation_waits_for_a_document_being_stored_under_the_old_key(
        engine: Engine, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.ingest(sample_paths()[:1], ALICE)
    (tmp_path / "late.txt").write_text("Maintenance log: the printer on the second floor was repaired.\n")
    paused, release = pause_document_stores(monkeypatch)  # inside the store's transaction
    with ThreadPoolExecutor(2) as pool:
        storing = pool.submit(engine.ingest, [tmp_path / "late.txt"], ALICE)
        assert paused.wait(60)
        rotating = pool.submit(engine.rotate_data_key, ADMIN)
        wait_for_a_waiter(engine)
        release.set()
        assert storing.result(60).ok and rotating.result(60).key_id == "data:v2"
    with engine.database.transaction("acme") as conn:  # nothing left under the retired key
        assert {r[0] for r in conn.execute("SELECT key_version FROM documents")} == {2}
        states = dict(conn.execute("SELECT version, state FROM tenant_keys WHERE purpose = 'data'").fetchall())
    assert states == {1: "retired", 2: "active"}


def test_data_key_rotations_started_together_take_turns(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.ingest(sample_paths()[:1], ALICE)
    paused, release = threading.Event(), threading.Event()
    ring = engine.keyring.ring
    new_wrapped_key = ring.new_wrapped_key

    def slow_new_wrapped_key(*args, **kwargs):  # the first rotation, about to add version 2
        if not paused.is_set():
            paused.set()
            release.wait(60)
        return new_wrapped_key(*args, **kwargs)

    monkeypatch.setattr(ring, "new_wrapped_key", slow_new_wrapped_key)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(engine.rotate_data_key, ADMIN)
        assert paused.wait(60)
        second = pool.submit(engine.rotate_data_key, ADMIN)
        wait_for_a_waiter(engine)
        release.set()
        results = {first.result(60).key_id, second.result(60).key_id}
    assert results <= {"data:v2", "data:v3"}
    with engine.database.transaction("acme") as conn:
        versions = dict(conn.execute("SELECT version, state FROM tenant_keys WHERE purpose = 'data'").fetchall())
        assert conn.execute("SELECT count(*) FROM documents WHERE key_version < %s",
                            [max(versions)]).fetchone()[0] == 0
    assert list(versions.values()).count("active") == 1
    assert {d.source for d in engine.documents(ALICE)} == {str(sample_paths()[0])}  # still opens


def test_old_keks_are_not_retired_while_a_data_key_is_being_wrapped_under_one(
        engine: Engine, db, model_stash) -> None:
    engine.ingest(sample_paths()[:1], ALICE)
    with Engine(engine.settings, database=db, stash=model_stash) as rotator, ThreadPoolExecutor(1) as pool:
        with engine.database.transaction("newco") as conn:
            engine.keyring.current(conn, "newco", DATA)  # wrapped under the current KEK, not committed
            rotating = pool.submit(rotator.rotate_kek, ADMIN, retire_old=True)
            wait_for_a_waiter(engine)  # the retirement, behind this transaction
        result = rotating.result(60)
    assert result.retired == ()  # newco's key is under the old KEK: it stays
    # A new engine reads the key files afresh, as another process would.
    with Engine(engine.settings, database=db, stash=model_stash) as fresh, fresh.database.transaction("newco") as conn:
        assert len(fresh.keyring.current(conn, "newco", DATA).key) == 32
