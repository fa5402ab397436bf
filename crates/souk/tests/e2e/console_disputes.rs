//! A dispute's page in the operator console over plain HTTP: its thread oldest first
//! (the buyer's opening message, then the buyer's, the supplier's and the operators'
//! messages, escaped), and support's message through the audited use case: the buyer
//! reads it on their order's page and the shop's supplier through its API's thread, and
//! it is the audit row `dispute.message`. An empty or too long message, one without the
//! form's token and one in a resolved dispute are refused (in Russian too) and change
//! nothing.

use serde_json::{json, Value};

use crate::console::{alert, page_of, post_as, signed_in};
use crate::console_catalogue::{in_russian, without_token};
use crate::engine_test;
use crate::harness::{TestApp, TestDb};
use crate::supply_kit::{get, market, ok, post, supplier, As};
use crate::web::page;
use crate::web_store::one_line_sold;

/// What a message changes: the dispute's thread, every audit row, and the buyer's events.
async fn thread_state(app: &TestApp, db: &TestDb, dispute: &str) -> (String, usize, i64) {
    let thread = app.store.dispute_messages(dispute).await.expect("thread");
    let audit = app
        .store
        .audit_log(None, None, 1000)
        .await
        .expect("audit")
        .len();
    let events = db.scalar("SELECT COUNT(*) FROM events").await;
    (format!("{thread:?}"), audit, events)
}

