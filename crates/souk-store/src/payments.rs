//! Top-ups (migration 0012): the gateways the operator configured (keys sealed), the
//! payments buyers make through them, every callback and check with its verdict, and the
//! one transaction that settles a payment on the gateway's verified answer. A payment is
//! credited by one `deposit` ledger row naming it (and at most one `bonus` row); the
//! unique index on `ledger (payment_id, kind)` makes a second credit fail whatever runs
//! twice, and the conditional state change makes it never try.

use souk_core::payment::{self, Answer, BonusTier, Mismatch, PaymentState, Settlement, Standing};
use souk_core::Money;

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::events::EventSteps;
use crate::jobs::{insert_job, NewJob};
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::rows::row_struct;
use crate::users::Ledger;
use crate::{Result, Store, StoreError};
use souk_core::event;

/// The job that asks a gateway about one payment, until it is settled (one per payment).
pub const PAYMENT_CHECK: &str = "payment.check";
/// Ledger kinds of a top-up.
pub const DEPOSIT: &str = "deposit";
pub const BONUS: &str = "bonus";
/// The manual transfer's gateway: no client to ask, the operator decides.
pub const MANUAL_GATEWAY: &str = "manual";
/// How much of a callback's body the record keeps.
const DETAIL_CHARS: usize = 2_000;

row_struct! {
    /// A gateway as configured, without its keys.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct GatewayRecord {
        pub id: String,
        pub enabled: bool,
        pub title: String,
        pub base_url: String,
        pub merchant: String,
        pub has_api_key: bool,
        pub has_secret: bool,
        pub min_amount: i64,
        pub max_amount: i64,
        pub fee_bp: i64,
        pub instructions: String,
        pub updated_at: i64,
    }
}

/// A gateway's settings to store: `None` keys keep the stored ones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewaySetup {
    pub id: String,
    pub enabled: bool,
    pub title: String,
    pub base_url: String,
    pub merchant: String,
    pub api_key: Option<String>,
    pub secret: Option<String>,
    pub min_amount: Money,
    pub max_amount: Money,
    pub fee_bp: i64,
    pub instructions: String,
}

/// A gateway's keys, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GatewaySecrets {
    pub api_key: String,
    pub secret: String,
}

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct PaymentRecord {
        pub id: String,
        pub user_id: String,
        pub email: String,
        pub gateway: String,
        pub state: String,
        pub amount: i64,
        pub fee: i64,
        pub total: i64,
        pub currency: String,
        pub bonus: i64,
        pub received: Option<i64>,
        pub credited: i64,
        pub bonus_credited: i64,
        pub external_id: Option<String>,
        pub remote_id: Option<String>,
        pub pay_url: String,
        pub late: bool,
        pub remote_status: String,
        pub note: String,
        pub expires_at: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub settled_at: Option<i64>,
    }
}

impl PaymentRecord {
    pub fn state(&self) -> Option<PaymentState> {
        PaymentState::parse(&self.state)
    }

    /// What settling needs of it.
    pub fn standing(&self) -> Result<Standing> {
        Ok(Standing {
            id: self.id.clone(),
            state: self.state().ok_or_else(|| {
                StoreError::Internal(format!("payment {} in unknown state", self.id))
            })?,
            amount: Money::from_micros(self.amount),
            total: Money::from_micros(self.total),
            currency: self.currency.clone(),
            bonus: Money::from_micros(self.bonus),
            expires_at: self.expires_at,
        })
    }
}

const PAYMENT_COLUMNS: &str = "p.id, p.user_id, u.email, p.gateway, p.state, p.amount, p.fee, \
     p.total, p.currency, p.bonus, p.received, p.credited, p.bonus_credited, p.external_id, \
     p.remote_id, p.pay_url, p.late, p.remote_status, p.note, p.expires_at, p.created_at, \
     p.updated_at, p.settled_at";

