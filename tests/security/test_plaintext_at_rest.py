"""No planted personal value reaches disk, the logs or the audit log in clear.

Values are random for each run (the server is shared by the whole test session), and every
value planted in document text is first checked to be one the detector finds, so a miss here
is a leak, not a detector gap. Metadata values (file names, PDF author and title, HTML title)
are never redacted: they must be stored encrypted. The seed is printed; set
``DOCVEIL_AT_REST_SEED`` to replay a run's values.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from reportlab.pdfgen import canvas

from docveil.engine import Engine
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.store.database import Database
from docveil.types import Finding, Principal

TENANT = "atrest"
WRITER = Principal(TENANT, "writer", frozenset({"analyst"}))
OFFICER = Principal(TENANT, "officer", frozenset({"reidentify", "privacy-officer", "auditor"}))
FIRST_NAMES = ("Maria", "Thomas", "Daniel", "Laura", "Peter", "Anna", "James", "Sofia")
SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "dor", "tel", "san", "mar", "lin", "gu", "zo", "bel", "ani", "os", "ter")


def surname(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(syllables)).capitalize()


def card_number(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # Luhn, from the digit left of the check digit
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i:i + 4] for i in range(0, 16, 4))


def iban(rng: random.Random) -> str:
    bban = "".join(str(rng.randrange(10)) for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # "DE" is 13 14, then "00"
    text = f"DE{check:02d}{bban}"
    return " ".join(text[i:i + 4] for i in range(0, len(text), 4))


def bsn(rng: random.Random) -> str:
    """A Dutch citizen service number: nine digits whose weighted sum is a multiple of 11."""
    while True:
        digits = [rng.randrange(1, 10)] + [rng.randrange(10) for _ in range(7)]
        check = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True)) % 11
        if check < 10:  # the ninth digit weighs -1
            text = "".join(map(str, [*digits, check]))
            return f"{text[:4]}.{text[4:6]}.{text[6:]}"


@dataclass(frozen=True)
class Planted:
    patient: str       # in the text of a note
    file_person: str   # in the note's file name
    author: str        # PDF author
    titled: str        # in the PDF title
    html_titled: str   # in an HTML <title>
    failed_person: str  # in the name of a file that fails to load
    email: str
    phone: str
    ssn: str
    card: str
    iban: str
    bsn: str

    @classmethod
    def random(cls, rng: random.Random) -> Planted:
        def person(syllables: int = 4) -> str:
            return f"{rng.choice(FIRST_NAMES)} {surname(rng, syllables)}"

        return cls(patient=person(3), file_person=person(), author=person(), titled=person(),
                   html_titled=person(), failed_person=person(),
                   email=f"{surname(rng, 2).lower()}.{uuid.uuid4().hex[:10]}@example.org",
                   phone=f"212-555-{rng.randrange(1000, 9999)}", ssn=f"219-09-{rng.randrange(1000, 9999)}",
                   card=card_number(rng), iban=iban(rng), bsn=bsn(rng))

    def note(self) -> str:
        return (f"Clinical note. {self.patient} was seen on Monday for recurring migraines and asked "
                f"for a referral.\nYou can reach {self.patient} at {self.email} or on {self.phone}.\n"
                f"Social security number: {self.ssn}.\nThe co-payment was charged to the credit card "
                f"{self.card}.\nRefunds are paid to the account with IBAN {self.iban}.\n"
                f"Dutch citizen service number (BSN): {self.bsn}.\n")

    def in_text(self) -> tuple[str, ...]:
        return (self.patient, self.email, self.phone, self.ssn, self.card, self.iban, self.bsn)

    def file_name(self) -> str:
        return f"{self.file_person.lower().replace(' ', '_')}_medical.txt"

    def needles(self) -> dict[str, bytes]:
        """Lowercase forms to look for in lowercased bytes (so every case variant is caught)."""
        values: dict[str, str] = {}
        for label in ("patient", "file_person", "author", "titled", "html_titled", "failed_person"):
            name = getattr(self, label)
            values[label] = name
            values[f"{label} surname"] = name.split()[1]
            values[f"{label} with underscore"] = name.replace(" ", "_")
        values["file name"] = self.file_name()
        values["email"] = self.email
        values["email local part"] = self.email.split("@")[0]
        for label in ("phone", "ssn", "card", "iban", "bsn"):
            value = getattr(self, label)
            values[label] = value
            values[f"{label} digits"] = "".join(c for c in value if c.isalnum())
        return {label: value.lower().encode("utf-8") for label, value in values.items()}


def covered(text: str, value: str, findings: list[Finding]) -> bool:
    start = text.find(value)
    while start != -1:
        end = start + len(value)
        if not any(f.start <= start and end <= f.end for f in findings):
            return False
        start = text.find(value, end)
    return True


@dataclass
class Scenario:
    planted: Planted
    queries: tuple[str, ...]
    logs: str
    note_id: str
    pdf_id: str
    html_id: str


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += f" {record.exc_info[1]!r}"
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture(scope="module")
def engine(module_engine: Engine) -> Engine:
    return module_engine


@pytest.fixture(scope="module")
def scenario(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """Ingest, search, reidentify and forget with planted values, logging everything at DEBUG."""
    seed = int(os.environ.get("DOCVEIL_AT_REST_SEED", random.SystemRandom().randrange(2**32)))
    print(f"planted values from seed {seed} (DOCVEIL_AT_REST_SEED replays them)")
    rng = random.Random(seed)
    for _ in range(25):
        planted = Planted.random(rng)
        text = planted.note()
        findings = engine.detect([text])[0]
        if all(covered(text, value, findings) for value in planted.in_text()):
            break
    else:
        pytest.fail("no random set of planted values was fully detected in 25 tries")
    folder = tmp_path_factory.mktemp("atrest")
    (folder / planted.file_name()).write_text(planted.note(), encoding="utf-8")
    pdf = canvas.Canvas(str(folder / "discharge.pdf"))
    pdf.setAuthor(planted.author)
    pdf.setTitle(f"Discharge summary for {planted.titled}")
    pdf.drawString(72, 700, "Discharge summary: the patient recovered well and was sent home.")
    pdf.save()
    (folder / "ticket.html").write_text(
        f"<html><head><title>Support ticket from {planted.html_titled}</title></head>"
        "<body><p>The customer cannot log in after the password reset.</p></body></html>", encoding="utf-8")
    bad = folder / f"{planted.failed_person.lower().replace(' ', '_')}_scan.pdf"
    bad.write_bytes(b"%PDF-1.7\n" + b"\x00garbage" * 50)
    queries = (f"Which doctor is treating {planted.patient} for migraines?", f"{planted.email} referral",
               f"payment with card {planted.card}", f"social security number {planted.ssn}",
               planted.patient.split()[1], f"{planted.file_person} medical file")

    handler = _Collect()
    root, package = logging.getLogger(), logging.getLogger("docveil")
    saved = root.level, package.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    package.setLevel(logging.DEBUG)
    try:
        report = engine.ingest([folder], WRITER)
        assert [Path(f.source).name for f in report.failed] == [bad.name]
        ids = {Path(d.source).name: d.document_id for d in report.ingested}
        tokens: set[str] = set()
        for query in queries:
            tokens |= {m.group(0) for h in engine.search(query, WRITER, k=20) for m in TOKEN_PATTERN.finditer(h.text)}
        resolved = engine.reidentify(tokens, OFFICER)
        assert planted.patient in resolved.values() and planted.email in resolved.values()
        engine.documents(WRITER)
        assert engine.forget(planted.patient, OFFICER).subject_found
        assert engine.audit_verify(OFFICER).ok
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        package.setLevel(saved[1])
    return Scenario(planted, queries, "\n".join(handler.lines), ids[planted.file_name()], ids["discharge.pdf"],
                    ids["ticket.html"])


_HEX = re.compile(rb"[0-9a-f]+")


def contains(data: bytes, needle: bytes) -> bool:
    """Whether ``needle`` is in ``data``; one made of hex digits only (a phone's digits) must
    stand apart from other hex digits, as the digests, MACs and tokens stored beside it hold
    every such string by chance."""
    if needle not in data:
        return False
    if not _HEX.fullmatch(needle):
        return True
    return re.search(rb"(?<![0-9a-f])" + re.escape(needle) + rb"(?![0-9a-f])", data) is not None


def found_in(haystack: str, needles: dict[str, bytes]) -> list[str]:
    data = haystack.lower().encode("utf-8")
    return sorted(label for label, needle in needles.items() if contains(data, needle))


def scan_tree(root: Path, needles: dict[str, bytes]) -> set[tuple[str, str]]:
    """(needle label, file) for every needle found in any file under ``root``, case-insensitively."""
    found: set[tuple[str, str]] = set()
    overlap = max(len(n) for n in needles.values())
    for path in sorted(root.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            handle = path.open("rb")
        except OSError:
            continue
        with handle:
            tail = b""
            while chunk := handle.read(1 << 24):
                data = tail + chunk.lower()
                found |= {(label, str(path.relative_to(root))) for label, needle in needles.items()
                          if contains(data, needle)}
                tail = data[-overlap:]
    return found


def test_planted_metadata_is_stored_and_reads_back_for_its_reader(engine: Engine, scenario: Scenario) -> None:
    # Guards the tests below: the values did go into storage (in clear where no detector saw a
    # name, else as a token the reidentify role resolves), so their absence there means encryption.
    infos = {i.document_id: i for i in engine.documents(WRITER)}
    planted = scenario.planted

    def reads_back(field: str, value: str) -> bool:
        # The field with its tokens resolved holds the value: whether a detector took the whole
        # name, a word more ("... medical"), part of it ("<PERSON_…>_surname") or none of it.
        resolved = engine.reidentify({m.group(0) for m in TOKEN_PATTERN.finditer(field)}, OFFICER)
        read = TOKEN_PATTERN.sub(lambda m: resolved.get(m.group(0), m.group(0)), field).lower()
        return any(form in read for form in (value.lower(), value.lower().replace(" ", "_")))

    assert reads_back(Path(infos[scenario.note_id].source).name, planted.file_person)
    assert reads_back(infos[scenario.pdf_id].metadata["author"], planted.author)
    assert reads_back(infos[scenario.pdf_id].metadata["title"], planted.titled)
    assert reads_back(infos[scenario.html_id].metadata["title"], planted.html_titled)


def test_no_planted_value_in_any_file_under_docveil_home(scenario: Scenario, superuser_conninfo: str,
                                                         docveil_home: Path) -> None:
    with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
        conn.execute("CHECKPOINT")
        conn.execute("SELECT pg_switch_wal()")
        conn.execute("CHECKPOINT")
    files = [p for p in docveil_home.rglob("*") if p.is_file()]
    assert any("pg_wal" in p.parts for p in files) and any(p.name == "server.log" for p in files)
    assert scan_tree(docveil_home, scenario.planted.needles()) == set()


def test_no_planted_value_in_any_stored_row(scenario: Scenario, module_db: Database) -> None:
    # Rows as text, decompressed: a value compressed on disk would slip past the file scan.
    needles = scenario.planted.needles()
    with module_db.admin() as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        assert {"documents", "chunks", "vault", "audit_records"} <= set(tables)
        for table in tables:
            rows = conn.execute(sql.SQL("SELECT t::text FROM {} t").format(sql.Identifier(table))).fetchall()
            assert found_in("\n".join(r[0] for r in rows), needles) == [], table


def test_logs_carry_no_planted_value(scenario: Scenario) -> None:
    assert scenario.logs, "nothing was logged at DEBUG: the capture is broken"
    assert found_in(scenario.logs, scenario.planted.needles()) == []
    assert not [q for q in scenario.queries if q.lower() in scenario.logs.lower()]


def test_audit_log_holds_no_planted_value_and_no_query_text(scenario: Scenario, module_db: Database) -> None:
    planted = scenario.planted
    plain_hashes = {hashlib.sha256(v.encode()).hexdigest() for v in (*scenario.queries, *planted.in_text())}
    with module_db.admin() as conn:
        conn.execute("SELECT set_config('docveil.tenant', %s, false)", [TENANT])
        text = "\n".join(
            row[0] for table in ("audit_records", "audit_checkpoints", "audit_heads")
            for row in conn.execute(sql.SQL("SELECT t::text FROM {} t WHERE tenant_id = %s").format(
                sql.Identifier(table)), [TENANT]))
        actions = {r[0] for r in conn.execute("SELECT action FROM audit_records WHERE tenant_id = %s", [TENANT])}
    assert {"ingest", "search", "reidentify", "forget", "documents.list"} <= actions
    assert found_in(text, planted.needles()) == []
    lowered = text.lower()
    assert not [q for q in scenario.queries if q.lower() in lowered]
    assert "migraines" not in lowered and "referral" not in lowered
    assert not [h for h in plain_hashes if h in lowered], "an unkeyed hash of a query or value is in the log"
