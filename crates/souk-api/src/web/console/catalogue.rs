//! The catalogue: its services (products and SMM) searched by name or number a page at
//! a time; its structure, categories with their subcategories (a name search),
//! and a record's page with its edit form (admins and owners): name, description,
//! position, shown or not, and its Russian name. The edit is `operator_catalogue`'s,
//! which audits it; its catalogue changes are applied here.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operator_catalogue::{self as ops, CategoryEdit};
use souk_app::operators::Permission;
use souk_store::{CategoryRecord, Level};

use super::pager::{Pager, PAGE};
use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, Notice};

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    q: String,
}

fn level_of(text: &str) -> Result<Level, ConsoleError> {
    match text {
        "category" => Ok(Level::Category),
        "subcategory" => Ok(Level::Subcategory),
        _ => Err(ConsoleError::NotFound),
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Category => "category",
        Level::Subcategory => "subcategory",
    }
}

/// The subcategories of `parent`, in their order.
fn children<'a>(all: &'a [CategoryRecord], parent: &str) -> Vec<&'a CategoryRecord> {
    all.iter()
        .filter(|sub| sub.category_id.as_deref() == Some(parent))
        .collect()
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(s): Query<Search>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let categories = state.store.categories_of(Level::Category, None).await?;
    let subcategories = state.store.categories_of(Level::Subcategory, None).await?;
    let needle = s.q.trim().to_lowercase();
    let hit = |r: &CategoryRecord| {
        needle.is_empty()
            || r.name.to_lowercase().contains(&needle)
            || ops::name_ru(r).is_some_and(|n| n.to_lowercase().contains(&needle))
    };
    let row = |r: &CategoryRecord, level: Level| {
        html! {
            tr.sub[level == Level::Subcategory] {
                td.name { a href=(format!("/console/catalogue/{}/{}", level_name(level), r.id)) { (r.name) } }
                td { (ops::name_ru(r).unwrap_or("")) }
                td { code { (r.slug) } }
                td.num { (r.position) }
                td { @if r.active { "✓" } @else { span.muted { (ui.t("hidden", "скрыта")) } } }
            }
        }
    };
    let content = html! {
        p { a #to-services href="/console/catalogue/services" { (ui.t("Services and products →", "Услуги и товары →")) } }
        form.row #catalogue-search method="get" action="/console/catalogue" {
            input type="search" name="q" placeholder=(ui.t("Name contains", "Название содержит")) value=(s.q);
            button type="submit" { (ui.t("Search", "Найти")) }
        }
        div.scroll { table #categories {
            thead { tr { th { (ui.t("Name", "Название")) } th { (ui.t("In Russian", "По-русски")) } th { "Slug" } th.num { (ui.t("Position", "Позиция")) } th { (ui.t("Shown", "Видна")) } } }
            tbody {
                @for cat in &categories {
                    @let subs = children(&subcategories, &cat.id).into_iter().filter(|sub| hit(cat) || hit(sub)).collect::<Vec<_>>();
                    @if hit(cat) || !subs.is_empty() {
                        (row(cat, Level::Category))
                        @for sub in subs { (row(sub, Level::Subcategory)) }
                    }
                }
                @if categories.is_empty() { tr { td colspan="5" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
    };
    Ok(page(
        &c,
        StatusCode::OK,
        ui.t("Catalogue", "Каталог"),
        Notice::None,
        content,
    ))
}

#[derive(Deserialize, Default)]
pub struct EditForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    position: String,
    /// A checkbox: present when ticked.
    active: Option<String>,
    #[serde(default)]
    name_ru: String,
}

impl EditForm {
    fn of(r: &CategoryRecord) -> EditForm {
        EditForm {
            csrf: None,
            name: r.name.clone(),
            description: r.description.clone(),
            position: r.position.to_string(),
            active: r.active.then(|| "on".to_owned()),
            name_ru: ops::name_ru(r).unwrap_or("").to_owned(),
        }
    }
}

async fn record_page(
    state: &AppState,
    c: &Console,
    level: Level,
    id: &str,
    form: Option<&EditForm>,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let r = souk_app::operator_catalogue::record(&state.store, level, id).await?;
    let shown = EditForm::of(&r);
    let f = form.unwrap_or(&shown);
    let audit = state
        .store
        .audit_log(Some(&format!("{}:{id}", level_name(level))), None, 50)
        .await?;
    let content = html! {
        dl.grid #record-facts {
            dt { "Slug" } dd { code { (r.slug) } }
            dt { (ui.t("Name", "Название")) } dd #record-name { (r.name) }
            dt { (ui.t("In Russian", "По-русски")) } dd #record-name-ru { (ops::name_ru(&r).unwrap_or("")) }
            dt { (ui.t("Position", "Позиция")) } dd #record-position { (r.position) }
            dt { (ui.t("Shown", "Видна")) } dd #record-active { @if r.active { (ui.t("yes", "да")) } @else { (ui.t("no", "нет")) } }
        }
        @if op.role.can(Permission::Change) {
            section.action {
                h2 { (ui.t("Edit", "Изменить")) }
                form.stack #category-form method="post" action=(format!("/console/catalogue/{}/{id}", level_name(level))) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="name" { (ui.t("Name (English)", "Название (английское)")) }
                    input #name type="text" name="name" value=(f.name) required maxlength="200";
                    label for="name_ru" { (ui.t("Name in Russian (blank: the English one)", "Название по-русски (пусто — английское)")) }
                    input #name_ru type="text" name="name_ru" value=(f.name_ru) maxlength="200";
                    label for="description" { (ui.t("Description", "Описание")) }
                    textarea #description name="description" rows="3" maxlength="5000" { (f.description) }
                    label for="position" { (ui.t("Position", "Позиция")) }
                    input #position type="text" name="position" value=(f.position) inputmode="numeric" maxlength="12";
                    label.check { input #active type="checkbox" name="active" checked[f.active.is_some()]; " " (ui.t("Shown to buyers", "Показывать покупателям")) }
                    button #category-submit type="submit" { (ui.t("Save", "Сохранить")) }
                }
            }
        }
        h2 { (ui.t("Operator actions", "Действия операторов")) }
        (super::audit::table(ui, &audit))
    };
    Ok(page(c, status, &r.name, notice, content))
}

pub async fn detail(
    State(state): State<AppState>,
    c: Console,
    PagePath((level, id)): PagePath<(String, String)>,
) -> Result<Response, ConsoleError> {
    let level = level_of(&level)?;
    record_page(&state, &c, level, &id, None, Notice::None, StatusCode::OK).await
}

pub async fn edit(
    State(state): State<AppState>,
    c: Console,
    PagePath((level, id)): PagePath<(String, String)>,
    PageForm(form): PageForm<EditForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let level = level_of(&level)?;
    let edit = CategoryEdit {
        name: form.name.clone(),
        description: form.description.clone(),
        position: form.position.clone(),
        active: form.active.is_some(),
        name_ru: form.name_ru.clone(),
    };
    match ops::edit(&state.store, &op, level, &id, &edit, state.now()).await {
        Ok((_, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(see_other(&format!(
                "/console/catalogue/{}/{id}",
                level_name(level)
            )))
        }
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            record_page(
                &state,
                &c,
                level,
                &id,
                Some(&form),
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Deserialize, Default)]
pub struct ServiceSearch {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

pub async fn services(
    State(state): State<AppState>,
    c: Console,
    Query(s): Query<ServiceSearch>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let pager = Pager::of(s.page.as_deref());
    let (rows, total) = state
        .store
        .console_services(&s.q, PAGE, pager.offset())
        .await?;
    let link = |p: i64| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &s.q)
            .append_pair("page", &p.to_string())
            .finish();
        format!("/console/catalogue/services?{q}")
    };
    let content = html! {
        form.row #service-search method="get" action="/console/catalogue/services" {
            input type="search" name="q" placeholder=(ui.t("Name contains, or a number", "Название или номер")) value=(s.q);
            button type="submit" { (ui.t("Search", "Найти")) }
        }
        p.muted { (ui.t("Found: ", "Найдено: ")) span #service-total { (total) } }
        div.scroll { table #services {
            thead { tr {
                th.num { "#" } th { (ui.t("Name", "Название")) } th { (ui.t("Kind", "Вид")) } th { (ui.t("Subcategory", "Подкатегория")) } th { (ui.t("Shop", "Магазин")) }
                th.num { (ui.t("Price", "Цена")) } th { (ui.t("Provider", "Провайдер")) } th.num { (ui.t("Their price", "Их цена")) } th { (ui.t("On", "Вкл.")) }
            } }
            tbody {
                @for r in &rows { tr {
                    td.num { (r.number) } td.name { a href=(format!("/console/catalogue/services/{}", r.number)) { (r.name) } } td { (r.entity) " · " (r.product_type) } td { (r.subcategory) } td { (r.shop) }
                    td.num { (super::money(r.rate)) }
                    td { @if let Some(p) = &r.provider_id { a href=(format!("/console/providers/{p}")) { (p) } } }
                    td.num { @if let Some(p) = r.provider_rate { (super::money(p)) } }
                    td { @if r.active { "✓" } }
                } }
                @if rows.is_empty() { tr { td colspan="9" .muted { (ui.t("No services.", "Услуг нет.")) } } }
            }
        } }
        (pager.nav(ui, total, link))
    };
    Ok(page(
        &c,
        StatusCode::OK,
        ui.t("Services and products", "Услуги и товары"),
        Notice::None,
        content,
    ))
}
