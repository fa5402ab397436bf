//! The demo catalogue for `souk serve --demo`: categories, shops with reviews, products
//! with stock, SMM services, all translated; plus a demo buyer with 100.00.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Context};
use serde::Deserialize;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::{Lang, Money, Text};
use souk_store::{NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, NewUser, Store};

pub const DEMO_BUYER_EMAIL: &str = "demo@souk.local";
const CATALOGUE: &str = include_str!("demo/catalogue.json");

#[derive(Deserialize)]
struct DemoFile {
    categories: Vec<DemoCategory>,
    shops: Vec<DemoShop>,
    products: Vec<DemoProduct>,
    services: Vec<DemoService>,
}

type Translations = BTreeMap<String, String>;

#[derive(Deserialize)]
struct DemoCategory {
    slug: String,
    position: i64,
    #[serde(rename = "imageUrl")]
    image_url: Option<String>,
    name: Translations,
    description: Translations,
    subcategories: Vec<DemoSubcategory>,
}

#[derive(Deserialize)]
struct DemoSubcategory {
    key: String,
    slug: String,
    position: i64,
    #[serde(rename = "imageUrl")]
    image_url: Option<String>,
    name: Translations,
    #[serde(default)]
    description: Translations,
}

#[derive(Deserialize)]
struct DemoShop {
    key: String,
    name: String,
    owner_email: String,
    reviews: Vec<DemoReview>,
}

#[derive(Deserialize)]
struct DemoReview {
    rating: i64,
    text: String,
}

#[derive(Deserialize)]
struct DemoProduct {
    shop: String,
    subcategory: String,
    #[serde(rename = "type")]
    product_type: String,
    #[serde(default)]
    recommended: bool,
    #[serde(rename = "imageUrl")]
    image_url: Option<String>,
    name: Translations,
    description: Translations,
    subproducts: Vec<DemoSubproduct>,
}

#[derive(Deserialize)]
struct DemoSubproduct {
    name: Translations,
    price: String,
    min: i64,
    max: i64,
    #[serde(default)]
    stock: i64,
    stock_pattern: Option<String>,
}

#[derive(Deserialize)]
struct DemoService {
    shop: String,
    subcategory: String,
    #[serde(rename = "type")]
    type_name: String,
    name: Translations,
    description: Translations,
    rate: String,
    min: i64,
    max: i64,
    #[serde(default)]
    refill: bool,
    refill_days: Option<i64>,
    #[serde(default)]
    cancel: bool,
    #[serde(default)]
    dripfeed: bool,
}

fn text(t: &Translations) -> anyhow::Result<Text> {
    let en = t
        .get("en")
        .ok_or_else(|| anyhow!("demo text without English: {t:?}"))?;
    let mut out = Text::new(en.clone());
    for (code, value) in t {
        let lang =
            Lang::parse(code).ok_or_else(|| anyhow!("demo text in unknown language {code}"))?;
        out.set(lang, value.clone());
    }
    Ok(out)
}

fn money(text: &str) -> anyhow::Result<Money> {
    Money::parse(text).map_err(|e| anyhow!("demo price {text:?}: {e}"))
}

/// What loading the demo produced.
pub struct Demo {
    /// True when the catalogue was loaded now (the database had none).
    pub loaded: bool,
    pub buyer_key: String,
    /// A fresh password for the demo buyer on the web pages.
    pub buyer_password: String,
    /// The demo SMS gateway's id and webhook secret.
    pub sms_gateway: Option<(String, String)>,
}

