"""The OpenVINO twin of the text encoder that encodes document batches on CPU."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from docveil.config import Settings
from docveil.context import StageContext, Stash
from docveil.errors import ConfigError, UnredactedContentError
from docveil.stages.encode import exported
from docveil.stages.encode.devices import plan_device
from docveil.stages.encode.openvino_documents import (
    OpenVinoDocuments,
    openvino_documents,
)
from docveil.stages.encode.text import SentenceTransformerEncoder, docveil_text_encoder
from docveil.types import RedactedText

pytest.importorskip("openvino", reason="the OpenVINO document path needs openvino (docveil[openvino])")

CHUNKS = [
    ("Payroll for the Leeds site closes on Friday. Late timesheets move to the next cycle, and "
     "<PERSON_3fa9c2d1e0> approves every exception before the run is released to the bank."),
    "invoice",
    ("The service desk reopened the VPN ticket after the client dropped the connection on wake-up; "
     "the fix is a new driver, rolled out to the finance laptops first. ") * 6,
    "Freight from Rotterdam is two days late; the warehouse moved the pallets to bay 4.",
]


@pytest.fixture(scope="module")
def encoder(settings: Settings, model_stash: Stash) -> SentenceTransformerEncoder:
    return docveil_text_encoder(StageContext(settings, hook=None, stash=model_stash))


@pytest.fixture(scope="module")
def twin(encoder: SentenceTransformerEncoder, tmp_path_factory: pytest.TempPathFactory) -> OpenVinoDocuments:
    built = openvino_documents(encoder, tmp_path_factory.mktemp("openvino"))
    assert built is not None
    return built


def test_the_twin_agrees_with_torch_in_any_batching(encoder, twin) -> None:
    texts = [RedactedText(text) for text in CHUNKS]
    reference = encoder.encode_with_torch(texts)
    for batch_size in (1, 3, 16):
        ours = twin.encode(CHUNKS, batch_size)
        assert ours.shape == reference.shape and ours.dtype == np.float32
        assert float(np.sum(ours * reference, axis=1).min()) > 0.999
        np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    # Rows come back in the order given, although batches run longest first.
    np.testing.assert_allclose(twin.encode(CHUNKS[::-1], 2), twin.encode(CHUNKS, 2)[::-1], atol=2e-3)
    assert twin.streams >= 1 and twin.requests >= 1
    assert twin.encode([], 16).shape == (0, encoder.dimension)


def test_the_engine_encoder_batches_through_openvino_on_cpu(encoder) -> None:
    if encoder.plan.device != "cpu":
        pytest.skip("on CUDA documents stay on the GPU encoder")
    assert encoder.runtime == "openvino"
    texts = [RedactedText(text) for text in CHUNKS]
    via_openvino = encoder.encode(texts)
    assert float(np.sum(via_openvino * encoder.encode_with_torch(texts), axis=1).min()) > 0.999
    with pytest.raises(UnredactedContentError):
        encoder.encode(["Maria Gonzalez"])  # type: ignore[list-item]
    assert encoder.encode([]).shape == (0, encoder.dimension)


def test_the_conversion_is_cached_and_a_damaged_one_made_again(encoder, tmp_path: Path) -> None:
    assert openvino_documents(encoder, tmp_path) is not None
    graph = next(tmp_path.glob("*.xml"))
    weights = graph.with_suffix(".bin")
    modified = weights.stat().st_mtime_ns
    assert openvino_documents(encoder, tmp_path) is not None
    assert weights.stat().st_mtime_ns == modified, "the cached conversion was made again"
    size = weights.stat().st_size
    weights.write_bytes(weights.read_bytes()[: size // 2])
    assert openvino_documents(encoder, tmp_path) is not None
    assert weights.stat().st_size == size


def test_a_conversion_reports_nothing_to_openvino_telemetry(encoder, tmp_path: Path, monkeypatch) -> None:
    # Left as installed, the converter sends each conversion to Google Analytics from a forked process.
    import multiprocessing.process

    sent: list[object] = []
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", lambda process: sent.append(process))
    telemetry = pytest.importorskip("openvino_telemetry", reason="telemetry is not installed: nothing to send")
    monkeypatch.setattr(telemetry.Telemetry, "send_event", lambda *args, **kwargs: sent.append(args))
    assert openvino_documents(encoder, tmp_path) is not None
    assert sent == []


def test_importing_openvino_through_docveil_reports_nothing() -> None:
    # openvino's own import sends a "general_import" event from a forked process; in a fresh
    # interpreter, docveil's import of it must start no process at all.
    import subprocess

    probe = ("import multiprocessing.process as mp; started = []; "
             "mp.BaseProcess.start = lambda self: started.append(self); "
             "from docveil.stages.runtimes import import_runtime; import_runtime('openvino'); "
             "from openvino.tools.ovc import convert_impl; "
             "print(len(started), convert_impl.tm.__name__)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["0", "openvino.tools.ovc.telemetry_stub"]


def test_document_backend_torch_keeps_torch(settings: Settings, tmp_path: Path) -> None:
    torch_only = settings.with_overrides(document_backend="torch", home=tmp_path)
    encoder = SentenceTransformerEncoder(torch_only.text_model, plan_device("cpu"))
    assert encoder.openvino() is None and encoder.runtime == "torch"
    assert encoder.encode([RedactedText(CHUNKS[0])]).shape == (1, encoder.dimension)
    stash = Stash()
    assert docveil_text_encoder(StageContext(torch_only, hook=None, stash=stash)).runtime == "torch"
    with pytest.raises(ConfigError, match="document_backend"):
        Settings(document_backend="onnx")


def test_without_openvino_documents_stay_on_torch(encoder, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino now raises ImportError
    assert openvino_documents(encoder, tmp_path) is None
    assert not list(tmp_path.iterdir())


def encode_in_forked_child(encoder, texts: list[RedactedText]) -> tuple[bool, np.ndarray]:
    """(whether the child rebuilt its OpenVINO twin, the child's vectors) from a forked child."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            # A child stuck on its parent's threads or locks dies instead of hanging the test
            # (the default action: pytest-timeout's handler would wait for the interpreter).
            signal.signal(signal.SIGALRM, signal.SIG_DFL)
            signal.alarm(120)
            os.close(read)
            parent_twin = encoder._openvino
            vectors = encoder.encode(texts)
            rebuilt = encoder.openvino() is not parent_twin and encoder.runtime == "openvino"
            os.write(write, (b"1" if rebuilt else b"0") + vectors.tobytes())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the child failed or hung"
    return data[:1] == b"1", np.frombuffer(data[1:], dtype=np.float32)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_encodes_after_its_parent_did(encoder) -> None:
    if encoder.plan.device != "cpu":
        pytest.skip("on CUDA documents stay on the GPU encoder")
    texts = [RedactedText(text) for text in CHUNKS]
    parent_twin = encoder.openvino()
    expected = encoder.encode(texts)

    rebuilt, vectors = encode_in_forked_child(encoder, texts)

    assert rebuilt, "the child used its parent's OpenVINO model"
    np.testing.assert_allclose(vectors.reshape(expected.shape), expected, atol=1e-5)
    assert encoder.openvino() is parent_twin


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_while_another_thread_builds_or_tokenises_does_not_wait_for_it(encoder) -> None:
    if encoder.plan.device != "cpu":
        pytest.skip("on CUDA documents stay on the GPU encoder")
    texts = [RedactedText(text) for text in CHUNKS]
    expected = encoder.encode(texts)
    # As when another thread of the parent is inside a build or a tokenisation at the fork.
    with encoder._openvino_lock, exported._TOKENIZE:
        rebuilt, vectors = encode_in_forked_child(encoder, texts)

    assert rebuilt
    np.testing.assert_allclose(vectors.reshape(expected.shape), expected, atol=1e-5)
