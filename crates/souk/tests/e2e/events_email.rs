//! E-mail through the operator's SMTP relay (an in-process SMTP sink here): the relay's
//! settings on the operator API and the CLI, a password reset end to end over HTTP, its
//! links single-use, expiring and kept as digests, the same answer for an unknown
//! address, the sign-up's verification link, events chosen for e-mail arriving, a 4xx
//! retried and a 5xx failing one message, and every refused input changing nothing.

use std::process::Command;

use reqwest::header::{COOKIE, LOCATION};
use reqwest::Method;
use serde_json::{json, Value};
use souk_core::event::{self, OPERATOR};
use souk_fakes::smtp::{Received, SmtpSink};

use crate::engine_test;
use crate::harness::{TestApp, TestDb, DATA_KEY};
use crate::web::{client, csrf_of, form, page, set_cookie, sign_up, visit, PASSWORD};

const NEW_PASSWORD: &str = "a brand new passphrase";

/// The relay set to the sink, on.
async fn smtp_on(app: &TestApp, sink: &SmtpSink) {
    let (status, body) = app
        .operator(
            Method::PUT,
            "/notifiers/smtp",
            Some(json!({
                "host": sink.host(),
                "port": sink.port(),
                "security": "plain",
                "from": "Souk Shop <shop@souk.test>",
                "operator_email": "ops@souk.test",
                "site_url": app.url,
                "enabled": true,
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The first link in `mail` whose path is `path`.
fn link_in(mail: &Received, path: &str) -> String {
    let text = mail.text();
    text.split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        .to_owned()
}

fn token_of(link: &str) -> String {
    link.split("token=").nth(1).expect("token").to_owned()
}

/// The path and query of a link to `app`.
fn local(app: &TestApp, link: &str) -> String {
    link.strip_prefix(&app.url)
        .unwrap_or_else(|| panic!("{link} is not on {}", app.url))
        .to_owned()
}

/// `POST /password/forgot` as a signed-out visitor: (status, body).
async fn forgot(app: &TestApp, email: &str) -> (u16, String) {
    // The sign-in page's token (the forgot page has no form while e-mail is off).
    let (cookie, token) = visit(app, "/signin").await;
    let r = form(
        app,
        "/password/forgot",
        &format!("souk_csrf={cookie}"),
        &[("csrf", &token), ("email", email)],
    )
    .await;
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Follows a reset link and sets `password` twice: the response.
async fn reset_with(
    app: &TestApp,
    link: &str,
    password: &str,
    repeated: &str,
) -> reqwest::Response {
    let (cookie, csrf) = visit(app, "/signin").await;
    let token = token_of(link);
    // The form the link opens, when it is live, carries the token.
    let r = client()
        .get(format!("{}{}", app.url, local(app, link)))
        .header(COOKIE, format!("souk_csrf={cookie}"))
        .send()
        .await
        .expect("reset page");
    if r.status() == 200 {
        let html = r.text().await.expect("body");
        assert!(
            html.contains(&format!("name=\"token\" value=\"{token}\"")),
            "{html}"
        );
        assert_eq!(csrf_of(&html), csrf);
    }
    form(
        app,
        "/password/reset",
        &format!("souk_csrf={cookie}"),
        &[
            ("csrf", &csrf),
            ("token", &token),
            ("password", password),
            ("password2", repeated),
        ],
    )
    .await
}

/// Signs in through the form: the status (303 when it worked).
async fn sign_in(app: &TestApp, email: &str, password: &str) -> u16 {
    let (cookie, token) = visit(app, "/signin").await;
    form(
        app,
        "/signin",
        &format!("souk_csrf={cookie}"),
        &[("csrf", &token), ("email", email), ("password", password)],
    )
    .await
    .status()
    .as_u16()
}

/// Mails `to` got whose subject is `subject`.
fn mails(sink: &SmtpSink, to: &str, subject: &str) -> Vec<Received> {
    sink.received_by(to)
        .into_iter()
        .filter(|m| m.subject() == subject)
        .collect()
}

async fn count(db: &TestDb, sql: &str) -> i64 {
    db.scalar(sql).await
}

engine_test!(email_password_reset_end_to_end, |db| {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    smtp_on(&app, &sink).await;
    let email = "reset@souk.test";
    let old_session = sign_up(&app, email).await;

    // The sign-in page links to the forgot page.
    let (_, signin) = page(&app, "", "/signin").await;
    assert!(signin.contains("href=\"/password/forgot\""), "{signin}");

    let (status, body) = forgot(&app, email).await;
    assert_eq!(status, 200);
    assert!(body.contains("If this address has an account"), "{body}");
    app.run_deliveries().await;
    let got = mails(&sink, email, "Reset your password");
    assert_eq!(got.len(), 1, "{:?}", sink.received());
    assert_eq!(got[0].from, "shop@souk.test");
    let link = link_in(&got[0], "/password/reset");
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", app.url)),
        "{link}"
    );
    let token = token_of(&link);
    assert_eq!(token.len(), 64);

    // Kept as a digest only: the clear token is in no row.
    let digest = souk_store::crypto::digest_secret(&token);
    assert_eq!(
        count(db, &format!("SELECT COUNT(*) FROM user_tokens WHERE digest = '{digest}' AND purpose = 'password_reset'")).await,
        1
    );
    assert_eq!(
        count(
            db,
            &format!(
                "SELECT COUNT(*) FROM user_tokens WHERE digest = '{token}' OR audience = '{token}'"
            )
        )
        .await,
        0
    );

    // The link opens the form; the new password signs in, the old session is over.
    let r = reset_with(&app, &link, NEW_PASSWORD, NEW_PASSWORD).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers().get(LOCATION).expect("location"), "/account");
    let (session, _) = set_cookie(r.headers(), "souk_session").expect("signed in");
    let (status, _) = page(&app, &format!("souk_session={session}"), "/account").await;
    assert_eq!(status, 200);
    let (status, _) = page(&app, &old_session, "/account").await;
    assert_eq!(status, 303, "the session from before the reset ended");
    assert_eq!(sign_in(&app, email, PASSWORD).await, 401);
    assert_eq!(sign_in(&app, email, NEW_PASSWORD).await, 303);

    // Once only.
    let again = reset_with(&app, &link, "yet another password", "yet another password").await;
    assert_eq!(again.status(), 400);
    assert!(again
        .text()
        .await
        .expect("body")
        .contains("This link does not work"));
    assert_eq!(sign_in(&app, email, NEW_PASSWORD).await, 303);
    app.stop().await;
});

engine_test!(
    email_reset_links_expire_and_a_used_one_ends_the_others,
    |db| {
        let sink = SmtpSink::start().await;
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        smtp_on(&app, &sink).await;
        let email = "expire@souk.test";
        sign_up(&app, email).await;
        for _ in 0..2 {
            assert_eq!(forgot(&app, email).await.0, 200);
        }
        app.run_deliveries().await;
        let got = mails(&sink, email, "Reset your password");
        assert_eq!(got.len(), 2);
        let (first, second) = (
            link_in(&got[0], "/password/reset"),
            link_in(&got[1], "/password/reset"),
        );
        assert_ne!(first, second);
        // Using the second ends the first, within its hour.
        assert_eq!(
            reset_with(&app, &second, NEW_PASSWORD, NEW_PASSWORD)
                .await
                .status(),
            303
        );
        let (status, html) = page(&app, "", &local(&app, &first)).await;
        assert_eq!(status, 400, "{html}");

        // A link works for an hour.
        sink.clear();
        assert_eq!(forgot(&app, email).await.0, 200);
        app.run_deliveries().await;
        let third = link_in(
            &mails(&sink, email, "Reset your password")[0],
            "/password/reset",
        );
        app.clock.advance(59 * 60_000);
        assert_eq!(page(&app, "", &local(&app, &third)).await.0, 200);
        app.clock.advance(2 * 60_000);
        assert_eq!(page(&app, "", &local(&app, &third)).await.0, 400);
        let late = reset_with(&app, &third, "too late a password", "too late a password").await;
        assert_eq!(late.status(), 400);
        assert_eq!(sign_in(&app, email, NEW_PASSWORD).await, 303);
        app.stop().await;
    }
);

engine_test!(email_unknown_addresses_and_bad_input_change_nothing, |db| {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;

    // With SMTP off: the forgot page says so, sign-up sends nothing.
    let (status, html) = page(&app, "", "/password/forgot").await;
    assert_eq!(status, 200);
    assert!(html.contains("not available"), "{html}");
    assert!(!html.contains("id=\"forgot-form\""));
    let session = sign_up(&app, "quiet@souk.test").await;
    let (_, account) = page(&app, &session, "/account").await;
    assert!(!account.contains("email-unverified"));
    assert_eq!(forgot(&app, "quiet@souk.test").await.0, 503);
    assert_eq!(count(db, "SELECT COUNT(*) FROM notifications").await, 0);
    assert_eq!(count(db, "SELECT COUNT(*) FROM user_tokens").await, 0);

    smtp_on(&app, &sink).await;
    let email = "known@souk.test";
    sign_up(&app, email).await;
    app.run_deliveries().await;
    sink.clear();
    let tokens = count(db, "SELECT COUNT(*) FROM user_tokens").await;

    // Known and unknown addresses get the same page.
    let (known_status, known) = forgot(&app, email).await;
    let (unknown_status, unknown) = forgot(&app, "nobody@souk.test").await;
    assert_eq!((known_status, unknown_status), (200, 200));
    let notice = |html: &str| {
        let at = html.find("id=\"notice\"").expect("notice");
        html[at..at + 200].to_owned()
    };
    assert_eq!(notice(&known), notice(&unknown));
    app.run_deliveries().await;
    assert_eq!(
        sink.received().len(),
        1,
        "only the known address gets a mail"
    );
    assert!(sink.received_by("nobody@souk.test").is_empty());
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM user_tokens").await,
        tokens + 1
    );
    sink.clear();
    let tokens = tokens + 1;

    // A bad address is said so; no CSRF token is refused; neither makes a link.
    let (status, html) = forgot(&app, "not an address").await;
    assert_eq!(status, 422);
    assert!(html.contains("Enter a valid email address"));
    let (cookie, _) = visit(&app, "/signin").await;
    let r = form(
        &app,
        "/password/forgot",
        &format!("souk_csrf={cookie}"),
        &[("email", email)],
    )
    .await;
    assert_eq!(r.status(), 403);
    let r = form(
        &app,
        "/password/forgot",
        &format!("souk_csrf={cookie}"),
        &[("csrf", &"0".repeat(64)), ("email", email)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(count(db, "SELECT COUNT(*) FROM user_tokens").await, tokens);

    // The reset form: mismatched, short, no CSRF, bad token: nothing changes.
    assert_eq!(forgot(&app, email).await.0, 200);
    app.run_deliveries().await;
    let link = link_in(
        &mails(&sink, email, "Reset your password")[0],
        "/password/reset",
    );
    let r = reset_with(&app, &link, NEW_PASSWORD, "something else entirely").await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("The two passwords differ"));
    let r = reset_with(&app, &link, "short", "short").await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .expect("body")
        .contains("at least 10 characters"));
    let (cookie, _) = visit(&app, "/signin").await;
    let r = form(
        &app,
        "/password/reset",
        &format!("souk_csrf={cookie}"),
        &[
            ("token", &token_of(&link)),
            ("password", NEW_PASSWORD),
            ("password2", NEW_PASSWORD),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
    let (cookie, csrf) = visit(&app, "/signin").await;
    for bad in ["", "zz", &"a".repeat(64), &format!("{}x", token_of(&link))] {
        let r = form(
            &app,
            "/password/reset",
            &format!("souk_csrf={cookie}"),
            &[
                ("csrf", &csrf),
                ("token", bad),
                ("password", NEW_PASSWORD),
                ("password2", NEW_PASSWORD),
            ],
        )
        .await;
        assert_eq!(r.status(), 400, "token {bad:?}");
        assert_eq!(
            page(&app, "", &format!("/password/reset?token={bad}"))
                .await
                .0,
            400
        );
    }
    assert_eq!(
        sign_in(&app, email, PASSWORD).await,
        303,
        "the password is unchanged"
    );
    // The link still works after all that.
    assert_eq!(
        reset_with(&app, &link, NEW_PASSWORD, NEW_PASSWORD)
            .await
            .status(),
        303
    );
    app.stop().await;
});

engine_test!(email_sign_up_sends_a_verification_link, |db| {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    smtp_on(&app, &sink).await;
    let email = "verify@souk.test";
    let session = sign_up(&app, email).await;
    let (_, account) = page(&app, &session, "/account").await;
    assert!(account.contains("id=\"email-unverified\""), "{account}");

    // A resend asks for a second link; both work until one is used.
    let r = form(
        &app,
        "/account/verify",
        &session,
        &[("csrf", &csrf_of(&account))],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = form(&app, "/account/verify", &session, &[]).await;
    assert_eq!(r.status(), 403, "no CSRF token");
    app.run_deliveries().await;
    let got = mails(&sink, email, "Confirm your e-mail address");
    assert_eq!(got.len(), 2, "{:?}", sink.received());
    let link = link_in(&got[0], "/email/verify");
    let user = app
        .store
        .user_id_by_email(email)
        .await
        .expect("db")
        .expect("user");
    assert_eq!(app.store.email_verified_at(&user).await.expect("db"), None);

    let (status, html) = page(&app, "", &local(&app, &link)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("is confirmed"));
    assert!(app
        .store
        .email_verified_at(&user)
        .await
        .expect("db")
        .is_some());
    let (_, account) = page(&app, &session, "/account").await;
    assert!(!account.contains("email-unverified"));
    // Used once; a bad token is no check.
    assert_eq!(page(&app, "", &local(&app, &link)).await.0, 400);
    assert_eq!(page(&app, "", "/email/verify?token=nope").await.0, 400);
    assert_eq!(page(&app, "", "/email/verify").await.0, 400);
    // A resend once verified sends nothing.
    let r = form(
        &app,
        "/account/verify",
        &session,
        &[("csrf", &csrf_of(&account))],
    )
    .await;
    assert_eq!(r.status(), 200);
    sink.clear();
    app.run_deliveries().await;
    assert!(sink.received().is_empty());
    app.stop().await;
});

engine_test!(email_events_arrive_and_failures_are_retried, |db| {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    smtp_on(&app, &sink).await;
    app.buyer("events@souk.test", "10").await;
    let user = app
        .store
        .user_id_by_email("events@souk.test")
        .await
        .expect("db")
        .expect("user");
    app.store
        .set_notification_prefs(&user, "email", &[event::ORDER_COMPLETED.to_owned()])
        .await
        .expect("prefs");
    app.store
        .set_notification_prefs(OPERATOR, "email", &[event::JOB_PARKED.to_owned()])
        .await
        .expect("prefs");
    let now = app.state.now();
    let data = json!({"order": 12, "status": "Completed", "quantity": 3, "charge": "1.50"});
    assert!(app
        .store
        .record_event(&user, event::ORDER_COMPLETED, "order:12", &data, now)
        .await
        .expect("record"));
    // Not chosen: not even recorded.
    assert!(!app
        .store
        .record_event(&user, event::ORDER_CANCELED, "order:13", &data, now)
        .await
        .expect("record"));
    let parked = json!({"job": 5, "kind": "order.forward", "error": "upstream down"});
    assert!(app
        .store
        .record_event(OPERATOR, event::JOB_PARKED, "job:5", &parked, now)
        .await
        .expect("record"));
    app.run_deliveries().await;

    let got = sink.received_by("events@souk.test");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subject(), "Order completed");
    let text = got[0].text();
    assert!(
        text.contains("order: 12") && text.contains("charge: 1.50"),
        "{text}"
    );
    let ops = sink.received_by("ops@souk.test");
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0].subject(), "Job parked");
    assert!(ops[0].text().contains("error: upstream down"));
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM notifications WHERE state = 'sent'"
        )
        .await,
        2
    );

    // In the user's language.
    app.store.set_user_lang(&user, "ru").await.expect("lang");
    sink.clear();
    app.store
        .record_event(
            &user,
            event::ORDER_COMPLETED,
            "order:13",
            &data,
            app.state.now(),
        )
        .await
        .expect("record");
    app.run_deliveries().await;
    let got = sink.received_by("events@souk.test");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].subject(), "Заказ выполнен");
    assert!(
        got[0].text().contains("Событие order.completed"),
        "{}",
        got[0].text()
    );
    app.store.set_user_lang(&user, "en").await.expect("lang");

    // A 4xx: the message waits a minute and goes, the one after it waits behind it.
    sink.clear();
    sink.refuse_next(1, "451 4.3.0 try again later");
    app.store
        .record_event(
            &user,
            event::ORDER_COMPLETED,
            "order:14",
            &data,
            app.state.now(),
        )
        .await
        .expect("record");
    app.store
        .record_event(
            &user,
            event::ORDER_COMPLETED,
            "order:15",
            &data,
            app.state.now(),
        )
        .await
        .expect("record");
    app.run_deliveries().await;
    assert_eq!(sink.refused().len(), 1);
    assert!(sink.received().is_empty());
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM notifications WHERE state = 'pending' AND attempts = 1 AND last_error LIKE '%try again later%'").await,
        1
    );
    app.run_deliveries().await;
    assert!(sink.received().is_empty(), "not before its time");
    app.clock.advance(61_000);
    app.run_deliveries().await;
    assert_eq!(sink.received().len(), 2);
    assert_eq!(
        count(
            db,
            "SELECT COUNT(*) FROM notifications WHERE state = 'pending'"
        )
        .await,
        0
    );

    // A 5xx fails that message only.
    sink.clear();
    sink.refuse_next(1, "550 5.1.1 mailbox unavailable");
    app.store
        .record_event(
            &user,
            event::ORDER_COMPLETED,
            "order:16",
            &data,
            app.state.now(),
        )
        .await
        .expect("record");
    app.store
        .record_event(
            &user,
            event::ORDER_COMPLETED,
            "order:17",
            &data,
            app.state.now(),
        )
        .await
        .expect("record");
    app.run_deliveries().await;
    assert_eq!(sink.received().len(), 1);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM notifications WHERE state = 'failed' AND last_error LIKE '%mailbox unavailable%'").await,
        1
    );
    app.stop().await;
});

