//! SMS verification in the store: the catalogue (countries, projects, prices), renting
//! numbers, and what a buyer can do to an activation (cancel, complete, ask for another
//! SMS). An SMS order is a row in `orders` (kind `sms`, quantity 1, charge = price) plus
//! its `sms_activations` row, written with its ledger charge in one transaction; every
//! refund goes through the ledger in the transaction that ends the activation, guarded by
//! a conditional update on the activation's status, so it happens exactly once.

use crate::rows::row_struct;
use std::collections::HashMap;

use souk_core::early_cancel::Reason;
use souk_core::sms::{cancel_rule, ActivationStatus, DEFAULT_LIFETIME_MINUTES, LIFETIME_SETTING};
use souk_core::{ApiError, Lang, Money, Text};

use crate::batch::Write;
use crate::db::{on_engine, tx_steps, BeginWrite, Engine, EngineOf};
use crate::jobs::{insert_job, JobSteps, SMS_UPSTREAM};
use crate::sms_worker::{sms_job, sms_payload, UpstreamAction};
use crate::users::Ledger;
use crate::{CancelOutcome, Result, Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsCountry {
    /// ISO 3166-1 alpha-2, lower case.
    pub code: String,
    pub name: Text,
    /// The country's number in the sms-activate protocol.
    pub activate_id: Option<i64>,
    pub active: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsProject {
    pub id: String,
    /// The short service code (`tg`, `wa`), as the sms-activate protocol names services.
    pub code: String,
    pub name: Text,
    pub active: bool,
}

/// A project sold in a country at a price, with the pool's free numbers for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsOffer {
    pub project_id: String,
    pub project_code: String,
    pub project_name: Text,
    pub country_code: String,
    pub country_name: Text,
    pub activate_id: Option<i64>,
    pub price: Money,
    pub free: i64,
}

/// A number rented from an upstream provider, to be recorded with its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamRental {
    pub provider_id: String,
    pub external_id: String,
    pub phone: String,
    pub country_code: String,
}

/// What to rent for one buyer, all or nothing.
#[derive(Clone, Debug)]
pub struct SmsRent<'a> {
    pub user_id: &'a str,
    pub project_id: &'a str,
    /// Only this country; otherwise the cheapest country with a free number, per number.
    pub country: Option<&'a str>,
    /// Numbers to take from the pool.
    pub pool: i64,
    /// Re-rent this number of the pool (the buyer had it for the project before).
    pub phone: Option<&'a str>,
    /// Numbers already rented upstream.
    pub upstream: &'a [UpstreamRental],
    /// Only numbers priced at most this (sms-activate `maxPrice`).
    pub max_price: Option<Money>,
    pub lifetime_ms: i64,
    /// The `sms.rent` job that recorded the upstream rentals before they were made: it
    /// ends in the transaction that records them.
    pub settles_job: Option<i64>,
}

/// [`SmsRent`] owned, to cross into the batch writer.
#[derive(Clone, Debug)]
pub(crate) struct OwnedSmsRent {
    user_id: String,
    project_id: String,
    country: Option<String>,
    pool: i64,
    phone: Option<String>,
    upstream: Vec<UpstreamRental>,
    max_price: Option<Money>,
    lifetime_ms: i64,
    settles_job: Option<i64>,
}

impl OwnedSmsRent {
    pub(crate) fn of(rent: &SmsRent<'_>) -> OwnedSmsRent {
        OwnedSmsRent {
            user_id: rent.user_id.to_owned(),
            project_id: rent.project_id.to_owned(),
            country: rent.country.map(str::to_owned),
            pool: rent.pool,
            phone: rent.phone.map(str::to_owned),
            upstream: rent.upstream.to_vec(),
            max_price: rent.max_price,
            lifetime_ms: rent.lifetime_ms,
            settles_job: rent.settles_job,
        }
    }

    pub(crate) fn borrow(&self) -> SmsRent<'_> {
        SmsRent {
            user_id: &self.user_id,
            project_id: &self.project_id,
            country: self.country.as_deref(),
            pool: self.pool,
            phone: self.phone.as_deref(),
            upstream: &self.upstream,
            max_price: self.max_price,
            lifetime_ms: self.lifetime_ms,
            settles_job: self.settles_job,
        }
    }
}

