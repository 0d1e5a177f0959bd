"""Engine.ask and ask_stream: retrieval through search, redacted prompts, the output guard,
re-identification, citations, streaming and the audit trail."""

from __future__ import annotations

import json
import sys

import pytest

from docveil.ask.guard import OutputGuard, Segmenter
from docveil.ask.prompt import build_request, user_prompt
from docveil.errors import AccessDeniedError, AnswerError, ConfigError
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import Answer, AnswerDelta, Hit, Principal, RedactedText

from .answerers import Scripted
from .conftest import ALICE, OFFICER, RAW_VALUES, ingest

AUDITOR = Principal("acme", "audrey", frozenset({"auditor"}))
QUESTION = "How much rent does Jane Roe pay each month?"


def collect(stream) -> tuple[list[AnswerDelta], Answer]:
    events = list(stream)
    assert isinstance(events[-1], Answer) and all(isinstance(e, AnswerDelta) for e in events[:-1])
    return events[:-1], events[-1]


def ask_records(engine) -> list[dict]:
    return [r.as_dict() for r in engine.audit_records(AUDITOR) if r.action in ("ask", "reidentify")]


def test_extractive_answer_quotes_visible_passages_with_citations(make_engine, documents) -> None:
    engine = make_engine()
    ids = ingest(engine, documents)
    deltas, answer = collect(engine.ask_stream(QUESTION, ALICE, k=5))
    assert answer.extractive and answer.model == "extractive"
    assert answer.text.startswith("Extractive answer")
    assert "".join(d.text for d in deltas) == answer.text
    assert "1200 euros" in answer.text
    assert [(c.document_id, c.number) for c in answer.citations] == [(ids["lease"], 1)]
    assert answer.citations[0].source.endswith("_lease.txt") and answer.citations[0].page == 1
    assert "jane_roe" not in answer.citations[0].source.lower()  # the name in it is a token
    unseen = TOKEN_PATTERN.sub(" ", answer.text)  # a token's hex digits may hold "95000" by chance
    assert "Tom Hardy" not in unseen and "95000" not in unseen, "alice may not read the salary review"
    assert not any(value in answer.text for value in RAW_VALUES)
    assert TOKEN_PATTERN.search(answer.redacted_question) and "Jane Roe" not in answer.redacted_question


def test_answerer_sees_only_redacted_question_and_passages(make_engine, documents) -> None:
    scripted = Scripted()
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    engine.ask(QUESTION + " Mail jane.roe@example.com about it.", ALICE)
    request = scripted.requests[0]
    seen = "\n".join(scripted.seen_texts()) + user_prompt(request)
    assert not any(value in seen for value in RAW_VALUES)
    assert "jane_roe_lease" not in seen, "file names never reach a model"
    question_tokens = set(TOKEN_PATTERN.findall(request.question.text))
    passage_tokens = {t for p in request.passages for t in TOKEN_PATTERN.findall(p.text.text)}
    assert question_tokens & passage_tokens, "the question's name gets the same token as in the documents"


def test_tokens_are_resolved_only_for_principals_who_may_reidentify(make_engine, documents) -> None:
    engine = make_engine()
    ingest(engine, documents)
    plain = engine.ask(QUESTION, ALICE)
    resolved = engine.ask(QUESTION, OFFICER)
    assert "<PERSON_" in plain.text and "Jane Roe" not in plain.text and plain.reidentified == 0
    assert "Jane Roe" in resolved.text and "<PERSON_" not in resolved.text and resolved.reidentified >= 1
    records = ask_records(engine)
    reidentified = [r for r in records if r["action"] == "reidentify"]
    assert len(reidentified) == 1 and reidentified[0]["user"] == "olga"
    assert reidentified[0]["extra"] == {"via": "ask"} and reidentified[0]["hashes"]["tokens"]


def test_guard_redacts_personal_data_the_context_does_not_hold(make_engine, documents) -> None:
    scripted = Scripted(["The rent is 1200 euros [1]. Complaints go to ", "mallory.fake@example.org, who ",
                         "will call back.\n"])
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    answer = engine.ask(QUESTION, OFFICER)
    assert "mallory.fake@example.org" not in answer.text and answer.guarded == 1
    with engine.database.transaction("acme") as conn:
        expected = engine._pseudonymizer(conn, "acme").token("mallory.fake@example.org", "EMAIL_ADDRESS")
    assert expected in answer.text, "the tenant's own token, as in every document"
    assert "1200 euros [1]" in answer.text
    assert answer.reidentified == 0, "a value the model made up is never resolved"


