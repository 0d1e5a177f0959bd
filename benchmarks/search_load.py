"""Load the search benchmark's corpus into docveil's real schema, without the ingest pipeline.

Running 100,000 chunks through ``Engine.ingest`` (Presidio on every page) would take hours on a
small machine and is not what this benchmark measures. The rows are instead written with the
functions ``Engine._store`` uses: in each tenant's transaction as the application role (so
row-level security checks every row), the document's source name and metadata encrypted with
the tenant's data key (``encrypt_field``, same associated data), its content hash keyed as docveil
keys it, ``repository.insert_document`` and ``repository.insert_chunks`` with the document's
ACL copied onto its chunks. Not written: vault entries, subject links and per-document audit
records, which search does not read.

The HNSW index is the one ``Database.ensure_text_vectors`` creates (on the partitioned table:
one graph per partition). ``rebuild`` drops it before
the load and creates it again from its own definition afterwards (a bulk build), ``incremental``
keeps it and lets every insert add to the graph.

The raw queries read ``raw_chunks``: the same ids, tenants, ACLs and vectors copied into one
plain table with one HNSW index, as pgvector is used on its own.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from search_corpus import BenchDocument, Corpus

INDEX_NAME = "chunks_embedding_hnsw"
DOCUMENTS_PER_TRANSACTION = 50


@dataclass(frozen=True)
class LoadReport:
    documents: int
    chunks: int
    index_mode: str
    insert_seconds: float
    index_seconds: float
    analyze_seconds: float
    index_definition: str
    index_bytes: int
    table_bytes: int
    raw_table_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.insert_seconds + self.index_seconds + self.analyze_seconds


@dataclass(frozen=True)
class LoadedCorpus:
    """Database ids next to the corpus: ``document_ids[i]`` is document i, ``chunk_index[(tenant,
    id)]`` the corpus row of docveil's chunk ``id`` (chunk ids count per tenant). ``raw_chunks``
    is keyed by the corpus row itself."""

    document_ids: list[str]
    chunk_index: dict[tuple[str, int], int]
    chunk_document: np.ndarray  # document index of each chunk
    report: LoadReport


def _source_name(document: BenchDocument) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in document.title.lower()).strip("-")[:60]
    return f"/srv/shares/{document.tenant}/{document.topic.replace(' ', '-')}/{document.index:06d}-{slug}.pdf"


def load_corpus(engine: Any, corpus: Corpus, vectors: np.ndarray, *, index_mode: str = "rebuild",
                progress: Callable[[int, int], None] | None = None) -> LoadedCorpus:
    from docveil.security.crypto import derive_key, encrypt_field, hmac_sha256
    from docveil.security.keyring import DATA, PSEUDONYM
    from docveil.store import repository
    from docveil.types import Chunk, RedactedText

    encoder = engine.text_encoder
    database = engine.database
    database.ensure_text_vectors(encoder.name, encoder.dimension)
    with database.admin() as conn:
        row = conn.execute("SELECT pg_get_indexdef(%s::regclass)", [INDEX_NAME]).fetchone()
        # Defined on the partitioned table: made again on every partition, not on the parent "ONLY".
        definition = row[0].replace(" ON ONLY ", " ON ")
        if index_mode == "rebuild":
            conn.execute(f"DROP INDEX {INDEX_NAME}")

    by_tenant: dict[str, list[BenchDocument]] = defaultdict(list)
    for document in corpus.documents:
        by_tenant[document.tenant].append(document)
    document_ids = [""] * len(corpus.documents)
    id_rng = np.random.default_rng(len(corpus.texts))  # stable ids run to run
    for document in corpus.documents:
        document_ids[document.index] = str(uuid.UUID(bytes=id_rng.bytes(16), version=4))

    done = 0
    if progress:
        progress(0, len(corpus.texts))
    start = time.perf_counter()
    for tenant, documents in sorted(by_tenant.items()):
        for first in range(0, len(documents), DOCUMENTS_PER_TRANSACTION):
            with database.transaction(tenant) as conn:
                data_key = engine.keyring.current(conn, tenant, DATA)
                hash_key = derive_key(engine.keyring.current(conn, tenant, PSEUDONYM).key, "content-hash")
                for document in documents[first:first + DOCUMENTS_PER_TRANSACTION]:
                    document_id = document_ids[document.index]
                    span = slice(document.chunk_start, document.chunk_start + document.chunk_count)
                    texts = corpus.texts[span]
                    content = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()
                    metadata = {"title": document.title, "topic": document.topic, "author": document.owner}
                    sealed = {field: encrypt_field(data_key.key, value, tenant=tenant, owner=document_id, field=field,
                                                   key_version=data_key.version)
                              for field, value in (("source", _source_name(document)),
                                                   ("metadata", json.dumps(metadata, sort_keys=True)))}
                    repository.insert_document(conn, repository.DocumentRow(
                        id=document_id, tenant=tenant, content_hash=hmac_sha256(hash_key, content.encode()).hex(),
                        media_type="application/pdf", page_count=1 + (len(texts) - 1) // 3,
                        chunk_count=len(texts), finding_count=0,
                        source_enc=sealed["source"], metadata_enc=sealed["metadata"],
                        key_version=data_key.version, owner_user=document.owner,
                        acl_users=tuple(sorted(document.acl_users)), acl_roles=tuple(sorted(document.acl_roles)),
                        manifest=[]))
                    chunks, offset = [], 0
                    for ordinal, text in enumerate(texts):
                        chunks.append(Chunk(ordinal=ordinal, text=RedactedText(text), page=1 + ordinal // 3,
                                            start=offset, end=offset + len(text)))
                        offset += len(text) + 1
                    ids = repository.reserve_ids(conn, tenant, chunks=len(chunks), images=0)
                    repository.insert_chunks(conn, tenant, document_id, chunks, vectors[span],
                                             sorted(document.acl_users), sorted(document.acl_roles), ids.first_chunk)
                    done += len(texts)
            if progress:
                progress(done, len(corpus.texts))
    insert_seconds = time.perf_counter() - start

    index_seconds = 0.0
    with database.admin() as conn:
        if index_mode == "rebuild":
            # The whole graph fits in memory: the build does not spill to the slower on-disk path.
            conn.execute("SET maintenance_work_mem = '1GB'")
            start = time.perf_counter()
            conn.execute(definition)
            index_seconds = time.perf_counter() - start
        start = time.perf_counter()
        conn.execute("VACUUM ANALYZE chunks")
        conn.execute("VACUUM ANALYZE documents")
        analyze_seconds = time.perf_counter() - start
        index_bytes = conn.execute("SELECT sum(pg_relation_size(relid)) FROM pg_partition_tree(%s::regclass)",
                                   [INDEX_NAME]).fetchone()[0]
        table_bytes = conn.execute("SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree('chunks')"
                                   " WHERE isleaf").fetchone()[0]
        # The raw queries' table: the same tenants, ACLs and vectors in one plain table with one
        # HNSW graph, as pgvector is used without docveil, keyed by corpus row.
        start = time.perf_counter()
        conn.execute("DROP TABLE IF EXISTS raw_chunks")
        conn.execute("CREATE TEMP TABLE document_rows (document_id uuid PRIMARY KEY, chunk_start integer NOT NULL)")
        with conn.cursor().copy("COPY document_rows FROM STDIN") as copy:
            for document in corpus.documents:
                copy.write_row((document_ids[document.index], document.chunk_start))
        conn.execute("CREATE TABLE raw_chunks AS SELECT r.chunk_start + c.ordinal AS id, c.tenant_id, c.acl_users,"
                     " c.acl_roles, c.embedding FROM chunks c JOIN document_rows r USING (document_id) ORDER BY 1")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("CREATE INDEX raw_chunks_embedding_hnsw ON raw_chunks USING hnsw (embedding vector_cosine_ops)")
        conn.execute("VACUUM ANALYZE raw_chunks")
        raw_seconds = time.perf_counter() - start
        rows = conn.execute("SELECT tenant_id, id, document_id::text, ordinal FROM chunks").fetchall()

    position = {document_id: index for index, document_id in enumerate(document_ids)}
    chunk_index = {(tenant, chunk_id): corpus.documents[position[document_id]].chunk_start + ordinal
                   for tenant, chunk_id, document_id, ordinal in rows}
    if len(chunk_index) != len(corpus.texts) or set(chunk_index.values()) != set(range(len(corpus.texts))):
        raise RuntimeError(f"loaded {len(rows)} chunks, expected {len(corpus.texts)}")
    chunk_document = np.zeros(len(corpus.texts), dtype=np.int32)
    for document in corpus.documents:
        chunk_document[document.chunk_start:document.chunk_start + document.chunk_count] = document.index
    report = LoadReport(len(corpus.documents), len(corpus.texts), index_mode, insert_seconds, index_seconds,
                        analyze_seconds, definition, int(index_bytes), int(table_bytes), raw_seconds)
    return LoadedCorpus(document_ids, chunk_index, chunk_document, report)


def visible_document_mask(corpus: Corpus, tenant: str, user: str, roles: Sequence[str]) -> np.ndarray:
    from search_corpus import visible

    return np.array([d.tenant == tenant and visible(d, user, tuple(roles)) for d in corpus.documents])
