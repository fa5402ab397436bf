//! Telegram notifications against a fake Bot API: the operator sets the bot up, users
//! link their chat with a one-time deep link (`/start <token>` read by the
//! `telegram.updates` job), choose their events, and get them in their language, one a
//! second per chat; flood waits are honoured, a chat that blocked the bot is unlinked,
//! and nobody else's chat ever gets anything.

use reqwest::header::COOKIE;
use reqwest::Method;
use serde_json::{json, Value};
use souk_fakes::telegram::{FakeTelegram, BOT_USERNAME};

use crate::engine_test;
use crate::harness::{private_upstreams, TestApp, TestDb};
use crate::web::{client, csrf_of, page, sign_up};

/// A node stepped by hand, its bot set up and enabled against `fake`.
async fn setup(db: &TestDb) -> (TestApp, FakeTelegram) {
    let fake = FakeTelegram::start().await;
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let (status, body) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"token": fake.token(), "base_url": fake.base_url(), "enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    (app, fake)
}

/// The `start` token of a deep link.
fn token_of(link: &str) -> String {
    link.rsplit_once("?start=")
        .expect("a deep link")
        .1
        .to_owned()
}

/// Links `audience` to `chat` through the bot, as a user opening the link would.
async fn link_chat(app: &TestApp, fake: &FakeTelegram, audience: &str, chat: i64, lang: &str) {
    let (link, _) = souk_app::telegram::new_link(&app.store, audience, app.state.now())
        .await
        .expect("a deep link");
    fake.write(
        chat,
        "someone",
        lang,
        &format!("/start {}", token_of(&link)),
    );
    poll(app).await;
    assert_eq!(
        app.store
            .telegram_link(audience)
            .await
            .expect("link")
            .map(|l| l.chat_id),
        Some(chat)
    );
}

/// One pass of the bot's `telegram.updates` job (due every 3 s).
async fn poll(app: &TestApp) {
    app.clock.advance(3_000);
    app.run_jobs().await;
}

/// Records an event for `audience` now; true when someone listens.
async fn event(app: &TestApp, audience: &str, kind: &str, data: Value) -> bool {
    app.store
        .record_event(audience, kind, "test", &data, app.state.now())
        .await
        .expect("record an event")
}

async fn prefs(app: &TestApp, audience: &str, channel: &str, kinds: &[&str]) {
    let kinds: Vec<String> = kinds.iter().map(|k| (*k).to_owned()).collect();
    app.store
        .set_notification_prefs(audience, channel, &kinds)
        .await
        .expect("prefs");
}

async fn post_form(
    app: &TestApp,
    cookie: &str,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String) {
    let r = client()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, cookie)
        .form(fields)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("body"))
}

