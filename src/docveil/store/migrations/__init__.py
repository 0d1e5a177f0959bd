"""Versioned schema migrations: numbered SQL files applied once, in order, by the owner role."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from docveil.errors import StoreError

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Serialises concurrent migrators on one database (any constant works; this one spells "dvl").
_LOCK_ID = 0x64766C


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def bundled_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("docveil.store.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise StoreError(f"duplicate migration versions in {versions}")
    return found


def apply_migrations(conn: psycopg.Connection) -> list[int]:
    """Apply pending migrations; returns the versions applied. Idempotent and concurrency-safe."""
    applied_now: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK_ID])
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for migration in bundled_migrations():
            if migration.version in done:
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            try:
                conn.execute(migration.sql)
            except psycopg.Error as exc:
                raise StoreError(f"migration {migration.version:04d}_{migration.name} failed: {exc}") from exc
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                         [migration.version, migration.name])
            applied_now.append(migration.version)
    return applied_now
