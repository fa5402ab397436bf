//! Translatable text: the English original plus translations, with per-field fallback.

use crate::lang::Lang;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    en: String,
    translations: Vec<(Lang, String)>,
}

impl Text {
    pub fn new(en: impl Into<String>) -> Self {
        Text {
            en: en.into(),
            translations: Vec::new(),
        }
    }

    /// Sets the text for `lang` (English replaces the original).
    pub fn set(&mut self, lang: Lang, value: impl Into<String>) {
        let value = value.into();
        if lang == Lang::En {
            self.en = value;
            return;
        }
        match self.translations.iter_mut().find(|(l, _)| *l == lang) {
            Some(slot) => slot.1 = value,
            None => self.translations.push((lang, value)),
        }
    }

    pub fn en(&self) -> &str {
        &self.en
    }

    /// The text in `lang`, or English when that translation is missing or blank.
    pub fn get(&self, lang: Lang) -> &str {
        if lang == Lang::En {
            return &self.en;
        }
        self.translations
            .iter()
            .find(|(l, v)| *l == lang && !v.trim().is_empty())
            .map_or(self.en.as_str(), |(_, v)| v.as_str())
    }

    pub fn translations(&self) -> &[(Lang, String)] {
        &self.translations
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn falls_back_to_english_per_field() {
        let mut t = Text::new("Followers");
        t.set(Lang::Ru, "Подписчики");
        t.set(Lang::De, "  ");
        assert_eq!(t.get(Lang::Ru), "Подписчики");
        assert_eq!(t.get(Lang::De), "Followers");
        assert_eq!(t.get(Lang::Zh), "Followers");
        assert_eq!(t.get(Lang::En), "Followers");
        t.set(Lang::Ru, "Фолловеры");
        assert_eq!(t.get(Lang::Ru), "Фолловеры");
    }
}
