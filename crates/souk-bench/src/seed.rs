//! `seed`: a realistic catalogue of N services in an empty database.
//!
//! 10 categories (5 of SMM services, 5 of marketplace products) with 4 subcategories each,
//! 20 shops owned by supplier users with a few reviews, N services of which the given share
//! are inventory products (1-3 subproducts, 0-5 stock lines each) and the rest SMM
//! services; every name and description in English, Russian and Chinese. Then a buyer
//! with a balance, whose API key is printed alone on the last line.
//!
//! Services go in through `Store::create_services` in batches (one transaction each); with
//! `--per-service` through the ordinary `create_service` + `add_stock_lines`, one
//! transaction per call, for comparison.

use std::time::Instant;

use anyhow::{bail, Context};
use clap::Args;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::clock::{Clock, SystemClock};
use souk_core::{Lang, Money, Text};
use souk_store::{NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, NewUser};

use crate::catalogue_data::{
    Words, CATEGORIES, PRODUCT_VARIANTS, REVIEWS, SHOPS, SMM_QUALITIES, SMM_STARTS, SUBPRODUCTS,
};

#[derive(Args, Debug)]
pub struct SeedArgs {
    /// sqlite://FILE or postgres://USER@HOST/DB; must hold no catalogue yet (migrations
    /// are applied first).
    #[arg(long, env = "SOUK_DATABASE_URL")]
    database_url: String,
    /// How many services in all (products and SMM services).
    #[arg(long)]
    services: usize,
    /// The share of marketplace products among them.
    #[arg(long, default_value_t = 0.3)]
    products_share: f64,
    /// Services per transaction.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Use the store's ordinary per-service methods (one transaction per service and per
    /// stock upload) instead of batches.
    #[arg(long)]
    per_service: bool,
    /// Seed of the random choices, so that runs are comparable.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, default_value = "bench@souk.local")]
    buyer_email: String,
    /// The buyer's opening balance.
    #[arg(long, default_value = "1000")]
    buyer_balance: String,
}

fn text(w: Words) -> Text {
    let mut t = Text::new(w.0);
    t.set(Lang::Ru, w.1);
    t.set(Lang::Zh, w.2);
    t
}

fn text3(en: String, ru: String, zh: String) -> Text {
    let mut t = Text::new(en);
    t.set(Lang::Ru, ru);
    t.set(Lang::Zh, zh);
    t
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> anyhow::Result<&'a T> {
    items.choose(rng).context("nothing to choose from")
}

/// A subcategory to put services in, with the words that name it.
struct Place {
    subcategory_id: String,
    slug: &'static str,
    platform: Words,
    name: Words,
}

/// What was created, for the summary.
#[derive(Default)]
struct Counts {
    products: usize,
    smm: usize,
    subproducts: usize,
    stock_lines: usize,
}

fn smm_service(
    rng: &mut StdRng,
    n: usize,
    place: &Place,
    shop_id: &str,
) -> anyhow::Result<NewService> {
    let (p, s) = (place.platform, place.name);
    let quality = *pick(rng, &SMM_QUALITIES)?;
    let start = *pick(rng, &SMM_STARTS)?;
    let max = *pick(
        rng,
        &[5_000i64, 10_000, 50_000, 100_000, 500_000, 1_000_000],
    )?;
    let min = *pick(rng, &[10i64, 50, 100, 500])?;
    let speed = *pick(rng, &[1, 5, 10, 50, 100])?;
    let refill_days = if rng.gen_bool(0.5) {
        Some(*pick(rng, &[30i64, 60, 90, 365])?)
    } else {
        None
    };
    let k = max / 1000;
    let name = text3(
        format!(
            "{} {} [{}] [{}] [Max {k}K] #{n}",
            p.0, s.0, quality.0, start.0
        ),
        format!(
            "{} {} [{}] [{}] [Макс {k}K] #{n}",
            p.1, s.1, quality.1, start.1
        ),
        format!(
            "{} {} [{}] [{}] [最多 {k}K] #{n}",
            p.2, s.2, quality.2, start.2
        ),
    );
    let (refill_en, refill_ru, refill_zh) = match refill_days {
        Some(d) => (format!("{d} days"), format!("{d} дней"), format!("{d} 天")),
        None => ("none".to_owned(), "нет".to_owned(), "无".to_owned()),
    };
    let description = text3(
        format!(
            "{} {} for {}. {}; speed up to {speed}K per day. Refill: {refill_en}. Use a public profile link.",
            quality.0, s.0, p.0, start.0
        ),
        format!(
            "{} {} для {}. {}; скорость до {speed}K в день. Гарантия: {refill_ru}. Нужна ссылка на открытый профиль.",
            quality.1, s.1, p.1, start.1
        ),
        format!(
            "{}{}（{}）。{}；每天最多 {speed}K。补充：{refill_zh}。请使用公开的主页链接。",
            p.2, s.2, quality.2, start.2
        ),
    );
    let comments = place.slug == "comments";
    Ok(NewService {
        entity: EntityType::Smm,
        product_type: ProductType::Manual,
        shop_id: shop_id.to_owned(),
        subcategory_id: place.subcategory_id.clone(),
        name,
        description,
        type_name: if comments && rng.gen_bool(0.5) {
            "Custom Comments".to_owned()
        } else {
            "Default".to_owned()
        },
        image_url: None,
        // 0.05 to 25.00 per 1000, to the cent.
        rate: Money::from_micros(rng.gen_range(5..=2_500) * 10_000),
        min,
        max,
        refill: refill_days.is_some(),
        refill_days,
        cancel: rng.gen_bool(0.4),
        dripfeed: rng.gen_bool(0.3),
        recommended: rng.gen_bool(0.03),
        subproducts: Vec::new(),
    })
}

