"""The engine: runs the stages over documents and keeps the stores. No stage logic of its own."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO, cast

import numpy as np
import psycopg

from docveil.ask.answer import AskRun, context_tokens, guard_context
from docveil.ask.guard import OutputGuard
from docveil.ask.prompt import build_request
from docveil.coalescing import Coalescer
from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.errors import (
    AccessDeniedError,
    ConfigError,
    DocveilError,
    EncoderError,
    LoadError,
    NotFoundError,
    PluginError,
    UnredactedContentError,
    encoder_errors,
)
from docveil.files import write_whole
from docveil.plugins import make_plugin_manager
from docveil.protocols import ImageEncoder, Operator, TextEncoder
from docveil.security import api_keys, audit, rotation
from docveil.security.access import authorize
from docveil.security.crypto import decrypt_field, derive_key, encrypt_field, hmac_sha256
from docveil.security.keyring import AUDIT, DATA, PSEUDONYM, SIGNING, TenantKeyring
from docveil.security.keys import DataKeyRing
from docveil.security.vault import ForgetResult, Vault
from docveil.stages.combine import detect_texts, redaction_operators
from docveil.stages.detect.overlaps import resolve_overlaps
from docveil.stages.detect.regions import detect_image_regions
from docveil.stages.encode.coalescing import CoalescingEncoder
from docveil.stages.encode.devices import plan_device
from docveil.stages.encode.image import load_two_tower
from docveil.stages.encode.onnx_queries import query_encoder_for
from docveil.stages.load.source import load_document, read_source, source_from_bytes, source_name
from docveil.stages.redact.fields import field_texts, redact_fields
from docveil.stages.redact.image import redact_image_document
from docveil.stages.redact.known_values import restore_originals, with_known_values
from docveil.stages.redact.placed_images import redact_placed_images
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN, Pseudonymizer, remove_tokens, subject_key
from docveil.stages.redact.text import redact_document, redact_text
from docveil.store import locks, repository
from docveil.store.database import Database
from docveil.training.contrastive import EpochCallback, TrainingResult, check_run, fit, training_picture
from docveil.types import (
    TENANT_WIDE,
    Acl,
    Answer,
    AnswerDelta,
    BBox,
    Chunk,
    Document,
    DocumentInfo,
    Failure,
    Finding,
    Generation,
    Hit,
    ImageHit,
    IngestedDocument,
    IngestReport,
    Picture,
    Principal,
    RedactedDocument,
    RedactedImage,
    RedactedText,
    Source,
)

log = logging.getLogger(__name__)

# Documents per ingest step: small enough that detection of one batch overlaps the encoding
# of the one before for most of a run.
INGEST_BATCH_SIZE = 8

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(stage, done, total)`` while a batch is processed."""

# Entity types whose values a query may name without a detector noticing (a bare "Jane Roe");
# their n-grams are looked up in the vault by digest.
_QUERY_LOOKUP_TYPES = ("PERSON", "LOCATION", "STREET_ADDRESS", "EMAIL_ADDRESS", "USERNAME", "EMPLOYEE_ID")
_WORD = re.compile(r"[\w@.+'-]+", re.UNICODE)
_MAX_NGRAM = 4
# The API-key lookup runs before any tenant is known. It only calls api_key_principal(), which
# reads no row-level-secured table, so the tenant its transaction is bound to does not matter.
_NO_TENANT = "docveil:none"


@dataclass(frozen=True)
class _Prepared:
    """A document after redaction and chunking, waiting for its vectors."""

    document: RedactedDocument
    content_hash: str
    chunks: tuple[Chunk, ...]
    pictures: tuple[Picture, ...] = ()
    """Its pictures, when an image encoder will embed them."""
    copies: tuple[str, ...] = ()
    """Other sources of this batch with the same content: reported as duplicates of this one."""


