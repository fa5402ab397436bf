//! The console's operators screen and the SMS screens beyond prices, over plain HTTP on
//! both engines: an owner creates an admin (the one-time password shown once) who then
//! signs in and enrols; an admin neither sees nor posts to `/console/operators`; an
//! owner cannot demote or disable themselves nor leave no active owner; every change
//! is an audit row with before and after; sign-ins, refused sign-ins, enrolment and a
//! recovery code are audit rows of their own; an SMS gateway's secret never appears on
//! a page; bad input changes nothing; the Russian console refuses in Russian.

use reqwest::header::COOKIE;
use serde_json::{json, Value};
use souk_app::operators::{self, Acting, Change, OperatorError, Role};

use crate::console::{
    alert, between, last_audit, no_redirects, operator, page_of, password_step, post_as,
    sign_in_as, signed_in, Signed,
};
use crate::engine_test;
use crate::harness::TestApp;

/// A console page as `s` sees it in Russian: (status, body).
async fn page_ru(app: &TestApp, s: &Signed, path: &str) -> (u16, String) {
    let r = no_redirects()
        .get(format!("{}{path}", app.url))
        .header(COOKIE, format!("souk_console={}; souk_ui=ru", s.cookie))
        .send()
        .await
        .expect("get");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// A console form posted by `s` on the Russian console: (status, body).
async fn post_ru(app: &TestApp, s: &Signed, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut form = vec![("csrf", s.csrf.as_str())];
    form.extend_from_slice(fields);
    let r = no_redirects()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, format!("souk_console={}; souk_ui=ru", s.cookie))
        .form(&form)
        .send()
        .await
        .expect("post");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// Every operator as the store keeps them: email, role, status, second factor.
async fn operators_now(app: &TestApp) -> Vec<(String, String, String, bool)> {
    app.store
        .operator_list()
        .await
        .expect("operators")
        .into_iter()
        .map(|o| (o.email, o.role, o.status, o.totp_enabled))
        .collect()
}

pub(crate) async fn operator_id(app: &TestApp, email: &str) -> String {
    app.store
        .operator_by_email(email)
        .await
        .expect("read")
        .expect("operator")
        .id
}

/// Audit rows about `subject`, oldest first: (action, who, before, after).
pub(crate) async fn audit_of(app: &TestApp, subject: &str) -> Vec<(String, String, Value, Value)> {
    let mut rows: Vec<_> = app
        .store
        .audit_log(Some(subject), None, 100)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| {
            let json = |v: Option<String>| {
                v.map_or(Value::Null, |v| serde_json::from_str(&v).expect("json"))
            };
            (
                a.action,
                a.operator_email,
                json(a.before_value),
                json(a.after_value),
            )
        })
        .collect();
    rows.reverse();
    rows
}

