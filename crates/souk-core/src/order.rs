//! Orders: statuses, the `add` command and its validation (SPEC 7), pricing, and which
//! subproduct serves a product order.

use std::collections::BTreeMap;

use crate::catalogue::{EntityType, ProductType, Service, Subproduct};
use crate::error::ApiError;
use crate::money::Money;
use crate::order_input::AddInput;
use crate::params::parse_count;

/// Internal order statuses (SPEC 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Pending,
    Processing,
    Error,
    Completed,
    Partial,
    Canceled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Error => "error",
            OrderStatus::Completed => "completed",
            OrderStatus::Partial => "partial",
            OrderStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<OrderStatus> {
        Some(match text {
            "pending" => OrderStatus::Pending,
            "processing" => OrderStatus::Processing,
            "error" => OrderStatus::Error,
            "completed" => OrderStatus::Completed,
            "partial" => OrderStatus::Partial,
            "canceled" => OrderStatus::Canceled,
            _ => return None,
        })
    }

    /// The seed's status names; a provider error shows as `In progress`.
    pub fn display(self) -> &'static str {
        match self {
            OrderStatus::Pending => "Pending",
            OrderStatus::Processing | OrderStatus::Error => "In progress",
            OrderStatus::Completed => "Completed",
            OrderStatus::Partial => "Partial",
            OrderStatus::Canceled => "Canceled",
        }
    }

    /// Still open: work may happen and money may move.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Error
        )
    }
}

/// What an order is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderKind {
    Product,
    Smm,
    Sms,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderKind::Product => "product",
            OrderKind::Smm => "smm",
            OrderKind::Sms => "sms",
        }
    }

    pub fn parse(text: &str) -> Option<OrderKind> {
        Some(match text {
            "product" => OrderKind::Product,
            "smm" => OrderKind::Smm,
            "sms" => OrderKind::Sms,
            _ => return None,
        })
    }
}

/// The longest `link` accepted.
pub const MAX_LINK: usize = 2048;
/// The longest idempotency key accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 128;

/// A validated `add` for a product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProductOrder {
    pub service_number: i64,
    pub product_type: ProductType,
    pub shop_id: String,
    pub quantity: i64,
    /// The delivery reference; empty means "the account email".
    pub link: String,
    /// Subproducts to try, in order: the first that can fill the quantity from its stock
    /// serves the order at its own price (SPEC 7).
    pub candidates: Vec<String>,
}

/// A validated `add` for an SMM service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmmOrder {
    pub service_number: i64,
    pub product_type: ProductType,
    pub shop_id: String,
    pub link: String,
    /// Units per run.
    pub quantity: i64,
    pub charge: Money,
    pub runs: Option<i64>,
    pub interval_minutes: Option<i64>,
    /// The type's own fields, forwarded verbatim.
    pub fields: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddOrder {
    Product(ProductOrder),
    Smm(SmmOrder),
}

/// `add`'s common parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddRequest {
    /// The `idempotency_key` field (`crate::idempotency::key` also reads the header).
    pub idempotency_key: Option<String>,
    pub order: AddOrder,
}

fn quantity(params: &impl AddInput) -> Result<i64, ApiError> {
    let text = params.get("quantity").ok_or(ApiError::QuantityRequired)?;
    parse_count(text)
        .filter(|q| *q >= 1 && *q <= i64::MAX as u64 / 1_000_000)
        .map(|q| q as i64)
        .ok_or(ApiError::InvalidQuantity)
}

/// `link`: one line (it is forwarded as a URL), at most `MAX_LINK` characters.
fn link(params: &impl AddInput) -> Result<String, ApiError> {
    let link = params.get("link").unwrap_or("").to_owned();
    if link.chars().count() > MAX_LINK {
        return Err(ApiError::LinkTooLong);
    }
    crate::input::check("link", &link, false)?;
    Ok(link)
}

fn optional_count(params: &impl AddInput, name: &'static str) -> Result<Option<i64>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(t) => parse_count(t)
            .filter(|n| *n >= 1 && *n <= 1_000_000)
            .map(|n| Some(n as i64))
            .ok_or(ApiError::InvalidField(name)),
    }
}

