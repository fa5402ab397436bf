//! API key checks with a small cache, so catalogue reads need no database round trip.
//! Suspensions, rotations and revocations bump the auth version, which empties the cache
//! on every node (NOTIFY, poll); entries also expire after a minute.

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use souk_core::ApiError;
use souk_store::crypto::digest_secret;
use souk_store::{AuthUser, Store, StoreError};

const TTL: Duration = Duration::from_secs(60);
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct AuthCache {
    entries: RwLock<HashMap<String, (AuthUser, Instant)>>,
    version: Mutex<i64>,
}

impl AuthCache {
    /// The active user behind `key`, or `Invalid API key`.
    pub async fn check(
        &self,
        store: &Store,
        key: Option<&str>,
    ) -> Result<Result<AuthUser, ApiError>, StoreError> {
        let Some(key) = key.filter(|k| !k.is_empty() && k.len() <= 256) else {
            return Ok(Err(ApiError::InvalidApiKey));
        };
        let digest = digest_secret(key);
        let cached = self
            .entries
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&digest)
            .filter(|(_, at)| at.elapsed() < TTL)
            .map(|(user, _)| user.clone());
        let user = match cached {
            Some(user) => Some(user),
            None => {
                let version_before = self.version();
                let found = store.authenticate(key).await?;
                if let Some(user) = &found {
                    let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
                    // Do not cache a read that an invalidation may have overtaken.
                    if self.version() == version_before {
                        if entries.len() >= MAX_ENTRIES {
                            entries.clear();
                        }
                        entries.insert(digest, (user.clone(), Instant::now()));
                    }
                }
                found
            }
        };
        Ok(match user {
            Some(user) if user.active => Ok(user),
            _ => Err(ApiError::InvalidApiKey),
        })
    }

    fn version(&self) -> i64 {
        *self.version.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets everything if `version` is newer than what the cache has seen.
    pub fn invalidate_to(&self, version: i64) {
        let mut current = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if version > *current {
            *current = version;
            self.entries
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .clear();
        }
    }
}
