-- One event stream (issue: events) and its channels. An event is recorded in the
-- transaction of the change it describes, only when someone can receive it (an enabled
-- webhook endpoint, or a notification preference of its audience), so that everything
-- costs nothing while nobody listens. `event.dispatch` fans events out to deliveries:
-- one per webhook endpoint (sent in order per endpoint) and one per chosen Telegram or
-- e-mail notification.

-- `audience` is a user id, or 'operator' for the operator's events.
CREATE TABLE events (
    seq         BIGSERIAL PRIMARY KEY,
    -- Stable, public: the Standard Webhooks `webhook-id`.
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,
    audience    TEXT NOT NULL,
    -- What the event is about (`order:12`, `payment:ab..`): deliveries keep its order.
    subject     TEXT NOT NULL DEFAULT '',
    -- The event's `data`, JSON, without secrets.
    payload     TEXT NOT NULL,
