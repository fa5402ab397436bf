//! Property tests for the request parsers of souk-core: `Params` (pairs, the body-over-query
//! merge, scalars, the four list forms and the 100-id cap), `parse_count`, `parse_bool`
//! and money amounts (`Money::parse` against the text `Money::format` and `Display` print).
//!
//! Every parser is fed arbitrary text and must not panic; every printed amount must parse
//! back to itself; every way of writing a list must read as the same list.

use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{json, Value};
use souk_core::error::MAX_IDS;
use souk_core::money::{Money, MoneyError, MICROS};
use souk_core::params::{parse_bool, parse_count, Params};
use souk_core::ApiError;

// ---------------------------------------------------------------------------------------
// Strategies.

/// Text that a client might send: anything at all, or text built from the characters the
/// parsers care about (digits, signs, dots, commas, brackets, quotes, blanks, NUL).
fn wild_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 \t\n\r\\x00.,+eE\\[\\]\"{}:-]{0,40}",
        "\\PC{0,20}",
        (1usize..20_000).prop_map(|n| "[".repeat(n)),
        (1usize..5_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
    ]
}

/// Parameter names: a few that collide (with and without `[]`), and arbitrary ones.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["a", "b", "c", "a[]", "b[]", "a[][]", "", "[]"])
            .prop_map(str::to_owned),
        1 => any::<String>(),
    ]
}

fn pairs() -> impl Strategy<Value = Vec<(String, String)>> {
    vec((name(), wild_text()), 0..12)
}

/// A list item that reads the same in every form: no comma, no surrounding blanks, does
/// not open a JSON array. Whole numbers may travel as JSON numbers.
#[derive(Clone, Debug)]
enum Item {
    Word(String),
    Number(u64),
}

impl Item {
    fn text(&self) -> String {
        match self {
            Item::Word(w) => w.clone(),
            Item::Number(n) => n.to_string(),
        }
    }

    fn json(&self, as_number: bool) -> Value {
        match self {
            Item::Number(n) if as_number => json!(n),
            other => json!(other.text()),
        }
    }
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        "[A-Za-z0-9_@.:/-][A-Za-z0-9_@.:/ -]{0,10}[A-Za-z0-9_@.:/-]".prop_map(Item::Word),
        "[A-Za-z0-9]".prop_map(Item::Word),
        "[a-f0-9]{24}".prop_map(Item::Word),
        "\\p{Cyrillic}{1,6}".prop_map(Item::Word),
        any::<u64>().prop_map(Item::Number),
    ]
}

/// Blank padding that every form trims.
fn pad() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", " ", "  ", "\t", " \t "]).prop_map(str::to_owned)
}

// ---------------------------------------------------------------------------------------
// Params: pairs and scalars.

/// The name a pair is stored under: `name[]` reads as `name`.
fn stored(name: &str) -> &str {
    name.strip_suffix("[]").unwrap_or(name)
}