engine_test!(console_operators_screen, |db| {
    let app = TestApp::builder(db).spawn().await;
    let owner = signed_in(&app, "owner@test.local", "owner").await;
    let owner_id = operator_id(&app, "owner@test.local").await;

    // The owner sees the screen and its link.
    let (status, body) = page_of(&app, &owner, "/console/operators").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"nav-operators\""));
    assert!(body.contains("owner@test.local"));
    crate::html_validator::validate(&[("/console/operators".to_owned(), body)]);

    // Bad input: a clear error, nothing created.
    let before = operators_now(&app).await;
    for (email, role, error) in [
        ("not an email", "admin", "Email is not valid"),
        (
            "new@test.local",
            "king",
            "Role must be owner, admin or support",
        ),
        (
            "owner@test.local",
            "admin",
            "An operator with this email exists.",
        ),
    ] {
        let (status, _, body) = post_as(
            &app,
            &owner,
            "/console/operators",
            &[("email", email), ("role", role)],
        )
        .await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{email}");
    }
    assert_eq!(operators_now(&app).await, before);

    // The owner creates an admin: the one-time password, shown once, on this page.
    let (status, _, body) = post_as(
        &app,
        &owner,
        "/console/operators",
        &[("email", "Admin@Test.local"), ("role", "admin")],
    )
    .await;
    assert_eq!(status, 200);
    let password = between(&body, "<code id=\"operator-password\">", "</code>");
    assert_eq!(password.len(), 24);
    let (_, listed) = page_of(&app, &owner, "/console/operators").await;
    assert!(!listed.contains(&password), "shown once");
    let admin_id = operator_id(&app, "admin@test.local").await;
    assert_eq!(
        audit_of(&app, &format!("operator:{admin_id}")).await,
        [(
            "operator.create".to_owned(),
            "owner@test.local".to_owned(),
            Value::Null,
            json!({"email": "admin@test.local", "role": "admin"}),
        )]
    );

    // A wrong password is refused and recorded (nothing else of it commits).
    let (status, _, _) = password_step(&app, "admin@test.local", "not the password").await;
    assert_eq!(status, 401);
    let (status, _, _) = password_step(&app, "nobody@test.local", "whatever").await;
    assert_eq!(status, 401);
    let (action, who, _, after) = last_audit(&app, "signin:nobody@test.local").await;
    assert_eq!(
        (action.as_str(), who.as_str(), after.as_str()),
        (
            "operator.sign_in_failed",
            "nobody@test.local",
            json!({"why": "wrong email or password"})
                .to_string()
                .as_str()
        )
    );

    // The admin signs in with that password and enrols a second factor.
    let (admin, codes) = sign_in_as(&app, "admin@test.local", &password).await;
    assert_eq!(codes.len(), 10);
    let (status, _) = page_of(&app, &admin, "/console").await;
    assert_eq!(status, 200);
    let rows = audit_of(&app, &format!("operator:{admin_id}")).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        [
            "operator.create",
            "operator.sign_in_failed",
            "operator.totp_enrolled",
            "operator.sign_in"
        ]
    );
    assert_eq!(rows[1].3, json!({"why": "wrong password"}));
    assert_eq!(rows[3].3, json!({"second_factor": "enrolment"}));
    let (_, listed) = page_of(&app, &owner, "/console/operators").await;
    let row = between(
        &listed,
        &format!("<tr id=\"operator-{admin_id}\">"),
        "</tr>",
    );
    assert!(row.contains("<td class=\"totp\">on</td>"), "{row}");
    assert!(
        !row.contains("<td class=\"last\">—</td>"),
        "signed in: {row}"
    );

    // The admin has no link to the screen, cannot open it, and cannot post to it.
    let (_, dashboard) = page_of(&app, &admin, "/console").await;
    assert!(!dashboard.contains("nav-operators"));
    let (status, _) = page_of(&app, &admin, "/console/operators").await;
    assert_eq!(status, 403);
    let before = operators_now(&app).await;
    let (status, _, _) = post_as(
        &app,
        &admin,
        "/console/operators",
        &[("email", "sneaky@test.local"), ("role", "owner")],
    )
    .await;
    assert_eq!(status, 403);
    for (what, role) in [("role", "admin"), ("disable", ""), ("reset_totp", "")] {
        let (status, _, _) = post_as(
            &app,
            &admin,
            &format!("/console/operators/{owner_id}"),
            &[("do", what), ("role", role)],
        )
        .await;
        assert_eq!(status, 403, "{what}");
    }
    assert_eq!(operators_now(&app).await, before);

    // The owner cannot demote or disable themselves, in either language.
    for (what, role) in [("disable", ""), ("role", "admin")] {
        let (status, _, body) = post_as(
            &app,
            &owner,
            &format!("/console/operators/{owner_id}"),
            &[("do", what), ("role", role)],
        )
        .await;
        assert_eq!(
            (status, alert(&body).as_str()),
            (422, "You cannot demote or disable yourself"),
        );
    }
    let (status, body) = post_ru(
        &app,
        &owner,
        &format!("/console/operators/{owner_id}"),
        &[("do", "disable")],
    )
    .await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Нельзя понизить или отключить самого себя.")
    );
    assert_eq!(operators_now(&app).await, before);

    // A role changed: audited with the account before and after.
    let (status, location, _) = post_as(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "role"), ("role", "support")],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/console/operators"));
    let (action, who, before_v, after_v) = last_audit(&app, &format!("operator:{admin_id}")).await;
    assert_eq!(
        (action.as_str(), who.as_str()),
        ("operator.role", "owner@test.local")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&before_v).expect("json"),
        json!({"email": "admin@test.local", "role": "admin", "status": "active", "totp": true})
    );
    assert_eq!(
        serde_json::from_str::<Value>(&after_v).expect("json"),
        json!({"email": "admin@test.local", "role": "support", "status": "active", "totp": true, "sessions_ended": 0})
    );
    // The same role again changes nothing, in Russian too.
    let (status, body) = post_ru(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "role"), ("role", "support")],
    )
    .await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "У оператора уже эта роль.")
    );
    let (_, body) = page_ru(&app, &owner, "/console/operators").await;
    assert!(body.contains("Операторы"));

    // Back to admin, then the second factor reset: signed out, enrols again.
    post_as(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "role"), ("role", "admin")],
    )
    .await;
    let (status, location, _) = post_as(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "reset_totp")],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/console/operators"));
    let (status, _) = page_of(&app, &admin, "/console/users").await;
    assert_eq!(status, 303, "the admin's session ended");
    let (_, after_v) = {
        let (a, _, _, after) = last_audit(&app, &format!("operator:{admin_id}")).await;
        (a, serde_json::from_str::<Value>(&after).expect("json"))
    };
    assert_eq!(after_v["totp"], false);
    assert_eq!(after_v["sessions_ended"], 1);
    let (_, location, _) = password_step(&app, "admin@test.local", &password).await;
    assert_eq!(location, "/console/enrol");
    let (admin, _) = sign_in_as(&app, "admin@test.local", &password).await;

    // Enrolled again: the password leads to the code.
    let (status, location, _) = password_step(&app, "admin@test.local", &password).await;
    assert_eq!((status, location.as_str()), (303, "/console/code"));

    // Sessions ended: the admin is signed out everywhere.
    let (status, _, _) = post_as(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "end_sessions")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _) = page_of(&app, &admin, "/console/users").await;
    assert_eq!(status, 303);

    // Disabled: cannot sign in (recorded), enabled again: can.
    post_as(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "disable")],
    )
    .await;
    let (status, _, _) = password_step(&app, "admin@test.local", &password).await;
    assert_eq!(status, 401);
    let (action, _, _, after) = last_audit(&app, &format!("operator:{admin_id}")).await;
    assert_eq!(
        (action.as_str(), after.as_str()),
        (
            "operator.sign_in_failed",
            json!({"why": "disabled"}).to_string().as_str()
        )
    );
    post_as(
        &app,
        &owner,
        &format!("/console/operators/{admin_id}"),
        &[("do", "enable")],
    )
    .await;
    let (status, location, _) = password_step(&app, "admin@test.local", &password).await;
    assert_eq!((status, location.as_str()), (303, "/console/code"));
    app.stop().await;
});

