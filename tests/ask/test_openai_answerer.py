"""The OpenAI-compatible answerer against a real server (llama.cpp serving SmolLM2) behind a
recording proxy on real sockets: streaming, citations, what leaves the process, retries and
timeouts."""

from __future__ import annotations

import base64
import io
import json
import pickle
import socket
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from docveil.ask.openai_compatible import ChatClient, ChatConfig
from docveil.errors import AnswerError, ConfigError
from docveil.types import Answer, AnswerDelta, AnswerRequest, Passage, Principal, RedactedText

from .conftest import ALICE, CANNED, OFFICER, RAW_VALUES, ingest

AUDITOR = Principal("acme", "audrey", frozenset({"auditor"}))
QUESTION = "How much rent does Jane Roe pay each month? Her mail is jane.roe@example.com."
API_KEY = "sk-test-7d1c0ffee"


def openai_engine(make_engine, url: str, **overrides):
    options = {"answerer": "openai", "llm_base_url": url, "llm_model": "smollm2", "llm_max_tokens": 24,
               "llm_timeout": 60.0, "llm_retry_backoff": 0.05, **overrides}
    return make_engine(**options)


def outcomes(engine) -> list[str]:
    return [r.outcome for r in engine.audit_records(AUDITOR) if r.action == "ask"]


def test_streams_an_answer_from_a_real_server_with_citations(make_engine, documents, llama_server,
                                                            make_proxy) -> None:
    proxy = make_proxy(llama_server)
    engine = openai_engine(make_engine, proxy.url)
    ids = ingest(engine, documents)
    events = list(engine.ask_stream(QUESTION, ALICE, k=2))
    answer = events[-1]
    assert isinstance(answer, Answer) and all(isinstance(e, AnswerDelta) for e in events[:-1])
    assert answer.model == "smollm2" and not answer.extractive and answer.text.strip()
    assert "".join(e.text for e in events[:-1]) == answer.text
    assert {c.document_id for c in answer.citations} == {ids["lease"]}, "only the passage alice may read"
    body = proxy.received[0].json
    assert body["stream"] is True and body["temperature"] == 0.0 and body["max_tokens"] == 24
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "[1] (page 1)" in body["messages"][1]["content"]


def test_the_client_streams_piece_by_piece(llama_server) -> None:
    config = ChatConfig(base_url=llama_server, model="smollm2", max_tokens=24)
    request = AnswerRequest(RedactedText("What colour is the sky?"), (Passage(1, RedactedText("The sky is blue."), 1),))
    client = ChatClient()
    try:
        pieces = list(client.stream(config, client.payload(config, request)))
    finally:
        client.close()
    assert len(pieces) > 3 and "".join(pieces).strip()


def test_the_remote_model_never_receives_raw_personal_data(make_engine, documents, llama_server,
                                                           make_proxy) -> None:
    proxy = make_proxy(llama_server)
    engine = openai_engine(make_engine, proxy.url, llm_api_key=API_KEY, llm_max_tokens=8)
    ingest(engine, documents)
    engine.ask(QUESTION, OFFICER, k=3)
    sent = proxy.received[0].body.decode("utf-8")
    assert not any(value in sent for value in RAW_VALUES)
    assert "jane_roe_lease" not in sent, "file names stay out of prompts"
    assert "<PERSON_" in sent and "<EMAIL_ADDRESS_" in sent
    assert proxy.received[0].headers["Authorization"] == f"Bearer {API_KEY}"


def test_the_api_key_never_shows_in_settings_logs_or_audit(make_engine, documents, make_proxy, caplog) -> None:
    proxy = make_proxy(plan=["503", "canned"])
    engine = openai_engine(make_engine, proxy.url, llm_api_key=API_KEY)
    ingest(engine, documents)
    with caplog.at_level("DEBUG"):
        engine.ask(QUESTION, ALICE)
    assert API_KEY not in repr(engine.settings) and API_KEY not in str(engine.settings.llm_api_key)
    with pytest.raises(TypeError):
        pickle.dumps(engine.settings)
    with pytest.raises(TypeError):
        json.dumps({"key": engine.settings.llm_api_key})
    assert API_KEY not in caplog.text and "retry 1 of 3" in caplog.text
    assert API_KEY not in json.dumps([r.as_dict() for r in engine.audit_records(AUDITOR)])


