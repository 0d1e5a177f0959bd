"""The audit chain without a database: records, canonical encoding, MACs, signed checkpoints,
verification and export.

Everything here is pure and offline, so a verifier needs nothing but this module (or the
procedure in ``docs/audit.md``), the export and the tenant's public verify key. The database
side (appending inside the caller's transaction, reading back) is ``docveil.security.audit``.

Each record holds the SHA-256 of its canonical encoding (which includes the previous record's
hash) and an HMAC of that hash under the tenant's audit key. Every ``checkpoint_every`` records
(and on demand) an Ed25519-signed checkpoint pins (seq, hash); each record names the latest
checkpoint before it, so deleting a checkpoint while later records remain, or truncating the
log below a checkpoint, is detected with only the public key.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Literal, NoReturn, TextIO

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from docveil.errors import AuditError
from docveil.types import MAX_NAME_CHARS, Principal

FORMAT_VERSION = 1
# The export's header is signed since version 2: its head and date cannot be edited.
EXPORT_VERSION = 2
EXPORT_HEADER_TYPE = "docveil.audit.export"
GENESIS_HASH = "0" * 64
RECORD_TYPE = "docveil.audit.record"
CHECKPOINT_TYPE = "docveil.audit.checkpoint"
EXPORT_FORMAT = "docveil-audit"
DEFAULT_CHECKPOINT_EVERY = 100
MIN_MAC_KEY_BYTES = 32

# Distinct labels keep the two uses of the audit key apart: without them a search for a
# 64-hex-digit "query" would make the application compute a valid record MAC for an attacker.
_MAC_LABEL = b"docveil.audit.mac.v1\n"
_VALUE_LABEL = b"docveil.audit.value.v1\n"

_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")
_DIGEST = re.compile(r"^[0-9a-f]{16,128}$")
_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
# Integers stay within what every JSON parser reads exactly (IEEE doubles), so any language
# can re-implement the verification.
MAX_SAFE_INT = 2**53 - 1
MAX_ID_CHARS = MAX_NAME_CHARS

Scalar = str | int | float | bool


# Canonical encoding


def canonical_json(value: Any) -> bytes:
    """The canonical encoding: JSON, keys sorted, no whitespace, UTF-8, exact number types.

    Integers are written as integers and floats in their shortest round-trip form with a
    fraction or exponent (``1.0``, ``0.25``, ``1e-07``), so ``1`` and ``1.0`` hash differently.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def format_ts(ts: datetime) -> str:
    """A timestamp as it is hashed: UTC, microseconds, ``Z`` (``2025-01-31T09:30:00.000000Z``)."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(timezone.utc).strftime(_TS_FORMAT)


def parse_ts(text: str) -> datetime:
    if not isinstance(text, str) or not _TS.match(text):
        raise ValueError("timestamp is not in the form YYYY-MM-DDTHH:MM:SS.ffffffZ")
    return datetime.strptime(text, _TS_FORMAT).replace(tzinfo=timezone.utc)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def record_mac(mac_key: bytes, record_hash: str) -> str:
    """HMAC-SHA256 under the tenant's audit key of the label and the record's hex hash."""
    return hmac.new(mac_key, _MAC_LABEL + record_hash.encode("ascii"), hashlib.sha256).hexdigest()


def keyed_hash(mac_key: bytes, value: str | bytes | Sequence[Any]) -> str:
    """A keyed digest (HMAC-SHA256, hex) of a low-entropy value such as a query or result ids.

    Without the tenant's audit key the digest cannot be recomputed, so a dictionary of likely
    queries run against an export reveals nothing. Strings, bytes and sequences (of strings,
    integers and nested sequences, e.g. ``[("doc-1", 3), ("doc-2", 0)]``) are encoded with a
    type tag, so ``"1"``, ``b"1"`` and ``[1]`` never collide.
    """
    if isinstance(value, str):
        data = b"s" + _utf8(value, "keyed_hash value")
    elif isinstance(value, (bytes, bytearray, memoryview)):
        data = b"b" + bytes(value)
    elif isinstance(value, Sequence):
        data = b"j" + canonical_json(_json_list(value))
    else:
        raise TypeError("keyed_hash takes a str, bytes or a sequence of str/int")
    return hmac.new(bytes(mac_key), _VALUE_LABEL + data, hashlib.sha256).hexdigest()


def _json_list(items: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, str):
            _utf8(item, "keyed_hash item")
            out.append(item)
        elif isinstance(item, int) and not isinstance(item, bool):
            out.append(item)
        elif isinstance(item, Sequence) and not isinstance(item, (bytes, bytearray)):
            out.append(_json_list(item))
        else:
            raise TypeError("keyed_hash sequences hold only str, int and nested sequences")
    return out


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} is not valid Unicode text (lone surrogate)") from None


# Keys


def _refuse_pickle(obj: object) -> NoReturn:
    raise TypeError(f"{type(obj).__name__} holds secret keys and cannot be pickled or copied")


def public_key_hex(verify_key: Ed25519PublicKey) -> str:
    return verify_key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def key_fingerprint(verify_key: Ed25519PublicKey) -> str:
    """A short public name for a verify key, to compare against the one on record."""
    raw = verify_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def load_verify_key(hex_text: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_text))
    except (ValueError, TypeError):
        raise ValueError("the verify key is not 32 bytes of hex") from None


@dataclass(frozen=True, repr=False)
class AuditKeys:
    """A tenant's audit keys: the MAC key, the checkpoint signing key (None when the holder
    only verifies) and the public verify key. Refuses to be pickled; its repr shows only the
    verify key's fingerprint."""

    mac_key: bytes
    signing_key: Ed25519PrivateKey | None
    verify_key: Ed25519PublicKey

    def __post_init__(self) -> None:
        if not isinstance(self.mac_key, (bytes, bytearray)) or len(self.mac_key) < MIN_MAC_KEY_BYTES:
            raise ValueError(f"the audit MAC key must be at least {MIN_MAC_KEY_BYTES} bytes")
        object.__setattr__(self, "mac_key", bytes(self.mac_key))
        signer = self.signing_key
        if signer is not None and public_key_hex(signer.public_key()) != public_key_hex(self.verify_key):
            raise ValueError("the audit verify key is not the public half of the signing key")

    @classmethod
    def from_seeds(cls, mac_key: bytes, signing_seed: bytes) -> AuditKeys:
        """Keys from stored secrets: the MAC key and a 32-byte Ed25519 seed."""
        signing_key = Ed25519PrivateKey.from_private_bytes(bytes(signing_seed))
        return cls(mac_key, signing_key, signing_key.public_key())

    @classmethod
    def generate(cls) -> AuditKeys:
        """Fresh random keys (tests, demos); real keys come from the tenant keyring."""
        signing_key = Ed25519PrivateKey.generate()
        return cls(secrets.token_bytes(32), signing_key, signing_key.public_key())

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.verify_key)

    def keyed_hash(self, value: str | bytes | Sequence[Any]) -> str:
        return keyed_hash(self.mac_key, value)

    def __repr__(self) -> str:
        return f"AuditKeys(verify_key={self.fingerprint}, can_sign={self.signing_key is not None})"

    def __reduce__(self) -> NoReturn:
        _refuse_pickle(self)

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        _refuse_pickle(self)

    def __getstate__(self) -> NoReturn:
        _refuse_pickle(self)


