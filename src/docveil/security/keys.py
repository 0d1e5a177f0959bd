"""Key providers and data keys: the envelope around every encrypted field.

A key provider holds key-encryption keys (KEKs) and wraps data keys under them; data keys
encrypt fields (see ``docveil.security.crypto``). The default provider keeps its KEKs in files
under ``<home>/keys/`` or takes them from ``DOCVEIL_KEK``; a KMS plugin replaces it by
implementing ``docveil_key_provider``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import logging
import os
import re
import stat
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from docveil.context import StageContext, StashKey
from docveil.errors import ConfigError, CryptoError
from docveil.hookspecs import hookimpl
from docveil.protocols import KeyProvider
from docveil.security.crypto import KEY_BYTES, NONCE_BYTES, length_prefixed, random_key

logger = logging.getLogger(__name__)

KEK_ENV = "DOCVEIL_KEK"
_KEK_FILE = re.compile(r"^kek-(\d{6,})\.key$")
_WRAP_FORMAT = b"\x01"
_DATA_KEY_LABEL = b"docveil/data-key/v1"
_KEK_ID_LABEL = b"docveil/kek-id/v1\x00"


def _refuse_pickle(obj: object) -> NoReturn:
    raise TypeError(f"{type(obj).__name__} holds secret keys and cannot be pickled or copied")


def key_id_for(kek: bytes, prefix: str = "local") -> str:
    """A public name for a KEK: a prefix and 16 hex digits of its SHA-256, never the key."""
    digest = hashlib.sha256(_KEK_ID_LABEL + kek).hexdigest()
    return f"{prefix}:{digest[:16]}"


class _Kek:
    """One key-encryption key in memory; refuses to be printed or serialised."""

    __slots__ = ("_aead", "key_id", "path")

    def __init__(self, key: bytes, path: Path | None) -> None:
        self.key_id = key_id_for(key)
        self._aead = AESGCM(key)
        self.path = path

    def wrap(self, data_key: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _WRAP_FORMAT + nonce + self._aead.encrypt(nonce, data_key, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes) -> bytes:
        if len(wrapped) < 1 + NONCE_BYTES + 16 or wrapped[:1] != _WRAP_FORMAT:
            raise CryptoError(f"the data key wrapped under KEK {self.key_id} is truncated or "
                              "not in a format this provider wrote")
        nonce = wrapped[1:1 + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, wrapped[1 + NONCE_BYTES:], associated_data)
        except InvalidTag:
            raise CryptoError(f"the data key wrapped under KEK {self.key_id} failed "
                              "authentication: it was altered or belongs to another purpose, "
                              "tenant or version") from None

    def __repr__(self) -> str:
        return f"_Kek(key_id={self.key_id!r})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)


class LocalKeyProvider:
    """KEKs kept on this machine: files under ``<home>/keys/``, or ``DOCVEIL_KEK``.

    Files are named ``kek-NNNNNN.key`` (32 raw bytes, mode 0600, directory 0700); the highest
    number is the current KEK and the others stay readable until retired. The first one is
    created on first use. ``DOCVEIL_KEK`` holds one or more comma-separated base64 keys (the
    first is current); when it is set the files are not used. Nothing is read at construction.
    """

    def __init__(self, home: Path | str, env: Mapping[str, str] | None = None) -> None:
        self.keys_dir = Path(home).expanduser() / "keys"
        env = os.environ if env is None else env
        self._env_value = env.get(KEK_ENV) or None
        self._lock = threading.RLock()
        self._keks: dict[str, _Kek] = {}
        self._current: _Kek | None = None
        self._loaded_names: frozenset[str] = frozenset()

    @property
    def from_environment(self) -> bool:
        return self._env_value is not None

    @property
    def key_id(self) -> str:
        """The id of the current KEK, the one ``wrap`` uses."""
        return self._current_kek().key_id

    def key_ids(self) -> list[str]:
        """Ids of every KEK this provider can unwrap with, current first."""
        with self._lock:
            self._load(refresh=True)
            assert self._current is not None
            older = [k.key_id for k in self._keks.values() if k is not self._current]
            return [self._current.key_id, *reversed(older)]

    def wrap(self, data_key: bytes, associated_data: bytes) -> bytes:
        """Wrap ``data_key`` under the current KEK, bound to ``associated_data``."""
        with self._lock:
            # Another process may have rotated or retired KEKs since we loaded them: never wrap
            # under a KEK whose file is gone.
            self._load(refresh=True)
            assert self._current is not None
            return self._current.wrap(data_key, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes:
        """Unwrap a data key wrapped under KEK ``key_id`` with the same associated data."""
        with self._lock:
            self._load(refresh=key_id not in self._keks)
            kek = self._keks.get(key_id)
        if kek is None:
            where = KEK_ENV if self.from_environment else str(self.keys_dir)
            raise CryptoError(f"KEK {key_id} is not held by this key provider ({where}); it was "
                              "retired, or the data comes from another installation")
        return kek.unwrap(wrapped, associated_data)

    def rotate(self) -> str:
        """Create a new KEK and make it current; older KEKs stay readable. Returns its id."""
        if self.from_environment:
            raise ConfigError(f"the KEK comes from {KEK_ENV}: rotate it by putting a new base64 "
                              f"key first in {KEK_ENV} (comma-separated, old keys after it)")
        with self._lock:
            self._load(refresh=True)
            while True:
                number = max((_file_number(k.path) for k in self._keks.values()), default=0) + 1
                if self._create_kek_file(number):
                    break
                self._load(refresh=True)  # another process took that number
            self._load(refresh=True)
            new_id = self.key_id
        logger.info("created key-encryption key %s; re-wrap data keys, then retire the old ones",
                    new_id)
        return new_id

    def refresh(self) -> None:
        """Read the KEK files again (another process may have rotated or retired one)."""
        with self._lock:
            self._load(refresh=True)

    def retire(self, key_id: str) -> None:
        """Delete an old KEK. Data keys still wrapped under it become unreadable for good."""
        if self.from_environment:
            raise ConfigError(f"the KEK comes from {KEK_ENV}: retire {key_id} by removing it "
                              f"from {KEK_ENV}")
        with self._lock:
            self._load(refresh=True)
            kek = self._keks.get(key_id)
            if kek is None:
                raise CryptoError(f"KEK {key_id} is not held by this key provider "
                                  f"({self.keys_dir})")
            if kek is self._current:
                raise CryptoError(f"KEK {key_id} is the current one: rotate first, re-wrap the "
                                  "data keys, then retire it")
            assert kek.path is not None
            kek.path.unlink(missing_ok=True)
            self._load(refresh=True)
        logger.info("retired key-encryption key %s", key_id)

    def __repr__(self) -> str:
        current = self._current
        return f"LocalKeyProvider(key_id={current.key_id if current else '<not loaded>'!r})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)

    # loading

    def _current_kek(self) -> _Kek:
        with self._lock:
            if self._current is None:
                self._load(refresh=True)
            assert self._current is not None
            return self._current

    def _load(self, *, refresh: bool) -> None:
        if self._current is not None and not refresh:
            return
        if self.from_environment:
            if self._current is None:
                self._load_environment()
            return
        self._prepare_dir()
        names = self._kek_names()
        if not names:
            self._create_kek_file(1)
            names = self._kek_names()
        if frozenset(names) == self._loaded_names and self._current is not None:
            return
        keks: dict[str, _Kek] = {}
        for name in sorted(names, key=lambda n: _file_number(self.keys_dir / n)):
            try:
                kek = _Kek(self._read_kek_file(self.keys_dir / name), self.keys_dir / name)
            except FileNotFoundError:  # retired by another process while we listed
                continue
            keks[kek.key_id] = kek
        if not keks:
            raise CryptoError(f"the key files in {self.keys_dir} disappeared while being read")
        self._keks = keks
        self._current = list(keks.values())[-1]
        self._loaded_names = frozenset(names)

    def _load_environment(self) -> None:
        assert self._env_value is not None
        keks: dict[str, _Kek] = {}
        for position, item in enumerate(self._env_value.split(","), start=1):
            try:
                key = base64.b64decode(item.strip(), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) != KEY_BYTES:
                # never echo the value: it is (or is close to) a secret
                raise ConfigError(f"{KEK_ENV} entry {position} is not a base64-encoded "
                                  f"{KEY_BYTES}-byte key")
            kek = _Kek(key, None)
            keks.setdefault(kek.key_id, kek)
        self._keks = keks
        self._current = next(iter(keks.values()))

    def _prepare_dir(self) -> None:
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name != "posix":
            return
        mode = stat.S_IMODE(self.keys_dir.stat().st_mode)
        if mode != 0o700:
            logger.warning("key directory %s had mode %o; setting it to 700", self.keys_dir, mode)
            os.chmod(self.keys_dir, 0o700)

    def _kek_names(self) -> list[str]:
        return [name for name in os.listdir(self.keys_dir) if _KEK_FILE.match(name)]

    def _read_kek_file(self, path: Path) -> bytes:
        if os.name == "posix":
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise CryptoError(f"key file {path} is readable by other users (mode {mode:o}); "
                                  f"run chmod 600 on it and consider rotating the KEK")
        key = path.read_bytes()
        if len(key) != KEY_BYTES:
            raise CryptoError(f"key file {path} is damaged: expected {KEY_BYTES} bytes, found "
                              f"{len(key)}")
        return key

    def _create_kek_file(self, number: int) -> bool:
        """Create ``kek-<number>.key`` atomically; False when it already exists.

        The key is written to a private temporary file and hard-linked into place, so another
        process sees either no file or the whole key, and exactly one creator wins.
        """
        target = self.keys_dir / f"kek-{number:06d}.key"
        key = random_key()
        fd, tmp = tempfile.mkstemp(prefix=".kek-", suffix=".tmp", dir=self.keys_dir)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError:
                return False
            except OSError:
                # no hard links on this filesystem: exclusive create still picks one winner
                if not _write_exclusive(target, key):
                    return False
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        _fsync_dir(self.keys_dir)
        logger.info("created key file %s", target)
        return True


def _file_number(path: Path | None) -> int:
    match = _KEK_FILE.match(path.name) if path is not None else None
    return int(match.group(1)) if match else 0


def _write_exclusive(target: Path, key: bytes) -> bool:
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def data_key_associated_data(purpose: str, tenant: str, version: int) -> bytes:
    """What a wrapped data key is bound to: its purpose, tenant and version."""
    return length_prefixed(_DATA_KEY_LABEL, purpose, tenant, str(int(version)))


class DataKeyRing:
    """Creates, unwraps and re-wraps data keys through a ``KeyProvider``.

    Unwrapped keys are cached (least recently used, at most ``cache_size`` of them, each for
    ``ttl`` seconds) so that reading many rows does not call the provider (a KMS) per row. The
    cache is keyed by every input of the unwrap, so a hit is never weaker than an unwrap. Call
    ``clear()`` after destroying keys or retiring a KEK.
    """

    def __init__(self, provider: KeyProvider, *, cache_size: int = 256, ttl: float = 300.0) -> None:
        if cache_size < 0 or ttl < 0:
            raise ValueError("cache_size and ttl must not be negative")
        self.provider = provider
        self._cache_size = cache_size
        self._ttl = ttl
        self._cache: OrderedDict[tuple[bytes, str, str, int, str], tuple[float, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def kek_id(self) -> str:
        """The provider's current KEK id, the one new keys are wrapped under."""
        return self.provider.key_id

    def new_wrapped_key(self, purpose: str, tenant: str, version: int) -> tuple[bytes, bytes, str]:
        """A fresh data key, its wrapped form and the id of the KEK that wrapped it (store the
        last two). A provider with a ``refresh`` method is asked first which KEK is current: another
        process may have rotated it."""
        refresh = getattr(self.provider, "refresh", None)
        if callable(refresh):
            try:
                refresh()
            except CryptoError:
                raise
            except Exception as exc:  # a KMS client error must still read as a key failure
                raise CryptoError(f"key provider {type(self.provider).__name__} failed to say which key-encryption "
                                  f"key is current ({type(exc).__name__})") from exc
        key = random_key()
        wrapped, kek_id = self._wrap(key, data_key_associated_data(purpose, tenant, version))
        self._remember((wrapped, purpose, tenant, version, kek_id), key)
        return key, wrapped, kek_id

    def unwrap_key(self, wrapped: bytes, *, purpose: str, tenant: str, version: int,
                   kek_id: str) -> bytes:
        """The data key inside ``wrapped``; ``CryptoError`` if it cannot be unwrapped."""
        cache_key = (bytes(wrapped), purpose, tenant, int(version), kek_id)
        cached = self._lookup(cache_key)
        if cached is not None:
            return cached
        try:
            key = self.provider.unwrap(bytes(wrapped), data_key_associated_data(purpose, tenant, version),
                                       kek_id)
        except CryptoError:
            raise
        except Exception as exc:  # a KMS client error must still read as a key failure
            raise CryptoError(f"key provider {type(self.provider).__name__} failed to unwrap the "
                              f"{purpose!r} key version {version} of tenant {tenant!r} "
                              f"({type(exc).__name__})") from exc
        if len(key) != KEY_BYTES:
            raise CryptoError(f"the {purpose!r} key version {version} of tenant {tenant!r} "
                              f"unwrapped to {len(key)} bytes, not {KEY_BYTES}")
        self._remember(cache_key, key)
        return key

    def rewrap(self, wrapped: bytes, *, purpose: str, tenant: str, version: int,
               kek_id: str) -> tuple[bytes, str]:
        """Unwrap under ``kek_id`` and wrap again under the current KEK: (wrapped, new kek_id).

        The data key itself does not change, so nothing encrypted with it needs re-encrypting.
        """
        key = self.unwrap_key(wrapped, purpose=purpose, tenant=tenant, version=version, kek_id=kek_id)
        new_wrapped, new_kek_id = self._wrap(key, data_key_associated_data(purpose, tenant, version))
        with self._lock:
            self._cache.pop((bytes(wrapped), purpose, tenant, int(version), kek_id), None)
        self._remember((new_wrapped, purpose, tenant, version, new_kek_id), key)
        return new_wrapped, new_kek_id

    def clear(self) -> None:
        """Forget every unwrapped key held in memory."""
        with self._lock:
            self._cache.clear()

    def _wrap(self, key: bytes, ad: bytes) -> tuple[bytes, str]:
        # The protocol's wrap does not say which KEK it used: wrap again if the current KEK id
        # changed meanwhile (a rotation), so the id returned is the one the key is wrapped under.
        while True:
            before = self.provider.key_id
            try:
                wrapped = self.provider.wrap(key, ad)
            except CryptoError:
                raise
            except Exception as exc:  # a KMS client error must still read as a key failure
                raise CryptoError(f"key provider {type(self.provider).__name__} failed to wrap a new "
                                  f"key ({type(exc).__name__})") from exc
            if self.provider.key_id == before:
                return wrapped, before

    def _lookup(self, cache_key: tuple[bytes, str, str, int, str]) -> bytes | None:
        with self._lock:
            entry = self._cache.get(cache_key)
            if entry is None:
                return None
            expires, key = entry
            if expires < time.monotonic():
                del self._cache[cache_key]
                return None
            self._cache.move_to_end(cache_key)
            return key

    def _remember(self, cache_key: tuple[bytes, str, str, int, str], key: bytes) -> None:
        if self._cache_size == 0 or self._ttl == 0:
            return
        with self._lock:
            self._cache[cache_key] = (time.monotonic() + self._ttl, key)
            self._cache.move_to_end(cache_key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def __repr__(self) -> str:
        return f"DataKeyRing(provider={self.provider!r}, cached={len(self._cache)})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)


_PROVIDER: StashKey[KeyProvider] = StashKey("docveil.security.keys.provider")


@hookimpl(trylast=True)
def docveil_key_provider(context: StageContext) -> KeyProvider:
    """The fallback provider: KEKs under ``<home>/keys/`` or from ``DOCVEIL_KEK``."""
    return context.stash.get(_PROVIDER, lambda: LocalKeyProvider(context.settings.home))
