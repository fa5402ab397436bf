//! PerfectPanel's SMM order types (SPEC 7): their canonical names, however a panel spells
//! them (`"default"`, `"custom_comments"`, `"Custom-Comments"`), and the `add` fields each
//! one takes, so a field foreign to the type is refused instead of being kept and sent.

/// Every type by its canonical name, with the fields of its own it takes (besides
/// `service`; `link`, `quantity`, `runs` and `interval` are governed by the order rules).
const TYPES: &[(&str, &[&str])] = &[
    ("Default", &[]),
    ("Package", &[]),
    ("Custom Comments", &["comments"]),
    ("Custom Comments Package", &["comments"]),
    ("Mentions with Hashtags", &["usernames", "hashtags"]),
    ("Mentions Custom List", &["usernames"]),
    ("Mentions Hashtag", &["hashtag"]),
    ("Mentions User Followers", &["username"]),
    ("Mentions Media Likers", &["media"]),
    ("Comment Likes", &["username"]),
    ("Comment Replies", &["username", "comments"]),
    ("Poll", &["answer_number"]),
    ("SEO", &["keywords"]),
    ("Invites from Groups", &["groups"]),
    (
        "Subscriptions",
        &[
            "username",
            "min",
            "max",
            "posts",
            "old_posts",
            "delay",
            "expiry",
        ],
    ),
    (
        "Web Traffic",
        &[
            "country",
            "device",
            "type_of_traffic",
            "google_keyword",
            "referring_url",
        ],
    ),
];

/// Lower case, `_` and `-` as spaces, runs of spaces as one.
fn folded(text: &str) -> String {
    text.to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The canonical name of a type however it is written; `None` for a type PerfectPanel
/// does not define (kept as the panel wrote it).
pub fn canonical(type_name: &str) -> Option<&'static str> {
    let want = folded(type_name);
    TYPES
        .iter()
        .map(|(name, _)| *name)
        .find(|name| folded(name) == want)
}

/// The canonical name, or the text as given (trimmed) for a type we do not know; empty
/// is `Default`.
pub fn normalized(type_name: &str) -> String {
    match canonical(type_name) {
        Some(name) => name.to_owned(),
        None if type_name.trim().is_empty() => "Default".to_owned(),
        None => type_name.trim().to_owned(),
    }
}

/// The type's own fields; `None` for a type we do not know (any field may belong to it).
pub fn own_fields(type_name: &str) -> Option<(&'static str, &'static [&'static str])> {
    let name = canonical(type_name)?;
    TYPES.iter().find(|(n, _)| *n == name).copied()
}

/// What an SMM order costs at a provider listing `rate` per 1000 units, by the rules we
/// charge by (SPEC 4): packages once, subscriptions per post, drip-feed per run.
pub fn upstream_cost(
    type_name: &str,
    rate: crate::Money,
    quantity: i64,
    runs: Option<i64>,
    posts: Option<i64>,
) -> Option<crate::Money> {
    match canonical(type_name) {
        Some("Package" | "Custom Comments Package") => Some(rate),
        Some("Subscriptions") => rate.mul_div_half_up(quantity.checked_mul(posts?)?, 1000),
        _ => rate.mul_div_half_up(quantity.checked_mul(runs.unwrap_or(1).max(1))?, 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_panels_map_to_the_canonical_name() {
        for (given, want) in [
            ("default", "Default"),
            ("DEFAULT", "Default"),
            ("custom_comments", "Custom Comments"),
            ("Custom-Comments-Package", "Custom Comments Package"),
            ("mentions_with_hashtags", "Mentions with Hashtags"),
            ("seo", "SEO"),
            ("web traffic", "Web Traffic"),
            ("  Subscriptions ", "Subscriptions"),
        ] {
            assert_eq!(canonical(given), Some(want), "{given}");
            assert_eq!(normalized(given), want);
        }
        assert_eq!(canonical("Likes Premium"), None);
        assert_eq!(normalized(" Likes Premium "), "Likes Premium");
        assert_eq!(normalized(""), "Default");
        assert_eq!(own_fields("poll"), Some(("Poll", &["answer_number"][..])));
        assert_eq!(own_fields("Likes Premium"), None);
    }

    #[test]
    fn upstream_costs_follow_the_charging_rules() {
        let rate = crate::Money::parse("0.90").expect("rate");
        let cost = |t: &str, q: i64, runs: Option<i64>, posts: Option<i64>| {
            upstream_cost(t, rate, q, runs, posts).map(crate::Money::display2)
        };
        assert_eq!(cost("Default", 1000, None, None), Some("0.90".into()));
        assert_eq!(cost("default", 1000, Some(3), None), Some("2.70".into()));
        assert_eq!(cost("package", 1, None, None), Some("0.90".into()));
        assert_eq!(
            cost("Subscriptions", 200, None, Some(5)),
            Some("0.90".into())
        );
        assert_eq!(cost("Subscriptions", 200, None, None), None);
    }
}
