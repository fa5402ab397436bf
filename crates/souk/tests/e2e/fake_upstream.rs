//! A fake upstream panel: a real HTTP server on loopback speaking API v2 in PerfectPanel's
//! or HstockPlus's shapes, with faults to inject per request. It records every order it
//! receives, so tests can count what reached it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// A bare array of services, numbers as strings, `Cancelled`.
    PerfectPanel,
    /// `{"services": [...], "total": ...}`.
    Hstock,
    /// A loose PHP panel at `/api.php`: JSON as `text/html` after a newline, services
    /// wrapped in `{"status":"success","data":[...]}` with every number a string and
    /// types in lower case, `add` answering `{"status":"success","order":"1000"}`,
    /// errors and unknown ids as bare strings, `start_count` null until known.
    Php,
}

/// What the next request of a kind does.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers after a delay (still within the client's timeout when short).
    Slow(Duration),
    /// Creates the order, then answers too late.
    TimeoutAfterCreate(Duration),
    /// Creates the order, then answers 500.
    ServerErrorAfterCreate,
    /// Answers 500 without creating anything.
    ServerErrorBefore,
    /// Creates the order, then answers an HTML error page.
    HtmlAfterCreate,
    /// Creates the order, then answers garbage.
    GarbageAfterCreate,
    /// Answers an empty body without creating anything.
    Empty,
    /// A well-formed refusal.
    ApiError(String),
}

#[derive(Clone, Debug)]
pub struct FakeOrder {
    pub id: i64,
    pub service: String,
    pub link: String,
    pub quantity: i64,
    pub idempotency_key: Option<String>,
    pub fields: HashMap<String, String>,
    pub status: String,
    pub start_count: i64,
    pub remains: i64,
    pub accounts: Vec<String>,
    /// Subscriptions: the posts served so far, reported as `posts` when set.
    pub posts: Option<i64>,
    /// Subscriptions: the orders placed for its posts, reported as `orders`.
    pub children: Vec<i64>,
}

/// Subcategory id -> (category, subcategory) names.
pub type SubcategoryNames = HashMap<String, (String, String)>;

pub struct FakeState {
    pub shape: Shape,
    pub key: String,
    pub honours_idempotency: bool,
    pub services: Mutex<Vec<Value>>,
    pub orders: Mutex<Vec<FakeOrder>>,
    pub add_faults: Mutex<VecDeque<Fault>>,
    pub status_faults: Mutex<VecDeque<Fault>>,
    pub add_requests: AtomicUsize,
    pub status_requests: AtomicUsize,
    pub refills: Mutex<Vec<i64>>,
    /// When each `refill` arrived.
    pub refill_times: Mutex<Vec<std::time::Instant>>,
    /// Every `add` waits this long before it is processed (a slow upstream).
    pub add_delay: Mutex<Duration>,
    /// `inventory` answers: the variants of each product service, by service id.
    pub inventory: Mutex<HashMap<String, Vec<Value>>>,
    /// Order ids named in `cancel` requests.
    pub cancels: Mutex<Vec<String>>,
    /// Every client address and port a request arrived from: one per connection.
    pub connections: Mutex<std::collections::HashSet<SocketAddr>>,
    /// `subcategory_info` answers: subcategory id -> (category, subcategory) names.
    pub subcategories: Mutex<HashMap<String, (String, String)>>,
    /// Names per `lang`: service or subcategory id -> its name(s) in that language.
    pub names_in: Mutex<HashMap<String, HashMap<String, String>>>,
    pub subcategories_in: Mutex<HashMap<String, SubcategoryNames>>,
}

