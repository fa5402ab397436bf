-- A provider's currency rate read from a published source on each of its syncs: the
-- URL of a JSON document, the JSON pointer to the number in it, and whether that number
-- is the provider's currency per one of ours (inverse) or ours per one of its. Null: the
-- operator sets the rate by hand.
ALTER TABLE providers ADD COLUMN rate_url TEXT;
ALTER TABLE providers ADD COLUMN rate_pointer TEXT;
ALTER TABLE providers ADD COLUMN rate_inverse BOOLEAN NOT NULL DEFAULT FALSE;