/// What `get` must answer, from the pairs as sent: the last value of the name, trimmed,
/// and absent when that value is blank.
fn expected_get<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(n, _)| stored(n) == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn get_is_the_last_value_trimmed(pairs in pairs(), probe in name()) {
        let params = Params::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.clone())));
        for name in ["a", "b", "c", "", probe.as_str()] {
            prop_assert_eq!(params.get(name), expected_get(&pairs, name), "get({:?})", name);
            prop_assert_eq!(
                params.has(name),
                pairs.iter().any(|(n, _)| stored(n) == name),
                "has({:?})", name
            );
        }
        prop_assert_eq!(
            params.get_any(&["c", "b", "a"]),
            expected_get(&pairs, "c")
                .or_else(|| expected_get(&pairs, "b"))
                .or_else(|| expected_get(&pairs, "a"))
        );
    }

    #[test]
    fn a_name_with_brackets_is_the_same_parameter(value in wild_text(), padding in pad()) {
        let padded = format!("{padding}{value}{padding}");
        let plain = Params::from_pairs([("orders", padded.clone())]);
        let php = Params::from_pairs([("orders[]", padded)]);
        prop_assert_eq!(&plain, &php);
        prop_assert_eq!(plain.get("orders"), php.get("orders"));
        prop_assert_eq!(plain.list("orders"), php.list("orders"));
    }

    #[test]
    fn the_body_wins_over_the_query(query in pairs(), body in pairs()) {
        let q = Params::from_pairs(query.iter().map(|(n, v)| (n.as_str(), v.clone())));
        let b = Params::from_pairs(body.iter().map(|(n, v)| (n.as_str(), v.clone())));
        let merged = q.clone().merged_with_body(b.clone());
        // Every query pair whose name the body does not use is kept, in order, and the
        // body's pairs follow, all of them.
        let in_body = |name: &str| body.iter().any(|(n, _)| stored(n) == stored(name));
        let expected: Vec<(String, String)> = query
            .iter()
            .filter(|(n, _)| !in_body(n))
            .chain(body.iter())
            .cloned()
            .collect();
        prop_assert_eq!(&merged, &Params::from_pairs(expected));
        // Seen through `get`, `has` and `list`: a name the body has reads as the body
        // alone; any other as the query alone.
        for (name, _) in query.iter().chain(body.iter()) {
            let name = stored(name);
            let source = if b.has(name) { &b } else { &q };
            prop_assert_eq!(merged.get(name), source.get(name), "get({:?})", name);
            prop_assert_eq!(merged.list(name), source.list(name), "list({:?})", name);
            prop_assert!(merged.has(name));
        }
    }

    #[test]
    fn an_empty_body_changes_nothing(query in pairs()) {
        let q = Params::from_pairs(query.iter().map(|(n, v)| (n.as_str(), v.clone())));
        prop_assert_eq!(q.clone().merged_with_body(Params::new()), q);
    }

    #[test]
    fn json_scalars_read_as_their_text(n in any::<i64>(), f in any::<f64>(), b in any::<bool>(), s in wild_text()) {
        let object = json!({"n": n, "f": f, "b": b, "s": s, "z": null});
        let mut params = Params::new();
        params.push_json_object(object.as_object().expect("object"));
        let n_text = n.to_string();
        prop_assert_eq!(params.get("n"), Some(n_text.as_str()));
        let b_text = b.to_string();
        prop_assert_eq!(params.get("b"), Some(b_text.as_str()));
        let s_trimmed = s.trim();
        prop_assert_eq!(params.get("s"), Some(s_trimmed).filter(|t| !t.is_empty()));
        // A non-finite float is `null` in JSON: absent, like `z`.
        prop_assert_eq!(params.has("f"), f.is_finite());
        prop_assert!(!params.has("z"));
    }
}

// ---------------------------------------------------------------------------------------
// Params: lists.

