//! A seeded random fuzzer over real HTTP: `/api/v2` (every seed action, mostly with a valid
//! buyer key), the supplier API (mostly with a valid supplier key), the sms-activate
//! endpoint, the SMS webhook and the web forms (sign-in and sign-up with and without
//! their CSRF token, and the shop, account and desk forms of a signed-in user), with
//! bodies in every encoding the server reads and some it does not, and values made to
//! hurt: NUL and other control characters, invalid UTF-8 (percent-encoded), huge and odd
//! numbers, very long text, deep JSON, lists of 101, repeated and `name[]` fields, blanks.
//!
//! Each request is built from good values (real keys, services, orders, subproducts,
//! CSRF tokens: the fuzzer learns new orders and products from the answers) with one
//! field spoiled most of the time, so that requests get deep and a failure points at its
//! cause.
//!
//! What must hold: no answer is a 5xx, every `/api/v2` and supplier API answer is JSON,
//! and the audit is clean afterwards. Failures are collected with the request that caused
//! each, grouped by endpoint, problem and answer (and within a group by where the request
//! carried a NUL), and reported together at the end. A request that gets no answer at all
//! is sent again on a fresh connection and fails only if that gets none either.
//!
//! `SOUK_FUZZ_SEED` picks the seed (printed either way), `SOUK_FUZZ_REQUESTS` the number
//! of requests per engine, and `SOUK_FUZZ_VERBOSE` prints a tally of answers by endpoint.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};
use souk_api::ApiConfig;
use souk_core::clock::{Clock, ShiftedClock};

use crate::engine_test;
use crate::fixtures;
use crate::harness::{quiet_config, TestApp, TestDb, ADMIN_TOKEN};
use crate::sms::{sms_fixture, GB1, US1, US2};
use crate::supply_kit::{self, buy, inventory_product, market, ok, post, As};
use crate::web::{csrf_of, open_shop_for, page, sign_up, user_of, visit, PASSWORD};

const DEFAULT_SEED: u64 = 0x5EED_F022;
const DEFAULT_REQUESTS: usize = 2_000;
/// The loop stops here whatever the count, so a slow engine cannot hang the suite.
const TIME_BUDGET: Duration = Duration::from_secs(120);
const JSON_TYPE: &str = "application/json; charset=utf-8";
/// The longest path and query sent.
const MAX_URI: usize = 60_000;

// ---------------------------------------------------------------------------------------
// Requests.

/// A parameter value: text, or bytes that are not UTF-8 (percent-encoded in forms and
/// query strings, raw in multipart and JSON).
#[derive(Clone, Debug)]
enum Val {
    Text(String),
    Bytes(Vec<u8>),
}

impl Val {
    fn text(s: impl Into<String>) -> Val {
        Val::Text(s.into())
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Val::Text(t) => t.as_bytes(),
            Val::Bytes(b) => b,
        }
    }

    fn lossy(&self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    fn has_nul(&self) -> bool {
        self.bytes().contains(&0)
    }
}

type Pairs = Vec<(String, Val)>;

/// A JSON document written by hand, so that it can hold what `serde_json` would not
/// write: raw number literals of any size, `NaN`, duplicate keys, invalid UTF-8.
#[derive(Clone, Debug)]
enum J {
    Raw(String),
    Str(Val),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    fn s(text: impl Into<String>) -> J {
        J::Str(Val::text(text))
    }

    fn render(&self, out: &mut Vec<u8>) {
        match self {
            J::Raw(r) => out.extend_from_slice(r.as_bytes()),
            J::Str(Val::Text(t)) => {
                out.extend_from_slice(serde_json::to_string(t).expect("string").as_bytes())
            }
            J::Str(Val::Bytes(b)) => {
                out.push(b'"');
                out.extend_from_slice(b);
                out.push(b'"');
            }
            J::Arr(items) => {
                out.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    item.render(out);
                }
                out.push(b']');
            }
            J::Obj(fields) => {
                out.push(b'{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    J::s(k.clone()).render(out);
                    out.push(b':');
                    v.render(out);
                }
                out.push(b'}');
            }
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.render(&mut out);
        out
    }

    /// The names (dotted paths) of the strings holding a NUL.
    fn nul_paths(&self, at: &str, out: &mut Vec<String>) {
        match self {
            J::Str(v) if v.has_nul() => out.push(at.to_owned()),
            J::Raw(r) if r.contains('\0') => out.push(at.to_owned()),
            J::Arr(items) => items
                .iter()
                .for_each(|i| i.nul_paths(&format!("{at}[]"), out)),
            J::Obj(fields) => {
                for (k, v) in fields {
                    let path = if at.is_empty() {
                        k.clone()
                    } else {
                        format!("{at}.{k}")
                    };
                    if k.contains('\0') {
                        out.push(format!("{path} (name)"));
                    }
                    v.nul_paths(&path, out);
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug)]
enum Body {
    Empty,
    /// `application/x-www-form-urlencoded`, or no content type at all.
    Form {
        pairs: Pairs,
        typed: bool,
    },
    Multipart(Pairs),
    Raw {
        content_type: Option<String>,
        bytes: Vec<u8>,
    },
}

/// Which rules an answer must follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    ApiV2,
    Supplier,
    Stubs,
    Webhook,
    Web,
}

#[derive(Debug)]
struct Req {
    target: Target,
    /// What the request is, for grouping failures: `api/v2 add`, `PATCH /products/{id}`.
    label: String,
    method: Method,
    /// Path and query, already percent-encoded.
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
    /// Where a NUL was sent (parameter names, JSON paths, `path`, `body`).
    nul_at: Vec<String>,
    /// What a good answer is about: the `service` of an `add` (to file the order it
    /// makes), the `order` of a `review` or `dispute` (not to send it again).
    subject: Option<String>,
}

impl Req {
    fn new(target: Target, label: impl Into<String>, method: Method, path: String) -> Req {
        Req {
            target,
            label: label.into(),
            method,
            path,
            headers: Vec::new(),
            body: Body::Empty,
            nul_at: Vec::new(),
            subject: None,
        }
    }

    fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Req {
        // Control bytes cannot travel in a header: the client would refuse to send.
        let clean = value
            .as_ref()
            .iter()
            .map(|&b| {
                if (b < 0x20 && b != b'\t') || b == 0x7f {
                    b'?'
                } else {
                    b
                }
            })
            .collect();
        self.headers.push((name.to_owned(), clean));
        self
    }

    fn json(mut self, doc: &J) -> Req {
        doc.nul_paths("", &mut self.nul_at);
        self.body = Body::Raw {
            content_type: Some("application/json".into()),
            bytes: doc.bytes(),
        };
        self
    }

    fn note_pairs(&mut self, pairs: &[(String, Val)]) {
        for (n, v) in pairs {
            if v.has_nul() || n.contains('\0') {
                self.nul_at.push(n.clone());
            }
        }
    }

    /// The request as a failure report shows it.
    fn describe(&self) -> String {
        let mut out = format!("{} {}", self.method, clip(&self.path, 400));
        for (n, v) in &self.headers {
            let _ = write!(out, "\n  {n}: {}", clip(&String::from_utf8_lossy(v), 120));
        }
        let body = match &self.body {
            Body::Empty => String::new(),
            Body::Form { pairs, typed } => format!(
                "{} {}",
                if *typed { "form" } else { "untyped form" },
                clip(&format!("{:?}", lossy_pairs(pairs)), 600)
            ),
            Body::Multipart(pairs) => {
                format!(
                    "multipart {}",
                    clip(&format!("{:?}", lossy_pairs(pairs)), 600)
                )
            }
            Body::Raw {
                content_type,
                bytes,
            } => format!(
                "{} ({} bytes) {:?}",
                content_type.as_deref().unwrap_or("no content type"),
                bytes.len(),
                clip(&String::from_utf8_lossy(bytes), 600)
            ),
        };
        if !body.is_empty() {
            let _ = write!(out, "\n  body: {body}");
        }
        if !self.nul_at.is_empty() {
            let _ = write!(out, "\n  NUL in: {}", self.nul_at.join(", "));
        }
        out
    }
}

fn lossy_pairs(pairs: &[(String, Val)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.clone(), clip(&v.lossy(), 80)))
        .collect()
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let head: String = text.chars().take(max).collect();
        format!("{head}... ({} chars)", text.chars().count())
    }
}

/// Percent-encodes everything but the unreserved characters (space as `%20`).
fn pct(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn encode(pairs: &[(String, Val)]) -> String {
    pairs
        .iter()
        .map(|(n, v)| format!("{}={}", pct(n.as_bytes()), pct(v.bytes())))
        .collect::<Vec<_>>()
        .join("&")
}

// ---------------------------------------------------------------------------------------
// Values.

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    items.choose(rng).expect("a non-empty choice")
}

fn strings<T: ToString>(items: &[T]) -> Vec<String> {
    items.iter().map(ToString::to_string).collect()
}

const ODD_NUMBERS: &[&str] = &[
    "99999999999999999999",
    "-99999999999999999999",
    "1e308",
    "-1e308",
    "1e400",
    "-0",
    "0",
    "NaN",
    "-NaN",
    "Infinity",
    "-1",
    "-100",
    "1.5",
    "0.0000001",
    "1e-7",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "0x10",
    "1_000",
    "1,5",
    "+5",
    "5.0",
    "5.00",
    "00001",
    " 7 ",
];

const ODD_TEXT: &[&str] = &[
    "",
    " ",
    "\t\n",
    "\u{feff}",
    "\u{202e}evil",
    "🦀🦀🦀",
    "Z\u{0351}\u{0352}\u{0353}a\u{0354}l\u{0355}go",
    "Ω≈ç√∫",
    "' OR 1=1 --",
    "\"; DROP TABLE users; --",
    "<script>alert(1)</script>",
    "../../etc/passwd",
    "%00",
    "%FF",
    "%",
    "\\u0000",
    "null",
    "true",
    "[]",
    "{}",
    "{\"$gt\": \"\"}",
    "javascript:alert(1)",
    "https://example.com/\u{0}x",
    "a,b,,c",
    "[1,2,3]",
    "[\"1\",\"2\"",
];

