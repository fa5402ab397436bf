//! Top-ups: a buyer pays through a gateway (or reports a manual transfer), and the
//! payment is credited exactly once, on what the gateway answers when Souk asks it.
//!
//! - [`start`] records the payment first (with its check job), then asks the gateway for
//!   the invoice: a payment never exists at a gateway without Souk knowing it.
//! - [`receive_callback`] only verifies a callback's signature and wakes the payment's
//!   check: what a callback claims moves no money.
//! - [`check`] (the `payment.check` job) asks the gateway and settles the payment in one
//!   store transaction (`Store::settle_payment`), so however many callbacks, nodes and
//!   retries there are, the one `deposit` row is booked once.
//! - [`decide`] is the operator's approval or rejection of a manual transfer or of a
//!   payment held for its amount; [`configure`] and [`check_gateway`] set gateways up.

use souk_client::payments::{
    CallbackError, GatewayClient, GatewayError, GatewayKeys, GatewayKind, HeaderMap,
    InvoiceRequest, PaymentRef, RemoteStatus,
};
use souk_core::payment::{
    self, Answer, BonusTier, Mismatch, PaymentState, Quote, QuoteError, Reported, Settlement, Terms,
};
use souk_core::Money;
use souk_store::{
    GatewayRecord, GatewaySetup, NewPayment, PaymentRecord, Settled, Store, StoreError,
};