/// Parses and validates `add` against the catalogue entry it names. Stock is not checked
/// here: the store checks it in the order's transaction.
pub fn parse_add(params: &impl AddInput, service: &Service) -> Result<AddRequest, ApiError> {
    let idempotency_key = crate::idempotency::key(params, None)?;
    let order = match service.entity {
        EntityType::Product => AddOrder::Product(parse_product(params, service)?),
        EntityType::Smm => AddOrder::Smm(parse_smm(params, service)?),
    };
    Ok(AddRequest {
        idempotency_key,
        order,
    })
}

fn parse_product(params: &impl AddInput, service: &Service) -> Result<ProductOrder, ApiError> {
    let quantity = quantity(params)?;
    let link = link(params)?;
    let candidates = match params.get("subproduct") {
        Some(id) => {
            let id = id.to_ascii_lowercase();
            let sp = service
                .subproducts
                .iter()
                .find(|s| *s.id == *id)
                .ok_or(ApiError::SubproductNotFound)?;
            if !(sp.min..=sp.max).contains(&quantity) {
                return Err(ApiError::QuantityOutOfRange(sp.min, sp.max));
            }
            vec![sp.id.to_string()]
        }
        None => product_candidates(service, quantity)?,
    };
    Ok(ProductOrder {
        service_number: service.number,
        product_type: service.product_type,
        shop_id: service.shop_id.to_string(),
        quantity,
        link,
        candidates,
    })
}

/// SPEC 7: the primary first; then the other active subproducts whose limits admit the
/// quantity, cheapest first, then by position. An error when no subproduct admits it.
pub fn product_candidates(service: &Service, quantity: i64) -> Result<Vec<String>, ApiError> {
    let admits = |s: &&Subproduct| (s.min..=s.max).contains(&quantity);
    let primary = service.primary().ok_or(ApiError::ServiceNotFound)?;
    let mut others: Vec<&Subproduct> = service.subproducts[1..].iter().filter(admits).collect();
    others.sort_by_key(|s| (s.price, s.position));
    let mut candidates: Vec<String> = Vec::with_capacity(1 + others.len());
    if admits(&primary) {
        candidates.push(primary.id.to_string());
    }
    candidates.extend(others.into_iter().map(|s| s.id.to_string()));
    if candidates.is_empty() {
        return Err(ApiError::QuantityOutOfRange(primary.min, primary.max));
    }
    Ok(candidates)
}

/// The charge for `quantity` units of a product at `price` per unit.
pub fn product_charge(price: Money, quantity: i64) -> Option<Money> {
    price.micros().checked_mul(quantity).map(Money::from_micros)
}

/// How an SMM type takes its quantity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantityRule {
    /// `quantity` within min..max.
    Given,
    /// One package: the rate is charged once.
    Package,
    /// One unit per line of this field.
    Lines(&'static str),
    /// `max` per post (Subscriptions).
    Subscription,
}

/// SPEC 7's SMM order types: which fields each requires, and how it counts. The web
/// order form asks for exactly these (`smm_form`), so the form and `add` cannot disagree.
fn smm_type(type_name: &str) -> (QuantityRule, &'static [&'static str], bool) {
    // (quantity rule, required fields besides link/quantity, link required); a panel's
    // spelling (`custom_comments`) counts as the type it names.
    match crate::smm_type::canonical(type_name).unwrap_or("") {
        "Package" => (QuantityRule::Package, &[], true),
        "Custom Comments" => (QuantityRule::Lines("comments"), &["comments"], true),
        "Custom Comments Package" => (QuantityRule::Package, &["comments"], true),
        "Mentions with Hashtags" => (QuantityRule::Given, &["usernames", "hashtags"], true),
        "Mentions Custom List" => (QuantityRule::Lines("usernames"), &["usernames"], true),
        "Mentions Hashtag" => (QuantityRule::Given, &["hashtag"], true),
        "Mentions User Followers" => (QuantityRule::Given, &["username"], true),
        "Mentions Media Likers" => (QuantityRule::Given, &["media"], true),
        "Comment Likes" => (QuantityRule::Given, &["username"], true),
        "Comment Replies" => (
            QuantityRule::Lines("comments"),
            &["username", "comments"],
            true,
        ),
        "Poll" => (QuantityRule::Given, &["answer_number"], true),
        "SEO" => (QuantityRule::Given, &["keywords"], true),
        "Invites from Groups" => (QuantityRule::Given, &["groups"], true),
        "Subscriptions" => (
            QuantityRule::Subscription,
            &["username", "min", "max", "posts"],
            false,
        ),
        // Default, Web Traffic and any type we do not know take link and quantity.
        _ => (QuantityRule::Given, &[], true),
    }
}

