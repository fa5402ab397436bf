-- The operator console: operator accounts (apart from buyers), their sessions, TOTP
-- second factor and recovery codes, and the append-only audit log of what they did.
-- The SQLite twin of this file must stay equivalent.
CREATE TABLE operators (
    id                  TEXT PRIMARY KEY,
    email               TEXT NOT NULL UNIQUE,
    role                TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'support')),
    password_hash       TEXT NOT NULL,
    -- Sealed under the data key; set while enrolling, kept once enabled.
    totp_secret_sealed  BYTEA,
    totp_enabled        BOOLEAN NOT NULL DEFAULT FALSE,
    -- The last 30-second step a code was accepted for: a code is good once.
    totp_last_step      BIGINT,
    status              TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at          BIGINT NOT NULL
);

-- `stage`: 'password' (the password was right, the second factor or its enrolment is
-- still to come) or 'full'. Tokens are stored as digests.
CREATE TABLE operator_sessions (
    token_hash   TEXT PRIMARY KEY,
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    csrf_token   TEXT NOT NULL,
    stage        TEXT NOT NULL CHECK (stage IN ('password', 'full')),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX operator_sessions_operator ON operator_sessions (operator_id);
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at);

-- One-time recovery codes (digests), each good once.
CREATE TABLE operator_recovery_codes (
    operator_id  TEXT NOT NULL REFERENCES operators(id),
    code_hash    TEXT NOT NULL,
    used_at      BIGINT,
    PRIMARY KEY (operator_id, code_hash)
);

-- Every operator action: who, when, what, before and after (JSON text, never secrets).
-- Rows are only ever added: updates and deletes are refused by the trigger below.
CREATE TABLE operator_audit (
    id              BIGSERIAL PRIMARY KEY,
    operator_id     TEXT,
    operator_email  TEXT NOT NULL,
    action          TEXT NOT NULL,
    subject         TEXT NOT NULL DEFAULT '',
    before_value    TEXT,
    after_value     TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX operator_audit_subject ON operator_audit (subject, id);
CREATE FUNCTION operator_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the operator audit log is append-only';
END;
$$;
CREATE TRIGGER operator_audit_no_change BEFORE UPDATE OR DELETE ON operator_audit
    FOR EACH ROW EXECUTE FUNCTION operator_audit_append_only();

-- The console's charts read the period's orders from this index alone (it covers every
-- column they sum or group by); its lists read orders by time.
CREATE INDEX orders_created ON orders (created_at, kind, status, charge, refunded, provider_cost,
                                       provider_id, shop_id, service_number);
CREATE INDEX ledger_created ON ledger (created_at);