pub struct FakeUpstream {
    pub url: String,
    pub state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A PerfectPanel-style SMM service row.
pub fn smm_service(
    id: &str,
    name: &str,
    category: &str,
    rate: &str,
    (min, max): (i64, i64),
    refill: bool,
    dripfeed: bool,
) -> Value {
    json!({
        "service": id, "name": name, "type": "Default", "category": category, "rate": rate,
        "min": min.to_string(), "max": max.to_string(), "refill": refill, "cancel": false, "dripfeed": dripfeed
    })
}

/// An SMM service row of one of SPEC 7's types (`Custom Comments`, `Poll`, ...).
pub fn typed_service(id: &str, type_name: &str, rate: &str, (min, max): (i64, i64)) -> Value {
    json!({
        "service": id, "name": format!("{type_name} service"), "type": type_name, "category": "Typed",
        "rate": rate, "min": min.to_string(), "max": max.to_string(), "refill": false, "cancel": false,
        "dripfeed": false
    })
}

/// A marketplace product row as Souk lists it (`entityType: product`, rate per unit).
pub fn product_service(
    id: &str,
    name: &str,
    rate: &str,
    (min, max): (i64, i64),
    stock: i64,
) -> Value {
    json!({
        "service": id, "name": name, "type": "Default", "category": "Accounts", "rate": rate,
        "min": min, "max": max, "refill": false, "cancel": false, "stock": stock,
        "entityType": "product", "autoDelivery": true
    })
}

/// One variant in an `inventory` answer.
pub fn variant(id: &str, name: &str, stock: i64) -> Value {
    json!({"subproductId": id, "name": name, "stock": stock})
}

impl FakeUpstream {
    pub async fn start(
        shape: Shape,
        honours_idempotency: bool,
        services: Vec<Value>,
    ) -> FakeUpstream {
        let state = Arc::new(FakeState {
            shape,
            key: "upstream-key".into(),
            honours_idempotency,
            services: Mutex::new(services),
            orders: Mutex::new(Vec::new()),
            add_faults: Mutex::new(VecDeque::new()),
            status_faults: Mutex::new(VecDeque::new()),
            add_requests: AtomicUsize::new(0),
            status_requests: AtomicUsize::new(0),
            refills: Mutex::new(Vec::new()),
            refill_times: Mutex::new(Vec::new()),
            add_delay: Mutex::new(Duration::ZERO),
            inventory: Mutex::new(HashMap::new()),
            cancels: Mutex::new(Vec::new()),
            connections: Mutex::new(std::collections::HashSet::new()),
            subcategories: Mutex::new(HashMap::new()),
            names_in: Mutex::new(HashMap::new()),
            subcategories_in: Mutex::new(HashMap::new()),
        });
        let app = Router::new()
            .route("/api/v2", post(handle))
            .route("/api.php", post(handle))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                count_connection,
            ))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let path = if shape == Shape::Php {
            "api.php"
        } else {
            "api/v2"
        };
        FakeUpstream {
            url: format!("http://{addr}/{path}"),
            state,
            task,
        }
    }

    /// How many connections (client addresses and ports) requests came over.
    pub fn connections(&self) -> usize {
        self.state.connections.lock().expect("lock").len()
    }

    pub fn fail_next_add(&self, fault: Fault) {
        self.state.add_faults.lock().expect("lock").push_back(fault);
    }

    pub fn fail_next_status(&self, fault: Fault) {
        self.state
            .status_faults
            .lock()
            .expect("lock")
            .push_back(fault);
    }

    pub fn orders(&self) -> Vec<FakeOrder> {
        self.state.orders.lock().expect("lock").clone()
    }

    /// Sets what the upstream reports for its order `id`.
    pub fn set_status(&self, id: i64, status: &str, remains: i64, start_count: i64) {
        let mut orders = self.state.orders.lock().expect("lock");
        if let Some(o) = orders.iter_mut().find(|o| o.id == id) {
            o.status = status.into();
            o.remains = remains;
            o.start_count = start_count;
        }
    }

    /// Sets what the upstream reports for its subscription order `id`; each new post is
    /// an order of its own, in progress, listed in the subscription's `orders`.
    pub fn set_subscription(&self, id: i64, status: &str, posts: i64) {
        let mut orders = self.state.orders.lock().expect("lock");
        let Some(at) = orders.iter().position(|o| o.id == id) else {
            return;
        };
        let mut next = 1000 + orders.len() as i64;
        while (orders[at].children.len() as i64) < posts {
            let mut child = orders[at].clone();
            child.id = next;
            child.status = "In progress".into();
            child.posts = None;
            child.children = Vec::new();
            child.remains = child.quantity;
            orders[at].children.push(next);
            orders.push(child);
            next += 1;
        }
        orders[at].status = status.into();
        orders[at].posts = Some(posts);
    }

    /// Every later `add` waits `delay` before it is processed.
    pub fn slow_adds(&self, delay: Duration) {
        *self.state.add_delay.lock().expect("lock") = delay;
    }

    pub fn add_requests(&self) -> usize {
        self.state.add_requests.load(Ordering::SeqCst)
    }

    /// Forgets order `id`: later status checks answer `Incorrect order ID` for it.
    pub fn forget(&self, id: i64) {
        self.state
            .orders
            .lock()
            .expect("lock")
            .retain(|o| o.id != id);
    }

    pub fn set_services(&self, services: Vec<Value>) {
        *self.state.services.lock().expect("lock") = services;
    }

    /// Names subcategory `id` (and its category) for `subcategory_info`.
    pub fn set_subcategory(&self, id: &str, category: &str, subcategory: &str) {
        self.state
            .subcategories
            .lock()
            .expect("lock")
            .insert(id.to_owned(), (category.to_owned(), subcategory.to_owned()));
    }

    /// Names service `id` in `lang` (a marketplace's translation).
    pub fn translate_service(&self, lang: &str, id: &str, name: &str) {
        self.state
            .names_in
            .lock()
            .expect("lock")
            .entry(lang.to_owned())
            .or_default()
            .insert(id.to_owned(), name.to_owned());
    }

    /// Names subcategory `id` and its category in `lang`.
    pub fn translate_subcategory(&self, lang: &str, id: &str, category: &str, name: &str) {
        self.state
            .subcategories_in
            .lock()
            .expect("lock")
            .entry(lang.to_owned())
            .or_default()
            .insert(id.to_owned(), (category.to_owned(), name.to_owned()));
    }

    pub fn set_inventory(&self, service: &str, variants: Vec<Value>) {
        self.state
            .inventory
            .lock()
            .expect("lock")
            .insert(service.to_owned(), variants);
    }

    pub fn deliver(&self, id: i64, accounts: &[&str]) {
        let mut orders = self.state.orders.lock().expect("lock");
        if let Some(o) = orders.iter_mut().find(|o| o.id == id) {
            o.accounts.extend(accounts.iter().map(|a| (*a).to_owned()));
        }
    }
}

