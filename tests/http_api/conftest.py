"""A real docveil HTTP server (uvicorn on a loopback port, in a thread) over its own database,
shared by the tests of a module, with API keys for two tenants and a JWT issuer's key pair."""

from __future__ import annotations

import dataclasses
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import psycopg
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from psycopg import sql

from docveil.config import Settings
from docveil.context import Stash
from docveil.engine import Engine
from docveil.interfaces.http import create_app
from docveil.store.database import Database
from docveil.types import Principal

ISSUER = "https://login.example.test/"
AUDIENCE = "docveil-api"
# Small, so that over-limit uploads are cheap to make.
MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class Server:
    url: str
    engine: Engine
    keys: dict[str, str]  # name -> API key token
    private_key: Any  # signs JWTs the server accepts

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"X-API-Key": self.keys[key]} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120, **kwargs)

    def token(self, *, tenant: str = "acme", user: str = "jwt-user", roles: list[str] | None = None,
              key: Any = None, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": user, "tenant": tenant, "roles": roles or [],
                   "iat": now, "nbf": now - 5, "exp": now + 300}
        payload.update(claims)
        return jwt.encode({k: v for k, v in payload.items() if v is not None}, key or self.private_key,
                          algorithm=algorithm)


@pytest.fixture(scope="session")
def jwt_private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def server_settings(settings: Settings, jwt_private_key: rsa.RSAPrivateKey) -> Settings:
    pem = jwt_private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")
    return dataclasses.replace(settings, jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_public_key=pem,
                               max_bytes=MAX_BYTES)


@pytest.fixture(scope="module")
def server_database(server_settings: Settings, template_database: str, superuser_conninfo: str) -> Iterator[Database]:
    name = f"http_{uuid.uuid4().hex[:12]}"
    database = Database(server_settings, database=name, template=template_database, pool_size=16).open()
    yield database
    database.close()
    with psycopg.connect(superuser_conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def free_port() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port in a thread; yields its base URL."""
    sock = free_port()
    host, port = sock.getsockname()
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not uv.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        uv.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def server(server_settings: Settings, server_database: Database, model_stash: Stash,
           jwt_private_key: rsa.RSAPrivateKey) -> Iterator[Server]:
    engine = Engine(server_settings, database=server_database, stash=model_stash)
    keys = {}
    for name, principal in {
        "alice": Principal("acme", "alice", frozenset({"analyst"})),
        "bob": Principal("acme", "bob", frozenset({"analyst"})),
        "admin": Principal("acme", "root", frozenset({"admin", "auditor", "privacy-officer", "reidentify"})),
        "auditor": Principal("acme", "carol", frozenset({"auditor"})),
        "globex": Principal("globex", "gina", frozenset({"analyst"})),
        "globex-admin": Principal("globex", "gus", frozenset({"admin"})),
    }.items():
        keys[name] = engine.create_api_key(principal, created_by="test-setup", name=name)[1]
    with serving(create_app(engine)) as url:
        yield Server(url=url, engine=engine, keys=keys, private_key=jwt_private_key)
    engine.close()