# Events, records, checkpoints


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"audit {what} must match [a-z][a-z0-9_.-]{{0,63}}")
    return value


def _check_id(what: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_ID_CHARS or "\x00" in value:
        raise ValueError(f"{what} must be a non-empty string of at most {MAX_ID_CHARS} characters without NUL")
    _utf8(value, what)
    return value


def _check_int(what: str, value: object, *, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= MAX_SAFE_INT:
        raise ValueError(f"{what} must be an integer between {minimum} and 2**53-1")
    return value


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(sorted(mapping.items())))


@dataclass(frozen=True)
class AuditEvent:
    """What a caller reports: an action and its outcome, ids, counts and keyed hashes.

    Never raw queries, text or personal data: ``hashes`` accepts only hex digests (make them
    with ``keyed_hash``), ``targets`` are ids, ``extra`` holds short scalar facts.
    """

    action: str
    outcome: str = "ok"
    targets: tuple[str, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)
    hashes: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Scalar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_name("action", self.action)
        _check_name("outcome", self.outcome)
        if isinstance(self.targets, (str, bytes)):
            raise ValueError("audit targets must be a sequence of ids, not one string")
        object.__setattr__(self, "targets", tuple(
            _check_id(f"audit target {i}", t) for i, t in enumerate(self.targets)))
        for key, count in self.counts.items():
            _check_int(f"audit count {_check_name('count name', key)}", count, minimum=0)
        for key, digest in self.hashes.items():
            _check_name("hash name", key)
            if not isinstance(digest, str) or not _DIGEST.match(digest):
                raise ValueError(f"audit hash {key!r} must be a lowercase hex digest (make it with "
                                 "keyed_hash); raw values are never recorded")
        for key, value in self.extra.items():
            _check_extra(_check_name("extra name", key), value)
        object.__setattr__(self, "counts", _frozen(self.counts))
        object.__setattr__(self, "hashes", _frozen(self.hashes))
        object.__setattr__(self, "extra", _frozen(self.extra))


def _check_extra(key: str, value: object) -> None:
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise ValueError(f"audit extra {key!r} is outside the safe integer range")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"audit extra {key!r} must be a finite number")
    elif isinstance(value, str):
        if len(value) > MAX_ID_CHARS or "\x00" in value:
            raise ValueError(f"audit extra {key!r} must be at most {MAX_ID_CHARS} characters without NUL")
        _utf8(value, f"audit extra {key!r}")
    else:
        raise ValueError(f"audit extra {key!r} must be a str, int, float or bool")


