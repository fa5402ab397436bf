//! The Russian of every refusal the console can show that the use cases and the store
//! word in English (`OperatorError::Invalid`, `StoreError::Invalid`/`Conflict`, a
//! payment gateway's settings): exact sentences, then the ones that carry a value (a
//! phone, a code, a field), each matched by its fixed words. A sentence not listed
//! here falls through in English, after a Russian lead-in, so the page still says in
//! Russian that the change was refused; the test `every_console_refusal_has_russian`
//! keeps the list complete for the sentences the code holds.

/// `text` (an English refusal) as the Russian console says it.
pub fn ru(text: &str) -> String {
    let t = text.trim().trim_end_matches('.');
    if let Some(exact) = exact(t) {
        return exact.to_owned();
    }
    if let Some(with_value) = with_value(t) {
        return with_value;
    }
    format!("Отказано: {text}")
}

/// The sentences without a value.
pub(crate) const EXACT: &[(&str, &str)] = &[
    ("A reason is required", "Укажите причину."),
    ("Amount must not be zero", "Сумма не может быть нулевой."),
    (
        "The user is blocked already",
        "Пользователь уже заблокирован.",
    ),
    ("The user is not blocked", "Пользователь не заблокирован."),
    (
        "The label has characters that are not allowed",
        "В метке есть недопустимые символы.",
    ),
    ("No setting was changed", "Ни одна настройка не изменилась."),
    (
        "Position must be a whole number, 0 or more",
        "Позиция — целое число от 0.",
    ),
    (
        "The price must be above zero",
        "Цена должна быть больше нуля.",
    ),
    (
        "Price must not be negative",
        "Цена не может быть отрицательной.",
    ),
    ("No such SMS project", "Нет такого SMS-проекта."),
    ("No such country", "Нет такой страны."),
    ("No such gateway", "Нет такого шлюза."),
    ("No such number", "Нет такого номера."),
    ("Nothing was changed", "Ничего не изменилось."),
    ("A name is required", "Укажите название."),
    (
        "A gateway secret needs at least 16 characters",
        "Секрет шлюза — не меньше 16 символов, без пробелов.",
    ),
    (
        "Write the phone like +12025550101",
        "Пишите телефон так: +12025550101.",
    ),
    ("Email is not valid", "Неверный адрес почты."),
    (
        "Role must be owner, admin or support",
        "Роль: владелец, администратор или поддержка.",
    ),
    (
        "You cannot demote or disable yourself",
        "Нельзя понизить или отключить самого себя.",
    ),
    (
        "The last active owner must stay an active owner",
        "Последний активный владелец должен остаться активным владельцем.",
    ),
    (
        "The operator has this role already",
        "У оператора уже эта роль.",
    ),
    ("The operator is active already", "Оператор уже активен."),
    ("The operator is disabled already", "Оператор уже отключён."),
    ("Unknown change", "Неизвестное изменение."),
    (
        "Two-factor sign-in is already on",
        "Двухфакторный вход уже включён.",
    ),
    (
        "two-factor is already on",
        "Двухфакторный вход уже включён.",
    ),
    (
        "The balance cannot go below zero",
        "Баланс не может стать отрицательным.",
    ),
    (
        "The sms-activate country number must not be negative",
        "Номер страны в sms-activate не может быть отрицательным.",
    ),
    (
        "A refund must be above zero",
        "Возврат должен быть больше нуля.",
    ),
    (
        "Nothing arrived to credit; give the amount",
        "Зачислять нечего: укажите сумму.",
    ),
    (
        "The amount to credit must be positive, with at most two decimals",
        "Сумма зачисления — положительное число, не больше двух знаков после точки.",
    ),
    (
        "This transaction id was already submitted",
        "Этот номер транзакции уже отправлен.",
    ),
    (
        "The upstream order id is required",
        "Укажите номер заказа у провайдера.",
    ),
    (
        "Provider name and key are required",
        "Укажите название и ключ провайдера.",
    ),
    (
        "Provider name and key must not be empty",
        "Название и ключ провайдера не могут быть пустыми.",
    ),
    (
        "Protocol must be api_v2 or sms_activate",
        "Протокол: api_v2 или sms_activate.",
    ),
    (
        "Timeout must be at least 100 ms and the rate not negative",
        "Тайм-аут — не меньше 100 мс, курс не отрицательный.",
    ),
    (
        "Currency must be a three-letter code such as EUR",
        "Валюта — трёхбуквенный код, например EUR.",
    ),
    (
        "Currency rate must be above 0 and at most 1000000",
        "Курс валюты — больше 0 и не больше 1000000.",
    ),
    (
        "Markup must be between 0 and 1000 percent",
        "Наценка — от 0 до 1000 процентов.",
    ),
    (
        "The rounding step must not be negative",
        "Шаг округления не может быть отрицательным.",
    ),
    (
        "fee_percent must be a percentage from 0 to 100 with up to 2 decimals",
        "Комиссия — процент от 0 до 100, не больше двух знаков после точки.",
    ),
    (
        "max_amount must not be below min_amount",
        "Максимум не может быть меньше минимума.",
    ),
    (
        "A category has no parent category",
        "У категории нет родительской категории.",
    ),
    ("Unknown payment method", "Неизвестный способ оплаты."),
    (
        "This payment method is not available",
        "Этот способ оплаты недоступен.",
    ),
    (
        "An imported service's price follows its markup",
        "Цена импортированной услуги следует за наценкой.",
    ),
    (
        "A product's price is its variants'; price each of them",
        "Цена товара — цены его вариантов; задайте каждую.",
    ),
    (
        "Only an imported service has a markup",
        "Наценка есть только у импортированных услуг.",
    ),
    (
        "English is the service's own name and description",
        "Английские название и описание — основные; меняйте их выше.",
    ),
    ("name is required", "Укажите название."),
    ("The owner's email is required", "Укажите почту владельца."),
    ("The review is hidden already", "Отзыв уже скрыт."),
    ("The review is not hidden", "Отзыв не скрыт."),
];

