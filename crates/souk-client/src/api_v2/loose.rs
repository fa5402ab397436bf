//! Reading what PHP panels send as "API v2": JSON whatever the Content-Type says, after a
//! BOM or blank lines; errors as `{"error":..}`, `{"status":"error"|"fail",..}` or a bare
//! string; lists bare or wrapped in `data`. Each liberty a provider takes is noted as an
//! [`Oddity`], counted per provider, so the operator sees what it gets wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::ClientError;

/// A liberty a provider took with the protocol, that we read past.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Oddity {
    JsonAsHtml,
    JsonAsText,
    NoContentType,
    LeadingWhitespace,
    Bom,
    NumbersAsStrings,
    BooleansAsNumbers,
    NullNumbers,
    TypeSpelling,
    WrappedList,
    EmptyListAsText,
    ErrorAsText,
    ErrorAsStatus,
}

impl Oddity {
    pub const ALL: [Oddity; 13] = [
        Oddity::JsonAsHtml,
        Oddity::JsonAsText,
        Oddity::NoContentType,
        Oddity::LeadingWhitespace,
        Oddity::Bom,
        Oddity::NumbersAsStrings,
        Oddity::BooleansAsNumbers,
        Oddity::NullNumbers,
        Oddity::TypeSpelling,
        Oddity::WrappedList,
        Oddity::EmptyListAsText,
        Oddity::ErrorAsText,
        Oddity::ErrorAsStatus,
    ];

    /// The name it is stored and shown under.
    pub fn kind(self) -> &'static str {
        match self {
            Oddity::JsonAsHtml => "json_as_html",
            Oddity::JsonAsText => "json_as_text",
            Oddity::NoContentType => "no_content_type",
            Oddity::LeadingWhitespace => "leading_whitespace",
            Oddity::Bom => "bom",
            Oddity::NumbersAsStrings => "numbers_as_strings",
            Oddity::BooleansAsNumbers => "booleans_as_numbers",
            Oddity::NullNumbers => "null_numbers",
            Oddity::TypeSpelling => "type_spelling",
            Oddity::WrappedList => "wrapped_list",
            Oddity::EmptyListAsText => "empty_list_as_text",
            Oddity::ErrorAsText => "error_as_text",
            Oddity::ErrorAsStatus => "error_as_status",
        }
    }

    pub fn from_kind(kind: &str) -> Option<Oddity> {
        Oddity::ALL.into_iter().find(|o| o.kind() == kind)
    }

    /// What the provider did, for the operator.
    pub fn describe(self) -> &'static str {
        match self {
            Oddity::JsonAsHtml => "sends JSON as Content-Type text/html",
            Oddity::JsonAsText => "sends JSON under a Content-Type that is not JSON",
            Oddity::NoContentType => "sends JSON without a Content-Type",
            Oddity::LeadingWhitespace => "sends blank space before the JSON",
            Oddity::Bom => "sends a UTF-8 byte order mark before the JSON",
            Oddity::NumbersAsStrings => "sends numbers as strings (\"rate\":\"0.42\")",
            Oddity::BooleansAsNumbers => "sends booleans as 1 or \"1\"",
            Oddity::NullNumbers => "sends null where a number belongs (start_count)",
            Oddity::TypeSpelling => "spells service types its own way (\"default\")",
            Oddity::WrappedList => "wraps the services list in {\"data\":[...]}",
            Oddity::EmptyListAsText => "sends an empty list as text (\"Empty Data\")",
            Oddity::ErrorAsText => "sends errors as a bare string",
            Oddity::ErrorAsStatus => "sends errors as {\"status\":\"error\"} or \"fail\"",
        }
    }
}

/// The oddities of one answer (each counted once per answer).
pub type Seen = BTreeSet<Oddity>;

/// Oddities counted over a client's calls, until taken.
#[derive(Clone, Debug, Default)]
pub struct Tally(Arc<Mutex<BTreeMap<Oddity, u64>>>);

