//! The one check of an `http://` or `https://` address an operator, a supplier or a
//! gateway gives Souk (a provider, a gateway's API, the site's own address, an image, a
//! pay page): each caller words its own refusal.

/// Why a text is not a web address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WebUrlError {
    #[error("must start with https:// or http://")]
    Scheme,
    #[error("is not an address")]
    Malformed,
    #[error("is too long (max {0} characters)")]
    TooLong(usize),
}

/// `text` trimmed, without a trailing `/`, if it is an `http(s)://` address of at most
/// `max` characters with a host part and no spaces or control characters. The scheme
/// is matched in any case.
pub fn web_url(text: &str, max: usize) -> Result<String, WebUrlError> {
    let t = text.trim();
    let (scheme, rest) = t.split_once("://").ok_or(WebUrlError::Scheme)?;
    if !(scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http")) {
        return Err(WebUrlError::Scheme);
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty()
        || rest.starts_with('/')
        || t.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(WebUrlError::Malformed);
    }
    let url = format!("{scheme}://{rest}");
    if url.chars().count() > max {
        return Err(WebUrlError::TooLong(max));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_urls() {
        assert_eq!(
            web_url(" https://pay.example/api/ ", 100).as_deref(),
            Ok("https://pay.example/api")
        );
        assert_eq!(
            web_url("HTTP://panel.example/api/v2", 100).as_deref(),
            Ok("HTTP://panel.example/api/v2")
        );
        for (bad, why) in [
            ("", WebUrlError::Scheme),
            ("ftp://x.example", WebUrlError::Scheme),
            ("javascript:alert(1)", WebUrlError::Scheme),
            ("//x.example/a", WebUrlError::Scheme),
            ("http://", WebUrlError::Malformed),
            ("https:///path", WebUrlError::Malformed),
            ("https://a b.example", WebUrlError::Malformed),
            ("https://x.example/\u{7}a", WebUrlError::Malformed),
        ] {
            assert_eq!(web_url(bad, 100), Err(why), "{bad:?}");
        }
        assert_eq!(
            web_url("https://x.example/abcdef", 10),
            Err(WebUrlError::TooLong(10))
        );
    }
}
