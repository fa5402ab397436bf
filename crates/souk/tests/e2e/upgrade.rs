//! Upgrades: a database made by Souk v0.1.0 (the schema of its migrations 0001-0005,
//! kept in `upgrade/v0.1.0/{sqlite,postgres}/` as that release shipped them) and filled
//! with rows shaped as that release's API wrote them, migrated by this build, passes the
//! audit and serves: the old buyer's key, balance and delivered accounts (sealed by the
//! old release) still work, and a new order sells the old stock.
//!
//! The fixture files are the release's own, byte for byte: a database that release
//! migrated recorded their checksums, and this build must accept them.

use std::path::PathBuf;

use serde_json::json;
use souk_store::crypto::digest_secret;
use souk_store::Crypto;

use crate::backup::{souk_with, test_key};
use crate::engine_test;
use crate::harness::{Kind, TestApp, TestDb, DATA_KEY};

/// The release's migrations for the engine.
fn fixture_dir(kind: Kind) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/upgrade/v0.1.0")
        .join(match kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        })
}

/// The buyer's API key in the old database.
const OLD_KEY: &str = "0123456789abcdef0123456789abcdef01234567";

/// Empties the test's database and migrates it as v0.1.0 did.
async fn make_v010_database(db: &TestDb) {
    use sqlx::Connection;
    let migrator = sqlx::migrate::Migrator::new(fixture_dir(db.kind))
        .await
        .expect("the v0.1.0 migrations");
    match db.kind {
        Kind::Sqlite => {
            let path = db.url.trim_start_matches("sqlite://");
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{path}{suffix}"));
            }
            let options = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("create");
            migrator
                .run_direct(&mut conn)
                .await
                .expect("migrate to v0.1.0");
            conn.close().await.expect("close");
        }
        Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
                .execute(&mut conn)
                .await
                .expect("empty the database");
            migrator
                .run_direct(&mut conn)
                .await
                .expect("migrate to v0.1.0");
            conn.close().await.expect("close");
        }
    }
}

/// A sealed value as a literal of the engine's SQL.
fn blob(kind: Kind, bytes: &[u8]) -> String {
    match kind {
        Kind::Sqlite => format!("X'{}'", hex::encode(bytes)),
        Kind::Postgres => format!("decode('{}', 'hex')", hex::encode(bytes)),
    }
}

/// The rows v0.1.0's API left after: a supplier's shop with an inventory product of
/// five lines, a buyer topped up with 10.00 who bought two lines for 2.50 (delivered,
/// completed, the shop's earning booked), and a provider with its sealed key.
async fn fill_as_v010(db: &TestDb) {
    let crypto = Crypto::new(&DATA_KEY);
    let now: i64 = 1_764_600_000_000;
    let k = db.kind;
    let mut sql = vec![
        format!("INSERT INTO users (id, email, name, balance, is_supplier, created_at) VALUES \
                 ('a00000000000000000000001', 'old-buyer@example.com', '', 7500000, FALSE, {now}), \
                 ('a00000000000000000000002', 'old-seller@example.com', '', 0, TRUE, {now})"),
        format!("INSERT INTO api_keys (id, user_id, key_hash, key_prefix, label, created_at) VALUES \
                 ('b00000000000000000000001', 'a00000000000000000000001', '{}', '{}', '', {now})",
                digest_secret(OLD_KEY), &OLD_KEY[..6]),
        format!("INSERT INTO ledger (user_id, amount, balance_after, kind, order_id, note, created_at) VALUES \
                 ('a00000000000000000000001', 10000000, 10000000, 'topup', NULL, 'opening balance', {now})"),
        format!("INSERT INTO categories (id, slug, name, position, created_at) VALUES \
                 ('c00000000000000000000001', 'mail', 'Mail', 1, {now})"),
        format!("INSERT INTO subcategories (id, category_id, slug, name, position, created_at) VALUES \
                 ('d00000000000000000000001', 'c00000000000000000000001', 'gmail', 'Gmail', 1, {now})"),
        format!("INSERT INTO shops (id, owner_id, name, created_at) VALUES \
                 ('e00000000000000000000001', 'a00000000000000000000002', 'oldshop', {now})"),
        format!("INSERT INTO services (id, entity, product_type, shop_id, subcategory_id, name, description, rate, min_qty, max_qty, created_at, updated_at) VALUES \
                 ('f00000000000000000000001', 'product', 'inventory', 'e00000000000000000000001', 'd00000000000000000000001', 'Old Gmail', 'Aged accounts', 1250000, 1, 100, {now}, {now})"),
        format!("INSERT INTO subproducts (id, service_number, name, price, min_qty, max_qty, position, stock, stock_version, created_at, updated_at) VALUES \
                 ('f10000000000000000000001', 1, 'Old Gmail', 1250000, 1, 100, 0, 3, 7, {now}, {now})"),
    ];
    for n in 0..5 {
        let line = format!("old-line-{n}:secret");
        let (order, delivered) = if n < 2 {
            ("1", now.to_string())
        } else {
            ("NULL", "NULL".to_owned())
        };
        sql.push(format!(
            "INSERT INTO stock_lines (service_number, subproduct_id, content, fingerprint, source, order_id, created_at, delivered_at) VALUES \
             (1, 'f10000000000000000000001', {}, '{}', 'upload', {order}, {now}, {delivered})",
            blob(k, &crypto.seal(&line)),
            crypto.fingerprint(&line)
        ));
    }
    sql.push(format!(
        "INSERT INTO orders (user_id, kind, service_number, subproduct_id, shop_id, product_type, link, quantity, unit_price, charge, delivered, status, remains, created_at, paid_at, updated_at, completed_at) VALUES \
         ('a00000000000000000000001', 'product', 1, 'f10000000000000000000001', 'e00000000000000000000001', 'inventory', 'old-buyer@example.com', 2, 1250000, 2500000, 2, 'completed', 0, {now}, {now}, {now}, {now})"
    ));
    sql.push(format!(
        "INSERT INTO ledger (user_id, amount, balance_after, kind, order_id, note, created_at) VALUES \
         ('a00000000000000000000001', -2500000, 7500000, 'charge', 1, '', {now})"
    ));
    sql.push(format!(
        "INSERT INTO earnings (order_id, shop_id, gross, commission, amount, available_at, created_at) VALUES \
         (1, 'e00000000000000000000001', 2500000, 250000, 2250000, {now}, {now})"
    ));
    sql.push(format!(
        "INSERT INTO providers (id, name, protocol, url, api_key_enc, enabled, created_at) VALUES \
         ('900000000000000000000001', 'Old Panel', 'api_v2', 'https://panel.example/api/v2', {}, FALSE, {now})",
        blob(k, &crypto.seal("old-provider-key"))
    ));
    db.exec(&sql.join(";\n")).await;
}

