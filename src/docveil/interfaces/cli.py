"""The ``docveil`` command line (typer + rich).

User errors are one clear line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from docveil.config import Settings
from docveil.errors import DocveilError
from docveil.stages.redact.image import OUTPUT_FORMATS as IMAGE_OUTPUTS
from docveil.stages.redact.image import save_redacted_images
from docveil.types import Acl, Principal

app = typer.Typer(help="docveil: redact, embed, store and search documents without keeping personal data in clear.",
                  no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
db_app = typer.Typer(help="Manage the embedded PostgreSQL server.", no_args_is_help=True)
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)

T = TypeVar("T")

TenantOpt = Annotated[str, typer.Option("--tenant", "-t", envvar="DOCVEIL_TENANT", help="Tenant to act in.")]
UserOpt = Annotated[str | None, typer.Option("--user", "-u", envvar="DOCVEIL_USER", help="Acting user (default: OS user).")]
RoleOpt = Annotated[list[str] | None, typer.Option("--role", "-r", help="Role of the acting user (repeatable).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def principal_from(tenant: str, user: str | None, roles: list[str] | None) -> Principal:
    return Principal(tenant=tenant, user=user or getpass.getuser(), roles=frozenset(roles or ()))


def settings() -> Settings:
    return Settings.load()


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; a DocveilError becomes one line on stderr and exit code 1."""
    try:
        return action()
    except DocveilError as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def _engine(**overrides: Any):
    from docveil.engine import Engine

    return Engine(Settings.load(**overrides))


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


