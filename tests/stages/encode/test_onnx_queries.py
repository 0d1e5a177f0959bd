"""The ONNX Runtime twin of the text encoder that serves single queries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.errors import ConfigError, UnredactedContentError
from docveil.stages.encode.exported import pooling_of
from docveil.stages.encode.onnx_queries import OnnxQueryEncoder, onnx_query_encoder, query_encoder_for
from docveil.stages.encode.text import docveil_text_encoder
from docveil.types import RedactedText

pytest.importorskip("onnxruntime", reason="the ONNX query path needs onnxruntime (docveil[http])")

QUERIES = ["Which doctor is treating <PERSON_3fa9c2d1e0>?", "invoice approval delays at the Leeds site",
           "payroll", "What did the service desk say about the VPN client dropping after sleep?"]


@pytest.fixture(scope="module")
def encoder(settings: Settings, model_stash: Stash):
    return docveil_text_encoder(StageContext(settings, hook=None, stash=model_stash))


def test_the_export_agrees_with_torch_and_is_cached(encoder, tmp_path: Path) -> None:
    twin = onnx_query_encoder(encoder, tmp_path)
    assert isinstance(twin, OnnxQueryEncoder)
    exported = list(tmp_path.glob("*.onnx"))
    assert len(exported) == 1
    texts = [RedactedText(q) for q in QUERIES]
    ours, reference = twin.encode(texts), encoder.encode(texts)
    assert ours.shape == reference.shape and ours.dtype == np.float32
    assert float(np.sum(ours * reference, axis=1).min()) > 0.999
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # One query alone gets the vector it gets in a batch (padding does not leak into pooling).
    np.testing.assert_allclose(twin.encode(texts[2:3])[0], ours[2], atol=1e-4)
    modified = exported[0].stat().st_mtime_ns
    assert onnx_query_encoder(encoder, tmp_path) is not None
    assert exported[0].stat().st_mtime_ns == modified, "the cached export was made again"


def test_onnx_runtime_telemetry_is_off_before_a_session_is_made(encoder, tmp_path: Path, monkeypatch) -> None:
    # ONNX Runtime records process events for upload to Microsoft unless told not to.
    import onnxruntime

    calls: list[str] = []
    session = onnxruntime.InferenceSession
    monkeypatch.setattr(onnxruntime, "disable_telemetry_events", lambda: calls.append("off"))
    monkeypatch.setattr(onnxruntime, "InferenceSession", lambda *a, **k: calls.append("session") or session(*a, **k))
    assert onnx_query_encoder(encoder, tmp_path) is not None
    assert calls[:2] == ["off", "session"]


def test_a_damaged_cached_export_is_made_again(encoder, tmp_path: Path) -> None:
    assert onnx_query_encoder(encoder, tmp_path) is not None
    exported = next(tmp_path.glob("*.onnx"))
    exported.write_bytes(b"not an onnx model")
    twin = onnx_query_encoder(encoder, tmp_path)
    assert twin is not None and exported.stat().st_size > 1_000_000


def test_the_twin_refuses_unredacted_text(encoder, tmp_path: Path) -> None:
    twin = onnx_query_encoder(encoder, tmp_path)
    assert twin is not None
    with pytest.raises(UnredactedContentError):
        twin.encode(["Maria Gonzalez"])  # type: ignore[list-item]
    assert twin.encode([]).shape == (0, encoder.dimension)


def test_models_the_export_does_not_handle_keep_torch(encoder) -> None:
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Dense, Pooling

    assert pooling_of(encoder.model) == "mean"
    transformer = encoder.model[0]
    dimension = encoder.dimension
    assert pooling_of(SentenceTransformer(modules=[transformer, Pooling(dimension, pooling_mode="max")])) is None
    assert pooling_of(SentenceTransformer(modules=[transformer, Pooling(dimension, pooling_mode="cls")])) == "cls"
    assert pooling_of(SentenceTransformer(modules=[transformer, Pooling(dimension), Dense(dimension, 8)])) is None


def test_query_backend_torch_and_other_encoders_keep_their_encoder(settings: Settings, encoder, tmp_path: Path) -> None:
    torch_only = settings.with_overrides(query_backend="torch", home=tmp_path)
    assert query_encoder_for(encoder, StageContext(torch_only, hook=None, stash=Stash())) is encoder

    class Other:
        name, dimension = "other", 3

        def encode(self, texts):
            return np.zeros((len(texts), 3), dtype=np.float32)

    other = Other()
    assert query_encoder_for(other, StageContext(settings, hook=None, stash=Stash())) is other
    with pytest.raises(ConfigError, match="query_backend"):
        Settings(query_backend="tensorrt")


def test_engine_searches_encode_queries_with_the_twin(engine) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("on CUDA queries stay on the GPU encoder")
    from docveil.interfaces.demo import sample_paths
    from docveil.types import Principal

    alice = Principal("acme", "alice", frozenset({"analyst"}))
    engine.ingest(sample_paths(), alice)
    hits = engine.search("Which doctor is treating Maria Gonzalez?", alice, k=3)
    assert hits
    assert isinstance(engine._query_encoder[1].encoder, OnnxQueryEncoder)
