//! The catalogue side of the operator console over plain HTTP: an admin edits a
//! service's price, name, visibility and translations, a product's variant prices and an
//! imported service's markup, and the buyer API (`/api/v2`) reports the change at once;
//! shops are searched a page at a time, opened and edited; reviews are filtered, hidden
//! and shown again, and the shop's rating follows. Every change is an audit row with the
//! record before and after, written in the change's own transaction; support gets no
//! form and its POST is refused; bad input and forms without the token change nothing.

use serde_json::{json, Value};
use souk_app::operators;
use souk_core::markup::Markup;
use souk_core::Money;
use souk_store::ReviewFilter;

use crate::console::{
    alert, between, break_the_audit_log, last_audit, no_redirects, operator, page_of, post_as,
    signed_in, Signed,
};
use crate::engine_test;
use crate::fake_upstream::{FakeUpstream, Shape};
use crate::fixtures;
use crate::harness::TestApp;
use crate::providers::{connect, panel_services};

/// The buyer API's row of one service (`action`: `services` or `products`), or `Null`
/// when buyers do not see it.
async fn row(app: &TestApp, key: &str, action: &str, number: i64, lang: &str) -> Value {
    let body = app
        .call(&[("key", key), ("action", action), ("lang", lang)])
        .await;
    let rows = body[action]
        .as_array()
        .unwrap_or_else(|| panic!("rows: {body}"));
    rows.iter()
        .find(|r| r["service"] == json!(number))
        .cloned()
        .unwrap_or(Value::Null)
}

/// A form posted without its token, by a signed-in operator: the status.
pub(crate) async fn without_token(
    app: &TestApp,
    s: &Signed,
    path: &str,
    fields: &[(&str, &str)],
) -> u16 {
    no_redirects()
        .post(format!("{}{path}", app.url))
        .header(
            reqwest::header::COOKIE,
            format!("souk_console={}", s.cookie),
        )
        .form(fields)
        .send()
        .await
        .expect("post")
        .status()
        .as_u16()
}

