-- Chunk and picture ids counted per tenant. Ids drawn from one sequence for every tenant told a
-- tenant how many chunks and pictures the others stored between two of its own documents (the
-- gap between its ids); each tenant's ids now count its own rows only, and a chunk or picture is
-- named by its tenant and id. `repository.reserve_ids` takes a document's ids from the counter
-- in a short transaction of its own, so that stores of one tenant do not wait for each other's
-- commit. Existing rows keep their ids; each tenant's counter goes on from its highest one.
CREATE TABLE id_counters (
    tenant_id text   NOT NULL,
    kind      text   NOT NULL CHECK (kind IN ('chunk', 'image')),
    last_id   bigint NOT NULL CHECK (last_id >= 0),
    PRIMARY KEY (tenant_id, kind)
);

INSERT INTO id_counters (tenant_id, kind, last_id)
    SELECT tenant_id, 'chunk', max(id) FROM chunks GROUP BY tenant_id
    UNION ALL
    SELECT tenant_id, 'image', max(id) FROM images GROUP BY tenant_id;

ALTER TABLE chunks ALTER COLUMN id DROP DEFAULT;
ALTER TABLE images ALTER COLUMN id DROP DEFAULT;
DROP SEQUENCE chunk_ids;
DROP SEQUENCE image_ids;

ALTER TABLE id_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON id_counters
    USING (tenant_id = current_setting('docveil.tenant', true))
    WITH CHECK (tenant_id = current_setting('docveil.tenant', true));
GRANT SELECT, INSERT, UPDATE ON id_counters TO docveil_app;
