//! The operator's side of SMS verification: countries, projects and their translations,
//! prices, gateways (with their webhook secrets sealed at rest), pool numbers and the
//! projects they serve, sms-activate upstream providers, and what happened (messages,
//! activations).

use crate::rows::row_struct;
use souk_core::id::new_entity_id;
use souk_core::sms::{normalize_country, normalize_phone};
use souk_core::{Lang, Money, Text};

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::{Result, SmsCountry, SmsProject, Store, StoreError};

#[derive(Clone, Debug)]
pub struct NewSmsCountry {
    pub code: String,
    pub name: Text,
    pub activate_id: Option<i64>,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct NewSmsProject {
    /// The short service code (`tg`, `wa`), 1 to 16 of `a-z0-9_`.
    pub code: String,
    pub name: Text,
}

#[derive(Clone, Debug)]
pub struct NewSmsNumber {
    pub phone: String,
    pub country: String,
    pub gateway_id: Option<String>,
    /// Project ids or codes the number may serve.
    pub projects: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsGateway {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsNumber {
    pub id: String,
    pub phone: String,
    pub country_code: String,
    pub gateway_id: Option<String>,
    pub active: bool,
    /// Project codes.
    pub projects: Vec<String>,
    pub current_order: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsPrice {
    pub project_id: String,
    pub project_code: String,
    pub country_code: String,
    pub price: Money,
}

/// An upstream provider speaking the sms-activate protocol, key in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsProvider {
    pub id: String,
    pub name: String,
    pub url: String,
    pub api_key: String,
    pub enabled: bool,
    pub timeout_ms: i64,
}

impl std::fmt::Debug for SmsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsProvider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SmsMessage {
        pub id: i64,
        pub gateway_id: Option<String>,
        pub phone: String,
        pub sender: String,
        pub text: String,
        pub code: Option<String>,
        pub order_id: Option<i64>,
        pub received_at: i64,
    }
}

row_struct! {
    /// An activation as the operator lists it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SmsActivationRow {
        pub order_id: i64,
        pub user_id: String,
        pub project_id: String,
        pub country_code: String,
        pub phone: String,
        pub status: String,
        pub price: i64,
        pub code: Option<String>,
        pub provider_id: Option<String>,
        pub external_id: Option<String>,
        pub upstream_state: String,
        pub expires_at: i64,
        pub created_at: i64,
    }
}

/// A pool number as read: id, phone, country, gateway, on, the order renting it.
type NumberRow = (String, String, String, Option<String>, bool, Option<i64>);

tx_steps! {
    /// The SMS pool's shared steps, inside a write transaction.
    trait PoolSteps {
        /// Replaces the translations of an SMS name.
        async fn write_name(&mut self, entity: &str, id: &str, text: &Text) -> Result<()> {
            for (lang, value) in text.translations() {
                sqlx::query(
                    "INSERT INTO translations (entity, entity_id, field, lang, value) VALUES ($1, $2, 'name', $3, $4) \
                     ON CONFLICT (entity, entity_id, field, lang) DO UPDATE SET value = excluded.value",
                )
                .bind(entity)
                .bind(id)
                .bind(lang.code())
                .bind(&**value)
                .execute(&mut *self)
                .await?;
            }
            Ok(())
        }

        /// An SMS name as stored: its English text and its translations.
        async fn name_in(&mut self, entity: &str, id: &str, en: String) -> Result<Text> {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT lang, value FROM translations WHERE entity = $1 AND entity_id = $2 AND field = 'name'",
            )
            .bind(entity)
            .bind(id)
            .fetch_all(&mut *self)
            .await?;
            let mut text = Text::new(en);
            for (lang, value) in rows {
                if let Some(lang) = Lang::parse(&lang) {
                    text.set(lang, value);
                }
            }
            Ok(text)
        }

        /// A country as it is, read in the change's transaction for its audit row.
        async fn country_in(&mut self, code: &str) -> Result<Option<SmsCountry>> {
            let row: Option<(String, Option<i64>, bool)> =
                sqlx::query_as("SELECT name, activate_id, active FROM sms_countries WHERE code = $1")
                    .bind(code)
                    .fetch_optional(&mut *self)
                    .await?;
            let Some((name, activate_id, active)) = row else {
                return Ok(None);
            };
            let name = self.name_in("sms_country", code, name).await?;
            Ok(Some(SmsCountry { code: code.to_owned(), name, activate_id, active }))
        }

        /// A project (by id or code) as it is, read in the change's transaction.
        async fn project_in(&mut self, reference: &str) -> Result<Option<SmsProject>> {
            let row: Option<(String, String, String, bool)> =
                sqlx::query_as("SELECT id, code, name, active FROM sms_projects WHERE id = $1 OR code = $1")
                    .bind(reference)
                    .fetch_optional(&mut *self)
                    .await?;
            let Some((id, code, name, active)) = row else {
                return Ok(None);
            };
            let name = self.name_in("sms_project", &id, name).await?;
            Ok(Some(SmsProject { id, code, name, active }))
        }

        /// A gateway as it is, read in the change's transaction.
        async fn gateway_in(&mut self, id: &str) -> Result<Option<SmsGateway>> {
            let row: Option<(String, String, bool, i64)> =
                sqlx::query_as("SELECT id, name, active, created_at FROM sms_gateways WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await?;
            Ok(row.map(|(id, name, active, created_at)| SmsGateway { id, name, active, created_at }))
        }

        /// A pool number (by id or phone) and the codes of its projects, read in the
        /// change's transaction.
        async fn number_in(&mut self, reference: &str) -> Result<Option<SmsNumber>> {
            let phone = normalize_phone(reference).unwrap_or_default();
            let row: Option<NumberRow> = sqlx::query_as(
                "SELECT id, phone, country_code, gateway_id, active, current_order FROM sms_numbers \
                 WHERE id = $1 OR phone = $2",
            )
            .bind(reference.trim())
            .bind(&phone)
            .fetch_optional(&mut *self)
            .await?;
            let Some((id, phone, country_code, gateway_id, active, current_order)) = row else {
                return Ok(None);
            };
            let projects: Vec<(String,)> = sqlx::query_as(
                "SELECT p.code FROM sms_number_projects np JOIN sms_projects p ON p.id = np.project_id \
                 WHERE np.number_id = $1 ORDER BY p.code",
            )
            .bind(&id)
            .fetch_all(&mut *self)
            .await?;
            Ok(Some(SmsNumber {
                id,
                phone,
                country_code,
                gateway_id,
                active,
                projects: projects.into_iter().map(|(code,)| code).collect(),
                current_order,
            }))
        }

        /// Links a number to projects given by id or code; an unknown one is `Invalid`.
        async fn set_number_projects(&mut self, number: &str, projects: &[String]) -> Result<()> {
            for project in projects.iter() {
                let project = project.trim().to_ascii_lowercase();
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT id FROM sms_projects WHERE id = $1 OR code = $1")
                        .bind(&project)
                        .fetch_optional(&mut *self)
                        .await?;
                let Some((project_id,)) = row else {
                    return Err(StoreError::Invalid(format!("Unknown project {project}")));
                };
                sqlx::query(
                    "INSERT INTO sms_number_projects (number_id, project_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                )
                .bind(number)
                .bind(&project_id)
                .execute(&mut *self)
                .await?;
            }
            Ok(())
        }
    }
}

fn project_code(code: &str) -> Result<String> {
    let c = code.trim().to_ascii_lowercase();
    if (1..=16).contains(&c.len())
        && c.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(c)
    } else {
        Err(StoreError::Invalid(format!(
            "Invalid project code {code:?} (1 to 16 of a-z, 0-9, _)"
        )))
    }
}

fn country_code(code: &str) -> Result<String> {
    normalize_country(code).ok_or_else(|| {
        StoreError::Invalid(format!(
            "Invalid country code {code:?} (ISO 3166-1 alpha-2)"
        ))
    })
}

fn non_empty(what: &str, text: &str) -> Result<()> {
    if text.trim().is_empty() {
        Err(StoreError::Invalid(format!("{what} must not be empty")))
    } else {
        Ok(())
    }
}

impl Store {
    /// Creates or updates a country (name, translations, protocol number, active).
    pub async fn upsert_sms_country(&self, c: &NewSmsCountry) -> Result<()> {
        self.upsert_sms_country_audited(c, 0, |_| None).await
    }

