//! The OpenAPI 3 document of the supplier and operator APIs, written by hand and served
//! as it is at `GET /openapi/admin.json`.

use axum::http::StatusCode;
use axum::response::Response;

use crate::transport::json_bytes;

/// The document's text.
pub const ADMIN_JSON: &str = include_str!("openapi/admin.json");

pub async fn admin() -> Response {
    json_bytes(StatusCode::OK, ADMIN_JSON.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The document lists exactly what the routers serve: a route added without its
    /// documentation fails here.
    #[test]
    fn documents_every_route_of_the_routers() {
        let doc: Value = serde_json::from_str(super::ADMIN_JSON).expect("admin.json is JSON");
        let mut listed: Vec<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, ops)| {
                ops.as_object()
                    .expect("operations")
                    .keys()
                    .map(move |m| (m.clone(), path.clone()))
            })
            .collect();
        listed.sort();
        assert_eq!(listed, crate::documented_routes());
    }
}
