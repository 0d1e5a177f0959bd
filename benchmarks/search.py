"""Search latency and recall: docveil's ``Engine.search`` next to the raw pgvector query.

    .venv/bin/python benchmarks/search.py [--chunks 100000] [--tenants 10] [--queries 200]
                                          [--seed N] [--json out.json]

One process, one embedded PostgreSQL (durable: fsync on), one corpus of generated business text
(``search_corpus.py``) embedded with docveil's MiniLM encoder (vectors cached on disk, see
``search_embeddings.py``) and written straight into docveil's schema (``search_load.py``).
Each held-out query is then run, in rotating order, through:

(a) docveil, end to end: ``Engine.search(text, principal, k=10)``: authorisation, query
    pseudonymisation (Presidio and vault look-up), query encoding, hybrid retrieval under
    row-level security and the document ACL, decryption of each hit's source name, and the
    hash-chained audit record, committed.
(b) docveil's retrieval path for the same query vector: what ``Engine.search`` runs once the
    query is pseudonymised and encoded, through the same calls (``Engine._authorize``,
    ``Engine._transaction``, ``Engine.retrieve``: the search SQL and decryption of the sources,
    ``Engine._audit_search``, commit).
(c) raw pgvector: ``SELECT id FROM raw_chunks ORDER BY embedding <=> $1 LIMIT 10`` as the
    superuser (no row-level security, no ACL, no fusion), default ``hnsw.ef_search``, on a plain
    table holding the same tenants, ACLs and vectors with one HNSW index over all of them, keyed
    by corpus row (docveil's chunk ids count per tenant).
(d) raw pgvector filtered like docveil: the same with ``tenant_id = $2`` and the ACL test, and
    pgvector's iterative scan, still as the superuser.

Latencies are per query, one client, sequential; QPS is queries over summed latency. Recall@10
compares each HNSW result with an exact search (numpy over every vector the principal may see).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rich.console import Console
from rich.table import Table
from search_corpus import BenchQuery, Corpus, generate
from search_embeddings import (
    cache_path,
    default_cache_dir,
    encode_and_cache,
    load_cached,
)
from search_load import LoadedCorpus, load_corpus, visible_document_mask

DEFAULT_SEED = 2024
K = 10
TARGET_RECALL = 0.95
TARGET_RATIO = 1.5
EF_SWEEP = (40, 64, 100, 200, 400)
TIE_TOLERANCE = 1e-5  # cosine distances closer than this to the 10th best count as ties
WARM_UP_FULL = 10
SQL_STEP = "retrieve: search_chunks (hnsw settings + search SQL)"

RAW_SQL = "SELECT id FROM raw_chunks ORDER BY embedding <=> %s LIMIT %s"
RAW_FILTERED_SQL = ("SELECT id FROM raw_chunks WHERE tenant_id = %(tenant)s AND {visible}"
                    " ORDER BY embedding <=> %(vector)s LIMIT %(k)s")
# More candidates than any tenant has chunks: the keyword retriever alone, unlimited, counts its matches.
ALL_CANDIDATES = 2**31 - 1


@dataclass(frozen=True)
class PreparedQuery:
    query: BenchQuery
    principal: Any
    redacted: Any  # RedactedText, as Engine.search embeds it
    vector: np.ndarray
    # The parameters repository.search_chunks passed to its statement for this query (words,
    # token digests, keywords flag, ACL, ...), recorded from a real Engine.retrieve call.
    search_params: dict[str, Any]


@dataclass
class Samples:
    label: str
    seconds: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        return float(np.percentile(self.seconds, q)) if self.seconds else float("nan")

    @property
    def qps(self) -> float:
        total = sum(self.seconds)
        return len(self.seconds) / total if total else float("nan")

    def summary(self) -> dict[str, float]:
        return {"p50_ms": self.p(50) * 1e3, "p99_ms": self.p(99) * 1e3,
                "mean_ms": float(np.mean(self.seconds)) * 1e3, "qps": self.qps, "n": len(self.seconds)}


class StepClock:
    """Seconds per named step, summed per query."""

    def __init__(self) -> None:
        self.steps: dict[str, list[float]] = defaultdict(list)
        self._current: dict[str, float] = defaultdict(float)

    def add(self, name: str, seconds: float) -> None:
        self._current[name] += seconds

    def pending(self, name: str | None = None) -> float:
        """Seconds recorded so far for the query in progress (in step ``name``, or in all)."""
        return self._current.get(name, 0.0) if name is not None else sum(self._current.values())

    def end_query(self) -> None:
        for name, seconds in self._current.items():
            self.steps[name].append(seconds)
        self._current.clear()

    @contextmanager
    def wrap(self, owner: Any, attribute: str, name: str) -> Iterator[None]:
        """Time every call of ``owner.attribute`` (an instance or a module) as step ``name``."""
        original = getattr(owner, attribute)
        had_own = attribute in vars(owner)

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.add(name, time.perf_counter() - start)

        setattr(owner, attribute, timed)
        try:
            yield
        finally:
            if had_own:
                setattr(owner, attribute, original)
            else:
                delattr(owner, attribute)

    def medians_ms(self) -> dict[str, float]:
        return {name: float(np.median(values)) * 1e3 for name, values in self.steps.items()}


_VECTOR_LITERAL = re.compile(r"'\[[-0-9.e,]+\]'::vector")


def _short_plan(lines: Sequence[str]) -> list[str]:
    return [_VECTOR_LITERAL.sub("'[query vector]'::vector", line) for line in lines]


def retriever_sql(search_sql: str, select: str) -> str:
    """``search_sql``'s WITH clause followed by ``select`` instead of its final SELECT, to run one
    of its retrievers on its own with the same text (PostgreSQL skips CTEs nothing reads)."""
    final = list(re.finditer(r"^SELECT\b", search_sql, re.MULTILINE))
    head = search_sql[:final[-1].start()] if final else ""
    if not head.lstrip().startswith("WITH") or not all(f"{cte} AS (" in head for cte in ("semantic", "keyword")):
        raise RuntimeError("repository._SEARCH_SQL no longer has the shape this benchmark expects "
                           "(WITH semantic AS (...), keyword AS (...) ... SELECT); update retriever_sql")
    return head + select


class _RecordingConnection:
    """A connection that remembers the parameters of one statement and passes everything on."""

    def __init__(self, conn: Any, statement: str) -> None:
        self._conn = conn
        self._statement = statement
        self.params: dict[str, Any] | None = None

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if query is self._statement:
            self.params = dict(params)
        return self._conn.execute(query, params, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


# ---------------------------------------------------------------------------------------------
# The four paths


class Paths:
    def __init__(self, engine: Any, raw_conn: Any, filtered_conn: Any, k: int) -> None:
        from docveil.store import repository

        self.engine = engine
        self.repository = repository
        self.raw_conn = raw_conn
        self.filtered_conn = filtered_conn
        self.k = k
        self.filtered_sql = RAW_FILTERED_SQL.format(visible=repository._VISIBLE)
        self.semantic_sql = retriever_sql(repository._SEARCH_SQL,
                                          "SELECT id, 1 - similarity FROM semantic ORDER BY rank")
        self.keyword_sql = retriever_sql(repository._SEARCH_SQL, "SELECT count(*) FROM keyword")
        # As search_chunks sets it.
        self.docveil_ef_search = min(getattr(repository, "MAX_EF_SEARCH", 1000),
                                     max(40, k * repository.CANDIDATES_PER_HIT))

    def full(self, q: PreparedQuery) -> list[Any]:
        """(a) Engine.search, end to end."""
        return self.engine.search(q.query.text, q.principal, k=self.k)

    def retrieval(self, q: PreparedQuery, clock: StepClock | None = None) -> list[Any]:
        """(b) Engine.search after the query is pseudonymised and encoded: the same calls, in its
        order. With ``clock``, ``repository.search_chunks`` must be wrapped as step ``SQL_STEP``."""
        engine, principal, k = self.engine, q.principal, self.k
        tick = time.perf_counter
        t0 = tick()
        engine._authorize(principal, "search", {})
        t1 = tick()
        with engine._transaction(principal.tenant) as conn:
            t2 = tick()
            hits = engine.retrieve(conn, principal, q.redacted, q.vector, k)
            t3 = tick()
            engine._audit_search(conn, principal, q.query.text, hits, k, pictures=False)
            t4 = tick()
        t5 = tick()
        if clock is not None:
            for name, seconds in (("authorize", t1 - t0), ("begin + set tenant", t2 - t1),
                                  ("retrieve: decrypt sources + hits",
                                   t3 - t2 - clock.pending(SQL_STEP)),
                                  ("_audit_search (audit keys + append)", t4 - t3),
                                  ("commit + audit sinks", t5 - t4)):
                clock.add(name, seconds)
            clock.end_query()
        return hits

    def raw(self, q: PreparedQuery) -> list[int]:
        """(c) the plain pgvector query, no RLS, no ACL, no fusion."""
        from pgvector import Vector

        return [r[0] for r in self.raw_conn.execute(RAW_SQL, [Vector(q.vector), self.k]).fetchall()]

    def raw_filtered(self, q: PreparedQuery) -> list[int]:
        """(d) pgvector with docveil's tenant and ACL filters, still as the superuser."""
        from pgvector import Vector

        return [r[0] for r in self.filtered_conn.execute(self.filtered_sql, {
            "tenant": q.principal.tenant, "vector": Vector(q.vector), "k": self.k,
            **self.acl_params(q)}).fetchall()]

    @staticmethod
    def acl_params(q: PreparedQuery) -> dict[str, list[str]]:
        return {"principal_user": [q.principal.user], "principal_roles": sorted(q.principal.roles | {"*"})}

    @contextmanager
    def tenant_session(self, q: PreparedQuery, ef_search: int | None = None) -> Iterator[Any]:
        """A tenant transaction set up as search_chunks sets it (iterative scan, ef_search)."""
        with self.engine.database.transaction(q.principal.tenant) as conn:
            ef = ef_search if ef_search is not None else self.docveil_ef_search
            self.repository.set_search_settings(conn, ef)
            yield conn

    def semantic(self, q: PreparedQuery, ef_search: int | None = None) -> list[tuple[int, float]]:
        """docveil's vector retriever alone (the ``semantic`` CTE), under RLS: (id, distance)."""
        with self.tenant_session(q, ef_search) as conn:
            rows = conn.execute(self.semantic_sql, q.search_params, prepare=False).fetchall()
        return sorted(((int(r[0]), float(r[1])) for r in rows), key=lambda r: r[1])

    def keyword(self, q: PreparedQuery, candidates: int | None = None) -> int:
        """docveil's full-text retriever alone (the ``keyword`` CTE), under RLS: rows it returns
        (with ``candidates=ALL_CANDIDATES``: every visible chunk it matches, each of which is ranked)."""
        params = q.search_params if candidates is None else {**q.search_params, "candidates": candidates}
        with self.tenant_session(q) as conn:
            return int(conn.execute(self.keyword_sql, params, prepare=False).fetchone()[0])

    def whole_statement(self, q: PreparedQuery) -> float:
        """Seconds of repository._SEARCH_SQL alone, run as search_chunks runs it."""
        with self.tenant_session(q) as conn:
            start = time.perf_counter()
            conn.execute(self.repository._SEARCH_SQL, q.search_params, prepare=False).fetchall()
            return time.perf_counter() - start

    def explain(self, q: PreparedQuery) -> dict[str, list[str]]:
        """EXPLAIN ANALYZE of docveil's search SQL (as the app role, under RLS) and of the raw query."""
        from pgvector import Vector

        with self.tenant_session(q) as conn:
            docveil_plan = [r[0] for r in conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + self.repository._SEARCH_SQL,
                                                       q.search_params, prepare=False).fetchall()]
        raw_plan = [r[0] for r in self.raw_conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + RAW_SQL,
                                                        [Vector(q.vector), self.k]).fetchall()]
        return {"docveil_search_sql": _short_plan(docveil_plan), "raw_sql": _short_plan(raw_plan)}


