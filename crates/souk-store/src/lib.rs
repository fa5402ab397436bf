//! Souk's persistence: one `Store` over SQLite (embedded default) or PostgreSQL (several
//! nodes sharing one database). Every method that moves money or stock is one transaction
//! that keeps the invariants; callers pass the current time, so tests control the clock.
#![forbid(unsafe_code)]

mod audit;
pub mod backup;
mod batch;
mod bulk;
pub(crate) mod catalogue;
mod catalogue_load;
mod checkpoint;
mod console;
mod console_catalogue;
mod console_totals;
pub mod crypto;
mod db;
mod disputes;
mod dripfeed;
mod events;
mod fallbacks;
mod forwarding;
mod idempotency;
mod installation;
mod jobs;
mod keycheck;
mod login_attempts;
mod mail;
mod migrations;
mod operator;
mod operator_audit;
mod operators;
mod ops;
mod order_close;
mod order_views;
mod orders;
mod payments;
mod pg_batch;
mod placements;
mod provider_oddities;
mod providers;
mod reads;
mod refills;
mod rows;
mod sale;
mod script;
mod sms;
mod sms_admin;
mod sms_inbound;
mod sms_worker;
mod stock_notices;
mod storefront;
mod supplier;
mod supplier_catalogue;
mod telegram;
pub mod txstats;
mod users;
pub mod versions;
mod web;
mod webhooks;

use std::sync::Arc;

pub use audit::AuditReport;
pub use backup::{BackupFacts, MigrationState, PgSnapshot};
pub use catalogue::{
    NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, TranslationEntity,
};
pub use console::{
    ConsoleOrder, Counters, Dashboard, DayKindTotals, DayPayments, DayStatusCount, GroupTotals,
    LedgerExportRow, OrderEventRow, OrderFilter, DAY_MS,
};
pub use console_catalogue::{
    ConsoleReview, ConsoleService, OperatorService, OperatorVariant, ReviewFilter, ServiceEdit,
    VariantEdit,
};
pub use crypto::Crypto;
pub use db::{redact_url, Engine, SqliteSync, SQLITE_PAGE_SIZE};
pub use disputes::{Dispute, DisputeDecision};
pub use dripfeed::LOCAL_DRIPFEED;
pub use events::{Event, EMAIL_SEND, TELEGRAM_SEND, WEBHOOK_SEND};
pub use fallbacks::{Fallback, ProviderProfit, ServiceProviders, MAX_FALLBACKS};
pub use forwarding::{
    ForwardJob, RemoteUpdate, Resolution, Retry, SettleFailure, StatusJob, StuckOrder,
    RESEND_WINDOW_MS,
};
pub use idempotency::{Idempotency, IDEMPOTENCY_WINDOW_MS};
pub use jobs::{
    Job, Lane, NewJob, DRIPFEED_SETTLE, MAX_STATUS_MISSES, ORDER_FORWARD, ORDER_STATUS,
    SMS_UPSTREAM,
};
pub use keycheck::KeyCheck;
pub use login_attempts::AttemptCount;
pub use mail::{PendingEmail, StoredSmtp, TokenUse, PASSWORD_RESET, VERIFY_EMAIL};
pub use operator::{CategoryPatch, CategoryRecord, Level, MadeSupplier, ShopRecord};
pub use operators::{
    AuditEntry, NewAuditEntry, NewOperator, OperatorChange, OperatorListRow, OperatorRecord,
    OperatorSession, LAST_OWNER,
};
pub use ops::{OpsGauges, PoolUse};
pub use order_close::Closing;
pub use orders::{Buyer, CancelOutcome, OrderView, Placed};
pub use payments::{
    verdict_of, GatewayRecord, GatewaySecrets, GatewaySetup, NewPayment, PaymentEvent,
    PaymentRecord, Settled, BONUS, DEPOSIT, MANUAL_GATEWAY, PAYMENT_CHECK,
};
pub use provider_oddities::ProviderOddity;
pub use providers::{
    ImportTranslations, ImportedVariant, Markup, NewProvider, Provider, ProviderCall,
    ProviderPatch, ProviderService, SyncReport,
};
pub use refills::{NewRefill, Refill, RefillFacts, RefillToSend, REFILL_SEND};
pub use sms::{
    RentOutcome, Rental, SmsActivation, SmsCountry, SmsOffer, SmsProject, SmsRent, SmsTransition,
    UpstreamRental,
};
pub use sms_admin::{
    NewSmsCountry, NewSmsNumber, NewSmsProject, SmsActivationRow, SmsGateway, SmsMessage,
    SmsNumber, SmsPrice, SmsProvider,
};
pub use sms_inbound::{InboundOutcome, InboundSms, SmsGatewaySecret, StoredSms};
pub use sms_worker::{
    SweepReport, UpstreamAction, UpstreamJob, UpstreamNext, MAX_UPSTREAM_ATTEMPTS,
};
pub use storefront::{DisputeAuthor, DisputeMessage, ShopReview};
pub use supplier::{
    EarningRow, EarningsSummary, OrderProgress, SupplierOrder, SupplierOrderQuery, Withdrawal,
};
pub use supplier_catalogue::{
    ServiceDetail, ServicePatch, StockCounts, SubproductDetail, SubproductPatch, TranslationRow,
};
pub use telegram::{QueuedMessage, TelegramLink, TelegramSettings, TELEGRAM, TELEGRAM_UPDATES};
pub use users::{
    normalize_email, ApiKeyRecord, AuthUser, LedgerEntry, NewUser, RevokedKey, UserRecord,
    UserStatus,
};
pub use versions::{Change, StateVersions};
pub use web::{LoginRecord, OrderLine, WebSession};
pub use webhooks::{
    AttemptOutcome, AttemptRecord, EndpointPatch, NewEndpoint, Queued, WebhookAttempt,
    WebhookDelivery, WebhookEndpoint,
};

