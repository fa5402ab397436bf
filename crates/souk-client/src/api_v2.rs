//! A typed client for API v2 endpoints: HstockPlus and Souk (`{"services":[...],"total"}`,
//! amounts as strings) and PerfectPanel panels (a bare array of services, numbers as
//! strings, `Cancelled`/`Refunded` spellings), read as loosely as PHP panels write it
//! (`loose`). Every failure says whether the request may have been processed, which is
//! what decides if an order may be sent again.

#[cfg(test)]
mod fixtures;
mod loose;
use loose::{refusal, Seen};
pub use loose::{Oddity, Tally};

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
    /// Marketplace products: the upstream's subcategory (`subcategory_info` names it).
    pub subcategory_id: Option<String>,
}

/// An upstream subcategory and its category, by name (`subcategory_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteSubcategory {
    pub category: String,
    pub subcategory: String,
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
    /// The status as the upstream wrote it (a subscription's `Paused`, `Expired` ...).
    pub state_text: String,
    /// Subscriptions: the posts served so far.
    pub posts: Option<i64>,
    /// Subscriptions: the upstream's ids of the orders it placed for the posts so far.
    pub child_orders: Vec<String>,
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
    /// The provider's liberties with the protocol, met in this client's answers.
    tally: Tally,
}

/// The most of an answer read: a big panel's services list is a few MiB.
pub const MAX_BODY: usize = 32 << 20;

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

/// A whole number that should be a JSON number; a string one is noted.
fn int_noted(v: &Value, seen: &mut Seen) -> Option<i64> {
    if v.is_string() {
        seen.insert(Oddity::NumbersAsStrings);
    }
    int(v)
}

/// A flag that should be a JSON boolean; `1`/`"1"` are noted.
fn boolean_noted(v: &Value, seen: &mut Seen) -> bool {
    if !matches!(v, Value::Bool(_) | Value::Null) {
        seen.insert(Oddity::BooleansAsNumbers);
    }
    boolean(v)
}

/// A number that may be absent; `null` is noted.
fn optional_int(v: &Value, key: &str, seen: &mut Seen) -> Option<i64> {
    match v.get(key) {
        None => None,
        Some(Value::Null) => {
            seen.insert(Oddity::NullNumbers);
            None
        }
        Some(n) => int_noted(n, seen),
    }
}

/// `balance`: `{"balance":"1.50","currency":"USD"}`, amounts as strings or numbers.
pub fn parse_balance(v: &Value, seen: &mut Seen) -> Result<(Money, String), ClientError> {
    if let Some(e) = refusal(v, seen) {
        return Err(ClientError::Api(e));
    }
    let balance = money(&v["balance"]).ok_or_else(|| ClientError::Garbage(v.to_string()))?;
    Ok((balance, text(&v["currency"])))
}

/// `services`: a bare array (PerfectPanel), `{"services":[...]}` (HstockPlus, Souk), or
/// `{"status":"success","data":[...]}` with `"data":"Empty Data"` for none. Rows without
/// a service id, rate, min or max are skipped; fields we do not read are ignored.
pub fn parse_services(v: &Value, seen: &mut Seen) -> Result<Vec<RemoteService>, ClientError> {
    if let Some(e) = refusal(v, seen) {
        return Err(ClientError::Api(e));
    }
    let no_list = || ClientError::Garbage("no services list".into());
    let rows = match v {
        Value::Array(rows) => rows,
        Value::Object(o) => match (o.get("services"), o.get("data")) {
            (Some(Value::Array(rows)), _) => rows,
            (_, Some(Value::Array(rows))) => {
                seen.insert(Oddity::WrappedList);
                rows
            }
            // Only a text that says so is an empty list: anything else could be a
            // fault, and an empty list disables every imported service at the next sync.
            (_, Some(Value::String(t))) if loose::says_empty(t) => {
                seen.insert(Oddity::EmptyListAsText);
                return Ok(Vec::new());
            }
            _ => return Err(no_list()),
        },
        _ => return Err(no_list()),
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let service = text(&row["service"]);
        if row["service"].is_string() {
            seen.insert(Oddity::NumbersAsStrings);
        }
        let (Some(rate), Some(min), Some(max)) = (
            money(&row["rate"]),
            int_noted(&row["min"], seen),
            int_noted(&row["max"], seen),
        ) else {
            continue;
        };
        if service.is_empty() {
            continue;
        }
        let entity = match row.get("entityType").map(text).as_deref() {
            Some("product") => "product",
            _ => "smm",
        };
        let given = row.get("type").map(text).unwrap_or_default();
        let type_name = souk_core::smm_type::normalized(&given);
        if !given.is_empty()
            && given != type_name
            && souk_core::smm_type::canonical(&given).is_some()
        {
            seen.insert(Oddity::TypeSpelling);
        }
        let description = match row.get("description") {
            Some(d) if !d.is_null() => text(d),
            _ => row.get("desc").map(text).unwrap_or_default(),
        };
        out.push(RemoteService {
            service,
            name: text(&row["name"]),
            type_name,
            category: text(&row["category"]),
            rate,
            min,
            max,
            refill: boolean_noted(&row["refill"], seen),
            cancel: boolean_noted(&row["cancel"], seen),
            dripfeed: boolean_noted(&row["dripfeed"], seen),
            entity: entity.into(),
            stock: row.get("stock").and_then(int),
            description,
            subcategory_id: row
                .get("subcategoryId")
                .map(text)
                .filter(|t| !t.trim().is_empty()),
        });
    }
    Ok(out)
}

