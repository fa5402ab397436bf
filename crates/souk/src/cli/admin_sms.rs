//! `souk admin sms ...`: the SMS catalogue, gateways, pool numbers, upstream providers
//! and the lifetime setting, plus `inject` (SPEC 13), which delivers an SMS as if a
//! gateway had pushed it. Each change is audited as the command line, in its own
//! transaction, through the operator's SMS use cases.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use souk_app::operator_sms;
use souk_app::operators::{Acting, OperatorError};
use souk_app::sms_admin::{InjectSms, ProjectChange};
use souk_core::{Lang, Text};
use souk_store::{NewSmsCountry, NewSmsNumber, NewSmsProject, Store, StoreError};

use super::parse_amount;

#[derive(Subcommand, Debug)]
pub enum SmsCommand {
    /// Countries numbers are sold in.
    Country {
        #[command(subcommand)]
        command: CountryCommand,
    },
    /// Projects (services such as Telegram) numbers are rented for.
    Project {
        #[command(subcommand)]
        command: ProjectCommand,
    },
    /// The price of a project in a country.
    Price {
        #[command(subcommand)]
        command: PriceCommand,
    },
    /// Gateways that push the SMS of their numbers to the signed webhook.
    Gateway {
        #[command(subcommand)]
        command: GatewayCommand,
    },
    /// The operator's own numbers.
    Number {
        #[command(subcommand)]
        command: NumberCommand,
    },
    /// Upstream providers speaking the sms-activate protocol, used when the pool is empty.
    Provider {
        #[command(subcommand)]
        command: ProviderCommand,
    },
    /// Set how long an activation waits for its SMS before it is refunded (default 20).
    Lifetime {
        #[arg(long)]
        minutes: i64,
    },
    /// Show the SMS catalogue, gateways, numbers and providers.
    List,
    /// Deliver an SMS as if a gateway had pushed it (demos, tests).
    Inject {
        #[arg(long)]
        phone: String,
        #[arg(long)]
        text: String,
        /// The sender, e.g. Telegram.
        #[arg(long, default_value = "")]
        from: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum CountryCommand {
    /// Create or update a country.
    Set {
        /// ISO 3166-1 alpha-2, e.g. us.
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        /// The country's number in the sms-activate protocol (187 for the USA, 16 for the UK).
        #[arg(long)]
        activate_id: Option<i64>,
        /// A translated name, LANG=NAME (repeatable), e.g. ru=США.
        #[arg(long = "translation", value_name = "LANG=NAME")]
        translations: Vec<String>,
        /// Stop selling in this country.
        #[arg(long)]
        inactive: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProjectCommand {
    /// Create a project; prints its id.
    Add {
        /// The short service code, as sms-activate names services (tg, wa, go, ...).
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long = "translation", value_name = "LANG=NAME")]
        translations: Vec<String>,
    },
    /// Rename or (de)activate a project.
    Set {
        /// Its id or code.
        #[arg(long)]
        project: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long = "translation", value_name = "LANG=NAME")]
        translations: Vec<String>,
        #[arg(long)]
        active: Option<bool>,
    },
}

