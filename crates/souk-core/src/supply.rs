//! The supply side's rules (SPEC 11), with no I/O: operator settings and their validation,
//! supplier earnings (commission, hold, reduction by refunds), stock uploads, catalogue
//! drafts from suppliers and the operator, deliveries and SMM progress reports.

use std::collections::BTreeMap;

use crate::catalogue::ProductType;
use crate::early_cancel::proportional_refund;
use crate::lang::Lang;
use crate::money::Money;
use crate::order::OrderStatus;
use crate::text::Text;

/// A supply-side request that cannot be carried out as asked; nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SupplyError {
    #[error("{0} is required")]
    Required(&'static str),
    #[error("{0} must not be negative")]
    Negative(&'static str),
    #[error("{0} must be above zero")]
    NotPositive(&'static str),
    #[error("{0} is not a valid amount (up to 6 decimals, e.g. \"1.50\")")]
    InvalidAmount(&'static str),
    #[error("{0} must be a whole number of at least {1}")]
    TooSmall(&'static str, i64),
    #[error("{0} must be at most {1}")]
    TooLarge(&'static str, i64),
    #[error("min ({0}) must not be greater than max ({1})")]
    MinAboveMax(i64, i64),
    #[error("{0} is too long (max {1} characters)")]
    TooLong(&'static str, usize),
    #[error("Invalid characters in {0}")]
    InvalidCharacters(&'static str),
    #[error("imageUrl must be an http:// or https:// URL")]
    InvalidImageUrl,
    #[error("Unsupported language: {0}")]
    UnsupportedLanguage(String),
    #[error("Translations are for other languages; set English in {0} itself")]
    EnglishTranslation(&'static str),
    #[error("Unknown translated field: {0} (use name or description)")]
    UnknownTranslationField(String),
    #[error("slug must be 1 to 100 of a-z, 0-9 and -")]
    InvalidSlug,
    #[error("type must be inventory or manual")]
    InvalidProductType,
    #[error("entityType must be product or smm")]
    InvalidEntityType,
    #[error("A product needs at least one subproduct")]
    NoSubproducts,
    #[error("An SMM service has no subproducts")]
    SmmSubproducts,
    #[error("Unknown setting: {0}")]
    UnknownSetting(String),
    #[error("{0} must be {1}")]
    InvalidSetting(&'static str, &'static str),
    #[error("Invalid status: {0} (use {1})")]
    InvalidStatus(String, &'static str),
    #[error("The upload has no lines")]
    EmptyUpload,
    #[error("Line {0} is longer than {1} bytes")]
    LineTooLong(usize, usize),
    #[error("Too many lines (max {0} per upload)")]
    TooManyLines(usize),
    #[error("The upload must be UTF-8 text")]
    NotUtf8,
    #[error("accounts must list at least one account")]
    NoAccounts,
    #[error("Account {0} is empty")]
    EmptyAccount(usize),
    #[error("Account {0} is longer than {1} bytes")]
    AccountTooLong(usize, usize),
    #[error("Too many accounts: {0} remain to be delivered")]
    TooManyAccounts(i64),
    #[error("remains must be between 0 and {0}")]
    RemainsOutOfRange(i64),
    #[error("A Partial order has remains above 0")]
    PartialWithoutRemains,
    #[error("The upload is larger than {0} MiB")]
    UploadTooLarge(usize),
    #[error("Order {0} is already {1}")]
    OrderClosed(i64, &'static str),
    #[error("Only manual product orders are delivered by the supplier")]
    NotManualProductOrder,
    #[error("Progress is reported for the shop's manual SMM orders only")]
    NotManualSmmOrder,
    #[error("Order {0} is with its provider; the provider's answer settles it")]
    WithProvider(i64),
    #[error("Nothing is available to withdraw yet")]
    NothingToWithdraw,
    #[error("A product's price and limits belong to its subproducts")]
    LimitsOnSubproducts,
    #[error("A shop's own SMM service is manual")]
    SmmIsManual,
    #[error("An auto product is fulfilled by its provider; its type cannot change")]
    AutoTypeFixed,
    #[error("Remove the {0} unsold stock lines before making the product manual")]
    UnsoldLines(i64),
    #[error("An inventory subproduct's stock is its lines: upload or remove lines instead")]
    StockIsLines,
    #[error("Stock lines can only be added to inventory products")]
    LinesNeedInventory,
    #[error("Only inventory products have stock lines")]
    NoStockLines,
}

impl SupplyError {
    /// A refusal because of the state things are in (HTTP 409), not the input (400).
    pub fn is_conflict(&self) -> bool {
        matches!(
            self,
            SupplyError::OrderClosed(..)
                | SupplyError::WithProvider(_)
                | SupplyError::UnsoldLines(_)
        )
    }
}

// ---------------------------------------------------------------------------------------
// Settings.

/// `early_cancel_enabled` (SPEC 8).
pub const EARLY_CANCEL_ENABLED: &str = "early_cancel_enabled";
/// `auto_order_early_refund_minutes` (SPEC 8).
pub const EARLY_REFUND_MINUTES: &str = "auto_order_early_refund_minutes";
/// The operator's cut of each sale, in percent (up to 2 decimals).
pub const COMMISSION_PERCENT: &str = "commission_percent";
/// How long a sale's earning is held before the supplier may withdraw it, in hours.
pub const EARNINGS_HOLD_HOURS: &str = "earnings_hold_hours";

/// Every operator setting, with its default as stored text.
pub const SETTINGS: [(&str, &str); 9] = [
    (EARLY_CANCEL_ENABLED, "true"),
    (EARLY_REFUND_MINUTES, "30"),
    (COMMISSION_PERCENT, "10"),
    (EARNINGS_HOLD_HOURS, "72"),
    (crate::sms::LIFETIME_SETTING, "20"),
    (crate::payment::MISMATCH_SETTING, "credit"),
    (crate::payment::BONUS_SETTING, ""),
    (PROVIDER_LOW_BALANCE, ""),
    (crate::display_currency::SETTING, ""),
];

/// The operator is told (`provider.failing`) when a provider's balance drops below this
/// amount; empty: never.
pub const PROVIDER_LOW_BALANCE: &str = "provider_low_balance";

/// Checks a setting's value and returns it in its stored form.
pub fn normalize_setting(key: &str, value: &str) -> Result<String, SupplyError> {
    let v = value.trim();
    match key {
        EARLY_CANCEL_ENABLED => {
            crate::params::parse_bool(v)
                .map(|b| b.to_string())
                .ok_or(SupplyError::InvalidSetting(
                    EARLY_CANCEL_ENABLED,
                    "true or false",
                ))
        }
        EARLY_REFUND_MINUTES => {
            parse_whole(v, 0, 525_600)
                .map(|n| n.to_string())
                .ok_or(SupplyError::InvalidSetting(
                    EARLY_REFUND_MINUTES,
                    "a whole number of minutes from 0 to 525600",
                ))
        }
        COMMISSION_PERCENT => {
            parse_percent(v)
                .map(format_percent)
                .ok_or(SupplyError::InvalidSetting(
                    COMMISSION_PERCENT,
                    "a percentage from 0 to 100 with up to 2 decimals",
                ))
        }
        EARNINGS_HOLD_HOURS => {
            parse_whole(v, 0, 8_760)
                .map(|n| n.to_string())
                .ok_or(SupplyError::InvalidSetting(
                    EARNINGS_HOLD_HOURS,
                    "a whole number of hours from 0 to 8760",
                ))
        }
        crate::sms::LIFETIME_SETTING => {
            parse_whole(v, 1, 1_440)
                .map(|n| n.to_string())
                .ok_or(SupplyError::InvalidSetting(
                    crate::sms::LIFETIME_SETTING,
                    "a whole number of minutes from 1 to 1440",
                ))
        }
        crate::payment::MISMATCH_SETTING => crate::payment::Mismatch::parse(v)
            .map(|_| v.to_owned())
            .ok_or(SupplyError::InvalidSetting(
                crate::payment::MISMATCH_SETTING,
                "credit or hold",
            )),
        crate::payment::BONUS_SETTING => crate::payment::parse_bonus_table(v)
            .map(|tiers| crate::payment::format_bonus_table(&tiers))
            .map_err(|_| {
                SupplyError::InvalidSetting(
                    crate::payment::BONUS_SETTING,
                    "from=percent pairs separated by commas, e.g. 100=5, 500=7.5 (empty for none)",
                )
            }),
        PROVIDER_LOW_BALANCE if v.is_empty() => Ok(String::new()),
        PROVIDER_LOW_BALANCE => Money::parse(v)
            .ok()
            .filter(|m| !m.is_negative())
            .map(|m| m.format(2))
            .ok_or(SupplyError::InvalidSetting(
                PROVIDER_LOW_BALANCE,
                "an amount, or empty for never",
            )),
        crate::display_currency::SETTING => crate::display_currency::DisplayCurrencies::parse(v)
            .map(|d| d.format())
            .ok_or(SupplyError::InvalidSetting(
                crate::display_currency::SETTING,
                "CODE=rate pairs separated by commas, the rate being how many of that currency one of ours buys, e.g. EUR=0.92, RUB=95.5 (empty for none)",
            )),
        other => Err(SupplyError::UnknownSetting(other.to_owned())),
    }
}

fn parse_whole(text: &str, min: i64, max: i64) -> Option<i64> {
    crate::params::parse_count(text)
        .and_then(|n| i64::try_from(n).ok())
        .filter(|n| (min..=max).contains(n))
}

/// `"12.5"` as basis points (1250); `None` outside 0..=100 or with more than 2 decimals.
pub fn parse_percent(text: &str) -> Option<i64> {
    let t = text.trim().trim_end_matches('%');
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty()
        || whole.len() > 3
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = format!("{frac:0<2}").parse().ok()?;
    Some(whole * 100 + frac).filter(|bp| (0..=10_000).contains(bp))
}

/// Basis points as a percentage: 1250 -> `"12.5"`, 1000 -> `"10"`.
pub fn format_percent(bp: i64) -> String {
    let (whole, frac) = (bp / 100, bp % 100);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:02}")
            .trim_end_matches('0')
            .to_owned()
    }
}

/// What earnings are computed with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarningsSettings {
    /// The operator's commission in basis points (1/100 of a percent).
    pub commission_bp: i64,
    pub hold_hours: i64,
}

impl Default for EarningsSettings {
    fn default() -> Self {
        EarningsSettings {
            commission_bp: 1_000,
            hold_hours: 72,
        }
    }
}

impl EarningsSettings {
    /// Reads the settings from stored (key, value) pairs; bad or missing values fall back
    /// to the defaults.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut s = EarningsSettings::default();
        for (key, value) in pairs {
            match key {
                COMMISSION_PERCENT => {
                    s.commission_bp = parse_percent(value).unwrap_or(s.commission_bp)
                }
                EARNINGS_HOLD_HOURS => {
                    s.hold_hours = parse_whole(value, 0, 8_760).unwrap_or(s.hold_hours)
                }
                _ => {}
            }
        }
        s
    }

    /// The earning of a sale paid at `paid_at`.
    pub fn earning(&self, gross: Money, paid_at: i64) -> Earning {
        let commission = gross
            .mul_div_half_up(self.commission_bp, 10_000)
            .unwrap_or(gross)
            .min(gross);
        Earning {
            gross,
            commission,
            amount: gross.checked_sub(commission).unwrap_or(Money::ZERO),
            available_at: paid_at.saturating_add(self.hold_hours.saturating_mul(3_600_000)),
        }
    }
}

/// What a supplier earns from one sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Earning {
    /// What the buyer paid.
    pub gross: Money,
    /// The operator's commission on the gross.
    pub commission: Money,
    /// What the supplier gets.
    pub amount: Money,
    /// When the supplier may withdraw it (unix ms).
    pub available_at: i64,
}

/// The supplier's share once `refunded` of `gross` went back to the buyer: the net
/// share scaled to what is left of the sale, rounded down (the platform never pays out
/// more than it kept).
pub fn earning_after_refunds(gross: Money, commission: Money, refunded: Money) -> Money {
    if gross.micros() <= 0 {
        return Money::ZERO;
    }
    let kept = (gross.micros() - refunded.micros()).clamp(0, gross.micros());
    let net = (gross.micros() - commission.micros()).max(0);
    let share = i128::from(net) * i128::from(kept) / i128::from(gross.micros());
    Money::from_micros(i64::try_from(share).unwrap_or(0))
}

/// Where an earning stands, for the supplier's view.
pub fn earning_state(withdrawal_status: Option<&str>, available_at: i64, now: i64) -> &'static str {
    match withdrawal_status {
        Some("completed") => "withdrawn",
        Some("requested") => "requested",
        _ if available_at <= now => "available",
        _ => "held",
    }
}

// ---------------------------------------------------------------------------------------
// Stock uploads and deliveries.

/// The longest stock line or delivered account, in bytes.
pub const MAX_LINE_BYTES: usize = 4096;
/// The largest stock upload body: 8 MiB holds 100,000 lines of 80 bytes; a 10 MB upload
/// is refused (SPEC 11's acceptance).
pub const MAX_UPLOAD_BYTES: usize = 8 << 20;
/// The most lines one upload may carry.
pub const MAX_UPLOAD_LINES: usize = 200_000;
/// The most accounts one delivery may carry.
pub const MAX_DELIVERY: usize = 10_000;

/// Splits an upload into its items: one per line (`\n` or `\r\n`), trimmed, blank lines
/// skipped. An upload over `MAX_UPLOAD_BYTES`, or any line over the limit, is refused whole.
pub fn parse_stock_upload(body: &[u8]) -> Result<Vec<String>, SupplyError> {
    // Every way in (the API's body, the desk's file) gets the same limit.
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(SupplyError::UploadTooLarge(MAX_UPLOAD_BYTES >> 20));
    }
    let text = std::str::from_utf8(body).map_err(|_| SupplyError::NotUtf8)?;
    let mut lines = Vec::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim();
        if line.len() > MAX_LINE_BYTES {
            return Err(SupplyError::LineTooLong(i + 1, MAX_LINE_BYTES));
        }
        if line.is_empty() {
            continue;
        }
        if lines.len() == MAX_UPLOAD_LINES {
            return Err(SupplyError::TooManyLines(MAX_UPLOAD_LINES));
        }
        lines.push(line.to_owned());
    }
    if lines.is_empty() {
        return Err(SupplyError::EmptyUpload);
    }
    Ok(lines)
}

/// The lines a removal names: `None` (every unsold line) for a body of nothing but
/// whitespace, else the lines as an upload would give them.
pub fn parse_stock_removal(body: &[u8]) -> Result<Option<Vec<String>>, SupplyError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_stock_upload(body).map(Some)
}

/// Checks a delivery's accounts: 1 to `remaining`, none blank or over the line limit.
/// Returns them trimmed.
pub fn validate_delivery(accounts: &[String], remaining: i64) -> Result<Vec<String>, SupplyError> {
    if accounts.is_empty() {
        return Err(SupplyError::NoAccounts);
    }
    let mut out = Vec::with_capacity(accounts.len());
    for (i, a) in accounts.iter().enumerate() {
        let a = a.trim();
        if a.is_empty() {
            return Err(SupplyError::EmptyAccount(i + 1));
        }
        if a.len() > MAX_LINE_BYTES {
            return Err(SupplyError::AccountTooLong(i + 1, MAX_LINE_BYTES));
        }
        out.push(a.to_owned());
    }
    if out.len() as i64 > remaining {
        return Err(SupplyError::TooManyAccounts(remaining.max(0)));
    }
    Ok(out)
}

/// The status an order reaches after a delivery: completed once everything is in.
pub fn status_after_delivery(quantity: i64, delivered: i64) -> OrderStatus {
    if delivered >= quantity {
        OrderStatus::Completed
    } else {
        OrderStatus::Processing
    }
}

/// How a supplier's `fail` ends an order: the undelivered part refunded, `Canceled`
/// when nothing was delivered, else `Partial`.
pub fn fail_outcome(
    charge: Money,
    refunded: Money,
    quantity: i64,
    delivered: i64,
) -> (Money, OrderStatus) {
    let refund = proportional_refund(charge, refunded, quantity, delivered);
    let status = if delivered <= 0 {
        OrderStatus::Canceled
    } else {
        OrderStatus::Partial
    };
    (refund, status)
}

/// The statuses a progress report may set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressStatus {
    Processing,
    Completed,
    Partial,
    Canceled,
}

