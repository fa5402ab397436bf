//! The 16 languages of the seed. `jp` is an alias of `ja`; matching ignores case.

use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    #[default]
    En,
    Zh,
    Es,
    Fr,
    De,
    Ja,
    Ko,
    Pt,
    PtBr,
    Ru,
    Ar,
    Hi,
    Vi,
    Ur,
    BnBd,
}

impl Lang {
    /// Every supported language, English first, in the seed's order otherwise.
    pub const ALL: [Lang; 15] = [
        Lang::En,
        Lang::Zh,
        Lang::Es,
        Lang::Fr,
        Lang::De,
        Lang::Ja,
        Lang::Ko,
        Lang::Pt,
        Lang::PtBr,
        Lang::Ru,
        Lang::Ar,
        Lang::Hi,
        Lang::Vi,
        Lang::Ur,
        Lang::BnBd,
    ];

    /// The canonical code, as stored and as the docs list it.
    pub const fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
            Lang::Es => "es",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::Ja => "ja",
            Lang::Ko => "ko",
            Lang::Pt => "pt",
            Lang::PtBr => "pt-BR",
            Lang::Ru => "ru",
            Lang::Ar => "ar",
            Lang::Hi => "hi",
            Lang::Vi => "vi",
            Lang::Ur => "ur",
            Lang::BnBd => "bn-BD",
        }
    }

    /// Parses a code case-insensitively; `jp` means `ja`. `None` for anything else.
    pub fn parse(code: &str) -> Option<Lang> {
        let lower = code.trim().to_ascii_lowercase();
        if lower == "jp" {
            return Some(Lang::Ja);
        }
        Lang::ALL
            .into_iter()
            .find(|l| l.code().eq_ignore_ascii_case(&lower))
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_roundtrip_case_insensitively() {
        for l in Lang::ALL {
            assert_eq!(Lang::parse(l.code()), Some(l));
            assert_eq!(Lang::parse(&l.code().to_uppercase()), Some(l));
        }
        assert_eq!(Lang::parse("jp"), Some(Lang::Ja));
        assert_eq!(Lang::parse("JP"), Some(Lang::Ja));
        assert_eq!(Lang::parse("pt-br"), Some(Lang::PtBr));
        assert_eq!(Lang::parse("bn-bd"), Some(Lang::BnBd));
        assert_eq!(Lang::parse("xx"), None);
        assert_eq!(Lang::parse("pt_BR"), None);
        assert_eq!(Lang::parse(""), None);
    }
}