/// A JSON answer as the shape sends it: PHP panels say `text/html` and start with a newline.
fn answer(shape: Shape, v: Value) -> Response {
    match shape {
        Shape::Php => (
            StatusCode::OK,
            [("content-type", "text/html; charset=UTF-8")],
            format!("\n{v}"),
        )
            .into_response(),
        _ => axum::Json(v).into_response(),
    }
}

/// A services row as a PHP panel lists it: every number a string, flags as "1"/"0", the
/// type in lower case with underscores.
fn php_row(row: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (k, v) in row.as_object().into_iter().flatten() {
        let v = match (k.as_str(), v) {
            ("type", Value::String(t)) => json!(t.to_lowercase().replace(' ', "_")),
            (_, Value::Bool(b)) => json!(if *b { "1" } else { "0" }),
            (_, Value::Number(n)) => json!(n.to_string()),
            (_, other) => other.clone(),
        };
        out.insert(k.clone(), v);
    }
    out.insert("desc".into(), json!("Start 0-1h, speed 10k/day"));
    Value::Object(out)
}

/// A refusal as the shape sends it.
fn refusal(shape: Shape, message: &str) -> Response {
    match shape {
        Shape::Php => answer(shape, json!(message)),
        _ => axum::Json(json!({ "error": message })).into_response(),
    }
}

fn text_response(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    (status, [("content-type", content_type)], body).into_response()
}

fn status_json(shape: Shape, o: &FakeOrder) -> Value {
    let status = match (shape, o.status.as_str()) {
        (Shape::PerfectPanel, "Canceled") => "Cancelled",
        (_, s) => s,
    };
    let mut v = json!({
        "charge": "0.10", "start_count": o.start_count.to_string(), "status": status,
        "remains": o.remains.to_string(), "currency": "USD"
    });
    if let Some(posts) = o.posts {
        v["posts"] = json!(posts.to_string());
        v["orders"] = json!(o.children);
    }
    if shape == Shape::Php {
        v["status"] = json!(status.to_lowercase());
        if o.start_count == 0 {
            v["start_count"] = Value::Null;
        }
        // Ids as strings, as such panels write them.
        if o.posts.is_some() {
            let ids: Vec<String> = o.children.iter().map(i64::to_string).collect();
            v["orders"] = json!(ids);
        }
    }
    if shape == Shape::Hstock {
        v["start_count"] = json!(o.start_count);
        v["remains"] = json!(o.remains);
        if !o.accounts.is_empty() {
            v["accounts"] = json!(o.accounts);
        }
    }
    v
}