fn control_chars(rng: &mut StdRng) -> String {
    (0..rng.gen_range(1..12))
        .map(|_| char::from(rng.gen_range(0u8..0x20)))
        .chain(std::iter::once('\u{7f}'))
        .collect()
}

fn invalid_utf8(rng: &mut StdRng) -> Vec<u8> {
    let pieces: &[&[u8]] = &[
        b"\xff",
        b"\xfe\xff",
        b"\xc3\x28",
        b"\xc0\x80",
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\x80\x80",
        b"\xe2\x82",
    ];
    let mut out = b"x".to_vec();
    for _ in 0..rng.gen_range(1..4) {
        let piece = *pick(rng, pieces);
        out.extend_from_slice(piece);
        out.push(b'y');
    }
    out
}

fn long_text(rng: &mut StdRng) -> String {
    let unit = *pick(rng, &["x", "é", "𝕏", "a,", "\0", "ab\n"]);
    unit.repeat(rng.gen_range(300..8_000))
}

fn list_of(n: usize, rng: &mut StdRng) -> String {
    let items: Vec<String> = (0..n).map(|_| rng.gen_range(1..500).to_string()).collect();
    if rng.gen_bool(0.5) {
        items.join(",")
    } else {
        format!("[{}]", items.join(","))
    }
}

/// A value made to hurt.
fn nasty(rng: &mut StdRng) -> Val {
    match rng.gen_range(0..20) {
        0 => Val::text("\0"),
        1 => Val::text(format!("a\0{}", rng.gen_range(0..100))),
        2 => Val::Text(control_chars(rng)),
        3 | 4 => Val::Bytes(invalid_utf8(rng)),
        5..=8 => Val::text(*pick(rng, ODD_NUMBERS)),
        9 => Val::text(""),
        10 => Val::Text(long_text(rng)),
        11 => Val::Text(list_of(101, rng)),
        12 => Val::text("[".repeat(10_000)),
        13..=15 => Val::text(*pick(rng, ODD_TEXT)),
        16 => Val::text(rng.gen::<i64>().to_string()),
        17 => Val::text(rng.gen::<u64>().to_string()),
        18 => Val::text(format!("{:x}", rng.gen::<u128>())),
        _ => Val::Text(
            (0..rng.gen_range(1..20))
                .map(|_| rng.gen::<char>())
                .collect(),
        ),
    }
}

/// `good` with a NUL or another control character somewhere in it.
fn tainted(rng: &mut StdRng, good: &str) -> String {
    let cuts: Vec<usize> = good
        .char_indices()
        .map(|(i, _)| i)
        .chain([good.len()])
        .collect();
    let cut = *pick(rng, &cuts);
    let bad = *pick(
        rng,
        &[
            "\0",
            "\0",
            "\0\0",
            "\u{1}",
            "\n",
            "\r\n",
            "\u{7f}",
            "\u{1b}[31m",
        ],
    );
    format!("{}{bad}{}", &good[..cut], &good[cut..])
}

/// What a spoiled field holds: one of its good values with a NUL or a control character
/// in it, or a nasty value.
fn spoil(rng: &mut StdRng, good: &[String]) -> Val {
    match good.choose(rng) {
        Some(g) if rng.gen_bool(0.45) => Val::Text(tainted(rng, g)),
        _ => nasty(rng),
    }
}

/// Which of `n` fields a request spoils: mostly one, so that a failure points at its
/// cause; sometimes none (the request may well succeed) or a few.
fn victims(rng: &mut StdRng, n: usize) -> Vec<bool> {
    let mut flags = vec![false; n];
    if n == 0 {
        return flags;
    }
    let k = match rng.gen_range(0..20) {
        0 | 1 => 0,
        2..=16 => 1,
        17 | 18 => 2,
        _ => 3,
    };
    for _ in 0..k {
        flags[rng.gen_range(0..n)] = true;
    }
    flags
}

/// A field of a query string or form with its good values (none: sent only spoiled).
type Spec = (&'static str, Vec<String>);

/// Pairs for `specs`: good values, but for the victims (spoiled, or now and then left out).
fn fill(rng: &mut StdRng, specs: &[Spec]) -> Pairs {
    let flags = victims(rng, specs.len());
    let mut pairs = Pairs::new();
    for ((name, good), spoiled) in specs.iter().zip(flags) {
        if spoiled {
            if rng.gen_bool(0.9) {
                pairs.push(((*name).to_owned(), spoil(rng, good)));
            }
        } else if let Some(g) = good.choose(rng) {
            pairs.push(((*name).to_owned(), Val::text(g.clone())));
        }
    }
    pairs
}

/// A JSON field: its good value and the spoiled one it takes as a victim.
struct Field {
    name: &'static str,
    good: J,
    bad: J,
}

/// An object of `fields`: good values, but for the victims (spoiled, or now and then
/// left out), and once in a while a field the server does not know.
fn object(rng: &mut StdRng, fields: Vec<Field>) -> J {
    let flags = victims(rng, fields.len());
    let mut out = Vec::new();
    for (field, spoiled) in fields.into_iter().zip(flags) {
        if !spoiled {
            out.push((field.name.to_owned(), field.good));
        } else if rng.gen_bool(0.85) {
            out.push((field.name.to_owned(), field.bad));
        }
    }
    if rng.gen_bool(0.03) {
        out.push(("unknownField".into(), J::Raw("1".into())));
    }
    J::Obj(out)
}

fn good_object(fields: Vec<Field>) -> J {
    J::Obj(
        fields
            .into_iter()
            .map(|f| (f.name.to_owned(), f.good))
            .collect(),
    )
}

fn text_field(rng: &mut StdRng, name: &'static str, good: &[String]) -> Field {
    let bad = spoil(rng, good);
    let bad = if rng.gen_bool(0.15) {
        json_for(rng, &bad)
    } else {
        J::Str(bad)
    };
    Field {
        name,
        good: J::s(pick(rng, good).clone()),
        bad,
    }
}

fn int_field(rng: &mut StdRng, name: &'static str, good: &[i64]) -> Field {
    let bad = match rng.gen_range(0..4) {
        0 | 1 => J::Raw((*pick(rng, ODD_NUMBERS)).into()),
        2 => J::s(pick(rng, good).to_string()),
        _ => {
            let v = nasty(rng);
            json_for(rng, &v)
        }
    };
    Field {
        name,
        good: J::Raw(pick(rng, good).to_string()),
        bad,
    }
}

fn bool_field(rng: &mut StdRng, name: &'static str, good: bool) -> Field {
    Field {
        name,
        good: J::Raw(good.to_string()),
        bad: J::Raw((*pick(rng, &["1", "\"yes\"", "null", "\"true\"", "0", "[true]"])).into()),
    }
}

fn amount_field(rng: &mut StdRng, name: &'static str, good: &[&str]) -> Field {
    let text = *pick(rng, good);
    let good_json = if rng.gen_bool(0.3) {
        J::Raw(text.into())
    } else {
        J::s(text)
    };
    let bad = match rng.gen_range(0..3) {
        0 => J::Raw((*pick(rng, ODD_NUMBERS)).into()),
        1 => J::s(*pick(rng, ODD_NUMBERS)),
        _ => J::Str(spoil(rng, &strings(good))),
    };
    Field {
        name,
        good: good_json,
        bad,
    }
}

fn translations_field(rng: &mut StdRng, fields: &[&str]) -> Field {
    let field = *pick(rng, fields);
    let one = |f: &str, lang: &str, text: J| {
        J::Obj(vec![(f.to_owned(), J::Obj(vec![(lang.to_owned(), text)]))])
    };
    let lang = *pick(rng, &["ru", "zh", "ja"]);
    let good = one(field, lang, J::s("Перевод 翻译"));
    let bad = match rng.gen_range(0..6) {
        0 | 1 => one(field, "ru", J::Str(spoil(rng, &strings(&["Перевод"])))),
        2 => one(&spoil(rng, &strings(fields)).lossy(), "ru", J::s("x")),
        3 => one(field, &spoil(rng, &strings(&["ru"])).lossy(), J::s("x")),
        4 => J::Obj(vec![(field.to_owned(), J::Str(nasty(rng)))]),
        _ => J::Str(nasty(rng)),
    };
    Field {
        name: "translations",
        good,
        bad,
    }
}

/// A path segment: a good id mostly, else a spoiled one (percent-encoded).
fn segment(rng: &mut StdRng, good: &[String]) -> String {
    let v = match rng.gen_range(0..10) {
        0..=7 if !good.is_empty() => Val::text(pick(rng, good).clone()),
        8 => Val::text(*pick(
            rng,
            &["0", "-1", "abc", "0123456789abcdef01234567", ".."],
        )),
        _ => spoil(rng, good),
    };
    match v {
        Val::Text(t) if t.is_empty() => "%20".into(),
        other => {
            let mut encoded = pct(other.bytes());
            encoded.truncate(6_000);
            encoded
        }
    }
}

// ---------------------------------------------------------------------------------------
// The world the fuzzer plays in.

struct World {
    clock: ShiftedClock,
    buyer: String,
    poor_buyer: String,
    supplier: String,
    /// Service numbers and entity ids that `add` accepts.
    services: Vec<String>,
    subproducts: Vec<String>,
    /// The supplier's products (numbers and ids), SMM services and inventory subproducts.
    own_products: Vec<String>,
    own_smm: Vec<String>,
    own_subproducts: Vec<String>,
    /// Another shop's product, which the supplier must not reach.
    other_products: Vec<String>,
    /// Subcategory ids (the supplier API) and ids and slugs (`/api/v2`).
    subcategory_ids: Vec<String>,
    subcategories: Vec<String>,
    /// The supplier's shop first.
    shops: Vec<String>,
    /// The buyer's orders; those of the supplier's manual product and SMM service; SMS
    /// rentals; those of the web user's shop.
    orders: Vec<i64>,
    manual_orders: Vec<i64>,
    smm_orders: Vec<i64>,
    sms_orders: Vec<i64>,
    desk_orders: Vec<i64>,
    /// Orders not yet reviewed (completed ones) and not yet disputed.
    reviewable: Vec<i64>,
    disputable: Vec<i64>,
    /// Service numbers whose orders land in `manual_orders`, `smm_orders`, `desk_orders`
    /// and (completed at once) `reviewable`.
    inventory_service: String,
    manual_service: String,
    smm_service: String,
    desk_service: String,
    gateway: String,
    secret: String,
    session: String,
    session_csrf: String,
    visitor_cookie: String,
    visitor_csrf: String,
    desk_subproducts: Vec<String>,
}

impl World {
    fn any_order(&self, rng: &mut StdRng) -> String {
        let all: Vec<&i64> = [
            &self.orders,
            &self.manual_orders,
            &self.smm_orders,
            &self.sms_orders,
        ]
        .into_iter()
        .flatten()
        .collect();
        all.choose(rng)
            .map_or_else(|| "1".into(), |n| n.to_string())
    }

    fn order_list(&self, rng: &mut StdRng) -> String {
        (0..rng.gen_range(1..6))
            .map(|_| self.any_order(rng))
            .collect::<Vec<_>>()
            .join(",")
    }
}

fn lines(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix}{i}:pass{i}\n")).collect()
}