fn exact(t: &str) -> Option<&'static str> {
    EXACT
        .iter()
        .find(|(en, _)| en.trim_end_matches('.') == t)
        .map(|(_, ru)| *ru)
}

/// The text between `start` and `end` of `t`, when `t` is made of them.
fn between<'a>(t: &'a str, start: &str, end: &str) -> Option<&'a str> {
    t.strip_prefix(start)?.strip_suffix(end)
}

fn field(name: &str) -> &str {
    match name {
        "min_amount" => "Минимум",
        "max_amount" => "Максимум",
        "Country name" => "Название страны",
        "Project name" => "Название проекта",
        "Gateway name" => "Название шлюза",
        "Provider name" => "Название провайдера",
        "Provider key" => "Ключ провайдера",
        other => other,
    }
}

fn with_value(t: &str) -> Option<String> {
    if t.starts_with("Price must be a number") {
        return Some("Цена должна быть числом, например 0.50.".into());
    }
    if t.starts_with("The price must be at most") {
        return Some("Цена слишком велика.".into());
    }
    if t.starts_with("Unknown language") {
        return Some("Неизвестный язык.".into());
    }
    if t.starts_with("Markup must be") {
        return Some("Наценка — число от 0 до 1000 (процентов).".into());
    }
    if t.starts_with("Amount must be") {
        return Some("Сумма должна быть числом, например 10 или -2.50.".into());
    }
    if let Some(v) = t.strip_prefix("Invalid phone number ") {
        return Some(format!(
            "Неверный номер телефона {v}: пишите так: +12025550101."
        ));
    }
    if let Some(v) = between(t, "Invalid project code ", " (1 to 16 of a-z, 0-9, _)") {
        return Some(format!(
            "Неверный код проекта {v}: от 1 до 16 символов a-z, 0-9, _."
        ));
    }
    if let Some(v) = between(t, "Invalid country code ", " (ISO 3166-1 alpha-2)") {
        return Some(format!("Неверный код страны {v} (ISO 3166-1, две буквы)."));
    }
    if let Some(v) = between(t, "A project with code ", " already exists") {
        return Some(format!("Проект с кодом {v} уже есть."));
    }
    if let Some(v) = between(t, "The number ", " is already in the pool") {
        return Some(format!("Номер {v} уже в пуле."));
    }
    if let Some(v) = t.strip_prefix("Unknown project ") {
        return Some(format!("Неизвестный проект {v}."));
    }
    if let Some(v) = between(t, "an operator with the email ", " exists") {
        return Some(format!("Оператор с почтой {v} уже есть."));
    }
    if let Some(v) = t.strip_suffix(" must not be empty") {
        return Some(format!("{}: не может быть пустым.", field(v)));
    }
    if let Some(v) = t.strip_suffix(" must be a positive amount with at most two decimals") {
        return Some(format!(
            "{}: положительная сумма, не больше двух знаков после точки.",
            field(v)
        ));
    }
    if let Some(v) = t.strip_prefix("Invalid markup: ") {
        return Some(format!("Неверная наценка: {v}."));
    }
    if let Some(v) = t.strip_prefix("Invalid rounding step: ") {
        return Some(format!("Неверный шаг округления: {v}."));
    }
    if let Some(v) = t.strip_prefix("Unsupported language ") {
        return Some(format!("Язык не поддерживается: {v}."));
    }
    if let Some(v) = t.strip_prefix("Provider URL ") {
        return Some(format!("Адрес провайдера: {v}."));
    }
    if let Some(v) = between(t, "The slug ", " is already in use") {
        return Some(format!("Адрес {v} уже занят."));
    }
    if let Some(v) = t.strip_prefix("At most ") {
        if let Some(n) = v.strip_suffix(" of this order is left to refund") {
            return Some(format!("Вернуть можно не больше {n} по этому заказу."));
        }
    }
    if let Some((order, rest)) = t.strip_prefix("Order ").and_then(|r| r.split_once(" is ")) {
        if let Some(s) = rest.strip_suffix(", not waiting for a resolution") {
            return Some(format!("Заказ {order} в статусе {s} и не ждёт решения."));
        }
    }
    if let Some((job, rest)) = t
        .strip_prefix("Job ")
        .and_then(|r| r.split_once(" belongs to order "))
    {
        if let Some(order) = rest.strip_suffix(": settle the order from its page") {
            return Some(format!(
                "Задача {job} относится к заказу {order}: решите заказ на его странице."
            ));
        }
    }
    if let Some((dispute, s)) = t
        .strip_prefix("Dispute ")
        .and_then(|r| r.split_once(" is already "))
    {
        return Some(format!("Спор {dispute} уже решён ({s})."));
    }
    if let Some(s) = t.strip_prefix(
        "Only a held payment or a pending manual transfer can be decided; this one is ",
    ) {
        return Some(format!(
            "Решать можно только задержанный платёж или ожидающий ручной перевод; этот — {s}."
        ));
    }
    if let Some(v) = t.strip_prefix("Unknown gateway ") {
        return Some(format!("Неизвестный шлюз {v}."));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_console_refusal_has_russian() {
        for (en, ru_text) in EXACT {
            assert_eq!(ru(en), *ru_text);
        }
        for (en, ru_text) in [
            (
                "Invalid phone number \"12\"",
                "Неверный номер телефона \"12\": пишите так: +12025550101.",
            ),
            (
                "A project with code tg already exists",
                "Проект с кодом tg уже есть.",
            ),
            (
                "Invalid project code \"T G\" (1 to 16 of a-z, 0-9, _)",
                "Неверный код проекта \"T G\": от 1 до 16 символов a-z, 0-9, _.",
            ),
            (
                "The number +12025550101 is already in the pool",
                "Номер +12025550101 уже в пуле.",
            ),
            ("Unknown project xx", "Неизвестный проект xx."),
            (
                "Gateway name must not be empty",
                "Название шлюза: не может быть пустым.",
            ),
            (
                "an operator with the email a@b.c exists",
                "Оператор с почтой a@b.c уже есть.",
            ),
        ] {
            assert_eq!(ru(en), ru_text);
        }
        assert_eq!(ru("Something new"), "Отказано: Something new");
    }
}
