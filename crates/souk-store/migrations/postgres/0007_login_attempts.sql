-- Sign-in and sign-up attempts per client address and per email, in fixed windows. Kept
-- here rather than in each node's memory so that every node of an installation counts the
-- same attempts. Keys are SHA-256 digests: no address or typed email is kept in clear.
-- The twin of this file for the other engine must stay equivalent.
CREATE TABLE login_attempts (
    key TEXT PRIMARY KEY,
    window_start BIGINT NOT NULL,
    attempts BIGINT NOT NULL
);
CREATE INDEX login_attempts_window ON login_attempts (window_start);