/// Notes the connection each request arrives on.
async fn count_connection(
    axum::extract::State(state): axum::extract::State<Arc<FakeState>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<SocketAddr>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    state.connections.lock().expect("lock").insert(peer);
    next.run(request).await
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    headers: axum::http::HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> Response {
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let shape = state.shape;
    if get("key").as_deref() != Some(state.key.as_str()) {
        return refusal(shape, "Invalid API key");
    }
    match get("action").as_deref().unwrap_or("") {
        "balance" => answer(shape, json!({"balance": "100.84292", "currency": "USD"})),
        "services" => {
            let mut services = state.services.lock().expect("lock").clone();
            if let Some(names) =
                get("lang").and_then(|l| state.names_in.lock().expect("lock").get(&l).cloned())
            {
                for row in &mut services {
                    let id = row["service"]
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| row["service"].to_string());
                    if let Some(name) = names.get(&id) {
                        row["name"] = json!(name);
                    }
                }
            }
            match state.shape {
                Shape::PerfectPanel => axum::Json(Value::Array(services)).into_response(),
                Shape::Php if services.is_empty() => {
                    answer(shape, json!({"status": "success", "data": "Empty Data"}))
                }
                Shape::Php => answer(
                    shape,
                    json!({"status": "success", "data": services.iter().map(php_row).collect::<Vec<_>>()}),
                ),
                Shape::Hstock => {
                    let total = services.len();
                    axum::Json(json!({"services": services, "total": total, "page": 1, "limit": total, "total_pages": 1})).into_response()
                }
            }
        }
        "subcategory_info" => {
            let id = get("subcategoryId").unwrap_or_default();
            // Another language falls back to English, as Souk's does.
            let translated = get("lang").and_then(|l| {
                state
                    .subcategories_in
                    .lock()
                    .expect("lock")
                    .get(&l)
                    .and_then(|m| m.get(&id).cloned())
            });
            let named =
                translated.or_else(|| state.subcategories.lock().expect("lock").get(&id).cloned());
            match named {
                Some((category, name)) => answer(
                    shape,
                    json!({"subcategoryId": id, "name": name, "slug": "s", "imageUrl": "",
                           "description": "", "category": {"categoryId": "c", "name": category, "slug": "c"}}),
                ),
                None => refusal(shape, "Subcategory not found"),
            }
        }
        "inventory" => {
            let service = get("service").unwrap_or_default();
            let variants = state
                .inventory
                .lock()
                .expect("lock")
                .get(&service)
                .cloned()
                .unwrap_or_default();
            axum::Json(json!({"service": service, "subproducts": variants})).into_response()
        }
        "cancel" => {
            let list = get("orders").unwrap_or_default();
            let ids: Vec<String> = list.split(',').map(|i| i.trim().to_owned()).collect();
            state
                .cancels
                .lock()
                .expect("lock")
                .extend(ids.iter().cloned());
            let mut orders = state.orders.lock().expect("lock");
            let out: Vec<Value> = ids
                .iter()
                .map(|id| {
                    let found = id
                        .parse::<i64>()
                        .ok()
                        .and_then(|n| orders.iter_mut().find(|o| o.id == n));
                    match found {
                        Some(o) => {
                            o.status = "Canceled".into();
                            json!({"order": o.id, "cancel": 1})
                        }
                        None => json!({"order": id, "cancel": {"error": "Incorrect order ID"}}),
                    }
                })
                .collect();
            axum::Json(Value::Array(out)).into_response()
        }
        "add" => {
            state.add_requests.fetch_add(1, Ordering::SeqCst);
            let delay = *state.add_delay.lock().expect("lock");
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let fault = state.add_faults.lock().expect("lock").pop_front();
            match &fault {
                Some(Fault::ServerErrorBefore) => {
                    return text_response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "oops")
                }
                Some(Fault::Empty) => return text_response(StatusCode::OK, "application/json", ""),
                Some(Fault::ApiError(m)) => return refusal(shape, m),
                Some(Fault::Slow(d)) => tokio::time::sleep(*d).await,
                _ => {}
            }
            let key = headers
                .get("idempotency-key")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let id = {
                let mut orders = state.orders.lock().expect("lock");
                let existing = if state.honours_idempotency {
                    key.as_ref().and_then(|k| {
                        orders
                            .iter()
                            .find(|o| o.idempotency_key.as_ref() == Some(k))
                            .map(|o| o.id)
                    })
                } else {
                    None
                };
                match existing {
                    Some(id) => id,
                    None => {
                        let id = 1000 + orders.len() as i64;
                        let quantity = get("quantity").and_then(|q| q.parse().ok()).unwrap_or(0);
                        orders.push(FakeOrder {
                            id,
                            service: get("service").unwrap_or_default(),
                            link: get("link").unwrap_or_default(),
                            quantity,
                            idempotency_key: key,
                            fields: form.iter().cloned().collect(),
                            status: "Pending".into(),
                            start_count: 0,
                            remains: quantity,
                            accounts: Vec::new(),
                            posts: None,
                            children: Vec::new(),
                        });
                        id
                    }
                }
            };
            match fault {
                Some(Fault::TimeoutAfterCreate(d)) => {
                    tokio::time::sleep(d).await;
                    axum::Json(json!({"order": id})).into_response()
                }
                Some(Fault::ServerErrorAfterCreate) => {
                    text_response(StatusCode::BAD_GATEWAY, "text/plain", "bad gateway")
                }
                Some(Fault::HtmlAfterCreate) => text_response(
                    StatusCode::OK,
                    "text/html",
                    "<html><body>Maintenance</body></html>",
                ),
                Some(Fault::GarbageAfterCreate) => {
                    text_response(StatusCode::OK, "application/json", "{\"order\": oops")
                }
                _ => match state.shape {
                    Shape::PerfectPanel => {
                        axum::Json(json!({"order": id.to_string()})).into_response()
                    }
                    Shape::Hstock => axum::Json(json!({"order": id})).into_response(),
                    Shape::Php => {
                        answer(shape, json!({"status": "success", "order": id.to_string()}))
                    }
                },
            }
        }
        "status" => {
            state.status_requests.fetch_add(1, Ordering::SeqCst);
            match state.status_faults.lock().expect("lock").pop_front() {
                Some(Fault::ServerErrorBefore) => {
                    return text_response(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", "oops")
                }
                Some(Fault::GarbageAfterCreate) => {
                    return text_response(StatusCode::OK, "application/json", "{{{")
                }
                Some(Fault::HtmlAfterCreate) => {
                    return text_response(StatusCode::OK, "text/html", "<html></html>")
                }
                _ => {}
            }
            let orders = state.orders.lock().expect("lock");
            if let Some(list) = get("orders") {
                let mut out = serde_json::Map::new();
                for id in list.split(',') {
                    let found = id
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .and_then(|n| orders.iter().find(|o| o.id == n));
                    let unknown = if shape == Shape::Php {
                        json!("Incorrect order ID")
                    } else {
                        json!({"error": "Incorrect order ID"})
                    };
                    out.insert(
                        id.trim().to_owned(),
                        found.map_or(unknown, |o| status_json(state.shape, o)),
                    );
                }
                return answer(shape, Value::Object(out));
            }
            let id = get("order").and_then(|o| o.parse::<i64>().ok());
            match id.and_then(|n| orders.iter().find(|o| o.id == n)) {
                Some(o) => answer(shape, status_json(state.shape, o)),
                None => refusal(shape, "Incorrect order ID"),
            }
        }
        "refill" => {
            state
                .refill_times
                .lock()
                .expect("lock")
                .push(std::time::Instant::now());
            let mut refills = state.refills.lock().expect("lock");
            let id = 77 + refills.len() as i64;
            refills.push(get("order").and_then(|o| o.parse().ok()).unwrap_or(0));
            answer(shape, json!({"refill": id.to_string()}))
        }
        "refill_status" => answer(shape, json!({"status": "Completed"})),
        _ => refusal(shape, "Invalid action"),
    }
}
