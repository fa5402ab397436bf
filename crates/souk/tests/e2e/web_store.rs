//! Issue 17, the storefront over plain HTTP, on the demo catalogue: browsing by category,
//! filters, sorting and search; product and service pages whose order forms answer as
//! `add` does (side by side with the API, for the same request from a twin buyer); an
//! order's page with its accounts, ledger, cancel, dispute thread and review; SMS
//! rental with the code arriving through the signed gateway webhook; favourites; and the
//! weight of every page.

use std::collections::BTreeSet;
use std::sync::Arc;

use reqwest::header::LOCATION;
use serde_json::{json, Value};
use souk_core::catalogue::{EntityType, ProductType, Service};
use souk_core::Money;

use crate::engine_test;
use crate::harness::{TestApp, TestDb};
use crate::supply_kit::{digest, ok, post, As};
use crate::web::{client, csrf_of, form, page, sign_up, user_of};

/// A form's fields by name.
type Fields = Vec<(&'static str, String)>;

pub(crate) const DEMO_NOW: i64 = 1_790_000_000_000;

/// The demo catalogue in `db`, then a node on it: (app, the demo's SMS gateway and secret).
pub(crate) async fn demo_app(db: &TestDb) -> (TestApp, (String, String)) {
    let store = db.store().await;
    let demo = souk::demo::load(&store, DEMO_NOW).await.expect("demo");
    let app = TestApp::spawn(db).await;
    (app, demo.sms_gateway.expect("demo gateway"))
}

/// A buyer signed up through the pages with `balance`: (cookie, user id, API key).
pub(crate) async fn web_buyer(
    app: &TestApp,
    email: &str,
    balance: &str,
) -> (String, String, String) {
    let cookie = sign_up(app, email).await;
    let (id, key) = user_of(app, email).await;
    let amount = Money::parse(balance).expect("amount");
    if amount != Money::ZERO {
        app.store
            .adjust_balance(&id, amount, "topup", "test", app.state.now())
            .await
            .expect("top up");
    }
    (cookie, id, key)
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The text inside the element with `id` (up to its first child tag).
pub(crate) fn text_of(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = at + html[at..].find('>')? + 1;
    let end = start + html[start..].find('<')?;
    Some(unescape(html[start..end].trim()))
}

/// The service numbers of the cards on a shop page, in order.
fn cards(html: &str) -> Vec<i64> {
    html.match_indices("<article class=\"card service\" id=\"service-")
        .filter_map(|(at, m)| {
            let rest = &html[at + m.len()..];
            rest[..rest.find('"')?].parse().ok()
        })
        .collect()
}

/// Every card of the shop (all pages) at `path` (`/shop?...`).
async fn all_cards(app: &TestApp, cookie: &str, path: &str) -> Vec<i64> {
    let mut out = Vec::new();
    for n in 1..50 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let (code, html) = page(app, cookie, &format!("{path}{sep}page={n}")).await;
        assert_eq!(code, 200, "{path}");
        let got = cards(&html);
        if got.is_empty() || out.contains(&got[0]) {
            break;
        }
        out.extend(got);
    }
    out
}

/// The API's service numbers for `params` (`products` and `services`, every page).
async fn api_numbers(app: &TestApp, key: &str, params: &[(&str, &str)]) -> BTreeSet<i64> {
    let mut out = BTreeSet::new();
    for (action, field) in [("products", "products"), ("services", "services")] {
        let mut all = vec![("key", key), ("action", action), ("limit", "0")];
        all.extend_from_slice(params);
        let v = app.call(&all).await;
        for row in v[field].as_array().unwrap_or_else(|| panic!("{v}")) {
            out.insert(row["service"].as_i64().expect("service"));
        }
    }
    out
}

fn services(app: &TestApp) -> Vec<Arc<Service>> {
    app.state.cache.get().catalogue.services.clone()
}

/// POSTs the order form of service `n`; the status and the body.
async fn order_form(
    app: &TestApp,
    cookie: &str,
    n: i64,
    fields: &[(&str, &str)],
) -> (u16, String, Option<String>) {
    let (_, html) = page(app, cookie, &format!("/shop/s/{n}")).await;
    let token = csrf_of(&html);
    let key = souk_api::web::random_token();
    let mut all = vec![("csrf", token.as_str()), ("idempotency_key", key.as_str())];
    all.extend_from_slice(fields);
    let r = form(app, &format!("/shop/s/{n}"), cookie, &all).await;
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, r.text().await.expect("body"), location)
}

/// The order id a successful form's redirect names.
fn placed(location: &Option<String>) -> i64 {
    let l = location.as_deref().expect("redirect");
    let rest = l.strip_prefix("/account/orders/").expect("order page");
    rest[..rest.find('?').unwrap_or(rest.len())]
        .parse()
        .expect("order id")
}

/// `status` of an order as the API answers it, accounts set apart (each buyer gets
/// different lines): (status without accounts, how many accounts).
async fn status_shape(app: &TestApp, key: &str, order: i64) -> (Value, usize) {
    let mut v = app
        .call(&[
            ("key", key),
            ("action", "status"),
            ("order", &order.to_string()),
        ])
        .await;
    let accounts = v
        .as_object_mut()
        .and_then(|o| o.remove("accounts"))
        .and_then(|a| a.as_array().map(Vec::len))
        .unwrap_or(0);
    (v, accounts)
}

async fn balance(app: &TestApp, key: &str) -> Value {
    app.call(&[("key", key), ("action", "balance")]).await["balance"].clone()
}

