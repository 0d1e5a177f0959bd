"""Chunk and picture ids are counted per tenant and reserved before a document is stored."""

from __future__ import annotations

import psycopg
import pytest

from docveil.store import repository
from docveil.store.database import Database


def reserve(db: Database, tenant: str, chunks: int, images: int) -> repository.ReservedIds:
    with db.transaction(tenant) as conn:
        return repository.reserve_ids(conn, tenant, chunks=chunks, images=images)


def test_each_tenant_counts_its_own_ids_whatever_the_others_take(db: Database) -> None:
    assert reserve(db, "acme", 3, 2) == repository.ReservedIds(first_chunk=1, first_image=1)
    assert reserve(db, "globex", 500, 40) == repository.ReservedIds(first_chunk=1, first_image=1)
    assert reserve(db, "acme", 4, 0).first_chunk == 4
    assert reserve(db, "acme", 0, 1).first_image == 3


def test_a_reservation_of_nothing_writes_nothing(db: Database) -> None:
    reserve(db, "acme", 0, 0)
    with db.admin() as conn:
        assert conn.execute("SELECT count(*) FROM id_counters").fetchone()[0] == 0
    with pytest.raises(ValueError, match="non-negative"):
        reserve(db, "acme", -1, 0)


def test_ids_of_a_reservation_rolled_back_are_taken_again(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction("acme") as conn:
        repository.reserve_ids(conn, "acme", chunks=5, images=0)
        raise RuntimeError("the store failed")
    assert reserve(db, "acme", 1, 0).first_chunk == 1


def test_the_application_role_cannot_move_another_tenants_counter(db: Database) -> None:
    reserve(db, "globex", 7, 0)
    with db.transaction("acme") as conn:
        assert conn.execute("SELECT count(*) FROM id_counters").fetchone()[0] == 0
        assert conn.execute("UPDATE id_counters SET last_id = 0 WHERE tenant_id = 'globex'").rowcount == 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            repository.reserve_ids(conn, "globex", chunks=1, images=0)
    assert reserve(db, "globex", 1, 0).first_chunk == 8