row_struct! {
    /// A callback received or a check made, with what Souk made of it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct PaymentEvent {
        pub id: i64,
        pub payment_id: Option<String>,
        pub gateway: String,
        /// `callback`, `check`, `operator` or `buyer`.
        pub source: String,
        pub verdict: String,
        pub detail: String,
        pub created_at: i64,
    }
}

/// A payment to record.
#[derive(Clone, Debug)]
pub struct NewPayment {
    pub user_id: String,
    pub gateway: String,
    pub quote: payment::Quote,
    pub currency: String,
    pub expires_at: i64,
    /// A manual transfer's transaction id (its `external_id`, unique per buyer);
    /// `None` for gateways, whose invoice id comes later.
    pub transfer_id: Option<String>,
    /// When the first check is due (`None`: no check job; a manual transfer waits for
    /// the operator).
    pub first_check: Option<i64>,
}

/// What settling did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    pub settlement: Settlement,
    pub payment: PaymentRecord,
}

/// The check job of `payment`, due at `run_at`.
fn check_job(payment: &str, run_at: i64) -> NewJob {
    NewJob {
        kind: PAYMENT_CHECK.into(),
        payload: serde_json::json!({ "payment": payment }).to_string(),
        dedupe_key: Some(payment.to_owned()),
        run_at,
        // Failed checks (the gateway down) are retried with backoff; the check decides
        // itself when a payment needs no more asking.
        max_attempts: 25,
        held_by: None,
    }
}

fn excerpt(text: &str) -> String {
    text.chars().take(DETAIL_CHARS).collect()
}

