//! `souk admin setting|dispute|withdrawal ...`: the operator's settings, disputes and
//! suppliers' withdrawals.

use clap::Subcommand;
use souk_app::disputes::DisputeDecision;
use souk_app::operator_settings;
use souk_app::operators::Acting;
use souk_app::withdrawals::{self, DecideWithdrawal, WithdrawalDecision};
use souk_core::clock::iso_millis;
use souk_core::Money;
use souk_store::Store;

use super::parse_amount;

#[derive(Subcommand, Debug)]
pub enum SettingCommand {
    /// Every setting in effect.
    List,
    /// Set one (early_cancel_enabled, auto_order_early_refund_minutes,
    /// commission_percent, earnings_hold_hours).
    Set { key: String, value: String },
}

#[derive(Subcommand, Debug)]
pub enum DisputeCommand {
    /// Disputes, optionally of one status (open, refunded, rejected).
    List {
        #[arg(long)]
        status: Option<String>,
    },
    /// Refund the buyer (everything left, or --amount) and close the dispute.
    Refund {
        #[arg(long)]
        id: String,
        #[arg(long)]
        amount: Option<String>,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Close the dispute without a refund.
    Reject {
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum WithdrawalCommand {
    /// Withdrawals, optionally of one status (requested, completed, rejected).
    List {
        #[arg(long)]
        status: Option<String>,
    },
    /// Mark a requested withdrawal paid.
    Complete {
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Reject a requested withdrawal; its earnings can be requested again.
    Reject {
        #[arg(long)]
        id: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub async fn run_setting(store: &Store, command: SettingCommand, now: i64) -> anyhow::Result<()> {
    match command {
        SettingCommand::List => {
            for (key, value) in store.settings().await? {
                println!("{key} = {value}");
            }
            Ok(())
        }
        SettingCommand::Set { key, value } => {
            // Audited as the command line; setting a value it has already is no change.
            let given = [(key.trim().to_owned(), value)];
            let value = operator_settings::apply(store, &Acting::command_line(), &given, now)
                .await?
                .into_iter()
                .find(|(k, _)| k == key.trim())
                .map(|(_, v)| v)
                .unwrap_or_default();
            println!("{} = {value}", key.trim());
            Ok(())
        }
    }
}

pub async fn run_dispute(store: &Store, command: DisputeCommand, now: i64) -> anyhow::Result<()> {
    let (id, decision, note) = match command {
        DisputeCommand::List { status } => {
            for d in store.disputes(status.as_deref()).await? {
                println!(
                    "{} order {} {:<8} {} {} refunded {} of {}: {:?}",
                    d.id,
                    d.order_id,
                    d.status,
                    iso_millis(d.created_at),
                    d.email,
                    Money::from_micros(d.refunded).display2(),
                    Money::from_micros(d.charge).display2(),
                    d.message
                );
            }
            return Ok(());
        }
        DisputeCommand::Refund { id, amount, note } => {
            let amount = amount.as_deref().map(parse_amount).transpose()?;
            (id, DisputeDecision::Refund(amount), note)
        }
        DisputeCommand::Reject { id, note } => (id, DisputeDecision::Reject, note),
    };
    // Audited as the command line, in the transaction that books the decision.
    let d = souk_app::operators::resolve_dispute_as(
        store,
        &souk_app::operators::Acting::command_line(),
        id.trim(),
        decision,
        &note,
        now,
    )
    .await?;
    println!(
        "dispute {} {}: {} refunded on order {}",
        d.id,
        d.status,
        Money::from_micros(d.refund_amount).display2(),
        d.order_id
    );
    Ok(())
}

pub async fn run_withdrawal(
    store: &Store,
    command: WithdrawalCommand,
    now: i64,
) -> anyhow::Result<()> {
    let (id, decision, note) = match command {
        WithdrawalCommand::List { status } => {
            for w in store.withdrawals(None, status.as_deref()).await? {
                println!(
                    "{} shop {} {:<9} {} covering {} orders, requested {}",
                    w.id,
                    w.shop_id,
                    w.status,
                    Money::from_micros(w.amount).display2(),
                    w.orders,
                    iso_millis(w.created_at)
                );
            }
            return Ok(());
        }
        WithdrawalCommand::Complete { id, note } => (id, WithdrawalDecision::Paid, note),
        WithdrawalCommand::Reject { id, note } => (id, WithdrawalDecision::Rejected, note),
    };
    let command = DecideWithdrawal {
        withdrawal_id: id.trim().to_owned(),
        decision,
        note,
    };
    // Audited as the command line, in the transaction of the decision.
    let w = withdrawals::decide_as(
        store,
        &souk_app::operators::Acting::command_line(),
        command,
        now,
    )
    .await?;
    println!(
        "withdrawal {} {} ({})",
        w.id,
        w.status,
        Money::from_micros(w.amount).display2()
    );
    Ok(())
}
