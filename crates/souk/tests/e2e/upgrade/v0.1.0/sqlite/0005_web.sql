-- The web pages: a signed-in user may see their own API key again, so keys issued through
-- the web are also kept sealed under the data key (the digest stays what authenticates).
-- The PostgreSQL twin of this file must stay equivalent.
ALTER TABLE api_keys ADD COLUMN key_sealed BLOB;
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