/// What an SMM type's order form asks for: the quantity rule, the required fields
/// besides `link` and `quantity`, whether `link` is required, and the optional fields the
/// type reads.
pub struct SmmForm {
    pub quantity: QuantityRule,
    pub required: &'static [&'static str],
    pub link_required: bool,
    pub optional: &'static [&'static str],
}

pub fn smm_form(type_name: &str) -> SmmForm {
    let (quantity, required, link_required) = smm_type(type_name);
    let optional: &'static [&'static str] = match type_name {
        "Subscriptions" => &["old_posts", "delay", "expiry"],
        "Web Traffic" => &[
            "country",
            "device",
            "type_of_traffic",
            "google_keyword",
            "referring_url",
        ],
        _ => &[],
    };
    SmmForm {
        quantity,
        required,
        link_required,
        optional,
    }
}

/// Fields of an SMM `add` that are stored and forwarded verbatim.
pub(crate) const SMM_FIELDS: &[&str] = &[
    "comments",
    "usernames",
    "hashtags",
    "hashtag",
    "username",
    "media",
    "answer_number",
    "keywords",
    "groups",
    "min",
    "max",
    "posts",
    "old_posts",
    "delay",
    "expiry",
    "country",
    "device",
    "type_of_traffic",
    "google_keyword",
    "referring_url",
];

