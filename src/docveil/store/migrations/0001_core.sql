-- Core tables. Every table holding tenant data has row-level security keyed on the
-- per-transaction setting docveil.tenant; the application role cannot bypass it.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'docveil_app') THEN
        CREATE ROLE docveil_app NOLOGIN NOSUPERUSER NOBYPASSRLS;
    END IF;
END $$;

CREATE TABLE tenant_keys (
    tenant_id   text        NOT NULL,
    purpose     text        NOT NULL,
    version     integer     NOT NULL,
    wrapped     bytea       NOT NULL,
    kek_id      text        NOT NULL,
    state       text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, purpose, version)
);

CREATE TABLE documents (
    id            uuid        PRIMARY KEY,
    tenant_id     text        NOT NULL,
    content_hash  text        NOT NULL,
    media_type    text        NOT NULL,
    page_count    integer     NOT NULL,
    chunk_count   integer     NOT NULL,
    finding_count integer     NOT NULL,
    source_enc    bytea       NOT NULL,
    metadata_enc  bytea       NOT NULL,
    key_version   integer     NOT NULL,
    owner_user    text        NOT NULL,
    acl_users     text[]      NOT NULL DEFAULT '{}',
    acl_roles     text[]      NOT NULL DEFAULT '{}',
    manifest      jsonb       NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, content_hash)
);

CREATE TABLE chunks (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   text        NOT NULL,
    document_id uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     integer     NOT NULL,
    page        integer     NOT NULL,
    char_start  integer     NOT NULL,
    char_end    integer     NOT NULL,
    bbox        real[],
    acl_users   text[]      NOT NULL DEFAULT '{}',
    acl_roles   text[]      NOT NULL DEFAULT '{}',
    text        text        NOT NULL,
    -- Pseudonym tokens look like XML tags (<PERSON_7f3a2c9e1b>) to the text parser, which would
    -- drop them: index them as words.
    tsv         tsvector    GENERATED ALWAYS AS (to_tsvector('english', translate(text, '<>', '  '))) STORED,
    UNIQUE (document_id, ordinal)
);
CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
CREATE INDEX chunks_tenant ON chunks (tenant_id);

-- Pseudonym vault: each value encrypted under a key of its own data subject, so destroying
-- that key (forget) makes the value unrecoverable everywhere at once.
CREATE TABLE subject_keys (
    tenant_id   text        NOT NULL,
    digest      text        NOT NULL,
    wrapped     bytea       NOT NULL,
    key_version integer     NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, digest)
);

CREATE TABLE vault (
    tenant_id   text  NOT NULL,
    digest      text  NOT NULL,
    token       text  NOT NULL,
    entity_type text  NOT NULL,
    value_enc   bytea NOT NULL,
    PRIMARY KEY (tenant_id, digest),
    FOREIGN KEY (tenant_id, digest) REFERENCES subject_keys (tenant_id, digest) ON DELETE CASCADE
);
CREATE INDEX vault_token ON vault (tenant_id, token);

CREATE TABLE document_subjects (
    tenant_id   text NOT NULL,
    document_id uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    digest      text NOT NULL,
    PRIMARY KEY (document_id, digest)
);
CREATE INDEX document_subjects_digest ON document_subjects (tenant_id, digest);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenant_keys', 'documents', 'chunks', 'subject_keys', 'vault', 'document_subjects'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''docveil.tenant'', true)) '
            'WITH CHECK (tenant_id = current_setting(''docveil.tenant'', true))', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO docveil_app', t);
    END LOOP;
END $$;
GRANT USAGE ON SEQUENCE chunks_id_seq TO docveil_app;