/// `add`: `{"order":1}`, `{"order":"1"}`, `{"status":"success","order":"1"}`. A refusal
/// to a keyed send that says the key is taken is a conflict, not a refusal.
pub fn parse_add(v: &Value, keyed: bool, seen: &mut Seen) -> Result<String, ClientError> {
    if let Some(e) = refusal(v, seen) {
        if keyed && is_key_conflict(&e) {
            return Err(ClientError::KeyConflict(e));
        }
        return Err(ClientError::Api(e));
    }
    // No id: we cannot tell what happened, so the order may be there.
    match &v["order"] {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => {
            seen.insert(Oddity::NumbersAsStrings);
            Ok(s.trim().to_owned())
        }
        _ => Err(ClientError::Garbage(v.to_string())),
    }
}

/// One order's status, or the upstream's error for it.
pub fn parse_status(v: &Value, seen: &mut Seen) -> Result<RemoteStatus, String> {
    if let Some(e) = loose::order_refusal(v, seen) {
        return Err(e);
    }
    let state = v
        .get("status")
        .map(text)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| "no status".to_owned())?;
    Ok(RemoteStatus {
        state: RemoteState::parse(&state),
        charge: v.get("charge").and_then(money),
        start_count: optional_int(v, "start_count", seen),
        remains: optional_int(v, "remains", seen),
        accounts: v["accounts"]
            .as_array()
            .map(|a| a.iter().map(text).collect())
            .unwrap_or_default(),
        posts: optional_int(v, "posts", seen),
        // Ids as numbers or strings; anything else in the list is not an id.
        child_orders: v["orders"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|o| o.is_number() || o.is_string())
                    .map(text)
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty() && t.len() <= 64)
                    .collect()
            })
            .unwrap_or_default(),
        state_text: state,
    })
}

