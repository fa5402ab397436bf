//! One product or SMM service: what it is and sells at, its variants, its translations
//! and the operator actions on it; for admins and owners the forms that change it (name,
//! description, shown or not, the price of a local SMM service or the markup of an
//! imported one, each variant's price, the name and description in another language).
//! The changes are `operator_catalogue`'s, which audits them in their own transaction;
//! the catalogue changes they answer are applied here so buyers see them at once.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operator_catalogue::{self as ops, ServiceChange};
use souk_app::operators::{OperatorError, Permission};
use souk_core::Lang;
use souk_store::{Change, OperatorService};

use super::{money, page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, Notice};

/// The languages a service is translated into (English is its own text).
fn languages() -> impl Iterator<Item = Lang> {
    Lang::ALL.into_iter().filter(|l| *l != Lang::En)
}

fn number_of(text: &str) -> Result<i64, ConsoleError> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ConsoleError::NotFound)
}

fn path_of(number: i64) -> String {
    format!("/console/catalogue/services/{number}")
}

#[derive(Deserialize, Default)]
pub struct EditForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    /// A checkbox: present when ticked.
    active: Option<String>,
    /// A local SMM service's rate per 1000.
    price: Option<String>,
    /// An imported service's markup percent and rounding step.
    markup: Option<String>,
    round: Option<String>,
}

