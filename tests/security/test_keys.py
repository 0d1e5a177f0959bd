from __future__ import annotations

import base64
import copy
import importlib.util
import multiprocessing
import multiprocessing.synchronize
import os
import pickle
import re
import stat
import sys
import time
from pathlib import Path
from types import ModuleType

import pluggy
import pytest

from docveil import hookspecs
from docveil.config import Settings
from docveil.context import StageContext
from docveil.errors import ConfigError, CryptoError
from docveil.protocols import KeyProvider
from docveil.security import keys
from docveil.security.crypto import decrypt_field, encrypt_field, random_key
from docveil.security.keys import DataKeyRing, LocalKeyProvider, data_key_associated_data

NO_ENV: dict[str, str] = {}
AD = data_key_associated_data("field", "acme", 1)


def _kms_plugin() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "plugins" / "kms_plugin.py"
    spec = importlib.util.spec_from_file_location("kms_plugin", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture()
def provider(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path, env=NO_ENV)


# Local provider: files


def test_provider_satisfies_the_key_provider_protocol(provider: LocalKeyProvider) -> None:
    assert isinstance(provider, KeyProvider)


def test_construction_touches_nothing_on_disk(tmp_path: Path) -> None:
    LocalKeyProvider(tmp_path / "home", env=NO_ENV)

    assert not (tmp_path / "home").exists()


def test_kek_file_is_created_on_first_use_private_to_the_owner(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path / "home", env=NO_ENV)

    key_id = provider.key_id

    keys_dir = tmp_path / "home" / "keys"
    files = sorted(keys_dir.iterdir())
    assert [f.name for f in files] == ["kek-000001.key"]
    assert _mode(keys_dir) == 0o700
    assert _mode(files[0]) == 0o600
    assert files[0].stat().st_size == 32
    assert key_id.startswith("local:") and len(key_id) == len("local:") + 16


def test_key_id_never_reveals_the_key(provider: LocalKeyProvider) -> None:
    key_id = provider.key_id
    kek = (provider.keys_dir / "kek-000001.key").read_bytes()

    assert kek.hex()[:16] not in key_id
    assert kek.hex() not in repr(provider)


def test_wrap_unwrap_round_trip(provider: LocalKeyProvider) -> None:
    data_key = random_key()

    wrapped = provider.wrap(data_key, AD)

    assert data_key not in wrapped
    assert provider.unwrap(wrapped, AD, provider.key_id) == data_key


def test_unwrap_with_other_associated_data_fails(provider: LocalKeyProvider) -> None:
    wrapped = provider.wrap(random_key(), AD)

    with pytest.raises(CryptoError, match="failed authentication"):
        provider.unwrap(wrapped, data_key_associated_data("field", "globex", 1), provider.key_id)


def test_tampered_wrapped_key_fails(provider: LocalKeyProvider) -> None:
    wrapped = bytearray(provider.wrap(random_key(), AD))
    wrapped[-1] ^= 0x80

    with pytest.raises(CryptoError):
        provider.unwrap(bytes(wrapped), AD, provider.key_id)


def test_unknown_key_id_fails_clearly(provider: LocalKeyProvider) -> None:
    wrapped = provider.wrap(random_key(), AD)

    with pytest.raises(CryptoError, match="KEK local:0000000000000000 is not held"):
        provider.unwrap(wrapped, AD, "local:0000000000000000")


def test_two_providers_on_the_same_home_share_the_kek(tmp_path: Path) -> None:
    first = LocalKeyProvider(tmp_path, env=NO_ENV)
    second = LocalKeyProvider(tmp_path, env=NO_ENV)
    data_key = random_key()

    wrapped = first.wrap(data_key, AD)

    assert second.key_id == first.key_id
    assert second.unwrap(wrapped, AD, first.key_id) == data_key


def _key_id_in_child(home: str, start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    start.wait(10)
    out.put(LocalKeyProvider(home, env={}).key_id)


def test_concurrent_processes_creating_the_kek_agree_on_one(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    for attempt in range(4):  # a lost race only shows some of the time: give it several chances
        home = tmp_path / str(attempt)
        start, out = ctx.Event(), ctx.Queue()
        children = [ctx.Process(target=_key_id_in_child, args=(str(home), start, out)) for _ in range(6)]
        for child in children:
            child.start()
        start.set()
        ids = [out.get(timeout=30) for _ in children]
        for child in children:
            child.join(10)

        assert len(set(ids)) == 1
        assert sorted(p.name for p in (home / "keys").iterdir()) == ["kek-000001.key"]


def test_kek_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    LocalKeyProvider(tmp_path, env=NO_ENV).key_ids()
    os.chmod(tmp_path / "keys" / "kek-000001.key", 0o644)

    with pytest.raises(CryptoError, match="readable by other users"):
        LocalKeyProvider(tmp_path, env=NO_ENV).key_ids()


def test_loose_key_directory_is_tightened(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o755)
    os.chmod(tmp_path / "keys", 0o755)

    LocalKeyProvider(tmp_path, env=NO_ENV).key_ids()

    assert _mode(tmp_path / "keys") == 0o700


def test_damaged_kek_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir(mode=0o700)
    fd = os.open(tmp_path / "keys" / "kek-000001.key", os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"too short")
    os.close(fd)

    with pytest.raises(CryptoError, match="damaged"):
        LocalKeyProvider(tmp_path, env=NO_ENV).key_ids()


# Local provider: DOCVEIL_KEK


def test_environment_kek_wins_over_the_file(tmp_path: Path) -> None:
    file_id = LocalKeyProvider(tmp_path, env=NO_ENV).key_id
    kek = random_key()

    from_env = LocalKeyProvider(tmp_path, env={"DOCVEIL_KEK": base64.b64encode(kek).decode()})

    assert from_env.key_id == keys.key_id_for(kek) != file_id
    data_key = random_key()
    assert from_env.unwrap(from_env.wrap(data_key, AD), AD, from_env.key_id) == data_key
    with pytest.raises(CryptoError, match="not held"):
        from_env.unwrap(LocalKeyProvider(tmp_path, env=NO_ENV).wrap(data_key, AD), AD, file_id)


def test_environment_kek_creates_no_file(tmp_path: Path) -> None:
    provider = LocalKeyProvider(tmp_path, env={"DOCVEIL_KEK": base64.b64encode(random_key()).decode()})

    provider.wrap(random_key(), AD)

    assert not (tmp_path / "keys").exists()


def test_os_environment_is_read_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kek = random_key()
    monkeypatch.setenv("DOCVEIL_KEK", base64.b64encode(kek).decode())

    assert LocalKeyProvider(tmp_path).key_id == keys.key_id_for(kek)


def test_environment_lists_old_keks_after_the_current_one(tmp_path: Path) -> None:
    old, new = random_key(), random_key()
    before = LocalKeyProvider(tmp_path, env={"DOCVEIL_KEK": base64.b64encode(old).decode()})
    wrapped = before.wrap(b"k" * 32, AD)

    after = LocalKeyProvider(tmp_path, env={"DOCVEIL_KEK": ",".join(
        base64.b64encode(k).decode() for k in (new, old))})

    assert after.key_id == keys.key_id_for(new)
    assert after.key_ids() == [keys.key_id_for(new), keys.key_id_for(old)]
    assert after.unwrap(wrapped, AD, before.key_id) == b"k" * 32
    with pytest.raises(ConfigError, match="DOCVEIL_KEK"):
        after.rotate()


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"16 bytes only!!!").decode()])
def test_invalid_environment_kek_is_refused_without_echoing_it(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="DOCVEIL_KEK entry 1") as failure:
        LocalKeyProvider(tmp_path, env={"DOCVEIL_KEK": value}).key_ids()

    assert value not in str(failure.value)


