-- Chunk and picture ids counted per tenant. Ids drawn from one sequence for every tenant told a
-- tenant how many chunks and pictures the others stored between two of its own documents (the
-- gap between its ids); each tenant's ids now count its own rows only, and a chunk or picture is
-- named by its tenant and id. `repository.reserve_ids` takes a document's ids from the counter
-- in a short transaction of its own, so that stores of one tenant do not wait for each other's
-- commit. Processes still running the code from before this migration can store nothing after
-- it (their inserts take the id from the dropped default): stop them before migrating.
CREATE TABLE id_counters (
    tenant_id text   NOT NULL,
    kind      text   NOT NULL CHECK (kind IN ('chunk', 'image')),
    last_id   bigint NOT NULL CHECK (last_id >= 0),
    PRIMARY KEY (tenant_id, kind)
);

-- First, as it locks the tables: an insert still running with a sequence's id commits before
-- the counters are read.
ALTER TABLE chunks ALTER COLUMN id DROP DEFAULT;
ALTER TABLE images ALTER COLUMN id DROP DEFAULT;

-- Existing rows keep their ids. Every tenant that has keys goes on past the last id the
-- sequences gave out (not its own highest one: ids of deleted chunks stay unused, as audit
-- records of searches and answers name chunks by id).
INSERT INTO id_counters (tenant_id, kind, last_id)
SELECT tenants.tenant_id, issued.kind, issued.last_id
FROM (SELECT tenant_id FROM tenant_keys UNION SELECT tenant_id FROM chunks UNION SELECT tenant_id FROM images) AS tenants
CROSS JOIN (SELECT 'chunk' AS kind, CASE WHEN is_called THEN last_value ELSE last_value - 1 END AS last_id FROM chunk_ids
            UNION ALL
            SELECT 'image', CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM image_ids) AS issued;

DROP SEQUENCE chunk_ids;
DROP SEQUENCE image_ids;

ALTER TABLE id_counters ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON id_counters
    USING (tenant_id = current_setting('docveil.tenant', true))
    WITH CHECK (tenant_id = current_setting('docveil.tenant', true));
GRANT SELECT, INSERT, UPDATE ON id_counters TO docveil_app;
