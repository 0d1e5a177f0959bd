-- Tamper-evident audit log (docs/audit.md). One hash chain per tenant: records, the signed
-- checkpoints that pin it, and the head row that writers lock to append in order.
-- The application role may append and read, never update or delete a record or checkpoint.

CREATE TABLE audit_records (
    tenant_id      text        NOT NULL,
    seq            bigint      NOT NULL CHECK (seq > 0),
    ts             timestamptz NOT NULL,
    user_id        text        NOT NULL,
    roles          text[]      NOT NULL,
    action         text        NOT NULL,
    outcome        text        NOT NULL,
    targets        text[]      NOT NULL,
    -- json, not jsonb: the text is kept as written, so 1 and 1.0 stay apart and the hash holds.
    counts         json        NOT NULL,
    hashes         json        NOT NULL,
    extra          json        NOT NULL,
    checkpoint_seq bigint      NOT NULL CHECK (checkpoint_seq >= 0),
    prev_hash      text        NOT NULL,
    hash           text        NOT NULL,
    mac            text        NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);
CREATE INDEX audit_records_ts ON audit_records (tenant_id, ts);

CREATE TABLE audit_checkpoints (
    tenant_id text        NOT NULL,
    seq       bigint      NOT NULL CHECK (seq > 0),
    hash      text        NOT NULL,
    ts        timestamptz NOT NULL,
    signature text        NOT NULL,
    PRIMARY KEY (tenant_id, seq)
);

CREATE TABLE audit_heads (
    tenant_id      text   PRIMARY KEY,
    seq            bigint NOT NULL CHECK (seq >= 0),
    hash           text   NOT NULL,
    checkpoint_seq bigint NOT NULL CHECK (checkpoint_seq >= 0)
);

-- The application role must update the head to append, but never move it back: rolling the
-- head back would let it hide deleted tail records (which it cannot delete anyway).
CREATE FUNCTION audit_heads_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq < OLD.seq OR NEW.checkpoint_seq < OLD.checkpoint_seq THEN
        RAISE EXCEPTION 'the audit head only moves forward';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER audit_heads_forward_only BEFORE UPDATE ON audit_heads
    FOR EACH ROW EXECUTE FUNCTION audit_heads_forward_only();

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_records', 'audit_checkpoints', 'audit_heads'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''docveil.tenant'', true)) '
            'WITH CHECK (tenant_id = current_setting(''docveil.tenant'', true))', t);
    END LOOP;
END $$;

GRANT SELECT, INSERT ON audit_records, audit_checkpoints TO docveil_app;
-- Column-level UPDATE: enough for SELECT ... FOR UPDATE and for advancing the head.
GRANT SELECT, INSERT, UPDATE (seq, hash, checkpoint_seq) ON audit_heads TO docveil_app;
