//! Audit rows in the transaction of their change, for what `console_audit` does not
//! cover: the SMS changes of the operator API and of `souk admin sms` (countries,
//! projects, prices and their removal, gateways, pool numbers, sms-activate providers,
//! the activation lifetime, an SMS delivered by hand), audited as the operator API or the
//! command line with no gateway secret or provider key in any row; and an operator
//! enrolling the second factor and spending a recovery code (the factor on, or the code
//! spent, only with its row).

use reqwest::Method;
use serde_json::{json, Value};
use souk_app::operators;
use souk_core::Money;

use crate::console::password_step;
use crate::console::{call, code, operator, souk, without_the_log, Try};
use crate::console_operators::{audit_of, operator_id};
use crate::engine_test;
use crate::harness::{TestApp, TestDb};
use crate::sms::{add_sms, only_order, sms_call, US1};

const GATEWAY_SECRET: &str = "gateway-secret-0123456789";
const PROVIDER_KEY: &str = "provider-key-0123456789";

/// Every audit row, oldest first: (action, who, subject, before, after).
async fn rows(app: &TestApp) -> Vec<(String, String, String, Value, Value)> {
    let json =
        |v: Option<String>| v.map_or(Value::Null, |v| serde_json::from_str(&v).expect("json"));
    let mut rows: Vec<_> = app
        .store
        .audit_log(None, None, 1000)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| {
            (
                a.action,
                a.operator_email,
                a.subject,
                json(a.before_value),
                json(a.after_value),
            )
        })
        .collect();
    rows.reverse();
    rows
}

/// An operator API call that must succeed: its answer.
async fn api(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = app.operator(method, path, body).await;
    assert!(status < 300, "{path}: {status} {answer}");
    answer
}

/// What the SMS changes touch, as the operator API lists it.
async fn sms_state(app: &TestApp) -> Vec<Value> {
    let mut state = Vec::new();
    for path in [
        "/sms/countries",
        "/sms/projects",
        "/sms/prices",
        "/sms/gateways",
        "/sms/numbers",
        "/sms/providers",
        "/sms/settings",
    ] {
        state.push(api(app, Method::GET, path, None).await);
    }
    state
}

fn price(text: &str) -> String {
    Money::parse(text).expect("money").display4()
}

