//! Fallback providers: a service served by its own provider first, then by other
//! providers' services in the operator's priority order (`service_fallbacks`). An order
//! moves on only while nothing that may have reached a provider was sent for it; and the
//! provider that took it, with what it cost there, stays on the order for its profit.

use souk_core::Money;

use crate::db::{on_engine, BeginWrite};
use crate::forwarding::{ForwardJob, OrderJobSteps};
use crate::operator_audit::AuditSteps;
use crate::orders::OrderSteps;
use crate::{NewAuditEntry, Result, Store, StoreError};

/// The most fallbacks one service may have.
pub const MAX_FALLBACKS: usize = 10;

/// One provider's service that can serve a service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fallback {
    pub provider_id: String,
    pub provider_service: String,
}

/// A service's providers: its own first, then its fallbacks by priority.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceProviders {
    pub service: i64,
    pub primary: Option<Fallback>,
    pub fallbacks: Vec<Fallback>,
}

/// What the orders a provider took brought in: revenue net of refunds, their cost there
/// (in the same proportion), and the difference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderProfit {
    pub orders: i64,
    /// Orders whose cost there is unknown (not counted in `cost`).
    pub unknown_cost: i64,
    pub revenue: Money,
    pub cost: Money,
    pub profit: Money,
}

/// A service's own provider and provider service, and its entity.
type PrimaryRow = (Option<String>, Option<String>, String);

fn check_service_id(text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > 64 || !souk_core::input::is_clean(t, false) {
        return Err(StoreError::Invalid(
            "A fallback's service must be the provider's service id (1 to 64 characters)".into(),
        ));
    }
    Ok(t.to_owned())
}

impl Store {
    /// The service's providers in the order they are tried.
    pub async fn service_providers(&self, service: i64) -> Result<ServiceProviders> {
        let (primary, fallbacks): (Option<PrimaryRow>, Vec<(String, String)>) = on_engine!(&self.db, pool => {
            let primary = sqlx::query_as(
                "SELECT provider_id, provider_service, entity FROM services WHERE number = $1",
            )
            .bind(service)
            .fetch_optional(pool)
            .await?;
            let fallbacks = sqlx::query_as(
                "SELECT provider_id, provider_service FROM service_fallbacks \
                 WHERE service_number = $1 ORDER BY priority",
            )
            .bind(service)
            .fetch_all(pool)
            .await?;
            (primary, fallbacks)
        });
        let Some((provider_id, provider_service, _)) = primary else {
            return Err(StoreError::NotFound("Service"));
        };
        Ok(ServiceProviders {
            service,
            primary: provider_id
                .zip(provider_service)
                .map(|(provider_id, provider_service)| Fallback {
                    provider_id,
                    provider_service,
                }),
            fallbacks: fallbacks
                .into_iter()
                .map(|(provider_id, provider_service)| Fallback {
                    provider_id,
                    provider_service,
                })
                .collect(),
        })
    }

