//! Renting SMS numbers (SPEC 10), all or nothing: pool numbers first (cheapest country
//! with a free number, per number); what the pool lacks is rented from upstream
//! sms-activate providers, cheapest country first, providers in the order they were
//! added.
//!
//! Upstream rentals are paid work, so they are on record before they are made: an
//! `sms.rent` job, held by the request, names what is being rented and, after each
//! answer, the numbers the upstream gave. The transaction that books the rental ends the
//! job. If the node dies first, the queue takes the job over once the request's claim
//! runs out, rents what is still missing and books the rental (or gives the numbers back
//! when it can no longer be booked): the buyer's rental is made once, and no number the
//! upstream charged for is forgotten.

use serde::{Deserialize, Serialize};
use souk_client::pause;
use souk_client::sms_activate::{self, SetStatus};

use crate::upstream::{sms_client, sms_timeout, Upstream};
use souk_core::sms::{cheapest_above, normalize_country, parse_max_price, AddSms};
use souk_core::{ApiError, Money};
use souk_store::{
    NewJob, RentOutcome, Rental, SmsCountry, SmsProvider, SmsRent, StoreError, UpstreamRental,
};

/// The job kind that records an upstream rental in flight.
pub const SMS_RENT: &str = "sms.rent";
/// Runs of a taken-over rental before it is parked for the operator.
const RENT_TRIES: i64 = 5;

/// An sms-activate `getNumber`, as the protocol asks it.
#[derive(Clone, Copy, Debug, Default)]
pub struct NumberRequest<'a> {
    /// The project's code (`service`).
    pub service: Option<&'a str>,
    /// An sms-activate country id or a country's code; none: the cheapest with a number.
    pub country: Option<&'a str>,
    /// The most the buyer pays (`maxPrice`).
    pub max_price: Option<&'a str>,
}

/// How a `getNumber` ended, in the protocol's terms.
#[derive(Debug)]
pub enum NumberOutcome {
    BadService,
    NoNumbers,
    NoBalance,
    /// `maxPrice` is below the cheapest offer (named), or unreadable (`None`).
    WrongMaxPrice(Option<Money>),
    Rented {
        rental: Rental,
        /// The rented country's sms-activate id, when it has one.
        activate_id: Option<i64>,
    },
}

/// A country an sms-activate request names that is none of ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownCountry;

/// The country an sms-activate request names (its id, or a country's code); none when it
/// names no country.
pub fn country_of<'a>(
    countries: &'a [SmsCountry],
    value: Option<&str>,
) -> Result<Option<&'a SmsCountry>, UnknownCountry> {
    let Some(v) = value else { return Ok(None) };
    let found = match v.trim().parse::<i64>() {
        Ok(n) => countries.iter().find(|c| c.activate_id == Some(n)),
        Err(_) => normalize_country(v).and_then(|code| countries.iter().find(|c| c.code == code)),
    };
    found.map(Some).ok_or(UnknownCountry)
}

/// sms-activate `getNumber`: one number of the project in the country (or the cheapest
/// country with one), at most `maxPrice`.
pub async fn get_number(
    upstream: &Upstream,
    user_id: &str,
    asked: NumberRequest<'_>,
    now: i64,
) -> Result<NumberOutcome, StoreError> {
    let store = &upstream.store;
    let Some(service) = asked.service else {
        return Ok(NumberOutcome::BadService);
    };
    let Some(project) = store.sms_project(service).await? else {
        return Ok(NumberOutcome::BadService);
    };
    let countries = store.sms_countries(true).await?;
    let Ok(country) = country_of(&countries, asked.country) else {
        return Ok(NumberOutcome::NoNumbers);
    };
    let offers = store
        .sms_prices_of(&project.id, country.map(|c| c.code.as_str()))
        .await?;
    if offers.is_empty() {
        return Ok(NumberOutcome::NoNumbers);
    }
    let max_price = match asked.max_price {
        None => None,
        Some(text) => match parse_max_price(text) {
            Some(m) => Some(m),
            None => return Ok(NumberOutcome::WrongMaxPrice(None)),
        },
    };
    if let Some(max) = max_price {
        let prices: Vec<Money> = offers.iter().map(|o| o.2).collect();
        if let Some(cheapest) = cheapest_above(&prices, max) {
            return Ok(NumberOutcome::WrongMaxPrice(Some(cheapest)));
        }
    }
    let request = AddSms {
        project: project.id.clone(),
        quantity: 1,
        country: country.map(|c| c.code.clone()),
        phone: None,
    };
    let rental = match rent(upstream, user_id, request, max_price, now).await {
        Ok(mut rentals) if !rentals.is_empty() => rentals.remove(0),
        Ok(_) => return Ok(NumberOutcome::NoNumbers),
        Err(StoreError::Rejected(e)) => {
            return Ok(match e {
                ApiError::InsufficientBalance => NumberOutcome::NoBalance,
                ApiError::SmsProjectNotFound => NumberOutcome::BadService,
                _ => NumberOutcome::NoNumbers,
            })
        }
        Err(e) => return Err(e),
    };
    let activate_id = countries
        .iter()
        .find(|c| c.code == rental.country_code)
        .and_then(|c| c.activate_id);
    Ok(NumberOutcome::Rented {
        rental,
        activate_id,
    })
}