tx_steps! {
    /// Payments inside a write transaction.
    pub(crate) trait PaymentSteps {
        /// The payment's row, locked for this transaction (an UPDATE takes PostgreSQL's
        /// row lock; SQLite's write lock is already held).
        async fn lock_payment(&mut self, id: &str) -> Result<Option<PaymentRecord>> {
            let found: Option<(String,)> =
                sqlx::query_as("UPDATE payments SET updated_at = updated_at WHERE id = $1 RETURNING id")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await?;
            if found.is_none() {
                return Ok(None);
            }
            Ok(sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN users u ON u.id = p.user_id WHERE p.id = $1"
            ))
            .bind(id)
            .fetch_optional(&mut *self)
            .await?)
        }

        /// The gateway's id of the payment made against the invoice, kept the first
        /// time a verified callback or answer names one.
        async fn note_remote_id(&mut self, id: &str, remote_id: Option<&str>) -> Result<()> {
            if let Some(remote) = remote_id {
                sqlx::query("UPDATE payments SET remote_id = $1 WHERE id = $2 AND remote_id IS NULL")
                    .bind(remote)
                    .bind(id)
                    .execute(&mut *self)
                    .await?;
            }
            Ok(())
        }

        async fn payment_event(
            &mut self,
            payment: Option<&str>,
            gateway: &str,
            source: &str,
            verdict: &str,
            detail: &str,
            now: i64,
        ) -> Result<()> {
            sqlx::query(
                "INSERT INTO payment_events (payment_id, gateway, source, verdict, detail, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(payment)
            .bind(gateway)
            .bind(source)
            .bind(verdict)
            .bind(excerpt(detail))
            .bind(now)
            .execute(&mut *self)
            .await?;
            Ok(())
        }

        /// Books `settlement` on the locked payment `p` (still in the state it was
        /// settled from): its state, and for a credit its ledger rows.
        async fn book_settlement(&mut self, p: &PaymentRecord, settlement: &Settlement, remote_status: &str, now: i64) -> Result<()> {
            match settlement {
                Settlement::Credit { state, received, credit, bonus, late, note } => {
                    let moved = sqlx::query(
                        "UPDATE payments SET state = $1, received = $2, credited = $3, bonus_credited = $4, \
                         late = $5, note = $6, remote_status = $7, updated_at = $8, settled_at = $8 \
                         WHERE id = $9 AND state = $10",
                    )
                    .bind(state.as_str())
                    .bind(received.micros())
                    .bind(credit.micros())
                    .bind(bonus.micros())
                    .bind(*late)
                    .bind(note)
                    .bind(remote_status)
                    .bind(now)
                    .bind(&p.id)
                    .bind(&p.state)
                    .execute(&mut *self)
                    .await?
                    .rows_affected();
                    if moved != 1 {
                        return Err(StoreError::Conflict(format!("payment {} moved meanwhile", p.id)));
                    }
                    let what = format!("top-up via {} ({})", p.gateway, p.id);
                    if credit.micros() > 0 {
                        self.book_entry(&p.user_id, credit.micros(), DEPOSIT, None, Some(&p.id), &what, now)
                            .await?
                            .ok_or(StoreError::NotFound("User"))?;
                    }
                    if bonus.micros() > 0 {
                        let what = format!("deposit bonus for {}", p.id);
                        self.book_entry(&p.user_id, bonus.micros(), BONUS, None, Some(&p.id), &what, now)
                            .await?
                            .ok_or(StoreError::NotFound("User"))?;
                    }
                    let data = serde_json::json!({
                        "payment": p.id, "gateway": p.gateway, "state": state.as_str(),
                        "credited": credit.format(2), "bonus": bonus.format(2), "currency": p.currency, "late": late,
                    });
                    self.record_event(&p.user_id, event::PAYMENT_CREDITED, &format!("payment:{}", p.id), &data, now).await?;
                }
                Settlement::Hold { received, note } => {
                    sqlx::query(
                        "UPDATE payments SET state = 'held', received = $1, note = $2, remote_status = $3, \
                         updated_at = $4 WHERE id = $5 AND state = $6",
                    )
                    .bind(received.micros())
                    .bind(note)
                    .bind(remote_status)
                    .bind(now)
                    .bind(&p.id)
                    .bind(&p.state)
                    .execute(&mut *self)
                    .await?;
                    let data = serde_json::json!({
                        "payment": p.id, "gateway": p.gateway, "user": p.email, "why": note,
                        "received": received.format(2), "total": Money::from_micros(p.total).format(2),
                    });
                    self.tell_operator(event::PAYMENT_NEEDS_ATTENTION, &format!("payment:{}", p.id), &data, now).await?;
                }
                Settlement::Close { state, note } => {
                    sqlx::query(
                        "UPDATE payments SET state = $1, note = $2, remote_status = $3, updated_at = $4, \
                         settled_at = $4 WHERE id = $5 AND state = $6",
                    )
                    .bind(state.as_str())
                    .bind(note)
                    .bind(remote_status)
                    .bind(now)
                    .bind(&p.id)
                    .bind(&p.state)
                    .execute(&mut *self)
                    .await?;
                }
                Settlement::Wait | Settlement::Nothing { .. } => {
                    sqlx::query("UPDATE payments SET remote_status = $1, updated_at = $2 WHERE id = $3")
                        .bind(remote_status)
                        .bind(now)
                        .bind(&p.id)
                        .execute(&mut *self)
                        .await?;
                }
            }
            Ok(())
        }
    }
}

/// A settlement in a few words, for the event record.
pub fn verdict_of(settlement: &Settlement) -> String {
    match settlement {
        Settlement::Wait => "not paid yet".into(),
        Settlement::Credit {
            credit,
            bonus,
            note,
            ..
        } => {
            if bonus.micros() > 0 {
                format!(
                    "credited {} + bonus {}: {note}",
                    credit.display2(),
                    bonus.display2()
                )
            } else {
                format!("credited {}: {note}", credit.display2())
            }
        }
        Settlement::Hold { note, .. } => format!("held: {note}"),
        Settlement::Close { state, note } => format!("{}: {note}", state.as_str()),
        Settlement::Nothing { note, alarm } => {
            if *alarm {
                format!("refused: {note}")
            } else {
                format!("ignored: {note}")
            }
        }
    }
}

impl Store {
    /// Stores a gateway's settings (creating it), keys sealed under the data key.
    pub async fn put_gateway(&self, g: &GatewaySetup, now: i64) -> Result<GatewayRecord> {
        self.put_gateway_audited(g, now, |_, _| None).await
    }

