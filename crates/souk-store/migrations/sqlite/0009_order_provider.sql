-- An order remembers the provider (and the provider's service) it was sent to, from its
-- first claim for sending on. Status sync, refills and resends go to that provider even
-- after the operator re-points the service at another one (which used to poll the new
-- provider for the old one's orders). The twin of this file for the other engine must
-- stay equivalent.
ALTER TABLE orders ADD COLUMN provider_service TEXT;
UPDATE orders SET
    provider_id = (SELECT s.provider_id FROM services s WHERE s.number = orders.service_number),
    provider_service = (SELECT s.provider_service FROM services s WHERE s.number = orders.service_number)
WHERE forward_state IN ('sending', 'sent', 'unknown') OR external_id IS NOT NULL;

-- Dead schema: a job table nothing ever used, and the raw copy of each provider service
-- that nothing reads.
DROP TABLE jobs;
ALTER TABLE provider_services DROP COLUMN raw;