@app.command()
def redact(
    source: Annotated[Path, typer.Argument(help="Text, Markdown, HTML, PDF, Word, email or image file.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the redacted text (default: stdout); a .pdf name writes a redacted PDF (from a PDF); a .png/.jpg/.webp/.tiff/.bmp name writes the redacted image, metadata stripped (from an image).")] = None,
    manifest: Annotated[Path | None, typer.Option("--manifest", help="Also write the redaction manifest (JSON).")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Redact one document and write its redacted text (tenant pseudonyms by default)."""
    principal = principal_from(tenant, user, role)

    def run() -> None:
        if output is not None and output.suffix.lower() == ".pdf":
            with _engine() as engine:
                redacted = engine.redact_to_file(source, output, principal)
            err.print(f"wrote {output} ({len(redacted.manifest)} redactions, {len(redacted.regions)} image regions)")
        elif output is not None and output.suffix.lower().lstrip(".") in IMAGE_OUTPUTS:
            with _engine() as engine:
                redacted = engine.redact(source, principal)
            save_redacted_images(redacted, output)
            err.print(f"wrote {output} ({len(redacted.regions)} image regions, {len(redacted.manifest)} text redactions)")
        else:
            redacted = write_text()
        if manifest is not None:
            records = [r.as_dict() for r in (*redacted.manifest, *redacted.regions)]
            manifest.write_text(json.dumps(records, indent=2), encoding="utf-8")

    def write_text():
        with _engine() as engine:
            redacted = engine.redact(source, principal)
        text = "\n\n".join(f"--- page {p.number} ---\n{p.text.text}" if redacted.page_count > 1 else p.text.text
                           for p in redacted.pages)
        if output is None:
            sys.stdout.write(text + "\n")
        else:
            output.write_text(text + "\n", encoding="utf-8")
            err.print(f"wrote {output} ({len(redacted.manifest)} redactions)")
        return redacted

    guarded(run)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.")],
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
    acl_user: Annotated[list[str] | None, typer.Option("--acl-user", help="User allowed to read (repeatable).")] = None,
    acl_role: Annotated[list[str] | None, typer.Option("--acl-role", help="Role allowed to read (repeatable); default: everyone in the tenant.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Redact, embed and store documents. Bad files are reported; the rest go on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    principal = principal_from(tenant, user, role)
    acl = Acl(users=frozenset(acl_user or ()), roles=frozenset(acl_role or ())) if (acl_user or acl_role) else Acl()

    def run():
        with _engine() as engine, Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, disable=as_json or (not err.is_terminal and not os.environ.get("DOCVEIL_PROGRESS")),
        ) as bar:
            task = bar.add_task("ingesting", total=None)
            return engine.ingest(paths, principal, acl=acl,
                                 progress=lambda _stage, done, total: bar.update(task, completed=done, total=total))

    report = guarded(run)
    if as_json:
        emit_json({"ingested": [dataclasses.asdict(d) for d in report.ingested],
                   "failed": [dataclasses.asdict(f) for f in report.failed]})
    else:
        for doc in report.ingested:
            state = "unchanged (already stored)" if doc.duplicate else f"{doc.pages} pages, {doc.chunks} chunks, {doc.findings} redactions"
            out.print(f"[green]ok[/] {doc.source}: {state}", highlight=False)
    for failure in report.failed:
        err.print(f"[bold red]error:[/] {failure.source}: {failure.reason}", highlight=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for; personal data in it is pseudonymised first.")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="Number of hits.")] = 5,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Search the documents the principal may read."""
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            return engine.search(query, principal, k=k)

    hits = guarded(run)
    if as_json:
        emit_json([hit.as_dict() for hit in hits])
        return
    show_hits(hits)


def show_hits(hits) -> None:
    if not hits:
        out.print("no results")
    table = Table(show_lines=True)
    for column in ("#", "score", "source", "page", "text"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        snippet = hit.text if len(hit.text) < 300 else hit.text[:297] + "..."
        table.add_row(str(rank), f"{hit.score:.4f}", hit.source, str(hit.page), snippet)
    if hits:
        out.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question; personal data in it is pseudonymised before any model sees it.")],
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Passages to retrieve.")] = 5,
    image: Annotated[Path | None, typer.Option("--image", help="An image to attach (redacted first; needs a vision-capable model).")] = None,
    answerer: Annotated[str | None, typer.Option("--answerer", help="extractive, openai, transformers or a plugin's (default: the answerer setting).")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Answer a question from the documents the principal may read, with citations (streamed)."""
    from docveil.types import Answer

    principal = principal_from(tenant, user, role)

    def run() -> Answer:
        with _engine(answerer=answerer) as engine:
            answer = None
            for event in engine.ask_stream(question, principal, k=k, image=image):
                if isinstance(event, Answer):
                    answer = event
                elif not as_json:
                    sys.stdout.write(event.text)
                    sys.stdout.flush()
            assert answer is not None
            return answer

    answer = guarded(run)
    if as_json:
        emit_json(answer.as_dict())
        return
    if not answer.text.endswith("\n"):
        sys.stdout.write("\n")
    label = "extractive (no language model)" if answer.extractive else f"model {answer.model}"
    err.print(f"[dim]{label}; {answer.guarded} value(s) redacted by the output guard[/]", highlight=False)
    for citation in answer.citations:
        out.print(f"[{citation.number}] {citation.source}, page {citation.page} (chunk {citation.chunk_id})",
                  highlight=False, markup=False, soft_wrap=True)


@app.command()
def forget(
    subject: Annotated[list[str], typer.Option("--subject", help="A value naming the data subject (a full name, an email); repeat it for each value of the same person.")],
    delete_documents: Annotated[bool, typer.Option("--delete-documents", help="Also delete documents that concern only this subject.")] = False,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Crypto-shred a data subject (needs the privacy-officer or admin role)."""
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            return engine.forget(subject, principal, delete_documents=delete_documents)

    result = guarded(run)
    if as_json:
        emit_json(dataclasses.asdict(result))
    elif result.subject_found:
        out.print(f"forgotten: {result.vault_entries} vault entries destroyed, "
                  f"{result.documents_deleted} documents deleted, {result.documents_kept} kept with the token removed")
    else:
        out.print("no such subject in this tenant (nothing to forget)")


@app.command()
def plugins(as_json: JsonOpt = False) -> None:
    """List registered plugins and the hooks each implements."""
    from docveil.plugins import describe_plugins, make_plugin_manager

    rows = guarded(lambda: describe_plugins(make_plugin_manager(settings())))
    if as_json:
        emit_json(rows)
        return
    table = Table()
    for column in ("plugin", "hooks", "package"):
        table.add_column(column)
    for row in rows:
        name = row["name"] + (" [dim](essential)[/]" if row["essential"] else "")
        table.add_row(name, "\n".join(row["hooks"]) or "-", row["package"] or "docveil (built in)")
    out.print(table)


@app.command()
def demo(
    home: Annotated[Path | None, typer.Option("--home", help="DOCVEIL_HOME for the demo (default: the usual one).")] = None,
) -> None:
    """Run the whole flow on bundled sample documents with synthetic personal data."""
    from docveil.interfaces.demo import run_demo

    guarded(lambda: run_demo(Settings.load(home=home) if home else settings(), out, err))


@db_app.command("start")
def db_start() -> None:
    """Start the embedded server and keep it running until `docveil db stop`."""
    from docveil.store.embedded_postgres import EmbeddedPostgres

    current = settings()
    home = current.home
    guarded(lambda: EmbeddedPostgres(home, shared_buffers=current.embedded_shared_buffers).start(pin=True))
    out.print(f"embedded PostgreSQL running in {home / 'postgres'}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    from docveil.store.embedded_postgres import EmbeddedPostgres

    was_running = guarded(lambda: EmbeddedPostgres(settings().home).stop())
    out.print("stopped" if was_running else "not running")


@db_app.command("status")
def db_status(as_json: JsonOpt = False) -> None:
    """Show whether the embedded server runs, and where."""
    from docveil.store.embedded_postgres import EmbeddedPostgres

    status = guarded(lambda: EmbeddedPostgres(settings().home).status())
    if as_json:
        emit_json({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(status).items()})
    else:
        out.print(f"{'running (pid ' + str(status.pid) + ')' if status.running else 'stopped'}; data in {status.data_dir}")


def _register_plugin_commands() -> None:
    try:
        from docveil.plugins import make_plugin_manager

        make_plugin_manager(Settings.load()).hook.docveil_register_commands(cli=app)
    except DocveilError as exc:
        err.print(f"[bold red]error:[/] {exc}")


def configure_logging() -> None:
    """The command line is an application: it owns logging (the library only adds NullHandler)."""
    import logging

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    level = os.environ.get("DOCVEIL_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Presidio warns at every start about recognizers for languages that are not configured.
    logging.getLogger("presidio-analyzer").setLevel(max(logging.ERROR, logging.getLogger().level))


def main() -> None:
    import docveil.interfaces.cli_admin  # registers its command groups
    import docveil.interfaces.cli_http  # noqa: F401  (serve, keys api)

    configure_logging()
    _register_plugin_commands()
    app()
