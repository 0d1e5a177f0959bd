"""Picture search: docveil's retrieval path next to the raw pgvector query, and recall@10.

    .venv/bin/python benchmarks/picture_search.py [--pictures 20000] [--tenants 10] [--queries 200]
                                                  [--dimension 512] [--rounds 3] [--seed 7]

Vectors: ``--pictures`` unit vectors of ``--dimension`` (512: CLIP ViT-B/32's space) with a
direction they all share, drawn around 400 cluster centres (photos of the same sites, forms of
the same kind: unrelated pictures at a cosine near 0.3, cluster mates near 0.7), spread over the tenants
in equal numbers, 5 pictures a document; 80% of documents tenant-wide, 20% for their owner only.
Queries are pictures of the corpus with noise added (another photo of the same thing), each made
by a member of the picture's tenant (the owner for half of them). No model runs: this measures
the store, as ``benchmarks/image_encoder.py`` measures the encoder.

The rows are written with the functions ``Engine`` uses (``repository.insert_document`` with the
source name encrypted under the tenant's data key, ``repository.insert_images`` with the ACL), in
each tenant's transaction as the application role; the HNSW index is the one
``Database.ensure_image_vectors`` creates (one graph per tenant partition), built after the load.

Paths, each query in rotating order, ``--rounds`` times, one client:

* (b) docveil: what ``Engine.search_images`` runs once the query is embedded: authorisation, the
  tenant transaction, ``Engine.retrieve_images`` (the tenant- and ACL-filtered HNSW search under
  row-level security, decryption of each hit's source) and the audit record, committed;
* (c) raw: ``SELECT id FROM raw_images ORDER BY embedding <=> $1 LIMIT k`` as the superuser on a
  plain table holding the same vectors with one HNSW index;
* (d) raw, filtered: (c) with the tenant and the ACL test, iterative scan on.

What ranking pictures adds to a text search: each picture stands on its own page with one chunk
of generated text (a ``--text-dimension`` vector near its picture's cluster, as a caption's
would be), and

* (e) docveil's text retrieval path (``Engine.retrieve`` and the audit record, as
  ``Engine.search`` runs it once the query is embedded), text-only: the statement used without
  an image model;
* (f) the same with the query's picture vector: the statement with pictures as a third retriever.

Recall@10 compares (b) with exact search (numpy) over the pictures the principal may see.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

PER_DOCUMENT = 5


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


WORDS = ("gate", "barrier", "fence", "roof", "pump", "valve", "crane", "ladder", "boiler", "meter", "cable", "drain")


def caption(cluster: int, picture: int) -> str:
    """Generated caption text: words of the picture's cluster, and of the picture itself."""
    return (f"Inspection photo: {WORDS[cluster % 12]} {WORDS[cluster // 12 % 12]} at site {cluster},"
            f" {WORDS[picture % 12]} checked")


