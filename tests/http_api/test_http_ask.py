"""Ask over real HTTP: JSON answers, server-sent event streams, and errors inside a stream."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from docveil.engine import Engine
from docveil.errors import AnswerError
from docveil.hookspecs import hookimpl
from docveil.interfaces.demo import sample_paths
from docveil.interfaces.http import create_app
from docveil.types import Generation, RedactedImage

from .conftest import serving

NOTE = next(p for p in sample_paths() if p.name == "intake_note.txt")
QUESTION = "Which doctor reviewed the migraines of Maria Gonzalez?"


def parse_sse(lines: Iterator[str]) -> list[tuple[str, dict]]:
    """(event, data) pairs of a text/event-stream, as a browser's EventSource would see them."""
    events, name, data = [], "message", []
    for line in lines:
        if not line:
            if data:
                events.append((name, json.loads("\n".join(data))))
            name, data = "message", []
        elif line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
    return events


def stream(client: httpx.Client, body: dict) -> tuple[httpx.Response, list[tuple[str, dict]]]:
    with client.stream("POST", "/v1/ask/stream", json=body) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response, parse_sse(response.iter_lines())
        response.read()
        return response, []


@pytest.fixture(scope="module")
def documents(server) -> dict[str, set[str]]:
    with server.client("alice") as client:
        acme = client.post("/v1/documents", files=[("files", ("intake_note.txt", NOTE.read_bytes(), "text/plain"))]).json()
    with server.client("globex") as client:
        memo = b"Globex clinic memo: the doctor on call reviewed migraines cases in the spring."
        globex = client.post("/v1/documents", files=[("files", ("clinic.txt", memo, "text/plain"))]).json()
    return {"acme": {d["document_id"] for d in acme["ingested"]}, "globex": {d["document_id"] for d in globex["ingested"]}}


def test_ask_answers_in_json_with_citations_of_the_callers_tenant(server, documents) -> None:
    with server.client("alice") as client:
        response = client.post("/v1/ask", json={"question": QUESTION, "k": 3})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["extractive"] is True and answer["text"]
    assert answer["citations"] and {c["document_id"] for c in answer["citations"]} <= documents["acme"]
    assert "Maria Gonzalez" not in response.text
    assert "<PERSON_" in answer["redacted_question"]


def test_ask_streams_deltas_then_one_final_answer(server, documents) -> None:
    with server.client("alice") as client:
        response, events = stream(client, {"question": QUESTION, "k": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    names = [name for name, _ in events]
    assert names[-1] == "answer" and names.count("answer") == 1
    assert names[:-1] and set(names[:-1]) == {"delta"}
    answer = events[-1][1]
    assert "".join(data["text"] for name, data in events if name == "delta") == answer["text"]
    assert {c["document_id"] for c in answer["citations"]} <= documents["acme"]


def test_a_tenant_is_never_answered_from_another_tenants_documents(server, documents) -> None:
    with server.client("globex") as client:
        answer = client.post("/v1/ask", json={"question": QUESTION, "k": 10}).json()
        _, events = stream(client, {"question": QUESTION, "k": 10})
    for cited in (answer["citations"], events[-1][1]["citations"]):
        assert {c["document_id"] for c in cited} <= documents["globex"]


def test_a_refused_or_invalid_stream_gets_a_status_and_a_json_error(server, documents) -> None:
    with httpx.Client(base_url=server.url) as anonymous:
        unauthenticated, _ = stream(anonymous, {"question": QUESTION})
    with server.client("alice") as client:
        blank, _ = stream(client, {"question": "   "})
        too_many, _ = stream(client, {"question": QUESTION, "k": 500})
    assert unauthenticated.status_code == 401 and unauthenticated.json()["error"]["type"] == "unauthenticated"
    assert blank.status_code == 422 and too_many.status_code == 422


class FailingAnswerer:
    """Writes one line, then loses its model server."""

    @hookimpl
    def docveil_answer(self, request, context):
        if context.settings.answerer != "failing":
            return None

        def pieces():
            yield "The doctor on call reviewed the case.\n"
            raise AnswerError("the language model server closed the stream (HTTP 502 from upstream)")

        return Generation(model="failing", pieces=pieces())


def test_a_failure_during_the_stream_is_an_error_event(server, documents, model_stash) -> None:
    settings = dataclasses.replace(server.engine.settings, answerer="failing")
    engine = Engine(settings, plugins=[FailingAnswerer()], database=server.engine.database, stash=model_stash)
    with serving(create_app(engine)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": server.keys["alice"]}, timeout=120) as client:
        response, events = stream(client, {"question": QUESTION})
        plain = client.post("/v1/ask", json={"question": QUESTION})
    assert response.status_code == 200
    assert [name for name, _ in events] == ["delta", "error"]
    assert events[-1][1]["error"]["type"] == "answer_error"
    assert plain.status_code == 502 and plain.json()["error"]["type"] == "answer_error"
    with server.client("auditor") as client:
        outcomes = [r["outcome"] for r in client.get("/v1/audit/records", params={"action": "ask"}).json()["records"]]
    assert "error" in outcomes


class ImageProbeAnswerer:
    """Says what size of redacted picture it was given."""

    @hookimpl
    def docveil_answer(self, request, context):
        if context.settings.answerer != "image-probe":
            return None
        assert isinstance(request.image, RedactedImage)
        return Generation(model="image-probe", pieces=iter([f"a {request.image.width}x{request.image.height} picture\n"]))


def test_ask_about_an_image_takes_a_multipart_upload(server, documents, model_stash) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (160, 90), (240, 240, 235)).save(picture, format="PNG")
    upload = {"image": ("scan.png", picture.getvalue(), "image/png")}
    settings = dataclasses.replace(server.engine.settings, answerer="image-probe")
    engine = Engine(settings, plugins=[ImageProbeAnswerer()], database=server.engine.database, stash=model_stash)
    with serving(create_app(engine)) as url, \
            httpx.Client(base_url=url, headers={"X-API-Key": server.keys["alice"]}, timeout=120) as client:
        answer = client.post("/v1/ask/image", data={"question": QUESTION, "k": "3"}, files=upload)
        not_an_image = client.post("/v1/ask/image", data={"question": QUESTION},
                                   files={"image": ("note.txt", NOTE.read_bytes(), "text/plain")})
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == "a 160x90 picture\n" and answer.json()["model"] == "image-probe"
    assert not_an_image.status_code == 422 and not_an_image.json()["error"]["type"] == "load_error"
    with server.client("alice") as client:  # the default, extractive answerer reads no pictures
        refused = client.post("/v1/ask/image", data={"question": QUESTION}, files=upload)
    assert refused.status_code == 400 and refused.json()["error"]["type"] == "config_error"