impl ProgressStatus {
    pub fn parse(text: &str) -> Result<ProgressStatus, SupplyError> {
        Ok(match text.trim().to_ascii_lowercase().as_str() {
            "processing" | "in progress" | "inprogress" | "in_progress" => {
                ProgressStatus::Processing
            }
            "completed" => ProgressStatus::Completed,
            "partial" => ProgressStatus::Partial,
            "canceled" | "cancelled" => ProgressStatus::Canceled,
            other => {
                return Err(SupplyError::InvalidStatus(
                    other.to_owned(),
                    "processing, completed, partial or canceled",
                ))
            }
        })
    }
}

/// A progress report on an SMM order the shop fulfils by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    pub status: ProgressStatus,
}

/// What a progress report does to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProgressOutcome {
    pub status: OrderStatus,
    pub remains: i64,
    /// Refunded to the buyer now (the remains' share of the charge).
    pub refund: Money,
}

/// Applies SPEC 11's progress rules: `processing` records numbers; `completed` with
/// remains refunds them and ends `Partial` (`Canceled` when nothing was done); `canceled`
/// refunds everything that is left.
pub fn progress_outcome(
    report: &Progress,
    quantity: i64,
    current_remains: i64,
    charge: Money,
    refunded: Money,
) -> Result<ProgressOutcome, SupplyError> {
    let remains = report.remains.unwrap_or(current_remains);
    if !(0..=quantity).contains(&remains) {
        return Err(SupplyError::RemainsOutOfRange(quantity));
    }
    if let Some(start) = report.start_count {
        if start < 0 {
            return Err(SupplyError::Negative("start_count"));
        }
    }
    let done = quantity - remains;
    let refund_remains = || proportional_refund(charge, refunded, quantity, done);
    Ok(match report.status {
        ProgressStatus::Processing => ProgressOutcome {
            status: OrderStatus::Processing,
            remains,
            refund: Money::ZERO,
        },
        ProgressStatus::Completed | ProgressStatus::Partial => {
            if report.status == ProgressStatus::Partial && remains == 0 {
                return Err(SupplyError::PartialWithoutRemains);
            }
            let status = match remains {
                0 => OrderStatus::Completed,
                r if r >= quantity => OrderStatus::Canceled,
                _ => OrderStatus::Partial,
            };
            ProgressOutcome {
                status,
                remains,
                refund: refund_remains(),
            }
        }
        ProgressStatus::Canceled => ProgressOutcome {
            status: OrderStatus::Canceled,
            remains: quantity,
            refund: charge
                .checked_sub(refunded)
                .unwrap_or(Money::ZERO)
                .max(Money::ZERO),
        },
    })
}

