//! Configuration from flags and `SOUK_*` environment variables.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use souk_api::{ApiConfig, CookieSecure, Throttle};
use souk_store::{Crypto, SqliteSync};

pub const DEFAULT_DATABASE_URL: &str = "sqlite://souk.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn env_u32(name: &str, default: u32) -> anyhow::Result<u32> {
    match env(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{name} must be a non-negative integer, got {v:?}")),
    }
}

/// Parses `500ms`, `10s`, `2m` or a bare number of seconds.
pub fn parse_duration(text: &str) -> anyhow::Result<Duration> {
    let t = text.trim();
    let (number, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("bad duration {text:?}"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        "h" => Duration::from_secs(n * 3600),
        _ => bail!("bad duration {text:?} (use ms, s, m or h)"),
    })
}

pub fn api_config() -> anyhow::Result<ApiConfig> {
    let defaults = ApiConfig::default();
    Ok(ApiConfig {
        currency: env("SOUK_CURRENCY").unwrap_or(defaults.currency),
        rate_limit_per_key: env_u32("SOUK_RATE_LIMIT_PER_KEY", defaults.rate_limit_per_key)?,
        rate_limit_per_address: env_u32(
            "SOUK_RATE_LIMIT_PER_ADDRESS",
            defaults.rate_limit_per_address,
        )?,
        trusted_proxy_hops: trusted_proxy_hops()?,
        throttle: Throttle {
            per_email: env_u32(
                "SOUK_SIGNIN_LIMIT_PER_EMAIL",
                defaults.throttle.per_email as u32,
            )?
            .into(),
            per_address: env_u32(
                "SOUK_SIGNIN_LIMIT_PER_ADDRESS",
                defaults.throttle.per_address as u32,
            )?
            .into(),
            window: defaults.throttle.window,
        },
        poll_interval: match env("SOUK_POLL_INTERVAL") {
            Some(v) => parse_duration(&v)?,
            None => defaults.poll_interval,
        },
        admin_token: env("SOUK_ADMIN_TOKEN"),
        allow_private_upstreams: allow_private_upstreams(),
        metrics_listen: env("SOUK_METRICS_LISTEN"),
        public_url: match env("SOUK_PUBLIC_URL") {
            Some(url) => match souk_core::web_url::web_url(&url, 300) {
                Ok(url) => Some(url),
                Err(e) => bail!("SOUK_PUBLIC_URL {e}, got {url:?}"),
            },
            None => None,
        },
        cookie_secure: match env("SOUK_COOKIE_SECURE").as_deref() {
            None | Some("auto") => CookieSecure::Auto,
            Some("1" | "true") => CookieSecure::Always,
            Some("0" | "false") => CookieSecure::Never,
            Some(other) => bail!("SOUK_COOKIE_SECURE must be auto, 1 or 0, got {other:?}"),
        },
    })
}

/// How many reverse proxies in front of Souk append to `X-Forwarded-For`:
/// `SOUK_TRUSTED_PROXY_HOPS=N`, or `SOUK_TRUST_PROXY=1` for one (the usual nginx).
fn trusted_proxy_hops() -> anyhow::Result<usize> {
    if env("SOUK_TRUSTED_PROXY_HOPS").is_some() {
        return Ok(env_u32("SOUK_TRUSTED_PROXY_HOPS", 0)? as usize);
    }
    Ok(usize::from(env("SOUK_TRUST_PROXY").is_some_and(|v| {
        v == "1" || v.eq_ignore_ascii_case("true")
    })))
}

