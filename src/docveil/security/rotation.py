"""Key rotation. Both operations are resumable: each batch commits on its own, and a rerun
picks up the rows still under the old key.

- KEK rotation re-wraps every tenant's data keys under a new key-encryption key; no data is
  re-encrypted. Old KEKs are retired once nothing refers to them.
- Data-key rotation creates a new data key for one tenant and re-encrypts what the old one
  protected (document metadata, subject keys) in batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from docveil.security.crypto import decrypt_field, encrypt_field
from docveil.security.keyring import DATA, TenantKey, TenantKeyring
from docveil.store import locks


@dataclass(frozen=True)
class RotationResult:
    key_id: str
    rewrapped: int = 0
    reencrypted: int = 0
    retired: tuple[str, ...] = ()


def tenants_with_keys(admin: psycopg.Connection) -> list[str]:
    return [row[0] for row in admin.execute("SELECT DISTINCT tenant_id FROM tenant_keys ORDER BY 1")]


def rewrap_tenant_keys(conn: psycopg.Connection, keyring: TenantKeyring, tenant: str, batch_size: int) -> int:
    """Re-wrap up to ``batch_size`` of the tenant's keys that are not under the current KEK."""
    current = keyring.ring.kek_id
    rows = conn.execute(
        "SELECT purpose, version, wrapped, kek_id FROM tenant_keys WHERE tenant_id = %s AND kek_id <> %s"
        " ORDER BY purpose, version LIMIT %s FOR UPDATE", [tenant, current, batch_size]).fetchall()
    for purpose, version, wrapped, kek_id in rows:
        new_wrapped, new_kek_id = keyring.ring.rewrap(bytes(wrapped), purpose=purpose, tenant=tenant,
                                                      version=version, kek_id=kek_id)
        conn.execute("UPDATE tenant_keys SET wrapped = %s, kek_id = %s"
                     " WHERE tenant_id = %s AND purpose = %s AND version = %s",
                     [new_wrapped, new_kek_id, tenant, purpose, version])
    return len(rows)


def kek_ids_in_use(admin: psycopg.Connection) -> set[str]:
    return {row[0] for row in admin.execute("SELECT DISTINCT kek_id FROM tenant_keys")}


def has_keys(conn: psycopg.Connection) -> bool:
    """Whether the transaction's tenant has any key yet (row-level security limits the look)."""
    return conn.execute("SELECT EXISTS (SELECT 1 FROM tenant_keys)").fetchone() == (True,)


def start_data_key_rotation(conn: psycopg.Connection, keyring: TenantKeyring, tenant: str) -> TenantKey:
    """The data key to re-encrypt under: a new version, unless an earlier rotation is unfinished."""
    current = keyring.current(conn, tenant, DATA)
    if _stale_rows(conn, current.version, 1):
        return current
    locks.key_wrapping(conn)
    _, wrapped, kek_id = keyring.ring.new_wrapped_key(DATA, tenant, current.version + 1)
    conn.execute("INSERT INTO tenant_keys (tenant_id, purpose, version, wrapped, kek_id) VALUES (%s, %s, %s, %s, %s)",
                 [tenant, DATA, current.version + 1, wrapped, kek_id])
    return keyring.current(conn, tenant, DATA)


def _stale_rows(conn: psycopg.Connection, version: int, limit: int) -> list[tuple]:
    return conn.execute(
        "(SELECT 'document', id::text, key_version FROM documents WHERE key_version < %(v)s LIMIT %(n)s)"
        " UNION ALL (SELECT 'subject', digest, key_version FROM subject_keys WHERE key_version < %(v)s LIMIT %(n)s)",
        {"v": version, "n": limit}).fetchall()


def reencrypt_batch(conn: psycopg.Connection, keyring: TenantKeyring, tenant: str, new: TenantKey,
                    batch_size: int) -> int:
    """Re-encrypt up to ``batch_size`` rows still under older data keys; returns how many."""
    def old_key(version: int) -> bytes:
        return keyring.version(conn, tenant, DATA, version).key

    def reseal(blob: bytes, owner: str, field: str) -> bytes:
        plain = decrypt_field(old_key, bytes(blob), tenant=tenant, owner=owner, field=field)
        return encrypt_field(new.key, plain, tenant=tenant, owner=owner, field=field, key_version=new.version)

    done = 0
    for doc_id, source_enc, metadata_enc in conn.execute(
            "SELECT id::text, source_enc, metadata_enc FROM documents WHERE key_version < %s"
            " ORDER BY id LIMIT %s FOR UPDATE", [new.version, batch_size]).fetchall():
        conn.execute("UPDATE documents SET source_enc = %s, metadata_enc = %s, key_version = %s WHERE id = %s::uuid",
                     [reseal(source_enc, doc_id, "source"), reseal(metadata_enc, doc_id, "metadata"),
                      new.version, doc_id])
        done += 1
    for digest, wrapped in conn.execute(
            "SELECT digest, wrapped FROM subject_keys WHERE key_version < %s ORDER BY digest LIMIT %s FOR UPDATE",
            [new.version, max(batch_size - done, 0)]).fetchall():
        conn.execute("UPDATE subject_keys SET wrapped = %s, key_version = %s WHERE digest = %s",
                     [reseal(wrapped, digest, "subject_key"), new.version, digest])
        done += 1
    return done


def retire_old_data_keys(conn: psycopg.Connection, current_version: int) -> int:
    """Once nothing is under them, old data keys are retired (kept wrapped for the record)."""
    if _stale_rows(conn, current_version, 1):
        return 0
    return conn.execute("UPDATE tenant_keys SET state = 'retired' WHERE purpose = %s AND version < %s"
                        " AND state = 'active'", [DATA, current_version]).rowcount
