//! Change signals for the caches of every node. Catalogue and auth changes bump a counter
//! in `state_versions` inside the changing transaction; stock changes bump the
//! subproduct's `stock_version`. On PostgreSQL each change is also pushed with NOTIFY
//! (delivered at commit); nodes poll the counters as a fallback.

use crate::db::{on_engine, tx_steps, Engine, EngineOf};
use crate::{Result, Store};

/// The PostgreSQL NOTIFY channel.
pub const CHANNEL: &str = "souk_changes";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StateVersions {
    pub catalogue: i64,
    pub auth: i64,
}

/// One change, as carried by a notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Catalogue(i64),
    Auth(i64),
    Stock {
        subproduct: String,
        version: i64,
        stock: i64,
    },
}

impl Change {
    pub fn payload(&self) -> String {
        match self {
            Change::Catalogue(v) => format!("catalogue:{v}"),
            Change::Auth(v) => format!("auth:{v}"),
            Change::Stock {
                subproduct,
                version,
                stock,
            } => format!("stock:{subproduct}:{version}:{stock}"),
        }
    }

    pub fn parse(payload: &str) -> Option<Change> {
        let mut parts = payload.split(':');
        match parts.next()? {
            "catalogue" => parts.next()?.parse().ok().map(Change::Catalogue),
            "auth" => parts.next()?.parse().ok().map(Change::Auth),
            "stock" => Some(Change::Stock {
                subproduct: parts.next()?.to_owned(),
                version: parts.next()?.parse().ok()?,
                stock: parts.next()?.parse().ok()?,
            }),
            _ => None,
        }
    }
}

/// A counter in `state_versions`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Counter {
    Catalogue,
    Auth,
}

tx_steps! {
    /// Change signals, inside a write transaction.
    pub(crate) trait Signals {
        /// Bumps the counter and, on PostgreSQL, queues its notification for commit.
        /// Answers the new `Change`.
        async fn bump_version(&mut self, counter: Counter) -> Result<Change> {
            let (sql, change): (&str, fn(i64) -> Change) = match counter {
                Counter::Catalogue => (
                    "UPDATE state_versions SET catalogue_version = catalogue_version + 1 WHERE id = 1 RETURNING catalogue_version",
                    Change::Catalogue,
                ),
                Counter::Auth => (
                    "UPDATE state_versions SET auth_version = auth_version + 1 WHERE id = 1 RETURNING auth_version",
                    Change::Auth,
                ),
            };
            let (v,): (i64,) = sqlx::query_as(sql).fetch_one(&mut *self).await?;
            let change = change(v);
            self.notify(&change).await?;
            Ok(change)
        }

        /// On PostgreSQL, NOTIFY at commit; nothing on SQLite.
        async fn notify(&mut self, change: &Change) -> Result<()> {
            if Self::ENGINE == Engine::Postgres {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(change.payload())
                    .execute(&mut *self)
                    .await?;
            }
            Ok(())
        }
    }
}

impl Store {
    pub async fn state_versions(&self) -> Result<StateVersions> {
        let (catalogue, auth): (i64, i64) = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT catalogue_version, auth_version FROM state_versions WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        Ok(StateVersions { catalogue, auth })
    }

    /// Every subproduct's stock and stock version, for the caches' periodic resync.
    pub async fn stock_levels(&self) -> Result<Vec<(String, i64, i64)>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id, stock_version, stock FROM subproducts")
                .fetch_all(pool)
                .await?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::Change;

    #[test]
    fn payloads_roundtrip() {
        for c in [
            Change::Catalogue(7),
            Change::Auth(3),
            Change::Stock {
                subproduct: "674a1f77bcf86cd799439011".into(),
                version: 12,
                stock: 0,
            },
        ] {
            assert_eq!(Change::parse(&c.payload()), Some(c));
        }
        assert_eq!(Change::parse("nonsense"), None);
    }
}
