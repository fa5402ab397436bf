//! Inbound SMS: what a gateway's webhook, the operator's `inject` and an upstream
//! provider's poll deliver. Every SMS is kept; one is attributed to an activation only
//! when its number is rented right now, it came through the number's own gateway, and it
//! was received during the rental. A code moves the activation to `code_received` with a
//! conditional update that the expiry's own conditional update excludes, so an activation
//! ends with a code or with a refund, never both.

use souk_core::sms::extract_code;

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::events::EventSteps;
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::sms::SmsSteps;
use crate::{Result, Store, StoreError};

/// An SMS as a gateway (or the operator) hands it over.
#[derive(Clone, Debug)]
pub struct InboundSms<'a> {
    /// The gateway it came through; `None` for the operator's `inject`, which may
    /// deliver to any number.
    pub gateway_id: Option<&'a str>,
    /// E.164 with `+`.
    pub phone: &'a str,
    pub sender: &'a str,
    pub text: &'a str,
    /// When the gateway received it (unix ms, never after `now`).
    pub received_at: i64,
    /// The webhook's signature, remembered so that a replay is refused.
    pub signature: Option<&'a str>,
}

/// What became of an inbound SMS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InboundOutcome {
    /// The signature was seen before: nothing was stored.
    Replayed,
    Stored(StoredSms),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSms {
    pub message_id: i64,
    /// The activation it was attributed to, if any.
    pub order_id: Option<i64>,
    /// The code taken from it, when it became the activation's code.
    pub code: Option<String>,
}

/// A gateway with its secret in clear (for checking signatures).
#[derive(Clone, PartialEq, Eq)]
pub struct SmsGatewaySecret {
    pub id: String,
    pub active: bool,
    pub secret: String,
}

impl std::fmt::Debug for SmsGatewaySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsGatewaySecret")
            .field("id", &self.id)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

tx_steps! {
    /// Codes arriving for activations, inside a write transaction.
    trait CodeSteps {
        /// Makes `code` the activation's code if it is still open, the SMS was received
        /// before it expired, and nothing newer set a code already. True when it did.
        async fn apply_code(&mut self, order: i64, code: &str, text: &str, received_at: i64, now: i64) -> Result<bool> {
            let applied = sqlx::query(
                "UPDATE sms_activations SET status = 'code_received', code = $1, sms_text = $2, code_at = $3, \
                 awaiting_retry = FALSE, updated_at = $4 \
                 WHERE order_id = $5 AND status IN ('active', 'code_received') AND expires_at > $3 \
                 AND (code_at IS NULL OR code_at <= $3)",
            )
            .bind(code)
            .bind(text)
            .bind(received_at)
            .bind(now)
            .bind(order)
            .execute(&mut *self)
            .await?
            .rows_affected()
                == 1;
            if applied {
                sqlx::query(
                    "UPDATE orders SET status = 'completed', delivered = quantity, remains = 0, updated_at = $1 \
                     WHERE id = $2 AND status = 'processing'",
                )
                .bind(now)
                .bind(order)
                .execute(&mut *self)
                .await?;
                sqlx::query(
                    "INSERT INTO order_events (order_id, kind, detail, created_at) VALUES ($1, 'sms_code', '', $2)",
                )
                .bind(order)
                .bind(now)
                .execute(&mut *self)
                .await?;
                self.sms_changed(order, souk_core::event::SMS_CODE_RECEIVED, now).await?;
            }
            Ok(applied)
        }
    }
}

impl Store {
    /// A gateway and its secret, to check a webhook's signature.
    pub async fn sms_gateway_secret(&self, gateway_id: &str) -> Result<Option<SmsGatewaySecret>> {
        let row: Option<(String, bool, Vec<u8>)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id, active, secret_enc FROM sms_gateways WHERE id = $1")
                .bind(gateway_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(id, active, sealed)| {
            Ok(SmsGatewaySecret {
                id,
                active,
                secret: self.crypto.open(&sealed)?,
            })
        })
        .transpose()
    }

    /// Stores an inbound SMS and, when it belongs to a rented number, gives its code to
    /// the activation. A replayed signature stores nothing.
    pub async fn receive_sms(&self, sms: &InboundSms<'_>, now: i64) -> Result<InboundOutcome> {
        self.receive_sms_audited(sms, now, |_| None).await
    }