// ---------------------------------------------------------------------------------------
// Catalogue drafts.

pub const MAX_NAME: usize = 200;
pub const MAX_DESCRIPTION: usize = 10_000;
pub const MAX_URL: usize = 2048;
pub const MAX_MESSAGE: usize = 2000;
/// The largest quantity a product or service may allow per order.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// A money field as sent: text (`"1.50"`) or a JSON number's text.
pub fn parse_price(field: &'static str, text: &str) -> Result<Money, SupplyError> {
    let m = Money::parse(text).map_err(|_| SupplyError::InvalidAmount(field))?;
    if m.is_negative() {
        return Err(SupplyError::Negative(field));
    }
    Ok(m)
}

/// A name: trimmed, not blank, one line, at most `MAX_NAME` characters.
pub fn check_name(field: &'static str, text: &str) -> Result<String, SupplyError> {
    let t = text.trim();
    if t.is_empty() {
        return Err(SupplyError::Required(field));
    }
    check_line(field, t, MAX_NAME)
}

/// A supplier's first shop is named after their email unless told otherwise.
pub fn default_shop_name(email: &str) -> String {
    let local = email.trim().split('@').next().unwrap_or("").trim();
    if local.is_empty() {
        "Shop".to_owned()
    } else {
        local.chars().take(MAX_NAME).collect()
    }
}

