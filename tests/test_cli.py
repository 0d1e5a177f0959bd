"""The command line, driven in-process with typer's runner against the real stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import docveil.interfaces.cli_admin  # noqa: F401  (registers audit, keys, documents)
from docveil.interfaces.cli import app
from docveil.interfaces.demo import sample_paths


@pytest.fixture
def cli_env(settings, db) -> dict[str, str]:
    return {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database,
            "DOCVEIL_LOAD_ENTRY_POINTS": "false", "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice"}


def run(env: dict[str, str], *args: str) -> object:
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


@pytest.mark.slow
def test_ingest_search_and_audit_from_the_command_line(cli_env, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for path in sample_paths():
        (docs / path.name).write_bytes(path.read_bytes())
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj <<")

    ingested = run(cli_env, "ingest", str(docs), "--json")
    assert ingested.exit_code == 1, "a failed file makes the exit code non-zero"
    report = json.loads(ingested.stdout)
    assert len(report["ingested"]) == 4
    assert [Path(f["source"]).name for f in report["failed"]] == ["broken.pdf"]
    assert "broken.pdf" in ingested.stderr and "Traceback" not in ingested.stderr

    searched = run(cli_env, "search", "Which doctor treats Maria Gonzalez?", "-k", "2", "--json")
    assert searched.exit_code == 0
    hits = json.loads(searched.stdout)
    assert len(hits) == 2
    assert all({"source", "page", "score", "text", "bbox"} <= set(hit) for hit in hits)
    assert Path(hits[0]["source"]).name == "intake_note.txt"
    assert "Maria Gonzalez" not in searched.stdout

    denied = run(cli_env, "audit", "verify")
    assert denied.exit_code == 1 and "may not audit.read" in denied.stderr

    verified = run(cli_env, "audit", "verify", "--role", "auditor", "--json")
    assert verified.exit_code == 0 and json.loads(verified.stdout)["ok"] is True

    export = tmp_path / "audit.jsonl"
    assert run(cli_env, "audit", "export", "--role", "auditor", "-o", str(export)).exit_code == 0
    key = run(cli_env, "audit", "key", "--role", "auditor").stdout.strip()
    offline = run(cli_env, "audit", "verify", "--file", str(export), "--verify-key", key, "--json")
    assert offline.exit_code == 0 and json.loads(offline.stdout)["ok"] is True
    assert "Maria" not in export.read_text()

    lines = export.read_text().splitlines()
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(line.replace('"search"', '"ingest"') for line in lines) + "\n")
    broken = run(cli_env, "audit", "verify", "--file", str(tampered), "--verify-key", key)
    assert broken.exit_code == 2 and "BROKEN" in broken.stderr

    shown = run(cli_env, "audit", "show", "--role", "auditor", "--action", "search", "--json")
    assert [r["action"] for r in json.loads(shown.stdout)] == ["search"]

    forgotten = run(cli_env, "forget", "--subject", "Maria Gonzalez", "--subject", "maria.gonzalez@example.org",
                    "--role", "privacy-officer", "--json")
    assert forgotten.exit_code == 0, forgotten.stderr
    assert json.loads(forgotten.stdout)["vault_entries"] == 2


def test_redact_writes_redacted_text_and_a_value_free_manifest(cli_env, tmp_path: Path) -> None:
    note = next(p for p in sample_paths() if p.name == "intake_note.txt")
    output, manifest = tmp_path / "note.txt", tmp_path / "manifest.json"
    result = run(cli_env, "redact", str(note), "-o", str(output), "--manifest", str(manifest))
    assert result.exit_code == 0, result.stderr
    text = output.read_text()
    assert "Maria Gonzalez" not in text and "<PERSON_" in text
    records = json.loads(manifest.read_text())
    assert records and {"entity_type", "start", "end", "recognizer", "score"} <= set(records[0])
    assert "Maria" not in manifest.read_text()


def test_user_errors_are_one_line_without_traceback(cli_env, tmp_path: Path) -> None:
    missing = run(cli_env, "redact", str(tmp_path / "nope.txt"))
    assert missing.exit_code == 1
    assert "nope.txt" in missing.stderr and "Traceback" not in missing.stderr
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    result = run(cli_env, "redact", str(empty))
    assert result.exit_code == 1 and "empty.txt" in result.stderr and "empty" in result.stderr.lower()


def test_plugins_lists_plugins_and_their_hooks(cli_env) -> None:
    result = run(cli_env, "plugins", "--json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert "docveil_detect_text" in rows["docveil.stages.detect.pii_text"]["hooks"]
    assert rows["docveil.security.audit"]["essential"] is True


def test_db_status_reports_the_running_server(cli_env) -> None:
    result = run(cli_env, "db", "status", "--json")
    status = json.loads(result.stdout)
    assert status["running"] is True and status["pid"]