def test_guard_keeps_values_the_context_holds_and_skips_tokens(engine) -> None:
    with engine.database.transaction("acme") as conn:
        pseudonymizer = engine._pseudonymizer(conn, "acme")
    guard = OutputGuard(engine.detect, pseudonymizer, ["Invoices go to billing@example.com."])
    text = "Write to billing@example.com or to eve.other@example.net about <PERSON_0123456789>."
    cleaned = guard.clean(text)
    assert "billing@example.com" in cleaned and "eve.other@example.net" not in cleaned
    assert "<PERSON_0123456789>" in cleaned and guard.redacted == 1


def test_a_token_from_outside_the_context_is_never_resolved(make_engine, documents) -> None:
    engine = make_engine()
    ingest(engine, documents)
    salary_token = next(t for t in TOKEN_PATTERN.finditer(
        engine.search("salary review", Principal("acme", "carol"), k=1)[0].text))
    scripted = Scripted([f"The lease [1] names {salary_token.group(0)} too.\n"])
    prompted = make_engine(scripted, answerer="scripted")
    answer = prompted.ask(QUESTION, OFFICER)
    assert salary_token.group(0) in answer.text and "Tom Hardy" not in answer.text
    assert answer.reidentified == 0


def test_streamed_deltas_never_split_a_value_and_add_up_to_the_answer(make_engine, documents) -> None:
    pieces = ["The tenant <PER", "SON_", "0123456789> pays 1200 euros [1]. Ask ", "carl.", "planted@exa",
              "mple.org for", " keys.\nDone."]
    scripted = Scripted(pieces)
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    deltas, answer = collect(engine.ask_stream(QUESTION, ALICE))
    assert len(deltas) >= 2
    assert "".join(d.text for d in deltas) == answer.text
    assert not any("planted" in d.text for d in deltas), "the made-up address leaves as a token"
    assert all(TOKEN_PATTERN.sub("", d.text).count("<") == 0 for d in deltas), "no half token"
    assert "<PERSON_0123456789>" in answer.text and "<EMAIL_ADDRESS_" in answer.text


def test_segmenter_releases_whole_lines_and_sentences() -> None:
    segmenter = Segmenter(min_chars=20)
    out = [s for piece in ("Dr. Jane Roe arrived at noon. She ", "left at five.\nNext", " line")
           for s in segmenter.feed(piece)]
    out.append(segmenter.flush())
    assert out == ["Dr. Jane Roe arrived at noon. ", "She left at five.\n", "Next line"]


def test_citations_follow_the_marks_the_answer_uses(make_engine, documents) -> None:
    scripted = Scripted(["Rent is due monthly [2], as the lease says [1][2].\n"])
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    carol = Principal("acme", "carol")
    answer = engine.ask("lease rent salary review euros", carol, k=2)
    request = scripted.requests[0]
    assert len(request.passages) == 2
    assert [c.number for c in answer.citations] == [2, 1]
    hits = engine.search("lease rent salary review euros", carol, k=2)
    assert [c.chunk_id for c in answer.citations] == [hits[1].chunk_id, hits[0].chunk_id]


def test_each_ask_is_audited_with_hashes_ids_and_counts_only(make_engine, documents) -> None:
    engine = make_engine()
    ingest(engine, documents)
    answer = engine.ask(QUESTION, OFFICER)
    record = next(r for r in ask_records(engine) if r["action"] == "ask")
    assert record["user"] == "olga" and record["outcome"] == "ok"
    assert record["targets"] == [str(c.chunk_id) for c in answer.citations]
    assert set(record["hashes"]) == {"question", "answer"}
    assert record["extra"]["model"] == "extractive" and record["extra"]["answerer"] == "extractive"
    assert record["counts"]["cited"] == 1 and record["counts"]["latency_ms"] >= 0
    dumped = json.dumps(record)
    assert not any(value in dumped for value in (*RAW_VALUES, "rent", "euros"))


def test_closing_a_stream_early_stops_the_answerer_and_audits_a_cancel(make_engine, documents) -> None:
    scripted = Scripted(["First line [1].\n"] + ["More text.\n"] * 50, delay=0.01)
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    stream = engine.ask_stream(QUESTION, ALICE)
    assert isinstance(next(stream), AnswerDelta)
    stream.close()
    assert scripted.stopped.is_set() and not scripted.finished.is_set()
    assert [r["outcome"] for r in ask_records(engine)] == ["cancelled"]


