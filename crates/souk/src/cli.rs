//! The command line of SPEC 13.

use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use souk_core::clock::{Clock, SystemClock};
use souk_core::Money;
use souk_store::NewUser;

use crate::config::{self, DEFAULT_DATABASE_URL, DEFAULT_LISTEN};
use crate::server::{open_store, shutdown_signal, Node};

#[derive(Parser, Debug)]
#[command(
    name = "souk",
    version,
    about = "A self-hosted engine for digital-goods marketplaces, SMM panels and SMS verification"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseArg {
    /// sqlite://FILE (embedded, the default) or postgres://USER@HOST/DB
    #[arg(long, env = "SOUK_DATABASE_URL", default_value = DEFAULT_DATABASE_URL, global = true)]
    pub database_url: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (API v2, health, metrics).
    Serve {
        /// Address to listen on.
        #[arg(long, env = "SOUK_LISTEN", default_value = DEFAULT_LISTEN)]
        listen: String,
        #[command(flatten)]
        db: DatabaseArg,
        /// Load the demo catalogue into an empty database and print a demo buyer's key.
        #[arg(long)]
        demo: bool,
    },
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Operator commands.
    Admin {
        #[command(flatten)]
        db: DatabaseArg,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

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
    /// Check every money and stock invariant over the whole database; exits non-zero
    /// naming each violation.
    Audit,
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

fn parse_amount(text: &str) -> anyhow::Result<Money> {
    Money::parse(text).map_err(|e| anyhow::anyhow!("{e}: {text:?}"))
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { listen, db, demo } => {
            let started = std::time::Instant::now();
            let store = open_store(&db.database_url, config::max_connections()?).await?;
            let demo_key = if demo {
                let d = crate::demo::load(&store, clock.now_ms()).await?;
                if d.loaded {
                    tracing::info!("demo catalogue loaded");
                }
                Some(d.buyer_key)
            } else {
                None
            };
            let node = Node::start(store, &listen, config::api_config()?, clock).await?;
            let url = node.url();
            println!("Souk is listening on {url} (API: {url}/api/v2)");
            if let Some(key) = demo_key {
                println!("Demo buyer API key (balance 100.00): {key}");
                println!("Try: curl -s {url}/api/v2 -d key={key} -d action=services -d limit=3");
            }
            tracing::info!(url = %url, database = %souk_store::redact_url(&db.database_url), ready_ms = started.elapsed().as_millis() as u64, "ready");
            node.run(shutdown_signal()).await
        }
        Command::Migrate { db } => {
            open_store(&db.database_url, 2).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Admin { db, command } => {
            let store = open_store(&db.database_url, 4).await?;
            let now = clock.now_ms();
            let result = admin(&store, command, now).await;
            store.close().await;
            result
        }
    }
}

async fn admin(store: &souk_store::Store, command: AdminCommand, now: i64) -> anyhow::Result<()> {
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
