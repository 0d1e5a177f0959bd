"""The audit chain without a database: sealing, every kind of tampering, keyed hashes, export."""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import io
import json
import pickle
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from docveil.errors import AuditError
from docveil.security.audit_chain import (
    GENESIS_HASH,
    AuditEvent,
    AuditHead,
    AuditKeys,
    AuditRecord,
    Checkpoint,
    export_log,
    keyed_hash,
    next_record,
    record_mac,
    sign_checkpoint,
    verify_chain,
    verify_export,
)
from docveil.types import Principal

TENANT = "acme"
ANALYST = Principal(TENANT, "analyst-7", frozenset({"analyst", "reader"}))
T0 = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
QUERY = "salary of Jane Roe in Berlin"

Chain = tuple[list[AuditRecord], list[Checkpoint], AuditHead]


def build_chain(keys: AuditKeys, n: int = 25, every: int = 10) -> Chain:
    head = AuditHead(TENANT)
    records: list[AuditRecord] = []
    checkpoints: list[Checkpoint] = []
    for i in range(n):
        event = AuditEvent("search", counts={"hits": i % 4, "k": 10},
                           hashes={"query": keyed_hash(keys.mac_key, f"{QUERY} #{i}"),
                                   "results": keyed_hash(keys.mac_key, [f"doc-{i}", str(i)])},
                           extra={"latency_ms": 12.5, "hybrid": True})
        record, checkpoint, head = next_record(head, ANALYST, event, T0 + timedelta(seconds=i), keys,
                                               checkpoint_every=every)
        records.append(record)
        checkpoints += [checkpoint] if checkpoint else []
    return records, checkpoints, head


def reseal(records: list[AuditRecord], start: int, mac_key: bytes) -> list[AuditRecord]:
    """What an attacker without the tenant's key can do: recompute every hash from ``start`` on
    (prev links included) and MAC them under a key of their own."""
    out = records[:start - 1]
    prev = out[-1].hash if out else GENESIS_HASH
    for record in records[start - 1:]:
        record = replace(record, prev_hash=prev)
        digest = record.compute_hash()
        record = replace(record, hash=digest, mac=record_mac(mac_key, digest))
        out.append(record)
        prev = digest
    return out


@pytest.fixture(scope="module")
def keys() -> AuditKeys:
    return AuditKeys.generate()


@pytest.fixture(scope="module")
def chain(keys: AuditKeys) -> Chain:
    return build_chain(keys)


