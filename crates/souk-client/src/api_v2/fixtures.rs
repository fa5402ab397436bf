//! The answers of real panels, one fixture per shape (written from the API pages those
//! panels publish), read by the parsers the client uses; and a local server answering
//! them as PHP panels do, at the paths panels use.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::*;

fn with_seen<T>(f: impl FnOnce(&mut Seen) -> T) -> (T, Vec<Oddity>) {
    let mut seen = Seen::new();
    let out = f(&mut seen);
    (out, seen.into_iter().collect())
}

fn m(text: &str) -> Money {
    Money::parse(text).expect("money")
}

/// PerfectPanel's own example: a bare array, numbers as strings, booleans as booleans.
const PERFECTPANEL_SERVICES: &str = r#"[
    {"service": 1, "name": "Followers", "type": "Default", "category": "First Category",
     "rate": "0.90", "min": "50", "max": "10000", "refill": true, "cancel": true},
    {"service": 2, "name": "Comments", "type": "Custom Comments", "category": "Second Category",
     "rate": "8", "min": "10", "max": "1500", "refill": false, "cancel": true}
]"#;

/// A PHP panel: wrapped in `data`, everything a string, types in lower case, flags as
/// "1"/"0", a `desc` field, `start_count` null elsewhere.
const PHP_SERVICES: &str = r#"{"status":"success","data":[
    {"service":"680","name":"IG Likes","type":"default","category":"Instagram","rate":"0.4200",
     "min":"10","max":"5000","refill":"1","cancel":"0","dripfeed":1,"desc":"Fast start"},
    {"service":"681","name":"IG Comments","type":"custom_comments","category":"Instagram",
     "rate":"12.5","min":"5","max":"100","refill":"0","cancel":"0","dripfeed":"0"},
    {"service":"682","name":"Broken","type":"default","category":"Instagram","rate":"x","min":"1","max":"2"}
]}"#;

#[test]
fn services_bare_perfectpanel() {
    let v: Value = serde_json::from_str(PERFECTPANEL_SERVICES).expect("fixture");
    let (rows, seen) = with_seen(|s| parse_services(&v, s));
    let rows = rows.expect("services");
    assert_eq!(seen, vec![Oddity::NumbersAsStrings]);
    assert_eq!(
        rows[1],
        RemoteService {
            service: "2".into(),
            name: "Comments".into(),
            type_name: "Custom Comments".into(),
            category: "Second Category".into(),
            rate: m("8"),
            min: 10,
            max: 1500,
            refill: false,
            cancel: true,
            dripfeed: false,
            entity: "smm".into(),
            stock: None,
            description: String::new(),
            subcategory_id: None,
        }
    );
}

#[test]
fn services_wrapped_with_strings_and_lower_case_types() {
    let v: Value = serde_json::from_str(PHP_SERVICES).expect("fixture");
    let (rows, seen) = with_seen(|s| parse_services(&v, s));
    let rows = rows.expect("services");
    assert_eq!(
        seen,
        vec![
            Oddity::NumbersAsStrings,
            Oddity::BooleansAsNumbers,
            Oddity::TypeSpelling,
            Oddity::WrappedList
        ]
    );
    // The row without a readable rate is skipped.
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.service.as_str(),
                r.type_name.as_str(),
                r.rate,
                r.min,
                r.max,
                r.refill,
                r.dripfeed,
                r.description.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "680",
                "Default",
                m("0.42"),
                10,
                5000,
                true,
                true,
                "Fast start"
            ),
            (
                "681",
                "Custom Comments",
                m("12.5"),
                5,
                100,
                false,
                false,
                ""
            ),
        ]
    );
}

