//! What a buyer sends to place an order, field by field, wherever it came from: a
//! request's parameters (`/api/v2` `add`) or a typed form (the web shop). The `add` rules
//! (`order::parse_add`, `idempotency`) read it through [`AddInput`], so both sources are
//! validated and fingerprinted alike.

use std::collections::BTreeMap;

use crate::order::SMM_FIELDS;
use crate::params::Params;

/// A source of `add` fields by name.
pub trait AddInput {
    /// The field's value, trimmed; blank counts as absent.
    fn get(&self, name: &str) -> Option<&str>;
}

impl AddInput for Params {
    fn get(&self, name: &str) -> Option<&str> {
        Params::get(self, name)
    }
}

/// The fields of an order as the buyer wrote them, not yet validated (that needs the
/// catalogue entry they name). Blank values count as absent, as in request parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AddFields {
    /// A service number or entity id.
    pub service: Option<String>,
    pub quantity: Option<String>,
    pub link: Option<String>,
    pub subproduct: Option<String>,
    /// Drip-feed: runs and minutes between them.
    pub runs: Option<String>,
    pub interval: Option<String>,
    /// The `idempotency_key` field; a key given apart (a header) wins over it.
    pub idempotency_key: Option<String>,
    /// An SMM type's own fields (`comments`, `usernames`, `min`, ...), by name.
    pub smm: BTreeMap<String, String>,
}

impl AddFields {
    /// The `add` fields among a request's parameters; the others are left behind.
    pub fn from_params(params: &Params) -> Self {
        let get = |name: &str| params.get(name).map(str::to_owned);
        AddFields {
            service: get("service"),
            quantity: get("quantity"),
            link: get("link"),
            subproduct: get("subproduct"),
            runs: get("runs"),
            interval: get("interval"),
            idempotency_key: get("idempotency_key"),
            smm: SMM_FIELDS
                .iter()
                .filter_map(|name| get(name).map(|value| ((*name).to_owned(), value)))
                .collect(),
        }
    }
}

impl AddInput for AddFields {
    fn get(&self, name: &str) -> Option<&str> {
        let value = match name {
            "service" => self.service.as_deref(),
            "quantity" => self.quantity.as_deref(),
            "link" => self.link.as_deref(),
            "subproduct" => self.subproduct.as_deref(),
            "runs" => self.runs.as_deref(),
            "interval" => self.interval.as_deref(),
            "idempotency_key" => self.idempotency_key.as_deref(),
            other => self.smm.get(other).map(String::as_str),
        };
        value.map(str::trim).filter(|v| !v.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::idempotency::fingerprint;

    #[test]
    fn fields_read_as_the_parameters_they_came_from() {
        let params = Params::from_pairs([
            ("service", " 7 "),
            ("quantity", "1"),
            ("quantity", "2"),
            ("link", "  "),
            ("comments[]", "a\nb"),
            ("runs", "3"),
            ("interval", "5"),
            ("idempotency_key", "k"),
            ("lang", "ru"),
        ]);
        let fields = AddFields::from_params(&params);
        for name in [
            "service",
            "quantity",
            "link",
            "subproduct",
            "runs",
            "interval",
        ]
        .iter()
        .chain(["idempotency_key", "lang"].iter())
        .chain(SMM_FIELDS)
        {
            let expected = if *name == "lang" {
                None
            } else {
                params.get(name)
            };
            assert_eq!(AddInput::get(&fields, name), expected, "{name}");
        }
        assert_eq!(fingerprint(&fields, 7), fingerprint(&params, 7));
    }

    #[test]
    fn typed_fields_are_trimmed_and_blank_is_absent() {
        let fields = AddFields {
            service: Some(" 7 ".into()),
            link: Some(" ".into()),
            ..AddFields::default()
        };
        assert_eq!(fields.get("service"), Some("7"));
        assert_eq!(fields.get("link"), None);
        assert_eq!(fields.get("quantity"), None);
    }
}
