//! CSV exports of orders, payments and the ledger for a date range, streamed: the rows
//! are read a page at a time while the response is being sent, never gathered in memory.

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream;
use serde::Deserialize;
use souk_app::operators::Permission;
use souk_store::{OrderFilter, DAY_MS};

use super::{money, parse_day, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::PagePath;

const CHUNK: i64 = 1000;

#[derive(Deserialize, Default)]
pub struct Range {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// A CSV field: quoted when it holds a separator, a quote or a line break; a leading
/// `= + - @` is prefixed with `'` so a spreadsheet never runs it as a formula.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

enum Cursor {
    Start,
    Orders(Option<i64>),
    Ledger(i64),
    /// After this payment's (created_at, id).
    Payments(Option<(i64, String)>),
    Done,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum What {
    Orders,
    Ledger,
    Payments,
}

const PAYMENT_HEADER: &str = "id,buyer,gateway,state,amount,fee,total,currency,received,credited,bonus_credited,late,created_at,settled_at\n";

/// One payment as a CSV line (never its pay link: that is the buyer's).
fn payment_line(p: &souk_store::PaymentRecord) -> String {
    format!(
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
        field(&p.id),
        field(&p.email),
        field(&p.gateway),
        p.state,
        money(p.amount),
        money(p.fee),
        money(p.total),
        field(&p.currency),
        p.received.map(money).unwrap_or_default(),
        money(p.credited),
        money(p.bonus_credited),
        p.late,
        souk_core::clock::iso_millis(p.created_at),
        p.settled_at
            .map(souk_core::clock::iso_millis)
            .unwrap_or_default()
    )
}

pub async fn csv(
    State(state): State<AppState>,
    c: Console,
    PagePath(what): PagePath<String>,
    Query(r): Query<Range>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let (Some(from), Some(to)) = (parse_day(&r.from), parse_day(&r.to)) else {
        return Ok((
            StatusCode::BAD_REQUEST,
            "from and to are days written 2026-12-31\n",
        )
            .into_response());
    };
    let to = to + DAY_MS;
    let kind = match what.as_str() {
        "orders" => What::Orders,
        "ledger" => What::Ledger,
        "payments" => What::Payments,
        _ => return Err(ConsoleError::NotFound),
    };
    let header_line = match kind {
        What::Orders => "id,buyer,kind,service,status,quantity,delivered,charge,refunded,provider,provider_cost,created_at\n",
        What::Ledger => "id,user,kind,amount,balance_after,order,payment,note,created_at\n",
        What::Payments => PAYMENT_HEADER,
    };
    let store = state.store.clone();
    let body = stream::unfold(Cursor::Start, move |cursor| {
        let store = store.clone();
        async move {
            let (text, next) = match cursor {
                Cursor::Done => return None,
                Cursor::Start => (
                    header_line.to_owned(),
                    match kind {
                        What::Orders => Cursor::Orders(None),
                        What::Ledger => Cursor::Ledger(0),
                        What::Payments => Cursor::Payments(None),
                    },
                ),
                Cursor::Payments(after) => {
                    match store.payments_range(from, to, after, CHUNK).await {
                        Err(e) => {
                            return Some((Err(std::io::Error::other(e.to_string())), Cursor::Done))
                        }
                        Ok(rows) => {
                            let out: String = rows.iter().map(payment_line).collect();
                            let next = match rows.last() {
                                Some(last) if rows.len() as i64 == CHUNK => {
                                    Cursor::Payments(Some((last.created_at, last.id.clone())))
                                }
                                _ => Cursor::Done,
                            };
                            (out, next)
                        }
                    }
                }
                Cursor::Orders(before) => {
                    let filter = OrderFilter {
                        from: Some(from),
                        to: Some(to),
                        before_id: before,
                        ..OrderFilter::default()
                    };
                    match store.console_orders(&filter, CHUNK).await {
                        Err(e) => {
                            return Some((Err(std::io::Error::other(e.to_string())), Cursor::Done))
                        }
                        Ok(rows) => {
                            let mut out = String::new();
                            for o in &rows {
                                out.push_str(&format!(
                                    "{},{},{},{},{},{},{},{},{},{},{},{}\n",
                                    o.id,
                                    field(&o.email),
                                    o.kind,
                                    o.service_number.map(|n| n.to_string()).unwrap_or_default(),
                                    o.status,
                                    o.quantity,
                                    o.delivered,
                                    money(o.charge),
                                    money(o.refunded),
                                    field(o.provider_id.as_deref().unwrap_or("")),
                                    o.provider_cost.map(money).unwrap_or_default(),
                                    souk_core::clock::iso_millis(o.created_at)
                                ));
                            }
                            let next = match rows.last() {
                                Some(last) if rows.len() as i64 == CHUNK => {
                                    Cursor::Orders(Some(last.id))
                                }
                                _ => Cursor::Done,
                            };
                            (out, next)
                        }
                    }
                }
                Cursor::Ledger(after) => match store.ledger_range(from, to, after, CHUNK).await {
                    Err(e) => {
                        return Some((Err(std::io::Error::other(e.to_string())), Cursor::Done))
                    }
                    Ok(rows) => {
                        let mut out = String::new();
                        for l in &rows {
                            out.push_str(&format!(
                                "{},{},{},{},{},{},{},{},{}\n",
                                l.id,
                                field(&l.email),
                                l.kind,
                                money(l.amount),
                                money(l.balance_after),
                                l.order_id.map(|n| n.to_string()).unwrap_or_default(),
                                field(l.payment_id.as_deref().unwrap_or("")),
                                field(&l.note),
                                souk_core::clock::iso_millis(l.created_at)
                            ));
                        }
                        let next = match rows.last() {
                            Some(last) if rows.len() as i64 == CHUNK => Cursor::Ledger(last.id),
                            _ => Cursor::Done,
                        };
                        (out, next)
                    }
                },
            };
            Some((Ok::<Bytes, std::io::Error>(Bytes::from(text)), next))
        }
    });
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let name = format!(
        "attachment; filename=\"souk-{what}-{}-{}.csv\"",
        r.from.trim(),
        r.to.trim()
    );
    if let Ok(v) = HeaderValue::from_str(&name) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