fn parse_smm(params: &impl AddInput, service: &Service) -> Result<SmmOrder, ApiError> {
    let (rule, required, link_required) = smm_type(&service.type_name);
    let link = link(params)?;
    if link_required && link.is_empty() {
        return Err(ApiError::LinkRequired);
    }
    for field in required {
        if params.get(field).is_none() {
            return Err(ApiError::FieldRequired(field));
        }
    }
    // A field of another type would be stored and sent upstream as if it meant
    // something (a Custom Comments order with `answer_number`): refused by name.
    let own = crate::smm_type::own_fields(&service.type_name);
    let mut fields = BTreeMap::new();
    for name in SMM_FIELDS {
        if let Some(v) = params.get(name) {
            if let Some((type_name, allowed)) = own {
                if !allowed.contains(name) {
                    return Err(ApiError::FieldNotForType(name, type_name));
                }
            }
            fields.insert((*name).to_owned(), v.to_owned());
        }
    }
    let in_range = |q: i64| {
        if (service.min..=service.max).contains(&q) {
            Ok(q)
        } else {
            Err(ApiError::QuantityOutOfRange(service.min, service.max))
        }
    };
    let (quantity, mut charge) = match rule {
        QuantityRule::Given => {
            let q = in_range(quantity(params)?)?;
            (q, service.rate.mul_div_half_up(q, 1000))
        }
        QuantityRule::Package => (1, Some(service.rate)),
        QuantityRule::Lines(field) => {
            let count = params
                .get(field)
                .map_or(0, |t| t.lines().filter(|l| !l.trim().is_empty()).count())
                as i64;
            let q = in_range(count)?;
            (q, service.rate.mul_div_half_up(q, 1000))
        }
        QuantityRule::Subscription => {
            let max = optional_count(params, "max")?.ok_or(ApiError::FieldRequired("max"))?;
            let min = optional_count(params, "min")?.ok_or(ApiError::FieldRequired("min"))?;
            let posts = optional_count(params, "posts")?.ok_or(ApiError::FieldRequired("posts"))?;
            if min > max {
                return Err(ApiError::InvalidField("min"));
            }
            let q = in_range(max)?;
            (
                q,
                service.rate.mul_div_half_up(q.saturating_mul(posts), 1000),
            )
        }
    };
    let runs = optional_count(params, "runs")?;
    let interval_minutes = optional_count(params, "interval")?;
    if runs.is_some() || interval_minutes.is_some() {
        if !matches!(rule, QuantityRule::Given) || !service.dripfeed {
            return Err(ApiError::DripFeedUnsupported);
        }
        let runs = runs.ok_or(ApiError::FieldRequired("runs"))?;
        interval_minutes.ok_or(ApiError::FieldRequired("interval"))?;
        charge = service
            .rate
            .mul_div_half_up(quantity.saturating_mul(runs), 1000);
    }
    Ok(SmmOrder {
        service_number: service.number,
        product_type: service.product_type,
        shop_id: service.shop_id.to_string(),
        link,
        quantity,
        charge: charge.ok_or(ApiError::InvalidQuantity)?,
        runs,
        interval_minutes,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{StockBoard, Subproduct};
    use crate::params::Params;
    use crate::text::Text;

    fn sub(
        board: &StockBoard,
        id: &str,
        price: &str,
        min: i64,
        max: i64,
        position: i64,
        stock: i64,
    ) -> Subproduct {
        Subproduct {
            id: id.into(),
            name: Text::new(id),
            price: Money::parse(price).expect("price"),
            min,
            max,
            position,
            stock: board.cell(&id.into(), 0, stock),
        }
    }

    fn service(entity: EntityType, type_name: &str, subproducts: Vec<Subproduct>) -> Service {
        Service {
            number: 7,
            id: "a".repeat(24).into(),
            entity,
            product_type: ProductType::Inventory,
            shop_id: "s".into(),
            category_id: "c".into(),
            subcategory_id: "sc".into(),
            name: Text::new("x"),
            description: Text::new(""),
            type_name: type_name.into(),
            image_url: None,
            rate: Money::parse("0.90").expect("rate"),
            min: 100,
            max: 10_000,
            refill: false,
            refill_days: None,
            cancel: false,
            dripfeed: true,
            recommended: false,
            subproducts,
        }
    }

    #[test]
    fn product_candidates_follow_spec_7() {
        let board = StockBoard::default();
        let s = service(
            EntityType::Product,
            "Default",
            vec![
                sub(&board, "primary", "2.00", 1, 10, 1, 0),
                sub(&board, "dear", "5.00", 1, 100, 2, 50),
                sub(&board, "cheap", "1.00", 1, 100, 3, 50),
                sub(&board, "cheap-late", "1.00", 1, 100, 4, 50),
                sub(&board, "small", "0.10", 1, 3, 5, 50),
            ],
        );
        assert_eq!(
            product_candidates(&s, 5).expect("ok"),
            vec!["primary", "cheap", "cheap-late", "dear"]
        );
        assert_eq!(
            product_candidates(&s, 2).expect("ok"),
            vec!["primary", "small", "cheap", "cheap-late", "dear"]
        );
        assert_eq!(
            product_candidates(&s, 50).expect("ok"),
            vec!["cheap", "cheap-late", "dear"]
        );
        assert_eq!(
            product_candidates(&s, 101),
            Err(ApiError::QuantityOutOfRange(1, 10))
        );
    }

    #[test]
    fn product_add_validation() {
        let board = StockBoard::default();
        let s = service(
            EntityType::Product,
            "Default",
            vec![sub(&board, "p", "2.00", 2, 10, 1, 5)],
        );
        assert_eq!(
            parse_add(&Params::new(), &s),
            Err(ApiError::QuantityRequired)
        );
        for bad in ["0", "-1", "x", "1.5"] {
            assert_eq!(
                parse_add(&Params::from_pairs([("quantity", bad)]), &s),
                Err(ApiError::InvalidQuantity),
                "{bad}"
            );
        }
        assert_eq!(
            parse_add(&Params::from_pairs([("quantity", "1")]), &s),
            Err(ApiError::QuantityOutOfRange(2, 10))
        );
        assert_eq!(
            parse_add(
                &Params::from_pairs([("quantity", "2"), ("subproduct", "nope")]),
                &s
            ),
            Err(ApiError::SubproductNotFound)
        );
        let long = "x".repeat(MAX_LINK + 1);
        assert_eq!(
            parse_add(
                &Params::from_pairs([("quantity", "2"), ("link", &long)]),
                &s
            ),
            Err(ApiError::LinkTooLong)
        );
        let ok = parse_add(&Params::from_pairs([("quantity", "3")]), &s).expect("valid");
        assert!(matches!(
            ok.order,
            AddOrder::Product(ProductOrder { quantity: 3, .. })
        ));
    }

    #[test]
    fn smm_charges() {
        let s = service(EntityType::Smm, "Default", vec![]);
        assert_eq!(
            parse_add(&Params::from_pairs([("quantity", "1000")]), &s),
            Err(ApiError::LinkRequired)
        );
        assert_eq!(
            parse_add(&Params::from_pairs([("link", "l"), ("quantity", "99")]), &s),
            Err(ApiError::QuantityOutOfRange(100, 10000))
        );
        let charge = |p: &[(&str, &str)], s: &Service| match parse_add(
            &Params::from_pairs(p.iter().copied()),
            s,
        )
        .expect("valid")
        .order
        {
            AddOrder::Smm(o) => (o.quantity, o.charge.display2()),
            AddOrder::Product(_) => unreachable!(),
        };
        assert_eq!(
            charge(&[("link", "l"), ("quantity", "1000")], &s),
            (1000, "0.90".into())
        );
        // 0.90 per 1000 x 150 = 0.135 exactly; x 101 = 0.0909.
        assert_eq!(
            charge(&[("link", "l"), ("quantity", "101")], &s),
            (101, "0.0909".into())
        );
        // Drip-feed: runs x quantity.
        assert_eq!(
            charge(
                &[
                    ("link", "l"),
                    ("quantity", "1000"),
                    ("runs", "3"),
                    ("interval", "10")
                ],
                &s
            ),
            (1000, "2.70".into())
        );
        assert_eq!(
            parse_add(
                &Params::from_pairs([("link", "l"), ("quantity", "1000"), ("runs", "3")]),
                &s
            ),
            Err(ApiError::FieldRequired("interval"))
        );
        let package = service(EntityType::Smm, "Package", vec![]);
        assert_eq!(charge(&[("link", "l")], &package), (1, "0.90".into()));
        let mut comments = service(EntityType::Smm, "Custom Comments", vec![]);
        comments.min = 1;
        assert_eq!(
            parse_add(&Params::from_pairs([("link", "l")]), &comments),
            Err(ApiError::FieldRequired("comments"))
        );
        assert_eq!(
            charge(
                &[("link", "l"), ("comments", "nice\ngreat\n\n wow ")],
                &comments
            ),
            (3, "0.0027".into())
        );
        assert_eq!(
            parse_add(
                &Params::from_pairs([
                    ("link", "l"),
                    ("quantity", "1000"),
                    ("runs", "2"),
                    ("interval", "5")
                ]),
                &package
            ),
            Err(ApiError::DripFeedUnsupported)
        );
        let poll = service(EntityType::Smm, "Poll", vec![]);
        assert_eq!(
            parse_add(
                &Params::from_pairs([("link", "l"), ("quantity", "100")]),
                &poll
            ),
            Err(ApiError::FieldRequired("answer_number"))
        );
        match parse_add(
            &Params::from_pairs([("link", "l"), ("quantity", "100"), ("answer_number", "2")]),
            &poll,
        )
        .expect("ok")
        .order
        {
            AddOrder::Smm(o) => {
                assert_eq!(o.fields.get("answer_number").map(String::as_str), Some("2"))
            }
            AddOrder::Product(_) => unreachable!(),
        }
    }

    #[test]
    fn a_field_of_another_type_is_refused_by_name() {
        let mut comments = service(EntityType::Smm, "Custom Comments", vec![]);
        comments.min = 1;
        assert_eq!(
            parse_add(
                &Params::from_pairs([("link", "l"), ("comments", "a\nb"), ("answer_number", "2")]),
                &comments
            ),
            Err(ApiError::FieldNotForType(
                "answer_number",
                "Custom Comments"
            ))
        );
        assert_eq!(
            ApiError::FieldNotForType("answer_number", "Custom Comments").to_string(),
            "answer_number is not a parameter of Custom Comments services"
        );
        let default = service(EntityType::Smm, "Default", vec![]);
        assert_eq!(
            parse_add(
                &Params::from_pairs([("link", "l"), ("quantity", "100"), ("comments", "x")]),
                &default
            ),
            Err(ApiError::FieldNotForType("comments", "Default"))
        );
        // A panel's spelling of the type is the type: lines counted, fields checked.
        comments.type_name = "custom_comments".into();
        match parse_add(
            &Params::from_pairs([("link", "l"), ("comments", "a\r\nb\r\nc")]),
            &comments,
        )
        .expect("valid")
        .order
        {
            AddOrder::Smm(o) => assert_eq!(o.quantity, 3),
            AddOrder::Product(_) => unreachable!(),
        }
        // A type we do not know keeps whatever fields it is given.
        let unknown = service(EntityType::Smm, "Likes Premium", vec![]);
        assert!(parse_add(
            &Params::from_pairs([("link", "l"), ("quantity", "100"), ("username", "x")]),
            &unknown
        )
        .is_ok());
    }

    #[test]
    fn statuses_display_as_the_seed() {
        assert_eq!(OrderStatus::Error.display(), "In progress");
        assert_eq!(OrderStatus::Processing.display(), "In progress");
        assert_eq!(OrderStatus::Canceled.display(), "Canceled");
        for s in [
            "pending",
            "processing",
            "error",
            "completed",
            "partial",
            "canceled",
        ] {
            assert_eq!(OrderStatus::parse(s).map(OrderStatus::as_str), Some(s));
        }
    }
}

/// PerfectPanel's refill rule: a completed or partial SMM order of a refillable service,
/// within the refill window counted from completion (30 days when unset).
pub fn refill_allowed(
    kind: OrderKind,
    status: OrderStatus,
    refillable: bool,
    refill_days: Option<i64>,
    completed_at: Option<i64>,
    now: i64,
) -> bool {
    let window = refill_days
        .unwrap_or(30)
        .max(0)
        .saturating_mul(24 * 60 * 60 * 1000);
    kind == OrderKind::Smm
        && refillable
        && matches!(status, OrderStatus::Completed | OrderStatus::Partial)
        && completed_at.is_some_and(|at| now <= at.saturating_add(window))
}

#[cfg(test)]
mod refill_tests {
    use super::*;

    #[test]
    fn refill_window() {
        let day = 24 * 60 * 60 * 1000;
        let ok = |kind, status, refillable, days, at: Option<i64>, now| {
            refill_allowed(kind, status, refillable, days, at, now)
        };
        assert!(ok(
            OrderKind::Smm,
            OrderStatus::Completed,
            true,
            Some(7),
            Some(0),
            7 * day
        ));
        assert!(!ok(
            OrderKind::Smm,
            OrderStatus::Completed,
            true,
            Some(7),
            Some(0),
            7 * day + 1
        ));
        assert!(ok(
            OrderKind::Smm,
            OrderStatus::Partial,
            true,
            None,
            Some(0),
            30 * day
        ));
        assert!(!ok(
            OrderKind::Smm,
            OrderStatus::Processing,
            true,
            Some(7),
            Some(0),
            1
        ));
        assert!(!ok(
            OrderKind::Smm,
            OrderStatus::Completed,
            false,
            Some(7),
            Some(0),
            1
        ));
        assert!(!ok(
            OrderKind::Product,
            OrderStatus::Completed,
            true,
            Some(7),
            Some(0),
            1
        ));
        assert!(!ok(
            OrderKind::Smm,
            OrderStatus::Completed,
            true,
            Some(7),
            None,
            1
        ));
    }
}