/// The manual transfer's gateway id: no client, the operator confirms.
pub const MANUAL: &str = souk_store::MANUAL_GATEWAY;
/// Every gateway id there is, in the order pages list them.
pub const GATEWAYS: [&str; 4] = ["cryptomus", "nowpayments", "stripe", MANUAL];
/// How long an invoice can be paid.
pub const INVOICE_LIFETIME_MS: i64 = 60 * 60_000;
/// How long a manual transfer waits for the operator before it shows as overdue (it is
/// never expired by itself: the money may have been sent).
pub const TRANSFER_LIFETIME_MS: i64 = 7 * 24 * 3_600_000;
/// When a gateway is first asked about a new payment (callbacks usually come first).
const FIRST_CHECK_MS: i64 = 30_000;
/// A payment whose invoice was never made (the node died while asking) fails after this.
const INVOICE_GRACE_MS: i64 = 10 * 60_000;
/// The longest transaction id a buyer may report.
const MAX_TRANSFER_ID: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    #[error("Unknown payment method")]
    UnknownGateway,
    #[error("This payment method is not available")]
    Unavailable,
    #[error(transparent)]
    Quote(#[from] QuoteError),
    #[error("Enter the transaction id of your transfer (up to 200 characters)")]
    TransferId,
    #[error("The payment gateway could not be reached; nothing was charged. Try again later")]
    Gateway(GatewayError),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a buyer starts.
#[derive(Clone, Debug)]
pub struct StartPayment {
    pub user_id: String,
    pub gateway: String,
    pub amount: Money,
    /// A manual transfer's transaction id.
    pub transfer_id: Option<String>,
    /// This installation's public address (`https://shop.example`), where the gateway
    /// sends callbacks and the buyer comes back.
    pub public_url: String,
    pub currency: String,
}

/// The gateways a buyer can pay through now.
pub async fn methods(store: &Store) -> Result<Vec<GatewayRecord>, StoreError> {
    let mut enabled: Vec<GatewayRecord> = store
        .gateways()
        .await?
        .into_iter()
        .filter(|g| g.enabled)
        .collect();
    enabled.sort_by_key(|g| GATEWAYS.iter().position(|id| *id == g.id));
    Ok(enabled)
}

/// The operator's bonus table and mismatch choice in effect.
async fn rules(store: &Store) -> Result<(Vec<BonusTier>, Mismatch), StoreError> {
    let settings = store.settings().await?;
    let value = |key: &str| {
        settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // Stored values were checked when set; a bad one is treated as the default.
    let tiers = payment::parse_bonus_table(&value(payment::BONUS_SETTING)).unwrap_or_default();
    let mismatch = Mismatch::parse(&value(payment::MISMATCH_SETTING)).unwrap_or(Mismatch::Credit);
    Ok((tiers, mismatch))
}

fn terms(g: &GatewayRecord) -> Terms {
    Terms {
        min: Money::from_micros(g.min_amount),
        max: Money::from_micros(g.max_amount),
        fee_bp: g.fee_bp,
    }
}

/// What topping up `amount` through `gateway` costs and earns.
pub async fn quote(
    store: &Store,
    gateway: &str,
    amount: Money,
) -> Result<(GatewayRecord, Quote), PaymentError> {
    let g = store
        .gateway(gateway)
        .await?
        .ok_or(PaymentError::UnknownGateway)?;
    if !g.enabled {
        return Err(PaymentError::Unavailable);
    }
    let (tiers, _) = rules(store).await?;
    let q = payment::quote(amount, terms(&g), &tiers)?;
    Ok((g, q))
}

/// The client for a configured gateway.
async fn client(
    store: &Store,
    g: &GatewayRecord,
    allow_private: bool,
) -> Result<GatewayClient, PaymentError> {
    let kind = GatewayKind::parse(&g.id).ok_or(PaymentError::UnknownGateway)?;
    let secrets = store.gateway_secrets(&g.id).await?;
    let base_url = if g.base_url.is_empty() {
        kind.default_base_url().to_owned()
    } else {
        g.base_url.clone()
    };
    Ok(GatewayClient::new(
        GatewayKeys {
            kind,
            base_url,
            merchant: g.merchant.clone(),
            api_key: secrets.api_key,
            webhook_secret: secrets.secret,
        },
        allow_private,
    ))
}

/// Records a payment and, for a gateway, asks it for the invoice; the answer holds the
/// pay page's address (`pay_url`) to send the buyer to. A gateway that cannot make the
/// invoice fails the payment (nothing was paid) and is said as [`PaymentError::Gateway`].
pub async fn start(
    store: &Store,
    allow_private: bool,
    command: StartPayment,
    now: i64,
) -> Result<PaymentRecord, PaymentError> {
    let (g, q) = quote(store, &command.gateway, command.amount).await?;
    let manual = g.id == MANUAL;
    let transfer_id = if manual {
        let id = command
            .transfer_id
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.chars().count() <= MAX_TRANSFER_ID)
            .ok_or(PaymentError::TransferId)?;
        if !souk_core::input::is_clean(id, false) {
            return Err(PaymentError::TransferId);
        }
        Some(id.to_owned())
    } else {
        None
    };
    let gateway_client = if manual {
        None
    } else {
        Some(client(store, &g, allow_private).await?)
    };
    let payment = store
        .create_payment(
            &NewPayment {
                user_id: command.user_id.clone(),
                gateway: g.id.clone(),
                quote: q,
                currency: command.currency.clone(),
                expires_at: now
                    + if manual {
                        TRANSFER_LIFETIME_MS
                    } else {
                        INVOICE_LIFETIME_MS
                    },
                transfer_id,
                // A lost callback costs the time to the next check: the first comes soon.
                first_check: (!manual).then_some(now + FIRST_CHECK_MS),
            },
            now,
        )
        .await?;
    let Some(gateway_client) = gateway_client else {
        return Ok(payment);
    };
    let base = command.public_url.trim_end_matches('/');
    let callback_url = format!("{base}/webhooks/payments/{}", g.id);
    let return_url = format!("{base}/account/payments/{}", payment.id);
    let description = format!("Balance top-up {}", payment.id);
    let invoice = gateway_client
        .create_invoice(&InvoiceRequest {
            payment_id: &payment.id,
            amount: q.total,
            currency: &command.currency,
            description: &description,
            callback_url: &callback_url,
            return_url: &return_url,
            lifetime_s: INVOICE_LIFETIME_MS / 1000,
        })
        .await;
    match invoice {
        Ok(invoice) => Ok(store
            .invoice_created(&payment.id, &invoice.external_id, &invoice.pay_url, now)
            .await?),
        Err(e) => {
            tracing::warn!(payment = %payment.id, gateway = %g.id, error = %e, "the gateway did not make the invoice");
            store
                .invoice_refused(&payment.id, &e.to_string(), now)
                .await?;
            Err(PaymentError::Gateway(e))
        }
    }
}

/// How a callback is answered.
#[derive(Debug, PartialEq, Eq)]
pub enum CallbackReply {
    /// Verified (or harmless): answered 200 so the gateway stops sending it.
    Accepted,
    /// Unsigned, forged, stale or unreadable: answered 401 (400 for unreadable).
    Refused(CallbackError),
    /// No such gateway here: answered 404.
    UnknownGateway,
}

/// A gateway's callback: verified, recorded with its verdict, and (for one of this
/// gateway's payments) the payment's check woken. Nothing else: no money moves here.
pub async fn receive_callback(
    store: &Store,
    allow_private: bool,
    gateway: &str,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<CallbackReply, PaymentError> {
    let Some(kind) = GatewayKind::parse(gateway) else {
        return Ok(CallbackReply::UnknownGateway);
    };
    let Some(g) = store.gateway(kind.as_str()).await? else {
        return Ok(CallbackReply::UnknownGateway);
    };
    let text = String::from_utf8_lossy(body);
    let gateway_client = client(store, &g, allow_private).await?;
    let facts = match gateway_client.verify_callback(headers, body, now / 1000) {
        Ok(facts) => facts,
        Err(e) => {
            tracing::warn!(gateway, error = %e, "payment callback refused");
            store
                .record_payment_event(
                    None,
                    &g.id,
                    "callback",
                    &format!("refused: {e}"),
                    &text,
                    now,
                )
                .await?;
            return Ok(CallbackReply::Refused(e));
        }
    };
    let by_id = match &facts.payment_id {
        Some(id) => store.payment(id).await?,
        None => None,
    };
    let found = match (by_id, &facts.external_id) {
        (Some(p), _) => Some(p),
        (None, Some(ext)) => store.payment_by_external(&g.id, ext).await?,
        (None, None) => None,
    };
    let claims = format!(
        "claims {}{}",
        facts.status,
        facts
            .event
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    let foreign = found.as_ref().is_some_and(|p| {
        p.gateway != g.id
            || matches!((&facts.external_id, &p.external_id), (Some(a), Some(b)) if a != b)
    });
    match found {
        Some(p) if !foreign => {
            store
                .wake_payment_check(
                    &p.id,
                    facts.remote_id.as_deref(),
                    "callback",
                    &format!("verified, check woken: {claims}"),
                    &text,
                    now,
                )
                .await?;
        }
        Some(p) => {
            tracing::warn!(gateway, payment = %p.id, "callback names a payment of another gateway or invoice");
            store
                .record_payment_event(
                    None,
                    &g.id,
                    "callback",
                    &format!(
                        "ignored: names payment {} of another gateway or invoice; {claims}",
                        p.id
                    ),
                    &text,
                    now,
                )
                .await?;
        }
        None => {
            tracing::warn!(gateway, "callback for an unknown payment");
            store
                .record_payment_event(
                    None,
                    &g.id,
                    "callback",
                    &format!("ignored: no such payment here; {claims}"),
                    &text,
                    now,
                )
                .await?;
        }
    }
    Ok(CallbackReply::Accepted)
}

/// What a check leaves to do.
#[derive(Debug, PartialEq, Eq)]
pub enum CheckStep {
    /// Ask again at this time.
    Again(i64),
    /// Settled, or past asking.
    Done,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The gateway could not be asked (or the store failed): try again later.
    #[error("{0}")]
    Retry(String),
    /// The gateway's answer does not match the payment: for the operator.
    #[error("{0}")]
    Alarm(String),
}

impl From<StoreError> for CheckError {
    fn from(e: StoreError) -> Self {
        CheckError::Retry(e.to_string())
    }
}

fn reported(status: RemoteStatus) -> Reported {
    match status {
        RemoteStatus::Pending => Reported::Pending,
        RemoteStatus::Paid => Reported::Paid,
        RemoteStatus::Underpaid => Reported::Underpaid,
        RemoteStatus::Expired => Reported::Expired,
        RemoteStatus::Failed => Reported::Failed,
        RemoteStatus::Refunded => Reported::Refunded,
    }
}

/// One check of a payment (the `payment.check` job): asks its gateway and settles it on
/// the answer.
pub async fn check(
    store: &Store,
    allow_private: bool,
    payment_id: &str,
    now: i64,
) -> Result<CheckStep, CheckError> {
    let Some(p) = store.payment(payment_id).await? else {
        return Ok(CheckStep::Done);
    };
    let state = p.standing()?.state;
    let open = matches!(
        state,
        PaymentState::Created | PaymentState::Pending | PaymentState::Expired
    );
    if !open || p.gateway == MANUAL {
        return Ok(CheckStep::Done);
    }
    let Some(external_id) = p.external_id.as_deref() else {
        // The request that asked for the invoice never recorded it (its node died):
        // the buyer never got a pay page, so nothing can have been paid.
        if now >= p.created_at + INVOICE_GRACE_MS {
            store
                .invoice_refused(&p.id, "the invoice was never recorded", now)
                .await?;
            return Ok(CheckStep::Done);
        }
        return Ok(CheckStep::Again(p.created_at + INVOICE_GRACE_MS));
    };
    let g = store
        .gateway(&p.gateway)
        .await?
        .ok_or_else(|| CheckError::Alarm(format!("gateway {} is not configured", p.gateway)))?;
    let gateway_client = client(store, &g, allow_private)
        .await
        .map_err(|e| CheckError::Retry(e.to_string()))?;
    let asked = gateway_client
        .fetch_state(&PaymentRef {
            payment_id: &p.id,
            external_id,
            remote_id: p.remote_id.as_deref(),
        })
        .await;
    let (answer, raw, remote_id) = match asked {
        Ok(remote) => (
            Answer {
                reported: reported(remote.status),
                payment_id: remote.payment_id,
                amount: remote.amount,
                currency: remote.currency,
                received: remote.received,
            },
            remote.raw_status,
            remote.remote_id,
        ),
        // Nothing paid against the invoice yet (NOWPayments has no payment before the
        // buyer picks a coin).
        Err(GatewayError::Unknown) => (
            Answer {
                reported: Reported::Pending,
                payment_id: None,
                amount: None,
                currency: None,
                received: None,
            },
            "unknown".to_owned(),
            None,
        ),
        Err(e) => return Err(CheckError::Retry(format!("asking {}: {e}", g.id))),
    };
    // Crash tests stop here: the gateway answered, nothing is booked yet.
    souk_client::pause::point("payment.credit").await;
    let (tiers, mismatch) = rules(store).await?;
    let Settled {
        settlement,
        payment,
    } = store
        .settle_payment(
            &p.id,
            &answer,
            &raw,
            remote_id.as_deref(),
            mismatch,
            &tiers,
            now,
        )
        .await?;
    if let Settlement::Nothing { note, alarm: true } = &settlement {
        tracing::error!(payment = %p.id, note, "payment check refused the gateway's answer");
        return Err(CheckError::Alarm(note.clone()));
    }
    if let Settlement::Credit { credit, late, .. } = &settlement {
        tracing::info!(payment = %p.id, credit = %credit.display2(), late, "payment credited");
    }
    let still_open = matches!(
        payment.state(),
        Some(PaymentState::Created | PaymentState::Pending | PaymentState::Expired)
    );
    Ok(
        match still_open
            .then(|| payment::next_check(payment.created_at, payment.expires_at, now))
            .flatten()
        {
            Some(at) => CheckStep::Again(at),
            None => CheckStep::Done,
        },
    )
}

/// The operator's decision on a manual transfer or a held payment.
#[derive(Clone, Debug)]
pub enum Decision {
    /// Credit this much; `None`: what the buyer reported (a transfer) or what arrived
    /// (a held payment, less its share of the fee).
    Approve(Option<Money>),
    Reject,
}

pub async fn decide(
    store: &Store,
    payment_id: &str,
    decision: Decision,
    note: &str,
    now: i64,
) -> Result<Settled, PaymentError> {
    decide_audited(store, payment_id, decision, note, now, |_, _| None).await
}

/// `decide` by `actor`, audited (`payment.approve` or `payment.reject`, subject the
/// payment) with its state before and the settlement, in the transaction that books it.
pub async fn decide_as(
    store: &Store,
    actor: &crate::operators::Acting,
    payment_id: &str,
    decision: Decision,
    note: &str,
    now: i64,
) -> Result<Settled, PaymentError> {
    let action = match decision {
        Decision::Reject => "payment.reject",
        Decision::Approve(_) => "payment.approve",
    };
    decide_audited(
        store,
        payment_id,
        decision,
        note,
        now,
        |before, settlement| {
            let after = match settlement {
                Settlement::Credit {
                    state,
                    credit,
                    bonus,
                    ..
                } => serde_json::json!({
                    "state": state.as_str(),
                    "credited": credit.display2(),
                    "bonus": bonus.display2(),
                }),
                Settlement::Close { state, .. } => serde_json::json!({ "state": state.as_str() }),
                _ => serde_json::Value::Null,
            };
            Some(actor.audit_entry(
                action,
                &format!("payment:{payment_id}"),
                Some(serde_json::json!({ "state": before })),
                Some(after),
            ))
        },
    )
    .await
}

/// `decide` with the audit row `audit` makes of the payment's state before and the
/// settlement, written in the transaction that books it.
pub async fn decide_audited(
    store: &Store,
    payment_id: &str,
    decision: Decision,
    note: &str,
    now: i64,
    audit: impl FnOnce(&str, &Settlement) -> Option<souk_store::NewAuditEntry> + Send,
) -> Result<Settled, PaymentError> {
    let p = store
        .payment(payment_id)
        .await?
        .ok_or(StoreError::NotFound("Payment"))?;
    let credit = match decision {
        Decision::Reject => None,
        Decision::Approve(Some(amount)) => {
            if amount.micros() <= 0 || amount.micros() % 10_000 != 0 {
                return Err(PaymentError::Invalid(
                    "The amount to credit must be positive, with at most two decimals".into(),
                ));
            }
            Some(amount)
        }
        Decision::Approve(None) => Some(match p.received {
            Some(received) => Money::from_micros(p.amount)
                .mul_div_floor(received, p.total)
                .unwrap_or(Money::ZERO),
            None => Money::from_micros(p.amount),
        }),
    };
    if credit.is_some_and(|c| c.micros() <= 0) {
        return Err(PaymentError::Invalid(
            "Nothing arrived to credit; give the amount".into(),
        ));
    }
    let (tiers, _) = rules(store).await?;
    Ok(store
        .decide_payment_audited(payment_id, credit, note.trim(), &tiers, now, audit)
        .await?)
}

/// The operator's change to a gateway: every field optional, the rest kept (or the
/// defaults for a gateway set up the first time).
#[derive(Clone, Debug, Default)]
pub struct GatewayPatch {
    pub enabled: Option<bool>,
    pub title: Option<String>,
    pub base_url: Option<String>,
    pub merchant: Option<String>,
    pub api_key: Option<String>,
    pub secret: Option<String>,
    pub min_amount: Option<Money>,
    pub max_amount: Option<Money>,
    /// A percentage, `"2.5"`.
    pub fee_percent: Option<String>,
    pub instructions: Option<String>,
}

fn default_title(id: &str) -> &'static str {
    match id {
        "cryptomus" => "Cryptomus (crypto)",
        "nowpayments" => "NOWPayments (crypto)",
        "stripe" => "Card (Stripe)",
        _ => "Bank transfer",
    }
}

/// A base URL as stored: `http(s)://host[:port][/path]`, no trailing slash; empty for
/// the gateway's own.
fn base_url(text: &str) -> Result<String, PaymentError> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    souk_core::web_url::web_url(text, 300)
        .map_err(|e| PaymentError::Invalid(format!("base_url {e}")))
}

/// Sets a gateway up (or changes it), checking every field before anything is stored.
pub async fn configure(
    store: &Store,
    id: &str,
    patch: GatewayPatch,
    now: i64,
) -> Result<GatewayRecord, PaymentError> {
    configure_audited(store, id, patch, now, |_, _| None).await
}

/// `configure` with the audit row `audit` makes of the gateway before and after (read
/// in the transaction that stores it), written in that transaction.
pub async fn configure_audited(
    store: &Store,
    id: &str,
    patch: GatewayPatch,
    now: i64,
    audit: impl FnOnce(Option<&GatewayRecord>, &GatewayRecord) -> Option<souk_store::NewAuditEntry>
        + Send,
) -> Result<GatewayRecord, PaymentError> {
    if !GATEWAYS.contains(&id) {
        return Err(PaymentError::Invalid(format!(
            "Unknown gateway {id:?}: one of {}",
            GATEWAYS.join(", ")
        )));
    }
    let current = store.gateway(id).await?;
    let text = |field: &str, value: Option<String>, old: Option<&str>, max: usize| {
        let v = value.map(|v| v.trim().to_owned());
        if let Some(v) = &v {
            if v.chars().count() > max || !souk_core::input::is_clean(v, field == "instructions") {
                return Err(PaymentError::Invalid(format!(
                    "{field} must be text of at most {max} characters"
                )));
            }
        }
        Ok(v.or_else(|| old.map(str::to_owned)))
    };
    let title = text(
        "title",
        patch.title,
        current.as_ref().map(|g| g.title.as_str()),
        100,
    )?
    .filter(|t| !t.is_empty())
    .unwrap_or_else(|| default_title(id).to_owned());
    let merchant = text(
        "merchant",
        patch.merchant,
        current.as_ref().map(|g| g.merchant.as_str()),
        200,
    )?
    .unwrap_or_default();
    let instructions = text(
        "instructions",
        patch.instructions,
        current.as_ref().map(|g| g.instructions.as_str()),
        2_000,
    )?
    .unwrap_or_default();
    let base_url = match patch.base_url {
        Some(u) => base_url(&u)?,
        None => current
            .as_ref()
            .map(|g| g.base_url.clone())
            .unwrap_or_default(),
    };
    let secret_field = |field: &str, value: Option<String>| match value.map(|v| v.trim().to_owned())
    {
        Some(v)
            if v.is_empty()
                || v.len() > 500
                || v.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Err(PaymentError::Invalid(format!(
                "{field} must be 1 to 500 characters without spaces"
            )))
        }
        other => Ok(other),
    };
    let api_key = secret_field("api_key", patch.api_key)?;
    let secret = secret_field("secret", patch.secret)?;
    let min = patch
        .min_amount
        .or(current.as_ref().map(|g| Money::from_micros(g.min_amount)))
        .unwrap_or(Money::from_micros(1_000_000));
    let max = patch
        .max_amount
        .or(current.as_ref().map(|g| Money::from_micros(g.max_amount)))
        .unwrap_or(Money::from_micros(10_000_000_000));
    for (field, m) in [("min_amount", min), ("max_amount", max)] {
        if m.micros() <= 0 || m.micros() % 10_000 != 0 {
            return Err(PaymentError::Invalid(format!(
                "{field} must be a positive amount with at most two decimals"
            )));
        }
    }
    if max < min {
        return Err(PaymentError::Invalid(
            "max_amount must not be below min_amount".into(),
        ));
    }
    let fee_bp = match patch.fee_percent {
        Some(f) => souk_core::supply::parse_percent(&f).ok_or_else(|| {
            PaymentError::Invalid(
                "fee_percent must be a percentage from 0 to 100 with up to 2 decimals".into(),
            )
        })?,
        None => current.as_ref().map_or(0, |g| g.fee_bp),
    };
    let enabled = patch
        .enabled
        .or(current.as_ref().map(|g| g.enabled))
        .unwrap_or(false);
    if enabled && id != MANUAL {
        let has_key = api_key.is_some() || current.as_ref().is_some_and(|g| g.has_api_key);
        let has_secret = secret.is_some() || current.as_ref().is_some_and(|g| g.has_secret);
        let missing = match id {
            "cryptomus" if merchant.is_empty() => Some("merchant"),
            _ if !has_key => Some("api_key"),
            "nowpayments" | "stripe" if !has_secret => Some("secret"),
            _ => None,
        };
        if let Some(field) = missing {
            return Err(PaymentError::Invalid(format!(
                "{id} cannot be enabled without its {field}"
            )));
        }
    }
    Ok(store
        .put_gateway_audited(
            &GatewaySetup {
                id: id.to_owned(),
                enabled,
                title,
                base_url,
                merchant,
                api_key,
                secret,
                min_amount: min,
                max_amount: max,
                fee_bp,
                instructions,
            },
            now,
            audit,
        )
        .await?)
}

/// Calls the gateway with its keys: what it said when they work, why not otherwise.
pub async fn check_gateway(
    store: &Store,
    allow_private: bool,
    id: &str,
) -> Result<String, PaymentError> {
    let g = store
        .gateway(id)
        .await?
        .ok_or(StoreError::NotFound("Gateway"))?;
    if g.id == MANUAL {
        return Ok("manual transfers need no keys".into());
    }
    let gateway_client = client(store, &g, allow_private).await?;
    gateway_client
        .check_keys()
        .await
        .map_err(PaymentError::Gateway)
}
