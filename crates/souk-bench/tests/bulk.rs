//! `Store::create_services` (the seed's batch path) writes what `create_service` followed
//! by `add_stock_lines` would, with the same checks and one catalogue version bump per
//! batch. Runs on SQLite, and on PostgreSQL when `SOUK_TEST_DATABASE_URL` is set.

use souk_core::catalogue::{EntityType, ProductType, Service};
use souk_core::{Lang, Money, Text};
use souk_store::{
    Crypto, NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, NewUser, Store,
    StoreError,
};

const KEY: [u8; 32] = [9u8; 32];
const NOW: i64 = 1_700_000_000_000;

fn text(en: &str, ru: &str, zh: &str) -> Text {
    let mut t = Text::new(en);
    t.set(Lang::Ru, ru);
    t.set(Lang::Zh, zh);
    t
}

fn sub(name: &str, price: &str, max: i64, position: i64, declared: i64) -> NewSubproduct {
    NewSubproduct {
        name: text(name, &format!("{name} ru"), &format!("{name} zh")),
        price: Money::parse(price).expect("price"),
        min: 1,
        max,
        position,
        declared_stock: declared,
    }
}

fn service(
    entity: EntityType,
    product_type: ProductType,
    shop: &str,
    subcategory: &str,
    name: &str,
    subproducts: Vec<NewSubproduct>,
) -> NewService {
    NewService {
        entity,
        product_type,
        shop_id: shop.to_owned(),
        subcategory_id: subcategory.to_owned(),
        name: text(name, &format!("{name} ru"), &format!("{name} zh")),
        description: text("about", "описание", "描述"),
        type_name: "Default".to_owned(),
        image_url: (entity == EntityType::Product).then(|| "https://example.com/x.webp".into()),
        rate: Money::parse("1.2345").expect("rate"),
        min: 10,
        max: 5000,
        refill: true,
        refill_days: Some(30),
        cancel: true,
        dripfeed: false,
        recommended: entity == EntityType::Product,
        subproducts,
    }
}

fn lines(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// Stock lines of a subproduct in delivery order, opened.
async fn stock_lines(url: &str, subproduct: &str) -> Vec<String> {
    let sql = "SELECT content FROM stock_lines WHERE subproduct_id = $1 ORDER BY id";
    let rows: Vec<(Vec<u8>,)> = if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connect");
        let rows = sqlx::query_as(sql)
            .bind(subproduct)
            .fetch_all(&pool)
            .await
            .expect("lines");
        pool.close().await;
        rows
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connect");
        let rows = sqlx::query_as(sql)
            .bind(subproduct)
            .fetch_all(&pool)
            .await
            .expect("lines");
        pool.close().await;
        rows
    };
    let crypto = Crypto::new(&KEY);
    rows.iter()
        .map(|(c,)| crypto.open(c).expect("opens"))
        .collect()
}

fn assert_same(a: &Service, b: &Service) {
    assert_eq!(a.entity, b.entity);
    assert_eq!(a.product_type, b.product_type);
    assert_eq!(a.name.translations(), b.name.translations());
    assert_eq!(a.description, b.description);
    assert_eq!(
        (a.rate(), a.min(), a.max(), a.stock()),
        (b.rate(), b.min(), b.max(), b.stock())
    );
    assert_eq!(
        (
            &a.type_name,
            &a.image_url,
            a.refill,
            a.refill_days,
            a.cancel
        ),
        (
            &b.type_name,
            &b.image_url,
            b.refill,
            b.refill_days,
            b.cancel
        )
    );
    assert_eq!(
        (a.dripfeed, a.recommended, &a.shop_id, &a.subcategory_id),
        (b.dripfeed, b.recommended, &b.shop_id, &b.subcategory_id)
    );
    assert_eq!(a.subproducts.len(), b.subproducts.len());
    for (x, y) in a.subproducts.iter().zip(&b.subproducts) {
        assert_eq!(x.name, y.name);
        assert_eq!(
            (x.price, x.min, x.max, x.position, x.stock()),
            (y.price, y.min, y.max, y.position, y.stock())
        );
    }
}

