"""Load test of the HTTP server: concurrent clients of several tenants mixing search and ask.

    .venv/bin/python benchmarks/http_load.py                 # 32 clients, 60 s, 10,000 chunks
    .venv/bin/python benchmarks/http_load.py --duration 20 --json

A fresh embedded PostgreSQL in a temporary DOCVEIL_HOME gets the search benchmark's generated
corpus (``search_corpus``: business text in topical clusters, documents with ACLs, spread over
ten tenants), loaded with docveil's own repository functions (``search_load``) and embedded with
docveil's encoder (vectors cached between runs by ``search_embeddings``). Every tenant gets API
keys for a few of its users. The server runs as its own process (``uvicorn --factory
docveil.interfaces.http.app:create_app``, as ``docveil serve`` does), so the load generator does
not share its interpreter; the clients are asyncio tasks on one httpx connection pool, each
bound to one user's key, in a closed loop (a client sends its next request when the last one
has been answered). Asks use the extractive answerer.

Printed: requests per second, p50/p90/p99/max latency per endpoint, errors (any status but 200,
or a transport error), and cross-tenant results: every hit and citation must name a document
the requesting key itself lists (``GET /v1/documents``), which also proves it belongs to the
key's tenant. The run fails (exit 1) on any error or foreign result; the search p99 target
(500 ms) is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from search_corpus import generate, user_roles
from search_embeddings import cache_path, default_cache_dir, encode_and_cache, load_cached
from search_load import load_corpus

SEARCH_P99_TARGET_MS = 500.0
USERS_PER_TENANT_WITH_KEYS = 4


@dataclass
class Client:
    tenant: str
    user: str
    key: str
    queries: list[str]


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # key -> document ids returned
    results: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=60.0, help="Measured seconds.")
    parser.add_argument("--warmup", type=float, default=5.0, help="Seconds of load before measuring.")
    parser.add_argument("--ask-share", type=float, default=0.25, help="Fraction of requests that ask.")
    parser.add_argument("--k", type=int, default=10, help="Hits per search (asks use 5).")
    parser.add_argument("--workers", type=int, default=1, help="Server processes.")
    parser.add_argument("--seed", type=int, default=2024,
                        help="Corpus seed; the search benchmark's, so its cached embeddings serve here too.")
    parser.add_argument("--cache-dir", type=Path, default=None, help="Embedding cache (default ~/.cache/docveil-bench).")
    parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(home: Path, args: argparse.Namespace) -> tuple[list[Client], dict[str, str]]:
    """Load the corpus and make API keys; returns the clients and, per tenant, an admin key."""
    from docveil.config import Settings
    from docveil.engine import Engine
    from docveil.types import Principal

    settings = Settings(home=home, load_entry_points=False)
    corpus = generate(args.chunks, args.tenants, queries=max(400, args.clients * 20), seed=args.seed)
    with Engine(settings) as engine:
        encoder = engine.text_encoder
        path = cache_path(args.cache_dir or default_cache_dir(), seed=args.seed, chunks=args.chunks,
                          tenants=args.tenants, model=encoder.name)
        found = load_cached(path, corpus.texts)
        if found is None:
            log(f"embedding {len(corpus.texts)} chunks (cached afterwards in {path.parent})")
            vectors, _ = encode_and_cache(encoder, corpus.texts, path)
        else:
            vectors = found[0]
        start = time.perf_counter()
        loaded = load_corpus(engine, corpus, np.asarray(vectors))
        log(f"loaded {loaded.report.documents} documents, {loaded.report.chunks} chunks in "
            f"{time.perf_counter() - start:.1f} s")
        keys: dict[tuple[str, str], str] = {}
        admins: dict[str, str] = {}
        for tenant in corpus.tenants:
            for index in range(USERS_PER_TENANT_WITH_KEYS):
                user = f"user-{index:02d}"
                principal = Principal(tenant, user, frozenset(user_roles(index)))
                keys[tenant, user] = engine.create_api_key(principal, created_by="http-load")[1]
            admins[tenant] = engine.create_api_key(Principal(tenant, "bench-admin", frozenset({"admin"})),
                                                   created_by="http-load")[1]
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for query in corpus.queries:
        by_tenant[query.tenant].append(query.text)
    clients = []
    for i in range(args.clients):
        tenant = corpus.tenants[i % len(corpus.tenants)]
        user = f"user-{(i // len(corpus.tenants)) % USERS_PER_TENANT_WITH_KEYS:02d}"
        clients.append(Client(tenant, user, keys[tenant, user], by_tenant[tenant]))
    return clients, admins


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, "DOCVEIL_HOME": str(home), "DOCVEIL_LOAD_ENTRY_POINTS": "false",
           "DOCVEIL_ANSWERER": "extractive", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "uvicorn", "docveil.interfaces.http.app:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
               "--log-level", "warning", "--no-access-log"]
    process = subprocess.Popen(command, env=env, start_new_session=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=5).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("the server did not become ready")


async def client_loop(http: httpx.AsyncClient, client: Client, rng: random.Random, args: argparse.Namespace,
                      measure_from: float, stop_at: float, results: Results) -> None:
    headers = {"X-API-Key": client.key}
    while True:
        now = time.perf_counter()
        if now >= stop_at:
            return
        asking = rng.random() < args.ask_share
        endpoint = "ask" if asking else "search"
        body: dict[str, Any] = {"question" if asking else "query": rng.choice(client.queries),
                                "k": 5 if asking else args.k}
        started = time.perf_counter()
        try:
            response = await http.post(f"/v1/{endpoint}", json=body, headers=headers)
            status = response.status_code
            payload = response.json() if status == 200 else None
        except httpx.HTTPError as exc:
            status, payload = type(exc).__name__, None
        elapsed = time.perf_counter() - started
        if started < measure_from:
            continue
        if payload is None:
            results.errors[endpoint].append(str(status))
            continue
        results.latencies[endpoint].append(elapsed)
        items = payload["citations"] if asking else payload["hits"]
        results.results[endpoint] += len(items)
        results.seen[client.key].update(item["document_id"] for item in items)


async def run_load(url: str, clients: list[Client], args: argparse.Namespace) -> tuple[Results, float]:
    results = Results()
    limits = httpx.Limits(max_connections=len(clients), max_keepalive_connections=len(clients))
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:
        start = time.perf_counter()
        measure_from = start + args.warmup
        stop_at = measure_from + args.duration
        rngs = [random.Random(args.seed * 1000 + i) for i in range(len(clients))]
        await asyncio.gather(*(client_loop(http, c, r, args, measure_from, stop_at, results)
                               for c, r in zip(clients, rngs, strict=True)))
        measured = time.perf_counter() - measure_from
    return results, measured


def listed_documents(url: str, key: str) -> set[str]:
    found: set[str] = set()
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as http:
        while True:
            page = http.get("/v1/documents", params={"limit": 1000, "offset": len(found)}).json()["documents"]
            found.update(d["document_id"] for d in page)
            if len(page) < 1000:
                return found


def summarise(results: Results, measured: float, foreign: int, checked: int) -> dict[str, Any]:
    endpoints = {}
    for endpoint in ("search", "ask"):
        samples = np.array(results.latencies[endpoint]) * 1000
        errors = len(results.errors[endpoint])
        endpoints[endpoint] = {
            "requests": int(samples.size) + errors, "errors": errors,
            "requests_per_s": round((samples.size + errors) / measured, 1),
            **({f"p{q}_ms": round(float(np.percentile(samples, q)), 1) for q in (50, 90, 99)} if samples.size else {}),
            "max_ms": round(float(samples.max()), 1) if samples.size else None,
            "results": results.results[endpoint],
        }
    total = sum(e["requests"] for e in endpoints.values())
    errors = sum(e["errors"] for e in endpoints.values())
    search_p99 = endpoints["search"].get("p99_ms")
    return {"seconds": round(measured, 1), "requests": total, "requests_per_s": round(total / measured, 1),
            "errors": errors, "error_kinds": sorted({e for v in results.errors.values() for e in v}),
            "foreign_results": foreign, "documents_checked": checked, "endpoints": endpoints,
            "search_p99_target_ms": SEARCH_P99_TARGET_MS,
            "search_p99_met": search_p99 is not None and search_p99 < SEARCH_P99_TARGET_MS}


def print_summary(summary: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"{args.clients} clients, {args.tenants} tenants, {args.chunks:,} chunks, {summary['seconds']} s measured "
          f"({args.workers} server process{'es' if args.workers > 1 else ''}, {os.cpu_count()} CPUs)")
    print(f"{'endpoint':<8} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}")
    for name, e in summary["endpoints"].items():
        print(f"{name:<8} {e['requests']:>9} {e['requests_per_s']:>7} {e.get('p50_ms', '-'):>8} "
              f"{e.get('p90_ms', '-'):>8} {e.get('p99_ms', '-'):>8} {e['max_ms'] or '-':>8} {e['errors']:>7}")
    print(f"total: {summary['requests']} requests, {summary['requests_per_s']} req/s, {summary['errors']} errors"
          + (f" ({', '.join(summary['error_kinds'])})" if summary["error_kinds"] else ""))
    print(f"cross-tenant results: {summary['foreign_results']} (of {summary['documents_checked']} distinct documents "
          "returned, each checked against its key's own document list)")
    met = "met" if summary["search_p99_met"] else "MISSED"
    print(f"search p99 target {SEARCH_P99_TARGET_MS:.0f} ms: {met}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up below on a plain kill too
    home = Path(tempfile.mkdtemp(prefix="docveil-http-load-"))
    home.chmod(0o711)  # as root, the server runs as a system user that must reach its data
    server = None
    try:
        clients, _ = prepare(home, args)
        port = free_port()
        server = start_server(home, port, args.workers)
        url = f"http://127.0.0.1:{port}"
        log(f"server ready; {args.warmup:.0f} s warm-up, then {args.duration:.0f} s measured")
        results, measured = asyncio.run(run_load(url, clients, args))
        foreign = checked = 0
        for client in {c.key: c for c in clients}.values():
            allowed = listed_documents(url, client.key)
            returned = results.seen[client.key]
            checked += len(returned)
            foreign += len(returned - allowed)
        summary = summarise(results, measured, foreign, checked)
    finally:
        if server is not None and server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        from docveil.store.embedded_postgres import EmbeddedPostgres

        EmbeddedPostgres(home).stop()
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_summary(summary, args)
    return 1 if summary["errors"] or summary["foreign_results"] else 0


if __name__ == "__main__":
    sys.exit(main())
