//! The web pages over plain HTTP: what every page answers, the CSRF wall, the sign-in
//! throttle, refusals that change nothing, cookies' flags and `/openapi.json`.

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::engine_test;
use crate::harness::TestApp;

pub(crate) const PASSWORD: &str = "correct horse battery";

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// `name=value` of a `Set-Cookie` header.
pub(crate) fn set_cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(|v| {
            let value = v.split(';').next().unwrap_or("")[name.len() + 1..].to_owned();
            (value, v.to_owned())
        })
}

/// The value of the page's first `name="csrf"` hidden field.
pub(crate) fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    html[at..at + 64].to_owned()
}

/// A signed-out visitor: (csrf cookie, csrf token of the form).
pub(crate) async fn visit(app: &TestApp, path: &str) -> (String, String) {
    let r = client()
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.status(), 200);
    let (cookie, _) = set_cookie(r.headers(), "souk_csrf").expect("csrf cookie");
    let html = r.text().await.expect("web test step");
    let token = csrf_of(&html);
    assert_eq!(cookie, token);
    (cookie, token)
}

pub(crate) async fn form(
    app: &TestApp,
    path: &str,
    cookie: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    client()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .expect("web test step")
}

async fn users(app: &TestApp) -> i64 {
    app.store.audit().await.expect("web test step").users
}