engine_test!(telegram_links_chats_and_speaks_each_users_language, |db| {
    let (app, fake) = setup(db).await;

    // Ann (English) links through the web page.
    let ann = sign_up(&app, "ann@example.com").await;
    let ann_id = app.user_id("ann@example.com").await;
    let (status, html) = page(&app, &ann, "/account").await;
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/account/notifications\""));
    let (status, html) = page(&app, &ann, "/account/notifications").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"telegram-unlinked\""), "{html}");
    let csrf = csrf_of(&html);
    // No CSRF token: refused, no token made.
    let (status, _) = post_form(&app, &ann, "/account/notifications/telegram/link", &[]).await;
    assert_eq!(status, 403);
    let (status, html) = post_form(
        &app,
        &ann,
        "/account/notifications/telegram/link",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 200);
    let at = html
        .find("id=\"telegram-deep-link\" href=\"")
        .expect("deep link")
        + 30;
    let link = html[at..].split('"').next().expect("href").to_owned();
    assert!(
        link.starts_with(&format!("https://t.me/{BOT_USERNAME}?start=")),
        "{link}"
    );
    let token = token_of(&link);

    // Her choices: bad input changes nothing.
    let save = |fields: Vec<(&'static str, String)>| {
        let (app, ann) = (&app, ann.clone());
        async move {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_form(app, &ann, "/account/notifications", &fields).await
        }
    };
    let (status, _) = save(vec![("telegram", "order.completed".into())]).await;
    assert_eq!(status, 403, "no CSRF token");
    let (status, html) = save(vec![
        ("csrf", csrf.clone()),
        ("telegram", "order.completed".into()),
        ("telegram", "order.exploded".into()),
    ])
    .await;
    assert_eq!(status, 400);
    assert!(html.contains("order.exploded") && html.contains("Nothing was saved"));
    let (status, _) = save(vec![
        ("csrf", csrf.clone()),
        ("email", "order.created".into()),
    ])
    .await;
    assert_eq!(status, 400, "a supplier's kind is not a buyer's to choose");
    assert!(app
        .store
        .notification_prefs(&ann_id, "telegram")
        .await
        .expect("prefs")
        .is_empty());
    let (status, _) = save(vec![
        ("csrf", csrf.clone()),
        ("telegram", "sms.code_received".into()),
        ("telegram", "order.completed".into()),
        ("email", "payment.credited".into()),
    ])
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        app.store
            .notification_prefs(&ann_id, "telegram")
            .await
            .expect("prefs"),
        ["order.completed", "sms.code_received"]
    );
    assert_eq!(
        app.store
            .notification_prefs(&ann_id, "email")
            .await
            .expect("prefs"),
        ["payment.credited"]
    );
    let (_, html) = page(&app, &ann, "/account/notifications").await;
    assert!(html.contains("name=\"telegram\" value=\"order.completed\" checked"));

    // Before the chat is linked, her Telegram choices listen to nothing: no event is
    // even recorded, nothing is queued or sent.
    assert!(!event(&app, &ann_id, "order.completed", json!({"order": 1})).await);
    app.run_deliveries().await;
    assert!(fake.sent().is_empty());
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE audience = '{ann_id}'"
        ))
        .await,
        0
    );

    // She opens the link in Telegram; the bot answers in her language.
    fake.write(111, "ann", "en", &format!("/start {token}"));
    poll(&app).await;
    assert_eq!(fake.sent_to(111).len(), 1);
    assert!(fake.sent_to(111)[0].contains("linked to your Souk account"));
    let (_, html) = page(&app, &ann, "/account/notifications").await;
    assert!(html.contains("id=\"telegram-linked\"") && html.contains("@ann"));

    // The same token from another chat: refused politely, in that chat's language;
    // other messages get help; nothing else reaches these chats.
    fake.write(222, "mallory", "ru", &format!("/start {token}"));
    fake.write(333, "bob", "en", "hello");
    fake.write(333, "bob", "en", "/start not-a-token");
    poll(&app).await;
    assert_eq!(fake.unconfirmed(), 3, "read, confirmed on the next poll");
    poll(&app).await;
    assert_eq!(fake.unconfirmed(), 0);
    assert_eq!(fake.sent_to(222).len(), 1);
    assert!(fake.sent_to(222)[0].contains("ссылка не работает"));
    let bob = fake.sent_to(333);
    assert_eq!(bob.len(), 2);
    assert!(bob[0].contains("This bot sends Souk notifications"));
    assert!(bob[1].contains("this link does not work"));
    assert_eq!(
        app.store
            .telegram_link(&ann_id)
            .await
            .expect("link")
            .map(|l| l.chat_id),
        Some(111)
    );

    // Her chosen events arrive, one a second; the others are not even recorded.
    assert!(
        event(
            &app,
            &ann_id,
            "order.completed",
            json!({"order": 42, "status": "Completed", "charge": "3.50", "link": "<b>x</b>"})
        )
        .await
    );
    assert!(!event(&app, &ann_id, "order.canceled", json!({"order": 43})).await);
    assert!(
        event(
            &app,
            &ann_id,
            "sms.code_received",
            json!({"order": 44, "code": "5521"})
        )
        .await
    );
    app.run_deliveries().await;
    let to_ann = fake.sent_to(111);
    assert_eq!(to_ann.len(), 2, "{to_ann:?}");
    assert_eq!(
        to_ann[1],
        "<b>Order completed</b>\nOrder: #42\nStatus: Completed\nCharge: 3.50"
    );
    app.clock.advance(1_000);
    app.run_deliveries().await;
    let to_ann = fake.sent_to(111);
    assert_eq!(to_ann.len(), 3);
    assert_eq!(
        to_ann[2],
        "<b>SMS code received</b>\nOrder: #44\nCode: <code>5521</code>"
    );
    assert!(fake.sent().iter().all(|s| s.parse_mode == "HTML"));

    // Boris reads the pages in Russian: his messages are Russian.
    let boris = sign_up(&app, "boris@example.com").await;
    let boris_id = app.user_id("boris@example.com").await;
    let r = client()
        .get(format!("{}/ui/ru?next=/account", app.url))
        .header(COOKIE, &boris)
        .send()
        .await
        .expect("switch");
    assert_eq!(r.status(), 303);
    link_chat(&app, &fake, &boris_id, 444, "en").await;
    assert!(fake.sent_to(444)[0].contains("Готово"));
    prefs(&app, &boris_id, "telegram", &["sms.code_received"]).await;
    assert!(
        event(
            &app,
            &boris_id,
            "sms.code_received",
            json!({"order": 7, "code": "90<1"})
        )
        .await
    );
    app.clock.advance(1_000);
    app.run_deliveries().await;
    assert_eq!(
        fake.sent_to(444)[1],
        "<b>Получен SMS-код</b>\nЗаказ: #7\nКод: <code>90&lt;1</code>"
    );

    // Unlinking stops everything; what was queued fails.
    let (_, html) = page(&app, &ann, "/account/notifications").await;
    let csrf = csrf_of(&html);
    let (status, _) = post_form(
        &app,
        &ann,
        "/account/notifications/telegram/unlink",
        &[("csrf", "0".repeat(64).as_str())],
    )
    .await;
    assert_eq!(status, 403, "a wrong CSRF token changes nothing");
    assert!(app
        .store
        .telegram_link(&ann_id)
        .await
        .expect("link")
        .is_some());
    let (status, _) = post_form(
        &app,
        &ann,
        "/account/notifications/telegram/unlink",
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, 303);
    assert!(app
        .store
        .telegram_link(&ann_id)
        .await
        .expect("link")
        .is_none());
    let before = fake.sent().len();
    assert!(!event(&app, &ann_id, "order.completed", json!({"order": 45})).await);
    app.clock.advance(1_000);
    app.run_deliveries().await;
    assert_eq!(fake.sent().len(), before, "an unlinked user gets nothing");
    // Nobody but the linked chats ever got a notification.
    for s in fake.sent() {
        assert!([111, 222, 333, 444].contains(&s.chat_id));
    }
    assert!(fake
        .sent_to(222)
        .iter()
        .chain(fake.sent_to(333).iter())
        .all(|t| !t.contains("<b>")));

    app.stop().await;
});

