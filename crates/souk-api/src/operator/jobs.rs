//! The job queue as the operator sees it: jobs parked after their last try (with the
//! error that parked them), jobs waiting to run, and a retry for a parked one.

use crate::routes::{get, post, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_store::Job;

use super::{status_filter, Operator};
use crate::rest::{QueryParams, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/jobs", get(list))
        .route("/jobs/{id}/retry", post(retry))
}

fn view(job: &Job) -> Value {
    json!({
        "id": job.id,
        "kind": job.kind,
        "payload": serde_json::from_str::<Value>(&job.payload).unwrap_or(Value::Null),
        "state": job.state,
        "runAt": job.run_at,
        "attempts": job.attempts,
        "maxAttempts": job.max_attempts,
        "lastError": job.last_error,
        "createdAt": job.created_at,
        "updatedAt": job.updated_at,
    })
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
}

/// `GET /jobs?state=parked|ready` (default `parked`), oldest first, at most 500.
async fn list(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Response, RestError> {
    let wanted = status_filter(q.state.as_deref(), &["parked", "ready"], "parked or ready")?
        .unwrap_or("parked");
    let jobs: Vec<Value> = state
        .store
        .jobs(wanted, 500)
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "jobs": jobs })))
}

/// `POST /jobs/{id}/retry`: a parked job runs again at once, with all its tries.
async fn retry(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let not_found = || RestError::NotFound("Parked job not found".into());
    let id: i64 = id.trim().parse().map_err(|_| not_found())?;
    // Audited as the operator API, in the retry's transaction.
    if !souk_app::operators::retry_job(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        id,
        state.now(),
    )
    .await?
    {
        return Err(not_found());
    }
    Ok(json_value(
        StatusCode::OK,
        &json!({ "job": id, "state": "ready" }),
    ))
}