/// The forms a list of `items` may arrive in, as (how, params).
fn list_forms(items: &[Item], padding: &str, numbers_as_json: bool) -> Vec<(&'static str, Params)> {
    let texts: Vec<String> = items.iter().map(Item::text).collect();
    let padded: Vec<String> = texts
        .iter()
        .map(|t| format!("{padding}{t}{padding}"))
        .collect();
    let json_array =
        Value::Array(items.iter().map(|i| i.json(numbers_as_json)).collect()).to_string();
    let mut body = Params::new();
    body.push_json_object(
        json!({ "ids": items.iter().map(|i| i.json(numbers_as_json)).collect::<Vec<_>>() })
            .as_object()
            .expect("object"),
    );
    // Comma text split over several repeated fields, two items to a field.
    let chunks: Vec<(&str, String)> = padded.chunks(2).map(|c| ("ids", c.join(","))).collect();
    vec![
        (
            "comma text",
            Params::from_pairs([("ids", padded.join(","))]),
        ),
        (
            "JSON array in a string",
            Params::from_pairs([("ids", format!("{padding}{json_array}{padding}"))]),
        ),
        (
            "repeated fields",
            Params::from_pairs(padded.iter().map(|t| ("ids", t.clone()))),
        ),
        (
            "name[] fields",
            Params::from_pairs(padded.iter().map(|t| ("ids[]", t.clone()))),
        ),
        ("JSON body array", body),
        ("repeated comma text", Params::from_pairs(chunks)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_list_forms_agree(items in vec(item(), 1..=120), padding in pad(), numbers_as_json in any::<bool>()) {
        let texts: Vec<String> = items.iter().map(Item::text).collect();
        for (how, params) in list_forms(&items, &padding, numbers_as_json) {
            prop_assert_eq!(params.list("ids"), Some(texts.clone()), "{}", how);
            let capped = params.id_list("ids", "order");
            if texts.len() > MAX_IDS {
                prop_assert_eq!(capped, Err(ApiError::TooManyIds("order")), "{}", how);
            } else {
                prop_assert_eq!(capped, Ok(Some(texts.clone())), "{}", how);
            }
            // Other names are untouched.
            prop_assert_eq!(params.list("other"), None);
        }
    }

    #[test]
    fn the_cap_is_exactly_one_hundred(len in 0usize..=300) {
        let ids: Vec<String> = (1..=len).map(|n| n.to_string()).collect();
        let params = Params::from_pairs([("orders", ids.join(","))]);
        let got = params.id_list("orders", "order");
        match len {
            0 => prop_assert_eq!(got, Ok(None)),
            n if n <= MAX_IDS => prop_assert_eq!(got, Ok(Some(ids))),
            _ => prop_assert_eq!(got, Err(ApiError::TooManyIds("order"))),
        }
    }

    #[test]
    fn empty_lists_are_absent(blanks in vec(prop::sample::select(vec!["", " ", ",", " , ", ",,", "[]", "[null]", "[null, null]", "[\"\"]", "[\" , \"]"]), 1..6), bracket in any::<bool>()) {
        let name = if bracket { "ids[]" } else { "ids" };
        let params = Params::from_pairs(blanks.iter().map(|b| (name, *b)));
        prop_assert_eq!(params.list("ids"), None);
        prop_assert_eq!(params.id_list("ids", "order"), Ok(None));
        prop_assert!(params.has("ids"));
    }

    #[test]
    fn lists_never_panic_and_hold_no_blank_items(pairs in pairs()) {
        let params = Params::from_pairs(pairs.iter().map(|(n, v)| (n.as_str(), v.clone())));
        for name in ["a", "b", "c", ""] {
            if let Some(list) = params.list(name) {
                prop_assert!(params.has(name));
                prop_assert!(!list.is_empty());
                for item in &list {
                    prop_assert!(!item.is_empty(), "blank item in {:?}", list);
                    prop_assert_eq!(item.trim(), item.as_str(), "untrimmed item in {:?}", list);
                }
                match params.id_list(name, "id") {
                    Ok(Some(ids)) => prop_assert_eq!(ids, list),
                    Err(e) => {
                        prop_assert_eq!(e, ApiError::TooManyIds("id"));
                        prop_assert!(list.len() > MAX_IDS);
                    }
                    Ok(None) => {
                        return Err(TestCaseError::fail(format!("id_list lost the list {list:?}")));
                    }
                }
            } else {
                prop_assert_eq!(params.id_list(name, "id"), Ok(None));
            }
            let _ = params.lang();
        }
    }

    #[test]
    fn deeply_nested_lists_do_not_overflow(depth in 1usize..50_000, close in any::<bool>()) {
        let text = if close {
            format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
        } else {
            "[".repeat(depth)
        };
        let params = Params::from_pairs([("orders", text)]);
        let list = params.list("orders").expect("a non-blank value is a list");
        prop_assert!(!list.is_empty());
    }
}

// ---------------------------------------------------------------------------------------
// Scalars: parse_bool and parse_count.

/// `text` with each ASCII letter's case chosen by `mask`.
fn mixed_case(text: &str, mask: u64) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if (mask >> (i % 64)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// `parse_count`'s rule, written out: optional blanks, an optional `+`, ASCII digits, an
/// optional `.0` or `.00`, and a value that fits a u64.
fn count_model(text: &str) -> Option<u64> {
    let t = text.trim();
    let whole = t
        .strip_suffix(".00")
        .or_else(|| t.strip_suffix(".0"))
        .unwrap_or(t);
    let digits = whole.strip_prefix('+').unwrap_or(whole);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn booleans_in_any_case(value in any::<bool>(), word in any::<bool>(), mask in any::<u64>(), before in pad(), after in pad()) {
        let text = match (value, word) {
            (true, true) => "true",
            (false, true) => "false",
            (true, false) => "1",
            (false, false) => "0",
        };
        prop_assert_eq!(parse_bool(&format!("{before}{}{after}", mixed_case(text, mask))), Some(value));
    }

    #[test]
    fn anything_else_is_not_a_boolean(text in wild_text()) {
        let known = matches!(text.trim().to_ascii_lowercase().as_str(), "true" | "false" | "1" | "0");
        prop_assert_eq!(parse_bool(&text).is_some(), known, "{:?}", text);
    }

    #[test]
    fn counts_round_trip(n in any::<u64>(), suffix in prop::sample::select(vec!["", ".0", ".00"]), plus in any::<bool>(), zeros in 0usize..4, before in pad(), after in pad()) {
        let sign = if plus { "+" } else { "" };
        let text = format!("{before}{sign}{}{n}{suffix}{after}", "0".repeat(zeros));
        prop_assert_eq!(parse_count(&text), Some(n), "{:?}", text);
    }

    #[test]
    fn counts_refuse_negatives_fractions_and_overflow(n in 1u64..=u64::MAX, frac in 1u32..100, big in (u64::MAX as u128 + 1)..=u128::MAX) {
        let negative = format!("-{n}");
        prop_assert_eq!(parse_count(&negative), None);
        let fraction = format!("{n}.{frac}");
        prop_assert_eq!(parse_count(&fraction), None);
        let too_big = big.to_string();
        prop_assert_eq!(parse_count(&too_big), None);
        prop_assert_eq!(parse_count(&format!("{n}e3")), None);
        prop_assert_eq!(parse_count("99999999999999999999"), None);
        prop_assert_eq!(parse_count("1e308"), None);
        prop_assert_eq!(parse_count("NaN"), None);
        prop_assert_eq!(parse_count("-0"), None);
    }

    #[test]
    fn counts_follow_their_rule_on_any_text(text in wild_text()) {
        prop_assert_eq!(parse_count(&text), count_model(&text), "{:?}", text);
    }
}

// ---------------------------------------------------------------------------------------
// Money.

/// `Money::parse`'s rules, written out with room to spare (i128): blanks trimmed, one
/// optional sign, ASCII digits with at most one dot and a digit somewhere, at most 6
/// decimals once trailing zeros are dropped, and a result that fits the micro-units.
fn money_model(text: &str) -> Result<i64, MoneyError> {
    let s = text.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return Err(MoneyError::Invalid);
    }
    let all_digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || !all_digits(frac_part) {
        return Err(MoneyError::Invalid);
    }
    let frac = frac_part.trim_end_matches('0');
    if frac.len() > 6 {
        return Err(MoneyError::TooPrecise);
    }
    let int_digits = int_part.trim_start_matches('0');
    if int_digits.len() > 30 {
        return Err(MoneyError::Overflow);
    }
    let units: i128 = int_digits.parse().unwrap_or(0);
    let frac_micros: i128 = format!("{frac:0<6}").parse().unwrap_or(0);
    let micros = units * i128::from(MICROS) + frac_micros;
    let signed = if negative { -micros } else { micros };
    i64::try_from(signed).map_err(|_| MoneyError::Overflow)
}

fn micros() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -1_000_000_000i64..1_000_000_000,
        prop::sample::select(vec![
            0,
            1,
            -1,
            MICROS,
            -MICROS,
            i64::MAX,
            i64::MAX - 1,
            i64::MIN + 1,
        ]),
    ]
}

