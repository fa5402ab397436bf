//! `souk admin telegram ...`: the operator's Telegram bot (token, base URL, switch), a
//! `getMe` check, and a one-time deep link for the operator's own chat. The rules live
//! in `souk_app::telegram`.

use anyhow::{bail, Context};
use clap::Subcommand;
use souk_app::telegram::{self, TelegramError, TelegramPatch, TelegramView};
use souk_core::clock::iso_millis;
use souk_core::event::OPERATOR;
use souk_store::Store;

#[derive(Subcommand, Debug)]
pub enum TelegramCommand {
    /// Show the bot as set up (never its token).
    Show,
    /// Set the bot up or change it; options left out keep their value. A new token is
    /// tried with getMe first.
    Set {
        /// The name of the environment variable that holds the bot token (kept out of
        /// the shell history and the process list), e.g. SOUK_TELEGRAM_TOKEN.
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// The Bot API's address (empty: https://api.telegram.org), e.g. a proxy.
        #[arg(long)]
        base_url: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// The operator's own events for the operator's chat, comma-separated.
        #[arg(long)]
        operator_events: Option<String>,
    },
    /// Call getMe with the stored token.
    Check,
    /// Print a one-time deep link (an hour) that links the chat it is opened in to the
    /// operator's events.
    Link,
}

fn show(v: &TelegramView) {
    println!(
        "telegram {} bot @{} base {} operator chat {} events {}{}",
        if v.enabled { "enabled" } else { "disabled" },
        if v.bot_username.is_empty() {
            "-"
        } else {
            &v.bot_username
        },
        if v.base_url.is_empty() {
            "https://api.telegram.org"
        } else {
            &v.base_url
        },
        if v.operator_chat.is_some() {
            "linked"
        } else {
            "not linked"
        },
        if v.operator_events.is_empty() {
            "-".to_owned()
        } else {
            v.operator_events.join(",")
        },
        if v.configured { "" } else { " (no token set)" },
    );
}

fn refusal(e: TelegramError) -> anyhow::Error {
    match e {
        TelegramError::Bot(why) => {
            anyhow::anyhow!("Telegram refused or could not be reached: {why}")
        }
        other => anyhow::anyhow!("{other}"),
    }
}

pub async fn run(store: &Store, command: TelegramCommand, now: i64) -> anyhow::Result<()> {
    let allow_private = crate::config::allow_private_upstreams();
    match command {
        TelegramCommand::Show => {
            show(&telegram::view(store).await.map_err(refusal)?);
            Ok(())
        }
        TelegramCommand::Set {
            token_env,
            base_url,
            enable,
            disable,
            operator_events,
        } => {
            let token = match token_env {
                Some(var) => Some(
                    std::env::var(var.trim())
                        .with_context(|| format!("environment variable {var} is not set"))?,
                ),
                None => None,
            };
            let patch = TelegramPatch {
                token,
                base_url,
                enabled: (enable || disable).then_some(enable),
                operator_events: operator_events.map(|e| {
                    e.split(',')
                        .map(str::trim)
                        .filter(|k| !k.is_empty())
                        .map(str::to_owned)
                        .collect()
                }),
            };
            // Audited as the command line (a token only as replaced).
            let actor = souk_app::operators::Acting::command_line();
            let v = telegram::configure_as(store, &actor, allow_private, patch, now)
                .await
                .map_err(refusal)?;
            show(&v);
            Ok(())
        }
        TelegramCommand::Check => {
            let bot = telegram::check(store, allow_private)
                .await
                .map_err(refusal)?;
            if bot.username.is_empty() {
                bail!("Telegram answered getMe without a username");
            }
            println!("the token works: bot @{} (id {})", bot.username, bot.id);
            Ok(())
        }
        TelegramCommand::Link => {
            let (link, expires_at) = telegram::new_link(store, OPERATOR, now)
                .await
                .map_err(refusal)?;
            println!(
                "open this link in Telegram and press Start (once, until {}):",
                iso_millis(expires_at)
            );
            println!("{link}");
            Ok(())
        }
    }
}
