//! The operator console's people and what each may do: operator accounts (apart from
//! buyers), signing in with a password and a TOTP code (required for owners and
//! admins, enrolled on first sign-in), recovery codes, roles checked here (not only by
//! hiding buttons), and every action an audit-log row with its before and after.
//!
//! Roles: `support` reads everything and handles disputes; `admin` also changes the
//! catalogue, providers, users and balances, and settles orders and jobs; `owner` also
//! manages operators, gateways and settings.

use rand::Rng;
use serde_json::json;
use souk_core::balance::BalanceRequest;
use souk_core::Money;
use souk_store::{
    NewAuditEntry, NewOperator, OperatorChange, OperatorListRow, OperatorRecord, OperatorSession,
    Resolution, Store, StoreError,
};

use crate::balances::BalanceError;
use crate::passwords::{PasswordError, Passwords};
use crate::sessions::{address_key, count_attempt, random_token, Throttle};
use crate::totp;

/// How long a console sign-in lasts.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;
/// How long the second step of signing in (a code, or enrolment) may take.
pub const PENDING_MS: i64 = 10 * 60 * 1000;
/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The issuer an authenticator app shows.
pub const ISSUER: &str = "Souk";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Support,
    Admin,
    Owner,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim().to_ascii_lowercase().as_str() {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "support" => Some(Role::Support),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Support => "support",
        }
    }

    /// Owners and admins must sign in with a second factor.
    pub fn needs_totp(self) -> bool {
        self >= Role::Admin
    }

    pub fn can(self, p: Permission) -> bool {
        self >= p.least()
    }
}

/// What an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// Every screen, every list (never a secret).
    Read,
    /// Dispute decisions.
    HandleDisputes,
    /// Hiding buyers' reviews and showing them again.
    Moderate,
    /// Catalogue, providers, users, balances, orders, jobs, withdrawals, payments.
    Change,
    /// Operators, gateways, settings.
    Manage,
}

impl Permission {
    fn least(self) -> Role {
        match self {
            Permission::Read | Permission::HandleDisputes | Permission::Moderate => Role::Support,
            Permission::Change => Role::Admin,
            Permission::Manage => Role::Owner,
        }
    }
}

/// A signed-in operator, as the console knows them from the session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acting {
    pub id: String,
    pub email: String,
    pub role: Role,
}

impl Acting {
    /// The operator of a fully signed-in, active session.
    pub fn of(session: &OperatorSession) -> Option<Acting> {
        (session.stage == "full" && session.status == "active")
            .then(|| {
                Role::parse(&session.role).map(|role| Acting {
                    id: session.operator_id.clone(),
                    email: session.email.clone(),
                    role,
                })
            })
            .flatten()
    }

    /// The operator API (`/api/operator/v1`), whose admin token may do anything: its
    /// changes are audited under this name, with no operator account.
    pub fn operator_api() -> Acting {
        Acting {
            id: String::new(),
            email: "operator API".into(),
            role: Role::Owner,
        }
    }

    /// `souk admin` on the server's command line, which may do anything: its changes
    /// are audited under this name, with no operator account.
    pub fn command_line() -> Acting {
        Acting {
            id: String::new(),
            email: "command line".into(),
            role: Role::Owner,
        }
    }

