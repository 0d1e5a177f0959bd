"""Tenants never see, count or touch each other's rows: through the API, and through SQL as the
application role that row-level security confines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from docveil.engine import Engine
from docveil.errors import NotFoundError
from docveil.security import audit
from docveil.security.keyring import AUDIT, SIGNING
from docveil.stages.redact.pseudonyms import TOKEN_PATTERN
from docveil.store.database import Database
from docveil.types import Acl, Principal

TENANTS = ("acme", "globex", "initech")
TENANT_TABLES = ("documents", "chunks", "vault", "subject_keys", "tenant_keys", "document_subjects",
                 "audit_records", "audit_checkpoints", "audit_heads", "id_counters")
SHARED_PERSON = "Maria Gonzalez"
FORGOTTEN_PERSON = "Daniel Kowalski"  # forgotten in one tenant by one test; read by no other
EXCLUSIVE = {"acme": ("Henrik Larsen", "henrik.larsen@example.org"),
             "globex": ("Priya Raman", "priya.raman@example.org"),
             "initech": ("Oliver Grant", "oliver.grant@example.org")}
STOCK = {"acme": "anvils", "globex": "turbines", "initech": "staplers"}  # a word of one tenant's only
SHARED_NOTE = ("Intake note. Maria Gonzalez called the front desk about her migraines. Daniel Kowalski, "
               "her neighbour, drove her to the appointment. A follow-up visit is planned in two weeks.\n")


def writer(tenant: str) -> Principal:
    return Principal(tenant, "writer")


def reader(tenant: str) -> Principal:
    return Principal(tenant, "reader", frozenset({"analyst"}))


def reidentifier(tenant: str) -> Principal:
    return Principal(tenant, "officer", frozenset({"reidentify"}))


def auditor(tenant: str) -> Principal:
    return Principal(tenant, "auditor", frozenset({"auditor"}))


def admin(tenant: str) -> Principal:
    return Principal(tenant, "admin", frozenset({"admin", "privacy-officer"}))


@dataclass
class Corpus:
    documents: dict[str, set[str]] = field(default_factory=dict)
    shared_note: dict[str, str] = field(default_factory=dict)
    sources: dict[str, set[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def engine(module_engine: Engine) -> Engine:
    return module_engine


@pytest.fixture(scope="module")
def corpus(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Three tenants with the same intake note (byte for byte), a memo naming the shared person
    and a person of their own, and a report without personal data."""
    corpus = Corpus()
    for tenant in TENANTS:
        folder = tmp_path_factory.mktemp(tenant)
        name, email = EXCLUSIVE[tenant]
        (folder / "shared_intake.txt").write_text(SHARED_NOTE, encoding="utf-8")
        (folder / f"{tenant}_memo.txt").write_text(
            f"Budget memo. {name} approved the travel budget for the quarter. {SHARED_PERSON} will present "
            f"the results to the board on Friday. Questions go to {email}.\n", encoding="utf-8")
        (folder / f"{tenant}_report.txt").write_text(
            f"Warehouse report of {tenant}: the inventory of spare {STOCK[tenant]} was counted twice and the "
            "shelves in aisle four need new labels before the audit.\n", encoding="utf-8")
        report = engine.ingest([folder], writer(tenant))
        assert report.ok and len(report.ingested) == 3, report.failed
        assert not any(d.duplicate for d in report.ingested), "another tenant's copy counted as a duplicate"
        corpus.documents[tenant] = {d.document_id for d in report.ingested}
        corpus.shared_note[tenant] = next(d.document_id for d in report.ingested
                                          if Path(d.source).name == "shared_intake.txt")
        # As readers see them: a name in a file name is a token ("acme" reads as a place).
        corpus.sources[tenant] = {i.source for i in engine.documents(writer(tenant))}
        # Sign a checkpoint so that every audit table holds rows of every tenant.
        with engine.database.transaction(tenant) as conn:
            keys = audit.AuditKeys.from_seeds(engine.keyring.current(conn, tenant, AUDIT).key,
                                              engine.keyring.current(conn, tenant, SIGNING).key)
            assert audit.write_checkpoint(conn, tenant, keys) is not None
    return corpus


