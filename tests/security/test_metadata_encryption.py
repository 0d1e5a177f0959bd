"""Source names and metadata are redacted like the text, then stored as AES-GCM ciphertexts bound
to tenant, document and field: readers get them back with tokens for personal data, and a
ciphertext moved anywhere else fails loudly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg import sql
from reportlab.pdfgen import canvas

from docveil.engine import Engine
from docveil.errors import CryptoError
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.types import Principal

PERSON = "Rosalind Thackeray"
AUTHOR = "Edmund Fairweather"
WRITER = Principal("meta", "writer")
READER = Principal("meta", "reader", frozenset({"analyst"}))
RESOLVER = Principal("meta", "resolver", frozenset({"reidentify"}))
OTHER_TENANT = Principal("elsewhere", "writer")


@pytest.fixture(scope="module")
def engine(module_engine: Engine) -> Engine:
    return module_engine


@pytest.fixture(scope="module")
def ids(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("meta")
    (folder / "rosalind_thackeray_contract.txt").write_text(
        f"Employment contract of {PERSON}: the notice period is three months for either side.\n", encoding="utf-8")
    pdf = canvas.Canvas(str(folder / "summary.pdf"))
    pdf.setAuthor(AUTHOR)
    pdf.setTitle(f"Summary for {PERSON}")
    pdf.drawString(72, 700, "The quarterly summary shows stable sales in every region.")
    pdf.save()
    report = engine.ingest([folder], WRITER)
    assert report.ok
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "memo.txt"
    elsewhere.write_text("A memo about the new coffee machine in the lobby.\n", encoding="utf-8")
    other = engine.ingest([elsewhere], OTHER_TENANT)
    return {**{Path(d.source).name: d.document_id for d in report.ingested},
            "elsewhere": other.ingested[0].document_id}


def stored(engine: Engine, document_id: str) -> tuple[bytes, bytes]:
    with engine.database.admin() as conn:
        row = conn.execute("SELECT source_enc, metadata_enc FROM documents WHERE id = %s", [document_id]).fetchone()
    return bytes(row[0]), bytes(row[1])


@contextmanager
def tampered(engine: Engine, document_id: str, **columns: bytes) -> Iterator[None]:
    """Overwrite encrypted columns of one row as the schema owner, and put them back afterwards."""
    source, metadata = stored(engine, document_id)
    assignments = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in columns)
    with engine.database.admin() as conn:
        conn.execute(sql.SQL("UPDATE documents SET {} WHERE id = %s").format(assignments),
                     [*columns.values(), document_id])
    try:
        yield
    finally:
        with engine.database.admin() as conn:
            conn.execute("UPDATE documents SET source_enc = %s, metadata_enc = %s WHERE id = %s",
                         [source, metadata, document_id])


def assert_read_fails(engine: Engine, document_id: str, field: str) -> None:
    with pytest.raises(CryptoError) as raised:
        engine.documents(READER)
    message = str(raised.value)
    assert f"'{field}'" in message and document_id in message and "authentication failed" in message
    for secret in (PERSON, AUTHOR, "thackeray"):
        assert secret not in message


def test_source_names_and_metadata_are_stored_as_ciphertexts(engine: Engine, ids: dict[str, str]) -> None:
    for document_id in (ids["rosalind_thackeray_contract.txt"], ids["summary.pdf"]):
        source, metadata = stored(engine, document_id)
        for blob in (source, metadata):
            lowered = blob.lower()
            for secret in (PERSON, AUTHOR, "rosalind", "thackeray", "fairweather", "contract", "summary", ".pdf",
                           ".txt", "author", "title"):
                assert secret.lower().encode() not in lowered
            assert blob[0] == 1 and len(blob) > 1 + 4 + 12 + 16  # format, key version, nonce, tag
    a, b = stored(engine, ids["rosalind_thackeray_contract.txt"])[0], stored(engine, ids["summary.pdf"])[0]
    assert a[5:17] != b[5:17]  # a fresh nonce per field


def test_a_reader_gets_source_names_and_metadata_back_with_tokens_for_personal_data(
        engine: Engine, ids: dict[str, str]) -> None:
    infos = {i.document_id: i for i in engine.documents(READER)}
    assert set(infos) == {ids["rosalind_thackeray_contract.txt"], ids["summary.pdf"]}
    contract, pdf = infos[ids["rosalind_thackeray_contract.txt"]], infos[ids["summary.pdf"]]
    person = TOKEN_PATTERN.fullmatch(Path(contract.source).name.removesuffix("_contract.txt"))
    author = TOKEN_PATTERN.fullmatch(pdf.metadata["author"])
    title = TOKEN_PATTERN.search(pdf.metadata["title"])
    assert person and author and title, (contract.source, pdf.metadata)
    assert Path(pdf.source).name == "summary.pdf" and pdf.metadata["title"] == f"Summary for {title.group(0)}"
    # The file name's token is the text's: one subject, resolvable by the reidentify role only.
    assert person.group(0) == title.group(0)
    assert engine.reidentify({person.group(0), author.group(0)}, RESOLVER) == {
        person.group(0): PERSON, author.group(0): AUTHOR}
    hits = engine.search("notice period of the employment contract", READER, k=1)
    assert hits[0].source == contract.source


def test_a_source_ciphertext_copied_to_another_document_fails_to_decrypt(engine: Engine, ids: dict[str, str]) -> None:
    victim = ids["summary.pdf"]
    foreign_source = stored(engine, ids["rosalind_thackeray_contract.txt"])[0]
    with tampered(engine, victim, source_enc=foreign_source):
        assert_read_fails(engine, victim, "source")
        with pytest.raises(CryptoError):
            engine.search("quarterly summary of sales in every region", READER, k=5)
    assert len(engine.documents(READER)) == 2  # restored: reads work again


def test_metadata_copied_into_the_source_field_fails_to_decrypt(engine: Engine, ids: dict[str, str]) -> None:
    victim = ids["summary.pdf"]
    source, metadata = stored(engine, victim)
    with tampered(engine, victim, source_enc=metadata):
        assert_read_fails(engine, victim, "source")
    with tampered(engine, victim, metadata_enc=source):
        assert_read_fails(engine, victim, "metadata")


def test_metadata_copied_to_another_document_fails_to_decrypt(engine: Engine, ids: dict[str, str]) -> None:
    victim = ids["rosalind_thackeray_contract.txt"]
    with tampered(engine, victim, metadata_enc=stored(engine, ids["summary.pdf"])[1]):
        assert_read_fails(engine, victim, "metadata")


def test_a_ciphertext_from_another_tenant_fails_to_decrypt(engine: Engine, ids: dict[str, str]) -> None:
    victim = ids["summary.pdf"]
    with tampered(engine, victim, source_enc=stored(engine, ids["elsewhere"])[0]):
        assert_read_fails(engine, victim, "source")


def test_a_flipped_bit_fails_to_decrypt(engine: Engine, ids: dict[str, str]) -> None:
    victim = ids["summary.pdf"]
    source, metadata = stored(engine, victim)
    for column, blob in (("source_enc", source), ("metadata_enc", metadata)):
        flipped = bytearray(blob)
        flipped[-20] ^= 0x01
        with tampered(engine, victim, **{column: bytes(flipped)}):
            assert_read_fails(engine, victim, column.removesuffix("_enc"))
    assert json.loads(json.dumps(engine.documents(READER)[0].as_dict()))  # still readable after restore