# Rotation


def test_rotation_keeps_old_data_keys_unwrappable(provider: LocalKeyProvider) -> None:
    data_key = random_key()
    old_id = provider.key_id
    wrapped = provider.wrap(data_key, AD)

    new_id = provider.rotate()

    assert new_id != old_id and provider.key_id == new_id
    assert provider.key_ids() == [new_id, old_id]
    assert provider.unwrap(wrapped, AD, old_id) == data_key
    assert _mode(provider.keys_dir / "kek-000002.key") == 0o600


def test_another_provider_sees_a_rotation_when_it_next_wraps(tmp_path: Path) -> None:
    stale = LocalKeyProvider(tmp_path, env=NO_ENV)
    stale.key_ids()

    new_id = LocalKeyProvider(tmp_path, env=NO_ENV).rotate()
    wrapped = stale.wrap(b"k" * 32, AD)

    assert stale.key_id == new_id
    assert LocalKeyProvider(tmp_path, env=NO_ENV).unwrap(wrapped, AD, new_id) == b"k" * 32


def test_rewrap_moves_a_data_key_to_the_new_kek_without_changing_it(provider: LocalKeyProvider) -> None:
    ring = DataKeyRing(provider)
    data_key, wrapped, _ = ring.new_wrapped_key("field", "acme", 1)
    old_id = provider.key_id
    blob = encrypt_field(data_key, "Jane Roe", tenant="acme", owner="doc-1", field="author", key_version=1)

    new_id = provider.rotate()
    new_wrapped, rewrapped_id = ring.rewrap(wrapped, purpose="field", tenant="acme", version=1, kek_id=old_id)

    assert rewrapped_id == new_id
    assert provider.unwrap(new_wrapped, data_key_associated_data("field", "acme", 1), new_id) == data_key
    fresh = DataKeyRing(LocalKeyProvider(provider.keys_dir.parent, env=NO_ENV))
    key = fresh.unwrap_key(new_wrapped, purpose="field", tenant="acme", version=1, kek_id=new_id)
    assert decrypt_field(key, blob, tenant="acme", owner="doc-1", field="author") == b"Jane Roe"