def owner_rows(db: Database, table: str, tenant: str | None = None) -> list[tuple]:
    """Rows as the schema owner (row-level security does not apply to the tables' owner)."""
    query = sql.SQL("SELECT * FROM {}").format(sql.Identifier(table))
    with db.admin() as conn:
        if tenant is None:
            return conn.execute(query).fetchall()
        return conn.execute(query + sql.SQL(" WHERE tenant_id = %s ORDER BY 1, 2"), [tenant]).fetchall()


def owner_counts(db: Database) -> dict[tuple[str, str], int]:
    counts = {}
    with db.admin() as conn:
        for table in TENANT_TABLES:
            for tenant, count in conn.execute(
                    sql.SQL("SELECT tenant_id, count(*) FROM {} GROUP BY 1").format(sql.Identifier(table))):
                counts[(table, tenant)] = count
    return counts


def tenant_state(db: Database, tenant: str) -> dict[str, list[tuple]]:
    """Everything stored for a tenant except its audit log."""
    return {table: owner_rows(db, table, tenant) for table in TENANT_TABLES if not table.startswith("audit")}


def vault_tokens(db: Database, tenant: str) -> set[str]:
    with db.admin() as conn:
        return {r[0] for r in conn.execute("SELECT token FROM vault WHERE tenant_id = %s", [tenant])}


def chunk_ids(db: Database, tenant: str) -> set[int]:
    with db.admin() as conn:
        return {r[0] for r in conn.execute("SELECT id FROM chunks WHERE tenant_id = %s", [tenant])}


def chunk_keys(db: Database, tenant: str) -> set[tuple[str, int]]:
    """(document id, chunk id) of the tenant's chunks: chunk ids alone recur in every tenant."""
    with db.admin() as conn:
        return set(conn.execute("SELECT document_id::text, id FROM chunks WHERE tenant_id = %s", [tenant]).fetchall())


def token_of(engine: Engine, tenant: str, person: str) -> str:
    """The tenant's token for ``person``, found through its own search and reidentify."""
    hits = engine.search(person, reader(tenant), k=50)
    tokens = {m.group(0) for hit in hits for m in TOKEN_PATTERN.finditer(hit.text)}
    resolved = engine.reidentify(tokens, reidentifier(tenant))
    matches = [token for token, value in resolved.items() if value == person]
    assert len(matches) == 1, f"{tenant}: no single token resolves to the person"
    return matches[0]


# Through the API


def test_identical_files_are_stored_separately_in_each_tenant(corpus: Corpus, module_db: Database) -> None:
    assert len(set(corpus.shared_note.values())) == len(TENANTS)
    for tenant in TENANTS:
        others = set().union(*(corpus.documents[t] for t in TENANTS if t != tenant))
        assert not corpus.documents[tenant] & others
    assert all(len(owner_rows(module_db, "documents", t)) == 3 for t in TENANTS)


def test_search_never_returns_other_tenants_chunks(engine: Engine, corpus: Corpus, module_db: Database) -> None:
    for tenant in TENANTS:
        own_chunks = chunk_keys(module_db, tenant)
        foreign_tokens = set().union(*(vault_tokens(module_db, t) for t in TENANTS if t != tenant))
        queries = [SHARED_PERSON]
        for other in TENANTS:
            if other != tenant:
                name, email = EXCLUSIVE[other]
                queries += [f"travel budget approved by {name}", email, f"{other} warehouse report"]
        for query in queries:
            hits = engine.search(query, reader(tenant), k=200)
            assert hits, f"{tenant} found nothing at all for a query"
            assert {h.document_id for h in hits} <= corpus.documents[tenant]
            assert {(h.document_id, h.chunk_id) for h in hits} <= own_chunks
            assert len(hits) <= len(own_chunks)
            assert {h.source for h in hits} <= corpus.sources[tenant]
            found = {m.group(0) for h in hits for m in TOKEN_PATTERN.finditer(h.text)}
            assert not found & foreign_tokens


def test_search_with_the_largest_k_returns_only_own_rows(engine: Engine, corpus: Corpus,
                                                        module_db: Database) -> None:
    hits = engine.search(f"{SHARED_PERSON} {EXCLUSIVE['globex'][0]}", reader("acme"), k=1000)
    assert {(h.document_id, h.chunk_id) for h in hits} == chunk_keys(module_db, "acme")


