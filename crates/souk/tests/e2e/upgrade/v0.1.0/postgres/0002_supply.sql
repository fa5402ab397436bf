-- Supply side: disputes, withdrawals and earnings lookups. The SQLite twin of this
-- file must stay equivalent.

-- At most one open dispute per order; resolved ones stay as history.
CREATE UNIQUE INDEX disputes_one_open ON disputes (order_id) WHERE status = 'open';
CREATE INDEX disputes_status ON disputes (status, created_at);

-- The operator's word when a withdrawal is paid or rejected.
ALTER TABLE withdrawals ADD COLUMN resolution TEXT NOT NULL DEFAULT '';
CREATE INDEX withdrawals_status ON withdrawals (status, created_at);

-- Earnings a withdrawal covers (released again when it is rejected).
CREATE INDEX earnings_withdrawal ON earnings (withdrawal_id) WHERE withdrawal_id IS NOT NULL;
