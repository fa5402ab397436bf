//! Issue 7: every form rejects bad input with a visible message and changes nothing. The
//! supplier desk's upload and order forms and the shop's buy form over plain HTTP, in
//! English and in Russian; each refusal is checked against a digest of the database.

use reqwest::header::COOKIE;
use serde_json::json;
use souk_core::supply::{MAX_LINE_BYTES, MAX_UPLOAD_BYTES};

use crate::engine_test;
use crate::harness::TestApp;
use crate::supply_kit::{
    buy, digest, inventory_product, manual_product, market, ok, status, supplier, upload, As,
};
use crate::web::{client, csrf_of, form, open_shop_for, page, sign_up};

/// The text of the page's notice (`#notice`), unescaped enough for our messages.
fn notice(html: &str) -> String {
    let at = html
        .find("id=\"notice\"")
        .unwrap_or_else(|| panic!("no notice in {html}"));
    let start = at + html[at..].find('>').expect("notice tag") + 1;
    let end = start + html[start..].find("</p>").expect("notice end");
    html[start..end]
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

/// `POST /desk/stock/{sub}` with `file` as the uploaded text file.
async fn desk_upload(
    app: &TestApp,
    cookie: &str,
    token: &str,
    sub: &str,
    file: Vec<u8>,
) -> (u16, String) {
    let part = reqwest::multipart::Part::bytes(file)
        .file_name("stock.txt")
        .mime_str("text/plain")
        .expect("mime");
    let body = reqwest::multipart::Form::new()
        .text("csrf", token.to_owned())
        .part("file", part);
    let r = client()
        .post(format!("{}/desk/stock/{sub}", app.url))
        .header(COOKIE, cookie)
        .multipart(body)
        .send()
        .await
        .expect("upload");
    (r.status().as_u16(), r.text().await.expect("body"))
}

async fn stock_of(app: &TestApp, key: &str, sub: &str) -> i64 {
    let (code, v) = crate::supply_kit::get(
        app,
        As::Key(key),
        &format!("/api/admin/v2/subproducts/{sub}/stock"),
    )
    .await;
    assert_eq!(code, 200, "{v}");
    v["available"]
        .as_i64()
        .unwrap_or_else(|| panic!("stock counts: {v}"))
}

engine_test!(web_desk_refuses_bad_uploads_and_orders_visibly, |db| {
    let app = TestApp::spawn(db).await;
    let (_, subcategory) = market(&app).await;
    let maker = sign_up(&app, "maker@example.com").await;
    let maker_key = open_shop_for(&app, "maker@example.com", "Maker").await;
    let (_, _, subs) = inventory_product(&app, &maker_key, &subcategory, "Maker Mail").await;
    let sub = subs[0].clone();
    let own_manual = manual_product(&app, &maker_key, &subcategory, "Maker Hand", "1.00").await;
    let own_manual_sub = own_manual["subproducts"][0]["subproductId"]
        .as_str()
        .expect("subproductId")
        .to_owned();
    // Another shop: its stock and its manual order are out of this desk's reach.
    let (other_key, _, _) = supplier(&app, "other@example.com", "Other").await;
    let (_, _, other_subs) = inventory_product(&app, &other_key, &subcategory, "Other Mail").await;
    let manual = manual_product(&app, &other_key, &subcategory, "Other Hand", "1.00").await;
    let buyer = app.buyer("buyer@example.com", "10").await;
    let other_order = buy(&app, &buyer, manual["service"].as_i64().expect("n"), 2).await;

    let (code, html) = page(&app, &maker, "/desk").await;
    assert_eq!(code, 200);
    let token = csrf_of(&html);
    let ru = format!("{maker}; souk_ui=ru");
    let long_line = format!("ok\n{}\n", "x".repeat(MAX_LINE_BYTES + 1)).into_bytes();
    // 2,048 lines of 4,096 bytes: exactly the limit.
    let full =
        format!("{}\n", "k".repeat(MAX_LINE_BYTES - 1)).repeat(MAX_UPLOAD_BYTES / MAX_LINE_BYTES);
    assert_eq!(full.len(), MAX_UPLOAD_BYTES);
    let over = format!("{full}z").into_bytes();

    let before = digest(db).await;
    for (cookie, target, file, says) in [
        (
            maker.as_str(),
            sub.as_str(),
            long_line.clone(),
            "Line 2 is longer than 4096 bytes",
        ),
        (
            ru.as_str(),
            sub.as_str(),
            long_line.clone(),
            "Строка 2 длиннее 4096 байт",
        ),
        (
            maker.as_str(),
            other_subs[0].as_str(),
            b"stolen:1\n".to_vec(),
            "Subproduct not found",
        ),
        (
            ru.as_str(),
            other_subs[0].as_str(),
            b"stolen:1\n".to_vec(),
            "Вариант товара не найден",
        ),
        (
            maker.as_str(),
            "0123456789abcdef01234567",
            b"nowhere:1\n".to_vec(),
            "Subproduct not found",
        ),
        (
            maker.as_str(),
            sub.as_str(),
            over.clone(),
            "The upload is larger than 8 MiB",
        ),
        (ru.as_str(), sub.as_str(), over, "Файл больше 8 МиБ"),
        (
            maker.as_str(),
            own_manual_sub.as_str(),
            b"line:1\n".to_vec(),
            "Stock lines can only be added to inventory products",
        ),
        (
            ru.as_str(),
            own_manual_sub.as_str(),
            b"line:1\n".to_vec(),
            "Строки можно добавлять только к складским товарам",
        ),
        (
            maker.as_str(),
            sub.as_str(),
            b"\n \n".to_vec(),
            "The upload has no lines",
        ),
    ] {
        let (code, html) = desk_upload(&app, cookie, &token, target, file).await;
        assert_eq!((code, notice(&html)), (422, says.to_owned()), "{target}");
        assert_eq!(digest(db).await, before, "{says}: nothing changed");
    }
    assert_eq!(stock_of(&app, &maker_key, &sub).await, 0);
    assert_eq!(stock_of(&app, &other_key, &other_subs[0]).await, 0);

    // Another shop's order cannot be failed (refunded) from this desk, in either language.
    for (cookie, says) in [
        (maker.as_str(), "Order not found"),
        (ru.as_str(), "Заказ не найден"),
    ] {
        let r = form(
            &app,
            &format!("/desk/orders/{other_order}/fail"),
            cookie,
            &[("csrf", &token), ("note", "not mine")],
        )
        .await;
        assert_eq!(r.status(), 422);
        assert_eq!(notice(&r.text().await.expect("body")), says);
        assert_eq!(digest(db).await, before);
    }
    assert_eq!(status(&app, &buyer, other_order).await["status"], "Pending");

    // A word where the order number goes: the site's 404 page, not a plain-text 400.
    for action in ["deliver", "fail"] {
        let r = form(
            &app,
            &format!("/desk/orders/abc/{action}"),
            &maker,
            &[("csrf", &token), ("accounts", "x:y")],
        )
        .await;
        assert_eq!(r.status(), 404);
        assert_eq!(
            r.headers()["content-type"],
            "text/html; charset=utf-8",
            "{action}"
        );
        let html = r.text().await.expect("body");
        assert!(html.contains("There is no such page."), "{html}");
        assert!(html.contains("Такой страницы нет."), "{html}");
    }
    assert_eq!(digest(db).await, before);

    // Exactly 8 MiB goes through the desk as through the API.
    let (code, _) = desk_upload(&app, &maker, &token, &sub, full.into_bytes()).await;
    assert_eq!(code, 303);
    assert_eq!(stock_of(&app, &maker_key, &sub).await, 2048);
    // The API draws the same line one byte later.
    let (code, body) = upload(
        &app,
        &maker_key,
        &sub,
        "k\n".repeat(MAX_UPLOAD_BYTES / 2 + 1),
        false,
    )
    .await;
    assert_eq!(
        (code, body),
        (413, json!({"error": "Stock upload too large (max 8 MiB)"}))
    );
    assert_eq!(stock_of(&app, &maker_key, &sub).await, 2048);

    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_shop_refuses_bad_orders_visibly, |db| {
    let app = TestApp::spawn(db).await;
    let (_, subcategory) = market(&app).await;
    let (seller_key, _, _) = supplier(&app, "seller@example.com", "Seller").await;
    let (_, service, subs) = inventory_product(&app, &seller_key, &subcategory, "Shop Mail").await;
    ok(
        200,
        upload(&app, &seller_key, &subs[0], "a:1\nb:2\nc:3\n", false).await,
    );
    let buyer = sign_up(&app, "buyer@example.com").await;
    let buyer_id = app
        .store
        .user_id_by_email("buyer@example.com")
        .await
        .expect("db")
        .expect("buyer");
    let (code, html) = page(&app, &buyer, "/shop").await;
    assert_eq!(code, 200);
    // The card says the limits the range refusal below says (1 to 10), the stock apart.
    let card = &html[html
        .find(&format!("id=\"service-{service}\""))
        .expect("card")..];
    let card = &card[..card.find("</article>").expect("card end")];
    assert!(card.contains("min 1 / max 10"), "{card}");
    assert!(card.contains(r#"<span class="stock">3</span>"#), "{card}");
    let token = csrf_of(&html);
    let ru = format!("{buyer}; souk_ui=ru");
    let service = service.to_string();

    let before = digest(db).await;
    for (cookie, service, quantity, says) in [
        (
            buyer.as_str(),
            service.as_str(),
            "abc",
            "Quantity must be a positive integer",
        ),
        (
            buyer.as_str(),
            service.as_str(),
            "50",
            "Quantity must be between 1 and 10",
        ),
        (
            ru.as_str(),
            service.as_str(),
            "50",
            "Количество должно быть от 1 до 10",
        ),
        (
            buyer.as_str(),
            service.as_str(),
            "1",
            "Insufficient balance",
        ),
        (ru.as_str(), service.as_str(), "1", "Недостаточно средств"),
        (buyer.as_str(), "999999", "1", "Service not found"),
        (ru.as_str(), "999999", "1", "Услуга не найдена"),
    ] {
        let r = form(
            &app,
            "/shop/buy",
            cookie,
            &[
                ("csrf", &token),
                ("service", service),
                ("quantity", quantity),
                ("link", ""),
                ("idempotency_key", &souk_api::web::random_token()),
            ],
        )
        .await;
        assert_eq!(r.status(), 422, "{service} x {quantity}");
        assert_eq!(notice(&r.text().await.expect("body")), says);
        assert_eq!(digest(db).await, before, "{says}: nothing changed");
    }
    assert_eq!(
        app.store.balance(&buyer_id).await.expect("balance"),
        souk_core::Money::ZERO
    );

    app.stop().await;
    db.assert_audit_clean().await;
});
