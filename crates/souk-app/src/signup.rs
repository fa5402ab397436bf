//! A visitor's own account (the web pages' `/signup`): a buyer with a password and a first
//! API key kept sealed, so the account page can show it again. The front end judges the
//! password (`souk_core::password`) and hashes it on its own threads; the session that
//! follows is the caller's.

use souk_core::Money;
use souk_store::{NewUser, Store, StoreError};

#[derive(Clone, Debug)]
pub struct SignUp {
    pub email: String,
    /// The argon2id hash of the chosen password.
    pub password_hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignUpError {
    /// An account with this email exists already; nothing was created.
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates the buyer and keeps their first key visible to them; answers the user's id.
pub async fn sign_up(store: &Store, command: SignUp, now: i64) -> Result<String, SignUpError> {
    let user = NewUser {
        email: command.email,
        name: String::new(),
        password_hash: Some(command.password_hash),
        is_supplier: false,
        initial_balance: Money::ZERO,
    };
    let (user_id, key) = match store.create_user(&user, now).await {
        Ok(created) => created,
        Err(StoreError::Conflict(_)) => return Err(SignUpError::EmailTaken),
        Err(e) => return Err(e.into()),
    };
    store.remember_key(&key).await?;
    Ok(user_id)
}