@dataclass(frozen=True)
class AuditRecord:
    """One sealed link of a tenant's chain, as stored and exported.

    Built from storage or an export without validation, so that tampered content can still be
    loaded and reported by ``verify_chain`` instead of failing to parse.
    """

    tenant: str
    seq: int
    ts: datetime
    user: str
    roles: tuple[str, ...]
    action: str
    outcome: str
    targets: tuple[str, ...]
    counts: Mapping[str, Any]
    hashes: Mapping[str, Any]
    extra: Mapping[str, Any]
    checkpoint_seq: int
    prev_hash: str
    hash: str
    mac: str

    def body(self) -> dict[str, Any]:
        """The hashed fields: everything but ``hash`` and ``mac``, plus a type and version."""
        return {
            "type": RECORD_TYPE, "v": FORMAT_VERSION,
            "tenant": self.tenant, "seq": self.seq, "ts": format_ts(self.ts),
            "user": self.user, "roles": list(self.roles),
            "action": self.action, "outcome": self.outcome, "targets": list(self.targets),
            "counts": dict(self.counts), "hashes": dict(self.hashes), "extra": dict(self.extra),
            "checkpoint_seq": self.checkpoint_seq, "prev_hash": self.prev_hash,
        }

    def compute_hash(self) -> str:
        return sha256_hex(canonical_json(self.body()))

    def as_dict(self) -> dict[str, Any]:
        data = self.body()
        del data["type"], data["v"]
        data["hash"] = self.hash
        data["mac"] = self.mac
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        """Parse ``as_dict`` output; raises ValueError naming the malformed field."""
        return cls(
            tenant=_field(data, "tenant", str), seq=_field(data, "seq", int),
            ts=parse_ts(_field(data, "ts", str)), user=_field(data, "user", str),
            roles=tuple(_field(data, "roles", list)), action=_field(data, "action", str),
            outcome=_field(data, "outcome", str), targets=tuple(_field(data, "targets", list)),
            counts=_field(data, "counts", dict), hashes=_field(data, "hashes", dict),
            extra=_field(data, "extra", dict), checkpoint_seq=_field(data, "checkpoint_seq", int),
            prev_hash=_field(data, "prev_hash", str), hash=_field(data, "hash", str),
            mac=_field(data, "mac", str),
        )


