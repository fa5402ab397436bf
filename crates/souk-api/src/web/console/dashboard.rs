//! The dashboard: live counters, then revenue, cost and profit per day and per week
//! (by kind, by provider, by shop), orders per day by status, payments in and the top
//! products, from the orders and the ledger of the period. Each chart has its table.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::operators::Permission;
use souk_store::{GroupTotals, DAY_MS};

use super::chart::{bars, Series};
use super::{day_label, money, page, Console, ConsoleError};
use crate::state::AppState;
use crate::web::layout::Notice;

/// A provider whose balance is below this (10.00) counts as low.
pub const LOW_BALANCE: i64 = 10_000_000;
const STATUSES: [&str; 6] = [
    "pending",
    "processing",
    "error",
    "completed",
    "partial",
    "canceled",
];

#[derive(Deserialize)]
pub struct Period {
    days: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Sums {
    orders: i64,
    revenue: i64,
    cost: i64,
    product: i64,
    smm: i64,
    sms: i64,
    payments: i64,
}

impl Sums {
    fn add(&mut self, o: &Sums) {
        self.orders += o.orders;
        self.revenue += o.revenue;
        self.cost += o.cost;
        self.product += o.product;
        self.smm += o.smm;
        self.sms += o.sms;
        self.payments += o.payments;
    }
}

fn sums_table(
    id: &str,
    first: &str,
    rows: &[(String, Sums)],
    total: &Sums,
    ui: crate::web::i18n::Ui,
) -> Markup {
    html! {
        div.scroll {
            table id=(id) {
                thead { tr {
                    th { (first) }
                    th.num { (ui.t("Orders", "Заказы")) }
                    th.num { (ui.t("Products", "Товары")) }
                    th.num { "SMM" }
                    th.num { "SMS" }
                    th.num { (ui.t("Revenue", "Выручка")) }
                    th.num { (ui.t("Cost", "Затраты")) }
                    th.num { (ui.t("Profit", "Прибыль")) }
                    th.num { (ui.t("Payments in", "Пополнения")) }
                } }
                tbody {
                    @for (label, s) in rows {
                        tr { td { (label) } td.num { (s.orders) } td.num { (money(s.product)) } td.num { (money(s.smm)) } td.num { (money(s.sms)) }
                             td.num { (money(s.revenue)) } td.num { (money(s.cost)) } td.num { (money(s.revenue - s.cost)) } td.num { (money(s.payments)) } }
                    }
                }
                tfoot { tr.total {
                    th { (ui.t("Total", "Итого")) }
                    th.num.total-orders { (total.orders) } th.num { (money(total.product)) } th.num { (money(total.smm)) } th.num { (money(total.sms)) }
                    th.num.total-revenue { (money(total.revenue)) } th.num.total-cost { (money(total.cost)) }
                    th.num.total-profit { (money(total.revenue - total.cost)) } th.num.total-payments { (money(total.payments)) }
                } }
            }
        }
    }
}

fn group_table(id: &str, first: &str, rows: &[GroupTotals], ui: crate::web::i18n::Ui) -> Markup {
    html! {
        div.scroll {
            table id=(id) {
                thead { tr { th { (first) } th.num { (ui.t("Orders", "Заказы")) } th.num { (ui.t("Revenue", "Выручка")) } th.num { (ui.t("Cost", "Затраты")) } th.num { (ui.t("Profit", "Прибыль")) } } }
                tbody {
                    @for g in rows {
                        tr {
                            td { @if g.name.is_empty() { @if g.key.is_empty() { span.muted { "—" } } @else { (g.key) } } @else { (g.name) } }
                            td.num { (g.orders) } td.num { (money(g.revenue)) } td.num { (money(g.cost)) } td.num { (money(g.revenue - g.cost)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn page_handler(
    state: &AppState,
    c: &Console,
    days: i64,
) -> Result<Response, ConsoleError> {
    let ui = c.ui();
    let now = state.now();
    let today = now.div_euclid(DAY_MS);
    let first_day = today - days + 1;
    let d = state
        .store
        .dashboard(first_day, today + 1, LOW_BALANCE, now)
        .await?;

    let mut per_day: BTreeMap<i64, Sums> =
        (first_day..=today).map(|d| (d, Sums::default())).collect();
    for row in &d.by_day_kind {
        let s = per_day.entry(row.day).or_default();
        s.orders += row.orders;
        s.revenue += row.revenue;
        s.cost += row.cost;
        match row.kind.as_str() {
            "product" => s.product += row.revenue,
            "smm" => s.smm += row.revenue,
            _ => s.sms += row.revenue,
        }
    }
    for p in &d.payments {
        per_day.entry(p.day).or_default().payments += p.amount;
    }
    let mut total = Sums::default();
    let mut weeks: BTreeMap<i64, Sums> = BTreeMap::new();
    for (day, s) in &per_day {
        total.add(s);
        // Weeks start on Monday; day 0 (1970-01-01) was a Thursday.
        weeks
            .entry(day - (day + 3).rem_euclid(7))
            .or_default()
            .add(s);
    }
    let day_rows: Vec<(String, Sums)> = per_day.iter().map(|(d, s)| (day_label(*d), *s)).collect();
    let week_rows: Vec<(String, Sums)> = weeks.iter().map(|(d, s)| (day_label(*d), *s)).collect();
    let labels: Vec<String> = day_rows.iter().map(|(l, _)| l.clone()).collect();

    let mut by_status: BTreeMap<(i64, &str), i64> = BTreeMap::new();
    for r in &d.by_day_status {
        if let Some(st) = STATUSES.iter().find(|s| **s == r.status) {
            *by_status.entry((r.day, st)).or_default() += r.orders;
        }
    }
    let status_colors = [
        "#9aa5b1", "#1f6feb", "#b42318", "#1a7f37", "#bf8700", "#57606a",
    ];
    let status_series: Vec<Series<'_>> = STATUSES
        .iter()
        .zip(status_colors)
        .map(|(st, color)| Series {
            name: st,
            color,
            values: (first_day..=today)
                .map(|d| by_status.get(&(d, *st)).copied().unwrap_or(0))
                .collect(),
        })
        .collect();
    let money_series = vec![
        Series {
            name: ui.t("Revenue", "Выручка"),
            color: "#1f6feb",
            values: day_rows.iter().map(|(_, s)| s.revenue).collect(),
        },
        Series {
            name: ui.t("Cost", "Затраты"),
            color: "#b42318",
            values: day_rows.iter().map(|(_, s)| s.cost).collect(),
        },
        Series {
            name: ui.t("Profit", "Прибыль"),
            color: "#1a7f37",
            values: day_rows.iter().map(|(_, s)| s.revenue - s.cost).collect(),
        },
    ];
    let week_labels: Vec<String> = week_rows.iter().map(|(l, _)| l.clone()).collect();
    let week_series = vec![
        Series {
            name: ui.t("Revenue", "Выручка"),
            color: "#1f6feb",
            values: week_rows.iter().map(|(_, s)| s.revenue).collect(),
        },
        Series {
            name: ui.t("Profit", "Прибыль"),
            color: "#1a7f37",
            values: week_rows.iter().map(|(_, s)| s.revenue - s.cost).collect(),
        },
    ];
    let pay_series = vec![Series {
        name: ui.t("Payments in", "Пополнения"),
        color: "#8250df",
        values: day_rows.iter().map(|(_, s)| s.payments).collect(),
    }];
    let k = &d.counters;
    let counter = |id: &str, label: &str, n: i64, href: &str| {
        html! {
            a.counter href=(href) .alert[n > 0] { span.big id=(id) { (n) } span.muted { (label) } }
        }
    };
    let content = html! {
        form.row #period method="get" action="/console" {
            label for="days" { (ui.t("Days", "Дней")) }
            select #days name="days" {
                @for n in [7i64, 14, 30, 90, 365] { option value=(n) selected[n == days] { (n) } }
            }
            button type="submit" { (ui.t("Show", "Показать")) }
            a href=(format!("/console/export/orders?from={}&to={}", day_label(first_day), day_label(today))) { (ui.t("Orders CSV", "Заказы CSV")) }
            a href=(format!("/console/export/ledger?from={}&to={}", day_label(first_day), day_label(today))) { (ui.t("Ledger CSV", "Проводки CSV")) }
        }
        section.counters #counters {
            (counter("count-stuck", ui.t("stuck orders", "зависших заказов"), k.stuck_orders, "/console/jobs"))
            (counter("count-parked", ui.t("parked jobs", "отложенных задач"), k.parked_jobs, "/console/jobs"))
            (counter("count-disputes", ui.t("open disputes", "открытых споров"), k.open_disputes, "/console/disputes"))
            (counter("count-withdrawals", ui.t("pending withdrawals", "заявок на вывод"), k.pending_withdrawals, "/console/withdrawals?status=requested"))
            (counter("count-manual", ui.t("manual payments to check", "ручных платежей"), k.pending_manual_payments, "/console/payments?status=held"))
            (counter("count-failing", ui.t("providers failing", "провайдеров с ошибками"), k.failing_providers, "/console/providers"))
            (counter("count-low", ui.t("providers low on balance", "провайдеров с низким балансом"), k.low_balance_providers, "/console/providers"))
        }
        h2 { (ui.t("Revenue, cost and profit per day", "Выручка, затраты и прибыль по дням")) }
        (bars("chart-money", ui.t("Revenue, cost and profit per day", "Выручка, затраты и прибыль по дням"), &labels, &money_series))
        (sums_table("per-day", ui.t("Day", "День"), &day_rows, &total, ui))
        h2 { (ui.t("Per week", "По неделям")) }
        (bars("chart-weeks", ui.t("Revenue and profit per week", "Выручка и прибыль по неделям"), &week_labels, &week_series))
        (sums_table("per-week", ui.t("Week of", "Неделя с"), &week_rows, &total, ui))
        h2 { (ui.t("Orders per day by status", "Заказы по дням и статусам")) }
        (bars("chart-status", ui.t("Orders per day by status", "Заказы по дням и статусам"), &labels, &status_series))
        div.scroll {
            table #per-status {
                thead { tr { th { (ui.t("Day", "День")) } @for st in STATUSES { th.num { (st) } } } }
                tbody { @for (i, label) in labels.iter().enumerate() {
                    tr { td { (label) } @for s in &status_series { td.num { (s.values[i]) } } }
                } }
            }
        }
        h2 { (ui.t("Payments in per day", "Пополнения по дням")) }
        (bars("chart-payments", ui.t("Payments in per day", "Пополнения по дням"), &labels, &pay_series))
        h2 { (ui.t("By provider", "По провайдерам")) }
        (group_table("by-provider", ui.t("Provider", "Провайдер"), &d.by_provider, ui))
        h2 { (ui.t("By shop", "По магазинам")) }
        (group_table("by-shop", ui.t("Shop", "Магазин"), &d.by_shop, ui))
        h2 { (ui.t("Top products and services", "Лучшие товары и услуги")) }
        (group_table("top-products", ui.t("Service", "Услуга"), &d.top_products, ui))
        p.hint { (ui.t("Revenue is what buyers paid less refunds; cost is what providers charged; days are UTC.",
                       "Выручка — оплаченное покупателями за вычетом возвратов; затраты — списанное провайдерами; дни по UTC.")) }
    };
    Ok(page(
        c,
        StatusCode::OK,
        ui.t("Dashboard", "Сводка"),
        Notice::None,
        content,
    ))
}

pub async fn page_get(
    State(state): State<AppState>,
    c: Console,
    Query(p): Query<Period>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let days = p
        .days
        .as_deref()
        .and_then(|d| d.trim().parse::<i64>().ok())
        .filter(|d| (1..=366).contains(d))
        .unwrap_or(14);
    page_handler(&state, &c, days).await
}
