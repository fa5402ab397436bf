//! The buyer's pages over plain HTTP: the sign-in limit per client address, the ledger
//! rows of `/account` and an SMS activation with its code on `/account/sms`.

use reqwest::header::{COOKIE, LOCATION};
use serde_json::json;

use crate::engine_test;
use crate::harness::{quiet_config, TestApp};
use crate::sms::{add_sms, only_order, push_sms, sms_fixture, GB1};
use crate::supply_kit::{buy, inventory_product, market, ok, post, supplier, upload, As};
use crate::web::{client, page, sign_up, user_of, visit, PASSWORD};

/// The text of each cell of each body row of the table `#id`, tags stripped.
fn table_rows(html: &str, id: &str) -> Vec<Vec<String>> {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no table {id}"));
    let body = &html[at..];
    let body = &body[body.find("<tbody>").expect("tbody")..body.find("</tbody>").expect("end")];
    body.split("<tr")
        .skip(1)
        .map(|row| {
            row.split("<td")
                .skip(1)
                .map(|cell| {
                    let inner = &cell[cell.find('>').expect("td") + 1..];
                    let inner = &inner[..inner.find("</td>").expect("td end")];
                    let mut text = String::new();
                    let mut in_tag = false;
                    for c in inner.chars() {
                        match c {
                            '<' => in_tag = true,
                            '>' => in_tag = false,
                            c if !in_tag => text.push(c),
                            _ => {}
                        }
                    }
                    text
                })
                .collect()
        })
        .collect()
}

/// The operator changes `user`'s balance by `amount`, saying why in `note`.
async fn adjust_balance(app: &TestApp, user: &str, amount: &str, note: &str) {
    ok(
        200,
        post(
            app,
            As::Operator,
            &format!("/api/operator/v1/users/{user}/balance"),
            json!({"amount": amount, "note": note}),
        )
        .await,
    );
}