def _field(data: Mapping[str, Any], name: str, kind: type) -> Any:
    value = data.get(name)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"field {name!r} is missing or not a {kind.__name__}")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that record ``seq`` of ``tenant`` had hash ``hash`` at ``ts``."""

    tenant: str
    seq: int
    hash: str
    ts: datetime
    signature: str

    def signed_message(self) -> bytes:
        return checkpoint_message(self.tenant, self.seq, self.hash, self.ts)

    def signature_valid(self, verify_key: Ed25519PublicKey) -> bool:
        try:
            verify_key.verify(bytes.fromhex(self.signature), self.signed_message())
        except (InvalidSignature, ValueError):
            return False
        return True

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "seq": self.seq, "hash": self.hash,
                "ts": format_ts(self.ts), "signature": self.signature}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Checkpoint:
        return cls(tenant=_field(data, "tenant", str), seq=_field(data, "seq", int),
                   hash=_field(data, "hash", str), ts=parse_ts(_field(data, "ts", str)),
                   signature=_field(data, "signature", str))


def checkpoint_message(tenant: str, seq: int, record_hash: str, ts: datetime) -> bytes:
    return canonical_json({"type": CHECKPOINT_TYPE, "v": FORMAT_VERSION, "tenant": tenant,
                           "seq": seq, "hash": record_hash, "ts": format_ts(ts)})


def sign_checkpoint(tenant: str, seq: int, record_hash: str, ts: datetime,
                    signing_key: Ed25519PrivateKey) -> Checkpoint:
    signature = signing_key.sign(checkpoint_message(tenant, seq, record_hash, ts)).hex()
    return Checkpoint(tenant, seq, record_hash, ts, signature)


@dataclass(frozen=True)
class AuditHead:
    """The tail of a tenant's chain as the writer last left it: last seq and hash, and the
    seq of the latest checkpoint (0 for none)."""

    tenant: str
    seq: int = 0
    hash: str = GENESIS_HASH
    checkpoint_seq: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "seq": self.seq, "hash": self.hash,
                "checkpoint_seq": self.checkpoint_seq}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditHead:
        return cls(tenant=_field(data, "tenant", str), seq=_field(data, "seq", int),
                   hash=_field(data, "hash", str), checkpoint_seq=_field(data, "checkpoint_seq", int))


def next_record(head: AuditHead, principal: Principal, event: AuditEvent, ts: datetime,
                keys: AuditKeys, *, checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
                ) -> tuple[AuditRecord, Checkpoint | None, AuditHead]:
    """Seal the record that follows ``head``: returns it, the checkpoint due with it (if any)
    and the new head. The caller must hold the head exclusively (see ``append_event``)."""
    if keys.signing_key is None:
        raise AuditError("these audit keys can verify but not append: the signing key is missing")
    if checkpoint_every < 1:
        raise ValueError("checkpoint_every must be at least 1")
    if principal.tenant != head.tenant:
        raise AuditError(f"audit record of tenant {principal.tenant!r} cannot extend the chain of "
                         f"tenant {head.tenant!r}")
    _check_id("audit tenant", principal.tenant)
    _check_id("audit user", principal.user)
    roles = tuple(sorted(_check_id("audit role", r) for r in principal.roles))
    seq = head.seq + 1
    _check_int("audit seq", seq, minimum=1)
    unsealed = AuditRecord(
        tenant=principal.tenant, seq=seq, ts=ts, user=principal.user, roles=roles,
        action=event.action, outcome=event.outcome, targets=event.targets,
        counts=event.counts, hashes=event.hashes, extra=event.extra,
        checkpoint_seq=head.checkpoint_seq, prev_hash=head.hash, hash="", mac="")
    digest = unsealed.compute_hash()
    record = replace(unsealed, hash=digest, mac=record_mac(keys.mac_key, digest))
    checkpoint = None
    checkpoint_seq = head.checkpoint_seq
    if seq % checkpoint_every == 0:
        checkpoint = sign_checkpoint(record.tenant, seq, digest, ts, keys.signing_key)
        checkpoint_seq = seq
    return record, checkpoint, AuditHead(record.tenant, seq, digest, checkpoint_seq)


# Verification


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of a verification. ``first_broken_seq`` is the lowest seq proven broken (a
    record, or a missing/invalid checkpoint); ``reason`` says what was found there."""

    ok: bool
    records: int
    first_broken_seq: int | None
    reason: str | None
    checkpoints: int = 0
    macs_checked: bool = False
    key_fingerprint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "records": self.records, "first_broken_seq": self.first_broken_seq,
                "reason": self.reason, "checkpoints": self.checkpoints,
                "macs_checked": self.macs_checked, "key_fingerprint": self.key_fingerprint}


class _Findings:
    """Collects breaks; the lowest seq wins, and among equal seqs the one found first."""

    def __init__(self) -> None:
        self.items: list[tuple[int, int, str]] = []

    def add(self, seq: int, reason: str) -> None:
        self.items.append((seq, len(self.items), reason))

    def first(self) -> tuple[int, str] | None:
        if not self.items:
            return None
        seq, _, reason = min(self.items)
        return seq, reason


