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
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def say(console: Console, *parts: str | tuple[str, str]) -> None:
    """Print one line; a ``(text, style)`` part is styled. Every part is printed literally (file
    names, user ids and document text are data, never rich markup or terminal control sequences)
    and the line is never wrapped, so that it can be piped or copied."""
    console.print(Text.assemble(*(one_line(p) if isinstance(p, str) else (one_line(p[0]), p[1]) for p in parts)),
                  soft_wrap=True)


_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(32), 127) if chr(code) not in "\n\t"}
# A line break in a file name would start a line of its own ("ok ...", "error: ...").
_LINE_CONTROLS = {**_CONTROLS, ord("\n"): "\\n", ord("\r"): "\\r"}


def one_line(text: str) -> str:
    """``text`` as ``literal`` shows it, its line breaks too: it stays on its one line."""
    return text.translate(_LINE_CONTROLS)


def literal(text: str) -> str:
    """``text`` with control characters (an escape sequence in a document would drive the
    terminal) shown as ``\\xNN``."""
    return text.translate(_CONTROLS)


def fail(message: str) -> NoReturn:
    """An input or runtime error: one line on stderr and exit code 1 (2 means a broken audit log)."""
    say(err, ("error:", "bold red"), " ", message)
    raise typer.Exit(1)


def cells(*values: object) -> list[Text]:
    """Table cells printed literally (a string cell would be read as rich markup)."""
    return [Text(literal(str(value))) for value in values]


def principal_from(tenant: str, user: str | None, roles: list[str] | None) -> Principal:
    """The principal a command acts for; a bad --tenant, --user or --role is an input error."""
    for option, value in (("--tenant", tenant), ("--user", user), *(("--role", name) for name in roles or ())):
        if value == "":
            fail(f"{option} must not be empty")
    try:
        return Principal(tenant=tenant, user=getpass.getuser() if user is None else user,
                         roles=frozenset(roles or ()))
    except (ValueError, TypeError) as exc:  # the limits on names: length, control characters
        fail(f"{exc} (--tenant, --user, --role)")


def acl_from(users: list[str] | None, roles: list[str] | None) -> Acl:
    try:
        return Acl(users=frozenset(users or ()), roles=frozenset(roles or ()))
    except (ValueError, TypeError) as exc:
        fail(f"{exc} (--acl-user, --acl-role)")


def require_text(value: str, what: str) -> None:
    if not value.strip():
        fail(f"{what} must not be empty")


def require_output_file(path: Path | None, option: str) -> None:
    """Refuse an output path that cannot be a file before any work is done or any file written."""
    if path is None:
        return
    if not path.parent.is_dir():
        fail(f"{option} {path}: the folder {path.parent} does not exist")
    if path.is_dir():
        fail(f"{option} {path}: is a folder, not a file")


