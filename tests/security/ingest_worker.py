"""Processes that ingest documents with a real Engine, for the crash-consistency tests.

Settings come from the environment (``DOCVEIL_HOME``, ``DOCVEIL_DATABASE``, ...).

``python tests/security/ingest_worker.py once TENANT BATCH_DIR``
    Loads the models, prints ``READY``, ingests the files of ``BATCH_DIR`` one at a time in name
    order (``INGEST <name>`` before each), prints ``DONE`` and exits 0.

``python tests/security/ingest_worker.py serve TENANT BATCH_DIR FILLER_DIR``
    Loads the models once and prints ``READY``; then, for each ``run ID`` line read on stdin,
    forks a child that opens its own database connections (``application_name`` is
    ``crash-worker-ID``), prints ``CHILD ID PID``, ingests the batch like ``once`` and then keeps
    writing and ingesting fresh documents into ``FILLER_DIR`` until it is killed. When the child
    has ended the server prints ``EXITED ID STATUS`` (the raw ``waitpid`` status). ``quit`` ends
    it. Loading the models once keeps a series of kills affordable; each child is still a
    separate process that runs the whole ingest path and dies without any clean-up.
"""

from __future__ import annotations

import itertools
import os
import sys
import traceback
from pathlib import Path

from docveil.config import Settings
from docveil.engine import Engine
from docveil.types import Principal

FIRST_NAMES = ("Maria", "Thomas", "Daniel", "Laura", "Peter", "Anna", "James", "Sofia")
LAST_NAMES = ("Becker", "Gonzalez", "Kowalski", "Novak", "Lindqvist", "Moreau", "Okafor", "Tanaka")
WORKER_USER = "crash-worker"


def document_text(label: str, number: int) -> str:
    """Two chunks of prose naming two people, different for every label."""
    first = FIRST_NAMES[number % len(FIRST_NAMES)]
    last = LAST_NAMES[(number // len(FIRST_NAMES)) % len(LAST_NAMES)]
    other = f"{FIRST_NAMES[(number + 3) % len(FIRST_NAMES)]} {LAST_NAMES[(number + 5) % len(LAST_NAMES)]}"
    paragraphs = [(
        f"Record {label}. Case worker {first} {last} met {other} on the third floor to review the "
        f"claim. The meeting covered the timeline of the claim, the documents still missing and "
        f"the next steps agreed by both sides. Reference {label} must be quoted in every reply."
    )]
    for part in range(1, 4):
        paragraphs.append(
            f"Section {part} of record {label}: the reviewer checked the invoices against the "
            f"ledger, found {part + number % 7} entries that did not match, and asked the finance "
            f"team to explain each of them before the end of the month. No payment is due until "
            f"the explanation has been received and approved by the committee.")
    return "\n\n".join(paragraphs) + "\n"


def _say(line: str) -> None:
    """One line in one write: a process killed while writing (PYTHONUNBUFFERED makes print write
    the line and its newline apart) leaves a whole line or none."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ingest_batch(engine: Engine, principal: Principal, batch_dir: Path) -> None:
    for path in sorted(batch_dir.iterdir()):
        _say(f"INGEST {path.name}")
        report = engine.ingest([path], principal)
        if report.failed:
            raise RuntimeError(f"{path.name} failed: {report.failed[0].reason}")


def ingest_forever(engine: Engine, principal: Principal, filler_dir: Path, run_id: str) -> None:
    for number in itertools.count():
        path = filler_dir / f"filler-{run_id}-{number:04d}.txt"
        path.write_text(document_text(f"F{run_id}-{number}", number), encoding="utf-8")
        _say(f"INGEST {path.name}")
        engine.ingest([path], principal)


def child(engine: Engine, principal: Principal, batch_dir: Path, filler_dir: Path, run_id: str) -> int:
    os.environ["PGAPPNAME"] = f"crash-worker-{run_id}"
    _say(f"CHILD {run_id} {os.getpid()}")
    try:
        ingest_batch(engine, principal, batch_dir)
        ingest_forever(engine, principal, filler_dir, run_id)
    except Exception:  # the test reads the traceback from stderr
        traceback.print_exc()
        return 1
    return 0


def serve(tenant: str, batch_dir: Path, filler_dir: Path) -> int:
    principal = Principal(tenant, WORKER_USER)
    filler_dir.mkdir(parents=True, exist_ok=True)
    # The parent loads models but never touches the database: each child opens its own.
    engine = Engine(Settings.load())
    engine.warm_up()
    _say("READY")
    for line in sys.stdin:
        command = line.split()
        if command == ["quit"]:
            return 0
        if len(command) != 2 or command[0] != "run":
            _say(f"UNKNOWN {line.strip()}")
            continue
        run_id = command[1]
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = child(engine, principal, batch_dir, filler_dir, run_id)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        _say(f"EXITED {run_id} {status}")
    return 0


def once(tenant: str, batch_dir: Path) -> int:
    with Engine(Settings.load()) as engine:
        engine.warm_up()
        _say("READY")
        ingest_batch(engine, Principal(tenant, WORKER_USER), batch_dir)
    _say("DONE")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "once":
        return once(argv[1], Path(argv[2]))
    if len(argv) == 4 and argv[0] == "serve":
        return serve(argv[1], Path(argv[2]), Path(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
