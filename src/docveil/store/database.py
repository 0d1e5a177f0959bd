"""Connections to PostgreSQL: the embedded server by default, or an external one by DSN.

Two roles: an owner that runs migrations and owns the tables, and the application role
(``NOSUPERUSER NOBYPASSRLS``, member of ``docveil_app``) that every request uses. The tenant
is set per transaction with ``set_config``, never by formatting SQL.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg_pool import ConnectionPool

from docveil.config import Settings
from docveil.errors import StoreError
from docveil.store.migrations import apply_migrations

if TYPE_CHECKING:
    from docveil.store.embedded_postgres import EmbeddedPostgres

log = logging.getLogger(__name__)

APP_GROUP = "docveil_app"
OWNER_ROLE = "docveil_owner"
APP_LOGIN = "docveil_app_login"


def _secret_file(path: Path) -> tuple[str, bool]:
    """Read a password file, creating it (0600, exclusive) if absent; whether it was created."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip(), False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(32))
    return path.read_text(encoding="ascii").strip(), True


# A session lock on the server's postgres database, released when its connection closes.
_BOOTSTRAP_LOCK = 0x64760000


def bootstrap_embedded(superuser_conninfo: str, secrets_dir: Path, database: str,
                       template: str | None = None) -> tuple[str, str]:
    """Create the roles and database on an embedded server; return (owner, app) conninfo.

    Processes starting together on a new server take turns (a session lock held to the end):
    each would otherwise find the roles missing and create them twice."""
    with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", [_BOOTSTRAP_LOCK])
        owner_pw, new_owner_pw = _secret_file(secrets_dir / "owner.password")
        app_pw, new_app_pw = _secret_file(secrets_dir / "app.password")
        roles = {r[0] for r in conn.execute("SELECT rolname FROM pg_roles")}
        if APP_GROUP not in roles:
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(APP_GROUP)))
        if OWNER_ROLE not in roles:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD {}").format(
                sql.Identifier(OWNER_ROLE), sql.Literal(owner_pw)))
        if APP_LOGIN not in roles:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                                 "PASSWORD {} IN ROLE {}").format(
                sql.Identifier(APP_LOGIN), sql.Literal(app_pw), sql.Identifier(APP_GROUP)))
        # A password file lost after its role was made: the role takes the new one.
        for role, password, renewed in ((OWNER_ROLE, owner_pw, new_owner_pw), (APP_LOGIN, app_pw, new_app_pw)):
            if renewed and role in roles:
                conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            create = sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(OWNER_ROLE))
            if template:
                create = sql.SQL("{} TEMPLATE {}").format(create, sql.Identifier(template))
            conn.execute(create)
        with psycopg.connect(make_conninfo(superuser_conninfo, dbname=database), autocommit=True) as db:
            db.execute("CREATE EXTENSION IF NOT EXISTS vector")
            db.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
            db.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database),
                                                                            sql.Identifier(APP_GROUP)))
            db.execute(sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
            db.execute(sql.SQL("GRANT ALL ON SCHEMA public TO {}").format(sql.Identifier(OWNER_ROLE)))
            db.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(sql.Identifier(APP_GROUP)))
    owner = make_conninfo(superuser_conninfo, dbname=database, user=OWNER_ROLE, password=owner_pw)
    app = make_conninfo(superuser_conninfo, dbname=database, user=APP_LOGIN, password=app_pw)
    return owner, app


def _require_row_security(conn: psycopg.Connection) -> None:
    """Refuse an application role that row-level security does not hold: a superuser, a role
    with BYPASSRLS, or one that owns (or may act as the owner of) a table with a policy, as
    happens when the application's connection string also ran the migrations."""
    row = conn.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
    assert row is not None
    role, superuser, bypass = row
    owned = [row[0] for row in conn.execute(
        "SELECT relname FROM pg_class WHERE relrowsecurity AND pg_has_role(current_user, relowner, 'MEMBER')"
        " ORDER BY 1")]
    reasons = ["it is a superuser"] * superuser + ["it has BYPASSRLS"] * bypass
    if owned:
        reasons.append(f"it owns {', '.join(owned)} (give the schema owner as admin_dsn / DOCVEIL_ADMIN_DSN)")
    if reasons:
        raise StoreError(f"the application role {role!r} would bypass the row-level security that keeps "
                         f"tenants apart: {'; '.join(reasons)}. Connect as a NOSUPERUSER NOBYPASSRLS role "
                         "that owns no docveil table (docs/embedded_postgres.md)")