engine_test!(email_operator_settings_refuse_bad_input, |db| {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let (status, before) = app.operator(Method::GET, "/notifiers/smtp", None).await;
    assert_eq!(status, 200);
    assert_eq!(before["enabled"], false);
    let (status, body) = app
        .operator(
            Method::POST,
            "/notifiers/smtp/test",
            Some(json!({"to": "a@souk.test"})),
        )
        .await;
    assert_eq!(status, 409, "not set up: {body}");

    let (status, set) = app
        .operator(
            Method::PUT,
            "/notifiers/smtp",
            Some(json!({
                "host": sink.host(), "port": sink.port(), "security": "plain",
                "username": "mailer", "password": "s3cret-pass",
                "from": "shop@souk.test", "operator_email": "Ops@Souk.test",
            })),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["has_password"], true);
    assert_eq!(set["operator_email"], "ops@souk.test");
    assert_eq!(set["enabled"], false);
    assert!(set.get("password").is_none());
    assert!(!set.to_string().contains("s3cret-pass"));
    // Authentication needs a relay that offers it: without a password, the sink takes it.
    let (status, set) = app
        .operator(
            Method::PUT,
            "/notifiers/smtp",
            Some(json!({"username": "", "password": ""})),
        )
        .await;
    assert_eq!(status, 200, "{set}");
    assert_eq!(set["has_password"], false);

    let bad: Vec<(Value, &str)> = vec![
        (json!({"host": "smtp://mail.example.com"}), "host"),
        (json!({"host": "mail.example.com:587"}), "host"),
        (json!({"host": ""}), "host"),
        (json!({"port": 0}), "port"),
        (json!({"port": 70000}), ""),
        (json!({"port": "587"}), ""),
        (json!({"security": "ssl"}), "security"),
        (json!({"from": "not an address"}), "from"),
        (json!({"operator_email": "nope"}), "operator_email"),
        (json!({"username": "only-a-user"}), "together"),
        (json!({"password": "only-a-password"}), "together"),
        (
            json!({"password": "bad\u{7}password", "username": "u"}),
            "password",
        ),
        (json!({"colour": "blue"}), ""),
    ];
    for (body, says) in bad {
        let (status, answer) = app
            .operator(Method::PUT, "/notifiers/smtp", Some(body.clone()))
            .await;
        assert_eq!(status, 400, "{body} -> {answer}");
        let error = answer["error"].as_str().expect("error");
        assert!(error.contains(says), "{body}: {error}");
        assert_eq!(
            app.operator(Method::GET, "/notifiers/smtp", None).await.1,
            set,
            "{body} changed nothing"
        );
    }
    // Enabling needs a host and a sender; the test endpoint checks its address.
    let (status, answer) = app
        .operator(
            Method::POST,
            "/notifiers/smtp/test",
            Some(json!({"to": "not an address"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = app
        .operator(Method::POST, "/notifiers/smtp/test", Some(json!({})))
        .await;
    assert_eq!(status, 400);
    assert!(sink.received().is_empty());

    // The test e-mail goes while mail is still off; a refusal is a 409 with its reason.
    let (status, answer) = app
        .operator(
            Method::POST,
            "/notifiers/smtp/test",
            Some(json!({"to": "ops@souk.test"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(sink.received_by("ops@souk.test").len(), 1);
    sink.refuse_next(1, "554 5.7.1 relaying denied");
    let (status, answer) = app
        .operator(
            Method::POST,
            "/notifiers/smtp/test",
            Some(json!({"to": "ops@souk.test"})),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .expect("error")
            .contains("relaying denied"),
        "{answer}"
    );

    // Plain to a public relay is refused before anything is sent.
    let (status, _) = app
        .operator(
            Method::PUT,
            "/notifiers/smtp",
            Some(json!({"host": "1.1.1.1", "port": 25})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = app
        .operator(
            Method::POST,
            "/notifiers/smtp/test",
            Some(json!({"to": "ops@souk.test"})),
        )
        .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["error"].as_str().expect("error").contains("plain"),
        "{answer}"
    );
    app.stop().await;
});

/// Runs `souk ARGS` on the test database with the test data key and `env`.
fn souk(db: &TestDb, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(DATA_KEY))
        .env_remove("SOUK_KEY_FILE")
        .env_remove("SOUK_SMTP_PASSWORD")
        .envs(env.iter().copied())
        .env("SOUK_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

engine_test!(email_admin_smtp_commands, |db| {
    let sink = SmtpSink::start().await;
    let port = sink.port().to_string();
    let (ok, out, err) = souk(
        db,
        &[
            ("SOUK_SMTP_PASSWORD", "from-the-env"),
            ("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1"),
        ],
        &[
            "admin",
            "smtp",
            "set",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--security",
            "plain",
            "--username",
            "mailer",
            "--from",
            "shop@souk.test",
            "--enable",
        ],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("smtp enabled 127.0.0.1"), "{out}");
    assert!(
        out.contains("password set") && !out.contains("from-the-env"),
        "{out}"
    );
    let store = db.store().await;
    let stored = store.smtp_notifier().await.expect("db").expect("set");
    assert!(stored.config.contains("from-the-env"));
    // Sealed at rest: the password is not in the row as text.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM notifiers WHERE id = 'smtp' AND enabled")
            .await,
        1
    );

    let (ok, _, err) = souk(db, &[], &["admin", "smtp", "set", "--security", "ssl"]);
    assert!(!ok && err.contains("security must be one of"), "{err}");
    let (ok, out, _) = souk(
        db,
        &[("SOUK_SMTP_PASSWORD", "")],
        &["admin", "smtp", "set", "--username", ""],
    );
    assert!(ok, "{out}");
    assert!(out.contains("no authentication"), "{out}");

    let env = [("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1")];
    let (ok, out, err) = souk(
        db,
        &env,
        &["admin", "smtp", "test", "--to", "cli@souk.test"],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("test e-mail sent to cli@souk.test"));
    assert_eq!(sink.received_by("cli@souk.test").len(), 1);
    let (ok, _, err) = souk(db, &env, &["admin", "smtp", "test", "--to", "nope"]);
    assert!(!ok && err.contains("to must be an e-mail address"), "{err}");
    sink.refuse_next(1, "550 5.1.1 no such user");
    let (ok, _, err) = souk(
        db,
        &env,
        &["admin", "smtp", "test", "--to", "cli@souk.test"],
    );
    assert!(!ok && err.contains("no such user"), "{err}");
    let (ok, out, _) = souk(db, &[], &["admin", "smtp", "show"]);
    assert!(ok && out.contains("smtp enabled"), "{out}");
    store.close().await;
});

engine_test!(email_links_never_follow_the_request_s_host, |db| {
    let sink = SmtpSink::start().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let email = "host@souk.test";
    sign_up(&app, email).await;
    // Mail on, but no address for links (no SOUK_PUBLIC_URL, no site_url): resets are
    // not offered rather than mailed with a link built from the request.
    let (status, body) = app
        .operator(
            Method::PUT,
            "/notifiers/smtp",
            Some(json!({
                "host": sink.host(), "port": sink.port(), "security": "plain",
                "from": "shop@souk.test", "enabled": true,
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = forgot(&app, email).await;
    assert_eq!(status, 503);
    app.run_deliveries().await;
    assert!(sink.received().is_empty());
    // With the site's address set, a request that names another host still gets a link
    // to the site: an attacker's forged Host never reaches the victim's mailbox.
    smtp_on(&app, &sink).await;
    let (cookie, token) = visit(&app, "/signin").await;
    let r = client()
        .post(format!("{}/password/forgot", app.url))
        .header(reqwest::header::HOST, "evil.example")
        .header(COOKIE, format!("souk_csrf={cookie}"))
        .form(&[("csrf", token.as_str()), ("email", email)])
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    app.run_deliveries().await;
    let got = mails(&sink, email, "Reset your password");
    assert_eq!(got.len(), 1);
    let link = link_in(&got[0], "/password/reset");
    assert!(
        link.starts_with(&format!("{}/password/reset?token=", app.url)),
        "{link}"
    );
    assert!(!got[0].text().contains("evil.example"));
    app.stop().await;
});