def test_search_counts_only_own_tenant_rows_in_its_audit(engine: Engine, corpus: Corpus,
                                                         module_db: Database) -> None:
    tenant, other = "acme", "globex"
    hits = engine.search(EXCLUSIVE[other][0], reader(tenant), k=200)
    record = engine.audit_records(auditor(tenant), action="search", newest_first=True, limit=1)[0]
    assert record.counts["hits"] == len(hits) <= len(chunk_ids(module_db, tenant))


def test_chunk_ids_count_a_tenants_own_chunks_only(corpus: Corpus, module_db: Database) -> None:
    # With ids shared by all tenants, the gaps between a tenant's ids would count other tenants' chunks.
    for tenant in TENANTS:
        ids = sorted(chunk_ids(module_db, tenant))
        assert ids == list(range(1, len(ids) + 1)), tenant


def test_the_same_person_gets_a_different_token_in_each_tenant(engine: Engine, corpus: Corpus,
                                                               module_db: Database) -> None:
    tokens = {tenant: token_of(engine, tenant, SHARED_PERSON) for tenant in TENANTS}
    assert len(set(tokens.values())) == len(TENANTS)
    texts = {}
    for tenant in TENANTS:
        with module_db.admin() as conn:
            texts[tenant] = conn.execute("SELECT string_agg(text, ' ' ORDER BY ordinal) FROM chunks"
                                         " WHERE document_id = %s", [corpus.shared_note[tenant]]).fetchone()[0]
        assert tokens[tenant] in texts[tenant]
    assert len(set(texts.values())) == len(TENANTS)


def test_reidentify_resolves_no_token_of_another_tenant(engine: Engine, corpus: Corpus,
                                                        module_db: Database) -> None:
    own = token_of(engine, "acme", SHARED_PERSON)
    for other in ("globex", "initech"):
        # Tokens taken from the other tenant's own search results.
        hits = engine.search(f"{SHARED_PERSON} {EXCLUSIVE[other][0]}", reader(other), k=50)
        foreign = {m.group(0) for h in hits for m in TOKEN_PATTERN.finditer(h.text)}
        assert foreign and own not in foreign
        assert engine.reidentify(foreign, reidentifier("acme")) == {}
        assert engine.reidentify(foreign | {own}, reidentifier("acme")) == {own: SHARED_PERSON}
        assert engine.reidentify(foreign, reidentifier(other))  # they do resolve at home
    record = engine.audit_records(auditor("acme"), action="reidentify", newest_first=True, limit=1)[0]
    assert record.counts["resolved"] == 1


def test_documents_lists_only_own_tenant(engine: Engine, corpus: Corpus) -> None:
    for tenant in TENANTS:
        infos = engine.documents(reader(tenant))
        assert {i.document_id for i in infos} == corpus.documents[tenant]
        assert {i.source for i in infos} == corpus.sources[tenant]


def test_another_tenants_document_ids_are_not_found(engine: Engine, corpus: Corpus, module_db: Database) -> None:
    foreign = corpus.shared_note["globex"]
    before = owner_counts(module_db)
    with pytest.raises(NotFoundError):
        engine.delete_document(foreign, admin("acme"))
    with pytest.raises(NotFoundError):
        engine.set_acl(foreign, Acl(users=frozenset({"admin"}), roles=frozenset()), admin("acme"))
    after = owner_counts(module_db)
    assert {k: v for k, v in after.items() if k[1] != "acme"} == {k: v for k, v in before.items() if k[1] != "acme"}
    assert foreign in {i.document_id for i in engine.documents(reader("globex"))}


def test_forget_in_one_tenant_leaves_other_tenants_untouched(engine: Engine, corpus: Corpus,
                                                             module_db: Database) -> None:
    tokens = {t: token_of(engine, t, FORGOTTEN_PERSON) for t in TENANTS}
    before = {t: tenant_state(module_db, t) for t in ("globex", "initech")}
    result = engine.forget(FORGOTTEN_PERSON, admin("acme"), delete_documents=True)
    assert result.subject_found and result.vault_entries >= 1
    for tenant in ("globex", "initech"):
        assert tenant_state(module_db, tenant) == before[tenant]
        assert engine.reidentify([tokens[tenant]], reidentifier(tenant)) == {tokens[tenant]: FORGOTTEN_PERSON}
    # ...while in acme the subject is gone and the note that also names Maria Gonzalez stays.
    assert engine.reidentify([tokens["acme"]], reidentifier("acme")) == {}
    acme_hits = engine.search(FORGOTTEN_PERSON, reader("acme"), k=50)
    assert corpus.shared_note["acme"] in {h.document_id for h in acme_hits}
    assert all(tokens["acme"] not in h.text for h in acme_hits)