/// One rented number and its order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rental {
    pub order_id: i64,
    pub phone: String,
    pub country_code: String,
    pub price: Money,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RentOutcome {
    Rented(Vec<Rental>),
    /// The pool had only `free` numbers; nothing was written.
    Short {
        free: i64,
    },
}

/// An activation as its buyer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsActivation {
    pub order_id: i64,
    pub project_id: String,
    pub project_code: String,
    pub project_name: Text,
    pub country_code: String,
    pub country_name: Text,
    pub activate_id: Option<i64>,
    pub phone: String,
    pub status: ActivationStatus,
    pub price: Money,
    pub charge: Money,
    pub refunded: Money,
    pub code: Option<String>,
    pub sms_text: Option<String>,
    pub code_at: Option<i64>,
    pub awaiting_retry: bool,
    pub created_at: i64,
    pub expires_at: i64,
    pub upstream: bool,
}

/// The answer to a buyer's `setStatus` (complete, another SMS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsTransition {
    NotFound,
    Done,
    /// Not possible from this status.
    BadStatus(ActivationStatus),
}

row_struct! {
    struct ActivationRow {
        order_id: i64,
        user_id: String,
        project_id: String,
        project_code: String,
        project_name: String,
        country_code: String,
        country_name: Option<String>,
        activate_id: Option<i64>,
        phone: String,
        status: String,
        price: i64,
        charge: i64,
        refunded: i64,
        code: Option<String>,
        sms_text: Option<String>,
        code_at: Option<i64>,
        awaiting_retry: bool,
        created_at: i64,
        expires_at: i64,
        provider_id: Option<String>,
    }
}

const ACTIVATION_SELECT: &str = "SELECT a.order_id, a.user_id, a.project_id, p.code AS project_code, p.name AS project_name, \
     a.country_code, c.name AS country_name, c.activate_id, a.phone, a.status, a.price, o.charge, o.refunded, a.code, \
     a.sms_text, a.code_at, a.awaiting_retry, a.created_at, a.expires_at, a.provider_id \
     FROM sms_activations a JOIN orders o ON o.id = a.order_id JOIN sms_projects p ON p.id = a.project_id \
     LEFT JOIN sms_countries c ON c.code = a.country_code";