# ---------------------------------------------------------------------------------------------
# Exact search and recall


class Exact:
    """Exact cosine top-k with numpy over the vectors a principal may see."""

    def __init__(self, corpus: Corpus, loaded: LoadedCorpus, vectors: np.ndarray) -> None:
        self.corpus = corpus
        self.vectors = vectors
        self.loaded = loaded
        self.index_of = loaded.chunk_index
        self._masks: dict[tuple, np.ndarray] = {}
        self._thresholds: dict[tuple, float] = {}

    def visible_chunks(self, q: PreparedQuery) -> np.ndarray:
        key = (q.principal.tenant, q.principal.user, tuple(sorted(q.principal.roles)))
        if key not in self._masks:
            documents = visible_document_mask(self.corpus, *key)
            self._masks[key] = np.flatnonzero(documents[self.loaded.chunk_document])
        return self._masks[key]

    def distances(self, q: PreparedQuery, rows: np.ndarray | None) -> np.ndarray:
        chosen = self.vectors if rows is None else self.vectors[rows]
        return 1.0 - chosen @ q.vector

    def threshold(self, q: PreparedQuery, filtered: bool, k: int) -> float:
        key = (id(q), filtered, k)
        if key not in self._thresholds:
            distances = self.distances(q, self.visible_chunks(q) if filtered else None)
            self._thresholds[key] = (float(np.partition(distances, k - 1)[k - 1]) if len(distances) >= k
                                     else float("inf"))
        return self._thresholds[key]

    def rows(self, q: PreparedQuery, chunk_ids: Sequence[int]) -> list[int]:
        """Corpus rows of docveil's chunk ids in the querying tenant."""
        return [self.index_of[(q.principal.tenant, int(c))] for c in chunk_ids]

    def recall(self, q: PreparedQuery, rows_found: Sequence[int], filtered: bool, k: int) -> float:
        """Share of the exact top-k found among corpus rows (ties at the k-th distance count as found)."""
        limit = self.threshold(q, filtered, k) + TIE_TOLERANCE
        rows = np.array(rows_found[:k], dtype=np.int64)
        if len(rows) == 0:
            return 0.0
        wanted = min(k, len(self.visible_chunks(q)) if filtered else len(self.vectors))
        return min(1.0, float(np.sum(self.distances(q, rows) <= limit)) / wanted)


