-- Chunks partitioned by tenant: 16 partitions by hash of tenant_id.
--
-- Every statement the application role runs carries the tenant policy's
-- `tenant_id = current_setting('docveil.tenant', true)`, so PostgreSQL prunes the other
-- partitions when the statement starts; the search statement also names its tenant as a value,
-- so the planner sees the one partition it reads and walks its HNSW graph, holding that tenant's
-- chunks and those of the tenants hashed beside it, instead of a graph of every tenant's chunks
-- it must filter row by row. Existing chunks are moved over with
-- their ids; the vector index, if `Database.ensure_text_vectors` made one already, is made again.

ALTER TABLE chunks RENAME TO chunks_unpartitioned;
ALTER TABLE chunks_unpartitioned RENAME CONSTRAINT chunks_pkey TO chunks_unpartitioned_pkey;
ALTER TABLE chunks_unpartitioned RENAME CONSTRAINT chunks_document_id_ordinal_key
    TO chunks_unpartitioned_document_id_ordinal_key;
ALTER INDEX chunks_tsv RENAME TO chunks_unpartitioned_tsv;
ALTER INDEX chunks_tenant RENAME TO chunks_unpartitioned_tenant;
ALTER INDEX IF EXISTS chunks_embedding_hnsw RENAME TO chunks_unpartitioned_embedding_hnsw;

CREATE SEQUENCE chunk_ids AS bigint;
SELECT setval('chunk_ids', coalesce((SELECT max(id) FROM chunks_unpartitioned), 0) + 1, false);

-- The same columns (the vector column too, where there is one), defaults and generated text
-- search column; keys that hold the tenant, as a partitioned table's keys must.
CREATE TABLE chunks (
    LIKE chunks_unpartitioned INCLUDING DEFAULTS INCLUDING GENERATED,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, document_id, ordinal),
    FOREIGN KEY (document_id) REFERENCES documents (id) ON DELETE CASCADE
) PARTITION BY HASH (tenant_id);
ALTER TABLE chunks ALTER COLUMN id SET DEFAULT nextval('chunk_ids');
ALTER SEQUENCE chunk_ids OWNED BY chunks.id;

DO $$
DECLARE
    columns text;
BEGIN
    FOR remainder IN 0..15 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF chunks FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                       'chunks_p' || lpad(remainder::text, 2, '0'), remainder);
    END LOOP;
    -- Every stored column; the text search column is generated again from the text.
    SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO columns
    FROM pg_attribute
    WHERE attrelid = 'chunks_unpartitioned'::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
    EXECUTE format('INSERT INTO chunks (%s) SELECT %s FROM chunks_unpartitioned', columns, columns);
    IF EXISTS (SELECT FROM pg_attribute WHERE attrelid = 'chunks'::regclass AND attname = 'embedding') THEN
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
