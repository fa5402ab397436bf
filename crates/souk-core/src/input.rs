//! The one rule for text that arrives from outside, whatever the surface (`/api/v2`, the
//! supplier and operator APIs, the stub endpoint, webhooks, the web forms): no NUL and no
//! other control character, except tab and newline where a field allows several lines.
//! PostgreSQL cannot store a NUL at all, and the others only ever show up in attacks and
//! broken clients, so both engines refuse them the same way, before anything is stored.

use crate::error::ApiError;

/// The most parameters one request may carry (query string and body each). Every real
/// request needs a few dozen at most (100 list values plus the scalars).
pub const MAX_PARAMS: usize = 1000;

/// Whether `c` may appear in a field: printable text, plus tab, newline and carriage
/// return when the field is `multiline`.
pub fn allowed_char(c: char, multiline: bool) -> bool {
    match c {
        '\t' | '\n' | '\r' => multiline,
        c => !c.is_control(),
    }
}

/// True when `text` holds only characters a field of that kind allows.
pub fn is_clean(text: &str, multiline: bool) -> bool {
    text.chars().all(|c| allowed_char(c, multiline))
}

/// `Ok` when `text` obeys the rule; the error names `field`.
pub fn check(field: &str, text: &str, multiline: bool) -> Result<(), ApiError> {
    if is_clean(text, multiline) {
        Ok(())
    } else {
        Err(ApiError::InvalidCharacters(field_label(field)))
    }
}

/// A parameter name fit to be repeated in an error: the name itself when it looks like
/// one (`link`, `orders[]`, `subproducts.0.name`), else a neutral description, so that an
/// error never echoes arbitrary bytes back.
pub fn field_label(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'));
    if plain {
        name.to_owned()
    } else {
        "a parameter name".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_controls_allows_lines_where_asked() {
        assert!(is_clean("https://t.me/souk?x=1 ünïcödé 验证码", false));
        assert!(!is_clean("a\0b", false));
        assert!(!is_clean("a\0b", true));
        assert!(!is_clean("a\u{7f}", true));
        assert!(!is_clean("a\u{85}", true));
        assert!(!is_clean("a\u{1b}[31m", true));
        assert!(!is_clean("two\nlines", false));
        assert!(!is_clean("tab\there", false));
        assert!(is_clean("two\r\nlines\tand a tab", true));
    }

    #[test]
    fn errors_name_the_field_never_echo_garbage() {
        assert_eq!(
            check("link", "x\0", false),
            Err(ApiError::InvalidCharacters("link".into()))
        );
        assert_eq!(
            ApiError::InvalidCharacters("link".into()).to_string(),
            "Invalid characters in link"
        );
        assert_eq!(field_label("li\0nk"), "a parameter name");
        assert_eq!(field_label(&"x".repeat(65)), "a parameter name");
        assert_eq!(field_label("orders[]"), "orders[]");
    }
}
