//! `souk admin payment|gateway ...`: buyers' top-ups and the payment gateways, the
//! operator API's `/payments` and `/gateways` as commands (the rules are
//! `souk_app::payments`'s).

use anyhow::{anyhow, bail};
use clap::Subcommand;
use souk_app::operator_gateways;
use souk_app::operators::Acting;
use souk_app::payments::{self, CheckError, CheckStep, Decision, GatewayPatch, PaymentError};
use souk_core::clock::iso_millis;
use souk_core::payment::PaymentState;
use souk_core::Money;
use souk_store::{GatewayRecord, PaymentEvent, PaymentRecord, Store};

use super::parse_amount;

#[derive(Subcommand, Debug)]
pub enum PaymentCommand {
    /// Top-ups, newest first.
    List {
        /// Only this state: created, pending, held, paid, partially_paid, expired, failed.
        #[arg(long)]
        state: Option<String>,
        /// Only this buyer's (email).
        #[arg(long)]
        user: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// One payment and every callback, check and decision of it.
    Show { id: String },
    /// Ask the payment's gateway now and settle the payment on its answer.
    Check { id: String },
    /// Credit a pending manual transfer or a held payment (once).
    Approve {
        id: String,
        /// What to credit, e.g. 12.50 (default: what the buyer reported, or for a held
        /// payment what arrived less its share of the fee).
        #[arg(long, allow_hyphen_values = true)]
        amount: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a pending manual transfer or a held payment: nothing is credited.
    Reject {
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// The newest events of every gateway (refused callbacks included).
    Events {
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// Every gateway set up (keys never shown).
    List,
    /// Set a gateway up or change it (cryptomus, nowpayments, stripe, manual); options
    /// left out keep their value.
    Set(Box<GatewaySet>),
    /// Call the gateway with its keys.
    Check { id: String },
}

#[derive(clap::Args, Debug)]
pub struct GatewaySet {
    /// cryptomus, nowpayments, stripe or manual.
    id: String,
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    /// What buyers see.
    #[arg(long)]
    title: Option<String>,
    /// The gateway's address (empty: its own), e.g. a proxy.
    #[arg(long)]
    base_url: Option<String>,
    /// The merchant id (cryptomus).
    #[arg(long)]
    merchant: Option<String>,
    /// The API key; better given as SOUK_GATEWAY_API_KEY, out of the shell history.
    #[arg(long, env = "SOUK_GATEWAY_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// The webhook signing secret; better given as SOUK_GATEWAY_SECRET, out of the
    /// shell history.
    #[arg(long, env = "SOUK_GATEWAY_SECRET", hide_env_values = true)]
    secret: Option<String>,
    /// The smallest top-up, e.g. 5.00.
    #[arg(long, allow_hyphen_values = true)]
    min: Option<String>,
    /// The largest top-up, e.g. 1000.00.
    #[arg(long, allow_hyphen_values = true)]
    max: Option<String>,
    /// The fee buyers pay on top, in percent, e.g. 2.5.
    #[arg(long, allow_hyphen_values = true)]
    fee_percent: Option<String>,
    /// For manual transfers: where to send the money.
    #[arg(long)]
    instructions: Option<String>,
}

fn money(micros: i64) -> String {
    Money::from_micros(micros).display2()
}

fn payment_line(p: &PaymentRecord) -> String {
    format!(
        "{} {:<14} {:<11} {} {} (fee {}, credited {}) {} {}{}",
        p.id,
        p.state,
        p.gateway,
        money(p.amount),
        p.currency,
        money(p.fee),
        money(p.credited + p.bonus_credited),
        p.email,
        iso_millis(p.created_at),
        p.external_id
            .as_deref()
            .map(|e| format!(" ref {e}"))
            .unwrap_or_default()
    )
}

fn event_line(e: &PaymentEvent) -> String {
    format!(
        "{} {:<11} {:<8} {} {}{}",
        iso_millis(e.created_at),
        e.gateway,
        e.source,
        e.payment_id.as_deref().unwrap_or("-"),
        e.verdict,
        if e.detail.is_empty() {
            String::new()
        } else {
            format!(" | {}", e.detail.replace('\n', " "))
        }
    )
}

fn gateway_line(g: &GatewayRecord) -> String {
    format!(
        "{:<11} {:<8} {:?} limits {}..{} fee {}% api_key {} secret {}{}{}",
        g.id,
        if g.enabled { "enabled" } else { "disabled" },
        g.title,
        money(g.min_amount),
        money(g.max_amount),
        souk_core::supply::format_percent(g.fee_bp),
        if g.has_api_key { "set" } else { "none" },
        if g.has_secret { "set" } else { "none" },
        if g.merchant.is_empty() {
            String::new()
        } else {
            format!(" merchant {}", g.merchant)
        },
        if g.base_url.is_empty() {
            String::new()
        } else {
            format!(" at {}", g.base_url)
        },
    )
}

async fn found(store: &Store, id: &str) -> anyhow::Result<PaymentRecord> {
    store
        .payment(id.trim())
        .await?
        .ok_or_else(|| anyhow!("Payment not found"))
}

async fn show(store: &Store, id: &str) -> anyhow::Result<()> {
    let p = found(store, id).await?;
    println!("{}", payment_line(&p));
    println!(
        "total {} bonus {} received {} credited {} + bonus {}{}",
        money(p.total),
        money(p.bonus),
        p.received.map(money).unwrap_or_else(|| "-".into()),
        money(p.credited),
        money(p.bonus_credited),
        if p.late { " (late)" } else { "" }
    );
    if !p.note.is_empty() {
        println!("note: {}", p.note);
    }
    for e in store.payment_events(Some(&p.id), 1000).await? {
        println!("  {}", event_line(&e));
    }
    Ok(())
}

/// A top-up amount as the operator writes it: positive, at most two decimals.
fn amount(field: &str, text: &str) -> anyhow::Result<Money> {
    parse_amount(text)
        .ok()
        .filter(|m| m.micros() > 0 && m.micros() % 10_000 == 0)
        .ok_or_else(|| anyhow!("{field} must be a positive amount with at most two decimals"))
}

fn payment_error(e: PaymentError) -> anyhow::Error {
    match e {
        PaymentError::Store(e) => e.into(),
        other => anyhow!("{other}"),
    }
}

pub async fn run_payment(store: &Store, command: PaymentCommand, now: i64) -> anyhow::Result<()> {
    let (id, decision, note) = match command {
        PaymentCommand::List { state, user, limit } => {
            let state = match state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(PaymentState::parse(s).ok_or_else(|| {
                    anyhow!(
                        "state must be one of {}",
                        PaymentState::ALL.map(PaymentState::as_str).join(", ")
                    )
                })?),
            };
            let user = match user {
                None => None,
                Some(email) => Some(
                    store
                        .user_id_by_email(&email)
                        .await
                        .or_else(|e| match e {
                            souk_store::StoreError::Invalid(_) => Ok(None),
                            other => Err(other),
                        })?
                        .ok_or_else(|| anyhow!("no user with email {email}"))?,
                ),
            };
            if !(1..=1000).contains(&limit) {
                bail!("limit must be a whole number from 1 to 1000");
            }
            for p in store
                .payments(user.as_deref(), state.map(PaymentState::as_str), limit)
                .await?
            {
                println!("{}", payment_line(&p));
            }
            return Ok(());
        }
        PaymentCommand::Show { id } => return show(store, &id).await,
        PaymentCommand::Events { limit } => {
            if !(1..=1000).contains(&limit) {
                bail!("limit must be a whole number from 1 to 1000");
            }
            for e in store.payment_events(None, limit).await? {
                println!("{}", event_line(&e));
            }
            return Ok(());
        }
        PaymentCommand::Check { id } => {
            let p = found(store, &id).await?;
            if p.gateway == payments::MANUAL {
                bail!("A manual transfer has no gateway to ask: approve or reject it");
            }
            let allow_private = crate::config::allow_private_upstreams();
            let said = match payments::check(store, allow_private, &p.id, now).await {
                Ok(CheckStep::Again(at)) => {
                    format!("still open; next check at {}", iso_millis(at))
                }
                Ok(CheckStep::Done) => "needs no more asking".to_owned(),
                Err(CheckError::Retry(e)) => format!("the gateway could not be asked: {e}"),
                Err(CheckError::Alarm(e)) => format!("the gateway's answer was refused: {e}"),
            };
            store
                .record_payment_event(
                    Some(&p.id),
                    &p.gateway,
                    "operator",
                    &format!("re-check asked: {said}"),
                    "",
                    now,
                )
                .await?;
            println!("check: {said}");
            return show(store, &p.id).await;
        }
        PaymentCommand::Approve {
            id,
            amount: a,
            note,
        } => {
            let credit = a.as_deref().map(|t| amount("amount", t)).transpose()?;
            (id, Decision::Approve(credit), note)
        }
        PaymentCommand::Reject { id, note } => (id, Decision::Reject, note),
    };
    // Booked and audited as the command line in one transaction.
    let settled = payments::decide_as(
        store,
        &Acting::command_line(),
        id.trim(),
        decision,
        &note,
        now,
    )
    .await
    .map_err(payment_error)?;
    println!(
        "{}: {}",
        settled.payment.id,
        souk_store::verdict_of(&settled.settlement)
    );
    println!("{}", payment_line(&settled.payment));
    Ok(())
}

pub async fn run_gateway(store: &Store, command: GatewayCommand, now: i64) -> anyhow::Result<()> {
    match command {
        GatewayCommand::List => {
            for g in store.gateways().await? {
                println!("{}", gateway_line(&g));
            }
            Ok(())
        }
        GatewayCommand::Set(set) => {
            let GatewaySet {
                id,
                enable,
                disable,
                title,
                base_url,
                merchant,
                api_key,
                secret,
                min,
                max,
                fee_percent,
                instructions,
            } = *set;
            let patch = GatewayPatch {
                enabled: (enable || disable).then_some(enable),
                title,
                base_url,
                merchant,
                api_key,
                secret,
                min_amount: min
                    .as_deref()
                    .map(|m| amount("min_amount", m))
                    .transpose()?,
                max_amount: max
                    .as_deref()
                    .map(|m| amount("max_amount", m))
                    .transpose()?,
                fee_percent,
                instructions,
            };
            // Stored and audited as the command line in one transaction (keys only as set).
            let g = operator_gateways::configure_patch(
                store,
                &Acting::command_line(),
                id.trim(),
                patch,
                now,
            )
            .await?;
            println!("{}", gateway_line(&g));
            Ok(())
        }
        GatewayCommand::Check { id } => {
            let allow_private = crate::config::allow_private_upstreams();
            match payments::check_gateway(store, allow_private, id.trim()).await {
                Ok(said) => {
                    println!("{}: the keys work: {said}", id.trim());
                    Ok(())
                }
                Err(PaymentError::Gateway(e)) => {
                    bail!("The keys of {} could not be confirmed: {e}", id.trim())
                }
                Err(e) => Err(payment_error(e)),
            }
        }
    }
}
