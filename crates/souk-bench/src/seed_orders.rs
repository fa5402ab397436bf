//! `seed-orders`: a database ready for an order benchmark: one inventory product with
//! plenty of stock lines and a buyer rich enough to buy them all, and optionally a history
//! of orders already placed, as a database in service has.

use std::time::Instant;

use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::clock::{Clock, SystemClock};
use souk_core::order::ProductOrder;
use souk_core::{Money, Text};
use souk_store::{
    Buyer, NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, NewUser, Store,
};

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
    /// Orders of one line placed before the benchmark, the buyers and products in turn,
    /// through the store's own order path (their lines come on top of `lines`). A
    /// benchmark against an empty `orders` table measures PostgreSQL's plans for an empty
    /// table: a prepared statement keeps the plan it was first given until the table is
    /// analysed again, and the table grows a hundredfold within the run.
    #[arg(long, default_value_t = 0)]
    history: usize,
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
    let products = args.products.max(1);
    let per_product = args.lines + args.history.div_ceil(products);
    let mut numbers = Vec::new();
    let mut variants = Vec::new();
    for n in 0..products {
        let lines: Vec<String> = (0..per_product)
            .map(|i| format!("bench{n}-{i:07}@example.com:pw{i}"))
            .collect();
        let (created, _) = store
            .create_services(&[(product(n), vec![lines])], now)
            .await?;
        let (number, _, subproducts) = created.into_iter().next().context("no product created")?;
        numbers.push(number);
        variants.push(subproducts);
    }
    let mut keys = Vec::new();
    let mut buyers = Vec::new();
    for b in 0..args.buyers.max(1) {
        let email = format!("buyer{b}@bench.local");
        let (id, key) = store
            .create_user(
                &NewUser {
                    email: email.clone(),
                    name: String::new(),
                    password_hash: None,
                    is_supplier: false,
                    initial_balance: Money::from_micros(
                        10_000 * (per_product * products) as i64 + 1_000_000,
                    ),
                },
                now,
            )
            .await?;
        keys.push(key);
        buyers.push((id, email));
    }
    place_history(
        &store,
        args.history,
        &buyers,
        &numbers,
        &variants,
        &shop,
        now,
    )
    .await?;
    store.close().await;
    println!(
        "seeded {} products with {} lines each, {} buyers and {} orders in {:?}",
        numbers.len(),
        per_product,
        keys.len(),
        args.history,
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

/// Places `count` orders of one line: order `i` is buyer `i mod buyers`'s, of product
/// `i mod products`, 64 at a time (so they share commits as a server's do).
async fn place_history(
    store: &Store,
    count: usize,
    buyers: &[(String, String)],
    numbers: &[i64],
    variants: &[Vec<String>],
    shop: &str,
    now: i64,
) -> anyhow::Result<()> {
    let orders = (0..count).map(|i| {
        let (user_id, email) = &buyers[i % buyers.len()];
        let p = i % numbers.len();
        let order = ProductOrder {
            service_number: numbers[p],
            product_type: ProductType::Inventory,
            shop_id: shop.to_owned(),
            quantity: 1,
            link: String::new(),
            candidates: variants[p].clone(),
        };
        async move {
            let buyer = Buyer { user_id, email };
            store
                .place_product_order(&buyer, &order, None, now)
                .await
                .with_context(|| format!("placing history order {i}"))
        }
    });
    let mut placing = futures::stream::iter(orders).buffer_unordered(64);
    while let Some(placed) = placing.next().await {
        placed?;
    }
    Ok(())
}
