//! Request parameters after transport decoding: a flat list of (name, value) pairs, however
//! they arrived (query string, form, multipart, JSON). Typed commands are parsed from this.

use crate::error::{ApiError, MAX_IDS};
use crate::lang::Lang;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Params holding `pairs` in order, each added as by [`Params::push`]: a decoded query
    /// string or form (`form_urlencoded::parse`), or a literal list of pairs.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: Into<String>,
    {
        let mut params = Self::new();
        for (name, value) in pairs {
            params.push(name.as_ref(), value);
        }
        params
    }

    /// Adds a pair; `name[]` is stored as `name` so the PHP-style list form reads like the others.
    pub fn push(&mut self, name: &str, value: impl Into<String>) {
        let name = name.strip_suffix("[]").unwrap_or(name);
        self.pairs.push((name.to_owned(), value.into()));
    }

    /// Adds every pair from a JSON object: strings as-is, numbers and booleans as text,
    /// arrays as repeated fields, `null` as absent.
    pub fn push_json_object(&mut self, object: &serde_json::Map<String, serde_json::Value>) {
        use serde_json::Value;
        for (name, value) in object {
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    for item in items {
                        match item {
                            Value::Null => {}
                            Value::String(s) => self.push(name, s.clone()),
                            other => self.push(name, other.to_string()),
                        }
                    }
                }
                Value::String(s) => self.push(name, s.clone()),
                other => self.push(name, other.to_string()),
            }
        }
    }

    /// Merges `body` over `self` (the query string): a name present in the body replaces
    /// every query value of that name.
    pub fn merged_with_body(mut self, body: Params) -> Params {
        self.pairs
            .retain(|(name, _)| !body.pairs.iter().any(|(n, _)| n == name));
        self.pairs.extend(body.pairs);
        self
    }

    /// The last value given for `name`, trimmed; empty values count as absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The first present name among `names` (aliases such as `order`/`orders`).
    pub fn get_any(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(n, _)| n == name)
    }

    /// Every value of a list-valued parameter, whichever of the four forms it came in:
    /// comma-separated text, a JSON array in a string, repeated fields, `name[]` fields.
    /// `None` when the parameter is absent.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let raw: Vec<&str> = self
            .pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        if raw.is_empty() {
            return None;
        }
        let mut out = Vec::new();
        for value in raw {
            let v = value.trim();
            if v.starts_with('[') {
                if let Ok(serde_json::Value::Array(items)) = serde_json::from_str(v) {
                    for item in items {
                        match item {
                            serde_json::Value::String(s) => push_split(&mut out, &s),
                            serde_json::Value::Null => {}
                            other => out.push(other.to_string()),
                        }
                    }
                    continue;
                }
            }
            push_split(&mut out, v);
        }
        // An empty list (`productIds=`) is the same as an absent one, like empty scalars.
        (!out.is_empty()).then_some(out)
    }

    /// A list-valued parameter capped at 100 values; `what` names the ids in the error.
    pub fn id_list(&self, name: &str, what: &'static str) -> Result<Option<Vec<String>>, ApiError> {
        match self.list(name) {
            Some(values) if values.len() > MAX_IDS => Err(ApiError::TooManyIds(what)),
            other => Ok(other),
        }
    }

    /// `lang`: absent means English; an unknown code is an error.
    pub fn lang(&self) -> Result<Lang, ApiError> {
        match self.get("lang") {
            None => Ok(Lang::En),
            Some(code) => Lang::parse(code).ok_or(ApiError::UnsupportedLanguage),
        }
    }
}

fn push_split(out: &mut Vec<String>, text: &str) {
    out.extend(
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
}

/// Booleans arrive as `true/false/1/0` (any case); `None` for anything else.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// A non-negative integer written as digits (JSON numbers arrive as their text, so `5.0`
/// from a float-happy client is accepted when it is whole).
pub fn parse_count(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u64>() {
        return Some(n);
    }
    let whole = t.strip_suffix(".0").or_else(|| t.strip_suffix(".00"))?;
    whole.parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_forms() {
        let expected = vec!["2", "5", "507f1f77bcf86cd799439011"];
        for p in [
            Params::from_pairs([("productIds", "2,5, 507f1f77bcf86cd799439011")]),
            Params::from_pairs([("productIds", r#"[2,"5","507f1f77bcf86cd799439011"]"#)]),
            Params::from_pairs([
                ("productIds", "2"),
                ("productIds", "5"),
                ("productIds", "507f1f77bcf86cd799439011"),
            ]),
            Params::from_pairs([
                ("productIds[]", "2"),
                ("productIds[]", "5"),
                ("productIds[]", "507f1f77bcf86cd799439011"),
            ]),
        ] {
            assert_eq!(p.list("productIds").expect("present"), expected);
        }
        assert_eq!(Params::new().list("productIds"), None);
        assert_eq!(
            Params::from_pairs([("productIds", "")]).list("productIds"),
            None
        );
        assert_eq!(
            Params::from_pairs([("productIds", " , ")]).list("productIds"),
            None
        );
    }

    #[test]
    fn body_wins_over_query() {
        let query = Params::from_pairs([("action", "balance"), ("limit", "5")]);
        let body = Params::from_pairs([("action", "services")]);
        let merged = query.merged_with_body(body);
        assert_eq!(merged.get("action"), Some("services"));
        assert_eq!(merged.get("limit"), Some("5"));
    }

    #[test]
    fn json_values_become_text() {
        let mut p = Params::new();
        let v: serde_json::Value = serde_json::from_str(
            r#"{"limit":50,"isRecommended":true,"productIds":[1,"2"],"x":null,"lang":"ru"}"#,
        )
        .expect("json");
        p.push_json_object(v.as_object().expect("object"));
        assert_eq!(p.get("limit"), Some("50"));
        assert_eq!(p.get("isRecommended"), Some("true"));
        assert_eq!(p.list("productIds"), Some(vec!["1".into(), "2".into()]));
        assert!(!p.has("x"));
    }

    #[test]
    fn id_list_caps_at_100() {
        let many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
        let p = Params::from_pairs([("orders", &many.join(","))]);
        assert_eq!(
            p.id_list("orders", "order"),
            Err(ApiError::TooManyIds("order"))
        );
        let ok = Params::from_pairs([("orders", &many[..100].join(","))]);
        assert_eq!(
            ok.id_list("orders", "order").expect("ok").map(|v| v.len()),
            Some(100)
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(parse_bool("TRUE"), Some(true));
        assert_eq!(parse_bool("0"), Some(false));
        assert_eq!(parse_bool("yes"), None);
        assert_eq!(parse_count("50"), Some(50));
        assert_eq!(parse_count("50.0"), Some(50));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("1.5"), None);
    }
}
