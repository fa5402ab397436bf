//! The account API under `/api/account/v1`, for any active buyer or supplier, with their
//! API key (`Authorization: Bearer <key>`, or `X-Api-Key` as on the supplier API). It
//! holds what belongs to an account rather than to a shop: so far, webhook endpoints.

pub mod webhooks;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use souk_store::AuthUser;

use crate::rest::RestError;
use crate::routes::Routes;
use crate::state::AppState;

pub const PREFIX: &str = "/api/account/v1";

pub fn routes() -> Routes {
    webhooks::routes::<AccountUser>()
}

/// A caller whose key belongs to an active user.
pub struct AccountUser {
    pub user: AuthUser,
}

impl FromRequestParts<AppState> for AccountUser {
    type Rejection = RestError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let key = bearer
            .or_else(|| parts.headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim);
        let user = state
            .auth
            .check(&state.store, key)
            .await
            .map_err(RestError::Internal)??;
        if !state.key_limiter.allow(&user.key_id) {
            return Err(RestError::RateLimited);
        }
        Ok(AccountUser { user })
    }
}

impl webhooks::HookOwner for AccountUser {
    fn owner(&self) -> souk_app::webhooks::Owner<'_> {
        souk_app::webhooks::Owner::User {
            id: &self.user.user_id,
            is_supplier: self.user.is_supplier,
        }
    }
}
