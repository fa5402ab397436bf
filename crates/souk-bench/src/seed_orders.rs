//! `seed-orders`: a database ready for an order benchmark: one inventory product with
//! plenty of stock lines and a buyer rich enough to buy them all.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::clock::{Clock, SystemClock};
use souk_core::{Money, Text};
use souk_store::{NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, NewUser};

#[derive(Args, Debug)]
pub struct SeedOrdersArgs {
    #[arg(long, env = "SOUK_DATABASE_URL")]
    database_url: String,
    /// Stock lines of each product (each order of quantity 1 takes one).
    #[arg(long, default_value_t = 200_000)]
    lines: usize,
    /// Products, each with `lines` lines.
    #[arg(long, default_value_t = 1)]
    products: usize,
    /// Buyers, each able to buy every line.
    #[arg(long, default_value_t = 1)]
    buyers: usize,
}

pub async fn run(args: SeedOrdersArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let store = souk::server::open_store(&args.database_url, 4).await?;
    let now = SystemClock.now_ms();
    let (category, _) = store
        .create_category(
            &NewCategory {
                slug: "bench".into(),
                name: Text::new("Bench"),
                description: Text::new(""),
                image_url: None,
                position: 1,
            },
            now,
        )
        .await?;
    let (subcategory, _) = store
        .create_subcategory(
            &NewSubcategory {
                category_id: category,
                slug: "bench".into(),
                name: Text::new("Bench"),
                description: Text::new(""),
                image_url: None,
                position: 1,
            },
            now,
        )
        .await?;
    let (owner, _) = store
        .create_user(
            &NewUser {
                email: "seller@bench.local".into(),
                name: String::new(),
                password_hash: None,
                is_supplier: true,
                initial_balance: Money::ZERO,
            },
            now,
        )
        .await?;
    let (shop, _) = store
        .create_shop(
            &NewShop {
                owner_id: owner,
                name: "Bench Shop".into(),
            },
            now,
        )
        .await?;
    let product = |n: usize| NewService {
        entity: EntityType::Product,
        product_type: ProductType::Inventory,
        shop_id: shop.clone(),
        subcategory_id: subcategory.clone(),
        name: Text::new(format!("Bench Accounts {n}")),
        description: Text::new(""),
        type_name: "Default".into(),
        image_url: None,
        rate: Money::ZERO,
        min: 1,
        max: 1,
        refill: false,
        refill_days: None,
        cancel: false,
        dripfeed: false,
        recommended: false,
        subproducts: vec![NewSubproduct {
            name: Text::new("One"),
            price: Money::from_micros(10_000),
            min: 1,
            max: 100,
            position: 1,
            declared_stock: 0,
        }],
    };
    let mut numbers = Vec::new();
    for n in 0..args.products.max(1) {
        let lines: Vec<String> = (0..args.lines)
            .map(|i| format!("bench{n}-{i:07}@example.com:pw{i}"))
            .collect();
        let (created, _) = store
            .create_services(&[(product(n), vec![lines])], now)
            .await?;
        numbers.push(created.first().map(|c| c.0).context("no product created")?);
    }
    let mut keys = Vec::new();
    for b in 0..args.buyers.max(1) {
        let (_, key) = store
            .create_user(
                &NewUser {
                    email: format!("buyer{b}@bench.local"),
                    name: String::new(),
                    password_hash: None,
                    is_supplier: false,
                    initial_balance: Money::from_micros(
                        10_000 * (args.lines * args.products.max(1)) as i64 + 1_000_000,
                    ),
                },
                now,
            )
            .await?;
        keys.push(key);
    }
    store.close().await;
    println!(
        "seeded {} products with {} lines each and {} buyers in {:?}",
        numbers.len(),
        args.lines,
        keys.len(),
        started.elapsed()
    );
    // The last two lines: the product numbers, then the buyers' keys, comma-separated.
    println!(
        "{}",
        numbers
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    println!("{}", keys.join(","));
    Ok(())
}