/// What an `sms.rent` job records: the request, and the upstream numbers got so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RentalJob {
    user: String,
    project: String,
    country: Option<String>,
    quantity: i64,
    /// How many come from the pool (it had that many when the request looked).
    pool: i64,
    max_price: Option<i64>,
    got: Vec<Got>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Got {
    provider: String,
    external_id: String,
    phone: String,
    country: String,
}

impl From<&Got> for UpstreamRental {
    fn from(g: &Got) -> Self {
        UpstreamRental {
            provider_id: g.provider.clone(),
            external_id: g.external_id.clone(),
            phone: g.phone.clone(),
            country_code: g.country.clone(),
        }
    }
}

/// Rents in a task of its own, so that a client hanging up mid-request never leaves an
/// upstream rental or a charge half-booked. Refusals are `StoreError::Rejected`.
pub async fn rent(
    renter: &Upstream,
    user_id: &str,
    request: AddSms,
    max_price: Option<Money>,
    now: i64,
) -> Result<Vec<Rental>, StoreError> {
    let (renter, user_id) = (renter.clone(), user_id.to_owned());
    tokio::spawn(async move { rent_here(&renter, &user_id, &request, max_price, now).await })
        .await
        .map_err(|e| StoreError::task_failed("rent", &e))?
}

fn refused(e: ApiError) -> StoreError {
    StoreError::Rejected(e)
}

async fn rent_here(
    renter: &Upstream,
    user_id: &str,
    request: &AddSms,
    max_price: Option<Money>,
    now: i64,
) -> Result<Vec<Rental>, StoreError> {
    let store = &renter.store;
    let project = store
        .sms_project(&request.project)
        .await?
        .ok_or(refused(ApiError::SmsProjectNotFound))?;
    if let Some(country) = &request.country {
        let known = store
            .sms_countries(true)
            .await?
            .iter()
            .any(|c| &c.code == country);
        if !known {
            return Err(refused(ApiError::SmsCountryNotFound));
        }
    }
    let offers = store
        .sms_prices_of(&project.id, request.country.as_deref())
        .await?;
    if offers.is_empty() {
        return Err(refused(ApiError::SmsNotOffered));
    }
    let lifetime_ms = store.sms_lifetime_ms().await?;
    let rent = SmsRent {
        user_id,
        project_id: &project.id,
        country: request.country.as_deref(),
        pool: request.quantity,
        phone: request.phone.as_deref(),
        upstream: &[],
        max_price,
        lifetime_ms,
        settles_job: None,
    };
    let free = match store.rent_sms(&rent, now).await? {
        RentOutcome::Rented(rentals) => return Ok(rentals),
        RentOutcome::Short { free } => free,
    };
    // What the pool lacks comes from upstream, if anyone has it.
    let providers = store.sms_providers(true).await?;
    let any_candidate = offers.iter().any(|(_, activate_id, price)| {
        activate_id.is_some() && max_price.is_none_or(|m| *price <= m)
    });
    if providers.is_empty() || !any_candidate {
        return Err(refused(ApiError::SmsNoNumbers));
    }
    // Do not rent upstream for someone who cannot pay for it.
    let cheapest = offers.iter().map(|o| o.2).min().unwrap_or_default();
    let least = cheapest
        .micros()
        .checked_mul(request.quantity)
        .ok_or(refused(ApiError::InsufficientBalance))?;
    if store.balance(user_id).await?.micros() < least {
        return Err(refused(ApiError::InsufficientBalance));
    }
    let mut job = RentalJob {
        user: user_id.to_owned(),
        project: project.id.clone(),
        country: request.country.clone(),
        quantity: request.quantity,
        pool: free,
        max_price: max_price.map(|m| m.micros()),
        got: Vec::new(),
    };
    let job_id = store
        .enqueue_job(
            &NewJob {
                kind: SMS_RENT.into(),
                payload: payload(&job)?,
                dedupe_key: None,
                run_at: now,
                max_attempts: RENT_TRIES,
                held_by: Some((
                    renter.node.clone(),
                    now + claim_ms(&providers, request.quantity),
                )),
            },
            now,
        )
        .await?
        .ok_or_else(|| StoreError::Conflict("the rental's job was not recorded".into()))?;
    let outcome = finish(renter, job_id, &mut job, now).await;
    if outcome.is_err() {
        // Given back (or booked) already: nothing is left for the queue.
        store.complete_job(job_id, &renter.node).await?;
    }
    outcome
}

/// How long the request's claim on its rental lasts: past the longest its calls can
/// take (each provider's timeout, per number and one more), never under two minutes.
fn claim_ms(providers: &[SmsProvider], quantity: i64) -> i64 {
    let round: i64 = providers
        .iter()
        .map(|p| sms_timeout(p).as_millis() as i64)
        .sum();
    round
        .saturating_mul(quantity + 1)
        .saturating_add(60_000)
        .max(120_000)
}

