//! Users, their API keys and balances (always through the ledger).

use std::collections::HashMap;

use crate::routes::{delete, get, post, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::accounts::{self, CreateUser};
use souk_app::balances::{self, Account, AdjustBalance, Adjusted, BalanceError};
use souk_app::operator_users;
use souk_app::operators::Acting;
use souk_core::balance::{BalanceRefusal, BalanceRequest};
use souk_core::clock::iso_millis;
use souk_core::supply;
use souk_core::Money;
use souk_store::{ApiKeyRecord, StoreError, UserRecord, UserStatus};

use super::Operator;
use crate::rest::{entity_id, AmountInput, JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::supplier::{paging, paging_of};
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(one))
        .route("/users/{id}/suspend", post(suspend))
        .route("/users/{id}/reactivate", post(reactivate))
        .route("/users/{id}/supplier", post(make_supplier))
        .route("/users/{id}/keys", get(keys).post(create_key))
        .route("/users/{id}/keys/rotate", post(rotate_key))
        .route("/keys/{id}", delete(revoke_key))
        .route("/users/{id}/balance", post(balance))
        .route("/users/{id}/ledger", get(ledger))
}

pub fn user_view(u: &UserRecord) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "status": u.status,
        "supplier": u.is_supplier,
        "balance": Money::from_micros(u.balance).display2(),
        "createdAt": iso_millis(u.created_at),
    })
}

fn key_view(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "prefix": k.key_prefix,
        "label": k.label,
        "active": k.revoked_at.is_none(),
        "createdAt": iso_millis(k.created_at),
        "revokedAt": k.revoked_at.map(iso_millis),
    })
}

fn user_id(text: &str) -> Result<String, RestError> {
    entity_id(text, "User")
}

async fn list(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let (limit, offset) = paging_of(&q, 50, 500)?;
    let (users, total) = state
        .store
        .users(q.get("email").map(String::as_str), limit, offset)
        .await?;
    let rows: Vec<Value> = users.iter().map(user_view).collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({"users": rows, "count": rows.len(), "total": total}),
    ))
}