def test_audit_records_are_per_tenant_and_each_chain_verifies(engine: Engine, corpus: Corpus,
                                                              module_db: Database) -> None:
    before = owner_counts(module_db)
    engine.search(EXCLUSIVE["globex"][0], reader("acme"))
    engine.documents(reader("acme"))
    after = owner_counts(module_db)
    for tenant in ("globex", "initech"):
        for table in ("audit_records", "audit_checkpoints", "audit_heads"):
            assert after.get((table, tenant)) == before.get((table, tenant)), f"{tenant} {table} changed"
    assert after[("audit_records", "acme")] == before[("audit_records", "acme")] + 2
    for tenant in TENANTS:
        stored = len(owner_rows(module_db, "audit_records", tenant))
        records = engine.audit_records(auditor(tenant))
        assert len(records) == stored
        assert {r.tenant for r in records} == {tenant}
        assert {r.user for r in records} <= {"writer", "reader", "officer", "auditor", "admin"}
        result = engine.audit_verify(auditor(tenant))
        assert result.ok, result.reason
        assert result.records == stored + 1  # the audit.show record written just above


# Through SQL, as the application role


@pytest.fixture
def app_conn(module_db: Database, corpus: Corpus) -> Iterator[psycopg.Connection]:
    with psycopg.connect(module_db._app_conninfo, autocommit=True) as conn:
        yield conn


def test_every_tenant_table_holds_rows_of_every_tenant(corpus: Corpus, module_db: Database) -> None:
    # Guards the tests below: an empty table would make "sees no rows" prove nothing.
    counts = owner_counts(module_db)
    for table in TENANT_TABLES:
        for tenant in TENANTS:
            assert counts.get((table, tenant), 0) > 0, f"{table} has no row of {tenant}"


def test_app_role_without_a_tenant_sees_no_rows(app_conn: psycopg.Connection) -> None:
    assert app_conn.execute("SELECT current_setting('docveil.tenant', true)").fetchone()[0] in (None, "")
    for table in TENANT_TABLES:
        count = app_conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))).fetchone()[0]
        assert count == 0, f"{table}: {count} rows visible without a tenant"


def test_app_role_bound_to_a_tenant_sees_only_that_tenant(app_conn: psycopg.Connection, module_db: Database) -> None:
    counts = owner_counts(module_db)
    with app_conn.transaction():
        app_conn.execute("SELECT set_config('docveil.tenant', 'acme', true)")
        for table in TENANT_TABLES:
            rows = app_conn.execute(sql.SQL("SELECT tenant_id, count(*) FROM {} GROUP BY 1").format(
                sql.Identifier(table))).fetchall()
            assert rows == [("acme", counts[(table, "acme")])], table
            # Asking for another tenant by name finds nothing either.
            named = app_conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = 'globex'").format(
                sql.Identifier(table))).fetchone()[0]
            assert named == 0, table


KEYWORD_CANDIDATES = ("SELECT id FROM keyword_candidates(plainto_tsquery('english', %s), %s, %s, 1000)")


def test_keyword_candidates_answer_only_for_the_bound_tenant_and_its_acl(app_conn: psycopg.Connection,
                                                                          module_db: Database) -> None:
    """The definer function behind keyword search runs without row-level security, so it must
    apply the tenant test and the ACL itself. Every tenant has a matching report."""
    everyone = (["reader"], ["*"])
    assert app_conn.execute(KEYWORD_CANDIDATES, ("warehouse report", *everyone)).fetchall() == []  # no tenant bound
    for tenant in TENANTS:
        with app_conn.transaction():
            app_conn.execute("SELECT set_config('docveil.tenant', %s, true)", [tenant])
            found = {row[0] for row in app_conn.execute(KEYWORD_CANDIDATES, ("warehouse report", *everyone))}
            assert found and found <= chunk_ids(module_db, tenant), tenant
            # Chunk ids recur in every tenant: a word only another tenant's report holds finds nothing.
            for other in TENANTS:
                stock = app_conn.execute(KEYWORD_CANDIDATES, (STOCK[other], *everyone)).fetchall()
                assert bool(stock) == (other == tenant), (tenant, other)
            # The reports are tenant-wide (role "*"): a principal outside that ACL gets nothing.
            assert app_conn.execute(KEYWORD_CANDIDATES, ("warehouse report", ["stranger"], ["no-such-role"])
                                    ).fetchall() == []