    /// `put_gateway` with the audit row `audit` makes of the gateway before (`None`
    /// for a new one) and after, both read in the transaction, written in it (none for
    /// `None`). The records say whether keys are stored, never the keys.
    pub async fn put_gateway_audited(
        &self,
        g: &GatewaySetup,
        now: i64,
        audit: impl FnOnce(Option<&GatewayRecord>, &GatewayRecord) -> Option<NewAuditEntry> + Send,
    ) -> Result<GatewayRecord> {
        const ONE: &str = "SELECT id, enabled, title, base_url, merchant, api_key_enc IS NOT NULL AS has_api_key, \
                 secret_enc IS NOT NULL AS has_secret, min_amount, max_amount, fee_bp, instructions, updated_at \
                 FROM payment_gateways WHERE id = $1";
        let key = g.api_key.as_deref().map(|k| self.crypto.seal(k.trim()));
        let secret = g.secret.as_deref().map(|k| self.crypto.seal(k.trim()));
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Option<GatewayRecord> = sqlx::query_as(ONE)
                .bind(&g.id)
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO payment_gateways (id, enabled, title, base_url, merchant, api_key_enc, secret_enc, \
                 min_amount, max_amount, fee_bp, instructions, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, title = excluded.title, \
                 base_url = excluded.base_url, merchant = excluded.merchant, \
                 api_key_enc = COALESCE(excluded.api_key_enc, payment_gateways.api_key_enc), \
                 secret_enc = COALESCE(excluded.secret_enc, payment_gateways.secret_enc), \
                 min_amount = excluded.min_amount, max_amount = excluded.max_amount, fee_bp = excluded.fee_bp, \
                 instructions = excluded.instructions, updated_at = excluded.updated_at",
            )
            .bind(&g.id)
            .bind(g.enabled)
            .bind(&g.title)
            .bind(&g.base_url)
            .bind(&g.merchant)
            .bind(key)
            .bind(secret)
            .bind(g.min_amount.micros())
            .bind(g.max_amount.micros())
            .bind(g.fee_bp)
            .bind(&g.instructions)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let after: GatewayRecord = sqlx::query_as(ONE)
                .bind(&g.id)
                .fetch_one(&mut *tx)
                .await?;
            if let Some(entry) = audit(before.as_ref(), &after) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(after)
        })
    }

    pub async fn gateways(&self) -> Result<Vec<GatewayRecord>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, enabled, title, base_url, merchant, api_key_enc IS NOT NULL AS has_api_key, \
                 secret_enc IS NOT NULL AS has_secret, min_amount, max_amount, fee_bp, instructions, updated_at \
                 FROM payment_gateways ORDER BY id",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn gateway(&self, id: &str) -> Result<Option<GatewayRecord>> {
        Ok(self.gateways().await?.into_iter().find(|g| g.id == id))
    }

    /// A gateway's keys, opened (empty where none is stored).
    pub async fn gateway_secrets(&self, id: &str) -> Result<GatewaySecrets> {
        type Sealed = Option<Vec<u8>>;
        let row: Option<(Sealed, Sealed)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT api_key_enc, secret_enc FROM payment_gateways WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let (key, secret) = row.ok_or(StoreError::NotFound("Gateway"))?;
        let open = |sealed: Option<Vec<u8>>| -> Result<String> {
            sealed.map_or(Ok(String::new()), |s| self.crypto.open(&s))
        };
        Ok(GatewaySecrets {
            api_key: open(key)?,
            secret: open(secret)?,
        })
    }

    /// Records a new payment (with its check job, and the buyer's event) and answers it.
    /// A transaction id the buyer already reported is a `Conflict`.
    pub async fn create_payment(&self, p: &NewPayment, now: i64) -> Result<PaymentRecord> {
        let id = souk_core::id::new_entity_id();
        let state = if p.transfer_id.is_some() {
            PaymentState::Pending
        } else {
            PaymentState::Created
        };
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query(
                "INSERT INTO payments (id, user_id, gateway, state, amount, fee, total, currency, bonus, \
                 external_id, expires_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)",
            )
            .bind(&id)
            .bind(&p.user_id)
            .bind(&p.gateway)
            .bind(state.as_str())
            .bind(p.quote.amount.micros())
            .bind(p.quote.fee.micros())
            .bind(p.quote.total.micros())
            .bind(&p.currency)
            .bind(p.quote.bonus.micros())
            .bind(&p.transfer_id)
            .bind(p.expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await;
            if let Err(e) = done {
                let e = StoreError::from(e);
                return Err(if e.is_unique_violation() {
                    StoreError::Conflict("This transaction id was already submitted".into())
                } else {
                    e
                });
            }
            let verdict = format!(
                "created: {} + fee {} = {} {}",
                p.quote.amount.display2(),
                p.quote.fee.display2(),
                p.quote.total.display2(),
                p.currency
            );
            tx.payment_event(Some(&id), &p.gateway, "buyer", &verdict, p.transfer_id.as_deref().unwrap_or(""), now).await?;
            if let Some(at) = p.first_check {
                insert_job(&check_job(&id, at), now).fetch_optional(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        self.payment(&id)
            .await?
            .ok_or(StoreError::NotFound("Payment"))
    }

    /// The gateway made the invoice: the payment is `pending` with it.
    pub async fn invoice_created(
        &self,
        id: &str,
        external_id: &str,
        pay_url: &str,
        now: i64,
    ) -> Result<PaymentRecord> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let p = tx.lock_payment(id).await?.ok_or(StoreError::NotFound("Payment"))?;
            let moved = sqlx::query(
                "UPDATE payments SET state = 'pending', external_id = $1, pay_url = $2, updated_at = $3 \
                 WHERE id = $4 AND state = 'created'",
            )
            .bind(external_id)
            .bind(pay_url)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved == 1 {
                tx.payment_event(Some(id), &p.gateway, "buyer", &format!("invoice {external_id} created"), pay_url, now).await?;
            }
            tx.commit().await?;
        });
        self.payment(id)
            .await?
            .ok_or(StoreError::NotFound("Payment"))
    }

    /// The gateway refused to make the invoice: the payment fails (nothing was paid).
    pub async fn invoice_refused(&self, id: &str, why: &str, now: i64) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let p = tx.lock_payment(id).await?.ok_or(StoreError::NotFound("Payment"))?;
            let done = sqlx::query(
                "UPDATE payments SET state = 'failed', note = $1, updated_at = $2, settled_at = $2 \
                 WHERE id = $3 AND state = 'created'",
            )
            .bind(format!("the gateway did not make the invoice: {why}"))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                tx.payment_event(Some(id), &p.gateway, "buyer", "invoice refused", why, now).await?;
                sqlx::query("DELETE FROM jobs WHERE kind = $1 AND dedupe_key = $2")
                    .bind(PAYMENT_CHECK)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn payment(&self, id: &str) -> Result<Option<PaymentRecord>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN users u ON u.id = p.user_id WHERE p.id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// A payment by its gateway's id for it.
    pub async fn payment_by_external(
        &self,
        gateway: &str,
        external_id: &str,
    ) -> Result<Option<PaymentRecord>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN users u ON u.id = p.user_id \
                 WHERE p.gateway = $1 AND p.external_id = $2"
            ))
            .bind(gateway)
            .bind(external_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Payments, newest first: of one user, in one state, or all.
    pub async fn payments(
        &self,
        user_id: Option<&str>,
        state: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN users u ON u.id = p.user_id \
                 WHERE ($1 IS NULL OR p.user_id = $1) AND ($2 IS NULL OR p.state = $2) \
                 ORDER BY p.created_at DESC, p.id DESC LIMIT $3"
            ))
            .bind(user_id)
            .bind(state)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Payments created in `[from, to)` after the cursor `(created_at, id)`, oldest
    /// first: the console's export reads the range a page at a time.
    pub async fn payments_range(
        &self,
        from: i64,
        to: i64,
        after: Option<(i64, String)>,
        limit: i64,
    ) -> Result<Vec<PaymentRecord>> {
        let (after_at, after_id) = after.unwrap_or((i64::MIN, String::new()));
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments p JOIN users u ON u.id = p.user_id \
                 WHERE p.created_at >= $1 AND p.created_at < $2 \
                 AND (p.created_at > $3 OR (p.created_at = $3 AND p.id > $4)) \
                 ORDER BY p.created_at, p.id LIMIT $5"
            ))
            .bind(from)
            .bind(to)
            .bind(after_at)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The record of one payment (`Some`), or the newest of all gateways' (`None`),
    /// newest first.
    pub async fn payment_events(
        &self,
        payment_id: Option<&str>,
        limit: i64,
    ) -> Result<Vec<PaymentEvent>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, payment_id, gateway, source, verdict, detail, created_at FROM payment_events \
                 WHERE ($1 IS NULL OR payment_id = $1) ORDER BY id DESC LIMIT $2",
            )
            .bind(payment_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Records a callback (or another event) on its own.
    pub async fn record_payment_event(
        &self,
        payment_id: Option<&str>,
        gateway: &str,
        source: &str,
        verdict: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.payment_event(payment_id, gateway, source, verdict, detail, now).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// A verified callback for `payment_id` (or the operator's re-check): recorded, the gateway's payment id kept
    /// (when it named one and none is known), and the payment's check due at once (run
    /// again straight after, if it is running now). A settled payment gets its check
    /// back: a late payment of an expired invoice is still credited.
    pub async fn wake_payment_check(
        &self,
        payment_id: &str,
        remote_id: Option<&str>,
        source: &str,
        verdict: &str,
        detail: &str,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let p = tx.lock_payment(payment_id).await?.ok_or(StoreError::NotFound("Payment"))?;
            tx.payment_event(Some(payment_id), &p.gateway, source, verdict, detail, now).await?;
            tx.note_remote_id(payment_id, remote_id).await?;
            let woken = sqlx::query(
                "UPDATE jobs SET woken = TRUE, state = 'ready', attempts = 0, updated_at = $1, \
                 run_at = CASE WHEN locked_by IS NULL OR locked_until <= $1 THEN $1 ELSE run_at END \
                 WHERE kind = $2 AND dedupe_key = $3",
            )
            .bind(now)
            .bind(PAYMENT_CHECK)
            .bind(payment_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if woken == 0 && p.gateway != MANUAL_GATEWAY {
                insert_job(&check_job(payment_id, now), now).fetch_optional(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Settles a payment on the gateway's verified `answer` in one transaction: decided
    /// by `souk_core::payment::settle` on the payment as it stands under the lock, its
    /// state changed only from that state, credits booked with it, the check recorded.
    #[allow(clippy::too_many_arguments)]
    pub async fn settle_payment(
        &self,
        id: &str,
        answer: &Answer,
        remote_status: &str,
        remote_id: Option<&str>,
        mismatch: Mismatch,
        tiers: &[BonusTier],
        now: i64,
    ) -> Result<Settled> {
        let settlement = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let p = tx.lock_payment(id).await?.ok_or(StoreError::NotFound("Payment"))?;
            let settlement = payment::settle(&p.standing()?, answer, mismatch, tiers, now);
            tx.book_settlement(&p, &settlement, remote_status, now).await?;
            tx.note_remote_id(id, remote_id).await?;
            if let Settlement::Nothing { note, alarm: true } = &settlement {
                let data = serde_json::json!({"payment": p.id, "gateway": p.gateway, "user": p.email, "why": note});
                tx.tell_operator(event::PAYMENT_NEEDS_ATTENTION, &format!("payment:{}", p.id), &data, now).await?;
            }
            // Waiting is not news: only what changes something (or refuses) is recorded.
            if settlement != Settlement::Wait {
                tx.payment_event(Some(id), &p.gateway, "check", &verdict_of(&settlement), remote_status, now).await?;
            }
            tx.commit().await?;
            settlement
        });
        let payment = self
            .payment(id)
            .await?
            .ok_or(StoreError::NotFound("Payment"))?;
        Ok(Settled {
            settlement,
            payment,
        })
    }

    /// The operator's decision on a manual transfer or a held payment: credit `credit`
    /// (the state `paid` or `partially_paid` by how it compares with the amount, the
    /// bonus only on a payment in full) or reject it (`failed`). Only a `pending` manual
    /// transfer or a `held` payment can be decided; another is a `Conflict`.
    pub async fn decide_payment(
        &self,
        id: &str,
        credit: Option<Money>,
        note: &str,
        tiers: &[BonusTier],
        now: i64,
    ) -> Result<Settled> {
        self.decide_payment_audited(id, credit, note, tiers, now, |_, _| None)
            .await
    }

    /// `decide_payment` with the audit row `audit` makes of the payment's state before
    /// (read, locked, in the transaction) and the settlement booked, written in the
    /// transaction that books it (none for `None`).
    pub async fn decide_payment_audited(
        &self,
        id: &str,
        credit: Option<Money>,
        note: &str,
        tiers: &[BonusTier],
        now: i64,
        audit: impl FnOnce(&str, &Settlement) -> Option<NewAuditEntry> + Send,
    ) -> Result<Settled> {
        let settlement = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let p = tx.lock_payment(id).await?.ok_or(StoreError::NotFound("Payment"))?;
            let decidable = p.state == "held" || (p.state == "pending" && p.gateway == MANUAL_GATEWAY);
            if !decidable {
                return Err(StoreError::Conflict(format!(
                    "Only a held payment or a pending manual transfer can be decided; this one is {}",
                    p.state
                )));
            }
            if credit.is_some() && p.gateway == MANUAL_GATEWAY {
                // One transfer is credited once, whoever else claimed its id.
                let credited: Option<(String,)> = sqlx::query_as(
                    "SELECT id FROM payments WHERE gateway = $1 AND external_id = $2 AND id <> $3 \
                     AND state IN ('paid', 'partially_paid')",
                )
                .bind(MANUAL_GATEWAY)
                .bind(&p.external_id)
                .bind(&p.id)
                .fetch_optional(&mut *tx)
                .await?;
                if let Some((other,)) = credited {
                    return Err(StoreError::Conflict(format!(
                        "Transaction id {} was already credited with payment {other}",
                        p.external_id.as_deref().unwrap_or("")
                    )));
                }
            }
            let settlement = match credit {
                Some(credit) => {
                    let amount = Money::from_micros(p.amount);
                    let (state, bonus) = if credit >= amount {
                        (PaymentState::Paid, Money::from_micros(p.bonus))
                    } else {
                        (PaymentState::PartiallyPaid, payment::bonus_for(tiers, credit))
                    };
                    let received = p.received.map_or(credit, Money::from_micros);
                    Settlement::Credit {
                        state,
                        received,
                        credit,
                        bonus,
                        late: p.late,
                        note: format!("approved by the operator{}", if note.is_empty() { String::new() } else { format!(": {note}") }),
                    }
                }
                None => Settlement::Close {
                    state: PaymentState::Failed,
                    note: format!("rejected by the operator{}", if note.is_empty() { String::new() } else { format!(": {note}") }),
                },
            };
            let remote_status = p.remote_status.clone();
            tx.book_settlement(&p, &settlement, &remote_status, now).await?;
            tx.payment_event(Some(id), &p.gateway, "operator", &verdict_of(&settlement), note, now).await?;
            sqlx::query("DELETE FROM jobs WHERE kind = $1 AND dedupe_key = $2")
                .bind(PAYMENT_CHECK)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if let Some(entry) = audit(&p.state, &settlement) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            settlement
        });
        let payment = self
            .payment(id)
            .await?
            .ok_or(StoreError::NotFound("Payment"))?;
        Ok(Settled {
            settlement,
            payment,
        })
    }
}