impl Tally {
    pub fn add(&self, seen: &Seen) {
        if seen.is_empty() {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for o in seen {
            *map.entry(*o).or_default() += 1;
        }
    }

    /// Everything counted so far, leaving the tally empty.
    pub fn take(&self) -> Vec<(Oddity, u64)> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        std::mem::take(&mut *map).into_iter().collect()
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An HTTP 200 body as JSON, whatever its Content-Type; an HTML page (or anything that is
/// not JSON under an HTML Content-Type) stays [`ClientError::Html`].
pub fn decode(
    content_type: Option<&str>,
    body: &[u8],
    seen: &mut Seen,
) -> Result<Value, ClientError> {
    let mut rest = body;
    if let Some(after) = rest.strip_prefix(BOM) {
        seen.insert(Oddity::Bom);
        rest = after;
    }
    let trimmed = rest.trim_ascii();
    if trimmed.is_empty() {
        return Err(ClientError::Empty);
    }
    let html_type = content_type.is_some_and(|t| t.to_ascii_lowercase().contains("html"));
    if trimmed.first() == Some(&b'<') {
        return Err(ClientError::Html);
    }
    let value: Value = serde_json::from_slice(trimmed).map_err(|_| {
        if html_type {
            ClientError::Html
        } else {
            let snippet = String::from_utf8_lossy(&trimmed[..trimmed.len().min(80)]).into_owned();
            ClientError::Garbage(snippet)
        }
    })?;
    if rest.trim_ascii_start().len() != rest.len() {
        seen.insert(Oddity::LeadingWhitespace);
    }
    match content_type.map(str::to_ascii_lowercase) {
        None => {
            seen.insert(Oddity::NoContentType);
        }
        Some(t) if t.contains("json") => {}
        Some(_) if html_type => {
            seen.insert(Oddity::JsonAsHtml);
        }
        Some(_) => {
            seen.insert(Oddity::JsonAsText);
        }
    }
    Ok(value)
}

fn message_of(v: &Value) -> Option<String> {
    ["message", "error", "msg", "data"]
        .iter()
        .find_map(|k| match v.get(*k) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            _ => None,
        })
}

fn status_word(v: &Value) -> Option<String> {
    v.get("status")
        .and_then(Value::as_str)
        .map(|s| s.trim().to_ascii_lowercase())
}

/// The refusal an answer carries, in any of the panels' shapes: `{"error":..}`, a bare
/// string, `{"status":"error"|"fail", "message"|..}`.
pub fn refusal(v: &Value, seen: &mut Seen) -> Option<String> {
    match v {
        Value::String(s) => {
            seen.insert(Oddity::ErrorAsText);
            Some(s.clone())
        }
        Value::Object(o) => {
            match o.get("error") {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                Some(Value::String(s)) if s.trim().is_empty() => {}
                Some(Value::String(s)) => return Some(s.clone()),
                Some(other) => return Some(other.to_string()),
            }
            match status_word(v).as_deref() {
                Some("error" | "fail" | "failed") => {
                    seen.insert(Oddity::ErrorAsStatus);
                    Some(message_of(v).unwrap_or_else(|| "the upstream reported a failure".into()))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A refusal in one order's status entry. `"status":"fail"` there may be the order's own
/// state (cancelled): it is a refusal only without any of an order's fields.
pub fn order_refusal(v: &Value, seen: &mut Seen) -> Option<String> {
    if matches!(status_word(v).as_deref(), Some("fail" | "failed"))
        && ["charge", "remains", "start_count"]
            .iter()
            .any(|k| v.get(*k).is_some())
    {
        return None;
    }
    refusal(v, seen)
}

/// Whether a `data` text means "nothing here" (`"Empty Data"`, `"No data"`).
pub fn says_empty(text: &str) -> bool {
    let t = text.trim().to_ascii_lowercase();
    t.is_empty() || t.contains("empty") || t.starts_with("no ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(content_type: Option<&str>, body: &str) -> (Result<Value, ClientError>, Vec<Oddity>) {
        let mut seen = Seen::new();
        let v = decode(content_type, body.as_bytes(), &mut seen);
        (v, seen.into_iter().collect())
    }

    #[test]
    fn json_whatever_the_content_type() {
        let want = serde_json::json!({"balance": "1.50"});
        assert_eq!(
            read(Some("application/json"), r#"{"balance":"1.50"}"#),
            (Ok(want.clone()), vec![])
        );
        assert_eq!(
            read(Some("text/html; charset=UTF-8"), "\n{\"balance\":\"1.50\"}"),
            (
                Ok(want.clone()),
                vec![Oddity::JsonAsHtml, Oddity::LeadingWhitespace]
            )
        );
        assert_eq!(
            read(Some("text/plain"), "{\n    \"balance\": \"1.50\"\n}\n"),
            (Ok(want.clone()), vec![Oddity::JsonAsText])
        );
        assert_eq!(
            read(None, "\u{feff}{\"balance\":\"1.50\"}"),
            (Ok(want.clone()), vec![Oddity::NoContentType, Oddity::Bom])
        );
        assert_eq!(
            read(
                Some("application/json"),
                "\u{feff}\r\n  {\"balance\":\"1.50\"}"
            ),
            (Ok(want), vec![Oddity::LeadingWhitespace, Oddity::Bom])
        );
    }

    #[test]
    fn an_html_page_is_not_the_protocol() {
        assert_eq!(
            read(
                Some("text/html"),
                "\n<!DOCTYPE html><html><body>Maintenance</body></html>"
            )
            .0,
            Err(ClientError::Html)
        );
        assert_eq!(
            read(Some("application/json"), "<html></html>").0,
            Err(ClientError::Html)
        );
        assert_eq!(
            read(Some("text/html"), "Maintenance").0,
            Err(ClientError::Html)
        );
        assert_eq!(
            read(Some("text/plain"), "Maintenance").0,
            Err(ClientError::Garbage("Maintenance".into()))
        );
        assert_eq!(
            read(Some("text/html"), "\u{feff} \n").0,
            Err(ClientError::Empty)
        );
    }

    #[test]
    fn refusals_in_every_shape() {
        let mut seen = Seen::new();
        let cases = [
            (
                serde_json::json!({"error": "Not enough funds"}),
                Some("Not enough funds"),
            ),
            (
                serde_json::json!("Incorrect order ID"),
                Some("Incorrect order ID"),
            ),
            (
                serde_json::json!({"status": "error", "message": "Invalid service"}),
                Some("Invalid service"),
            ),
            (
                serde_json::json!({"status": "fail", "error": "Quantity too low"}),
                Some("Quantity too low"),
            ),
            (
                serde_json::json!({"status": "Fail"}),
                Some("the upstream reported a failure"),
            ),
            (serde_json::json!({"status": "success", "order": "1"}), None),
            (serde_json::json!({"error": false, "order": 1}), None),
            (serde_json::json!({"error": "", "order": 1}), None),
        ];
        for (v, want) in cases {
            assert_eq!(refusal(&v, &mut seen).as_deref(), want, "{v}");
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            vec![Oddity::ErrorAsText, Oddity::ErrorAsStatus]
        );
        // An order the upstream failed is a state, not a refusal.
        let failed = serde_json::json!({"status": "Fail", "charge": "0.10", "remains": "10"});
        assert_eq!(order_refusal(&failed, &mut Seen::new()), None);
        assert_eq!(
            order_refusal(&serde_json::json!("Incorrect order ID"), &mut Seen::new()).as_deref(),
            Some("Incorrect order ID")
        );
    }

    #[test]
    fn tallies_count_answers_and_kinds_round_trip() {
        let tally = Tally::default();
        tally.add(&[Oddity::Bom, Oddity::JsonAsHtml].into_iter().collect());
        tally.add(&[Oddity::JsonAsHtml].into_iter().collect());
        assert_eq!(
            tally.take(),
            vec![(Oddity::JsonAsHtml, 2), (Oddity::Bom, 1)]
        );
        assert_eq!(tally.take(), vec![]);
        for o in Oddity::ALL {
            assert_eq!(Oddity::from_kind(o.kind()), Some(o));
        }
        assert!(says_empty("Empty Data"));
        assert!(!says_empty("Maintenance"));
    }
}
