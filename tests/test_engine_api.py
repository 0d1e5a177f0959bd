"""The Python API refuses misuse with docveil's own errors, and its values do not print the
personal data they hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from docveil.engine import Engine
from docveil.errors import DocveilError, LoadError, NotFoundError
from docveil.types import Acl, Principal, Source

ALICE = Principal("acme", "alice")
ADMIN = Principal("acme", "root", frozenset({"admin"}))
PLANTED = "Henrietta Vandermolen"


def test_an_acl_naming_only_users_is_for_those_users_alone(engine: Engine, tmp_path: Path) -> None:
    assert Acl(users={"bob"}).roles == frozenset()
    assert Acl().roles == frozenset({"*"})
    assert Acl(users={"bob"}, roles={"hr"}).roles == frozenset({"hr"})
    path = tmp_path / "bonus.txt"
    path.write_text("Private bonus letter for the head of logistics.")
    engine.ingest([path], ALICE, acl=Acl(users={"bob"}))
    assert engine.search("private bonus letter", Principal("acme", "bob"))
    assert engine.search("private bonus letter", Principal("acme", "carol", frozenset({"analyst"}))) == []


@pytest.mark.parametrize("field", ["roles", "users"])
def test_a_single_string_for_a_set_of_names_is_refused(field: str) -> None:
    with pytest.raises(TypeError, match=f"{field} must be a collection of names"):
        Principal("acme", "dave", roles="admin") if field == "roles" else Acl(users="dave")  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [
    lambda: Principal("acme", "x" * 257), lambda: Principal("ac\x00me", "alice"),
    lambda: Principal("acme", "alice\nroot"), lambda: Principal("acme", "alice", frozenset({"ad\ud800min"})),
    lambda: Acl(users={"bo\x00b"}),
], ids=["too-long", "nul", "newline", "surrogate", "acl-nul"])
def test_names_the_audit_log_could_not_record_are_refused(make) -> None:
    with pytest.raises(ValueError, match=r"at most 256 characters|not valid Unicode"):
        make()


def test_an_engine_refuses_work_after_close(settings, db, model_stash) -> None:
    engine = Engine(settings, database=db, stash=model_stash)
    engine.close()
    with pytest.raises(DocveilError, match="engine is closed"):
        engine.search("anything", ALICE)
    with pytest.raises(DocveilError, match="engine is closed"):
        engine.documents(ALICE)


@pytest.mark.parametrize("document_id", ["not-a-uuid", "", "00000000-0000-0000-0000-000000000000"])
def test_an_unknown_or_malformed_document_id_is_not_found(engine: Engine, document_id: str) -> None:
    with pytest.raises(NotFoundError):
        engine.delete_document(document_id, ADMIN)
    with pytest.raises(NotFoundError):
        engine.set_acl(document_id, Acl(), ADMIN)


@pytest.mark.parametrize(("call", "error"), [
    (lambda e: e.search("", ALICE), ValueError),
    (lambda e: e.search("   ", ALICE), ValueError),
    (lambda e: e.search(None, ALICE), TypeError),
    (lambda e: e.search("Maria\x00Gonzalez", ALICE), ValueError),
    (lambda e: e.ask("", ALICE), ValueError),
    (lambda e: e.search("rent", ALICE, k=2.5), ValueError),
    (lambda e: e.search("rent", ALICE, k=True), ValueError),
    (lambda e: e.ask("rent", ALICE, k="3"), ValueError),
    (lambda e: e.documents(ALICE, limit=-1), ValueError),
    (lambda e: e.documents(ALICE, offset=-1), ValueError),
], ids=["empty", "blank", "none", "nul", "empty-question", "k-float", "k-bool", "k-str", "limit", "offset"])
def test_bad_arguments_are_refused_before_any_work(engine: Engine, call, error) -> None:
    with pytest.raises(error):
        call(engine)


def test_loaded_documents_and_sources_do_not_print_their_content(engine: Engine, tmp_path: Path) -> None:
    text = f"Letter to {PLANTED}, 12 Harbour Road."
    document = engine.load(Source("letter.txt", text.encode(), "text/plain"))
    assert document.pages[0].text == text
    assert PLANTED not in repr(document)
    assert PLANTED not in repr(Source("letter.txt", text.encode(), "text/plain"))


def test_a_redaction_that_fails_on_its_file_is_audited_as_an_error(engine: Engine, tmp_path: Path) -> None:
    auditor = Principal("acme", "auditor", frozenset({"auditor"}))
    broken = tmp_path / f"{PLANTED}.pdf"
    broken.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    with pytest.raises(LoadError):
        engine.redact(broken, ALICE)
    with pytest.raises(LoadError):
        engine.redact_to_file(broken, tmp_path / "out.txt", ALICE)
    with pytest.raises(LoadError):
        engine.redact(Source("empty.txt", b"", "text/plain"), ALICE)
    records = engine.audit_records(auditor, action="redact")
    assert [(r.outcome, r.extra["error"]) for r in records] == [("error", "LoadError")] * 3
    assert PLANTED not in str([r.as_dict() for r in records])
    assert not (tmp_path / "out.txt").exists()


def test_a_folder_walk_yields_what_it_cannot_read_so_that_it_is_reported(tmp_path: Path, settings) -> None:
    import os

    from docveil.engine import expand_paths
    from docveil.stages.load.source import read_source

    folder = tmp_path / "inbox"
    (folder / "sub").mkdir(parents=True)
    (folder / "note.txt").write_text("hello")
    (folder / "sub" / "deep.txt").write_text("hello")
    (folder / ".hidden.txt").write_text("hello")
    (folder / "gone.txt").symlink_to(tmp_path / "missing.txt")
    os.mkfifo(folder / "pipe.txt")
    walked = list(expand_paths(folder))
    assert [p.relative_to(folder).as_posix() for p in walked] == ["gone.txt", "note.txt", "pipe.txt", "sub/deep.txt"]
    reasons = {}
    for path in walked:
        try:
            read_source(path, settings)
        except LoadError as exc:
            reasons[path.name] = exc.reason
    assert reasons == {"gone.txt": "no such file", "pipe.txt": "not a regular file"}


def test_a_link_in_a_folder_is_followed_only_to_a_file_inside_that_folder(engine: Engine, tmp_path: Path) -> None:
    secret = tmp_path / "app.password"
    secret.write_text("hunter2-the-database-password")
    folder = tmp_path / "upload"
    (folder / "sub").mkdir(parents=True)
    (folder / "minutes.txt").write_text("Minutes of the supplier meeting about the delivery dates.")
    (folder / "sub" / "same.txt").symlink_to(folder / "minutes.txt")  # inside: followed
    (folder / "notes.txt").symlink_to(secret)                          # outside: refused
    (folder / ".env").write_text("API_TOKEN=hunter2-hidden")
    (folder / "env.txt").symlink_to(folder / ".env")                   # to a hidden file: refused
    (folder / "linked").symlink_to(tmp_path)                           # a folder: not walked into
    (tmp_path / "empty_dir").mkdir()
    report = engine.ingest([folder, "", tmp_path / "empty_dir"], ALICE)
    assert sorted((Path(d.source).name, d.duplicate) for d in report.ingested) == [
        ("minutes.txt", False), ("same.txt", True)]
    reasons = {Path(f.source).name: f.reason for f in report.failed}
    refused = "a symbolic link to a file outside the folder (or to a hidden one) is not followed"
    assert reasons == {"notes.txt": refused, "env.txt": refused,
                       "''": "an empty path names no file",
                       "empty_dir": "a folder with no file to ingest in it (hidden files and folders are skipped)"}
    with engine.database.admin() as conn:
        assert "hunter2" not in str(conn.execute("SELECT text FROM chunks").fetchall())
    # A link given on its own is the caller's choice, and read.
    assert engine.ingest([folder / "notes.txt"], ALICE).ok


def test_a_path_no_file_system_can_name_fails_alone(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("The canteen opens at eight on weekdays.")
    report = engine.ingest([good, str(tmp_path / "bad\x00name.txt"), str(tmp_path / "bad\ud800name.txt")], ALICE)
    assert [Path(d.source).name for d in report.ingested] == ["good.txt"]
    assert {f.reason for f in report.failed} == {"not a valid file name (it holds a NUL or an unpaired surrogate)"}
    assert len(report.failed) == 2
