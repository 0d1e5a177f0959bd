"""Holding a writer inside its transaction, and waiting until a session of the test's database
waits for a lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from docveil.engine import Engine
from docveil.store import repository


def pause_document_stores(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """(paused, release): a document store, sealed and not yet committed, sets ``paused`` and
    waits for ``release`` before it links its subjects."""
    paused, release = threading.Event(), threading.Event()
    link_subjects = repository.link_subjects

    def slow_link_subjects(*args: object, **kwargs: object) -> None:
        paused.set()
        release.wait(60)
        link_subjects(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(repository, "link_subjects", slow_link_subjects)
    return paused, release


def wait_for_a_waiter(engine: Engine, alive: Callable[[], bool] = lambda: True) -> None:
    """Until a session of ``engine``'s database (not another test's) waits for a lock; fails
    after a minute, or as soon as ``alive()`` says the thread meant to wait has ended."""
    deadline = time.monotonic() + 60
    with engine.database.admin() as admin:
        while not admin.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid IN "
                "(SELECT pid FROM pg_stat_activity WHERE datname = current_database())").fetchone()[0]:
            assert time.monotonic() < deadline and alive(), "no session waited for a lock"
            time.sleep(0.05)
