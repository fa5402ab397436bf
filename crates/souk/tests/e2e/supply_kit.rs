//! Helpers for the JSON APIs beside `/api/v2`: the supplier API (`X-Api-Key`) and the
//! operator API (bearer token), plus a digest of the database to prove that a refused
//! call changed nothing.

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TestApp, TestDb, ADMIN_TOKEN};

/// Who calls.
#[derive(Clone, Copy, Debug)]
pub enum As<'a> {
    /// `X-Api-Key`.
    Key(&'a str),
    /// The operator's bearer token.
    Operator,
    /// Some other bearer token.
    Bearer(&'a str),
    Nobody,
}

/// Sends a JSON request and returns (status, JSON body); every answer must be JSON.
pub async fn send(
    app: &TestApp,
    who: As<'_>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app
        .http
        .request(method.clone(), format!("{}{path}", app.url));
    req = match who {
        As::Key(k) => req.header("X-Api-Key", k),
        As::Operator => req.bearer_auth(ADMIN_TOKEN),
        As::Bearer(t) => req.bearer_auth(t),
        As::Nobody => req,
    };
    if let Some(b) = body {
        req = req.json(&b);
    }
    let response = req.send().await.expect("request");
    answer(response, &format!("{method} {path}")).await
}

async fn answer(response: reqwest::Response, what: &str) -> (u16, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = response.text().await.expect("body");
    assert_eq!(
        content_type, "application/json; charset=utf-8",
        "{what}: {status} {text}"
    );
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
    (status, value)
}

pub async fn get(app: &TestApp, who: As<'_>, path: &str) -> (u16, Value) {
    send(app, who, Method::GET, path, None).await
}

pub async fn post(app: &TestApp, who: As<'_>, path: &str, body: Value) -> (u16, Value) {
    send(app, who, Method::POST, path, Some(body)).await
}

pub async fn patch(app: &TestApp, who: As<'_>, path: &str, body: Value) -> (u16, Value) {
    send(app, who, Method::PATCH, path, Some(body)).await
}

/// Expects `status` and returns the body.
pub fn ok(expected: u16, (status, body): (u16, Value)) -> Value {
    assert_eq!(status, expected, "{body}");
    body
}

/// Sets `earnings_hold_hours` to 0 through the operator API, so earnings are withdrawable
/// as soon as they are made.
pub async fn earnings_withdrawable_at_once(app: &TestApp) {
    ok(
        200,
        patch(
            app,
            As::Operator,
            "/api/operator/v1/settings",
            json!({"earnings_hold_hours": 0}),
        )
        .await,
    );
}

/// A manual product of `key`'s first shop with one variant, `Standard` at `price`, up to
/// 20 per order and a capacity of 10: the supplier API's answer.
pub async fn manual_product(
    app: &TestApp,
    key: &str,
    subcategory: &str,
    name: &str,
    price: &str,
) -> Value {
    ok(
        201,
        post(
            app,
            As::Key(key),
            "/api/admin/v2/products",
            json!({"name": name, "subcategoryId": subcategory, "type": "manual",
                   "subproducts": [{"name": "Standard", "price": price, "max": 20, "stock": 10}]}),
        )
        .await,
    )
}

/// `POST /api/admin/v2/subproducts/{id}/stock` with a text body.
pub async fn upload(
    app: &TestApp,
    key: &str,
    subproduct: &str,
    text: impl Into<reqwest::Body>,
    dedupe: bool,
) -> (u16, Value) {
    let query = if dedupe { "?dedupe=true" } else { "" };
    send_stock(app, Method::POST, key, subproduct, query, text, "upload").await
}

/// `DELETE /api/admin/v2/subproducts/{id}/stock`: the unsold lines equal to those in
/// `text`, or all of them when it is empty.
pub async fn remove_stock(
    app: &TestApp,
    key: &str,
    subproduct: &str,
    text: String,
) -> (u16, Value) {
    send_stock(
        app,
        Method::DELETE,
        key,
        subproduct,
        "",
        text,
        "remove stock",
    )
    .await
}

/// A text body to `/api/admin/v2/subproducts/{id}/stock{query}` as `key`; `what` names
/// the call in failures.
async fn send_stock(
    app: &TestApp,
    method: Method,
    key: &str,
    subproduct: &str,
    query: &str,
    text: impl Into<reqwest::Body>,
    what: &str,
) -> (u16, Value) {
    let response = app
        .http
        .request(
            method,
            format!(
                "{}/api/admin/v2/subproducts/{subproduct}/stock{query}",
                app.url
            ),
        )
        .header("X-Api-Key", key)
        .header("Content-Type", "text/plain")
        .body(text)
        .send()
        .await
        .expect(what);
    answer(response, what).await
}

/// A category `Accounts` with a subcategory `Email`, made through the operator API:
/// (category id, subcategory id).
pub async fn market(app: &TestApp) -> (String, String) {
    let c = ok(
        201,
        post(
            app,
            As::Operator,
            "/api/operator/v1/categories",
            json!({"slug": "accounts", "name": "Accounts", "position": 1}),
        )
        .await,
    );
    let category = c["id"].as_str().expect("id").to_owned();
    let s = ok(
        201,
        post(
            app,
            As::Operator,
            "/api/operator/v1/subcategories",
            json!({"slug": "email", "name": "Email", "categoryId": category, "position": 1}),
        )
        .await,
    );
    (category, s["id"].as_str().expect("id").to_owned())
}

/// A supplier with a shop, made through the operator API: (key, user id, shop id).
pub async fn supplier(app: &TestApp, email: &str, shop: &str) -> (String, String, String) {
    let v = ok(
        201,
        post(
            app,
            As::Operator,
            "/api/operator/v1/users",
            json!({"email": email, "supplier": true, "shopName": shop}),
        )
        .await,
    );
    (
        v["apiKey"].as_str().expect("key").to_owned(),
        v["user"]["id"].as_str().expect("user").to_owned(),
        v["shopId"].as_str().expect("shop").to_owned(),
    )
}

/// An inventory product with two subproducts (`1 Month` at 2.50, `3 Months` at 6.00):
/// (product id, service number, [subproduct ids]).
pub async fn inventory_product(
    app: &TestApp,
    key: &str,
    subcategory: &str,
    name: &str,
) -> (String, i64, Vec<String>) {
    let v = ok(
        201,
        post(
            app,
            As::Key(key),
            "/api/admin/v2/products",
            json!({
                "name": name,
                "subcategoryId": subcategory,
                "type": "inventory",
                "description": "Fresh accounts",
                "subproducts": [
                    {"name": "1 Month", "price": "2.50", "min": 1, "max": 10},
                    {"name": "3 Months", "price": "6.00", "min": 1, "max": 10}
                ]
            }),
        )
        .await,
    );
    let subs = v["subproducts"]
        .as_array()
        .expect("subproducts")
        .iter()
        .map(|s| s["subproductId"].as_str().expect("id").to_owned())
        .collect();
    (
        v["id"].as_str().expect("id").to_owned(),
        v["service"].as_i64().expect("service"),
        subs,
    )
}

/// Places an order through `/api/v2` and returns its number.
pub async fn buy(app: &TestApp, key: &str, service: i64, quantity: i64) -> i64 {
    let v = app
        .call(&[
            ("key", key),
            ("action", "add"),
            ("service", &service.to_string()),
            ("quantity", &quantity.to_string()),
            ("link", "https://example.com/me"),
        ])
        .await;
    v["order"]
        .as_i64()
        .unwrap_or_else(|| panic!("order refused: {v}"))
}

pub async fn status(app: &TestApp, key: &str, order: i64) -> Value {
    app.call(&[
        ("key", key),
        ("action", "status"),
        ("order", &order.to_string()),
    ])
    .await
}

pub async fn balance(app: &TestApp, key: &str) -> String {
    app.call(&[("key", key), ("action", "balance")]).await["balance"]
        .as_str()
        .expect("balance")
        .to_owned()
}

/// Everything a refused call must leave as it was.
pub async fn digest(db: &TestDb) -> Vec<i64> {
    let mut out = Vec::new();
    for sql in [
        "SELECT COUNT(*) FROM stock_lines",
        "SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL",
        "SELECT CAST(COALESCE(SUM(stock), 0) AS BIGINT) FROM subproducts",
        "SELECT CAST(COALESCE(SUM(stock_version), 0) AS BIGINT) FROM subproducts",
        "SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM subproducts",
        "SELECT COUNT(*) FROM subproducts",
        "SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM services",
        "SELECT COUNT(*) FROM services",
        "SELECT COUNT(*) FROM translations",
        "SELECT COUNT(*) FROM ledger",
        "SELECT CAST(COALESCE(SUM(balance), 0) AS BIGINT) FROM users",
        "SELECT CAST(COALESCE(SUM(delivered), 0) AS BIGINT) FROM orders",
        "SELECT CAST(COALESCE(SUM(refunded), 0) AS BIGINT) FROM orders",
        "SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM orders",
        "SELECT COUNT(*) FROM orders WHERE status IN ('completed', 'partial', 'canceled')",
        "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) FROM earnings",
        "SELECT COUNT(*) FROM withdrawals",
        "SELECT COUNT(*) FROM disputes",
        "SELECT COUNT(*) FROM reviews",
        "SELECT COUNT(*) FROM dispute_messages",
        "SELECT COUNT(*) FROM favourites",
        "SELECT COUNT(*) FROM order_events",
        "SELECT catalogue_version FROM state_versions",
        "SELECT auth_version FROM state_versions",
        "SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL",
        "SELECT COUNT(*) FROM users WHERE status = 'active'",
        "SELECT COUNT(*) FROM orders",
        "SELECT COUNT(*) FROM idempotency_keys",
        "SELECT COUNT(*) FROM shops",
        "SELECT COUNT(*) FROM categories",
        "SELECT COUNT(*) FROM subcategories",
        "SELECT COUNT(*) FROM settings",
        "SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM settings",
        "SELECT COUNT(*) FROM users",
        "SELECT COUNT(*) FROM api_keys",
        "SELECT COUNT(*) FROM web_sessions",
    ] {
        out.push(db.scalar(sql).await);
    }
    out
}