use db::{on_engine, Db, WriteGate};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// From the SQLite reads done beside sqlx (`catalogue_load`).
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("configuration error: {0}")]
    Config(String),
    #[error("stored secret cannot be decrypted with this data key")]
    Crypto,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    /// A business rule refused the request; nothing was changed.
    #[error("{0}")]
    Rejected(souk_core::ApiError),
    /// A supply-side rule refused the request (typed, so pages can say it in their
    /// language); nothing was changed.
    #[error(transparent)]
    Supply(#[from] souk_core::supply::SupplyError),
    /// Our own fault (a task that panicked or was cancelled): answered as a 500, never as
    /// a conflict the caller could act on; the text is for the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl StoreError {
    /// A task that carried a store operation and did not finish: `what` names it.
    pub fn task_failed(what: &str, e: &tokio::task::JoinError) -> StoreError {
        StoreError::Internal(format!("{what} task failed: {e}"))
    }
}

impl StoreError {
    /// True when the database refused a row because of a unique constraint.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }

    /// True when PostgreSQL refused text it cannot store (a NUL byte): bad input, not a
    /// fault. The input rule (`souk_core::input`) refuses such text at every surface
    /// before it gets here; this keeps a field that slipped through a 400, not a 500.
    pub fn is_bad_text(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("22021" | "22P05")))
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

use migrations::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    gate: WriteGate,
    crypto: Arc<Crypto>,
    /// The group commit of orders (SQLite); `None` when switched off.
    batch: Option<batch::Batcher>,
    /// The group commit of placements (PostgreSQL); `None` when switched off.
    pg_batch: Option<pg_batch::PgBatcher>,
    /// The log's checkpointer (SQLite), until the last clone of the store is dropped.
    _checkpoints: Option<Arc<checkpoint::Running>>,
    /// Sales' stock changes, told to the other nodes after commit (PostgreSQL).
    stock_notices: Option<stock_notices::StockNotices>,
    /// Reads answered in place (SQLite).
    reads: Option<Arc<reads::SqliteReads>>,
}

impl Store {
    /// Connects to `url` (`sqlite://...` or `postgres://...`), SQLite with
    /// `synchronous=FULL`. Does not migrate.
    pub async fn connect(url: &str, data_key: &[u8; 32], max_connections: u32) -> Result<Store> {
        Self::connect_with(url, data_key, max_connections, SqliteSync::Full).await
    }