impl EditForm {
    fn of(s: &OperatorService) -> EditForm {
        EditForm {
            csrf: None,
            name: s.name.clone(),
            description: s.description.clone(),
            active: s.active.then(|| "on".to_owned()),
            price: Some(money(s.rate)),
            markup: s.markup.map(|m| money(m.basis_points * 10_000)),
            round: s.markup.map(|m| money(m.round_to)),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct TranslationForm {
    csrf: Option<String>,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Deserialize, Default)]
pub struct VariantForm {
    csrf: Option<String>,
    /// Absent keeps the name; present and blank is refused.
    name: Option<String>,
    price: Option<String>,
}

/// `?lang=` picks the language the translation form starts with.
#[derive(Deserialize, Default)]
pub struct LangQuery {
    lang: Option<String>,
}

/// What the page's forms show when a refused change comes back to it.
#[derive(Default)]
struct Typed<'a> {
    edit: Option<&'a EditForm>,
    translation: Option<&'a TranslationForm>,
    /// The variant whose change was refused, and what was typed.
    variant: Option<(&'a str, &'a VariantForm)>,
}

#[allow(clippy::too_many_arguments)]
async fn service_page(
    state: &AppState,
    c: &Console,
    number: i64,
    lang: Option<&str>,
    typed: Typed<'_>,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let s = state.store.operator_service(number).await?;
    let can_change = op.role.can(Permission::Change);
    let shown = EditForm::of(&s);
    let f = typed.edit.unwrap_or(&shown);
    let lang = typed
        .translation
        .and_then(|t| Lang::parse(&t.lang))
        .or_else(|| lang.and_then(Lang::parse))
        .filter(|l| *l != Lang::En)
        .unwrap_or(Lang::Ru);
    let (stored_name, stored_description) = ops::translation_of(&s, lang);
    let (t_name, t_description) = match typed.translation {
        Some(t) => (t.name.clone(), t.description.clone()),
        None => (
            stored_name.unwrap_or("").to_owned(),
            stored_description.unwrap_or("").to_owned(),
        ),
    };
    let audit = state
        .store
        .audit_log(Some(&ops::service_subject(number)), None, 50)
        .await?;
    let here = path_of(number);
    let content = html! {
        p { a href="/console/catalogue/services" { (ui.t("← Services and products", "← Услуги и товары")) } }
        dl.grid #service-facts {
            dt { "#" } dd #service-number { (s.number) }
            dt { (ui.t("Kind", "Вид")) } dd { (s.entity) " · " (s.product_type) }
            dt { (ui.t("Shop", "Магазин")) } dd { a href=(format!("/console/shops/{}", s.shop_id)) { (s.shop) } }
            dt { (ui.t("Subcategory", "Подкатегория")) } dd { (s.subcategory) }
            dt { (ui.t("Name", "Название")) } dd #service-name { (s.name) }
            dt { (ui.t("Shown", "Виден")) } dd #service-active { @if s.active { (ui.t("yes", "да")) } @else { (ui.t("no", "нет")) } }
            @if s.is_smm() {
                dt { (ui.t("Price per 1000", "Цена за 1000")) } dd #service-price { (money(s.rate)) }
            }
            @if let Some(p) = &s.provider_id {
                dt { (ui.t("Provider", "Провайдер")) } dd { a href=(format!("/console/providers/{p}")) { (p) } }
                dt { (ui.t("Their price", "Их цена")) } dd #service-their-price { @if let Some(r) = s.provider_rate { (money(r)) } }
                @if let Some(m) = s.markup {
                    dt { (ui.t("Markup, %", "Наценка, %")) } dd #service-markup { (money(m.basis_points * 10_000)) }
                }
            }
        }
        @if can_change {
            section.action {
                h2 { (ui.t("Edit", "Изменить")) }
                form.stack #service-form method="post" action=(here) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="name" { (ui.t("Name (English)", "Название (английское)")) }
                    input #name type="text" name="name" value=(f.name) required maxlength="200";
                    label for="description" { (ui.t("Description (English)", "Описание (английское)")) }
                    textarea #description name="description" rows="4" maxlength="5000" { (f.description) }
                    @if s.imported() {
                        label for="markup" { (ui.t("Markup over the provider's price, %", "Наценка к цене провайдера, %")) }
                        input #markup type="text" name="markup" value=(f.markup.as_deref().unwrap_or("")) inputmode="decimal" maxlength="24";
                        label for="round" { (ui.t("Round up to (blank: no rounding)", "Округлять вверх до (пусто — без округления)")) }
                        input #round type="text" name="round" value=(f.round.as_deref().unwrap_or("")) inputmode="decimal" maxlength="24";
                    } @else if s.is_smm() {
                        label for="price" { (ui.t("Price per 1000, e.g. 1.50", "Цена за 1000, например 1.50")) }
                        input #price type="text" name="price" value=(f.price.as_deref().unwrap_or("")) required inputmode="decimal" maxlength="24";
                    }
                    label.check { input #active type="checkbox" name="active" checked[f.active.is_some()]; " " (ui.t("Shown to buyers", "Показывать покупателям")) }
                    button #service-submit type="submit" { (ui.t("Save", "Сохранить")) }
                }
            }
        }
        @if !s.is_smm() {
            h2 { (ui.t("Variants", "Варианты")) }
            div.scroll { table #variants {
                thead { tr {
                    th { (ui.t("Variant", "Вариант")) } th.num { (ui.t("Price", "Цена")) } th.num { (ui.t("In stock", "В наличии")) } th { (ui.t("On", "Вкл.")) }
                    @if can_change { th { (ui.t("Change name or price", "Изменить название или цену")) } }
                } }
                tbody {
                    @for v in &s.variants { tr {
                        td.name { (v.name) @if s.imported() && v.price_pinned { " " span.muted { (ui.t("(priced by you)", "(цена ваша)")) } } }
                        td.num.variant-price { (money(v.price)) }
                        td.num { (v.stock) }
                        td { @if v.active { "✓" } }
                        @if can_change { td {
                            @let typed_variant = typed.variant.filter(|(id, _)| *id == v.id).map(|(_, f)| f);
                            form.inline method="post" action=(format!("{here}/variants/{}", v.id)) {
                                input type="hidden" name="csrf" value=(c.csrf());
                                input type="text" name="name" aria-label=(ui.t("Variant name", "Название варианта")) value=(typed_variant.and_then(|f| f.name.as_deref()).unwrap_or(&v.name)) required maxlength="200" size="16";
                                input type="text" name="price" aria-label=(ui.t("New price", "Новая цена")) value=(typed_variant.and_then(|f| f.price.clone()).unwrap_or_else(|| money(v.price))) required inputmode="decimal" maxlength="24" size="10";
                                button.small type="submit" { (ui.t("Set", "Задать")) }
                            }
                        } }
                    } }
                    @if s.variants.is_empty() { tr { td colspan="5" .muted { (ui.t("None.", "Нет.")) } } }
                }
            } }
        }
        h2 { (ui.t("Translations", "Переводы")) }
        div.scroll { table #translations {
            thead { tr { th { (ui.t("Language", "Язык")) } th { (ui.t("Name", "Название")) } th { (ui.t("Description", "Описание")) } } }
            tbody {
                @for l in languages() {
                    @let (name, description) = ops::translation_of(&s, l);
                    tr id=(format!("translation-{}", l.code())) {
                        td { @if can_change { a href=(format!("{here}?lang={}#translation-form", l.code())) { (l.code()) } } @else { (l.code()) } }
                        td.name { (name.unwrap_or("")) }
                        td { (description.unwrap_or("")) }
                    }
                }
            }
        } }
        @if can_change {
            section.action {
                h3 { (ui.t("Name and description in another language", "Название и описание на другом языке")) }
                p.muted { (ui.t("Blank removes the translation: buyers then read the English.", "Пусто — перевод удаляется, покупатели видят английский текст.")) }
                form.stack #translation-form method="post" action=(format!("{here}/translations")) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="lang" { (ui.t("Language", "Язык")) }
                    select #lang name="lang" {
                        @for l in languages() { option value=(l.code()) selected[l == lang] { (l.code()) } }
                    }
                    label for="t-name" { (ui.t("Name", "Название")) }
                    input #t-name type="text" name="name" value=(t_name) maxlength="200";
                    label for="t-description" { (ui.t("Description", "Описание")) }
                    textarea #t-description name="description" rows="4" maxlength="5000" { (t_description) }
                    button #translation-submit type="submit" { (ui.t("Save the translation", "Сохранить перевод")) }
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
    PagePath(number): PagePath<String>,
    Query(q): Query<LangQuery>,
) -> Result<Response, ConsoleError> {
    let number = number_of(&number)?;
    service_page(
        &state,
        &c,
        number,
        q.lang.as_deref(),
        Typed::default(),
        Notice::None,
        StatusCode::OK,
    )
    .await
}

