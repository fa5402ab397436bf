//! `souk admin provider ...` and `souk admin orders ...`: upstream providers and the
//! orders whose send had an unknown outcome.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use souk_app::operators::{self, Acting};
use souk_app::{operator_providers, providers};
use souk_core::Money;
use souk_store::{ImportedVariant, NewProvider, Provider, ProviderPatch, Resolution, Store};

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Register a provider; prints its id.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
        /// api_v2 (SMM panels, marketplaces, other Souks) or sms_activate.
        #[arg(long, default_value = providers::DEFAULT_PROTOCOL)]
        protocol: String,
        #[arg(long, default_value_t = providers::DEFAULT_TIMEOUT_MS)]
        timeout_ms: i64,
        #[arg(long, default_value_t = providers::DEFAULT_REQUESTS_PER_SECOND)]
        requests_per_second: i64,
        /// The provider honours Idempotency-Key (another Souk does).
        #[arg(long)]
        idempotent: bool,
    },
    /// List providers.
    List,
    /// Import the provider's services and products as our own, priced with the markup.
    Import {
        #[arg(long)]
        provider: String,
        /// Percent added to the provider's prices, e.g. 20 or 12.5.
        #[arg(long)]
        markup: Option<String>,
        /// Round prices up to a multiple of this amount, e.g. 0.01.
        #[arg(long)]
        round: Option<String>,
    },
    /// Bring imported services in line with the provider now.
    Sync {
        #[arg(long)]
        provider: String,
    },
    /// Change a provider's settings; prints the provider as `list` does.
    Update {
        #[arg(long)]
        provider: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
        /// true or false.
        #[arg(long)]
        enabled: Option<bool>,
        /// Per request, e.g. 10s or 1500ms.
        #[arg(long, value_parser = parse_timeout)]
        timeout: Option<i64>,
        /// Requests per second (0: no limit).
        #[arg(long)]
        rps: Option<i64>,
        /// Whether the provider honours Idempotency-Key: true or false.
        #[arg(long)]
        idempotent: Option<bool>,
        /// The currency it bills in (e.g. EUR), with --currency-rate; "none" for ours.
        #[arg(long)]
        currency: Option<String>,
        /// How much of our currency one unit of its currency is, e.g. 1.08.
        #[arg(long)]
        currency_rate: Option<String>,
        /// Read the rate on each sync from this JSON document ("none" stops), with
        /// --rate-pointer.
        #[arg(long)]
        rate_url: Option<String>,
        /// Where the rate is in that document, as a JSON pointer: /rates/EUR.
        #[arg(long)]
        rate_pointer: Option<String>,
        /// The source quotes the provider's currency per one of ours (e.g. a source based
        /// on our currency): the rate is its inverse.
        #[arg(long)]
        rate_inverse: bool,
    },
    /// Ask the provider for its balance now; prints it (and records it).
    Check {
        #[arg(long)]
        provider: String,
    },
    /// The variants of the provider's imported products: id, service, names, price and
    /// who set it, whether sold. Only a product's primary variant has a published price;
    /// the others are held back until priced with `price`.
    Variants {
        #[arg(long)]
        provider: String,
    },
    /// The provider's log: what its answers do that API v2 does not say (read past and
    /// counted), then the newest sync changes.
    Log {
        #[arg(long)]
        provider: String,
        /// How many sync changes, newest first.
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// A service's providers: its own, then the fallbacks tried in order when that one
    /// refuses an order, is disabled, failing or short of balance. Without --to or
    /// --clear it only prints them.
    Fallback {
        #[arg(long)]
        service: i64,
        /// PROVIDER_ID:SERVICE, once per fallback, in the order they are tried; replaces
        /// the list.
        #[arg(long = "to")]
        to: Vec<String>,
        /// Remove every fallback.
        #[arg(long, conflicts_with = "to")]
        clear: bool,
    },
    /// What the orders the provider took brought in, net of refunds.
    Profit {
        #[arg(long)]
        provider: String,
    },
    /// Price an imported variant (sync keeps this price); it is sold while listed upstream.
    Price {
        #[arg(long)]
        subproduct: String,
        /// e.g. 7.20
        #[arg(long)]
        price: String,
    },
}