def verify_chain(records: Iterable[AuditRecord], checkpoints: Iterable[Checkpoint],
                 head: AuditHead | None, keys: AuditKeys | Ed25519PublicKey) -> VerifyResult:
    """Verify a tenant's whole log offline and report the first break and why.

    ``records`` in the order stored (ascending seq), from seq 1; it may be a one-pass iterator.
    ``keys`` is either the tenant's ``AuditKeys`` (MACs are checked too) or only the public
    verify key (chain hashes, checkpoint signatures and the head are checked; a record forged
    with a recomputed hash after the last checkpoint then goes unnoticed).
    """
    if isinstance(keys, AuditKeys):
        verify_key, mac_key = keys.verify_key, keys.mac_key
    elif isinstance(keys, Ed25519PublicKey):
        verify_key, mac_key = keys, None
    else:
        raise TypeError("verify_chain needs AuditKeys or an Ed25519PublicKey")
    found = _Findings()
    tenant = head.tenant if head is not None else None

    valid: dict[int, Checkpoint] = {}
    checkpoint_count = 0
    for cp in sorted(checkpoints, key=lambda c: c.seq):
        checkpoint_count += 1
        tenant = tenant or cp.tenant
        if cp.tenant != tenant:
            found.add(cp.seq, f"checkpoint {cp.seq} belongs to another tenant")
        elif cp.seq in valid:
            found.add(cp.seq, f"checkpoint {cp.seq} appears twice")
        elif not cp.signature_valid(verify_key):
            found.add(cp.seq, f"checkpoint {cp.seq}: signature invalid (forged or edited, or "
                              "signed by another key)")
        else:
            valid[cp.seq] = cp
    valid_seqs = sorted(valid)

    count = 0
    expected = 1
    prev_hash = GENESIS_HASH
    latest_cp = 0  # latest valid checkpoint below the record being checked
    last_seq, last_hash = 0, GENESIS_HASH
    intact = True
    for record in records:
        count += 1
        last_seq, last_hash = record.seq, record.hash
        if not intact:
            continue
        tenant = tenant or record.tenant
        while latest_cp < len(valid_seqs) and valid_seqs[latest_cp] < expected:
            latest_cp += 1
        below = valid_seqs[latest_cp - 1] if latest_cp else 0
        problem = _check_record(record, expected, prev_hash, tenant, mac_key, below, valid)
        if problem is not None:
            found.add(*problem)
            intact = False
            continue
        pinned = valid.get(record.seq)
        if pinned is not None and pinned.hash != record.hash:
            found.add(record.seq, f"record {record.seq} does not match its signed checkpoint: "
                                  "records up to here were rewritten and re-hashed")
        prev_hash = record.hash
        expected += 1

    for seq in valid_seqs:
        if seq > last_seq:
            found.add(last_seq + 1, f"log truncated: checkpoint {seq} is signed but the log "
                                    f"ends at record {last_seq}")
            break
    _check_head(head, tenant, last_seq, last_hash, count, valid_seqs, found)

    first = found.first()
    return VerifyResult(
        ok=first is None, records=count, first_broken_seq=first[0] if first else None,
        reason=first[1] if first else None, checkpoints=checkpoint_count,
        macs_checked=mac_key is not None, key_fingerprint=key_fingerprint(verify_key))


def _check_record(record: AuditRecord, expected: int, prev_hash: str, tenant: str | None,
                  mac_key: bytes | None, checkpoint_below: int,
                  valid: Mapping[int, Checkpoint]) -> tuple[int, str] | None:
    if record.seq != expected:
        return expected, (f"record {expected} is missing (record {record.seq} comes in its "
                          "place): records were deleted, reordered or duplicated")
    if record.tenant != tenant:
        return record.seq, f"record {record.seq} belongs to another tenant"
    if record.prev_hash != prev_hash:
        return record.seq, (f"record {record.seq}: prev_hash does not match the record before "
                            "it: a record was deleted, inserted or reordered")
    try:
        recomputed = record.compute_hash()
    except (ValueError, TypeError):
        recomputed = None
    if recomputed != record.hash:
        return record.seq, f"record {record.seq}: hash mismatch: the record was edited"
    if mac_key is not None and not hmac.compare_digest(record_mac(mac_key, record.hash), record.mac):
        return record.seq, (f"record {record.seq}: MAC mismatch: the record was forged (its hash "
                            "recomputed without the audit key)")
    if record.checkpoint_seq != checkpoint_below:
        named = record.checkpoint_seq
        if isinstance(named, int) and 0 < named < record.seq and named not in valid:
            return named, (f"checkpoint {named} is missing (record {record.seq} refers to it): "
                           "checkpoints were deleted")
        return record.seq, (f"record {record.seq} refers to checkpoint {named}, but the latest "
                            f"checkpoint before it is {checkpoint_below}")
    return None


