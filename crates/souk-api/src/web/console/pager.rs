//! Paging of the console's searches: the page asked for (`?page=`), 50 rows a page, and
//! the links to the pages beside it.

use maud::{html, Markup};

use crate::web::i18n::Ui;

/// Rows a page.
pub const PAGE: i64 = 50;

/// The page a search is on.
#[derive(Clone, Copy, Debug)]
pub struct Pager {
    /// From 1.
    pub page: i64,
}

impl Pager {
    /// Page `raw` (the query's `page`), the first when it is missing or not a page.
    pub fn of(raw: Option<&str>) -> Pager {
        let page = raw
            .and_then(|p| p.trim().parse::<i64>().ok())
            .filter(|p| (1..=100_000).contains(p))
            .unwrap_or(1);
        Pager { page }
    }

    /// Rows to skip to reach this page.
    pub fn offset(self) -> i64 {
        (self.page - 1) * PAGE
    }

    /// "← Previous", "page / pages", "Next →", for `total` rows; `link` makes a page's URL.
    pub fn nav(self, ui: Ui, total: i64, link: impl Fn(i64) -> String) -> Markup {
        let pages = (total + PAGE - 1) / PAGE;
        let page = self.page;
        html! {
            nav.pages {
                @if page > 1 { a #prev-page href=(link(page - 1)) { (ui.t("← Previous", "← Назад")) } }
                span.muted { (page) " / " (pages.max(1)) }
                @if page < pages { a #next-page href=(link(page + 1)) { (ui.t("Next →", "Дальше →")) } }
            }
        }
    }
}
