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
