//! The event stream's catalogue: every kind of event, whom it is for, and the rules that
//! pick an event from a change (an order's new status). Webhooks, Telegram and e-mail
//! deliver the same events; `README.md` lists each with its payload.

use crate::order::OrderStatus;

/// The audience of the operator's events (users are named by their id).
pub const OPERATOR: &str = "operator";

/// Whom a kind of event is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    Buyer,
    Supplier,
    Operator,
}

/// One kind of event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub audience: Audience,
    /// What it says, in English and Russian (the notification channels' subject line).
    pub en: &'static str,
    pub ru: &'static str,
}

const fn kind(name: &'static str, audience: Audience, en: &'static str, ru: &'static str) -> Kind {
    Kind {
        name,
        audience,
        en,
        ru,
    }
}

pub const ORDER_COMPLETED: &str = "order.completed";
pub const ORDER_PARTIAL: &str = "order.partial";
pub const ORDER_CANCELED: &str = "order.canceled";
pub const ORDER_IN_PROGRESS: &str = "order.in_progress";
pub const REFILL_COMPLETED: &str = "refill.completed";
pub const SMS_CODE_RECEIVED: &str = "sms.code_received";
pub const SMS_EXPIRED: &str = "sms.expired";
pub const PAYMENT_CREDITED: &str = "payment.credited";
pub const DISPUTE_UPDATED: &str = "dispute.updated";
pub const ORDER_CREATED: &str = "order.created";
pub const STOCK_LOW: &str = "stock.low";
pub const DISPUTE_OPENED: &str = "dispute.opened";
pub const REVIEW_CREATED: &str = "review.created";
pub const WITHDRAWAL_UPDATED: &str = "withdrawal.updated";
pub const PROVIDER_FAILING: &str = "provider.failing";
pub const ORDER_STUCK: &str = "order.stuck";
pub const JOB_PARKED: &str = "job.parked";
pub const PAYMENT_NEEDS_ATTENTION: &str = "payment.needs_attention";
pub const WITHDRAWAL_REQUESTED: &str = "withdrawal.requested";
pub const ENDPOINT_DISABLED: &str = "webhook.disabled";

/// Every kind, by audience. `dispute.opened` is both the supplier's and the operator's;
/// `webhook.disabled` is said to whoever owns the endpoint (on their other endpoints and
/// channels: a disabled endpoint gets nothing).
pub const KINDS: &[Kind] = &[
    kind(
        ORDER_COMPLETED,
        Audience::Buyer,
        "Order completed",
        "Заказ выполнен",
    ),
    kind(
        ORDER_PARTIAL,
        Audience::Buyer,
        "Order partially completed",
        "Заказ выполнен частично",
    ),
    kind(
        ORDER_CANCELED,
        Audience::Buyer,
        "Order canceled",
        "Заказ отменён",
    ),
    kind(
        ORDER_IN_PROGRESS,
        Audience::Buyer,
        "Order in progress",
        "Заказ выполняется",
    ),
    kind(
        REFILL_COMPLETED,
        Audience::Buyer,
        "Refill completed",
        "Докрутка выполнена",
    ),
    kind(
        SMS_CODE_RECEIVED,
        Audience::Buyer,
        "SMS code received",
        "Получен SMS-код",
    ),
    kind(
        SMS_EXPIRED,
        Audience::Buyer,
        "SMS activation expired",
        "SMS-активация истекла",
    ),
    kind(
        PAYMENT_CREDITED,
        Audience::Buyer,
        "Payment credited",
        "Платёж зачислен",
    ),
    kind(
        DISPUTE_UPDATED,
        Audience::Buyer,
        "Dispute updated",
        "Спор обновлён",
    ),
    kind(
        ORDER_CREATED,
        Audience::Supplier,
        "New order to fulfil",
        "Новый заказ к выполнению",
    ),
    kind(
        STOCK_LOW,
        Audience::Supplier,
        "Stock running low",
        "Товар заканчивается",
    ),
    kind(
        DISPUTE_OPENED,
        Audience::Supplier,
        "Dispute opened",
        "Открыт спор",
    ),
    kind(
        REVIEW_CREATED,
        Audience::Supplier,
        "New review",
        "Новый отзыв",
    ),
    kind(
        WITHDRAWAL_UPDATED,
        Audience::Supplier,
        "Withdrawal updated",
        "Вывод средств обновлён",
    ),
    kind(
        PROVIDER_FAILING,
        Audience::Operator,
        "Provider failing",
        "Провайдер не отвечает",
    ),
    kind(
        ORDER_STUCK,
        Audience::Operator,
        "Order stuck",
        "Заказ застрял",
    ),
    kind(
        JOB_PARKED,
        Audience::Operator,
        "Job parked",
        "Задача остановлена",
    ),
    kind(
        PAYMENT_NEEDS_ATTENTION,
        Audience::Operator,
        "Payment needs attention",
        "Платёж требует внимания",
    ),
    kind(
        WITHDRAWAL_REQUESTED,
        Audience::Operator,
        "Withdrawal requested",
        "Запрошен вывод средств",
    ),
    kind(
        DISPUTE_OPENED,
        Audience::Operator,
        "Dispute opened",
        "Открыт спор",
    ),
    kind(
        ENDPOINT_DISABLED,
        Audience::Buyer,
        "Webhook endpoint disabled",
        "Вебхук отключён",
    ),
    kind(
        ENDPOINT_DISABLED,
        Audience::Supplier,
        "Webhook endpoint disabled",
        "Вебхук отключён",
    ),
    kind(
        ENDPOINT_DISABLED,
        Audience::Operator,
        "Webhook endpoint disabled",
        "Вебхук отключён",
    ),
];