engine_test!(telegram_waits_out_floods_and_forgets_blocked_chats, |db| {
    let (app, fake) = setup(db).await;
    let _ = sign_up(&app, "cleo@example.com").await;
    let cleo = app.user_id("cleo@example.com").await;
    link_chat(&app, &fake, &cleo, 555, "en").await;
    prefs(
        &app,
        &cleo,
        "telegram",
        &["order.completed", "order.partial"],
    )
    .await;
    let replies = fake.sent_to(555).len();

    // A 429 with retry_after 5: nothing before the wait is over, then once.
    fake.flood(1, 5);
    assert!(event(&app, &cleo, "order.completed", json!({"order": 1})).await);
    app.run_deliveries().await;
    assert_eq!(fake.sent_to(555).len(), replies);
    // A new event wakes the queue, which still waits.
    assert!(event(&app, &cleo, "order.partial", json!({"order": 2})).await);
    app.clock.advance(3_000);
    app.run_deliveries().await;
    assert_eq!(fake.sent_to(555).len(), replies, "still waiting");
    app.clock.advance(2_100);
    app.run_deliveries().await;
    let sent = fake.sent_to(555);
    assert_eq!(sent.len(), replies + 1);
    assert!(sent[replies].contains("#1"));
    app.clock.advance(1_000);
    app.run_deliveries().await;
    app.clock.advance(10_000);
    app.run_deliveries().await;
    let sent = fake.sent_to(555);
    assert_eq!(sent.len(), replies + 2, "each message once: {sent:?}");
    assert!(sent[replies + 1].contains("#2"));

    // Tokens: single use, the newest only, an hour at most.
    let (first, _) = souk_app::telegram::new_link(&app.store, &cleo, app.state.now())
        .await
        .expect("link");
    let (second, _) = souk_app::telegram::new_link(&app.store, &cleo, app.state.now())
        .await
        .expect("link");
    let now = app.state.now();
    assert_eq!(
        app.store
            .link_telegram(&token_of(&first), 556, "", now, |_, _| None)
            .await
            .expect("link"),
        None,
        "an earlier link stops working"
    );
    app.clock.advance(souk_app::telegram::LINK_TTL_MS + 1);
    fake.write(556, "cleo", "en", &format!("/start {}", token_of(&second)));
    poll(&app).await;
    assert!(fake.sent_to(556)[0].contains("this link does not work"));
    assert_eq!(
        app.store
            .telegram_link(&cleo)
            .await
            .expect("link")
            .map(|l| l.chat_id),
        Some(555),
        "an expired link changes nothing"
    );

    // Cleo blocks the bot: the message fails, the chat is unlinked, nothing more is sent.
    fake.block(555);
    let before = fake.sent().len();
    assert!(event(&app, &cleo, "order.completed", json!({"order": 3})).await);
    app.run_deliveries().await;
    assert!(app
        .store
        .telegram_link(&cleo)
        .await
        .expect("link")
        .is_none());
    // Unlinked, her Telegram choices listen to nothing any more.
    assert!(!event(&app, &cleo, "order.completed", json!({"order": 4})).await);
    app.clock.advance(1_000);
    app.run_deliveries().await;
    assert_eq!(fake.sent().len(), before);
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM notifications WHERE audience = '{cleo}' AND state = 'failed'"
        ))
        .await,
        1
    );

    app.stop().await;
});

