//! The demo catalogue's pictures (`/static/demo/{name}.svg`, its `imageUrl`s): a tile
//! drawn from the name, a colour and its initials, so that `serve --demo` shows images
//! without shipping any.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

pub async fn serve(Path(file): Path<String>) -> Response {
    let Some(name) = file.strip_suffix(".svg").filter(|n| is_name(n)) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        tile(name),
    )
        .into_response()
}

/// Lower-case words joined by `-`, as the demo names them: nothing else is drawn.
fn is_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// A square tile: a hue from the name's hash, the first letters of its first two words.
fn tile(name: &str) -> String {
    let hash = name.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    let hue = hash % 360;
    let initials: String = name
        .split('-')
        .filter_map(|w| w.chars().next())
        .take(2)
        .collect::<String>()
        .to_uppercase();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"96\" height=\"96\" viewBox=\"0 0 96 96\">\
         <rect width=\"96\" height=\"96\" rx=\"16\" fill=\"hsl({hue},55%,38%)\"/>\
         <text x=\"48\" y=\"60\" font-family=\"sans-serif\" font-size=\"34\" font-weight=\"700\" \
         text-anchor=\"middle\" fill=\"#fff\">{initials}</text></svg>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tiles() {
        assert!(is_name("proxy-residential"));
        for bad in ["", "../x", "A", "a.b", "a b", &"a".repeat(41)] {
            assert!(!is_name(bad), "{bad:?}");
        }
        let t = tile("yt-views");
        assert!(t.contains(">YV</text>"), "{t}");
        assert_eq!(t, tile("yt-views"));
    }
}
