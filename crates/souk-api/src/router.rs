//! The HTTP routes and the layers around them.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use souk_core::ApiError;
use tower_http::catch_panic::CatchPanicLayer;

use crate::state::AppState;
use crate::transport::{error_response, json_value};
use crate::v2;

pub fn router(state: AppState) -> Router {
    let api_v2 = get(v2::handle).post(v2::handle);
    let mut routes = Router::new()
        .route("/api/v2", api_v2.clone())
        .route("/api/v2/", api_v2)
        .route(
            "/stubs/handler_api.php",
            get(crate::stubs::handle).post(crate::stubs::handle),
        )
        .route(
            "/webhooks/sms/{gateway_id}",
            axum::routing::post(crate::webhooks::sms),
        )
        .route(
            "/webhooks/payments/{gateway}",
            axum::routing::post(crate::webhooks::payment),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if state.config.metrics_listen.is_none() {
        routes = routes.route("/metrics", get(metrics));
    }
    routes
        .nest(
            crate::operator::PREFIX,
            crate::operator::routes().into_router(),
        )
        .nest(
            crate::account::PREFIX,
            crate::account::routes().into_router(),
        )
        .nest(
            crate::supplier::PREFIX,
            crate::supplier::routes().into_router(),
        )
        .route("/openapi/admin.json", get(crate::openapi::admin))
        .merge(crate::web::routes())
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            wait_for_catalogue,
        ))
        // Innermost first: the per-address limit before anything reads the request; the
        // API answers in JSON whatever refused it; panics become a 500; every answer
        // carries the security headers; every answer's status is counted.
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::ratelimit::limit_addresses,
        ))
        .layer(middleware::from_fn(json_api_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(middleware::map_response(security_headers))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_statuses,
        ))
        .with_state(state)
}

/// `/metrics` alone, for its own listener (`SOUK_METRICS_LISTEN`).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Counts every response's status in the transport-fault metrics (any route).
async fn count_statuses(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    state.metrics.record_status(response.status().as_u16());
    response
}

/// Refusals that axum or a layer answered in plain text or with no body (a 405 for PUT,
/// a rejected extractor) get the JSON error shape under `/api/` and `/webhooks/`, where
/// clients parse every answer.
async fn json_api_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let is_api = path.starts_with("/api/") || path.starts_with("/webhooks/");
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !is_api || is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("Error").to_owned()
    } else {
        text
    };
    let mut json = json_value(status, &serde_json::json!({ "error": message }));
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            json.headers_mut().insert(name.clone(), value.clone());
        }
    }
    json
}

/// The Content-Security-Policy of every answer.
pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Scripts, styles and requests only from this origin; no framing; no sniffing. On every
/// answer, pages and 404s and JSON alike. A page may set its own variant of [`CSP`] (the
/// payment confirmation, whose form is answered with a redirect to the gateway's pay
/// page): that one is kept.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// Holds every request but `/healthz`, `/readyz` and `/metrics` until the catalogue's
/// first snapshot is in (at once after that): a node answers its health checks while it
/// reads a large catalogue, and no request sees a catalogue before it is whole.
async fn wait_for_catalogue(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if path != "/healthz" && path != "/readyz" && path != "/metrics" {
        state.cache.loaded().await;
    }
    next.run(request).await
}

/// 200 once migrations ran and the node listens (the catalogue may still be loading:
/// requests that need it wait for it); 503 before and while shutting down.
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

/// For a load balancer: 200 once the node also holds its whole catalogue (requests are
/// answered without waiting), 503 `loading` while it reads it, `starting` before and
/// while shutting down.
async fn readyz(State(state): State<AppState>) -> Response {
    let status = match (state.is_ready(), state.cache.is_loaded()) {
        (true, true) => return json_value(StatusCode::OK, &serde_json::json!({ "status": "ok" })),
        (true, false) => "loading",
        (false, _) => "starting",
    };
    json_value(
        StatusCode::SERVICE_UNAVAILABLE,
        &serde_json::json!({ "status": status }),
    )
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.metrics.render();
    crate::ops_metrics::render(&state.store, state.now(), &mut text).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
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

/// Serves until `shutdown` resolves, then finishes in-flight requests. With a
/// `metrics_listener`, `/metrics` is served there (and not on `listener`) until then.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let metrics_task = metrics_listener.map(|l| {
        let app = metrics_router(state.clone());
        AbortOnDrop(tokio::spawn(async move {
            if let Err(e) = axum::serve(l, app).await {
                tracing::error!(error = %e, "metrics listener failed");
            }
        }))
    });
    state.set_ready(true);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            state.set_ready(false);
        })
        .await;
    drop(metrics_task);
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