def leaks(corpus: Corpus, loaded: LoadedCorpus, q: PreparedQuery, document_ids: Sequence[str]) -> tuple[int, int]:
    """(hits from another tenant, hits the principal's ACL does not allow)."""
    from search_corpus import visible

    position = {document_id: index for index, document_id in enumerate(loaded.document_ids)}
    other_tenant = acl = 0
    for document_id in document_ids:
        document = corpus.documents[position[document_id]]
        if document.tenant != q.principal.tenant:
            other_tenant += 1
        elif not visible(document, q.principal.user, tuple(q.principal.roles)):
            acl += 1
    return other_tenant, acl


# ---------------------------------------------------------------------------------------------
# Running


def progress_printer(console: Console, label: str) -> Callable[[int, int], None]:
    state = {"next": 0.0, "start": time.perf_counter()}

    def report(done: int, total: int) -> None:
        if done == 0:
            state["start"] = time.perf_counter()
        if done / total >= state["next"] or done == total:
            elapsed = time.perf_counter() - state["start"]
            console.print(f"  {label}: {done:,}/{total:,} ({elapsed:.0f} s)")
            state["next"] = done / total + 0.1
    return report


def prepare_queries(engine: Any, corpus: Corpus) -> list[PreparedQuery]:
    """Pseudonymise each query as Engine.search does, embed them all once, and record the
    parameters Engine.retrieve gives the search statement for each."""
    from docveil.store import repository
    from docveil.types import Principal

    redacted = []
    for query in corpus.queries:
        with engine.database.transaction(query.tenant) as conn:
            redacted.append(engine.pseudonymize_query(conn, query.text, query.tenant))
    vectors = engine.text_encoder.encode(redacted)
    prepared = []
    for query, text, vector in zip(corpus.queries, redacted, vectors, strict=True):
        principal = Principal(query.tenant, query.user, frozenset(query.roles))
        with engine.database.transaction(query.tenant) as conn:
            recorder = _RecordingConnection(conn, repository._SEARCH_SQL)
            engine.retrieve(recorder, principal, text, vector, K)
        if recorder.params is None:
            raise RuntimeError("Engine.retrieve did not run repository._SEARCH_SQL; update prepare_queries")
        prepared.append(PreparedQuery(query, principal, text, vector, recorder.params))
    return prepared