def test_app_role_cannot_switch_row_security_off(app_conn: psycopg.Connection) -> None:
    for table in TENANT_TABLES:
        with app_conn.transaction(), pytest.raises(psycopg.errors.InsufficientPrivilege):
            # PostgreSQL accepts the setting but then refuses every query that policies would filter.
            app_conn.execute("SET LOCAL row_security = off")
            app_conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))


@pytest.mark.parametrize("statement", [
    "ALTER TABLE {} DISABLE ROW LEVEL SECURITY",
    "ALTER TABLE {} NO FORCE ROW LEVEL SECURITY",
    "DROP POLICY tenant_isolation ON {}",
    "ALTER POLICY tenant_isolation ON {} USING (true)",
    "CREATE POLICY open_door ON {} USING (true)",
    "ALTER TABLE {} OWNER TO docveil_app_login",
])
def test_app_role_cannot_disable_or_change_policies(app_conn: psycopg.Connection, statement: str) -> None:
    for table in TENANT_TABLES:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app_conn.execute(sql.SQL(statement).format(sql.Identifier(table)))


def test_app_role_cannot_become_another_role(app_conn: psycopg.Connection) -> None:
    for statement in ("SET ROLE docveil_owner", "SET ROLE docveil_super", "SET SESSION AUTHORIZATION docveil_owner"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app_conn.execute(statement)


def test_app_role_is_neither_superuser_nor_bypassrls(app_conn: psycopg.Connection) -> None:
    user = app_conn.execute("SELECT current_user").fetchone()[0]
    roles = app_conn.execute(
        "SELECT rolname, rolsuper, rolbypassrls, rolcreaterole FROM pg_roles"
        " WHERE pg_has_role(current_user, oid, 'MEMBER')").fetchall()
    assert user in {r[0] for r in roles} and "docveil_app" in {r[0] for r in roles}
    for name, superuser, bypassrls, createrole in roles:
        assert not superuser and not bypassrls and not createrole, name
    owners = app_conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                              " AND pg_has_role(current_user, tableowner, 'MEMBER')").fetchall()
    assert owners == []
    without_policies = app_conn.execute(
        "SELECT relname FROM pg_class WHERE relname = ANY(%s) AND NOT relrowsecurity",
        [list(TENANT_TABLES)]).fetchall()
    assert without_policies == []


def test_writes_for_another_tenant_are_refused(app_conn: psycopg.Connection, corpus: Corpus,
                                               module_db: Database) -> None:
    acme_note = corpus.shared_note["acme"]
    attempts = [
        (("INSERT INTO tenant_keys (tenant_id, purpose, version, wrapped, kek_id)"
          " VALUES ('globex', 'data', 99, '\\x00', 'x')"), None),
        ("INSERT INTO subject_keys (tenant_id, digest, wrapped, key_version) VALUES ('globex', 'd', '\\x00', 1)", None),
        ("INSERT INTO audit_heads (tenant_id, seq, hash, checkpoint_seq) VALUES ('nobody', 0, 'h', 0)", None),
        ("UPDATE documents SET tenant_id = 'globex' WHERE id = %s", [acme_note]),
        ("UPDATE chunks SET tenant_id = 'globex' WHERE document_id = %s", [acme_note]),
    ]
    before = owner_counts(module_db)
    for statement, params in attempts:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"), \
                app_conn.transaction():
            app_conn.execute("SELECT set_config('docveil.tenant', 'acme', true)")
            app_conn.execute(statement, params)
    # Without any tenant set, even a row naming no one else is refused.
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
        app_conn.execute("INSERT INTO subject_keys (tenant_id, digest, wrapped, key_version)"
                         " VALUES ('acme', 'd', '\\x00', 1)")
    assert owner_counts(module_db) == before
