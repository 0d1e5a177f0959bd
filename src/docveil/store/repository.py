"""SQL for documents, chunks and the vault. Every function runs inside the caller's tenant
transaction (``Database.transaction``), so row-level security applies to each statement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from pgvector import Vector
from psycopg import sql

from docveil.types import Acl, Chunk, Picture, Principal

# Over-fetch factor for each retriever before fusion; filtered HNSW scans keep going until
# they have this many visible rows (pgvector iterative scans).
CANDIDATES_PER_HIT = 4
RRF_K = 60
# The unique key that makes a document a duplicate (migration 0006): an owner stores content once.
SAME_CONTENT_CONSTRAINT = "documents_tenant_id_content_hash_owner_user_key"
# pgvector accepts hnsw.ef_search in 1..1000; iterative scans go on past it when the LIMIT needs more.
MAX_EF_SEARCH = 1000


@dataclass(frozen=True)
class DocumentRow:
    id: str
    tenant: str
    content_hash: str
    media_type: str
    page_count: int
    chunk_count: int
    finding_count: int
    source_enc: bytes
    metadata_enc: bytes
    key_version: int
    owner_user: str
    acl_users: tuple[str, ...]
    acl_roles: tuple[str, ...]
    manifest: list[dict]


@dataclass(frozen=True)
class ChunkRow:
    chunk_id: int
    document_id: str
    page: int
    bbox: list[float] | None
    text: str
    score: float
    source_enc: bytes


def existing_hashes(conn: psycopg.Connection, principal: Principal, hashes: Sequence[str]
                    ) -> dict[str, tuple[str, Acl]]:
    """Content hash -> (id, ACL) of the stored documents with these contents that ``principal``
    may read or owns; documents hidden from them do not count (their existence is not revealed)."""
    rows = conn.execute(
        f"SELECT content_hash, id::text, acl_users, acl_roles FROM documents WHERE content_hash = ANY(%(hashes)s)"
        # Ordered so that the uploader's own copy, when there is one, is the one reported.
        f" AND (owner_user = %(user)s OR {_VISIBLE}) ORDER BY owner_user = %(user)s, created_at",
        {"hashes": list(hashes), "user": principal.user, "principal_user": [principal.user],
         "principal_roles": sorted(principal.roles | {"*"})}).fetchall()
    return {row[0]: (row[1], Acl(users=row[2], roles=row[3])) for row in rows}


def insert_document(conn: psycopg.Connection, row: DocumentRow) -> None:
    conn.execute(
        "INSERT INTO documents (id, tenant_id, content_hash, media_type, page_count, chunk_count,"
        " finding_count, source_enc, metadata_enc, key_version, owner_user, acl_users, acl_roles, manifest)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        [row.id, row.tenant, row.content_hash, row.media_type, row.page_count, row.chunk_count,
         row.finding_count, row.source_enc, row.metadata_enc, row.key_version, row.owner_user,
         list(row.acl_users), list(row.acl_roles), json.dumps(row.manifest)])


@dataclass(frozen=True)
class ReservedIds:
    """The first of the consecutive chunk and picture ids reserved for one document."""

    first_chunk: int
    first_image: int


def reserve_ids(conn: psycopg.Connection, tenant: str, *, chunks: int, images: int) -> ReservedIds:
    """Take ``chunks`` chunk ids and ``images`` picture ids from the tenant's counters (migration
    0010: ids count one tenant's rows only). The counters stay locked until the transaction
    ends: the engine reserves in a short transaction of its own, and ids of a store that fails
    afterwards are not used again."""
    wanted = {kind: count for kind, count in (("chunk", chunks), ("image", images)) if count > 0}
    if any(count < 0 for count in (chunks, images)):
        raise ValueError("a reservation needs non-negative counts")
    last: dict[str, int] = dict(conn.execute(
        "INSERT INTO id_counters AS c (tenant_id, kind, last_id) SELECT %s, kind, count"
        " FROM unnest(%s::text[], %s::bigint[]) AS wanted (kind, count)"
        " ON CONFLICT (tenant_id, kind) DO UPDATE SET last_id = c.last_id + excluded.last_id"
        " RETURNING kind, last_id", [tenant, list(wanted), list(wanted.values())]).fetchall()) if wanted else {}
    return ReservedIds(first_chunk=last.get("chunk", 0) - chunks + 1, first_image=last.get("image", 0) - images + 1)


def insert_chunks(conn: psycopg.Connection, tenant: str, document_id: str, chunks: Sequence[Chunk],
                  vectors: np.ndarray, acl_users: Sequence[str], acl_roles: Sequence[str], first_id: int) -> None:
    """A document's chunks with their vectors, pipelined (COPY is refused under row-level security),
    numbered from ``first_id`` (``reserve_ids``)."""
    with conn.cursor(binary=True) as cur:
        cur.executemany(
            "INSERT INTO chunks (id, tenant_id, document_id, ordinal, page, char_start, char_end, bbox,"
            " acl_users, acl_roles, text, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(first_id + i, tenant, document_id, chunk.ordinal, chunk.page, chunk.start, chunk.end,
              chunk.bbox.as_list() if chunk.bbox else None, list(acl_users), list(acl_roles),
              chunk.text.text, Vector(vector)) for i, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True))])


def insert_images(conn: psycopg.Connection, tenant: str, document_id: str, pictures: Sequence[Picture],
                  vectors: np.ndarray, acl_users: Sequence[str], acl_roles: Sequence[str], first_id: int) -> None:
    """A document's pictures with their vectors (the pixels are not stored), numbered from
    ``first_id`` (``reserve_ids``)."""
    if not pictures:
        return
    with conn.cursor(binary=True) as cur:
        cur.executemany(
            "INSERT INTO images (id, tenant_id, document_id, ordinal, page, kind, bbox, width, height,"
            " acl_users, acl_roles, embedding) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(first_id + i, tenant, document_id, picture.ordinal, picture.page, picture.kind,
              picture.bbox.as_list() if picture.bbox else None, picture.image.width, picture.image.height,
              list(acl_users), list(acl_roles), Vector(vector))
             for i, (picture, vector) in enumerate(zip(pictures, vectors, strict=True))])


def link_subjects(conn: psycopg.Connection, tenant: str, document_id: str, digests: Sequence[str]) -> None:
    if digests:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO document_subjects (tenant_id, document_id, digest) VALUES (%s, %s, %s)"
                " ON CONFLICT DO NOTHING", [(tenant, document_id, d) for d in digests])


def subject_documents(conn: psycopg.Connection, digests: Sequence[str]) -> list[str]:
    """Ids of the documents linked to any of these subjects."""
    return [row[0] for row in conn.execute(
        "SELECT DISTINCT document_id::text FROM document_subjects WHERE digest = ANY(%s)", [list(digests)])]


def lock_documents(conn: psycopg.Connection, document_ids: Sequence[str]) -> None:
    """Lock these documents for update, in id order (every writer that locks several documents
    takes them in that order, so two of them never wait for each other)."""
    if document_ids:
        conn.execute("SELECT 1 FROM documents WHERE id = ANY(%s::uuid[]) ORDER BY id FOR UPDATE",
                     [list(document_ids)])


def document_fields(conn: psycopg.Connection, document_ids: Sequence[str]) -> list[tuple[str, bytes, bytes]]:
    """(id, encrypted name, encrypted metadata) of those of the documents that exist, locked."""
    return conn.execute("SELECT id::text, source_enc, metadata_enc FROM documents WHERE id = ANY(%s::uuid[])"
                        " FOR UPDATE", [list(document_ids)]).fetchall()


def set_document_fields(conn: psycopg.Connection, document_id: str, source_enc: bytes, metadata_enc: bytes,
                        key_version: int) -> None:
    conn.execute("UPDATE documents SET source_enc = %s, metadata_enc = %s, key_version = %s WHERE id = %s::uuid",
                 [source_enc, metadata_enc, key_version, document_id])


_VISIBLE = "(acl_users && %(principal_user)s OR acl_roles && %(principal_roles)s)"

_SEMANTIC = f"""
semantic AS (
    SELECT id, row_number() OVER (ORDER BY distance) AS rank, 1 - distance AS similarity
    FROM (
        SELECT id, embedding <=> %(vector)s AS distance
        FROM chunks
        -- The policy's tenant test alone is known only when the statement starts; the tenant as a
        -- value lets the planner see the one partition it reads and choose its HNSW graph.
        WHERE tenant_id = %(tenant)s AND {_VISIBLE}
        ORDER BY embedding <=> %(vector)s
        LIMIT %(candidates)s
    ) nearest
),
keyword AS (
    -- The tenant's visible matches through the full-text index (migration 0004 says why).
    SELECT id, row_number() OVER (ORDER BY rank_cd DESC, id) AS rank
    FROM keyword_candidates(plainto_tsquery('english', %(words)s) || to_tsquery('english', %(tokens)s),
                            %(principal_user)s, %(principal_roles)s, %(candidates)s)
    WHERE %(keywords)s
),"""

_PICTURED = f"""
pictures AS (
    -- The visible pictures nearest to the query through the image model's text tower.
    SELECT document_id, page, embedding <=> %(picture_vector)s AS distance
    FROM images
    WHERE tenant_id = %(tenant)s AND {_VISIBLE}
    ORDER BY embedding <=> %(picture_vector)s
    LIMIT %(candidates)s
),
pictured AS (
    -- Each page with such a picture ranks one chunk, by its nearest picture: the page's chunk
    -- nearest to the query, so a page of many chunks is not ranked many times. A page without
    -- text ranks nothing and takes no rank.
    SELECT chosen.id, row_number() OVER (ORDER BY pages.distance, chosen.id) AS rank
    FROM (SELECT document_id, page, min(distance) AS distance FROM pictures GROUP BY document_id, page) pages
    CROSS JOIN LATERAL (
        SELECT c.id
        FROM chunks c
        WHERE c.tenant_id = %(tenant)s AND c.document_id = pages.document_id AND c.page = pages.page
              AND {_VISIBLE}
        ORDER BY c.embedding <=> %(vector)s, c.id
        LIMIT 1
    ) chosen
),"""

_FUSED = """
fused AS (
    SELECT id, sum(1.0 / (%(rrf_k)s + rank)) AS score, max(similarity) AS similarity
    FROM (SELECT id, rank, similarity FROM semantic
          UNION ALL SELECT id, rank, NULL FROM keyword{pictured}) ranked
    GROUP BY id
    ORDER BY score DESC, id
    LIMIT %(k)s
)
SELECT c.id, c.document_id::text, c.page, c.bbox, c.text, f.score, d.source_enc
FROM fused f JOIN chunks c ON c.tenant_id = %(tenant)s AND c.id = f.id JOIN documents d ON d.id = c.document_id
ORDER BY f.score DESC, c.id
"""

# Two statements: with pictures (an image model is set) the image index is a third retriever.
_SEARCH_SQL = "WITH" + _SEMANTIC + _FUSED.format(pictured="")
_SEARCH_WITH_PICTURES_SQL = ("WITH" + _SEMANTIC + _PICTURED
                             + _FUSED.format(pictured="\n          UNION ALL SELECT id, rank, NULL FROM pictured"))


def set_search_settings(conn: psycopg.Connection, ef_search: int) -> None:
    """The index settings of a search, for the rest of the transaction."""
    conn.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),"
                 " set_config('hnsw.ef_search', %s, true)",
                 [str(ef_search)])


def search_chunks(conn: psycopg.Connection, principal: Principal, vector: np.ndarray,
                  words: str, token_digests: Sequence[str], k: int,
                  picture_vector: np.ndarray | None = None) -> list[ChunkRow]:
    """Hybrid search over visible chunks: HNSW cosine, plus full text matching any pseudonym
    token of the query or all of its words, plus (given ``picture_vector``, the query through
    an image model's text tower) the visible pictures nearest to it, each ranking the chunk of
    its page nearest to the query; fused by reciprocal rank.

    Matching every word (not any) keeps the keyword side selective: an OR over common words
    matches a large share of a tenant's chunks, each of which would have to be ranked.
    """
    tokens = " | ".join(f"'{digest}'" for digest in token_digests if digest.isalnum())
    # The index settings and the search go out together: one round trip.
    with conn.pipeline():
        set_search_settings(conn, min(MAX_EF_SEARCH, max(40, k * CANDIDATES_PER_HIT)))
        # Not prepared: a generic plan cannot see which retriever is empty or how selective the ACL is.
        rows = conn.execute(_SEARCH_SQL if picture_vector is None else _SEARCH_WITH_PICTURES_SQL, {
            "tenant": principal.tenant, "vector": Vector(vector), "words": words, "tokens": tokens,
            "picture_vector": None if picture_vector is None else Vector(picture_vector),
            "keywords": bool(words.strip() or tokens), "k": k, "rrf_k": RRF_K,
            "candidates": k * CANDIDATES_PER_HIT,
            "principal_user": [principal.user], "principal_roles": sorted(principal.roles | {"*"}),
        }, prepare=False).fetchall()
    return [ChunkRow(chunk_id=r[0], document_id=r[1], page=r[2], bbox=r[3], text=r[4],
                     score=float(r[5]), source_enc=r[6]) for r in rows]


@dataclass(frozen=True)
class ImageRow:
    image_id: int
    document_id: str
    page: int
    kind: str
    bbox: list[float] | None
    width: int
    height: int
    similarity: float
    source_enc: bytes


def search_images(conn: psycopg.Connection, principal: Principal, vector: np.ndarray, k: int) -> list[ImageRow]:
    """The ``k`` visible pictures nearest to ``vector`` (HNSW cosine; the tenant and ACL filter
    inside the index scan, which goes on until it has ``k`` visible rows)."""
    with conn.pipeline():
        set_search_settings(conn, min(MAX_EF_SEARCH, max(40, k * CANDIDATES_PER_HIT)))
        rows = conn.execute(f"""
            SELECT nearest.id, nearest.document_id::text, nearest.page, nearest.kind, nearest.bbox, nearest.width,
                   nearest.height, 1 - nearest.distance, d.source_enc
            FROM (SELECT id, document_id, page, kind, bbox, width, height, embedding <=> %(vector)s AS distance
                  FROM images WHERE tenant_id = %(tenant)s AND {_VISIBLE}
                  ORDER BY embedding <=> %(vector)s LIMIT %(k)s) nearest
            JOIN documents d ON d.id = nearest.document_id
            ORDER BY nearest.distance, nearest.id""", {
            "tenant": principal.tenant, "vector": Vector(vector), "k": k,
            "principal_user": [principal.user], "principal_roles": sorted(principal.roles | {"*"}),
        }, prepare=False).fetchall()  # a generic plan would not see the tenant's partition
    return [ImageRow(image_id=r[0], document_id=r[1], page=r[2], kind=r[3], bbox=r[4], width=r[5], height=r[6],
                     similarity=float(r[7]), source_enc=r[8]) for r in rows]


_DOCUMENT_COLUMNS = ("id::text, media_type, page_count, chunk_count, finding_count, owner_user, acl_users,"
                     " acl_roles, source_enc, metadata_enc, created_at")


def visible_documents(conn: psycopg.Connection, principal: Principal, document_id: str | None = None,
                      limit: int = 1000, offset: int = 0) -> list[tuple]:
    """Documents the principal may read (ACL applied in the query), newest first."""
    params = {"principal_user": [principal.user], "principal_roles": sorted(principal.roles | {"*"}),
              "document_id": document_id, "limit": limit, "offset": offset}
    return conn.execute(
        f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE {_VISIBLE}"
        " AND (%(document_id)s::uuid IS NULL OR id = %(document_id)s::uuid)"
        " ORDER BY created_at DESC, id LIMIT %(limit)s OFFSET %(offset)s", params).fetchall()


def document_owner(conn: psycopg.Connection, document_id: str) -> str | None:
    row = conn.execute("SELECT owner_user FROM documents WHERE id = %s::uuid", [document_id]).fetchone()
    return row[0] if row else None


def set_acl(conn: psycopg.Connection, document_id: str, users: Sequence[str], roles: Sequence[str]) -> bool:
    """False when the document does not exist (any more)."""
    if not conn.execute("UPDATE documents SET acl_users = %s, acl_roles = %s WHERE id = %s::uuid",
                        [list(users), list(roles), document_id]).rowcount:
        return False
    for table in ("chunks", "images"):
        conn.execute(sql.SQL("UPDATE {} SET acl_users = %s, acl_roles = %s WHERE document_id = %s::uuid").format(
            sql.Identifier(table)), [list(users), list(roles), document_id])
    return True


def delete_document(conn: psycopg.Connection, document_id: str) -> bool:
    return conn.execute("DELETE FROM documents WHERE id = %s::uuid", [document_id]).rowcount > 0