engine_test!(telegram_operator_setup_and_the_operators_own_chat, |db| {
    let fake = FakeTelegram::start().await;
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;

    // Not set up yet.
    let (status, body) = app.operator(Method::GET, "/notifiers/telegram", None).await;
    assert_eq!(status, 200);
    assert_eq!(body["configured"], false);
    let (status, _) = app
        .operator(Method::POST, "/notifiers/telegram/check", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 400, "enabling needs a token");

    // Bad input: changes nothing.
    for (body, want) in [
        (json!({"token": "not a token"}), 400),
        (json!({"token": fake.token(), "base_url": "ftp://x"}), 400),
        (
            json!({"token": fake.token(), "operator_events": ["order.completed"]}),
            400,
        ),
        (json!({"token": fake.token(), "colour": "red"}), 400),
        // The right shape, but not this bot's: Telegram refuses it.
        (
            json!({"token": "7000000001:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "base_url": fake.base_url()}),
            409,
        ),
    ] {
        let (status, answer) = app
            .operator(Method::PUT, "/notifiers/telegram", Some(body.clone()))
            .await;
        assert_eq!(status, want, "{body} → {answer}");
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    let (_, body) = app.operator(Method::GET, "/notifiers/telegram", None).await;
    assert_eq!(body["configured"], false);

    // Set up, not yet enabled: no link for anyone.
    let (status, body) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"token": fake.token(), "base_url": fake.base_url()})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["bot_username"], BOT_USERNAME);
    assert_eq!(body["enabled"], false);
    assert!(
        !body.to_string().contains(&fake.token()),
        "the token is never shown"
    );
    let (status, _) = app
        .operator(Method::POST, "/notifiers/telegram/link", None)
        .await;
    assert_eq!(status, 409);
    let (status, body) = app
        .operator(Method::POST, "/notifiers/telegram/check", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["bot"]["username"], BOT_USERNAME);
    let (status, body) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["enabled"], true);
    assert_eq!(body["operator_linked"], false);

    // The operator's own link, opened in the operator's chat.
    let (status, body) = app
        .operator(Method::POST, "/notifiers/telegram/link", None)
        .await;
    assert_eq!(status, 200);
    let link = body["link"].as_str().expect("link").to_owned();
    fake.write(900, "boss", "en", &format!("/start {}", token_of(&link)));
    poll(&app).await;
    assert!(fake.sent_to(900)[0].contains("operator's notifications"));
    let (_, body) = app.operator(Method::GET, "/notifiers/telegram", None).await;
    assert_eq!(body["operator_linked"], true);
    // Where the operator's alerts go is an audit row, by the chat's link; a buyer's own
    // link left none.
    let rows = app
        .store
        .audit_log(Some("notifier:telegram"), None, 10)
        .await
        .expect("audit");
    let linked: Vec<_> = rows
        .iter()
        .filter(|r| r.action == "telegram.link")
        .collect();
    assert_eq!(linked.len(), 1, "{rows:?}");
    assert_eq!(
        (
            linked[0].operator_email.as_str(),
            linked[0].before_value.as_deref(),
            linked[0].after_value.as_deref()
        ),
        ("Telegram", None, Some(r#"{"chat":900,"username":"boss"}"#))
    );
    assert!(body["operator_events"]
        .as_array()
        .is_some_and(|e| e.iter().any(|k| k == "provider.failing")));

    // Operator events reach the operator's chat; a user's do not.
    assert!(
        event(
            &app,
            "operator",
            "provider.failing",
            json!({"provider": "panel-1", "error": "timeout"})
        )
        .await
    );
    let _ = sign_up(&app, "dana@example.com").await;
    let dana = app.user_id("dana@example.com").await;
    prefs(&app, &dana, "telegram", &["order.completed"]).await;
    // Dana chose Telegram but linked no chat: her event is not even recorded.
    assert!(!event(&app, &dana, "order.completed", json!({"order": 9})).await);
    app.run_deliveries().await;
    let to_operator = fake.sent_to(900);
    assert_eq!(to_operator.len(), 2, "{to_operator:?}");
    assert_eq!(
        to_operator[1],
        "<b>Provider failing</b>\nProvider: panel-1\nError: timeout"
    );

    // The operator narrows their events; unknown kinds are refused.
    let (status, _) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"operator_events": ["job.parked", "nope"]})),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"operator_events": ["job.parked"]})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["operator_events"], json!(["job.parked"]));
    assert!(!event(&app, "operator", "provider.failing", json!({})).await);

    // Disabled: the updates job ends, links are refused.
    let (status, _) = app
        .operator(
            Method::PUT,
            "/notifiers/telegram",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200);
    poll(&app).await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'telegram.updates'")
            .await,
        0
    );

    app.stop().await;
});

