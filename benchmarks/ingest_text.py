"""Text ingest throughput: docveil's ``Engine.ingest`` next to a naive loop over the same files.

    .venv/bin/python benchmarks/ingest_text.py [--documents 2000] [--seed N]
                                               [--device auto|cpu|cuda] [--json out.json]
                                               [--batch-size 8] [--block 128 | --sequential]

Both sides run in one process, on one embedded PostgreSQL, over the same generated corpus
(plain text, Markdown and multi-page PDF with planted personal data; see ``corpus.py``):

* docveil: ``Engine.ingest`` with default settings: load, detect (Presidio through spaCy's
  ``nlp.pipe``), pseudonymise, chunk, encode in batches across documents, store (encrypted
  metadata, vault, row-level security, hash-chained audit record per document).
* naive: per document, read the text (``read_text`` / pypdfium2 ``get_text_range``),
  ``AnalyzerEngine.analyze``, ``AnonymizerEngine.anonymize``, the same chunker,
  ``SentenceTransformer.encode(chunks)``, one ``INSERT`` per chunk into a plain pgvector table
  with an HNSW index, one commit per document.

Same spaCy model and NER configuration, same recognizers and entity types, same score
threshold, same embedding model and device, same chunk size. Models are loaded and both sides
warmed up (on other documents) before the clocks start. The sides take turns over blocks of
the corpus (who goes first alternates), so other work on a shared machine slows both alike.
Afterwards each store is searched for every planted value (whitespace-normalised ``strpos``)
to show what was stored in clear.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import os
import platform
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Models come from installed packages: no hub lookups, no download progress bars.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from corpus import PLANTED_TYPES, CorpusDocument, generate_corpus
from rich.console import Console
from rich.table import Table

from docveil.engine import INGEST_BATCH_SIZE

TENANT = "bench"
NAIVE_DATABASE = "naive_bench"
WARM_UP_DOCUMENTS = 8
# Whitespace-normalised search, so a value wrapped across a PDF line still counts as found.
LEAK_SQL = """
SELECT p.entity, count(DISTINCT (p.doc, p.value))
FROM unnest(%s::{key}[], %s::text[], %s::text[]) AS p(doc, entity, value)
JOIN {table} c ON c.{column} = p.doc
WHERE strpos(regexp_replace(c.text, '\\s+', ' ', 'g'), p.value) > 0
GROUP BY p.entity
"""


@dataclass
class SideResult:
    name: str
    documents: int = 0
    pages: int = 0
    chunks: int = 0
    failed: int = 0
    seconds: float = 0.0
    stages: dict[str, float] = field(default_factory=dict)
    leaked: dict[str, int] = field(default_factory=dict)

    @property
    def documents_per_second(self) -> float:
        return self.documents / self.seconds if self.seconds else 0.0

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds if self.seconds else 0.0


class StageClock:
    """Accumulated wall time per named stage."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.totals[name] += time.perf_counter() - start

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.stage(name):
                return function(*args, **kwargs)
        return timed

    def reset(self) -> None:
        self.totals.clear()