/// A manual product of `key`'s shop that takes up to 1,000 units: (number, id, subproduct).
async fn roomy_manual_product(
    app: &TestApp,
    key: &str,
    subcategory: &str,
    name: &str,
) -> (i64, String, String) {
    let v = ok(
        201,
        post(
            app,
            As::Key(key),
            "/api/admin/v2/products",
            json!({"name": name, "subcategoryId": subcategory, "type": "manual",
                   "subproducts": [{"name": "Standard", "price": "1.00", "max": 20, "stock": 1000}]}),
        )
        .await,
    );
    (
        v["service"].as_i64().expect("service"),
        v["id"].as_str().expect("id").to_owned(),
        v["subproducts"][0]["subproductId"]
            .as_str()
            .expect("subproduct")
            .to_owned(),
    )
}

/// The supplier's shop as the fuzzer finds it: an inventory product with 300 lines, a
/// manual product and an SMM service.
struct Shop {
    key: String,
    shop: String,
    subcategory: String,
    /// (id, number, subproducts), as `inventory_product` answers.
    inventory: (String, i64, Vec<String>),
    /// (number, id, subproduct).
    manual: (i64, String, String),
    smm: (i64, String),
}

async fn supplier_shop(app: &TestApp) -> Shop {
    let (_, subcategory) = market(app).await;
    let (key, _, shop) = supply_kit::supplier(app, "fuzz@supplier.test", "FuzzShop").await;
    let inventory = inventory_product(app, &key, &subcategory, "Fuzz Mail").await;
    ok(
        200,
        supply_kit::upload(app, &key, &inventory.2[0], lines("fz", 300), false).await,
    );
    let manual = roomy_manual_product(app, &key, &subcategory, "Fuzz Hand").await;
    let smm = ok(
        201,
        post(
            app,
            As::Key(&key),
            "/api/admin/v2/products",
            json!({"name": "Fuzz Followers", "subcategoryId": subcategory, "entityType": "smm",
                   "rate": "2.00", "min": 10, "max": 5000}),
        )
        .await,
    );
    let smm = (
        smm["service"].as_i64().expect("service"),
        smm["id"].as_str().expect("id").to_owned(),
    );
    Shop {
        key,
        shop,
        subcategory,
        inventory,
        manual,
        smm,
    }
}

/// `count` orders of `quantity` each for `service`.
async fn orders_of(
    app: &TestApp,
    buyer: &str,
    service: i64,
    quantity: i64,
    count: usize,
) -> Vec<i64> {
    let mut out = Vec::new();
    for _ in 0..count {
        out.push(buy(app, buyer, service, quantity).await);
    }
    out
}

/// The web user: signed in, keeping a shop with a manual product (which the buyer has
/// ordered from) and an inventory product, and with money to spend.
struct WebUser {
    session: String,
    csrf: String,
    service: i64,
    subproducts: Vec<String>,
    orders: Vec<i64>,
}

async fn web_user(app: &TestApp, subcategory: &str, buyer: &str) -> WebUser {
    let session = sign_up(app, "fuzz@web.test").await;
    let key = open_shop_for(app, "fuzz@web.test", "WebShop").await;
    let (service, _, manual_sub) = roomy_manual_product(app, &key, subcategory, "Web Hand").await;
    let (_, _, mut subproducts) = inventory_product(app, &key, subcategory, "Web Mail").await;
    subproducts.push(manual_sub);
    let orders = orders_of(app, buyer, service, 3, 4).await;
    let (user, _) = user_of(app, "fuzz@web.test").await;
    let (status, body) = post(
        app,
        As::Operator,
        &format!("/api/operator/v1/users/{user}/balance"),
        json!({"amount": "1000", "kind": "topup"}),
    )
    .await;
    assert!((200..300).contains(&status), "top-up: {status} {body}");
    let (code, html) = page(app, &session, "/desk").await;
    assert_eq!(code, 200, "desk page");
    WebUser {
        session,
        csrf: csrf_of(&html),
        service,
        subproducts,
        orders,
    }
}

async fn setup(db: &TestDb) -> (TestApp, World) {
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    let auto = fixtures::add_auto_products(&store, &f).await;
    store.close().await;
    // Web requests carry X-Forwarded-For from a documentation range, so the sign-in
    // throttle (30 attempts per address) does not turn every later attempt into a 429.
    let config = ApiConfig {
        trusted_proxy_hops: 1,
        ..quiet_config()
    };
    let app = TestApp::spawn_with(db, config).await;
    let buyer = app.buyer("fuzz@buyer.test", "1000000").await;
    let poor_buyer = app.buyer("poor@buyer.test", "0.01").await;
    let shop = supplier_shop(&app).await;
    let sms = sms_fixture(&app).await;
    let (inv_id, inv_number, inv_subs) = shop.inventory.clone();
    let (manual_number, manual_id, manual_sub) = shop.manual.clone();
    let (smm_number, smm_id) = shop.smm.clone();

    let reviewable = orders_of(&app, &buyer, inv_number, 1, 12).await;
    let mut orders = reviewable.clone();
    for (service, quantity) in [
        (f.gmail_usa, 1),
        (f.gmail_bulk, 1),
        (f.outlook_fresh, 2),
        (f.ig_followers, 100),
    ] {
        orders.push(buy(&app, &buyer, service, quantity).await);
    }
    let manual_orders = orders_of(&app, &buyer, manual_number, 3, 6).await;
    let smm_orders = orders_of(&app, &buyer, smm_number, 100, 3).await;
    let web = web_user(&app, &shop.subcategory, &buyer).await;
    let (visitor_cookie, visitor_csrf) = visit(&app, "/signin").await;
    supply_kit::earnings_withdrawable_at_once(&app).await;

    let mut services = strings(&[
        f.ig_followers,
        f.gmail_usa,
        f.outlook_fresh,
        f.ig_likes,
        f.gmail_bulk,
        auto.netflix_auto,
        auto.freebie,
        inv_number,
        manual_number,
        smm_number,
        web.service,
    ]);
    services.extend([
        f.gmail_usa_id.clone(),
        f.outlook_fresh_id.clone(),
        inv_id.clone(),
    ]);
    let mut subproducts = f.gmail_subs.clone();
    subproducts.extend([f.gmail_bulk_sub.clone(), manual_sub.clone()]);
    subproducts.extend(inv_subs.iter().cloned());
    let mut disputable = orders.clone();
    disputable.extend(&manual_orders);
    disputable.extend(&smm_orders);
    let world = World {
        clock: app.clock.clone(),
        buyer,
        poor_buyer,
        supplier: shop.key,
        services,
        subproducts,
        own_products: vec![
            inv_number.to_string(),
            inv_id,
            manual_number.to_string(),
            manual_id,
        ],
        own_smm: vec![smm_number.to_string(), smm_id],
        own_subproducts: inv_subs.iter().cloned().chain([manual_sub]).collect(),
        other_products: vec![f.gmail_usa.to_string(), f.gmail_usa_id.clone()],
        subcategory_ids: vec![shop.subcategory.clone()],
        subcategories: vec![
            shop.subcategory,
            f.gmail.clone(),
            f.followers.clone(),
            "gmail".into(),
            "followers".into(),
        ],
        shops: vec![shop.shop, f.nord.clone(), f.boost.clone()],
        orders,
        manual_orders,
        smm_orders,
        sms_orders: Vec::new(),
        desk_orders: web.orders,
        reviewable,
        disputable,
        inventory_service: inv_number.to_string(),
        manual_service: manual_number.to_string(),
        smm_service: smm_number.to_string(),
        desk_service: web.service.to_string(),
        gateway: sms.gateway,
        secret: sms.secret,
        session: web.session,
        session_csrf: web.csrf,
        visitor_cookie,
        visitor_csrf,
        desk_subproducts: web.subproducts,
    };
    (app, world)
}

// ---------------------------------------------------------------------------------------
// Pairs and their encodings.

/// Spoils a list of pairs now and then: repeated fields, `name[]` fields, 101 ids, blank
/// values, stray pairs, another order.
fn mangle(rng: &mut StdRng, pairs: &mut Pairs) {
    if pairs.is_empty() {
        return;
    }
    if rng.gen_bool(0.06) {
        let i = rng.gen_range(0..pairs.len());
        let name = pairs[i].0.clone();
        pairs.push((name, nasty(rng)));
    }
    if rng.gen_bool(0.06) {
        let i = rng.gen_range(0..pairs.len());
        pairs[i].0.push_str("[]");
    }
    if rng.gen_bool(0.03) {
        let name = *pick(
            rng,
            &["orders", "order", "productIds", "refills", "orders[]"],
        );
        for n in 0..101 {
            pairs.push((name.to_owned(), Val::text((n + 1).to_string())));
        }
    }
    if rng.gen_bool(0.04) {
        let i = rng.gen_range(0..pairs.len());
        pairs[i].1 = Val::text("");
    }
    if rng.gen_bool(0.04) {
        let name = nasty(rng).lossy().chars().take(200).collect();
        pairs.push((name, nasty(rng)));
    }
    if rng.gen_bool(0.1) {
        pairs.shuffle(rng);
    }
}