    /// `upsert_sms_country` with the audit row `audit` makes of the country before
    /// (read in the transaction; `None` when new), written in the transaction of the
    /// change at `now` (none for `None`). Languages `c` does not name keep their text.
    pub async fn upsert_sms_country_audited(
        &self,
        c: &NewSmsCountry,
        now: i64,
        audit: impl FnOnce(Option<&SmsCountry>) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        let code = country_code(&c.code)?;
        non_empty("Country name", c.name.en())?;
        if c.activate_id.is_some_and(|id| id < 0) {
            return Err(StoreError::Invalid(
                "The sms-activate country number must not be negative".into(),
            ));
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.country_in(&code).await?;
            sqlx::query(
                "INSERT INTO sms_countries (code, name, activate_id, active) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (code) DO UPDATE SET name = excluded.name, activate_id = excluded.activate_id, \
                 active = excluded.active",
            )
            .bind(&code)
            .bind(c.name.en().trim())
            .bind(c.activate_id)
            .bind(c.active)
            .execute(&mut *tx)
            .await?;
            tx.write_name("sms_country", &code, &c.name).await?;
            if let Some(entry) = audit(before.as_ref()) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Renames a country (its English name, `en`, and the `translations` given;
    /// languages not given keep their text) or turns it on or off, leaving what the
    /// change does not name (its sms-activate number) as it is at the write, with the
    /// audit row `audit` makes of the country before (read, and on PostgreSQL locked, in
    /// the transaction), written in the transaction of the change at `now` (none for
    /// `None`).
    pub async fn update_sms_country_audited(
        &self,
        code: &str,
        en: Option<&str>,
        translations: &[(Lang, String)],
        active: Option<bool>,
        now: i64,
        audit: impl FnOnce(&SmsCountry) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        let code = country_code(code)?;
        if let Some(en) = en {
            non_empty("Country name", en)?;
        }
        let lock = if self.engine() == crate::db::Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let lock_sql = format!("SELECT code FROM sms_countries WHERE code = $1{lock}");
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            // Locked first so the before read below is the row this change replaces.
            let found: Option<(String,)> = sqlx::query_as(&lock_sql)
                .bind(&code)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound("Country"));
            }
            let Some(before) = tx.country_in(&code).await? else {
                return Err(StoreError::NotFound("Country"));
            };
            let mut name = Text::new(en.map_or(before.name.en(), str::trim));
            for (lang, value) in translations {
                name.set(*lang, value.trim());
            }
            sqlx::query("UPDATE sms_countries SET name = $1, active = COALESCE($2, active) WHERE code = $3")
                .bind(name.en())
                .bind(active)
                .bind(&code)
                .execute(&mut *tx)
                .await?;
            tx.write_name("sms_country", &code, &name).await?;
            if let Some(entry) = audit(&before) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Creates a project; returns its entity id.
    pub async fn create_sms_project(&self, p: &NewSmsProject, now: i64) -> Result<String> {
        self.create_sms_project_audited(p, now, |_| None).await
    }

    /// `create_sms_project` with the audit row `audit` makes of the new project's id,
    /// written in the transaction of the change (none for `None`).
    pub async fn create_sms_project_audited(
        &self,
        p: &NewSmsProject,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        let code = project_code(&p.code)?;
        non_empty("Project name", p.name.en())?;
        let id = new_entity_id();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let inserted = sqlx::query(
                "INSERT INTO sms_projects (id, code, name, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (code) DO NOTHING",
            )
            .bind(&id)
            .bind(&code)
            .bind(p.name.en().trim())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("A project with code {code} already exists")));
            }
            tx.write_name("sms_project", &id, &p.name).await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Renames a project, found by id or code (its English name, `en`, and the
    /// `translations` given; languages not given keep their text) or (de)activates it,
    /// with the audit row `audit` makes of the project before (read in the
    /// transaction), written in the transaction of the change at `now` (none for
    /// `None`). Returns its id.
    pub async fn update_sms_project_audited(
        &self,
        reference: &str,
        en: Option<&str>,
        translations: &[(Lang, String)],
        active: Option<bool>,
        now: i64,
        audit: impl FnOnce(&SmsProject) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        if let Some(en) = en {
            non_empty("Project name", en)?;
        }
        let reference = reference.trim().to_ascii_lowercase();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let Some(before) = tx.project_in(&reference).await? else {
                return Err(StoreError::NotFound("Project"));
            };
            let id = before.id.clone();
            if let Some(en) = en {
                sqlx::query("UPDATE sms_projects SET name = $1 WHERE id = $2")
                    .bind(en.trim())
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            let mut name = Text::new(en.map_or(before.name.en(), str::trim));
            for (lang, value) in translations {
                name.set(*lang, value.trim());
            }
            tx.write_name("sms_project", &id, &name).await?;
            if let Some(active) = active {
                sqlx::query("UPDATE sms_projects SET active = $1 WHERE id = $2")
                    .bind(active)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(entry) = audit(&before) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Sets the price of a project (id or code) in a country; `None` stops selling it
    /// there.
    pub async fn set_sms_price(
        &self,
        project: &str,
        country: &str,
        price: Option<Money>,
    ) -> Result<()> {
        self.set_sms_price_audited(project, country, price, 0, |_| None)
            .await
    }

    /// `set_sms_price` with the audit row `audit` makes of the price before (read in the
    /// transaction; `None` when it was not sold), written in the transaction of the
    /// change at `now` (none for `None`).
    pub async fn set_sms_price_audited(
        &self,
        project: &str,
        country: &str,
        price: Option<Money>,
        now: i64,
        audit: impl FnOnce(Option<Money>) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        let country = country_code(country)?;
        if price.is_some_and(Money::is_negative) {
            return Err(StoreError::Invalid("Price must not be negative".into()));
        }
        let project = project.trim().to_ascii_lowercase();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<(String,)> = sqlx::query_as("SELECT id FROM sms_projects WHERE id = $1 OR code = $1")
                .bind(&project)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((project_id,)) = row else {
                return Err(StoreError::NotFound("Project"));
            };
            let exists: Option<(String,)> = sqlx::query_as("SELECT code FROM sms_countries WHERE code = $1")
                .bind(&country)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound("Country"));
            }
            let before: Option<(i64,)> = sqlx::query_as(
                "SELECT price FROM sms_prices WHERE project_id = $1 AND country_code = $2",
            )
            .bind(&project_id)
            .bind(&country)
            .fetch_optional(&mut *tx)
            .await?;
            match price {
                Some(price) => {
                    sqlx::query(
                        "INSERT INTO sms_prices (project_id, country_code, price) VALUES ($1, $2, $3) \
                         ON CONFLICT (project_id, country_code) DO UPDATE SET price = excluded.price",
                    )
                    .bind(&project_id)
                    .bind(&country)
                    .bind(price.micros())
                    .execute(&mut *tx)
                    .await?;
                }
                None => {
                    sqlx::query("DELETE FROM sms_prices WHERE project_id = $1 AND country_code = $2")
                        .bind(&project_id)
                        .bind(&country)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            if let Some(entry) = audit(before.map(|(m,)| Money::from_micros(m))) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn sms_prices(&self) -> Result<Vec<SmsPrice>> {
        let rows: Vec<(String, String, String, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT p.id, p.code, pr.country_code, pr.price FROM sms_prices pr JOIN sms_projects p ON p.id = pr.project_id \
                 ORDER BY p.code, pr.country_code",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(project_id, project_code, country_code, price)| SmsPrice {
                project_id,
                project_code,
                country_code,
                price: Money::from_micros(price),
            })
            .collect())
    }

    /// Registers a gateway with its webhook secret (sealed at rest); returns its id.
    pub async fn create_sms_gateway(&self, name: &str, secret: &str, now: i64) -> Result<String> {
        self.create_sms_gateway_audited(name, secret, now, |_| None)
            .await
    }

    fn check_gateway_secret(secret: &str) -> Result<()> {
        if secret.len() < 16 {
            return Err(StoreError::Invalid(
                "A gateway secret needs at least 16 characters".into(),
            ));
        }
        Ok(())
    }

    /// `create_sms_gateway` with the audit row `audit` makes of the new gateway's id,
    /// written in the transaction of the change (none for `None`).
    pub async fn create_sms_gateway_audited(
        &self,
        name: &str,
        secret: &str,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        non_empty("Gateway name", name)?;
        Self::check_gateway_secret(secret)?;
        let id = new_entity_id();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("INSERT INTO sms_gateways (id, name, secret_enc, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&id)
                .bind(name.trim())
                .bind(self.crypto.seal(secret))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Renames a gateway, turns it on or off, or replaces its webhook secret (each when
    /// given), with the audit row `audit` makes of the gateway before (read in the
    /// transaction), written in the transaction of the change at `now` (none for `None`).
    pub async fn update_sms_gateway_audited(
        &self,
        id: &str,
        name: Option<&str>,
        active: Option<bool>,
        secret: Option<&str>,
        now: i64,
        audit: impl FnOnce(&SmsGateway) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        if let Some(name) = name {
            non_empty("Gateway name", name)?;
        }
        if let Some(secret) = secret {
            Self::check_gateway_secret(secret)?;
        }
        let sealed = secret.map(|s| self.crypto.seal(s));
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let Some(before) = tx.gateway_in(id).await? else {
                return Err(StoreError::NotFound("Gateway"));
            };
            sqlx::query(
                "UPDATE sms_gateways SET name = COALESCE($1, name), active = COALESCE($2, active), \
                 secret_enc = COALESCE($3, secret_enc) WHERE id = $4",
            )
            .bind(name.map(str::trim))
            .bind(active)
            .bind(&sealed)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if let Some(entry) = audit(&before) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    pub async fn sms_gateways(&self) -> Result<Vec<SmsGateway>> {
        let rows: Vec<(String, String, bool, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id, name, active, created_at FROM sms_gateways ORDER BY created_at, id")
                .fetch_all(pool)
                .await?
        });
        Ok(rows
            .into_iter()
            .map(|(id, name, active, created_at)| SmsGateway {
                id,
                name,
                active,
                created_at,
            })
            .collect())
    }

    /// Adds a number to the pool; returns its id.
    pub async fn add_sms_number(&self, n: &NewSmsNumber, now: i64) -> Result<String> {
        self.add_sms_number_audited(n, now, |_| None).await
    }

    /// `add_sms_number` with the audit row `audit` makes of the new number's id,
    /// written in the transaction of the change (none for `None`).
    pub async fn add_sms_number_audited(
        &self,
        n: &NewSmsNumber,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        let id = new_entity_id();
        let phone = normalize_phone(&n.phone)
            .ok_or_else(|| StoreError::Invalid(format!("Invalid phone number {:?}", n.phone)))?;
        let country = country_code(&n.country)?;

        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let exists: Option<(String,)> = sqlx::query_as("SELECT code FROM sms_countries WHERE code = $1")
                .bind(&country)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound("Country"));
            }
            if let Some(gateway) = &n.gateway_id {
                let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM sms_gateways WHERE id = $1")
                    .bind(gateway)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Err(StoreError::NotFound("Gateway"));
                }
            }
            let inserted = sqlx::query(
                "INSERT INTO sms_numbers (id, phone, country_code, gateway_id, created_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (phone) DO NOTHING",
            )
            .bind(&id)
            .bind(&phone)
            .bind(&country)
            .bind(&n.gateway_id)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(StoreError::Conflict(format!("The number {phone} is already in the pool")));
            }
            tx.set_number_projects(&id, &n.projects).await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(id)
    }

    /// (De)activates a number (found by id or phone) or replaces the projects it serves,
    /// with the audit row `audit` makes of the number before (read in the transaction),
    /// written in the transaction of the change at `now` (none for `None`). A
    /// deactivated number finishes its current activation but gets no new one. Returns
    /// its id.
    pub async fn update_sms_number_audited(
        &self,
        reference: &str,
        active: Option<bool>,
        projects: Option<&[String]>,
        now: i64,
        audit: impl FnOnce(&SmsNumber) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let Some(before) = tx.number_in(reference).await? else {
                return Err(StoreError::NotFound("Number"));
            };
            let id = before.id.clone();
            if let Some(active) = active {
                sqlx::query("UPDATE sms_numbers SET active = $1 WHERE id = $2")
                    .bind(active)
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(projects) = projects {
                sqlx::query("DELETE FROM sms_number_projects WHERE number_id = $1")
                    .bind(&id)
                    .execute(&mut *tx)
                    .await?;
                tx.set_number_projects(&id, projects).await?;
            }
            if let Some(entry) = audit(&before) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(id)
        })
    }

    /// The pool, by phone.
    pub async fn sms_numbers(&self) -> Result<Vec<SmsNumber>> {
        let (numbers, links): (Vec<NumberRow>, Vec<(String, String)>) = on_engine!(&self.db, pool => {
            let numbers = sqlx::query_as(
                "SELECT id, phone, country_code, gateway_id, active, current_order FROM sms_numbers ORDER BY phone",
            )
            .fetch_all(pool)
            .await?;
            let links = sqlx::query_as(
                "SELECT np.number_id, p.code FROM sms_number_projects np JOIN sms_projects p ON p.id = np.project_id \
                 ORDER BY p.code",
            )
            .fetch_all(pool)
            .await?;
            (numbers, links)
        });
        Ok(numbers
            .into_iter()
            .map(
                |(id, phone, country_code, gateway_id, active, current_order)| SmsNumber {
                    projects: links
                        .iter()
                        .filter(|(n, _)| *n == id)
                        .map(|(_, code)| code.clone())
                        .collect(),
                    id,
                    phone,
                    country_code,
                    gateway_id,
                    active,
                    current_order,
                },
            )
            .collect())
    }

    /// Registers an upstream provider speaking the sms-activate protocol (key sealed at
    /// rest) with the audit row `audit` makes of the new provider's id, written in the
    /// transaction of the change (none for `None`); returns its id.
    pub async fn create_sms_provider_audited(
        &self,
        name: &str,
        url: &str,
        api_key: &str,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        non_empty("Provider name", name)?;
        non_empty("Provider key", api_key)?;
        let url = url.trim();
        if let Err(e) = souk_core::web_url::web_url(url, 2048) {
            return Err(StoreError::Invalid(format!("Provider URL {e}")));
        }
        let id = new_entity_id();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query(
                "INSERT INTO providers (id, name, protocol, url, api_key_enc, created_at) VALUES ($1, $2, 'sms_activate', $3, $4, $5)",
            )
            .bind(&id)
            .bind(name.trim())
            .bind(url)
            .bind(self.crypto.seal(api_key.trim()))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Enables or disables an sms-activate provider, with the audit row `audit` makes of
    /// the provider's name and whether it was enabled before (read in the transaction), written in the
    /// transaction of the change at `now` (none for `None`).
    pub async fn set_sms_provider_enabled_audited(
        &self,
        id: &str,
        enabled: bool,
        now: i64,
        audit: impl FnOnce(&str, bool) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Option<(String, bool)> = sqlx::query_as(
                "SELECT name, enabled FROM providers WHERE id = $1 AND protocol = 'sms_activate'",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((name, was)) = before else {
                return Err(StoreError::NotFound("Provider"));
            };
            sqlx::query("UPDATE providers SET enabled = $1 WHERE id = $2 AND protocol = 'sms_activate'")
                .bind(enabled)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if let Some(entry) = audit(&name, was) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// sms-activate providers, oldest first (the order rentals try them in).
    pub async fn sms_providers(&self, enabled_only: bool) -> Result<Vec<SmsProvider>> {
        let rows: Vec<(String, String, String, Vec<u8>, bool, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, name, url, api_key_enc, enabled, timeout_ms FROM providers WHERE protocol = 'sms_activate' \
                 ORDER BY created_at, id",
            )
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .filter(|r| r.4 || !enabled_only)
            .map(|(id, name, url, key, enabled, timeout_ms)| {
                Ok(SmsProvider {
                    api_key: self.crypto.open(&key)?,
                    id,
                    name,
                    url,
                    enabled,
                    timeout_ms,
                })
            })
            .collect()
    }

    /// The newest SMS, optionally of one phone. A phone that is no phone number is
    /// `Invalid` (it used to read as no filter, listing everyone's messages); a blank
    /// one is no filter.
    pub async fn sms_messages(&self, phone: Option<&str>, limit: i64) -> Result<Vec<SmsMessage>> {
        Ok(self.sms_message_page(phone, 0, limit).await?.0)
    }

    /// A page of the newest SMS (optionally of one phone, as `sms_messages`) and how
    /// many there are in all.
    pub async fn sms_message_page(
        &self,
        phone: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SmsMessage>, i64)> {
        let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
            None => None,
            Some(p) => Some(
                normalize_phone(p)
                    .ok_or_else(|| StoreError::Invalid(format!("Invalid phone number {p:?}")))?,
            ),
        };
        Ok(on_engine!(&self.db, pool => {
            let rows: Vec<SmsMessage> = sqlx::query_as(
                "SELECT id, gateway_id, phone, sender, text, code, order_id, received_at FROM sms_messages \
                 WHERE ($1 IS NULL OR phone = $1) ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(&phone)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM sms_messages WHERE ($1 IS NULL OR phone = $1)",
            )
            .bind(&phone)
            .fetch_one(pool)
            .await?;
            (rows, total)
        }))
    }

    /// The newest activations, optionally in one status.
    pub async fn sms_activation_rows(
        &self,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<SmsActivationRow>> {
        Ok(self.sms_activation_page(status, 0, limit).await?.0)
    }

    /// A page of the newest activations (optionally in one status) and how many there
    /// are in all.
    pub async fn sms_activation_page(
        &self,
        status: Option<&str>,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<SmsActivationRow>, i64)> {
        Ok(on_engine!(&self.db, pool => {
            let rows: Vec<SmsActivationRow> = sqlx::query_as(
                "SELECT a.order_id, a.user_id, a.project_id, a.country_code, a.phone, a.status, a.price, a.code, \
                 a.provider_id, a.external_id, \
                 CASE WHEN j.id IS NULL OR j.state = 'parked' THEN \
                        CASE WHEN a.provider_id IS NULL THEN 'none' ELSE 'closed' END \
                      WHEN j.payload LIKE '%\"poll\"%' THEN 'open' \
                      WHEN j.payload LIKE '%\"retry\"%' THEN 'retry' \
                      WHEN j.payload LIKE '%\"complete\"%' THEN 'complete' ELSE 'cancel' END AS upstream_state, \
                 a.expires_at, a.created_at FROM sms_activations a \
                 LEFT JOIN jobs j ON j.kind = $3 AND j.dedupe_key = CAST(a.order_id AS TEXT) \
                 WHERE ($1 IS NULL OR a.status = $1) ORDER BY a.order_id DESC LIMIT $2 OFFSET $4",
            )
            .bind(status)
            .bind(limit)
            .bind(crate::SMS_UPSTREAM)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM sms_activations WHERE ($1 IS NULL OR status = $1)",
            )
            .bind(status)
            .fetch_one(pool)
            .await?;
            (rows, total)
        }))
    }
}
