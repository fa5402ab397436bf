//! `souk api ...`: the API v2 client on the command line, against any endpoint.

use std::time::Duration;

use clap::{Args, Subcommand};
use souk_client::api_v2::ApiV2Client;

#[derive(Args, Debug)]
pub struct ApiArgs {
    /// The endpoint, e.g. https://panel.example/api/v2
    #[arg(long, env = "SOUK_API_URL")]
    pub url: String,
    #[arg(long, env = "SOUK_API_KEY")]
    pub key: String,
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    #[command(subcommand)]
    pub command: ApiCommand,
}

#[derive(Subcommand, Debug)]
pub enum ApiCommand {
    Balance,
    Services,
    Add {
        #[arg(long)]
        service: String,
        #[arg(long, default_value = "")]
        link: String,
        #[arg(long)]
        quantity: i64,
        /// Extra fields as NAME=VALUE (comments, runs, interval, ...).
        #[arg(long = "field", value_parser = parse_field)]
        fields: Vec<(String, String)>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    Status {
        /// One id, or several separated by commas.
        #[arg(long)]
        order: String,
    },
    Cancel {
        #[arg(long)]
        orders: String,
    },
}

fn parse_field(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

pub async fn run(args: ApiArgs) -> anyhow::Result<()> {
    // The operator points this at whatever they like, local addresses included.
    let client = ApiV2Client::new(
        &args.url,
        &args.key,
        Duration::from_secs(args.timeout_secs),
        true,
    )?;
    let value = match args.command {
        ApiCommand::Balance => client.raw(&[("action", "balance".into())]).await?,
        ApiCommand::Services => client.raw(&[("action", "services".into())]).await?,
        ApiCommand::Add {
            service,
            link,
            quantity,
            fields,
            idempotency_key,
        } => {
            let order = souk_client::api_v2::RemoteOrder {
                service: &service,
                link: &link,
                quantity,
                fields,
                idempotency_key: idempotency_key.as_deref(),
                ..Default::default()
            };
            serde_json::json!({ "order": client.add(&order).await? })
        }
        ApiCommand::Status { order } => {
            if order.contains(',') {
                client
                    .raw(&[("action", "status".into()), ("orders", order)])
                    .await?
            } else {
                client
                    .raw(&[("action", "status".into()), ("order", order)])
                    .await?
            }
        }
        ApiCommand::Cancel { orders } => {
            client
                .raw(&[("action", "cancel".into()), ("orders", orders)])
                .await?
        }
    };
    // An API-level refusal is a failed command: one line on standard error, exit 1.
    if let Some(error) = value.get("error") {
        let text = error
            .as_str()
            .map_or_else(|| error.to_string(), str::to_owned);
        anyhow::bail!("upstream refused: {text}");
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    Ok(())
}