/// A JSON value for a text parameter: usually a string, sometimes a raw number, an
/// array, another type, or something deep.
fn json_for(rng: &mut StdRng, v: &Val) -> J {
    let text = v.lossy();
    let numeric = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-+.eE".contains(&b));
    match rng.gen_range(0..40) {
        0..=7 if numeric => J::Raw(text),
        8 => J::Arr(vec![J::Str(v.clone())]),
        9 => J::Arr(vec![
            J::Str(v.clone()),
            J::Raw("1".into()),
            J::Raw("null".into()),
        ]),
        10 => J::Raw(
            (*pick(
                rng,
                &[
                    "true",
                    "false",
                    "null",
                    "{}",
                    "[]",
                    "{\"x\":[1]}",
                    "NaN",
                    "1e400",
                ],
            ))
            .into(),
        ),
        11 => {
            let n = rng.gen_range(5_000..12_000);
            if rng.gen_bool(0.5) {
                J::Raw(format!("{}{}", "[".repeat(n), "]".repeat(n)))
            } else {
                J::Raw("[".repeat(n))
            }
        }
        _ => J::Str(v.clone()),
    }
}

fn json_of_pairs(rng: &mut StdRng, pairs: &[(String, Val)]) -> J {
    J::Obj(
        pairs
            .iter()
            .map(|(n, v)| (n.clone(), json_for(rng, v)))
            .collect(),
    )
}

/// A content type that is wrong for the body, or wrong altogether.
const ODD_CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "application/xml",
    "application/json; charset=utf-16",
    "multipart/form-data",
    "multipart/form-data; boundary=xyz",
    "application/x-www-form-urlencoded; charset=latin1",
    "application/vnd.api+json",
    "image/png",
    ";;;",
    "application/json, text/html",
    "",
];

/// Garbage that some query strings carry.
const ODD_QUERIES: &[&str] = &[
    "&",
    "&&",
    "=",
    "=x",
    "%",
    "%zz",
    "a=%",
    "&=&",
    "%00=%00",
    "x[]=",
    "[]=1",
    ";",
    "a=1;b=2",
    "%E0%A4%A",
    "+=+",
    "key",
    "action",
    "limit=1&limit=2",
    "%FF%FE=%FF",
];

fn odd_query(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.1) {
        format!("&{}", pick(rng, ODD_QUERIES))
    } else {
        String::new()
    }
}

/// Puts `pairs` on the wire as `/api/v2` and the sms-activate endpoint read them: a query
/// string, a form with or without its content type, JSON, multipart, query and body
/// mixed (the body wins), or a body that does not fit its content type.
fn encode_params(rng: &mut StdRng, mut req: Req, pairs: Pairs) -> Req {
    req.note_pairs(&pairs);
    match rng.gen_range(0..30) {
        0..=5 => {
            req.method = Method::GET;
            req.path = format!("{}?{}{}", req.path, encode(&pairs), odd_query(rng));
        }
        6..=12 => req.body = Body::Form { pairs, typed: true },
        13 | 14 => {
            req.body = Body::Form {
                pairs,
                typed: false,
            }
        }
        15..=19 => {
            let doc = json_of_pairs(rng, &pairs);
            req = req.json(&doc);
        }
        20..=22 => req.body = Body::Multipart(pairs),
        23 | 24 => {
            let cut = rng.gen_range(0..=pairs.len());
            let (query, body) = pairs.split_at(cut);
            req.path = format!("{}?{}{}", req.path, encode(query), odd_query(rng));
            req.body = Body::Form {
                pairs: body.to_vec(),
                typed: true,
            };
        }
        25 => req.path = format!("{}?{}", req.path, encode(&pairs)),
        26 | 27 => {
            let bytes = if rng.gen_bool(0.5) {
                encode(&pairs).into_bytes()
            } else {
                json_of_pairs(rng, &pairs).bytes()
            };
            req.body = Body::Raw {
                content_type: Some((*pick(rng, ODD_CONTENT_TYPES)).into()),
                bytes,
            };
        }
        _ => req.body = garbage_body(rng, &pairs),
    }
    req
}

/// Bodies that are not what they say they are.
fn garbage_body(rng: &mut StdRng, pairs: &[(String, Val)]) -> Body {
    let form = Some("application/x-www-form-urlencoded".to_owned());
    let json = Some("application/json".to_owned());
    let (content_type, bytes) = match rng.gen_range(0..9) {
        0 => {
            // Raw (not percent-encoded) invalid UTF-8 and a NUL in a form.
            let mut b = encode(pairs).into_bytes();
            b.extend_from_slice(b"&x=\xff\xfe\x00");
            (form, b)
        }
        1 => (json, "[".repeat(10_000).into_bytes()),
        2 => (
            json,
            format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes(),
        ),
        3 => (json, b"[1,2,3]".to_vec()),
        4 => {
            let mut b = json_of_pairs(rng, pairs).bytes();
            b.truncate(b.len() / 2);
            (json, b)
        }
        5 => (
            json,
            b"{\"key\": \"\xff\xfe\", \"action\": \"balance\"}".to_vec(),
        ),
        6 => (
            Some("multipart/form-data; boundary=b".into()),
            b"--b\r\nContent-Disposition: form-data; name=\"action\"\r\n\r\nbal\x00ance\r\n--b\r\nContent-Disposition: form-data; name=\"key\"\r\n\r\n\xff\xfe\r\n".to_vec(),
        ),
        7 => (
            None,
            (0..rng.gen_range(1..2_000)).map(|_| rng.gen::<u8>()).collect(),
        ),
        _ => (json, b"\"just a string\"".to_vec()),
    };
    Body::Raw {
        content_type,
        bytes,
    }
}

// ---------------------------------------------------------------------------------------
// /api/v2.

/// The seed's actions, each with a set of parameters it reads.
const ACTIONS: &[(&str, &[&str])] = &[
    ("balance", &[]),
    ("categories", &["lang"]),
    ("subcategory_info", &["subcategoryId", "lang"]),
    ("shops", &["lang"]),
    (
        "products",
        &[
            "lang",
            "limit",
            "page",
            "entityType",
            "isRecommended",
            "productIds",
            "category",
            "subcategory",
            "shopId",
        ],
    ),
    ("products", &["productIds"]),
    (
        "services",
        &[
            "lang",
            "limit",
            "page",
            "entityType",
            "isRecommended",
            "category",
            "subcategory",
            "shopId",
        ],
    ),
    ("services", &["productIds"]),
    ("inventory", &["service", "lang"]),
    ("add", &["service", "quantity", "link"]),
    ("add", &["service", "quantity", "link"]),
    ("add", &["service", "quantity", "link", "idempotency_key"]),
    ("add", &["service", "quantity", "subproduct"]),
    ("add", &["service", "quantity", "link", "runs", "interval"]),
    (
        "add",
        &[
            "service",
            "quantity",
            "link",
            "comments",
            "usernames",
            "username",
            "min",
            "max",
            "posts",
        ],
    ),
    ("status", &["order"]),
    ("status", &["orders"]),
    ("cancel", &["order"]),
    ("cancel", &["orders"]),
    ("allowcancel", &["order"]),
    ("allowcancel", &["orders"]),
    ("refill", &["order"]),
    ("refill", &["orders"]),
    ("refill_status", &["refill"]),
    ("refill_status", &["refills"]),
    ("sms_countries", &["lang"]),
    ("sms_projects", &["country", "lang"]),
    ("add_sms", &["project", "country", "quantity"]),
    ("add_sms", &["project", "phone"]),
    ("sms_code", &["order"]),
    ("sms_status", &["order"]),
    ("dispute", &["order", "message"]),
    ("dispute", &["order", "message"]),
    ("review", &["order", "rating", "text"]),
    ("review", &["order", "rating", "text"]),
];

/// Good values of a parameter of `action`.
fn good_values(rng: &mut StdRng, w: &World, action: &str, name: &str) -> Vec<String> {
    let v = |items: &[&str]| strings(items);
    match name {
        "service" => w.services.clone(),
        "quantity" if action == "add_sms" => v(&["1", "2"]),
        "quantity" => v(&["1", "2", "3", "10", "100"]),
        "link" => v(&["https://example.com/me", "https://instagram.com/p/abc"]),
        "subproduct" => w.subproducts.clone(),
        "idempotency_key" => vec![format!("fz-{}", rng.gen::<u32>())],
        "runs" | "interval" | "posts" | "min" | "max" => v(&["1", "2", "5", "100"]),
        "comments" | "usernames" => v(&["one\ntwo\nthree", "a\nb"]),
        "username" => v(&["someone"]),
        "order" if action.starts_with("sms_") && !w.sms_orders.is_empty() => strings(&w.sms_orders),
        "order" if action == "review" && !w.reviewable.is_empty() => strings(&w.reviewable),
        "order" if action == "dispute" && !w.disputable.is_empty() => strings(&w.disputable),
        "order" => vec![w.any_order(rng)],
        "orders" => vec![w.order_list(rng)],
        "refill" | "refills" => v(&["1", "2", "1,2"]),
        "lang" => v(&["en", "ru", "zh", "ja", "jp", "EN"]),
        "limit" | "page" => v(&["1", "2", "10"]),
        "entityType" => v(&["product", "smm", "smm_service"]),
        "isRecommended" => v(&["true", "false", "1", "0"]),
        "productIds" => vec![w.services[..4].join(",")],
        "category" => v(&["instagram", "email-accounts", "accounts"]),
        "subcategory" | "subcategoryId" => w.subcategories.clone(),
        "shopId" => w.shops.clone(),
        "country" => v(&["us", "gb", "US", "187", "16"]),
        "project" => v(&["tg", "dr", "TG"]),
        "phone" => v(&[US1, US2, GB1]),
        "message" => v(&["It does not work", "Пустой аккаунт"]),
        "rating" => v(&["1", "3", "5"]),
        "text" => v(&["Great", "Отлично"]),
        _ => Vec::new(),
    }
}

