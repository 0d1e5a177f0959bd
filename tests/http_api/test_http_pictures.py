"""Picture search over HTTP, with a tiny randomly initialised CLIP model: uploads are embedded,
pictures are found by text and by picture, and only the caller's tenant and ACL are searched."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from docveil.config import Settings
from tests.images.imagedata import photo


@pytest.fixture(scope="module")
def server_settings(server_settings: Settings, tiny_image_model: Path) -> Settings:
    return dataclasses.replace(server_settings, image_model=str(tiny_image_model))


def jpeg(name: str) -> bytes:
    out = io.BytesIO()
    photo(name).convert("RGB").resize((320, 226)).save(out, "JPEG")
    return out.getvalue()


def test_uploaded_pictures_are_found_by_text_and_by_picture_within_the_tenant(server) -> None:
    crossing, car = jpeg("street_crossing.jpg"), jpeg("car_wa_leaf.jpg")
    with server.client("alice") as client:
        uploaded = client.post("/v1/documents", files=[("files", ("crossing.jpg", crossing, "image/jpeg")),
                                                       ("files", ("car.jpg", car, "image/jpeg"))])
        assert uploaded.status_code == 200, uploaded.text
        assert [item["images"] for item in uploaded.json()["ingested"]] == [1, 1]
        by_picture = client.post("/v1/search/pictures/by-image", data={"k": "2"},
                                 files={"image": ("query.jpg", crossing, "image/jpeg")})
        by_text = client.post("/v1/search/pictures", json={"query": "a car at the gate", "k": 1})
        not_a_picture = client.post("/v1/search/pictures/by-image",
                                    files={"image": ("note.txt", b"plain words", "text/plain")})
    assert by_picture.status_code == 200, by_picture.text
    hits = by_picture.json()["hits"]
    assert [h["source"] for h in hits] == ["crossing.jpg", "car.jpg"] and hits[0]["score"] > 0.999
    assert (hits[0]["kind"], hits[0]["page"], hits[0]["width"], hits[0]["height"]) == ("page", 1, 320, 226)
    assert by_text.status_code == 200 and len(by_text.json()["hits"]) == 1
    assert not_a_picture.status_code == 422 and not_a_picture.json()["error"]["type"] == "load_error"
    with server.client("globex") as client:
        assert client.post("/v1/search/pictures", json={"query": "a car"}).json() == {"hits": []}
        assert client.post("/v1/search/pictures/by-image",
                           files={"image": ("q.jpg", crossing, "image/jpeg")}).json() == {"hits": []}
    with server.client() as client:
        assert client.post("/v1/search/pictures", json={"query": "a car"}).status_code == 401
        paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search/pictures", "/v1/search/pictures/by-image"} <= set(paths)