def _check_head(head: AuditHead | None, tenant: str | None, last_seq: int, last_hash: str,
                count: int, valid_seqs: Sequence[int], found: _Findings) -> None:
    if head is None:
        if count:
            found.add(last_seq + 1, "the head row is missing, so records after "
                                    f"{last_seq} may have been removed unnoticed")
        return
    if head.tenant != tenant:
        found.add(max(head.seq, 1), "the head belongs to another tenant")
    elif head.seq > last_seq:
        found.add(last_seq + 1, f"log truncated: the head is at record {head.seq} but the log "
                                f"ends at record {last_seq}")
    elif head.seq < last_seq:
        found.add(head.seq + 1, f"records {head.seq + 1}..{last_seq} lie beyond the head: "
                                "appended outside the audit writer, or the head was moved back")
    elif head.hash != last_hash:
        found.add(max(last_seq, 1), f"the head hash does not match record {last_seq}")
    latest = valid_seqs[-1] if valid_seqs else 0
    if head.checkpoint_seq != latest:
        if head.checkpoint_seq > latest:
            found.add(head.checkpoint_seq, f"checkpoint {head.checkpoint_seq} named by the head "
                                           "is missing: checkpoints were deleted")
        else:
            found.add(max(latest, 1), f"the head names checkpoint {head.checkpoint_seq} but "
                                      f"checkpoint {latest} exists")


# Export


_CSV_COLUMNS = ("type", "tenant", "seq", "ts", "user", "roles", "action", "outcome", "targets",
                "counts", "hashes", "extra", "checkpoint_seq", "prev_hash", "hash", "mac",
                "signature", "verify_key", "format")
_JSON_COLUMNS = ("roles", "targets", "counts", "hashes", "extra")


def export_header_message(tenant: str | None, exported_at: str, verify_key: str,
                          head: Mapping[str, Any] | None) -> bytes:
    """The bytes an export header's signature covers."""
    return canonical_json({"type": EXPORT_HEADER_TYPE, "v": EXPORT_VERSION, "tenant": tenant,
                           "exported_at": exported_at, "verify_key": verify_key, "head": head})


def export_log(records: Iterable[AuditRecord], checkpoints: Iterable[Checkpoint],
               head: AuditHead | None, keys: AuditKeys,
               fmt: Literal["jsonl", "csv"], out: TextIO, *,
               exported_at: datetime | None = None) -> int:
    """Write a self-contained, verifiable export; returns the number of records written.

    The first line/row describes the export (format version, tenant, head, public verify key)
    and is signed with the tenant's signing key, so the head it names (where the log ends) and
    the export's date cannot be changed: records cut from the end are found missing. Then the
    records in seq order, each checkpoint right after the record it signs. CSV cells that hold
    lists or maps are canonical JSON. Open ``out`` with ``newline=""`` for CSV.
    """
    if fmt not in ("jsonl", "csv"):
        raise ValueError("export format must be 'jsonl' or 'csv'")
    if keys.signing_key is None:
        raise AuditError("an export is signed: these audit keys hold no signing key")
    by_seq = {cp.seq: cp for cp in checkpoints}
    tenant = head.tenant if head is not None else next((cp.tenant for cp in by_seq.values()), None)
    when, public = format_ts(exported_at or datetime.now(timezone.utc)), public_key_hex(keys.verify_key)
    head_dict = head.as_dict() if head is not None else None
    header = {"format": EXPORT_FORMAT, "v": EXPORT_VERSION, "tenant": tenant, "exported_at": when,
              "verify_key": public, "key_fingerprint": key_fingerprint(keys.verify_key), "head": head_dict,
              "signature": keys.signing_key.sign(export_header_message(tenant, when, public, head_dict)).hex()}
    write = _jsonl_writer(out) if fmt == "jsonl" else _csv_writer(out)
    write("export", header)
    count = 0
    for record in records:
        write("record", record.as_dict())
        count += 1
        cp = by_seq.pop(record.seq, None)
        if cp is not None:
            write("checkpoint", cp.as_dict())
    for seq in sorted(by_seq):
        write("checkpoint", by_seq[seq].as_dict())
    return count