/// Multi status: a map by order id, unknown ids as `{"error":"Incorrect order ID"}` or
/// the bare string. A refusal of the whole request is an error of the call.
pub fn parse_statuses(
    v: &Value,
    orders: &[String],
    seen: &mut Seen,
) -> Result<HashMap<String, Result<RemoteStatus, String>>, ClientError> {
    let names_an_order =
        |map: &serde_json::Map<String, Value>| orders.iter().any(|o| map.contains_key(o));
    if let Value::Object(map) = v {
        if !names_an_order(map) {
            if let Some(e) = refusal(v, seen) {
                return Err(ClientError::Api(e));
            }
        }
        // Ids missing from the map count as unknown to the upstream.
        return Ok(map
            .iter()
            .map(|(id, s)| (id.clone(), parse_status(s, seen)))
            .collect());
    }
    match refusal(v, seen) {
        Some(e) => Err(ClientError::Api(e)),
        None => Err(ClientError::Garbage(v.to_string())),
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
            tally: Tally::default(),
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

    /// Counts this client's oddities in `tally`, shared with other clients (a batch of
    /// sends to one provider recorded once).
    pub fn tallied(mut self, tally: Tally) -> ApiV2Client {
        self.tally = tally;
        self
    }

    /// The oddities met since the last call of this (by this client and its clones).
    pub fn take_oddities(&self) -> Vec<(Oddity, u64)> {
        self.tally.take()
    }

    /// `parse` over an answer; what the answer did oddly is tallied, whatever the outcome.
    fn read<T>(
        &self,
        answer: (Value, Seen),
        parse: impl FnOnce(&Value, &mut Seen) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        let (value, mut seen) = answer;
        let out = parse(&value, &mut seen);
        self.tally.add(&seen);
        out
    }

    /// POSTs a form and returns the JSON answer (and its oddities), classifying every
    /// failure. The URL is used as given (`/api/v2`, `/api`, `/api.php` ...).
    async fn call(
        &self,
        params: &[(&str, String)],
        idempotency_key: Option<&str>,
    ) -> Result<(Value, Seen), ClientError> {
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
        let mut response = match request.send().await {
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
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = crate::guard::read_capped(&mut response, MAX_BODY)
            .await
            .map_err(|e| match e {
                crate::guard::BodyError::Transport(_) => ClientError::Timeout,
                crate::guard::BodyError::TooLarge => {
                    ClientError::Garbage(format!("an answer over {} MiB", MAX_BODY >> 20))
                }
            })?;
        if status >= 500 {
            return Err(ClientError::ServerFault(status));
        }
        if status >= 400 {
            // Our own transport errors (and a 429 rate limit) answer with a 4xx only
            // when nothing was processed.
            return Err(ClientError::Refused(status));
        }
        let mut seen = Seen::new();
        let value = loose::decode(content_type.as_deref(), &body, &mut seen)?;
        Ok((value, seen))
    }

    pub async fn balance(&self) -> Result<(Money, String), ClientError> {
        let answer = self.call(&[("action", "balance".into())], None).await?;
        self.read(answer, parse_balance)
    }

    /// Every service, from any of the shapes (`parse_services`).
    pub async fn services(&self) -> Result<Vec<RemoteService>, ClientError> {
        let answer = self.call(&[("action", "services".into())], None).await?;
        self.read(answer, parse_services)
    }

    /// Every service with its names in `lang` (a marketplace's translations).
    pub async fn services_in(&self, lang: &str) -> Result<Vec<RemoteService>, ClientError> {
        let answer = self
            .call(
                &[("action", "services".into()), ("lang", lang.to_owned())],
                None,
            )
            .await?;
        self.read(answer, parse_services)
    }

    /// The names of an upstream subcategory and of its category (a marketplace's
    /// `subcategory_info`).
    pub async fn subcategory_info(
        &self,
        id: &str,
        lang: Option<&str>,
    ) -> Result<RemoteSubcategory, ClientError> {
        let mut params = vec![
            ("action", "subcategory_info".to_owned()),
            ("subcategoryId", id.to_owned()),
        ];
        if let Some(lang) = lang {
            params.push(("lang", lang.to_owned()));
        }
        let answer = self.call(&params, None).await?;
        self.read(answer, |v, seen| {
            if let Some(e) = refusal(v, seen) {
                return Err(ClientError::Api(e));
            }
            let (category, subcategory) = (text(&v["category"]["name"]), text(&v["name"]));
            if category.trim().is_empty() || subcategory.trim().is_empty() {
                return Err(ClientError::Garbage(v.to_string()));
            }
            Ok(RemoteSubcategory {
                category,
                subcategory,
            })
        })
    }

    /// The variants of an upstream product.
    pub async fn subproducts(&self, service: &str) -> Result<Vec<RemoteSubproduct>, ClientError> {
        let answer = self
            .call(
                &[
                    ("action", "inventory".into()),
                    ("service", service.to_owned()),
                ],
                None,
            )
            .await?;
        self.read(answer, |v, seen| {
            if let Some(e) = refusal(v, seen) {
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
        })
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
        let answer = self.call(&all, order.idempotency_key).await?;
        let keyed = order.idempotency_key.is_some();
        self.read(answer, |v, seen| parse_add(v, keyed, seen))
    }

    pub async fn status(&self, order: &str) -> Result<RemoteStatus, ClientError> {
        let answer = self
            .call(
                &[("action", "status".into()), ("order", order.to_owned())],
                None,
            )
            .await?;
        self.read(answer, |v, seen| {
            parse_status(v, seen).map_err(ClientError::Api)
        })
    }

    /// Status of up to 100 orders in one request (PerfectPanel multi status). Each id maps
    /// to its status or the upstream's error for it.
    pub async fn statuses(
        &self,
        orders: &[String],
    ) -> Result<HashMap<String, Result<RemoteStatus, String>>, ClientError> {
        let answer = self
            .call(
                &[("action", "status".into()), ("orders", orders.join(","))],
                None,
            )
            .await?;
        self.read(answer, |v, seen| parse_statuses(v, orders, seen))
    }

    /// `refill` of one upstream order; returns the upstream refill id.
    pub async fn refill(&self, order: &str) -> Result<String, ClientError> {
        let answer = self
            .call(
                &[("action", "refill".into()), ("order", order.to_owned())],
                None,
            )
            .await?;
        self.read(answer, |v, seen| {
            if let Some(e) = refusal(v, seen) {
                return Err(ClientError::Api(e));
            }
            match &v["refill"] {
                Value::Null => Err(ClientError::Garbage(v.to_string())),
                id => Ok(text(id)),
            }
        })
    }

    /// `refill_status` of one upstream refill.
    pub async fn refill_status(&self, refill: &str) -> Result<String, ClientError> {
        let answer = self
            .call(
                &[
                    ("action", "refill_status".into()),
                    ("refill", refill.to_owned()),
                ],
                None,
            )
            .await?;
        self.read(answer, |v, seen| match refusal(v, seen) {
            Some(e) => Err(ClientError::Api(e)),
            None => Ok(text(&v["status"])),
        })
    }

    /// `cancel` of upstream orders; answers the raw list.
    pub async fn cancel(&self, orders: &[String]) -> Result<Value, ClientError> {
        let answer = self
            .call(
                &[("action", "cancel".into()), ("orders", orders.join(","))],
                None,
            )
            .await?;
        self.read(answer, |v, seen| match refusal(v, seen) {
            Some(e) => Err(ClientError::Api(e)),
            None => Ok(v.clone()),
        })
    }

    /// Any action, for the command line.
    pub async fn raw(&self, params: &[(&str, String)]) -> Result<Value, ClientError> {
        let answer = self.call(params, None).await?;
        self.read(answer, |v, _| Ok(v.clone()))
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