LABELS = {"a": "(a) docveil Engine.search, end to end",
          "b": "(b) docveil retrieval path, query vector given",
          "c": "(c) raw pgvector SQL (superuser, no RLS/ACL/fusion)",
          "d": "(d) raw pgvector SQL + tenant/ACL filter, iterative scan"}


def time_sql_paths(paths: Paths, queries: Sequence[PreparedQuery], rounds: int,
                   clock: StepClock) -> tuple[dict[str, Samples], dict[int, list[Any]]]:
    """(b), (c) and (d) for every query, in rotating order so that none always runs first or
    right after another; returns the samples and (b)'s hits per query (last round)."""
    from docveil.store import repository

    samples = {name: Samples(LABELS[name]) for name in "bcd"}
    runners: dict[str, Callable[[PreparedQuery], Any]] = {
        "b": lambda q: paths.retrieval(q, clock), "c": paths.raw, "d": paths.raw_filtered}
    order = list(runners)
    hits: dict[int, list[Any]] = {}
    with clock.wrap(repository, "search_chunks", SQL_STEP):
        for round_ in range(rounds):
            for i, q in enumerate(queries):
                shift = (i + round_) % len(order)
                for name in order[shift:] + order[:shift]:
                    start = time.perf_counter()
                    result = runners[name](q)
                    samples[name].seconds.append(time.perf_counter() - start)
                    if name == "b":
                        hits[i] = result
    return samples, hits


def time_full(paths: Paths, queries: Sequence[PreparedQuery]) -> tuple[Samples, dict[int, list[Any]]]:
    """(a) on its own pass: the query encoder's threads would otherwise slow whatever runs next."""
    samples = Samples(LABELS["a"])
    hits: dict[int, list[Any]] = {}
    for i, q in enumerate(queries):
        start = time.perf_counter()
        hits[i] = paths.full(q)
        samples.seconds.append(time.perf_counter() - start)
    return samples, hits