fn product(
    rng: &mut StdRng,
    n: usize,
    place: &Place,
    shop_id: &str,
) -> anyhow::Result<(NewService, Vec<Vec<String>>)> {
    let s = place.name;
    let variant = *pick(rng, &PRODUCT_VARIANTS)?;
    let name = text3(
        format!("{} [{}] #{n}", s.0, variant.0),
        format!("{} [{}] #{n}", s.1, variant.1),
        format!("{} [{}] #{n}", s.2, variant.2),
    );
    let description = text3(
        format!(
            "{}, {}. Delivered instantly after payment; replaced within 24 hours if invalid.",
            s.0, variant.0
        ),
        format!(
            "{}, {}. Выдаётся сразу после оплаты; замена в течение 24 часов, если не работает.",
            s.1, variant.1
        ),
        format!(
            "{}，{}。付款后立即发货；无效可在 24 小时内更换。",
            s.2, variant.2
        ),
    );
    let count = rng.gen_range(1..=SUBPRODUCTS.len());
    // 0.05 to 50.00, to the cent; larger packs cost more.
    let base = rng.gen_range(5..=5_000) * 10_000;
    let mut subproducts = Vec::with_capacity(count);
    let mut lines = Vec::with_capacity(count);
    for (j, words) in SUBPRODUCTS.iter().take(count).enumerate() {
        let factor = [1, 3, 9][j];
        subproducts.push(NewSubproduct {
            name: text(*words),
            price: Money::from_micros(base * factor),
            min: 1,
            max: *pick(rng, &[1i64, 5, 10, 50])?,
            position: j as i64 + 1,
            declared_stock: 0,
        });
        // Mostly in stock, a few sold out.
        let stock = if rng.gen_bool(0.05) {
            0
        } else {
            rng.gen_range(1..=5)
        };
        lines.push(
            (0..stock)
                .map(|k| {
                    format!(
                        "{}{n}.{j}.{k}@mail.example:{:012x}",
                        place.slug,
                        rng.gen::<u64>() & 0xffff_ffff_ffff
                    )
                })
                .collect(),
        );
    }
    Ok((
        NewService {
            entity: EntityType::Product,
            product_type: ProductType::Inventory,
            shop_id: shop_id.to_owned(),
            subcategory_id: place.subcategory_id.clone(),
            name,
            description,
            type_name: "Default".to_owned(),
            image_url: Some(format!(
                "https://cdn.example.com/products/{}/{n}.webp",
                place.slug
            )),
            rate: Money::ZERO,
            min: 1,
            max: 1,
            refill: false,
            refill_days: None,
            cancel: false,
            dripfeed: false,
            recommended: rng.gen_bool(0.05),
            subproducts,
        },
        lines,
    ))
}

