//! Providers: the list with their balance and health, a form to add one (admins and
//! owners), and a provider's page: ask its balance, sync its services now, preview an
//! import at a markup (what each service would cost us and sell for) and import, and its
//! log. A provider's key is sealed by the store and never drawn on any page: the add
//! form's key field is never filled back in.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operator_providers as ops;
use souk_app::operators::{OperatorError, Permission};

use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct AddForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    key: String,
}

async fn list_page(
    state: &AppState,
    c: &Console,
    form: &AddForm,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let rows = state.store.providers().await?;
    let content = html! {
        div.scroll { table #providers {
            thead { tr { th { (ui.t("Name", "Название")) } th { (ui.t("Protocol", "Протокол")) } th { (ui.t("Address", "Адрес")) } th { (ui.t("On", "Вкл.")) } th.num { (ui.t("Balance", "Баланс")) } th { (ui.t("Checked", "Проверен")) } th { (ui.t("Health", "Состояние")) } } }
            tbody { @for p in &rows { tr {
                td { a href=(format!("/console/providers/{}", p.id)) { (p.name) } } td { (p.protocol) } td { code { (p.url) } } td { @if p.enabled { "✓" } }
                td.num { (p.balance.map(|b| b.display2()).unwrap_or_else(|| "—".into())) }
                td { @if let Some(t) = p.balance_checked_at { (when(t)) } }
                td { @if let Some(t) = p.failing_since { span.bad { (ui.t("failing since ", "ошибки с ")) (when(t)) } } @else { (ui.t("ok", "в порядке")) } }
            } }
            @if rows.is_empty() { tr { td colspan="7" .muted { (ui.t("None.", "Нет.")) } } } }
        } }
        @if op.role.can(Permission::Change) {
            section.action #provider-add {
                h2 { (ui.t("Add a provider", "Добавить провайдера")) }
                p.hint { (ui.t("A panel speaking API v2. Its key is kept sealed and is never shown again.",
                               "Панель с протоколом API v2. Ключ хранится зашифрованным и больше не показывается.")) }
                form.stack #provider-form method="post" action="/console/providers" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="provider-name" { (ui.t("Name", "Название")) }
                    input #provider-name type="text" name="name" value=(form.name) required maxlength="100";
                    label for="provider-url" { (ui.t("API address", "Адрес API")) }
                    input #provider-url type="url" name="url" value=(form.url) required maxlength="500" placeholder="https://panel.example/api/v2";
                    label for="provider-key" { (ui.t("API key", "API-ключ")) }
                    input #provider-key type="password" name="key" required maxlength="500" autocomplete="off";
                    button #provider-submit type="submit" { (ui.t("Add", "Добавить")) }
                }
            }
        }
    };
    Ok(page(
        c,
        status,
        ui.t("Providers", "Провайдеры"),
        notice,
        content,
    ))
}

pub async fn list(State(state): State<AppState>, c: Console) -> Result<Response, ConsoleError> {
    list_page(
        &state,
        &c,
        &AddForm::default(),
        Notice::None,
        StatusCode::OK,
    )
    .await
}

