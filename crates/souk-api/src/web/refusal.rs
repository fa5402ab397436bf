//! Refusals as a page says them, in the page's language. The APIs answer in English (the
//! seed's messages); the pages translate the typed errors here, matched exhaustively so a
//! new rule cannot reach a Russian page without its Russian text. The refusals the store
//! still words itself (`StoreError::Invalid`/`Conflict`: operator-only rules and faults of
//! state) show as they are.

use souk_core::supply::SupplyError;
use souk_core::ApiError;
use souk_store::StoreError;

use super::i18n::Ui;

/// The text of a refusal the visitor can act on; `Err` for a fault of ours.
pub fn store(ui: Ui, e: StoreError) -> Result<String, StoreError> {
    Ok(match e {
        StoreError::Supply(e) => supply(ui, &e),
        StoreError::Rejected(e) => api(ui, &e),
        StoreError::NotFound(what) => not_found(ui, what),
        StoreError::Invalid(t) | StoreError::Conflict(t) => t,
        other => return Err(other),
    })
}

fn not_found(ui: Ui, what: &str) -> String {
    if ui == Ui::En {
        return format!("{what} not found");
    }
    match what {
        "Order" => "Заказ не найден".into(),
        "Subproduct" => "Вариант товара не найден".into(),
        "Product" => "Товар не найден".into(),
        "Shop" => "Магазин не найден".into(),
        "Withdrawal" => "Вывод не найден".into(),
        "User" => "Пользователь не найден".into(),
        other => format!("Не найдено: {other}"),
    }
}

/// A closed order's status after "Заказ N уже ...".
fn closed_ru(status: &str) -> &str {
    match status {
        "completed" => "выполнен",
        "partial" => "выполнен частично",
        "canceled" => "отменён",
        other => other,
    }
}

pub fn supply(ui: Ui, e: &SupplyError) -> String {
    use SupplyError::*;
    if ui == Ui::En {
        return e.to_string();
    }
    match e {
        Required(f) => format!("Поле {f} обязательно"),
        Negative(f) => format!("{f} не может быть отрицательным"),
        NotPositive(f) => format!("{f} должно быть больше нуля"),
        InvalidAmount(f) => {
            format!("{f}: неверная сумма (не больше 6 знаков после точки, например \"1.50\")")
        }
        TooSmall(f, n) => format!("{f} должно быть целым числом не меньше {n}"),
        TooLarge(f, n) => format!("{f} должно быть не больше {n}"),
        MinAboveMax(min, max) => format!("min ({min}) не может быть больше max ({max})"),
        TooLong(f, n) => format!("{f} слишком длинное (не больше {n} символов)"),
        InvalidCharacters(f) => format!("Недопустимые символы в поле {f}"),
        InvalidImageUrl => "imageUrl должен быть адресом http:// или https://".into(),
        UnsupportedLanguage(l) => format!("Неподдерживаемый язык: {l}"),
        EnglishTranslation(f) => {
            format!("Переводы — для других языков; английский текст задаётся в самом поле {f}")
        }
        UnknownTranslationField(f) => {
            format!("Неизвестное поле перевода: {f} (используйте name или description)")
        }
        InvalidSlug => "slug: от 1 до 100 символов a-z, 0-9 и -".into(),
        InvalidProductType => "type должен быть inventory или manual".into(),
        InvalidEntityType => "entityType должен быть product или smm".into(),
        NoSubproducts => "У товара должен быть хотя бы один вариант".into(),
        SmmSubproducts => "У SMM-услуги нет вариантов".into(),
        UnknownSetting(s) => format!("Неизвестная настройка: {s}"),
        InvalidSetting(s, what) => format!("{s}: нужно {what}"),
        InvalidStatus(s, choices) => format!("Неверный статус: {s} (допустимы {choices})"),
        EmptyUpload => "В файле нет строк".into(),
        LineTooLong(line, max) => format!("Строка {line} длиннее {max} байт"),
        TooManyLines(max) => format!("Слишком много строк (не больше {max} за раз)"),
        NotUtf8 => "Файл должен быть текстом в UTF-8".into(),
        NoAccounts => "Укажите хотя бы один аккаунт".into(),
        EmptyAccount(n) => format!("Аккаунт {n} пустой"),
        AccountTooLong(n, max) => format!("Аккаунт {n} длиннее {max} байт"),
        TooManyAccounts(n) => format!("Слишком много аккаунтов: осталось выдать {n}"),
        RemainsOutOfRange(max) => format!("remains должно быть от 0 до {max}"),
        PartialWithoutRemains => {
            "У частично выполненного заказа (Partial) остаток должен быть больше 0".into()
        }
        UploadTooLarge(mib) => format!("Файл больше {mib} МиБ"),
        OrderClosed(order, status) => format!("Заказ {order} уже {}", closed_ru(status)),
        NotManualProductOrder => "Поставщик выдаёт только заказы ручных товаров".into(),
        NotManualSmmOrder => "Прогресс передаётся только для ручных SMM-заказов магазина".into(),
        WithProvider(order) => {
            format!("Заказ {order} передан провайдеру; исход определит его ответ")
        }
        NothingToWithdraw => "Пока нечего выводить".into(),
        LimitsOnSubproducts => "Цена и лимиты товара задаются в его вариантах".into(),
        SmmIsManual => "Собственная SMM-услуга магазина всегда ручная".into(),
        AutoTypeFixed => "Авто-товар выполняет его провайдер; тип изменить нельзя".into(),
        UnsoldLines(n) => {
            format!("Сначала удалите непроданные строки ({n}), затем делайте товар ручным")
        }
        StockIsLines => {
            "Наличие складского варианта — это его строки: загрузите или удалите строки".into()
        }
        LinesNeedInventory => "Строки можно добавлять только к складским товарам".into(),
        NoStockLines => "Строки склада есть только у складских товаров".into(),
    }
}