/// Loads the demo catalogue into a database without categories, and returns a fresh key
/// for the demo buyer (created with 100.00 if missing; otherwise its key is rotated,
/// since keys are stored only as digests).
pub async fn load(store: &Store, now: i64) -> anyhow::Result<Demo> {
    let loaded = if store
        .load_catalogue(&Default::default())
        .await?
        .categories
        .is_empty()
    {
        load_catalogue(store, now).await?;
        true
    } else {
        false
    };
    let buyer_key = match store.user_id_by_email(DEMO_BUYER_EMAIL).await? {
        Some(id) => store.rotate_api_key(&id, now).await?.0,
        None => {
            store
                .create_user(
                    &NewUser {
                        email: DEMO_BUYER_EMAIL.into(),
                        name: "Demo Buyer".into(),
                        password_hash: None,
                        is_supplier: false,
                        initial_balance: Money::from_micros(100_000_000),
                    },
                    now,
                )
                .await?
                .1
        }
    };
    // The web pages show the key again, and a fresh password signs the buyer in there.
    store.remember_key(&buyer_key).await?;
    let buyer_password = souk_app::sessions::random_token()[..16].to_owned();
    let hash = {
        let password = buyer_password.clone();
        tokio::task::spawn_blocking(move || souk_app::passwords::hash_password(&password)).await??
    };
    if let Some(id) = store.user_id_by_email(DEMO_BUYER_EMAIL).await? {
        store.set_password_hash(&id, &hash).await?;
    }
    let sms_gateway = load_sms(store, now).await?;
    Ok(Demo {
        loaded,
        buyer_key,
        buyer_password,
        sms_gateway,
    })
}

const SMS: &str = include_str!("demo/sms.json");

#[derive(Deserialize)]
struct DemoSms {
    countries: Vec<DemoSmsCountry>,
    projects: Vec<DemoSmsProject>,
    gateway: String,
    numbers: Vec<DemoSmsNumber>,
}

#[derive(Deserialize)]
struct DemoSmsCountry {
    code: String,
    activate_id: i64,
    name: Translations,
}

