-- Review moderation from the operator console: a hidden review stays stored (and keeps
-- its order from being reviewed twice) but no longer shows on shop and product pages nor
-- counts in the shop's rating. Who hid it and when is in the operator audit log.
-- The twin of this file for the other engine must stay equivalent.
ALTER TABLE reviews ADD COLUMN hidden BOOLEAN NOT NULL DEFAULT FALSE;
