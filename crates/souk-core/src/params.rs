//! Request parameters after transport decoding: a flat list of (name, value) pairs, however
//! they arrived (query string, form, multipart, JSON). Typed commands are parsed from this.

use std::collections::HashSet;

use crate::error::{ApiError, MAX_IDS};
use crate::input::{self, MAX_PARAMS};
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

    /// A query string or form body as a request sends it, under the input rule: at most
    /// [`MAX_PARAMS`] pairs (decoding stops at the first one over) and no control
    /// characters but tab and newline. Linear in the input.
    pub fn from_form(bytes: &[u8]) -> Result<Self, ApiError> {
        let mut params = Self::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            if params.pairs.len() == MAX_PARAMS {
                return Err(ApiError::TooManyParams);
            }
            params.push(&name, value);
        }
        params.check()?;
        Ok(params)
    }

    /// The input rule on pairs that arrived some other way (JSON, multipart): the count
    /// and the characters of every name and value.
    pub fn check(&self) -> Result<(), ApiError> {
        if self.pairs.len() > MAX_PARAMS {
            return Err(ApiError::TooManyParams);
        }
        for (name, value) in &self.pairs {
            input::check("a parameter name", name, false)?;
            input::check(name, value, true)?;
        }
        Ok(())
    }

    /// How many pairs there are.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
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
        // Values past the cap are not turned into text: `check` refuses the lot anyway,
        // and a 1 MiB array would otherwise become half a million pairs first.
        let values = object.iter().flat_map(|(name, value)| {
            let items = match value {
                Value::Array(items) => items.as_slice(),
                other => std::slice::from_ref(other),
            };
            items.iter().map(move |item| (name, item))
        });
        for (name, value) in values {
            if self.pairs.len() > MAX_PARAMS {
                return;
            }
            match value {
                Value::Null => {}
                Value::String(s) => self.push(name, s.clone()),
                other => self.push(name, other.to_string()),
            }
        }
    }

    /// Merges `body` over `self` (the query string): a name present in the body replaces
    /// every query value of that name. Linear: the body's names are looked up in a set.
    pub fn merged_with_body(mut self, body: Params) -> Params {
        {
            let in_body: HashSet<&str> = body.pairs.iter().map(|(n, _)| n.as_str()).collect();
            self.pairs
                .retain(|(name, _)| !in_body.contains(name.as_str()));
        }
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
    fn forms_are_capped_and_checked() {
        let ok = Params::from_form(b"key=k&action=add&link=https%3A%2F%2Fx&comments=a%0Ab")
            .expect("valid");
        assert_eq!(ok.get("comments"), Some("a\nb"));
        let many = "a&".repeat(MAX_PARAMS + 1);
        assert_eq!(
            Params::from_form(many.as_bytes()),
            Err(ApiError::TooManyParams)
        );
        assert!(Params::from_form("a&".repeat(MAX_PARAMS).as_bytes()).is_ok());
        assert_eq!(
            Params::from_form(b"key=k&link=x%00y"),
            Err(ApiError::InvalidCharacters("link".into()))
        );
        assert_eq!(
            Params::from_form(b"li%00nk=x"),
            Err(ApiError::InvalidCharacters("a parameter name".into()))
        );
    }

    /// 20,000 query pairs merged with a body of 500,000 (the quadratic merge compared
    /// each with each, 10^10 comparisons: most of a minute for one request).
    #[test]
    fn merge_of_large_inputs() {
        let query = Params::from_pairs((0..20_000).map(|i| (format!("n{i}"), "q")));
        let body = Params::from_pairs((10_000..510_000).map(|i| (format!("n{i}"), "b")));
        let merged = query.merged_with_body(body);
        assert_eq!(merged.len(), 510_000);
        assert_eq!(merged.get("n0"), Some("q"));
        assert_eq!(merged.get("n10000"), Some("b"));
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