class Engine:
    """docveil's entry point: ``ingest``, ``redact``, ``search``, ``forget`` and the audit log.

    Construction is cheap; models load on first use or in :meth:`warm_up`. Each engine owns its
    plugin manager, so several engines can live in one process.
    """

    def __init__(self, settings: Settings | None = None, *, plugins: Iterable[Any] = (),
                 database: Database | None = None, stash: Stash | None = None) -> None:
        """``stash`` shares loaded models between engines with the same settings and plugins."""
        self.settings = settings or Settings.load()
        self.plugin_manager = make_plugin_manager(self.settings, plugins)
        self.hook = self.plugin_manager.hook
        self.context = StageContext(self.settings, self.hook, stash)
        self._database = database
        self._keyring: TenantKeyring | None = None
        self._audit_frames = threading.local()
        self._vault: Vault | None = None
        self._text_vectors: tuple[str, int] | None = None
        self._image_vectors: tuple[str, int] | None = None
        self._lock = threading.Lock()
        self._query_encoder: tuple[TextEncoder, CoalescingEncoder] | None = None
        self._query_detector: Coalescer[str, Sequence[Finding]] | None = None
        self._closed = False

    # Lifecycle

    @property
    def database(self) -> Database:
        if self._closed:
            raise DocveilError("this engine is closed; make a new Engine")
        if self._database is None:
            with self._lock:  # threads using a new engine at once share one database and pool
                if self._database is None:
                    self._database = Database(self.settings)
        return self._database.open()

    @property
    def keyring(self) -> TenantKeyring:
        if self._keyring is None:
            with self._lock:
                if self._keyring is None:
                    provider = self.hook.docveil_key_provider(context=self.context)
                    self._keyring = TenantKeyring(DataKeyRing(provider), on_create=self._key_created)
        return self._keyring

    @property
    def vault(self) -> Vault:
        if self._vault is None:
            keyring = self.keyring
            with self._lock:
                if self._vault is None:
                    self._vault = Vault(keyring)
        return self._vault

    @property
    def text_encoder(self) -> TextEncoder:
        encoder = self.hook.docveil_text_encoder(context=self.context)
        if encoder is None:
            raise DocveilError("no plugin provides a text encoder (hook docveil_text_encoder)")
        return encoder

    def _ensure_text_vectors(self, encoder: TextEncoder) -> None:
        # Once per engine and encoder: it opens an owner connection and takes a lock, which
        # would otherwise cost every search a connection handshake.
        wanted = (encoder.name, encoder.dimension)
        if self._text_vectors != wanted:
            self.database.ensure_text_vectors(*wanted)
            self._text_vectors = wanted

    @property
    def image_encoder(self) -> ImageEncoder | None:
        """The image encoder, or None when no ``image_model`` is set (pictures are not embedded)."""
        return cast(ImageEncoder | None, self.hook.docveil_image_encoder(context=self.context))

    def _ensure_image_vectors(self, encoder: ImageEncoder) -> None:
        wanted = (encoder.name, encoder.dimension)
        if self._image_vectors != wanted:
            self.database.ensure_image_vectors(*wanted)
            self._image_vectors = wanted

    def warm_up(self) -> None:
        """Load every heavy model now instead of on first use."""
        self.hook.docveil_warm_up(context=self.context)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            query_encoder, self._query_encoder = self._query_encoder, None
            query_detector, self._query_detector = self._query_detector, None
        if query_encoder is not None:
            query_encoder[1].close()
        if query_detector is not None:
            query_detector.close()
        if self._database is not None:
            self._database.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Stages

    def load(self, path: str | Path | Source) -> Document:
        """Load a file, or an upload given as a ``Source`` (checked for size and sniffed again:
        its ``media_type`` is not trusted)."""
        if isinstance(path, Source):
            source = source_from_bytes(path.name, path.data, self.settings)
        else:
            source = read_source(Path(path), self.settings)
        return load_document(source, self.context)

    def detect(self, texts: Sequence[str]) -> list[list[Finding]]:
        """Findings of every detector plugin, merged per text."""
        return detect_texts(texts, self.context)

    @property
    def operators(self) -> dict[str, Operator]:
        return redaction_operators(self.context)

    def _pseudonymizer(self, conn: psycopg.Connection, tenant: str) -> Pseudonymizer:
        return Pseudonymizer(self.keyring.current(conn, tenant, PSEUDONYM).key)

    def redact(self, source: str | Path | Source | Document, principal: Principal) -> RedactedDocument:
        """Load (if given a path), detect and redact one document with the tenant's pseudonyms."""
        self._authorize(principal, "redact", {})
        with self._auditing_failure(principal, "redact"):
            document = source if isinstance(source, Document) else self.load(source)
        with self._auditing_failure(principal, "redact"), self._transaction(principal) as conn:
            pseudonymizer = self._pseudonymizer(conn, principal.tenant)
            redacted = self._redact_batch([document], principal.tenant, pseudonymizer)[0]
            self._audit(conn, principal, audit.AuditEvent(
                "redact", counts={"pages": redacted.page_count, "findings": len(redacted.manifest),
                                  "regions": len(redacted.regions)}))
        return redacted

    def redact_to_file(self, source: str | Path | Source, destination: str | Path,
                       principal: Principal) -> RedactedDocument:
        """Redact one document and write it to ``destination``: a redacted PDF when it ends in
        ``.pdf`` (the source must be a PDF; see docs/redacted_pdf.md), the redacted text
        otherwise. The file appears whole or not at all."""
        from docveil.stages.redact.pdf import write_redacted_pdf

        self._authorize(principal, "redact", {})
        destination = Path(destination)
        as_pdf = destination.suffix.lower() == ".pdf"
        with self._auditing_failure(principal, "redact"):
            if not isinstance(source, Source):
                source = read_source(Path(source), self.settings)
            if as_pdf and source.media_type != "application/pdf":
                raise ConfigError(f"{source.name}: a redacted PDF can only be written from a PDF; "
                                  "write the redacted text instead (for example -o out.txt)")
            document = self.load(source)
        redacted = self.redact(document, principal)
        if as_pdf:
            data = write_redacted_pdf(source, document, redacted, self.settings)
        else:
            data = (redacted_text_output(redacted) + "\n").encode("utf-8")
        write_whole(destination, data)
        return redacted

    def _redact_batch(self, documents: Sequence[Document], tenant: str,
                      pseudonymizer: Pseudonymizer) -> list[RedactedDocument]:
        # Pages and fields (name, metadata values) of every document go to the detectors as one batch.
        fields = [field_texts(document) for document in documents]
        texts = [page.text for document in documents for page in document.pages]
        findings = iter(self.detect(texts + [text for texts_of in fields for text in texts_of]))
        page_findings_of = [[[replace_page(f, page.number) for f in next(findings)] for page in document.pages]
                            for document in documents]
        images = [page.image for document in documents for page in document.pages if page.image is not None]
        regions = iter(detect_image_regions(images, self.context))
        operators = self.operators
        out = []
        for document, detected, field_texts_of in zip(documents, page_findings_of, fields, strict=True):
            # Values found anywhere in the document (or known to its loader) are redacted everywhere in it.
            viewed, page_findings = with_known_values(document, detected)
            if any(page.image is not None for page in document.pages):
                page_regions = [next(regions) for page in document.pages if page.image is not None]
                redacted = redact_image_document(viewed, page_findings, page_regions, self.context, tenant=tenant,
                                                 pseudonymizer=pseudonymizer, operators=operators,
                                                 operator_for=self.settings.operator_for)
            else:
                redacted = redact_document(viewed, page_findings, tenant=tenant, pseudonymizer=pseudonymizer,
                                           operators=operators, operator_for=self.settings.operator_for)
            redacted = restore_originals(redacted, document) if viewed is not document else redacted
            # Pictures on pages (PDF images, scans, Word pictures): their text was redacted above.
            redacted = redact_placed_images(document, redacted, page_findings, self.context)
            out.append(redact_fields(redacted, document, [next(findings) for _ in field_texts_of],
                                     pseudonymizer=pseudonymizer, operators=operators,
                                     operator_for=self.settings.operator_for))
        return out

    def chunk(self, document: RedactedDocument) -> list[Chunk]:
        _require_redacted(document)
        return list(self.hook.docveil_chunk_document(document=document, context=self.context) or [])

    # Ingest

    def ingest(self, paths: str | Path | Source | Iterable[str | Path | Source], principal: Principal, *,
               acl: Acl = TENANT_WIDE,
               batch_size: int = INGEST_BATCH_SIZE, progress: ProgressCallback | None = None) -> IngestReport:
        """Load, redact, chunk, encode and store files (folders are walked) or ``Source``s
        (uploads). Each document is stored whole or not at all; a bad file is reported in
        ``failed`` and the rest go on.

        Files go through in batches of ``batch_size``, as a two-step pipeline: while one batch
        is encoded and stored (on a worker thread; the encoder and the database release the
        interpreter), the next one is loaded, detected and redacted."""
        self._authorize(principal, "ingest", {})
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        files = list(_expanded(paths))
        ingested: list[IngestedDocument] = []
        failed: list[Failure] = []
        encoder = self.text_encoder
        self._ensure_text_vectors(encoder)
        image_encoder = self.image_encoder
        if image_encoder is not None:
            self._ensure_image_vectors(image_encoder)
        done = 0

        def collect(batch: Future[tuple[list[IngestedDocument], list[Failure]]], size: int) -> None:
            nonlocal done
            ok, bad = batch.result()
            ingested.extend(ok)
            failed.extend(bad)
            done += size
            if progress:
                progress("ingest", done, len(files))

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="docveil-ingest") as writer:
            pending: tuple[Future[tuple[list[IngestedDocument], list[Failure]]], int] | None = None
            try:
                for start in range(0, len(files), batch_size):
                    batch = files[start:start + batch_size]
                    loaded: list[Document] = []
                    for path, folder in batch:
                        try:
                            if isinstance(path, Path) and path.is_dir() and not path.is_symlink():
                                raise LoadError(source_name(path), "a folder that cannot be read (permission denied)"
                                                if not os.access(path, os.R_OK | os.X_OK) else
                                                "a folder with no file to ingest in it (hidden files and folders "
                                                "are skipped)")
                            if isinstance(path, Source):  # checked and sniffed again by load
                                loaded.append(self.load(path))
                            else:  # read_source has checked and sniffed it
                                source = read_source(path, self.settings, within=folder)
                                loaded.append(load_document(source, self.context))
                        except DocveilError as exc:
                            name = path.name if isinstance(path, Source) else source_name(path) or repr(path)
                            failed.append(_failure(name, exc))
                    # Without OCR the text written in a picture is not redacted: such pictures
                    # are not embedded either (docs/images.md).
                    prepared, duplicates, bad = self._prepare_documents(
                        loaded, principal, acl, pictures=image_encoder is not None and self.settings.image_ocr)
                    ingested.extend(duplicates)
                    failed.extend(bad)
                    if pending is not None:
                        collect(*pending)
                    pending = (writer.submit(self._encode_and_store, prepared, principal, acl, encoder, image_encoder),
                               len(batch))
                if pending is not None:
                    collect(*pending)
                    pending = None
            finally:
                if pending is not None:  # an error above: let the batch in flight finish first
                    pending[0].exception()
        if failed:
            with self._transaction(principal) as conn:
                self._audit(conn, principal, audit.AuditEvent(
                    "ingest", outcome="error", counts={"failed": len(failed)}))
        return IngestReport(tuple(ingested), tuple(failed))

    def _prepare_documents(self, documents: Sequence[Document], principal: Principal, acl: Acl, *,
                           pictures: bool = False,
                           ) -> tuple[list[_Prepared], list[IngestedDocument], list[Failure]]:
        """Skip content already stored (reporting its ACL where it differs from ``acl``, which
        is not applied to it), then redact and chunk the rest (and gather their pictures, with
        ``pictures``)."""
        tenant = principal.tenant
        duplicates: list[IngestedDocument] = []
        failed: list[Failure] = []
        if not documents:
            return [], duplicates, failed
        with self._transaction(principal) as conn:
            pseudonymizer = self._pseudonymizer(conn, tenant)
            hash_key = derive_key(self.keyring.current(conn, tenant, PSEUDONYM).key, "content-hash")
            hashes = {id(d): hmac_sha256(hash_key, d.content_hash.encode()).hex() for d in documents}
            existing = repository.existing_hashes(conn, principal, list(hashes.values()))
        fresh: list[Document] = []
        copies: dict[str, list[str]] = {}
        for document in documents:
            digest = hashes[id(document)]
            known = existing.get(digest)
            if known:
                known_id, known_acl = known
                duplicates.append(IngestedDocument(known_id, document.source, document.page_count, 0, 0, duplicate=True,
                                                   kept_acl=None if known_acl == acl else known_acl))
            elif digest in copies:
                copies[digest].append(document.source)
            else:
                fresh.append(document)
                copies[digest] = []
        prepared = []
        for document, redacted in self._redact_isolating_failures(fresh, tenant, pseudonymizer):
            digest = hashes[id(document)]
            try:
                if isinstance(redacted, DocveilError):
                    raise redacted
                prepared.append(_Prepared(redacted, digest, tuple(self.chunk(redacted)),
                                          redacted.pictures() if pictures else (), tuple(copies[digest])))
            except DocveilError as exc:  # its redaction or its chunking failed
                failed.extend(_failure(source, exc) for source in (document.source, *copies[digest]))
        return prepared, duplicates, failed

    def _encode_and_store(self, prepared: Sequence[_Prepared], principal: Principal, acl: Acl,
                          encoder: TextEncoder, image_encoder: ImageEncoder | None = None,
                          ) -> tuple[list[IngestedDocument], list[Failure]]:
        ingested: list[IngestedDocument] = []
        failed: list[Failure] = []
        vectors = encoder.encode([c.text for p in prepared for c in p.chunks])
        picture_vectors = self._encode_pictures(prepared, image_encoder)
        offset = 0
        for item in prepared:
            doc_vectors = vectors[offset:offset + len(item.chunks)]
            offset += len(item.chunks)
            try:
                pictures = picture_vectors[id(item)]
                if isinstance(pictures, DocveilError):
                    raise pictures
                stored = self._store(item, doc_vectors, pictures, principal, acl)
                ingested.append(stored)
                known, known_acl = stored.document_id, acl
                copies = item.copies
            except psycopg.errors.UniqueViolation as exc:
                if exc.diag.constraint_name != repository.SAME_CONTENT_CONSTRAINT:
                    failed.extend(_failure(source, exc) for source in (item.document.source, *item.copies))
                    continue
                # The same content stored meanwhile (by the batch before, or another process).
                with self._transaction(principal) as conn:
                    other = repository.existing_hashes(conn, principal, [item.content_hash]).get(item.content_hash)
                known, known_acl = other or ("", acl)
                copies = (item.document.source, *item.copies)
            except (DocveilError, psycopg.Error) as exc:
                failed.extend(_failure(source, exc) for source in (item.document.source, *item.copies))
                continue
            ingested.extend(IngestedDocument(known, source, item.document.page_count, 0, 0, duplicate=True,
                                             kept_acl=None if known_acl == acl else known_acl)
                            for source in copies)
        return ingested, failed

    @staticmethod
    def _encode_pictures(prepared: Sequence[_Prepared], encoder: ImageEncoder | None
                         ) -> dict[int, np.ndarray | DocveilError]:
        """Each document's picture vectors (by ``id``), in one batch; when the batch fails, each
        document alone, so that the document at fault fails and the others are stored."""
        out: dict[int, np.ndarray | DocveilError] = {}
        if encoder is None:
            return {id(item): np.zeros((0, 0), dtype=np.float32) for item in prepared}
        try:
            with encoder_errors("the image encoder"):
                vectors = encoder.encode_images([p.image for item in prepared for p in item.pictures])
        except DocveilError as failure:
            if len(prepared) == 1:
                return {id(prepared[0]): failure}
            for item in prepared:
                out.update(Engine._encode_pictures([item], encoder))
            return out
        offset = 0
        for item in prepared:
            out[id(item)] = vectors[offset:offset + len(item.pictures)]
            offset += len(item.pictures)
        return out

    def _redact_isolating_failures(self, documents: Sequence[Document], tenant: str, pseudonymizer: Pseudonymizer,
                                   ) -> Iterator[tuple[Document, RedactedDocument | DocveilError]]:
        """Each document with its redaction, or with the error that stopped it: one bad document
        (or a plugin failing on it) does not stop the others."""
        try:
            yield from zip(documents, self._redact_batch(documents, tenant, pseudonymizer), strict=True)
            return
        except DocveilError as exc:
            if len(documents) == 1:
                yield documents[0], exc
                return
        for document in documents:  # find the culprit; the others still go through
            yield from self._redact_isolating_failures([document], tenant, pseudonymizer)

    def _store(self, item: _Prepared, vectors: np.ndarray, picture_vectors: np.ndarray, principal: Principal,
               acl: Acl) -> IngestedDocument:
        document, tenant = item.document, principal.tenant
        _require_redacted(document)
        _require_finite(vectors, "the text encoder")
        _require_finite(picture_vectors, "the image encoder")
        if not document.redacted_source:
            raise UnredactedContentError(f"{document.source}: its name and metadata were not redacted "
                                         "(stages.redact.fields.redact_fields)")
        document_id = str(uuid.uuid4())
        with self.database.transaction(tenant) as conn:  # committed at once: no store waits on the counters
            ids = repository.reserve_ids(conn, tenant, chunks=len(item.chunks), images=len(item.pictures))
        with self._transaction(principal) as conn:
            locks.document_store(conn, tenant)  # a forget running now finishes first (store/locks.py)
            data_key = self.keyring.current(conn, tenant, DATA)

            def seal(value: str, field: str) -> bytes:
                return encrypt_field(data_key.key, value, tenant=tenant, owner=document_id, field=field,
                                     key_version=data_key.version)

            import json

            repository.insert_document(conn, repository.DocumentRow(
                id=document_id, tenant=tenant, content_hash=item.content_hash, media_type=document.media_type,
                page_count=document.page_count, chunk_count=len(item.chunks),
                finding_count=len(document.manifest) + len(document.regions),
                source_enc=seal(document.redacted_source, "source"),
                metadata_enc=seal(json.dumps(dict(document.metadata), sort_keys=True), "metadata"),
                key_version=data_key.version, owner_user=principal.user,
                acl_users=tuple(sorted(acl.users)), acl_roles=tuple(sorted(acl.roles)),
                manifest=([record.as_dict() for record in document.manifest]
                          + [region.as_dict() for region in document.regions])))
            repository.insert_chunks(conn, tenant, document_id, item.chunks, vectors,
                                     sorted(acl.users), sorted(acl.roles), ids.first_chunk)
            repository.insert_images(conn, tenant, document_id, item.pictures, picture_vectors,
                                     sorted(acl.users), sorted(acl.roles), ids.first_image)
            self.vault.store(conn, tenant, document.pseudonyms)
            repository.link_subjects(conn, tenant, document_id, sorted({p.digest for p in document.pseudonyms}))
            self._audit(conn, principal, audit.AuditEvent(
                "ingest", targets=(document_id,),
                counts={"pages": document.page_count, "chunks": len(item.chunks), "findings": len(document.manifest),
                        "regions": len(document.regions), "images": len(item.pictures)}))
        return IngestedDocument(document_id, document.source, document.page_count, len(item.chunks),
                                len(document.manifest) + len(document.regions), images=len(item.pictures))

    # Search

    def search(self, query: str, principal: Principal, k: int = 10) -> list[Hit]:
        """Hybrid search over the chunks ``principal`` may read: nearest vectors, full text and,
        when an image model is set, the nearest pictures (each ranking the chunk of its page
        nearest to the query), fused by reciprocal rank. Personal data in the query is replaced
        by the tenant's pseudonyms before it is embedded."""
        _require_k(k, 1000)
        _require_query(query)
        # Without OCR no picture is embedded (ingest), so there are none to rank.
        image_encoder = self.image_encoder if self.settings.image_ocr else None
        self._authorize(principal, "search", {} if image_encoder is None else {"index": "chunks+images"})
        encoder = self.text_encoder
        self._ensure_text_vectors(encoder)
        if image_encoder is not None:
            self._ensure_image_vectors(image_encoder)
        # A failure is audited once the search's transaction has ended (its connection returned).
        with self._auditing_failure(principal, "search"), self._transaction(principal) as conn:
            redacted_query = self.pseudonymize_query(conn, query, principal.tenant)
            vector = self._encode_query(encoder, redacted_query)
            picture_vector = None
            if image_encoder is not None:
                with encoder_errors("the image encoder"):
                    picture_vector = image_encoder.encode_texts([redacted_query])[0]
            hits = self.retrieve(conn, principal, redacted_query, vector, k, picture_vector=picture_vector)
            self._audit_search(conn, principal, query, hits, k, pictures=picture_vector is not None)
        return hits

    def _encode_query(self, encoder: TextEncoder, query: RedactedText) -> np.ndarray:
        """One query's vector; queries of concurrent searches share a forward pass."""
        # Made outside the lock: the first call may export the model (seconds), and other
        # searches' query detection takes the same lock.
        fast = query_encoder_for(encoder, self.context) if self._query_encoder is None else None
        with self._lock:
            if self._query_encoder is None and fast is not None and not self._closed:
                self._query_encoder = (encoder, CoalescingEncoder(fast))
            source, coalescing = self._query_encoder or (None, None)
        if coalescing is None or source is not encoder:
            # An encoder plugin that hands out a new object per call: nothing to share.
            return encoder.encode([query])[0]
        return coalescing.encode_one(query)

    def retrieve(self, conn: psycopg.Connection, principal: Principal, query: RedactedText,
                 vector: np.ndarray, k: int, *, picture_vector: np.ndarray | None = None) -> list[Hit]:
        """The retrieval half of :meth:`search`, inside the caller's tenant transaction, for a
        query that is already pseudonymised and embedded (``picture_vector``: by the image
        model's text tower, to rank pictures too)."""
        _require_finite(vector, "the text encoder")
        if picture_vector is not None:
            _require_finite(picture_vector, "the image encoder")
        # Tokens match by their digest: their type word ("person") would match every token.
        digests = [match.group(2) for match in TOKEN_PATTERN.finditer(query.text)]
        words = TOKEN_PATTERN.sub(" ", query.text)
        rows = repository.search_chunks(conn, principal, vector, words, digests, k, picture_vector)
        sources = self._decrypt_sources(conn, principal.tenant, rows)
        return [Hit(document_id=row.document_id, chunk_id=row.chunk_id, source=sources[row.document_id],
                    page=row.page, bbox=BBox(*row.bbox) if row.bbox else None, score=row.score,
                    text=row.text) for row in rows]

    def _audit_search(self, conn: psycopg.Connection, principal: Principal, query: str,
                      hits: Sequence[Hit], k: int, *, pictures: bool) -> None:
        keys = self._audit_keys(conn, principal.tenant)
        self._audit(conn, principal, audit.AuditEvent(
            "search", counts={"k": k, "hits": len(hits)},
            hashes={"query": audit.keyed_hash(keys.mac_key, query),
                    "results": audit.keyed_hash(keys.mac_key, [str(h.chunk_id) for h in hits])},
            extra={"index": "chunks+images"} if pictures else {}), keys)

    def search_images(self, query: str | None, principal: Principal, k: int = 10, *,
                      image: bytes | Path | None = None) -> list[ImageHit]:
        """The pictures ``principal`` may see that are nearest to a text ``query`` (through the
        image model's text tower) or to ``image`` (a picture, redacted like any image first),
        nearest first. Needs an image encoder (``image_model``). Audited as a search."""
        _require_k(k, 1000)
        if (query is None) == (image is None):
            raise ValueError("search_images takes a text query or an image, not both or neither")
        if query is not None:
            _require_query(query)
        self._authorize(principal, "search", {"index": "images"})
        encoder = self.image_encoder
        if encoder is None:
            raise ConfigError("image search needs an image encoder: set image_model (DOCVEIL_IMAGE_MODEL) "
                              "to a CLIP or SigLIP model folder")
        self._ensure_image_vectors(encoder)
        tenant = principal.tenant
        if image is not None:
            # Redacted (OCR, faces: seconds) outside the search's transaction, as ask does.
            with self._transaction(principal) as conn:
                pseudonymizer = self._pseudonymizer(conn, tenant)
            with self._auditing_failure(principal, "search"):
                picture = self._redact_attachment(image, pseudonymizer, "query picture")
                with encoder_errors("the image encoder"):
                    vector = encoder.encode_images([picture])[0]
            query_digest = hashlib.sha256(picture.pixels.tobytes()).hexdigest()
        with self._auditing_failure(principal, "search"), self._transaction(principal) as conn:
            if query is not None:
                redacted_query = self.pseudonymize_query(conn, query, tenant)
                with encoder_errors("the image encoder"):
                    vector = encoder.encode_texts([redacted_query])[0]
                query_digest = query
            hits = self.retrieve_images(conn, principal, vector, k)
            self._audit_picture_search(conn, principal, query_digest, hits, k, "text" if query is not None else "image")
        return hits

    def retrieve_images(self, conn: psycopg.Connection, principal: Principal, vector: np.ndarray,
                        k: int) -> list[ImageHit]:
        """The retrieval half of :meth:`search_images`, inside the caller's tenant transaction,
        for a query that is already embedded."""
        _require_finite(vector, "the image encoder")
        rows = repository.search_images(conn, principal, vector, k)
        sources = self._decrypt_sources(conn, principal.tenant, rows)
        return [ImageHit(document_id=row.document_id, image_id=row.image_id, source=sources[row.document_id],
                         page=row.page, kind=row.kind, bbox=BBox(*row.bbox) if row.bbox else None,
                         width=row.width, height=row.height, score=row.similarity) for row in rows]

    def _audit_picture_search(self, conn: psycopg.Connection, principal: Principal, query_digest: str,
                              hits: Sequence[ImageHit], k: int, query_kind: str) -> None:
        keys = self._audit_keys(conn, principal.tenant)
        self._audit(conn, principal, audit.AuditEvent(
            "search", counts={"k": k, "hits": len(hits)},
            hashes={"query": audit.keyed_hash(keys.mac_key, query_digest),
                    "results": audit.keyed_hash(keys.mac_key, [f"image:{h.image_id}" for h in hits])},
            extra={"index": "images", "query": query_kind}), keys)

    def pseudonymize_query(self, conn: psycopg.Connection, query: str, tenant: str) -> RedactedText:
        """Replace personal data in a query by the tenant's tokens: detected entities, plus word
        sequences that name a subject already in the vault (names a detector may miss)."""
        pseudonymizer = self._pseudonymizer(conn, tenant)
        findings = self._detect_query(query)
        words = list(_WORD.finditer(query))
        candidates: dict[str, tuple[int, int]] = {}
        for i in range(len(words)):
            for j in range(i, min(i + _MAX_NGRAM, len(words))):
                start, end = words[i].start(), words[j].end()
                for entity_type in _QUERY_LOOKUP_TYPES:
                    candidates.setdefault(pseudonymizer.digest(query[start:end], entity_type), (start, end))
        known = self.vault.known_tokens(conn, candidates)
        findings.extend(Finding(entity_type, *candidates[digest], 1.0, "vault")
                        for digest, (_, entity_type) in known.items())
        text, _, _ = redact_text(query, resolve_overlaps(findings), pseudonymizer=pseudonymizer,
                                 operators=self.operators, operator_for=lambda _type: "pseudonym")
        return text

    def _detect_query(self, query: str) -> list[Finding]:
        """Findings in one query; queries of concurrent searches share one detection batch."""
        with self._lock:
            if self._query_detector is None and not self._closed:
                self._query_detector = Coalescer(self.detect, name="query detector")
            detector = self._query_detector
        return list(detector.submit(query) if detector is not None else self.detect([query])[0])

    def _decrypt_sources(self, conn: psycopg.Connection, tenant: str,
                         rows: Sequence[repository.ChunkRow | repository.ImageRow]) -> dict[str, str]:
        keys: dict[int, bytes] = {}

        def key_for(version: int) -> bytes:
            if version not in keys:
                keys[version] = self.keyring.version(conn, tenant, DATA, version).key
            return keys[version]

        sources: dict[str, str] = {}
        for row in rows:
            if row.document_id not in sources:
                sources[row.document_id] = decrypt_field(key_for, bytes(row.source_enc), tenant=tenant,
                                                         owner=row.document_id, field="source").decode("utf-8")
        return sources

    def reidentify(self, tokens: Iterable[str], principal: Principal) -> dict[str, str]:
        """Resolve pseudonym tokens to the original values (``reidentify`` role; audited).
        Tokens of forgotten subjects stay unresolved."""
        wanted = sorted(set(tokens))
        self._authorize(principal, "reidentify", {})
        with self._transaction(principal) as conn:
            resolved = self.vault.resolve(conn, principal.tenant, wanted)
            keys = self._audit_keys(conn, principal.tenant)
            self._audit(conn, principal, audit.AuditEvent(
                "reidentify", counts={"requested": len(wanted), "resolved": len(resolved)},
                hashes={"tokens": audit.keyed_hash(keys.mac_key, wanted)}), keys)
        return resolved

    # Ask

    def ask(self, question: str, principal: Principal, *, k: int = 5,
            image: bytes | Path | None = None) -> Answer:
        """Answer ``question`` from the passages ``principal`` may read, with citations.

        The question is pseudonymised with the tenant's key before any answerer sees it; the
        answerer (``settings.answerer``, through the ``docveil_answer`` hook) gets only redacted
        passages, and ``image`` only after image redaction. Personal data in the answer that its
        passages do not hold is redacted; tokens are resolved for principals with the
        ``reidentify`` role. Audited (hashes, ids and counts only)."""
        answer = None
        for event in self.ask_stream(question, principal, k=k, image=image):
            if isinstance(event, Answer):
                answer = event
        assert answer is not None  # ask_stream always ends with the Answer
        return answer

    def ask_stream(self, question: str, principal: Principal, *, k: int = 5,
                   image: bytes | Path | None = None) -> Generator[AnswerDelta | Answer, None, None]:
        """:meth:`ask`, streamed: ``AnswerDelta`` pieces of guarded text as the answerer writes
        them (a line or sentence at a time), then the ``Answer``. Checks, retrieval and
        redaction happen before this returns, so their errors are raised here; the answerer
        runs while the stream is read. Closing the stream early stops the answerer."""
        _require_query(question, "question")
        _require_k(k, 100)
        self._authorize(principal, "ask", {})
        started = time.monotonic()
        hits = self.search(question, principal, k=k)
        tenant = principal.tenant
        with self._transaction(principal) as conn:
            pseudonymizer = self._pseudonymizer(conn, tenant)
            redacted_question = self.pseudonymize_query(conn, question, tenant)
        attachment = self._redact_attachment(image, pseudonymizer) if image is not None else None
        request, used = build_request(redacted_question, hits, self.settings.ask_max_context_chars, attachment)
        resolved: dict[str, str] = {}
        # Asked without auditing a denial: the principal did not ask to re-identify.
        if authorize(self.hook, self.context, principal, "reidentify", {}):
            with self._transaction(principal) as conn:
                resolved = self.vault.resolve(conn, tenant, sorted(context_tokens(request)))
        generation = self.hook.docveil_answer(request=request, context=self.context)
        if generation is None:
            raise ConfigError(f"no plugin provides the answerer {self.settings.answerer!r} (setting "
                              "answerer; built in: extractive, openai, transformers)")
        if not isinstance(generation, Generation):
            raise PluginError(f"docveil_answer returned {type(generation).__name__}, not a Generation")
        guard = OutputGuard(self.detect, pseudonymizer, guard_context(request))
        run = AskRun(request, used, generation, guard, resolved)
        stream = self._stream_answer(run, principal, k, started)
        next(stream)  # to its first yield, so that a stream closed before it is read is audited
        return cast(Generator[AnswerDelta | Answer, None, None], stream)

    def _stream_answer(self, run: AskRun, principal: Principal, k: int,
                       started: float) -> Generator[AnswerDelta | Answer | None, None, None]:
        deltas = run.deltas()
        try:
            yield None  # taken by ask_stream; the answerer starts at the reader's first next()
            for text in deltas:
                yield AnswerDelta(text)
        except BaseException as exc:
            deltas.close()  # stops the answerer first when the reader left
            self._audit_ask(run, principal, k, started, "cancelled" if isinstance(exc, GeneratorExit) else "error")
            raise
        answer = run.answer()
        self._audit_ask(run, principal, k, started, "ok")
        yield answer

    def _audit_ask(self, run: AskRun, principal: Principal, k: int, started: float, outcome: str) -> None:
        citations = run.citations(all_if_none=outcome == "ok")
        with self._transaction(principal) as conn:
            keys = self._audit_keys(conn, principal.tenant)
            if run.disclosed:
                disclosed = sorted(run.disclosed)
                self._audit(conn, principal, audit.AuditEvent(
                    "reidentify", counts={"requested": len(disclosed), "resolved": len(disclosed)},
                    hashes={"tokens": audit.keyed_hash(keys.mac_key, disclosed)}, extra={"via": "ask"}), keys)
            self._audit(conn, principal, audit.AuditEvent(
                "ask", outcome=outcome, targets=tuple(str(c.chunk_id) for c in citations),
                counts={"k": k, "passages": len(run.request.passages), "cited": len(citations),
                        "guarded": run.guard.redacted, "reidentified": len(run.disclosed),
                        "latency_ms": int((time.monotonic() - started) * 1000)},
                hashes={"question": audit.keyed_hash(keys.mac_key, run.request.question.text),
                        "answer": audit.keyed_hash(keys.mac_key, run.text)},
                extra={"answerer": self.settings.answerer[:64], "model": run.generation.model[:200],
                       "extractive": run.generation.extractive, "image": run.request.image is not None}), keys)

    def _redact_attachment(self, image: str | bytes | Path, pseudonymizer: Pseudonymizer,
                           name: str = "image attachment") -> RedactedImage:
        """The image given to ``ask`` (or a picture search), loaded with the usual checks and
        redacted like any image; ``name`` names bytes in errors."""
        try:
            from docveil.stages.redact.image import redact_image
        except ImportError:
            raise ConfigError("image attachments need the image-redaction stage "
                              "(docveil.stages.redact.image), which is not available: ask without "
                              "an image") from None
        if isinstance(image, (str, Path)):
            source = read_source(Path(image), self.settings)
        elif isinstance(image, (bytes, bytearray, memoryview)):
            source = source_from_bytes(name, bytes(image), self.settings)
        else:
            raise TypeError("image must be bytes or a path")
        document = load_document(source, self.context)
        pages = [page.image for page in document.pages if page.image is not None]
        if not document.media_type.startswith("image/") or len(pages) != 1:
            raise LoadError(source.name, "must be one picture (PNG, JPEG, WebP, ...)")
        return redact_image(pages[0].pixels, self.context, pseudonymizer=pseudonymizer, words=pages[0].words)

    # Fine-tuning

    def finetune_image_model(self, pairs: Iterable[tuple[str | Path | bytes, str]], principal: Principal,
                             output: str | Path, *, epochs: int = 3, batch_size: int = 32,
                             learning_rate: float = 1e-5, seed: int = 0,
                             on_epoch: EpochCallback | None = None) -> TrainingResult:
        """Fine-tune the configured ``image_model`` on ``(picture, caption)`` pairs (a picture is
        a path or bytes) and save the result to ``output``, a new folder to use as
        ``image_model`` (docs/images.md). Pictures are redacted like any image and captions
        pseudonymised with the tenant's key before training sees them, so the model learns
        the tenant's tokens, as search queries use them, and never a name. A pair whose picture
        cannot be loaded or whose caption is empty is left out and reported. ``admin`` only;
        audited (``model.train``)."""
        self._authorize(principal, "model.train", {})
        if not self.settings.image_model:
            raise ConfigError("fine-tuning starts from an image model: set image_model (DOCVEIL_IMAGE_MODEL)")
        if not self.settings.image_ocr:
            raise ConfigError("fine-tuning needs image_ocr: without OCR the text written in a picture is not "
                              "found, and a model would learn it")
        # Everything that can be refused is, before hours of redaction.
        check_run(Path(output), epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
        with self._auditing_failure(principal, "model.train"):
            base = load_two_tower(self.settings.image_model)
        tenant = principal.tenant
        with self._transaction(principal) as conn:
            pseudonymizer = self._pseudonymizer(conn, tenant)
        pictures: list[RedactedImage] = []
        captions: list[str] = []
        failed: list[Failure] = []
        for index, (image, caption) in enumerate(pairs, 1):
            name = source_name(Path(image)) if isinstance(image, (str, Path)) else f"pair {index}"
            if not isinstance(caption, str) or not caption.strip() or "\x00" in caption:
                failed.append(Failure(name, "its caption is empty or not text", "ValueError"))
                continue
            try:
                pictures.append(training_picture(self._redact_attachment(image, pseudonymizer, name)))
            except DocveilError as exc:
                failed.append(_failure(name, exc))
                continue
            captions.append(caption)
        with self._transaction(principal) as conn:
            redacted = [self.pseudonymize_query(conn, caption, tenant) for caption in captions]
        with self._auditing_failure(principal, "model.train"):
            result = fit(base, pictures, redacted, Path(output),
                         plan=plan_device(self.settings.device), epochs=epochs, batch_size=batch_size,
                         learning_rate=learning_rate, seed=seed, on_epoch=on_epoch)
        with self._transaction(principal) as conn:
            keys = self._audit_keys(conn, tenant)
            self._audit(conn, principal, audit.AuditEvent(
                "model.train", counts={"pairs": result.pairs, "failed": len(failed), "epochs": result.epochs,
                                       "steps": result.steps},
                hashes={"output": audit.keyed_hash(keys.mac_key, str(Path(output).resolve()))},
                extra={"model": Path(self.settings.image_model).name[:200]}), keys)
        return replace(result, failed=tuple(failed))

    # Documents

    def documents(self, principal: Principal, *, limit: int = 1000, offset: int = 0) -> list[DocumentInfo]:
        """The documents ``principal`` may read, newest first, with decrypted metadata."""
        if limit < 1 or offset < 0:
            raise ValueError("limit must be positive and offset not negative")
        self._authorize(principal, "documents.list", {})
        with self._transaction(principal) as conn:
            rows = repository.visible_documents(conn, principal, limit=limit, offset=offset)
            infos = [self._document_info(conn, principal.tenant, row) for row in rows]
            self._audit(conn, principal, audit.AuditEvent("documents.list", counts={"documents": len(infos)}))
        return infos

    def _document_info(self, conn: psycopg.Connection, tenant: str, row: tuple) -> DocumentInfo:
        import json

        (document_id, media_type, pages, chunks, findings, owner, acl_users, acl_roles,
         source_enc, metadata_enc, created_at) = row
        open_field = self._field_opener(conn, tenant, document_id)
        return DocumentInfo(
            document_id=document_id, source=open_field(source_enc, "source"), media_type=media_type,
            pages=pages, chunks=chunks, findings=findings, owner=owner,
            acl=Acl(users=frozenset(acl_users), roles=frozenset(acl_roles)),
            metadata=json.loads(open_field(metadata_enc, "metadata")), created_at=created_at.isoformat())

    def _field_opener(self, conn: psycopg.Connection, tenant: str, owner: str) -> Callable[[bytes, str], str]:
        def open_field(blob: bytes, field: str) -> str:
            return decrypt_field(lambda version: self.keyring.version(conn, tenant, DATA, version).key,
                                 bytes(blob), tenant=tenant, owner=owner, field=field).decode("utf-8")
        return open_field

    def _owned_document(self, principal: Principal, document_id: str, action: str) -> None:
        """Authorise ``action`` on a document by its owner; outside any transaction, since a
        denial is audited in a transaction of its own."""
        owner, visible = None, False
        if _is_uuid(document_id):
            with self._transaction(principal) as conn:
                owner = repository.document_owner(conn, document_id)
                visible = owner is not None and bool(repository.visible_documents(conn, principal, document_id))
        missing = NotFoundError(f"document {document_id} does not exist in tenant {principal.tenant}")
        if owner is None:
            raise missing
        try:
            self._authorize(principal, action, {"owner": owner, "document_id": document_id})
        except AccessDeniedError:
            # The denial is audited; a document the principal may not even read does not exist for them.
            if not visible:
                raise missing from None
            raise

    def set_acl(self, document_id: str, acl: Acl, principal: Principal) -> None:
        """Change who may read a document (its owner or an admin); applies to all its chunks and pictures."""
        self._owned_document(principal, document_id, "acl.change")
        with self._transaction(principal) as conn:
            if not repository.set_acl(conn, document_id, sorted(acl.users), sorted(acl.roles)):
                raise NotFoundError(f"document {document_id} does not exist in tenant {principal.tenant}")
            self._audit(conn, principal, audit.AuditEvent(
                "acl.change", targets=(document_id,), counts={"users": len(acl.users), "roles": len(acl.roles)}))

    def delete_document(self, document_id: str, principal: Principal) -> None:
        """Delete a document with its chunks and pictures (its owner or an admin)."""
        self._owned_document(principal, document_id, "documents.delete")
        with self._transaction(principal) as conn:
            if not repository.delete_document(conn, document_id):
                raise NotFoundError(f"document {document_id} does not exist in tenant {principal.tenant}")
            self._audit(conn, principal, audit.AuditEvent("documents.delete", targets=(document_id,)))

    # Forget

    def forget(self, subject: str | Sequence[str], principal: Principal, *,
               delete_documents: bool = False) -> ForgetResult:
        """Crypto-shred a data subject: destroy their vault entries and key, take their token out
        of every chunk (re-embedded), and optionally delete documents that only concern them.

        ``subject`` is one value or several naming the same person (``["Jane Roe",
        "jane@example.org"]``): each is a subject of its own in the vault, and a document that
        names only them is deleted only when all of them are forgotten together."""
        subjects = [subject] if isinstance(subject, str) else list(subject)
        if not subjects or not all(isinstance(value, str) and value.strip() for value in subjects):
            raise ValueError("forget needs at least one non-empty value naming the subject")
        self._authorize(principal, "forget", {})
        encoder = self.text_encoder
        with self._transaction(principal) as conn:
            # Alone among forgets and document stores of the tenant: every chunk committed
            # before is seen, and none is stored meanwhile (store/locks.py).
            locks.forget(conn, principal.tenant)
            pseudonymizer = self._pseudonymizer(conn, principal.tenant)
            # Each value in every namespace the vault holds: a phone number or an IBAN is a
            # subject too, and a name has one digest whether it was found as a person or a place.
            entity_types = self.vault.entity_types(conn) | set(_QUERY_LOOKUP_TYPES)
            digests = {pseudonymizer.digest(value, entity_type) for value in subjects for entity_type in entity_types}
            found = self.vault.known_tokens(conn, digests)
            linked = repository.subject_documents(conn, sorted(found))
            shredded = {subject_key(entity_type, digest) for digest, (_, entity_type) in found.items()}
            chunks = self._chunks_with_tokens(conn, shredded)
            # Documents first, in id order, as ACL changes, deletes and re-encryption lock them.
            repository.lock_documents(conn, sorted({*linked, *(document_id for _, document_id, _ in chunks)}))
            result = self.vault.forget(conn, sorted(found), delete_documents=delete_documents)
            rewritten = self._scrub_tokens(conn, chunks, shredded, encoder)
            self._scrub_fields(conn, principal.tenant, linked, shredded)
            self._audit(conn, principal, audit.AuditEvent(
                "forget", outcome="ok" if found else "not_found",
                counts={"values": len(subjects), "vault_entries": result.vault_entries,
                        "documents_deleted": result.documents_deleted, "chunks_rewritten": rewritten}))
        return result

    @staticmethod
    def _chunks_with_tokens(conn: psycopg.Connection, subjects: Collection[tuple[str, str]]
                            ) -> list[tuple[int, str, str]]:
        """(id, document id, text) of the chunks that may hold a token of ``subjects``."""
        if not subjects:
            return []
        return [(row[0], str(row[1]), row[2]) for row in conn.execute(
            "SELECT id, document_id, text FROM chunks WHERE text LIKE ANY(%s) ORDER BY id",
            [sorted({f"%\\_{short}>%" for short, _ in subjects})])]

    def _scrub_tokens(self, conn: psycopg.Connection, rows: Sequence[tuple[int, str, str]],
                      subjects: Collection[tuple[str, str]], encoder: TextEncoder) -> int:
        changed = [(chunk_id, scrubbed) for chunk_id, _, text in rows
                   if (scrubbed := remove_tokens(text, subjects)) != text]
        if not changed:
            return 0
        texts = [text for _, text in changed]
        vectors = encoder.encode([RedactedText(t) for t in texts])
        _require_finite(vectors, "the text encoder")
        with conn.cursor() as cur:
            from pgvector import Vector

            cur.executemany("UPDATE chunks SET text = %s, embedding = %s WHERE id = %s",
                            [(text, Vector(v), chunk_id) for (chunk_id, text), v in zip(changed, vectors, strict=True)])
        return len(changed)

    def _scrub_fields(self, conn: psycopg.Connection, tenant: str, document_ids: Sequence[str],
                      subjects: Collection[tuple[str, str]]) -> None:
        """Take the tokens out of the (encrypted) names and metadata of the documents left."""
        if not subjects or not document_ids:
            return
        data_key = self.keyring.current(conn, tenant, DATA)

        def scrub(blob: bytes, owner: str, field: str) -> bytes:
            text = remove_tokens(self._field_opener(conn, tenant, owner)(blob, field), subjects)
            return encrypt_field(data_key.key, text, tenant=tenant, owner=owner, field=field,
                                 key_version=data_key.version)

        for document_id, source_enc, metadata_enc in repository.document_fields(conn, document_ids):
            repository.set_document_fields(conn, document_id, scrub(source_enc, document_id, "source"),
                                           scrub(metadata_enc, document_id, "metadata"), data_key.version)

    # Audit review (auditor or admin role)

    def audit_verify(self, principal: Principal) -> audit.VerifyResult:
        """Check the tenant's whole audit chain, its MACs, checkpoints and head."""
        self._authorize(principal, "audit.read", {})
        with self._transaction(principal) as conn:
            keys = self._audit_keys(conn, principal.tenant)  # keys made now are audited and committed
        # One snapshot and no lock: this tenant's actions go on while a long log is read.
        with self.database.transaction(principal.tenant, snapshot=True) as conn:
            result = audit.verify_log(conn, keys, require_records=True)
        with self._transaction(principal) as conn:
            self._audit(conn, principal, audit.AuditEvent(
                "audit.verify", outcome="ok" if result.ok else "broken", counts={"records": result.records}))
        return result

    def audit_verify_key(self, principal: Principal) -> bytes:
        """The tenant's Ed25519 public key (raw bytes) that signs audit checkpoints; share it with
        reviewers so they can pin it when verifying an export."""
        from cryptography.hazmat.primitives import serialization

        self._authorize(principal, "audit.read", {})
        with self._transaction(principal) as conn:
            keys = self._audit_keys(conn, principal.tenant)
        return keys.verify_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def audit_mac_key(self, principal: Principal) -> bytes:
        """The tenant's secret audit MAC key (raw bytes; admin role; audited), for a reviewer who
        checks the MACs of an export offline (``verify_export(..., mac_key=...)``). Whoever holds
        it can recompute the MACs of records they forge; checkpoint signatures still catch a
        rewritten history."""
        self._authorize(principal, "audit.mac_key", {})
        with self._transaction(principal) as conn:
            keys = self._audit_keys(conn, principal.tenant)
            self._audit(conn, principal, audit.AuditEvent("audit.mac_key", extra={"fingerprint": keys.fingerprint}),
                        keys)
        return keys.mac_key

    def audit_records(self, principal: Principal, **filters: Any) -> list[audit.AuditRecord]:
        """Records filtered by ``since``, ``until``, ``user``, ``action``, ``outcome``, ``limit``."""
        self._authorize(principal, "audit.read", {})
        with self._transaction(principal) as conn:
            records = audit.fetch_records(conn, **filters)
            self._audit(conn, principal, audit.AuditEvent("audit.show", counts={"records": len(records)}))
        return records

    def audit_export(self, principal: Principal, out: TextIO, fmt: Literal["jsonl", "csv"] = "jsonl") -> int:
        """Write the tenant's log in a form that verifies independently (``verify_export``)."""
        self._authorize(principal, "audit.read", {})
        with self._transaction(principal) as conn:
            keys = self._audit_keys(conn, principal.tenant)
            # A fresh signed checkpoint at the head makes a truncated copy of the export detectable.
            audit.write_checkpoint(conn, principal.tenant, keys)
        with self.database.transaction(principal.tenant, snapshot=True) as conn:  # as audit_verify
            count = audit.export_tenant_log(conn, keys, fmt, out)
        with self._transaction(principal) as conn:
            self._audit(conn, principal, audit.AuditEvent("audit.export", counts={"records": count},
                                                          extra={"format": fmt}))
        return count

    # Keys (admin role)

    def rotate_kek(self, principal: Principal, *, batch_size: int = 500,
                   retire_old: bool = False) -> rotation.RotationResult:
        """Make a new key-encryption key current and re-wrap every tenant's data keys under it
        (no data is re-encrypted). Resumable and audited per tenant. With ``retire_old``, old KEKs
        no row of this database refers to are deleted: only do that when no other database
        shares this key provider."""
        self._authorize(principal, "keys.rotate", {})
        provider = self.keyring.ring.provider
        if not hasattr(provider, "rotate"):
            raise ConfigError(f"key provider {type(provider).__name__} rotates its own keys; "
                              "re-wrap with rotate_kek after it has switched")
        if self._unwrapped_under_old_kek() == 0:
            provider.rotate()
        rewrapped = 0
        with self.database.admin() as admin:
            tenants = rotation.tenants_with_keys(admin)
        for tenant in tenants:
            operator = Principal(tenant, principal.user, principal.roles)
            count = 0
            while True:
                with self._transaction(operator) as conn:
                    batch = rotation.rewrap_tenant_keys(conn, self.keyring, tenant, batch_size)
                    count += batch
                    if batch < batch_size:
                        self._audit(conn, operator, audit.AuditEvent(
                            "keys.rotate_kek", counts={"rewrapped": count}, extra={"kek": self.keyring.ring.kek_id}))
                        break
            rewrapped += count
        retired = []
        if retire_old and hasattr(provider, "retire") and hasattr(provider, "key_ids"):
            with self.database.admin() as admin, admin.transaction():
                # Keys being wrapped now are committed first and seen in use (store/locks.py).
                locks.key_wrapping(admin, exclusive=True)
                in_use = rotation.kek_ids_in_use(admin)
                for key_id in provider.key_ids()[1:]:
                    if key_id not in in_use:
                        provider.retire(key_id)
                        retired.append(key_id)
        self.keyring.ring.clear()
        return rotation.RotationResult(key_id=self.keyring.ring.kek_id, rewrapped=rewrapped, retired=tuple(retired))

    def _unwrapped_under_old_kek(self) -> int:
        with self.database.admin() as admin:
            return sum(1 for kek in rotation.kek_ids_in_use(admin) if kek != self.keyring.ring.kek_id)

    def rotate_data_key(self, principal: Principal, *, batch_size: int = 500) -> rotation.RotationResult:
        """New data key for the principal's tenant; re-encrypts metadata and subject keys in
        batches (each its own transaction). A rerun finishes an interrupted rotation."""
        self._authorize(principal, "keys.rotate", {})
        tenant = principal.tenant
        with self._transaction(principal) as conn:
            locks.data_key(conn, tenant, exclusive=True)  # one rotation at a time (store/locks.py)
            if not rotation.has_keys(conn):  # a mistyped tenant must not get keys of its own
                raise NotFoundError(f"tenant {tenant!r} has no keys: nothing of it was ever stored")
            new = rotation.start_data_key_rotation(conn, self.keyring, tenant)
        total = 0
        while True:
            with self._transaction(principal) as conn:
                done = rotation.reencrypt_batch(conn, self.keyring, tenant, new, batch_size)
                total += done
                if done == 0:
                    locks.data_key(conn, tenant, exclusive=True)  # rows being stored under the old key land first
                    rotation.retire_old_data_keys(conn, new.version)
                    self._audit(conn, principal, audit.AuditEvent(
                        "keys.rotate_data", counts={"reencrypted": total, "version": new.version}))
                    break
        return rotation.RotationResult(key_id=f"data:v{new.version}", reencrypted=total)

    # API keys of the HTTP server (created and revoked with the owner's credentials)

    def create_api_key(self, principal: Principal, *, created_by: str, name: str = "") -> tuple[api_keys.ApiKey, str]:
        """A new API key acting as ``principal``; returns it and its token (shown once, stored
        only as a hash). Audited in the principal's tenant as done by ``created_by``."""
        operator = Principal(principal.tenant, created_by)
        with self.database.admin() as admin:
            key, token = api_keys.insert_key(admin, principal, name)
            try:
                with self._transaction(principal) as conn:
                    self._audit(conn, operator, audit.AuditEvent(
                        "apikey.create", targets=(key.key_id,), counts={"roles": len(principal.roles)}))
            except BaseException:
                api_keys.delete_key(admin, key.key_id)  # no key without its audit record
                raise
        return key, token

    def revoke_api_key(self, key_id: str, *, revoked_by: str) -> api_keys.ApiKey:
        """Revoke a key at once (idempotent); audited in its tenant."""
        with self.database.admin() as admin:
            key = api_keys.revoke_key(admin, key_id)
        with self._transaction(key.tenant) as conn:
            self._audit(conn, Principal(key.tenant, revoked_by), audit.AuditEvent("apikey.revoke", targets=(key.key_id,)))
        return key

    def list_api_keys(self, *, tenant: str | None = None, include_revoked: bool = True) -> list[api_keys.ApiKey]:
        with self.database.admin() as admin:
            return api_keys.list_keys(admin, tenant=tenant, include_revoked=include_revoked)

    def principal_for_api_key(self, token: str) -> tuple[str, Principal] | None:
        """The key id and principal of an active API key, or None (application role; the
        tenant is not known yet, so the connection is bound to none that exists)."""
        if not api_keys.looks_like_key(token):
            return None
        with self.database.transaction(_NO_TENANT) as conn:
            return api_keys.lookup(conn, token)

    # Access and audit

    def authorize(self, principal: Principal, action: str, resource: Mapping[str, Any] | None = None) -> None:
        """Raise AccessDeniedError (and audit the denial) unless the policies allow ``action``;
        for front ends that guard an action of their own, such as a review page."""
        self._authorize(principal, action, resource or {})

    def _authorize(self, principal: Principal, action: str, resource: Mapping[str, Any]) -> None:
        if not isinstance(principal, Principal):
            raise AccessDeniedError("every call needs a Principal")
        try:
            if authorize(self.hook, self.context, principal, action, resource):
                return
        except PluginError as exc:  # a policy that fails denies
            with self._transaction(principal) as conn:
                self._audit(conn, principal, audit.AuditEvent(
                    "deny", outcome="denied", extra={"action": action, "error": "policy failed"}))
            raise AccessDeniedError(f"{principal.user} may not {action} in tenant {principal.tenant}: "
                                    f"an access policy failed ({exc})") from exc
        targets = (resource["document_id"],) if "document_id" in resource else ()
        with self._transaction(principal) as conn:
            self._audit(conn, principal, audit.AuditEvent("deny", outcome="denied", targets=targets,
                                                          extra={"action": action}))
        raise AccessDeniedError(f"{principal.user} may not {action} in tenant {principal.tenant}")

    @contextmanager
    def _auditing_failure(self, principal: Principal, action: str) -> Iterator[None]:
        """An error record for ``action`` when the block raises one of docveil's errors (a file
        that cannot be loaded...), which then propagates."""
        try:
            yield
        except DocveilError as exc:
            with self._transaction(principal) as conn:
                self._audit(conn, principal, audit.AuditEvent(action, outcome="error",
                                                              extra={"error": type(exc).__name__}))
            raise

    def _audit_keys(self, conn: psycopg.Connection, tenant: str) -> audit.AuditKeys:
        mac, signing = self.keyring.current_many(conn, tenant, AUDIT, SIGNING)
        return audit.AuditKeys.from_seeds(mac.key, signing.key)

    @contextmanager
    def _transaction(self, who: Principal | str) -> Iterator[psycopg.Connection]:
        """A transaction in the tenant of ``who`` (a principal, or a bare tenant for steps acting
        for no one) whose audit records reach the sinks only once it has committed."""
        actor, tenant = (who, who.tenant) if isinstance(who, Principal) else (None, who)
        frame = _AuditFrame(actor=actor)
        self._audit_frames.stack = [*getattr(self._audit_frames, "stack", []), frame]
        try:
            with self.database.transaction(tenant) as conn:
                yield conn
                if frame.created_keys:  # keys made by a step that audits nothing itself
                    self._audit(conn, frame.actor or Principal(tenant, "docveil"), None)
        finally:
            self._audit_frames.stack = self._audit_frames.stack[:-1]
        for record in frame.outbox:
            try:
                self.hook.docveil_audit_record(record=record.as_dict(), context=self.context)
            except DocveilError as exc:
                # The action and its record are committed: a sink that is down must not turn
                # them into an error. The chain in PostgreSQL still holds the record.
                log.error("audit sink failed; record %s of tenant %s was not forwarded: %s",
                          record.seq, record.tenant, exc)

    def _audit(self, conn: psycopg.Connection, principal: Principal, event: audit.AuditEvent | None,
               keys: audit.AuditKeys | None = None) -> None:
        """Append ``event`` (after a ``keys.create`` record for keys this transaction created)."""
        frame: _AuditFrame = self._audit_frames.stack[-1]
        frame.actor = frame.actor or principal
        keys = keys or self._audit_keys(conn, principal.tenant)  # may create the audit keys
        if frame.created_keys:
            created, frame.created_keys = tuple(frame.created_keys), []
            frame.outbox.append(audit.append_event(conn, principal, audit.AuditEvent("keys.create", targets=created), keys))
        if event is not None:
            frame.outbox.append(audit.append_event(conn, principal, event, keys))

    def _key_created(self, tenant: str, purpose: str, version: int) -> None:
        frames = getattr(self._audit_frames, "stack", [])
        if frames:
            frames[-1].created_keys.append(f"{purpose}:v{version}")
        else:  # a caller's own Database.transaction: nothing to append the record to
            log.warning("the %s key of tenant %s was created outside an engine transaction; not audited",
                        purpose, tenant)


@dataclass
class _AuditFrame:
    """What one engine transaction gathers for the audit log: its records (sent to the sinks
    once it has committed), keys it created on first use, and whom they are recorded under."""

    outbox: list[audit.AuditRecord] = field(default_factory=list)
    created_keys: list[str] = field(default_factory=list)
    actor: Principal | None = None


def replace_page(finding: Finding, page: int) -> Finding:
    return replace(finding, page=page)


def redacted_text_output(document: RedactedDocument) -> str:
    """The redacted text of a document as ``docveil redact`` writes it: pages marked when there
    are several."""
    if document.page_count == 1:
        return document.pages[0].text.text
    return "\n\n".join(f"--- page {page.number} ---\n{page.text.text}" for page in document.pages)


def _require_redacted(document: object) -> None:
    if not isinstance(document, RedactedDocument):
        raise UnredactedContentError(f"expected a RedactedDocument, got {type(document).__name__}; redact it first")


def _require_finite(vectors: np.ndarray, what: str) -> None:
    """Vectors with NaN or infinity cannot be stored or searched with (from a plugin's encoder;
    docveil's own compute such rows again)."""
    if not np.isfinite(vectors).all():
        raise EncoderError(f"{what} returned vectors with NaN or infinity")


def _failure(source: str, exc: BaseException) -> Failure:
    if isinstance(exc, DocveilError):
        reason = getattr(exc, "reason", None) or str(exc)
    else:  # driver messages can quote row values: keep only the kind of error
        reason = f"storage error ({type(exc).__name__})"
    return Failure(source=source, reason=reason, error=type(exc).__name__)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _require_k(k: object, most: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= most:
        raise ValueError(f"k must be a whole number between 1 and {most}")


def _require_query(query: object, what: str = "query") -> None:
    if not isinstance(query, str):
        raise TypeError(f"a {what} must be text, not {type(query).__name__}")
    if not query.strip():
        raise ValueError(f"the {what} is empty")
    if "\x00" in query:  # PostgreSQL text cannot hold it
        raise ValueError(f"the {what} holds a NUL character")


def expand_paths(paths: str | Path | Source | Iterable[str | Path | Source]) -> Iterator[str | Path | Source]:
    """Files as given, folders walked recursively in sorted order (hidden entries skipped; a
    broken link, pipe or socket inside is yielded, to be reported); ``Source``s pass through.
    One path or ``Source`` on its own is a list of one. An empty path is yielded as it is, to
    be reported, not read as "."; a folder holding no file is yielded itself, to be reported too."""
    for item, _folder in _expanded(paths):
        yield item


def _expanded(paths: str | Path | Source | Iterable[str | Path | Source]
              ) -> Iterator[tuple[str | Path | Source, Path | None]]:
    """``expand_paths``, each item with the folder it was found in (None for one given)."""
    if isinstance(paths, (str, Path, Source)):
        paths = [paths]
    for raw in paths:
        if isinstance(raw, Source) or not os.fspath(raw).strip():
            yield raw, None
            continue
        path = Path(raw)
        if path.is_dir():
            found = False
            for child in _walk(path):
                found = True
                yield child, path
            if not found:
                yield path, None
        else:
            yield path, None


def _walk(folder: Path) -> Iterator[Path]:
    """The entries under ``folder`` that are no folder, sorted, hidden ones skipped; a symbolic
    link to a file is an entry (read only if it stays in the folder: ``read_source(within=)``),
    one to a folder is not walked into; a folder that cannot be listed is yielded itself, to be
    reported."""
    try:
        children = sorted(folder.iterdir())
    except OSError:
        yield folder
        return
    for child in children:
        if child.name.startswith("."):
            continue
        if child.is_dir():
            if not child.is_symlink():
                yield from _walk(child)
        else:
            yield child