fn api_key_value(rng: &mut StdRng, w: &World) -> Val {
    match rng.gen_range(0..100) {
        0..=91 => Val::text(w.buyer.clone()),
        92..=94 => Val::text(w.poor_buyer.clone()),
        95 => Val::text(w.supplier.clone()),
        96 => Val::text(format!(" {} ", w.buyer)),
        _ => spoil(rng, std::slice::from_ref(&w.buyer)),
    }
}

fn api_v2_request(rng: &mut StdRng, w: &World) -> Req {
    let (action, fields) = *pick(rng, ACTIONS);
    let specs: Vec<Spec> = fields
        .iter()
        .map(|f| (*f, good_values(rng, w, action, f)))
        .collect();
    let mut pairs = fill(rng, &specs);
    let action_value = if rng.gen_bool(0.97) {
        Val::text(action)
    } else {
        spoil(rng, &[action.to_owned()])
    };
    pairs.insert(0, ("action".into(), action_value));
    let header_key = rng.gen_bool(0.1);
    if !header_key && rng.gen_bool(0.98) {
        pairs.insert(0, ("key".into(), api_key_value(rng, w)));
    }
    mangle(rng, &mut pairs);
    let path = if rng.gen_bool(0.9) {
        "/api/v2"
    } else {
        "/api/v2/"
    };
    let mut req = Req::new(
        Target::ApiV2,
        format!("api/v2 {action}"),
        Method::POST,
        path.to_owned(),
    );
    let subject = match action {
        "add" => Some("service"),
        "review" | "dispute" => Some("order"),
        _ => None,
    };
    req.subject = subject.and_then(|name| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.lossy().trim().to_owned())
    });
    if header_key {
        let key = api_key_value(rng, w);
        req = req.header("X-Api-Key", key.bytes());
    }
    if action == "add" && rng.gen_bool(0.1) {
        let good = [format!("fz-h-{}", rng.gen::<u32>())];
        let key = spoil(rng, &good);
        req = req.header("Idempotency-Key", key.bytes());
    }
    encode_params(rng, req, pairs)
}

// ---------------------------------------------------------------------------------------
// The supplier API.

const SUPPLIER: &str = "/api/admin/v2";

fn subproduct_fields(rng: &mut StdRng, patch: bool) -> Vec<Field> {
    let mut fields = vec![
        text_field(rng, "name", &strings(&["1 Month", "Standard", "Премиум"])),
        amount_field(rng, "price", &["2.50", "1", "0.000001", "0", "100.123456"]),
        int_field(rng, "min", &[1]),
        int_field(rng, "max", &[10, 50]),
        int_field(rng, "position", &[1, 2]),
        int_field(rng, "stock", &[0, 5]),
        translations_field(rng, &["name"]),
    ];
    if patch {
        fields.push(bool_field(rng, "active", true));
    }
    fields
}

/// A new product with its subproducts, or a new SMM service.
fn product_body(rng: &mut StdRng, w: &World) -> J {
    let names = strings(&["Fuzz Product", "Аккаунт Gmail", "x"]);
    let common = |rng: &mut StdRng| {
        vec![
            text_field(rng, "name", &names),
            text_field(rng, "subcategoryId", &w.subcategory_ids),
            text_field(rng, "description", &strings(&["Fresh accounts", "Свежие"])),
        ]
    };
    let mut fields = common(rng);
    if rng.gen_bool(0.6) {
        let good_subs: Vec<J> = (0..rng.gen_range(1..4))
            .map(|_| {
                let fields = subproduct_fields(rng, false);
                good_object(fields)
            })
            .collect();
        let bad_subs = match rng.gen_range(0..5) {
            0 | 1 => {
                let fields = subproduct_fields(rng, false);
                J::Arr(vec![object(rng, fields)])
            }
            2 => J::Arr(
                (0..101)
                    .map(|_| good_object(subproduct_fields(rng, false)))
                    .collect(),
            ),
            3 => J::Arr(Vec::new()),
            _ => J::Str(nasty(rng)),
        };
        fields.extend([
            text_field(rng, "type", &strings(&["inventory", "manual"])),
            text_field(rng, "imageUrl", &strings(&["https://example.com/a.webp"])),
            bool_field(rng, "recommended", false),
            translations_field(rng, &["name", "description"]),
            Field {
                name: "subproducts",
                good: J::Arr(good_subs),
                bad: bad_subs,
            },
        ]);
    } else {
        fields.extend([
            text_field(rng, "entityType", &strings(&["smm", "smm_service"])),
            amount_field(rng, "rate", &["2.00", "0.5", "0.000001"]),
            int_field(rng, "min", &[10, 1]),
            int_field(rng, "max", &[1000, 5000]),
            text_field(
                rng,
                "smmType",
                &strings(&["Default", "Package", "Custom Comments"]),
            ),
            bool_field(rng, "refill", false),
            bool_field(rng, "dripfeed", false),
        ]);
    }
    if rng.gen_bool(0.2) {
        fields.push(text_field(rng, "shopId", &w.shops[..1]));
    }
    object(rng, fields)
}

/// A patch of one of the supplier's products or SMM services: (path id, body).
fn product_patch(rng: &mut StdRng, w: &World) -> (String, J) {
    let smm = rng.gen_bool(0.4);
    let mut targets = if smm {
        w.own_smm.clone()
    } else {
        w.own_products.clone()
    };
    if rng.gen_bool(0.1) {
        targets = w.other_products.clone();
    }
    let id = segment(rng, &targets);
    let mut fields = vec![
        text_field(rng, "name", &strings(&["Renamed", "Новое имя"])),
        bool_field(rng, "active", true),
    ];
    if smm {
        fields.extend([
            amount_field(rng, "rate", &["2.00", "3"]),
            int_field(rng, "min", &[10]),
            int_field(rng, "max", &[5000]),
            text_field(rng, "smmType", &strings(&["Default", "Package"])),
        ]);
    } else {
        let image = text_field(rng, "imageUrl", &strings(&["https://example.com/b.webp"]));
        fields.extend([
            text_field(rng, "description", &strings(&["New description"])),
            bool_field(rng, "recommended", false),
            translations_field(rng, &["name", "description"]),
            Field {
                good: if rng.gen_bool(0.3) {
                    J::Raw("null".into())
                } else {
                    image.good
                },
                ..image
            },
        ]);
    }
    (id, object(rng, fields))
}

fn supplier_key(rng: &mut StdRng, w: &World, req: Req) -> Req {
    match rng.gen_range(0..100) {
        0..=92 => req.header("X-Api-Key", &w.supplier),
        93 => req.header("X-Api-Key", &w.buyer),
        94 => req.header("X-Api-Key", format!(" {} ", w.supplier)),
        95 => req.header("Authorization", format!("Bearer {ADMIN_TOKEN}")),
        96 => req,
        _ => req.header(
            "X-Api-Key",
            spoil(rng, std::slice::from_ref(&w.supplier)).bytes(),
        ),
    }
}

/// The JSON body, or now and then one that is not JSON or not what the route reads.
fn supplier_body(rng: &mut StdRng, mut req: Req, doc: &J) -> Req {
    match rng.gen_range(0..40) {
        0 | 1 => {
            req.body = garbage_body(rng, &[]);
            req
        }
        2 => {
            doc.nul_paths("", &mut req.nul_at);
            req.body = Body::Raw {
                content_type: Some((*pick(rng, ODD_CONTENT_TYPES)).into()),
                bytes: doc.bytes(),
            };
            req
        }
        3 => req,
        4 => req.json(&J::Arr(vec![doc.clone()])),
        _ => req.json(doc),
    }
}