tx_steps! {
    /// Rentals' money and numbers, inside a write transaction.
    pub(crate) trait SmsSteps {
        /// The body of [`Store::rent_sms`]. Anything but `Rented` leaves writes the caller
        /// must roll back (the batch's savepoint, or the transaction).
        async fn rent_sms_in(&mut self, rent: &SmsRent<'_>, now: i64) -> Result<RentOutcome> {
            let postgres = Self::ENGINE == Engine::Postgres;
            let skip_locked = if postgres { " FOR UPDATE OF n SKIP LOCKED" } else { "" };
            // Per country, in price order: each pick walks `sms_numbers_free` in
            // least-recently-rented order and stops at the first number serving the project.
            let pick = format!(
                "SELECT n.id, n.phone FROM sms_numbers n \
                 JOIN sms_number_projects np ON np.number_id = n.id AND np.project_id = $1 \
                 LEFT JOIN sms_gateways g ON g.id = n.gateway_id \
                 WHERE n.country_code = $2 AND n.current_order IS NULL AND n.active AND (g.id IS NULL OR g.active) \
                 ORDER BY n.last_rented_at, n.phone LIMIT 1{skip_locked}"
            );
            let lock = if postgres { " FOR UPDATE OF n" } else { "" };
            let pick_phone = format!(
                "SELECT n.id, n.phone, n.country_code, pr.price, n.current_order FROM sms_numbers n \
                 JOIN sms_number_projects np ON np.number_id = n.id AND np.project_id = $1 \
                 JOIN sms_prices pr ON pr.project_id = $1 AND pr.country_code = n.country_code \
                 JOIN sms_countries c ON c.code = n.country_code AND c.active \
                 LEFT JOIN sms_gateways g ON g.id = n.gateway_id \
                 WHERE n.phone = $2 AND n.active AND (g.id IS NULL OR g.active) \
                 AND EXISTS (SELECT 1 FROM sms_activations a WHERE a.number_id = n.id AND a.project_id = $1 AND a.user_id = $3){lock}"
            );
            let expires_at = now + rent.lifetime_ms;
            let prices: Vec<(String, i64)> = sqlx::query_as(
                "SELECT pr.country_code, pr.price FROM sms_prices pr \
                 JOIN sms_countries c ON c.code = pr.country_code AND c.active \
                 WHERE pr.project_id = $1 ORDER BY pr.price, pr.country_code",
            )
            .bind(rent.project_id)
            .fetch_all(&mut *self)
            .await?;
            let prices: Vec<(String, i64)> = prices
                .into_iter()
                .filter(|(country, price)| {
                    rent.country.is_none_or(|c| c == country)
                        && rent.max_price.is_none_or(|m| *price <= m.micros())
                })
                .collect();
            let price_in = |country: &str| prices.iter().find(|(c, _)| c == country).map(|(_, p)| *p);
            // Countries found without a free number are not asked again for the next one.
            let mut dry = vec![false; prices.len()];
            let mut rentals = Vec::with_capacity(rent.pool as usize + rent.upstream.len());
            for taken in 0..rent.pool {
                let (number_id, phone, country_code, price): (String, String, String, i64) = match rent.phone {
                    Some(phone) => {
                        let row: Option<(String, String, String, i64, Option<i64>)> = sqlx::query_as(&pick_phone)
                            .bind(rent.project_id)
                            .bind(phone)
                            .bind(rent.user_id)
                            .fetch_optional(&mut *self)
                            .await?;
                        match row {
                            Some((id, phone, country, _, current)) => match (price_in(&country), current) {
                                (None, _) => return Err(StoreError::Rejected(ApiError::SmsPhoneNotAvailable)),
                                (Some(_), Some(_)) => return Err(StoreError::Rejected(ApiError::SmsPhoneBusy)),
                                (Some(price), None) => (id, phone, country, price),
                            },
                            None => return Err(StoreError::Rejected(ApiError::SmsPhoneNotAvailable)),
                        }
                    }
                    None => {
                        let mut found = None;
                        for (i, (country, price)) in prices.iter().enumerate() {
                            if dry[i] {
                                continue;
                            }
                            let row: Option<(String, String)> = sqlx::query_as(&pick)
                                .bind(rent.project_id)
                                .bind(country)
                                .fetch_optional(&mut *self)
                                .await?;
                            match row {
                                Some((id, phone)) => {
                                    found = Some((id, phone, country.clone(), *price));
                                    break;
                                }
                                None => dry[i] = true,
                            }
                        }
                        match found {
                            Some(row) => row,
                            None => return Ok(RentOutcome::Short { free: taken }),
                        }
                    }
                };
                let order_id = self.insert_sms_order(rent.user_id, &phone, price, now).await?;
                let claimed = sqlx::query(
                    "UPDATE sms_numbers SET current_order = $1, last_rented_at = $2 WHERE id = $3 AND current_order IS NULL",
                )
                .bind(order_id)
                .bind(now)
                .bind(&number_id)
                .execute(&mut *self)
                .await?
                .rows_affected();
                if claimed != 1 {
                    // Only possible when a concurrent writer slipped past the row lock.
                    return Err(StoreError::Rejected(ApiError::Busy));
                }
                sqlx::query(
                    "INSERT INTO sms_activations (order_id, user_id, project_id, country_code, phone, number_id, status, \
                     price, expires_at, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, 'active', $7, $8, $9, $9)",
                )
                .bind(order_id)
                .bind(rent.user_id)
                .bind(rent.project_id)
                .bind(&country_code)
                .bind(&phone)
                .bind(&number_id)
                .bind(price)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *self)
                .await?;
                rentals.push(Rental { order_id, phone, country_code, price: Money::from_micros(price), created_at: now, expires_at });
            }
            for up in rent.upstream {
                let Some(price) = price_in(&up.country_code) else {
                    return Err(StoreError::Rejected(ApiError::SmsNotOffered));
                };
                let order_id = self.insert_sms_order(rent.user_id, &up.phone, price, now).await?;
                sqlx::query(
                    "INSERT INTO sms_activations (order_id, user_id, project_id, country_code, phone, provider_id, external_id, \
                     status, price, expires_at, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 'active', $8, $9, $10, $10)",
                )
                .bind(order_id)
                .bind(rent.user_id)
                .bind(rent.project_id)
                .bind(&up.country_code)
                .bind(&up.phone)
                .bind(&up.provider_id)
                .bind(&up.external_id)
                .bind(price)
                .bind(expires_at)
                .bind(now)
                .execute(&mut *self)
                .await?;
                // Its upstream work (polling for the code) begins with it.
                insert_job(&sms_job(order_id, UpstreamAction::Poll, now), now).fetch_optional(&mut *self).await?;
                rentals.push(Rental {
                    order_id,
                    phone: up.phone.clone(),
                    country_code: up.country_code.clone(),
                    price: Money::from_micros(price),
                    created_at: now,
                    expires_at,
                });
            }
            // The job that recorded the upstream rentals ends with them.
            if let Some(job) = rent.settles_job {
                self.delete_job(job).await?;
            }
            Ok(RentOutcome::Rented(rentals))
        }

        /// The `orders` row of one rented number, charged through the ledger. Answers the
        /// order id; an unaffordable charge is `Insufficient balance` (the caller's
        /// transaction is dropped, so nothing stays).
        async fn insert_sms_order(&mut self, user: &str, phone: &str, price: i64, now: i64) -> Result<i64> {
            let (order_id,): (i64,) = sqlx::query_as(
                "INSERT INTO orders (user_id, kind, product_type, link, quantity, unit_price, charge, status, payment_status, \
                 start_count, remains, created_at, paid_at, updated_at) \
                 VALUES ($1, 'sms', 'auto', $2, 1, $3, $3, 'processing', 'completed', 0, 1, $4, $4, $4) RETURNING id",
            )
            .bind(user)
            .bind(phone)
            .bind(price)
            .bind(now)
            .fetch_one(&mut *self)
            .await?;
            if self.ledger_entry(user, -price, "charge", Some(order_id), "sms", now).await?.is_none() {
                return Err(StoreError::Rejected(ApiError::InsufficientBalance));
            }
            sqlx::query(
                "INSERT INTO order_events (order_id, kind, detail, created_at) VALUES ($1, 'placed', $2, $3)",
            )
            .bind(order_id)
            .bind(format!("sms {phone}"))
            .bind(now)
            .execute(&mut *self)
            .await?;
            Ok(order_id)
        }

        /// Ends an open activation's order with a full refund of what is left, releases its
        /// pool number and queues the upstream cancel. The caller has already moved the
        /// activation to its final status with a conditional update, so this runs once per
        /// activation. Answers the amount refunded.
        async fn refund_activation(&mut self, order: i64, note: &str, now: i64) -> Result<Money> {
            let (user_id, charge, refunded): (String, i64, i64) =
                sqlx::query_as("SELECT user_id, charge, refunded FROM orders WHERE id = $1")
                    .bind(order)
                    .fetch_one(&mut *self)
                    .await?;
            let amount = charge - refunded;
            if amount > 0
                && self
                    .ledger_entry(&user_id, amount, "refund", Some(order), note, now)
                    .await?
                    .is_none()
            {
                return Err(StoreError::Conflict(format!(
                    "refund of order {order} could not be booked"
                )));
            }
            sqlx::query(
                "UPDATE orders SET status = 'canceled', refunded = charge, payment_status = 'refunded', \
                 remains = quantity - delivered, updated_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(order)
            .execute(&mut *self)
            .await?;
            self.release_activation(order, UpstreamAction::Cancel, now).await?;
            sqlx::query(
                "INSERT INTO order_events (order_id, kind, detail, created_at) VALUES ($1, 'sms_refund', $2, $3)",
            )
            .bind(order)
            .bind(format!("{note}: refunded {}", Money::from_micros(amount).display4()))
            .bind(now)
            .execute(&mut *self)
            .await?;
            Ok(Money::from_micros(amount))
        }

        /// Frees the activation's pool number and, for an upstream rental still open there,
        /// queues `upstream` (`cancel` or `complete`) for the worker.
        async fn release_activation(&mut self, order: i64, upstream: UpstreamAction, now: i64) -> Result<()> {
            sqlx::query("UPDATE sms_numbers SET current_order = NULL WHERE current_order = $1")
                .bind(order)
                .execute(&mut *self)
                .await?;
            // Only a rental still open there (its job polling, or asking for another SMS).
            sqlx::query(
                "UPDATE jobs SET payload = $1, run_at = $2, attempts = 0, last_error = NULL, updated_at = $2 \
                 WHERE kind = $3 AND dedupe_key = $4 AND state = 'ready' AND payload IN ($5, $6)",
            )
            .bind(sms_payload(order, upstream))
            .bind(now)
            .bind(SMS_UPSTREAM)
            .bind(order.to_string())
            .bind(sms_payload(order, UpstreamAction::Poll))
            .bind(sms_payload(order, UpstreamAction::Retry))
            .execute(&mut *self)
            .await?;
            Ok(())
        }
    }
}

