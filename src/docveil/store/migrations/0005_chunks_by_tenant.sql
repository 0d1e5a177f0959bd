-- Chunks partitioned by tenant: 16 partitions by hash of tenant_id.
--
-- Every statement the application role runs carries the tenant policy's
-- `tenant_id = current_setting('docveil.tenant', true)`, so PostgreSQL prunes the other
-- partitions when the statement starts. The vector search then walks the HNSW graph of one
-- partition, holding that tenant's chunks and those of the tenants hashed beside it, instead of
-- a graph of every tenant's chunks it must filter row by row. Existing chunks are moved over with
-- their ids; the vector column and its index, if `Database.ensure_text_vectors` made them already,
-- are made again in the same shape.

ALTER TABLE chunks RENAME TO chunks_unpartitioned;
ALTER TABLE chunks_unpartitioned RENAME CONSTRAINT chunks_pkey TO chunks_unpartitioned_pkey;
ALTER TABLE chunks_unpartitioned RENAME CONSTRAINT chunks_document_id_ordinal_key
    TO chunks_unpartitioned_document_id_ordinal_key;
ALTER INDEX chunks_tsv RENAME TO chunks_unpartitioned_tsv;
ALTER INDEX chunks_tenant RENAME TO chunks_unpartitioned_tenant;
ALTER INDEX IF EXISTS chunks_embedding_hnsw RENAME TO chunks_unpartitioned_embedding_hnsw;

CREATE SEQUENCE chunk_ids AS bigint;
SELECT setval('chunk_ids', coalesce((SELECT max(id) FROM chunks_unpartitioned), 0) + 1, false);

CREATE TABLE chunks (
    id          bigint      NOT NULL DEFAULT nextval('chunk_ids'),
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
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, document_id, ordinal)
) PARTITION BY HASH (tenant_id);
ALTER SEQUENCE chunk_ids OWNED BY chunks.id;

DO $$
DECLARE
    vector_type text;
    columns text := 'id, tenant_id, document_id, ordinal, page, char_start, char_end, bbox, acl_users, acl_roles, text';
BEGIN
    FOR remainder IN 0..15 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF chunks FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                       'chunks_p' || lpad(remainder::text, 2, '0'), remainder);
    END LOOP;
    SELECT format_type(atttypid, atttypmod) INTO vector_type
    FROM pg_attribute
    WHERE attrelid = 'chunks_unpartitioned'::regclass AND attname = 'embedding' AND NOT attisdropped;
    IF vector_type IS NOT NULL THEN
        EXECUTE format('ALTER TABLE chunks ADD COLUMN embedding %s', vector_type);
        columns := columns || ', embedding';
    END IF;
    EXECUTE format('INSERT INTO chunks (%s) SELECT %s FROM chunks_unpartitioned', columns, columns);
    IF vector_type IS NOT NULL THEN
        CREATE INDEX chunks_embedding_hnsw ON chunks USING hnsw (embedding vector_cosine_ops);
    END IF;
END $$;

CREATE INDEX chunks_tsv ON chunks USING gin (tsv);
DROP TABLE chunks_unpartitioned;

-- The policy and the grants are on the partitioned table only: the application role reads and
-- writes chunks through it (where the policy applies) and has no rights on a partition itself.
ALTER TABLE chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON chunks
    USING (tenant_id = current_setting('docveil.tenant', true))
    WITH CHECK (tenant_id = current_setting('docveil.tenant', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON chunks TO docveil_app;
GRANT USAGE ON SEQUENCE chunk_ids TO docveil_app;
