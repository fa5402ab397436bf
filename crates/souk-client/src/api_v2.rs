//! A typed client for API v2 endpoints: HstockPlus and Souk (`{"services":[...],"total"}`,
//! amounts as strings) and PerfectPanel panels (a bare array of services, numbers as
//! strings, `Cancelled`/`Refunded` spellings). Every failure says whether the request may
//! have been processed, which is what decides if an order may be sent again.

use std::collections::HashMap;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use souk_core::{ApiError, Money};

use crate::guard::{check_literal_host, refused_host, shared_client, GuardError};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// The request never left (DNS, refused connection): safe to send again.
    #[error("request not sent: {0}")]
    NotSent(String),
    /// Refused at the HTTP level before any processing (4xx): safe to send again.
    #[error("HTTP {0} from upstream")]
    Refused(u16),
    /// No answer in time: the upstream may or may not have processed it.
    #[error("no answer within the timeout; the request may have been processed")]
    Timeout,
    /// A server fault (5xx): the upstream may or may not have processed it.
    #[error("HTTP {0} from upstream; the request may have been processed")]
    ServerFault(u16),
    #[error("upstream answered with an HTML page")]
    Html,
    #[error("upstream answered with an empty body")]
    Empty,
    #[error("upstream answered with unexpected content: {0}")]
    Garbage(String),
    /// A well-formed `{"error": ...}`: processed and refused.
    #[error("upstream refused: {0}")]
    Api(String),
    /// An `add` sent with an Idempotency-Key that the upstream (another Souk) says is
    /// taken by a different request, or still being placed: the order may be there.
    #[error("upstream answered {0:?} for our idempotency key; it may hold the order")]
    KeyConflict(String),
    #[error("{0}")]
    Destination(#[from] GuardError),
    #[error("bad upstream URL: {0}")]
    BadUrl(String),
}

impl ClientError {
    /// True when the upstream may have acted on the request: an order must not be sent
    /// again blindly (unless the upstream honours idempotency keys).
    pub fn outcome_unknown(&self) -> bool {
        matches!(
            self,
            ClientError::Timeout
                | ClientError::ServerFault(_)
                | ClientError::Html
                | ClientError::Empty
                | ClientError::Garbage(_)
                | ClientError::KeyConflict(_)
        )
    }
}

/// Souk's answers to an `add` whose Idempotency-Key is held by another request or by
/// one still in progress (SPEC 7): neither says the order is absent.
fn is_key_conflict(message: &str) -> bool {
    message == ApiError::IdempotencyKeyReused.to_string() || message == ApiError::Busy.to_string()
}

/// A service (or product) as an upstream lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteService {
    /// The upstream's service number, as text (panels differ in type).
    pub service: String,
    pub name: String,
    pub type_name: String,
    pub category: String,
    /// SMM: per 1000 units; products: per unit.
    pub rate: Money,
    pub min: i64,
    pub max: i64,
    pub refill: bool,
    pub cancel: bool,
    pub dripfeed: bool,
    /// `product` or `smm`; PerfectPanel rows are SMM.
    pub entity: String,
    pub stock: Option<i64>,
    pub description: String,
}

/// A variant of an upstream product (from `inventory`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSubproduct {
    pub id: String,
    pub name: String,
    pub stock: i64,
}

/// An upstream order's state, normalised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteState {
    Pending,
    InProgress,
    Completed,
    Partial,
    Canceled,
    Other(String),
}