def breakdown_full(paths: Paths, queries: Sequence[PreparedQuery]) -> dict[str, float]:
    """Median ms per step of Engine.search, from a separate instrumented pass."""
    from docveil.store import repository

    engine = paths.engine
    clock = StepClock()
    encoder = engine.text_encoder
    totals = []
    with (clock.wrap(engine, "_authorize", "authorize"),
          clock.wrap(engine.database, "ensure_text_vectors", "ensure_text_vectors (owner connection)"),
          clock.wrap(engine, "pseudonymize_query", "pseudonymize_query (Presidio + vault)"),
          clock.wrap(encoder, "encode", "encode query (MiniLM)"),
          clock.wrap(repository, "search_chunks", SQL_STEP),
          clock.wrap(engine, "_decrypt_sources", "decrypt sources"),
          clock.wrap(engine, "_audit_search", "_audit_search (audit keys + append)")):
        for q in queries:
            start = time.perf_counter()
            paths.full(q)
            total = time.perf_counter() - start
            totals.append(total)
            clock.add("rest (transaction, commit, sinks, hits)", total - clock.pending())
            clock.end_query()
    medians = clock.medians_ms()
    medians["total"] = float(np.median(totals)) * 1e3
    return medians


def sql_breakdown(paths: Paths, queries: Sequence[PreparedQuery]) -> dict[str, float]:
    """Median ms of each retriever of docveil's SQL alone and of the whole statement, and how
    many visible chunks the keyword retriever matches (and ranks) per query."""
    out: dict[str, list[float]] = defaultdict(list)
    matches = []
    for q in queries:
        for name, run in (("semantic CTE alone", lambda q=q: paths.semantic(q)),
                          ("keyword CTE alone", lambda q=q: paths.keyword(q))):
            start = time.perf_counter()
            run()
            out[name].append(time.perf_counter() - start)
        out["whole _SEARCH_SQL (statement only)"].append(paths.whole_statement(q))
        matches.append(paths.keyword(q, ALL_CANDIDATES))
    result = {name: float(np.median(values)) * 1e3 for name, values in out.items()}
    with_tokens = [q for q in queries if q.search_params["tokens"]]
    result["queries with pseudonym tokens (rows)"] = float(len(with_tokens))
    result["keyword matches per query (median rows)"] = float(np.median(matches))
    result["keyword matches per query (p90 rows)"] = float(np.percentile(matches, 90))
    result["queries with no keyword match (rows)"] = float(sum(1 for m in matches if m == 0))
    return result


def recall_report(paths: Paths, exact: Exact, queries: Sequence[PreparedQuery], corpus: Corpus,
                  loaded: LoadedCorpus, outputs: Sequence[dict[int, list[Any]]]) -> dict[str, Any]:
    """Recall of each HNSW query against exact search, the ef_search sweep, and an isolation
    check of every hit the timed passes returned (``outputs``: hits per query index)."""
    k = paths.k
    docveil_default, raw, filtered, fused = [], [], [], []
    leaks_total = {"other_tenant": 0, "acl": 0, "hits_checked": 0}
    sweep: dict[int, dict[str, list[float]]] = {ef: defaultdict(list) for ef in EF_SWEEP}
    for i, q in enumerate(queries):
        semantic = paths.semantic(q)
        docveil_default.append(exact.recall(q, exact.rows(q, [c for c, _ in semantic]), True, k))
        raw.append(exact.recall(q, paths.raw(q), False, k))
        filtered.append(exact.recall(q, paths.raw_filtered(q), True, k))
        fused.append(exact.recall(q, exact.rows(q, [h.chunk_id for h in outputs[0][i]]), True, k))
        # By document: chunk ids name a chunk only within its tenant, so the vector retriever's
        # bare ids cannot show a foreign hit.
        checked = [[h.document_id for h in output[i]] for output in outputs]
        for document_ids in checked:
            other, acl = leaks(corpus, loaded, q, document_ids)
            leaks_total["other_tenant"] += other
            leaks_total["acl"] += acl
            leaks_total["hits_checked"] += len(document_ids)
        for ef in EF_SWEEP:
            start = time.perf_counter()
            result = paths.semantic(q, ef)
            sweep[ef]["docveil_seconds"].append(time.perf_counter() - start)
            sweep[ef]["docveil_recall"].append(exact.recall(q, exact.rows(q, [c for c, _ in result]), True, k))
            paths.raw_conn.execute("SELECT set_config('hnsw.ef_search', %s, false)", [str(ef)])
            start = time.perf_counter()
            ids = paths.raw(q)
            sweep[ef]["raw_seconds"].append(time.perf_counter() - start)
            sweep[ef]["raw_recall"].append(exact.recall(q, ids, False, k))
        paths.raw_conn.execute("RESET hnsw.ef_search")
    sweep_out = {ef: {"docveil_recall": float(np.mean(v["docveil_recall"])),
                      "docveil_p50_ms": float(np.median(v["docveil_seconds"])) * 1e3,
                      "raw_recall": float(np.mean(v["raw_recall"])),
                      "raw_p50_ms": float(np.median(v["raw_seconds"])) * 1e3} for ef, v in sweep.items()}
    return {"docveil_semantic": float(np.mean(docveil_default)), "docveil_semantic_min": float(np.min(docveil_default)),
            "raw": float(np.mean(raw)), "raw_filtered": float(np.mean(filtered)),
            "fused_hits_vs_exact_vector_top10": float(np.mean(fused)),
            "ef_search_docveil": paths.docveil_ef_search,
            "sweep": sweep_out, "leaks": leaks_total}