fn payload(job: &RentalJob) -> Result<String, StoreError> {
    serde_json::to_string(job).map_err(|e| StoreError::Config(format!("rental job: {e}")))
}

/// Rents from upstream what `job` still lacks, recording each number as it comes, then
/// books the whole rental and ends the job in one transaction. On any refusal the
/// numbers got are given back, and the job is left for the caller to end.
async fn finish(
    renter: &Upstream,
    job_id: i64,
    job: &mut RentalJob,
    now: i64,
) -> Result<Vec<Rental>, StoreError> {
    let store = &renter.store;
    let project = store
        .sms_project(&job.project)
        .await?
        .ok_or(refused(ApiError::SmsProjectNotFound))?;
    let offers = store
        .sms_prices_of(&project.id, job.country.as_deref())
        .await?;
    let max_price = job.max_price.map(Money::from_micros);
    let providers = store.sms_providers(true).await?;
    let candidates: Vec<(String, i64)> = offers
        .iter()
        .filter(|(_, _, price)| max_price.is_none_or(|m| *price <= m))
        .filter_map(|(code, activate_id, _)| activate_id.map(|n| (code.clone(), n)))
        .collect();
    let need = (job.quantity - job.pool).max(0) as usize;
    'offers: for (country_code, activate_id) in candidates {
        for provider in &providers {
            if job.got.len() >= need {
                break 'offers;
            }
            let client = match sms_client(provider, renter.allow_private) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(provider = %provider.name, error = %e, "SMS provider unusable");
                    continue;
                }
            };
            while job.got.len() < need {
                pause::point("sms.rent").await;
                match client.get_number(&project.code, Some(activate_id)).await {
                    Ok(number) => {
                        job.got.push(Got {
                            provider: provider.id.clone(),
                            external_id: number.id,
                            phone: format!("+{}", number.phone),
                            country: country_code.clone(),
                        });
                        // On record at once: whoever finishes the rental knows this number.
                        if !store
                            .record_job_progress(job_id, &renter.node, &payload(job)?, now)
                            .await?
                        {
                            tracing::warn!(job = job_id, "rental taken over by another node");
                        }
                    }
                    Err(e) => {
                        if e != sms_activate::Error::NoNumbers {
                            tracing::warn!(provider = %provider.name, error = %e, "SMS provider refused a rental");
                        }
                        break;
                    }
                }
            }
        }
    }
    if job.got.len() < need {
        give_back(renter, &job.got, &providers);
        return Err(refused(ApiError::SmsNoNumbers));
    }
    let upstream: Vec<UpstreamRental> = job.got.iter().map(UpstreamRental::from).collect();
    let lifetime_ms = store.sms_lifetime_ms().await?;
    let rent = SmsRent {
        user_id: &job.user,
        project_id: &project.id,
        country: job.country.as_deref(),
        pool: job.pool,
        phone: None,
        upstream: &upstream,
        max_price,
        lifetime_ms,
        settles_job: Some(job_id),
    };
    match store.rent_sms(&rent, now).await {
        Ok(RentOutcome::Rented(rentals)) => Ok(rentals),
        Ok(RentOutcome::Short { .. }) => {
            give_back(renter, &job.got, &providers);
            Err(refused(ApiError::SmsNoNumbers))
        }
        Err(e) => {
            give_back(renter, &job.got, &providers);
            Err(e)
        }
    }
}

/// The `sms.rent` job, taken over from a node that died mid-rental: finishes it.
/// A rental that cannot be booked any more (no numbers, no balance) ends too.
pub async fn rent_job(
    renter: &Upstream,
    job_id: i64,
    payload: &str,
    now: i64,
) -> Result<(), StoreError> {
    let mut job: RentalJob = serde_json::from_str(payload)
        .map_err(|e| StoreError::Config(format!("unreadable rental job: {e}")))?;
    match finish(renter, job_id, &mut job, now).await {
        Ok(rentals) => {
            tracing::info!(
                job = job_id,
                rentals = rentals.len(),
                "rental finished after its node died"
            );
            Ok(())
        }
        Err(StoreError::Rejected(e)) => {
            tracing::warn!(job = job_id, error = %e, "rental taken over could not be booked; numbers given back");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Best effort, in the background: gives back upstream numbers a failed rental will not
/// use. (A provider that refuses early cancels ends them itself when their lifetime is
/// over.)
fn give_back(renter: &Upstream, got: &[Got], providers: &[SmsProvider]) {
    let numbers: Vec<(Got, SmsProvider)> = got
        .iter()
        .filter_map(|g| {
            let provider = providers.iter().find(|p| p.id == g.provider)?;
            Some((g.clone(), provider.clone()))
        })
        .collect();
    if numbers.is_empty() {
        return;
    }
    let renter = renter.clone();
    tokio::spawn(async move {
        for (number, provider) in numbers {
            let result = match sms_client(&provider, renter.allow_private) {
                Ok(client) => client
                    .set_status(&number.external_id, SetStatus::Cancel)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(provider = %provider.name, error = %e, "could not cancel an unused upstream number");
            }
        }
    });
}
