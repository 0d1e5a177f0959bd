-- API keys of the HTTP server (docs/http.md). A key is a random token shown once; only its
-- SHA-256 is stored, with the principal it acts as. The application role cannot read this
-- table at all: it resolves a presented key through api_key_principal(), which runs as the
-- owner and answers for one exact hash, so a request can be authenticated before its tenant is
-- known without the application role ever listing keys or crossing tenants. Keys are created
-- and revoked by the owner role (`docveil keys api ...`).

CREATE TABLE api_keys (
    id          text        PRIMARY KEY CHECK (id ~ '^[0-9a-f]{16}$'),
    key_hash    bytea       NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    tenant_id   text        NOT NULL CHECK (tenant_id <> ''),
    user_id     text        NOT NULL CHECK (user_id <> ''),
    roles       text[]      NOT NULL DEFAULT '{}',
    name        text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Same tenant policy as every other table, should the application role ever be granted access.
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON api_keys
    USING (tenant_id = current_setting('docveil.tenant', true))
    WITH CHECK (tenant_id = current_setting('docveil.tenant', true));
REVOKE ALL ON api_keys FROM PUBLIC;

CREATE FUNCTION api_key_principal(candidate bytea)
    RETURNS TABLE (key_id text, tenant_id text, user_id text, roles text[])
    LANGUAGE sql STABLE SECURITY DEFINER
    -- A definer function must not resolve names through a schema its callers could write to.
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT k.id, k.tenant_id, k.user_id, k.roles
    FROM public.api_keys AS k
    WHERE k.key_hash = candidate AND k.revoked_at IS NULL
$$;
REVOKE ALL ON FUNCTION api_key_principal(bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION api_key_principal(bytea) TO docveil_app;
