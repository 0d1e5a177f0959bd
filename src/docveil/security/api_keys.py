"""API keys for the HTTP server: random tokens stored as hashes, each acting as one principal.

A key looks like ``dvk_<id>_<secret>``: ``id`` (16 hex digits) names the key in listings, audit
records and revocations; ``secret`` is 256 random bits. Only the SHA-256 of the whole token is
stored. A slow or keyed hash would add nothing here: those protect low-entropy passwords from
guessing, and nobody can enumerate 2^256 secrets, so a leaked table still gives no usable key.
A plain hash also stays valid across key-encryption-key rotations and KMS providers that never
reveal key material, and lets the lookup be one indexed equality.

Writes go through the owner connection (``Database.admin()``); the application role only
calls ``api_key_principal(hash)`` (migration 0003), which never reveals another key.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg

from docveil.errors import NotFoundError
from docveil.types import Principal

PREFIX = "dvk_"
_HASH_LABEL = b"docveil/api-key/v1\x00"
_KEY_ID = re.compile(r"^[0-9a-f]{16}$")
_TOKEN = re.compile(r"^dvk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiKey:
    """A stored key as administrators see it (never the token or its hash)."""

    key_id: str
    tenant: str
    user: str
    roles: frozenset[str]
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, object]:
        return {"id": self.key_id, "tenant": self.tenant, "user": self.user, "roles": sorted(self.roles),
                "name": self.name, "created_at": self.created_at.isoformat(),
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None}


def looks_like_key(token: str) -> bool:
    """True for strings shaped like a docveil API key (not whether it is valid)."""
    return token.startswith(PREFIX)


def key_hash(token: str) -> bytes:
    return hashlib.sha256(_HASH_LABEL + token.encode("utf-8")).digest()


def new_token() -> tuple[str, str]:
    """A fresh (key id, token) pair."""
    key_id = secrets.token_hex(8)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def insert_key(admin: psycopg.Connection, principal: Principal, name: str = "") -> tuple[ApiKey, str]:
    """Store a new key for ``principal`` (owner connection); returns it and its token."""
    key_id, token = new_token()
    row = admin.execute(
        "INSERT INTO api_keys (id, key_hash, tenant_id, user_id, roles, name) VALUES (%s, %s, %s, %s, %s, %s)"
        " RETURNING created_at",
        [key_id, key_hash(token), principal.tenant, principal.user, sorted(principal.roles), name]).fetchone()
    assert row is not None
    return ApiKey(key_id, principal.tenant, principal.user, principal.roles, name, row[0]), token


def delete_key(admin: psycopg.Connection, key_id: str) -> None:
    """Remove a key outright (used when its creation could not be audited)."""
    admin.execute("DELETE FROM api_keys WHERE id = %s", [key_id])


def revoke_key(admin: psycopg.Connection, key_id: str) -> ApiKey:
    """Mark a key revoked (idempotent); raises NotFoundError for an unknown id."""
    if not _KEY_ID.match(key_id):
        raise NotFoundError(f"no API key {key_id!r}: ids are 16 hex digits (see `docveil keys api list`)")
    admin.execute("UPDATE api_keys SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL", [key_id])
    found = list_keys(admin, key_ids=[key_id])
    if not found:
        raise NotFoundError(f"no API key {key_id}")
    return found[0]


def list_keys(admin: psycopg.Connection, *, tenant: str | None = None,
              key_ids: Iterable[str] | None = None, include_revoked: bool = True) -> list[ApiKey]:
    where: list[str] = ["TRUE"]
    params: list[object] = []
    if tenant is not None:
        where.append("tenant_id = %s")
        params.append(tenant)
    if key_ids is not None:
        where.append("id = ANY(%s)")
        params.append(list(key_ids))
    if not include_revoked:
        where.append("revoked_at IS NULL")
    rows = admin.execute(
        "SELECT id, tenant_id, user_id, roles, name, created_at, revoked_at FROM api_keys"
        f" WHERE {' AND '.join(where)} ORDER BY tenant_id, created_at, id", params).fetchall()
    return [ApiKey(r[0], r[1], r[2], frozenset(r[3]), r[4], r[5], r[6]) for r in rows]


def lookup(conn: psycopg.Connection, token: str) -> tuple[str, Principal] | None:
    """The key id and principal of an active key (application role), or None."""
    if not _TOKEN.match(token):
        return None
    row = conn.execute("SELECT key_id, tenant_id, user_id, roles FROM api_key_principal(%s)",
                       [key_hash(token)]).fetchone()
    if row is None:
        return None
    return row[0], Principal(tenant=row[1], user=row[2], roles=frozenset(row[3]))
