-- Full-text candidates for hybrid search through the GIN index `chunks_tsv`.
--
-- Under row-level security PostgreSQL may not evaluate `tsv @@ query` before the tenant policy
-- (ts_match_vq is not LEAKPROOF), so the keyword retriever used to read every chunk of the tenant
-- and test each. This function runs as the owner (not subject to the policy) and applies the
-- policy's own tenant test and the document ACL itself, so the index can lead. It returns only
-- ids and ranks of the current tenant's visible chunks; the search statement then reads those
-- rows under row-level security as before. With no tenant set it returns nothing.
CREATE FUNCTION keyword_candidates(query tsquery, principal_user text[], principal_roles text[],
                                   max_rows integer)
    RETURNS TABLE (id bigint, rank_cd real)
    LANGUAGE sql STABLE SECURITY DEFINER
    -- A definer function must not resolve names through a schema its callers could write to.
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT c.id, ts_rank_cd(c.tsv, query)
    FROM public.chunks AS c
    WHERE c.tenant_id = current_setting('docveil.tenant', true)
      AND c.tsv @@ query
      AND (c.acl_users && principal_user OR c.acl_roles && principal_roles)
    ORDER BY 2 DESC, c.id
    LIMIT max_rows
$$;
REVOKE ALL ON FUNCTION keyword_candidates(tsquery, text[], text[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION keyword_candidates(tsquery, text[], text[], integer) TO docveil_app;