pub fn api(ui: Ui, e: &ApiError) -> String {
    use ApiError::*;
    if ui == Ui::En {
        return e.to_string();
    }
    match e {
        InvalidApiKey => "Неверный API ключ".into(),
        InvalidAction => "Неверное действие".into(),
        ServiceIdRequired => "Нужен ID услуги".into(),
        InsufficientBalance => "Недостаточно средств".into(),
        OrderNotFound => "Заказ не найден".into(),
        ServiceNotFound => "Услуга не найдена".into(),
        IncorrectOrderId => "Неверный ID заказа".into(),
        InvalidJson => "Неверное тело JSON".into(),
        JsonNotObject => "Тело JSON должно быть объектом".into(),
        UnsupportedContentType => "Неподдерживаемый тип содержимого".into(),
        InvalidForm => "Неверное тело формы".into(),
        BodyTooLarge => "Тело запроса слишком большое (не больше 1 МиБ)".into(),
        BodyUnreadable => "Тело запроса не удалось прочитать".into(),
        RateLimited => "Слишком много запросов, помедленнее".into(),
        TooManyParams => "Слишком много параметров (не больше 1000)".into(),
        InvalidCharacters(field) => format!("Недопустимые символы в поле {field}"),
        Internal => "Внутренняя ошибка".into(),
        UnsupportedLanguage => "Неподдерживаемый язык".into(),
        InvalidPage => "Номер страницы должен быть положительным целым числом".into(),
        InvalidLimit => "Лимит должен быть неотрицательным целым числом".into(),
        InvalidEntityType => "entityType должен быть product или smm".into(),
        InvalidBoolean => "isRecommended должен быть true или false".into(),
        InvalidProductId(id) => format!("Неверный ID товара: {id}"),
        TooManyIds(what) => format!("Слишком много ID ({what}): не больше 100"),
        SubcategoryIdRequired => "Нужен ID подкатегории".into(),
        SubcategoryNotFound => "Подкатегория не найдена".into(),
        ShopNotFound => "Магазин не найден".into(),
        OrderIdRequired => "Нужен ID заказа".into(),
        QuantityRequired => "Укажите количество".into(),
        InvalidQuantity => "Количество должно быть положительным целым числом".into(),
        QuantityOutOfRange(min, max) => format!("Количество должно быть от {min} до {max}"),
        LinkRequired => "Нужна ссылка".into(),
        LinkTooLong => "Ссылка слишком длинная (не больше 2048 символов)".into(),
        NotEnoughStock => "Недостаточно товара в наличии".into(),
        SubproductNotFound => "Вариант товара не найден".into(),
        IdempotencyKeyTooLong => {
            "Ключ идемпотентности слишком длинный (не больше 128 символов)".into()
        }
        IdempotencyKeyReused => {
            "Этот ключ идемпотентности уже использован для другого заказа".into()
        }
        FieldRequired(f) => format!("Нужно поле {f}"),
        InvalidField(f) => format!("Неверное поле {f}"),
        DripFeedUnsupported => "Drip-feed недоступен для этой услуги".into(),
        FieldNotForType(f, t) => format!("Поле {f} не используется услугами типа {t}"),
        BadMassLine => "Каждая строка должна быть вида услуга|ссылка|количество".into(),
        TooManyLines(n) => format!("Слишком много строк (не больше {n})"),
        UnknownCurrency => "Неизвестная валюта".into(),
        Busy => "Слишком много заказов одновременно, попробуйте ещё раз".into(),
        RefillNotAvailable => "Дозаполнение недоступно для этого заказа".into(),
        RefillFailed => "Провайдер не принял дозаполнение, попробуйте позже".into(),
        RefillDripFeedRuns => {
            "Дозаполнение недоступно для заказов drip-feed, выполняемых частями".into()
        }
        RefillIdRequired => "Нужен ID дозаполнения".into(),
        RefillNotFound => "Дозаполнение не найдено".into(),
        SmsProjectRequired => "Нужен ID проекта".into(),
        SmsProjectNotFound => "Проект не найден".into(),
        SmsCountryNotFound => "Страна не найдена".into(),
        SmsNotOffered => "Этот проект недоступен в этой стране".into(),
        SmsNoNumbers => "Свободных номеров нет, попробуйте позже".into(),
        SmsPhoneNotAvailable => "Номер недоступен для этого проекта".into(),
        SmsPhoneBusy => "Номер занят, попробуйте позже".into(),
        SmsPhoneWithQuantity => "Повторно арендовать можно только один номер за раз".into(),
        MessageTooLong => "Сообщение слишком длинное (не больше 2000 символов)".into(),
        DisputeAlreadyOpen => "Спор по этому заказу уже открыт".into(),
        OrderFullyRefunded => "Этот заказ уже полностью возвращён".into(),
        InvalidRating => "Оценка должна быть от 1 до 5".into(),
        ReviewNotAllowed => "Отзыв можно оставить только о выполненном заказе".into(),
        AlreadyReviewed => "Отзыв на этот заказ уже оставлен".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_is_the_api_text_and_russian_differs() {
        let e = SupplyError::LineTooLong(2, 4096);
        assert_eq!(supply(Ui::En, &e), "Line 2 is longer than 4096 bytes");
        assert_eq!(supply(Ui::Ru, &e), "Строка 2 длиннее 4096 байт");
        for e in ApiError::examples() {
            assert_ne!(api(Ui::Ru, &e), e.to_string(), "{e} has Russian text");
            assert_eq!(api(Ui::En, &e), e.to_string());
        }
        assert_eq!(
            store(Ui::Ru, StoreError::NotFound("Order")).ok().as_deref(),
            Some("Заказ не найден")
        );
        assert_eq!(
            supply(Ui::Ru, &SupplyError::OrderClosed(5, "completed")),
            "Заказ 5 уже выполнен"
        );
        assert_eq!(
            store(Ui::Ru, StoreError::Supply(SupplyError::LinesNeedInventory))
                .ok()
                .as_deref(),
            Some("Строки можно добавлять только к складским товарам")
        );
        assert!(store(Ui::En, StoreError::Crypto).is_err());
    }
}
