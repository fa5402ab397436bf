//! `souk admin ...`: the operator's commands. Each area adds its subcommands here.

use anyhow::{bail, Context};
use clap::Subcommand;
use souk_core::Money;
use souk_store::{NewUser, Store};

use super::parse_amount;

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Balances, always through the ledger.
    Balance {
        #[command(subcommand)]
        command: BalanceCommand,
    },
    /// Upstream providers.
    Provider {
        #[command(subcommand)]
        command: super::admin_provider::ProviderCommand,
    },
    /// Orders waiting on a provider.
    Orders {
        #[command(subcommand)]
        command: super::admin_provider::OrdersCommand,
    },
    /// Check every money and stock invariant over the whole database; exits non-zero
    /// naming each violation.
    Audit,
    /// SMS verification: catalogue, gateways, numbers, providers, test SMS.
    Sms {
        #[command(subcommand)]
        command: super::admin_sms::SmsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user; prints the new API key alone on the last line.
    Create {
        #[arg(long)]
        email: String,
        /// Opening balance, e.g. 100 or 25.50.
        #[arg(long)]
        balance: Option<String>,
        /// Make the user a supplier.
        #[arg(long)]
        supplier: bool,
        #[arg(long, default_value = "")]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum BalanceCommand {
    /// Top up a balance (a negative amount debits, never below zero).
    Add {
        #[arg(long)]
        email: String,
        #[arg(long, allow_hyphen_values = true)]
        amount: String,
        #[arg(long, default_value = "")]
        note: String,
    },
}

pub async fn run(store: &Store, command: AdminCommand, now: i64) -> anyhow::Result<()> {
    match command {
        AdminCommand::User {
            command:
                UserCommand::Create {
                    email,
                    balance,
                    supplier,
                    name,
                },
        } => {
            let initial_balance = match balance {
                Some(b) => parse_amount(&b)?,
                None => Money::ZERO,
            };
            let (id, key) = store
                .create_user(
                    &NewUser {
                        email: email.clone(),
                        name,
                        password_hash: None,
                        is_supplier: supplier,
                        initial_balance,
                    },
                    now,
                )
                .await?;
            println!(
                "created user {id} <{}> balance {}",
                email.trim().to_lowercase(),
                initial_balance.display2()
            );
            println!("{key}");
            Ok(())
        }
        AdminCommand::Balance {
            command:
                BalanceCommand::Add {
                    email,
                    amount,
                    note,
                },
        } => {
            let amount = parse_amount(&amount)?;
            let Some(user_id) = store.user_id_by_email(&email).await? else {
                bail!("no user with email {email}");
            };
            let kind = if amount.is_negative() {
                "adjust"
            } else {
                "topup"
            };
            let balance = store
                .adjust_balance(&user_id, amount, kind, &note, now)
                .await
                .context("balance not changed")?;
            println!(
                "balance of {} is now {}",
                email.trim().to_lowercase(),
                balance.display2()
            );
            Ok(())
        }
        AdminCommand::Provider { command } => {
            super::admin_provider::provider(store, command, now).await
        }
        AdminCommand::Orders { command } => {
            super::admin_provider::orders(store, command, now).await
        }
        AdminCommand::Sms { command } => super::admin_sms::run(store, command, now).await,
        AdminCommand::Audit => {
            let report = store.audit().await?;
            println!(
                "audited {} users, {} orders, {} ledger rows, {} delivered stock lines",
                report.users, report.orders, report.ledger_rows, report.delivered_lines
            );
            for v in &report.violations {
                println!("VIOLATION: {v}");
            }
            if report.violations.is_empty() {
                println!("all invariants hold");
                Ok(())
            } else {
                bail!("{} invariant violation(s) found", report.violations.len())
            }
        }
    }
}
