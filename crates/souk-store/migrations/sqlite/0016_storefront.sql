-- The storefront (issue 17). A dispute becomes a thread: its opening message stays in
-- `disputes.message`, its resolution in `disputes.resolution`, and everything said in
-- between by the buyer, the shop's supplier or the operator is a row here, in order.
CREATE TABLE dispute_messages (
    id          TEXT PRIMARY KEY,
    dispute_id  TEXT NOT NULL REFERENCES disputes(id),
    author      TEXT NOT NULL CHECK (author IN ('buyer', 'supplier', 'operator')),
    body        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX dispute_messages_dispute ON dispute_messages (dispute_id, created_at);

-- Services a buyer marked to find again (the storefront's favourites).
CREATE TABLE favourites (
    user_id         TEXT NOT NULL REFERENCES users(id),
    service_number  BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (user_id, service_number)
);