def test_retries_503_with_backoff_then_answers(make_engine, documents, llama_server, make_proxy) -> None:
    proxy = make_proxy(llama_server, plan=["503", "429"])
    engine = openai_engine(make_engine, proxy.url, llm_max_tokens=8)
    ingest(engine, documents)
    answer = engine.ask(QUESTION, ALICE)
    assert answer.text.strip() and len(proxy.received) == 3
    assert len({r.body for r in proxy.received}) == 1, "the same request each time"
    assert outcomes(engine) == ["ok"]


def test_gives_up_after_the_last_retry_with_a_clear_error(make_engine, documents, make_proxy) -> None:
    proxy = make_proxy(plan=["503"] * 5)
    engine = openai_engine(make_engine, proxy.url, llm_max_retries=2)
    ingest(engine, documents)
    with pytest.raises(AnswerError, match=r"HTTP 503\) after 3 attempts") as raised:
        engine.ask(QUESTION, ALICE)
    assert len(proxy.received) == 3
    assert not any(value in str(raised.value) for value in RAW_VALUES)
    assert outcomes(engine) == ["error"]


def test_a_client_error_is_not_retried(make_engine, documents, make_proxy) -> None:
    proxy = make_proxy(plan=["401"])
    engine = openai_engine(make_engine, proxy.url)
    ingest(engine, documents)
    with pytest.raises(AnswerError, match=r"refused the request \(HTTP 401\)"):
        engine.ask(QUESTION, ALICE)
    assert len(proxy.received) == 1


def test_refused_connections_are_retried_then_reported(make_engine, documents) -> None:
    with socket.socket() as bound:  # bound, never listening: connections to it are refused
        bound.bind(("127.0.0.1", 0))
        engine = openai_engine(make_engine, f"http://127.0.0.1:{bound.getsockname()[1]}/v1", llm_max_retries=2,
                               llm_retry_backoff=0.2)
        ingest(engine, documents)
        stream = engine.ask_stream(QUESTION, ALICE)
        started = time.monotonic()
        with pytest.raises(AnswerError, match="ConnectError"):
            list(stream)
    assert time.monotonic() - started >= 0.6, "backoff of 0.2 s, then 0.4 s"


def test_a_silent_server_times_out(make_engine, documents, make_proxy) -> None:
    proxy = make_proxy(plan=["stall"], stall_seconds=5.0)
    engine = openai_engine(make_engine, proxy.url, llm_timeout=0.5, llm_max_retries=0)
    ingest(engine, documents)
    with pytest.raises(AnswerError, match="ReadTimeout"):
        engine.ask(QUESTION, ALICE)


def test_an_image_is_sent_only_after_redaction(make_engine, documents, make_proxy) -> None:
    picture = Image.new("RGB", (900, 160), "white")
    draw = ImageDraw.Draw(picture)
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 36)
    draw.text((20, 50), "Contact: jane.roe@example.com", fill="black", font=font)
    upload = io.BytesIO()
    picture.save(upload, "PNG")
    proxy = make_proxy(plan=["canned"])
    engine = openai_engine(make_engine, proxy.url, llm_vision=True)
    ingest(engine, documents)

    answer = engine.ask("What does this picture say about the rent?", ALICE, image=upload.getvalue())
    assert answer.text == CANNED
    content = proxy.received[0].json["messages"][1]["content"]
    assert [part["type"] for part in content] == ["text", "image_url"]
    url = content[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"), dtype=float)
    original = np.asarray(picture.convert("L"), dtype=float)
    address = (slice(57, 91), slice(200, 600))  # where the address was drawn
    assert sent.shape == original.shape
    assert original[address].std() > 40 and sent[address].std() < 5, "the address is filled, not readable"
    assert np.abs(sent[:, :70] - original[:, :70]).mean() < 1, "the rest of the picture is kept"
    assert "jane.roe@example.com" not in proxy.received[0].body.decode()


def test_images_need_a_vision_model(make_engine, documents, make_proxy) -> None:
    proxy = make_proxy(plan=["canned"])
    engine = openai_engine(make_engine, proxy.url)
    ingest(engine, documents)
    with pytest.raises(ConfigError, match="llm_vision"):
        engine.ask("What is in this picture?", ALICE, image=_tiny_png())
    with pytest.raises(ConfigError, match="extractive answerer cannot read images"):
        make_engine().ask("What is in this picture?", ALICE, image=_tiny_png())
    assert proxy.received == []


def test_the_openai_answerer_needs_its_settings(make_engine, documents) -> None:
    engine = make_engine(answerer="openai")
    ingest(engine, documents)
    with pytest.raises(ConfigError, match="llm_base_url"):
        engine.ask(QUESTION, ALICE)


def _tiny_png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(out, "PNG")
    return out.getvalue()
