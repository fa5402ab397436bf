//! `souk admin sms ...`: the SMS catalogue, gateways, pool numbers, upstream providers
//! and the lifetime setting, plus `inject` (SPEC 13), which delivers an SMS as if a
//! gateway had pushed it.

use anyhow::{anyhow, bail};
use clap::Subcommand;
use souk_app::sms_admin::{self, InjectSms, ProjectChange, SmsAdminError};
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

fn text(name: &str, translations: &[String]) -> anyhow::Result<Text> {
    let mut t = Text::new(name.trim());
    for pair in translations {
        let (code, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("a translation is LANG=NAME, got {pair:?}"))?;
        let lang = Lang::parse(code).ok_or_else(|| anyhow!("unsupported language {code:?}"))?;
        t.set(lang, value.trim());
    }
    Ok(t)
}

pub async fn run(store: &Store, command: SmsCommand, now: i64) -> anyhow::Result<()> {
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
            let c = sms_admin::save_country(store, country).await?;
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
            let p = sms_admin::create_project(store, project, now).await?;
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
            let translations = translations
                .iter()
                .map(|pair| {
                    pair.split_once('=')
                        .map(|(code, value)| (code.to_owned(), value.to_owned()))
                        .ok_or_else(|| anyhow!("a translation is LANG=NAME, got {pair:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let change = ProjectChange {
                name,
                translations: (!translations.is_empty()).then_some(translations),
                active,
            };
            let p = match sms_admin::update_project(store, &project, change).await {
                Ok(p) => p,
                Err(SmsAdminError::Store(StoreError::NotFound(_))) => {
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
            sms_admin::set_price(store, &project, &country, price).await?;
            println!("{project} in {country}: {}", price.display4());
        }
        SmsCommand::Price {
            command: PriceCommand::Remove { project, country },
        } => {
            sms_admin::remove_price(store, &project, &country).await?;
            println!("{project} is no longer sold in {country}");
        }
        SmsCommand::Gateway {
            command: GatewayCommand::Add { name, secret },
        } => {
            let g = sms_admin::create_gateway(store, &name, secret, now).await?;
            println!("gateway {}", g.id);
            println!("webhook POST /webhooks/sms/{}", g.id);
            println!("secret {}", g.secret);
        }
        SmsCommand::Gateway {
            command: GatewayCommand::Set { id, active },
        } => {
            sms_admin::set_gateway_active(store, &id, active).await?;
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
            let n = sms_admin::add_number(store, number, now).await?;
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
            let n = sms_admin::update_number(store, &phone, active, projects.as_deref()).await?;
            println!("number {} saved", n.id);
        }
        SmsCommand::Provider {
            command: ProviderCommand::Add { name, url, key },
        } => {
            let id = sms_admin::create_provider(store, &name, &url, &key, now).await?;
            println!("{id}");
        }
        SmsCommand::Provider {
            command: ProviderCommand::Set { id, enabled },
        } => {
            sms_admin::set_provider_enabled(store, &id, enabled).await?;
            println!(
                "provider {id} {}",
                if enabled { "enabled" } else { "disabled" }
            );
        }
        SmsCommand::Lifetime { minutes } => {
            sms_admin::set_lifetime(store, minutes, now).await?;
            println!("SMS activations now wait {minutes} minutes for their SMS");
        }
        SmsCommand::List => list(store).await?,
        SmsCommand::Inject { phone, text, from } => {
            let sms = InjectSms {
                phone,
                text,
                sender: from,
            };
            let (s, phone) = sms_admin::inject(store, sms, now).await?;
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
