"""``forget`` crypto-shreds a data subject: vault entry and key gone, token out of every chunk
and vector, documents only about them deleted on request, everyone else untouched, audited."""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from lock_waits import pause_document_stores, wait_for_a_waiter

from docveil.engine import Engine
from docveil.errors import AccessDeniedError
from docveil.hookspecs import hookimpl
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import Finding, Principal, RedactedText

TENANT = "clinic"
SUBJECT = "Ingrid Holm"
OTHER = "Marcus Webb"
WRITER = Principal(TENANT, "writer")
READER = Principal(TENANT, "reader", frozenset({"analyst"}))
OFFICER = Principal(TENANT, "officer", frozenset({"privacy-officer"}))
ADMIN = Principal(TENANT, "root", frozenset({"admin"}))
REIDENTIFIER = Principal(TENANT, "resolver", frozenset({"reidentify"}))
AUDITOR = Principal(TENANT, "auditor", frozenset({"auditor"}))
SUBJECT_EMAIL = "ingrid.holm@example.no"
FILES = {
    "only_subject.txt": f"Therapy session notes. {SUBJECT} described trouble sleeping since the accident. "
                        "The next session is booked for the following week.\n",
    "shared.txt": f"Team meeting. {SUBJECT} and {OTHER} discussed the migration plan for the archive servers.\n",
    "other.txt": f"Expense claim filed by {OTHER} for the train ticket to the conference.\n",
    "nobody.txt": "Maintenance log: the printer on the second floor was repaired and tested.\n",
}


@dataclass(frozen=True)
class Corpus:
    ids: dict[str, str]
    subject_token: str
    other_token: str
    subject_digest: str


def ingest(engine: Engine, folder: Path) -> Corpus:
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    report = engine.ingest([folder], WRITER)
    assert report.ok and len(report.ingested) == len(FILES)
    ids = {Path(d.source).name: d.document_id for d in report.ingested}
    with engine.database.admin() as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM chunks")]
    tokens = {m.group(0) for text in texts for m in TOKEN_PATTERN.finditer(text)}
    by_value = {value: token for token, value in engine.reidentify(tokens, REIDENTIFIER).items()}
    assert set(by_value) == {SUBJECT, OTHER}, "the detector must find exactly the two people"
    with engine.database.admin() as conn:
        digest = conn.execute("SELECT digest FROM vault WHERE token = %s", [by_value[SUBJECT]]).fetchone()[0]
    return Corpus(ids, by_value[SUBJECT], by_value[OTHER], digest)


