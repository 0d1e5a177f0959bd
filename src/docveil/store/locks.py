"""Advisory locks that order docveil's writers where row locks cannot: a row not yet committed
is invisible to another transaction, so a check of "is anything still using X?" can pass while
an insert that uses X is on its way. Each lock is held to the end of the transaction.

- ``subjects(tenant)``: ``forget`` holds it alone; storing a document (chunks, vault entries,
  subject links) shares it. A forget then sees every chunk committed before it, and a document
  stored during a forget waits and is stored after it.
- ``data_key(tenant)``: starting or finishing a data-key rotation holds it alone; writing
  anything sealed with the tenant's current data key shares it, so no row lands under a key
  that a finished rotation has just retired.
- ``key_wrapping()``: retiring old key-encryption keys holds it alone; wrapping a new data key
  shares it, so a key wrapped under an old KEK is seen before that KEK is deleted.
"""

from __future__ import annotations

import psycopg

# The first half of each two-part lock key names what is locked ("dv" and a number); the second
# is the tenant's hash (two tenants sharing a hash only wait for each other) or 0.
_SUBJECTS = 0x64760001
_DATA_KEY = 0x64760002
_KEY_WRAPPING = 0x64760003


def subjects(conn: psycopg.Connection, tenant: str, *, exclusive: bool = False) -> None:
    _lock(conn, _SUBJECTS, tenant, exclusive)


def data_key(conn: psycopg.Connection, tenant: str, *, exclusive: bool = False) -> None:
    _lock(conn, _DATA_KEY, tenant, exclusive)


def key_wrapping(conn: psycopg.Connection, *, exclusive: bool = False) -> None:
    _lock(conn, _KEY_WRAPPING, None, exclusive)


def _lock(conn: psycopg.Connection, kind: int, tenant: str | None, exclusive: bool) -> None:
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    if tenant is None:
        conn.execute(f"SELECT {function}(%s, 0)", [kind])
    else:
        conn.execute(f"SELECT {function}(%s, hashtext(%s))", [kind, tenant])
