-- A token names its subject by the first ten hex characters of the digest, under the label of
-- whichever type it was found as: "Jane Roe" may be <PERSON_1239ef8040> in one place and
-- <LOCATION_1239ef8040> in another, with one vault entry. Tokens are resolved by that prefix.
CREATE INDEX vault_short_digest ON vault (tenant_id, left(digest, 10));
DROP INDEX vault_token;