def test_retire_makes_blobs_under_the_old_kek_fail_clearly(provider: LocalKeyProvider) -> None:
    ring = DataKeyRing(provider)
    _, wrapped, _ = ring.new_wrapped_key("field", "acme", 1)
    old_id = provider.key_id
    provider.rotate()

    provider.retire(old_id)
    ring.clear()

    assert old_id not in provider.key_ids()
    assert sorted(p.name for p in provider.keys_dir.iterdir()) == ["kek-000002.key"]
    with pytest.raises(CryptoError, match=f"KEK {old_id} is not held.*retired"):
        ring.unwrap_key(wrapped, purpose="field", tenant="acme", version=1, kek_id=old_id)


def test_the_current_kek_cannot_be_retired(provider: LocalKeyProvider) -> None:
    with pytest.raises(CryptoError, match="current one"):
        provider.retire(provider.key_id)


# Data key ring


def test_data_key_is_bound_to_purpose_tenant_and_version(provider: LocalKeyProvider) -> None:
    ring = DataKeyRing(provider)
    data_key, wrapped, _ = ring.new_wrapped_key("field", "acme", 1)
    kek_id = provider.key_id

    assert len(data_key) == 32
    assert ring.unwrap_key(wrapped, purpose="field", tenant="acme", version=1, kek_id=kek_id) == data_key
    for other in ({"purpose": "pseudonym", "tenant": "acme", "version": 1},
                  {"purpose": "field", "tenant": "globex", "version": 1},
                  {"purpose": "field", "tenant": "acme", "version": 2}):
        with pytest.raises(CryptoError):
            ring.unwrap_key(wrapped, kek_id=kek_id, **other)