    /// `connect` with the SQLite durability chosen by the operator.
    pub async fn connect_with(
        url: &str,
        data_key: &[u8; 32],
        max_connections: u32,
        sqlite_sync: SqliteSync,
    ) -> Result<Store> {
        let db = Db::connect(url, max_connections, sqlite_sync).await?;
        let checkpoints = match db.engine() {
            Engine::Sqlite => Some(Arc::new(checkpoint::start(db::sqlite_options(
                url,
                sqlite_sync,
            )?))),
            Engine::Postgres => None,
        };
        let (stock_notices, reads) = match &db {
            Db::Postgres(pool) => (Some(stock_notices::StockNotices::start(pool.clone())), None),
            Db::Sqlite(pool) => {
                let path = pool.connect_options().get_filename().to_owned();
                (None, Some(Arc::new(reads::SqliteReads::new(path))))
            }
        };
        Ok(Store {
            gate: WriteGate::for_engine(db.engine()),
            db,
            crypto: Arc::new(Crypto::new(data_key)),
            batch: Some(batch::Batcher::new(sqlite_sync)),
            pg_batch: Some(pg_batch::PgBatcher::default()),
            _checkpoints: checkpoints,
            stock_notices,
            reads,
        })
    }

    /// With `false`, every order is a transaction of its own (the group commit is on by
    /// default; `SOUK_GROUP_COMMIT=off`).
    pub fn with_group_commit(mut self, on: bool) -> Store {
        if !on {
            self.batch = None;
            self.pg_batch = None;
        }
        self
    }

    /// The group commit's batches committed and the orders they carried since the
    /// start (`None` where orders commit one by one).
    pub fn group_commit_stats(&self) -> Option<(u64, u64)> {
        match (&self.db, &self.batch, &self.pg_batch) {
            (Db::Sqlite(_), Some(batch), _) => Some(batch.counts()),
            (Db::Postgres(_), _, Some(batch)) => Some(batch.counts()),
            _ => None,
        }
    }

    /// The group commit orders join, on SQLite (PostgreSQL's is `crate::pg_batch`, for
    /// placements only).
    pub(crate) fn batch(&self) -> Option<batch::Queue<'_>> {
        match (&self.db, &self.batch) {
            (Db::Sqlite(pool), Some(batch)) => Some(batch.queue(pool, &self.gate)),
            _ => None,
        }
    }

    pub fn engine(&self) -> Engine {
        self.db.engine()
    }

    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// Applies the engine's pending migrations. Safe to run from several nodes at once:
    /// PostgreSQL serializes them with an advisory lock, SQLite with its write lock.
    pub async fn migrate(&self) -> Result<()> {
        match &self.db {
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    /// A digest of the engine's migrations (versions and checksums): two databases with
    /// the same fingerprint were migrated to the same schema. Tests name their
    /// pre-migrated template databases with it.
    pub fn schema_fingerprint(engine: Engine) -> String {
        use sha2::Digest;
        let migrator = match engine {
            Engine::Sqlite => &*SQLITE_MIGRATIONS,
            Engine::Postgres => &*POSTGRES_MIGRATIONS,
        };
        let mut hash = sha2::Sha256::new();
        for m in migrator.iter() {
            hash.update(m.version.to_be_bytes());
            hash.update(&m.checksum);
        }
        hex::encode(&hash.finalize()[..8])
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        on_engine!(&self.db, pool => {
            sqlx::query("SELECT 1").execute(pool).await?;
        });
        Ok(())
    }

    pub async fn close(&self) {
        self.db.close().await;
    }

    /// The PostgreSQL pool, for LISTEN; `None` on SQLite.
    pub fn postgres_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.db {
            Db::Postgres(pool) => Some(pool),
            Db::Sqlite(_) => None,
        }
    }
}

/// Handlers need `Send` futures: the transaction steps are implemented for the concrete
/// connections (not one generic fn over `Executor`, which loses `Send`), and this fails
/// to compile if a store method that runs them stops being `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn store_futures_are_send(
    store: &Store,
    buyer: &Buyer<'_>,
    product: &souk_core::order::ProductOrder,
    smm: &souk_core::order::SmmOrder,
    idem: Option<&Idempotency<'_>>,
    rent: &SmsRent<'_>,
    updates: &[(StatusJob, RemoteUpdate)],
) {
    fn is_send<T: Send>(_: T) {}
    is_send(store.place_product_order(buyer, product, idem, 0));
    is_send(store.place_smm_order(buyer, smm, idem, 0));
    is_send(store.early_cancel("u", 1, false, 0));
    is_send(store.apply_remote_updates(updates, "node", 0, 0));
    is_send(store.fail_forward(1, "", 0));
    is_send(store.rent_sms(rent, 0));
    is_send(store.sms_cancel("u", 1, false, 0));
    is_send(store.sms_complete("u", 1, 0));
    is_send(store.adjust_balance("u", souk_core::Money::from_micros(1), "topup", "", 0));
    is_send(store.resolve_dispute("d", DisputeDecision::Reject, "", 0));
}
