"""An ingest killed at any moment leaves whole documents, a verifying audit chain and a
usable server; running the batch again completes it with every document stored once.

A worker process (``ingest_worker.py``) loads the models once and forks one child per run; each
child ingests with its own connections until it is SIGKILLed, either after a random delay or
the moment the database shows it has a write transaction open. Set ``DOCVEIL_CRASH_SEED`` to
replay a run's delays.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from docveil.config import Settings
from docveil.engine import Engine
from docveil.store.database import APP_LOGIN, Database
from docveil.store.embedded_postgres import EmbeddedPostgres
from docveil.types import Principal
from tests.security.ingest_worker import WORKER_USER, document_text

# Bounded: 20 short runs, each wait capped; the default 600 s timeout is too tight on a busy machine.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

TENANT = "crash"
KILLS = 20
BATCH = 15
AUDITOR = Principal(TENANT, "auditor", frozenset({"auditor"}))
READER = Principal(TENANT, "reader", frozenset({"analyst"}))
WORKER = Path(__file__).with_name("ingest_worker.py")
REPO = Path(__file__).resolve().parents[2]


class Worker:
    """A worker process whose stdout lines are read by a thread, so waits can time out."""

    def __init__(self, args: list[str], env: dict[str, str], stderr: Path) -> None:
        self.stderr_path = stderr
        self._stderr = stderr.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(WORKER), *args], cwd=REPO, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {prefix!r} line within {timeout:.0f} s\n{self.diagnostics()}") from None
            if line is None:
                raise AssertionError(f"the worker ended before {prefix!r}\n{self.diagnostics()}")
            self.seen.append(line)
            if line.startswith(prefix):
                return line

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def diagnostics(self) -> str:
        self._stderr.flush()
        errors = self.stderr_path.read_text(encoding="utf-8", errors="replace").splitlines()
        return "stdout tail:\n" + "\n".join(self.seen[-10:]) + "\nstderr tail:\n" + "\n".join(errors[-25:])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        self._stderr.close()


@pytest.fixture(scope="module")
def crash_db(settings: Settings, template_database: str, superuser_conninfo: str) -> Iterator[Database]:
    name = f"test_crash_{uuid.uuid4().hex[:10]}"
    database = Database(settings, database=name, template=template_database).open()
    yield database
    database.close()
    with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def worker_env(settings: Settings, database: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DOCVEIL_", "PG"))}
    # The serving worker forks children after its models have run: a thread pool of the parent
    # (tokenizers', or OpenMP's under torch) would not exist in a child that expects it and
    # could leave it waiting forever. One thread each keeps the forks clean.
    env.update(DOCVEIL_HOME=str(settings.home), DOCVEIL_DATABASE=database, DOCVEIL_LOAD_ENTRY_POINTS="0",
               TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def wait_for_open_write(conninfo: str, database: str, application: str, nth: int, timeout: float) -> bool:
    """True once an application-role backend of ``application`` holds its ``nth`` distinct
    transaction that has written (has an xid), still open: an ingest storing a document."""
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while time.monotonic() < deadline:
            seen |= {r[0] for r in conn.execute(
                "SELECT backend_xid::text FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
                " AND usename = %s AND backend_xid IS NOT NULL", [database, application, APP_LOGIN])}
            if len(seen) >= nth:
                return True
            time.sleep(0.002)  # leave the CPU to the worker; a store transaction lasts longer
    return False


def wait_for_backends_to_end(conninfo: str, application: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(conninfo, autocommit=True) as conn:
        while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                           [application]).fetchone()[0]:
            assert time.monotonic() < deadline, f"backends of {application} outlived it by {timeout} s"
            time.sleep(0.05)


def check_consistent(engine: Engine, db: Database, where: str) -> set[str]:
    """Assert the stored state is whole; return the stored document ids."""
    with db.admin() as conn:
        partial = conn.execute(
            "SELECT d.id, d.chunk_count, count(c.id) FROM documents d LEFT JOIN chunks c ON c.document_id = d.id"
            " GROUP BY d.id, d.chunk_count HAVING count(c.id) <> d.chunk_count").fetchall()
        orphans = conn.execute("SELECT count(*) FROM chunks c WHERE NOT EXISTS"
                               " (SELECT 1 FROM documents d WHERE d.id = c.document_id)").fetchone()[0]
        gaps = conn.execute("SELECT count(*) FROM (SELECT document_id FROM chunks GROUP BY document_id"
                            " HAVING count(DISTINCT ordinal) <> max(ordinal) - min(ordinal) + 1) g").fetchone()[0]
        subjects_without_key = conn.execute(
            "SELECT count(*) FROM document_subjects s WHERE NOT EXISTS (SELECT 1 FROM subject_keys k"
            " WHERE k.tenant_id = s.tenant_id AND k.digest = s.digest)").fetchone()[0]
        keys_without_vault = conn.execute(
            "SELECT count(*) FROM subject_keys k WHERE NOT EXISTS (SELECT 1 FROM vault v"
            " WHERE v.tenant_id = k.tenant_id AND v.digest = k.digest)").fetchone()[0]
        documents = {r[0] for r in conn.execute("SELECT id::text FROM documents WHERE tenant_id = %s", [TENANT])}
        audited = Counter(r[0] for r in conn.execute(
            "SELECT unnest(targets) FROM audit_records WHERE tenant_id = %s AND action = 'ingest'"
            " AND outcome = 'ok'", [TENANT]))
    assert partial == [], f"{where}: documents without all their chunks: {partial}"
    assert (orphans, gaps) == (0, 0), f"{where}: {orphans} orphan chunks, {gaps} documents with ordinal gaps"
    assert (subjects_without_key, keys_without_vault) == (0, 0), f"{where}: vault and links disagree"
    assert audited == Counter(documents), f"{where}: stored documents and 'ingest' audit records disagree"
    result = engine.audit_verify(AUDITOR)
    assert result.ok, f"{where}: audit chain broken: {result.reason}"
    return documents


def test_killed_ingests_leave_whole_documents_and_a_verifying_audit_chain(
        settings: Settings, crash_db: Database, superuser_conninfo: str, postgres: EmbeddedPostgres,
        tmp_path: Path) -> None:
    seed = int(os.environ.get("DOCVEIL_CRASH_SEED", random.SystemRandom().randrange(2**32)))
    rng = random.Random(seed)
    batch = tmp_path / "batch"
    batch.mkdir()
    for number in range(BATCH):
        (batch / f"doc-{number:02d}.txt").write_text(document_text(f"B{number}", number), encoding="utf-8")
    env = worker_env(settings, crash_db.database)
    engine = Engine(settings, database=crash_db)
    check_consistent(engine, crash_db, "before any run")  # creates the KEK file before any child runs

    server = Worker(["serve", TENANT, str(batch), str(tmp_path / "filler")], env, tmp_path / "serve.err")
    kills_seeing_open_writes = runs_that_stored = 0
    stored: set[str] = set()
    child: int | None = None  # a live child, to kill if the test fails half-way
    try:
        server.expect("READY", timeout=300)
        users = postgres.status().users
        for run in range(KILLS):
            where = f"seed {seed}, run {run}"
            application = f"crash-worker-{run}"
            server.send(f"run {run}")
            child = int(server.expect(f"CHILD {run} ", timeout=60).split()[2])
            if run % 2:
                kills_seeing_open_writes += wait_for_open_write(
                    superuser_conninfo, crash_db.database, application, rng.randint(1, 2), timeout=120)
                time.sleep(rng.uniform(0, 0.005))
            else:
                # Batch documents already stored go by quickly as duplicates; after the n-th
                # INGEST line past them, n - 1 new documents are done: kill somewhere in the next.
                for _ in range(min(len(stored), BATCH) + rng.randint(1, 2)):
                    server.expect("INGEST", timeout=120)
                time.sleep(rng.uniform(0, 2.5))
            os.kill(child, signal.SIGKILL)
            status = int(server.expect(f"EXITED {run} ", timeout=60).split()[2])
            child = None  # reaped: the pid may be reused
            assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, \
                f"{where}: the child ended on its own (status {status})\n{server.diagnostics()}"
            wait_for_backends_to_end(superuser_conninfo, application)
            now = check_consistent(engine, crash_db, where)
            assert stored <= now, f"{where}: committed documents disappeared"
            runs_that_stored += len(now) > len(stored)
            stored = now
            # The dead process no longer counts as a user of the server.
            assert postgres.status().users == users, where
        server.send("quit")
        assert server.process.wait(timeout=60) == 0
    finally:
        if child is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)
        server.close()
    # The kills must have hit both kinds of moment, or the checks above proved little.
    assert kills_seeing_open_writes >= 1, f"seed {seed}: no kill landed while a write transaction was open"
    assert runs_that_stored >= 1, f"seed {seed}: no run stored a document before it was killed"

    # A fresh process on the same home and database finishes the batch.
    done = subprocess.run([sys.executable, str(WORKER), "once", TENANT, str(batch)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=400, check=False)
    assert done.returncode == 0 and done.stdout.rstrip().endswith("DONE"), done.stderr[-3000:]
    check_consistent(engine, crash_db, f"seed {seed}, after the final run")
    names = Counter(Path(info.source).name for info in engine.documents(READER))
    assert {name: names[name] for name in sorted(p.name for p in batch.iterdir())} == \
        {p.name: 1 for p in sorted(batch.iterdir())}
    assert all(count == 1 for count in names.values())
    with crash_db.admin() as conn:
        owners = {r[0] for r in conn.execute("SELECT DISTINCT owner_user FROM documents")}
    assert owners == {WORKER_USER}