#[test]
fn services_in_the_marketplace_shape_and_empty_lists() {
    let souk = json!({"services": [{"service": 7, "name": "Netflix", "type": "Default",
        "category": "Accounts", "rate": "2.00", "min": 1, "max": 10, "refill": false,
        "cancel": false, "stock": 15, "entityType": "product"}], "total": 1});
    let (rows, seen) = with_seen(|s| parse_services(&souk, s));
    let rows = rows.expect("services");
    assert_eq!(seen, vec![]);
    assert_eq!(
        (rows[0].entity.as_str(), rows[0].stock),
        ("product", Some(15))
    );
    let empty = json!({"status": "success", "data": "Empty Data"});
    assert_eq!(
        with_seen(|s| parse_services(&empty, s)),
        (Ok(vec![]), vec![Oddity::EmptyListAsText])
    );
    // A text that does not say "empty" is not taken for an empty list.
    let odd = json!({"status": "success", "data": "Maintenance"});
    assert_eq!(
        with_seen(|s| parse_services(&odd, s)).0,
        Err(ClientError::Garbage("no services list".into()))
    );
    let refused = json!({"status": "error", "message": "Invalid API key"});
    assert_eq!(
        with_seen(|s| parse_services(&refused, s)),
        (
            Err(ClientError::Api("Invalid API key".into())),
            vec![Oddity::ErrorAsStatus]
        )
    );
}

#[test]
fn add_answers() {
    for (answer, id, seen) in [
        (json!({"order": 23501}), "23501", vec![]),
        (
            json!({"order": "23501"}),
            "23501",
            vec![Oddity::NumbersAsStrings],
        ),
        (
            json!({"status": "success", "order": "1"}),
            "1",
            vec![Oddity::NumbersAsStrings],
        ),
    ] {
        assert_eq!(
            with_seen(|s| parse_add(&answer, false, s)),
            (Ok(id.to_owned()), seen),
            "{answer}"
        );
    }
    for (answer, error) in [
        (
            json!({"error": "Not enough funds on balance"}),
            "Not enough funds on balance",
        ),
        (json!("Incorrect service ID"), "Incorrect service ID"),
        (
            json!({"status": "error", "message": "Link is invalid"}),
            "Link is invalid",
        ),
        (
            json!({"status": "fail", "error": "Quantity too low"}),
            "Quantity too low",
        ),
    ] {
        assert_eq!(
            with_seen(|s| parse_add(&answer, false, s)).0,
            Err(ClientError::Api(error.into())),
            "{answer}"
        );
    }
    // No id: it may have been placed.
    for answer in [
        json!({"status": "success"}),
        json!({"order": ""}),
        json!([]),
    ] {
        let got = with_seen(|s| parse_add(&answer, false, s)).0;
        assert!(
            got.as_ref().is_err_and(ClientError::outcome_unknown),
            "{answer}: {got:?}"
        );
    }
    assert_eq!(
        with_seen(|s| parse_add(
            &json!({"error": "Too many orders at once, try again"}),
            true,
            s
        ))
        .0,
        Err(ClientError::KeyConflict(
            "Too many orders at once, try again".into()
        ))
    );
}

/// PerfectPanel's multi-status example, with a PHP panel's bare-string unknown id and a
/// null start count.
#[test]
fn multi_status_answers() {
    let v = json!({
        "1": {"charge": "0.27819", "start_count": "3572", "status": "Partial", "remains": "157", "currency": "USD"},
        "10": {"error": "Incorrect order ID"},
        "100": {"charge": "1.44219", "start_count": null, "status": "in progress", "remains": "10", "currency": "USD"},
        "101": "Incorrect order ID"
    });
    let ids: Vec<String> = ["1", "10", "100", "101"].map(String::from).to_vec();
    let (map, seen) = with_seen(|s| parse_statuses(&v, &ids, s));
    let map: BTreeMap<_, _> = map.expect("statuses").into_iter().collect();
    assert_eq!(
        seen,
        vec![
            Oddity::NumbersAsStrings,
            Oddity::NullNumbers,
            Oddity::ErrorAsText
        ]
    );
    assert_eq!(
        map["1"],
        Ok(RemoteStatus {
            state: RemoteState::Partial,
            charge: Some(m("0.27819")),
            start_count: Some(3572),
            remains: Some(157),
            accounts: vec![],
            state_text: "Partial".into(),
            posts: None,
            child_orders: Vec::new(),
        })
    );
    assert_eq!(map["10"], Err("Incorrect order ID".into()));
    assert_eq!(
        map["100"].as_ref().map(|s| (&s.state, s.start_count)),
        Ok((&RemoteState::InProgress, None))
    );
    assert_eq!(map["101"], Err("Incorrect order ID".into()));
    // The whole request refused, in each shape.
    for answer in [
        json!({"error": "Invalid API key"}),
        json!("Invalid API key"),
        json!({"status": "error", "message": "Invalid API key"}),
    ] {
        assert_eq!(
            with_seen(|s| parse_statuses(&answer, &ids, s)).0,
            Err(ClientError::Api("Invalid API key".into())),
            "{answer}"
        );
    }
    // A cancelled order reported as "fail" is its state, not an error.
    let failed = json!({"1": {"status": "fail", "charge": "0", "remains": "100"}});
    let map = with_seen(|s| parse_statuses(&failed, &ids, s))
        .0
        .expect("map");
    assert_eq!(
        map["1"].as_ref().map(|s| s.state.clone()),
        Ok(RemoteState::Canceled)
    );
}