pub async fn run(args: SeedArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.products_share) {
        bail!("--products-share must be between 0 and 1");
    }
    if args.batch == 0 {
        bail!("--batch must be at least 1");
    }
    let buyer_balance =
        Money::parse(&args.buyer_balance).map_err(|e| anyhow::anyhow!("--buyer-balance: {e}"))?;
    let started = Instant::now();
    // The server's own way in: migrations, and the data key checked against the database.
    let store = souk::server::open_store(&args.database_url, 4).await?;
    let existing = store.load_catalogue(&Default::default()).await?;
    if !existing.categories.is_empty() || !existing.services.is_empty() {
        bail!("the database already holds a catalogue; seed needs an empty one");
    }
    let now = SystemClock.now_ms();
    let mut rng = StdRng::seed_from_u64(args.seed);

    // Categories and subcategories.
    let mut smm_places = Vec::new();
    let mut product_places = Vec::new();
    for (position, c) in CATEGORIES.iter().enumerate() {
        let (category_id, _) = store
            .create_category(
                &NewCategory {
                    slug: c.slug.to_owned(),
                    name: text(c.name),
                    description: text(c.description),
                    image_url: Some(format!(
                        "https://cdn.example.com/categories/{}.webp",
                        c.slug
                    )),
                    position: position as i64 + 1,
                },
                now,
            )
            .await?;
        for (sub_position, (slug, name)) in c.subcategories.iter().enumerate() {
            let (subcategory_id, _) = store
                .create_subcategory(
                    &NewSubcategory {
                        category_id: category_id.clone(),
                        slug: (*slug).to_owned(),
                        name: text(*name),
                        description: text3(
                            format!("{} {}", c.name.0, name.0),
                            format!("{} {}", c.name.1, name.1),
                            format!("{} {}", c.name.2, name.2),
                        ),
                        image_url: Some(format!(
                            "https://cdn.example.com/subcategories/{}-{slug}.webp",
                            c.slug
                        )),
                        position: sub_position as i64 + 1,
                    },
                    now,
                )
                .await?;
            let place = Place {
                subcategory_id,
                slug,
                platform: c.name,
                name: *name,
            };
            if c.smm {
                smm_places.push(place);
            } else {
                product_places.push(place);
            }
        }
    }

    // Shops, each owned by a supplier, with a few reviews.
    let mut shops = Vec::with_capacity(SHOPS.len());
    for (i, name) in SHOPS.iter().enumerate() {
        let (owner_id, _) = store
            .create_user(
                &NewUser {
                    email: format!("shop{}@bench.souk.local", i + 1),
                    name: (*name).to_owned(),
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
                    owner_id,
                    name: (*name).to_owned(),
                },
                now,
            )
            .await?;
        for _ in 0..rng.gen_range(0..=6) {
            store
                .add_shop_review(
                    &shop_id,
                    rng.gen_range(3..=5),
                    pick(&mut rng, &REVIEWS)?,
                    now,
                )
                .await?;
        }
        shops.push(shop_id);
    }
    let structure_done = Instant::now();

    // Services: products and SMM services interleaved, as a real catalogue grows.
    let products = (args.services as f64 * args.products_share).round() as usize;
    let mut kinds: Vec<bool> = (0..args.services).map(|i| i < products).collect();
    kinds.shuffle(&mut rng);
    let mut counts = Counts::default();
    let mut batch: Vec<(NewService, Vec<Vec<String>>)> = Vec::with_capacity(args.batch);
    for (i, is_product) in kinds.into_iter().enumerate() {
        let n = i + 1;
        let shop_id = pick(&mut rng, &shops)?.clone();
        let item = if is_product {
            let place = pick(&mut rng, &product_places)?;
            product(&mut rng, n, place, &shop_id)?
        } else {
            let place = pick(&mut rng, &smm_places)?;
            (smm_service(&mut rng, n, place, &shop_id)?, Vec::new())
        };
        if is_product {
            counts.products += 1;
        } else {
            counts.smm += 1;
        }
        counts.subproducts += item.0.subproducts.len();
        counts.stock_lines += item.1.iter().map(Vec::len).sum::<usize>();
        if args.per_service {
            let (_, _, sub_ids, _) = store.create_service(&item.0, now).await?;
            for (sub_id, lines) in sub_ids.iter().zip(&item.1) {
                if !lines.is_empty() {
                    store.add_stock_lines(sub_id, lines, false, now).await?;
                }
            }
        } else {
            batch.push(item);
            if batch.len() >= args.batch {
                store.create_services(&batch, now).await?;
                batch.clear();
            }
        }
    }
    if !batch.is_empty() {
        store.create_services(&batch, now).await?;
    }
    let services_done = Instant::now();

    let (user_id, api_key) = store
        .create_user(
            &NewUser {
                email: args.buyer_email.clone(),
                name: "Bench Buyer".to_owned(),
                password_hash: None,
                is_supplier: false,
                initial_balance: buyer_balance,
            },
            now,
        )
        .await?;
    store.close().await;

    let mode = if args.per_service {
        "one transaction per service".to_owned()
    } else {
        format!("batches of {}", args.batch)
    };
    eprintln!(
        "souk-bench: categories, subcategories, shops {:.2}s; services {:.2}s ({mode}); total {:.2}s",
        structure_done.duration_since(started).as_secs_f64(),
        services_done.duration_since(structure_done).as_secs_f64(),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "seeded {} services: {} products ({} subproducts, {} stock lines) and {} SMM services; \
         {} categories, {} subcategories, {} shops; in {:.2}s ({mode})",
        args.services,
        counts.products,
        counts.subproducts,
        counts.stock_lines,
        counts.smm,
        CATEGORIES.len(),
        smm_places.len() + product_places.len(),
        shops.len(),
        started.elapsed().as_secs_f64(),
    );
    println!(
        "created user {user_id} <{}> balance {}",
        args.buyer_email.trim().to_lowercase(),
        buyer_balance.display2()
    );
    println!("{api_key}");
    Ok(())
}