/// Text of at most `max` characters, trimmed, under the input rule (several lines
/// allowed; see `check_line` for fields of one).
pub fn check_len(field: &'static str, text: &str, max: usize) -> Result<String, SupplyError> {
    let t = text.trim();
    if t.chars().count() > max {
        return Err(SupplyError::TooLong(field, max));
    }
    if !crate::input::is_clean(t, true) {
        return Err(SupplyError::InvalidCharacters(field));
    }
    Ok(t.to_owned())
}

/// `check_len` for a field of one line: no tab or line break either.
pub fn check_line(field: &'static str, text: &str, max: usize) -> Result<String, SupplyError> {
    let t = check_len(field, text, max)?;
    if !crate::input::is_clean(&t, false) {
        return Err(SupplyError::InvalidCharacters(field));
    }
    Ok(t)
}

/// A description: trimmed, at most `MAX_DESCRIPTION` characters.
pub fn check_description(text: &str) -> Result<String, SupplyError> {
    check_len("description", text, MAX_DESCRIPTION)
}

/// An image URL: trimmed, at most `MAX_URL` characters, `http://` or `https://` (it is
/// shown to buyers: `javascript:` and `data:` are not images); blank means none.
pub fn check_image_url(url: &str) -> Result<Option<String>, SupplyError> {
    let url = check_line("imageUrl", url, MAX_URL)?;
    if url.is_empty() {
        return Ok(None);
    }
    // Kept as given (a trailing `/` may matter to an image host).
    crate::web_url::web_url(&url, MAX_URL).map_err(|_| SupplyError::InvalidImageUrl)?;
    Ok(Some(url))
}