@pytest.fixture
def corpus(engine: Engine, tmp_path: Path) -> Corpus:
    return ingest(engine, tmp_path)


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every stored row of the tenant except the audit log (which records each attempt)."""
    queries = {
        "documents": "SELECT id, chunk_count, acl_users, acl_roles, source_enc, metadata_enc FROM documents ORDER BY id",
        "chunks": "SELECT id, document_id, text, embedding::text FROM chunks ORDER BY id",
        "vault": "SELECT digest, token, entity_type, value_enc FROM vault ORDER BY digest",
        "subject_keys": "SELECT digest, wrapped FROM subject_keys ORDER BY digest",
        "document_subjects": "SELECT document_id, digest FROM document_subjects ORDER BY 1, 2",
        "tenant_keys": "SELECT purpose, version, wrapped FROM tenant_keys ORDER BY 1, 2",
    }
    with engine.database.admin() as conn:
        return {name: conn.execute(query).fetchall() for name, query in queries.items()}


def chunk_texts(engine: Engine, document_id: str) -> list[str]:
    with engine.database.admin() as conn:
        return [r[0] for r in conn.execute("SELECT text FROM chunks WHERE document_id = %s ORDER BY ordinal",
                                           [document_id])]


def assert_shredded(engine: Engine, corpus: Corpus) -> None:
    assert engine.reidentify([corpus.subject_token], REIDENTIFIER) == {}
    assert engine.reidentify([corpus.other_token], REIDENTIFIER) == {corpus.other_token: OTHER}
    with engine.database.admin() as conn:
        for table in ("vault", "subject_keys", "document_subjects"):
            left = conn.execute(f"SELECT count(*) FROM {table} WHERE digest = %s", [corpus.subject_digest]).fetchone()[0]
            assert left == 0, f"{table} still holds the subject"
        assert conn.execute("SELECT count(*) FROM vault WHERE token = %s", [corpus.subject_token]).fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM chunks WHERE text LIKE %s",
                            [f"%{corpus.subject_token}%"]).fetchone()[0] == 0
    for query in (SUBJECT, f"What did {SUBJECT} say about sleeping?", corpus.subject_token):
        hits = engine.search(query, READER, k=50)
        assert hits and all(corpus.subject_token not in h.text for h in hits)


def test_forget_shreds_the_subject_and_deletes_documents_only_about_them(engine: Engine, corpus: Corpus) -> None:
    with engine.database.admin() as conn:
        before_vector = conn.execute("SELECT embedding FROM chunks WHERE document_id = %s",
                                     [corpus.ids["shared.txt"]]).fetchone()[0]
    result = engine.forget(SUBJECT, OFFICER, delete_documents=True)
    assert result.subject_found and result.vault_entries == 1
    assert (result.documents_deleted, result.documents_kept) == (1, 1)
    assert_shredded(engine, corpus)

    listed = {i.document_id for i in engine.documents(READER)}
    assert listed == {corpus.ids[n] for n in ("shared.txt", "other.txt", "nobody.txt")}
    assert chunk_texts(engine, corpus.ids["only_subject.txt"]) == []
    shared = " ".join(chunk_texts(engine, corpus.ids["shared.txt"]))
    assert "<PERSON>" in shared and corpus.other_token in shared
    # The vector was recomputed from the scrubbed text, so it no longer encodes the old token.
    with engine.database.admin() as conn:
        after_vector = conn.execute("SELECT embedding FROM chunks WHERE document_id = %s",
                                    [corpus.ids["shared.txt"]]).fetchone()[0]
    expected = engine.text_encoder.encode([RedactedText(shared)])[0]
    assert not np.allclose(before_vector.to_numpy(), after_vector.to_numpy(), atol=1e-3)
    assert np.allclose(after_vector.to_numpy(), expected, atol=1e-4)

    records = engine.audit_records(AUDITOR, action="forget")
    assert [(r.user, r.outcome) for r in records] == [("officer", "ok")]
    assert records[0].counts["documents_deleted"] == 1 and records[0].counts["vault_entries"] == 1
    assert SUBJECT not in str(records[0].as_dict())
    result = engine.audit_verify(AUDITOR)
    assert result.ok, result.reason


def test_forget_keeps_documents_unless_asked_and_scrubs_the_token_from_them(engine: Engine,
                                                                           corpus: Corpus) -> None:
    result = engine.forget(SUBJECT, ADMIN, delete_documents=False)
    assert result.subject_found and (result.documents_deleted, result.documents_kept) == (0, 2)
    assert_shredded(engine, corpus)
    assert {i.document_id for i in engine.documents(READER)} == set(corpus.ids.values())
    only = " ".join(chunk_texts(engine, corpus.ids["only_subject.txt"]))
    assert "<PERSON>" in only and "trouble sleeping" in only
    assert TOKEN_PATTERN.search(only) is None
    assert engine.audit_verify(AUDITOR).ok


def test_forgetting_again_changes_nothing_and_is_audited_as_not_found(engine: Engine, corpus: Corpus) -> None:
    engine.forget(SUBJECT, OFFICER, delete_documents=True)
    before = snapshot(engine)
    again = engine.forget(SUBJECT, OFFICER, delete_documents=True)
    assert not again.subject_found
    assert (again.vault_entries, again.documents_deleted, again.documents_kept) == (0, 0, 0)
    assert snapshot(engine) == before
    assert [r.outcome for r in engine.audit_records(AUDITOR, action="forget")] == ["ok", "not_found"]
    assert engine.audit_verify(AUDITOR).ok


def test_forgetting_someone_never_seen_changes_nothing(engine: Engine, corpus: Corpus) -> None:
    before = snapshot(engine)
    assert not engine.forget("Nobody Known", OFFICER, delete_documents=True).subject_found
    assert snapshot(engine) == before
    assert engine.reidentify([corpus.subject_token], REIDENTIFIER) == {corpus.subject_token: SUBJECT}


def test_forget_without_the_privacy_officer_or_admin_role_is_denied_and_audited(engine: Engine,
                                                                              corpus: Corpus) -> None:
    before = snapshot(engine)
    intruders = [Principal(TENANT, f"intruder{i}", roles) for i, roles in enumerate(
        (frozenset(), frozenset({"analyst"}), frozenset({"reidentify", "auditor"})))]
    for intruder in intruders:
        with pytest.raises(AccessDeniedError):
            engine.forget(SUBJECT, intruder, delete_documents=True)
    assert snapshot(engine) == before
    assert engine.reidentify([corpus.subject_token], REIDENTIFIER) == {corpus.subject_token: SUBJECT}
    denials = engine.audit_records(AUDITOR, action="deny")
    assert [(r.user, r.outcome, r.extra.get("action")) for r in denials] == [
        (p.user, "denied", "forget") for p in intruders]
    assert engine.audit_records(AUDITOR, action="forget") == []
    assert engine.audit_verify(AUDITOR).ok


def test_forgetting_all_values_of_a_person_at_once_shreds_each_and_deletes_what_only_they_name(
        engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "letter.txt").write_text(f"Reply to {SUBJECT} about her insurance claim, sent to {SUBJECT_EMAIL} "
                                         "on Monday.\n", encoding="utf-8")
    (tmp_path / "memo.txt").write_text(f"{OTHER} will phone {SUBJECT_EMAIL} about the missing form.\n",
                                       encoding="utf-8")
    report = engine.ingest([tmp_path], WRITER)
    assert report.ok
    ids = {Path(d.source).name: d.document_id for d in report.ingested}
    with engine.database.admin() as conn:
        tokens = {m.group(0) for (text,) in conn.execute("SELECT text FROM chunks") for m in TOKEN_PATTERN.finditer(text)}
    values = set(engine.reidentify(tokens, REIDENTIFIER).values())
    assert {SUBJECT, SUBJECT_EMAIL, OTHER} <= values

    # The name alone leaves the email resolvable, and the letter (which also names the email) stays.
    only_name = engine.forget(SUBJECT, OFFICER, delete_documents=True)
    assert only_name.subject_found and only_name.documents_deleted == 0
    assert SUBJECT_EMAIL in engine.reidentify(tokens, REIDENTIFIER).values()

    both = engine.forget([SUBJECT, SUBJECT_EMAIL], OFFICER, delete_documents=True)
    assert both.subject_found and both.documents_deleted == 1
    assert set(engine.reidentify(tokens, REIDENTIFIER).values()) == {OTHER}
    assert {i.document_id for i in engine.documents(READER)} == {ids["memo.txt"]}
    for query in (SUBJECT, SUBJECT_EMAIL):
        assert all(SUBJECT_EMAIL not in h.text and SUBJECT not in h.text for h in engine.search(query, READER))
    records = engine.audit_records(AUDITOR, action="forget")
    assert [r.counts["values"] for r in records] == [1, 2]
    assert SUBJECT_EMAIL not in str([r.as_dict() for r in records])
    assert engine.audit_verify(AUDITOR).ok


def test_a_user_name_is_a_subject_that_can_be_forgotten(engine: Engine, tmp_path: Path) -> None:
    handle = "iholm42"  # no detector knows it in a query: only the vault look-up does
    (tmp_path / "chat.txt").write_text(f"[09:12] {handle}: the archive restore finished\n"
                                       "[09:14] ops.bot: thanks, closing the ticket\n", encoding="utf-8")
    assert engine.ingest([tmp_path], WRITER).ok
    with engine.database.admin() as conn:
        (text,) = conn.execute("SELECT text FROM chunks").fetchone()
    tokens = {m.group(0) for m in TOKEN_PATTERN.finditer(text)}
    assert handle not in text and handle in engine.reidentify(tokens, REIDENTIFIER).values()
    with engine._transaction(TENANT) as conn:
        assert engine.pseudonymize_query(conn, f"what did {handle} restore", TENANT).text in {
            f"what did {token} restore" for token in tokens}

    assert engine.forget(handle, OFFICER).subject_found
    assert handle not in engine.reidentify(tokens, REIDENTIFIER).values()
    assert all(handle not in hit.text for hit in engine.search(handle, READER))


@pytest.mark.parametrize("subject", ["", "   ", [], ["Ingrid Holm", ""]])
def test_forget_refuses_an_empty_subject(engine: Engine, subject: object) -> None:
    with pytest.raises(ValueError, match="non-empty value"):
        engine.forget(subject, OFFICER)  # type: ignore[arg-type]


def test_forget_takes_the_subject_out_of_file_names_and_metadata_too(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "Ingrid_Holm_referral.html").write_text(
        f"<html><head><title>Referral of {SUBJECT}</title></head><body><p>{SUBJECT} was referred to the "
        "sleep clinic by her family doctor.</p></body></html>", encoding="utf-8")
    report = engine.ingest([tmp_path], WRITER)
    assert report.ok and Path(report.ingested[0].source).name == "Ingrid_Holm_referral.html"  # as given
    [info] = engine.documents(READER)
    token = TOKEN_PATTERN.search(info.metadata["title"])
    assert token and Path(info.source).name == f"{token.group(0)}_referral.html"
    assert SUBJECT not in info.source + str(info.metadata)
    assert engine.reidentify([token.group(0)], REIDENTIFIER) == {token.group(0): SUBJECT}

    engine.forget(SUBJECT, OFFICER)
    [info] = engine.documents(READER)
    assert Path(info.source).name == "<PERSON>_referral.html"
    assert info.metadata["title"] == "Referral of <PERSON>"
    assert engine.search("sleep clinic referral", READER, k=1)[0].source == info.source
    assert engine.audit_verify(AUDITOR).ok


def test_forgetting_a_person_takes_their_phone_number_too(engine: Engine, tmp_path: Path) -> None:
    phone = "+1 415 555 0134"
    (tmp_path / "callback.txt").write_text(f"Please call {SUBJECT} back on {phone} about the referral.\n",
                                           encoding="utf-8")
    assert engine.ingest([tmp_path], WRITER).ok
    [text] = chunk_texts(engine, engine.documents(READER)[0].document_id)
    tokens = {m.group(0) for m in TOKEN_PATTERN.finditer(text)}
    assert set(engine.reidentify(tokens, REIDENTIFIER).values()) == {SUBJECT, phone}

    result = engine.forget([SUBJECT, "(415) 555-0134"], OFFICER)  # the number as written elsewhere
    assert result.vault_entries == 2
    assert engine.reidentify(tokens, REIDENTIFIER) == {}
    [text] = chunk_texts(engine, engine.documents(READER)[0].document_id)
    assert text == "Please call <PERSON> back on <PHONE_NUMBER> about the referral."


class PlaceOrPerson:
    """Tags "Kestrel Mourne" as a place after "to" and as a person elsewhere, as spaCy can tag
    one name both ways: two labels, one digest, one vault entry."""

    @hookimpl
    def docveil_detect_text(self, texts: Sequence[str]) -> list[list[Finding]]:
        return [[Finding("LOCATION" if text[max(0, m.start() - 3):m.start()] == "to " else "PERSON",
                         m.start(), m.end(), 1.0, "PlaceOrPerson") for m in re.finditer("Kestrel Mourne", text)]
                for text in texts]


def test_a_name_found_as_a_person_and_as_a_place_is_resolved_and_forgotten_under_both_labels(
        settings, db, model_stash, tmp_path: Path) -> None:
    name = "Kestrel Mourne"
    (tmp_path / "visit.txt").write_text(f"{name} asked for the report. The courier went to {name} on Friday.\n",
                                        encoding="utf-8")
    with Engine(settings, database=db, stash=model_stash, plugins=[PlaceOrPerson()]) as engine:
        assert engine.ingest([tmp_path], WRITER).ok
        [document] = engine.documents(READER)
        [text] = chunk_texts(engine, document.document_id)
        tokens = [m.group(0) for m in TOKEN_PATTERN.finditer(text)]
        assert [t.split("_")[0] for t in tokens] == ["<PERSON", "<LOCATION"]
        assert len({t.split("_")[1] for t in tokens}) == 1
        assert engine.reidentify(tokens, REIDENTIFIER) == dict.fromkeys(tokens, name)
        # The same short digest under a label of another namespace names nobody.
        short = tokens[0].split("_")[1]
        assert engine.reidentify([f"<PHONE_NUMBER_{short}>"], REIDENTIFIER) == {}

        assert engine.forget(name, OFFICER).vault_entries == 1
        assert engine.reidentify(tokens, REIDENTIFIER) == {}
        [text] = chunk_texts(engine, document.document_id)
        assert text.startswith("<PERSON> asked for the report. The courier went to <LOCATION> on Friday.")
        assert all(short not in hit.text for hit in engine.search(name, READER))


def email_tokens(engine: Engine) -> set[str]:
    with engine.database.admin() as conn:
        texts = [r[0] for r in conn.execute("SELECT text FROM chunks")]
    return {m.group(0) for text in texts for m in TOKEN_PATTERN.finditer(text) if "EMAIL" in m.group(0)}


def test_a_forget_waits_for_a_document_being_stored_and_then_scrubs_it(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "first.txt").write_text("Case 1: jane.roe@example.org wrote about the invoice.\n")
    (tmp_path / "second.txt").write_text("Case 2: jane.roe@example.org asked for a refund.\n")
    assert engine.ingest([tmp_path / "first.txt"], WRITER).ok
    paused, release = pause_document_stores(monkeypatch)  # inside the store's transaction
    with ThreadPoolExecutor(2) as pool:
        storing = pool.submit(engine.ingest, [tmp_path / "second.txt"], WRITER)
        assert paused.wait(60)
        forgetting = pool.submit(engine.forget, "jane.roe@example.org", OFFICER)
        wait_for_a_waiter(engine)  # the forget, behind the store
        release.set()
        assert storing.result(60).ok
        assert forgetting.result(60).subject_found
    assert email_tokens(engine) == set()  # the stored document's token went too
    hits = engine.search("jane.roe@example.org", READER, k=10)
    assert len(hits) == 2 and not any("EMAIL" in m.group(0) for hit in hits for m in TOKEN_PATTERN.finditer(hit.text))


def test_forgets_running_together_do_not_bring_back_each_others_tokens(
        engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "both.txt").write_text(
        "Case 7: jane.roe@example.org wrote to max.mustermann@example.de about the invoice.\n")
    assert engine.ingest([tmp_path / "both.txt"], WRITER).ok
    assert len(email_tokens(engine)) == 2
    paused, release = threading.Event(), threading.Event()
    scrub_fields = Engine._scrub_fields

    def slow_scrub_fields(self: Engine, *args: object, **kwargs: object) -> None:  # the first forget's last step
        if not paused.is_set():
            paused.set()
            release.wait(60)
        scrub_fields(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "_scrub_fields", slow_scrub_fields)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(engine.forget, "jane.roe@example.org", OFFICER)
        assert paused.wait(60)
        second = pool.submit(engine.forget, "max.mustermann@example.de", OFFICER)
        wait_for_a_waiter(engine)
        release.set()
        assert first.result(60).subject_found and second.result(60).subject_found
    assert email_tokens(engine) == set()
