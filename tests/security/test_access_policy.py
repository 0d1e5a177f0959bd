"""Deny by default, deny wins: custom policies, roles, ownership, ACLs and plugin blocking."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from docveil.config import Settings
from docveil.context import Stash
from docveil.engine import Engine
from docveil.errors import AccessDeniedError, LoadError, NotFoundError, PluginError
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.store.database import Database
from docveil.types import TENANT_WIDE, Acl, Principal
from tests.plugins.deny_policy import AllowEverythingPolicy, BlocklistPolicy

TENANT = "policy"
ALICE = Principal(TENANT, "alice", frozenset({"analyst"}))   # owner of what she ingests
BOB = Principal(TENANT, "bob", frozenset({"analyst"}))
CAROL = Principal(TENANT, "carol", frozenset({"analyst"}))
DAVE = Principal(TENANT, "dave", frozenset({"hr"}))
MALLORY = Principal(TENANT, "mallory", frozenset({"analyst", "admin"}))
ADMIN = Principal(TENANT, "root", frozenset({"admin"}))
AUDITOR = Principal(TENANT, "auditor", frozenset({"auditor"}))
FILES = {
    "board.txt": "Board minutes: the greenhouse budget for the rooftop garden was approved unanimously.\n",
    "canteen.txt": "Canteen notice: the soup of the day is pumpkin, and the salad bar closes at two.\n",
    "parking.txt": "Facilities: the parking garage gates will be repainted during the long weekend.\n",
}


def write_files(folder: Path) -> dict[str, Path]:
    paths = {}
    for name, text in FILES.items():
        paths[name] = folder / name
        paths[name].write_text(text, encoding="utf-8")
    return paths


def ingest_all(engine: Engine, folder: Path, acls: dict[str, Acl] | None = None) -> dict[str, str]:
    ids = {}
    for name, path in write_files(folder).items():
        report = engine.ingest([path], ALICE, acl=(acls or {}).get(name, TENANT_WIDE))
        assert report.ok
        ids[name] = report.ingested[0].document_id
    return ids


def visible_in_search(engine: Engine, principal: Principal) -> set[str]:
    return {h.document_id for h in engine.search("greenhouse budget rooftop garden", principal, k=50)}


def visible_in_list(engine: Engine, principal: Principal) -> set[str]:
    return {i.document_id for i in engine.documents(principal)}


def denials(engine: Engine) -> list[tuple[str, str, str]]:
    return [(r.user, r.outcome, r.extra.get("action")) for r in engine.audit_records(AUDITOR, action="deny")]


@pytest.fixture
def blocklist_engine(settings: Settings, db: Database, model_stash: Stash) -> Iterator[Engine]:
    with Engine(settings, database=db, stash=model_stash, plugins=[BlocklistPolicy({"mallory"})]) as engine:
        yield engine


def test_a_deny_policy_wins_over_the_default_allow(blocklist_engine: Engine, tmp_path: Path) -> None:
    ids = ingest_all(blocklist_engine, tmp_path)
    assert blocklist_engine.search("greenhouse budget", ALICE, k=3)
    with pytest.raises(AccessDeniedError):
        blocklist_engine.search("greenhouse budget", MALLORY, k=3)
    assert denials(blocklist_engine) == [("mallory", "denied", "search")]
    searches = blocklist_engine.audit_records(AUDITOR, action="search")
    assert [r.user for r in searches] == ["alice"]
    # The policy abstains on other actions: the default policy decides them.
    assert visible_in_list(blocklist_engine, MALLORY) == set(ids.values())
    assert blocklist_engine.audit_verify(AUDITOR).ok


def test_an_allow_policy_cannot_outvote_a_default_deny(settings: Settings, db: Database, model_stash: Stash) -> None:
    with Engine(settings, database=db, stash=model_stash, plugins=[AllowEverythingPolicy()]) as engine:
        for call in (lambda: engine.reidentify(["<PERSON_0123456789>"], CAROL),
                     lambda: engine.forget("Jane Roe", CAROL),
                     lambda: engine.audit_records(CAROL)):
            with pytest.raises(AccessDeniedError):
                call()
        assert denials(engine) == [("carol", "denied", "reidentify"), ("carol", "denied", "forget"),
                                   ("carol", "denied", "audit.read")]


def test_reidentify_without_the_role_is_denied_and_audited(engine: Engine, tmp_path: Path) -> None:
    note = tmp_path / "note.txt"
    note.write_text("Referral letter for Henrik Larsen about his knee surgery.\n", encoding="utf-8")
    engine.ingest([note], ALICE)
    tokens = [m.group(0) for h in engine.search("knee surgery", ALICE, k=1) for m in TOKEN_PATTERN.finditer(h.text)]
    assert tokens
    for principal in (ALICE, ADMIN, AUDITOR):
        with pytest.raises(AccessDeniedError):
            engine.reidentify(tokens, principal)
    assert denials(engine) == [(p.user, "denied", "reidentify") for p in (ALICE, ADMIN, AUDITOR)]
    assert engine.audit_records(AUDITOR, action="reidentify") == []
    resolved = engine.reidentify(tokens, Principal(TENANT, "resolver", frozenset({"reidentify"})))
    assert "Henrik Larsen" in resolved.values()


def test_acl_change_and_delete_need_the_owner_or_an_admin(engine: Engine, tmp_path: Path) -> None:
    ids = ingest_all(engine, tmp_path)
    board, canteen, parking = ids["board.txt"], ids["canteen.txt"], ids["parking.txt"]
    with pytest.raises(AccessDeniedError):
        engine.set_acl(board, Acl(users=frozenset({"bob"}), roles=frozenset()), BOB)
    with pytest.raises(AccessDeniedError):
        engine.delete_document(board, BOB)
    assert denials(engine) == [("bob", "denied", "acl.change"), ("bob", "denied", "documents.delete")]
    info = {i.document_id: i for i in engine.documents(CAROL)}
    assert info[board].acl == TENANT_WIDE and set(info) == set(ids.values())

    engine.set_acl(board, Acl(users=frozenset({"bob"}), roles=frozenset()), ALICE)   # the owner
    engine.delete_document(canteen, ALICE)
    engine.delete_document(parking, ADMIN)                                           # an admin
    assert visible_in_list(engine, BOB) == {board}
    with engine.database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM chunks WHERE document_id = ANY(%s::uuid[])",
                            [[canteen, parking]]).fetchone()[0] == 0
    changes = engine.audit_records(AUDITOR, action="acl.change")
    deletes = engine.audit_records(AUDITOR, action="documents.delete")
    assert [(r.user, r.targets) for r in changes] == [("alice", (board,))]
    assert [(r.user, r.targets) for r in deletes] == [("alice", (canteen,)), ("root", (parking,))]
    assert engine.audit_verify(AUDITOR).ok


def test_a_document_one_may_not_read_does_not_exist_for_acl_changes_and_deletes(engine: Engine,
                                                                                tmp_path: Path) -> None:
    board = ingest_all(engine, tmp_path)["board.txt"]
    engine.set_acl(board, Acl(users={"alice"}), ALICE)
    for attempt in (lambda: engine.delete_document(board, BOB),
                    lambda: engine.set_acl(board, Acl(users={"bob"}), BOB)):
        with pytest.raises(NotFoundError, match="does not exist"):
            attempt()
    denied = engine.audit_records(AUDITOR, action="deny")
    assert [(r.user, r.targets, r.extra["action"]) for r in denied] == [
        ("bob", (board,), "documents.delete"), ("bob", (board,), "acl.change")]
    engine.delete_document(board, ADMIN)  # an admin still may, though it cannot read it


def test_a_denied_acl_change_or_delete_holds_one_pooled_connection_at_most(settings: Settings, db: Database,
                                                                           model_stash: Stash, tmp_path: Path) -> None:
    # With a pool of one, a denial audited while the look-up's connection is still held would
    # wait for a second connection until the pool gives up: the deny record would be lost.
    with Engine(settings, database=db, stash=model_stash) as writer:
        board = ingest_all(writer, tmp_path)["board.txt"]
    single = Database(settings, database=db.database, pool_size=1, pool_timeout=2.0)
    with Engine(settings, database=single, stash=model_stash) as engine:
        for attempt in (lambda: engine.set_acl(board, Acl(users={"bob"}), BOB),
                        lambda: engine.delete_document(board, BOB)):
            with pytest.raises(AccessDeniedError):
                attempt()
        assert denials(engine) == [("bob", "denied", "acl.change"), ("bob", "denied", "documents.delete")]
        engine.delete_document(board, ALICE)
        assert [r.user for r in engine.audit_records(AUDITOR, action="documents.delete")] == ["alice"]


def test_after_set_acl_a_document_is_visible_exactly_to_the_new_acl(engine: Engine, tmp_path: Path) -> None:
    ids = ingest_all(engine, tmp_path)
    board = ids["board.txt"]
    everyone = (BOB, CAROL, DAVE, ADMIN)
    assert all(board in visible_in_search(engine, p) and board in visible_in_list(engine, p) for p in everyone)
    for acl in (Acl(users=frozenset({"bob"}), roles=frozenset({"hr"})), Acl(users=frozenset({"carol"}), roles=frozenset()),
                TENANT_WIDE):
        engine.set_acl(board, acl, ALICE)
        for principal in everyone:
            allowed = acl.allows(principal)
            assert (board in visible_in_search(engine, principal)) is allowed, (acl, principal.user)
            assert (board in visible_in_list(engine, principal)) is allowed, (acl, principal.user)
        with engine.database.admin() as conn:
            rows = conn.execute("SELECT DISTINCT acl_users, acl_roles FROM chunks WHERE document_id = %s",
                                [board]).fetchall()
        assert rows == [(sorted(acl.users), sorted(acl.roles))]
    # The other documents never changed.
    assert {ids["canteen.txt"], ids["parking.txt"]} <= visible_in_list(engine, DAVE)


def test_documents_lists_only_visible_documents(engine: Engine, tmp_path: Path) -> None:
    ids = ingest_all(engine, tmp_path, acls={"board.txt": Acl(users=frozenset({"bob"}), roles=frozenset()),
                                             "canteen.txt": Acl(users=frozenset(), roles=frozenset({"hr"}))})
    assert visible_in_list(engine, CAROL) == {ids["parking.txt"]}
    assert visible_in_list(engine, BOB) == {ids["board.txt"], ids["parking.txt"]}
    assert visible_in_list(engine, DAVE) == {ids["canteen.txt"], ids["parking.txt"]}
    assert visible_in_search(engine, CAROL) <= {ids["parking.txt"]}
    record = engine.audit_records(AUDITOR, action="documents.list", user="carol")[0]
    assert record.counts["documents"] == 1


@pytest.mark.parametrize("essential", ["docveil.security.access", "docveil.security.audit"])
def test_essential_plugins_cannot_be_blocked(settings: Settings, essential: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PluginError, match="cannot be blocked"):
        Engine(Settings(home=settings.home, load_entry_points=False, blocked_plugins=(essential,)))
    monkeypatch.setenv("DOCVEIL_BLOCK_PLUGINS", f"docveil.stages.load.pdf,{essential}")
    with pytest.raises(PluginError, match="cannot be blocked"):
        Engine(Settings(home=settings.home, load_entry_points=False))


def test_blocking_a_name_no_plugin_has_is_an_error(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCVEIL_BLOCK_PLUGINS", "docveil.stages.load.htm")
    with pytest.raises(PluginError, match=r"cannot block 'docveil\.stages\.load\.htm': no plugin has that name"):
        Engine(Settings(home=settings.home, load_entry_points=False))


def test_a_blocked_loader_is_gone_and_its_files_fail_with_a_clear_error(
        settings: Settings, db: Database, model_stash: Stash, tmp_path: Path) -> None:
    page = tmp_path / "ticket.html"
    page.write_text("<html><head><title>Ticket</title></head><body><p>The printer jams on page two.</p>"
                    "</body></html>", encoding="utf-8")
    text = tmp_path / "notes.txt"
    text.write_text("The printer on the third floor jams on every second page.\n", encoding="utf-8")
    assert Engine(settings, stash=model_stash).load(page).media_type == "text/html"   # not blocked: loads

    blocked = Settings(home=settings.home, load_entry_points=False, blocked_plugins=("docveil.stages.load.html",))
    with Engine(blocked, database=db, stash=model_stash) as engine:
        assert engine.plugin_manager.is_blocked("docveil.stages.load.html")
        with pytest.raises(LoadError) as raised:
            engine.load(page)
        assert str(page) in str(raised.value) and "loader" in str(raised.value)
        report = engine.ingest([page, text], ALICE)
        assert [Path(d.source).name for d in report.ingested] == ["notes.txt"]
        assert [(Path(f.source).name, f.error) for f in report.failed] == [("ticket.html", "UnsupportedFormatError")]
        assert "HTML" in report.failed[0].reason or "html" in report.failed[0].reason


def test_uploading_a_copy_of_a_document_one_cannot_read_stores_ones_own_and_reveals_nothing(
        engine: Engine, tmp_path: Path) -> None:
    paths = write_files(tmp_path)
    private = engine.ingest([paths["board.txt"]], ALICE, acl=Acl(users={"alice"}))
    shared = engine.ingest([paths["canteen.txt"]], ALICE)
    [alices] = private.ingested

    [bobs] = engine.ingest([paths["board.txt"]], BOB).ingested
    assert not bobs.duplicate and bobs.document_id != alices.document_id
    assert {d.document_id for d in engine.documents(BOB)} == {bobs.document_id, shared.ingested[0].document_id}
    # A copy of what one can read, or of one's own upload, is still a duplicate.
    again = engine.ingest([paths["board.txt"], paths["canteen.txt"]], BOB).ingested
    assert [(d.duplicate, d.document_id) for d in again] == [
        (True, bobs.document_id), (True, shared.ingested[0].document_id)]
    assert engine.ingest([paths["board.txt"]], ALICE).ingested[0].document_id == alices.document_id