def test_a_stream_closed_before_it_is_read_is_audited_as_a_cancel_citing_nothing(make_engine, documents) -> None:
    scripted = Scripted(["First line [1].\n"] * 5)
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    engine.ask_stream(QUESTION, ALICE).close()
    [record] = ask_records(engine)
    assert (record["outcome"], record["counts"]["cited"], record["targets"]) == ("cancelled", 0, [])
    assert not scripted.finished.is_set()


def test_a_bracketed_number_inside_a_quote_is_not_a_citation(make_engine, documents, tmp_path) -> None:
    scripted = Scripted(['- "The deposit is due, see clause [2] of the annex." [1]\n'])
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    (tmp_path / "parking.txt").write_text("The parking fee is paid every month together with the rent.\n")
    engine.ingest([tmp_path / "parking.txt"], ALICE)
    answer = engine.ask(QUESTION, ALICE, k=5)
    assert len(scripted.requests[0].passages) >= 2  # so that [2] would name a passage
    assert [c.number for c in answer.citations] == [1]


def test_an_answerer_failure_is_raised_and_audited(make_engine, documents) -> None:
    scripted = Scripted(["A start.\n", "never sent"], fail_after=1)
    engine = make_engine(scripted, answerer="scripted")
    ingest(engine, documents)
    with pytest.raises(AnswerError):
        engine.ask(QUESTION, ALICE)
    assert [r["outcome"] for r in ask_records(engine)] == ["error"]


def test_checks_fail_before_the_stream_starts(make_engine, documents) -> None:
    engine = make_engine(answerer="no-such-answerer")
    ingest(engine, documents)
    with pytest.raises(ConfigError, match="no-such-answerer"):
        engine.ask_stream(QUESTION, ALICE)
    with pytest.raises(ValueError):
        engine.ask_stream("   ", ALICE)
    with pytest.raises(AccessDeniedError):
        engine.ask_stream(QUESTION, "alice")  # type: ignore[arg-type]


def test_prompt_budget_cuts_passages_between_words_never_inside_a_token() -> None:
    text = "Paid by <PERSON_0123456789> " * 40
    hits = [Hit("d1", 1, "a.txt", 1, None, 1.0, text), Hit("d2", 2, "b.txt", 2, None, 0.5, "second")]
    request, used = build_request(RedactedText("who pays"), hits, max_chars=150)
    assert used == hits[:1] and len(request.passages) == 1
    kept = request.passages[0].text.text
    assert len(kept) <= 152 and kept.endswith(" …")
    assert TOKEN_PATTERN.sub("", kept).count("<") == 0, "no half token"


def test_images_are_refused_when_image_redaction_is_not_installed(make_engine, documents, monkeypatch) -> None:
    engine = make_engine()
    ingest(engine, documents)
    monkeypatch.setitem(sys.modules, "docveil.stages.redact.image", None)
    with pytest.raises(ConfigError, match="image-redaction stage"):
        engine.ask(QUESTION, ALICE, image=b"\x89PNG\r\n\x1a\n")


class CountingDetector:
    def __init__(self, detect) -> None:
        self.detect, self.calls = detect, 0

    def __call__(self, texts):
        self.calls += 1
        return self.detect(texts)


def test_guard_skips_detection_only_for_text_copied_from_the_context(engine) -> None:
    with engine.database.transaction("acme") as conn:
        pseudonymizer = engine._pseudonymizer(conn, "acme")
    context = ["The tenant <PERSON_0123456789> pays   1200 euros on the first working day of each month.",
               "Repairs are reported to the caretaker, who answers within two days."]
    detector = CountingDetector(engine.detect)
    guard = OutputGuard(detector, pseudonymizer, context)
    quotes = ('- "The tenant <PERSON_0123456789> pays 1200 euros on the first working day of each month." [1]\n'
              '- "Repairs are reported to the caretaker, who answers within two days." [2]\n')
    assert guard.clean(quotes) == quotes and detector.calls == 0
    # Anything written around the quotes that has letters, or a number, is checked.
    for added in ('- "Repairs are reported to the caretaker, who answers within two days." Call Jane Roe.\n',
                  '- "Repairs are reported to the caretaker, who answers within two days." 555-0199\n',
                  "Repairs are reported to Jane Roe, who answers within two days.\n"):
        before = detector.calls
        guard.clean(added)
        assert detector.calls == before + 1, added
    assert "Jane Roe" not in guard.clean("Repairs are reported to Jane Roe, who answers within two days.\n")
