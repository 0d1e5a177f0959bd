-- Redacted pictures for picture search: one row per scanned page, photo or picture placed in a
-- document, with its place (page, box) and the document's ACL, as chunks carry it. The vector
-- column and its HNSW index are added by `Database.ensure_image_vectors` once an image encoder
-- says its dimension. The pixels themselves are not stored.
--
-- Partitioned by tenant as chunks are (migration 0005 says why): the search names its tenant as
-- a value, so the planner reads one partition and walks that partition's HNSW graph instead of
-- one graph of every tenant's pictures filtered row by row, in which a small tenant could get
-- fewer than k of its own.
CREATE SEQUENCE image_ids AS bigint;

CREATE TABLE images (
    id          bigint      NOT NULL DEFAULT nextval('image_ids'),
    tenant_id   text        NOT NULL,
    document_id uuid        NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    ordinal     integer     NOT NULL,
    page        integer     NOT NULL,
    kind        text        NOT NULL,
    bbox        real[],
    width       integer     NOT NULL,
    height      integer     NOT NULL,
    acl_users   text[]      NOT NULL DEFAULT '{}',
    acl_roles   text[]      NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, id),
    UNIQUE (tenant_id, document_id, ordinal)
) PARTITION BY HASH (tenant_id);
ALTER SEQUENCE image_ids OWNED BY images.id;

DO $$
BEGIN
    FOR remainder IN 0..15 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF images FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                       'images_p' || lpad(remainder::text, 2, '0'), remainder);
    END LOOP;
END $$;

-- The policy and the grants are on the partitioned table only, as for chunks.
ALTER TABLE images ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON images
    USING (tenant_id = current_setting('docveil.tenant', true))
    WITH CHECK (tenant_id = current_setting('docveil.tenant', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON images TO docveil_app;
GRANT USAGE ON SEQUENCE image_ids TO docveil_app;