engine_test!(telegram_tells_a_buyer_of_a_real_sale, |db| {
    use crate::supply_kit::{buy, inventory_product, market, supplier, upload};
    let (app, fake) = setup(db).await;
    let (_, subcategory) = market(&app).await;
    let (supplier_key, _, _) = supplier(&app, "seller@tg.test", "Telegram shop").await;
    let (_, service, subs) = inventory_product(&app, &supplier_key, &subcategory, "Boxes").await;
    let (status, _) = upload(&app, &supplier_key, &subs[0], "a:1\nb:2\n", false).await;
    assert_eq!(status, 200);
    let key = app.buyer("eve@tg.test", "100").await;
    let eve = app.user_id("eve@tg.test").await;
    link_chat(&app, &fake, &eve, 777, "en").await;
    prefs(&app, &eve, "telegram", &["order.completed"]).await;

    let order = buy(&app, &key, service, 1).await;
    app.run_deliveries().await;
    let sent = fake.sent_to(777);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1].starts_with("<b>Order completed</b>\nOrder: #"),
        "{}",
        sent[1]
    );
    assert!(
        sent[1].contains(&format!("Order: #{order}\n")),
        "{}",
        sent[1]
    );
    assert!(
        sent[1].contains("Quantity: 1") && sent[1].contains("Charge: "),
        "{}",
        sent[1]
    );

    app.stop().await;
});

