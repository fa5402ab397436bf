//! `refill` and `refill_status` (PerfectPanel extensions, SPEC 9).

use axum::http::StatusCode;
use axum::response::Response;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};
use souk_client::api_v2::ApiV2Client;
use souk_core::{ApiError, Params};
use souk_store::{AuthUser, Refill};

use super::Fault;
use crate::state::AppState;
use crate::transport::json_value;

fn id(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|n| *n > 0)
}

async fn upstream(state: &AppState, provider_id: &str) -> Option<ApiV2Client> {
    let p = state.store.provider(provider_id).await.ok()?;
    souk_app::upstream::api_client(&p, state.config.allow_private_upstreams).ok()
}

/// One refill request: the new refill's id or why not.
async fn refill_one(
    state: &AppState,
    user: &AuthUser,
    order_id: i64,
) -> Result<Result<i64, ApiError>, Fault> {
    Ok(souk_app::refill::request(&state.upstream(), &user.user_id, order_id, state.now()).await?)
}

/// How many upstream calls one multi-id `refill` or `refill_status` has in flight: a
/// list of 100 waits for about 100 / this round trips, not 100, and one slow provider
/// does not hold the others up behind it.
const UPSTREAM_PARALLEL: usize = 8;

pub async fn refill(state: &AppState, user: &AuthUser, params: &Params) -> Result<Response, Fault> {
    if let Some(list) = params.id_list("orders", "order")? {
        // Owned ids: a closure over borrowed ones makes the handler's future not `Send`.
        let out: Vec<Value> = stream::iter(list)
            .map(|raw| async move {
                let outcome = match id(&raw) {
                    Some(order) => refill_one(state, user, order).await?,
                    None => Err(ApiError::IncorrectOrderId),
                };
                let order = id(&raw).map_or_else(|| json!(raw), |n| json!(n));
                Ok::<_, Fault>(match outcome {
                    Ok(refill) => json!({ "order": order, "refill": refill }),
                    Err(e) => json!({ "order": order, "refill": { "error": e.to_string() } }),
                })
            })
            .buffered(UPSTREAM_PARALLEL)
            .try_collect()
            .await?;
        return Ok(json_value(StatusCode::OK, &out));
    }
    let raw = params.get("order").ok_or(ApiError::OrderIdRequired)?;
    let order = id(raw).ok_or(ApiError::IncorrectOrderId)?;
    let refill = refill_one(state, user, order).await??;
    Ok(json_value(StatusCode::OK, &json!({ "refill": refill })))
}

/// The seed's status names for a refill.
fn display(status: &str) -> &'static str {
    match status {
        "pending" => "Pending",
        "in progress" | "processing" => "In progress",
        "completed" => "Completed",
        "rejected" | "canceled" | "cancelled" => "Rejected",
        _ => "In progress",
    }
}

async fn refresh(state: &AppState, refill: &Refill) -> String {
    let open = !matches!(refill.status.as_str(), "completed" | "rejected");
    if let (true, Some(provider), Some(external)) = (open, &refill.provider_id, &refill.external_id)
    {
        if let Some(client) = upstream(state, provider).await {
            let answer = client.refill_status(external).await;
            souk_app::upstream::record_oddities(&state.store, provider, &client, state.now()).await;
            if let Ok(status) = answer {
                let status = status.trim().to_ascii_lowercase();
                if status != refill.status {
                    let _ = state
                        .store
                        .set_refill_status(refill.id, &status, state.now())
                        .await;
                }
                return status;
            }
        }
    }
    refill.status.clone()
}

pub async fn refill_status(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
) -> Result<Response, Fault> {
    if let Some(list) = params.id_list("refills", "refill")? {
        let ids: Vec<i64> = list.iter().filter_map(|r| id(r)).collect();
        let found = state.store.refills_of(&user.user_id, &ids).await?;
        let found = &found;
        let out: Vec<Value> = stream::iter(list)
            .map(|raw| async move {
                let key = id(&raw).map_or_else(|| json!(raw), |n| json!(n));
                match id(&raw).and_then(|n| found.iter().find(|r| r.id == n)) {
                    Some(refill) => {
                        let status = refresh(state, refill).await;
                        json!({ "refill": key, "status": display(&status) })
                    }
                    None => json!({ "refill": key, "status": { "error": ApiError::RefillNotFound.to_string() } }),
                }
            })
            .buffered(UPSTREAM_PARALLEL)
            .collect()
            .await;
        return Ok(json_value(StatusCode::OK, &out));
    }
    let raw = params.get("refill").ok_or(ApiError::RefillIdRequired)?;
    let refill_id = id(raw).ok_or(ApiError::RefillNotFound)?;
    let found = state.store.refills_of(&user.user_id, &[refill_id]).await?;
    let refill = found.first().ok_or(ApiError::RefillNotFound)?;
    let status = refresh(state, refill).await;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "status": display(&status) }),
    ))
}