impl RemoteState {
    pub fn parse(text: &str) -> RemoteState {
        match text
            .trim()
            .to_ascii_lowercase()
            .replace(['_', '-'], " ")
            .as_str()
        {
            "pending" => RemoteState::Pending,
            "in progress" | "processing" | "inprogress" | "active" => RemoteState::InProgress,
            "completed" | "complete" | "success" => RemoteState::Completed,
            "partial" => RemoteState::Partial,
            "canceled" | "cancelled" | "refunded" | "fail" | "failed" => RemoteState::Canceled,
            other => RemoteState::Other(other.to_owned()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteStatus {
    pub state: RemoteState,
    pub charge: Option<Money>,
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    /// Delivered accounts (marketplace products), all of them so far.
    pub accounts: Vec<String>,
}

/// An order to send upstream.
#[derive(Clone, Debug, Default)]
pub struct RemoteOrder<'a> {
    pub service: &'a str,
    pub link: &'a str,
    pub quantity: i64,
    pub subproduct: Option<&'a str>,
    pub runs: Option<i64>,
    pub interval: Option<i64>,
    /// The SMM type's own fields, sent verbatim.
    pub fields: Vec<(String, String)>,
    pub idempotency_key: Option<&'a str>,
}

#[derive(Clone, Debug)]
pub struct ApiV2Client {
    /// The process's shared pool (`guard::shared_client`): building a client is cheap,
    /// and calls to one provider reuse its connections.
    http: reqwest::Client,
    url: reqwest::Url,
    key: String,
    /// Per request, from the provider's settings.
    timeout: Duration,
    allow_private: bool,
    /// Paced as this provider (`pacing`): its key and requests per second.
    pace: Option<(String, i64)>,
}

/// Numbers arrive as JSON numbers or strings.
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Amounts arrive as strings (`"0.50"`) or JSON numbers (`0.5`).
pub fn money(v: &Value) -> Option<Money> {
    match v {
        Value::String(s) => Money::parse(s).ok(),
        Value::Number(n) => {
            let text = n.to_string();
            Money::parse(&text).ok().or_else(|| {
                n.as_f64()
                    .map(|f| Money::from_micros((f * 1e6).round() as i64))
            })
        }
        _ => None,
    }
}

fn boolean(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_i64().unwrap_or(0) != 0,
        Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        _ => false,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn api_error(v: &Value) -> Option<String> {
    match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    }
}

impl ApiV2Client {
    pub fn new(
        url: &str,
        key: &str,
        timeout: Duration,
        allow_private: bool,
    ) -> Result<ApiV2Client, ClientError> {
        let url = reqwest::Url::parse(url).map_err(|e| ClientError::BadUrl(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ClientError::BadUrl(format!(
                "unsupported scheme {}",
                url.scheme()
            )));
        }
        Ok(ApiV2Client {
            http: shared_client(allow_private),
            url,
            key: key.to_owned(),
            timeout,
            allow_private,
            pace: None,
        })
    }

    /// Every call waits for a slot of provider `key` at `requests_per_second`, shared
    /// with every other call this process makes to it (`pacing`). Callers that must not
    /// wait once a call has begun (forwarding, whose send lease starts before the call)
    /// wait for their slot themselves, and leave this off.
    pub fn paced(mut self, key: &str, requests_per_second: i64) -> ApiV2Client {
        self.pace = Some((key.to_owned(), requests_per_second));
        self
    }

    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// POSTs a form and returns the JSON answer, classifying every failure.
    async fn call(
        &self,
        params: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<Value, ClientError> {
        if !self.allow_private {
            check_literal_host(&self.url)?;
        }
        if let Some((key, rate)) = &self.pace {
            crate::pacing::wait(key, *rate).await;
        }
        let mut form: Vec<(&str, &str)> = vec![("key", self.key.as_str())];
        form.extend(params.iter().map(|(k, v)| (*k, v.as_str())));
        let mut request = self
            .http
            .post(self.url.clone())
            .timeout(self.timeout)
            .form(&form);
        if let Some(key) = idempotency_key {
            request = request.header("Idempotency-Key", key);
        }
        let response = match request.send().await {
            Ok(r) => r,
            // Names are checked as they resolve, for the connection itself.
            Err(e) => {
                return Err(match refused_host(&e) {
                    Some(host) => ClientError::Destination(GuardError::Private(host)),
                    None if e.is_connect() => ClientError::NotSent(e.to_string()),
                    None if e.is_builder() => ClientError::BadUrl(e.to_string()),
                    None => ClientError::Timeout,
                })
            }
        };
        let status = response.status().as_u16();
        let is_html = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("html"));
        let body = response.bytes().await.map_err(|_| ClientError::Timeout)?;
        if status >= 500 {
            return Err(ClientError::ServerFault(status));
        }
        if status >= 400 && status != 429 {
            // Our own transport errors (429 rate limit aside) answer JSON with a 4xx only
            // when nothing was processed.
            return Err(ClientError::Refused(status));
        }
        if status == 429 {
            return Err(ClientError::Refused(status));
        }
        let trimmed = body.trim_ascii();
        if trimmed.is_empty() {
            return Err(ClientError::Empty);
        }
        if is_html || trimmed.first() == Some(&b'<') {
            return Err(ClientError::Html);
        }
        serde_json::from_slice(trimmed).map_err(|_| {
            let snippet: String =
                String::from_utf8_lossy(&trimmed[..trimmed.len().min(80)]).into_owned();
            ClientError::Garbage(snippet)
        })
    }

    pub async fn balance(&self) -> Result<(Money, String), ClientError> {
        let v = self.call(&[("action", "balance".into())], None).await?;
        if let Some(e) = api_error(&v) {
            return Err(ClientError::Api(e));
        }
        let balance = money(&v["balance"]).ok_or_else(|| ClientError::Garbage(v.to_string()))?;
        Ok((balance, text(&v["currency"])))
    }

    /// Every service, from either shape.
    pub async fn services(&self) -> Result<Vec<RemoteService>, ClientError> {
        let v = self.call(&[("action", "services".into())], None).await?;
        if let Some(e) = api_error(&v) {
            return Err(ClientError::Api(e));
        }
        let rows = match &v {
            Value::Array(rows) => rows,
            Value::Object(o) => match o.get("services") {
                Some(Value::Array(rows)) => rows,
                _ => return Err(ClientError::Garbage("no services list".into())),
            },
            _ => return Err(ClientError::Garbage("no services list".into())),
        };
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let service = text(&row["service"]);
            let (Some(rate), Some(min), Some(max)) =
                (money(&row["rate"]), int(&row["min"]), int(&row["max"]))
            else {
                continue;
            };
            if service.is_empty() {
                continue;
            }
            let entity = match row.get("entityType").map(text).as_deref() {
                Some("product") => "product",
                _ => "smm",
            };
            out.push(RemoteService {
                service,
                name: text(&row["name"]),
                type_name: row
                    .get("type")
                    .map(text)
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "Default".into()),
                category: text(&row["category"]),
                rate,
                min,
                max,
                refill: boolean(&row["refill"]),
                cancel: boolean(&row["cancel"]),
                dripfeed: boolean(&row["dripfeed"]),
                entity: entity.into(),
                stock: row.get("stock").and_then(int),
                description: text(&row["description"]),
            });
        }
        Ok(out)
    }

    /// The variants of an upstream product.
    pub async fn subproducts(&self, service: &str) -> Result<Vec<RemoteSubproduct>, ClientError> {
        let v = self
            .call(
                &[
                    ("action", "inventory".into()),
                    ("service", service.to_owned()),
                ],
                None,
            )
            .await?;
        if let Some(e) = api_error(&v) {
            return Err(ClientError::Api(e));
        }
        Ok(v["subproducts"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|s| RemoteSubproduct {
                        id: text(&s["subproductId"]),
                        name: text(&s["name"]),
                        stock: int(&s["stock"]).unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Places an order; returns the upstream's order id.
    pub async fn add(&self, order: &RemoteOrder<'_>) -> Result<String, ClientError> {
        let mut params: Vec<(&str, String)> = vec![
            ("action", "add".into()),
            ("service", order.service.to_owned()),
            ("link", order.link.to_owned()),
            ("quantity", order.quantity.to_string()),
        ];
        if let Some(s) = order.subproduct {
            params.push(("subproduct", s.to_owned()));
        }
        if let Some(r) = order.runs {
            params.push(("runs", r.to_string()));
        }
        if let Some(i) = order.interval {
            params.push(("interval", i.to_string()));
        }
        let fields: Vec<(String, String)> = order.fields.clone();
        let mut all: Vec<(&str, String)> = params;
        for (k, v) in &fields {
            all.push((k.as_str(), v.clone()));
        }
        let v = self.call(&all, order.idempotency_key).await?;
        if let Some(e) = api_error(&v) {
            if order.idempotency_key.is_some() && is_key_conflict(&e) {
                return Err(ClientError::KeyConflict(e));
            }
            return Err(ClientError::Api(e));
        }
        match &v["order"] {
            Value::Null => Err(ClientError::Garbage(v.to_string())),
            id => Ok(text(id)),
        }
    }

    fn parse_status(v: &Value) -> Result<RemoteStatus, String> {
        if let Some(e) = api_error(v) {
            return Err(e);
        }
        let state = v
            .get("status")
            .map(text)
            .ok_or_else(|| "no status".to_owned())?;
        Ok(RemoteStatus {
            state: RemoteState::parse(&state),
            charge: v.get("charge").and_then(money),
            start_count: v.get("start_count").and_then(int),
            remains: v.get("remains").and_then(int),
            accounts: v["accounts"]
                .as_array()
                .map(|a| a.iter().map(text).collect())
                .unwrap_or_default(),
        })
    }

    pub async fn status(&self, order: &str) -> Result<RemoteStatus, ClientError> {
        let v = self
            .call(
                &[("action", "status".into()), ("order", order.to_owned())],
                None,
            )
            .await?;
        Self::parse_status(&v).map_err(ClientError::Api)
    }

    /// Status of up to 100 orders in one request (PerfectPanel multi status). Each id maps
    /// to its status or the upstream's error for it.
    pub async fn statuses(
        &self,
        orders: &[String],
    ) -> Result<HashMap<String, Result<RemoteStatus, String>>, ClientError> {
        let v = self
            .call(
                &[("action", "status".into()), ("orders", orders.join(","))],
                None,
            )
            .await?;
        let Value::Object(map) = &v else {
            return Err(ClientError::Garbage(v.to_string()));
        };
        if map.len() == 1 && map.contains_key("error") && !orders.iter().any(|o| o == "error") {
            return Err(ClientError::Api(text(&map["error"])));
        }
        Ok(map
            .iter()
            .map(|(id, s)| (id.clone(), Self::parse_status(s)))
            .collect())
    }

    /// `refill` of one upstream order; returns the upstream refill id.
    pub async fn refill(&self, order: &str) -> Result<String, ClientError> {
        let v = self
            .call(
                &[("action", "refill".into()), ("order", order.to_owned())],
                None,
            )
            .await?;
        if let Some(e) = api_error(&v) {
            return Err(ClientError::Api(e));
        }
        match &v["refill"] {
            Value::Null => Err(ClientError::Garbage(v.to_string())),
            id => Ok(text(id)),
        }
    }

    /// `refill_status` of one upstream refill.
    pub async fn refill_status(&self, refill: &str) -> Result<String, ClientError> {
        let v = self
            .call(
                &[
                    ("action", "refill_status".into()),
                    ("refill", refill.to_owned()),
                ],
                None,
            )
            .await?;
        if let Some(e) = api_error(&v) {
            return Err(ClientError::Api(e));
        }
        Ok(text(&v["status"]))
    }

    /// `cancel` of upstream orders; answers the raw list.
    pub async fn cancel(&self, orders: &[String]) -> Result<Value, ClientError> {
        let v = self
            .call(
                &[("action", "cancel".into()), ("orders", orders.join(","))],
                None,
            )
            .await?;
        if let Some(e) = api_error(&v) {
            return Err(ClientError::Api(e));
        }
        Ok(v)
    }

    /// Any action, for the command line.
    pub async fn raw(&self, params: &[(&str, String)]) -> Result<Value, ClientError> {
        self.call(params, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_shapes_of_numbers_and_states() {
        assert_eq!(int(&serde_json::json!("42")), Some(42));
        assert_eq!(int(&serde_json::json!(42)), Some(42));
        assert_eq!(int(&serde_json::json!("4x")), None);
        assert_eq!(money(&serde_json::json!("0.90")), Money::parse("0.9").ok());
        assert_eq!(money(&serde_json::json!(0.9)), Money::parse("0.9").ok());
        assert_eq!(RemoteState::parse("Cancelled"), RemoteState::Canceled);
        assert_eq!(RemoteState::parse("Refunded"), RemoteState::Canceled);
        assert_eq!(RemoteState::parse("In progress"), RemoteState::InProgress);
        assert_eq!(RemoteState::parse("Processing"), RemoteState::InProgress);
        assert_eq!(RemoteState::parse("Partial"), RemoteState::Partial);
        assert_eq!(
            RemoteState::parse("weird"),
            RemoteState::Other("weird".into())
        );
    }

    #[test]
    fn unknown_outcomes() {
        assert!(ClientError::Timeout.outcome_unknown());
        assert!(ClientError::ServerFault(502).outcome_unknown());
        assert!(ClientError::Html.outcome_unknown());
        assert!(!ClientError::NotSent("refused".into()).outcome_unknown());
        assert!(!ClientError::Api("Not enough funds".into()).outcome_unknown());
        assert!(!ClientError::Refused(404).outcome_unknown());
        assert!(ClientError::KeyConflict("x".into()).outcome_unknown());
        assert!(is_key_conflict(
            "Idempotency key was used for a different order"
        ));
        assert!(is_key_conflict("Too many orders at once, try again"));
        assert!(!is_key_conflict("Not enough funds on balance"));
    }
}