/// Translations of SMS names, keyed by (entity, id).
pub(crate) struct Names(HashMap<(String, String), Vec<(Lang, String)>>);

impl Names {
    pub(crate) fn text(&self, entity: &str, id: &str, en: String) -> Text {
        let mut t = Text::new(en);
        if let Some(list) = self.0.get(&(entity.to_owned(), id.to_owned())) {
            for (lang, value) in list {
                t.set(*lang, value.clone());
            }
        }
        t
    }
}

impl Store {
    /// Every translated SMS name (projects and countries).
    pub(crate) async fn sms_names(&self) -> Result<Names> {
        let rows: Vec<(String, String, String, String)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT entity, entity_id, lang, value FROM translations \
                 WHERE entity IN ('sms_project', 'sms_country') AND field = 'name'",
            )
            .fetch_all(pool)
            .await?
        });
        let mut names: HashMap<(String, String), Vec<(Lang, String)>> = HashMap::new();
        for (entity, id, lang, value) in rows {
            if let Some(lang) = Lang::parse(&lang) {
                names.entry((entity, id)).or_default().push((lang, value));
            }
        }
        Ok(Names(names))
    }

    /// SMS countries by code (only active ones with `active_only`).
    pub async fn sms_countries(&self, active_only: bool) -> Result<Vec<SmsCountry>> {
        let names = self.sms_names().await?;
        let rows: Vec<(String, String, Option<i64>, bool)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT code, name, activate_id, active FROM sms_countries ORDER BY code")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter(|r| r.3 || !active_only)
            .map(|(code, name, activate_id, active)| SmsCountry {
                name: names.text("sms_country", &code, name),
                code,
                activate_id,
                active,
            })
            .collect())
    }

    /// SMS projects by code (only active ones with `active_only`).
    pub async fn sms_projects(&self, active_only: bool) -> Result<Vec<SmsProject>> {
        let names = self.sms_names().await?;
        let rows: Vec<(String, String, String, bool)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id, code, name, active FROM sms_projects ORDER BY code")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .filter(|r| r.3 || !active_only)
            .map(|(id, code, name, active)| SmsProject {
                name: names.text("sms_project", &id, name),
                id,
                code,
                active,
            })
            .collect())
    }

    /// An active project by its entity id or its short code (English name only).
    pub async fn sms_project(&self, reference: &str) -> Result<Option<SmsProject>> {
        let reference = reference.trim().to_ascii_lowercase();
        let row: Option<(String, String, String)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id, code, name FROM sms_projects WHERE active AND (id = $1 OR code = $1)")
                .bind(&reference)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id, code, name)| SmsProject {
            id,
            code,
            name: Text::new(name),
            active: true,
        }))
    }

    /// Where a project is sold and at what price, cheapest first (then by country code),
    /// optionally in one country: what renting needs, without names or counts.
    pub async fn sms_prices_of(
        &self,
        project_id: &str,
        country: Option<&str>,
    ) -> Result<Vec<(String, Option<i64>, Money)>> {
        let rows: Vec<(String, Option<i64>, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT c.code, c.activate_id, pr.price FROM sms_prices pr JOIN sms_countries c ON c.code = pr.country_code \
                 WHERE pr.project_id = $1 AND c.active AND ($2 IS NULL OR c.code = $2) ORDER BY pr.price, c.code",
            )
            .bind(project_id)
            .bind(country)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(code, activate_id, price)| (code, activate_id, Money::from_micros(price)))
            .collect())
    }

    /// What is sold where: active projects priced in active countries, cheapest first
    /// (then by country code), optionally for one project and/or one country.
    pub async fn sms_offers(
        &self,
        project_id: Option<&str>,
        country: Option<&str>,
    ) -> Result<Vec<SmsOffer>> {
        let names = self.sms_names().await?;
        type Row = (
            String,
            String,
            String,
            String,
            String,
            Option<i64>,
            i64,
            i64,
        );
        let rows: Vec<Row> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT p.id, p.code, p.name, c.code, c.name, c.activate_id, pr.price, \
                 (SELECT COUNT(*) FROM sms_numbers n JOIN sms_number_projects np ON np.number_id = n.id \
                  LEFT JOIN sms_gateways g ON g.id = n.gateway_id \
                  WHERE np.project_id = p.id AND n.country_code = c.code AND n.current_order IS NULL AND n.active \
                  AND (g.id IS NULL OR g.active)) \
                 FROM sms_prices pr JOIN sms_projects p ON p.id = pr.project_id JOIN sms_countries c ON c.code = pr.country_code \
                 WHERE p.active AND c.active AND ($1 IS NULL OR p.id = $1) AND ($2 IS NULL OR c.code = $2) \
                 ORDER BY pr.price, c.code, p.code",
            )
            .bind(project_id)
            .bind(country)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(
                    project_id,
                    project_code,
                    project_name,
                    country_code,
                    country_name,
                    activate_id,
                    price,
                    free,
                )| {
                    SmsOffer {
                        project_name: names.text("sms_project", &project_id, project_name),
                        country_name: names.text("sms_country", &country_code, country_name),
                        project_id,
                        project_code,
                        country_code,
                        activate_id,
                        price: Money::from_micros(price),
                        free,
                    }
                },
            )
            .collect())
    }

    /// How long an activation waits for its SMS (the `sms_lifetime_minutes` setting,
    /// default 20 minutes), in milliseconds.
    pub async fn sms_lifetime_ms(&self) -> Result<i64> {
        let row: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT value FROM settings WHERE key = $1")
                .bind(LIFETIME_SETTING)
                .fetch_optional(pool)
                .await?
        });
        let minutes = row
            .and_then(|(v,)| v.trim().parse::<i64>().ok())
            .filter(|m| *m > 0)
            .unwrap_or(DEFAULT_LIFETIME_MINUTES);
        Ok(minutes * 60_000)
    }

    /// Rents numbers for one buyer and charges the price of each, all in one
    /// transaction: pool numbers are claimed with a conditional update (one activation
    /// per number), upstream rentals are recorded as they are. `Short` when the pool
    /// lacks numbers (nothing written); `Insufficient balance` changes nothing either.
    /// On SQLite the rental joins the node's group commit (`crate::batch`) like orders.
    pub async fn rent_sms(&self, rent: &SmsRent<'_>, now: i64) -> Result<RentOutcome> {
        self.write(Write::SmsRent {
            rent: OwnedSmsRent::of(rent),
            now,
        })
        .await?
        .rented()
    }

    /// The caller's SMS activations among `order_ids` (others' are simply absent).
    pub async fn sms_activations_of(
        &self,
        user_id: &str,
        order_ids: &[i64],
    ) -> Result<Vec<SmsActivation>> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        // By key alone, the owner checked here: asked `a.user_id = $1 AND a.order_id IN
        // (...)`, PostgreSQL's cached plan for many ids walked the buyer's index
        // (`sms_activations_user`) and filtered every activation the buyer ever had: 428 ms
        // for 100 ids of a buyer with 220,000 (bench/README.md). `status` had the same plan.
        let sql = format!(
            "{ACTIVATION_SELECT} WHERE a.order_id IN ({}) ORDER BY a.order_id",
            crate::db::placeholders(1, order_ids.len())
        );
        let mut rows: Vec<ActivationRow> = on_engine!(&self.db, pool => {
            let mut q = sqlx::query_as::<_, ActivationRow>(&sql);
            for id in order_ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await?
        });
        rows.retain(|r| r.user_id == user_id);
        Ok(Self::activation_views(rows))
    }

    /// `sms_activations_of` with the project's and country's names in every language
    /// (the account page shows them in its own; the API answers in English).
    pub async fn sms_activations_translated(
        &self,
        user_id: &str,
        order_ids: &[i64],
    ) -> Result<Vec<SmsActivation>> {
        let mut list = self.sms_activations_of(user_id, order_ids).await?;
        if list.is_empty() {
            return Ok(list);
        }
        let names = self.sms_names().await?;
        for a in &mut list {
            a.project_name =
                names.text("sms_project", &a.project_id, a.project_name.en().to_owned());
            a.country_name = names.text(
                "sms_country",
                &a.country_code,
                a.country_name.en().to_owned(),
            );
        }
        Ok(list)
    }

    /// One SMS activation of the caller's.
    pub async fn sms_activation(
        &self,
        user_id: &str,
        order_id: i64,
    ) -> Result<Option<SmsActivation>> {
        Ok(self
            .sms_activations_of(user_id, &[order_id])
            .await?
            .into_iter()
            .next())
    }

    /// The caller's activations that still hold a number, oldest first.
    pub async fn sms_open_activations(&self, user_id: &str) -> Result<Vec<SmsActivation>> {
        let sql = format!(
            "{ACTIVATION_SELECT} WHERE a.user_id = $1 AND a.status IN ('active', 'code_received') ORDER BY a.order_id"
        );
        let rows: Vec<ActivationRow> = on_engine!(&self.db, pool => {
            sqlx::query_as::<_, ActivationRow>(&sql).bind(user_id).fetch_all(pool).await?
        });
        Ok(Self::activation_views(rows))
    }

    /// Activations carry English names only: no buyer-facing answer about an activation
    /// translates them, and reads of codes are the hot path.
    fn activation_views(rows: Vec<ActivationRow>) -> Vec<SmsActivation> {
        rows.into_iter()
            .map(|r| SmsActivation {
                project_name: Text::new(r.project_name),
                country_name: Text::new(
                    r.country_name
                        .unwrap_or_else(|| r.country_code.to_uppercase()),
                ),
                order_id: r.order_id,
                project_id: r.project_id,
                project_code: r.project_code,
                country_code: r.country_code,
                activate_id: r.activate_id,
                phone: r.phone,
                status: ActivationStatus::parse(&r.status).unwrap_or(ActivationStatus::Active),
                price: Money::from_micros(r.price),
                charge: Money::from_micros(r.charge),
                refunded: Money::from_micros(r.refunded),
                code: r.code,
                sms_text: r.sms_text,
                code_at: r.code_at,
                awaiting_retry: r.awaiting_retry,
                created_at: r.created_at,
                expires_at: r.expires_at,
                upstream: r.provider_id.is_some(),
            })
            .collect()
    }

    /// `cancel`/`allowcancel` of an SMS order (SPEC 10: after 2 minutes and before any
    /// code, a full refund). `None` when the order is the caller's but not an SMS order,
    /// so the caller applies the rules of SPEC 8 instead.
    pub async fn sms_cancel(
        &self,
        user_id: &str,
        order_id: i64,
        dry_run: bool,
        now: i64,
    ) -> Result<Option<CancelOutcome>> {
        type Row = (String, Option<String>, Option<i64>, i64, i64);
        let row: Option<Row> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.kind, a.status, a.created_at, o.charge, o.refunded FROM orders o \
                 LEFT JOIN sms_activations a ON a.order_id = o.id WHERE o.id = $1 AND o.user_id = $2",
            )
            .bind(order_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        let Some((kind, status, created_at, charge, refunded)) = row else {
            return Ok(Some(CancelOutcome::NotFound));
        };
        let (Some(status), Some(created_at)) = (status, created_at) else {
            return Ok((kind == "sms").then_some(CancelOutcome::NotFound));
        };
        let status = ActivationStatus::parse(&status).unwrap_or(ActivationStatus::Completed);
        if let Err(reason) = cancel_rule(status, created_at, now) {
            return Ok(Some(CancelOutcome::Refused(reason)));
        }
        if dry_run {
            return Ok(Some(CancelOutcome::Eligible(Money::from_micros(
                charge - refunded,
            ))));
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let ended = sqlx::query(
                "UPDATE sms_activations SET status = 'canceled', updated_at = $1 \
                 WHERE order_id = $2 AND user_id = $3 AND status = 'active' AND created_at <= $4",
            )
            .bind(now)
            .bind(order_id)
            .bind(user_id)
            .bind(now - souk_core::sms::CANCEL_AFTER_MS)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if ended != 1 {
                // A code or the expiry got there first: answer from what it is now.
                let (status,): (String,) = sqlx::query_as("SELECT status FROM sms_activations WHERE order_id = $1")
                    .bind(order_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let status = ActivationStatus::parse(&status).unwrap_or(ActivationStatus::Completed);
                let reason = cancel_rule(status, created_at, now).err().unwrap_or(Reason::StatusNotEligible);
                return Ok(Some(CancelOutcome::Refused(reason)));
            }
            let amount = tx.refund_activation(order_id, "canceled by the buyer", now).await?;
            tx.commit().await?;
            Ok(Some(CancelOutcome::Refunded(amount)))
        })
    }

    /// sms-activate `setStatus=6`: the buyer is done with an activation that received a
    /// code. Its number is released; an upstream rental is completed there.
    pub async fn sms_complete(
        &self,
        user_id: &str,
        order_id: i64,
        now: i64,
    ) -> Result<SmsTransition> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query(
                "UPDATE sms_activations SET status = 'completed', awaiting_retry = FALSE, updated_at = $1 \
                 WHERE order_id = $2 AND user_id = $3 AND status = 'code_received'",
            )
            .bind(now)
            .bind(order_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                tx.release_activation(order_id, UpstreamAction::Complete, now).await?;
                tx.commit().await?;
                return Ok(SmsTransition::Done);
            }
            let status: Option<(String,)> = sqlx::query_as("SELECT status FROM sms_activations WHERE order_id = $1 AND user_id = $2")
                .bind(order_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            Ok(match status.and_then(|(s,)| ActivationStatus::parse(&s)) {
                None => SmsTransition::NotFound,
                Some(ActivationStatus::Completed) => SmsTransition::Done,
                Some(other) => SmsTransition::BadStatus(other),
            })
        })
    }

    /// sms-activate `setStatus=3`: the buyer wants another SMS on the same number (after
    /// a code; while waiting it changes nothing). The next SMS replaces the code.
    pub async fn sms_request_another(
        &self,
        user_id: &str,
        order_id: i64,
        now: i64,
    ) -> Result<SmsTransition> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query(
                "UPDATE sms_activations SET awaiting_retry = TRUE, updated_at = $1 \
                 WHERE order_id = $2 AND user_id = $3 AND status = 'code_received' AND expires_at > $1",
            )
            .bind(now)
            .bind(order_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 1 {
                // An upstream rental polling for its code asks the provider for another SMS first.
                sqlx::query(
                    "UPDATE jobs SET payload = $1, run_at = $2, updated_at = $2 \
                     WHERE kind = $3 AND dedupe_key = $4 AND state = 'ready' AND payload = $5",
                )
                .bind(sms_payload(order_id, UpstreamAction::Retry))
                .bind(now)
                .bind(SMS_UPSTREAM)
                .bind(order_id.to_string())
                .bind(sms_payload(order_id, UpstreamAction::Poll))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                return Ok(SmsTransition::Done);
            }
            let status: Option<(String,)> = sqlx::query_as("SELECT status FROM sms_activations WHERE order_id = $1 AND user_id = $2")
                .bind(order_id)
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            Ok(match status.and_then(|(s,)| ActivationStatus::parse(&s)) {
                None => SmsTransition::NotFound,
                Some(ActivationStatus::Active) => SmsTransition::Done,
                Some(other) => SmsTransition::BadStatus(other),
            })
        })
    }
}
