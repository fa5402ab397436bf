-- Buyers' top-ups through payment gateways (Cryptomus, NOWPayments, Stripe Checkout, a
-- manual transfer the operator confirms). A payment is credited by exactly one ledger
-- row of kind 'deposit' that names it (plus at most one 'bonus' row): the unique index
-- on (payment_id, kind) makes a second credit impossible whatever runs twice.

-- One row per gateway the operator configured; keys sealed under the data key.
CREATE TABLE payment_gateways (
    id              TEXT PRIMARY KEY CHECK (id IN ('cryptomus', 'nowpayments', 'stripe', 'manual')),
    enabled         BOOLEAN NOT NULL DEFAULT FALSE,
    title           TEXT NOT NULL DEFAULT '',
    base_url        TEXT NOT NULL DEFAULT '',
    merchant        TEXT NOT NULL DEFAULT '',
    api_key_enc     BLOB,
    secret_enc      BLOB,
    min_amount      BIGINT NOT NULL CHECK (min_amount > 0),
    max_amount      BIGINT NOT NULL CHECK (max_amount >= min_amount),
    fee_bp          BIGINT NOT NULL DEFAULT 0 CHECK (fee_bp BETWEEN 0 AND 10000),
    -- Manual transfers: where to send the money, shown to the buyer.
    instructions    TEXT NOT NULL DEFAULT '',
    updated_at      BIGINT NOT NULL
);

CREATE TABLE payments (
    id              TEXT PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users(id),
    gateway         TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('created', 'pending', 'held', 'paid', 'partially_paid', 'expired', 'failed')),
    -- What a payment in full credits, the fee on top, and their sum (the invoice).
    amount          BIGINT NOT NULL CHECK (amount > 0),
    fee             BIGINT NOT NULL CHECK (fee >= 0),
    total           BIGINT NOT NULL CHECK (total = amount + fee),
    currency        TEXT NOT NULL,
    -- The deposit bonus a payment in full earns, as quoted before paying.
    bonus           BIGINT NOT NULL DEFAULT 0 CHECK (bonus >= 0),
    -- What the gateway said arrived (invoice currency), once it said.
    received        BIGINT,
    credited        BIGINT NOT NULL DEFAULT 0 CHECK (credited >= 0),
    bonus_credited  BIGINT NOT NULL DEFAULT 0 CHECK (bonus_credited >= 0),
    -- The gateway's invoice (or session) id; for a manual transfer, the transaction id
    -- the buyer reported.
    external_id     TEXT,
    -- The gateway's id of the payment made against the invoice, learnt from a verified
    -- callback (NOWPayments), to ask about it.
    remote_id       TEXT,
    pay_url         TEXT NOT NULL DEFAULT '',
    -- Paid after the invoice had expired: credited all the same, flagged.
    late            BOOLEAN NOT NULL DEFAULT FALSE,
    -- The gateway's own word for the last state it reported, and why the payment is
    -- where it is (for the operator and the buyer's page).
    remote_status   TEXT NOT NULL DEFAULT '',
    note            TEXT NOT NULL DEFAULT '',
    expires_at      BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    settled_at      BIGINT
);
CREATE UNIQUE INDEX payments_external ON payments (gateway, external_id)
    WHERE external_id IS NOT NULL AND gateway <> 'manual';
-- A transfer's id is unique per buyer only: anyone can read a public transaction id and
-- claim it first, which must not lock its real payer out. The operator's approval
-- refuses an id already credited on another claim.
CREATE UNIQUE INDEX payments_transfer ON payments (user_id, external_id) WHERE gateway = 'manual';
CREATE INDEX payments_user ON payments (user_id, created_at);
CREATE INDEX payments_state ON payments (state, created_at);

-- Every callback received and every check made, with its verdict: the operator's
-- record of what the gateways said and what Souk did about it.
CREATE TABLE payment_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id      TEXT,
    gateway         TEXT NOT NULL,
    source          TEXT NOT NULL CHECK (source IN ('callback', 'check', 'operator', 'buyer')),
    verdict         TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX payment_events_payment ON payment_events (payment_id, id) WHERE payment_id IS NOT NULL;
CREATE INDEX payment_events_recent ON payment_events (id);

ALTER TABLE ledger ADD COLUMN payment_id TEXT;
CREATE UNIQUE INDEX ledger_payment ON ledger (payment_id, kind) WHERE payment_id IS NOT NULL;

-- A payment's check woken by a callback while it runs goes again at once, instead of at
-- its next scheduled time.
ALTER TABLE jobs ADD COLUMN woken BOOLEAN NOT NULL DEFAULT FALSE;
