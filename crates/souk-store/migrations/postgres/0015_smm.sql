-- SMM as resellers run it (issue 18).

-- What each provider does that API v2 does not say (JSON sent as text/html, numbers as
-- strings, errors as bare strings, ...): read past, and counted here per kind so the
-- operator sees it in the provider's log. `count` is the number of answers it was met in.
CREATE TABLE provider_oddities (
    provider_id TEXT NOT NULL REFERENCES providers(id),
    kind        TEXT NOT NULL,
    count       BIGINT NOT NULL,
    first_seen  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    PRIMARY KEY (provider_id, kind)
);

-- Fallback providers: other providers' services that can serve a service, tried in
-- priority order after its own provider when that one refuses an order, is disabled,
-- failing or short of balance, and never once a send may have arrived.
CREATE TABLE service_fallbacks (
    service_number   BIGINT NOT NULL REFERENCES services(number),
    priority         BIGINT NOT NULL,
    provider_id      TEXT NOT NULL REFERENCES providers(id),
    provider_service TEXT NOT NULL,
    PRIMARY KEY (service_number, priority)
);

-- What the order costs at the provider that took it (micro-units of the installation's
-- currency, at that provider's last listed rate); null when unknown. With provider_id it
-- keeps each order's profit per provider.
ALTER TABLE orders ADD COLUMN provider_cost BIGINT;

-- A Subscriptions order's own state as its provider reports it (Active, Paused,
-- Completed, Expired, Canceled) and the posts served so far; null until reported.
ALTER TABLE orders ADD COLUMN sub_state TEXT;
ALTER TABLE orders ADD COLUMN posts_done BIGINT;

-- A provider that bills in another currency: its code and the operator's rate, in
-- micro-units of the installation's currency per one unit of the provider's. Imports,
-- syncs and its balance are converted with it; null: it bills in ours.
ALTER TABLE providers ADD COLUMN currency TEXT;
ALTER TABLE providers ADD COLUMN currency_rate BIGINT;