/// A console request in Russian (the `souk_ui` cookie): (status, body).
pub(crate) async fn in_russian(
    app: &TestApp,
    s: &Signed,
    path: &str,
    form: Option<&[(&str, &str)]>,
) -> (u16, String) {
    let cookie = format!("souk_console={}; souk_ui=ru", s.cookie);
    let http = no_redirects();
    let request = match form {
        None => http.get(format!("{}{path}", app.url)),
        Some(fields) => {
            let mut all = vec![("csrf", s.csrf.as_str())];
            all.extend_from_slice(fields);
            http.post(format!("{}{path}", app.url)).form(&all)
        }
    };
    let r = request
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// An audit value as JSON (`Null` for none).
pub(crate) fn parsed(text: &str) -> Value {
    if text.is_empty() {
        return Value::Null;
    }
    serde_json::from_str(text).expect("audit JSON")
}

/// The audit row's (action, who, before, after) with before and after parsed.
pub(crate) async fn audited(app: &TestApp, subject: &str) -> (String, String, Value, Value) {
    let (action, who, before, after) = last_audit(app, subject).await;
    (action, who, parsed(&before), parsed(&after))
}

pub(crate) async fn audit_rows(app: &TestApp, subject: &str) -> usize {
    app.store
        .audit_log(Some(subject), None, 100)
        .await
        .expect("audit")
        .len()
}

pub(crate) async fn acting(app: &TestApp, email: &str, role: operators::Role) -> operators::Acting {
    let op = app
        .store
        .operator_by_email(email)
        .await
        .expect("lookup")
        .expect("operator");
    operators::Acting {
        id: op.id,
        email: op.email,
        role,
    }
}

engine_test!(console_edits_a_service_and_the_api_reports_it, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::builder(db).spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let n = f.ig_followers;
    let page = format!("/console/catalogue/services/{n}");
    let subject = format!("service:{n}");
    let service = || {
        let store = app.store.clone();
        async move { store.operator_service(n).await.expect("service") }
    };
    assert_eq!(row(&app, &key, "services", n, "en").await["rate"], "0.50");

    // The list links to the page; support reads it but gets no form, and its posts are
    // refused.
    let (_, list) = page_of(&app, &support, "/console/catalogue/services?q=followers").await;
    assert!(list.contains(&format!("href=\"{page}\">Instagram Followers</a>")));
    let (status, body) = page_of(&app, &support, &page).await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"service-facts\""));
    assert!(!body.contains("id=\"service-form\""));
    assert!(!body.contains("id=\"translation-form\""));
    let before = service().await;
    let good = [
        ("name", "Instagram Followers HQ"),
        ("description", "Real-looking accounts"),
        ("price", "0.75"),
        ("active", "on"),
    ];
    let (status, _, _) = post_as(&app, &support, &page, &good).await;
    assert_eq!(status, 403);
    let (status, _, _) = post_as(
        &app,
        &support,
        &format!("{page}/translations"),
        &[("lang", "de"), ("name", "Follower")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(service().await, before);

    // Bad input: a clear error on the page, nothing changed.
    let (status, body) = page_of(&app, &admin, &page).await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"service-form\""));
    for (field, value, error) in [
        ("price", "-1", "The price must be above zero"),
        ("price", "0", "The price must be above zero"),
        ("price", "99999999", "The price must be at most 1000000.00"),
        ("price", "cheap", "Price must be a number like 0.50"),
        ("price", "0.0000001", "Price must be a number like 0.50"),
        ("name", "  ", "name is required"),
    ] {
        let mut form: Vec<(&str, &str)> =
            good.iter().filter(|(f, _)| *f != field).copied().collect();
        form.push((field, value));
        let (status, _, body) = post_as(&app, &admin, &page, &form).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{field}");
        // The form keeps what was typed.
        assert!(body.contains(&format!("value=\"{}\"", value.trim())) || value.trim().is_empty());
    }
    for (lang, error) in [
        ("xx", "Unknown language: xx"),
        ("en", "English is the service's own name and description"),
    ] {
        let (status, _, body) = post_as(
            &app,
            &admin,
            &format!("{page}/translations"),
            &[("lang", lang), ("name", "Follower")],
        )
        .await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{lang}");
    }
    assert_eq!(without_token(&app, &admin, &page, &good).await, 403);
    assert_eq!(service().await, before);
    assert_eq!(row(&app, &key, "services", n, "en").await["rate"], "0.50");
    assert_eq!(audit_rows(&app, &subject).await, 0, "nothing audited");

    // The edit: the buyer API reports the new price and name at once; audited.
    let (status, location, _) = post_as(&app, &admin, &page, &good).await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    let seen = row(&app, &key, "services", n, "en").await;
    assert_eq!(
        (seen["rate"].as_str(), seen["name"].as_str()),
        (Some("0.75"), Some("Instagram Followers HQ"))
    );
    assert_eq!(
        audited(&app, &subject).await,
        (
            "service.update".to_owned(),
            "admin@test.local".to_owned(),
            json!({"name": "Instagram Followers", "description": "", "active": true, "price": "0.50"}),
            json!({"name": "Instagram Followers HQ", "description": "Real-looking accounts", "active": true, "price": "0.75"}),
        )
    );
    let (_, body) = page_of(&app, &admin, &page).await;
    assert_eq!(between(&body, "<dd id=\"service-price\">", "</dd>"), "0.75");

    // Hidden (the box left out): buyers no longer see it; shown again, they do.
    let hidden: Vec<(&str, &str)> = good
        .iter()
        .filter(|(f, _)| *f != "active")
        .copied()
        .collect();
    let (status, _, _) = post_as(&app, &admin, &page, &hidden).await;
    assert_eq!(status, 303);
    assert_eq!(row(&app, &key, "services", n, "en").await, Value::Null);
    let (status, _, _) = post_as(&app, &admin, &page, &good).await;
    assert_eq!(status, 303);
    assert_eq!(row(&app, &key, "services", n, "en").await["rate"], "0.75");

    // A translation: buyers asking in German read it; audited for that language.
    let (status, location, _) = post_as(
        &app,
        &admin,
        &format!("{page}/translations"),
        &[
            ("lang", "de"),
            ("name", "Instagram-Follower"),
            ("description", ""),
        ],
    )
    .await;
    assert_eq!((status, location), (303, format!("{page}?lang=de")));
    assert_eq!(
        row(&app, &key, "services", n, "de").await["name"],
        "Instagram-Follower"
    );
    assert_eq!(
        row(&app, &key, "services", n, "ru").await["name"],
        "Подписчики Instagram",
        "other languages unchanged"
    );
    assert_eq!(
        audited(&app, &subject).await,
        (
            "service.translate".to_owned(),
            "admin@test.local".to_owned(),
            json!({"de": {"name": null, "description": null}}),
            json!({"de": {"name": "Instagram-Follower", "description": null}}),
        )
    );
    // Blank removes it: German buyers read the English name again.
    let (status, _, _) = post_as(
        &app,
        &admin,
        &format!("{page}/translations"),
        &[("lang", "de"), ("name", ""), ("description", "")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        row(&app, &key, "services", n, "de").await["name"],
        "Instagram Followers HQ"
    );

    // A product is priced per variant: the primary's price is the one buyers see.
    let product = format!("/console/catalogue/services/{}", f.gmail_usa);
    assert_eq!(
        row(&app, &key, "products", f.gmail_usa, "en").await["rate"],
        "25.00"
    );
    let (status, _, body) = post_as(
        &app,
        &admin,
        &product,
        &[
            ("name", "Gmail Account - USA"),
            ("price", "1.00"),
            ("active", "on"),
        ],
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (
            422,
            "A product's price is its variants'; price each of them".to_owned()
        )
    );
    let variant = &f.gmail_subs[0];
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{product}/variants/{}", f.gmail_bulk_sub),
        &[("price", "1.00")],
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Not found.".to_owned()),
        "another product's variant"
    );
    let (status, _, _) = post_as(
        &app,
        &support,
        &format!("{product}/variants/{variant}"),
        &[("price", "27.50")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{product}/variants/{variant}"),
        &[("price", "-27.50")],
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (422, "The price must be above zero".to_owned())
    );
    assert_eq!(
        row(&app, &key, "products", f.gmail_usa, "en").await["rate"],
        "25.00"
    );
    let (status, location, _) = post_as(
        &app,
        &admin,
        &format!("{product}/variants/{variant}"),
        &[("price", "27.50")],
    )
    .await;
    assert_eq!((status, location), (303, product.clone()));
    assert_eq!(
        row(&app, &key, "products", f.gmail_usa, "en").await["rate"],
        "27.50"
    );
    let (action, who, before, after) = audited(&app, &format!("service:{}", f.gmail_usa)).await;
    assert_eq!(
        (
            action.as_str(),
            who.as_str(),
            &before["price"],
            &after["price"]
        ),
        (
            "service.variant",
            "admin@test.local",
            &json!("25.00"),
            &json!("27.50")
        )
    );
    // A variant renamed (its price as it is): the name alone changes, in the row too;
    // a blank name is refused and nothing typed the same is a change.
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{product}/variants/{variant}"),
        &[("name", "  "), ("price", "27.50")],
    )
    .await;
    assert_eq!((status, alert(&body)), (422, "name is required".to_owned()));
    let (status, location, _) = post_as(
        &app,
        &admin,
        &format!("{product}/variants/{variant}"),
        &[("name", "Gmail, aged"), ("price", "27.50")],
    )
    .await;
    assert_eq!((status, location), (303, product.clone()));
    let (action, _, before, after) = audited(&app, &format!("service:{}", f.gmail_usa)).await;
    assert_eq!(
        (
            action.as_str(),
            &before["name"],
            &after["name"],
            &after["price"]
        ),
        (
            "service.variant",
            &before["name"],
            &json!("Gmail, aged"),
            &json!("27.50")
        )
    );
    assert_ne!(before["name"], json!("Gmail, aged"));
    let variants = app
        .store
        .operator_service(f.gmail_usa)
        .await
        .expect("service")
        .variants;
    assert_eq!(
        variants
            .iter()
            .find(|v| &v.id == variant)
            .map(|v| v.name.as_str()),
        Some("Gmail, aged")
    );
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{product}/variants/{variant}"),
        &[("name", "Gmail, aged"), ("price", "27.50")],
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Nothing was changed".to_owned())
    );
    // The operator API renames a variant through the same use case.
    let api_path = format!("/services/{}/variants/{variant}", f.gmail_usa);
    let (status, body) = app
        .operator(reqwest::Method::PATCH, &api_path, Some(json!({})))
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "Give a name, a price or both"}))
    );
    let (status, body) = app
        .operator(
            reqwest::Method::PATCH,
            &api_path,
            Some(json!({"name": "Gmail USA, aged"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (action, who, _, after) = audited(&app, &format!("service:{}", f.gmail_usa)).await;
    assert_eq!(
        (
            action.as_str(),
            who.as_str(),
            &after["name"],
            &after["price"]
        ),
        (
            "service.variant",
            "operator API",
            &json!("Gmail USA, aged"),
            &json!("27.50")
        )
    );
    // The services list shows a product at its primary variant's price.
    let (_, list) = page_of(
        &app,
        &admin,
        &format!("/console/catalogue/services?q={}", f.gmail_usa),
    )
    .await;
    assert!(list.contains("<td class=\"num\">27.50</td>"), "{list}");
    let (_, body) = page_of(&app, &admin, &product).await;
    let (_, service_page) = page_of(&app, &admin, &format!("{page}?lang=ja")).await;
    crate::html_validator::validate(&[
        (product.clone(), body.clone()),
        (page.clone(), service_page),
    ]);
    assert!(
        !body.contains("id=\"price\""),
        "a product's form has no price"
    );
    assert!(body.contains("<td class=\"num variant-price\">27.50</td>"));

    // In Russian: the page, and a refusal in the page's language.
    let (status, body) = in_russian(&app, &admin, &page, None).await;
    assert_eq!(status, 200);
    assert!(body.contains("<html lang=\"ru\">") && body.contains("Показывать покупателям"));
    let (status, body) = in_russian(
        &app,
        &admin,
        &page,
        Some(&[("name", "X"), ("price", "-1"), ("active", "on")]),
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Цена должна быть больше нуля.".to_owned())
    );
    let (status, body) = in_russian(
        &app,
        &admin,
        &format!("{page}/translations"),
        Some(&[("lang", "xx"), ("name", "X")]),
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Неизвестный язык.".to_owned())
    );
    assert_eq!(row(&app, &key, "services", n, "en").await["rate"], "0.75");

    // The change and its audit row are one transaction.
    let a = acting(&app, "admin@test.local", operators::Role::Admin).await;
    let rows = audit_rows(&app, &subject).await;
    break_the_audit_log(db, true).await;
    let change = souk_app::operator_catalogue::ServiceChange {
        price: Some("9.99".into()),
        ..Default::default()
    };
    let refused =
        souk_app::operator_catalogue::edit_service(&app.store, &a, n, &change, app.state.now())
            .await;
    assert!(refused.is_err(), "{refused:?}");
    break_the_audit_log(db, false).await;
    assert_eq!(row(&app, &key, "services", n, "en").await["rate"], "0.75");
    assert_eq!(service().await.rate, 750_000);
    assert_eq!(audit_rows(&app, &subject).await, rows);
    app.stop().await;
});

engine_test!(console_sets_an_imported_services_markup, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (provider, numbers) = connect(&app, &fake, false, 15_000).await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let n = numbers[0];
    let page = format!("/console/catalogue/services/{n}");
    let s = app.store.operator_service(n).await.expect("service");
    assert!(s.is_smm() && s.imported(), "{s:?}");
    let theirs = Money::from_micros(s.provider_rate.expect("their price"));
    let marked = |percent: i64| {
        Markup {
            basis_points: percent * 100,
            round_to: 10_000,
        }
        .apply(theirs)
        .display2()
    };
    assert_eq!(
        row(&app, &key, "services", n, "en").await["rate"],
        marked(20)
    );

    // The form offers the markup, not a price; a price is refused.
    let (_, body) = page_of(&app, &admin, &page).await;
    assert!(body.contains("id=\"markup\"") && !body.contains("id=\"price\""));
    let (status, _, body) = post_as(
        &app,
        &admin,
        &page,
        &[("name", &s.name), ("price", "1.00"), ("active", "on")],
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (
            422,
            "An imported service's price follows its markup".to_owned()
        )
    );
    let (status, _, body) = post_as(
        &app,
        &admin,
        &page,
        &[
            ("name", &s.name),
            ("markup", "-5"),
            ("round", "0.01"),
            ("active", "on"),
        ],
    )
    .await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Markup must be between 0 and 1000 percent".to_owned())
    );
    assert_eq!(
        row(&app, &key, "services", n, "en").await["rate"],
        marked(20)
    );

    // 50 %: buyers see the new price at once, and the provider's next sync keeps it.
    let (status, _, _) = post_as(
        &app,
        &admin,
        &page,
        &[
            ("name", &s.name),
            ("markup", "50"),
            ("round", "0.01"),
            ("active", "on"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        row(&app, &key, "services", n, "en").await["rate"],
        marked(50)
    );
    let (_, who, before, after) = audited(&app, &format!("service:{n}")).await;
    assert_eq!(
        (
            who.as_str(),
            &before["markupPercent"],
            &after["markupPercent"],
            &after["price"]
        ),
        (
            "admin@test.local",
            &json!("20.00"),
            &json!("50.00"),
            &json!(marked(50))
        )
    );
    let (status, synced) = app
        .operator(
            reqwest::Method::POST,
            &format!("/providers/{provider}/sync"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{synced}");
    assert_eq!(
        row(&app, &key, "services", n, "en").await["rate"],
        marked(50)
    );

    // The operator API edits through the same use case, audited as the operator API.
    let (status, body) = app
        .operator(
            reqwest::Method::PATCH,
            &format!("/services/{n}"),
            Some(json!({"markupPercent": "10", "translations": {"name": {"fr": "Abonnés"}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["markupPercent"], &body["price"]),
        (&json!("10.00"), &json!(marked(10)))
    );
    assert_eq!(
        row(&app, &key, "services", n, "en").await["rate"],
        marked(10)
    );
    assert_eq!(
        row(&app, &key, "services", n, "fr").await["name"],
        "Abonnés"
    );
    let (action, who, _, _) = audited(&app, &format!("service:{n}")).await;
    assert_eq!(
        (action.as_str(), who.as_str()),
        ("service.translate", "operator API")
    );
    let (status, body) = app
        .operator(
            reqwest::Method::PATCH,
            &format!("/services/{n}"),
            Some(json!({"price": "1.00"})),
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"error": "An imported service's price follows its markup"})
        )
    );
    app.stop().await;
});

engine_test!(console_shops_screen, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::builder(db).spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let shop_count = || async { app.store.all_shops().await.expect("shops").len() };

    let (status, body) = in_russian(&app, &support, "/console/shops", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Магазины</h1>"));

    // Searched by name or owner's email, a page at a time (50 a page).
    let (status, body) = page_of(&app, &support, "/console/shops?q=nord").await;
    assert_eq!(status, 200);
    assert_eq!(between(&body, "<span id=\"shop-total\">", "</span>"), "1");
    assert!(body.contains(&format!(
        "href=\"/console/shops/{}\">NordAccounts</a>",
        f.nord
    )));
    assert!(!body.contains("BoostLab"));
    let owner = app.user_id("buyer@test.local").await;
    for i in 0..50 {
        app.store
            .create_shop(
                &souk_store::NewShop {
                    owner_id: owner.clone(),
                    name: format!("Bulk shop {i:02}"),
                },
                app.state.now() + i,
            )
            .await
            .expect("shop");
    }
    let (_, body) = page_of(&app, &support, "/console/shops").await;
    assert_eq!(between(&body, "<span id=\"shop-total\">", "</span>"), "52");
    assert_eq!(body.matches("<a href=\"/console/shops/").count(), 50);
    assert!(body.contains("id=\"next-page\""));
    let (_, body) = page_of(&app, &support, "/console/shops?page=2").await;
    assert_eq!(body.matches("<a href=\"/console/shops/").count(), 2);
    assert!(body.contains("id=\"prev-page\"") && !body.contains("id=\"next-page\""));

    // Support reads, with no form; its posts are refused.
    assert!(!body.contains("id=\"shop-new\""));
    let nord_page = format!("/console/shops/{}", f.nord);
    let (status, body) = page_of(&app, &support, &nord_page).await;
    assert_eq!(status, 200);
    assert!(!body.contains("id=\"shop-form\""));
    let before = app.store.shop_record(&f.nord).await.expect("shop");
    let (status, _, _) = post_as(&app, &support, &nord_page, &[("name", "Mine now")]).await;
    assert_eq!(status, 403);
    let (status, _, _) = post_as(
        &app,
        &support,
        "/console/shops",
        &[("name", "Support shop"), ("owner", "buyer@test.local")],
    )
    .await;
    assert_eq!(status, 403);

    // Bad input changes nothing.
    let count = shop_count().await;
    for (fields, error) in [
        (
            vec![("name", " "), ("owner", "buyer@test.local")],
            "name is required",
        ),
        (
            vec![("name", "Fresh"), ("owner", "nobody@test.local")],
            "No such user.",
        ),
        (
            vec![("name", "Fresh"), ("owner", "")],
            "The owner's email is required",
        ),
    ] {
        let (status, _, body) = post_as(&app, &admin, "/console/shops", &fields).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()));
    }
    let (status, _, body) =
        post_as(&app, &admin, &nord_page, &[("name", ""), ("active", "on")]).await;
    assert_eq!((status, alert(&body)), (422, "name is required".to_owned()));
    assert_eq!(
        without_token(
            &app,
            &admin,
            "/console/shops",
            &[("name", "Fresh"), ("owner", "buyer@test.local")]
        )
        .await,
        403
    );
    assert_eq!(
        without_token(&app, &admin, &nord_page, &[("name", "X")]).await,
        403
    );
    assert_eq!(shop_count().await, count);
    assert_eq!(app.store.shop_record(&f.nord).await.expect("shop"), before);

    // An admin opens a shop for the buyer, who becomes a supplier; audited.
    let (status, location, _) = post_as(
        &app,
        &admin,
        "/console/shops",
        &[("name", "Fresh Goods"), ("owner", "Buyer@Test.local")],
    )
    .await;
    assert_eq!(status, 303);
    let id = location
        .strip_prefix("/console/shops/")
        .expect("shop page")
        .to_owned();
    let fresh = app.store.shop_record(&id).await.expect("shop");
    assert_eq!(
        (
            fresh.name.as_str(),
            fresh.owner_email.as_str(),
            fresh.active
        ),
        ("Fresh Goods", "buyer@test.local", true)
    );
    assert_eq!(shop_count().await, count + 1);
    assert_eq!(audited(&app, &format!("shop:{id}")).await.0, "shop.create");
    let supplier = app
        .call(&[("key", &key), ("action", "shops"), ("limit", "0")])
        .await;
    assert!(
        supplier["shops"]
            .as_array()
            .expect("shops")
            .iter()
            .any(|s| s["shopId"] == json!(id)),
        "buyers see the new shop: {supplier}"
    );

    // Renamed and hidden: buyers no longer see it or what it lists; audited.
    let (status, location, _) =
        post_as(&app, &admin, &nord_page, &[("name", "Nordic Accounts")]).await;
    assert_eq!((status, location), (303, nord_page.clone()));
    let after = app.store.shop_record(&f.nord).await.expect("shop");
    assert_eq!(
        (after.name.as_str(), after.active),
        ("Nordic Accounts", false)
    );
    assert_eq!(
        audited(&app, &format!("shop:{}", f.nord)).await,
        (
            "shop.update".to_owned(),
            "admin@test.local".to_owned(),
            json!({"name": "NordAccounts", "active": true}),
            json!({"name": "Nordic Accounts", "active": false}),
        )
    );
    let shops = app
        .call(&[("key", &key), ("action", "shops"), ("limit", "0")])
        .await;
    assert!(
        !shops["shops"]
            .as_array()
            .expect("shops")
            .iter()
            .any(|s| s["shopId"] == json!(f.nord)),
        "{shops}"
    );
    assert_eq!(
        row(&app, &key, "products", f.gmail_usa, "en").await,
        Value::Null
    );
    // The operator API changes shops through the same use case, audited as such.
    let (status, shown) = app
        .operator(
            reqwest::Method::PATCH,
            &format!("/shops/{}", f.nord),
            Some(json!({"active": true})),
        )
        .await;
    assert_eq!(
        (status, &shown["name"], &shown["active"]),
        (200, &json!("Nordic Accounts"), &json!(true))
    );
    assert_eq!(
        audited(&app, &format!("shop:{}", f.nord)).await,
        (
            "shop.update".to_owned(),
            "operator API".to_owned(),
            json!({"name": "Nordic Accounts", "active": false}),
            json!({"name": "Nordic Accounts", "active": true}),
        )
    );
    let (_, list) = page_of(&app, &admin, "/console/shops").await;
    let (_, one) = page_of(&app, &admin, &nord_page).await;
    crate::html_validator::validate(&[("/console/shops".to_owned(), list), (nord_page, one)]);
    app.stop().await;
});

engine_test!(console_reviews_screen, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::builder(db).spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    operator(&app, "owner@test.local", "owner").await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let nord = || async {
        let shops = app
            .call(&[("key", &key), ("action", "shops"), ("limit", "0")])
            .await;
        let s = shops["shops"]
            .as_array()
            .expect("shops")
            .iter()
            .find(|s| s["shopId"] == json!(f.nord))
            .cloned()
            .expect("nord");
        (s["rating"].clone(), s["reviewCount"].clone())
    };
    assert_eq!(nord().await, (json!(4.7), json!(3)));
    let total = |body: &str| between(body, "<span id=\"review-total\">", "</span>");

    let (status, body) = in_russian(&app, &support, "/console/reviews", None).await;
    assert_eq!(status, 200);
    assert!(body.contains("<h1>Отзывы</h1>") && body.contains("Скрыть"));

    // Filters: shop, rating, hidden.
    let (status, body) = page_of(&app, &support, "/console/reviews").await;
    assert_eq!(status, 200);
    assert_eq!(total(&body), "3");
    let (_, body) = page_of(&app, &support, "/console/reviews?rating=4").await;
    assert_eq!(total(&body), "1");
    let (_, body) = page_of(
        &app,
        &support,
        &format!("/console/reviews?shop={}", f.boost),
    )
    .await;
    assert_eq!(total(&body), "0");
    let (_, body) = page_of(
        &app,
        &support,
        &format!("/console/reviews?shop={}&rating=5", f.nord),
    )
    .await;
    assert_eq!(total(&body), "2");
    let (_, body) = page_of(&app, &support, "/console/reviews?hidden=yes").await;
    assert_eq!(total(&body), "0");

    let four = app
        .store
        .console_reviews(
            &ReviewFilter {
                rating: Some(4),
                ..ReviewFilter::default()
            },
            10,
            0,
        )
        .await
        .expect("reviews")
        .0
        .remove(0);
    let target = format!("/console/reviews/{}", four.id);

    // Bad input changes nothing.
    let (status, _, body) = post_as(&app, &support, &target, &[("action", "delete")]).await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Choose hide or show.".to_owned())
    );
    let (status, _, body) = post_as(&app, &support, &target, &[("action", "show")]).await;
    assert_eq!(
        (status, alert(&body)),
        (422, "The review is not hidden".to_owned())
    );
    let (status, _, body) = post_as(
        &app,
        &support,
        "/console/reviews/nope",
        &[("action", "hide")],
    )
    .await;
    assert_eq!((status, alert(&body)), (422, "Not found.".to_owned()));
    assert_eq!(
        without_token(&app, &support, &target, &[("action", "hide")]).await,
        403
    );
    assert_eq!(app.store.review(&four.id).await.expect("review"), four);
    assert_eq!(nord().await, (json!(4.7), json!(3)));

    // Support hides it: the shop's rating and count follow at once; audited.
    let (status, location, _) = post_as(
        &app,
        &support,
        &target,
        &[("action", "hide"), ("back", "rating=4&page=1")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(location, "/console/reviews?shop=&rating=4&hidden=&page=1");
    assert!(app.store.review(&four.id).await.expect("review").hidden);
    assert_eq!(nord().await, (json!(5.0), json!(2)));
    assert_eq!(
        audited(&app, &format!("review:{}", four.id)).await,
        (
            "review.hide".to_owned(),
            "support@test.local".to_owned(),
            json!({"shop": f.nord, "order": null, "rating": 4, "hidden": false}),
            json!({"shop": f.nord, "order": null, "rating": 4, "hidden": true}),
        )
    );
    let (_, body) = page_of(&app, &support, "/console/reviews?hidden=yes").await;
    assert_eq!(total(&body), "1");
    crate::html_validator::validate(&[("/console/reviews?hidden=yes".to_owned(), body.clone())]);
    assert!(body.contains("value=\"show\""));
    let (status, _, body) = post_as(&app, &support, &target, &[("action", "hide")]).await;
    assert_eq!(
        (status, alert(&body)),
        (422, "The review is hidden already".to_owned())
    );

    // Shown again: the rating is back.
    let (status, _, _) = post_as(&app, &support, &target, &[("action", "show")]).await;
    assert_eq!(status, 303);
    assert_eq!(nord().await, (json!(4.7), json!(3)));
    assert_eq!(
        audited(&app, &format!("review:{}", four.id)).await.0,
        "review.show"
    );

    // The operator API lists and moderates through the same use case.
    let (status, body) = app
        .operator(reqwest::Method::GET, "/reviews?rating=9", None)
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "rating must be 1 to 5"}))
    );
    let path = format!("/reviews/{}", four.id);
    let (status, body) = app
        .operator(reqwest::Method::PATCH, &path, Some(json!({"hidden": true})))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["id"], &body["hidden"], &body["rating"]),
        (&json!(four.id), &json!(true), &json!(4))
    );
    assert_eq!(nord().await, (json!(5.0), json!(2)));
    assert_eq!(
        audited(&app, &format!("review:{}", four.id)).await.1,
        "operator API"
    );
    let (status, body) = app
        .operator(
            reqwest::Method::GET,
            &format!("/reviews?shop={}&hidden=true", f.nord),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (&body["total"], &body["reviews"][0]["id"]),
        (&json!(1), &json!(four.id))
    );
    let (status, body) = app
        .operator(reqwest::Method::PATCH, &path, Some(json!({"hidden": true})))
        .await;
    assert_eq!(
        (status, body),
        (400, json!({"error": "The review is hidden already"}))
    );
    app.stop().await;
});