async fn run(url: &str) {
    let store = Store::connect(url, &KEY, 4).await.expect("connect");
    store.migrate().await.expect("migrate");
    let (category, _) = store
        .create_category(
            &NewCategory {
                slug: "c".into(),
                name: Text::new("C"),
                description: Text::new(""),
                image_url: None,
                position: 1,
            },
            NOW,
        )
        .await
        .expect("category");
    let (subcategory, _) = store
        .create_subcategory(
            &NewSubcategory {
                category_id: category,
                slug: "s".into(),
                name: Text::new("S"),
                description: Text::new(""),
                image_url: None,
                position: 1,
            },
            NOW,
        )
        .await
        .expect("subcategory");
    let (owner, _) = store
        .create_user(
            &NewUser {
                email: "supplier@example.com".into(),
                name: String::new(),
                password_hash: None,
                is_supplier: true,
                initial_balance: Money::ZERO,
            },
            NOW,
        )
        .await
        .expect("user");
    let (shop, _) = store
        .create_shop(
            &NewShop {
                owner_id: owner,
                name: "Shop".into(),
            },
            NOW,
        )
        .await
        .expect("shop");

    let items: Vec<(NewService, Vec<Vec<String>>)> = vec![
        (
            service(
                EntityType::Smm,
                ProductType::Manual,
                &shop,
                &subcategory,
                "smm",
                Vec::new(),
            ),
            Vec::new(),
        ),
        (
            service(
                EntityType::Product,
                ProductType::Inventory,
                &shop,
                &subcategory,
                "inventory",
                vec![sub("one", "2.50", 5, 1, 0), sub("two", "7.00", 1, 2, 0)],
            ),
            vec![lines(&["a1", "  ", "a2", "a3"]), Vec::new()],
        ),
        (
            service(
                EntityType::Product,
                ProductType::Manual,
                &shop,
                &subcategory,
                "manual",
                vec![sub("only", "0.0450", 10, 1, 7)],
            ),
            Vec::new(),
        ),
        (
            service(
                EntityType::Product,
                ProductType::Inventory,
                &shop,
                &subcategory,
                "short list",
                vec![
                    sub("x", "1", 3, 1, 0),
                    sub("y", "2", 3, 2, 0),
                    sub("z", "3", 3, 3, 0),
                ],
            ),
            vec![lines(&["z1"])],
        ),
    ];

    // The ordinary path, one service at a time.
    let mut expected = Vec::new();
    for (s, stock) in &items {
        let (number, _, sub_ids, _) = store.create_service(s, NOW).await.expect("create");
        for (sub_id, l) in sub_ids.iter().zip(stock) {
            if !l.is_empty() {
                store
                    .add_stock_lines(sub_id, l, false, NOW)
                    .await
                    .expect("stock");
            }
        }
        expected.push((number, sub_ids));
    }

    // The batch path: one transaction, one version bump.
    let before = store.state_versions().await.expect("versions").catalogue;
    let (created, changes) = store.create_services(&items, NOW).await.expect("bulk");
    let after = store.state_versions().await.expect("versions").catalogue;
    assert_eq!(after, before + 1);
    assert_eq!(changes.len(), 1);
    assert_eq!(created.len(), items.len());

    let catalogue = store
        .load_catalogue(&Default::default())
        .await
        .expect("catalogue");
    let by_number = |n: i64| {
        catalogue
            .services
            .iter()
            .find(|s| s.number == n)
            .expect("visible")
            .clone()
    };
    for ((number, id, sub_ids), (old_number, old_subs)) in created.iter().zip(&expected) {
        let new = by_number(*number);
        assert_eq!(*new.id, **id);
        let mut new_ids: Vec<&str> = new.subproducts.iter().map(|s| &*s.id).collect();
        let mut returned: Vec<&str> = sub_ids.iter().map(String::as_ref).collect();
        new_ids.sort();
        returned.sort();
        assert_eq!(new_ids, returned);
        assert_same(&new, &by_number(*old_number));
        for (new_sub, old_sub) in sub_ids.iter().zip(old_subs) {
            assert_eq!(
                stock_lines(url, new_sub).await,
                stock_lines(url, old_sub).await
            );
        }
    }
    assert_eq!(stock_lines(url, &created[1].2[0]).await, ["a1", "a2", "a3"]);
    assert_eq!(by_number(created[1].0).stock(), 3);
    assert_eq!(by_number(created[2].0).stock(), 7);

    // The same refusals as the ordinary methods, and nothing written.
    let mut no_subproducts = items[1].0.clone();
    no_subproducts.subproducts.clear();
    let smm_with_lines = (items[0].0.clone(), Vec::new());
    let mut bad = items[0].0.clone();
    bad.subproducts = vec![sub("s", "1", 1, 1, 0)];
    for (batch, refusal) in [
        (
            vec![smm_with_lines.clone(), (no_subproducts, Vec::new())],
            "A product needs at least one subproduct",
        ),
        (
            vec![(bad.clone(), vec![lines(&["x"])])],
            "Stock lines can only be added to inventory products",
        ),
        (
            vec![(items[1].0.clone(), vec![Vec::new(), Vec::new(), Vec::new()])],
            "More stock line lists than subproducts",
        ),
    ] {
        let result = store.create_services(&batch, NOW).await;
        assert!(
            matches!(&result, Err(e @ (StoreError::Invalid(_) | StoreError::Supply(_))) if e.to_string() == refusal),
            "{result:?}"
        );
    }
    assert_eq!(
        store.state_versions().await.expect("versions").catalogue,
        after
    );
    let (none, changes) = store.create_services(&[], NOW).await.expect("empty");
    assert!(none.is_empty() && changes.is_empty());
    store.close().await;
}

#[tokio::test]
async fn bulk_matches_per_service_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bulk.db").display());
    run(&url).await;
}

#[tokio::test]
async fn bulk_matches_per_service_postgres() {
    let Ok(admin) = std::env::var("SOUK_TEST_DATABASE_URL") else {
        eprintln!("skipped: SOUK_TEST_DATABASE_URL is not set");
        return;
    };
    let name = format!("souk_bench_test_{}", std::process::id());
    let admin_pool = sqlx::PgPool::connect(&admin).await.expect("connect");
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&admin_pool)
        .await
        .expect("create database");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    run(&format!("{base}/{name}")).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin_pool)
        .await
        .expect("drop database");
}