/// English `en` with the given translations of `field` (removals ignored): the text of a
/// new entity.
pub fn translated(en: String, field: &str, translations: &[Translation]) -> Text {
    let mut t = Text::new(en);
    for tr in translations.iter().filter(|t| t.field == field) {
        if let Some(v) = &tr.value {
            t.set(tr.lang, v.clone());
        }
    }
    t
}

/// A category slug: 1 to 100 of `a-z`, `0-9` and `-`.
pub fn check_slug(slug: &str) -> Result<String, SupplyError> {
    let s = slug.trim();
    if s.is_empty() {
        return Err(SupplyError::Required("slug"));
    }
    if s.len() > 100
        || !s
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
    {
        return Err(SupplyError::InvalidSlug);
    }
    Ok(s.to_owned())
}

/// A declared capacity (`stock` of a manual variant): 0 to `MAX_QUANTITY`. Unbounded,
/// one supplier's `i64::MAX` once overflowed the sum of a product's stock and broke the
/// catalogue for every buyer.
pub fn check_capacity(stock: i64) -> Result<i64, SupplyError> {
    if stock < 0 {
        return Err(SupplyError::Negative("stock"));
    }
    if stock > MAX_QUANTITY {
        return Err(SupplyError::TooLarge("stock", MAX_QUANTITY));
    }
    Ok(stock)
}

