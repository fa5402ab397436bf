//! `Idempotency-Key` on `add` (SPEC 7): which key a request carries, and the fingerprint
//! that tells a retry of the same order from a different order under a reused key.

use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::order::{MAX_IDEMPOTENCY_KEY, SMM_FIELDS};
use crate::order_input::AddInput;
use crate::params::parse_count;

/// The request's key: the `Idempotency-Key` header, else the `idempotency_key` field;
/// blank means none.
pub fn key(params: &impl AddInput, header: Option<&str>) -> Result<Option<String>, ApiError> {
    let key = header
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or_else(|| params.get("idempotency_key"));
    match key {
        Some(k) if k.len() > MAX_IDEMPOTENCY_KEY => Err(ApiError::IdempotencyKeyTooLong),
        k => Ok(k.map(str::to_owned)),
    }
}

/// A digest of what the buyer sent, with the service resolved to its number. Only the
/// buyer's own words go in: anything the server derives (the charge, the candidate
/// subproducts, the shop) may change between a request and its retry, and the retry must
/// still find the first order.
pub fn fingerprint(params: &impl AddInput, service_number: i64) -> String {
    let count = |name: &str| {
        params
            .get(name)
            .map(|t| parse_count(t).map_or_else(|| t.to_owned(), |n| n.to_string()))
    };
    let mut fields: Vec<(&str, Option<String>)> = vec![
        ("service", Some(service_number.to_string())),
        ("quantity", count("quantity")),
        ("link", Some(params.get("link").unwrap_or("").to_owned())),
        (
            "subproduct",
            params.get("subproduct").map(str::to_ascii_lowercase),
        ),
        ("runs", count("runs")),
        ("interval", count("interval")),
    ];
    fields.extend(
        SMM_FIELDS
            .iter()
            .map(|name| (*name, params.get(name).map(str::to_owned))),
    );
    // JSON keeps the fields apart unambiguously; the prefix versions the format.
    let encoded = serde_json::to_string(&fields).unwrap_or_default();
    let mut digest = Sha256::new();
    digest.update(b"souk add v2\0");
    digest.update(encoded.as_bytes());
    hex::encode(digest.finalize())
}

/// Whether a key stored with fingerprint `stored` was used for the request `fingerprint`
/// describes. Fingerprints are hex SHA-256 digests; a key stored by an earlier version
/// (whose fingerprint was the validated order's Debug text, never 64 hex digits) is taken
/// as the same request for its remaining day, so a retry across an upgrade returns its
/// order instead of being refused.
pub fn same_request(stored: &str, fingerprint: &str) -> bool {
    let digest = stored.len() == 64 && stored.bytes().all(|b| b.is_ascii_hexdigit());
    stored == fingerprint || !digest
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::Params;

    #[test]
    fn header_wins_over_the_field_and_blank_is_none() {
        let p = Params::from_pairs([("idempotency_key", " field ")]);
        assert_eq!(key(&p, Some(" head ")), Ok(Some("head".into())));
        assert_eq!(key(&p, Some("  ")), Ok(Some("field".into())));
        assert_eq!(key(&p, None), Ok(Some("field".into())));
        assert_eq!(
            key(&Params::from_pairs([("idempotency_key", " ")]), None),
            Ok(None)
        );
        let long = "k".repeat(MAX_IDEMPOTENCY_KEY + 1);
        assert_eq!(
            key(&Params::new(), Some(&long)),
            Err(ApiError::IdempotencyKeyTooLong)
        );
        assert_eq!(
            key(&Params::from_pairs([("idempotency_key", &long)]), None),
            Err(ApiError::IdempotencyKeyTooLong)
        );
    }

    #[test]
    fn fingerprint_is_what_the_buyer_sent() {
        let base = Params::from_pairs([("service", "7"), ("quantity", "2"), ("link", "a")]);
        let same = fingerprint(&base, 7);
        // The service given by entity id resolves to the same number; spelling of numbers
        // and ids, the key itself and unrelated fields do not matter.
        let respelled = Params::from_pairs([
            ("service", "0123456789abcdef01234567"),
            ("quantity", " 2.0 "),
            ("link", "a"),
            ("idempotency_key", "x"),
            ("lang", "ru"),
        ]);
        assert_eq!(fingerprint(&respelled, 7), same);
        let sub = |s: &str| {
            let mut p = base.clone();
            p.push("subproduct", s);
            fingerprint(&p, 7)
        };
        assert_eq!(sub("ABCDEF"), sub("abcdef"));
        for (name, value) in [
            ("quantity", "3"),
            ("link", "b"),
            ("subproduct", "abcdef"),
            ("runs", "2"),
            ("interval", "5"),
            ("comments", "nice"),
            ("answer_number", "1"),
        ] {
            let mut p = base.clone();
            p.push(name, value);
            assert_ne!(fingerprint(&p, 7), same, "{name}");
        }
        assert_ne!(fingerprint(&base, 8), same);
        assert_eq!(same.len(), 64);
    }

    #[test]
    fn digests_must_match_and_legacy_fingerprints_pass() {
        let a = "a".repeat(64);
        let b = "b".repeat(64);
        assert!(same_request(&a, &a));
        assert!(!same_request(&a, &b));
        assert!(same_request(
            "Product(ProductOrder { service_number: 7 })",
            &b
        ));
    }
}