engine_test!(console_last_owner_and_recovery_codes, |db| {
    let app = TestApp::builder(db).spawn().await;
    let now = app.state.now();
    let a = signed_in(&app, "a@test.local", "owner").await;
    let b_password = operator(&app, "b@test.local", "owner").await;
    let (a_id, b_id) = (
        operator_id(&app, "a@test.local").await,
        operator_id(&app, "b@test.local").await,
    );
    // Owner A disables owner B; A is now the last active owner.
    let (status, _, _) = post_as(
        &app,
        &a,
        &format!("/console/operators/{b_id}"),
        &[("do", "disable")],
    )
    .await;
    assert_eq!(status, 303);
    // B, acting on what they knew before (two owners at once), cannot disable A.
    let stale_b = Acting {
        id: b_id.clone(),
        email: "b@test.local".into(),
        role: Role::Owner,
    };
    let before = operators_now(&app).await;
    for change in [Change::Disable, Change::Role(Role::Admin)] {
        match operators::change(&app.store, &stale_b, &a_id, change, now).await {
            Err(OperatorError::Invalid(t)) => assert_eq!(t, souk_store::LAST_OWNER),
            other => panic!("the last owner changed: {other:?}"),
        }
    }
    assert_eq!(operators_now(&app).await, before);
    let (action, _, _, _) = last_audit(&app, &format!("operator:{a_id}")).await;
    assert_eq!(
        action, "operator.sign_in",
        "no audit row of a refused change"
    );

    // B enabled again signs in, enrols, and later uses a recovery code: audited.
    post_as(
        &app,
        &a,
        &format!("/console/operators/{b_id}"),
        &[("do", "enable")],
    )
    .await;
    let (_, codes) = sign_in_as(&app, "b@test.local", &b_password).await;
    let (_, location, cookie) = password_step(&app, "b@test.local", &b_password).await;
    assert_eq!(location, "/console/code");
    let cookie = cookie.expect("half-way session");
    let http = no_redirects();
    let page = http
        .get(format!("{}/console/code", app.url))
        .header(COOKIE, format!("souk_console={cookie}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"");
    let r = http
        .post(format!("{}/console/code", app.url))
        .header(COOKIE, format!("souk_console={cookie}"))
        .form(&[("csrf", csrf.as_str()), ("code", codes[0].as_str())])
        .send()
        .await
        .expect("code");
    assert_eq!(r.status(), 303);
    let rows = audit_of(&app, &format!("operator:{b_id}")).await;
    let tail: Vec<(&str, &Value, &Value)> = rows
        .iter()
        .rev()
        .take(2)
        .map(|r| (r.0.as_str(), &r.2, &r.3))
        .collect();
    assert_eq!(
        tail,
        [
            (
                "operator.sign_in",
                &Value::Null,
                &json!({"second_factor": "recovery code"})
            ),
            (
                "operator.recovery_code",
                &json!({"left": 10}),
                &json!({"left": 9})
            ),
        ]
    );
    app.stop().await;
});

engine_test!(sms_messages_phone_filter, |db| {
    let app = TestApp::builder(db).spawn().await;
    crate::sms::sms_fixture(&app).await;
    let (status, injected) = app
        .operator(
            reqwest::Method::POST,
            "/sms/inject",
            Some(json!({"phone": crate::sms::US1, "text": "Your code is 4321"})),
        )
        .await;
    assert!(status < 300, "{injected}");
    // A phone filter that is no phone was read as no filter: every phone's messages.
    let read = app.store.sms_messages(Some("nobody"), 100).await;
    assert!(
        matches!(&read, Err(souk_store::StoreError::Invalid(t)) if t == "Invalid phone number \"nobody\""),
        "{read:?}"
    );
    let (status, body) = app
        .operator(reqwest::Method::GET, "/sms/messages?phone=nobody", None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "Invalid phone number \"nobody\"");
    // A blank filter is no filter; a real one, that phone's.
    assert_eq!(
        app.store
            .sms_messages(Some(" "), 100)
            .await
            .expect("read")
            .len(),
        1
    );
    assert_eq!(
        app.store
            .sms_messages(Some(crate::sms::US2), 100)
            .await
            .expect("read")
            .len(),
        0
    );
    app.stop().await;
});

/// The SMS records as the store keeps them: countries, projects, gateways, numbers.
async fn sms_state(app: &TestApp) -> Vec<String> {
    let mut all = Vec::new();
    for c in app.store.sms_countries(false).await.expect("countries") {
        all.push(format!(
            "country {} {} {:?} {}",
            c.code,
            c.name.en(),
            c.name.translations(),
            c.active
        ));
    }
    for p in app.store.sms_projects(false).await.expect("projects") {
        all.push(format!(
            "project {} {} {:?} {}",
            p.code,
            p.name.en(),
            p.name.translations(),
            p.active
        ));
    }
    for g in app.store.sms_gateways().await.expect("gateways") {
        all.push(format!("gateway {} {} {}", g.id, g.name, g.active));
    }
    for n in app.store.sms_numbers().await.expect("numbers") {
        all.push(format!(
            "number {} {} {:?} {:?} {}",
            n.phone, n.country_code, n.gateway_id, n.projects, n.active
        ));
    }
    all
}

engine_test!(console_sms_screens, |db| {
    let app = TestApp::builder(db).spawn().await;
    let fixture = crate::sms::sms_fixture(&app).await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let secret = "the-new-gateway-secret-7f3a9";
    let replaced = "a-replacement-secret-0c1d2e";

    // Support reads, with no forms, and every POST is refused.
    let (status, body) = page_of(&app, &support, "/console/sms").await;
    assert_eq!(status, 200);
    for form in [
        "sms-project-form",
        "sms-gateway-form",
        "sms-number-form",
        "number-off",
    ] {
        assert!(!body.contains(form), "{form}");
    }
    let before = sms_state(&app).await;
    for (path, fields) in [
        (
            "/console/sms/gateways",
            vec![("name", "G"), ("secret", secret)],
        ),
        (
            "/console/sms/projects",
            vec![("code", "wa"), ("name", "WhatsApp")],
        ),
        ("/console/sms/countries/us", vec![("name", "USA")]),
        (
            "/console/sms/numbers",
            vec![("phone", "+12025550199"), ("country", "us")],
        ),
    ] {
        let (status, _, _) = post_as(&app, &support, path, &fields).await;
        assert_eq!(status, 403, "{path}");
    }
    let (status, _) = page_of(&app, &support, "/console/sms/countries/us").await;
    assert_eq!(status, 403);
    assert_eq!(sms_state(&app).await, before);

    // Bad input: a clear error each, nothing changed.
    for (path, fields, error) in [
        (
            "/console/sms/gateways",
            vec![("name", "G"), ("secret", "short")],
            "A gateway secret needs at least 16 characters",
        ),
        (
            "/console/sms/gateways",
            vec![("name", " "), ("secret", secret)],
            "A name is required",
        ),
        (
            "/console/sms/projects",
            vec![("code", "tg"), ("name", "Telegram again")],
            "A project with code tg already exists",
        ),
        (
            "/console/sms/projects",
            vec![("code", "T G"), ("name", "Bad")],
            "Invalid project code &quot;t g&quot; (1 to 16 of a-z, 0-9, _)",
        ),
        (
            "/console/sms/countries/us",
            vec![("name", ""), ("active", "on")],
            "A name is required",
        ),
        (
            "/console/sms/countries/zz",
            vec![("name", "Nowhere")],
            "No such country",
        ),
        (
            "/console/sms/countries/us",
            vec![
                ("name", "United States"),
                ("name_ru", "США"),
                ("active", "on"),
            ],
            "Nothing was changed",
        ),
        (
            "/console/sms/numbers",
            vec![("phone", "nobody"), ("country", "us")],
            "Write the phone like +12025550101",
        ),
        (
            "/console/sms/numbers",
            vec![("phone", crate::sms::US1), ("country", "us")],
            "The number +12025550101 is already in the pool",
        ),
        (
            "/console/sms/numbers",
            vec![
                ("phone", "+12025550199"),
                ("country", "us"),
                ("projects", "nope"),
            ],
            "Unknown project nope",
        ),
        (
            "/console/sms/numbers",
            vec![
                ("phone", "+12025550199"),
                ("country", "us"),
                ("gateway", "nope"),
            ],
            "No such gateway",
        ),
    ] {
        let (status, _, body) = post_as(&app, &admin, path, &fields).await;
        assert_eq!(
            (status, alert(&body)),
            (422, error.to_owned()),
            "{path} {fields:?}"
        );
    }
    let (status, body) = post_ru(
        &app,
        &admin,
        "/console/sms/projects",
        &[("code", "tg"), ("name", "Telegram again")],
    )
    .await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Проект с кодом tg уже есть.")
    );
    assert_eq!(sms_state(&app).await, before);

    // A gateway made with a typed secret, renamed, its secret replaced: never shown.
    let (status, location, _) = post_as(
        &app,
        &admin,
        "/console/sms/gateways",
        &[("name", "Gateway B"), ("secret", secret)],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/console/sms"));
    let b = app
        .store
        .sms_gateways()
        .await
        .expect("gateways")
        .into_iter()
        .find(|g| g.name == "Gateway B")
        .expect("made")
        .id;
    let (status, location, _) = post_as(
        &app,
        &admin,
        &format!("/console/sms/gateways/{b}"),
        &[
            ("name", "Gateway B2"),
            ("active", "on"),
            ("secret", replaced),
        ],
    )
    .await;
    assert_eq!((status, location.as_str()), (303, "/console/sms"));
    assert_eq!(
        audit_of(&app, &format!("sms-gateway:{b}")).await,
        [
            (
                "sms.gateway_create".to_owned(),
                "admin@test.local".to_owned(),
                Value::Null,
                json!({"name": "Gateway B", "active": true, "secret": "set"}),
            ),
            (
                "sms.gateway".to_owned(),
                "admin@test.local".to_owned(),
                json!({"name": "Gateway B", "active": true, "secret": "set"}),
                json!({"name": "Gateway B2", "active": true, "secret": "replaced"}),
            ),
        ]
    );
    // The replaced secret is the one the webhook checks now.
    let stored = app
        .store
        .sms_gateway_secret(&b)
        .await
        .expect("read")
        .expect("gateway");
    assert_eq!(stored.secret, replaced);

    // A country renamed and turned off, a project made and edited, a number added and
    // turned off: each audited with before and after.
    let (status, _, _) = post_as(
        &app,
        &admin,
        "/console/sms/countries/gb",
        &[("name", "Britain"), ("name_ru", "Британия")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        audit_of(&app, "sms-country:gb").await,
        [
            // The fixture made it through the operator API, audited as such.
            (
                "sms.country".to_owned(),
                "operator API".to_owned(),
                Value::Null,
                json!({"name": "United Kingdom", "ru": "Великобритания", "active": true}),
            ),
            (
                "sms.country".to_owned(),
                "admin@test.local".to_owned(),
                json!({"name": "United Kingdom", "ru": "Великобритания", "active": true}),
                json!({"name": "Britain", "ru": "Британия", "active": false}),
            )
        ]
    );
    let (status, _, _) = post_as(
        &app,
        &admin,
        "/console/sms/projects",
        &[("code", "WA"), ("name", "WhatsApp"), ("name_ru", "Ватсап")],
    )
    .await;
    assert_eq!(status, 303);
    let (status, _, _) = post_as(
        &app,
        &admin,
        "/console/sms/projects/wa",
        &[("name", "WhatsApp"), ("name_ru", "Вотсап")],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        audit_of(&app, "sms-project:wa")
            .await
            .into_iter()
            .map(|r| (r.0, r.2, r.3))
            .collect::<Vec<_>>(),
        [
            (
                "sms.project_create".to_owned(),
                Value::Null,
                json!({"code": "wa", "name": "WhatsApp", "ru": "Ватсап", "active": true})
            ),
            (
                "sms.project".to_owned(),
                json!({"name": "WhatsApp", "ru": "Ватсап", "active": true}),
                json!({"name": "WhatsApp", "ru": "Вотсап", "active": false})
            ),
        ]
    );
    let (status, _, _) = post_as(
        &app,
        &admin,
        "/console/sms/numbers",
        &[
            ("phone", "+1 202 555 0199"),
            ("country", "us"),
            ("gateway", &b),
            ("projects", "tg, wa"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let number = souk_app::sms_admin::number(&app.store, "+12025550199")
        .await
        .expect("added");
    assert_eq!(
        (
            number.projects.clone(),
            number.active,
            number.gateway_id.as_deref()
        ),
        (
            vec!["tg".to_owned(), "wa".to_owned()],
            true,
            Some(b.as_str())
        )
    );
    let (status, _, _) = post_as(
        &app,
        &admin,
        &format!("/console/sms/numbers/{}", number.id),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    assert_eq!(
        last_audit(&app, "sms-number:+12025550199").await,
        (
            "sms.number".to_owned(),
            "admin@test.local".to_owned(),
            json!({"active": true}).to_string(),
            json!({"active": false}).to_string(),
        )
    );
    assert!(
        !souk_app::sms_admin::number(&app.store, &number.id)
            .await
            .expect("read")
            .active
    );

    // Messages and activations, page by page, filtered; a phone that is no phone is an
    // error, not everyone's messages.
    for i in 0..3 {
        let (status, _) = app
            .operator(
                reqwest::Method::POST,
                "/sms/inject",
                Some(json!({"phone": crate::sms::US2, "text": format!("Message {i}")})),
            )
            .await;
        assert!(status < 300);
    }
    let (status, body) =
        page_of(&app, &support, "/console/sms/messages?phone=%2B12025550102").await;
    assert_eq!(status, 200);
    assert!(body.contains("Messages: 3</p>"), "{body}");
    let (status, body) = page_of(&app, &support, "/console/sms/messages?phone=nobody").await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Write the phone like +12025550101.")
    );
    assert!(!body.contains("Message 0"));
    let (status, body) = page_ru(&app, &support, "/console/sms/messages?phone=nobody").await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Пишите телефон так: +12025550101.")
    );
    let (status, body) = page_of(&app, &support, "/console/sms/activations?status=bogus").await;
    assert_eq!((status, alert(&body).as_str()), (422, "No such status."));
    let (status, _) = page_of(
        &app,
        &support,
        "/console/sms/activations?status=active&page=2",
    )
    .await;
    assert_eq!(status, 200);

    // No page shows a gateway's secret, old or new.
    let mut pages = Vec::new();
    for path in [
        "/console/sms".to_owned(),
        format!("/console/sms/gateways/{b}"),
        format!("/console/sms/gateways/{}", fixture.gateway),
        "/console/sms/countries/us".to_owned(),
        "/console/sms/projects/tg".to_owned(),
        "/console/sms/messages".to_owned(),
        "/console/sms/activations".to_owned(),
        "/console/audit".to_owned(),
        format!("/console/audit?subject=sms-gateway%3A{b}"),
    ] {
        let (status, body) = page_of(&app, &admin, &path).await;
        assert_eq!(status, 200, "{path}");
        for s in [secret, replaced, fixture.secret.as_str()] {
            assert!(!body.contains(s), "{path} shows a secret");
        }
        pages.push((path, body));
    }
    crate::html_validator::validate(&pages);
    app.stop().await;
});