def _jsonl_writer(out: TextIO) -> Any:
    def write(kind: str, data: dict[str, Any]) -> None:
        out.write(canonical_json({"type": kind, **data}).decode("utf-8") + "\n")
    return write


def _csv_writer(out: TextIO) -> Any:
    writer = csv.DictWriter(out, fieldnames=_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()

    def write(kind: str, data: dict[str, Any]) -> None:
        if kind == "export":
            head = data["head"] or {}
            row = {"type": kind, "tenant": data["tenant"], "ts": data["exported_at"],
                   "seq": head.get("seq", ""), "hash": head.get("hash", ""),
                   "checkpoint_seq": head.get("checkpoint_seq", ""), "signature": data["signature"],
                   "verify_key": data["verify_key"], "format": f"{EXPORT_FORMAT}/{EXPORT_VERSION}"}
        else:
            row = {"type": kind, **{k: (canonical_json(v).decode("utf-8") if k in _JSON_COLUMNS else v)
                                    for k, v in data.items()}}
        writer.writerow(row)
    return write


class _Malformed(Exception):
    def __init__(self, where: str, seq: int | None, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.seq = seq


@dataclass
class _ExportHeader:
    tenant: str | None
    head: AuditHead | None
    verify_key: Ed25519PublicKey
    exported_at: str
    signature: str

    def signature_valid(self) -> bool:
        message = export_header_message(self.tenant, self.exported_at, public_key_hex(self.verify_key),
                                        self.head.as_dict() if self.head is not None else None)
        try:
            self.verify_key.verify(bytes.fromhex(self.signature), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def verify_export(path: Path | str, *, mac_key: bytes | None = None,
                  verify_key: Ed25519PublicKey | None = None) -> VerifyResult:
    """Verify an export file (JSON lines or CSV, recognised by content) on its own.

    Chain hashes, checkpoint signatures and the head need no secret; MACs are checked only when
    ``mac_key`` is given. A file that does not start with an export header raises ``AuditError``;
    anything wrong after it is a result that does not verify. Pass ``verify_key`` to pin the tenant's public key: otherwise the key
    written in the export is used and its fingerprint is reported for comparison, since
    someone who rewrites a whole export can also replace the key in it.
    """
    path = Path(path)
    try:
        header = _read_header(path)
    except _Malformed as exc:  # a wrong file rather than a broken log
        raise AuditError(f"{path} is not a docveil audit export ({exc})") from None
    except OSError as exc:
        raise AuditError(f"cannot read audit export {path}: {exc.strerror or exc}") from exc
    try:
        checkpoints = list(_read_items(path, "checkpoint", Checkpoint.from_dict))
    except _Malformed as exc:
        return VerifyResult(False, 0, exc.seq, str(exc))
    if verify_key is not None and public_key_hex(verify_key) != public_key_hex(header.verify_key):
        return VerifyResult(False, 0, None,
                            f"the export is signed by {key_fingerprint(header.verify_key)}, not by "
                            f"the expected key {key_fingerprint(verify_key)}",
                            key_fingerprint=key_fingerprint(header.verify_key))
    if not header.signature_valid():
        return VerifyResult(False, 0, None, "the export header's signature is invalid: its head, date or key "
                            "was changed after export", key_fingerprint=key_fingerprint(header.verify_key))
    keys: AuditKeys | Ed25519PublicKey = header.verify_key
    if mac_key is not None:
        keys = AuditKeys(mac_key, None, header.verify_key)
    malformed: list[_Malformed] = []
    result = verify_chain(_until_malformed(_read_items(path, "record", AuditRecord.from_dict), malformed),
                          checkpoints, header.head, keys)
    if malformed:
        bad = malformed[0]
        earlier = result.first_broken_seq is not None and (bad.seq is None or result.first_broken_seq < bad.seq)
        if not earlier:
            result = replace(result, ok=False, first_broken_seq=bad.seq, reason=str(bad))
    return result


def _until_malformed(items: Iterator[AuditRecord], malformed: list[_Malformed]) -> Iterator[AuditRecord]:
    """Records up to the first malformed one, which is kept aside: breaks found before it
    are still reported as the first."""
    try:
        yield from items
    except _Malformed as exc:
        malformed.append(exc)


def _is_csv(path: Path) -> bool:
    with path.open("rb") as handle:
        return not handle.read(1).startswith(b"{")


def _rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """(location, item) for every line/row, with its ``type`` key; CSV cells are decoded."""
    csv_file = _is_csv(path)
    with path.open("rb") as handle:
        lines = _decoded_lines(handle)
        if not csv_file:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                where = f"line {number}"
                try:
                    item = json.loads(line, parse_constant=_reject_constant)
                except ValueError as exc:
                    raise _Malformed(where, None, f"not valid JSON ({exc})") from None
                if not isinstance(item, dict):
                    raise _Malformed(where, None, "not a JSON object")
                yield where, item
            return
        reader = csv.DictReader(lines)
        if tuple(reader.fieldnames or ()) != _CSV_COLUMNS:
            raise _Malformed("row 1", None, "the CSV header is not the docveil audit export header")
        for number, row in enumerate(reader, start=2):
            yield f"row {number}", _decode_csv_row(f"row {number}", row)


def _decoded_lines(handle: IO[bytes]) -> Iterator[str]:
    """The file's lines as text, decoded one at a time: bytes that are not UTF-8 are reported
    at their line, not when a read-ahead buffer first reaches them."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _Malformed(f"line {number}", None, "not UTF-8 text") from None


def _decode_csv_row(where: str, row: dict[str, str]) -> dict[str, Any]:
    kind = row.get("type")
    item: dict[str, Any] = {"type": kind}
    try:
        if kind == "export":
            name, _, version = (row["format"] or "").partition("/")
            head = None
            if row["seq"] != "":
                head = {"tenant": row["tenant"], "seq": int(row["seq"]), "hash": row["hash"],
                        "checkpoint_seq": int(row["checkpoint_seq"])}
            return {"type": kind, "format": name, "v": int(version) if version.isdigit() else version,
                    "tenant": row["tenant"] or None, "verify_key": row["verify_key"], "head": head,
                    "exported_at": row["ts"], "signature": row["signature"]}
        columns = ("tenant", "seq", "hash", "ts", "signature") if kind == "checkpoint" else _CSV_COLUMNS[1:16]
        for name in columns:
            value: Any = row[name]
            if name in ("seq", "checkpoint_seq"):
                value = int(value)
            elif name in _JSON_COLUMNS:
                value = json.loads(value, parse_constant=_reject_constant)
            item[name] = value
    except (ValueError, TypeError, KeyError) as exc:
        seq = row.get("seq")
        raise _Malformed(where, int(seq) if seq and seq.isdigit() else None,
                         f"malformed {kind} row ({type(exc).__name__})") from None
    return item


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed in an audit export")


def _read_header(path: Path) -> _ExportHeader:
    for where, item in _rows(path):
        if item.get("type") != "export":
            raise _Malformed(where, None, "the export does not start with its header")
        if item.get("format") != EXPORT_FORMAT or item.get("v") != EXPORT_VERSION:
            older = " (earlier versions do not sign the head: export the log again)" if item.get("v") == 1 else ""
            raise _Malformed(where, None, f"not a {EXPORT_FORMAT} v{EXPORT_VERSION} export{older}")
        try:
            verify_key = load_verify_key(item.get("verify_key") or "")
            head = AuditHead.from_dict(item["head"]) if item.get("head") is not None else None
            exported_at, signature = _field(item, "exported_at", str), _field(item, "signature", str)
        except (ValueError, TypeError) as exc:
            raise _Malformed(where, None, f"malformed header ({exc})") from None
        return _ExportHeader(item.get("tenant"), head, verify_key, exported_at, signature)
    raise _Malformed("line 1", None, "the export is empty")


def _read_items(path: Path, kind: str, parse: Any) -> Iterator[Any]:
    seen_header = False
    for where, item in _rows(path):
        item_kind = item.get("type")
        if item_kind == "export":
            if seen_header:
                raise _Malformed(where, None, "a second export header")
            seen_header = True
            continue
        if item_kind not in ("record", "checkpoint"):
            raise _Malformed(where, None, "unknown line type")
        if item_kind != kind:
            continue
        try:
            yield parse(item)
        except (ValueError, TypeError) as exc:
            seq = item.get("seq")
            raise _Malformed(where, seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
                             f"malformed {kind} ({exc})") from None
