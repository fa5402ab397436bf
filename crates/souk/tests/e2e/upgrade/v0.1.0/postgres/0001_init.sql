-- Souk schema, PostgreSQL. Money in integer micro-units, times in unix milliseconds,
-- entity ids as 24-hex text. The SQLite twin of this file must stay equivalent.

CREATE TABLE settings (
    key         TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Counters bumped in the same transaction as a change, so every node's caches can tell
-- that they are stale (polled, and pushed with NOTIFY on PostgreSQL).
CREATE TABLE state_versions (
    id                 BIGINT PRIMARY KEY CHECK (id = 1),
    catalogue_version  BIGINT NOT NULL,
    auth_version       BIGINT NOT NULL
);
INSERT INTO state_versions (id, catalogue_version, auth_version) VALUES (1, 1, 1);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    password_hash  TEXT,
    balance        BIGINT NOT NULL DEFAULT 0 CHECK (balance >= 0),
    status         TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    is_supplier    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at     BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id),
    key_hash      TEXT NOT NULL UNIQUE,
    key_prefix    TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE web_sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

-- Every balance change. A user's balance always equals the sum of their rows.
CREATE TABLE ledger (
    id             BIGSERIAL PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id),
    amount         BIGINT NOT NULL,
    balance_after  BIGINT NOT NULL CHECK (balance_after >= 0),
    kind           TEXT NOT NULL,
    order_id       BIGINT,
    note           TEXT NOT NULL DEFAULT '',
    created_at     BIGINT NOT NULL
);
CREATE INDEX ledger_user ON ledger (user_id, id);
CREATE INDEX ledger_order ON ledger (order_id) WHERE order_id IS NOT NULL;

CREATE TABLE categories (
    id           TEXT PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    image_url    TEXT,
    position     BIGINT NOT NULL DEFAULT 0,
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   BIGINT NOT NULL
);

CREATE TABLE subcategories (
    id           TEXT PRIMARY KEY,
    category_id  TEXT NOT NULL REFERENCES categories(id),
    slug         TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    image_url    TEXT,
    position     BIGINT NOT NULL DEFAULT 0,
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    created_at   BIGINT NOT NULL,
    UNIQUE (category_id, slug)
);

-- Translations of every translatable field: entity is one of category, subcategory,
-- service, subproduct, sms_project, sms_country; field is name or description.
CREATE TABLE translations (
    entity     TEXT NOT NULL,
    entity_id  TEXT NOT NULL,
    field      TEXT NOT NULL,
    lang       TEXT NOT NULL,
    value      TEXT NOT NULL,
    PRIMARY KEY (entity, entity_id, field, lang)
);

CREATE TABLE shops (
    id          TEXT PRIMARY KEY,
    owner_id    TEXT NOT NULL REFERENCES users(id),
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL
);
CREATE INDEX shops_owner ON shops (owner_id);

-- Upstream panels and marketplaces (API v2) and SMS providers (sms-activate protocol).
CREATE TABLE providers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    protocol            TEXT NOT NULL DEFAULT 'api_v2' CHECK (protocol IN ('api_v2', 'sms_activate')),
    url                 TEXT NOT NULL,
    api_key_enc         BYTEA NOT NULL,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    timeout_ms          BIGINT NOT NULL DEFAULT 15000,
    requests_per_second BIGINT NOT NULL DEFAULT 5,
    balance             BIGINT,
    balance_checked_at  BIGINT,
    created_at          BIGINT NOT NULL
);

-- Products and SMM services share one table so that they share the friendly number.
CREATE TABLE services (
    number            BIGSERIAL PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    entity            TEXT NOT NULL CHECK (entity IN ('product', 'smm')),
    product_type      TEXT NOT NULL CHECK (product_type IN ('inventory', 'manual', 'auto')),
    shop_id           TEXT NOT NULL REFERENCES shops(id),
    subcategory_id    TEXT NOT NULL REFERENCES subcategories(id),
    name              TEXT NOT NULL,
    description       TEXT NOT NULL DEFAULT '',
    type_name         TEXT NOT NULL DEFAULT 'Default',
    image_url         TEXT,
    rate              BIGINT NOT NULL DEFAULT 0 CHECK (rate >= 0),
    min_qty           BIGINT NOT NULL DEFAULT 1 CHECK (min_qty >= 1),
    max_qty           BIGINT NOT NULL DEFAULT 1,
    refill            BOOLEAN NOT NULL DEFAULT FALSE,
    refill_days       BIGINT,
    cancel            BOOLEAN NOT NULL DEFAULT FALSE,
    dripfeed          BOOLEAN NOT NULL DEFAULT FALSE,
    recommended       BOOLEAN NOT NULL DEFAULT FALSE,
    active            BOOLEAN NOT NULL DEFAULT TRUE,
    provider_id       TEXT REFERENCES providers(id),
    provider_service  TEXT,
    provider_rate     BIGINT,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (max_qty >= min_qty)
);
CREATE INDEX services_shop ON services (shop_id);
CREATE INDEX services_provider ON services (provider_id) WHERE provider_id IS NOT NULL;

