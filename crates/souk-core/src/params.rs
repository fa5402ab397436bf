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

    /// A JSON object body, read straight into pairs as `push_json_object` would, under
    /// the input rule. Streamed: no document is built, and decoding stops at the first
    /// value over [`MAX_PARAMS`] (a 1 MiB array of numbers once cost 40 ms of a core as
    /// a document before the cap was looked at). A value nested in a value (an object, or
    /// an array in an array) is kept as its JSON text as sent, unparsed.
    pub fn from_json(bytes: &[u8]) -> Result<Self, ApiError> {
        use serde::de::DeserializeSeed;
        let mut params = Self::new();
        let mut refusal = None;
        let seed = json::Body {
            params: &mut params,
            refusal: &mut refusal,
        };
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let parsed = seed
            .deserialize(&mut deserializer)
            .and_then(|()| deserializer.end());
        match (parsed, refusal) {
            (Ok(()), _) => {
                params.check()?;
                Ok(params)
            }
            (Err(_), Some(refusal)) => Err(refusal),
            (Err(_), None) => Err(ApiError::InvalidJson),
        }
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

    /// Every value given for `name`, in order, untrimmed (a text sent as repeated fields
    /// or a JSON array).
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
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

/// The streaming reader behind [`Params::from_json`].
mod json {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::value::RawValue;

    use super::{Params, MAX_PARAMS};
    use crate::error::ApiError;

    /// The top level: an object, each field pushed as it is read.
    pub(super) struct Body<'a> {
        pub params: &'a mut Params,
        pub refusal: &'a mut Option<ApiError>,
    }

    impl<'de> DeserializeSeed<'de> for Body<'_> {
        type Value = ();

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Body<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(name) = map.next_key::<String>()? {
                map.next_value_seed(Field {
                    name: &name,
                    params: &mut *self.params,
                    refusal: &mut *self.refusal,
                    in_list: false,
                })?;
            }
            Ok(())
        }

        // Anything but an object at the top.
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
            self.not_object()
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
            self.not_object()
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
            self.not_object()
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
            self.not_object()
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
            self.not_object()
        }
        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            self.not_object()
        }
        fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
            self.not_object()
        }
    }

    impl Body<'_> {
        fn not_object<E: de::Error>(self) -> Result<(), E> {
            *self.refusal = Some(ApiError::JsonNotObject);
            Err(E::custom("not an object"))
        }
    }

    /// One field's value: a scalar is one pair, an array one pair per item, `null` none.
    struct Field<'a> {
        name: &'a str,
        params: &'a mut Params,
        refusal: &'a mut Option<ApiError>,
        in_list: bool,
    }

    impl Field<'_> {
        fn push<E: de::Error>(self, value: String) -> Result<(), E> {
            if self.params.pairs.len() >= MAX_PARAMS {
                *self.refusal = Some(ApiError::TooManyParams);
                return Err(E::custom("too many parameters"));
            }
            self.params.push(self.name, value);
            Ok(())
        }
    }

    impl<'de> DeserializeSeed<'de> for Field<'_> {
        type Value = ();

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Field<'_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_unit<E: de::Error>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
            self.push(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
            self.push(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
            self.push(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
            // As serde_json prints a number (`1e308`, `0.5`).
            let text =
                serde_json::Number::from_f64(v).map_or_else(|| v.to_string(), |n| n.to_string());
            self.push(text)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
            self.push(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
            self.push(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            if self.in_list {
                // An array in an array: its text, as one value.
                return self.push(nested_text(NestedSeq(seq))?);
            }
            while seq
                .next_element_seed(Field {
                    name: self.name,
                    params: &mut *self.params,
                    refusal: &mut *self.refusal,
                    in_list: true,
                })?
                .is_some()
            {}
            Ok(())
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
            self.push(nested_text(NestedMap(map))?)
        }
    }

    /// The JSON text of a nested value, taken raw (scanned, never built).
    fn nested_text<'de, A>(access: A) -> Result<String, A::Error>
    where
        A: NestedAccess<'de>,
    {
        access.raw().map(|raw| raw.get().to_owned())
    }

    trait NestedAccess<'de> {
        type Error: de::Error;
        fn raw(self) -> Result<Box<RawValue>, Self::Error>;
    }

    struct NestedSeq<A>(A);
    struct NestedMap<A>(A);

    impl<'de, A: SeqAccess<'de>> NestedAccess<'de> for NestedSeq<A> {
        type Error = A::Error;
        fn raw(self) -> Result<Box<RawValue>, A::Error> {
            let mut items = Vec::new();
            let mut seq = self.0;
            while let Some(item) = seq.next_element::<Box<RawValue>>()? {
                items.push(item.get().to_owned());
            }
            RawValue::from_string(format!("[{}]", items.join(","))).map_err(de::Error::custom)
        }
    }

    impl<'de, A: MapAccess<'de>> NestedAccess<'de> for NestedMap<A> {
        type Error = A::Error;
        fn raw(self) -> Result<Box<RawValue>, A::Error> {
            let mut fields = Vec::new();
            let mut map = self.0;
            while let Some((k, v)) = map.next_entry::<String, Box<RawValue>>()? {
                let key = serde_json::to_string(&k).map_err(de::Error::custom)?;
                fields.push(format!("{key}:{}", v.get()));
            }
            RawValue::from_string(format!("{{{}}}", fields.join(","))).map_err(de::Error::custom)
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

    /// `from_json` reads what `push_json_object` reads from a document, and stops at the cap.
    #[test]
    fn json_streams_like_the_document() {
        let text = r#"{"limit":50,"isRecommended":true,"productIds":[1,"2",null,[3,4]],"x":null,
                       "rate":0.5,"big":1e308,"nested":{"a":[1,2],"b":"c"},"lang":"ru"}"#;
        let mut from_document = Params::new();
        let v: serde_json::Value = serde_json::from_str(text).expect("json");
        from_document.push_json_object(v.as_object().expect("object"));
        assert_eq!(Params::from_json(text.as_bytes()), Ok(from_document));
        // A nested value is its text as sent, spaces included (it is never parsed).
        assert_eq!(
            Params::from_json(br#"{"n":{"a": [1, 2]}}"#)
                .expect("json")
                .get("n"),
            Some(r#"{"a":[1, 2]}"#)
        );
        let many = format!("{{\"orders\":[{}1]}}", "1,".repeat(MAX_PARAMS));
        assert_eq!(
            Params::from_json(many.as_bytes()),
            Err(ApiError::TooManyParams)
        );
        let at_cap = format!("{{\"orders\":[{}1]}}", "1,".repeat(MAX_PARAMS - 1));
        assert_eq!(
            Params::from_json(at_cap.as_bytes()).map(|p| p.len()),
            Ok(MAX_PARAMS)
        );
        assert_eq!(Params::from_json(b"[1,2]"), Err(ApiError::JsonNotObject));
        assert_eq!(Params::from_json(b"\"text\""), Err(ApiError::JsonNotObject));
        assert_eq!(Params::from_json(b"{\"a\":"), Err(ApiError::InvalidJson));
        assert_eq!(Params::from_json(b"{} {}"), Err(ApiError::InvalidJson));
        let deep = format!("{{\"a\":{}", "[".repeat(100_000));
        assert_eq!(
            Params::from_json(deep.as_bytes()),
            Err(ApiError::InvalidJson)
        );
        assert_eq!(
            Params::from_json(br#"{"link":"a\u0000b"}"#),
            Err(ApiError::InvalidCharacters("link".into()))
        );
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