def test_chain_of_appends_verifies_with_the_keys_and_with_the_public_key_alone(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain

    full = verify_chain(records, checkpoints, head, keys)
    public = verify_chain(iter(records), checkpoints, head, keys.verify_key)

    assert full.ok and full.records == 25 and full.checkpoints == 2 and full.macs_checked
    assert public.ok and not public.macs_checked
    assert [r.seq for r in records] == list(range(1, 26))
    assert [c.seq for c in checkpoints] == [10, 20]
    assert head == AuditHead(TENANT, 25, records[-1].hash, 20)
    assert records[0].prev_hash == GENESIS_HASH and records[1].prev_hash == records[0].hash
    assert records[10].checkpoint_seq == 10 and records[9].checkpoint_seq == 0


def test_empty_log_verifies(keys: AuditKeys) -> None:
    assert verify_chain([], [], AuditHead(TENANT), keys).ok
    assert verify_chain([], [], None, keys).ok


def test_edited_field_is_reported_as_a_hash_mismatch_at_its_seq(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain
    edited = list(records)
    edited[6] = replace(records[6], outcome="denied")

    result = verify_chain(edited, checkpoints, head, keys)

    assert not result.ok
    assert result.first_broken_seq == 7
    assert "hash mismatch" in (result.reason or "")


def test_changing_an_integer_to_an_equal_float_breaks_the_hash(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain
    edited = list(records)
    edited[2] = replace(records[2], counts={**records[2].counts, "k": 10.0})

    result = verify_chain(edited, checkpoints, head, keys)

    assert (result.ok, result.first_broken_seq) == (False, 3)


def test_deleted_record_is_reported_at_the_missing_seq(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain

    result = verify_chain(records[:11] + records[12:], checkpoints, head, keys)

    assert result.first_broken_seq == 12
    assert "missing" in (result.reason or "")


def test_swapped_records_are_reported_at_the_first_swapped_position(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain
    swapped = [*records[:4], records[5], records[4], *records[6:]]

    result = verify_chain(swapped, checkpoints, head, keys)

    assert result.first_broken_seq == 5


def test_swapped_contents_under_the_original_seqs_break_the_prev_link(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain
    swapped = list(records)
    swapped[4] = replace(records[5], seq=5)
    swapped[5] = replace(records[4], seq=6)

    result = verify_chain(swapped, checkpoints, head, keys)

    assert result.first_broken_seq == 5
    assert "prev_hash" in (result.reason or "")


def test_forged_record_with_a_recomputed_hash_fails_its_mac(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain
    forger = AuditKeys.generate()
    forged, _, forged_head = next_record(head, ANALYST, AuditEvent("ask"), T0 + timedelta(hours=1), forger)

    result = verify_chain([*records, forged], checkpoints, forged_head, keys)

    assert result.first_broken_seq == 26
    assert "MAC mismatch" in (result.reason or "")


def test_rewritten_history_is_caught_by_the_mac_first_and_without_the_key_by_the_checkpoint(
        keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, _ = chain
    edited = list(records)
    edited[4] = replace(records[4], action="ingest")
    rewritten = reseal(edited, 5, AuditKeys.generate().mac_key)
    head = AuditHead(TENANT, 25, rewritten[-1].hash, 20)

    with_key = verify_chain(rewritten, checkpoints, head, keys)
    public_only = verify_chain(rewritten, checkpoints, head, keys.verify_key)

    assert (with_key.first_broken_seq, "MAC" in (with_key.reason or "")) == (5, True)
    assert public_only.first_broken_seq == 10
    assert "checkpoint" in (public_only.reason or "")


def test_truncated_tail_with_a_fixed_up_head_is_detected_through_the_checkpoint(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, _ = chain
    kept = records[:15]
    fixed_head = AuditHead(TENANT, 15, kept[-1].hash, 20)

    result = verify_chain(kept, checkpoints, fixed_head, keys.verify_key)

    assert result.first_broken_seq == 16
    assert "truncated" in (result.reason or "")


def test_truncated_tail_after_the_last_checkpoint_is_detected_through_the_head(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain

    result = verify_chain(records[:22], checkpoints, head, keys)

    assert result.first_broken_seq == 23
    assert "truncated" in (result.reason or "")


@pytest.mark.parametrize("deleted", [10, 20])
def test_deleted_checkpoint_is_detected_while_later_records_remain(keys: AuditKeys, chain: Chain, deleted: int) -> None:
    records, checkpoints, head = chain
    remaining = [c for c in checkpoints if c.seq != deleted]

    result = verify_chain(records, remaining, head, keys.verify_key)

    assert result.first_broken_seq == deleted
    assert "checkpoint" in (result.reason or "") and "missing" in (result.reason or "")


def test_checkpoint_signed_by_another_key_or_edited_is_rejected(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, head = chain
    other = Ed25519PrivateKey.generate()
    foreign = [checkpoints[0], sign_checkpoint(TENANT, 20, records[19].hash, checkpoints[1].ts, other)]
    edited = [replace(checkpoints[0], ts=checkpoints[0].ts + timedelta(seconds=1)), checkpoints[1]]

    assert verify_chain(records, foreign, head, keys).first_broken_seq == 20
    result = verify_chain(records, edited, head, keys)
    assert result.first_broken_seq == 10 and "signature invalid" in (result.reason or "")


def test_records_beyond_the_head_are_reported(keys: AuditKeys, chain: Chain) -> None:
    records, checkpoints, _ = chain
    stale_head = AuditHead(TENANT, 24, records[23].hash, 20)

    assert verify_chain(records, checkpoints, stale_head, keys).first_broken_seq == 25


def test_record_hash_follows_the_documented_canonical_encoding(keys: AuditKeys) -> None:
    principal = Principal("acme", "jdoe", frozenset({"reader", "analyst"}))
    event = AuditEvent("search", counts={"k": 10, "hits": 3}, hashes={"query": "ab" * 32},
                       extra={"ratio": 0.5, "mode": "hybrid", "rerank": False}, targets=("doc-1",))
    ts = datetime(2025, 1, 31, 10, 30, 0, 120000, tzinfo=timezone(timedelta(hours=1)))

    record, _, _ = next_record(AuditHead("acme"), principal, event, ts, keys)

    # Written out by hand as docs/audit.md specifies it: sorted keys, no spaces, UTC "Z" time.
    expected = (
        '{"action":"search","checkpoint_seq":0,"counts":{"hits":3,"k":10},'
        '"extra":{"mode":"hybrid","ratio":0.5,"rerank":false},'
        '"hashes":{"query":"' + "ab" * 32 + '"},"outcome":"ok","prev_hash":"' + "0" * 64 + '",'
        '"roles":["analyst","reader"],"seq":1,"targets":["doc-1"],"tenant":"acme",'
        '"ts":"2025-01-31T09:30:00.120000Z","type":"docveil.audit.record","user":"jdoe","v":1}')
    assert record.hash == hashlib.sha256(expected.encode("utf-8")).hexdigest()
    assert record.mac == hmac.new(keys.mac_key, b"docveil.audit.mac.v1\n" + record.hash.encode(),
                                  hashlib.sha256).hexdigest()


def test_checkpoint_signature_covers_the_documented_message(keys: AuditKeys) -> None:
    checkpoint = sign_checkpoint("acme", 100, "cd" * 32, T0, keys.signing_key)  # type: ignore[arg-type]
    message = ('{"hash":"' + "cd" * 32 + '","seq":100,"tenant":"acme",'
               '"ts":"2025-03-01T09:30:00.000000Z","type":"docveil.audit.checkpoint","v":1}')

    keys.verify_key.verify(bytes.fromhex(checkpoint.signature), message.encode())


def test_keyed_hash_depends_on_the_key_the_value_and_its_type() -> None:
    acme, globex = AuditKeys.generate(), AuditKeys.generate()

    assert keyed_hash(acme.mac_key, QUERY) == keyed_hash(acme.mac_key, QUERY)
    assert keyed_hash(acme.mac_key, QUERY) != keyed_hash(globex.mac_key, QUERY)
    assert len({keyed_hash(acme.mac_key, v) for v in ("1", b"1", ["1"], [1], [["1"]])}) == 5
    assert keyed_hash(acme.mac_key, ["a", "bc"]) != keyed_hash(acme.mac_key, ["ab", "c"])
    assert keyed_hash(acme.mac_key, QUERY) != hashlib.sha256(QUERY.encode()).hexdigest()


def test_keyed_hash_of_a_record_hash_is_never_that_records_mac(keys: AuditKeys, chain: Chain) -> None:
    # Otherwise searching for a forged record's hash would have the app compute its MAC.
    record = chain[0][0]
    assert keyed_hash(keys.mac_key, record.hash) != record.mac


def test_event_refuses_raw_values_where_only_digests_or_names_belong() -> None:
    with pytest.raises(ValueError, match="keyed_hash") as raised:
        AuditEvent("search", hashes={"query": QUERY})
    assert "Jane" not in str(raised.value)
    for bad in (dict(action="Search Jane"), dict(action="search", outcome=""),
                dict(action="search", targets="doc-1"), dict(action="search", counts={"hits": -1}),
                dict(action="search", counts={"hits": True}), dict(action="search", extra={"x": float("nan")}),
                dict(action="search", extra={"x": ["list"]}), dict(action="search", targets=("a\x00b",))):
        with pytest.raises(ValueError):
            AuditEvent(**bad)  # type: ignore[arg-type]


def test_audit_keys_refuse_pickling_and_hide_secrets_in_repr(keys: AuditKeys) -> None:
    with pytest.raises(TypeError):
        pickle.dumps(keys)
    with pytest.raises(TypeError):
        copy.copy(keys)
    text = repr(keys)
    assert keys.mac_key.hex() not in text and "mac_key" not in text
    assert keys.fingerprint in text


def test_audit_keys_reject_a_verify_key_that_is_not_the_signing_keys_half(keys: AuditKeys) -> None:
    with pytest.raises(ValueError):
        AuditKeys(keys.mac_key, keys.signing_key, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(ValueError):
        AuditKeys(b"short", None, keys.verify_key)


def test_verify_only_keys_cannot_append(keys: AuditKeys) -> None:
    verifier = AuditKeys(keys.mac_key, None, keys.verify_key)
    with pytest.raises(AuditError):
        next_record(AuditHead(TENANT), ANALYST, AuditEvent("search"), T0, verifier)


def test_keys_from_the_same_seeds_verify_each_others_records() -> None:
    first = AuditKeys.from_seeds(b"m" * 32, b"s" * 32)
    second = AuditKeys.from_seeds(b"m" * 32, b"s" * 32)
    records, checkpoints, head = build_chain(first, n=12, every=5)

    assert verify_chain(records, checkpoints, head, second).ok


def test_record_from_another_tenant_cannot_extend_the_chain(keys: AuditKeys) -> None:
    with pytest.raises(AuditError):
        next_record(AuditHead("globex"), ANALYST, AuditEvent("search"), T0, keys)


# Export


def _export(chain: Chain, keys: AuditKeys, fmt: str, path: Path) -> Path:
    records, checkpoints, head = chain
    with path.open("w", encoding="utf-8", newline="") as out:
        assert export_log(records, checkpoints, head, keys, fmt, out) == len(records)  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_verifies_on_its_own_with_and_without_the_mac_key(keys: AuditKeys, chain: Chain,
                                                                 tmp_path: Path, fmt: str) -> None:
    path = _export(chain, keys, fmt, tmp_path / f"audit.{fmt}")

    with_mac = verify_export(path, mac_key=keys.mac_key)
    public = verify_export(path, verify_key=keys.verify_key)

    assert with_mac.ok and with_mac.records == 25 and with_mac.checkpoints == 2 and with_mac.macs_checked
    assert public.ok and not public.macs_checked
    assert public.key_fingerprint == keys.fingerprint
    assert QUERY not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_edited_export_fails_at_the_edited_record(keys: AuditKeys, chain: Chain, tmp_path: Path, fmt: str) -> None:
    path = _export(chain, keys, fmt, tmp_path / f"audit.{fmt}")
    lines = path.read_text(encoding="utf-8").split("\n")
    target = next(i for i, line in enumerate(lines) if chain[0][8].hash in line and "record" in line)
    assert '"hits":0' in lines[target] or '""hits"":0' in lines[target]
    lines[target] = lines[target].replace('hits"":0', 'hits"":1').replace('"hits":0', '"hits":1')
    path.write_text("\n".join(lines), encoding="utf-8")

    result = verify_export(path)

    assert (result.ok, result.first_broken_seq) == (False, 9)


def test_export_with_lines_cut_from_the_end_fails(keys: AuditKeys, chain: Chain, tmp_path: Path) -> None:
    path = _export(chain, keys, "jsonl", tmp_path / "audit.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")

    result = verify_export(path)

    assert not result.ok and result.first_broken_seq == 23


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_cut_back_to_an_earlier_checkpoint_with_its_head_moved_there_fails(
        keys: AuditKeys, chain: Chain, tmp_path: Path, fmt: str) -> None:
    records, checkpoints, _ = chain
    kept = [c for c in checkpoints if c.seq < 25][-1]
    path = _export(chain, keys, fmt, tmp_path / f"audit.{fmt}")
    text = path.read_text(encoding="utf-8")
    # Everything after that checkpoint is cut, and the header names it as the head: a log
    # that ends at a signed checkpoint, consistent in itself.
    if fmt == "jsonl":
        header, *items = [json.loads(line) for line in text.splitlines()]
        header["head"] = {"tenant": TENANT, "seq": kept.seq, "hash": kept.hash, "checkpoint_seq": kept.seq}
        items = [i for i in items if i["seq"] <= kept.seq]
        path.write_text("".join(json.dumps(i) + "\n" for i in (header, *items)), encoding="utf-8")
    else:
        rows = list(csv.DictReader(io.StringIO(text)))
        rows[0].update(seq=str(kept.seq), hash=kept.hash, checkpoint_seq=str(kept.seq))
        rows = [rows[0], *(r for r in rows[1:] if int(r["seq"]) <= kept.seq)]
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    result = verify_export(path)

    assert not result.ok and "header's signature is invalid" in (result.reason or "")
    assert kept.seq < len(records)


def test_export_rewritten_under_another_key_fails_when_the_key_is_pinned(keys: AuditKeys, chain: Chain,
                                                                        tmp_path: Path) -> None:
    forger = AuditKeys.generate()
    records = reseal([replace(r, user="someone-else") for r in chain[0]], 1, forger.mac_key)
    checkpoints = [sign_checkpoint(TENANT, c.seq, records[c.seq - 1].hash, c.ts, forger.signing_key)  # type: ignore[arg-type]
                   for c in chain[1]]
    forged = (records, checkpoints, AuditHead(TENANT, 25, records[-1].hash, 20))
    path = _export(forged, forger, "jsonl", tmp_path / "audit.jsonl")

    unpinned = verify_export(path)
    pinned = verify_export(path, verify_key=keys.verify_key)
    with_mac = verify_export(path, mac_key=keys.mac_key)

    assert unpinned.ok and unpinned.key_fingerprint != keys.fingerprint
    assert not pinned.ok and "expected key" in (pinned.reason or "")
    assert (with_mac.ok, with_mac.first_broken_seq) == (False, 1)


def test_malformed_export_line_is_reported_with_its_seq(keys: AuditKeys, chain: Chain, tmp_path: Path) -> None:
    path = _export(chain, keys, "jsonl", tmp_path / "audit.jsonl")
    lines = path.read_text(encoding="utf-8").splitlines()
    line = json.loads(lines[3])
    line["ts"] = "yesterday"
    lines[3] = json.dumps(line)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = verify_export(path)

    assert not result.ok and result.first_broken_seq == line["seq"]
    assert "line 4" in (result.reason or "")


def test_export_of_the_same_log_in_both_formats_carries_the_same_records(keys: AuditKeys, chain: Chain) -> None:
    jsonl, csv_text = io.StringIO(), io.StringIO()
    export_log(*chain, keys, "jsonl", jsonl)
    export_log(*chain, keys, "csv", csv_text)

    rows = [json.loads(line) for line in jsonl.getvalue().splitlines()]
    assert rows[0]["head"]["seq"] == 25 and rows[0]["verify_key"] in csv_text.getvalue()
    assert [r["seq"] for r in rows if r["type"] == "record"] == list(range(1, 26))
    assert sum(r["type"] == "checkpoint" for r in rows) == 2
    assert csv_text.getvalue().count("\nrecord,") == 25


# The procedure in docs/audit.md, run as written


DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.fixture(scope="module")
def reference_verifier() -> object:
    text = DOCS.read_text(encoding="utf-8")
    code = text.split("<!-- independent-verifier -->", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    assert "import docveil" not in code and "from docveil" not in code  # independent of the package
    namespace: dict[str, object] = {}
    exec(compile(code, str(DOCS), "exec"), namespace)
    return namespace["verify_jsonl"]


def _drop_lines(path: Path, predicate: object) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("".join(line + "\n" for line in lines if not predicate(json.loads(line))), encoding="utf-8")  # type: ignore[operator]


@pytest.mark.parametrize("tampering", ["none", "edit", "delete", "cut_tail", "drop_checkpoint", "forge"])
def test_documented_reference_verifier_agrees_with_verify_export(keys: AuditKeys, chain: Chain, tmp_path: Path,
                                                                 reference_verifier: object, tampering: str) -> None:
    path = _export(chain, keys, "jsonl", tmp_path / "audit.jsonl")
    if tampering == "edit":
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"hybrid":true', '"hybrid":false', 1), encoding="utf-8")
    elif tampering == "delete":
        _drop_lines(path, lambda item: item.get("seq") == 12 and item["type"] == "record")
    elif tampering == "cut_tail":
        _drop_lines(path, lambda item: item.get("seq", 0) > 21 and item["type"] != "export")
    elif tampering == "drop_checkpoint":
        _drop_lines(path, lambda item: item["type"] == "checkpoint" and item["seq"] == 10)
    elif tampering == "forge":
        forger = AuditKeys.generate()
        forged, _, forged_head = next_record(chain[2], ANALYST, AuditEvent("ask"), T0 + timedelta(hours=1), forger)
        path = _export(([*chain[0], forged], chain[1], forged_head), keys, "jsonl", path)

    ours = verify_export(path, mac_key=keys.mac_key, verify_key=keys.verify_key)
    first, why = reference_verifier(path, keys.verify_key.public_bytes_raw().hex(), keys.mac_key)  # type: ignore[operator]

    assert (ours.ok, ours.first_broken_seq) == (first is None, first), why
    assert ours.ok == (tampering == "none")