-- Variants of a product. `stock` is the count of unsold stock lines for inventory
-- products (kept in the same transaction as the lines) and declared capacity otherwise;
-- `stock_version` grows with every change so caches apply updates in order.
CREATE TABLE subproducts (
    id              TEXT PRIMARY KEY,
    service_number  BIGINT NOT NULL REFERENCES services(number),
    name            TEXT NOT NULL,
    price           BIGINT NOT NULL CHECK (price >= 0),
    min_qty         BIGINT NOT NULL DEFAULT 1 CHECK (min_qty >= 1),
    max_qty         BIGINT NOT NULL DEFAULT 1,
    position        BIGINT NOT NULL DEFAULT 0,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    stock           BIGINT NOT NULL DEFAULT 0 CHECK (stock >= 0),
    stock_version   BIGINT NOT NULL DEFAULT 0,
    provider_ref    TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (max_qty >= min_qty)
);
CREATE INDEX subproducts_service ON subproducts (service_number);

-- Credentials for sale, encrypted (nonce || AES-256-GCM ciphertext). `fingerprint` is a
-- keyed hash of the plaintext so uploads can be de-duplicated without decrypting.
-- A line belongs to at most one order, set once.
CREATE TABLE stock_lines (
    id              BIGSERIAL PRIMARY KEY,
    service_number  BIGINT NOT NULL REFERENCES services(number),
    subproduct_id   TEXT NOT NULL REFERENCES subproducts(id),
    content         BYTEA NOT NULL,
    fingerprint     TEXT NOT NULL,
    source          TEXT NOT NULL DEFAULT 'upload' CHECK (source IN ('upload', 'delivery', 'upstream')),
    order_id        BIGINT,
    created_at      BIGINT NOT NULL,
    delivered_at    BIGINT
);
CREATE INDEX stock_lines_unsold ON stock_lines (subproduct_id, id) WHERE order_id IS NULL;
CREATE INDEX stock_lines_order ON stock_lines (order_id, id) WHERE order_id IS NOT NULL;
CREATE INDEX stock_lines_fingerprint ON stock_lines (service_number, fingerprint);

-- Every order of every kind, so that product, SMM and SMS orders share one number.
CREATE TABLE orders (
    id                BIGSERIAL PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users(id),
    kind              TEXT NOT NULL CHECK (kind IN ('product', 'smm', 'sms')),
    service_number    BIGINT REFERENCES services(number),
    subproduct_id     TEXT REFERENCES subproducts(id),
    shop_id           TEXT REFERENCES shops(id),
    product_type      TEXT NOT NULL CHECK (product_type IN ('inventory', 'manual', 'auto')),
    link              TEXT NOT NULL DEFAULT '',
    quantity          BIGINT NOT NULL CHECK (quantity >= 1),
    unit_price        BIGINT NOT NULL DEFAULT 0,
    charge            BIGINT NOT NULL CHECK (charge >= 0),
    refunded          BIGINT NOT NULL DEFAULT 0,
    delivered         BIGINT NOT NULL DEFAULT 0,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'error', 'completed', 'partial', 'canceled')),
    payment_status    TEXT NOT NULL DEFAULT 'completed' CHECK (payment_status IN ('pending', 'completed', 'partial', 'refunded')),
    start_count       BIGINT,
    remains           BIGINT,
    params            TEXT NOT NULL DEFAULT '{}',
    self_refunded     BOOLEAN NOT NULL DEFAULT FALSE,
    provider_id       TEXT REFERENCES providers(id),
    external_id       TEXT,
    forward_state     TEXT NOT NULL DEFAULT 'none' CHECK (forward_state IN ('none', 'queued', 'sending', 'sent', 'unknown', 'failed')),
    forward_attempts  BIGINT NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT,
    lease_owner       TEXT,
    lease_until       BIGINT,
    last_error        TEXT,
    next_sync_at      BIGINT,
    parent_id         BIGINT REFERENCES orders(id),
    runs              BIGINT,
    interval_minutes  BIGINT,
    created_at        BIGINT NOT NULL,
    paid_at           BIGINT,
    updated_at        BIGINT NOT NULL,
    CHECK (refunded >= 0 AND refunded <= charge),
    CHECK (delivered >= 0 AND delivered <= quantity)
);
CREATE INDEX orders_user ON orders (user_id, id);
CREATE INDEX orders_shop ON orders (shop_id, status, id);
CREATE INDEX orders_forward ON orders (next_attempt_at) WHERE forward_state IN ('queued', 'sending');
CREATE INDEX orders_sync ON orders (provider_id, next_sync_at) WHERE external_id IS NOT NULL AND status IN ('pending', 'processing', 'error');
CREATE INDEX orders_parent ON orders (parent_id) WHERE parent_id IS NOT NULL;