def settings() -> Settings:
    return Settings.load()


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; a DocveilError, or an OSError on a named file, becomes one line on stderr
    and exit code 1. Other exceptions are bugs and keep their traceback."""
    try:
        return action()
    except DocveilError as exc:
        fail(str(exc))
    except OSError as exc:
        if exc.filename is None:
            raise
        fail(f"{exc.filename}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def _engine(**overrides: Any):
    from docveil.engine import Engine

    return Engine(Settings.load(**overrides))


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def readers_text(acl: Acl) -> str:
    """An ACL as the CLI shows readers: users, then @roles ("@*" is everyone in the tenant)."""
    return ", ".join(sorted(acl.users) + [f"@{role}" for role in sorted(acl.roles)])


def _acl_json(acl: Acl | None) -> dict[str, list[str]] | None:
    return None if acl is None else {"users": sorted(acl.users), "roles": sorted(acl.roles)}


def emit_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


@app.command()
def redact(
    source: Annotated[Path, typer.Argument(help="Text, Markdown, HTML, PDF, Word, email or image file.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Where to write the redacted text (default: stdout); a .pdf name writes a redacted PDF (from a PDF); a .png/.jpg/.webp/.tiff/.bmp/.gif name writes the redacted image, metadata stripped (from an image).")] = None,
    manifest: Annotated[Path | None, typer.Option("--manifest", help="Also write the redaction manifest (JSON).")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
) -> None:
    """Redact one document and write its redacted text (tenant pseudonyms by default)."""
    principal = principal_from(tenant, user, role)
    require_output_file(output, "--output")
    require_output_file(manifest, "--manifest")

    def run() -> None:
        from docveil.engine import redacted_text_output
        from docveil.files import write_whole

        if output is not None and output.suffix.lower() == ".pdf":
            with _engine() as engine:
                redacted = engine.redact_to_file(source, output, principal)
            say(err, f"wrote {output} ({len(redacted.manifest)} redactions, {len(redacted.regions)} image regions)")
        elif output is not None and output.suffix.lower().lstrip(".") in IMAGE_OUTPUTS:
            with _engine() as engine:
                redacted = engine.redact(source, principal)
            save_redacted_images(redacted, output)
            say(err, f"wrote {output} ({len(redacted.regions)} image regions, {len(redacted.manifest)} text redactions)")
        else:
            with _engine() as engine:
                redacted = engine.redact(source, principal)
            text = redacted_text_output(redacted)
            if output is None:  # on a terminal, not into a file, an escape sequence would drive it
                sys.stdout.write((literal(text) if sys.stdout.isatty() else text) + "\n")
            else:
                write_whole(output, (text + "\n").encode("utf-8"))
                say(err, f"wrote {output} ({len(redacted.manifest)} redactions)")
        if manifest is not None:
            records = [r.as_dict() for r in (*redacted.manifest, *redacted.regions)]
            write_whole(manifest, json.dumps(records, indent=2).encode("utf-8"))

    guarded(run)


@app.command()
def ingest(
    # Text, not Path: Path("") is ".", and an empty argument (an unset "$DOCS") must not ingest the current folder.
    paths: Annotated[list[str], typer.Argument(help="Files and folders to ingest (folders recursively; hidden files and folders are skipped).")],
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None,
    acl_user: Annotated[list[str] | None, typer.Option("--acl-user", help="User allowed to read (repeatable).")] = None,
    acl_role: Annotated[list[str] | None, typer.Option("--acl-role", help="Role allowed to read (repeatable); default: everyone in the tenant.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Redact, embed and store documents. Bad files are reported; the rest go on."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    principal = principal_from(tenant, user, role)
    acl = acl_from(acl_user, acl_role) if (acl_user or acl_role) else Acl()

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
        emit_json({"ingested": [{**dataclasses.asdict(d), "kept_acl": _acl_json(d.kept_acl)} for d in report.ingested],
                   "failed": [dataclasses.asdict(f) for f in report.failed]})
    else:
        for doc in report.ingested:
            state = ("unchanged (already stored)" if doc.duplicate else
                     f"{_count(doc.pages, 'page')}, {_count(doc.chunks, 'chunk')}, {_count(doc.findings, 'redaction')}")
            say(out, ("ok", "green"), f" {doc.source}: {state}")
            if doc.kept_acl is not None:
                say(err, ("warning:", "bold yellow"), f" {doc.source}: stored before with other readers "
                    f"({readers_text(doc.kept_acl)}), which it keeps; the ACL given was not applied. Change it "
                    f"with `docveil documents acl {doc.document_id}`.")
    for failure in report.failed:
        say(err, ("error:", "bold red"), f" {failure.source}: {failure.reason}")
    if report.failed:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="What to look for; personal data in it is pseudonymised first.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="Number of hits.")] = 5,
    pictures: Annotated[bool, typer.Option("--pictures", help="Search the pictures (image_model) for the query instead of the text.")] = False,
    image: Annotated[Path | None, typer.Option("--image", help="Find the pictures nearest to this one (redacted first; needs image_model).")] = None,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Search the documents the principal may read: their text (ranked by their pictures too when
    image_model is set), or their pictures."""
    if image is not None and query is not None:
        fail("give a query or --image, not both")
    if image is None and query is None:  # a malformed command line, like any missing argument
        raise typer.BadParameter("give a query, or --image", param_hint="'QUERY'")
    if image is None:
        require_text(query or "", "the query")
    principal = principal_from(tenant, user, role)

    def run():
        with _engine() as engine:
            if image is not None or pictures:
                return engine.search_images(query, principal, k=k, image=image)
            return engine.search(query or "", principal, k=k)

    hits = guarded(run)
    if as_json:
        emit_json([hit.as_dict() for hit in hits])
        return
    if image is not None or pictures:
        show_picture_hits(hits)
    else:
        show_hits(hits)