pub async fn add(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<AddForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    match ops::add(
        &state.store,
        &op,
        &form.name,
        &form.url,
        &form.key,
        state.now(),
    )
    .await
    {
        Ok(p) => Ok(see_other(&format!("/console/providers/{}", p.id))),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            list_page(
                &state,
                &c,
                &form,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// The import form's markup, and whether to preview it.
#[derive(Deserialize, Default)]
pub struct ImportQuery {
    #[serde(default)]
    markup: String,
    #[serde(default)]
    round: String,
    preview: Option<String>,
}

async fn detail_page(
    state: &AppState,
    c: &Console,
    id: &str,
    q: &ImportQuery,
    mut notice: Notice,
    mut status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let p = state.store.provider(id).await?;
    let log = souk_app::providers::log(&state.store, id, 100).await?;
    let can = op.role.can(Permission::Change);
    let variants = state.store.imported_variants(id).await?;
    // The preview reads the provider's list now (admins and owners: it calls out).
    let mut preview = None;
    if can && q.preview.is_some() {
        let listed = match ops::markup_of(&q.markup, &q.round) {
            Ok(markup) => {
                ops::preview_import(
                    &state.store,
                    &op,
                    id,
                    markup,
                    state.config.allow_private_upstreams,
                    state.now(),
                )
                .await
            }
            Err(e) => Err(e),
        };
        match listed {
            Ok(rows) => preview = Some(rows),
            Err(e) => {
                notice = Notice::Error(refused_or_fault(ui, e)?);
                status = StatusCode::UNPROCESSABLE_ENTITY;
            }
        }
    }
    let content = html! {
        dl.grid #provider-facts {
            dt { (ui.t("Protocol", "Протокол")) } dd { (p.protocol) }
            dt { (ui.t("Address", "Адрес")) } dd { code { (p.url) } }
            dt { (ui.t("On", "Вкл.")) } dd { @if p.enabled { (ui.t("yes", "да")) } @else { (ui.t("no", "нет")) } }
            dt { (ui.t("Balance", "Баланс")) } dd #provider-balance { (p.balance.map(|b| b.display2()).unwrap_or_else(|| "—".into())) }
            dt { (ui.t("Checked", "Проверен")) } dd { @if let Some(t) = p.balance_checked_at { (when(t)) } }
            dt { (ui.t("Currency", "Валюта")) } dd { @if let Some((code, rate)) = &p.currency { (code) " × " (rate.display2()) } @else { "—" } }
            dt { (ui.t("Health", "Состояние")) } dd { @if let Some(t) = p.failing_since { span.bad { (ui.t("failing since ", "ошибки с ")) (when(t)) } } @else { (ui.t("ok", "в порядке")) } }
        }
        @if can {
            section.action #provider-actions {
                h2 { (ui.t("Actions", "Действия")) }
                div.row {
                    form.inline method="post" action=(format!("/console/providers/{id}/check")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        button #check-submit type="submit" { (ui.t("Check the balance", "Проверить баланс")) }
                    }
                    form.inline method="post" action=(format!("/console/providers/{id}/sync")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        button #sync-submit type="submit" { (ui.t("Sync now", "Синхронизировать")) }
                    }
                }
                h2 { (ui.t("Import", "Импорт")) }
                p.hint { (ui.t("Every service the provider lists becomes ours at its price plus the markup, rounded up to the step. Preview first.",
                               "Каждая услуга провайдера станет нашей по его цене плюс наценка, округлённой вверх до шага. Сначала посмотрите.")) }
                form.row #preview-form method="get" action=(format!("/console/providers/{id}")) {
                    input type="hidden" name="preview" value="1";
                    input #markup type="text" name="markup" value=(q.markup) inputmode="decimal" maxlength="12" placeholder=(ui.t("Markup %, e.g. 20", "Наценка %, например 20"));
                    input #round type="text" name="round" value=(q.round) inputmode="decimal" maxlength="12" placeholder=(ui.t("Round up to, e.g. 0.01", "Округлять до, например 0.01"));
                    button #preview-submit type="submit" { (ui.t("Preview", "Посмотреть")) }
                }
                @if let Some(rows) = &preview {
                    div.scroll { table #import-preview {
                        thead { tr { th { (ui.t("Their id", "Их номер")) } th { (ui.t("Category", "Категория")) } th { (ui.t("Name", "Название")) } th.num { (ui.t("Their price", "Их цена")) } th.num { (ui.t("Our price", "Наша цена")) } } }
                        tbody {
                            @for (s, ours) in rows { tr {
                                td { (s.external_service) } td { (s.category) } td { (s.name) }
                                td.num { (s.rate.display2()) @if let Some(conv) = &s.converted { " (" (conv) ")" } }
                                td.num.ours { (ours.display2()) }
                            } }
                            @if rows.is_empty() { tr { td colspan="5" .muted { (ui.t("The provider lists nothing.", "Провайдер ничего не предлагает.")) } } }
                        }
                    } }
                    form.inline #import-form method="post" action=(format!("/console/providers/{id}/import")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        input type="hidden" name="markup" value=(q.markup);
                        input type="hidden" name="round" value=(q.round);
                        button #import-submit type="submit" { (ui.t("Import at this markup", "Импортировать с этой наценкой")) }
                    }
                }
            }
        }
        h2 { (ui.t("Imported variants", "Импортированные варианты")) }
        p.hint { (ui.t("A variant the provider publishes no price for is held back until it is priced here; a price set here is kept by every sync.",
                       "Вариант без цены у провайдера не продаётся, пока цена не задана здесь; заданную здесь цену синхронизация не меняет.")) }
        div.scroll { table #provider-variants {
            thead { tr { th { (ui.t("Service", "Услуга")) } th { (ui.t("Variant", "Вариант")) } th { (ui.t("Their id", "Их номер")) } th.num { (ui.t("Price", "Цена")) } th { (ui.t("Set by", "Кем задана")) } th { (ui.t("On sale", "В продаже")) } th.num { (ui.t("Stock", "Остаток")) } @if can { th {} } } }
            tbody {
                @for v in &variants { tr {
                    td { (v.service) } td { (v.name) } td { code { (v.upstream_id) } } td.num.price { (super::money(v.price)) }
                    td { @if v.price_pinned { (ui.t("operator", "оператор")) } @else { (ui.t("provider", "провайдер")) } }
                    td.on-sale { @if v.active { "✓" } } td.num { (v.stock) }
                    @if can { td { form.inline method="post" action=(format!("/console/providers/{id}/variants/{}", v.id)) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        input.price type="text" name="price" required inputmode="decimal" maxlength="24" placeholder=(super::money(v.price)) aria-label=(ui.t("New price", "Новая цена"));
                        button.small type="submit" { (ui.t("Price", "Задать")) }
                    } } }
                } }
                @if variants.is_empty() { tr { td colspan="8" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
        h2 { (ui.t("What it does oddly", "Странности в ответах")) }
        div.scroll { table #provider-oddities {
            thead { tr { th { (ui.t("Kind", "Вид")) } th { (ui.t("Meaning", "Значение")) } th.num { (ui.t("Answers", "Ответов")) } th { (ui.t("Last seen", "Последний раз")) } } }
            tbody {
                @for (o, what) in &log.oddities { tr { td { (o.kind) } td { (what) } td.num { (o.count) } td { (when(o.last_seen)) } } }
                @if log.oddities.is_empty() { tr { td colspan="4" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
        h2 { (ui.t("Log", "Журнал")) }
        div.scroll { table #provider-log {
            thead { tr { th { (ui.t("Service", "Услуга")) } th { (ui.t("Change", "Изменение")) } th { (ui.t("When", "Когда")) } } }
            tbody {
                @for (service, change, at) in &log.entries { tr { td { @if let Some(n) = service { (n) } } td { (change) } td { (when(*at)) } } }
                @if log.entries.is_empty() { tr { td colspan="3" .muted { (ui.t("Nothing yet.", "Пока пусто.")) } } }
            }
        } }
        h2 { (ui.t("Operator actions", "Действия операторов")) }
        (super::audit::table(ui, &state.store.audit_log(Some(&format!("provider:{id}")), None, 50).await?))
    };
    Ok(page(c, status, &p.name, notice, content))
}

pub async fn detail(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    Query(q): Query<ImportQuery>,
) -> Result<Response, ConsoleError> {
    detail_page(&state, &c, &id, &q, Notice::None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    #[serde(default)]
    markup: String,
    #[serde(default)]
    round: String,
}

/// The provider's page with what an action did, or its refusal.
async fn answer(
    state: &AppState,
    c: &Console,
    id: &str,
    done: Result<String, OperatorError>,
) -> Result<Response, ConsoleError> {
    let (notice, status) = match done {
        Ok(text) => (Notice::Ok(text), StatusCode::OK),
        Err(e) => (
            Notice::Error(refused_or_fault(c.ui(), e)?),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    detail_page(state, c, id, &ImportQuery::default(), notice, status).await
}

pub async fn check(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    let done = ops::check_balance(
        &state.store,
        &op,
        &id,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await
    .map(|(balance, currency)| {
        format!(
            "{} {} {currency}",
            ui.t("Balance at the provider:", "Баланс у провайдера:"),
            balance.display2()
        )
    });
    answer(&state, &c, &id, done).await
}

pub async fn sync(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    let done = match ops::sync_now(
        &state.store,
        &op,
        &id,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await
    {
        Ok(((seen, updated, disabled), changes)) => {
            state.apply_changes(&changes).await?;
            Ok(format!(
                "{} {seen}, {} {updated}, {} {disabled}.",
                ui.t("Synced: seen", "Синхронизировано: просмотрено"),
                ui.t("updated", "обновлено"),
                ui.t("disabled", "отключено"),
            ))
        }
        Err(e) => Err(e),
    };
    answer(&state, &c, &id, done).await
}

pub async fn import(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    let imported = match ops::markup_of(&form.markup, &form.round) {
        Ok(markup) => {
            ops::import(
                &state.store,
                &op,
                &id,
                markup,
                state.config.allow_private_upstreams,
                state.now(),
            )
            .await
        }
        Err(e) => Err(e),
    };
    let done = match imported {
        Ok((numbers, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(format!(
                "{} {}",
                ui.t("Services imported:", "Импортировано услуг:"),
                numbers.len()
            ))
        }
        Err(e) => Err(e),
    };
    answer(&state, &c, &id, done).await
}

#[derive(Deserialize)]
pub struct VariantForm {
    csrf: Option<String>,
    #[serde(default)]
    price: String,
}

pub async fn price_variant(
    State(state): State<AppState>,
    c: Console,
    PagePath((id, variant)): PagePath<(String, String)>,
    PageForm(form): PageForm<VariantForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let priced =
        ops::price_variant(&state.store, &op, &id, &variant, &form.price, state.now()).await;
    match priced {
        Ok((_, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(see_other(&format!("/console/providers/{id}")))
        }
        Err(e) => answer(&state, &c, &id, Err(e)).await,
    }
}