#[derive(Deserialize)]
struct DemoSmsProject {
    code: String,
    name: Translations,
    prices: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct DemoSmsNumber {
    phone: String,
    country: String,
    projects: Vec<String>,
}

/// Loads the SMS demo (countries, projects, prices, a gateway and a few pool numbers)
/// into a database without SMS projects. Returns the demo gateway's id and secret.
async fn load_sms(store: &Store, now: i64) -> anyhow::Result<Option<(String, String)>> {
    let file: DemoSms = serde_json::from_str(SMS).context("demo SMS data")?;
    if store.sms_projects(false).await?.is_empty() {
        for c in &file.countries {
            store
                .upsert_sms_country(&souk_store::NewSmsCountry {
                    code: c.code.clone(),
                    name: text(&c.name)?,
                    activate_id: Some(c.activate_id),
                    active: true,
                })
                .await?;
        }
        for p in &file.projects {
            store
                .create_sms_project(
                    &souk_store::NewSmsProject {
                        code: p.code.clone(),
                        name: text(&p.name)?,
                    },
                    now,
                )
                .await?;
            for (country, price) in &p.prices {
                store
                    .set_sms_price(&p.code, country, Some(money(price)?))
                    .await?;
            }
        }
        let secret = souk_store::crypto::new_api_key();
        let gateway = store
            .create_sms_gateway(&file.gateway, &secret, now)
            .await?;
        for n in &file.numbers {
            store
                .add_sms_number(
                    &souk_store::NewSmsNumber {
                        phone: n.phone.clone(),
                        country: n.country.clone(),
                        gateway_id: Some(gateway.clone()),
                        projects: n.projects.clone(),
                    },
                    now,
                )
                .await?;
        }
    }
    let Some(gateway) = store
        .sms_gateways()
        .await?
        .into_iter()
        .find(|g| g.name == file.gateway)
    else {
        return Ok(None);
    };
    Ok(store
        .sms_gateway_secret(&gateway.id)
        .await?
        .map(|g| (g.id, g.secret)))
}

async fn load_catalogue(store: &Store, now: i64) -> anyhow::Result<()> {
    let file: DemoFile = serde_json::from_str(CATALOGUE).context("demo catalogue")?;
    let mut subcategories = HashMap::new();
    for c in &file.categories {
        let (category_id, _) = store
            .create_category(
                &NewCategory {
                    slug: c.slug.clone(),
                    name: text(&c.name)?,
                    description: text(&c.description)?,
                    image_url: c.image_url.clone(),
                    position: c.position,
                },
                now,
            )
            .await?;
        for s in &c.subcategories {
            let description = if s.description.is_empty() {
                Text::new("")
            } else {
                text(&s.description)?
            };
            let (id, _) = store
                .create_subcategory(
                    &NewSubcategory {
                        category_id: category_id.clone(),
                        slug: s.slug.clone(),
                        name: text(&s.name)?,
                        description,
                        image_url: s.image_url.clone(),
                        position: s.position,
                    },
                    now,
                )
                .await?;
            subcategories.insert(s.key.clone(), id);
        }
    }
    let mut shops = HashMap::new();
    for s in &file.shops {
        let (owner, _) = store
            .create_user(
                &NewUser {
                    email: s.owner_email.clone(),
                    name: s.name.clone(),
                    password_hash: None,
                    is_supplier: true,
                    initial_balance: Money::ZERO,
                },
                now,
            )
            .await?;
        let (shop_id, _) = store
            .create_shop(
                &NewShop {
                    owner_id: owner,
                    name: s.name.clone(),
                },
                now,
            )
            .await?;
        for r in &s.reviews {
            store
                .add_shop_review(&shop_id, r.rating, &r.text, now)
                .await?;
        }
        shops.insert(s.key.clone(), shop_id);
    }
    let lookup = |map: &HashMap<String, String>, key: &str, what: &str| {
        map.get(key)
            .cloned()
            .ok_or_else(|| anyhow!("demo {what} {key:?} is not defined"))
    };
    for p in &file.products {
        let product_type = ProductType::parse(&p.product_type)
            .ok_or_else(|| anyhow!("demo product type {:?}", p.product_type))?;
        let subproducts = p
            .subproducts
            .iter()
            .enumerate()
            .map(|(i, sp)| {
                Ok(NewSubproduct {
                    name: text(&sp.name)?,
                    price: money(&sp.price)?,
                    min: sp.min,
                    max: sp.max,
                    position: i as i64 + 1,
                    // Manual products declare what the supplier can deliver.
                    declared_stock: if sp.stock > 0 { sp.stock } else { sp.max },
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (_, _, sub_ids, _) = store
            .create_service(
                &NewService {
                    entity: EntityType::Product,
                    product_type,
                    shop_id: lookup(&shops, &p.shop, "shop")?,
                    subcategory_id: lookup(&subcategories, &p.subcategory, "subcategory")?,
                    name: text(&p.name)?,
                    description: text(&p.description)?,
                    type_name: "Default".into(),
                    image_url: p.image_url.clone(),
                    rate: Money::ZERO,
                    min: 1,
                    max: 1,
                    refill: false,
                    refill_days: None,
                    cancel: false,
                    dripfeed: false,
                    recommended: p.recommended,
                    subproducts,
                },
                now,
            )
            .await?;
        if product_type == ProductType::Inventory {
            for (sp, sub_id) in p.subproducts.iter().zip(&sub_ids) {
                let Some(pattern) = &sp.stock_pattern else {
                    continue;
                };
                let lines: Vec<String> = (1..=sp.stock)
                    .map(|n| pattern.replace("{n}", &format!("{n:04}")))
                    .collect();
                store.add_stock_lines(sub_id, &lines, false, now).await?;
            }
        }
    }
    for s in &file.services {
        store
            .create_service(
                &NewService {
                    entity: EntityType::Smm,
                    product_type: ProductType::Manual,
                    shop_id: lookup(&shops, &s.shop, "shop")?,
                    subcategory_id: lookup(&subcategories, &s.subcategory, "subcategory")?,
                    name: text(&s.name)?,
                    description: text(&s.description)?,
                    type_name: s.type_name.clone(),
                    image_url: None,
                    rate: money(&s.rate)?,
                    min: s.min,
                    max: s.max,
                    refill: s.refill,
                    refill_days: s.refill_days,
                    cancel: s.cancel,
                    dripfeed: s.dripfeed,
                    recommended: false,
                    subproducts: Vec::new(),
                },
                now,
            )
            .await?;
    }
    Ok(())
}
