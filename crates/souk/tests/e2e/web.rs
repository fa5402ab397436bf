//! The web pages over plain HTTP: what every page answers, the CSRF wall, the sign-in
//! throttle, refusals that change nothing, cookies' flags and `/openapi.json`.

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::Value;

use crate::engine_test;
use crate::harness::TestApp;

const PASSWORD: &str = "correct horse battery";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .expect("client")
}

/// `name=value` of a `Set-Cookie` header.
fn set_cookie(headers: &HeaderMap, name: &str) -> Option<(String, String)> {
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
fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    html[at..at + 64].to_owned()
}

/// A signed-out visitor: (csrf cookie, csrf token of the form).
async fn visit(app: &TestApp, path: &str) -> (String, String) {
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

async fn form(
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
    let user = app
        .store
        .user_id_by_email("a@example.com")
        .await
        .expect("web test step")
        .expect("web test step");
    let key = app
        .store
        .visible_key(&user)
        .await
        .expect("web test step")
        .expect("web test step");
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
