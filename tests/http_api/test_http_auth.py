"""Authentication and authorization over real HTTP: API keys, JWTs, 401s and audited 403s."""

from __future__ import annotations

import time

import httpx
import jwt
import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from docveil.types import Principal


def test_health_needs_no_credentials_and_reports_the_database(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/v1/health").json() == {"status": "ok", "database": "ok"}
        assert client.get("/v1/health/live").json() == {"status": "ok"}


def test_requests_without_credentials_get_401_with_a_challenge(server) -> None:
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/v1/search", json={"query": "anything"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="docveil"')
    assert response.json()["error"]["type"] == "unauthenticated"


@pytest.mark.parametrize(("authorization", "message"), [
    ("Basic YWxpY2U6c2VjcmV0", "the Authorization header must use the Bearer scheme"),
    ("Bearer", "the Authorization header carries no bearer token"),  # (clients strip "Bearer ")
])
def test_an_authorization_header_that_would_be_ignored_is_refused_saying_why(server, authorization, message) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": authorization}) as client:
        response = client.get("/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["message"] == message


def test_an_api_key_acts_as_its_principal_in_either_header(server) -> None:
    with server.client("alice") as client:
        me = client.get("/v1/me").json()
    assert me["tenant"] == "acme" and me["user"] == "alice" and me["roles"] == ["analyst"]
    assert me["authenticated_by"] == "api_key" and len(me["key_id"]) == 16
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.keys['globex']}"}) as client:
        assert client.get("/v1/me").json()["tenant"] == "globex"


def test_unknown_and_revoked_api_keys_are_rejected(server) -> None:
    key, token = server.engine.create_api_key(Principal("acme", "temp"), created_by="test")
    headers = {"X-API-Key": token}
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/v1/me", headers=headers).status_code == 200
        server.engine.revoke_api_key(key.key_id, revoked_by="test")
        revoked = client.get("/v1/me", headers=headers)
        forged = client.get("/v1/me", headers={"X-API-Key": token[:-4] + "AAAA"})
    for response in (revoked, forged):
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]
        assert token not in response.text


def test_api_keys_are_stored_only_as_hashes_the_app_role_cannot_read(server) -> None:
    token = server.keys["alice"]
    with server.engine.database.transaction("acme") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM api_keys")
    with server.engine.database.admin() as admin:
        stored = admin.execute("SELECT string_agg(encode(key_hash, 'hex') || tenant_id || user_id, '') FROM api_keys").fetchone()[0]
    secret = token.split("_", 2)[2]  # dvk_<id>_<secret>; the secret may hold "_" itself
    assert len(secret) == 43 and secret not in stored and token not in stored


def test_a_jwt_from_the_issuer_maps_claims_to_a_principal(server) -> None:
    token = server.token(tenant="acme", user="dana", roles=["auditor", "analyst"])
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        me = client.get("/v1/me").json()
        assert (me["tenant"], me["user"], me["roles"], me["authenticated_by"]) == ("acme", "dana", ["analyst", "auditor"], "jwt")
        assert client.get("/v1/audit/verify").json()["ok"] is True


@pytest.mark.parametrize(("claims", "reason"), [
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"aud": "another-service"}, "audience"),
    ({"iss": "https://evil.example/"}, "issuer"),
    ({"nbf": int(time.time()) + 3600}, "not valid yet"),
    ({"exp": None}, "exp"),
    ({"tenant": None}, "no tenant claim 'tenant'"),
    ({"tenant": 5}, "the token's tenant claim 'tenant' is a int, not a string"),
    ({"roles": ["auditor", 3]}, "roles claim 'roles' is not a list of strings"),
    ({"roles": {"admin": True}}, "roles claim 'roles' is not a list of strings"),
])
def test_invalid_jwts_get_401_saying_why(server, claims, reason) -> None:
    token = server.token(**claims)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.get("/v1/me")
    assert response.status_code == 401
    assert reason in response.json()["error"]["message"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("claims", [
    {"tenant": "ac\x00me"}, {"user": "da\x00na"}, {"roles": ["aud\x00itor"]}, {"roles": ["\ud800"]},
    {"tenant": "t" * 5000}, {"user": "u" * 5000}, {"user": "da\tna"}, {"roles": ["aud\x7fitor"]},
], ids=["nul-tenant", "nul-sub", "nul-role", "surrogate-role", "long-tenant", "long-sub", "tab-sub", "del-role"])
def test_jwts_with_names_the_audit_log_cannot_hold_get_401(server, claims) -> None:
    token = server.token(**claims)
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = client.get("/v1/me")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_jwts_signed_by_another_key_or_algorithm_are_rejected(server) -> None:
    other_rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = [
        server.token(key=other_rsa),
        server.token(key=ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA"),
        jwt.encode({"iss": "x", "aud": "docveil-api", "sub": "u", "tenant": "acme", "exp": int(time.time()) + 60},
                   key=None, algorithm="none"),
        "not.a.jwt",
    ]
    with httpx.Client(base_url=server.url) as client:
        for token in forged:
            response = client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token


def test_a_forbidden_request_is_403_and_its_denial_is_audited(server) -> None:
    with server.client("alice") as client:
        denied = client.get("/v1/audit/records")
        forget = client.post("/v1/forget", json={"subject": "Maria Gonzalez"})
    assert denied.status_code == 403 and denied.json()["error"]["type"] == "access_denied"
    assert forget.status_code == 403
    assert "Maria" not in forget.text
    with server.client("auditor") as client:
        records = client.get("/v1/audit/records", params={"action": "deny", "user": "alice"}).json()["records"]
    assert {r["extra"]["action"] for r in records} >= {"audit.read", "forget"}
