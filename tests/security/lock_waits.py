"""Waiting, in a test, until one session of the test's database waits for a lock."""

from __future__ import annotations

import time
from collections.abc import Callable

from docveil.engine import Engine


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
