"""The audit review flow over real HTTP: filtered records, verification, export, key, API-key events."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from docveil.security import audit


def test_an_auditor_reviews_filtered_records_newest_first(server) -> None:
    with server.client("alice") as client:
        for query in ("first query", "second query"):
            assert client.post("/v1/search", json={"query": query}).status_code == 200
    since = (datetime.now(timezone.utc) - timedelta(minutes=10)).isoformat()
    with server.client("auditor") as client:
        searches = client.get("/v1/audit/records", params={"action": "search", "user": "alice", "since": since}).json()["records"]
        oldest = client.get("/v1/audit/records", params={"order": "asc", "limit": 1}).json()["records"]
        future = client.get("/v1/audit/records", params={"since": "2999-01-01T00:00:00Z"}).json()["records"]
        bad = client.get("/v1/audit/records", params={"since": "yesterday"})
    assert len(searches) == 2 and searches[0]["seq"] > searches[1]["seq"]
    assert all(r["action"] == "search" and r["user"] == "alice" for r in searches)
    assert "first query" not in str(searches) and set(searches[0]["hashes"]) == {"query", "results"}
    assert oldest[0]["seq"] == 1 and future == []
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["location"] == ["query", "since"]


def test_creating_and_revoking_api_keys_is_audited_in_the_keys_tenant(server) -> None:
    with server.client("auditor") as client:
        created = client.get("/v1/audit/records", params={"action": "apikey.create"}).json()["records"]
    assert {r["user"] for r in created} == {"test-setup"} and all(len(r["targets"][0]) == 16 for r in created)
    with server.client("globex-admin") as client:
        globex = client.get("/v1/audit/records", params={"action": "apikey.create"}).json()["records"]
    assert len(globex) == 2 and not {r["targets"][0] for r in globex} & {r["targets"][0] for r in created}


def test_the_exported_log_downloads_and_verifies_offline_against_the_pinned_key(server, tmp_path) -> None:
    with server.client("auditor") as client:
        assert client.get("/v1/audit/verify").json()["ok"] is True
        key = client.get("/v1/audit/key").json()
        export = client.get("/v1/audit/export")
        csv = client.get("/v1/audit/export", params={"format": "csv"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("application/x-ndjson")
    assert export.headers["content-disposition"].startswith('attachment; filename="docveil-audit-acme-')
    assert csv.headers["content-type"].startswith("text/csv") and csv.text.startswith("type,tenant,seq,")
    path = tmp_path / "audit.jsonl"
    path.write_bytes(export.content)
    pinned = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["public_key"]))
    result = audit.verify_export(path, verify_key=pinned)
    assert result.ok and result.records >= 1
    path.write_bytes(export.content.replace(b'"search"', b'"ingest"', 1))
    assert not audit.verify_export(path, verify_key=pinned).ok


def test_the_review_page_is_self_contained_and_only_talks_to_the_audit_api(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/v1/audit/review")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert page.text.count(f'nonce="{nonce}"') == 2  # the one style and the one script
    assert not re.search(r"(src|href)=\"https?:", page.text), "nothing may load from another origin"
    assert 'const api = "/v1";' in page.text
    for endpoint in ("/audit/records", "/audit/verify", "/audit/export", "/audit/key", "/me"):
        assert f'call("{endpoint}"' in page.text


def test_the_review_page_says_macs_were_checked_only_when_the_server_says_so(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        page = client.get("/v1/audit/review").text
    verified = page[page.index("async function verify()"):page.index("async function download(")]
    assert re.search(r'result\.macs_checked \? "MACs checked\." : "MACs not checked', verified)