/// After a change: applied to this node's cache (other nodes follow the version bump),
/// then back to the page; a refusal is shown on the page with what was typed.
async fn done(
    state: &AppState,
    c: &Console,
    number: i64,
    outcome: Result<(OperatorService, Vec<Change>), OperatorError>,
    typed: Typed<'_>,
    lang: Option<&str>,
) -> Result<Response, ConsoleError> {
    match outcome {
        Ok((_, changes)) => {
            state.apply_changes(&changes).await?;
            let mut to = path_of(number);
            if let Some(l) = lang.and_then(Lang::parse) {
                to = format!("{to}?lang={}", l.code());
            }
            Ok(see_other(&to))
        }
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            service_page(
                state,
                c,
                number,
                lang,
                typed,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn edit(
    State(state): State<AppState>,
    c: Console,
    PagePath(number): PagePath<String>,
    PageForm(form): PageForm<EditForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let number = number_of(&number)?;
    let change = ServiceChange {
        name: Some(form.name.clone()),
        description: Some(form.description.clone()),
        active: Some(form.active.is_some()),
        price: form.price.clone(),
        markup: form
            .markup
            .as_ref()
            .map(|m| (m.clone(), form.round.clone().unwrap_or_default())),
    };
    let outcome = ops::edit_service(&state.store, &op, number, &change, state.now()).await;
    let typed = Typed {
        edit: Some(&form),
        ..Typed::default()
    };
    done(&state, &c, number, outcome, typed, None).await
}

pub async fn translate(
    State(state): State<AppState>,
    c: Console,
    PagePath(number): PagePath<String>,
    PageForm(form): PageForm<TranslationForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let number = number_of(&number)?;
    let outcome = ops::translate_service(
        &state.store,
        &op,
        number,
        &form.lang,
        &form.name,
        &form.description,
        state.now(),
    )
    .await;
    let typed = Typed {
        translation: Some(&form),
        ..Typed::default()
    };
    done(&state, &c, number, outcome, typed, Some(&form.lang)).await
}

pub async fn edit_variant(
    State(state): State<AppState>,
    c: Console,
    PagePath((number, variant)): PagePath<(String, String)>,
    PageForm(form): PageForm<VariantForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let number = number_of(&number)?;
    let outcome = ops::edit_variant(
        &state.store,
        &op,
        number,
        &variant,
        form.name.as_deref(),
        form.price.as_deref(),
        state.now(),
    )
    .await;
    let typed = Typed {
        variant: Some((variant.as_str(), &form)),
        ..Typed::default()
    };
    done(&state, &c, number, outcome, typed, None).await
}
