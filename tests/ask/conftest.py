"""Fixtures for the ask tests: engines with answerer settings, documents with synthetic personal
data, a real OpenAI-compatible server (llama.cpp's, serving the packaged SmolLM2 GGUF) and a
recording proxy in front of it that can also fail on purpose."""

from __future__ import annotations

import http.client
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from docveil.ask.local_llm import packaged_model
from docveil.engine import Engine
from docveil.types import Acl, Principal

ALICE = Principal("acme", "alice")
OFFICER = Principal("acme", "olga", frozenset({"reidentify"}))

LEASE = ("The lease of the flat was signed by Jane Roe on 3 March 2024. The monthly rent is 1200 euros, "
         "due on the first day of each month. For repairs, write to jane.roe@example.com.")
SALARY = "The salary review of Tom Hardy sets his yearly pay at 95000 euros from April."
RAW_VALUES = ("Jane Roe", "jane.roe@example.com", "Tom Hardy")
CANNED = "A canned reply [1]."


@pytest.fixture
def make_engine(settings, db, model_stash) -> Iterator[Callable[..., Engine]]:
    """``make_engine(*plugins, **setting_overrides)``: engines on this test's database."""
    engines: list[Engine] = []

    def make(*plugins: object, **overrides: object) -> Engine:
        engine = Engine(settings.with_overrides(**overrides), database=db, plugins=plugins, stash=model_stash)
        engines.append(engine)
        return engine

    yield make


@pytest.fixture
def documents(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "jane_roe_lease.txt").write_text(LEASE, encoding="utf-8")
    (folder / "salary.txt").write_text(SALARY, encoding="utf-8")
    return {"lease": folder / "jane_roe_lease.txt", "salary": folder / "salary.txt"}


def ingest(engine: Engine, documents: dict[str, Path]) -> dict[str, str]:
    """The lease readable by the whole tenant, the salary review by carol only; name -> id."""
    lease = engine.ingest([documents["lease"]], ALICE).ingested[0].document_id
    salary = engine.ingest([documents["salary"]], ALICE, acl=Acl(users=frozenset({"carol"}), roles=frozenset())).ingested[0]
    return {"lease": lease, "salary": salary.document_id}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A real OpenAI-compatible server


def wait_until_ready(process: subprocess.Popen, url: str, log_path: Path, *, last_try: bool) -> bool:
    """True once ``url`` answers 200; False if the server exited because its port was taken
    meanwhile (and this is not the last try); a test failure otherwise."""
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")
            if "address already in use" in log.lower() and not last_try:
                return False
            pytest.fail(f"llama.cpp server exited: {log[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("llama.cpp server did not become ready in 120 s")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on a free loopback port; yields its base URL."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama_cpp is not importable: pip install 'llama-cpp-python[server]==0.3.36' "
                    "(compiles llama.cpp, about 5 minutes)")
    log_path = tmp_path_factory.mktemp("llama") / "server.log"
    # The port is free when chosen, not necessarily when the server binds it: another try then.
    for attempt in range(3):
        port = free_port()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "llama_cpp.server", "--model", str(packaged_model()), "--model_alias",
                 "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2"],
                stdout=log, stderr=subprocess.STDOUT)
        base_url = f"http://127.0.0.1:{port}/v1"
        if wait_until_ready(process, f"{base_url}/models", log_path, last_try=attempt == 2):
            break
    try:
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# A recording, misbehaving proxy


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Proxy:
    """Records each request; answers per ``plan``, then proxies to ``upstream`` once the plan is
    used up. Plan steps: an HTTP status ("503"), "stall" (no answer for ``stall_seconds``),
    "canned" (a two-event stream saying ``CANNED``) or "proxy"."""

    upstream: str | None
    plan: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    stall_seconds: float = 5.0
    url: str = ""


def _handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            proxy.received.append(Received(self.path, dict(self.headers.items()), body))
            action = proxy.plan.pop(0) if proxy.plan else "proxy"
            if action.isdigit():
                self.send_response(int(action))
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif action == "stall":
                time.sleep(proxy.stall_seconds)
            elif action == "canned":
                chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": CANNED}}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                self.wfile.write(f"data: {chunk}\n\ndata: [DONE]\n\n".encode())
            else:
                self._forward(body)

        def _forward(self, body: bytes) -> None:
            assert proxy.upstream, "the proxy has nowhere to forward to"
            upstream = http.client.HTTPConnection(urlsplit(proxy.upstream).netloc, timeout=120)
            upstream.request("POST", self.path, body=body, headers={"Content-Type": "application/json"})
            response = upstream.getresponse()
            self.send_response(response.status)
            self.send_header("Content-Type", response.getheader("Content-Type", "text/event-stream"))
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := response.read1(4096):
                self.wfile.write(chunk)
                self.wfile.flush()
            upstream.close()

    return Handler


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., Proxy]]:
    servers: list[ThreadingHTTPServer] = []

    def make(upstream: str | None = None, plan: list[str] | None = None, stall_seconds: float = 5.0) -> Proxy:
        proxy = Proxy(upstream, list(plan or ()), stall_seconds=stall_seconds)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        proxy.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        return proxy

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()
