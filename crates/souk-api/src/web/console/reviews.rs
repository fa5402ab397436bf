//! Buyers' reviews, newest first, filtered by shop, rating and whether they are hidden,
//! a page at a time; support and up hide a review from buyers (it then leaves the shop's
//! pages and rating) or show it again. The moderation is `souk_app::reviews`', audited in
//! its own transaction.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::Permission;
use souk_app::reviews;
use souk_store::ReviewFilter;

use super::pager::{Pager, PAGE};
use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    shop: String,
    #[serde(default)]
    rating: String,
    /// `yes`, `no` or blank (any).
    #[serde(default)]
    hidden: String,
    page: Option<String>,
}

impl Filters {
    fn filter(&self) -> ReviewFilter {
        ReviewFilter {
            shop_id: Some(self.shop.trim().to_owned()).filter(|s| !s.is_empty()),
            rating: self
                .rating
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|r| (1..=5).contains(r)),
            hidden: match self.hidden.trim() {
                "yes" => Some(true),
                "no" => Some(false),
                _ => None,
            },
        }
    }

    /// The query string of these filters on page `p`.
    fn query(&self, p: i64) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("shop", self.shop.trim())
            .append_pair("rating", self.rating.trim())
            .append_pair("hidden", self.hidden.trim())
            .append_pair("page", &p.to_string())
            .finish()
    }
}

#[derive(Deserialize, Default)]
pub struct ModerateForm {
    csrf: Option<String>,
    /// `hide` or `show`.
    #[serde(default)]
    action: String,
    /// The list's query, to go back to it.
    #[serde(default)]
    back: String,
}

async fn list_page(
    state: &AppState,
    c: &Console,
    f: &Filters,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let can_moderate = op.role.can(Permission::Moderate);
    let filter = f.filter();
    let pager = Pager::of(f.page.as_deref());
    let (rows, total) = state
        .store
        .console_reviews(&filter, PAGE, pager.offset())
        .await?;
    let (shops, _) = state.store.console_shops("", 1_000, 0).await?;
    let back = f.query(pager.page);
    let content = html! {
        form.row #review-filters method="get" action="/console/reviews" {
            select name="shop" aria-label=(ui.t("Shop", "Магазин")) {
                option value="" { (ui.t("Every shop", "Все магазины")) }
                @for s in &shops { option value=(s.id) selected[filter.shop_id.as_deref() == Some(s.id.as_str())] { (s.name) } }
            }
            select name="rating" aria-label=(ui.t("Rating", "Оценка")) {
                option value="" { (ui.t("Any rating", "Любая оценка")) }
                @for r in 1..=5i64 { option value=(r) selected[filter.rating == Some(r)] { (r) " ★" } }
            }
            select name="hidden" aria-label=(ui.t("Hidden", "Скрыт")) {
                option value="" { (ui.t("Shown and hidden", "Видимые и скрытые")) }
                option value="no" selected[filter.hidden == Some(false)] { (ui.t("Shown", "Видимые")) }
                option value="yes" selected[filter.hidden == Some(true)] { (ui.t("Hidden", "Скрытые")) }
            }
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        p.muted { (ui.t("Found: ", "Найдено: ")) span #review-total { (total) } }
        div.scroll { table #reviews {
            thead { tr {
                th { (ui.t("When", "Когда")) } th { (ui.t("Shop", "Магазин")) } th.num { (ui.t("Rating", "Оценка")) } th { (ui.t("Text", "Текст")) }
                th { (ui.t("Order", "Заказ")) } th { (ui.t("Buyer", "Покупатель")) } th { (ui.t("State", "Состояние")) }
            } }
            tbody {
                @for r in &rows { tr id=(format!("review-{}", r.id)) {
                    td { (when(r.created_at)) }
                    td { a href=(format!("/console/shops/{}", r.shop_id)) { (r.shop) } }
                    td.num { (r.rating) }
                    td { (r.text) }
                    td { @if let Some(o) = r.order_id { a href=(format!("/console/orders/{o}")) { (o) } } }
                    td { (r.email.as_deref().unwrap_or("")) }
                    td {
                        span.review-state { @if r.hidden { (ui.t("hidden", "скрыт")) } @else { (ui.t("shown", "виден")) } }
                        @if can_moderate {
                            form.inline method="post" action=(format!("/console/reviews/{}", r.id)) {
                                input type="hidden" name="csrf" value=(c.csrf());
                                input type="hidden" name="back" value=(back);
                                @if r.hidden {
                                    button.small type="submit" name="action" value="show" { (ui.t("Show", "Показать")) }
                                } @else {
                                    button.small.danger type="submit" name="action" value="hide" { (ui.t("Hide", "Скрыть")) }
                                }
                            }
                        }
                    }
                } }
                @if rows.is_empty() { tr { td colspan="7" .muted { (ui.t("No reviews.", "Отзывов нет.")) } } }
            }
        } }
        (pager.nav(ui, total, |p| format!("/console/reviews?{}", f.query(p))))
    };
    Ok(page(c, status, ui.t("Reviews", "Отзывы"), notice, content))
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(f): Query<Filters>,
) -> Result<Response, ConsoleError> {
    list_page(&state, &c, &f, Notice::None, StatusCode::OK).await
}

pub async fn moderate(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ModerateForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Moderate)?;
    let ui = c.ui();
    let back: Filters = serde_urlencoded::from_str(&form.back).unwrap_or_default();
    let hidden = match form.action.as_str() {
        "hide" => true,
        "show" => false,
        _ => {
            let text = ui
                .t("Choose hide or show.", "Выберите «скрыть» или «показать».")
                .to_owned();
            return list_page(
                &state,
                &c,
                &back,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match reviews::set_hidden(&state.store, &op, &id, hidden, state.now()).await {
        Ok((_, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(see_other(&format!(
                "/console/reviews?{}",
                back.query(back_page(&back))
            )))
        }
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            list_page(
                &state,
                &c,
                &back,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

fn back_page(f: &Filters) -> i64 {
    Pager::of(f.page.as_deref()).page
}
