//! Mass order (an `/api/v2` extension, as PerfectPanel's web form has it): one order a
//! line, `service|link|quantity`. Each line becomes an ordinary `add`, validated and
//! charged alone, so one bad line fails alone.

use crate::error::{ApiError, MAX_IDS};
use crate::order::MAX_IDEMPOTENCY_KEY;
use crate::order_input::AddFields;

/// One line of a mass order: its number (1-based, blank lines counted) and what it asks,
/// or why it cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MassLine {
    pub line: usize,
    pub fields: Result<AddFields, ApiError>,
}

/// `service|link|quantity` (a `|` inside the link is kept: the first field is the service
/// and the last the quantity).
fn parse_line(text: &str) -> Result<AddFields, ApiError> {
    let (service, rest) = text.split_once('|').ok_or(ApiError::BadMassLine)?;
    let (link, quantity) = rest.rsplit_once('|').ok_or(ApiError::BadMassLine)?;
    let (service, link, quantity) = (service.trim(), link.trim(), quantity.trim());
    if service.is_empty() || quantity.is_empty() {
        return Err(ApiError::BadMassLine);
    }
    Ok(AddFields {
        service: Some(service.to_owned()),
        link: Some(link.to_owned()),
        quantity: Some(quantity.to_owned()),
        ..AddFields::default()
    })
}

/// The lines of `text` (`\n` or `\r\n`), blank ones skipped, at most 100. With an
/// idempotency `key`, line n places under `key#n`, so the whole request can be retried.
pub fn parse(text: &str, key: Option<&str>) -> Result<Vec<MassLine>, ApiError> {
    if let Some(key) = key {
        // Room for `#100`.
        if key.len() + 4 > MAX_IDEMPOTENCY_KEY {
            return Err(ApiError::IdempotencyKeyTooLong);
        }
    }
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(ApiError::FieldRequired("orders"));
    }
    if lines.len() > MAX_IDS {
        return Err(ApiError::TooManyLines(MAX_IDS));
    }
    Ok(lines
        .into_iter()
        .map(|(line, text)| MassLine {
            line,
            fields: parse_line(text).map(|mut f| {
                f.idempotency_key = key.map(|k| format!("{k}#{line}"));
                f
            }),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(service: &str, link: &str, quantity: &str, key: Option<&str>) -> AddFields {
        AddFields {
            service: Some(service.into()),
            link: Some(link.into()),
            quantity: Some(quantity.into()),
            idempotency_key: key.map(str::to_owned),
            ..AddFields::default()
        }
    }

    #[test]
    fn lines_become_orders_and_bad_lines_fail_alone() {
        let text = "12|https://instagram.com/p/a|1000\r\n\n 7 | https://x.test/?a=1|b | 50 \nnonsense\n|l|5\n";
        let parsed = parse(text, Some("k")).expect("parsed");
        assert_eq!(
            parsed,
            vec![
                MassLine {
                    line: 1,
                    fields: Ok(fields(
                        "12",
                        "https://instagram.com/p/a",
                        "1000",
                        Some("k#1")
                    ))
                },
                MassLine {
                    line: 3,
                    fields: Ok(fields("7", "https://x.test/?a=1|b", "50", Some("k#3")))
                },
                MassLine {
                    line: 4,
                    fields: Err(ApiError::BadMassLine)
                },
                MassLine {
                    line: 5,
                    fields: Err(ApiError::BadMassLine)
                },
            ]
        );
        assert_eq!(
            ApiError::BadMassLine.to_string(),
            "Each line must be service|link|quantity"
        );
    }

    #[test]
    fn the_request_itself_is_checked() {
        assert_eq!(
            parse(" \n\r\n", None),
            Err(ApiError::FieldRequired("orders"))
        );
        let many = "1|l|10\n".repeat(101);
        assert_eq!(parse(&many, None), Err(ApiError::TooManyLines(100)));
        assert_eq!(
            parse(&"1|l|10\n".repeat(100), None).map(|l| l.len()),
            Ok(100)
        );
        assert_eq!(
            ApiError::TooManyLines(100).to_string(),
            "Too many lines (max 100)"
        );
        assert_eq!(
            parse("1|l|10", Some(&"k".repeat(125))),
            Err(ApiError::IdempotencyKeyTooLong)
        );
    }
}
