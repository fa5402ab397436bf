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

/// Every operation an OpenAPI document lists, as (method, path) sorted, the shape of
/// [`crate::documented_routes`]; `None` when `paths` or one of its entries is not an
/// object.
pub fn operations(doc: &serde_json::Value) -> Option<Vec<(String, String)>> {
    let mut listed = Vec::new();
    for (path, ops) in doc["paths"].as_object()? {
        for method in ops.as_object()?.keys() {
            listed.push((method.clone(), path.clone()));
        }
    }
    listed.sort();
    Some(listed)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    /// The document lists exactly what the routers serve: a route added without its
    /// documentation fails here.
    #[test]
    fn documents_every_route_of_the_routers() {
        let doc: Value = serde_json::from_str(super::ADMIN_JSON).expect("admin.json is JSON");
        let listed = super::operations(&doc).expect("paths and their operations are objects");
        assert_eq!(listed, crate::documented_routes());
    }
}
