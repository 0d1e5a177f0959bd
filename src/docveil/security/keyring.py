"""Per-tenant keys kept in the database, wrapped by the key-encryption key.

Purposes: ``data`` (encrypts metadata and subject keys; versioned, rotatable), ``pseudonym``
(HMAC key behind pseudonyms; never rotated, or tokens would change), ``audit`` (MAC of the
audit chain) and ``signing`` (Ed25519 seed for audit checkpoints).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from docveil.errors import CryptoError
from docveil.security.keys import DataKeyRing
from docveil.store import locks

DATA = "data"
PSEUDONYM = "pseudonym"
AUDIT = "audit"
SIGNING = "signing"


@dataclass(frozen=True)
class TenantKey:
    purpose: str
    version: int
    key: bytes

    def __repr__(self) -> str:
        return f"TenantKey({self.purpose!r}, v{self.version})"

    def __reduce__(self) -> None:  # type: ignore[override]
        raise TypeError("keys cannot be serialised")


KeyCreated = Callable[[str, str, int], None]
"""Told (tenant, purpose, version) of each key created on first use, inside its transaction."""


class TenantKeyring:
    """Fetches (creating on first use) and unwraps a tenant's keys inside its transaction."""

    def __init__(self, ring: DataKeyRing, on_create: KeyCreated | None = None) -> None:
        self.ring = ring
        self.on_create = on_create

    @staticmethod
    def _active(conn: psycopg.Connection, tenant: str, purpose: str) -> tuple | None:
        return conn.execute(
            "SELECT version, wrapped, kek_id FROM tenant_keys"
            " WHERE tenant_id = %s AND purpose = %s AND state = 'active' ORDER BY version DESC LIMIT 1",
            [tenant, purpose]).fetchone()

    def current(self, conn: psycopg.Connection, tenant: str, purpose: str) -> TenantKey:
        return self._unwrapped(conn, tenant, purpose, self._active(conn, tenant, purpose))

    def current_many(self, conn: psycopg.Connection, tenant: str, *purposes: str) -> tuple[TenantKey, ...]:
        """The active keys of several purposes, read in one query (each created on first use)."""
        rows = {row[0]: row[1:] for row in conn.execute(
            "SELECT DISTINCT ON (purpose) purpose, version, wrapped, kek_id FROM tenant_keys"
            " WHERE tenant_id = %s AND purpose = ANY(%s) AND state = 'active' ORDER BY purpose, version DESC",
            [tenant, list(purposes)])}
        return tuple(self._unwrapped(conn, tenant, purpose, rows.get(purpose)) for purpose in purposes)

    def _unwrapped(self, conn: psycopg.Connection, tenant: str, purpose: str, row: tuple | None) -> TenantKey:
        if row is None:
            locks.key_wrapping(conn)  # its KEK is not retired before this key is committed
            _, wrapped, kek_id = self.ring.new_wrapped_key(purpose, tenant, 1)
            created = conn.execute(
                "INSERT INTO tenant_keys (tenant_id, purpose, version, wrapped, kek_id)"
                " VALUES (%s, %s, 1, %s, %s) ON CONFLICT DO NOTHING RETURNING version",
                [tenant, purpose, wrapped, kek_id]).fetchone()
            if created is not None and self.on_create is not None:
                self.on_create(tenant, purpose, created[0])  # not when a concurrent caller made it first
            row = self._active(conn, tenant, purpose)
            if row is None:
                raise CryptoError(f"could not create the {purpose} key of tenant {tenant!r}")
        version, wrapped, kek_id = row
        return TenantKey(purpose, version, self.ring.unwrap_key(
            bytes(wrapped), purpose=purpose, tenant=tenant, version=version, kek_id=kek_id))

    def version(self, conn: psycopg.Connection, tenant: str, purpose: str, version: int) -> TenantKey:
        row = conn.execute("SELECT wrapped, kek_id FROM tenant_keys WHERE tenant_id = %s AND purpose = %s AND version = %s",
                           [tenant, purpose, version]).fetchone()
        if row is None:
            raise CryptoError(f"{purpose} key version {version} of tenant {tenant!r} does not exist")
        return TenantKey(purpose, version, self.ring.unwrap_key(
            bytes(row[0]), purpose=purpose, tenant=tenant, version=version, kek_id=row[1]))