    /// `receive_sms` with the audit row `audit` makes of what became of the SMS (an SMS
    /// the operator delivers by hand), written in its transaction (none for `None`).
    pub async fn receive_sms_audited(
        &self,
        sms: &InboundSms<'_>,
        now: i64,
        audit: impl FnOnce(&StoredSms) -> Option<NewAuditEntry> + Send,
    ) -> Result<InboundOutcome> {
        let received_at = sms.received_at.min(now);
        let code = extract_code(sms.text);
        // On PostgreSQL the activation is locked while we decide, so an expiry or a
        // cancel running at the same moment either happens before (and the SMS is not
        // attributed) or after (and finds the code).
        let lock_activation = if self.engine() == crate::Engine::Postgres {
            "SELECT status, created_at, expires_at FROM sms_activations WHERE order_id = $1 FOR UPDATE"
        } else {
            "SELECT status, created_at, expires_at FROM sms_activations WHERE order_id = $1"
        };
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if let (Some(gateway), Some(signature)) = (sms.gateway_id, sms.signature) {
                let fresh = sqlx::query(
                    "INSERT INTO webhook_replays (gateway_id, signature, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (gateway_id, signature) DO NOTHING",
                )
                .bind(gateway)
                .bind(signature)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if fresh == 0 {
                    tx.rollback().await?;
                    return Ok(InboundOutcome::Replayed);
                }
            }
            let number: Option<(Option<i64>, Option<String>)> =
                sqlx::query_as("SELECT current_order, gateway_id FROM sms_numbers WHERE phone = $1")
                    .bind(sms.phone)
                    .fetch_optional(&mut *tx)
                    .await?;
            let mut order_id = None;
            if let Some((Some(current), number_gateway)) = number {
                let same_gateway = match sms.gateway_id {
                    None => true,
                    Some(g) => number_gateway.as_deref() == Some(g),
                };
                if same_gateway {
                    let activation: Option<(String, i64, i64)> = sqlx::query_as(lock_activation)
                    .bind(current)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((status, created_at, expires_at)) = activation {
                        let open = status == "active" || status == "code_received";
                        if open && received_at >= created_at && received_at < expires_at {
                            order_id = Some(current);
                        }
                    }
                }
            }
            let (message_id,): (i64,) = sqlx::query_as(
                "INSERT INTO sms_messages (gateway_id, phone, sender, text, code, order_id, received_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            )
            .bind(sms.gateway_id)
            .bind(sms.phone)
            .bind(sms.sender)
            .bind(sms.text)
            .bind(&code)
            .bind(order_id)
            .bind(received_at)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let mut applied = None;
            if let (Some(order), Some(c)) = (order_id, &code) {
                if tx.apply_code(order, c, sms.text, received_at, now).await? {
                    applied = Some(c.clone());
                }
            }
            let stored = StoredSms { message_id, order_id, code: applied };
            if let Some(entry) = audit(&stored) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(InboundOutcome::Stored(stored))
        })
    }

    /// A code an upstream provider reported for one of its rentals (`STATUS_OK:code`).
    /// Kept as an SMS of the activation; true when it became the activation's code.
    pub async fn sms_upstream_code(&self, order_id: i64, code: &str, now: i64) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<(String, Option<String>)> = sqlx::query_as(
                "SELECT a.phone, p.name FROM sms_activations a LEFT JOIN providers p ON p.id = a.provider_id \
                 WHERE a.order_id = $1",
            )
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((phone, provider)) = row else {
                return Err(StoreError::NotFound("Activation"));
            };
            let extracted = extract_code(code).unwrap_or_else(|| code.trim().to_owned());
            sqlx::query(
                "INSERT INTO sms_messages (gateway_id, phone, sender, text, code, order_id, received_at, created_at) \
                 VALUES (NULL, $1, $2, $3, $4, $5, $6, $6)",
            )
            .bind(&phone)
            .bind(provider.unwrap_or_default())
            .bind(code)
            .bind(&extracted)
            .bind(order_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let applied = tx.apply_code(order_id, &extracted, code, now, now).await?;
            tx.commit().await?;
            Ok(applied)
        })
    }

    /// The upstream cancelled one of its rentals before a code: the activation ends
    /// `canceled` with a full refund (once, whoever gets there first).
    pub async fn sms_upstream_canceled(&self, order_id: i64, now: i64) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let ended = sqlx::query(
                "UPDATE sms_activations SET status = 'canceled', updated_at = $1 \
                 WHERE order_id = $2 AND status = 'active'",
            )
            .bind(now)
            .bind(order_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ended != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            // Over at the provider too: nothing more to do there (no cancel to send).
            sqlx::query("DELETE FROM jobs WHERE kind = $1 AND dedupe_key = $2")
                .bind(crate::SMS_UPSTREAM)
                .bind(order_id.to_string())
                .execute(&mut *tx)
                .await?;
            tx.refund_activation(order_id, "canceled by the provider", now).await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
