"""Concurrent queries share one encoder pass, each gets its own vector, errors reach every caller."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from docveil.errors import EncoderError, UnredactedContentError
from docveil.stages.encode.coalescing import CoalescingEncoder
from docveil.types import RedactedText


class GatedEncoder:
    """Records each batch; the first call blocks until released, so later callers queue up."""

    name, dimension = "gated", 3

    def __init__(self, fail: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.fail = fail

    def encode(self, texts: Sequence[RedactedText]) -> np.ndarray:
        self.batches.append([t.text for t in texts])
        self.entered.set()
        assert self.release.wait(timeout=30)
        if self.fail:
            raise EncoderError("the model failed")
        return np.array([[float(len(t.text)), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_queries_waiting_together_are_encoded_in_one_batch() -> None:
    inner = GatedEncoder()
    coalescing = CoalescingEncoder(inner)
    texts = [RedactedText("x" * n) for n in range(1, 9)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(coalescing.encode_one, texts[0])
        assert inner.entered.wait(timeout=30)
        rest = [pool.submit(coalescing.encode_one, t) for t in texts[1:]]
        while coalescing._queue.qsize() < len(rest):  # all seven queued behind the first pass
            threading.Event().wait(0.01)
        inner.release.set()
        vectors = [first.result(timeout=30)] + [f.result(timeout=30) for f in rest]
    coalescing.close()
    # The seven wait in the order their threads queued them, which the scheduler chooses.
    assert inner.batches[0] == ["x"] and sorted(inner.batches[1]) == sorted(t.text for t in texts[1:])
    assert len(inner.batches) == 2
    assert [v[0] for v in vectors] == [float(n) for n in range(1, 9)]  # each caller gets its own row
    assert coalescing.batches == 2


def test_an_encoder_error_reaches_every_caller_of_the_batch() -> None:
    inner = GatedEncoder(fail=True)
    coalescing = CoalescingEncoder(inner)
    inner.release.set()
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(coalescing.encode_one, RedactedText(f"query {n}")) for n in range(3)]
        for future in futures:
            with pytest.raises(EncoderError, match="the model failed"):
                future.result(timeout=30)
    coalescing.close()


def test_unredacted_text_and_use_after_close_are_refused() -> None:
    inner = GatedEncoder()
    inner.release.set()
    coalescing = CoalescingEncoder(inner)
    with pytest.raises(UnredactedContentError):
        coalescing.encode_one("Maria Gonzalez")  # type: ignore[arg-type]
    assert coalescing.encode_one(RedactedText("ok"))[0] == 2.0
    coalescing.close()
    with pytest.raises(RuntimeError, match="closed"):
        coalescing.encode_one(RedactedText("late"))


def test_engine_searches_share_the_query_encoder(engine) -> None:
    """Concurrent searches through one engine find what they find one at a time (as sets: a
    batch pads queries to one length, which may reorder near ties)."""
    from docveil.interfaces.demo import sample_paths
    from docveil.types import Principal

    alice = Principal("acme", "alice", frozenset({"analyst"}))
    engine.ingest(sample_paths(), alice)
    queries = ["payroll dispute", "Which doctor is treating Maria Gonzalez?", "invoice overdue", "server outage"]
    alone = {q: {h.chunk_id for h in engine.search(q, alice, k=3)} for q in queries}
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = dict(zip(queries, pool.map(lambda q: {h.chunk_id for h in engine.search(q, alice, k=3)},
                                              queries), strict=True))
    assert together == alone
    assert engine._query_encoder is not None and engine._query_encoder[1].batches >= 1


def test_one_bad_item_fails_only_its_own_caller() -> None:
    from docveil.coalescing import Coalescer

    gate, entered, batches = threading.Event(), threading.Event(), []

    def run(items: list[str]) -> list[str]:
        batches.append(list(items))
        entered.set()
        assert gate.wait(timeout=30)
        if "bad" in items:
            raise ValueError("cannot process 'bad'")
        return [item.upper() for item in items]

    coalescer: Coalescer[str, str] = Coalescer(run, name="test")
    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(coalescer.submit, "first")
        assert entered.wait(timeout=30)
        rest = {item: pool.submit(coalescer.submit, item) for item in ("a", "bad", "b")}
        while coalescer._queue.qsize() < len(rest):
            threading.Event().wait(0.01)
        gate.set()
        assert first.result(timeout=30) == "FIRST"
        assert rest["a"].result(timeout=30) == "A" and rest["b"].result(timeout=30) == "B"
        with pytest.raises(ValueError, match="bad"):
            rest["bad"].result(timeout=30)
    coalescer.close()
    assert sorted(batches[1]) == ["a", "b", "bad"] and ["a"] in batches and ["b"] in batches


def test_engine_queries_share_detection_and_still_find_names(engine) -> None:
    def pseudonymized(query: str) -> str:
        with engine.database.transaction("acme") as conn:
            return engine.pseudonymize_query(conn, query, "acme").text

    with ThreadPoolExecutor(max_workers=4) as pool:
        redacted = list(pool.map(
            pseudonymized,
            ["Which doctor is treating Maria Gonzalez?", "mail jane.roe@example.com about it",
             "invoice overdue", "call 415-555-0134 today"]))
    assert "Maria Gonzalez" not in redacted[0] and "<PERSON_" in redacted[0]
    assert "jane.roe@example.com" not in redacted[1] and redacted[2] == "invoice overdue"
    assert "415-555-0134" not in redacted[3]
    assert engine._query_detector is not None and engine._query_detector.batches >= 1


def test_a_batch_function_that_miscounts_fails_its_callers_and_the_worker_lives_on() -> None:
    from docveil.coalescing import Coalescer

    def run(items: list[str]) -> list[str]:
        return [] if "lost" in items else [item.upper() for item in items]

    coalescer: Coalescer[str, str] = Coalescer(run, name="test")
    with pytest.raises(RuntimeError, match="gave 0 results for 1 items"):
        coalescer.submit("lost")
    with ThreadPoolExecutor(max_workers=1) as pool:  # a later caller is answered, not left waiting
        assert pool.submit(coalescer.submit, "next").result(timeout=30) == "NEXT"
    coalescer.close()
