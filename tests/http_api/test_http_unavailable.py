"""A database that stops answering while the server runs: 503 ``unavailable``, never 500."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import jwt
import psycopg
from psycopg import sql

from docveil.engine import Engine
from docveil.interfaces.http import create_app
from docveil.store.database import Database
from docveil.types import Principal

from .conftest import AUDIENCE, ISSUER, serving


def test_a_database_that_stops_answering_gives_503_not_500(server_settings, template_database, superuser_conninfo,
                                                           model_stash, jwt_private_key) -> None:
    # Its own database, so that making it refuse connections affects no other test.
    name = f"http_down_{uuid.uuid4().hex[:12]}"
    database = Database(server_settings, database=name, template=template_database, pool_timeout=3).open()
    engine = Engine(server_settings, database=database, stash=model_stash)
    _, key = engine.create_api_key(Principal("acme", "alice"), created_by="test")
    now = int(time.time())
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "dana", "tenant": "acme", "exp": now + 300},
                       jwt_private_key, algorithm="RS256")
    try:
        with serving(create_app(engine)) as url, psycopg.connect(superuser_conninfo, autocommit=True) as admin:
            admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name])
            # Each request waits for the pool's timeout (3 s) before it fails: sent together. The API
            # key fails while authenticating, the JWT (no database needed) in the endpoint.
            with httpx.Client(base_url=url, timeout=120) as client, ThreadPoolExecutor(3) as pool:
                sent = [pool.submit(client.get, "/v1/me", headers={"X-API-Key": key}),
                        pool.submit(client.post, "/v1/search", json={"query": "invoices"},
                                    headers={"Authorization": f"Bearer {token}"}),
                        pool.submit(client.get, "/v1/documents", headers={"Authorization": f"Bearer {token}"})]
                responses = [request.result() for request in sent]
    finally:
        engine.close()
        with psycopg.connect(superuser_conninfo, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.json()["error"]["type"] == "unavailable"
