"""The pseudonym vault: token -> original value, each encrypted under its data subject's key."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import psycopg

from docveil.security.crypto import decrypt_field, encrypt_field, random_key
from docveil.security.keyring import DATA, TenantKeyring
from docveil.stages.redact.pseudonyms import TOKEN_DIGEST_CHARS, TOKEN_PATTERN, namespace, type_label
from docveil.types import PseudonymEntry


@dataclass(frozen=True)
class ForgetResult:
    subject_found: bool
    vault_entries: int
    documents_deleted: int
    documents_kept: int


class Vault:
    def __init__(self, keyring: TenantKeyring) -> None:
        self.keyring = keyring

    def store(self, conn: psycopg.Connection, tenant: str, entries: Sequence[PseudonymEntry]) -> None:
        """Add new subjects; existing ones are left as they are (same digest, same value)."""
        if not entries:
            return
        digests = sorted({entry.digest for entry in entries})
        known = {row[0] for row in conn.execute(
            "SELECT digest FROM subject_keys WHERE digest = ANY(%s)", [digests])}
        fresh = {entry.digest: entry for entry in entries if entry.digest not in known}
        if not fresh:
            return
        data_key = self.keyring.current(conn, tenant, DATA)
        key_rows, vault_rows = [], []
        for digest, entry in sorted(fresh.items()):
            subject_key = random_key()
            key_rows.append((tenant, digest, encrypt_field(
                data_key.key, subject_key, tenant=tenant, owner=digest, field="subject_key",
                key_version=data_key.version), data_key.version))
            vault_rows.append((tenant, digest, entry.token, entry.entity_type, encrypt_field(
                subject_key, entry.value, tenant=tenant, owner=digest, field="vault", key_version=1)))
        with conn.cursor() as cur:
            # Keys first: a concurrent writer of the same subject waits here and then skips both.
            cur.executemany("INSERT INTO subject_keys (tenant_id, digest, wrapped, key_version)"
                            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING", key_rows)
            cur.executemany("INSERT INTO vault (tenant_id, digest, token, entity_type, value_enc)"
                            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", vault_rows)

    def known_tokens(self, conn: psycopg.Connection, digests: Iterable[str]) -> dict[str, tuple[str, str]]:
        """digest -> (token, entity_type) for the digests that name a known subject."""
        rows = conn.execute("SELECT digest, token, entity_type FROM vault WHERE digest = ANY(%s)",
                            [sorted(set(digests))]).fetchall()
        return {row[0]: (row[1], row[2]) for row in rows}

    def entity_types(self, conn: psycopg.Connection) -> set[str]:
        """The entity types the tenant's vault holds values of."""
        return {row[0] for row in conn.execute("SELECT DISTINCT entity_type FROM vault")}

    def resolve(self, conn: psycopg.Connection, tenant: str, tokens: Iterable[str]) -> dict[str, str]:
        """token -> original value, for the tokens whose subject has not been forgotten.

        A token is matched by its short digest and the namespace of its label, so a name stored
        as ``<PERSON_...>`` also resolves where it was found as ``<LOCATION_...>``."""
        wanted: dict[str, list[tuple[str, str]]] = {}  # short digest -> (token, namespace of its label)
        for token in set(tokens):
            match = TOKEN_PATTERN.fullmatch(token)
            if match:
                wanted.setdefault(match.group(2), []).append((token, namespace(match.group(1))))
        if not wanted:
            return {}
        rows = conn.execute(
            "SELECT v.entity_type, v.digest, v.value_enc, k.wrapped FROM vault v"
            # The length as a literal: the index on left(digest, 10) serves generic plans too.
            f" JOIN subject_keys k USING (tenant_id, digest) WHERE left(v.digest, {int(TOKEN_DIGEST_CHARS)}) = ANY(%s)",
            [sorted(wanted)]).fetchall()
        resolved: dict[str, str] = {}
        for entity_type, digest, value_enc, wrapped in rows:
            kind = namespace(type_label(entity_type))
            asked = [token for token, label_kind in wanted[digest[:TOKEN_DIGEST_CHARS]] if label_kind == kind]
            if not asked:
                continue
            subject_key = decrypt_field(
                lambda version: self.keyring.version(conn, tenant, DATA, version).key, bytes(wrapped),
                tenant=tenant, owner=digest, field="subject_key")
            value = decrypt_field(subject_key, bytes(value_enc), tenant=tenant, owner=digest,
                                  field="vault").decode("utf-8")
            resolved.update(dict.fromkeys(asked, value))
        return resolved

    def forget(self, conn: psycopg.Connection, digests: Sequence[str], *, delete_documents: bool) -> ForgetResult:
        """Destroy the subjects' keys and vault entries; optionally delete documents only they own.

        A document "belongs only to" the subjects when every subject linked to it is being forgotten.
        """
        doc_ids = [row[0] for row in conn.execute(
            "SELECT DISTINCT document_id FROM document_subjects WHERE digest = ANY(%s)", [list(digests)])]
        deleted = 0
        if delete_documents and doc_ids:
            deleted = conn.execute(
                "DELETE FROM documents d WHERE d.id = ANY(%s) AND NOT EXISTS ("
                " SELECT 1 FROM document_subjects s WHERE s.document_id = d.id AND NOT s.digest = ANY(%s))",
                [doc_ids, list(digests)]).rowcount
        vault_entries = conn.execute("DELETE FROM vault WHERE digest = ANY(%s)", [list(digests)]).rowcount
        keys = conn.execute("DELETE FROM subject_keys WHERE digest = ANY(%s)", [list(digests)]).rowcount
        conn.execute("DELETE FROM document_subjects WHERE digest = ANY(%s)", [list(digests)])
        return ForgetResult(subject_found=keys > 0, vault_entries=vault_entries,
                            documents_deleted=deleted, documents_kept=len(doc_ids) - deleted)