engine_test!(web_pages_answer_and_guard_their_forms, |db| {
    let app = TestApp::spawn(db).await;
    let http = client();

    // The docs page: every action, the error catalogue, security headers.
    let r = http
        .get(format!("{}/", app.url))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .expect("web test step")
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    let html = r.text().await.expect("web test step");
    for action in [
        "categories",
        "services",
        "add",
        "allowcancel",
        "refill",
        "add_sms",
        "sms_status",
    ] {
        assert!(
            html.contains(&format!("id=\"action-{action}\"")),
            "{action} missing"
        );
    }
    for error in [
        "Invalid API key",
        "Service ID is required",
        "Insufficient balance",
        "Incorrect order ID",
    ] {
        assert!(html.contains(error), "{error} missing");
    }
    assert!(html.contains("bn-BD") && html.contains("/openapi.json"));
    let ru = http
        .get(format!("{}/api-docs", app.url))
        .header("Accept-Language", "ru-RU,ru;q=0.9")
        .send()
        .await
        .expect("web test step")
        .text()
        .await
        .expect("web test step");
    assert!(ru.contains("lang=\"ru\"") && ru.contains("Ваш API ключ"));

    // The assets and the OpenAPI document.
    let js = http
        .get(format!("{}/assets/app.js", app.url))
        .send()
        .await
        .expect("web test step");
    assert_eq!(
        js.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        http.get(format!("{}/assets/x.js", app.url))
            .send()
            .await
            .expect("web test step")
            .status(),
        404
    );
    let doc: Value = http
        .get(format!("{}/openapi.json", app.url))
        .send()
        .await
        .expect("web test step")
        .json()
        .await
        .expect("web test step");
    assert!(doc["paths"]["/api/v2"]["post"].is_object());
    assert!(doc["paths"]["/api/admin/v2/orders"].is_object());
    assert!(doc["paths"]["/api/operator/v1/users"].is_object());

    // Unknown paths: JSON under /api/, a page elsewhere.
    let r = http
        .get(format!("{}/api/admin/v2/nope", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.expect("JSON"),
        serde_json::json!({"error": "Not found"})
    );
    let r = http
        .get(format!("{}/nope", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("There is no such page"));

    // Private pages send strangers to sign in; the language switch stays on this site.
    let r = http
        .get(format!("{}/account/orders", app.url))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/signin?next=%2Faccount%2Forders");
    let r = http
        .get(format!("{}/ui/ru?next=//evil.example/", app.url))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.headers()[LOCATION], "/");

    // Forms without the CSRF token, or with another visitor's, change nothing.
    let before = users(&app).await;
    let (cookie, token) = visit(&app, "/signup").await;
    let fields = |csrf: &str| {
        let mut f = vec![
            ("email", "a@example.com"),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ];
        f.push(("csrf", csrf));
        f.into_iter()
            .map(|(k, v)| (k, v.to_owned()))
            .collect::<Vec<_>>()
    };
    let r = http
        .post(format!("{}/signup", app.url))
        .form(&fields(""))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.status(), 403);
    let r = http
        .post(format!("{}/signup", app.url))
        .header(COOKIE, format!("souk_csrf={}", "1".repeat(64)))
        .form(&fields(&token))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.status(), 403, "a token from another visitor");
    assert_eq!(users(&app).await, before);

    // Refused sign-ups say why and create nobody.
    let cookie = format!("souk_csrf={cookie}");
    for (email, password, password2, status, says) in [
        ("not-an-email", PASSWORD, PASSWORD, 422, "valid email"),
        ("a@example.com", "short", "short", 422, "at least 10"),
        (
            "a@example.com",
            PASSWORD,
            "other horse battery",
            422,
            "differ",
        ),
    ] {
        let r = form(
            &app,
            "/signup",
            &cookie,
            &[
                ("csrf", &token),
                ("email", email),
                ("password", password),
                ("password2", password2),
            ],
        )
        .await;
        assert_eq!(r.status(), status, "{email} {password}");
        let html = r.text().await.expect("web test step");
        assert!(html.contains(says), "{says}");
        assert!(!html.contains(password), "the page never echoes a password");
    }
    assert_eq!(users(&app).await, before);

    // A good sign-up: the session cookie is HttpOnly and SameSite.
    let r = form(
        &app,
        "/signup",
        &cookie,
        &[
            ("csrf", &token),
            ("email", "A@Example.com"),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/account");
    let (session, flags) = set_cookie(r.headers(), "souk_session").expect("session cookie");
    assert!(
        flags.contains("HttpOnly") && flags.contains("SameSite=Lax"),
        "{flags}"
    );
    assert_eq!(users(&app).await, before + 1);
    let r = form(
        &app,
        "/signup",
        &cookie,
        &[
            ("csrf", &token),
            ("email", "a@example.com"),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 409, "the email is taken");
    assert_eq!(users(&app).await, before + 1);

    // The account page shows the user's own key, which works on /api/v2.
    let (user, key) = user_of(&app, "a@example.com").await;
    let account = http
        .get(format!("{}/account", app.url))
        .header(COOKIE, format!("souk_session={session}"))
        .send()
        .await
        .expect("web test step");
    assert_eq!(account.headers()["cache-control"], "no-store");
    assert!(account.text().await.expect("web test step").contains(&key));
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await["balance"],
        "0.00"
    );

    // Sign-in: ten wrong passwords, then even the right one waits.
    let (csrf_cookie, token) = visit(&app, "/signin").await;
    let cookie = format!("souk_csrf={csrf_cookie}");
    for _ in 0..10 {
        let r = form(
            &app,
            "/signin",
            &cookie,
            &[
                ("csrf", &token),
                ("email", "a@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
        assert_eq!(r.status(), 401);
        assert!(r
            .text()
            .await
            .expect("web test step")
            .contains("Wrong email or password"));
    }
    let r = form(
        &app,
        "/signin",
        &cookie,
        &[
            ("csrf", &token),
            ("email", "a@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 429);
    assert!(r
        .text()
        .await
        .expect("web test step")
        .contains("Too many attempts"));
    // Another email from the same address is not locked out by that.
    let r = form(
        &app,
        "/signin",
        &cookie,
        &[
            ("csrf", &token),
            ("email", "nobody@example.com"),
            ("password", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 401);

    // A key rotated through the page replaces the old one at once.
    let page = http
        .get(format!("{}/account", app.url))
        .header(COOKIE, format!("souk_session={session}"))
        .send()
        .await
        .expect("web test step")
        .text()
        .await
        .expect("web test step");
    let r = form(
        &app,
        "/account/key",
        &format!("souk_session={session}"),
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(r.status(), 303);
    let new_key = app
        .store
        .visible_key(&user)
        .await
        .expect("web test step")
        .expect("web test step");
    assert_ne!(new_key, key);
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await["error"],
        "Invalid API key"
    );
    assert_eq!(
        app.call(&[("key", &new_key), ("action", "balance")]).await["balance"],
        "0.00"
    );

    // Signing out ends the session on the server.
    let r = form(
        &app,
        "/signout",
        &format!("souk_session={session}"),
        &[("csrf", &csrf_of(&page))],
    )
    .await;
    assert_eq!(r.status(), 303);
    let r = http
        .get(format!("{}/account", app.url))
        .header(COOKIE, format!("souk_session={session}"))
        .send()
        .await
        .expect("web test step");
    assert_eq!(r.status(), 303, "the old cookie no longer signs in");

    app.stop().await;
    db.assert_audit_clean().await;
});

/// Signs up through the pages; returns the session cookie (`souk_session=...`).
pub(crate) async fn sign_up(app: &TestApp, email: &str) -> String {
    let (cookie, token) = visit(app, "/signup").await;
    let r = form(
        app,
        "/signup",
        &format!("souk_csrf={cookie}"),
        &[
            ("csrf", &token),
            ("email", email),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 303);
    let (session, _) = set_cookie(r.headers(), "souk_session").expect("session");
    format!("souk_session={session}")
}

pub(crate) async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = client()
        .get(format!("{}{path}", app.url))
        .header(COOKIE, cookie)
        .send()
        .await
        .expect("page");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// A signed-up user's id and the key their account page shows: (user id, key).
pub(crate) async fn user_of(app: &TestApp, email: &str) -> (String, String) {
    let id = app
        .store
        .user_id_by_email(email)
        .await
        .expect("db")
        .expect("user");
    let key = app
        .store
        .visible_key(&id)
        .await
        .expect("db")
        .expect("web key");
    (id, key)
}

/// The operator opens the shop `name` for the signed-up user `email`, through the
/// operator API; returns that user's key, which now speaks for the shop.
pub(crate) async fn open_shop_for(app: &TestApp, email: &str, name: &str) -> String {
    use crate::supply_kit::{ok, post, As};

    ok(
        201,
        post(
            app,
            As::Operator,
            "/api/operator/v1/shops",
            serde_json::json!({"name": name, "ownerEmail": email}),
        )
        .await,
    );
    user_of(app, email).await.1
}

engine_test!(
    web_desk_delivers_manual_orders_and_refuses_bad_input,
    |db| {
        use crate::supply_kit::{buy, manual_product, market, status, supplier};
        use serde_json::json;

        let app = TestApp::spawn(db).await;
        let (_, sub) = market(&app).await;
        let maker = sign_up(&app, "maker@example.com").await;
        let maker_key = open_shop_for(&app, "maker@example.com", "Maker").await;
        let v = manual_product(&app, &maker_key, &sub, "Hand Made", "1.50").await;
        let number = v["service"].as_i64().expect("service");
        let buyer = app.buyer("buyer@example.com", "100").await;
        let order = buy(&app, &buyer, number, 3).await;
        // Another shop's order, which this desk must not touch.
        let (other_key, _, _) = supplier(&app, "other@example.com", "Other").await;
        let other = manual_product(&app, &other_key, &sub, "Other Hand", "1.00").await;
        let other_order = buy(&app, &buyer, other["service"].as_i64().expect("n"), 1).await;

        // The queue lists this shop's order only; the page shows no buyer's secret.
        let (code, html) = page(&app, &maker, "/desk").await;
        assert_eq!(code, 200);
        if db.kind == crate::harness::Kind::Sqlite {
            crate::html_validator::validate(&[("/desk".to_owned(), html.clone())]);
        }
        assert!(html.contains(&format!("id=\"queue-{order}\"")));
        assert!(!html.contains(&format!("id=\"queue-{other_order}\"")));
        assert!(!html.contains(&buyer) && !html.contains(&other_key));
        let token = csrf_of(&html);

        // Refusals: nothing typed, another shop's order, no token. Nothing changes.
        let r = form(
            &app,
            &format!("/desk/orders/{order}/deliver"),
            &maker,
            &[("csrf", &token), ("accounts", " \n \n")],
        )
        .await;
        assert_eq!(r.status(), 422);
        assert!(r
            .text()
            .await
            .expect("body")
            .contains("at least one account"));
        let r = form(
            &app,
            &format!("/desk/orders/{other_order}/deliver"),
            &maker,
            &[("csrf", &token), ("accounts", "x:y")],
        )
        .await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.expect("body").contains("not found"));
        let r = form(
            &app,
            &format!("/desk/orders/{order}/deliver"),
            &maker,
            &[("accounts", "x:y")],
        )
        .await;
        assert_eq!(r.status(), 403);
        let r = form(
            &app,
            "/desk/withdraw",
            &maker,
            &[("csrf", &token), ("note", "")],
        )
        .await;
        assert_eq!(r.status(), 422, "nothing is available to withdraw yet");
        assert_eq!(status(&app, &buyer, order).await["status"], "Pending");
        assert_eq!(status(&app, &buyer, other_order).await["status"], "Pending");

        // Two accounts delivered through the form, then the rest refunded.
        let r = form(
            &app,
            &format!("/desk/orders/{order}/deliver"),
            &maker,
            &[("csrf", &token), ("accounts", "one:1\r\ntwo:2\r\n")],
        )
        .await;
        assert_eq!(r.status(), 303);
        assert_eq!(r.headers()[LOCATION], format!("/desk?delivered={order}"));
        let s = status(&app, &buyer, order).await;
        assert_eq!(s["accounts"], json!(["one:1", "two:2"]));
        assert_eq!(s["remains"], 1);
        let r = form(
            &app,
            &format!("/desk/orders/{order}/fail"),
            &maker,
            &[("csrf", &token), ("note", "out of stock")],
        )
        .await;
        assert_eq!(r.status(), 303);
        let s = status(&app, &buyer, order).await;
        assert_eq!(s["status"], "Partial");
        assert_eq!(s["charge"], "3.00");

        // The buyer's pages show the accounts; the supplier's never do.
        let (_, html) = page(&app, &maker, "/desk").await;
        assert!(!html.contains("one:1"));
        assert!(html.contains("Earnings"));
        // A buyer without a shop gets no desk.
        let stranger = sign_up(&app, "stranger@example.com").await;
        let (code, _) = page(&app, &stranger, "/desk").await;
        assert_eq!(code, 403);
        let (code, html) = page(&app, &stranger, "/account/orders").await;
        assert_eq!(code, 200);
        assert!(!html.contains("one:1"), "another buyer's accounts");

        app.stop().await;
        db.assert_audit_clean().await;
    }
);

engine_test!(web_desk_withdraws_what_every_shop_has_available, |db| {
    use crate::supply_kit::{
        buy, earnings_withdrawable_at_once, get, market, ok, post, upload, As,
    };
    use serde_json::json;

    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let maker = sign_up(&app, "maker@example.com").await;
    open_shop_for(&app, "maker@example.com", "North").await;
    let key = open_shop_for(&app, "maker@example.com", "South").await;
    let (user, _) = user_of(&app, "maker@example.com").await;
    let shops: Vec<String> = app
        .store
        .shops_of(&user)
        .await
        .expect("shops")
        .into_iter()
        .map(|(id, ..)| id)
        .collect();
    assert_eq!(shops.len(), 2);
    earnings_withdrawable_at_once(&app).await;
    let buyer = app.buyer("buyer@example.com", "100").await;
    for (shop, price) in shops.iter().zip(["2.00", "3.00"]) {
        let v = ok(
            201,
            post(
                &app,
                As::Key(&key),
                "/api/admin/v2/products",
                json!({"name": format!("Mail {price}"), "subcategoryId": sub, "type": "inventory",
                       "shopId": shop, "subproducts": [{"name": "One", "price": price, "max": 5}]}),
            )
            .await,
        );
        let subproduct = v["subproducts"][0]["subproductId"].as_str().expect("id");
        ok(200, upload(&app, &key, subproduct, "a:1\n", false).await);
        buy(&app, &buyer, v["service"].as_i64().expect("service"), 1).await;
    }

    let (_, html) = page(&app, &maker, "/desk").await;
    let token = csrf_of(&html);
    let fields = [("csrf", token.as_str()), ("note", "all")];
    let withdraw = || form(&app, "/desk/withdraw", &maker, &fields);
    let r = withdraw().await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()[LOCATION], "/desk?withdrawal=2");
    let listed = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/withdrawals").await,
    );
    let mut by_shop: Vec<(String, String)> = listed["withdrawals"]
        .as_array()
        .expect("withdrawals")
        .iter()
        .map(|w| {
            (
                w["shopId"].as_str().expect("shop").to_owned(),
                w["amount"].as_str().expect("amount").to_owned(),
            )
        })
        .collect();
    by_shop.sort();
    let mut expected = vec![
        (shops[0].clone(), "1.80".to_owned()),
        (shops[1].clone(), "2.70".to_owned()),
    ];
    expected.sort();
    assert_eq!(
        by_shop, expected,
        "one withdrawal per shop, each its own earnings"
    );
    let v = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(v["summary"]["available"], "0.00");
    assert_eq!(v["summary"]["requested"], "4.50");
    // Nothing left anywhere: refused, visibly, and nothing more requested.
    let r = withdraw().await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("Nothing is available to withdraw yet"));
    let listed = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/withdrawals").await,
    );
    assert_eq!(listed["withdrawals"].as_array().map(Vec::len), Some(2));

    app.stop().await;
    db.assert_audit_clean().await;
});

/// What follows the value in each cookie a visitor gets from `base` with `headers`: the
/// sign-up page's CSRF cookie, a sign-up's session cookie and the language switch's.
async fn cookie_flags(base: &str, headers: &[(&str, &str)], email: &str) -> [String; 3] {
    let http = client();
    let with = |mut r: reqwest::RequestBuilder| {
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r
    };
    let flags = |r: &reqwest::Response, name: &str| {
        let (_, full) = set_cookie(r.headers(), name).unwrap_or_else(|| panic!("{name} set"));
        full.split_once(';')
            .map(|(_, f)| f.to_owned())
            .unwrap_or_default()
    };
    let r = with(http.get(format!("{base}/signup")))
        .send()
        .await
        .expect("signup page");
    assert_eq!(r.status(), 200);
    let csrf = flags(&r, "souk_csrf");
    let (cookie, _) = set_cookie(r.headers(), "souk_csrf").expect("csrf");
    let token = csrf_of(&r.text().await.expect("body"));
    let r = with(http.post(format!("{base}/signup")))
        .header(COOKIE, format!("souk_csrf={cookie}"))
        .form(&[
            ("csrf", token.as_str()),
            ("email", email),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ])
        .send()
        .await
        .expect("signup");
    assert_eq!(r.status(), 303, "{email} signed up");
    let session = flags(&r, "souk_session");
    let r = with(http.get(format!("{base}/ui/ru?next=/")))
        .send()
        .await
        .expect("switch");
    assert_eq!(r.status(), 303);
    [csrf, session, flags(&r, "souk_ui")]
}

fn expected_flags(secure: bool) -> [String; 3] {
    let s = if secure { "; Secure" } else { "" };
    [
        format!(" Path=/; Max-Age=86400; HttpOnly; SameSite=Lax{s}"),
        format!(" Path=/; Max-Age=2592000; HttpOnly; SameSite=Lax{s}"),
        format!(" Path=/; Max-Age=31536000; HttpOnly; SameSite=Lax{s}"),
    ]
}

engine_test!(
    web_cookies_are_secure_exactly_when_the_request_came_over_https,
    |db| {
        use crate::harness::ServerProcess;

        // Plain HTTP to a LAN address: a Secure cookie would be dropped by the browser and
        // nobody could sign in, so there is none; a forged X-Forwarded-Proto changes nothing.
        let app = TestApp::spawn(db).await;
        let lan = [("Host", "10.0.0.5:8080")];
        assert_eq!(
            cookie_flags(&app.url, &lan, "lan@example.com").await,
            expected_flags(false)
        );
        let forged = [("Host", "10.0.0.5:8080"), ("X-Forwarded-Proto", "https")];
        assert_eq!(
            cookie_flags(&app.url, &forged, "forged@example.com").await,
            expected_flags(false)
        );
        app.stop().await;

        // Behind a trusted proxy the proxy's word counts: https gets Secure, http does not.
        let proxied = ServerProcess::spawn_with_env(db, &[("SOUK_TRUST_PROXY", "1")]).await;
        let https = [("Host", "shop.example"), ("X-Forwarded-Proto", "https")];
        assert_eq!(
            cookie_flags(&proxied.url, &https, "https@example.com").await,
            expected_flags(true)
        );
        let http = [("Host", "shop.example"), ("X-Forwarded-Proto", "http")];
        assert_eq!(
            cookie_flags(&proxied.url, &http, "http@example.com").await,
            expected_flags(false)
        );
        proxied.stop();

        // SOUK_COOKIE_SECURE=1: always, even on plain HTTP to loopback.
        let always = ServerProcess::spawn_with_env(db, &[("SOUK_COOKIE_SECURE", "1")]).await;
        assert_eq!(
            cookie_flags(&always.url, &[], "always@example.com").await,
            expected_flags(true)
        );
        always.stop();
        db.assert_audit_clean().await;
    }
);

engine_test!(
    web_pages_show_the_web_key_beside_newer_operator_keys,
    |db| {
        use crate::supply_kit::{ok, post, As};

        let app = TestApp::spawn(db).await;
        let session = sign_up(&app, "keys@example.com").await;
        let (user, web_key) = user_of(&app, "keys@example.com").await;
        // A newer key from the operator exists only as a digest; it must not hide the web one.
        app.clock.advance(1_000);
        let made = ok(
            201,
            post(
                &app,
                As::Operator,
                &format!("/api/operator/v1/users/{user}/keys"),
                serde_json::json!({"label": "ops"}),
            )
            .await,
        );
        let operator_key = made["key"].as_str().expect("key").to_owned();
        assert_ne!(operator_key, web_key);
        assert_eq!(
            app.store.visible_key(&user).await.expect("db").as_deref(),
            Some(web_key.as_str())
        );
        for path in ["/account", "/api-docs"] {
            let (code, html) = page(&app, &session, path).await;
            assert_eq!(code, 200);
            assert!(html.contains(&web_key), "{path} shows the web key");
            assert!(
                !html.contains(&operator_key),
                "{path} never shows the operator's"
            );
        }
        for key in [&web_key, &operator_key] {
            assert_eq!(
                app.call(&[("key", key), ("action", "balance")]).await["balance"],
                "0.00"
            );
        }
        app.stop().await;
        db.assert_audit_clean().await;
    }
);