class _CountingProvider:
    """A real provider that counts unwraps (or refuses them), to see when the ring asks it."""

    def __init__(self, inner: LocalKeyProvider) -> None:
        self.inner = inner
        self.key_id = inner.key_id
        self.unwraps = 0
        self.unavailable = False

    def wrap(self, data_key: bytes, associated_data: bytes) -> bytes:
        if self.unavailable:
            raise ConnectionError("KMS unavailable")
        return self.inner.wrap(data_key, associated_data)

    def unwrap(self, wrapped: bytes, associated_data: bytes, key_id: str) -> bytes:
        if self.unavailable:
            raise RuntimeError("KMS unavailable")
        self.unwraps += 1
        return self.inner.unwrap(wrapped, associated_data, key_id)


def _wrapped_keys(provider: LocalKeyProvider, count: int) -> list[bytes]:
    ring = DataKeyRing(provider)
    return [ring.new_wrapped_key("field", "acme", version)[1] for version in range(count)]


def test_unwrapped_keys_are_cached_until_cleared(provider: LocalKeyProvider) -> None:
    [wrapped] = _wrapped_keys(provider, 1)
    counting = _CountingProvider(provider)
    ring = DataKeyRing(counting)
    where = {"purpose": "field", "tenant": "acme", "version": 0, "kek_id": provider.key_id}

    first = ring.unwrap_key(wrapped, **where)
    second = ring.unwrap_key(wrapped, **where)
    ring.clear()
    third = ring.unwrap_key(wrapped, **where)

    assert first == second == third
    assert counting.unwraps == 2


def test_cache_never_answers_for_other_associated_data(provider: LocalKeyProvider) -> None:
    ring = DataKeyRing(provider)
    _, wrapped, _ = ring.new_wrapped_key("field", "acme", 1)
    ring.unwrap_key(wrapped, purpose="field", tenant="acme", version=1, kek_id=provider.key_id)

    tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
    with pytest.raises(CryptoError):
        ring.unwrap_key(wrapped, purpose="field", tenant="globex", version=1, kek_id=provider.key_id)
    with pytest.raises(CryptoError):
        ring.unwrap_key(tampered, purpose="field", tenant="acme", version=1, kek_id=provider.key_id)


def test_cache_evicts_the_least_recently_used_key(provider: LocalKeyProvider) -> None:
    blobs = _wrapped_keys(provider, 3)
    counting = _CountingProvider(provider)
    ring = DataKeyRing(counting, cache_size=2)

    def unwrap(version: int) -> None:
        ring.unwrap_key(blobs[version], purpose="field", tenant="acme", version=version,
                        kek_id=provider.key_id)

    for version in (0, 1, 0, 2):  # 1 is now the least recently used
        unwrap(version)
    assert counting.unwraps == 3
    unwrap(0)
    assert counting.unwraps == 3
    unwrap(1)
    assert counting.unwraps == 4


def test_cached_keys_expire(provider: LocalKeyProvider) -> None:
    [wrapped] = _wrapped_keys(provider, 1)
    counting = _CountingProvider(provider)
    ring = DataKeyRing(counting, ttl=0.05)
    where = {"purpose": "field", "tenant": "acme", "version": 0, "kek_id": provider.key_id}

    ring.unwrap_key(wrapped, **where)
    time.sleep(0.1)
    ring.unwrap_key(wrapped, **where)

    assert counting.unwraps == 2


def test_provider_failures_surface_as_crypto_errors(provider: LocalKeyProvider) -> None:
    _, wrapped, _ = DataKeyRing(provider).new_wrapped_key("field", "acme", 1)
    failing = _CountingProvider(provider)
    failing.unavailable = True

    with pytest.raises(CryptoError, match="failed to unwrap the 'field' key version 1"):
        DataKeyRing(failing).unwrap_key(wrapped, purpose="field", tenant="acme", version=1,
                                        kek_id=provider.key_id)
    with pytest.raises(CryptoError, match="failed to wrap a new key") as raised:
        DataKeyRing(failing).new_wrapped_key("field", "acme", 2)
    assert isinstance(raised.value.__cause__, ConnectionError)

    def refresh() -> None:
        raise TimeoutError("KMS unavailable")

    failing.unavailable, failing.refresh = False, refresh  # type: ignore[attr-defined]
    with pytest.raises(CryptoError, match="failed to say which key-encryption key is current") as raised:
        DataKeyRing(failing).new_wrapped_key("field", "acme", 3)
    assert isinstance(raised.value.__cause__, TimeoutError)