/// `GET /users/{id}`: the user, their shops and keys.
async fn one(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    let user = state.store.user(&id).await?;
    let shops: Vec<Value> = state
        .store
        .shops_of(&id)
        .await?
        .into_iter()
        .map(|(id, name, active)| json!({"shopId": id, "name": name, "active": active}))
        .collect();
    let keys: Vec<Value> = state
        .store
        .api_keys(&id)
        .await?
        .iter()
        .map(key_view)
        .collect();
    let mut v = user_view(&user);
    v["shops"] = json!(shops);
    v["keys"] = json!(keys);
    Ok(json_value(StatusCode::OK, &v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewBody {
    email: String,
    #[serde(default)]
    name: String,
    balance: Option<AmountInput>,
    #[serde(default)]
    supplier: bool,
    /// With `supplier`: the new shop's name (default: the email's local part).
    shop_name: Option<String>,
}

/// `POST /users`: 201 with the user, the API key (shown once) and, for a supplier, the
/// shop.
async fn create(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<NewBody>,
) -> Result<Response, RestError> {
    let initial_balance = match &body.balance {
        Some(b) => b.price("balance")?,
        None => Money::ZERO,
    };
    let name = supply::check_len("name", &body.name, supply::MAX_NAME)?;
    let shop_name = match (&body.shop_name, body.supplier) {
        (Some(_), false) => {
            return Err(RestError::BadRequest(
                "shopName is for suppliers (set supplier: true)".into(),
            ))
        }
        (Some(n), true) => Some(supply::check_name("shopName", n)?),
        (None, true) => Some(supply::default_shop_name(&body.email)),
        (None, false) => None,
    };
    let command = CreateUser {
        email: body.email,
        name,
        initial_balance,
        shop_name,
    };
    // Audited as the operator API: the user, then the shop, each in its transaction.
    let created =
        accounts::create_user(&state.store, &Acting::operator_api(), command, state.now())
            .await
            .map_err(|e| RestError::from(e.into_store_error()))?;
    state.apply_changes(&created.changes).await?;
    let user = state.store.user(&created.user_id).await?;
    Ok(json_value(
        StatusCode::CREATED,
        &json!({"user": user_view(&user), "apiKey": created.api_key, "shopId": created.shop_id}),
    ))
}

async fn set_status(
    state: AppState,
    id: String,
    status: UserStatus,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    // Audited as the operator API, in the change's transaction.
    let changes = operator_users::set_status(
        &state.store,
        &Acting::operator_api(),
        &id,
        status,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    let user = state.store.user(&id).await?;
    Ok(json_value(StatusCode::OK, &user_view(&user)))
}

async fn suspend(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    set_status(state, id, UserStatus::Suspended).await
}

async fn reactivate(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    set_status(state, id, UserStatus::Active).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SupplierBody {
    shop_name: Option<String>,
}

/// `POST /users/{id}/supplier` (optional `{"shopName"}`): a supplier with a shop.
async fn make_supplier(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<JsonBody<SupplierBody>>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    let body = body.map(|JsonBody(b)| b).unwrap_or_default();
    let (shop, changes) = accounts::make_supplier(
        &state.store,
        &Acting::operator_api(),
        &id,
        body.shop_name.as_deref(),
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    let user = state.store.user(&id).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"user": user_view(&user), "shopId": shop}),
    ))
}

async fn keys(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    state.store.user(&id).await?;
    let keys: Vec<Value> = state
        .store
        .api_keys(&id)
        .await?
        .iter()
        .map(key_view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({"keys": keys})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    #[serde(default)]
    label: String,
}

/// `POST /users/{id}/keys`: one more key, shown once. 201.
async fn create_key(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<JsonBody<KeyBody>>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    let label = body.map(|JsonBody(b)| b.label).unwrap_or_default();
    let (key_id, key) = operator_users::create_key(
        &state.store,
        &Acting::operator_api(),
        &id,
        &label,
        state.now(),
    )
    .await?;
    Ok(json_value(
        StatusCode::CREATED,
        &json!({"id": key_id, "key": key, "label": label.trim()}),
    ))
}

/// `POST /users/{id}/keys/rotate`: every key revoked, one new key shown once.
async fn rotate_key(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    let (key, changes) =
        operator_users::rotate_key(&state.store, &Acting::operator_api(), &id, state.now()).await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &json!({"key": key})))
}

async fn revoke_key(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "API key")?;
    let changes = operator_users::revoke_key(
        &state.store,
        &Acting::operator_api(),
        None,
        &id,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"id": id, "revoked": true}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BalanceBody {
    amount: AmountInput,
    /// `topup` (a credit) or `adjust` (either way, with a note). Default: by the sign.
    kind: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /users/{id}/balance`: a top-up or an adjustment, through the ledger; never below
/// zero.
async fn balance(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<BalanceBody>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    let command = AdjustBalance {
        account: Account::Id(id),
        amount: body.amount.signed("amount")?,
        request: BalanceRequest::named(body.kind.as_deref()),
        note: body.note,
    };
    let Adjusted {
        user_id: id,
        balance,
    } = balances::adjust_balance_as(&state.store, &Acting::operator_api(), command, state.now())
        .await
        .map_err(|e| match e {
            BalanceError::Refused(BalanceRefusal::Note(e)) => RestError::from(e),
            BalanceError::Refused(refusal) => RestError::BadRequest(refusal.to_string()),
            BalanceError::Store(e) => RestError::from(e),
            // Users are named by id here, never by email.
            BalanceError::NoUserWithEmail => RestError::from(StoreError::NotFound("User")),
        })?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"userId": id, "balance": balance.display2(), "currency": state.config.currency}),
    ))
}

async fn ledger(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let id = user_id(&id)?;
    state.store.user(&id).await?;
    let (limit, _) = paging(q.get("limit").map(String::as_str), None, 50, 500)?;
    let rows: Vec<Value> = state
        .store
        .ledger(&id, limit)
        .await?
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "amount": Money::from_micros(e.amount).display2(),
                "balanceAfter": Money::from_micros(e.balance_after).display2(),
                "kind": e.kind,
                "order": e.order_id,
                "note": e.note,
                "createdAt": iso_millis(e.created_at),
            })
        })
        .collect();
    Ok(json_value(StatusCode::OK, &json!({"ledger": rows})))
}