/// `min` and `max` of a subproduct or service.
pub fn check_limits(min: i64, max: i64) -> Result<(), SupplyError> {
    if min < 1 {
        return Err(SupplyError::TooSmall("min", 1));
    }
    if max < 1 {
        return Err(SupplyError::TooSmall("max", 1));
    }
    if max > MAX_QUANTITY {
        return Err(SupplyError::TooLarge("max", MAX_QUANTITY));
    }
    if min > max {
        return Err(SupplyError::MinAboveMax(min, max));
    }
    Ok(())
}

/// Product types a supplier may choose (`auto` belongs to upstream providers).
pub fn supplier_product_type(text: &str) -> Result<ProductType, SupplyError> {
    match ProductType::parse(text) {
        Some(t @ (ProductType::Inventory | ProductType::Manual)) => Ok(t),
        _ => Err(SupplyError::InvalidProductType),
    }
}

/// One translated field: `None` removes the translation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Translation {
    pub field: &'static str,
    pub lang: Lang,
    pub value: Option<String>,
}

/// Translations as sent: `{"name": {"ru": "..."}, "description": {...}}`. `fields` are
/// the fields the entity translates; English is the entity's own field, not a translation.
pub fn parse_translations(
    given: &BTreeMap<String, BTreeMap<String, Option<String>>>,
    fields: &[&'static str],
) -> Result<Vec<Translation>, SupplyError> {
    let mut out = Vec::new();
    for (field, values) in given {
        let field = fields
            .iter()
            .find(|f| **f == field.as_str())
            .ok_or_else(|| SupplyError::UnknownTranslationField(field.clone()))?;
        for (code, value) in values {
            let lang =
                Lang::parse(code).ok_or_else(|| SupplyError::UnsupportedLanguage(code.clone()))?;
            if lang == Lang::En {
                return Err(SupplyError::EnglishTranslation(field));
            }
            let value = match value.as_deref().map(str::trim) {
                None | Some("") => None,
                Some(v) if *field == "description" => Some(check_len(field, v, MAX_DESCRIPTION)?),
                Some(v) => Some(check_line(field, v, MAX_NAME)?),
            };
            out.push(Translation { field, lang, value });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_blank_removal_names_every_unsold_line() {
        assert_eq!(super::parse_stock_removal(b""), Ok(None));
        assert_eq!(super::parse_stock_removal(b" \r\n\t"), Ok(None));
        assert_eq!(
            super::parse_stock_removal(b"a\n\n b \r\n"),
            Ok(Some(vec!["a".to_owned(), "b".to_owned()]))
        );
        assert_eq!(
            super::parse_stock_removal(&[0xff]),
            Err(super::SupplyError::NotUtf8)
        );
    }

    use super::*;

    #[test]
    fn shops_are_named_after_the_email() {
        assert_eq!(default_shop_name(" ann@example.com "), "ann");
        assert_eq!(default_shop_name("@example.com"), "Shop");
        assert_eq!(default_shop_name(""), "Shop");
        assert_eq!(default_shop_name(&"a".repeat(300)).len(), MAX_NAME);
    }

    #[test]
    fn capacities_are_bounded() {
        assert_eq!(check_capacity(0), Ok(0));
        assert_eq!(check_capacity(MAX_QUANTITY), Ok(MAX_QUANTITY));
        assert_eq!(check_capacity(-1), Err(SupplyError::Negative("stock")));
        assert_eq!(
            check_capacity(i64::MAX),
            Err(SupplyError::TooLarge("stock", MAX_QUANTITY))
        );
        assert_eq!(
            check_image_url(" https://cdn.example.com/a.png "),
            Ok(Some("https://cdn.example.com/a.png".into()))
        );
        assert_eq!(check_image_url(""), Ok(None));
        for bad in [
            "javascript:alert(1)",
            "data:image/png;base64,x",
            "//x.example/a",
            "http://",
        ] {
            assert_eq!(
                check_image_url(bad),
                Err(SupplyError::InvalidImageUrl),
                "{bad}"
            );
        }
        assert_eq!(
            check_name("name", "two\nlines"),
            Err(SupplyError::InvalidCharacters("name"))
        );
        assert_eq!(check_description("two\nlines").as_deref(), Ok("two\nlines"));
        assert_eq!(
            check_description("nul\0"),
            Err(SupplyError::InvalidCharacters("description"))
        );
    }

    fn m(s: &str) -> Money {
        Money::parse(s).expect("amount")
    }

    #[test]
    fn percents() {
        assert_eq!(parse_percent("10"), Some(1000));
        assert_eq!(parse_percent("12.5"), Some(1250));
        assert_eq!(parse_percent("0.05"), Some(5));
        assert_eq!(parse_percent("100"), Some(10_000));
        assert_eq!(parse_percent("15%"), Some(1500));
        for bad in ["", "-1", "100.01", "1.234", "abc", "1e2", "."] {
            assert_eq!(parse_percent(bad), None, "{bad}");
        }
        assert_eq!(format_percent(1250), "12.5");
        assert_eq!(format_percent(1000), "10");
        assert_eq!(format_percent(5), "0.05");
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            normalize_setting(COMMISSION_PERCENT, "12.50").as_deref(),
            Ok("12.5")
        );
        assert_eq!(
            normalize_setting(EARLY_CANCEL_ENABLED, "0").as_deref(),
            Ok("false")
        );
        assert!(normalize_setting(EARLY_REFUND_MINUTES, "-5").is_err());
        assert!(normalize_setting(EARNINGS_HOLD_HOURS, "1.5").is_err());
        assert_eq!(
            normalize_setting("nope", "1"),
            Err(SupplyError::UnknownSetting("nope".into()))
        );
        for (key, default) in SETTINGS {
            assert_eq!(normalize_setting(key, default).as_deref(), Ok(default));
        }
    }

    #[test]
    fn earnings_and_refunds() {
        let s = EarningsSettings {
            commission_bp: 1000,
            hold_hours: 2,
        };
        let e = s.earning(m("5.00"), 1_000);
        assert_eq!((e.commission, e.amount), (m("0.50"), m("4.50")));
        assert_eq!(e.available_at, 1_000 + 2 * 3_600_000);
        // 2 of 5 refunded: the supplier keeps 3/5 of 4.50.
        assert_eq!(
            earning_after_refunds(e.gross, e.commission, m("2.00")),
            m("2.70")
        );
        assert_eq!(
            earning_after_refunds(e.gross, e.commission, m("5.00")),
            Money::ZERO
        );
        assert_eq!(
            earning_after_refunds(Money::ZERO, Money::ZERO, Money::ZERO),
            Money::ZERO
        );
        // Half-up commission on a micro-unit sale.
        let tiny = s.earning(Money::from_micros(5), 0);
        assert_eq!(tiny.commission, Money::from_micros(1));
        assert_eq!(
            EarningsSettings::from_pairs([(COMMISSION_PERCENT, "2.5"), (EARNINGS_HOLD_HOURS, "x")]),
            EarningsSettings {
                commission_bp: 250,
                hold_hours: 72
            }
        );
        assert_eq!(earning_state(None, 5, 10), "available");
        assert_eq!(earning_state(None, 50, 10), "held");
        assert_eq!(earning_state(Some("requested"), 5, 10), "requested");
        assert_eq!(earning_state(Some("rejected"), 5, 10), "available");
    }

    #[test]
    fn uploads() {
        assert_eq!(
            parse_stock_upload(b"a:1\r\n\n  b:2 \nc:3").expect("ok"),
            vec!["a:1", "b:2", "c:3"]
        );
        assert_eq!(
            parse_stock_upload(b"\n \r\n"),
            Err(SupplyError::EmptyUpload)
        );
        assert_eq!(parse_stock_upload(b""), Err(SupplyError::EmptyUpload));
        let long = format!("ok\n{}\n", "x".repeat(MAX_LINE_BYTES + 1));
        assert_eq!(
            parse_stock_upload(long.as_bytes()),
            Err(SupplyError::LineTooLong(2, MAX_LINE_BYTES))
        );
        assert_eq!(parse_stock_upload(&[0xff, 0xfe]), Err(SupplyError::NotUtf8));
        // Exactly the limit passes; one byte more is refused, whoever read the body.
        let line = format!("{}\n", "x".repeat(4095));
        let full = line.repeat(MAX_UPLOAD_BYTES / line.len());
        assert_eq!(full.len(), MAX_UPLOAD_BYTES);
        assert_eq!(
            parse_stock_upload(full.as_bytes()).map(|l| l.len()),
            Ok(2048)
        );
        assert_eq!(
            parse_stock_upload(format!("{full}y").as_bytes()),
            Err(SupplyError::UploadTooLarge(8))
        );
    }

    #[test]
    fn deliveries() {
        let acc = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            validate_delivery(&acc(&[" a ", "b"]), 5).expect("ok"),
            vec!["a", "b"]
        );
        assert_eq!(
            validate_delivery(&acc(&["a", "b", "c"]), 2),
            Err(SupplyError::TooManyAccounts(2))
        );
        assert_eq!(validate_delivery(&[], 2), Err(SupplyError::NoAccounts));
        assert_eq!(
            validate_delivery(&acc(&["a", " "]), 2),
            Err(SupplyError::EmptyAccount(2))
        );
        assert_eq!(status_after_delivery(5, 3), OrderStatus::Processing);
        assert_eq!(status_after_delivery(5, 5), OrderStatus::Completed);
        assert_eq!(
            fail_outcome(m("7.50"), Money::ZERO, 5, 3),
            (m("3.00"), OrderStatus::Partial)
        );
        assert_eq!(
            fail_outcome(m("7.50"), Money::ZERO, 5, 0),
            (m("7.50"), OrderStatus::Canceled)
        );
    }

    #[test]
    fn progress_reports() {
        let report = |remains, status| Progress {
            start_count: Some(100),
            remains,
            status,
        };
        let charge = m("1.00");
        let done = progress_outcome(
            &report(Some(250), ProgressStatus::Completed),
            1000,
            1000,
            charge,
            Money::ZERO,
        )
        .expect("ok");
        assert_eq!(
            done,
            ProgressOutcome {
                status: OrderStatus::Partial,
                remains: 250,
                refund: m("0.25")
            }
        );
        let full = progress_outcome(
            &report(Some(0), ProgressStatus::Completed),
            1000,
            400,
            charge,
            Money::ZERO,
        )
        .expect("ok");
        assert_eq!(
            (full.status, full.refund),
            (OrderStatus::Completed, Money::ZERO)
        );
        let none_done = progress_outcome(
            &report(None, ProgressStatus::Completed),
            1000,
            1000,
            charge,
            Money::ZERO,
        )
        .expect("ok");
        assert_eq!(
            (none_done.status, none_done.refund),
            (OrderStatus::Canceled, charge)
        );
        let running = progress_outcome(
            &report(Some(600), ProgressStatus::Processing),
            1000,
            1000,
            charge,
            Money::ZERO,
        )
        .expect("ok");
        assert_eq!(
            (running.status, running.remains, running.refund),
            (OrderStatus::Processing, 600, Money::ZERO)
        );
        assert_eq!(
            progress_outcome(
                &report(Some(1001), ProgressStatus::Processing),
                1000,
                1000,
                charge,
                Money::ZERO
            ),
            Err(SupplyError::RemainsOutOfRange(1000))
        );
        assert_eq!(
            progress_outcome(
                &report(Some(0), ProgressStatus::Partial),
                1000,
                1000,
                charge,
                Money::ZERO
            ),
            Err(SupplyError::PartialWithoutRemains)
        );
        assert!(ProgressStatus::parse("In progress").is_ok());
        assert!(ProgressStatus::parse("pending").is_err());
    }

    #[test]
    fn drafts() {
        assert_eq!(parse_price("price", "1.50"), Ok(m("1.50")));
        assert_eq!(
            parse_price("price", "-1"),
            Err(SupplyError::Negative("price"))
        );
        assert_eq!(
            parse_price("price", "abc"),
            Err(SupplyError::InvalidAmount("price"))
        );
        assert_eq!(check_limits(5, 2), Err(SupplyError::MinAboveMax(5, 2)));
        assert_eq!(check_limits(0, 2), Err(SupplyError::TooSmall("min", 1)));
        assert!(check_limits(1, 1).is_ok());
        assert_eq!(check_name("name", "  "), Err(SupplyError::Required("name")));
        assert_eq!(
            supplier_product_type("auto"),
            Err(SupplyError::InvalidProductType)
        );
        let mut given = BTreeMap::new();
        given.insert(
            "name".to_owned(),
            BTreeMap::from([
                ("RU".to_owned(), Some("Имя".to_owned())),
                ("de".to_owned(), None),
            ]),
        );
        let t = parse_translations(&given, &["name", "description"]).expect("ok");
        assert_eq!(t.len(), 2);
        assert!(t.contains(&Translation {
            field: "name",
            lang: Lang::Ru,
            value: Some("Имя".into())
        }));
        given.insert(
            "name".to_owned(),
            BTreeMap::from([("xx".to_owned(), Some("?".to_owned()))]),
        );
        assert_eq!(
            parse_translations(&given, &["name"]),
            Err(SupplyError::UnsupportedLanguage("xx".into()))
        );
        let other = BTreeMap::from([("title".to_owned(), BTreeMap::new())]);
        assert_eq!(
            parse_translations(&other, &["name"]),
            Err(SupplyError::UnknownTranslationField("title".into()))
        );
    }
}
