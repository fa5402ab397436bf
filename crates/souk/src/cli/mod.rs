//! The command line of SPEC 13.

use std::sync::Arc;

use clap::{Args, Parser, Subcommand};
use souk_core::clock::{Clock, SystemClock};
use souk_core::Money;

mod admin;
mod admin_catalogue;
mod admin_money;
mod admin_operator;
mod admin_payments;
mod admin_provider;
mod admin_sms;
mod admin_smtp;
mod admin_telegram;
mod admin_users;
mod api;
mod backup;
mod doctor;

pub use admin::AdminCommand;

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
    /// Run the background workers only (forwarding, status sync, expiry), no HTTP.
    Worker {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Call any API v2 endpoint (balance, services, add, status, cancel).
    Api(api::ApiArgs),
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        db: DatabaseArg,
    },
    /// Take a consistent, compressed backup of the database (while it serves), with
    /// a manifest; the data key is left out unless --with-key.
    Backup(backup::BackupArgs),
    /// Restore a backup into an empty database (or --force), check it, migrate it and
    /// run the audit.
    Restore(backup::RestoreArgs),
    /// Check the configuration, the database, the data key, disk space, the clock,
    /// providers, gateways and notifications; exits non-zero on a fault.
    Doctor(doctor::DoctorArgs),
    /// Operator commands.
    Admin {
        #[command(flatten)]
        db: DatabaseArg,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

pub(crate) fn parse_amount(text: &str) -> anyhow::Result<Money> {
    Money::parse(text).map_err(|e| anyhow::anyhow!("{e}: {text:?}"))
}

/// A failure as the one line `souk` prints: the error and its causes, each cause left out
/// where the text before it already says it (errors that print their source too).
pub fn error_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string().replace('\n', " ");
        if line.is_empty() {
            line = text;
        } else if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Serve { listen, db, demo } => {
            let started = std::time::Instant::now();
            let schedule = crate::backup::schedule_from_env()?;
            let store = open_store(&db.database_url, config::max_connections()?).await?;
            let demo = if demo {
                let d = crate::demo::load(&store, clock.now_ms()).await?;
                if d.loaded {
                    tracing::info!("demo catalogue loaded");
                }
                Some(d)
            } else {
                None
            };
            let workers = if config::workers_in_serve() {
                Some(crate::server::worker_context(store.clone(), clock.clone()).await?)
            } else {
                None
            };
            let mut node = Node::start(store, &listen, config::api_config()?, clock).await?;
            node.workers = workers;
            let url = node.url();
            println!("Souk is listening on {url} (API: {url}/api/v2)");
            if let Some(metrics) = node.metrics_url() {
                println!("Metrics: {metrics}");
            }
            if let Some(d) = demo {
                let key = d.buyer_key;
                println!("Demo buyer API key (balance 100.00): {key}");
                println!("Try: curl -s {url}/api/v2 -d key={key} -d action=services -d limit=3");
                println!(
                    "Web: {url}/ (sign in as {} with password {})",
                    crate::demo::DEMO_BUYER_EMAIL,
                    d.buyer_password
                );
                if let Some((gateway, secret)) = d.sms_gateway {
                    println!(
                        "Demo SMS gateway: POST {url}/webhooks/sms/{gateway} (secret {secret})"
                    );
                }
            }
            let backups = schedule.map(|s| {
                tracing::info!(
                    every_s = s.every.as_secs(),
                    dir = %s.dir.display(),
                    keep = s.keep,
                    "scheduled backups on"
                );
                tokio::spawn(crate::backup::run_schedule(db.database_url.clone(), s))
            });
            tracing::info!(url = %url, database = %souk_store::redact_url(&db.database_url), ready_ms = started.elapsed().as_millis() as u64, "ready");
            let result = node.run(shutdown_signal()).await;
            if let Some(task) = backups {
                task.abort();
            }
            result
        }
        Command::Worker { db } => {
            let store = open_store(&db.database_url, config::max_connections()?).await?;
            let ctx = crate::server::worker_context(store.clone(), clock).await?;
            let workers = souk_workers::spawn_all(&ctx);
            println!("Souk workers running (node {})", ctx.node_id);
            shutdown_signal().await;
            workers.stop(souk_workers::STOP_GRACE).await;
            store.close().await;
            Ok(())
        }
        Command::Api(args) => api::run(args).await,
        Command::Backup(args) => backup::run_backup(args).await,
        Command::Restore(args) => backup::run_restore(args).await,
        Command::Doctor(args) => doctor::run(args).await,
        Command::Migrate { db } => {
            open_store(&db.database_url, 2).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Admin { db, command } => {
            let store = open_store(&db.database_url, 4).await?;
            let now = clock.now_ms();
            let result = admin::run(&store, command, now).await;
            store.close().await;
            result
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("provider: {0}")]
        Inner(#[from] std::io::Error),
    }

    #[test]
    fn causes_said_already_are_not_repeated() {
        let io = std::io::Error::other("upstream refused");
        let e = anyhow::Error::from(Outer::from(io)).context("cannot import");
        assert_eq!(error_line(&e), "cannot import: provider: upstream refused");
        let plain = anyhow::anyhow!("no such\nthing").context("lookup");
        assert_eq!(error_line(&plain), "lookup: no such thing");
    }
}
