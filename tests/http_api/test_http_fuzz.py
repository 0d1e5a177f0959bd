"""Property-based fuzzing of the live server from its own OpenAPI schema (schemathesis): no
request, valid or not, may get a 5xx, and every response must match the schema (status code
declared, content type, body, headers).

The schema is taken from an app built at import time (it depends on no database), and the
cases are sent over HTTP to the live test server, which serves the same schema.
(``schemathesis.pytest.from_fixture`` does not work with pytest 9.2.)"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from docveil.config import Settings
from docveil.interfaces.demo import sample_paths
from docveil.interfaces.http import create_app
from docveil.security import api_keys

SPEC = create_app(settings=Settings(home=Path(tempfile.gettempdir()) / "docveil-schema-only",
                                     load_entry_points=False)).openapi()
schema = schemathesis.openapi.from_dict(SPEC)
# Cases are generated while tests are collected, before any fixture runs: the key is made now
# and stored by the ``live`` fixture.
FUZZER_KEY_ID, FUZZER_KEY = api_keys.new_token()


@schema.auth()
class AdminApiKey:
    """Known to schemathesis as the credential, so its auth check can remove or spoil it."""

    def get(self, case, context) -> str:
        return FUZZER_KEY

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "X-API-Key": data}


@pytest.fixture(scope="module")
def server_settings(server_settings: Settings, tiny_image_model: Path) -> Settings:
    """The shared server's settings with an image model, so that picture search answers too."""
    return dataclasses.replace(server_settings, image_model=str(tiny_image_model))


@pytest.fixture(scope="module")
def live(server) -> str:
    """The server's URL, with a document to search, ask about and change, and the fuzzer's key
    (an admin with every role) stored."""
    with server.engine.database.admin() as admin:
        admin.execute("INSERT INTO api_keys (id, key_hash, tenant_id, user_id, roles) VALUES (%s, %s, %s, %s, %s)",
                      [FUZZER_KEY_ID, api_keys.key_hash(FUZZER_KEY), "acme", "fuzzer",
                       ["admin", "auditor", "privacy-officer", "reidentify"]])
    note = next(p for p in sample_paths() if p.name == "intake_note.txt")
    with server.client("admin") as client:
        assert client.post("/v1/documents", files=[("files", (note.name, note.read_bytes(), "text/plain"))]).status_code == 200
    return server.url


def test_the_live_server_serves_the_fuzzed_schema(server) -> None:
    assert httpx.get(f"{server.url}/openapi.json").json() == SPEC


@schema.parametrize()
@settings(max_examples=8, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_conforms_to_its_schema_and_never_fails_with_5xx(case, live) -> None:
    # Whether an upload's bytes form a loadable document is beyond what a schema can say, so
    # schema-valid uploads may be refused (422 naming the file); and every multipart part is
    # bytes, so a "wrong type" there is just other bytes.
    excluded = [checks.positive_data_acceptance, checks.negative_data_rejection] \
        if case.media_type == "multipart/form-data" else []
    response = case.call_and_validate(base_url=live, excluded_checks=excluded, timeout=120)
    assert response.status_code < 500


def test_the_schema_declares_auth_and_json_errors_for_every_operation(server) -> None:
    spec = httpx.get(f"{server.url}/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"apiKey", "bearer"}
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if path.startswith("/v1/health") or path == "/v1/audit/review":
                assert "security" not in operation
                continue
            assert operation["security"], (method, path)
            for status in ("400", "401", "403", "413", "422", "500", "503"):
                body = operation["responses"][status]["content"]["application/json"]["schema"]
                assert body == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
