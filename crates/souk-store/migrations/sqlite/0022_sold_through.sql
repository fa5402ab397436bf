-- Where a variant's sale starts looking for its next unsold line: every line of the
-- variant with an id at or below `sold_through` is sold. Lines are never unsold, so the
-- search (`crate::sale`) can start past them. On PostgreSQL a sold line's entry stays in
-- the partial index `stock_lines_unsold`, dead, until VACUUM; without this bound every
-- sale of a variant walked all of them (0.92 ms after 19,200 sales of one variant,
-- bench/README.md). A sale raises it to the last line it took; an upload lowers it below
-- its first line (on PostgreSQL an upload can draw lower ids than lines another upload
-- committed and a sale sold before it). 0 bounds nothing, so existing rows stay right.
-- The twin of this file for the other engine must stay equivalent.
ALTER TABLE subproducts ADD COLUMN sold_through BIGINT NOT NULL DEFAULT 0;
