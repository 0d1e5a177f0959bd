"""``docveil demo``: the whole flow on bundled samples with synthetic personal data."""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import psycopg
from rich.console import Console
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from docveil.config import Settings
from docveil.engine import Engine
from docveil.errors import StoreError
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import Principal

DEMO_TENANT = "demo"
ANALYST = Principal(DEMO_TENANT, "analyst", frozenset({"analyst"}))
OFFICER = Principal(DEMO_TENANT, "privacy-officer", frozenset({"reidentify", "auditor"}))
QUERIES = (
    "Which doctor is treating Maria Gonzalez for migraines?",
    "bank account for the relocation allowance of Thomas Becker",
    "customer locked out after password reset",
)
PLANTED = ("Maria Gonzalez", "maria.gonzalez@example.org", "4111 1111 1111 1111", "Thomas Becker",
           "DE89 3704 0044 0532 0130 00", "219-09-9999", "Daniel Kowalski")


def sample_paths() -> list[Path]:
    folder = resources.files("docveil.samples")
    return sorted(Path(str(entry)) for entry in folder.iterdir()
                  if entry.name.rsplit(".", 1)[-1] in ("txt", "md", "html", "pdf"))


def run_demo(settings: Settings, out: Console, err: Console) -> None:
    out.print(Panel.fit("docveil demo: documents with synthetic personal data are redacted, embedded, "
                        "stored and searched.\nNothing personal is stored or embedded in clear.", style="bold"))
    with Engine(settings) as engine:
        out.print(Text(f"starting the embedded PostgreSQL in {settings.home} and loading models...", style="dim"))
        engine.warm_up()
        paths = sample_paths()
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=out) as bar:
            task = bar.add_task("ingesting samples", total=len(paths))
            report = engine.ingest(paths, ANALYST,
                                   progress=lambda _s, done, total: bar.update(task, completed=done))
        for doc in report.ingested:
            note = "already stored" if doc.duplicate else f"{doc.pages} page(s), {doc.chunks} chunk(s), {doc.findings} redactions"
            out.print(Text.assemble("  ", ("✓", "green"), f" {Path(doc.source).name}: {note}"))
        for failure in report.failed:
            out.print(Text.assemble("  ", ("✗", "red"), f" {failure.source}: {failure.reason}"))

        intake_note = next(p for p in paths if p.name == "intake_note.txt")
        redacted = engine.redact(intake_note, ANALYST)
        excerpt = redacted.pages[0].text.text[:620]
        out.print(Panel(Text(excerpt), title="redacted excerpt of intake_note.txt (what is stored and embedded)"))

        tokens = sorted({m.group(0) for m in TOKEN_PATTERN.finditer(excerpt)})
        resolved = engine.reidentify(tokens, OFFICER)
        table = Table(title="pseudonyms (resolved from the encrypted vault for a principal with the reidentify right)")
        table.add_column("token")
        table.add_column("original value (synthetic)")
        for token in tokens:
            table.add_row(Text(token), Text(resolved.get(token, "-")))
        out.print(table)

        for query in QUERIES:
            with engine.database.transaction(DEMO_TENANT) as conn:
                pseudonymised = engine.pseudonymize_query(conn, query, DEMO_TENANT).text
            hits = engine.search(query, ANALYST, k=3)
            out.print(Text.assemble("\n", ("search:", "bold"), f" {query}"))
            if pseudonymised != query:
                out.print(Text(f"  embedded as: {pseudonymised}", style="dim"))
            for rank, hit in enumerate(hits, 1):
                snippet = re.sub(r"\s+", " ", hit.text)[:160]
                out.print(Text.assemble(f"  {rank}. ", (Path(hit.source).name, "cyan"),
                                        f" p.{hit.page} score {hit.score:.4f}: {snippet}"))

        _where_data_lives(engine, settings, out)


def _count(conn: psycopg.Connection, query: str, params: Sequence[str] | None = None) -> int:
    row = conn.execute(query, params).fetchone()
    if row is None:
        raise StoreError(f"{query!r} returned no row")
    return row[0]


def _where_data_lives(engine: Engine, settings: Settings, out: Console) -> None:
    with engine.database.transaction(DEMO_TENANT) as conn:
        counts = {table: _count(conn, f"SELECT count(*) FROM {table}")  # fixed table names
                  for table in ("documents", "chunks", "vault", "audit_records")}
        leaked = _count(
            conn, "SELECT count(*) FROM chunks WHERE " + " OR ".join(["strpos(text, %s) > 0"] * len(PLANTED)),
            list(PLANTED))
    table = Table(title="where the data lives")
    table.add_column("what")
    table.add_column("where")
    table.add_row("database (PostgreSQL + pgvector)", Text(str(settings.home / "postgres")) if not settings.dsn else "external DSN")
    table.add_row("key-encryption key", Text(str(settings.home / "keys")))
    table.add_row("documents / chunks", f"{counts['documents']} / {counts['chunks']} (redacted text + vectors)")
    table.add_row("pseudonym vault", f"{counts['vault']} entries, AES-256-GCM, one key per data subject")
    table.add_row("audit log", f"{counts['audit_records']} hash-chained records")
    table.add_row("planted personal data found in stored chunks", f"{leaked}")
    out.print(table)