def show_picture_hits(hits) -> None:
    if not hits:
        out.print("no results")
        return
    table = Table()
    for column in ("#", "score", "source", "page", "kind", "box", "size"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        box = " ".join(f"{v:.0f}" for v in hit.bbox.as_list()) if hit.bbox else ""
        table.add_row(*cells(rank, f"{hit.score:.4f}", hit.source, hit.page, hit.kind, box,
                             f"{hit.width}x{hit.height}"))
    out.print(table)


def show_hits(hits) -> None:
    if not hits:
        out.print("no results")
    table = Table(show_lines=True)
    for column in ("#", "score", "source", "page", "text"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, 1):
        snippet = hit.text if len(hit.text) < 300 else hit.text[:297] + "..."
        table.add_row(*cells(rank, f"{hit.score:.4f}", hit.source, hit.page, snippet))
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

    require_text(question, "the question")
    principal = principal_from(tenant, user, role)

    def run() -> Answer:
        with _engine(answerer=answerer) as engine:
            answer = None
            for event in engine.ask_stream(question, principal, k=k, image=image):
                if isinstance(event, Answer):
                    answer = event
                elif not as_json:
                    sys.stdout.write(literal(event.text))  # passages quoted from documents
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
    say(err, (f"{label}; {answer.guarded} value(s) redacted by the output guard", "dim"))
    for citation in answer.citations:
        say(out, f"[{citation.number}] {citation.source}, page {citation.page} (chunk {citation.chunk_id})")


@app.command()
def forget(
    subject: Annotated[list[str], typer.Option("--subject", help="A value naming the data subject (a full name, an email); repeat it for each value of the same person.")],
    delete_documents: Annotated[bool, typer.Option("--delete-documents", help="Also delete documents that concern only this subject.")] = False,
    tenant: TenantOpt = "default", user: UserOpt = None, role: RoleOpt = None, as_json: JsonOpt = False,
) -> None:
    """Crypto-shred a data subject (needs the privacy-officer or admin role)."""
    for value in subject:
        require_text(value, "--subject")
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
    # Names are what the blocked_plugins setting takes: shown whole; the package column folds.
    table.add_column("plugin", no_wrap=True)
    table.add_column("hooks", no_wrap=True)
    table.add_column("package", overflow="fold")
    for row in rows:
        name = Text.assemble(row["name"], ("\n(essential)", "dim") if row["essential"] else "")
        table.add_row(name, *cells("\n".join(row["hooks"]) or "-", row["package"] or "docveil (built in)"))
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
    say(out, f"embedded PostgreSQL running in {home / 'postgres'}")


@db_app.command("stop")
def db_stop() -> None:
    """Stop the embedded server."""
    from docveil.store.embedded_postgres import EmbeddedPostgres

    was_running = guarded(lambda: EmbeddedPostgres(settings().home).stop())
    out.print("stopped" if was_running else "not running")


@db_app.command("status")
def db_status(as_json: JsonOpt = False) -> None:
    """Show whether the embedded server runs: its pid, data and socket directories, whether
    `docveil db start` pinned it, and how many processes use it."""
    from docveil.store.embedded_postgres import EmbeddedPostgres

    status = guarded(lambda: EmbeddedPostgres(settings().home).status())
    if as_json:
        emit_json({k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(status).items()})
        return
    if status.running:
        pin = "pinned: runs until `docveil db stop`" if status.pinned else "not pinned: stops after its last user"
        say(out, f"running (pid {status.pid}), {pin}")
    else:
        say(out, "stopped")
    say(out, f"data directory:     {status.data_dir}")
    say(out, f"socket directory:   {status.socket_dir or '-'}")
    say(out, f"processes using it: {'unknown' if status.users is None else status.users}")


def _register_plugin_commands() -> None:
    from docveil.plugins import make_plugin_manager

    try:
        manager = make_plugin_manager(Settings.load())
    except DocveilError:
        return  # bad settings or plugins: the command loads them too and reports the error once
    try:
        manager.hook.docveil_register_commands(cli=app)
    except DocveilError as exc:
        say(err, ("error:", "bold red"), f" {exc}")


def configure_logging() -> None:
    """The command line is an application: it owns logging (the library only adds NullHandler)."""
    import logging

    # Third-party chatter on stderr (model-loading progress bars, transformers' config notices)
    # is noise to a command's user; docveil's own warnings go through logging below.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    level = os.environ.get("DOCVEIL_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    # Presidio warns at every start about recognizers for languages that are not configured.
    logging.getLogger("presidio-analyzer").setLevel(max(logging.ERROR, logging.getLogger().level))


def main() -> None:
    import docveil.interfaces.cli_admin  # registers its command groups
    import docveil.interfaces.cli_http  # serve, keys api
    import docveil.interfaces.cli_training  # noqa: F401  (finetune-pictures)

    configure_logging()
    _register_plugin_commands()
    app()