-- `add` retried with the same key within 24 hours returns the first order. The row is
-- written first in the order's transaction (order_id still NULL), so a concurrent retry
-- waits for it instead of placing a second order.
CREATE TABLE idempotency_keys (
    user_id       TEXT NOT NULL REFERENCES users(id),
    key           TEXT NOT NULL,
    order_id      BIGINT REFERENCES orders(id),
    request_hash  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- What happened to an order, for reconciliation and the operator.
CREATE TABLE order_events (
    id          BIGSERIAL PRIMARY KEY,
    order_id    BIGINT NOT NULL REFERENCES orders(id),
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX order_events_order ON order_events (order_id, id);

CREATE TABLE refills (
    id           BIGSERIAL PRIMARY KEY,
    order_id     BIGINT NOT NULL REFERENCES orders(id),
    user_id      TEXT NOT NULL REFERENCES users(id),
    status       TEXT NOT NULL,
    external_id  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX refills_order ON refills (order_id);

CREATE TABLE disputes (
    id             TEXT PRIMARY KEY,
    order_id       BIGINT NOT NULL REFERENCES orders(id),
    user_id        TEXT NOT NULL REFERENCES users(id),
    status         TEXT NOT NULL CHECK (status IN ('open', 'refunded', 'rejected')),
    message        TEXT NOT NULL DEFAULT '',
    resolution     TEXT NOT NULL DEFAULT '',
    refund_amount  BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    resolved_at    BIGINT
);
CREATE INDEX disputes_order ON disputes (order_id);

-- Reviews feed shop ratings; one per completed order (imported reviews have no order).
CREATE TABLE reviews (
    id          TEXT PRIMARY KEY,
    shop_id     TEXT NOT NULL REFERENCES shops(id),
    order_id    BIGINT UNIQUE REFERENCES orders(id),
    user_id     TEXT REFERENCES users(id),
    rating      BIGINT NOT NULL CHECK (rating BETWEEN 1 AND 5),
    text        TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);
CREATE INDEX reviews_shop ON reviews (shop_id);

CREATE TABLE withdrawals (
    id            TEXT PRIMARY KEY,
    shop_id       TEXT NOT NULL REFERENCES shops(id),
    amount        BIGINT NOT NULL CHECK (amount > 0),
    status        TEXT NOT NULL CHECK (status IN ('requested', 'completed', 'rejected')),
    note          TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    completed_at  BIGINT
);
CREATE INDEX withdrawals_shop ON withdrawals (shop_id);

-- What a supplier earns per order: price minus commission, minus refunds; available
-- after the hold period; covered by at most one withdrawal.
CREATE TABLE earnings (
    order_id       BIGINT PRIMARY KEY REFERENCES orders(id),
    shop_id        TEXT NOT NULL REFERENCES shops(id),
    gross          BIGINT NOT NULL,
    commission     BIGINT NOT NULL,
    amount         BIGINT NOT NULL CHECK (amount >= 0),
    available_at   BIGINT NOT NULL,
    withdrawal_id  TEXT REFERENCES withdrawals(id),
    created_at     BIGINT NOT NULL
);
CREATE INDEX earnings_shop ON earnings (shop_id, available_at);

-- A provider's services as last seen, and what each sync changed.
CREATE TABLE provider_services (
    provider_id       TEXT NOT NULL REFERENCES providers(id),
    external_service  TEXT NOT NULL,
    name              TEXT NOT NULL,
    type_name         TEXT NOT NULL DEFAULT 'Default',
    category          TEXT NOT NULL DEFAULT '',
    rate              BIGINT NOT NULL,
    min_qty           BIGINT NOT NULL,
    max_qty           BIGINT NOT NULL,
    refill            BOOLEAN NOT NULL DEFAULT FALSE,
    cancel            BOOLEAN NOT NULL DEFAULT FALSE,
    dripfeed          BOOLEAN NOT NULL DEFAULT FALSE,
    raw               TEXT NOT NULL DEFAULT '{}',
    seen_at           BIGINT NOT NULL,
    PRIMARY KEY (provider_id, external_service)
);

CREATE TABLE sync_log (
    id              BIGSERIAL PRIMARY KEY,
    provider_id     TEXT NOT NULL REFERENCES providers(id),
    service_number  BIGINT,
    change          TEXT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Generic background jobs (drip-feed runs, earnings release, ...) and singleton leases.
CREATE TABLE jobs (
    id           BIGSERIAL PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL DEFAULT '{}',
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT,
    lease_until  BIGINT,
    attempts     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    done_at      BIGINT,
    created_at   BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE done_at IS NULL;

CREATE TABLE worker_leases (
    name         TEXT PRIMARY KEY,
    owner        TEXT NOT NULL,
    lease_until  BIGINT NOT NULL
);

-- SMS verification.
CREATE TABLE sms_countries (
    code    TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    active  BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE sms_projects (
    id          TEXT PRIMARY KEY,
    code        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE sms_prices (
    project_id    TEXT NOT NULL REFERENCES sms_projects(id),
    country_code  TEXT NOT NULL REFERENCES sms_countries(code),
    price         BIGINT NOT NULL CHECK (price >= 0),
    PRIMARY KEY (project_id, country_code)
);

CREATE TABLE sms_gateways (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    secret_enc  BYTEA NOT NULL,
    active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE sms_numbers (
    id             TEXT PRIMARY KEY,
    phone          TEXT NOT NULL UNIQUE,
    country_code   TEXT NOT NULL REFERENCES sms_countries(code),
    gateway_id     TEXT REFERENCES sms_gateways(id),
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    current_order  BIGINT,
    created_at     BIGINT NOT NULL
);

CREATE TABLE sms_number_projects (
    number_id   TEXT NOT NULL REFERENCES sms_numbers(id),
    project_id  TEXT NOT NULL REFERENCES sms_projects(id),
    PRIMARY KEY (number_id, project_id)
);

CREATE TABLE sms_activations (
    order_id      BIGINT PRIMARY KEY REFERENCES orders(id),
    user_id       TEXT NOT NULL REFERENCES users(id),
    project_id    TEXT NOT NULL REFERENCES sms_projects(id),
    country_code  TEXT NOT NULL,
    phone         TEXT NOT NULL,
    number_id     TEXT REFERENCES sms_numbers(id),
    provider_id   TEXT REFERENCES providers(id),
    external_id   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('active', 'code_received', 'completed', 'expired', 'canceled')),
    price         BIGINT NOT NULL,
    code          TEXT,
    sms_text      TEXT,
    expires_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX sms_activations_user ON sms_activations (user_id, order_id);
CREATE INDEX sms_activations_open ON sms_activations (expires_at) WHERE status = 'active';
CREATE INDEX sms_activations_phone ON sms_activations (phone, status);

CREATE TABLE sms_messages (
    id           BIGSERIAL PRIMARY KEY,
    gateway_id   TEXT,
    phone        TEXT NOT NULL,
    sender       TEXT NOT NULL DEFAULT '',
    text         TEXT NOT NULL,
    code         TEXT,
    order_id     BIGINT,
    received_at  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX sms_messages_order ON sms_messages (order_id, id);

-- Signatures already accepted, so a replayed webhook is refused.
CREATE TABLE webhook_replays (
    gateway_id  TEXT NOT NULL,
    signature   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (gateway_id, signature)
);
