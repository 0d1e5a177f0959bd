-- A document is a duplicate of one its uploader can read (or owns), never of one hidden from
-- them: the same content may be stored once per owner, so that uploading a file someone else
-- keeps private neither confirms that it exists nor leaves the uploader without their copy.
ALTER TABLE documents DROP CONSTRAINT IF EXISTS documents_tenant_id_content_hash_key;
ALTER TABLE documents ADD CONSTRAINT documents_tenant_id_content_hash_owner_user_key
    UNIQUE (tenant_id, content_hash, owner_user);