// Each catalogue change and its audit row are one transaction: when the row cannot be
// written, the change does not happen either.
engine_test!(
    catalogue_changes_and_their_audit_rows_are_one_transaction,
    |db| {
        let f = fixtures::load(&db.store().await).await;
        let app = TestApp::builder(db).spawn().await;
        app.buyer("buyer@test.local", "0").await;
        operator(&app, "admin@test.local", "admin").await;
        let a = acting(&app, "admin@test.local", operators::Role::Admin).await;
        let now = app.state.now();
        let category = || {
            souk_app::operator_catalogue::record(&app.store, souk_store::Level::Category, &f.email)
        };
        let (before_category, before_shops, before_service, before_product) = (
            category().await.expect("category"),
            app.store.all_shops().await.expect("shops"),
            app.store
                .operator_service(f.ig_followers)
                .await
                .expect("service"),
            app.store
                .operator_service(f.gmail_usa)
                .await
                .expect("product"),
        );
        let (reviews, _) = app
            .store
            .console_reviews(&ReviewFilter::default(), 10, 0)
            .await
            .expect("reviews");
        let edit = souk_app::operator_catalogue::CategoryEdit {
            name: "Mail".into(),
            description: String::new(),
            position: "9".into(),
            active: true,
            name_ru: "Почта".into(),
        };

        break_the_audit_log(db, true).await;
        let ops = souk_app::operator_catalogue::edit(
            &app.store,
            &a,
            souk_store::Level::Category,
            &f.email,
            &edit,
            now,
        )
        .await;
        assert!(ops.is_err(), "category: {ops:?}");
        let shop = souk_app::shops::update_audited(
            &app.store,
            &a,
            &f.nord,
            Some("Renamed"),
            Some(false),
            now,
        )
        .await;
        assert!(shop.is_err(), "shop: {shop:?}");
        let opened = souk_app::shops::create_audited(
            &app.store,
            &a,
            souk_app::shops::Owner::Email("buyer@test.local".into()),
            "New",
            now,
        )
        .await;
        assert!(opened.is_err(), "new shop: {opened:?}");
        let hidden = souk_app::reviews::set_hidden(&app.store, &a, &reviews[0].id, true, now).await;
        assert!(hidden.is_err(), "review: {hidden:?}");
        let translated = souk_app::operator_catalogue::translate_service(
            &app.store,
            &a,
            f.ig_followers,
            "de",
            "Follower",
            "",
            now,
        )
        .await;
        assert!(translated.is_err(), "translation: {translated:?}");
        let priced = souk_app::operator_catalogue::edit_variant(
            &app.store,
            &a,
            f.gmail_usa,
            &f.gmail_subs[0],
            Some("Renamed"),
            Some("1.00"),
            now,
        )
        .await;
        assert!(priced.is_err(), "variant: {priced:?}");
        break_the_audit_log(db, false).await;

        assert_eq!(category().await.expect("category"), before_category);
        assert_eq!(app.store.all_shops().await.expect("shops"), before_shops);
        assert_eq!(
            app.store.review(&reviews[0].id).await.expect("review"),
            reviews[0]
        );
        assert_eq!(
            app.store
                .operator_service(f.ig_followers)
                .await
                .expect("service"),
            before_service
        );
        assert_eq!(
            app.store
                .operator_service(f.gmail_usa)
                .await
                .expect("product"),
            before_product
        );
        assert_eq!(
            app.store
                .audit_log(None, None, 100)
                .await
                .expect("audit")
                .len(),
            1,
            "only the operator's creation"
        );

        // With the log back, the category edit goes through, audited before and after.
        souk_app::operator_catalogue::edit(
            &app.store,
            &a,
            souk_store::Level::Category,
            &f.email,
            &edit,
            now,
        )
        .await
        .expect("edited");
        let (action, who, before, after) = audited(&app, &format!("category:{}", f.email)).await;
        assert_eq!(
            (
                action.as_str(),
                who.as_str(),
                &before["nameRu"],
                &after["nameRu"],
                &after["name"]
            ),
            (
                "category.update",
                "admin@test.local",
                &json!("Почтовые аккаунты"),
                &json!("Почта"),
                &json!("Mail")
            )
        );
        app.stop().await;
    }
);