# ---------------------------------------------------------------------------------------------
# Report


def print_report(console: Console, results: dict[str, Any]) -> None:
    table = Table(title=f"Search latency, k={K}, {results['queries']} queries ((b)-(d): {results['rounds']} rounds), "
                        "one client, sequential")
    for column in ("path", "p50 ms", "p99 ms", "mean ms", "QPS"):
        table.add_column(column, justify="left" if column == "path" else "right")
    for stats in results["latency"].values():
        table.add_row(stats["label"], f"{stats['p50_ms']:.2f}", f"{stats['p99_ms']:.2f}", f"{stats['mean_ms']:.2f}",
                      f"{stats['qps']:.0f}")
    console.print(table)
    ratios = results["ratios"]
    verdict = "meets" if ratios["b_over_c_p50"] <= TARGET_RATIO else "MISSES"
    console.print(f"p50 ratio (b)/(c) = {ratios['b_over_c_p50']:.2f}x ({verdict} the {TARGET_RATIO}x target); "
                  f"(a)/(c) = {ratios['a_over_c_p50']:.2f}x; (b)/(d) = {ratios['b_over_d_p50']:.2f}x; "
                  f"(d)/(c) = {ratios['d_over_c_p50']:.2f}x")

    for title, steps in (("(b) docveil retrieval path, median ms per step (timed pass)", results["breakdown_b"]),
                         ("(a) Engine.search, median ms per step (separate instrumented pass)", results["breakdown_a"]),
                         ("docveil's SQL, median ms (separate pass)", results["sql_breakdown"])):
        table = Table(title=title)
        table.add_column("step")
        table.add_column("median", justify="right")
        for name, value in steps.items():
            table.add_row(name, f"{value:.0f}" if "rows" in name else f"{value:.2f}")
        console.print(table)

    recall = results["recall"]
    verdict = "meets" if recall["docveil_semantic"] >= TARGET_RECALL else "MISSES"
    console.print(f"recall@{K} against exact search (tenant + ACL applied to both): docveil's HNSW retriever "
                  f"{recall['docveil_semantic']:.3f} at ef_search={recall['ef_search_docveil']} with iterative scan "
                  f"({verdict} the {TARGET_RECALL} target; worst query {recall['docveil_semantic_min']:.2f}); "
                  f"raw filtered (d) {recall['raw_filtered']:.3f}; raw unfiltered (c) {recall['raw']:.3f} "
                  f"against exact over all chunks")
    console.print(f"Engine.search's fused (vector + full-text) top {K} holds {recall['fused_hits_vs_exact_vector_top10']:.2f} "
                  "of the exact vector top 10 (fusion reorders by design; not a recall target)")
    table = Table(title="ef_search sweep (docveil: semantic retriever under RLS, iterative scan, LIMIT 40)")
    for column in ("ef_search", "docveil recall", "docveil p50 ms", "raw recall", "raw p50 ms"):
        table.add_column(column, justify="right")
    for ef, row in recall["sweep"].items():
        table.add_row(str(ef), f"{row['docveil_recall']:.3f}", f"{row['docveil_p50_ms']:.2f}",
                      f"{row['raw_recall']:.3f}", f"{row['raw_p50_ms']:.2f}")
    console.print(table)
    reaching = [ef for ef, row in recall["sweep"].items() if row["docveil_recall"] >= TARGET_RECALL]
    if recall["docveil_semantic"] < TARGET_RECALL:
        console.print(f"smallest ef_search in the sweep with recall >= {TARGET_RECALL}: "
                      f"{reaching[0] if reaching else 'none'}")
    leak = recall["leaks"]
    console.print(f"isolation: {leak['other_tenant']} hits from another tenant and {leak['acl']} hits outside the "
                  f"principal's ACL, of {leak['hits_checked']:,} checked")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="corpus size in chunks (default 100000)")
    parser.add_argument("--tenants", type=int, default=10, help="tenants the corpus is spread over (default 10)")
    parser.add_argument("--queries", type=int, default=200, help="held-out queries (default 200)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="corpus and query seed")
    parser.add_argument("--rounds", type=int, default=3,
                        help="passes of (b), (c), (d) over the queries (default 3); (a) runs once")
    parser.add_argument("--index", choices=("rebuild", "incremental"), default="rebuild",
                        help="build the HNSW index after the load (default) or insert into it row by row")
    parser.add_argument("--load-only", action="store_true", help="stop after loading (to time --index modes)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="text encoder device")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="where embeddings are cached (default ~/.cache/docveil-bench or $DOCVEIL_BENCH_CACHE)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DOCVEIL_HOME")
    args = parser.parse_args(argv)
    if args.chunks < 100 or args.tenants < 1 or args.queries < 1 or args.rounds < 1:
        parser.error("need at least 100 chunks, 1 tenant, 1 query and 1 round")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console(width=140, soft_wrap=True)
    # As root the embedded server runs as an unprivileged user, who must be able to enter this.
    home = Path(tempfile.mkdtemp(prefix="docveil-bench-search-"))
    home.chmod(0o711)
    if not args.keep:
        # Registered before anything acquires the server, so it runs after the release at exit
        # (which recreates the home's lock files) and leaves nothing behind.
        atexit.register(shutil.rmtree, home, ignore_errors=True)
    engine = raw_conn = filtered_conn = None
    try:
        import psycopg
        import torch
        from pgvector.psycopg import register_vector

        from docveil.config import Settings
        from docveil.engine import Engine
        from docveil.store.embedded_postgres import EmbeddedPostgres

        load_before = os.getloadavg()
        start = time.perf_counter()
        corpus = generate(args.chunks, args.tenants, args.queries, args.seed)
        words = sum(len(t.split()) for t in corpus.texts)
        console.print(f"corpus: {len(corpus.texts):,} chunks in {len(corpus.documents):,} documents over "
                      f"{args.tenants} tenants, {words / len(corpus.texts):.0f} words per chunk on average, "
                      f"{len(corpus.queries)} held-out queries; seed {args.seed}; "
                      f"generated in {time.perf_counter() - start:.1f} s")

        settings = Settings(home=home, device=args.device, load_entry_points=False)
        engine = Engine(settings)
        console.print("loading models (not timed)...")
        engine.warm_up()
        encoder = engine.text_encoder
        path = cache_path(args.cache_dir or default_cache_dir(), seed=args.seed, chunks=args.chunks,
                          tenants=args.tenants, model=encoder.name)
        found = load_cached(path, corpus.texts)
        if found is None:
            console.print(f"embedding {len(corpus.texts):,} chunks with {encoder.name} on {encoder.plan.device}; "
                          f"the vectors are cached in {path} for the next run")
            vectors, provenance = encode_and_cache(encoder, corpus.texts, path, progress_printer(console, "embedded"))
            where = f"computed now and cached in {path}"
        else:
            vectors, provenance = found
            source = provenance.get("prefix_of", path.name)
            where = f"read from the cache {path.parent / source}" + (" (first rows)" if "prefix_of" in provenance else "")
        console.print(f"vectors: {vectors.shape[0]:,} x {vectors.shape[1]} from {encoder.name}, {where}; "
                      f"encoded on {provenance['device']} in {provenance['precision']} ({provenance['seconds']} s "
                      f"for {provenance['count']:,} texts)")

        console.print("loading the corpus into docveil's schema: documents with encrypted source and metadata "
                      "through repository.insert_document, chunks through repository.insert_chunks, in each "
                      "tenant's transaction as the application role (row-level security on); no ingest pipeline")
        loaded = load_corpus(engine, corpus, vectors, index_mode=args.index,
                             progress=progress_printer(console, "loaded chunks"))
        report = loaded.report
        console.print(f"load: {report.chunks:,} chunks / {report.documents:,} documents inserted in "
                      f"{report.insert_seconds:.1f} s ({report.chunks / report.insert_seconds:,.0f} chunks/s, "
                      f"index {'built after the load' if report.index_mode == 'rebuild' else 'updated on every insert'}); "
                      f"HNSW build {report.index_seconds:.1f} s; VACUUM ANALYZE {report.analyze_seconds:.1f} s; "
                      f"index {report.index_bytes / 2**20:.0f} MiB, chunks table with indexes "
                      f"{report.table_bytes / 2**20:.0f} MiB; {report.index_definition}; raw queries' plain table "
                      f"copied and indexed in {report.raw_table_seconds:.1f} s")

        if args.load_only:
            if args.json:
                args.json.write_text(json.dumps({"chunks": args.chunks, "documents": len(corpus.documents),
                                                 "load": {**vars(report), "total_seconds": report.total_seconds}},
                                                indent=2), encoding="utf-8")
            return 0
        superuser = EmbeddedPostgres(home).acquire()
        raw_conn = psycopg.connect(superuser.conninfo(settings.database), autocommit=True)
        filtered_conn = psycopg.connect(superuser.conninfo(settings.database), autocommit=True)
        for conn in (raw_conn, filtered_conn):
            register_vector(conn)
        for conn in (raw_conn, filtered_conn):
            conn.execute("LOAD 'vector'")  # its settings exist once the library is loaded
        filtered_conn.execute("SET hnsw.iterative_scan = relaxed_order")
        versions = raw_conn.execute(
            "SELECT current_setting('server_version'), (SELECT extversion FROM pg_extension WHERE extname = 'vector'),"
            " current_setting('hnsw.ef_search'), current_setting('fsync'), current_setting('shared_buffers')"
        ).fetchone()
        queries = prepare_queries(engine, corpus)
        paths = Paths(engine, raw_conn, filtered_conn, K)
        console.print("warming up (every path over every query once, Engine.search over "
                      f"{min(WARM_UP_FULL, len(queries))}; not timed)...")
        for q in queries:
            paths.raw(q)
            paths.raw_filtered(q)
            paths.retrieval(q)
        for q in queries[:WARM_UP_FULL]:
            paths.full(q)

        console.print(f"timing (b), (c), (d) per query in rotating order, {args.rounds} round(s); "
                      "then (a) in its own pass...")
        clock = StepClock()
        samples, hits_b = time_sql_paths(paths, queries, args.rounds, clock)
        samples["a"], hits_a = time_full(paths, queries)
        samples = {name: samples[name] for name in "abcd"}
        console.print("breakdowns, EXPLAIN ANALYZE, recall and ef_search sweep (separate passes)...")
        breakdown_a = breakdown_full(paths, queries)
        sql_steps = sql_breakdown(paths, queries)
        plans = paths.explain(queries[0])
        exact = Exact(corpus, loaded, vectors)
        recall = recall_report(paths, exact, queries, corpus, loaded, [hits_a, hits_b])

        latency = {name: {"label": s.label, **s.summary()} for name, s in samples.items()}
        p50 = {name: s.p(50) for name, s in samples.items()}
        results: dict[str, Any] = {
            "chunks": args.chunks, "documents": len(corpus.documents), "tenants": args.tenants,
            "queries": len(queries), "rounds": args.rounds, "seed": args.seed, "k": K,
            "machine": {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                        "encoder_device": encoder.plan.device, "python": platform.python_version(),
                        "postgres": versions[0], "pgvector": versions[1], "default_ef_search": versions[2],
                        "fsync": versions[3], "shared_buffers": versions[4],
                        "load_before": " ".join(f"{x:.2f}" for x in load_before),
                        "load_after": " ".join(f"{x:.2f}" for x in os.getloadavg())},
            "vectors": {"cache": str(path), "from_cache": found is not None, **provenance},
            "load": {**vars(report), "total_seconds": report.total_seconds},
            "latency": latency,
            "ratios": {"b_over_c_p50": p50["b"] / p50["c"], "a_over_c_p50": p50["a"] / p50["c"],
                       "b_over_d_p50": p50["b"] / p50["d"], "d_over_c_p50": p50["d"] / p50["c"]},
            "breakdown_b": clock.medians_ms(), "breakdown_a": breakdown_a, "sql_breakdown": sql_steps,
            "recall": recall, "plans": plans,
        }
        console.print(f"PostgreSQL {versions[0]}, pgvector {versions[1]}, fsync {versions[3]}, shared_buffers "
                      f"{versions[4]}; {os.cpu_count()} CPUs, load average {results['machine']['load_before']} "
                      f"before, {results['machine']['load_after']} after")
        console.print("EXPLAIN ANALYZE of docveil's search SQL for the first query (app role, RLS on):")
        for line in plans["docveil_search_sql"]:
            console.print("  " + line, markup=False, highlight=False, soft_wrap=True)
        console.print("EXPLAIN ANALYZE of the raw query:")
        for line in plans["raw_sql"]:
            console.print("  " + line, markup=False, highlight=False, soft_wrap=True)
        print_report(console, results)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
            console.print(f"results written to {args.json}")
        return 0
    finally:
        for conn in (raw_conn, filtered_conn):
            if conn is not None:
                conn.close()
        if engine is not None:
            engine.close()
        from docveil.store.embedded_postgres import EmbeddedPostgres

        EmbeddedPostgres(home).stop()
        if args.keep:
            console.print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
