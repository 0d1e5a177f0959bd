-- Redacted pictures for image search: one row per scanned page, photo or picture placed in a
-- document, with its place (page, box) and the document's ACL, as chunks carry it. The vector
-- column and its HNSW index are added by `Database.ensure_image_vectors` once an image encoder
-- says its dimension. The pixels themselves are not stored.
CREATE TABLE images (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
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
);

ALTER TABLE images ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON images
    USING (tenant_id = current_setting('docveil.tenant', true))
    WITH CHECK (tenant_id = current_setting('docveil.tenant', true));
GRANT SELECT, INSERT, UPDATE, DELETE ON images TO docveil_app;
