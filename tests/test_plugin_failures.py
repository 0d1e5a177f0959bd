"""A plugin that fails is named, fails only what it touched, and never carries its message
(which may quote document text) into docveil's errors, reports or logs."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from docveil.context import Stash
from docveil.engine import Engine
from docveil.errors import AccessDeniedError, EncoderError, LoadError, PluginError
from docveil.hookspecs import hookimpl
from docveil.plugins import make_plugin_manager
from docveil.types import Finding, Principal

ALICE = Principal("acme", "alice")
AUDITOR = Principal("acme", "auditor", frozenset({"auditor"}))
PLANTED = "Henrietta Vandermolen"


class ExplodingDetector:
    """Fails on any text holding the word BOOM, quoting the text in its message."""

    @hookimpl
    def docveil_detect_text(self, texts: Sequence[str]) -> list[list[Finding]]:
        for text in texts:
            if "BOOM" in text:
                raise RuntimeError(f"cannot parse {text!r}")
        return [[] for _ in texts]


class ExplodingLoader:
    """Fails on files named like a ledger, quoting their content."""

    @hookimpl(tryfirst=True)
    def docveil_load_document(self, source: Any) -> None:
        if source.name.endswith(".ledger.txt"):
            raise KeyError(source.data.decode())


class FailingSink:
    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def docveil_audit_record(self, record: Mapping[str, Any]) -> None:
        self.calls += 1
        raise ConnectionError("SIEM unreachable")


class RaisingPolicy:
    @hookimpl
    def docveil_authorize(self, principal: Principal, action: str) -> bool | None:
        raise TimeoutError("policy service timed out")


class SloppyPolicy:
    """Returns the overlap of two sets: empty (falsy) where it means to deny."""

    @hookimpl
    def docveil_authorize(self, principal: Principal, action: str) -> Any:
        return principal.roles & {"finance"}


def _files(folder: Path, texts: Mapping[str, str]) -> list[Path]:
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [folder / name for name in texts]


@pytest.mark.parametrize("batch_size", [1, 8])
def test_a_detector_failing_on_one_document_fails_only_that_document(
        settings, db, model_stash: Stash, tmp_path: Path, batch_size: int, caplog) -> None:
    paths = _files(tmp_path, {"a.txt": "The invoice for the office chairs was paid.",
                              "boom.txt": f"BOOM. Letter to {PLANTED} about the lease.",
                              "b.txt": "The printer on the third floor is fixed."})
    caplog.set_level(logging.DEBUG)
    with Engine(settings, database=db, plugins=[ExplodingDetector()], stash=model_stash) as engine:
        alone = engine.ingest([paths[1]], ALICE, batch_size=batch_size)
        report = engine.ingest(paths, ALICE, batch_size=batch_size)
        errors = [r for r in engine.audit_records(AUDITOR, action="ingest") if r.outcome == "error"]
    for failed in (alone.failed, report.failed):
        [failure] = failed
        assert Path(failure.source).name == "boom.txt" and failure.error == "PluginError"
        assert "ExplodingDetector" in failure.reason and "docveil_detect_text" in failure.reason
        assert PLANTED not in failure.reason
    assert sorted(Path(d.source).name for d in report.ingested) == ["a.txt", "b.txt"]
    assert len(errors) == 2
    assert PLANTED not in caplog.text


def test_a_failing_plugin_is_named_and_its_message_stays_on_the_cause(settings) -> None:
    manager = make_plugin_manager(settings.with_overrides(load_entry_points=False), [ExplodingDetector()])
    with pytest.raises(PluginError, match="ExplodingDetector failed in hook docveil_detect_text") as raised:
        manager.hook.docveil_detect_text(texts=[f"BOOM {PLANTED}"], context=None)
    assert PLANTED not in str(raised.value)
    assert isinstance(raised.value.__cause__, RuntimeError)


def test_a_failing_loader_is_a_load_error_naming_the_file_and_the_plugin(settings, tmp_path: Path) -> None:
    [path] = _files(tmp_path, {"q3.ledger.txt": f"Paid to {PLANTED}."})
    with Engine(settings.with_overrides(load_entry_points=False), plugins=[ExplodingLoader()]) as engine, \
            pytest.raises(LoadError) as raised:
        engine.load(path)
    assert raised.value.source == str(path)
    assert "ExplodingLoader failed in hook docveil_load_document (KeyError" in raised.value.reason
    assert PLANTED not in str(raised.value)


def test_two_plugins_with_one_name_are_refused(settings) -> None:
    with pytest.raises(PluginError, match="two plugins are named 'ExplodingDetector'"):
        make_plugin_manager(settings, [ExplodingDetector(), ExplodingDetector()])


def test_a_failing_audit_sink_does_not_turn_committed_actions_into_errors(
        settings, db, model_stash: Stash, tmp_path: Path, caplog) -> None:
    sink = FailingSink()
    [path] = _files(tmp_path, {"a.txt": "The budget for the spring campaign was approved."})
    with Engine(settings, database=db, plugins=[sink], stash=model_stash) as engine:
        report = engine.ingest([path], ALICE)
        assert report.ok and len(report.ingested) == 1
        assert engine.search("spring campaign budget", ALICE, k=1)
        engine.delete_document(report.ingested[0].document_id, ALICE)
        assert engine.documents(ALICE) == []
        with pytest.raises(AccessDeniedError):
            engine.forget("anyone", ALICE)
        actions = [r.action for r in engine.audit_records(AUDITOR)]
        assert engine.audit_verify(AUDITOR).ok
    assert [a for a in actions if a != "keys.create"][:4] == ["ingest", "search", "documents.delete", "documents.list"]
    assert "deny" in actions
    assert sink.calls >= 5
    assert "audit sink failed" in caplog.text and "FailingSink" in caplog.text


@pytest.mark.parametrize("policy", [RaisingPolicy(), SloppyPolicy()], ids=["raises", "not-a-bool"])
def test_a_policy_that_fails_or_returns_a_non_bool_denies_and_is_audited(
        settings, db, model_stash: Stash, policy: object) -> None:
    with Engine(settings, database=db, plugins=[policy], stash=model_stash) as engine, \
            pytest.raises(AccessDeniedError, match="an access policy failed"):
        engine.search("the budget", ALICE)
    with Engine(settings, database=db, stash=model_stash) as engine:
        denials = engine.audit_records(AUDITOR, action="deny")
    assert [(r.user, r.extra) for r in denials] == [("alice", {"action": "search", "error": "policy failed"})]


class NanEncoder:
    """The default text encoder, but a vector of NaN for every text holding the word NAN."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dimension = inner, inner.name, inner.dimension

    def encode(self, texts: Sequence[Any]) -> Any:
        vectors = self.inner.encode(texts).copy()
        vectors[[i for i, text in enumerate(texts) if "NAN" in text.text]] = float("nan")
        return vectors