/// The kind named `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// An endpoint's filter as stored: `*`, or the kinds it names (known ones, each once),
/// comma-separated in catalogue order.
pub fn parse_filter(text: &str) -> Result<String, String> {
    let wanted: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .collect();
    if wanted.is_empty() || wanted == ["*"] {
        return Ok("*".to_owned());
    }
    if let Some(unknown) = wanted.iter().find(|k| find(k).is_none()) {
        return Err(format!(
            "Unknown event {unknown:?}: one of {}, or *",
            names().join(", ")
        ));
    }
    let mut kept: Vec<&str> = Vec::new();
    for k in KINDS {
        if wanted.contains(&k.name) && !kept.contains(&k.name) {
            kept.push(k.name);
        }
    }
    Ok(kept.join(","))
}

/// Every kind's name, each once.
pub fn names() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for k in KINDS {
        if !out.contains(&k.name) {
            out.push(k.name);
        }
    }
    out
}

/// The buyer's event for an order that is now `status` with `delivered` items, having
/// last been told `told` (status and delivered count): `None` when nothing new is to be
/// said. A pending or erroring order says nothing (an upstream error is retried and
/// shows as "In progress" already).
pub fn order_event(
    status: OrderStatus,
    delivered: i64,
    told: Option<(OrderStatus, i64)>,
) -> Option<&'static str> {
    if told == Some((status, delivered)) {
        return None;
    }
    match status {
        OrderStatus::Completed => Some(ORDER_COMPLETED),
        OrderStatus::Partial => Some(ORDER_PARTIAL),
        OrderStatus::Canceled => Some(ORDER_CANCELED),
        OrderStatus::Processing => match told {
            Some((OrderStatus::Processing, before)) if before == delivered => None,
            _ => Some(ORDER_IN_PROGRESS),
        },
        OrderStatus::Pending | OrderStatus::Error => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters() {
        assert_eq!(parse_filter(" * ").as_deref(), Ok("*"));
        assert_eq!(parse_filter("").as_deref(), Ok("*"));
        assert_eq!(
            parse_filter("order.canceled, order.completed,order.completed").as_deref(),
            Ok("order.completed,order.canceled")
        );
        assert!(parse_filter("order.done").is_err());
    }

    #[test]
    fn order_events_say_each_change_once() {
        use OrderStatus::*;
        assert_eq!(order_event(Completed, 1, None), Some(ORDER_COMPLETED));
        assert_eq!(order_event(Completed, 1, Some((Completed, 1))), None);
        assert_eq!(
            order_event(Processing, 1, Some((Processing, 0))),
            Some(ORDER_IN_PROGRESS)
        );
        assert_eq!(
            order_event(Processing, 0, Some((Pending, 0))),
            Some(ORDER_IN_PROGRESS)
        );
        assert_eq!(order_event(Processing, 1, Some((Processing, 1))), None);
        assert_eq!(order_event(Pending, 0, None), None);
        assert_eq!(order_event(Error, 0, Some((Processing, 0))), None);
        assert_eq!(
            order_event(Partial, 3, Some((Processing, 3))),
            Some(ORDER_PARTIAL)
        );
        assert_eq!(order_event(Canceled, 0, None), Some(ORDER_CANCELED));
    }
}