# Secrets refuse to be serialised


def test_key_holders_refuse_pickling_and_copying(provider: LocalKeyProvider) -> None:
    provider.key_ids()
    ring = DataKeyRing(provider)
    ring.new_wrapped_key("field", "acme", 1)
    kek = next(iter(provider._keks.values()))

    for holder in (provider, ring, kek):
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(holder)
        with pytest.raises(TypeError):
            copy.deepcopy(holder)


def test_repr_shows_only_the_key_id(provider: LocalKeyProvider) -> None:
    assert repr(provider) == "LocalKeyProvider(key_id='<not loaded>')"
    ring = DataKeyRing(provider)
    data_key, _, _ = ring.new_wrapped_key("field", "acme", 1)
    kek = (provider.keys_dir / "kek-000001.key").read_bytes()
    kek_object = next(iter(provider._keks.values()))

    for text in (repr(provider), repr(ring), repr(kek_object)):
        assert provider.key_id in text
        for secret in (kek, data_key):
            assert secret.hex() not in text and repr(secret) not in text
            assert base64.b64encode(secret).decode() not in text


# The hook


def _manager(*plugins: object) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("docveil")
    pm.add_hookspecs(hookspecs)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def test_default_hook_gives_a_local_provider_cached_per_engine(tmp_path: Path) -> None:
    pm = _manager(keys)
    context = StageContext(Settings(home=tmp_path), pm.hook)

    provider = pm.hook.docveil_key_provider(context=context)

    assert isinstance(provider, LocalKeyProvider)
    assert provider.keys_dir == tmp_path / "keys"
    assert pm.hook.docveil_key_provider(context=context) is provider
    other_engine = StageContext(Settings(home=tmp_path), pm.hook)
    assert pm.hook.docveil_key_provider(context=other_engine) is not provider


@pytest.mark.parametrize("order", ["defaults first", "plugin first"])
def test_kms_plugin_replaces_the_local_provider(tmp_path: Path, order: str) -> None:
    kms = _kms_plugin()
    pm = _manager(keys, kms) if order == "defaults first" else _manager(kms, keys)
    context = StageContext(Settings(home=tmp_path), pm.hook)

    provider = pm.hook.docveil_key_provider(context=context)

    assert isinstance(provider, kms.InMemoryKms)
    assert provider.key_id == "kms:test/1"
    ring = DataKeyRing(provider)
    data_key, wrapped, _ = ring.new_wrapped_key("field", "acme", 1)
    ring.clear()
    unwrapped = ring.unwrap_key(wrapped, purpose="field", tenant="acme", version=1, kek_id="kms:test/1")
    assert unwrapped == data_key
    assert not (tmp_path / "keys").exists()


def test_kms_example_in_the_docs_replaces_the_local_provider(tmp_path: Path) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "keys.md").read_text(encoding="utf-8")
    [source] = [block for block in re.findall(r"```python\n(.*?)```", docs, flags=re.S)
                if "def docveil_key_provider" in block]
    example = ModuleType("my_kms_plugin")
    exec(compile(source, "docs/keys.md", "exec"), example.__dict__)
    pm = _manager(keys, example)

    provider = pm.hook.docveil_key_provider(context=StageContext(Settings(home=tmp_path), pm.hook))

    assert type(provider).__name__ == "InMemoryKms"
    ring = DataKeyRing(provider)
    data_key, wrapped, _ = ring.new_wrapped_key("field", "acme", 1)
    ring.clear()
    assert ring.unwrap_key(wrapped, purpose="field", tenant="acme", version=1, kek_id=ring.kek_id) == data_key