#[derive(Subcommand, Debug)]
pub enum PriceCommand {
    /// Sell a project in a country at a price.
    Set {
        #[arg(long)]
        project: String,
        #[arg(long)]
        country: String,
        #[arg(long)]
        price: String,
    },
    /// Stop selling a project in a country.
    Remove {
        #[arg(long)]
        project: String,
        #[arg(long)]
        country: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum GatewayCommand {
    /// Register a gateway; prints its id, its webhook secret and its webhook path.
    Add {
        #[arg(long)]
        name: String,
        /// The webhook secret (generated when absent; at least 16 characters).
        #[arg(long)]
        secret: Option<String>,
    },
    /// Enable or disable a gateway.
    Set {
        #[arg(long)]
        id: String,
        #[arg(long)]
        active: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum NumberCommand {
    /// Add a number to the pool.
    Add {
        #[arg(long)]
        phone: String,
        #[arg(long)]
        country: String,
        /// The gateway whose webhook delivers its SMS.
        #[arg(long)]
        gateway: Option<String>,
        /// Project codes or ids it may serve, comma-separated.
        #[arg(long, value_delimiter = ',')]
        projects: Vec<String>,
    },
    /// (De)activate a number or replace its projects.
    Set {
        #[arg(long)]
        phone: String,
        #[arg(long)]
        active: Option<bool>,
        #[arg(long, value_delimiter = ',')]
        projects: Option<Vec<String>>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ProviderCommand {
    /// Register an sms-activate provider; prints its id.
    Add {
        #[arg(long)]
        name: String,
        /// Its base URL or its .../stubs/handler_api.php.
        #[arg(long)]
        url: String,
        #[arg(long)]
        key: String,
    },
    /// Enable or disable a provider.
    Set {
        #[arg(long)]
        id: String,
        #[arg(long)]
        enabled: bool,
    },
}

/// `LANG=NAME` pairs, each a language we speak.
fn parse_translations(pairs: &[String]) -> anyhow::Result<Vec<(Lang, String)>> {
    pairs
        .iter()
        .map(|pair| {
            let (code, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow!("a translation is LANG=NAME, got {pair:?}"))?;
            let lang = Lang::parse(code).ok_or_else(|| anyhow!("unsupported language {code:?}"))?;
            Ok((lang, value.trim().to_owned()))
        })
        .collect()
}

fn text(name: &str, pairs: &[String]) -> anyhow::Result<Text> {
    let mut t = Text::new(name.trim());
    for (lang, value) in parse_translations(pairs)? {
        t.set(lang, value);
    }
    Ok(t)
}

pub async fn run(store: &Store, command: SmsCommand, now: i64) -> anyhow::Result<()> {
    let actor = &Acting::command_line();
    match command {
        SmsCommand::Country {
            command:
                CountryCommand::Set {
                    code,
                    name,
                    activate_id,
                    translations,
                    inactive,
                },
        } => {
            let country = NewSmsCountry {
                code,
                name: text(&name, &translations)?,
                activate_id,
                active: !inactive,
            };
            let c = operator_sms::api_save_country(store, actor, country, now).await?;
            println!("country {} saved", c.code);
        }
        SmsCommand::Project {
            command:
                ProjectCommand::Add {
                    code,
                    name,
                    translations,
                },
        } => {
            let project = NewSmsProject {
                code,
                name: text(&name, &translations)?,
            };
            let p = operator_sms::api_create_project(store, actor, project, now).await?;
            println!("{}", p.id);
        }
        SmsCommand::Project {
            command:
                ProjectCommand::Set {
                    project,
                    name,
                    translations,
                    active,
                },
        } => {
            let translations: Vec<(String, String)> = parse_translations(&translations)?
                .into_iter()
                .map(|(lang, value)| (lang.code().to_owned(), value))
                .collect();
            let change = ProjectChange {
                name,
                translations: (!translations.is_empty()).then_some(translations),
                active,
            };
            let p =
                match operator_sms::api_update_project(store, actor, &project, change, now).await {
                    Ok(p) => p,
                    Err(OperatorError::Store(StoreError::NotFound("Project"))) => {
                        bail!("no project {project}")
                    }
                    Err(e) => return Err(e.into()),
                };
            println!("project {} saved", p.id);
        }
        SmsCommand::Price {
            command:
                PriceCommand::Set {
                    project,
                    country,
                    price,
                },
        } => {
            let price = parse_amount(&price)?;
            operator_sms::api_set_price(store, actor, &project, &country, price, now).await?;
            println!("{project} in {country}: {}", price.display4());
        }
        SmsCommand::Price {
            command: PriceCommand::Remove { project, country },
        } => {
            operator_sms::remove_price(store, actor, &project, &country, now).await?;
            println!("{project} is no longer sold in {country}");
        }
        SmsCommand::Gateway {
            command: GatewayCommand::Add { name, secret },
        } => {
            let g = operator_sms::api_create_gateway(store, actor, &name, secret, now).await?;
            println!("gateway {}", g.id);
            println!("webhook POST /webhooks/sms/{}", g.id);
            println!("secret {}", g.secret);
        }
        SmsCommand::Gateway {
            command: GatewayCommand::Set { id, active },
        } => {
            operator_sms::api_set_gateway_active(store, actor, &id, active, now).await?;
            println!(
                "gateway {id} {}",
                if active { "enabled" } else { "disabled" }
            );
        }
        SmsCommand::Number {
            command:
                NumberCommand::Add {
                    phone,
                    country,
                    gateway,
                    projects,
                },
        } => {
            let number = NewSmsNumber {
                phone,
                country,
                gateway_id: gateway,
                projects,
            };
            let n = operator_sms::api_add_number(store, actor, number, now).await?;
            println!("number {} {}", n.id, n.phone);
        }
        SmsCommand::Number {
            command:
                NumberCommand::Set {
                    phone,
                    active,
                    projects,
                },
        } => {
            let n = operator_sms::api_update_number(
                store,
                actor,
                &phone,
                active,
                projects.as_deref(),
                now,
            )
            .await?;
            println!("number {} saved", n.id);
        }
        SmsCommand::Provider {
            command: ProviderCommand::Add { name, url, key },
        } => {
            let id = operator_sms::create_provider(store, actor, &name, &url, &key, now).await?;
            println!("{id}");
        }
        SmsCommand::Provider {
            command: ProviderCommand::Set { id, enabled },
        } => {
            operator_sms::set_provider_enabled(store, actor, &id, enabled, now).await?;
            println!(
                "provider {id} {}",
                if enabled { "enabled" } else { "disabled" }
            );
        }
        SmsCommand::Lifetime { minutes } => {
            match operator_sms::set_lifetime(store, actor, minutes, now).await {
                Err(OperatorError::Invalid(_)) => {
                    bail!("the lifetime must be between 1 and 1440 minutes")
                }
                done => done?,
            }
            println!("SMS activations now wait {minutes} minutes for their SMS");
        }
        SmsCommand::List => list(store).await?,
        SmsCommand::Inject { phone, text, from } => {
            let sms = InjectSms {
                phone,
                text,
                sender: from,
            };
            let (s, phone) = operator_sms::inject(store, actor, sms, now).await?;
            match (s.order_id, s.code) {
                (Some(order), Some(code)) => {
                    println!(
                        "SMS {} delivered to order {order}: code {code}",
                        s.message_id
                    )
                }
                (Some(order), None) => println!(
                    "SMS {} kept with order {order}; it carries no code",
                    s.message_id
                ),
                (None, _) => println!(
                    "SMS {} kept; no activation is waiting on {phone}",
                    s.message_id
                ),
            }
        }
    }
    Ok(())
}

async fn list(store: &Store) -> anyhow::Result<()> {
    println!("countries:");
    for c in store.sms_countries(false).await? {
        println!(
            "  {} {} (sms-activate {}){}",
            c.code,
            c.name.en(),
            c.activate_id.map_or("-".to_owned(), |n| n.to_string()),
            if c.active { "" } else { " inactive" }
        );
    }
    println!("projects:");
    for p in store.sms_projects(false).await? {
        println!(
            "  {} {} {}{}",
            p.code,
            p.id,
            p.name.en(),
            if p.active { "" } else { " inactive" }
        );
    }
    println!("prices:");
    for p in store.sms_prices().await? {
        println!(
            "  {} in {}: {}",
            p.project_code,
            p.country_code,
            p.price.display4()
        );
    }
    println!("gateways:");
    for g in store.sms_gateways().await? {
        println!(
            "  {} {}{}",
            g.id,
            g.name,
            if g.active { "" } else { " disabled" }
        );
    }
    println!("numbers:");
    for n in store.sms_numbers().await? {
        println!(
            "  {} {} [{}] gateway {}{}{}",
            n.phone,
            n.country_code,
            n.projects.join(","),
            n.gateway_id.as_deref().unwrap_or("-"),
            n.current_order
                .map_or(String::new(), |o| format!(" rented by order {o}")),
            if n.active { "" } else { " inactive" }
        );
    }
    println!("providers:");
    for p in store.sms_providers(false).await? {
        println!(
            "  {} {} {}{}",
            p.id,
            p.name,
            p.url,
            if p.enabled { "" } else { " disabled" }
        );
    }
    println!(
        "lifetime: {} minutes",
        store.sms_lifetime_ms().await? / 60_000
    );
    Ok(())
}
