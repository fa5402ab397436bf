//! `/openapi.json`: one OpenAPI 3 document for the JSON APIs. The buyer API `/api/v2` is
//! generated from the same action description as the docs page; the supplier and operator
//! APIs come from the hand-written `/openapi/admin.json`.

use std::sync::OnceLock;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::docs::{actions, Param};
use crate::transport::json_bytes;

fn schema_of(p: &Param) -> Value {
    let mut s = match p.kind.as_str() {
        "number" => json!({"type": "string", "pattern": "^[0-9]+$"}),
        "bool" => json!({"type": "string", "enum": ["true", "false", "1", "0"]}),
        "choice" => json!({"type": "string", "enum": p.choices}),
        "lang" => {
            let mut codes: Vec<&str> = souk_core::Lang::ALL.iter().map(|l| l.code()).collect();
            codes.push("jp");
            json!({"type": "string", "enum": codes})
        }
        _ => json!({"type": "string"}),
    };
    s["description"] = json!(p.desc.en);
    if !p.example.is_empty() {
        s["example"] = json!(p.example);
    }
    s
}

fn buyer_api() -> Value {
    let d = actions();
    let mut properties = Map::new();
    for p in &d.common {
        properties.insert(p.name.clone(), schema_of(p));
    }
    let names: Vec<&str> = d.actions.iter().map(|a| a.action.as_str()).collect();
    properties.insert(
        "action".into(),
        json!({"type": "string", "enum": names, "description": "What to do"}),
    );
    let mut request_examples = Map::new();
    let mut response_examples = Map::new();
    for a in &d.actions {
        for p in a.params.iter().chain(a.lang.then_some(&d.lang_param)) {
            properties
                .entry(p.name.clone())
                .or_insert_with(|| schema_of(p));
        }
        let mut example = Map::new();
        example.insert("key".into(), json!("YOUR_API_KEY"));
        example.insert("action".into(), json!(a.action));
        example.extend(a.example.clone());
        request_examples.insert(
            a.action.clone(),
            json!({"summary": a.title.en, "description": a.summary.en, "value": example}),
        );
        response_examples.insert(
            a.action.clone(),
            json!({"summary": a.title.en, "value": a.response}),
        );
    }
    let errors: Vec<Value> = souk_core::ApiError::examples()
        .iter()
        .map(|e| json!(e.to_string()))
        .collect();
    response_examples.insert(
        "error".into(),
        json!({"summary": "Any API error", "value": {"error": "Invalid API key"}}),
    );
    let schema = json!({"type": "object", "required": ["key", "action"], "properties": properties});
    json!({
        "post": {
            "tags": ["Buyer"],
            "summary": "The buyer API: one endpoint, the action chosen by `action`",
            "description": "HstockPlus API v2 (PerfectPanel-compatible). Form, multipart or JSON bodies; GET with a query string works too. Every API outcome is HTTP 200 with JSON, errors as {\"error\": \"...\"}.",
            "requestBody": {"required": true, "content": {
                "application/x-www-form-urlencoded": {"schema": schema.clone(), "examples": request_examples.clone()},
                "application/json": {"schema": schema, "examples": request_examples}
            }},
            "responses": {
                "200": {"description": "The action's answer, or {\"error\": ...}", "content": {"application/json": {"schema": {}, "examples": response_examples}}},
                "413": {"description": "Body over 1 MiB", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}},
                "429": {"description": "Rate limited", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}},
                "500": {"description": "Internal error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApiError"}}}}
            },
            "x-error-messages": errors
        }
    })
}

fn build() -> Vec<u8> {
    let mut doc: Value =
        serde_json::from_str(crate::openapi::ADMIN_JSON).unwrap_or_else(|_| json!({}));
    doc["info"] = json!({
        "title": "Souk APIs",
        "version": "1.0.0",
        "description": "The buyer API (`/api/v2`, key as `key` or `X-Api-Key`), the supplier API (`/api/admin/v2`, `X-Api-Key` of a shop owner) and the operator API (`/api/operator/v1`, `Authorization: Bearer`)."
    });
    let buyer = buyer_api();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        let mut all = Map::new();
        all.insert("/api/v2".into(), buyer);
        all.extend(std::mem::take(paths));
        *paths = all;
    }
    if let Some(tags) = doc.get_mut("tags").and_then(Value::as_array_mut) {
        tags.insert(0, json!({"name": "Buyer", "description": "Catalogue, orders, balance and SMS verification."}));
    }
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas
            .entry("ApiError")
            .or_insert_with(|| json!({"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}));
    }
    serde_json::to_vec_pretty(&doc).unwrap_or_default()
}

pub async fn document() -> Response {
    static DOC: OnceLock<Vec<u8>> = OnceLock::new();
    json_bytes(StatusCode::OK, DOC.get_or_init(build).clone())
}

#[cfg(test)]
mod tests {
    #[test]
    fn merges_the_buyer_api_with_the_admin_document() {
        let doc: serde_json::Value = serde_json::from_slice(&super::build()).expect("JSON");
        assert_eq!(doc["openapi"], "3.0.3");
        assert!(doc["paths"]["/api/v2"]["post"]["requestBody"].is_object());
        assert!(doc["paths"]["/api/admin/v2/me"].is_object());
        let examples = &doc["paths"]["/api/v2"]["post"]["requestBody"]["content"]
            ["application/x-www-form-urlencoded"]["examples"];
        assert_eq!(examples["services"]["value"]["action"], "services");
    }
}