#[test]
fn balance_answers() {
    assert_eq!(
        with_seen(|s| parse_balance(&json!({"balance": "100.84292", "currency": "USD"}), s)),
        (Ok((m("100.84292"), "USD".into())), vec![])
    );
    assert_eq!(
        with_seen(|s| parse_balance(
            &json!({"status": "success", "balance": 12.5, "currency": "EUR"}),
            s
        ))
        .0,
        Ok((m("12.5"), "EUR".into()))
    );
    assert_eq!(
        with_seen(|s| parse_balance(&json!({"status": "fail", "message": "Invalid key"}), s)).0,
        Err(ClientError::Api("Invalid key".into()))
    );
}

/// A PHP panel on loopback: every path answers `balance` as it was set up, and the
/// client posts to the URL exactly as given.
#[tokio::test]
async fn the_url_is_used_as_given_and_php_answers_are_read() {
    use axum::http::Uri;
    use axum::response::IntoResponse;
    async fn answer(uri: Uri) -> axum::response::Response {
        let body = format!(
            "\n{{\"balance\":\"1.50\",\"currency\":\"USD\",\"path\":\"{}\"}}",
            uri.path()
        );
        match uri.path() {
            "/api/v1" => ([("content-type", "text/html; charset=UTF-8")], body).into_response(),
            "/api" => ([("content-type", "text/plain")], format!("\u{feff}{body}")).into_response(),
            "/panel/api.php" => body.into_response(),
            "/maintenance" => (
                [("content-type", "text/html")],
                "<!DOCTYPE html><html><body>Down</body></html>",
            )
                .into_response(),
            _ => ([("content-type", "application/json")], body).into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, axum::Router::new().fallback(answer)).await;
    });
    let client = |path: &str| {
        ApiV2Client::new(
            &format!("http://{addr}{path}"),
            "k",
            Duration::from_secs(5),
            true,
        )
        .expect("client")
    };
    for (path, oddities) in [
        ("/api/v2", vec![Oddity::LeadingWhitespace]),
        (
            "/api/v1",
            vec![Oddity::JsonAsHtml, Oddity::LeadingWhitespace],
        ),
        (
            "/api",
            vec![Oddity::JsonAsText, Oddity::LeadingWhitespace, Oddity::Bom],
        ),
        (
            "/panel/api.php",
            vec![Oddity::JsonAsText, Oddity::LeadingWhitespace],
        ),
    ] {
        let c = client(path);
        let raw = c
            .raw(&[("action", "balance".into())])
            .await
            .expect("answer");
        assert_eq!(raw["path"], path);
        assert_eq!(c.balance().await, Ok((m("1.50"), "USD".into())), "{path}");
        let counted: Vec<(Oddity, u64)> = oddities.into_iter().map(|o| (o, 2)).collect();
        assert_eq!(c.take_oddities(), counted, "{path}");
    }
    assert_eq!(
        client("/maintenance").balance().await,
        Err(ClientError::Html)
    );
    server.abort();
}
