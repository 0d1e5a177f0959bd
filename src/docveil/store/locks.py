"""Advisory locks that order docveil's writers where row locks cannot: a row not yet committed
is invisible to another transaction, so a check of "is anything still using X?" can pass while
an insert that uses X is on its way. Each lock is held to the end of the transaction.

- the subjects lock (per tenant): ``forget`` holds it alone; storing a document (chunks,
  vault entries, subject links) shares it. A forget then sees every chunk committed before
  it, and a document stored during a forget waits and is stored after it.
- the data-key lock (per tenant): starting or finishing a data-key rotation holds it alone;
  writing anything sealed with the tenant's current data key shares it, so no row lands under
  a key that a finished rotation has just retired.
- the key-wrapping lock: retiring old key-encryption keys holds it alone; wrapping a new data
  key shares it, so a key wrapped under an old KEK is seen before that KEK is deleted.

Writers that take two take the subjects lock first, in one statement.
"""

from __future__ import annotations

import psycopg

# The first half of each two-part lock key names what is locked ("dv" and a number); the second
# is the tenant's hash (two tenants sharing a hash only wait for each other) or 0.
_SUBJECTS = 0x64760001
_DATA_KEY = 0x64760002
_KEY_WRAPPING = 0x64760003


def document_store(conn: psycopg.Connection, tenant: str) -> None:
    """Before a document is stored: shares the subjects and data-key locks (one round trip)."""
    _lock(conn, tenant, (_SUBJECTS, False), (_DATA_KEY, False))


def forget(conn: psycopg.Connection, tenant: str) -> None:
    """Before a forget: holds the subjects lock alone, shares the data-key lock (one round trip)."""
    _lock(conn, tenant, (_SUBJECTS, True), (_DATA_KEY, False))


def data_key(conn: psycopg.Connection, tenant: str, *, exclusive: bool = False) -> None:
    _lock(conn, tenant, (_DATA_KEY, exclusive))


def key_wrapping(conn: psycopg.Connection, *, exclusive: bool = False) -> None:
    _lock(conn, None, (_KEY_WRAPPING, exclusive))


def _lock(conn: psycopg.Connection, tenant: str | None, *locks: tuple[int, bool]) -> None:
    """Take ``locks`` (kind, exclusive) in the order given, in one statement."""
    second = "hashtext(%(tenant)s)" if tenant is not None else "0"
    calls = ", ".join(f"{'pg_advisory_xact_lock' if exclusive else 'pg_advisory_xact_lock_shared'}({kind}, {second})"
                      for kind, exclusive in locks)
    conn.execute(f"SELECT {calls}", {"tenant": tenant})