engine_test!(a_v010_database_upgrades_and_serves, |db| {
    make_v010_database(db).await;
    assert_eq!(
        db.scalar("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations")
            .await,
        5
    );
    fill_as_v010(db).await;

    // This build migrates it, with the key the old release sealed its rows with.
    let work = tempfile::tempdir().expect("dir");
    let key = test_key();
    let env = [
        ("SOUK_DATABASE_URL", db.url.as_str()),
        ("SOUK_DATA_KEY", key.as_str()),
    ];
    let (ok, out, err) = souk_with(work.path(), &env, &["migrate"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "database is up to date");
    let (ok, out, err) = souk_with(work.path(), &env, &["admin", "audit"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "audited 2 users, 1 orders, 2 ledger rows, 2 delivered stock lines",
            "all invariants hold"
        ]
    );
    // Another key is refused now: the old rows named the database's key.
    let other = hex::encode([9u8; 32]);
    let (ok, _, err) = souk_with(
        work.path(),
        &[
            ("SOUK_DATABASE_URL", db.url.as_str()),
            ("SOUK_DATA_KEY", other.as_str()),
        ],
        &["migrate"],
    );
    assert!(!ok);
    assert_eq!(err.trim(), "souk: the data key does not match this database; set SOUK_DATA_KEY or SOUK_KEY_FILE to the key this database was created with");

    // The smoke, over HTTP.
    let app = TestApp::spawn(db).await;
    let balance = app.call(&[("key", OLD_KEY), ("action", "balance")]).await;
    assert_eq!(balance["balance"], "7.50", "{balance}");
    let status = app
        .call(&[("key", OLD_KEY), ("action", "status"), ("order", "1")])
        .await;
    assert_eq!(status["status"], "Completed", "{status}");
    assert_eq!(
        status["accounts"],
        json!(["old-line-0:secret", "old-line-1:secret"]),
        "{status}"
    );
    let products = app.call(&[("key", OLD_KEY), ("action", "products")]).await;
    assert_eq!(products["total"], 1, "{products}");
    assert_eq!(products["products"][0]["name"], "Old Gmail", "{products}");
    assert_eq!(products["products"][0]["stock"], 3, "{products}");
    let placed = app
        .call(&[
            ("key", OLD_KEY),
            ("action", "add"),
            ("service", "1"),
            ("quantity", "1"),
        ])
        .await;
    let order = placed["order"]
        .as_i64()
        .unwrap_or_else(|| panic!("{placed}"));
    assert_eq!(order, 2);
    let status = app
        .call(&[("key", OLD_KEY), ("action", "status"), ("order", "2")])
        .await;
    assert_eq!(status["accounts"], json!(["old-line-2:secret"]), "{status}");
    let balance = app.call(&[("key", OLD_KEY), ("action", "balance")]).await;
    assert_eq!(balance["balance"], "6.25", "{balance}");
    app.stop().await;
    db.assert_audit_clean().await;
    let (ok, out, err) = souk_with(work.path(), &env, &["doctor", "--offline"]);
    assert!(
        out.contains("ok    data key: matches this database"),
        "{out}\n{err}"
    );
    let _ = ok;
});