class Progress:
    """Rich bars on a terminal; in a log file, a line per side every tenth of the corpus."""

    def __init__(self, console: Console, totals: dict[str, int]) -> None:
        self.console, self.totals = console, totals
        self._next_line = dict.fromkeys(totals, 0)
        self._bar = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
            from rich.progress import Progress as Bars

            self._bar = Bars(TextColumn("{task.description:<11}"), BarColumn(), MofNCompleteColumn(),
                             console=console, transient=True)
            self._tasks = {label: self._bar.add_task(label, total=total) for label, total in totals.items()}
            self._bar.start()

    def update(self, label: str, done: int, seconds: float) -> None:
        if self._bar is not None:
            self._bar.update(self._tasks[label], completed=done)
        elif done >= self._next_line[label] or done == self.totals[label]:
            self.console.print(f"  {label}: {done}/{self.totals[label]} documents, {seconds:.0f} s")
            self._next_line[label] = done + max(1, self.totals[label] // 10)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


# ---------------------------------------------------------------------------------------------
# docveil


class DocveilSide:
    """``Engine.ingest`` over slices of the corpus, timed, with a per-stage breakdown."""

    def __init__(self, engine: Any, batch_size: int) -> None:
        from docveil.types import Principal

        self.engine, self.batch_size = engine, batch_size
        self.principal = Principal(TENANT, "benchmark", frozenset({"ingest"}))
        self.result = SideResult("docveil")
        self.ids: dict[str, str] = {}
        self.failures: list[Any] = []
        self.clock = StageClock()
        hook_names = {"docveil_load_document": "load", "docveil_detect_text": "detect",
                      "docveil_chunk_document": "chunk"}
        started: list[float] = []

        def before(hook_name: str, _impls: Any, _kwargs: Any) -> None:
            if hook_name in hook_names:
                started.append(time.perf_counter())

        def after(_outcome: Any, hook_name: str, _impls: Any, _kwargs: Any) -> None:
            if hook_name in hook_names:
                self.clock.totals[hook_names[hook_name]] += time.perf_counter() - started.pop()

        # Instrumentation only: the stashed encoder's ``encode`` and the engine's per-document
        # store are timed in place; hook calls are timed through pluggy's call monitoring.
        encoder = engine.text_encoder
        encoder.encode = self.clock.wrap("encode", encoder.encode)
        if hasattr(engine, "_store"):
            engine._store = self.clock.wrap("store", engine._store)
        engine.plugin_manager.add_hookcall_monitoring(before, after)

    def warm_up(self, documents: Sequence[CorpusDocument]) -> None:
        self.engine.ingest([d.path for d in documents], self.principal, batch_size=self.batch_size)
        self.clock.reset()

    def ingest(self, documents: Sequence[CorpusDocument], progress: Progress) -> None:
        done, elapsed = self.result.documents + self.result.failed, self.result.seconds
        start = time.perf_counter()
        report = self.engine.ingest(
            [d.path for d in documents], self.principal, batch_size=self.batch_size,
            progress=lambda _stage, n, _total: progress.update(
                "docveil", done + n, elapsed + time.perf_counter() - start))
        self.result.seconds += time.perf_counter() - start
        fresh = [d for d in report.ingested if not d.duplicate]
        self.result.documents += len(fresh)
        self.result.pages += sum(d.pages for d in fresh)
        self.result.chunks += sum(d.chunks for d in fresh)
        self.result.failed += len(report.failed)
        self.failures.extend(report.failed)
        self.ids.update({d.source: d.document_id for d in fresh})

    def finish(self) -> SideResult:
        self.result.stages = dict(self.clock.totals)
        self.result.stages["redact and other"] = self.result.seconds - sum(self.clock.totals.values())
        return self.result


# ---------------------------------------------------------------------------------------------
# naive loop


@dataclass
class NaiveComponents:
    analyzer: Any
    anonymizer: Any
    model: Any
    entities: list[str]
    score_threshold: float
    chunk_size: int
    chunk_overlap: int


def build_naive(engine: Any, device: str) -> NaiveComponents:
    """Presidio's ``AnalyzerEngine`` and a ``SentenceTransformer``, new instances configured as
    docveil configures its own (same spaCy model and NER mapping, same recognizers and entity
    types, same embedding model and device), so only the calling pattern differs."""
    from presidio_anonymizer import AnonymizerEngine
    from sentence_transformers import SentenceTransformer

    from docveil.context import StageContext, Stash
    from docveil.stages.detect.pii_text import build_analyzer
    from docveil.stages.encode.text import resolve_model_path

    settings = engine.settings
    # A fresh stash: a second analyzer with its own spaCy pipeline, not docveil's instance.
    analyzer = build_analyzer(StageContext(settings, engine.hook, Stash()))
    model = SentenceTransformer(resolve_model_path(settings.text_model), device=device)
    return NaiveComponents(analyzer.engine.analyzer_engine, AnonymizerEngine(), model, list(analyzer.entities),
                           settings.score_threshold, settings.chunk_size, settings.chunk_overlap)


def naive_text(path: Path) -> tuple[str, int]:
    """The document's text and page count, read the simple way."""
    if path.suffix == ".pdf":
        import pypdfium2 as pdfium

        pdf = pdfium.PdfDocument(path)
        try:
            texts = []
            for page in pdf:
                textpage = page.get_textpage()
                texts.append(textpage.get_text_range())
                textpage.close()
                page.close()
            return "\n\n".join(texts), len(texts)
        finally:
            pdf.close()
    return path.read_text(encoding="utf-8"), 1


def naive_chunks(text: str, size: int, overlap: int) -> list[str]:
    """docveil's chunker (sentence windows of ``size`` characters), on the whole document."""
    from docveil.stages.chunk import chunk_page
    from docveil.types import RedactedPage, RedactedText

    return [c.text.text for c in chunk_page(RedactedPage(1, RedactedText(text)), size, overlap, 0)]


def open_naive_database(superuser_conninfo: Callable[[str], str], dimension: int) -> Any:
    import psycopg
    from pgvector.psycopg import register_vector
    from psycopg import sql

    with psycopg.connect(superuser_conninfo("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(NAIVE_DATABASE)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(NAIVE_DATABASE)))
    conn = psycopg.connect(superuser_conninfo(NAIVE_DATABASE))
    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    conn.execute(f"CREATE TABLE naive_chunks (id bigserial PRIMARY KEY, document text NOT NULL,"
                 f" ordinal integer NOT NULL, text text NOT NULL, embedding vector({dimension}) NOT NULL)")
    # The same vector index docveil keeps, so both sides end with a searchable store.
    conn.execute("CREATE INDEX ON naive_chunks USING hnsw (embedding vector_cosine_ops)")
    conn.commit()
    register_vector(conn)
    return conn


class NaiveSide:
    """The raw components called one document at a time."""

    def __init__(self, parts: NaiveComponents, conn: Any) -> None:
        self.parts, self.conn = parts, conn
        self.result = SideResult("naive loop")
        self.clock = StageClock()
        self.texts: dict[str, str] = {}

    def warm_up(self, documents: Sequence[CorpusDocument]) -> None:
        for document in documents:
            self._ingest_one(document.path)
        self.clock.reset()

    def ingest(self, documents: Sequence[CorpusDocument], progress: Progress) -> None:
        start = time.perf_counter()
        for document in documents:
            text, pages, chunks = self._ingest_one(document.path)
            self.texts[str(document.path)] = text
            self.result.documents += 1
            self.result.pages += pages
            self.result.chunks += chunks
            progress.update("naive loop", self.result.documents,
                            self.result.seconds + time.perf_counter() - start)
        self.result.seconds += time.perf_counter() - start

    def finish(self) -> SideResult:
        self.result.stages = dict(self.clock.totals)
        return self.result

    def _ingest_one(self, path: Path) -> tuple[str, int, int]:
        parts, clock = self.parts, self.clock
        with clock.stage("load"):
            text, pages = naive_text(path)
        with clock.stage("detect"):
            findings = parts.analyzer.analyze(text=text, language="en", entities=parts.entities,
                                              score_threshold=parts.score_threshold)
        with clock.stage("anonymize"):
            redacted = parts.anonymizer.anonymize(text=text, analyzer_results=findings).text
        with clock.stage("chunk"):
            chunks = naive_chunks(redacted, parts.chunk_size, parts.chunk_overlap)
        with clock.stage("encode"):
            vectors = parts.model.encode(chunks, normalize_embeddings=True, convert_to_numpy=True,
                                         show_progress_bar=False)
        with clock.stage("store"):
            with self.conn.cursor() as cur:
                for ordinal, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
                    cur.execute("INSERT INTO naive_chunks (document, ordinal, text, embedding)"
                                " VALUES (%s, %s, %s, %s)", (str(path), ordinal, chunk, vector))
            self.conn.commit()
        return text, pages, len(chunks)


def run_both(docveil: DocveilSide, naive: NaiveSide, corpus: Sequence[CorpusDocument], block: int,
             console: Console) -> list[dict[str, Any]]:
    """Alternate the two sides over blocks of the corpus, swapping who goes first each round,
    so load from other processes on a shared machine falls on both alike. Returns the rounds."""
    progress = Progress(console, {"docveil": len(corpus), "naive loop": len(corpus)})
    offsets = range(0, len(corpus), block)
    rounds: list[dict[str, Any]] = []
    try:
        for number, offset in enumerate(offsets):
            documents = corpus[offset:offset + block]
            sides = (docveil, naive) if number % 2 == 0 else (naive, docveil)
            before = {side.result.name: side.result.seconds for side in sides}
            for side in sides:
                gc.collect()
                side.ingest(documents, progress)
            spent = {side.result.name: side.result.seconds - before[side.result.name] for side in sides}
            rounds.append({"documents": len(documents), "first": sides[0].result.name,
                           "docveil_seconds": spent["docveil"], "naive_seconds": spent["naive loop"]})
            if len(offsets) > 1 and not console.is_terminal:
                console.print(
                    f"  round {number + 1}/{len(offsets)} ({sides[0].result.name} first): docveil "
                    f"{spent['docveil']:.0f} s, naive loop {spent['naive loop']:.0f} s, "
                    f"{spent['naive loop'] / spent['docveil']:.2f}x; so far "
                    f"{naive.result.seconds / docveil.result.seconds:.2f}x")
    finally:
        progress.close()
    return rounds


# ---------------------------------------------------------------------------------------------
# Leak check


def planted_rows(corpus: Sequence[CorpusDocument], key_of: dict[str, str]) -> tuple[list[str], list[str], list[str]]:
    keys, entities, values = [], [], []
    for document in corpus:
        key = key_of.get(str(document.path))
        if key is None:
            continue
        for planted in document.planted:
            keys.append(key)
            entities.append(planted.entity_type)
            values.append(planted.value)
    return keys, entities, values


def leaked_in_docveil(engine: Any, corpus: Sequence[CorpusDocument], ids: dict[str, str]) -> dict[str, int]:
    """Planted values found in docveil's stored chunks, read as the tenant (row-level security on)."""
    query = LEAK_SQL.format(key="uuid", table="chunks", column="document_id")
    with engine.database.transaction(TENANT) as conn:
        return dict(conn.execute(query, planted_rows(corpus, ids)).fetchall())


def leaked_in_naive(conn: Any, corpus: Sequence[CorpusDocument]) -> dict[str, int]:
    query = LEAK_SQL.format(key="text", table="naive_chunks", column="document")
    names = {str(d.path): str(d.path) for d in corpus}
    rows = conn.execute(query, planted_rows(corpus, names)).fetchall()
    conn.commit()
    return dict(rows)


def present_in_input(corpus: Sequence[CorpusDocument], texts: dict[str, str]) -> dict[str, int]:
    """Planted values found in the loaded text: proof that the leak check looks for real values."""
    found: Counter[str] = Counter()
    for document in corpus:
        text = " ".join(texts.get(str(document.path), "").split())
        for planted in document.planted:
            if planted.value in text:
                found[planted.entity_type] += 1
    return dict(found)


# ---------------------------------------------------------------------------------------------
# Report


def print_report(console: Console, docveil: SideResult, naive: SideResult, planted: Counter[str],
                 present: dict[str, int], machine: dict[str, Any], order: str,
                 rounds: Sequence[dict[str, Any]]) -> None:
    ratio = docveil.documents_per_second / naive.documents_per_second if naive.documents_per_second else 0.0
    table = Table(title="Text ingest throughput (model loading and warm-up excluded on both sides)")
    for column in ("", "documents", "pages", "chunks", "seconds", "documents/s", "pages/s"):
        table.add_column(column, justify="right" if column else "left")
    for side in (docveil, naive):
        table.add_row(side.name, f"{side.documents:,}", f"{side.pages:,}", f"{side.chunks:,}",
                      f"{side.seconds:,.1f}", f"{side.documents_per_second:.2f}", f"{side.pages_per_second:.2f}")
    table.add_row("[bold]docveil / naive[/]", "", "", "", "", f"[bold]{ratio:.2f}x[/]",
                  f"[bold]{docveil.pages_per_second / naive.pages_per_second if naive.pages_per_second else 0:.2f}x[/]")
    console.print(table)
    if len(rounds) > 1:
        per_round = sorted(r["naive_seconds"] / r["docveil_seconds"] for r in rounds)
        console.print(f"per round ({len(rounds)} rounds of up to {rounds[0]['documents']} documents): median "
                      f"{statistics.median(per_round):.2f}x, lowest {per_round[0]:.2f}x, highest {per_round[-1]:.2f}x")

    stages = Table(title="Where the time goes (seconds)")
    stages.add_column("stage")
    stages.add_column("docveil", justify="right")
    stages.add_column("naive loop", justify="right")
    names = list(dict.fromkeys([*docveil.stages, *naive.stages]))
    for name in names:
        stages.add_row(name, _seconds(docveil.stages.get(name)), _seconds(naive.stages.get(name)))
    console.print(stages)

    leaks = Table(title="Planted values stored in clear (whitespace-normalised search of the stored chunks)")
    for column in ("entity type", "planted", "in the input", "docveil", "naive loop"):
        leaks.add_column(column, justify="left" if column == "entity type" else "right")
    for entity in PLANTED_TYPES:
        leaks.add_row(entity, str(planted[entity]), str(present.get(entity, 0)),
                      str(docveil.leaked.get(entity, 0)), str(naive.leaked.get(entity, 0)))
    leaks.add_row("[bold]total[/]", str(sum(planted.values())), str(sum(present.values())),
                  str(sum(docveil.leaked.values())), str(sum(naive.leaked.values())))
    console.print(leaks)
    console.print(f"[dim]{machine['cpus']} CPU(s), torch threads {machine['torch_threads']}, encoder on "
                  f"{machine['device']}, load average {machine['load_before']} before / "
                  f"{machine['load_after']} after; {order}.[/]")


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:,.1f}"


# ---------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=2000, help="corpus size (default 2000)")
    parser.add_argument("--seed", type=int, default=20240611, help="corpus seed")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where the text encoder runs (both sides)")
    parser.add_argument("--batch-size", type=int, default=INGEST_BATCH_SIZE,
                        help=f"documents per Engine.ingest batch (default: docveil's, {INGEST_BATCH_SIZE})")
    parser.add_argument("--block", type=int, default=32,
                        help="documents per round: the sides take turns over blocks of this size")
    parser.add_argument("--sequential", action="store_true",
                        help="all of docveil, then all of the naive loop (no turns)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary DOCVEIL_HOME")
    args = parser.parse_args(argv)
    if args.documents < 1 or args.batch_size < 1 or args.block < 1:
        parser.error("--documents, --batch-size and --block must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console = Console()
    if not console.is_terminal:  # a log file: wide enough for the tables
        console = Console(width=110)
    # As root the embedded server runs as an unprivileged user, who must be able to enter this.
    home = Path(tempfile.mkdtemp(prefix="docveil-bench-"))
    home.chmod(0o711)
    if not args.keep:
        # Registered before the embedded server's own exit hook, so it runs after it: that hook
        # touches lock files under ``home`` when it releases the server.
        atexit.register(shutil.rmtree, home, True)
    # A plain kill unwinds through ``finally`` (stopping the server) instead of dying on the spot.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    engine = naive_conn = None
    try:
        import torch

        from docveil.config import Settings
        from docveil.engine import Engine
        from docveil.store.embedded_postgres import EmbeddedPostgres

        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        start = time.perf_counter()
        corpus = generate_corpus(home / "corpus", args.documents, args.seed)
        warm_up = generate_corpus(home / "warm-up", WARM_UP_DOCUMENTS, args.seed + 1)
        kinds = Counter(d.kind for d in corpus)
        console.print(f"corpus: {len(corpus):,} documents ({kinds['txt']} .txt, {kinds['md']} .md, "
                      f"{kinds['pdf']} .pdf), {sum(d.pages for d in corpus):,} pages, "
                      f"{sum(d.words for d in corpus):,} words, "
                      f"{sum(len(d.planted) for d in corpus):,} planted values; seed {args.seed}; "
                      f"written in {time.perf_counter() - start:.1f} s to {home}")

        settings = Settings(home=home, device=device, load_entry_points=False)
        engine = Engine(settings)
        console.print("loading models and starting the embedded PostgreSQL (not timed)...")
        engine.warm_up()
        superuser = EmbeddedPostgres(home).acquire()
        parts = build_naive(engine, device)
        naive_conn = open_naive_database(superuser.conninfo, engine.text_encoder.dimension)
        machine = {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
                   "python": platform.python_version(), "torch": torch.__version__,
                   "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg())}

        docveil_side = DocveilSide(engine, args.batch_size)
        naive_side = NaiveSide(parts, naive_conn)
        docveil_side.warm_up(warm_up)
        naive_side.warm_up(warm_up)
        block = len(corpus) if args.sequential else args.block
        order = ("docveil ran first, then the naive loop" if block >= len(corpus) else
                 f"the sides took turns over blocks of {block} documents, first in alternate rounds")
        console.print(f"timing: docveil (Engine.ingest, {args.batch_size} documents per batch) and the "
                      f"naive loop; {order}")
        rounds = run_both(docveil_side, naive_side, corpus, block, console)
        machine["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        docveil, naive = docveil_side.finish(), naive_side.finish()
        for failure in docveil_side.failures[:5]:
            console.print(f"  [red]docveil failed[/] {Path(failure.source).name}: {failure.reason}")

        docveil.leaked = leaked_in_docveil(engine, corpus, docveil_side.ids)
        naive.leaked = leaked_in_naive(naive_conn, corpus)
        planted = Counter(p.entity_type for d in corpus for p in d.planted)
        present = present_in_input(corpus, naive_side.texts)
        print_report(console, docveil, naive, planted, present, machine, order, rounds)

        if args.json:
            ratio = docveil.documents_per_second / naive.documents_per_second
            args.json.write_text(json.dumps({
                "documents": args.documents, "seed": args.seed, "batch_size": args.batch_size,
                "block": block, "machine": machine, "rounds": rounds,
                "corpus": {"kinds": dict(kinds), "pages": sum(d.pages for d in corpus),
                           "words": sum(d.words for d in corpus)},
                "results": [dict(asdict(side), documents_per_second=side.documents_per_second,
                                 pages_per_second=side.pages_per_second) for side in (docveil, naive)],
                "ratio_documents_per_second": ratio,
                "planted": dict(planted), "planted_in_input": present,
            }, indent=2), encoding="utf-8")
            console.print(f"results written to {args.json}")
        return 0
    finally:
        if naive_conn is not None:
            naive_conn.close()
        if engine is not None:
            engine.close()
        from docveil.store.embedded_postgres import EmbeddedPostgres

        EmbeddedPostgres(home).stop()
        if args.keep:
            console.print(f"kept {home}")


if __name__ == "__main__":
    sys.exit(main())
