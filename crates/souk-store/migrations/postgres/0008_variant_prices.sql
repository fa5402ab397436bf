-- Imported product variants and their prices. API v2 publishes one price per product, the
-- primary variant's; the other variants of an imported product have no published price,
-- so they are sold only once the operator prices them (`price_pinned`), and sync then
-- leaves that price alone. `listed_upstream` remembers whether the provider's last
-- `inventory` listed the variant, so pricing one can enable it at once.
-- The twin of this file for the other engine must stay equivalent.
ALTER TABLE subproducts ADD COLUMN price_pinned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE subproducts ADD COLUMN listed_upstream BOOLEAN NOT NULL DEFAULT TRUE;
