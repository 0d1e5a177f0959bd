"""The command line, driven in-process with typer's runner against the real stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from typer.testing import CliRunner

import docveil.interfaces.cli_admin  # registers audit, keys, documents
import docveil.interfaces.cli_http  # noqa: F401  (registers serve, keys api)
from docveil.interfaces.cli import app
from docveil.interfaces.demo import sample_paths
from docveil.types import Principal


@pytest.fixture
def cli_env(settings, db) -> dict[str, str]:
    # COLUMNS: the width rich uses when output is piped, fixed so that tables wrap the same everywhere.
    return {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database,
            "DOCVEIL_LOAD_ENTRY_POINTS": "false", "DOCVEIL_TENANT": "acme", "DOCVEIL_USER": "alice",
            "COLUMNS": "80"}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def error_line(result) -> str:
    """The single ``error:`` line a failed command printed, after checking that it is one line."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def intake_note() -> Path:
    return next(p for p in sample_paths() if p.name == "intake_note.txt")


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

    note = docs / "intake_note.txt"
    again = run(cli_env, "ingest", str(note), "--acl-role", "hr")  # stored tenant-wide: kept so, and said
    assert again.exit_code == 0 and "unchanged (already stored)" in again.stdout
    assert "stored before with other readers (@*)" in again.stderr and "documents acl" in again.stderr
    again_json = json.loads(run(cli_env, "ingest", str(note), "--acl-role", "hr", "--json").stdout)
    assert again_json["ingested"][0]["kept_acl"] == {"users": [], "roles": ["*"]}

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

    mac_key = tmp_path / "audit.key"
    refused = run(cli_env, "audit", "mac-key", "--role", "auditor", "-o", str(mac_key))
    assert refused.exit_code == 1 and "may not audit.mac_key" in refused.stderr and not mac_key.exists()
    assert run(cli_env, "audit", "mac-key", "--role", "admin", "-o", str(mac_key)).exit_code == 0
    assert mac_key.stat().st_mode & 0o777 == 0o600
    checked = run(cli_env, "audit", "verify", "--file", str(export), "--mac-key-file", str(mac_key), "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["macs_checked"] is True
    (tmp_path / "other.key").write_bytes(bytes(32))  # another key: every MAC fails
    assert run(cli_env, "audit", "verify", "--file", str(export), "--mac-key-file", str(tmp_path / "other.key")).exit_code == 2
    handed_out = run(cli_env, "audit", "show", "--role", "auditor", "--action", "audit.mac_key", "--json")
    assert [r["user"] for r in json.loads(handed_out.stdout)] == ["alice"]

    shown = run(cli_env, "audit", "show", "--role", "auditor", "--action", "search", "--json")
    assert [r["action"] for r in json.loads(shown.stdout)] == ["search"]

    forgotten = run(cli_env, "forget", "--subject", "Maria Gonzalez", "--subject", "maria.gonzalez@example.org",
                    "--role", "privacy-officer", "--json")
    assert forgotten.exit_code == 0, forgotten.stderr
    assert json.loads(forgotten.stdout)["vault_entries"] == 2


def test_redact_writes_redacted_text_and_a_value_free_manifest(cli_env, tmp_path: Path) -> None:
    note = intake_note()
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

    text = run(cli_env, "db", "status").stdout.splitlines()
    pin = "pinned: runs until `docveil db stop`" if status["pinned"] else "not pinned: stops after its last user"
    assert text == [f"running (pid {status['pid']}), {pin}",
                    f"data directory:     {status['data_dir']}",
                    f"socket directory:   {status['socket_dir']}",
                    f"processes using it: {'unknown' if status['users'] is None else status['users']}"]


def test_file_names_document_text_and_user_ids_print_literally_not_as_markup(cli_env, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    text = "Meeting notes [/] about the [bold red]budget[/bold red], see [x] and :smile:."
    (docs / "[red]notes [b].txt").write_text(text, encoding="utf-8")
    # A line break in a file name cannot start a line of its own (a forged "ok" or "error:" line).
    (docs / "line\nerror: forged.txt").write_text("Minutes of the canteen committee.", encoding="utf-8")
    # A terminal escape sequence (here: clear the screen) is shown, never sent to the terminal.
    (docs / "escape.txt").write_text("Escape \x1b[2J sequence in the quarterly budget minutes.", encoding="utf-8")
    ingested = run(cli_env, "ingest", str(docs))
    assert ingested.exit_code == 0, ingested.stderr
    assert "[red]notes [b].txt: 1 page," in ingested.stdout
    assert "line\\nerror: forged.txt: 1 page," in ingested.stdout
    assert not any(line.startswith("error:") for line in ingested.stdout.splitlines() + ingested.stderr.splitlines())

    wide = {**cli_env, "COLUMNS": "400"}  # one line per table row
    searched = run(wide, "search", "budget meeting notes")
    assert searched.exit_code == 0, searched.stderr
    assert text in searched.stdout and "[red]notes [b].txt" in searched.stdout
    assert "\x1b[2J" not in searched.stdout and "Escape \\x1b[2J sequence" in searched.stdout

    for odd_user in ("[i]alice", "[/]"):
        denied = run(cli_env, "audit", "show", "--user", odd_user)
        assert f"{odd_user} may not audit.read" in error_line(denied)
    shown = run(wide, "audit", "show", "--role", "auditor", "--action", "deny")
    assert shown.exit_code == 0, shown.stderr
    users = [row.split("│")[3].strip() for row in shown.stdout.splitlines() if row.startswith("│")]
    assert users == ["[i]alice", "[/]"]


def test_a_refused_or_misdirected_output_leaves_files_as_they_were(cli_env, tmp_path: Path) -> None:
    earlier = tmp_path / "audit.jsonl"
    earlier.write_text("last week's export\n")
    refused = run(cli_env, "audit", "export", "-o", str(earlier))  # alice is no auditor
    assert refused.exit_code == 1 and "may not audit.read" in error_line(refused)
    assert earlier.read_text() == "last week's export\n"
    assert list(tmp_path.iterdir()) == [earlier], "no temporary file is left behind"

    replaced = run(cli_env, "audit", "export", "--role", "auditor", "-o", str(earlier))
    assert replaced.exit_code == 0, replaced.stderr
    assert run(cli_env, "audit", "verify", "--file", str(earlier)).exit_code == 0

    text = tmp_path / "note.txt"
    misdirected = run(cli_env, "redact", str(intake_note()), "-o", str(text),
                      "--manifest", str(tmp_path / "nodir" / "manifest.json"))
    assert misdirected.exit_code == 1 and "--manifest" in error_line(misdirected)
    assert not text.exists(), "nothing is written when one of the outputs cannot be"


EXPORT_HEADER = '{"type":"export","format":"docveil-audit","v":1}\n'


@pytest.mark.parametrize(("args", "named"), [
    (["search", ""], "the query"),
    (["ask", " "], "the question"),
    (["forget", "--subject", "", "--role", "privacy-officer"], "--subject"),
    (["search", "x", "--tenant", ""], "--tenant"),
    (["search", "x", "--role", ""], "--role"),
    (["search", "x", "--user", ""], "--user"),
    (["search", "x", "--tenant", "t" * 300], "tenant"),
    (["ingest", "{tmp}", "--acl-user", ""], "--acl-user"),
    (["documents", "acl", "0b7a2a4e-4a3c-4c54-9d5b-1c8f0c1f2b1e"], "--acl-role"),
    (["redact", "{note}", "-o", "{tmp}/nodir/out.txt"], "--output {tmp}/nodir/out.txt"),
    (["redact", "{note}", "--manifest", "{tmp}/nodir/m.json"], "--manifest {tmp}/nodir/m.json"),
    (["audit", "export", "--role", "auditor", "-o", "{tmp}/nodir/x.jsonl"], "--output {tmp}/nodir/x.jsonl"),
    (["audit", "export", "--role", "auditor", "-o", "{tmp}"], "--output {tmp}: is a folder"),
    (["audit", "verify", "--file", "{export}", "--mac-key-file", "{tmp}/nope.key"], "--mac-key-file {tmp}/nope.key"),
    (["audit", "verify", "--file", "{export}", "--mac-key-file", "{tmp}/short.key"],
     "--mac-key-file {tmp}/short.key: 10 bytes, not an audit MAC key"),
    (["audit", "verify", "--file", "{export}", "--verify-key", "zz"], "--verify-key"),
    (["audit", "verify", "--file", "{export}", "--verify-key", "abcd"], "--verify-key"),
    (["audit", "verify", "--verify-key", "ab" * 32], "--file"),
    (["audit", "verify", "--file", "{binary}"], "{binary} is not a docveil audit export"),
    (["audit", "verify", "--file", "{note}"], "intake_note.txt is not a docveil audit export"),
    (["audit", "verify", "--file", "{tmp}/missing.jsonl"], "{tmp}/missing.jsonl: No such file"),
])
def test_bad_input_is_one_error_line_naming_it_with_exit_code_1(cli_env, tmp_path: Path, args, named) -> None:
    (tmp_path / "export.jsonl").write_text(EXPORT_HEADER)
    (tmp_path / "short.key").write_bytes(b"0123456789")
    (tmp_path / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 64)
    places = {"{tmp}": str(tmp_path), "{note}": str(intake_note()), "{export}": str(tmp_path / "export.jsonl"),
              "{binary}": str(tmp_path / "scan.png")}

    def fill(text: str) -> str:
        for placeholder, value in places.items():
            text = text.replace(placeholder, value)
        return text

    result = run(cli_env, *map(fill, args))
    assert result.exit_code == 1, "1 is an input error; 2 would mean a broken audit log"
    assert fill(named) in error_line(result)
    assert not (tmp_path / "nodir").exists()


def test_audit_verify_prints_the_key_fingerprint_and_says_what_failed(cli_env, tmp_path: Path) -> None:
    verified = run(cli_env, "audit", "verify", "--role", "auditor")
    assert verified.exit_code == 0, verified.stderr
    fingerprint = json.loads(run(cli_env, "audit", "verify", "--role", "auditor", "--json").stdout)["key_fingerprint"]
    assert fingerprint.startswith("ed25519:") and f"signing key fingerprint: {fingerprint}" in verified.stdout

    export = tmp_path / "audit.jsonl"
    assert run(cli_env, "audit", "export", "--role", "auditor", "-o", str(export)).exit_code == 0
    offline = run(cli_env, "audit", "verify", "--file", str(export))
    assert offline.exit_code == 0 and fingerprint in offline.stdout and "not pinned" in offline.stdout
    public_key = run(cli_env, "audit", "key", "--role", "auditor").stdout.split()[0]
    pinned = run(cli_env, "audit", "verify", "--file", str(export), "--verify-key", public_key)
    assert pinned.exit_code == 0 and fingerprint in pinned.stdout and "not pinned" not in pinned.stdout

    other_key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    pinned_elsewhere = run(cli_env, "audit", "verify", "--file", str(export), "--verify-key", other_key)
    assert pinned_elsewhere.exit_code == 2
    assert "None" not in pinned_elsewhere.stderr
    assert "does not verify: the export is signed by" in pinned_elsewhere.stderr
    assert f"signing key fingerprint: {fingerprint}" in pinned_elsewhere.stderr


def test_audit_show_lists_the_most_recent_records_in_time_order_unless_the_oldest_are_asked(cli_env) -> None:
    for _ in range(3):
        assert run(cli_env, "audit", "verify", "--role", "auditor").exit_code == 0

    def seqs(*options: str) -> list[int]:
        result = run(cli_env, "audit", "show", "--role", "auditor", "--json", *options)
        assert result.exit_code == 0, result.stderr
        return [record["seq"] for record in json.loads(result.stdout)]

    everything = seqs("--limit", "1000")  # and the show itself is recorded, after these
    assert len(everything) >= 3 and everything == sorted(everything)
    assert seqs("--limit", "2") == [everything[-1], everything[-1] + 1]
    assert seqs("--limit", "2", "--oldest") == everything[:2]


def test_search_without_a_query_or_an_image_is_a_malformed_command_line(cli_env) -> None:
    result = run(cli_env, "search")
    assert result.exit_code == 2 and "give a query, or --image" in result.stderr


def test_an_empty_path_is_an_error_not_the_current_folder(cli_env, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "private.txt").write_text("Notes that must stay where they are.")
    monkeypatch.chdir(tmp_path)
    result = run(cli_env, "ingest", "")
    assert result.exit_code == 1 and result.stdout == ""
    assert "error: '': an empty path names no file" in result.stderr.splitlines()


def test_ingesting_a_folder_without_visible_files_says_so(cli_env, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / ".draft.txt").write_text("a hidden draft")
    result = run(cli_env, "ingest", str(folder))
    assert result.exit_code == 1 and result.stdout == ""
    assert (f"error: {folder}: a folder with no file to ingest in it (hidden files and folders are skipped)"
            in result.stderr.splitlines())


@pytest.mark.parametrize("setting", [{"DOCVEIL_CHUNK_SIZE": "abc"}, {"DOCVEIL_CONFIG": "{tmp}/bad.toml"},
                                     {"DOCVEIL_BLOCKED_PLUGINS": "docveil.security.audit"}])
def test_a_configuration_error_is_reported_once(settings, tmp_path: Path, setting: dict[str, str]) -> None:
    (tmp_path / "bad.toml").write_text("chunk_size = [\n")
    env = {**os.environ, "DOCVEIL_HOME": str(settings.home), "DOCVEIL_LOAD_ENTRY_POINTS": "false",
           **{name: value.replace("{tmp}", str(tmp_path)) for name, value in setting.items()}}
    docveil = str(Path(sys.executable).parent / "docveil")  # main(), which also registers plugin commands
    result = subprocess.run([docveil, "plugins"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.count("error:") == 1, result.stderr


def test_document_ids_and_plugin_names_stay_whole_in_80_columns(cli_env, engine, tmp_path: Path) -> None:
    note = tmp_path / "warehouse budget with a rather long file name.txt"
    note.write_text("Quarterly budget figures for the warehouse.")
    engine.ingest([note], Principal("acme", "alice"))
    [document] = json.loads(run(cli_env, "documents", "list", "--json").stdout)
    assert document["document_id"] in run(cli_env, "documents", "list").stdout

    names = [row["name"] for row in json.loads(run(cli_env, "plugins", "--json").stdout)]
    table = run(cli_env, "plugins").stdout
    assert [name for name in names if name not in table] == []


@pytest.mark.parametrize("command", [("search",), ("serve",), ("audit", "verify")])
def test_flags_take_no_value_in_the_help(cli_env, command: tuple[str, ...]) -> None:
    shown = run(cli_env, *command, "--help").stdout
    assert "--json" in shown or "--access-log" in shown
    assert "<bool>" not in shown and "BOOLEAN" not in shown  # a flag is given or not, with no value


def test_serve_probes_every_address_the_host_resolves_to(monkeypatch) -> None:
    import socket

    from docveil.interfaces import cli_http

    with socket.socket(socket.AF_INET6) as taken:
        try:
            taken.bind(("::1", 0))
        except OSError:
            pytest.skip("this machine has no IPv6 loopback")
        taken.listen()
        port = taken.getsockname()[1]
        # A name for both loopbacks, IPv4 first, as many hosts files have it.
        both = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0))]
        monkeypatch.setattr(cli_http.socket, "getaddrinfo", lambda *args, **kwargs: both)
        with pytest.raises(typer.Exit):
            cli_http._require_free_port("loopbacks", port)
    cli_http._require_free_port("loopbacks", port)  # both free now


def test_serve_refuses_a_busy_port_or_an_unknown_log_level_before_loading_anything(cli_env) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = run(cli_env, "serve", "--port", str(port))
    assert busy.exit_code == 1
    assert f"cannot listen on 127.0.0.1:{port} (127.0.0.1): Address already in use" in error_line(busy)
    bogus = run(cli_env, "serve", "--log-level", "bogus")
    assert bogus.exit_code == 2 and "bogus" in bogus.stderr and "Traceback" not in bogus.stderr
