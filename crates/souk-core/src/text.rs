//! Translatable text: the English original plus translations, with per-field fallback.
//!
//! Values are shared strings: a catalogue of 100,000 services repeats the same
//! descriptions and their translations many times, and an [`Interner`] keeps each once.

use std::collections::HashSet;
use std::sync::Arc;

use crate::lang::Lang;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Text {
    en: Arc<str>,
    /// A boxed slice, not a `Vec`: texts are set once and read often, and a `Vec`'s
    /// spare capacity doubled their size.
    translations: Box<[(Lang, Arc<str>)]>,
}

impl Text {
    pub fn new(en: impl Into<Arc<str>>) -> Self {
        Text {
            en: en.into(),
            translations: Box::default(),
        }
    }

    /// Sets the text for `lang` (English replaces the original).
    pub fn set(&mut self, lang: Lang, value: impl Into<Arc<str>>) {
        let value = value.into();
        if lang == Lang::En {
            self.en = value;
            return;
        }
        match self.translations.iter_mut().find(|(l, _)| *l == lang) {
            Some(slot) => slot.1 = value,
            None => {
                let mut all = std::mem::take(&mut self.translations).into_vec();
                all.push((lang, value));
                self.translations = all.into_boxed_slice();
            }
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
            .map_or(&*self.en, |(_, v)| &**v)
    }

    pub fn translations(&self) -> &[(Lang, Arc<str>)] {
        &self.translations
    }
}

/// Hands out one shared copy of each distinct string. Hashed with foldhash: SipHash's
/// resistance to chosen collisions buys nothing for the operator's own catalogue, and
/// it was a fifth of a 100,000-service load.
#[derive(Debug, Default)]
pub struct Interner(HashSet<Arc<str>, foldhash::fast::RandomState>);

impl Interner {
    pub fn get(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.0.insert(shared.clone());
        shared
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

    #[test]
    fn interned_strings_are_shared() {
        let mut interner = Interner::default();
        let a = interner.get("Followers");
        let b = interner.get(&String::from("Followers"));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &interner.get("Likes")));
    }
}