    /// Replaces the service's fallbacks with `list`, in priority order (empty: none). The
    /// service must be an SMM service with a provider; each fallback an API v2 provider's
    /// service, none twice and none the service's own. `audit` makes the row of the
    /// fallbacks before (read in the transaction that replaces them) and after, written
    /// in it.
    pub async fn set_service_fallbacks_audited(
        &self,
        service: i64,
        list: &[Fallback],
        now: i64,
        audit: impl FnOnce(&[Fallback], &[Fallback]) -> Option<NewAuditEntry> + Send,
    ) -> Result<ServiceProviders> {
        if list.len() > MAX_FALLBACKS {
            return Err(StoreError::Invalid(format!(
                "A service may have at most {MAX_FALLBACKS} fallbacks"
            )));
        }
        let current = self.service_providers(service).await?;
        let entity: (String,) = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT entity FROM services WHERE number = $1")
                .bind(service)
                .fetch_one(pool)
                .await?
        });
        if entity.0 != "smm" {
            return Err(StoreError::Invalid("Fallbacks are for SMM services".into()));
        }
        let Some(primary) = current.primary else {
            return Err(StoreError::Invalid(
                "The service is not connected to a provider".into(),
            ));
        };
        let mut clean: Vec<Fallback> = Vec::with_capacity(list.len());
        for f in list {
            let f = Fallback {
                provider_id: f.provider_id.trim().to_owned(),
                provider_service: check_service_id(&f.provider_service)?,
            };
            let provider = match self.provider(&f.provider_id).await {
                Ok(p) => p,
                Err(StoreError::NotFound(_)) => {
                    return Err(StoreError::Invalid(format!(
                        "Provider {:?} not found",
                        souk_core::input::field_label(&f.provider_id)
                    )))
                }
                Err(e) => return Err(e),
            };
            if provider.protocol != "api_v2" {
                return Err(StoreError::Invalid(format!(
                    "Provider {} does not speak API v2",
                    provider.name
                )));
            }
            if f == primary || clean.contains(&f) {
                return Err(StoreError::Invalid(format!(
                    "Service {} of provider {} is listed twice",
                    f.provider_service, provider.name
                )));
            }
            clean.push(f);
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Vec<(String, String)> = sqlx::query_as(
                "SELECT provider_id, provider_service FROM service_fallbacks \
                 WHERE service_number = $1 ORDER BY priority",
            )
            .bind(service)
            .fetch_all(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM service_fallbacks WHERE service_number = $1")
                .bind(service)
                .execute(&mut *tx)
                .await?;
            for (i, f) in clean.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO service_fallbacks (service_number, priority, provider_id, provider_service) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(service)
                .bind(i as i64 + 1)
                .bind(&f.provider_id)
                .bind(&f.provider_service)
                .execute(&mut *tx)
                .await?;
            }
            let before: Vec<Fallback> = before
                .into_iter()
                .map(|(provider_id, provider_service)| Fallback { provider_id, provider_service })
                .collect();
            if let Some(entry) = audit(&before, &clean) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        self.service_providers(service).await
    }

    /// Moves a claimed order on to the next of its service's providers after the one it
    /// is bound to (skipping disabled ones), its job due at once with fresh counts; `why`
    /// goes to its events. Never for an order a send may have reached (`unknown_since`):
    /// then, or with no provider left, nothing changes and `None` is answered.
    pub async fn fall_over(
        &self,
        job: &ForwardJob,
        node: &str,
        why: &str,
        now: i64,
    ) -> Result<Option<Fallback>> {
        if job.unknown_since.is_some() || job.provider_subproduct.is_some() {
            return Ok(None);
        }
        let service: Option<(i64,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT service_number FROM orders WHERE id = $1 AND kind = 'smm'")
                .bind(job.order_id)
                .fetch_optional(pool)
                .await?
        });
        let Some((service,)) = service else {
            return Ok(None);
        };
        let providers = self.service_providers(service).await?;
        let chain: Vec<Fallback> = providers
            .primary
            .into_iter()
            .chain(providers.fallbacks)
            .collect();
        let bound = Fallback {
            provider_id: job.provider_id.clone(),
            provider_service: job.provider_service.clone(),
        };
        // Only onwards from where the order is: it never goes back to one it left.
        let Some(at) = chain.iter().position(|f| *f == bound) else {
            return Ok(None);
        };
        let mut next = None;
        for f in &chain[at + 1..] {
            if self.provider(&f.provider_id).await.is_ok_and(|p| p.enabled) {
                next = Some(f.clone());
                break;
            }
        }
        let Some(next) = next else {
            return Ok(None);
        };
        let payload =
            serde_json::json!({ "order": job.order_id, "sends": 0, "refusals": 0 }).to_string();
        let detail = format!(
            "from provider {} service {} to provider {} service {}: {why}",
            bound.provider_id, bound.provider_service, next.provider_id, next.provider_service
        );
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            // `sent_at` is this try's mark: the send surely did not arrive.
            let moved = sqlx::query(
                "UPDATE orders SET provider_id = $1, provider_service = $2, sent_at = NULL, updated_at = $3 \
                 WHERE id = $4 AND status = 'pending' AND external_id IS NULL \
                 AND provider_id = $5 AND provider_service = $6",
            )
            .bind(&next.provider_id)
            .bind(&next.provider_service)
            .bind(now)
            .bind(job.order_id)
            .bind(&bound.provider_id)
            .bind(&bound.provider_service)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if !moved || !tx.release_claimed(job.job_id, node, &payload, why, Some(now), now).await? {
                tx.rollback().await?;
                return Ok(None);
            }
            tx.order_event(job.order_id, "fallback", &detail, now).await?;
            tx.commit().await?;
        });
        Ok(Some(next))
    }

    /// What the orders `provider` took brought in, net of refunds.
    pub async fn provider_profit(&self, provider_id: &str) -> Result<ProviderProfit> {
        self.provider(provider_id).await?;
        let rows: Vec<(i64, i64, Option<i64>)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT charge, refunded, provider_cost FROM orders \
                 WHERE provider_id = $1 AND external_id IS NOT NULL",
            )
            .bind(provider_id)
            .fetch_all(pool)
            .await?
        });
        let (mut revenue, mut cost, mut unknown) = (0i128, 0i128, 0i64);
        for (charge, refunded, provider_cost) in &rows {
            let kept = i128::from(charge - refunded);
            revenue += kept;
            match provider_cost {
                // The provider refunds its part in the proportion we refunded ours.
                Some(c) if *charge > 0 => cost += i128::from(*c) * kept / i128::from(*charge),
                Some(_) => {}
                None => unknown += 1,
            }
        }
        let money = |v: i128| Money::from_micros(i64::try_from(v).unwrap_or(i64::MAX));
        Ok(ProviderProfit {
            orders: rows.len() as i64,
            unknown_cost: unknown,
            revenue: money(revenue),
            cost: money(cost),
            profit: money(revenue - cost),
        })
    }
}