class Database:
    """Owner and application connections to one docveil database, migrated on open."""

    def __init__(self, settings: Settings, *, database: str | None = None,
                 pool_size: int = 8, template: str | None = None, pool_timeout: float = 30.0) -> None:
        """``pool_timeout``: seconds a transaction waits for a connection before it fails."""
        self.settings = settings
        self.database = database or settings.database
        self._pool_size = pool_size
        self._pool_timeout = pool_timeout
        self._template = template
        self._server: EmbeddedPostgres | None = None
        self._owner_conninfo: str | None = None
        self._app_conninfo: str | None = None
        self._pool: ConnectionPool | None = None
        self._opening = threading.Lock()

    @property
    def embedded(self) -> bool:
        return not self.settings.dsn

    def open(self) -> Database:
        if self._pool is not None:
            return self
        with self._opening:  # threads of a process using it first: one opens it, the others wait
            if self._pool is None:
                self._open()
        return self

    def _open(self) -> None:
        dsn = self.settings.dsn
        if not dsn:  # embedded
            from docveil.store.embedded_postgres import EmbeddedPostgres

            self._server = EmbeddedPostgres(self.settings.home,
                                            shared_buffers=self.settings.embedded_shared_buffers)
            superuser = self._server.acquire()
            owner_conninfo, app_conninfo = bootstrap_embedded(
                superuser.conninfo(), self.settings.home / "postgres", self.database, self._template)
        else:
            owner_conninfo, app_conninfo = self.settings.admin_dsn or dsn, dsn
        self._owner_conninfo, self._app_conninfo = owner_conninfo, app_conninfo
        try:
            with psycopg.connect(owner_conninfo, autocommit=True) as conn:
                if not self.embedded:
                    conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                apply_migrations(conn)
        except psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to PostgreSQL as the schema owner: {exc}") from exc
        pool = ConnectionPool(
            app_conninfo, min_size=1, max_size=self._pool_size, open=False, timeout=self._pool_timeout,
            configure=self._configure, check=ConnectionPool.check_connection, name="docveil")
        try:
            pool.open(wait=True, timeout=30)
        except Exception as exc:
            raise StoreError(f"cannot connect to PostgreSQL as the application role: {exc}") from exc
        try:
            with pool.connection() as conn:
                _require_row_security(conn)
        except BaseException:
            pool.close()
            raise
        self._pool = pool  # only now: other threads take an open pool as ready

    @staticmethod
    def _configure(conn: psycopg.Connection) -> None:
        register_vector(conn)
        conn.autocommit = True

    def close(self) -> None:
        # The embedded server stays up for this process's other users; it is released (and
        # stopped if nobody else uses it) when the process exits.
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def __enter__(self) -> Database:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self, tenant: str, *, snapshot: bool = False) -> Iterator[psycopg.Connection]:
        """One transaction as the application role with row-level security set to ``tenant``.

        With ``snapshot``, a read-only REPEATABLE READ transaction: every statement sees the
        state of its first one, without locking anything (long consistent reads, such as
        verifying or exporting a whole audit log, that must not hold up writers)."""
        if not tenant:
            raise StoreError("a transaction needs a tenant")
        if self._pool is None:
            self.open()
        assert self._pool is not None
        try:
            with self._pool.connection() as conn, ExitStack() as inside:
                # BEGIN and the tenant go out together: one round trip. (``conn.transaction()``
                # entered in a pipeline would keep the connection in pipeline mode throughout.)
                with conn.pipeline():
                    inside.enter_context(psycopg.Transaction(conn))
                    if snapshot:
                        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    conn.execute("SELECT set_config('docveil.tenant', %s, true)", [tenant])
                yield conn
        except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure) as exc:
            raise StoreError(f"the database rolled this transaction back ({type(exc).__name__}): another "
                             "transaction needed the same rows; nothing of it was written, run it again") from exc
        except psycopg.OperationalError as exc:  # the server's words stay on __cause__, out of HTTP answers
            raise StoreError(f"the database operation failed ({type(exc).__name__}); nothing of it was written") from exc

    @contextmanager
    def admin(self) -> Iterator[psycopg.Connection]:
        """A connection as the schema owner (migrations, maintenance). Autocommit."""
        if self._owner_conninfo is None:
            self.open()
        assert self._owner_conninfo is not None
        with psycopg.connect(self._owner_conninfo, autocommit=True) as conn:
            register_vector(conn)
            yield conn

    def ensure_text_vectors(self, encoder_name: str, dimension: int) -> None:
        """Add the chunks' embedding column and its HNSW index for this encoder's dimension, once."""
        self._ensure_vectors("chunks", "text", encoder_name, dimension)

    def ensure_image_vectors(self, encoder_name: str, dimension: int) -> None:
        """Add the images' embedding column and its HNSW index for this encoder's dimension, once."""
        self._ensure_vectors("images", "image", encoder_name, dimension)

    def _ensure_vectors(self, table: str, kind: str, encoder_name: str, dimension: int) -> None:
        with self.admin() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [0x64766D])
            conn.execute("CREATE TABLE IF NOT EXISTS docveil_meta (key text PRIMARY KEY, value text NOT NULL)")
            conn.execute("GRANT SELECT ON docveil_meta TO docveil_app")
            row = conn.execute("SELECT value FROM docveil_meta WHERE key = %s", [f"{kind}_vectors"]).fetchone()
            if row is not None:
                stored_name, _, stored_dimension = row[0].rpartition("|")
                if stored_dimension != str(dimension):
                    raise StoreError(
                        f"this database holds {stored_dimension}-dimensional {kind} vectors from {stored_name}; "
                        f"the configured encoder {encoder_name} gives {dimension}. "
                        f"Use the same {kind}_model or a new database.")
                if stored_name != encoder_name:  # a moved folder, or another model of the same size
                    log.warning("this database's %s vectors came from %s and are now searched with %s: vectors "
                                "of two different models do not compare", kind, stored_name, encoder_name)
                return
            conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN embedding vector({})").format(
                sql.Identifier(table), sql.Literal(dimension)))
            conn.execute(sql.SQL("CREATE INDEX {} ON {} USING hnsw (embedding vector_cosine_ops)").format(
                sql.Identifier(f"{table}_embedding_hnsw"), sql.Identifier(table)))
            conn.execute("INSERT INTO docveil_meta (key, value) VALUES (%s, %s)",
                         [f"{kind}_vectors", f"{encoder_name}|{dimension}"])