engine_test!(web_sign_in_is_limited_per_address, |db| {
    // Behind a trusted proxy, so the test can speak from several addresses.
    let app = TestApp::spawn_with(
        db,
        souk_api::ApiConfig {
            trusted_proxy_hops: 1,
            ..quiet_config()
        },
    )
    .await;
    sign_up(&app, "real@example.com").await;
    let (csrf, token) = visit(&app, "/signin").await;
    let attempt = |from: &'static str, email: String, password: &'static str| {
        let (app, csrf, token) = (&app, csrf.clone(), token.clone());
        async move {
            let r = client()
                .post(format!("{}/signin", app.url))
                .header(COOKIE, format!("souk_csrf={csrf}"))
                .header("X-Forwarded-For", from)
                .form(&[
                    ("csrf", token.as_str()),
                    ("email", email.as_str()),
                    ("password", password),
                ])
                .send()
                .await
                .expect("sign in");
            let status = r.status().as_u16();
            let location = r
                .headers()
                .get(LOCATION)
                .map(|v| v.to_str().unwrap_or("").to_owned());
            (status, location, r.text().await.expect("body"))
        }
    };
    // 30 failures from one address, each for another email (under the per-email limit).
    for i in 0..30 {
        let (status, _, html) = attempt(
            "203.0.113.7",
            format!("guess{i}@example.com"),
            "wrong password!",
        )
        .await;
        assert_eq!(status, 401, "attempt {i}");
        assert!(html.contains("Wrong email or password."), "attempt {i}");
    }
    let sessions = db.scalar("SELECT COUNT(*) FROM web_sessions").await;
    // The 31st waits, even with the right password: no session is made.
    let (status, location, html) =
        attempt("203.0.113.7", "real@example.com".into(), PASSWORD).await;
    assert_eq!((status, location), (429, None));
    assert!(
        html.contains("Too many attempts; try again in minutes: 15"),
        "{html}"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM web_sessions").await,
        sessions
    );
    // Another address is not held back by that one.
    let (status, location, _) = attempt("203.0.113.8", "real@example.com".into(), PASSWORD).await;
    assert_eq!((status, location.as_deref()), (303, Some("/account")));
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM web_sessions").await,
        sessions + 1
    );
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_sign_in_limit_is_shared_by_the_nodes, |db| {
    // Two nodes on one database: failures on either count against the same email.
    let a = TestApp::spawn(db).await;
    let b = TestApp::spawn(db).await;
    sign_up(&a, "shared@example.com").await;
    let (csrf, token) = visit(&a, "/signin").await;
    let attempt = |node: &TestApp, password: &'static str| {
        let (url, csrf, token) = (node.url.clone(), csrf.clone(), token.clone());
        async move {
            let r = client()
                .post(format!("{url}/signin"))
                .header(COOKIE, format!("souk_csrf={csrf}"))
                .form(&[
                    ("csrf", token.as_str()),
                    ("email", "shared@example.com"),
                    ("password", password),
                ])
                .send()
                .await
                .expect("sign in");
            r.status().as_u16()
        }
    };
    for i in 0..10 {
        let node = if i % 2 == 0 { &a } else { &b };
        assert_eq!(attempt(node, "wrong password!").await, 401, "attempt {i}");
    }
    // Five failures on each node, ten in all: both now hold the email back.
    assert_eq!(attempt(&a, PASSWORD).await, 429);
    assert_eq!(attempt(&b, PASSWORD).await, 429);
    // No address or email is kept in clear.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM login_attempts WHERE key LIKE '%example.com%' OR key LIKE '%127.0.0.1%'")
            .await,
        0
    );
    // The window runs out (15 minutes), and the right password gets in, on either node.
    a.clock.advance(15 * 60_000);
    b.clock.advance(15 * 60_000);
    assert_eq!(attempt(&b, PASSWORD).await, 303);
    assert_eq!(attempt(&a, PASSWORD).await, 303);
    a.stop().await;
    b.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_account_lists_the_ledger, |db| {
    let app = TestApp::spawn(db).await;
    let session = sign_up(&app, "ledger@example.com").await;
    let (user, key) = user_of(&app, "ledger@example.com").await;
    let (_, page_html) = page(&app, &session, "/account").await;
    assert!(page_html.contains("No balance changes yet."));

    let (_, subcategory) = market(&app).await;
    let (seller, _, _) = supplier(&app, "seller@example.com", "Seller").await;
    let (_, number, subs) = inventory_product(&app, &seller, &subcategory, "Ledger Mail").await;
    ok(200, upload(&app, &seller, &subs[0], "l1\nl2", false).await);
    adjust_balance(&app, &user, "10", "welcome bonus").await;
    let order = buy(&app, &key, number, 2).await;
    adjust_balance(&app, &user, "-1.5", "fee").await;

    let (code, html) = page(&app, &session, "/account").await;
    assert_eq!(code, 200);
    assert!(html.contains("id=\"balance\">3.50<"), "the balance");
    // Newest first; the first cell (when) is left out.
    let rows: Vec<Vec<String>> = table_rows(&html, "ledger")
        .into_iter()
        .map(|r| r[1..].to_vec())
        .collect();
    let row = |cells: [&str; 5]| cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        rows,
        vec![
            row(["adjustment", "−1.50", "3.50", "", "fee"]),
            row(["charge", "−5.00", "5.00", &order.to_string(), ""]),
            row(["top-up", "+10.00", "10.00", "", "welcome bonus"]),
        ]
    );
    // In Russian, the kinds in words.
    let (_, html) = page(&app, &format!("{session}; souk_ui=ru"), "/account").await;
    let kinds: Vec<String> = table_rows(&html, "ledger")
        .into_iter()
        .map(|r| r[1].clone())
        .collect();
    assert_eq!(kinds, vec!["корректировка", "списание", "пополнение"]);
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_account_sms_shows_an_activation_with_its_code, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let session = sign_up(&app, "sms@example.com").await;
    let (user, key) = user_of(&app, "sms@example.com").await;
    let (_, html) = page(&app, &session, "/account/sms").await;
    assert!(html.contains("No activations yet"));
    adjust_balance(&app, &user, "1", "sms").await;
    let (order, phone) =
        only_order(&add_sms(&app, &key, &[("project_id", "tg"), ("country", "gb")]).await);
    assert_eq!(phone, GB1);
    let (_, html) = page(&app, &session, "/account/sms").await;
    let cells = |html: &str| table_rows(html, "sms");
    let waiting = cells(&html);
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(
        waiting[0][..6].to_vec(),
        vec![
            order.to_string(),
            "Telegram · gb".to_owned(),
            GB1.to_owned(),
            "active".to_owned(),
            String::new(),
            String::new()
        ]
    );
    let (status, v) = push_sms(&app, &f, GB1, "Telegram code: 48213").await;
    assert_eq!((status, v["code"].clone()), (200, json!("48213")));

    let (code, html) = page(&app, &session, "/account/sms").await;
    assert_eq!(code, 200);
    assert!(html.contains(&format!("id=\"sms-{order}\"")));
    let got = cells(&html);
    assert_eq!(
        got[0][..7].to_vec(),
        vec![
            order.to_string(),
            "Telegram · gb".to_owned(),
            GB1.to_owned(),
            "code_received".to_owned(),
            "48213".to_owned(),
            "Telegram code: 48213".to_owned(),
            "0.4000 USD".to_owned(),
        ]
    );
    // In Russian, the project's own translation.
    let (_, html) = page(&app, &format!("{session}; souk_ui=ru"), "/account/sms").await;
    assert_eq!(cells(&html)[0][1], "Телеграм · gb");
    // Nobody else sees it.
    let other = sign_up(&app, "other@example.com").await;
    let (_, html) = page(&app, &other, "/account/sms").await;
    assert!(!html.contains("48213") && !html.contains(GB1));
    app.stop().await;
    db.assert_audit_clean().await;
});