/// Runs `souk` on the test database with `env` on top.
fn souk(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(crate::harness::DATA_KEY))
        .env("SOUK_LOG", "warn")
        .env("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1")
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

engine_test!(telegram_cli_sets_checks_and_links, |db| {
    let fake = FakeTelegram::start().await;
    let token = fake.token();
    let base = fake.base_url();
    let (ok, _, err) = souk(db, &["migrate"], &[]);
    assert!(ok, "{err}");

    // Refusals change nothing and say why.
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "telegram",
            "set",
            "--token-env",
            "TG_NOPE",
            "--enable",
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("TG_NOPE is not set"), "{err}");
    let (ok, _, err) = souk(
        db,
        &["admin", "telegram", "set", "--token-env", "TG_TOKEN"],
        &[("TG_TOKEN", "12345")],
    );
    assert!(!ok);
    assert!(err.contains("token must be a bot token"), "{err}");
    let (ok, _, err) = souk(db, &["admin", "telegram", "check"], &[]);
    assert!(!ok && err.contains("not set up"), "{err}");

    let (ok, out, err) = souk(
        db,
        &[
            "admin",
            "telegram",
            "set",
            "--token-env",
            "TG_TOKEN",
            "--base-url",
            &base,
            "--enable",
        ],
        &[("TG_TOKEN", &token)],
    );
    assert!(ok, "{err}");
    assert!(out.contains("telegram enabled bot @souk_test_bot"), "{out}");
    let (ok, out, err) = souk(db, &["admin", "telegram", "check"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("bot @souk_test_bot"), "{out}");
    let (ok, out, err) = souk(db, &["admin", "telegram", "link"], &[]);
    assert!(ok, "{err}");
    let link = out
        .lines()
        .find(|l| l.starts_with("https://t.me/souk_test_bot?start="))
        .expect("a deep link");
    assert_eq!(token_of(link).len(), 40);
    let (ok, out, _) = souk(db, &["admin", "telegram", "show"], &[]);
    assert!(ok && out.contains("operator chat not linked"), "{out}");
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "telegram",
            "set",
            "--operator-events",
            "job.parked,order.completed",
        ],
        &[],
    );
    assert!(!ok && err.contains("order.completed"), "{err}");
    let (ok, out, _) = souk(
        db,
        &[
            "admin",
            "telegram",
            "set",
            "--operator-events",
            "job.parked",
        ],
        &[],
    );
    assert!(ok && out.contains("events job.parked"), "{out}");
    // The token never appears in anything printed.
    for args in [
        &["admin", "telegram", "show"][..],
        &["admin", "telegram", "check"][..],
    ] {
        let (_, out, err) = souk(db, args, &[]);
        assert!(!out.contains(&token) && !err.contains(&token));
    }
});