fn print_variant(v: &ImportedVariant) {
    println!(
        "{}	service {}	{:?} / {:?}	{}	price set by {}	{}	stock {}",
        v.id,
        v.service,
        v.product,
        v.name,
        Money::from_micros(v.price).display2(),
        if v.price_pinned {
            "operator"
        } else {
            "provider"
        },
        match (v.active, v.listed_upstream) {
            (true, _) => "sold",
            (false, true) => "held back: no price",
            (false, false) => "not listed upstream",
        },
        v.stock
    );
}

/// A timeout in milliseconds from `10s`, `1500ms`, `2m`.
fn parse_timeout(text: &str) -> Result<i64, String> {
    let d = crate::config::parse_duration(text).map_err(|e| e.to_string())?;
    i64::try_from(d.as_millis()).map_err(|_| format!("timeout too long: {text:?}"))
}

fn print_provider(p: &Provider) {
    println!(
        "{}\t{}\t{}\t{}\t{}\ttimeout {}ms\t{} rps\t{}\tbalance {}",
        p.id,
        p.name,
        p.protocol,
        p.url,
        if p.enabled { "enabled" } else { "disabled" },
        p.timeout_ms,
        p.requests_per_second,
        if p.supports_idempotency {
            "idempotent"
        } else {
            "not idempotent"
        },
        p.balance
            .map_or_else(|| "unknown".to_owned(), |b| b.display2())
    );
    if let Some((code, rate)) = &p.currency {
        match &p.rate_source {
            Some(r) => println!(
                "bills in {code} at {} (read from {} at {}{})",
                rate.format(2),
                r.url,
                r.pointer,
                if r.inverse { ", inverse" } else { "" }
            ),
            None => println!("bills in {code} at {}", rate.format(2)),
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum OrdersCommand {
    /// Orders whose send to a provider had an unknown outcome.
    Stuck,
    /// Settle one: `--sent EXTERNAL_ID`, `--resend` or `--fail` (refunds in full).
    Resolve {
        #[arg(long)]
        order: i64,
        #[arg(long, conflicts_with_all = ["resend", "fail"])]
        sent: Option<String>,
        #[arg(long, conflicts_with = "fail")]
        resend: bool,
        #[arg(long)]
        fail: bool,
    },
}

pub async fn provider(store: &Store, command: ProviderCommand, now: i64) -> anyhow::Result<()> {
    let allow_private = crate::config::allow_private_upstreams();
    // Every change below is audited as the command line, in its own transaction.
    let actor = Acting::command_line();
    match command {
        ProviderCommand::Add {
            name,
            url,
            key,
            protocol,
            timeout_ms,
            requests_per_second,
            idempotent,
        } => {
            let provider = NewProvider {
                name,
                url,
                key,
                protocol,
                timeout_ms,
                requests_per_second,
                supports_idempotency: idempotent,
            };
            let p = operator_providers::create(store, &actor, provider, now).await?;
            println!("{}", p.id);
        }
        ProviderCommand::List => {
            for p in store.providers().await? {
                print_provider(&p);
            }
        }
        ProviderCommand::Update {
            provider,
            name,
            url,
            key,
            enabled,
            timeout,
            rps,
            idempotent,
            currency,
            currency_rate,
            rate_url,
            rate_pointer,
            rate_inverse,
        } => {
            let rate_source =
                match (rate_url.as_deref(), rate_pointer.as_deref()) {
                    (None, None) if !rate_inverse => None,
                    (Some("none"), None) => Some(None),
                    (Some(url), Some(pointer)) => Some(Some(
                        souk_core::rate_source::RateSource::new(url, pointer, rate_inverse)?,
                    )),
                    _ => bail!("--rate-url and --rate-pointer go together (--rate-url none: stop)"),
                };
            let currency = match (currency.as_deref(), currency_rate.as_deref()) {
                (None, None) => None,
                (Some("none"), None) => Some(None),
                (Some(code), Some(rate)) => Some(Some((
                    code.to_owned(),
                    souk_core::supply::parse_price("currency rate", rate)?,
                ))),
                _ => bail!("--currency and --currency-rate go together (--currency none: ours)"),
            };
            let patch = ProviderPatch {
                name,
                url,
                key,
                enabled,
                timeout_ms: timeout,
                requests_per_second: rps,
                supports_idempotency: idempotent,
                currency,
                rate_source,
            };
            let p = operator_providers::update(store, &actor, &provider, &patch, now).await?;
            print_provider(&p);
        }
        ProviderCommand::Check { provider } => {
            let (balance, currency) =
                operator_providers::check_balance(store, &actor, &provider, allow_private, now)
                    .await?;
            println!("balance {} {currency}", balance.display2());
        }
        ProviderCommand::Variants { provider } => {
            for v in store.imported_variants(&provider).await? {
                print_variant(&v);
            }
        }
        ProviderCommand::Log { provider, limit } => {
            if !(1..=10_000).contains(&limit) {
                bail!("--limit must be between 1 and 10000");
            }
            let log = providers::log(store, &provider, limit).await?;
            for (o, what) in &log.oddities {
                println!(
                    "oddity {} in {} answers (last at {}): {what}",
                    o.kind, o.count, o.last_seen
                );
            }
            for (service, change, at) in &log.entries {
                let service = service.map_or_else(|| "-".to_owned(), |n| n.to_string());
                println!("{at} service {service}: {change}");
            }
        }
        ProviderCommand::Fallback { service, to, clear } => {
            let p = if to.is_empty() && !clear {
                store.service_providers(service).await?
            } else {
                let list = to
                    .iter()
                    .map(|t| {
                        t.split_once(':')
                            .map(|(provider, s)| souk_store::Fallback {
                                provider_id: provider.to_owned(),
                                provider_service: s.to_owned(),
                            })
                            .ok_or_else(|| anyhow!("--to takes PROVIDER_ID:SERVICE, not {t:?}"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                operator_providers::set_fallbacks(store, &actor, service, &list, now).await?
            };
            match &p.primary {
                Some(f) => println!("1\t{}\t{}\town", f.provider_id, f.provider_service),
                None => println!("1\t-\t-\town (not connected)"),
            }
            for (i, f) in p.fallbacks.iter().enumerate() {
                println!(
                    "{}\t{}\t{}\tfallback",
                    i + 2,
                    f.provider_id,
                    f.provider_service
                );
            }
        }
        ProviderCommand::Profit { provider } => {
            let p = store.provider_profit(&provider).await?;
            println!(
                "orders {}\trevenue {}\tcost {}\tprofit {}\twithout cost {}",
                p.orders,
                p.revenue.display2(),
                p.cost.display2(),
                p.profit.display2(),
                p.unknown_cost
            );
        }
        ProviderCommand::Price { subproduct, price } => {
            let price = souk_core::supply::parse_price("price", &price)?;
            let (v, _) =
                operator_providers::price_variant_at(store, &actor, None, &subproduct, price, now)
                    .await?;
            print_variant(&v);
        }
        ProviderCommand::Import {
            provider,
            markup,
            round,
        } => {
            let markup = souk_core::markup::parse_markup(markup.as_deref(), round.as_deref())
                .map_err(|e| anyhow!(e))?;
            let progress = crate::progress::Progress::start("importing the provider's services");
            let imported =
                operator_providers::import(store, &actor, &provider, markup, allow_private, now)
                    .await;
            drop(progress);
            let (numbers, _) = imported?;
            println!("imported {} services: {:?}", numbers.len(), numbers);
        }
        ProviderCommand::Sync { provider } => {
            let progress = crate::progress::Progress::start("syncing the provider's services");
            let report =
                operator_providers::sync(store, &actor, &provider, allow_private, now).await;
            drop(progress);
            let report = report?;
            println!(
                "seen {} services, updated {}, disabled {}",
                report.seen,
                report.updated.len(),
                report.disabled.len()
            );
        }
    }
    Ok(())
}

pub async fn orders(store: &Store, command: OrdersCommand, now: i64) -> anyhow::Result<()> {
    match command {
        OrdersCommand::Stuck => {
            for o in store.stuck_orders(1000).await? {
                println!(
                    "{}\tprovider {}\tupstream id {}\tattempts {}\t{}",
                    o.id,
                    o.provider_id.unwrap_or_default(),
                    o.external_id.as_deref().unwrap_or("-"),
                    o.forward_attempts,
                    o.last_error.unwrap_or_default()
                );
            }
        }
        OrdersCommand::Resolve {
            order,
            sent,
            resend,
            fail,
        } => {
            let resolution = match (sent, resend, fail) {
                (Some(id), false, false) => Resolution::Sent(id),
                (None, true, false) => Resolution::Resend,
                (None, false, true) => Resolution::Fail,
                _ => bail!("give exactly one of --sent ID, --resend, --fail"),
            };
            // Settled and audited as the command line in one transaction.
            operators::resolve_order(store, &Acting::command_line(), order, resolution, now)
                .await?;
            println!("order {order} resolved");
        }
    }
    Ok(())
}