/// Amounts as a person writes them: digits, maybe a dot and up to 6 decimals, maybe
/// trailing zeros, maybe a sign.
fn amount_text() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!["", "+", "-"]),
        "[0-9]{0,13}",
        prop::option::of("[0-9]{0,6}"),
        0usize..5,
    )
        .prop_filter("a digit somewhere", |(_, int, frac, _)| {
            !int.is_empty() || frac.as_deref().is_some_and(|f| !f.is_empty())
        })
        .prop_map(|(sign, int, frac, zeros)| match frac {
            None => format!("{sign}{int}"),
            Some(f) => format!("{sign}{int}.{f}{}", "0".repeat(zeros)),
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_printed_amount_parses_back(m in micros(), min in 0usize..=8) {
        let money = Money::from_micros(m);
        let printed = money.format(min);
        prop_assert_eq!(Money::parse(&printed), Ok(money), "{:?}", printed);
        for text in [money.display2(), money.display4(), money.to_string()] {
            prop_assert_eq!(Money::parse(&text), Ok(money), "{:?}", text);
        }
    }

    #[test]
    fn printed_amounts_have_their_shape(m in micros(), min in 0usize..=8) {
        let printed = Money::from_micros(m).format(min);
        let unsigned = printed.strip_prefix('-').unwrap_or(&printed);
        prop_assert_eq!(printed.starts_with('-'), m < 0, "{:?}", printed);
        let (int_part, decimals) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        prop_assert!(!int_part.is_empty() && int_part.bytes().all(|b| b.is_ascii_digit()), "{:?}", printed);
        prop_assert!(int_part == "0" || !int_part.starts_with('0'), "{:?}", printed);
        prop_assert!(decimals.bytes().all(|b| b.is_ascii_digit()), "{:?}", printed);
        prop_assert!(decimals.len() >= min.min(6) && decimals.len() <= 6, "{:?}", printed);
        // Zeros beyond the minimum are trimmed.
        if decimals.len() > min.min(6) {
            prop_assert!(!decimals.ends_with('0'), "{:?}", printed);
        }
        prop_assert_eq!(Money::from_micros(m).to_string(), Money::from_micros(m).format(2));
    }

    #[test]
    fn written_amounts_parse_exactly(text in amount_text(), before in pad(), after in pad()) {
        let padded = format!("{before}{text}{after}");
        prop_assert_eq!(Money::parse(&padded).map(Money::micros), money_model(&text), "{:?}", padded);
    }

    #[test]
    fn a_sign_only_flips(text in "[0-9]{1,12}(\\.[0-9]{1,6})?") {
        let plain = Money::parse(&text).expect("an amount");
        prop_assert_eq!(Money::parse(&format!("+{text}")), Ok(plain));
        prop_assert_eq!(Money::parse(&format!("-{text}")), Ok(Money::from_micros(-plain.micros())));
    }

    #[test]
    fn more_than_six_decimals_are_refused(int in "[0-9]{1,6}", frac in "[0-9]{6,20}", last in 1u8..=9, zeros in 0usize..4) {
        let text = format!("{int}.{frac}{last}{}", "0".repeat(zeros));
        prop_assert_eq!(Money::parse(&text), Err(MoneyError::TooPrecise), "{:?}", text);
    }

    #[test]
    fn exponents_separators_and_words_are_refused(n in 1u32..1000, e in 1u32..400) {
        for text in [
            format!("{n}e{e}"),
            format!("{n}E-{e}"),
            format!("{n},5"),
            format!("1 {n}"),
            format!("--{n}"),
            format!("+-{n}"),
            format!("{n}.5.5"),
            format!("0x{n}"),
            "NaN".to_owned(),
            "inf".to_owned(),
            "-".to_owned(),
            ".".to_owned(),
            "".to_owned(),
        ] {
            prop_assert_eq!(Money::parse(&text), Err(MoneyError::Invalid), "{:?}", text);
        }
    }

    #[test]
    fn amounts_too_large_are_refused(units in (i64::MAX / MICROS + 1) as u128..=u128::MAX / 2) {
        let text = units.to_string();
        prop_assert_eq!(Money::parse(&text), Err(MoneyError::Overflow), "{:?}", text);
        prop_assert_eq!(Money::parse("99999999999999999999"), Err(MoneyError::Overflow));
    }

    #[test]
    fn any_text_is_parsed_by_the_rules_without_panicking(text in wild_text()) {
        let got = Money::parse(&text);
        prop_assert_eq!(got.clone().map(Money::micros), money_model(&text), "{:?}", text);
        if let Ok(m) = got {
            prop_assert_eq!(Money::parse(&m.format(0)), Ok(m));
        }
    }
}

/// The ends of the range, one by one: each prints to text that parses back to it.
#[test]
fn the_extreme_amounts_round_trip() {
    let mut refused = std::collections::BTreeSet::new();
    for micros in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
        let money = Money::from_micros(micros);
        for min in 0..=6 {
            let printed = money.format(min);
            if Money::parse(&printed) != Ok(money) {
                refused.insert(format!(
                    "{micros} micro-units print as {printed:?}, which parses as {:?}",
                    Money::parse(&printed)
                ));
            }
        }
    }
    assert!(refused.is_empty(), "{refused:#?}");
}
