//! Shops: searched by name, owner's email or id a page at a time, with their owner,
//! listings and rating; for admins and owners a form that opens a shop for a user (who
//! becomes a supplier) and one on each shop's page that renames it and shows or hides it
//! (and what it lists). The changes are `souk_app::shops`' (the operator API's), audited
//! in their own transaction.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::Permission;
use souk_app::shops;
use souk_core::catalogue::Shop;
use souk_store::ShopRecord;

use super::pager::{Pager, PAGE};
use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    owner: String,
}

#[derive(Deserialize, Default)]
pub struct EditForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    /// A checkbox: present when ticked.
    active: Option<String>,
}

/// The rating buyers see (one decimal), and how many reviews it is of.
fn rating(s: &ShopRecord) -> String {
    let shop = Shop {
        id: s.id.clone(),
        name: s.name.clone(),
        active: s.active,
        review_count: s.review_count,
        rating_sum: s.rating_sum,
    };
    format!("{:.1} ({})", shop.rating(), s.review_count)
}

async fn list_page(
    state: &AppState,
    c: &Console,
    s: &Search,
    form: &NewForm,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let pager = Pager::of(s.page.as_deref());
    let (rows, total) = state
        .store
        .console_shops(&s.q, PAGE, pager.offset())
        .await?;
    let link = |p: i64| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &s.q)
            .append_pair("page", &p.to_string())
            .finish();
        format!("/console/shops?{q}")
    };
    let content = html! {
        form.row #shop-search method="get" action="/console/shops" {
            input type="search" name="q" aria-label=(ui.t("Search", "Поиск")) placeholder=(ui.t("Name or owner's email contains", "Название или почта владельца")) value=(s.q);
            button type="submit" { (ui.t("Search", "Найти")) }
        }
        p.muted { (ui.t("Found: ", "Найдено: ")) span #shop-total { (total) } }
        div.scroll { table #shops {
            thead { tr {
                th { (ui.t("Shop", "Магазин")) } th { (ui.t("Owner", "Владелец")) } th.num { (ui.t("Listings", "Позиций")) }
                th.num { (ui.t("Rating", "Рейтинг")) } th { (ui.t("Shown", "Виден")) } th { (ui.t("Opened", "Открыт")) }
            } }
            tbody {
                @for r in &rows { tr {
                    td.name { a href=(format!("/console/shops/{}", r.id)) { (r.name) } }
                    td { a href=(format!("/console/users/{}", r.owner_id)) { (r.owner_email) } }
                    td.num { (r.listings) }
                    td.num { (rating(r)) }
                    td { @if r.active { "✓" } @else { span.muted { (ui.t("hidden", "скрыт")) } } }
                    td { (when(r.created_at)) }
                } }
                @if rows.is_empty() { tr { td colspan="6" .muted { (ui.t("No shops.", "Магазинов нет.")) } } }
            }
        } }
        (pager.nav(ui, total, link))
        @if op.role.can(Permission::Change) {
            section.action {
                h2 { (ui.t("Open a shop", "Открыть магазин")) }
                p.muted { (ui.t("Its owner becomes a supplier.", "Владелец становится поставщиком.")) }
                form.stack #shop-new method="post" action="/console/shops" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="shop-name" { (ui.t("Name", "Название")) }
                    input #shop-name type="text" name="name" value=(form.name) required maxlength="200";
                    label for="shop-owner" { (ui.t("Owner's email", "Почта владельца")) }
                    input #shop-owner type="email" name="owner" value=(form.owner) required maxlength="254";
                    button #shop-new-submit type="submit" { (ui.t("Open", "Открыть")) }
                }
            }
        }
    };
    Ok(page(c, status, ui.t("Shops", "Магазины"), notice, content))
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(s): Query<Search>,
) -> Result<Response, ConsoleError> {
    list_page(
        &state,
        &c,
        &s,
        &NewForm::default(),
        Notice::None,
        StatusCode::OK,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<NewForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let owner = shops::Owner::Email(form.owner.clone());
    match shops::create_audited(&state.store, &op, owner, &form.name, state.now()).await {
        Ok((shop, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(see_other(&format!("/console/shops/{}", shop.id)))
        }
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            list_page(
                &state,
                &c,
                &Search::default(),
                &form,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

async fn shop_page(
    state: &AppState,
    c: &Console,
    id: &str,
    form: Option<&EditForm>,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let s = shops::shop(&state.store, id).await?;
    let name = form.map_or(s.name.as_str(), |f| f.name.as_str());
    let active = form.map_or(s.active, |f| f.active.is_some());
    let audit = state
        .store
        .audit_log(Some(&format!("shop:{id}")), None, 50)
        .await?;
    let content = html! {
        p { a href="/console/shops" { (ui.t("← Shops", "← Магазины")) } }
        dl.grid #shop-facts {
            dt { (ui.t("Name", "Название")) } dd #shop-name-shown { (s.name) }
            dt { (ui.t("Owner", "Владелец")) } dd { a href=(format!("/console/users/{}", s.owner_id)) { (s.owner_email) } }
            dt { (ui.t("Listings", "Позиций")) } dd { (s.listings) }
            dt { (ui.t("Rating", "Рейтинг")) } dd #shop-rating { (rating(&s)) }
            dt { (ui.t("Shown", "Виден")) } dd #shop-active { @if s.active { (ui.t("yes", "да")) } @else { (ui.t("no", "нет")) } }
            dt { (ui.t("Opened", "Открыт")) } dd { (when(s.created_at)) }
        }
        p {
            a href=(format!("/console/reviews?shop={}", s.id)) { (ui.t("Its reviews →", "Его отзывы →")) }
        }
        @if op.role.can(Permission::Change) {
            section.action {
                h2 { (ui.t("Edit", "Изменить")) }
                form.stack #shop-form method="post" action=(format!("/console/shops/{id}")) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="shop-name" { (ui.t("Name", "Название")) }
                    input #shop-name type="text" name="name" value=(name) required maxlength="200";
                    label.check { input #shop-active-box type="checkbox" name="active" checked[active]; " " (ui.t("Shown to buyers (with everything it lists)", "Показывать покупателям (со всеми позициями)")) }
                    button #shop-submit type="submit" { (ui.t("Save", "Сохранить")) }
                }
            }
        }
        h2 { (ui.t("Operator actions", "Действия операторов")) }
        (super::audit::table(ui, &audit))
    };
    Ok(page(c, status, &s.name, notice, content))
}

pub async fn detail(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
) -> Result<Response, ConsoleError> {
    shop_page(&state, &c, &id, None, Notice::None, StatusCode::OK).await
}

pub async fn edit(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<EditForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let active = form.active.is_some();
    let name = Some(form.name.as_str());
    match shops::update_audited(&state.store, &op, &id, name, Some(active), state.now()).await {
        Ok((_, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(see_other(&format!("/console/shops/{id}")))
        }
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            shop_page(
                &state,
                &c,
                &id,
                Some(&form),
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