/// `SOUK_ALLOW_PRIVATE_UPSTREAMS=1`: providers and webhooks may live on private or
/// loopback addresses (tests, private networks).
pub fn allow_private_upstreams() -> bool {
    env("SOUK_ALLOW_PRIVATE_UPSTREAMS").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// `SOUK_SYNC_INTERVAL` (default 10s): how often open upstream orders are polled.
pub fn sync_interval() -> anyhow::Result<Duration> {
    env("SOUK_SYNC_INTERVAL").map_or(Ok(Duration::from_secs(10)), |v| parse_duration(&v))
}

/// `SOUK_WORKERS=0` keeps background work out of `souk serve` (run `souk worker` instead).
pub fn workers_in_serve() -> bool {
    env("SOUK_WORKERS").is_none_or(|v| v != "0" && !v.eq_ignore_ascii_case("false"))
}

/// `SOUK_SQLITE_SYNCHRONOUS`: `full` (default: a commit survives power loss) or `normal`
/// (faster commits; the last ones before an OS crash can be lost).
pub fn sqlite_synchronous() -> anyhow::Result<SqliteSync> {
    match env("SOUK_SQLITE_SYNCHRONOUS") {
        None => Ok(SqliteSync::Full),
        Some(v) => SqliteSync::parse(&v)
            .with_context(|| format!("SOUK_SQLITE_SYNCHRONOUS must be full or normal, got {v:?}")),
    }
}

/// `SOUK_GROUP_COMMIT`: on (default) or `off`: on SQLite, orders placed at the same time
/// share one commit, each in a savepoint of its own; off, each order commits alone.
pub fn group_commit() -> bool {
    env("SOUK_GROUP_COMMIT").is_none_or(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "0" | "off" | "false" | "no"
        )
    })
}

pub fn max_connections() -> anyhow::Result<u32> {
    env_u32("SOUK_DB_MAX_CONNECTIONS", 16)
}

/// The data key that seals stock lines and provider secrets.
pub enum DataKey {
    /// From `SOUK_DATA_KEY` or an existing key file.
    Given([u8; 32]),
    /// None was found: a fresh key, written to `path` only once the database has no key
    /// of its own (`server::open_store`).
    Fresh { key: [u8; 32], path: PathBuf },
}

impl DataKey {
    pub fn bytes(&self) -> &[u8; 32] {
        match self {
            DataKey::Given(key) | DataKey::Fresh { key, .. } => key,
        }
    }

    /// Writes a fresh key to its file (owner-only permissions).
    pub fn save(&self) -> anyhow::Result<()> {
        if let DataKey::Fresh { key, path } = self {
            write_private(path, &hex::encode(key))
                .with_context(|| format!("cannot write the data key file {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new data key; back it up with the database");
        }
        Ok(())
    }

    /// Removes a fresh key's file again (the database turned out to have another key).
    pub fn discard(&self) {
        if let DataKey::Fresh { path, .. } = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `SOUK_DATA_KEY` (64 hex), else the key file (`SOUK_KEY_FILE`, default `souk.key` beside
/// a SQLite database or in the working directory), else a fresh key for that file.
pub fn data_key(database_url: &str) -> anyhow::Result<DataKey> {
    if let Some(hex_key) = env("SOUK_DATA_KEY") {
        return Ok(DataKey::Given(
            Crypto::parse_key(&hex_key).context("SOUK_DATA_KEY")?,
        ));
    }
    let path = key_file_path(database_url);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read the data key file {}", path.display()))?;
        return Ok(DataKey::Given(Crypto::parse_key(&text).with_context(
            || format!("bad data key file {}", path.display()),
        )?));
    }
    Ok(DataKey::Fresh {
        key: Crypto::generate_key(),
        path,
    })
}

/// Where the data key file is looked for: `SOUK_KEY_FILE`, else beside a SQLite
/// database (or `souk.key` in the working directory).
pub fn key_file_path(database_url: &str) -> PathBuf {
    env("SOUK_KEY_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|| default_key_path(database_url))
}

/// The file a `sqlite://` URL names (`None` for another engine or an in-memory one).
pub fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let file = rest.split('?').next().unwrap_or(rest);
    (!file.is_empty() && !file.contains(":memory:")).then(|| PathBuf::from(file))
}

fn default_key_path(database_url: &str) -> PathBuf {
    match sqlite_path(database_url) {
        Some(db) => {
            let stem = db
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "souk".into());
            db.with_file_name(format!("{stem}.key"))
        }
        None => PathBuf::from("souk.key"),
    }
}

/// Writes `text` to `path` with owner-only permissions, refusing to replace a file, and
/// syncs it (a data key must outlive a crash right after it was made).
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").ok(), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_duration("250ms").ok(),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_duration("2m").ok(), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("7").ok(), Some(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
    }

    #[test]
    fn key_file_sits_beside_the_database() {
        assert_eq!(
            default_key_path("sqlite://data/shop.db"),
            PathBuf::from("data/shop.key")
        );
        assert_eq!(
            default_key_path("sqlite://souk.db?mode=rwc"),
            PathBuf::from("souk.key")
        );
        assert_eq!(
            default_key_path("postgres://db/souk"),
            PathBuf::from("souk.key")
        );
    }
}