// Each SMS change of the operator API leaves its exact row, as the operator API, with
// the record before and after and no secret in it; an SMS delivered by hand too.
engine_test!(sms_api_changes_leave_their_rows, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let put = Method::PUT;
    let patch = Method::PATCH;
    let post = Method::POST;
    api(
        &app,
        put.clone(),
        "/sms/countries/us",
        Some(json!({"name": "United States", "translations": {"ru": "США"}, "activate_id": 187})),
    )
    .await;
    api(&app, put.clone(), "/sms/countries/us",
        Some(json!({"name": "USA", "translations": {"ru": "США"}, "activate_id": 187, "active": false}))).await;
    api(
        &app,
        post.clone(),
        "/sms/projects",
        Some(json!({"code": "tg", "name": "Telegram", "translations": {"ru": "Телеграм"}})),
    )
    .await;
    api(
        &app,
        patch.clone(),
        "/sms/projects/tg",
        Some(json!({"active": false})),
    )
    .await;
    api(
        &app,
        put.clone(),
        "/sms/prices",
        Some(json!({"project": "tg", "country": "us", "price": "0.50"})),
    )
    .await;
    api(
        &app,
        put.clone(),
        "/sms/prices",
        Some(json!({"project": "tg", "country": "us", "price": "0.75"})),
    )
    .await;
    let (status, _) = app
        .operator(Method::DELETE, "/sms/prices/tg/us", None)
        .await;
    assert_eq!(status, 204);
    let gateway = api(
        &app,
        post.clone(),
        "/sms/gateways",
        Some(json!({"name": "Modem", "secret": GATEWAY_SECRET})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let number = api(
        &app,
        post.clone(),
        "/sms/numbers",
        Some(json!({"phone": US1, "country": "us", "gateway": gateway, "projects": ["tg"]})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    api(
        &app,
        patch.clone(),
        &format!("/sms/gateways/{gateway}"),
        Some(json!({"active": false})),
    )
    .await;
    api(
        &app,
        patch.clone(),
        &format!("/sms/numbers/{number}"),
        Some(json!({"active": false})),
    )
    .await;
    let provider = api(&app, post.clone(), "/sms/providers",
        Some(json!({"name": "Activate", "url": "https://activate.example/stubs/handler_api.php", "key": PROVIDER_KEY}))).await["id"]
        .as_str().expect("id").to_owned();
    api(
        &app,
        patch.clone(),
        &format!("/sms/providers/{provider}"),
        Some(json!({"enabled": false})),
    )
    .await;
    api(
        &app,
        put.clone(),
        "/sms/settings",
        Some(json!({"lifetime_minutes": 30})),
    )
    .await;
    api(
        &app,
        put.clone(),
        "/sms/settings",
        Some(json!({"lifetime_minutes": 45})),
    )
    .await;
    let message = api(
        &app,
        post.clone(),
        "/sms/inject",
        Some(json!({"phone": US1, "text": "code 12345"})),
    )
    .await["message_id"]
        .as_i64()
        .expect("message");

    assert_eq!(
        rows(&app).await,
        sms_rows(
            "operator API",
            &gateway,
            &provider,
            "https://activate.example/stubs/handler_api.php",
            message
        )
    );
    no_secret_in_rows(&app).await;
    app.stop().await;
});

/// The rows of the SMS changes both tests make, in order, by `who`: the gateway, the
/// provider (at `url`) and the message they made.
fn sms_rows(
    who: &str,
    gateway: &str,
    provider: &str,
    url: &str,
    message: i64,
) -> Vec<(String, String, String, Value, Value)> {
    let row = |action: &str, subject: &str, before: Value, after: Value| {
        (
            action.to_owned(),
            who.to_owned(),
            subject.to_owned(),
            before,
            after,
        )
    };
    let gw = format!("sms-gateway:{gateway}");
    let pr = format!("sms-provider:{provider}");
    let num = format!("sms-number:{US1}");
    vec![
        row(
            "sms.country",
            "sms-country:us",
            Value::Null,
            json!({"name": "United States", "ru": "США", "active": true}),
        ),
        row(
            "sms.country",
            "sms-country:us",
            json!({"name": "United States", "ru": "США", "active": true}),
            json!({"name": "USA", "ru": "США", "active": false}),
        ),
        row(
            "sms.project_create",
            "sms-project:tg",
            Value::Null,
            json!({"code": "tg", "name": "Telegram", "ru": "Телеграм", "active": true}),
        ),
        row(
            "sms.project",
            "sms-project:tg",
            json!({"name": "Telegram", "ru": "Телеграм", "active": true}),
            json!({"name": "Telegram", "ru": "Телеграм", "active": false}),
        ),
        row(
            "sms.price",
            "sms:tg/us",
            json!({"price": null}),
            json!({"price": price("0.50")}),
        ),
        row(
            "sms.price",
            "sms:tg/us",
            json!({"price": price("0.50")}),
            json!({"price": price("0.75")}),
        ),
        row(
            "sms.price_delete",
            "sms:tg/us",
            json!({"price": price("0.75")}),
            json!({"price": null}),
        ),
        row(
            "sms.gateway_create",
            &gw,
            Value::Null,
            json!({"name": "Modem", "active": true, "secret": "set"}),
        ),
        row(
            "sms.number_add",
            &num,
            Value::Null,
            json!({"phone": US1, "country": "us", "gateway": gateway, "projects": ["tg"], "active": true}),
        ),
        row(
            "sms.gateway",
            &gw,
            json!({"name": "Modem", "active": true, "secret": "set"}),
            json!({"name": "Modem", "active": false, "secret": "set"}),
        ),
        row(
            "sms.number",
            &num,
            json!({"active": true, "projects": ["tg"]}),
            json!({"active": false, "projects": ["tg"]}),
        ),
        row(
            "sms.provider_create",
            &pr,
            Value::Null,
            json!({"name": "Activate", "url": url, "enabled": true, "key": "set"}),
        ),
        row(
            "sms.provider",
            &pr,
            json!({"name": "Activate", "enabled": true}),
            json!({"name": "Activate", "enabled": false}),
        ),
        row(
            "sms.settings",
            "sms-settings",
            json!({"lifetime_minutes": null}),
            json!({"lifetime_minutes": 30}),
        ),
        row(
            "sms.settings",
            "sms-settings",
            json!({"lifetime_minutes": 30}),
            json!({"lifetime_minutes": 45}),
        ),
        row(
            "sms.inject",
            &num,
            Value::Null,
            json!({"message": message, "order": null}),
        ),
    ]
}

/// What an SMS change touches: the SMS records, the audit rows and the messages.
async fn everything(
    app: &TestApp,
) -> (
    Vec<Value>,
    Vec<(String, String, String, Value, Value)>,
    String,
) {
    let messages = app.store.sms_messages(None, 1000).await.expect("messages");
    (
        sms_state(app).await,
        rows(app).await,
        format!("{messages:?}"),
    )
}

/// A country, a project with a price, a gateway, a number and a provider.
async fn sms_world(db: &TestDb) -> (TestApp, String, String) {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    crate::sms::sms_fixture(&app).await;
    let gateway = api(
        &app,
        Method::POST,
        "/sms/gateways",
        Some(json!({"name": "Modem", "secret": GATEWAY_SECRET})),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let provider = api(&app, Method::POST, "/sms/providers",
        Some(json!({"name": "Activate", "url": "https://activate.example/stubs/handler_api.php", "key": PROVIDER_KEY}))).await["id"]
        .as_str().expect("id").to_owned();
    (app, gateway, provider)
}

// With the audit log refusing rows, no SMS change of the operator API happens, an SMS
// delivered by hand included.
engine_test!(sms_api_changes_do_not_happen_without_their_row, |db| {
    let (app, gateway, provider) = sms_world(db).await;
    let (put, patch, post) = (Method::PUT, Method::PATCH, Method::POST);
    let actions = [
        (
            put.clone(),
            "/sms/countries/us".to_owned(),
            Some(json!({"name": "USA", "active": false})),
        ),
        (
            put.clone(),
            "/sms/countries/de".to_owned(),
            Some(json!({"name": "Germany"})),
        ),
        (
            post.clone(),
            "/sms/projects".to_owned(),
            Some(json!({"code": "wa", "name": "WhatsApp"})),
        ),
        (
            patch.clone(),
            "/sms/projects/tg".to_owned(),
            Some(json!({"active": false})),
        ),
        (
            put.clone(),
            "/sms/prices".to_owned(),
            Some(json!({"project": "tg", "country": "us", "price": "0.99"})),
        ),
        (Method::DELETE, "/sms/prices/tg/us".to_owned(), None),
        (
            post.clone(),
            "/sms/gateways".to_owned(),
            Some(json!({"name": "Other", "secret": GATEWAY_SECRET})),
        ),
        (
            patch.clone(),
            format!("/sms/gateways/{gateway}"),
            Some(json!({"active": false})),
        ),
        (
            post.clone(),
            "/sms/numbers".to_owned(),
            Some(json!({"phone": "+12025550199", "country": "us", "projects": ["tg"]})),
        ),
        (
            patch.clone(),
            format!("/sms/numbers/{}", crate::sms::US1),
            Some(json!({"active": false})),
        ),
        (
            post.clone(),
            "/sms/providers".to_owned(),
            Some(json!({"name": "Other", "url": "https://other.example/api", "key": PROVIDER_KEY})),
        ),
        (
            patch.clone(),
            format!("/sms/providers/{provider}"),
            Some(json!({"enabled": false})),
        ),
        (
            put.clone(),
            "/sms/settings".to_owned(),
            Some(json!({"lifetime_minutes": 7})),
        ),
        (
            post.clone(),
            "/sms/inject".to_owned(),
            Some(json!({"phone": crate::sms::US1, "text": "code 12345"})),
        ),
    ]
    .into_iter()
    .map(|(method, path, body)| Try::Api(method, path, body))
    .collect();
    without_the_log(&app, db, actions, || everything(&app)).await;
    app.stop().await;
});

/// `souk admin sms ARGS` that must succeed: what it printed.
fn sms_cli(db: &TestDb, args: &[&str]) -> String {
    let args: Vec<&str> = ["admin", "sms"].iter().chain(args).copied().collect();
    let (ok, out, err) = souk(db, &args);
    assert!(ok, "{args:?}: {err}");
    out
}

/// No row mentions the gateway secret or the provider key.
async fn no_secret_in_rows(app: &TestApp) {
    for r in rows(app).await {
        let text = format!("{r:?}");
        assert!(
            !text.contains(GATEWAY_SECRET) && !text.contains(PROVIDER_KEY),
            "{text}"
        );
    }
}

// Each change of `souk admin sms` leaves its exact row, as the command line, with the
// record before and after and no secret in it; an SMS delivered by hand names the
// activation it completed.
engine_test!(sms_command_line_changes_leave_their_rows, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let url = "https://activate.example/stubs/handler_api.php";
    sms_cli(
        db,
        &[
            "country",
            "set",
            "--code",
            "us",
            "--name",
            "United States",
            "--activate-id",
            "187",
            "--translation",
            "ru=США",
        ],
    );
    sms_cli(
        db,
        &[
            "country",
            "set",
            "--code",
            "us",
            "--name",
            "USA",
            "--translation",
            "ru=США",
            "--inactive",
        ],
    );
    sms_cli(
        db,
        &[
            "project",
            "add",
            "--code",
            "tg",
            "--name",
            "Telegram",
            "--translation",
            "ru=Телеграм",
        ],
    );
    sms_cli(
        db,
        &["project", "set", "--project", "tg", "--active", "false"],
    );
    sms_cli(
        db,
        &[
            "price",
            "set",
            "--project",
            "tg",
            "--country",
            "us",
            "--price",
            "0.50",
        ],
    );
    sms_cli(
        db,
        &[
            "price",
            "set",
            "--project",
            "tg",
            "--country",
            "us",
            "--price",
            "0.75",
        ],
    );
    sms_cli(
        db,
        &["price", "remove", "--project", "tg", "--country", "us"],
    );
    let out = sms_cli(
        db,
        &[
            "gateway",
            "add",
            "--name",
            "Modem",
            "--secret",
            GATEWAY_SECRET,
        ],
    );
    let gateway = out
        .lines()
        .find_map(|l| l.strip_prefix("gateway "))
        .expect("gateway line")
        .to_owned();
    sms_cli(
        db,
        &[
            "number",
            "add",
            "--phone",
            US1,
            "--country",
            "us",
            "--gateway",
            &gateway,
            "--projects",
            "tg",
        ],
    );
    // `--active` is a switch: without it the gateway is turned off.
    sms_cli(db, &["gateway", "set", "--id", &gateway]);
    sms_cli(db, &["number", "set", "--phone", US1, "--active", "false"]);
    let provider = sms_cli(
        db,
        &[
            "provider",
            "add",
            "--name",
            "Activate",
            "--url",
            url,
            "--key",
            PROVIDER_KEY,
        ],
    );
    let provider = provider.trim();
    sms_cli(db, &["provider", "set", "--id", provider]);
    sms_cli(db, &["lifetime", "--minutes", "30"]);
    sms_cli(db, &["lifetime", "--minutes", "45"]);
    let out = sms_cli(db, &["inject", "--phone", US1, "--text", "code 12345"]);
    let message: i64 = out
        .split_whitespace()
        .nth(1)
        .and_then(|id| id.parse().ok())
        .unwrap_or_else(|| panic!("no message id in {out}"));

    assert_eq!(
        rows(&app).await,
        sms_rows("command line", &gateway, provider, url, message)
    );
    let authors = app.store.audit_log(None, None, 1000).await.expect("audit");
    assert!(
        authors.iter().all(|r| r.operator_id.is_none()),
        "{authors:?}"
    );
    no_secret_in_rows(&app).await;
    app.stop().await;
});

// With the audit log refusing rows, no `souk admin sms` change happens, an SMS delivered
// by hand included (the activation waiting on it keeps waiting); then the SMS delivered
// by hand is kept with its row, naming the order it completed.
engine_test!(
    sms_command_line_changes_do_not_happen_without_their_row,
    |db| {
        let (app, gateway, provider) = sms_world(db).await;
        let key = app.buyer("buyer@test.local", "5").await;
        let (order, phone) =
            only_order(&add_sms(&app, &key, &[("project_id", "tg"), ("country", "gb")]).await);
        let messages = || async { app.store.sms_messages(None, 1000).await.expect("messages") };
        let inject = [
            "inject",
            "--phone",
            phone.as_str(),
            "--text",
            "Telegram code: 60606",
        ];
        let commands: [&[&str]; 15] = [
            &[
                "country",
                "set",
                "--code",
                "us",
                "--name",
                "USA",
                "--inactive",
            ],
            &["country", "set", "--code", "de", "--name", "Germany"],
            &["project", "add", "--code", "wa", "--name", "WhatsApp"],
            &["project", "set", "--project", "tg", "--active", "false"],
            &[
                "price",
                "set",
                "--project",
                "tg",
                "--country",
                "us",
                "--price",
                "0.99",
            ],
            &["price", "remove", "--project", "tg", "--country", "us"],
            &[
                "gateway",
                "add",
                "--name",
                "Other",
                "--secret",
                GATEWAY_SECRET,
            ],
            &["gateway", "set", "--id", &gateway],
            &[
                "number",
                "add",
                "--phone",
                "+12025550199",
                "--country",
                "us",
                "--projects",
                "tg",
            ],
            &["number", "set", "--phone", US1, "--active", "false"],
            &[
                "provider",
                "add",
                "--name",
                "Other",
                "--url",
                "https://other.example/api",
                "--key",
                PROVIDER_KEY,
            ],
            &["provider", "set", "--id", &provider],
            &["lifetime", "--minutes", "7"],
            &inject,
            &["inject", "--phone", "+15550001111", "--text", "hello"],
        ];
        let tries = commands
            .into_iter()
            .map(|args| Try::Command(["admin", "sms"].iter().chain(args).copied().collect()))
            .collect();
        without_the_log(&app, db, tries, || everything(&app)).await;
        assert_eq!(
            sms_call(&app, &key, "sms_code", order).await["status"],
            "waiting"
        );

        let out = sms_cli(db, &inject);
        assert!(
            out.contains(&format!("delivered to order {order}: code 60606")),
            "{out}"
        );
        let message = messages().await[0].id;
        let last = rows(&app).await.pop().expect("a row");
        assert_eq!(
            last,
            (
                "sms.inject".to_owned(),
                "command line".to_owned(),
                format!("sms-number:{phone}"),
                Value::Null,
                json!({"message": message, "order": order}),
            )
        );
        assert!(!format!("{last:?}").contains("60606"), "no code in the row");
        app.stop().await;
    }
);

/// A half-way session (password given, second factor to come) of `email`: its token.
async fn half_way(app: &TestApp, email: &str, password: &str) -> String {
    let (status, _, cookie) = password_step(app, email, password).await;
    assert_eq!(status, 303);
    cookie.expect("half-way session")
}

// Enrolling and spending a recovery code happen only with their audit row: with the log
// refusing rows the factor stays off and the code unused; then each leaves its row.
engine_test!(enrolment_and_recovery_code_rows_are_atomic, |db| {
    let app = TestApp::builder(db).spawn().await;
    let store = &app.store;
    let throttle = &app.state.config.throttle;
    let password = operator(&app, "owner@test.local", "owner").await;
    let id = operator_id(&app, "owner@test.local").await;
    let subject = format!("operator:{id}");
    let now = app.state.now();

    let token = half_way(&app, "owner@test.local", &password).await;
    let session = store
        .operator_session(&token, now)
        .await
        .expect("read")
        .expect("session");
    let (secret, _) = operators::enrolment(store, &session)
        .await
        .expect("enrolment");
    // The second factor, its recovery codes and the operator's rows.
    let state = || async {
        (
            store.operator(&id).await.expect("operator").totp_enabled,
            store.recovery_codes_left(&id).await.expect("codes"),
            audit_of(&app, &subject).await,
        )
    };

    let first = code(&app, &secret);
    let enrol = operators::finish_enrolment(store, throttle, &session, &token, &first, now);
    without_the_log(&app, db, vec![call("enrolment", enrol)], state).await;
    assert!(!store.operator(&id).await.expect("operator").totp_enabled);
    assert_eq!(store.recovery_codes_left(&id).await.expect("codes"), 0);

    let (_, codes) =
        operators::finish_enrolment(store, throttle, &session, &token, &code(&app, &secret), now)
            .await
            .expect("enrolled");
    assert!(store.operator(&id).await.expect("operator").totp_enabled);
    let rows = audit_of(&app, &subject).await;
    let enrolled: Vec<_> = rows
        .iter()
        .filter(|r| r.0 == "operator.totp_enrolled")
        .collect();
    assert_eq!(
        enrolled,
        [&(
            "operator.totp_enrolled".to_owned(),
            "owner@test.local".to_owned(),
            json!({"totp": false}),
            json!({"totp": true, "recovery_codes": codes.len()}),
        )]
    );

    // A recovery code: not spent without its row, then spent with it.
    let token = half_way(&app, "owner@test.local", &password).await;
    let session = store
        .operator_session(&token, now)
        .await
        .expect("read")
        .expect("session");
    let spend = operators::second_factor(store, throttle, &session, &token, &codes[0], now);
    without_the_log(&app, db, vec![call("recovery code", spend)], state).await;
    let left = codes.len() as i64;
    assert_eq!(store.recovery_codes_left(&id).await.expect("codes"), left);

    operators::second_factor(store, throttle, &session, &token, &codes[0], now)
        .await
        .expect("signed in");
    assert_eq!(
        store.recovery_codes_left(&id).await.expect("codes"),
        left - 1
    );
    let spent: Vec<_> = audit_of(&app, &subject)
        .await
        .into_iter()
        .filter(|r| r.0 == "operator.recovery_code")
        .collect();
    assert_eq!(
        spent,
        [(
            "operator.recovery_code".to_owned(),
            "owner@test.local".to_owned(),
            json!({"left": left}),
            json!({"left": left - 1}),
        )]
    );
    app.stop().await;
});
