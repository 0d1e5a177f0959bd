"""`docveil keys api` and `docveil serve` from the command line."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import docveil.interfaces.cli_admin
import docveil.interfaces.cli_http  # noqa: F401  (registers serve, keys api)
from docveil.interfaces.cli import app


@pytest.fixture
def cli_env(settings, db) -> dict[str, str]:
    return {"DOCVEIL_HOME": str(settings.home), "DOCVEIL_DATABASE": db.database, "DOCVEIL_LOAD_ENTRY_POINTS": "false"}


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)


def test_api_keys_are_created_once_listed_without_secrets_and_revoked(cli_env, engine) -> None:
    created = run(cli_env, "keys", "api", "create", "--tenant", "acme", "--user", "alice", "--role", "auditor",
                  "--name", "etl")
    assert created.exit_code == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("dvk_") and "shown only now" in created.stderr
    key_id, principal = engine.principal_for_api_key(token)
    assert (principal.tenant, principal.user, principal.roles) == ("acme", "alice", frozenset({"auditor"}))

    listed = json.loads(run(cli_env, "keys", "api", "list", "--json").stdout)
    assert [(k["id"], k["tenant"], k["user"], k["roles"], k["name"]) for k in listed] == \
        [(key_id, "acme", "alice", ["auditor"], "etl")]
    assert token.split("_", 2)[2] not in json.dumps(listed)  # the secret (dvk_<id>_<secret>) may hold "_"

    assert run(cli_env, "keys", "api", "revoke", key_id).exit_code == 0
    assert engine.principal_for_api_key(token) is None
    assert run(cli_env, "keys", "api", "list", "--json").stdout.strip() == "[]"
    revoked = json.loads(run(cli_env, "keys", "api", "list", "--all", "--json").stdout)
    assert revoked[0]["revoked_at"] is not None
    unknown = run(cli_env, "keys", "api", "revoke", "not-an-id")
    assert unknown.exit_code == 1 and "no API key" in unknown.stderr and "Traceback" not in unknown.stderr


def test_api_key_commands_print_user_ids_literally_and_refuse_an_empty_user(cli_env) -> None:
    created = run(cli_env, "keys", "api", "create", "--tenant", "acme", "--user", "[i]alice")
    assert created.exit_code == 0 and "for [i]alice in tenant acme" in created.stderr
    [key] = json.loads(run(cli_env, "keys", "api", "list", "--json").stdout)
    listed = run({**cli_env, "COLUMNS": "80"}, "keys", "api", "list").stdout
    assert key["id"] in listed and "[i]alice" in listed
    revoked = run(cli_env, "keys", "api", "revoke", key["id"])
    assert revoked.stdout.strip() == f"revoked API key {key['id']} ([i]alice in tenant acme)"

    refused = run(cli_env, "keys", "api", "create", "--tenant", "acme", "--user", "")
    assert refused.exit_code == 1 and refused.stderr.strip() == "error: --user must not be empty"


def serve_on_a_free_port(cli_env: dict[str, str], log_path: Path) -> tuple[subprocess.Popen, str]:
    """``docveil serve`` on a port that was free a moment before; another port if it was taken
    meanwhile. Returns the process, ready, and its URL."""
    docveil = str(Path(sys.executable).parent / "docveil")  # the installed console script
    for attempt in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with log_path.open("wb") as log:
            server = subprocess.Popen([docveil, "serve", "--port", str(port), "--log-level", "warning"],
                                      env={**os.environ, **cli_env}, start_new_session=True, stderr=log)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while server.poll() is None:
            assert time.monotonic() < deadline, "docveil serve did not become ready"
            try:
                if httpx.get(f"{url}/v1/health", timeout=5).status_code == 200:
                    return server, url
            except httpx.HTTPError:
                time.sleep(0.5)
        output = log_path.read_text(errors="replace")
        assert "address already in use" in output.lower() and attempt < 2, f"docveil serve exited: {output[-2000:]}"
    raise AssertionError("unreachable")


@pytest.mark.slow
def test_docveil_serve_answers_with_the_keys_it_was_given(cli_env, tmp_path: Path) -> None:
    token = run(cli_env, "keys", "api", "create", "--tenant", "acme", "--user", "bob").stdout.strip()
    server, url = serve_on_a_free_port(cli_env, tmp_path / "serve.log")
    try:
        me = httpx.get(f"{url}/v1/me", headers={"X-API-Key": token}).json()
        assert (me["tenant"], me["user"]) == ("acme", "bob")
        assert httpx.get(f"{url}/v1/me").status_code == 401
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
