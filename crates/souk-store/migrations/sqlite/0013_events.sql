-- One event stream (issue: events) and its channels. An event is recorded in the
-- transaction of the change it describes, only when someone can receive it (an enabled
-- webhook endpoint, or a notification preference of its audience), so that everything
-- costs nothing while nobody listens. The delivery lane fans events out: a delivery per
-- webhook endpoint (sent in order per endpoint) and a notification per chosen Telegram
-- or e-mail channel.

-- `audience` is a user id, or 'operator' for the operator's events.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    -- Stable, public: the Standard Webhooks `webhook-id`.
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    audience    TEXT NOT NULL,
    -- What the event is about (`order:12`, `payment:ab..`): deliveries keep its order.
    subject     TEXT NOT NULL DEFAULT '',
    -- The event's `data`, JSON, without secrets.
    payload     TEXT NOT NULL,
    dispatched  BOOLEAN NOT NULL DEFAULT FALSE,
    -- The order the fan-out handed events on (fan-outs run one at a time, so a reader
    -- never sees a later number before an earlier one is committed): webhook endpoints
    -- read their audience's events past their cursor in it.
    dispatch_seq BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX events_undispatched ON events (seq) WHERE NOT dispatched;
CREATE UNIQUE INDEX events_dispatch ON events (dispatch_seq);
CREATE INDEX events_audience_dispatch ON events (audience, dispatch_seq) WHERE dispatch_seq IS NOT NULL;
CREATE INDEX events_audience ON events (audience, seq);

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    audience        TEXT NOT NULL,
    url             TEXT NOT NULL,
    -- The `whsec_` secret, sealed.
    secret_enc      BLOB NOT NULL,
    -- Comma-separated event kinds, or `*` for every kind its audience gets.
    events          TEXT NOT NULL DEFAULT '*',
    description     TEXT NOT NULL DEFAULT '',
    enabled         BOOLEAN NOT NULL DEFAULT TRUE,
    -- Why it was disabled (after a day of failures), for its owner.
    disabled_reason TEXT NOT NULL DEFAULT '',
    -- The first failure of the current run of failures.
    failing_since   BIGINT,
    -- The last `events.dispatch_seq` written into its deliveries: its queue is filled as
    -- it is sent (an endpoint that hangs or fails writes nothing ahead of its sends).
    cursor          BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_audience ON webhook_endpoints (audience);

CREATE TABLE webhook_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint_id  TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    event_seq    BIGINT NOT NULL REFERENCES events(seq),
    state        TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    delivered_at BIGINT,
    UNIQUE (endpoint_id, event_seq)
);
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (endpoint_id, event_seq) WHERE state = 'pending';

-- Every try of a delivery: what the receiver answered (an excerpt) or why it did not.
CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    status       BIGINT,
    error        TEXT NOT NULL DEFAULT '',
    response     TEXT NOT NULL DEFAULT '',
    duration_ms  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- Which event kinds a user (or the operator) wants on which channel.
CREATE TABLE notification_prefs (
    audience  TEXT NOT NULL,
    channel   TEXT NOT NULL CHECK (channel IN ('telegram', 'email')),
    kind      TEXT NOT NULL,
    PRIMARY KEY (audience, channel, kind)
);

-- Telegram or e-mail messages to send, one per event and channel.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT NOT NULL CHECK (channel IN ('telegram', 'email')),
    audience    TEXT NOT NULL,
    event_seq   BIGINT REFERENCES events(seq),
    -- Messages that are no event's (a password reset, a verification link): rendered
    -- already, sealed (they hold a one-time link).
    body_enc    BLOB,
    state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    last_error  TEXT NOT NULL DEFAULT '',
    next_at     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    UNIQUE (channel, audience, event_seq)
);
CREATE INDEX notifications_pending ON notifications (channel, audience, id) WHERE state = 'pending';

-- A user's (or the operator's) Telegram chat, linked with a one-time `/start` token.
CREATE TABLE telegram_links (
    audience   TEXT PRIMARY KEY,
    chat_id    BIGINT NOT NULL,
    username   TEXT NOT NULL DEFAULT '',
    linked_at  BIGINT NOT NULL
);
CREATE INDEX telegram_links_chat ON telegram_links (chat_id);

-- One-time tokens, kept as digests: Telegram linking, password resets, e-mail checks.
CREATE TABLE user_tokens (
    digest      TEXT PRIMARY KEY,
    audience    TEXT NOT NULL,
    purpose     TEXT NOT NULL CHECK (purpose IN ('telegram', 'password_reset', 'verify_email')),
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX user_tokens_audience ON user_tokens (audience, purpose);

-- The channels' own settings (bot token, SMTP relay), sealed: `telegram`, `smtp`.
CREATE TABLE notifiers (
    id          TEXT PRIMARY KEY CHECK (id IN ('telegram', 'smtp')),
    enabled     BOOLEAN NOT NULL DEFAULT FALSE,
    config_enc  BLOB NOT NULL,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE users ADD COLUMN email_verified_at BIGINT;
-- `stock.low` is said to the supplier when a sale leaves fewer unsold lines than this
-- (NULL: never).
ALTER TABLE subproducts ADD COLUMN low_stock_threshold BIGINT;
-- What the buyer was last told of the order (its status and delivered count), so each
-- change is said once whichever path made it.
ALTER TABLE orders ADD COLUMN told_status TEXT;
ALTER TABLE orders ADD COLUMN told_delivered BIGINT;
-- `provider.failing`: since when a provider's syncs fail, and whether the operator was
-- told of this run of failures.
ALTER TABLE providers ADD COLUMN failing_since BIGINT;
ALTER TABLE providers ADD COLUMN failing_told BOOLEAN NOT NULL DEFAULT FALSE;
