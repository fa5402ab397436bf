//! The HTTP routes and the layers around them.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use souk_core::ApiError;
use tower_http::catch_panic::CatchPanicLayer;

use crate::state::AppState;
use crate::transport::{error_response, json_value};
use crate::v2;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/v2", get(v2::handle).post(v2::handle))
        .route("/api/v2/", get(v2::handle).post(v2::handle))
        .route(
            "/stubs/handler_api.php",
            get(crate::stubs::handle).post(crate::stubs::handle),
        )
        .route(
            "/webhooks/sms/{gateway_id}",
            axum::routing::post(crate::webhooks::sms),
        )
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest(
            crate::operator::PREFIX,
            crate::operator::routes().into_router(),
        )
        .nest(
            crate::supplier::PREFIX,
            crate::supplier::routes().into_router(),
        )
        .route("/openapi/admin.json", get(crate::openapi::admin))
        .merge(crate::web::routes())
        .fallback(not_found)
        .layer(CatchPanicLayer::custom(panic_response))
        .with_state(state)
}

/// 200 once migrations ran and the caches are loaded; 503 before and while shutting down.
async fn healthz(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        json_value(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
    } else {
        json_value(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "status": "starting" }),
        )
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// Unknown paths: JSON under `/api/`, where clients parse every answer; a page elsewhere.
async fn not_found(uri: axum::http::Uri) -> Response {
    if uri.path().starts_with("/api/") {
        json_value(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "error": "Not found" }),
        )
    } else {
        crate::web::not_found()
    }
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    error_response(StatusCode::INTERNAL_SERVER_ERROR, &ApiError::Internal)
}

/// Serves until `shutdown` resolves, then finishes in-flight requests.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    state.set_ready(true);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.set_ready(false);
        })
        .await;
    result
}

/// Keeps this node's caches in step with changes made elsewhere: NOTIFY on PostgreSQL,
/// and a poll of the version counters on both engines. Runs until the task is dropped.
pub async fn watch_changes(state: AppState) {
    let poll = state.config.poll_interval;
    // The listener stops with this task: dropping the guard aborts it.
    let _listener = state.store.postgres_pool().cloned().map(|pool| {
        let listener_state = state.clone();
        AbortOnDrop(tokio::spawn(async move {
            listen_postgres(listener_state, pool).await
        }))
    });
    let mut ticks: u64 = 0;
    loop {
        tokio::time::sleep(poll).await;
        ticks += 1;
        if let Err(e) = poll_once(&state, ticks.is_multiple_of(10)).await {
            tracing::warn!(error = %e, "change poll failed");
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn poll_once(state: &AppState, with_stock: bool) -> Result<(), souk_store::StoreError> {
    let versions = state.store.state_versions().await?;
    state.auth.invalidate_to(versions.auth);
    state.cache.refresh_to(versions.catalogue).await?;
    if with_stock {
        state.cache.resync_stock().await?;
    }
    Ok(())
}

async fn listen_postgres(state: AppState, pool: sqlx::PgPool) {
    while !pool.is_closed() {
        match sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if let Err(e) = listener.listen(souk_store::versions::CHANNEL).await {
                    tracing::warn!(error = %e, "LISTEN failed");
                } else {
                    // Anything sent while we were not listening is picked up by a poll.
                    let _ = poll_once(&state, true).await;
                    loop {
                        match listener.try_recv().await {
                            Ok(Some(n)) => {
                                if let Some(change) = souk_store::Change::parse(n.payload()) {
                                    if let Err(e) = state.apply_changes(&[change]).await {
                                        tracing::warn!(error = %e, "applying a change failed");
                                    }
                                }
                            }
                            Ok(None) => {
                                tracing::warn!("change listener lost its connection");
                                break;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, "change listener failed");
                                break;
                            }
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "change listener cannot connect"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