    /// An audit row of an action by this operator.
    pub fn audit_entry(
        &self,
        action: &str,
        subject: &str,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
    ) -> NewAuditEntry {
        NewAuditEntry {
            operator_id: Some(self.id.clone()).filter(|id| !id.is_empty()),
            operator_email: self.email.clone(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            before: before.map(|v| v.to_string()),
            after: after.map(|v| v.to_string()),
        }
    }

    pub fn require(&self, p: Permission) -> Result<(), OperatorError> {
        if self.role.can(p) {
            Ok(())
        } else {
            Err(OperatorError::Forbidden)
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("your role does not allow this")]
    Forbidden,
    #[error("{0}")]
    Invalid(String),
    #[error("an operator with this email exists")]
    EmailTaken,
    #[error("too many attempts")]
    Throttled(std::time::Duration),
    #[error("too many password checks at once")]
    Busy,
    /// No such operator, or a wrong password or code (the same answer for each).
    #[error("wrong email, password or code")]
    Wrong,
    /// A provider did not answer as asked (nothing of ours changed).
    #[error("{0}")]
    Upstream(String),
    /// A value a form gave that the supply rules refuse (a name, a setting).
    #[error(transparent)]
    Supply(#[from] souk_core::supply::SupplyError),
    #[error(transparent)]
    Balance(#[from] BalanceError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A new operator and the password to give them (shown once).
#[derive(Debug)]
pub struct Created {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub password: String,
}

fn check_email(email: &str) -> Result<String, OperatorError> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && souk_core::input::is_clean(&email, false)
        && !email.contains(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(OperatorError::Invalid("Email is not valid".into()))
    }
}

/// Creates an operator with a random password (`souk admin operator create`).
pub async fn create(
    store: &Store,
    passwords: &Passwords,
    email: &str,
    role: &str,
    now: i64,
) -> Result<Created, OperatorError> {
    create_by(store, passwords, None, email, role, now).await
}

/// Creates an operator with a random password: from the command line (`by` none), or
/// by an owner at the console's operators screen. The password is answered once.
pub async fn create_by(
    store: &Store,
    passwords: &Passwords,
    by: Option<&Acting>,
    email: &str,
    role: &str,
    now: i64,
) -> Result<Created, OperatorError> {
    if let Some(actor) = by {
        actor.require(Permission::Manage)?;
    }
    let email = check_email(email)?;
    let role = Role::parse(role)
        .ok_or_else(|| OperatorError::Invalid("Role must be owner, admin or support".into()))?;
    let password = random_token()[..24].to_owned();
    let hash = passwords
        .hash(password.clone())
        .await
        .map_err(|e| match e {
            PasswordError::Busy => OperatorError::Busy,
            PasswordError::Failed(e) => OperatorError::Store(StoreError::Config(e)),
        })?;
    let id = souk_core::id::new_entity_id();
    let created = store
        .create_operator_audited(
            &NewOperator {
                id: id.clone(),
                email: email.clone(),
                role: role.as_str().into(),
                password_hash: hash,
            },
            &NewAuditEntry {
                operator_id: by.map(|a| a.id.clone()),
                operator_email: by.map_or_else(|| "command line".into(), |a| a.email.clone()),
                action: "operator.create".into(),
                subject: format!("operator:{id}"),
                before: None,
                after: Some(json!({ "email": email, "role": role.as_str() }).to_string()),
            },
            now,
        )
        .await;
    match created {
        Err(StoreError::Conflict(_)) => return Err(OperatorError::EmailTaken),
        other => other?,
    }
    Ok(Created {
        id,
        email,
        role,
        password,
    })
}

/// What signing in asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Signed in.
    Done,
    /// The code from the authenticator (or a recovery code).
    Code,
    /// Enrol a second factor first (an owner or admin without one).
    Enrol,
}

#[derive(Debug)]
pub struct Started {
    pub token: String,
    pub next: Next,
}

/// The first step: email and password, counted per address and per email in the
/// attempts table every node shares.
pub async fn sign_in(
    store: &Store,
    passwords: &Passwords,
    throttle: &Throttle,
    email: &str,
    password: String,
    address: &str,
    now: i64,
) -> Result<Started, OperatorError> {
    let email = email.trim().to_lowercase();
    let address = format!("console-{}", address_key(address));
    let email_key = format!("console-email:{email}");
    let keys = [
        (address.as_str(), throttle.per_address),
        (email_key.as_str(), throttle.per_email),
    ];
    if let Some(wait) = count_attempt(store, throttle, &keys, now).await? {
        return Err(OperatorError::Throttled(wait));
    }
    let record = if email.is_empty()
        || password.is_empty()
        || password.len() > souk_core::password::MAX_PASSWORD
    {
        None
    } else {
        store.operator_by_email(&email).await?
    };
    let hash = record.as_ref().map(|r| r.password_hash.clone());
    let matched = match passwords.verify(password, hash).await {
        Ok(m) => m,
        Err(PasswordError::Busy) => return Err(OperatorError::Busy),
        Err(PasswordError::Failed(e)) => return Err(StoreError::Config(e).into()),
    };
    let record = match record {
        Some(r) if matched && r.status == "active" => r,
        other => {
            // Recorded in a transaction of its own: nothing else of a refused sign-in
            // commits. Throttled attempts (above) are not checked, so not recorded.
            let why = match &other {
                None => "wrong email or password",
                Some(r) if r.status != "active" => "disabled",
                Some(_) => "wrong password",
            };
            sign_in_failed(store, other.as_ref(), &email, why, now).await?;
            return Err(OperatorError::Wrong);
        }
    };
    store.clear_attempts(&email_key).await?;
    let role = Role::parse(&record.role).unwrap_or(Role::Support);
    let next = if record.totp_enabled {
        Next::Code
    } else if role.needs_totp() {
        Next::Enrol
    } else {
        Next::Done
    };
    let token = start(store, &record, next == Next::Done, now).await?;
    if next == Next::Done {
        signed_in(store, &record, "none", now).await?;
    }
    Ok(Started { token, next })
}

/// The audit row of a full sign-in (the last sign-in the operators screen shows), in a
/// transaction of its own; `second_factor` says how the sign-in was finished.
async fn signed_in(
    store: &Store,
    op: &OperatorRecord,
    second_factor: &str,
    now: i64,
) -> Result<i64, StoreError> {
    audit(
        store,
        &op.id,
        &op.email,
        "operator.sign_in",
        &format!("operator:{}", op.id),
        None,
        Some(json!({ "second_factor": second_factor })),
        now,
    )
    .await
}

/// The audit row of a refused sign-in step, in a transaction of its own (the refusal
/// commits nothing else). Whoever tried is not known, so the row names no operator as
/// its author, only the email tried; its subject is the operator of that email, or,
/// for an email no operator has, `signin:<email>` (as typed, cut to 254 characters).
async fn sign_in_failed(
    store: &Store,
    op: Option<&OperatorRecord>,
    email: &str,
    why: &str,
    now: i64,
) -> Result<i64, StoreError> {
    let typed: String = email
        .chars()
        .filter(|c| !c.is_control())
        .take(254)
        .collect();
    store
        .append_audit(
            &NewAuditEntry {
                operator_id: None,
                operator_email: op.map_or_else(|| typed.clone(), |o| o.email.clone()),
                action: "operator.sign_in_failed".into(),
                subject: op.map_or_else(
                    || format!("signin:{typed}"),
                    |o| format!("operator:{}", o.id),
                ),
                before: None,
                after: Some(json!({ "why": why }).to_string()),
            },
            now,
        )
        .await
}

async fn start(
    store: &Store,
    op: &OperatorRecord,
    full: bool,
    now: i64,
) -> Result<String, StoreError> {
    let token = random_token();
    let (stage, ttl) = if full {
        ("full", SESSION_MS)
    } else {
        ("password", PENDING_MS)
    };
    store
        .create_operator_session(&op.id, &token, &random_token(), stage, now, now + ttl)
        .await?;
    Ok(token)
}

/// Counts a code attempt against the operator (a second factor cannot be guessed
/// faster than a password).
async fn count_code(
    store: &Store,
    throttle: &Throttle,
    operator_id: &str,
    now: i64,
) -> Result<(), OperatorError> {
    let key = format!("console-code:{operator_id}");
    match count_attempt(store, throttle, &[(key.as_str(), throttle.per_email)], now).await? {
        Some(wait) => Err(OperatorError::Throttled(wait)),
        None => Ok(()),
    }
}

/// The second step: a code from the authenticator, or an unused recovery code. On
/// success the half-way session ends and a new full one is answered (a new token).
pub async fn second_factor(
    store: &Store,
    throttle: &Throttle,
    session: &OperatorSession,
    token: &str,
    code: &str,
    now: i64,
) -> Result<String, OperatorError> {
    if session.stage != "password" || !session.totp_enabled {
        return Err(OperatorError::Wrong);
    }
    count_code(store, throttle, &session.operator_id, now).await?;
    let op = store.operator(&session.operator_id).await?;
    let code = code.trim();
    let by_app = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let accepted = if by_app {
        let secret = store
            .operator_totp_secret(&op.id)
            .await?
            .and_then(|s| totp::from_base32(&s));
        match secret.and_then(|s| totp::verify(&s, code, now, op.totp_last_step)) {
            Some(step) => store.accept_totp_step(&op.id, step).await?,
            None => false,
        }
    } else {
        // A recovery code spent and its own row, with how many are left, in one
        // transaction.
        let normalized = normalize_recovery(code);
        !normalized.is_empty()
            && store
                .use_recovery_code_audited(&op.id, &normalized, now, |before, after| {
                    own_entry(
                        &op.id,
                        &op.email,
                        "operator.recovery_code",
                        &format!("operator:{}", op.id),
                        Some(json!({ "left": before })),
                        Some(json!({ "left": after })),
                    )
                })
                .await?
    };
    if !accepted {
        let why = if by_app {
            "wrong code"
        } else {
            "wrong recovery code"
        };
        sign_in_failed(store, Some(&op), &op.email, why, now).await?;
        return Err(OperatorError::Wrong);
    }
    store.end_operator_session(token).await?;
    let token = start(store, &op, true, now).await?;
    signed_in(
        store,
        &op,
        if by_app { "totp" } else { "recovery code" },
        now,
    )
    .await?;
    Ok(token)
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The secret being enrolled (base32) and the `otpauth://` address its QR code shows:
/// the same until enrolment ends, so reloading the page shows the same code.
pub async fn enrolment(
    store: &Store,
    session: &OperatorSession,
) -> Result<(String, String), OperatorError> {
    if session.totp_enabled {
        return Err(OperatorError::Invalid(
            "Two-factor sign-in is already on".into(),
        ));
    }
    let secret = match store.operator_totp_secret(&session.operator_id).await? {
        Some(s) => s,
        None => {
            let s = totp::base32(&totp::new_secret());
            store.set_pending_totp(&session.operator_id, &s).await?;
            s
        }
    };
    let bytes = totp::from_base32(&secret).unwrap_or_default();
    Ok((secret, totp::otpauth_url(ISSUER, &session.email, &bytes)))
}

/// Ends enrolment with a code from the app: the second factor is on, recovery codes
/// (answered once, in clear) replace any before, and a full session starts.
pub async fn finish_enrolment(
    store: &Store,
    throttle: &Throttle,
    session: &OperatorSession,
    token: &str,
    code: &str,
    now: i64,
) -> Result<(String, Vec<String>), OperatorError> {
    if session.totp_enabled {
        return Err(OperatorError::Invalid(
            "Two-factor sign-in is already on".into(),
        ));
    }
    count_code(store, throttle, &session.operator_id, now).await?;
    let secret = store
        .operator_totp_secret(&session.operator_id)
        .await?
        .and_then(|s| totp::from_base32(&s))
        .ok_or(OperatorError::Wrong)?;
    let Some(step) = totp::verify(&secret, code, now, None) else {
        let op = store.operator(&session.operator_id).await?;
        sign_in_failed(store, Some(&op), &op.email, "wrong enrolment code", now).await?;
        return Err(OperatorError::Wrong);
    };
    let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
    let digests: Vec<String> = codes.iter().map(|c| normalize_recovery(c)).collect();
    // Enrolled and audited in one transaction.
    let subject = format!("operator:{}", session.operator_id);
    if !store
        .enable_totp_audited(&session.operator_id, step, &digests, now, || {
            own_entry(
                &session.operator_id,
                &session.email,
                "operator.totp_enrolled",
                &subject,
                Some(json!({ "totp": false })),
                Some(json!({ "totp": true, "recovery_codes": RECOVERY_CODES })),
            )
        })
        .await?
    {
        return Err(OperatorError::Invalid(
            "Two-factor sign-in is already on".into(),
        ));
    }
    store.end_operator_session(token).await?;
    let op = store.operator(&session.operator_id).await?;
    let token = start(store, &op, true, now).await?;
    signed_in(store, &op, "enrolment", now).await?;
    Ok((token, codes))
}

/// `xxxxx-xxxxx` from an alphabet without look-alikes.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    let mut part = || -> String {
        (0..5)
            .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
            .collect()
    };
    format!("{}-{}", part(), part())
}

/// An audit row of an operator's own action (enrolling, spending a recovery code), to
/// write in the transaction of the change it records.
fn own_entry(
    operator_id: &str,
    email: &str,
    action: &str,
    subject: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> NewAuditEntry {
    NewAuditEntry {
        operator_id: Some(operator_id.to_owned()),
        operator_email: email.to_owned(),
        action: action.to_owned(),
        subject: subject.to_owned(),
        before: before.map(|v| v.to_string()),
        after: after.map(|v| v.to_string()),
    }
}

/// Adds an audit row on its own: for what changes nothing (signing in) or changes
/// only through its own transaction elsewhere.
#[allow(clippy::too_many_arguments)]
pub async fn audit(
    store: &Store,
    operator_id: &str,
    email: &str,
    action: &str,
    subject: &str,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    now: i64,
) -> Result<i64, StoreError> {
    store
        .append_audit(
            &NewAuditEntry {
                operator_id: Some(operator_id.to_owned()),
                operator_email: email.to_owned(),
                action: action.to_owned(),
                subject: subject.to_owned(),
                before: before.map(|v| v.to_string()),
                after: after.map(|v| v.to_string()),
            },
            now,
        )
        .await
}

/// A change to a buyer's balance from the console: admins and owners only, a reason
/// required, booked through the ledger (`balances`), and audited with the balance
/// before and after.
pub async fn adjust_balance(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    amount: &str,
    reason: &str,
    now: i64,
) -> Result<Money, OperatorError> {
    actor.require(Permission::Change)?;
    let amount = Money::parse(amount.trim())
        .map_err(|_| OperatorError::Invalid("Amount must be a number like 10 or -2.50".into()))?;
    if amount.micros() == 0 {
        return Err(OperatorError::Invalid("Amount must not be zero".into()));
    }
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(OperatorError::Invalid("A reason is required".into()));
    }
    let change = souk_core::balance::balance_change(BalanceRequest::BySign, amount, reason)
        .map_err(BalanceError::Refused)?;
    let subject = format!("user:{user_id}");
    // Booked and audited in one transaction, the balance before and after read in it.
    let balance = store
        .adjust_balance_audited(
            user_id,
            amount,
            change.kind.as_str(),
            &change.note,
            now,
            |before, after| {
                Some(actor.audit_entry(
                    "user.balance",
                    &subject,
                    Some(json!({ "balance": before.display2() })),
                    Some(json!({
                        "balance": after.display2(),
                        "amount": amount.display2(),
                        "reason": reason,
                    })),
                ))
            },
        )
        .await
        .map_err(BalanceError::Store)?;
    Ok(balance)
}

/// Settles by hand an order whose send had an unknown outcome (admins and owners).
pub async fn resolve_order(
    store: &Store,
    actor: &Acting,
    order_id: i64,
    resolution: Resolution,
    now: i64,
) -> Result<(), OperatorError> {
    actor.require(Permission::Change)?;
    let how = match &resolution {
        Resolution::Sent(id) => json!({ "resolution": "sent", "externalId": id }),
        Resolution::Resend => json!({ "resolution": "resend" }),
        Resolution::Fail => json!({ "resolution": "fail" }),
    };
    // Settled and audited in one transaction, the order before and after read in it.
    store
        .resolve_forward_audited(order_id, &resolution, now, |before, after| {
            Some(actor.audit_entry(
                "order.resolve",
                &format!("order:{order_id}"),
                Some(json!({ "status": before.0, "refunded": Money::from_micros(before.1).display2() })),
                Some(json!({ "status": after.0, "refunded": Money::from_micros(after.1).display2(), "how": how })),
            ))
        })
        .await?;
    Ok(())
}

/// Sends a parked job round again (admins and owners); false when it was not parked.
pub async fn retry_job(
    store: &Store,
    actor: &Acting,
    id: i64,
    now: i64,
) -> Result<bool, OperatorError> {
    actor.require(Permission::Change)?;
    let retried = store
        .retry_job_audited(
            id,
            &actor.audit_entry(
                "job.retry",
                &format!("job:{id}"),
                Some(json!({ "state": "parked" })),
                Some(json!({ "state": "ready" })),
            ),
            now,
        )
        .await?;
    Ok(retried)
}

/// Drops a parked job for good (admins and owners); false when no parked job has this
/// id. An order's job is refused by the store: the order is settled from its page.
pub async fn drop_job(
    store: &Store,
    actor: &Acting,
    id: i64,
    now: i64,
) -> Result<bool, OperatorError> {
    actor.require(Permission::Change)?;
    // Dropped and audited in one transaction, the job read in it.
    let dropped = store
        .drop_parked_job_audited(id, now, |job| {
            Some(actor.audit_entry(
                "job.drop",
                &format!("job:{id}"),
                Some(json!({ "state": "parked", "kind": job.kind, "error": job.last_error })),
                None,
            ))
        })
        .await?;
    Ok(dropped.is_some())
}

/// A decision on a buyer's dispute (every role: support handles disputes), audited.
pub async fn resolve_dispute(
    store: &Store,
    actor: &Acting,
    dispute_id: &str,
    refund: Option<&str>,
    note: &str,
    now: i64,
) -> Result<souk_store::Dispute, OperatorError> {
    actor.require(Permission::HandleDisputes)?;
    let decision = match refund.map(str::trim) {
        None => souk_store::DisputeDecision::Reject,
        Some("") => souk_store::DisputeDecision::Refund(None),
        Some(amount) => {
            souk_store::DisputeDecision::Refund(Some(Money::parse(amount).map_err(|_| {
                OperatorError::Invalid("Amount must be a number like 10 or -2.50".into())
            })?))
        }
    };
    resolve_dispute_as(store, actor, dispute_id, decision, note, now).await
}

/// A decision on a buyer's dispute already read (the operator API reads its own),
/// audited in the transaction that books it.
pub async fn resolve_dispute_as(
    store: &Store,
    actor: &Acting,
    dispute_id: &str,
    decision: souk_store::DisputeDecision,
    note: &str,
    now: i64,
) -> Result<souk_store::Dispute, OperatorError> {
    actor.require(Permission::HandleDisputes)?;
    if let souk_store::DisputeDecision::Refund(amount) = decision {
        souk_core::dispute::check_refund(amount)
            .map_err(|r| OperatorError::Invalid(r.to_string()))?;
    }
    let note = note.trim();
    let resolved = store
        .resolve_dispute_audited(dispute_id, decision, note, now, |d| {
            actor.audit_entry(
                "dispute.resolve",
                &format!("order:{}", d.order_id),
                Some(json!({ "dispute": dispute_id, "status": "open" })),
                Some(json!({
                    "dispute": dispute_id,
                    "status": d.status,
                    "refund": Money::from_micros(d.refund_amount).display2(),
                    "note": d.resolution,
                })),
            )
        })
        .await?;
    Ok(resolved)
}

/// An operator's message in an open dispute's thread (the buyer and the shop's owner
/// hear of it), audited in the transaction that adds it.
pub async fn dispute_message(
    store: &Store,
    actor: &Acting,
    dispute_id: &str,
    body: &str,
    now: i64,
) -> Result<souk_store::DisputeMessage, OperatorError> {
    actor.require(Permission::HandleDisputes)?;
    let body = body.trim();
    let message = store
        .add_dispute_message_audited(
            dispute_id,
            souk_store::DisputeAuthor::Operator,
            body,
            now,
            |order_id| {
                Some(actor.audit_entry(
                    "dispute.message",
                    &format!("order:{order_id}"),
                    None,
                    Some(json!({ "dispute": dispute_id, "message": body })),
                ))
            },
        )
        .await?;
    Ok(message)
}

/// Every operator with their last sign-in (owners only: the operators screen).
pub async fn list(store: &Store, actor: &Acting) -> Result<Vec<OperatorListRow>, OperatorError> {
    actor.require(Permission::Manage)?;
    Ok(store.operator_list().await?)
}

/// What an owner changes about an operator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Role(Role),
    Disable,
    Enable,
    /// Forget the second factor (and the recovery codes): enrol again at the next
    /// sign-in. Ends the operator's sessions.
    ResetTotp,
    /// Sign the operator out everywhere.
    EndSessions,
}

impl Change {
    /// A form's `do` (and `role` for `role`).
    pub fn parse(what: &str, role: &str) -> Result<Change, OperatorError> {
        match what.trim() {
            "role" => Role::parse(role).map(Change::Role).ok_or_else(|| {
                OperatorError::Invalid("Role must be owner, admin or support".into())
            }),
            "disable" => Ok(Change::Disable),
            "enable" => Ok(Change::Enable),
            "reset_totp" => Ok(Change::ResetTotp),
            "end_sessions" => Ok(Change::EndSessions),
            _ => Err(OperatorError::Invalid("Unknown change".into())),
        }
    }
}

fn operator_facts(op: &OperatorRecord) -> serde_json::Value {
    json!({ "email": op.email, "role": op.role, "status": op.status, "totp": op.totp_enabled })
}

/// An owner's change to an operator account, audited in its transaction with the
/// account before and after. An owner cannot demote or disable themselves, nor leave
/// the installation without an active owner (checked in the store's transaction).
pub async fn change(
    store: &Store,
    actor: &Acting,
    operator_id: &str,
    change: Change,
    now: i64,
) -> Result<OperatorRecord, OperatorError> {
    actor.require(Permission::Manage)?;
    if operator_id == actor.id && matches!(change, Change::Role(_) | Change::Disable) {
        return Err(OperatorError::Invalid(
            "You cannot demote or disable yourself".into(),
        ));
    }
    let (action, stored) = match &change {
        Change::Role(r) => ("operator.role", OperatorChange::Role(r.as_str().into())),
        Change::Disable => (
            "operator.disable",
            OperatorChange::Status("disabled".into()),
        ),
        Change::Enable => ("operator.enable", OperatorChange::Status("active".into())),
        Change::ResetTotp => ("operator.reset_totp", OperatorChange::ResetTotp),
        Change::EndSessions => ("operator.end_sessions", OperatorChange::EndSessions),
    };
    let subject = format!("operator:{operator_id}");
    let changed = store
        .change_operator_audited(operator_id, &stored, now, |before, after, ended| {
            let mut after = operator_facts(after);
            after["sessions_ended"] = json!(ended);
            actor.audit_entry(action, &subject, Some(operator_facts(before)), Some(after))
        })
        .await;
    match changed {
        Ok(op) => Ok(op),
        Err(StoreError::Invalid(t)) => Err(OperatorError::Invalid(t)),
        Err(e) => Err(e.into()),
    }
}