def corpus(pictures: int, tenants: int, dimension: int, seed: int, text_dimension: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    # CLIP-like geometry: a direction every picture shares (unrelated pictures still have a cosine
    # near 0.3), a centre per cluster, and each picture's own part (cluster mates near 0.7).
    common = unit(rng.standard_normal((1, dimension)))
    centres = unit(rng.standard_normal((400, dimension)))
    cluster = rng.integers(0, len(centres), pictures)
    vectors = unit(0.7 * common + centres[cluster] + 0.6 * unit(rng.standard_normal((pictures, dimension))))
    document = np.arange(pictures) // PER_DOCUMENT
    tenant = document % tenants
    private = rng.random(document.max() + 1) < 0.2
    # Caption vectors in the text model's space, clustered like their pictures.
    text_centres = unit(rng.standard_normal((len(centres), text_dimension)))
    text_vectors = unit(text_centres[cluster] + 0.8 * unit(rng.standard_normal((pictures, text_dimension))))
    return {"vectors": vectors, "document": document, "tenant": tenant, "private": private[document],
            "cluster": cluster, "text_vectors": text_vectors, "text_centres": text_centres}


def owner(document: int) -> str:
    return f"user{document % 20}"


def load(engine, data: dict[str, np.ndarray], dimension: int) -> tuple[np.ndarray, dict[str, int]]:
    """Documents and pictures through docveil's functions; returns the picture ids in order (ids
    count per tenant) and each document's tenant."""
    from docveil.security.crypto import encrypt_field
    from docveil.security.keyring import DATA
    from docveil.store import repository
    from docveil.types import Chunk, Picture, RedactedImage, RedactedText

    database = engine.database
    database.ensure_image_vectors("bench-clip", dimension)
    database.ensure_text_vectors("bench-text", data["text_vectors"].shape[1])
    with database.admin() as conn:
        conn.execute("DROP INDEX images_embedding_hnsw")
        conn.execute("DROP INDEX chunks_embedding_hnsw")
    ids = np.zeros(len(data["vectors"]), dtype=np.int64)
    document_tenants: dict[str, int] = {}
    documents = data["document"]
    for tenant in sorted(set(data["tenant"].tolist())):
        name = f"tenant{tenant}"
        rows = np.flatnonzero(data["tenant"] == tenant)
        for first in range(0, len(rows), 500):
            chunk = rows[first:first + 500]
            with database.transaction(name) as conn:
                key = engine.keyring.current(conn, name, DATA)
                for number in sorted(set(documents[chunk].tolist())):
                    members = chunk[documents[chunk] == number]
                    document_id = str(uuid.UUID(int=int(number) + 1, version=4))
                    private = bool(data["private"][members[0]])
                    users, roles = ((owner(number),), ()) if private else ((), ("*",))
                    repository.insert_document(conn, repository.DocumentRow(
                        id=document_id, tenant=name, content_hash=uuid.uuid4().hex, media_type="application/pdf",
                        page_count=1, chunk_count=0, finding_count=0,
                        source_enc=encrypt_field(key.key, f"/srv/{name}/site-{number:06d}.pdf", tenant=name,
                                                 owner=document_id, field="source", key_version=key.version),
                        metadata_enc=encrypt_field(key.key, "{}", tenant=name, owner=document_id, field="metadata",
                                                   key_version=key.version),
                        key_version=key.version, owner_user=owner(number), acl_users=users, acl_roles=roles,
                        manifest=[]))
                    blank = RedactedImage(pixels=None, width=640, height=480, page=1, regions=(),
                                          text=RedactedText(""), char_boxes=())
                    pictures = [Picture(ordinal, ordinal + 1, "embedded", None, blank)
                                for ordinal in range(len(members))]
                    reserved = repository.reserve_ids(conn, name, chunks=len(members), images=len(members))
                    repository.insert_images(conn, name, document_id, pictures, data["vectors"][members],
                                             list(users), list(roles), reserved.first_image)
                    captions = [Chunk(ordinal, RedactedText(caption(int(data["cluster"][member]), int(member))),
                                      ordinal + 1, 0, 40) for ordinal, member in enumerate(members)]
                    repository.insert_chunks(conn, name, document_id, captions, data["text_vectors"][members],
                                             list(users), list(roles), reserved.first_chunk)
                    found = conn.execute("SELECT id FROM images WHERE document_id = %s ORDER BY ordinal",
                                         [document_id]).fetchall()
                    ids[members] = [row[0] for row in found]
                    document_tenants[document_id] = tenant
    with database.admin() as conn:
        conn.execute("CREATE INDEX images_embedding_hnsw ON images USING hnsw (embedding vector_cosine_ops)")
        conn.execute("CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops)")
        conn.execute("VACUUM ANALYZE images")
        conn.execute("VACUUM ANALYZE chunks")
    return ids, document_tenants


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    values = np.array(samples) * 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99)), 1000 / float(values.mean())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pictures", type=int, default=20000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dimension", type=int, default=512)
    parser.add_argument("--text-dimension", type=int, default=384)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    from docveil.config import Settings
    from docveil.engine import Engine
    from docveil.store.embedded_postgres import EmbeddedPostgres
    from docveil.types import Principal, RedactedText

    home = Path(tempfile.mkdtemp(prefix="docveil-bench-pictures-"))
    home.chmod(0o711)
    data = corpus(args.pictures, args.tenants, args.dimension, args.seed, args.text_dimension)
    engine = Engine(Settings(home=home, load_entry_points=False))
    try:
        started = time.perf_counter()
        ids, document_tenants = load(engine, data, args.dimension)
        print(f"loaded {args.pictures:,} pictures of {args.tenants} tenants in {time.perf_counter() - started:.1f} s")
        superuser = EmbeddedPostgres(home).acquire().conninfo(engine.settings.database)
        raw = psycopg.connect(superuser, autocommit=True)
        register_vector(raw)
        raw.execute("CREATE EXTENSION IF NOT EXISTS vector")
        raw.execute(f"CREATE TABLE raw_images (id bigint PRIMARY KEY, tenant_id text, acl_users text[],"
                    f" acl_roles text[], embedding vector({args.dimension}))")
        # Its own ids, as pgvector is used alone (docveil's count per tenant).
        rows = raw.execute("SELECT row_number() OVER (ORDER BY tenant_id, id), tenant_id, acl_users, acl_roles,"
                           " embedding FROM images").fetchall()
        with raw.cursor().copy("COPY raw_images FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.execute("CREATE INDEX ON raw_images USING hnsw (embedding vector_cosine_ops)")
        raw.execute("VACUUM ANALYZE raw_images")

        rng = np.random.default_rng(args.seed + 1)
        picks = rng.choice(len(ids), args.queries, replace=False)
        queries = []
        for pick in picks:
            number = int(data["document"][pick])
            user = owner(number) if rng.random() < 0.5 else f"user{rng.integers(0, 20)}"
            vector = unit(data["vectors"][pick][None] + 0.02 * rng.standard_normal((1, args.dimension)))[0]
            cluster = int(data["cluster"][pick])
            words = RedactedText(f"{WORDS[cluster % 12]} {WORDS[cluster // 12 % 12]} damage")
            text_vector = unit(data["text_centres"][cluster][None]
                               + 0.8 * rng.standard_normal((1, args.text_dimension)) / np.sqrt(args.text_dimension))[0]
            queries.append((Principal(f"tenant{data['tenant'][pick]}", user), vector, words, text_vector))

        def text_path(principal, words, text_vector, picture_vector):
            engine._authorize(principal, "search", {} if picture_vector is None else {"index": "chunks+images"})
            with engine._transaction(principal) as conn:
                hits = engine.retrieve(conn, principal, words, text_vector, args.k, picture_vector=picture_vector)
                engine._audit_search(conn, principal, "bench", hits, args.k, pictures=picture_vector is not None)
            return [hit.chunk_id for hit in hits]

        def docveil_path(principal, vector):
            engine._authorize(principal, "search", {"index": "images"})
            with engine._transaction(principal) as conn:
                hits = engine.retrieve_images(conn, principal, vector, args.k)
                engine._audit_picture_search(conn, principal, "bench", hits, args.k, "image")
            return [(hit.document_id, hit.image_id) for hit in hits]

        def raw_path(principal, vector):
            return [r[0] for r in raw.execute("SELECT id FROM raw_images ORDER BY embedding <=> %s LIMIT %s",
                                              [vector, args.k])]

        def raw_filtered(principal, vector):
            with raw.transaction():
                raw.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
                return [r[0] for r in raw.execute(
                    "SELECT id FROM raw_images WHERE tenant_id = %s AND (acl_users && %s OR acl_roles && %s)"
                    " ORDER BY embedding <=> %s LIMIT %s",
                    [principal.tenant, [principal.user], ["*"], vector, args.k])]

        paths = {"b": lambda q: docveil_path(q[0], q[1]), "c": lambda q: raw_path(q[0], q[1]),
                 "d": lambda q: raw_filtered(q[0], q[1]), "e": lambda q: text_path(q[0], q[2], q[3], None),
                 "f": lambda q: text_path(q[0], q[2], q[3], q[1])}
        samples: dict[str, list[float]] = {name: [] for name in paths}
        answers: dict[int, list[tuple[str, int]]] = {}
        moved = 0  # text searches whose hits ranking pictures changed
        for query in queries[:20]:  # warm-up
            for path in paths.values():
                path(query)
        for round_ in range(args.rounds):
            for index, query in enumerate(queries):
                names = list(paths)
                names = names[(index + round_) % len(names):] + names[:(index + round_) % len(names)]
                results = {}
                for name in names:
                    start = time.perf_counter()
                    results[name] = paths[name](query)
                    samples[name].append(time.perf_counter() - start)
                answers[index] = results["b"]
                moved += results["e"] != results["f"]

        recalls, foreign = [], 0
        owners = np.array([owner(int(d)) for d in data["document"]])
        for index, (principal, vector, _, _) in enumerate(queries):
            tenant = int(principal.tenant.removeprefix("tenant"))
            mask = (data["tenant"] == tenant) & (~data["private"] | (owners == principal.user))
            visible_ids = set(ids[mask].tolist())
            foreign += sum(1 for document_id, found in answers[index]
                           if document_tenants[document_id] != tenant or found not in visible_ids)
            distances = 1 - data["vectors"][mask] @ vector
            threshold = np.sort(distances)[min(args.k, len(distances)) - 1]
            exact = set(ids[mask][distances <= threshold + 1e-6].tolist())
            recalls.append(len({found for _, found in answers[index]} & exact) / min(args.k, len(distances)))

        labels = {"b": "(b) docveil retrieval path", "c": "(c) raw pgvector", "d": "(d) raw, tenant + ACL filter",
                  "e": "(e) docveil text search, text only", "f": "(f) docveil text search + pictures"}
        print(f"{'path':38s} {'p50 ms':>8s} {'p99 ms':>8s} {'QPS':>7s}")
        stats = {name: percentiles(values) for name, values in samples.items()}
        for name, (p50, p99, qps) in stats.items():
            print(f"{labels[name]:38s} {p50:8.2f} {p99:8.2f} {qps:7.0f}")
        print(f"(b)/(c) p50 {stats['b'][0] / stats['c'][0]:.2f}x, (b)/(d) {stats['b'][0] / stats['d'][0]:.2f}x, "
              f"(d)/(c) {stats['d'][0] / stats['c'][0]:.2f}x")
        print(f"(f)/(e) p50 {stats['f'][0] / stats['e'][0]:.2f}x: what ranking pictures adds to a text search;"
              f" their hits differed in {moved} of {len(queries) * args.rounds} searches")
        print(f"recall@{args.k} of (b) against exact search over visible pictures: mean {np.mean(recalls):.3f},"
              f" worst {min(recalls):.2f}; hits outside the tenant or ACL: {foreign}")
        raw.close()
    finally:
        engine.close()
        EmbeddedPostgres(home).stop()
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