class NanEncoderPlugin:
    @hookimpl
    def docveil_text_encoder(self, context: Any) -> NanEncoder:
        from docveil.stages.encode import text

        return NanEncoder(text.docveil_text_encoder(context))


def test_vectors_with_nan_fail_their_document_and_their_search_with_a_clear_error(
        settings, db, model_stash: Stash, tmp_path: Path) -> None:
    paths = _files(tmp_path, {"a.txt": "The invoice for the office chairs was paid.",
                              "nan.txt": "NAN. The lease of the third floor ends in May.",
                              "b.txt": "The printer on the third floor is fixed."})
    with Engine(settings, database=db, plugins=[NanEncoderPlugin()], stash=model_stash) as engine:
        report = engine.ingest(paths, ALICE)
        assert sorted(Path(d.source).name for d in report.ingested) == ["a.txt", "b.txt"]
        assert [(Path(f.source).name, f.reason) for f in report.failed] == [
            ("nan.txt", "the text encoder returned vectors with NaN or infinity")]
        with db.transaction("acme") as conn:
            assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 2
        assert engine.search("printer", ALICE, k=1)[0].text == "The printer on the third floor is fixed."
        with pytest.raises(EncoderError, match="NaN or infinity"):
            engine.search("NAN printer", ALICE)
        assert engine.audit_records(AUDITOR, action="search")[-1].outcome == "error"