engine_test!(web_store_browses_filters_and_searches_like_the_api, |db| {
    let (app, _) = demo_app(db).await;
    let (cookie, _, key) = web_buyer(&app, "browser@example.com", "0").await;
    let catalogue = app.state.cache.get();
    let catalogue = &catalogue.catalogue;

    // The categories as navigation, with counts; a subcategory shows exactly what the
    // API's subcategory filter lists.
    let (code, html) = page(&app, &cookie, "/shop").await;
    assert_eq!(code, 200);
    let category = &catalogue.categories[0];
    assert!(
        html.contains(&format!("id=\"cat-{}\"", category.id)),
        "category nav"
    );
    let count_in = catalogue
        .services
        .iter()
        .filter(|s| *s.category_id == *category.id)
        .count();
    let (_, html) = page(&app, &cookie, &format!("/shop?category={}", category.id)).await;
    assert!(
        html.contains(&format!(
            "{} <span class=\"count\">{count_in}</span>",
            category.name.en()
        )),
        "the category's count"
    );
    for sc in catalogue
        .subcategories
        .iter()
        .filter(|sc| sc.category_id == category.id)
    {
        assert!(
            html.contains(&format!("id=\"sub-{}\"", sc.id)),
            "subcategory nav"
        );
        let web: BTreeSet<i64> = all_cards(
            &app,
            &cookie,
            &format!("/shop?category={}&sub={}", category.id, sc.id),
        )
        .await
        .into_iter()
        .collect();
        let api = api_numbers(&app, &key, &[("subcategory", sc.name.en())]).await;
        assert_eq!(web, api, "{}", sc.name.en());
        assert!(!web.is_empty());
    }

    // Filters: type, delivery kind, in stock, price range; each the catalogue's own rows.
    let everything: Vec<_> = services(&app);
    let expect = |f: &dyn Fn(&Service) -> bool| -> BTreeSet<i64> {
        everything
            .iter()
            .filter(|s| f(s))
            .map(|s| s.number)
            .collect()
    };
    let smm: BTreeSet<i64> = all_cards(&app, &cookie, "/shop?type=smm")
        .await
        .into_iter()
        .collect();
    assert_eq!(smm, api_numbers(&app, &key, &[("entityType", "smm")]).await);
    let manual: BTreeSet<i64> = all_cards(&app, &cookie, "/shop?delivery=manual")
        .await
        .into_iter()
        .collect();
    assert_eq!(manual, expect(&|s| s.product_type == ProductType::Manual));
    assert!(!manual.is_empty());
    let in_stock: BTreeSet<i64> = all_cards(&app, &cookie, "/shop?type=product&stock=1")
        .await
        .into_iter()
        .collect();
    assert_eq!(
        in_stock,
        expect(&|s| s.entity == EntityType::Product && s.stock() > 0)
    );
    let (low, high) = (Money::parse("1").expect("m"), Money::parse("5").expect("m"));
    let priced: BTreeSet<i64> = all_cards(&app, &cookie, "/shop?min=1&max=5")
        .await
        .into_iter()
        .collect();
    assert_eq!(priced, expect(&|s| s.rate() >= low && s.rate() <= high));

    // Sorting by price, both ways.
    let ascending = all_cards(&app, &cookie, "/shop?sort=price").await;
    let rates: Vec<Money> = ascending
        .iter()
        .map(|n| {
            everything
                .iter()
                .find(|s| s.number == *n)
                .expect("s")
                .rate()
        })
        .collect();
    assert!(rates.windows(2).all(|w| w[0] <= w[1]), "{rates:?}");
    assert_eq!(ascending.len(), everything.len());
    let descending = all_cards(&app, &cookie, "/shop?sort=price_desc").await;
    assert_eq!(
        descending.first(),
        ascending.iter().rev().find(|n| {
            let r = |n: &i64| {
                everything
                    .iter()
                    .find(|s| s.number == *n)
                    .expect("s")
                    .rate()
            };
            r(n) == r(ascending.last().expect("last"))
        })
    );

    // Search in the buyer's language: a Russian word of a product's Russian name.
    let ru_named = everything
        .iter()
        .find(|s| s.name.get(souk_core::Lang::Ru) != s.name.en())
        .expect("a translated name");
    let word = ru_named
        .name
        .get(souk_core::Lang::Ru)
        .split_whitespace()
        .find(|w| w.chars().count() > 4 && !w.is_ascii())
        .expect("a Russian word")
        .to_lowercase();
    let query = reqwest::Url::parse_with_params("http://x/shop", &[("q", &word)])
        .expect("url")
        .query()
        .expect("query")
        .to_owned();
    let found = all_cards(
        &app,
        &format!("{cookie}; souk_ui=ru"),
        &format!("/shop?{query}"),
    )
    .await;
    assert!(found.contains(&ru_named.number), "{word}: {found:?}");
    assert!(found.iter().all(|n| {
        let s = everything.iter().find(|s| s.number == *n).expect("s");
        [&s.name, &s.description]
            .iter()
            .any(|t| t.get(souk_core::Lang::Ru).to_lowercase().contains(&word))
    }));

    // A price that is not an amount is said, and the grid still shows.
    let (code, html) = page(&app, &cookie, "/shop?min=abc").await;
    assert_eq!(code, 200);
    assert_eq!(
        text_of(&html, "notice").as_deref(),
        Some("A price must be an amount like 1.50")
    );

    // A product page: description, variants with price, stock and limits, the shop.
    let product = everything
        .iter()
        .find(|s| s.entity == EntityType::Product && s.subproducts.len() > 1)
        .expect("a product with variants");
    let (code, html) = page(&app, &cookie, &format!("/shop/s/{}", product.number)).await;
    assert_eq!(code, 200);
    assert!(html.contains("id=\"variant-2\""));
    assert!(html.contains(&product.subproducts[1].price.display2()));
    assert!(html.contains("id=\"shop-link\""));
    assert_eq!(
        text_of(&html, "description").as_deref(),
        Some(product.description.en())
    );
    let (code, _) = page(&app, &cookie, "/shop/s/99999999").await;
    assert_eq!(code, 404);

    // A shop's page: masked name, rating, listings.
    let shop = &catalogue.shops[0];
    let (code, html) = page(&app, &cookie, &format!("/shop/shops/{}", shop.id)).await;
    assert_eq!(code, 200);
    assert_eq!(
        text_of(&html, "shop-name"),
        Some(souk_core::catalogue::mask_shop_name(&shop.name))
    );
    assert!(!html.contains(&shop.name) || shop.name.chars().count() < 3);

    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_store_order_forms_answer_as_add_does, |db| {
    let (app, _) = demo_app(db).await;
    let (cookie, _, web_key) = web_buyer(&app, "web@example.com", "500").await;
    let api_key = app.buyer("api@example.com", "500").await;
    let ru = format!("{cookie}; souk_ui=ru");
    let everything = services(&app);
    let by_type = |t: &str| {
        everything
            .iter()
            .find(|s| s.entity == EntityType::Smm && &*s.type_name == t)
            .unwrap_or_else(|| panic!("a {t} service"))
            .clone()
    };
    let product = everything
        .iter()
        .find(|s| {
            s.product_type == ProductType::Inventory
                && s.subproducts.len() > 1
                && s.subproducts[1].stock() >= 2
        })
        .expect("an inventory product whose second variant has stock")
        .clone();
    let second = product.subproducts[1].id.clone();
    let comments = by_type("Custom Comments");
    let poll = by_type("Poll");
    let subscriptions = by_type("Subscriptions");
    let default = by_type("Default");
    let dripfeed = everything
        .iter()
        .find(|s| &*s.type_name == "Default" && s.dripfeed)
        .expect("a drip-feed service")
        .clone();

    // Bad input, field by field: the web shows the API's words for the same request
    // next to the field it is about, and nothing changes.
    let n = |s: &Service| s.number.to_string();
    let cases: Vec<(i64, Fields, &str)> = vec![
        (product.number, vec![("quantity", "abc".into())], "quantity"),
        (
            product.number,
            vec![
                ("quantity", "100000".into()),
                ("subproduct", second.to_string()),
            ],
            "quantity",
        ),
        (
            product.number,
            vec![
                ("quantity", "1".into()),
                ("subproduct", "0123456789abcdef01234567".into()),
            ],
            "subproduct",
        ),
        (
            default.number,
            vec![("quantity", default.min.to_string())],
            "link",
        ),
        (
            default.number,
            vec![
                ("quantity", "1".into()),
                ("link", "https://example.com/p".into()),
            ],
            "quantity",
        ),
        (
            comments.number,
            vec![("link", "https://example.com/p".into())],
            "comments",
        ),
        (
            comments.number,
            vec![
                ("link", "https://example.com/p".into()),
                ("comments", "only one".into()),
            ],
            "comments",
        ),
        (
            poll.number,
            vec![
                ("link", "https://example.com/p".into()),
                ("quantity", poll.min.to_string()),
            ],
            "answer_number",
        ),
        (
            subscriptions.number,
            vec![
                ("username", "someone".into()),
                ("min", "50".into()),
                ("max", "10".into()),
                ("posts", "3".into()),
            ],
            "min",
        ),
        (
            dripfeed.number,
            vec![
                ("quantity", dripfeed.min.to_string()),
                ("link", "https://example.com/p".into()),
                ("runs", "3".into()),
            ],
            "interval",
        ),
    ];
    let before = digest(db).await;
    for (service, fields, field) in &cases {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut api_params = vec![("key", api_key.as_str()), ("action", "add")];
        let service_text = service.to_string();
        api_params.push(("service", &service_text));
        api_params.extend_from_slice(&pairs);
        let api = app.call(&api_params).await;
        let said = api["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{api}"))
            .to_owned();
        let (code, html, _) = order_form(&app, &cookie, *service, &pairs).await;
        assert_eq!(code, 422, "{service} {fields:?}");
        assert_eq!(
            text_of(&html, &format!("err-{field}")).as_deref(),
            Some(said.as_str()),
            "{service} {fields:?}"
        );
        assert_eq!(text_of(&html, "notice").as_deref(), Some(said.as_str()));
        assert!(html.contains(&format!("aria-describedby=\"err-{field}\"")));
        assert_eq!(digest(db).await, before, "{said}: nothing changed");
    }
    // In Russian, the same refusal in Russian, by the same field.
    let (code, html, _) = order_form(
        &app,
        &ru,
        comments.number,
        &[("link", "https://example.com/p")],
    )
    .await;
    assert_eq!(code, 422);
    assert_eq!(
        text_of(&html, "err-comments").as_deref(),
        Some("Нужно поле comments")
    );
    assert_eq!(digest(db).await, before);

    // The second variant of a product, bought from its page and through the API.
    let fields = [("subproduct", &*second), ("quantity", "2"), ("link", "")];
    let (code, _, location) = order_form(&app, &cookie, product.number, &fields).await;
    assert_eq!(code, 303);
    let web_order = placed(&location);
    let api = app
        .call(&[
            ("key", &api_key),
            ("action", "add"),
            ("service", &n(&product)),
            ("subproduct", &second),
            ("quantity", "2"),
        ])
        .await;
    let api_order = api["order"].as_i64().unwrap_or_else(|| panic!("{api}"));
    assert_eq!(
        status_shape(&app, &web_key, web_order).await,
        status_shape(&app, &api_key, api_order).await
    );
    assert_eq!(status_shape(&app, &web_key, web_order).await.1, 2);
    assert_eq!(balance(&app, &web_key).await, balance(&app, &api_key).await);
    let expected = Money::parse("500")
        .expect("m")
        .checked_sub(Money::from_micros(
            product.subproducts[1].price.micros() * 2,
        ))
        .expect("m");
    assert_eq!(balance(&app, &web_key).await, json!(expected.display2()));

    // SMM types with their own fields: Custom Comments (one unit per line), Poll,
    // Subscriptions; each the same order as `add` places.
    let lines: String = (1..=comments.min.max(1))
        .map(|i| format!("comment {i}\n"))
        .collect();
    let answer = poll.min.to_string();
    let smm_cases: Vec<(Arc<Service>, Fields)> = vec![
        (
            comments.clone(),
            vec![
                ("link", "https://example.com/p/1".into()),
                ("comments", lines.clone()),
            ],
        ),
        (
            poll.clone(),
            vec![
                ("link", "https://example.com/p/2".into()),
                ("quantity", answer.clone()),
                ("answer_number", "2".into()),
            ],
        ),
        (
            subscriptions.clone(),
            vec![
                ("username", "someone".into()),
                ("min", subscriptions.min.to_string()),
                ("max", subscriptions.min.to_string()),
                ("posts", "2".into()),
            ],
        ),
    ];
    for (service, fields) in &smm_cases {
        let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (code, html, location) = order_form(&app, &cookie, service.number, &pairs).await;
        assert_eq!(
            code,
            303,
            "{}: {}",
            service.type_name,
            text_of(&html, "notice").unwrap_or_default()
        );
        let web_order = placed(&location);
        let service_text = n(service);
        let mut api_params = vec![
            ("key", api_key.as_str()),
            ("action", "add"),
            ("service", service_text.as_str()),
        ];
        api_params.extend_from_slice(&pairs);
        let api = app.call(&api_params).await;
        let api_order = api["order"].as_i64().unwrap_or_else(|| panic!("{api}"));
        assert_eq!(
            status_shape(&app, &web_key, web_order).await,
            status_shape(&app, &api_key, api_order).await,
            "{}",
            service.type_name
        );
        assert_eq!(
            balance(&app, &web_key).await,
            balance(&app, &api_key).await,
            "{}",
            service.type_name
        );
    }

    // The form asks exactly what the type needs.
    let (_, html) = page(&app, &cookie, &format!("/shop/s/{}", comments.number)).await;
    assert!(html.contains("id=\"f-comments\"") && !html.contains("id=\"f-quantity\""));
    let (_, html) = page(&app, &cookie, &format!("/shop/s/{}", subscriptions.number)).await;
    for f in [
        "username",
        "min",
        "max",
        "posts",
        "old_posts",
        "delay",
        "expiry",
    ] {
        assert!(html.contains(&format!("id=\"f-{f}\"")), "{f}");
    }
    let (_, html) = page(&app, &cookie, &format!("/shop/s/{}", poll.number)).await;
    assert!(html.contains("id=\"f-answer_number\"") && html.contains("id=\"f-quantity\""));

    // A form without its token changes nothing.
    let before = digest(db).await;
    let r = form(
        &app,
        &format!("/shop/s/{}", default.number),
        &cookie,
        &[("quantity", "100"), ("link", "https://x.example")],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(digest(db).await, before);

    app.stop().await;
    db.assert_audit_clean().await;
});

/// The first `<form ... action="{action}">`'s submission from the page at `path`.
async fn post_on_page(
    app: &TestApp,
    cookie: &str,
    path: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let (code, html) = page(app, cookie, path).await;
    assert_eq!(code, 200, "{path}");
    assert!(
        html.contains(&format!("action=\"{action}\"")),
        "{path} has no form for {action}"
    );
    let token = csrf_of(&html);
    let mut all = vec![("csrf", token.as_str())];
    all.extend_from_slice(fields);
    form(app, action, cookie, &all).await
}

engine_test!(
    web_store_order_page_accounts_cancel_dispute_and_review,
    |db| {
        let (app, _) = demo_app(db).await;
        let (cookie, _, key) = web_buyer(&app, "web@example.com", "200").await;
        let api_key = app.buyer("api@example.com", "200").await;
        let product = services(&app)
            .into_iter()
            .find(|s| s.product_type == ProductType::Inventory && s.subproducts[0].stock() >= 4)
            .expect("an inventory product with stock");
        let (_, _, location) =
            order_form(&app, &cookie, product.number, &[("quantity", "2")]).await;
        let order = placed(&location);
        let twin = app
            .call(&[
                ("key", &api_key),
                ("action", "add"),
                ("service", &product.number.to_string()),
                ("quantity", "2"),
            ])
            .await["order"]
            .as_i64()
            .expect("order");
        let path = format!("/account/orders/{order}");

        // The order's page: status, the accounts with a copy button each, the ledger row.
        let (code, html) = page(&app, &cookie, &path).await;
        assert_eq!(code, 200);
        let status = app
            .call(&[
                ("key", &key),
                ("action", "status"),
                ("order", &order.to_string()),
            ])
            .await;
        assert_eq!(
            text_of(&html, "order-status").as_deref(),
            status["status"].as_str()
        );
        let accounts: Vec<String> = status["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| a.as_str().expect("a").to_owned())
            .collect();
        for (i, a) in accounts.iter().enumerate() {
            assert_eq!(
                text_of(&html, &format!("account-{}", i + 1)).as_deref(),
                Some(a.as_str())
            );
            assert!(html.contains(&format!("data-copy=\"account-{}\"", i + 1)));
        }
        let charge = Money::from_micros(product.subproducts[0].price.micros() * 2);
        assert!(
            html.contains(&format!("<td class=\"num\">−{}</td>", charge.display2())),
            "the charge's ledger row"
        );
        // Download all: one account per line, as a file.
        let r = client()
            .get(format!("{}{path}/accounts.txt", app.url))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("txt");
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
        assert_eq!(
            r.headers()["content-disposition"],
            format!("attachment; filename=\"order-{order}.txt\"")
        );
        assert_eq!(
            r.text().await.expect("body"),
            format!("{}\n", accounts.join("\n"))
        );
        // Another buyer sees none of it.
        let (stranger, _, _) = web_buyer(&app, "stranger@example.com", "0").await;
        assert_eq!(page(&app, &stranger, &path).await.0, 404);
        assert_eq!(
            page(&app, &stranger, &format!("{path}/accounts.txt"))
                .await
                .0,
            404
        );
        assert_eq!(page(&app, &stranger, &format!("{path}/live")).await.0, 404);

        // Cancel: refused with the reason the API gives for the same order, nothing changed.
        let api = app
            .call(&[
                ("key", &key),
                ("action", "allowcancel"),
                ("order", &order.to_string()),
            ])
            .await;
        let reason = api[0]["reason"]
            .as_str()
            .unwrap_or_else(|| panic!("{api}"))
            .to_owned();
        let (_, html) = page(&app, &cookie, &path).await;
        assert!(html.contains(&format!("<code>{reason}</code>")), "{reason}");
        let before = digest(db).await;
        let r = post_on_page(
            &app,
            &cookie,
            &path,
            &format!("{path}/dispute"),
            &[("message", "  ")],
        )
        .await;
        assert_eq!(r.status(), 422);
        let said = app
            .call(&[
                ("key", &api_key),
                ("action", "dispute"),
                ("order", &twin.to_string()),
                ("message", "  "),
            ])
            .await;
        assert_eq!(
            text_of(&r.text().await.expect("b"), "notice").as_deref(),
            said["error"].as_str()
        );
        assert_eq!(digest(db).await, before);

        // A dispute: opened from the page, answered by the operator and the supplier, in a thread.
        let r = post_on_page(
            &app,
            &cookie,
            &path,
            &format!("{path}/dispute"),
            &[("message", "The second account does not sign in")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let api = app
            .call(&[
                ("key", &api_key),
                ("action", "dispute"),
                ("order", &twin.to_string()),
                ("message", "The second account does not sign in"),
            ])
            .await;
        assert_eq!(api["status"], "open");
        // Opening it again: the API's refusal, word for word.
        let (_, html) = page(&app, &cookie, &path).await;
        assert!(
            !html.contains(&format!("action=\"{path}/dispute\"")),
            "one open dispute at a time"
        );
        let again = app
            .call(&[
                ("key", &key),
                ("action", "dispute"),
                ("order", &order.to_string()),
                ("message", "again"),
            ])
            .await;
        assert_eq!(again["error"], "A dispute is already open for this order");
        let disputes = ok(
            200,
            crate::supply_kit::get(&app, As::Operator, "/api/operator/v1/disputes?status=open")
                .await,
        );
        let dispute = disputes["disputes"]
            .as_array()
            .expect("list")
            .iter()
            .find(|d| d["order"] == order)
            .expect("ours")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        let answer = ok(
            201,
            post(
                &app,
                As::Operator,
                &format!("/api/operator/v1/disputes/{dispute}/messages"),
                json!({"message": "Send us the error you see, please."}),
            )
            .await,
        );
        assert_eq!(answer["author"], "operator");
        let r = post_on_page(
            &app,
            &cookie,
            &path,
            &format!("{path}/dispute/{dispute}"),
            &[("message", "It says the password is wrong.")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, html) = page(&app, &cookie, &path).await;
        let thread = &html[html.find("class=\"messages\"").expect("thread")..];
        let said: Vec<usize> = [
            "The second account does not sign in",
            "Send us the error you see, please.",
            "It says the password is wrong.",
        ]
        .iter()
        .map(|m| {
            thread
                .find(m)
                .unwrap_or_else(|| panic!("{m} in the thread"))
        })
        .collect();
        assert!(said.windows(2).all(|w| w[0] < w[1]), "in order");
        assert!(thread.contains("<li class=\"operator\"><span class=\"who\">Operator</span>"));
        // The operator resolves it: the resolution closes the thread, on the page.
        ok(
            200,
            post(
                &app,
                As::Operator,
                &format!("/api/operator/v1/disputes/{dispute}/resolve"),
                json!({"decision": "reject", "note": "The accounts sign in for us."}),
            )
            .await,
        );
        let (_, html) = page(&app, &cookie, &path).await;
        assert!(html.contains("No refund. The accounts sign in for us."));
        assert!(
            !html.contains(&format!("action=\"{path}/dispute/{dispute}\"")),
            "a closed thread has no reply form"
        );
        let closed = ok(
            409,
            post(
                &app,
                As::Operator,
                &format!("/api/operator/v1/disputes/{dispute}/messages"),
                json!({"message": "late"}),
            )
            .await,
        );
        assert!(closed.to_string().contains("already rejected"), "{closed}");

        // A review: bad input gets the API's words; a good one shows on the shop's page.
        let before = digest(db).await;
        let r = post_on_page(
            &app,
            &cookie,
            &path,
            &format!("{path}/review"),
            &[("rating", "9")],
        )
        .await;
        assert_eq!(r.status(), 422);
        let said = app
            .call(&[
                ("key", &api_key),
                ("action", "review"),
                ("order", &twin.to_string()),
                ("rating", "9"),
            ])
            .await;
        assert_eq!(
            text_of(&r.text().await.expect("b"), "notice").as_deref(),
            said["error"].as_str()
        );
        assert_eq!(digest(db).await, before);
        let r = post_on_page(
            &app,
            &cookie,
            &path,
            &format!("{path}/review"),
            &[("rating", "4"), ("text", "Worked after a password reset")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let again = app
            .call(&[
                ("key", &key),
                ("action", "review"),
                ("order", &order.to_string()),
                ("rating", "4"),
            ])
            .await;
        assert_eq!(again["error"], "This order has already been reviewed");
        let (_, html) = page(&app, &cookie, &format!("/shop/shops/{}", product.shop_id)).await;
        assert!(html.contains("Worked after a password reset"));
        let shops = app
            .call(&[("key", &key), ("action", "shops"), ("limit", "0")])
            .await;
        let row = shops["shops"]
            .as_array()
            .expect("shops")
            .iter()
            .find(|s| s["shopId"] == *product.shop_id)
            .expect("the shop")
            .clone();
        assert_eq!(
            text_of(&html, "review-count"),
            Some(row["reviewCount"].to_string())
        );
        assert_eq!(
            text_of(&html, "shop-rating"),
            Some(format!("{:.1}", row["rating"].as_f64().expect("rating")))
        );
        let (_, html) = page(&app, &cookie, &format!("/shop/s/{}", product.number)).await;
        assert!(
            html.contains("Worked after a password reset"),
            "recent reviews on the product page"
        );

        // Order again and favourites.
        let (_, html) = page(&app, &cookie, &path).await;
        assert!(html.contains(&format!(
            "href=\"/shop/s/{}?quantity=2&amp;link=",
            product.number
        )));
        let fav = format!("/shop/s/{}/favourite", product.number);
        let r = post_on_page(
            &app,
            &cookie,
            &format!("/shop/s/{}", product.number),
            &fav,
            &[("on", "1")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, html) = page(&app, &cookie, "/account/favourites").await;
        assert!(html.contains(&format!("id=\"favourite-{}\"", product.number)));
        assert!(html.contains(&format!("href=\"/account/orders/{order}\"")));
        let r = post_on_page(
            &app,
            &cookie,
            &format!("/shop/s/{}", product.number),
            &fav,
            &[("on", "0")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let (_, html) = page(&app, &cookie, "/account/favourites").await;
        assert!(html.contains("id=\"no-favourites\""));

        app.stop().await;
        db.assert_audit_clean().await;
    }
);

engine_test!(web_store_rents_a_number_and_sees_its_code, |db| {
    let (app, (gateway, secret)) = demo_app(db).await;
    let (cookie, _, key) = web_buyer(&app, "sms@example.com", "10").await;
    let api_key = app.buyer("api@example.com", "10").await;
    let offers = app
        .call(&[("key", &key), ("action", "sms_projects"), ("country", "us")])
        .await;
    // Telegram: the demo pool has three US numbers for it.
    let offer = offers
        .as_array()
        .expect("offers")
        .iter()
        .find(|o| o["name"] == "Telegram")
        .expect("Telegram in the US")
        .clone();
    let project = offer["project_id"].as_str().expect("project").to_owned();
    let (code, html) = page(&app, &cookie, "/sms").await;
    assert_eq!(code, 200);
    assert!(html.contains(&format!("id=\"offer-{project}-us\"")));
    assert!(html.contains(&offer["price"].as_str().expect("price").to_string()));

    // A bad choice gets the API's words and rents nothing.
    let before = digest(db).await;
    let r = post_on_page(
        &app,
        &cookie,
        "/sms",
        "/sms/rent",
        &[("project_id", &project), ("country", "zz")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let said = app
        .call(&[
            ("key", &api_key),
            ("action", "add_sms"),
            ("project_id", &project),
            ("country", "zz"),
        ])
        .await;
    assert_eq!(
        text_of(&r.text().await.expect("b"), "notice").as_deref(),
        said["error"].as_str()
    );
    assert_eq!(digest(db).await, before);

    // Rent from the page, and the twin through the API.
    let r = post_on_page(
        &app,
        &cookie,
        "/sms",
        "/sms/rent",
        &[("project_id", &project), ("country", "us")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let location = r.headers()[LOCATION].to_str().expect("l").to_owned();
    let order: i64 = location
        .trim_start_matches("/account/sms/")
        .split('?')
        .next()
        .expect("id")
        .parse()
        .expect("id");
    let twin = app
        .call(&[
            ("key", &api_key),
            ("action", "add_sms"),
            ("project_id", &project),
            ("country", "us"),
        ])
        .await;
    let twin_order = twin["orders"][0]["order"]
        .as_i64()
        .unwrap_or_else(|| panic!("{twin}"));
    let shape = |mut v: Value| {
        v.as_object_mut().map(|o| o.remove("phone"));
        v
    };
    let web_status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &order.to_string()),
        ])
        .await;
    assert_eq!(
        shape(web_status.clone()),
        shape(
            app.call(&[
                ("key", &api_key),
                ("action", "status"),
                ("order", &twin_order.to_string())
            ])
            .await
        )
    );
    let path = format!("/account/sms/{order}");
    let (_, html) = page(&app, &cookie, &path).await;
    let phone = web_status["phone"].as_str().expect("phone").to_owned();
    assert_eq!(text_of(&html, "sms-phone").as_deref(), Some(phone.as_str()));
    assert!(
        html.contains("id=\"time-left\"") && html.contains(&format!("data-poll=\"{path}/live\""))
    );

    // Cancel before two minutes: refused with the API's reason; nothing changed.
    let before = digest(db).await;
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/cancel"), &[]).await;
    assert_eq!(r.status(), 422);
    assert!(text_of(&r.text().await.expect("b"), "notice")
        .expect("notice")
        .ends_with("(BEFORE_MIN_WAIT)"));
    assert_eq!(digest(db).await, before);

    // The code arrives through the signed gateway webhook: the page's poll sees it.
    let (_, live) = page(&app, &cookie, &format!("{path}/live")).await;
    let live: Value = serde_json::from_str(&live).expect("json");
    assert_eq!(live["code"], Value::Null);
    let now = app.state.now();
    let body =
        json!({"phone": phone, "from": "Telegram", "text": "Your code: 48213", "received_at": now})
            .to_string();
    let (code, v) = crate::sms::push_signed(&app, &gateway, &secret, &body, now / 1000).await;
    assert_eq!(code, 200, "{v}");
    let (_, after) = page(&app, &cookie, &format!("{path}/live")).await;
    let after: Value = serde_json::from_str(&after).expect("json");
    assert_eq!(after["code"], "48213");
    assert_ne!(after["state"], live["state"]);
    let (_, html) = page(&app, &cookie, &path).await;
    assert_eq!(text_of(&html, "sms-code").as_deref(), Some("48213"));
    assert!(html.contains("id=\"sms-another\""));
    // Another SMS on the same number, then done: the status the API reports follows.
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/another"), &[]).await;
    assert_eq!(r.status(), 303);
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/complete"), &[]).await;
    assert_eq!(r.status(), 303);
    let api = app
        .call(&[
            ("key", &key),
            ("action", "sms_status"),
            ("order", &order.to_string()),
        ])
        .await;
    assert_eq!(api["status"], "completed");
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains("data-status=\"completed\""));
    assert!(
        !html.contains("data-poll="),
        "a finished activation is not watched"
    );

    // The twin, cancelled after the allowed minutes from the page of a second rental.
    let r = post_on_page(
        &app,
        &cookie,
        "/sms",
        "/sms/rent",
        &[("project_id", &project), ("country", "us")],
    )
    .await;
    let second = r.headers()[LOCATION]
        .to_str()
        .expect("l")
        .trim_start_matches("/account/sms/")
        .split('?')
        .next()
        .expect("id")
        .to_owned();
    app.clock.advance(3 * 60 * 1000);
    let path = format!("/account/sms/{second}");
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/cancel"), &[]).await;
    assert_eq!(r.status(), 303);
    let api = app
        .call(&[
            ("key", &api_key),
            ("action", "cancel"),
            ("order", &twin_order.to_string()),
        ])
        .await;
    assert_eq!(api[0]["cancel"], 1);
    let (_, html) = page(&app, &cookie, &format!("{path}?done=cancel")).await;
    assert_eq!(
        text_of(&html, "sms-refunded"),
        Some(offer["price"].as_str().expect("p").to_owned())
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "status"), ("order", &second)])
            .await["status"],
        app.call(&[
            ("key", &api_key),
            ("action", "status"),
            ("order", &twin_order.to_string())
        ])
        .await["status"]
    );
    // History lists both.
    let (_, html) = page(&app, &cookie, "/account/sms").await;
    assert!(
        html.contains(&format!("id=\"sms-{order}\""))
            && html.contains(&format!("id=\"sms-{second}\""))
    );

    app.stop().await;
    db.assert_audit_clean().await;
});

/// Checks what HTML validity asks that a page could get wrong by construction: one
/// document language, ids used once, every control labelled (a `label for`, an
/// `aria-label`, or a wrapping `<label>`).
fn check_markup(path: &str, html: &str) {
    assert!(html.starts_with("<!DOCTYPE html><html lang=\""), "{path}");
    let mut ids = BTreeSet::new();
    for (at, m) in html.match_indices(" id=\"") {
        let rest = &html[at + m.len()..];
        let id = &rest[..rest.find('"').expect("id end")];
        assert!(ids.insert(id.to_owned()), "{path}: id {id} twice");
    }
    for tag in ["<input ", "<select ", "<textarea "] {
        for (at, _) in html.match_indices(tag) {
            let element = &html[at..at + html[at..].find('>').expect("tag end")];
            if element.contains("type=\"hidden\"") {
                continue;
            }
            let labelled = element.contains("aria-label=")
                || element
                    .split(" id=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .is_some_and(|id| html.contains(&format!("for=\"{id}\"")))
                || html[..at].rfind("<label").unwrap_or(0)
                    > html[..at].rfind("</label>").unwrap_or(0);
            assert!(labelled, "{path}: unlabelled {element}");
        }
    }
}

/// The bytes a page costs: its HTML and every stylesheet and script it links.
async fn weight(app: &TestApp, cookie: &str, path: &str) -> (usize, usize) {
    let (code, html) = page(app, cookie, path).await;
    assert_eq!(code, 200, "{path}");
    check_markup(path, &html);
    let mut assets = 0;
    for marker in ["<link rel=\"stylesheet\" href=\"", "<script src=\""] {
        for (at, m) in html.match_indices(marker) {
            let rest = &html[at + m.len()..];
            let href = &rest[..rest.find('"').expect("href end")];
            let (code, body) = page(app, cookie, href).await;
            assert_eq!(code, 200, "{href}");
            assets += body.len();
        }
    }
    (html.len(), assets)
}

engine_test!(web_store_pages_weigh_under_150_kb, |db| {
    let (app, _) = demo_app(db).await;
    let (cookie, _, key) = web_buyer(&app, "weigh@example.com", "100").await;
    let all = services(&app);
    let product = all
        .iter()
        .find(|s| s.entity == EntityType::Product && s.subproducts.len() > 1)
        .expect("p");
    let smm = all
        .iter()
        .find(|s| &*s.type_name == "Subscriptions")
        .expect("smm");
    let (_, _, location) = order_form(&app, &cookie, product.number, &[("quantity", "1")]).await;
    let order = placed(&location);
    let project = app.call(&[("key", &key), ("action", "sms_projects")]).await[0]["project_id"]
        .as_str()
        .expect("p")
        .to_owned();
    let rented = app
        .call(&[
            ("key", &key),
            ("action", "add_sms"),
            ("project_id", &project),
        ])
        .await;
    let sms = rented["orders"][0]["order"].as_i64().expect("sms");
    let catalogue = app.state.cache.get();
    let category = &catalogue.catalogue.categories[0];
    let paths = vec![
        "/shop".to_owned(),
        format!("/shop?category={}", category.id),
        "/shop?q=account&sort=price".to_owned(),
        format!("/shop/s/{}", product.number),
        format!("/shop/s/{}", smm.number),
        format!("/shop/shops/{}", catalogue.catalogue.shops[0].id),
        "/account/orders".to_owned(),
        format!("/account/orders/{order}"),
        "/sms".to_owned(),
        "/account/sms".to_owned(),
        format!("/account/sms/{sms}"),
        "/account/favourites".to_owned(),
        "/".to_owned(),
        "/account".to_owned(),
        "/account/funds".to_owned(),
    ];
    let mut report = String::from("page\thtml\tcss+js\ttotal (bytes)\n");
    let mut rendered = Vec::new();
    for path in &paths {
        let (html, assets) = weight(&app, &cookie, path).await;
        rendered.push((path.clone(), page(&app, &cookie, path).await.1));
        report.push_str(&format!("{path}\t{html}\t{assets}\t{}\n", html + assets));
        assert!(
            html + assets <= 150 * 1024,
            "{path}: {} bytes",
            html + assets
        );
    }
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "page-weight-{}.tsv",
        match db.kind {
            crate::harness::Kind::Sqlite => "sqlite",
            crate::harness::Kind::Postgres => "postgres",
        }
    ));
    std::fs::write(&out, &report).expect("write the figures");
    eprintln!("{report}(written to {})", out.display());

    // Each page's HTML validates (the same markup on either engine: checked once).
    if db.kind == crate::harness::Kind::Sqlite {
        for path in [
            "/account/notifications",
            "/account/webhooks",
            "/account/payments",
            "/account/mass-order",
        ] {
            let (code, html) = page(&app, &cookie, path).await;
            assert_eq!(code, 200, "{path}");
            rendered.push((path.to_owned(), html));
        }
        for path in ["/signin", "/signup", "/password/forgot"] {
            let (code, html) = page(&app, "", path).await;
            assert_eq!(code, 200, "{path}");
            rendered.push((path.to_owned(), html));
        }
        crate::html_validator::validate(&rendered);
    }

    app.stop().await;
    db.assert_audit_clean().await;
});

// Every picture the demo catalogue names is served (drawn from its name); nothing else is.
engine_test!(web_store_demo_pictures_are_served, |db| {
    let (app, _) = demo_app(db).await;
    let catalogue = app.state.cache.get();
    let c = &catalogue.catalogue;
    let urls: BTreeSet<String> = c
        .categories
        .iter()
        .map(|x| x.image_url.clone())
        .chain(c.subcategories.iter().map(|x| x.image_url.clone()))
        .chain(c.services.iter().map(|x| x.image_url.clone()))
        .flatten()
        .filter(|u| u.starts_with('/'))
        .collect();
    assert!(urls.len() > 50, "{urls:?}");
    let http = client();
    for url in &urls {
        let r = http
            .get(format!("{}{url}", app.url))
            .send()
            .await
            .expect("picture");
        assert_eq!(r.status(), 200, "{url}");
        assert_eq!(r.headers()["content-type"], "image/svg+xml", "{url}");
        assert!(r.text().await.expect("body").starts_with("<svg"), "{url}");
    }
    for missing in [
        "/static/demo/x.png",
        "/static/demo/..%2Fsecret.svg",
        "/static/demo/X.svg",
    ] {
        let r = http
            .get(format!("{}{missing}", app.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(r.status(), 404, "{missing}");
    }
    app.stop().await;
});

/// A shop's inventory product with two lines, one of them bought by a web buyer
/// (`buyer@example.com`): (the buyer's cookie, their key, the order).
pub(crate) async fn one_line_sold(
    app: &TestApp,
    seller_key: &str,
    subcategory: &str,
    name: &str,
) -> (String, String, i64) {
    use crate::supply_kit::{buy, inventory_product, upload};

    let (_, service, subs) = inventory_product(app, seller_key, subcategory, name).await;
    ok(
        200,
        upload(app, seller_key, &subs[0], "a:1\nb:2\n", false).await,
    );
    let (cookie, _, key) = web_buyer(app, "buyer@example.com", "20").await;
    let order = buy(app, &key, service, 1).await;
    (cookie, key, order)
}

engine_test!(web_store_dispute_threads_reach_the_shops_supplier, |db| {
    use crate::supply_kit::{get, market, supplier};

    let app = TestApp::spawn(db).await;
    let (_, subcategory) = market(&app).await;
    let (seller, _, _) = supplier(&app, "seller@example.com", "Seller").await;
    let (other, _, _) = supplier(&app, "other@example.com", "Other").await;
    let (cookie, key, order) = one_line_sold(&app, &seller, &subcategory, "Thread Mail").await;
    let path = format!("/account/orders/{order}");
    let thread_path = format!("/api/admin/v2/orders/{order}/dispute");

    // No dispute yet: nothing to write in.
    let none = ok(
        404,
        post(
            &app,
            As::Key(&seller),
            &format!("{thread_path}/messages"),
            json!({"message": "hello"}),
        )
        .await,
    );
    assert_eq!(none["error"], "Dispute not found");
    let r = post_on_page(
        &app,
        &cookie,
        &path,
        &format!("{path}/dispute"),
        &[("message", "Wrong password")],
    )
    .await;
    assert_eq!(r.status(), 303);

    // The shop's supplier reads the thread and answers; another shop cannot do either.
    let seen = ok(200, get(&app, As::Key(&seller), &thread_path).await);
    assert_eq!(seen["disputes"][0]["message"], "Wrong password");
    assert_eq!(seen["disputes"][0]["messages"], json!([]));
    assert_eq!(
        ok(200, get(&app, As::Key(&other), &thread_path).await),
        json!({"disputes": []})
    );
    let before = digest(db).await;
    ok(
        404,
        post(
            &app,
            As::Key(&other),
            &format!("{thread_path}/messages"),
            json!({"message": "not mine"}),
        )
        .await,
    );
    let empty = ok(
        400,
        post(
            &app,
            As::Key(&seller),
            &format!("{thread_path}/messages"),
            json!({"message": "  "}),
        )
        .await,
    );
    assert_eq!(empty["error"], "message is required");
    assert_eq!(digest(db).await, before);
    let wrote = ok(
        201,
        post(
            &app,
            As::Key(&seller),
            &format!("{thread_path}/messages"),
            json!({"message": "Use b:2 instead"}),
        )
        .await,
    );
    assert_eq!(wrote["author"], "supplier");
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains("<li class=\"supplier\"><span class=\"who\">Supplier</span>"));
    assert!(html.contains("Use b:2 instead"));
    // The buyer's reply reaches the supplier's view, in order.
    let dispute = seen["disputes"][0]["id"].as_str().expect("id").to_owned();
    let r = post_on_page(
        &app,
        &cookie,
        &path,
        &format!("{path}/dispute/{dispute}"),
        &[("message", "Thanks, works")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let seen = ok(200, get(&app, As::Key(&seller), &thread_path).await);
    let authors: Vec<&str> = seen["disputes"][0]["messages"]
        .as_array()
        .expect("m")
        .iter()
        .map(|m| m["author"].as_str().expect("a"))
        .collect();
    assert_eq!(authors, ["supplier", "buyer"]);
    // A manual order in progress: its page watches it, and the supplier's delivery
    // changes what the poll answers.
    let hand =
        crate::supply_kit::manual_product(&app, &seller, &subcategory, "Hand Mail", "1.00").await;
    let manual =
        crate::supply_kit::buy(&app, &key, hand["service"].as_i64().expect("service"), 2).await;
    let path = format!("/account/orders/{manual}");
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains(&format!("data-poll=\"{path}/live\"")));
    let live = |body: String| -> Value { serde_json::from_str(&body).expect("json") };
    let first = live(page(&app, &cookie, &format!("{path}/live")).await.1);
    assert_eq!(first["status"], "Pending");
    ok(
        200,
        post(
            &app,
            As::Key(&seller),
            &format!("/api/admin/v2/orders/{manual}/deliver"),
            json!({"accounts": ["hand:1"]}),
        )
        .await,
    );
    let second = live(page(&app, &cookie, &format!("{path}/live")).await.1);
    assert_ne!(first["state"], second["state"]);
    assert_eq!(
        second["status"],
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &manual.to_string())
        ])
        .await["status"]
    );
    let (_, html) = page(&app, &cookie, &path).await;
    assert_eq!(text_of(&html, "account-1").as_deref(), Some("hand:1"));

    // A reply naming someone else's dispute is no page at all.
    let (stranger, _, _) = web_buyer(&app, "stranger@example.com", "0").await;
    let (_, html) = page(&app, &stranger, "/account/orders").await;
    let token = csrf_of(&html);
    let before = digest(db).await;
    let r = form(
        &app,
        &format!("{path}/dispute/{dispute}"),
        &stranger,
        &[("csrf", &token), ("message", "hi")],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(digest(db).await, before);

    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_store_cancel_and_refill_answer_as_the_api_does, |db| {
    let store = db.store().await;
    let f = crate::fixtures::load(&store).await;
    let auto = crate::fixtures::add_auto_products(&store, &f).await;
    let app = TestApp::spawn(db).await;
    let (cookie, _, key) = web_buyer(&app, "web@example.com", "100").await;
    let api_key = app.buyer("api@example.com", "100").await;
    let netflix = auto.netflix_auto.to_string();

    // An auto product: early cancel, refused before the minimum wait, then refunded.
    let (code, _, location) =
        order_form(&app, &cookie, auto.netflix_auto, &[("quantity", "2")]).await;
    assert_eq!(code, 303);
    let order = placed(&location);
    let twin = app
        .call(&[
            ("key", &api_key),
            ("action", "add"),
            ("service", &netflix),
            ("quantity", "2"),
        ])
        .await["order"]
        .as_i64()
        .expect("order");
    let path = format!("/account/orders/{order}");
    let (_, html) = page(&app, &cookie, &path).await;
    let allow = app
        .call(&[
            ("key", &api_key),
            ("action", "allowcancel"),
            ("order", &twin.to_string()),
        ])
        .await;
    assert_eq!(allow[0]["reason"], "BEFORE_MIN_WAIT");
    assert!(html.contains("<code>BEFORE_MIN_WAIT</code>"));
    assert!(!html.contains(&format!("action=\"{path}/cancel\"")));
    // Posted anyway (a page left open): the same refusal, nothing changed.
    let before = digest(db).await;
    let token = csrf_of(&html);
    let r = form(
        &app,
        &format!("{path}/cancel"),
        &cookie,
        &[("csrf", &token)],
    )
    .await;
    assert_eq!(r.status(), 422);
    assert!(text_of(&r.text().await.expect("b"), "notice")
        .expect("notice")
        .ends_with("(BEFORE_MIN_WAIT)"));
    assert_eq!(digest(db).await, before);
    app.clock.advance(31 * 60 * 1000);
    let allow = app
        .call(&[
            ("key", &api_key),
            ("action", "allowcancel"),
            ("order", &twin.to_string()),
        ])
        .await;
    let (_, html) = page(&app, &cookie, &path).await;
    let offered = format!(
        "Cancel and refund {:.2} USD",
        allow[0]["refundAmount"].as_f64().expect("amount")
    );
    assert!(html.contains(&offered), "{offered}");
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/cancel"), &[]).await;
    assert_eq!(r.status(), 303);
    let api = app
        .call(&[
            ("key", &api_key),
            ("action", "cancel"),
            ("order", &twin.to_string()),
        ])
        .await;
    assert_eq!(api, json!([{"order": twin, "cancel": 1}]));
    assert_eq!(
        status_shape(&app, &key, order).await,
        status_shape(&app, &api_key, twin).await
    );
    assert_eq!(balance(&app, &key).await, balance(&app, &api_key).await);
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(
        html.contains("<td class=\"num\">+10.00</td>"),
        "the refund's ledger row"
    );
    // Once more: the API's refusal for a cancelled order, on both.
    let again = app
        .call(&[
            ("key", &api_key),
            ("action", "allowcancel"),
            ("order", &twin.to_string()),
        ])
        .await;
    assert!(html.contains(&format!(
        "<code>{}</code>",
        again[0]["reason"].as_str().expect("reason")
    )));

    // A refill-capable SMM order, completed: refilled from the page as through the API.
    let followers = f.ig_followers.to_string();
    let (code, _, location) = order_form(
        &app,
        &cookie,
        f.ig_followers,
        &[("quantity", "100"), ("link", "https://instagram.com/a")],
    )
    .await;
    assert_eq!(code, 303);
    let smm = placed(&location);
    let twin = app
        .call(&[
            ("key", &api_key),
            ("action", "add"),
            ("service", &followers),
            ("quantity", "100"),
            ("link", "https://instagram.com/a"),
        ])
        .await["order"]
        .as_i64()
        .expect("order");
    let path = format!("/account/orders/{smm}");
    // Not completed yet: the API's refusal, shown on the page.
    let refused = app
        .call(&[
            ("key", &api_key),
            ("action", "refill"),
            ("order", &twin.to_string()),
        ])
        .await;
    let before = digest(db).await;
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/refill"), &[]).await;
    assert_eq!(r.status(), 422);
    assert_eq!(
        text_of(&r.text().await.expect("b"), "notice").as_deref(),
        refused["error"].as_str()
    );
    assert_eq!(digest(db).await, before);
    let now = app.state.now();
    db.exec(&format!(
        "UPDATE orders SET status = 'completed', completed_at = {now} WHERE id IN ({smm}, {twin})"
    ))
    .await;
    let r = post_on_page(&app, &cookie, &path, &format!("{path}/refill"), &[]).await;
    assert_eq!(r.status(), 303);
    let api = app
        .call(&[
            ("key", &api_key),
            ("action", "refill"),
            ("order", &twin.to_string()),
        ])
        .await;
    assert!(api["refill"].as_i64().is_some(), "{api}");
    let count = |order: i64| format!("SELECT COUNT(*) FROM refills WHERE order_id = {order}");
    assert_eq!(db.scalar(&count(smm)).await, 1);
    assert_eq!(db.scalar(&count(twin)).await, 1);

    app.stop().await;
    db.assert_audit_clean().await;
});

// The supplier answers a dispute from the desk: the thread is shown there, the answer
// reaches the buyer's order page; an empty answer, a forged form and another shop's
// supplier change nothing.
engine_test!(web_store_the_desk_answers_disputes, |db| {
    use crate::supply_kit::market;
    use crate::web::open_shop_for;

    let app = TestApp::spawn(db).await;
    let (_, subcategory) = market(&app).await;
    let maker = sign_up(&app, "maker@example.com").await;
    let maker_key = open_shop_for(&app, "maker@example.com", "Maker").await;
    let other = sign_up(&app, "other@example.com").await;
    open_shop_for(&app, "other@example.com", "Other").await;
    let (cookie, _, order) = one_line_sold(&app, &maker_key, &subcategory, "Desk Mail").await;
    let path = format!("/account/orders/{order}");
    let (_, desk) = page(&app, &maker, "/desk").await;
    assert_eq!(
        text_of(&desk, "disputes-empty").as_deref(),
        Some("No open disputes.")
    );
    let r = post_on_page(
        &app,
        &cookie,
        &path,
        &format!("{path}/dispute"),
        &[("message", "Wrong password")],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (_, desk) = page(&app, &maker, "/desk").await;
    let at = desk.find("id=\"dispute-").expect("the dispute on the desk") + 12;
    let dispute = desk[at..at + desk[at..].find('"').expect("id end")].to_owned();
    assert!(desk.contains("<li class=\"buyer\"><span class=\"who\">Buyer</span>"));
    assert!(desk.contains("Wrong password"));
    let action = format!("/desk/disputes/{dispute}/message");
    let token = csrf_of(&desk);

    let before = digest(db).await;
    let r = form(
        &app,
        &action,
        &maker,
        &[("csrf", &token), ("message", "  ")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("body");
    assert!(html.contains("message is required"), "{html}");
    let r = form(
        &app,
        &action,
        &maker,
        &[("csrf", "forged"), ("message", "x")],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (_, other_desk) = page(&app, &other, "/desk").await;
    assert!(!other_desk.contains(&dispute));
    let r = form(
        &app,
        &action,
        &other,
        &[("csrf", &csrf_of(&other_desk)), ("message", "not mine")],
    )
    .await;
    assert_eq!(r.status(), 404);
    assert_eq!(digest(db).await, before);

    let r = form(
        &app,
        &action,
        &maker,
        &[("csrf", &token), ("message", "Use b:2 instead")],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers()[LOCATION],
        format!("/desk?replied={order}#disputes")
    );
    let (_, desk) = page(&app, &maker, "/desk").await;
    assert!(desk.contains("<li class=\"supplier\"><span class=\"who\">You</span>"));
    let (_, html) = page(&app, &cookie, &path).await;
    assert!(html.contains("<li class=\"supplier\"><span class=\"who\">Supplier</span>"));
    assert!(html.contains("Use b:2 instead"));
    if db.kind == crate::harness::Kind::Sqlite {
        crate::html_validator::validate(&[("/desk (a dispute)".to_owned(), desk)]);
    }
    app.stop().await;
    db.assert_audit_clean().await;
});
