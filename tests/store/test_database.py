"""Migrations and the external-DSN mode, on the session's PostgreSQL."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from docveil.engine import Engine
from docveil.errors import StoreError
from docveil.store import database as database_module
from docveil.store.database import Database, _require_row_security, bootstrap_embedded
from docveil.store.migrations import apply_migrations, bundled_migrations
from docveil.types import Principal


def test_migrations_are_versioned_and_applied_once(db: Database) -> None:
    versions = [m.version for m in bundled_migrations()]
    assert versions == sorted(versions) and versions[0] == 1
    with db.admin() as conn:
        assert apply_migrations(conn) == []
        applied = [r[0] for r in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]
    assert applied == versions


def test_an_external_postgresql_given_by_dsn_is_migrated_and_used(settings, superuser_conninfo, db, model_stash,
                                                                 tmp_path) -> None:
    name = f"external_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        app = conninfo_to_dict(db._app_conninfo)
        external = settings.with_overrides(
            dsn=make_conninfo(db._app_conninfo, dbname=name),
            admin_dsn=make_conninfo(superuser_conninfo, dbname=name))
        with psycopg.connect(external.admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(name), sql.Identifier(app["user"])))
        note = tmp_path / "note.txt"
        note.write_text("The quarterly budget was approved by the board.")
        with Engine(external, stash=model_stash) as engine:
            assert engine.ingest([note], Principal("acme", "alice")).ok
            assert engine.search("budget approval", Principal("acme", "alice"), k=1)
            with engine.database.admin() as conn:
                assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(bundled_migrations())
    finally:
        with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_an_application_role_that_would_bypass_row_level_security_is_refused(settings, superuser_conninfo,
                                                                            db) -> None:
    # Given one connection string only, the schema owner would run the migrations and the
    # searches: as the tables' owner, no policy would hold it.
    as_owner = Database(settings.with_overrides(dsn=db._owner_conninfo))
    with pytest.raises(StoreError, match=r"would bypass the row-level security.*owns .*chunks.*documents"):
        as_owner.open()
    assert as_owner._pool is None
    superuser = make_conninfo(superuser_conninfo, dbname=conninfo_to_dict(db._owner_conninfo)["dbname"])
    with pytest.raises(StoreError, match="it is a superuser"):
        Database(settings.with_overrides(dsn=superuser, admin_dsn=superuser)).open()
    with db.transaction("acme") as conn:  # the application role itself passes the same check
        _require_row_security(conn)


def test_processes_bootstrapping_a_server_together_take_turns(settings, superuser_conninfo) -> None:
    # Each would find the database missing and create it; the session lock makes them take turns.
    name = f"boot_{uuid.uuid4().hex[:8]}"
    start = threading.Barrier(4)

    def bootstrap() -> tuple[str, str]:
        start.wait(30)
        return bootstrap_embedded(superuser_conninfo, settings.home / "postgres", name)

    try:
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda _: bootstrap(), range(4)))
        assert len(set(results)) == 1
        with psycopg.connect(results[0][0]) as conn:  # the owner reaches the new database
            assert conn.execute("SELECT extname FROM pg_extension WHERE extname = 'vector'").fetchone()
    finally:
        with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_threads_using_a_new_engine_at_once_share_one_connection_pool(
        settings, superuser_conninfo, model_stash, monkeypatch: pytest.MonkeyPatch) -> None:
    pools = []

    class CountedPool(database_module.ConnectionPool):
        def __init__(self, *args, **kwargs) -> None:
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(database_module, "ConnectionPool", CountedPool)
    name = f"threads_{uuid.uuid4().hex[:8]}"
    engine = Engine(settings.with_overrides(database=name), stash=model_stash)  # makes its database on first use
    start = threading.Barrier(6)

    def first_use(_: int) -> Database:
        start.wait(30)
        return engine.database

    try:
        with ThreadPoolExecutor(6) as pool:
            databases = list(pool.map(first_use, range(6)))
        assert len({id(database) for database in databases}) == 1 and len(pools) == 1
    finally:
        engine.close()
        with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    assert pools[0].closed