/// A query string of the `specs` present (each half the time), victims spoiled; and the
/// names of the parameters that carry a NUL.
fn query(rng: &mut StdRng, specs: &[(&'static str, &[&str])]) -> (String, Vec<String>) {
    let present: Vec<Spec> = specs
        .iter()
        .filter(|_| rng.gen_bool(0.5))
        .map(|(n, good)| (*n, strings(good)))
        .collect();
    let mut pairs = fill(rng, &present);
    mangle(rng, &mut pairs);
    let nul = pairs
        .iter()
        .filter(|(n, v)| v.has_nul() || n.contains('\0'))
        .map(|(n, _)| format!("query {n}"))
        .collect();
    (format!("{}{}", encode(&pairs), odd_query(rng)), nul)
}

fn unique_lines(rng: &mut StdRng, n: usize) -> Vec<String> {
    let tag: u32 = rng.gen();
    (0..n).map(|i| format!("acc{tag}-{i}:pw{i}")).collect()
}

fn stock_text(rng: &mut StdRng) -> Vec<u8> {
    let n = rng.gen_range(1..20);
    let good = unique_lines(rng, n).join("\n");
    match rng.gen_range(0..8) {
        0 => tainted(rng, &good).into_bytes(),
        1 => {
            let mut b = good.into_bytes();
            b.extend_from_slice(&invalid_utf8(rng));
            b
        }
        2 => format!("{good}\n{}\n", "y".repeat(rng.gen_range(4_000..5_000))).into_bytes(),
        3 => b"\r\n\r\n \n\t\n".to_vec(),
        4 => nasty(rng).bytes().to_vec(),
        _ => good.into_bytes(),
    }
}

fn stock_request(rng: &mut StdRng, w: &World) -> Req {
    let method = pick(
        rng,
        &[Method::GET, Method::POST, Method::POST, Method::DELETE],
    )
    .clone();
    let (dedupe, nul) = query(rng, &[("dedupe", &["true", "false"])]);
    let path = format!(
        "{SUPPLIER}/subproducts/{}/stock?{dedupe}",
        segment(rng, &w.own_subproducts)
    );
    let label = format!("{method} /subproducts/{{id}}/stock");
    let mut req = supplier_key(rng, w, Req::new(Target::Supplier, label, method, path));
    req.nul_at = nul;
    let text = stock_text(rng);
    if text.contains(&0) {
        req.nul_at.push("stock text".into());
    }
    let content_type = *pick(
        rng,
        &[
            "text/plain",
            "text/plain",
            "text/plain",
            "application/octet-stream",
            "application/json",
        ],
    );
    req.body = Body::Raw {
        content_type: Some(content_type.into()),
        bytes: text,
    };
    req
}

/// `deliver`, `fail` or `progress` on one of the shop's orders: (label, path, body).
fn order_action(rng: &mut StdRng, w: &World) -> (&'static str, String, J) {
    let others = strings(&w.orders);
    match rng.gen_range(0..3) {
        0 => {
            let n = rng.gen_range(1..3);
            let good = J::Arr(unique_lines(rng, n).into_iter().map(J::s).collect());
            let bad = match rng.gen_range(0..5) {
                0 | 1 => {
                    let lines = unique_lines(rng, 2);
                    J::Arr(vec![J::s(lines[0].clone()), J::Str(spoil(rng, &lines))])
                }
                2 => J::Arr(unique_lines(rng, 101).into_iter().map(J::s).collect()),
                3 => J::Arr(Vec::new()),
                _ => J::Str(nasty(rng)),
            };
            let targets = if rng.gen_bool(0.9) {
                strings(&w.manual_orders)
            } else {
                others
            };
            let id = segment(rng, &targets);
            let body = object(
                rng,
                vec![Field {
                    name: "accounts",
                    good,
                    bad,
                }],
            );
            (
                "POST /orders/{order}/deliver",
                format!("{SUPPLIER}/orders/{id}/deliver"),
                body,
            )
        }
        1 => {
            let targets = if rng.gen_bool(0.5) {
                strings(&w.manual_orders)
            } else {
                strings(&w.smm_orders)
            };
            let id = segment(rng, &targets);
            let fields = vec![text_field(
                rng,
                "reason",
                &strings(&["Out of stock", "Нет в наличии"]),
            )];
            let body = object(rng, fields);
            (
                "POST /orders/{order}/fail",
                format!("{SUPPLIER}/orders/{id}/fail"),
                body,
            )
        }
        _ => {
            let id = segment(rng, &strings(&w.smm_orders));
            let fields = vec![
                int_field(rng, "start_count", &[0, 10, 500]),
                int_field(rng, "remains", &[0, 5, 50]),
                text_field(
                    rng,
                    "status",
                    &strings(&["processing", "in progress", "completed", "partial"]),
                ),
            ];
            let body = object(rng, fields);
            (
                "POST /orders/{order}/progress",
                format!("{SUPPLIER}/orders/{id}/progress"),
                body,
            )
        }
    }
}

fn supplier_request(rng: &mut StdRng, w: &World) -> Req {
    let products: Vec<String> = w.own_products.iter().chain(&w.own_smm).cloned().collect();
    let mut query_nul = Vec::new();
    let (label, method, path, doc): (&str, Method, String, Option<J>) = match rng.gen_range(0..16) {
        0 => ("GET /me", Method::GET, format!("{SUPPLIER}/me"), None),
        1 | 2 => {
            let (q, nul) = query(
                rng,
                &[
                    (
                        "status",
                        &["completed", "pending,processing", "partial", "CANCELED"],
                    ),
                    ("limit", &["1", "50", "100"]),
                    ("offset", &["0", "1", "5"]),
                    ("productType", &["inventory", "manual", "auto"]),
                    ("entityType", &["product", "smm_service", "smm"]),
                    ("subCategory", &["gmail", "email"]),
                ],
            );
            query_nul = nul;
            (
                "GET /orders",
                Method::GET,
                format!("{SUPPLIER}/orders?{q}"),
                None,
            )
        }
        3 => {
            let (q, nul) = query(rng, &[("entityType", &["product", "smm", "smm_service"])]);
            query_nul = nul;
            (
                "GET /products",
                Method::GET,
                format!("{SUPPLIER}/products?{q}"),
                None,
            )
        }
        4 | 5 => (
            "POST /products",
            Method::POST,
            format!("{SUPPLIER}/products"),
            Some(product_body(rng, w)),
        ),
        6 => {
            let id = segment(rng, &products);
            (
                "GET /products/{id}",
                Method::GET,
                format!("{SUPPLIER}/products/{id}"),
                None,
            )
        }
        7 => {
            let (id, body) = product_patch(rng, w);
            (
                "PATCH /products/{id}",
                Method::PATCH,
                format!("{SUPPLIER}/products/{id}"),
                Some(body),
            )
        }
        8 => {
            let id = segment(rng, &w.own_products);
            let fields = subproduct_fields(rng, false);
            let body = object(rng, fields);
            (
                "POST /products/{id}/subproducts",
                Method::POST,
                format!("{SUPPLIER}/products/{id}/subproducts"),
                Some(body),
            )
        }
        9 => {
            let id = segment(rng, &w.own_subproducts);
            let fields = subproduct_fields(rng, true);
            let body = object(rng, fields);
            (
                "PATCH /subproducts/{id}",
                Method::PATCH,
                format!("{SUPPLIER}/subproducts/{id}"),
                Some(body),
            )
        }
        10 => return stock_request(rng, w),
        11..=13 => {
            let (label, path, body) = order_action(rng, w);
            (label, Method::POST, path, Some(body))
        }
        14 => {
            let which = *pick(rng, &["earnings", "withdrawals"]);
            let (q, nul) = query(rng, &[("limit", &["1", "10"]), ("offset", &["0", "3"])]);
            query_nul = nul;
            let label = if which == "earnings" {
                "GET /earnings"
            } else {
                "GET /withdrawals"
            };
            (label, Method::GET, format!("{SUPPLIER}/{which}?{q}"), None)
        }
        _ => {
            let fields = vec![
                text_field(rng, "shopId", &w.shops[..1]),
                text_field(rng, "note", &strings(&["monthly", "к выплате"])),
            ];
            let body = object(rng, fields);
            (
                "POST /withdrawals",
                Method::POST,
                format!("{SUPPLIER}/withdrawals"),
                Some(body),
            )
        }
    };
    let req = supplier_key(rng, w, Req::new(Target::Supplier, label, method, path));
    let mut req = match doc {
        Some(doc) => supplier_body(rng, req, &doc),
        None => req,
    };
    req.nul_at.extend(query_nul);
    req
}

// ---------------------------------------------------------------------------------------
// /stubs/handler_api.php.

const STUB_ACTIONS: &[(&str, &[&str])] = &[
    ("getBalance", &[]),
    ("getNumber", &["service", "country", "maxPrice"]),
    ("getNumberV2", &["service", "country", "maxPrice"]),
    ("getStatus", &["id"]),
    ("getStatusV2", &["id"]),
    ("setStatus", &["id", "status"]),
    ("getPrices", &["service", "country"]),
    ("getCountries", &[]),
    ("getServicesList", &["country", "lang"]),
    ("getActiveActivations", &[]),
];

fn stubs_request(rng: &mut StdRng, w: &World) -> Req {
    let (action, fields) = *pick(rng, STUB_ACTIONS);
    let mut ids = strings(&w.sms_orders);
    ids.push(w.any_order(rng));
    let specs: Vec<Spec> = fields
        .iter()
        .map(|f| {
            let good = match *f {
                "service" => strings(&["tg", "dr", "TG"]),
                "country" => strings(&["187", "16", "us", "gb"]),
                "maxPrice" => strings(&["1", "0.40", "100"]),
                "id" => ids.clone(),
                "status" => strings(&["1", "3", "6", "8"]),
                _ => strings(&["en", "ru"]),
            };
            (*f, good)
        })
        .collect();
    let mut pairs = fill(rng, &specs);
    let action_value = if rng.gen_bool(0.97) {
        Val::text(action)
    } else {
        spoil(rng, &[action.to_owned()])
    };
    pairs.insert(0, ("action".into(), action_value));
    if rng.gen_bool(0.98) {
        let name = if rng.gen_bool(0.9) { "api_key" } else { "key" };
        pairs.insert(0, (name.into(), api_key_value(rng, w)));
    }
    mangle(rng, &mut pairs);
    let req = Req::new(
        Target::Stubs,
        format!("stubs {action}"),
        Method::POST,
        "/stubs/handler_api.php".into(),
    );
    encode_params(rng, req, pairs)
}

// ---------------------------------------------------------------------------------------
// /webhooks/sms/{gateway}.

/// (content type, body, where NULs are).
fn webhook_body(rng: &mut StdRng, w: &World) -> (Option<String>, Vec<u8>, Vec<String>) {
    let mut specs: Vec<Spec> = vec![
        (
            "phone",
            strings(&[US1, US2, GB1, "12025550101", "+1 (202) 555-0101"]),
        ),
        ("from", strings(&["Telegram", "OpenAI"])),
        (
            "text",
            strings(&[
                "Telegram code: 48213",
                "Your code is 123-456",
                "no code here",
            ]),
        ),
    ];
    if rng.gen_bool(0.4) {
        let now = w.clock.now_ms();
        specs.push((
            "received_at",
            vec![now.to_string(), (now / 1000).to_string()],
        ));
    }
    let mut pairs = fill(rng, &specs);
    mangle(rng, &mut pairs);
    let nul: Vec<String> = pairs
        .iter()
        .filter(|(n, v)| v.has_nul() || n.contains('\0'))
        .map(|(n, _)| n.clone())
        .collect();
    let json = || Some("application/json".to_owned());
    match rng.gen_range(0..20) {
        0..=14 => (json(), json_of_pairs(rng, &pairs).bytes(), nul),
        15 => (None, json_of_pairs(rng, &pairs).bytes(), nul),
        16 | 17 => (
            Some("application/x-www-form-urlencoded".into()),
            encode(&pairs).into_bytes(),
            nul,
        ),
        18 => (json(), "x".repeat(70 * 1024).into_bytes(), Vec::new()),
        _ => match garbage_body(rng, &pairs) {
            Body::Raw {
                content_type,
                bytes,
            } => (content_type, bytes, vec!["body".into()]),
            _ => (None, Vec::new(), Vec::new()),
        },
    }
}

fn webhook_request(rng: &mut StdRng, w: &World) -> Req {
    let id = segment(rng, std::slice::from_ref(&w.gateway));
    let (content_type, bytes, nul) = webhook_body(rng, w);
    let mut req = Req::new(
        Target::Webhook,
        "POST /webhooks/sms/{id}",
        Method::POST,
        format!("/webhooks/sms/{id}"),
    );
    req.nul_at = nul;
    let now = w.clock.now_ms() / 1000;
    let signed = |ts: i64| {
        (
            ts.to_string(),
            format!(
                "sha256={}",
                souk_core::sms::sign(w.secret.as_bytes(), ts, &bytes)
            ),
        )
    };
    let headers = match rng.gen_range(0..10) {
        0..=7 => Some(signed(now)),
        8 => Some(signed(now - 3_600)),
        _ => Some((nasty(rng).lossy(), nasty(rng).lossy())),
    };
    if let Some((ts, signature)) = headers {
        req = req
            .header("X-Souk-Timestamp", ts)
            .header("X-Souk-Signature", signature);
    }
    req.body = Body::Raw {
        content_type,
        bytes,
    };
    req
}

// ---------------------------------------------------------------------------------------
// The web forms.

fn forwarded_for(rng: &mut StdRng) -> String {
    match rng.gen_range(0..30) {
        0 => "not an address".into(),
        1 => String::new(),
        _ => format!("203.0.113.{}", rng.gen_range(1..255)),
    }
}

/// (cookie, csrf field) of a signed-out visitor: the real pair mostly, else a missing,
/// wrong or spoiled one.
fn visitor_auth(rng: &mut StdRng, w: &World) -> (Option<String>, Option<Val>) {
    let cookie = format!("souk_csrf={}", w.visitor_cookie);
    let token = Val::text(w.visitor_csrf.clone());
    match rng.gen_range(0..20) {
        0..=16 => (Some(cookie), Some(token)),
        17 => (Some(cookie), None),
        18 => (None, Some(token)),
        _ => (
            Some(cookie),
            Some(spoil(rng, std::slice::from_ref(&w.visitor_csrf))),
        ),
    }
}

/// (cookie, csrf field) of the signed-in web user.
fn session_auth(rng: &mut StdRng, w: &World) -> (Option<String>, Option<Val>) {
    let token = Val::text(w.session_csrf.clone());
    match rng.gen_range(0..20) {
        0..=17 => (Some(w.session.clone()), Some(token)),
        18 => (Some(w.session.clone()), None),
        _ => (
            Some(w.session.clone()),
            Some(spoil(rng, std::slice::from_ref(&w.session_csrf))),
        ),
    }
}

fn web_form(
    rng: &mut StdRng,
    label: &str,
    path: String,
    (cookie, csrf): (Option<String>, Option<Val>),
    specs: &[Spec],
) -> Req {
    let mut pairs = Pairs::new();
    if let Some(token) = csrf {
        pairs.push(("csrf".into(), token));
    }
    pairs.extend(fill(rng, specs));
    mangle(rng, &mut pairs);
    let mut req = Req::new(Target::Web, label, Method::POST, path)
        .header("X-Forwarded-For", forwarded_for(rng));
    if let Some(c) = cookie {
        let c = if rng.gen_bool(0.2) {
            format!("{c}; souk_ui=ru")
        } else {
            c
        };
        req = req.header("Cookie", c);
    }
    req.note_pairs(&pairs);
    req.body = match rng.gen_range(0..40) {
        0..=35 => Body::Form { pairs, typed: true },
        36 => Body::Multipart(pairs),
        37 => Body::Form {
            pairs,
            typed: false,
        },
        _ => garbage_body(rng, &pairs),
    };
    req
}

/// Pages read with a query string: (label, path, [(parameter, good values)]).
type Page = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);

const WEB_PAGES: &[Page] = &[
    (
        "GET /shop",
        "/shop",
        &[("q", &["gmail", "Почта"]), ("page", &["1", "2"])],
    ),
    (
        "GET /signin",
        "/signin",
        &[("next", &["/account", "/shop"])],
    ),
    (
        "GET /account/orders",
        "/account/orders",
        &[("page", &["1", "2"])],
    ),
    (
        "GET /desk",
        "/desk",
        &[
            ("uploaded", &["1"]),
            ("delivered", &["1"]),
            ("withdrawal", &["x"]),
        ],
    ),
    (
        "GET /account",
        "/account",
        &[("rotated", &["1"]), ("placed", &["1"])],
    ),
];

fn web_page(rng: &mut StdRng, w: &World) -> Req {
    let (label, path, specs) = *pick(rng, WEB_PAGES);
    let (q, nul) = query(rng, specs);
    let mut req = Req::new(Target::Web, label, Method::GET, format!("{path}?{q}"))
        .header("X-Forwarded-For", forwarded_for(rng));
    if rng.gen_bool(0.8) {
        req = req.header("Cookie", w.session.clone());
    }
    req.nul_at = nul;
    req
}

fn web_request(rng: &mut StdRng, w: &World) -> Req {
    match rng.gen_range(0..20) {
        0..=3 => {
            let auth = visitor_auth(rng, w);
            let specs: Vec<Spec> = vec![
                (
                    "email",
                    strings(&["fuzz@web.test", "Fuzz@Web.Test", "nobody@web.test"]),
                ),
                ("password", strings(&[PASSWORD, "wrong password"])),
                ("next", strings(&["/account", "/shop"])),
            ];
            web_form(rng, "POST /signin", "/signin".into(), auth, &specs)
        }
        4..=6 => {
            let auth = visitor_auth(rng, w);
            let email = format!("new-{}@web.test", rng.gen::<u32>());
            let specs: Vec<Spec> = vec![
                ("email", vec![email]),
                ("password", strings(&[PASSWORD])),
                ("password2", strings(&[PASSWORD])),
            ];
            web_form(rng, "POST /signup", "/signup".into(), auth, &specs)
        }
        7..=10 => {
            let auth = session_auth(rng, w);
            let specs: Vec<Spec> = vec![
                ("service", w.services.clone()),
                ("quantity", strings(&["1", "2", "100"])),
                ("link", strings(&["https://example.com/me"])),
                ("idempotency_key", vec![format!("web-{}", rng.gen::<u32>())]),
            ];
            web_form(rng, "POST /shop/buy", "/shop/buy".into(), auth, &specs)
        }
        11 => {
            let auth = session_auth(rng, w);
            web_form(rng, "POST /account/key", "/account/key".into(), auth, &[])
        }
        12 | 13 => {
            let auth = session_auth(rng, w);
            let order = segment(rng, &strings(&w.desk_orders));
            let (label, path, spec) = if rng.gen_bool(0.5) {
                (
                    "POST /desk/orders/{order}/deliver",
                    format!("/desk/orders/{order}/deliver"),
                    ("accounts", vec![unique_lines(rng, 2).join("\n")]),
                )
            } else {
                (
                    "POST /desk/orders/{order}/fail",
                    format!("/desk/orders/{order}/fail"),
                    ("note", strings(&["gone", "нет"])),
                )
            };
            web_form(rng, label, path, auth, &[spec])
        }
        14 => {
            let auth = session_auth(rng, w);
            let specs: Vec<Spec> = vec![("note", strings(&["payout"]))];
            web_form(
                rng,
                "POST /desk/withdraw",
                "/desk/withdraw".into(),
                auth,
                &specs,
            )
        }
        15 | 16 => desk_upload(rng, w),
        _ => web_page(rng, w),
    }
}

fn desk_upload(rng: &mut StdRng, w: &World) -> Req {
    let sub = segment(rng, &w.desk_subproducts);
    let file = stock_text(rng);
    let mut req = Req::new(
        Target::Web,
        "POST /desk/stock/{sub}",
        Method::POST,
        format!("/desk/stock/{sub}"),
    )
    .header("Cookie", w.session.clone())
    .header("X-Forwarded-For", forwarded_for(rng));
    if file.contains(&0) {
        req.nul_at.push("file".into());
    }
    let csrf = if rng.gen_bool(0.95) {
        Val::text(w.session_csrf.clone())
    } else {
        spoil(rng, std::slice::from_ref(&w.session_csrf))
    };
    req.body = Body::Multipart(vec![
        ("csrf".into(), csrf),
        ("file".into(), Val::Bytes(file)),
    ]);
    req
}

// ---------------------------------------------------------------------------------------
// Sending, judging, learning.

fn next_request(rng: &mut StdRng, w: &World) -> Req {
    let mut req = match rng.gen_range(0..100) {
        0..=39 => api_v2_request(rng, w),
        40..=64 => supplier_request(rng, w),
        65..=74 => stubs_request(rng, w),
        75..=84 => webhook_request(rng, w),
        _ => web_request(rng, w),
    };
    // The client cannot send a longer URI (`http::Uri` stops at 64 KiB). The path is
    // ASCII (percent-encoded), so any cut is on a character boundary; a cut escape is
    // one more odd input.
    req.path.truncate(MAX_URI);
    let in_path = req
        .path
        .split('?')
        .next()
        .is_some_and(|p| p.contains("%00"));
    if in_path && !req.nul_at.iter().any(|at| at == "path") {
        req.nul_at.push("path".into());
    }
    req
}

const BOUNDARY: &str = "souk-fuzz-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body in one buffer: (content type, bytes). Sent whole, not
/// streamed part by part, so that a route that refuses it early (415) still gets to
/// answer before the connection is closed under the client.
fn multipart(pairs: &[(String, Val)]) -> (String, Vec<u8>) {
    let mut out = Vec::new();
    for (name, v) in pairs {
        let name = name.replace(['"', '\r', '\n'], "_");
        out.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if name == "file" {
            out.extend_from_slice(b"; filename=\"stock.txt\"\r\nContent-Type: text/plain");
        }
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(v.bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={BOUNDARY}"), out)
}

struct Answer {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

async fn send(http: &reqwest::Client, base: &str, req: &Req) -> Result<Answer, String> {
    let mut builder = http.request(req.method.clone(), format!("{base}{}", req.path));
    for (name, value) in &req.headers {
        let value =
            HeaderValue::from_bytes(value).map_err(|e| format!("test bug: header {name}: {e}"))?;
        builder = builder.header(name.as_str(), value);
    }
    builder = match &req.body {
        Body::Empty => builder,
        Body::Form { pairs, typed } => {
            let b = builder.body(encode(pairs));
            if *typed {
                b.header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            } else {
                b
            }
        }
        Body::Multipart(pairs) => {
            let (content_type, bytes) = multipart(pairs);
            builder.header(CONTENT_TYPE, content_type).body(bytes)
        }
        Body::Raw {
            content_type,
            bytes,
        } => {
            let b = builder.body(bytes.clone());
            match content_type {
                Some(ct) => b.header(CONTENT_TYPE, ct.as_str()),
                None => b,
            }
        }
    };
    let response = builder
        .send()
        .await
        .map_err(|e| format!("no answer: {}", error_chain(&e)))?;
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("body cut short: {e}"))?
        .to_vec();
    Ok(Answer {
        status,
        content_type,
        body,
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let _ = write!(out, ": {s}");
        source = s.source();
    }
    out
}

/// What is wrong with an answer, if anything.
fn judge(req: &Req, answer: &Answer) -> Option<String> {
    if answer.status >= 500 {
        return Some(format!("HTTP {}", answer.status));
    }
    // `/api/v2` answers JSON whatever happens (SPEC 1), and so does the supplier API
    // (SPEC 11): a path or query string that axum itself refuses is checked too.
    if matches!(req.target, Target::ApiV2 | Target::Supplier) {
        if answer.content_type != JSON_TYPE {
            return Some(format!(
                "HTTP {} with content type {:?}",
                answer.status, answer.content_type
            ));
        }
        if serde_json::from_slice::<Value>(&answer.body).is_err() {
            return Some(format!(
                "HTTP {} with a body that is not JSON",
                answer.status
            ));
        }
    }
    None
}

/// Keeps what a good answer made (orders, SMS rentals, products) for later requests.
fn learn(w: &mut World, req: &Req, answer: &Answer) {
    if answer.status >= 300 {
        return;
    }
    let json = serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
    match req.target {
        Target::ApiV2 => {
            if json.get("review").is_some() || json.get("dispute").is_some() {
                let done = req.subject.as_deref().and_then(|o| o.parse::<i64>().ok());
                let list = if json.get("review").is_some() {
                    &mut w.reviewable
                } else {
                    &mut w.disputable
                };
                list.retain(|o| Some(*o) != done);
            } else if let Some(n) = json["order"].as_i64() {
                let service = req.subject.as_deref();
                w.disputable.push(n);
                if service == Some(w.manual_service.as_str()) {
                    w.manual_orders.push(n);
                } else if service == Some(w.smm_service.as_str()) {
                    w.smm_orders.push(n);
                } else if service == Some(w.desk_service.as_str()) {
                    w.desk_orders.push(n);
                } else {
                    if service == Some(w.inventory_service.as_str()) {
                        w.reviewable.push(n);
                    }
                    w.orders.push(n);
                }
            }
            for o in json["orders"].as_array().into_iter().flatten() {
                w.sms_orders.extend(o["order"].as_i64());
            }
        }
        Target::Stubs => {
            let text = String::from_utf8_lossy(&answer.body);
            if let Some(rest) = text.strip_prefix("ACCESS_NUMBER:") {
                w.sms_orders
                    .extend(rest.split(':').next().and_then(|n| n.parse::<i64>().ok()));
            }
            w.sms_orders.extend(json["activationId"].as_i64());
        }
        Target::Supplier if answer.status == 201 => {
            let smm = json["entityType"] == "smm";
            let refs = [
                json["service"].as_i64().map(|n| n.to_string()),
                json["id"].as_str().map(str::to_owned),
            ];
            for r in refs.into_iter().flatten() {
                if smm {
                    w.own_smm.push(r);
                } else {
                    w.own_products.push(r);
                }
            }
            if let Some(n) = json["service"].as_i64() {
                w.services.push(n.to_string());
            }
            for s in json["subproducts"].as_array().into_iter().flatten() {
                if let Some(id) = s["subproductId"].as_str() {
                    w.own_subproducts.push(id.to_owned());
                    w.subproducts.push(id.to_owned());
                }
            }
        }
        _ => {}
    }
}

/// Failures grouped by what failed where: (label, problem, answer) -> cases.
#[derive(Default)]
struct Failures {
    classes: BTreeMap<(String, String, String), Class>,
    total: usize,
}

#[derive(Default)]
struct Class {
    count: usize,
    /// Where the NULs were (`(no NUL)` for none): how many requests, and the first.
    nul_at: BTreeMap<String, (usize, String)>,
}

impl Failures {
    fn add(&mut self, n: usize, req: &Req, problem: String, answer: Option<&Answer>) {
        self.total += 1;
        let said = answer.map_or_else(String::new, |a| {
            clip(&String::from_utf8_lossy(&a.body), 100)
        });
        let class = self
            .classes
            .entry((req.label.clone(), problem.clone(), said.clone()))
            .or_default();
        class.count += 1;
        let at = if req.nul_at.is_empty() {
            "(no NUL)".to_owned()
        } else {
            req.nul_at.join("+")
        };
        let (count, first) = class.nul_at.entry(at).or_default();
        *count += 1;
        if first.is_empty() {
            *first = format!("request #{n}: {}", req.describe());
        }
    }

    fn report(&self) -> String {
        let mut out = format!(
            "{} failing requests in {} classes:\n",
            self.total,
            self.classes.len()
        );
        for ((label, problem, said), class) in &self.classes {
            let _ = writeln!(
                out,
                "\n* {label}: {problem} x{}, answer {said:?}",
                class.count
            );
            for (at, (count, first)) in &class.nul_at {
                let _ = writeln!(out, "  - NUL in {at:?} x{count}; first: {first}");
            }
        }
        out
    }
}

/// An answer in a word, for the tally `SOUK_FUZZ_VERBOSE` prints: the status, and for
/// `/api/v2` (always 200) whether it was an error and which.
fn outcome(req: &Req, answer: &Answer) -> String {
    if req.target != Target::ApiV2 {
        return answer.status.to_string();
    }
    let json = serde_json::from_slice::<Value>(&answer.body).unwrap_or(Value::Null);
    match json["error"].as_str() {
        Some(e) => format!("{} {}", answer.status, clip(e, 40)),
        None => format!("{} ok", answer.status),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

engine_test!(fuzz_every_endpoint, |db| {
    let seed: u64 = env_or("SOUK_FUZZ_SEED", DEFAULT_SEED);
    let count: usize = env_or("SOUK_FUZZ_REQUESTS", DEFAULT_REQUESTS);
    eprintln!(
        "fuzz ({:?}): SOUK_FUZZ_SEED={seed} SOUK_FUZZ_REQUESTS={count}",
        db.kind
    );
    let started = Instant::now();
    let (app, mut world) = setup(db).await;
    let setup_time = started.elapsed();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let fresh = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut failures = Failures::default();
    let mut no_answer_once = Vec::new();
    let mut by_label: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    let fuzz_started = Instant::now();
    let mut sent = 0;
    for n in 0..count {
        if fuzz_started.elapsed() > TIME_BUDGET {
            eprintln!("fuzz: time budget spent after {n} requests");
            break;
        }
        let req = next_request(&mut rng, &world);
        sent += 1;
        let mut sent_once = send(&http, &app.url, &req).await;
        if let Err(first) = &sent_once {
            // A kept-alive connection that the server closed after a 4xx answered
            // before the body was read is a race on the wire, not a server failure: only
            // a request that gets no answer again on a fresh connection is one.
            no_answer_once.push(format!("request #{n} {}: {first}", req.label));
            sent_once = send(&fresh, &app.url, &req).await;
        }
        match sent_once {
            Ok(answer) => {
                *by_label
                    .entry(req.label.clone())
                    .or_default()
                    .entry(outcome(&req, &answer))
                    .or_default() += 1;
                if let Some(problem) = judge(&req, &answer) {
                    failures.add(n, &req, problem, Some(&answer));
                }
                learn(&mut world, &req, &answer);
            }
            Err(problem) => failures.add(n, &req, problem, None),
        }
    }
    eprintln!(
        "fuzz ({:?}): {sent} requests in {:.1?} (setup {setup_time:.1?}); {} orders placed, {} SMS rentals",
        db.kind,
        fuzz_started.elapsed(),
        world.orders.len() + world.manual_orders.len() + world.smm_orders.len() + world.desk_orders.len(),
        world.sms_orders.len()
    );
    if !no_answer_once.is_empty() {
        eprintln!(
            "fuzz ({:?}): no answer at the first try (answered when sent again): {no_answer_once:#?}",
            db.kind
        );
    }
    if std::env::var_os("SOUK_FUZZ_VERBOSE").is_some() {
        for (label, counts) in &by_label {
            eprintln!("  {label}: {counts:?}");
        }
    }
    app.stop().await;
    let report = (failures.total > 0).then(|| failures.report());
    if let Some(report) = &report {
        eprintln!("fuzz ({:?}) seed {seed}: {report}", db.kind);
    }
    db.assert_audit_clean().await;
    assert!(
        report.is_none(),
        "fuzz ({:?}) seed {seed}: {} failing requests, listed above",
        db.kind,
        failures.total
    );
});