engine_test!(console_dispute_thread, |db| {
    let app = TestApp::spawn(db).await;
    let (_, subcategory) = market(&app).await;
    let (seller, _, _) = supplier(&app, "seller@example.com", "Seller").await;
    let (cookie, key, order) = one_line_sold(&app, &seller, &subcategory, "Thread Mail").await;
    let opened = app
        .call(&[
            ("key", &key),
            ("action", "dispute"),
            ("order", &order.to_string()),
            ("message", "The account <b>does not</b> sign in"),
        ])
        .await;
    let dispute = opened["dispute"]
        .as_str()
        .unwrap_or_else(|| panic!("{opened}"))
        .to_owned();
    // The supplier answers first, through its API.
    let supplier_thread = format!("/api/admin/v2/orders/{order}/dispute");
    ok(
        201,
        post(
            &app,
            As::Key(&seller),
            &format!("{supplier_thread}/messages"),
            json!({"message": "It signs in for us"}),
        )
        .await,
    );
    let support = signed_in(&app, "support@test.local", "support").await;
    let path = format!("/console/disputes/{dispute}");
    let action = format!("{path}/messages");

    // The list leads to the dispute's page: the thread oldest first, escaped, and a form.
    let (status, list) = page_of(&app, &support, "/console/disputes").await;
    assert_eq!(status, 200);
    assert!(list.contains(&format!("href=\"{path}\"")), "{list}");
    let (status, open_page) = page_of(&app, &support, &path).await;
    assert_eq!(status, 200);
    let body = &open_page;
    let thread = &body[body.find("id=\"dispute-thread\"").expect("thread")..];
    let buyer_said = thread
        .find("<li class=\"buyer\"><span class=\"who\">Buyer</span>")
        .expect("the buyer's opening message");
    let supplier_said = thread
        .find("<li class=\"supplier\"><span class=\"who\">Supplier</span>")
        .expect("the supplier's message");
    assert!(buyer_said < supplier_said, "oldest first");
    assert!(thread.contains("The account &lt;b&gt;does not&lt;/b&gt; sign in"));
    assert!(!body.contains("<b>does not</b>"), "escaped");
    assert!(body.contains(&format!("action=\"{action}\"")));

    // Bad input: refused on the page with what was typed, nothing written or audited.
    let before = thread_state(&app, db, &dispute).await;
    let long = "x".repeat(2001);
    for (message, error) in [
        ("   ", "Write a message."),
        (long.as_str(), "Message is too long (max 2000 characters)"),
    ] {
        let (status, _, body) = post_as(&app, &support, &action, &[("message", message)]).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()));
        assert!(
            body.contains("id=\"dispute-message-form\""),
            "the form again"
        );
    }
    let (status, body) = in_russian(&app, &support, &action, Some(&[("message", " ")])).await;
    assert_eq!(
        (status, alert(&body)),
        (422, "Напишите сообщение.".to_owned())
    );
    let (status, body) = in_russian(&app, &support, &action, Some(&[("message", &long)])).await;
    assert_eq!(
        (status, alert(&body)),
        (
            422,
            "Сообщение слишком длинное (не больше 2000 символов)".to_owned()
        )
    );
    let (_, _, refused_page) = post_as(&app, &support, &action, &[("message", "")]).await;
    assert_eq!(
        without_token(&app, &support, &action, &[("message", "no token")]).await,
        403
    );
    let (status, _, _) = post_as(
        &app,
        &support,
        "/console/disputes/0123456789abcdef01234567/messages",
        &[("message", "Nobody's")],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(thread_state(&app, db, &dispute).await, before);

    // Support writes: back to the page, the message last in the thread and audited.
    let said = "Please try again <now> & tell us what it says";
    let (status, location, _) = post_as(&app, &support, &action, &[("message", said)]).await;
    assert_eq!((status, location.as_str()), (303, path.as_str()));
    let escaped = "Please try again &lt;now&gt; &amp; tell us what it says";
    let (_, body) = page_of(&app, &support, &path).await;
    let thread = &body[body.find("id=\"dispute-thread\"").expect("thread")..];
    let operator_said = thread
        .find("<li class=\"operator\"><span class=\"who\">Operator</span>")
        .expect("the operator's message");
    assert!(supplier_said < operator_said && thread.contains(escaped));
    let rows = app
        .store
        .audit_log(Some(&format!("order:{order}")), None, 10)
        .await
        .expect("audit");
    let row = rows.first().expect("a row");
    assert_eq!(
        (
            row.action.as_str(),
            row.operator_email.as_str(),
            row.before_value.as_deref(),
            row.after_value
                .as_deref()
                .map(|a| serde_json::from_str::<Value>(a).expect("json")),
        ),
        (
            "dispute.message",
            "support@test.local",
            None,
            Some(json!({"dispute": dispute, "message": said})),
        )
    );
    // The buyer reads it on their order's page, the supplier in its API's thread.
    let (status, html) = page(&app, &cookie, &format!("/account/orders/{order}")).await;
    assert_eq!(status, 200);
    let buyers = &html[html.find("class=\"messages\"").expect("thread")..];
    assert!(
        buyers.contains("<li class=\"operator\"><span class=\"who\">Operator</span>")
            && buyers.contains(escaped),
        "{buyers}"
    );
    let seen = ok(200, get(&app, As::Key(&seller), &supplier_thread).await);
    let messages = seen["disputes"][0]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| (m["author"].clone(), m["message"].clone()))
        .collect::<Vec<_>>();
    assert_eq!(
        messages,
        [
            (json!("supplier"), json!("It signs in for us")),
            (json!("operator"), json!(said)),
        ]
    );

    // Resolved, the thread is closed: no form, and a late message is refused.
    let (status, _, _) = post_as(
        &app,
        &support,
        &path,
        &[("decision", "reject"), ("note", "It works")],
    )
    .await;
    assert_eq!(status, 303);
    let (_, resolved_page) = page_of(&app, &support, &path).await;
    assert!(!resolved_page.contains("id=\"dispute-message-form\""));
    assert!(resolved_page.contains(escaped), "the thread stays readable");
    let before = thread_state(&app, db, &dispute).await;
    let (status, _, body) = post_as(&app, &support, &action, &[("message", "late")]).await;
    assert_eq!(
        (status, alert(&body)),
        (422, format!("Dispute {dispute} is already rejected"))
    );
    let (status, body) = in_russian(&app, &support, &action, Some(&[("message", "late")])).await;
    assert_eq!(
        (status, alert(&body)),
        (422, format!("Спор {dispute} уже решён (rejected)."))
    );
    assert_eq!(thread_state(&app, db, &dispute).await, before);

    crate::html_validator::validate(&[
        ("/console/disputes".to_owned(), list),
        (path.clone(), open_page.clone()),
        (format!("{path}?resolved"), resolved_page),
        (action.clone(), refused_page),
    ]);
    app.stop().await;
});
