//! The catalogue actions of /api/v2 against the seed's examples and SPEC 3-6.

use serde_json::{json, Value};

use crate::engine_test;
use crate::fixtures::{self, Fixture};
use crate::harness::{assert_keys, TestApp, TestDb};

async fn app_with_fixture(db: &TestDb) -> (TestApp, Fixture, String) {
    let fixture = fixtures::load(&db.store().await).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "100").await;
    (app, fixture, key)
}

fn numbers(list: &Value) -> Vec<i64> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|r| r["service"].as_i64().expect("service number"))
        .collect()
}

const SMM_ROW_KEYS: &[&str] = &[
    "id",
    "service",
    "name",
    "type",
    "category",
    "rate",
    "min",
    "max",
    "refill",
    "cancel",
    "stock",
    "entityType",
    "autoDelivery",
    "dripfeed",
];
const PRODUCT_ROW_KEYS: &[&str] = &[
    "id",
    "service",
    "name",
    "type",
    "category",
    "rate",
    "min",
    "max",
    "refill",
    "cancel",
    "stock",
    "entityType",
    "autoDelivery",
    "description",
    "imageUrl",
    "isRecommended",
    "subcategoryId",
];

engine_test!(seed_examples_conform, |db| {
    let (app, f, key) = app_with_fixture(db).await;

    // Get Categories.
    let body = app.call(&[("key", &key), ("action", "categories")]).await;
    assert_eq!(
        body,
        json!({"categories": [
            {"category": "Instagram", "subcategories": ["Followers", "Comments", "Likes"]},
            {"category": "Email Accounts", "subcategories": ["Gmail", "Outlook"]}
        ]})
    );

    // Subcategory Info.
    let body = app
        .call(&[
            ("key", &key),
            ("action", "subcategory_info"),
            ("subcategoryId", &f.gmail),
        ])
        .await;
    assert_eq!(
        body,
        json!({
            "subcategoryId": f.gmail,
            "name": "Gmail",
            "slug": "gmail",
            "imageUrl": "https://example.com/uploads/subcategories/gmail.webp",
            "description": "Verified Gmail accounts",
            "category": {"categoryId": f.email, "name": "Email Accounts", "slug": "email-accounts"}
        })
    );

    // Services List: the seed's two rows.
    let body = app.call(&[("key", &key), ("action", "services")]).await;
    assert_keys(
        &body,
        &["services", "total", "page", "limit", "total_pages"],
    );
    let rows = body["services"].as_array().expect("rows");
    let smm = &rows[0];
    assert_keys(smm, SMM_ROW_KEYS);
    assert_eq!(smm["service"], json!(f.ig_followers));
    assert_eq!(smm["name"], "Instagram Followers");
    assert_eq!(smm["type"], "Default");
    assert_eq!(smm["category"], "Instagram");
    assert_eq!(smm["rate"], "0.50");
    assert_eq!(smm["min"], 100);
    assert_eq!(smm["max"], 10000);
    assert_eq!(smm["refill"], true);
    assert_eq!(smm["cancel"], false);
    assert_eq!(smm["stock"], 10000);
    assert_eq!(smm["entityType"], "smm");
    assert_eq!(smm["autoDelivery"], true);
    assert_eq!(smm["dripfeed"], false);
    assert!(smm["id"].as_str().is_some_and(|id| id.len() == 24));
    let product = &rows[1];
    assert_keys(product, PRODUCT_ROW_KEYS);
    assert_eq!(
        product,
        &json!({
            "id": f.gmail_usa_id,
            "service": f.gmail_usa,
            "name": "Gmail Account - USA",
            "type": "Default",
            "category": "Email Accounts",
            "rate": "25.00",
            "min": 1,
            "max": 42,
            "refill": false,
            "cancel": false,
            "stock": 42,
            "entityType": "product",
            "autoDelivery": true,
            "description": "Verified Gmail account with recovery email",
            "imageUrl": "https://example.com/uploads/products/gmail.webp",
            "isRecommended": true,
            "subcategoryId": f.gmail
        })
    );
    assert_eq!(
        (
            body["total"].clone(),
            body["page"].clone(),
            body["limit"].clone(),
            body["total_pages"].clone()
        ),
        (json!(5), json!(1), json!(5), json!(1))
    );

    // Check Inventory, SMM and product.
    let body = app
        .call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &f.ig_followers.to_string()),
        ])
        .await;
    assert_eq!(
        body,
        json!({"service": f.ig_followers, "stock": 10000, "available": true, "rate": "0.5000", "entityType": "smm", "autoDelivery": true})
    );
    let body = app
        .call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &f.gmail_usa.to_string()),
        ])
        .await;
    assert_eq!(
        body,
        json!({
            "service": f.gmail_usa, "stock": 42, "available": true, "rate": "25.0000", "min": 1, "max": 42,
            "entityType": "product", "autoDelivery": true,
            "subproducts": [
                {"subproductId": f.gmail_subs[0], "name": "1 Month", "stock": 42},
                {"subproductId": f.gmail_subs[1], "name": "3 Months", "stock": 0}
            ]
        })
    );
    // The entity id works wherever the number does.
    let by_id = app
        .call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &f.gmail_usa_id),
        ])
        .await;
    assert_eq!(by_id["service"], json!(f.gmail_usa));

    // Balance.
    let body = app.call(&[("key", &key), ("action", "balance")]).await;
    assert_eq!(body, json!({"balance": "100.00", "currency": "USD"}));

    // Shops: masked names, ratings from reviews.
    let body = app.call(&[("key", &key), ("action", "shops")]).await;
    assert_eq!(
        body,
        json!({
            "shops": [
                {"shopId": f.boost, "name": "B***b", "productCount": 3, "rating": 0.0, "reviewCount": 0},
                {"shopId": f.nord, "name": "N***s", "productCount": 2, "rating": 4.7, "reviewCount": 3}
            ],
            "total": 2, "page": 1, "limit": 20, "total_pages": 1
        })
    );
    app.stop().await;
});

engine_test!(filters_alone_and_combined, |db| {
    let (app, f, key) = app_with_fixture(db).await;
    let list = |extra: Vec<(&'static str, String)>| {
        let app = &app;
        let key = key.clone();
        async move {
            let mut params: Vec<(&str, String)> = vec![("key", key), ("action", "services".into())];
            params.extend(extra);
            let refs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.call(&refs).await
        }
    };
    let all = vec![
        f.ig_followers,
        f.gmail_usa,
        f.outlook_fresh,
        f.ig_likes,
        f.gmail_bulk,
    ];
    assert_eq!(numbers(&list(vec![]).await["services"]), all);
    assert_eq!(
        numbers(&list(vec![("category", "instagram".into())]).await["services"]),
        vec![f.ig_followers, f.ig_likes]
    );
    assert_eq!(
        numbers(&list(vec![("category", "Email Accounts".into())]).await["services"]),
        vec![f.gmail_usa, f.outlook_fresh, f.gmail_bulk]
    );
    assert_eq!(
        numbers(&list(vec![("subcategory", "GMAIL".into())]).await["services"]),
        vec![f.gmail_usa, f.gmail_bulk]
    );
    assert_eq!(
        numbers(&list(vec![("shopId", f.nord.clone())]).await["services"]),
        vec![f.gmail_usa, f.outlook_fresh]
    );
    assert_eq!(
        numbers(&list(vec![("entityType", "smm".into())]).await["services"]),
        vec![f.ig_followers, f.ig_likes]
    );
    assert_eq!(
        numbers(&list(vec![("entityType", "product".into())]).await["services"]),
        vec![f.gmail_usa, f.outlook_fresh, f.gmail_bulk]
    );
    assert_eq!(
        numbers(&list(vec![("isRecommended", "true".into())]).await["services"]),
        vec![f.gmail_usa]
    );
    assert_eq!(
        numbers(&list(vec![("isRecommended", "false".into())]).await["services"]),
        all
    );
    // productIds keeps products only, even when an SMM number is listed.
    assert_eq!(
        numbers(
            &list(vec![(
                "productIds",
                format!("{},{}", f.ig_followers, f.outlook_fresh)
            )])
            .await["services"]
        ),
        vec![f.outlook_fresh]
    );
    // Combined: AND.
    assert_eq!(
        numbers(
            &list(vec![
                ("category", "Email Accounts".into()),
                ("shopId", f.boost.clone())
            ])
            .await["services"]
        ),
        vec![f.gmail_bulk]
    );
    assert_eq!(
        numbers(
            &list(vec![
                ("subcategory", "Gmail".into()),
                ("shopId", f.nord.clone()),
                ("entityType", "product".into()),
                ("isRecommended", "1".into())
            ])
            .await["services"]
        ),
        vec![f.gmail_usa]
    );
    assert_eq!(
        numbers(
            &list(vec![
                ("category", "Instagram".into()),
                ("entityType", "product".into())
            ])
            .await["services"]
        ),
        Vec::<i64>::new()
    );
    assert_eq!(
        numbers(&list(vec![("category", "No Such Category".into())]).await["services"]),
        Vec::<i64>::new()
    );
    // Filter names are canonical English even with lang set.
    let ru = list(vec![
        ("category", "Instagram".into()),
        ("lang", "ru".into()),
    ])
    .await;
    assert_eq!(numbers(&ru["services"]), vec![f.ig_followers, f.ig_likes]);
    assert_eq!(ru["services"][0]["category"], "Инстаграм");

    // products: marketplace rows only, same row shape.
    let products = app.call(&[("key", &key), ("action", "products")]).await;
    assert_keys(
        &products,
        &["products", "total", "page", "limit", "total_pages"],
    );
    assert_eq!(
        numbers(&products["products"]),
        vec![f.gmail_usa, f.outlook_fresh, f.gmail_bulk]
    );
    for row in products["products"].as_array().expect("rows") {
        assert_keys(row, PRODUCT_ROW_KEYS);
    }
    let manual = &products["products"][1];
    assert_eq!(manual["autoDelivery"], false);
    assert_eq!(manual["rate"], "1.50");
    assert_eq!(manual["max"], 10);
    assert_eq!(products["products"][2]["rate"], "0.045");
    let products = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("shopId", &f.boost),
            ("isRecommended", "true"),
        ])
        .await;
    assert_eq!(products["total"], 0);
    let products = app
        .call(&[("key", &key), ("action", "products"), ("entityType", "smm")])
        .await;
    assert_eq!(products["total"], 0);
    app.stop().await;
});

engine_test!(pagination_rules, |db| {
    let (app, f, key) = app_with_fixture(db).await;
    let page = |page: Option<&'static str>, limit: Option<&'static str>| {
        let (app, key) = (&app, key.clone());
        async move {
            let mut params = vec![("key", key.as_str()), ("action", "services")];
            if let Some(p) = page {
                params.push(("page", p));
            }
            if let Some(l) = limit {
                params.push(("limit", l));
            }
            app.call(&params).await
        }
    };
    let envelope = |v: &Value| {
        (
            v["total"].as_i64(),
            v["page"].as_i64(),
            v["limit"].as_i64(),
            v["total_pages"].as_i64(),
        )
    };
    // limit absent or 0: everything, page 1, limit = total, one page (page is ignored).
    for v in [
        page(None, None).await,
        page(None, Some("0")).await,
        page(Some("3"), Some("0")).await,
    ] {
        assert_eq!(envelope(&v), (Some(5), Some(1), Some(5), Some(1)));
        assert_eq!(v["services"].as_array().map(Vec::len), Some(5));
    }
    let v = page(None, Some("2")).await;
    assert_eq!(envelope(&v), (Some(5), Some(1), Some(2), Some(3)));
    assert_eq!(numbers(&v["services"]), vec![f.ig_followers, f.gmail_usa]);
    let v = page(Some("3"), Some("2")).await;
    assert_eq!(numbers(&v["services"]), vec![f.gmail_bulk]);
    let v = page(Some("4"), Some("2")).await;
    assert_eq!(envelope(&v), (Some(5), Some(4), Some(2), Some(3)));
    assert_eq!(v["services"], json!([]));
    let v = page(Some("999999999999"), Some("50")).await;
    assert_eq!(v["services"], json!([]));
    let v = page(None, Some("100")).await;
    assert_eq!(envelope(&v), (Some(5), Some(1), Some(100), Some(1)));
    for bad in ["0", "-1", "abc", "1.5", ""] {
        let v = page(Some(bad), Some("2")).await;
        if bad.is_empty() {
            // An empty value is the same as an absent one.
            assert_eq!(v["page"], 1);
        } else {
            assert_eq!(
                v,
                json!({"error": "Page must be a positive integer"}),
                "page={bad}"
            );
        }
    }
    for bad in ["-1", "ten", "2.5", "99999999999999999999999"] {
        let v = page(None, Some(bad)).await;
        assert_eq!(
            v,
            json!({"error": "Limit must be a non-negative integer"}),
            "limit={bad}"
        );
    }
    // Shops: default limit 20, same rules.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "shops"),
            ("limit", "1"),
            ("page", "2"),
        ])
        .await;
    assert_eq!(envelope(&v), (Some(2), Some(2), Some(1), Some(2)));
    assert_eq!(v["shops"][0]["shopId"], json!(f.nord));
    let v = app
        .call(&[("key", &key), ("action", "shops"), ("page", "0")])
        .await;
    assert_eq!(v, json!({"error": "Page must be a positive integer"}));
    app.stop().await;
});

engine_test!(product_ids_in_every_form, |db| {
    let (app, f, key) = app_with_fixture(db).await;
    let want = vec![f.gmail_usa, f.outlook_fresh, f.gmail_bulk];
    let (a, b, c) = (
        f.gmail_usa.to_string(),
        f.outlook_fresh_id.clone(),
        f.gmail_bulk.to_string(),
    );
    let http = &app.http;
    let api = app.api();
    // Comma-separated, with spaces and an upper-case entity id.
    let comma = format!("{a}, {} ,{c}", b.to_uppercase());
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", &comma),
        ])
        .await;
    assert_eq!(numbers(&v["products"]), want);
    // A JSON array in a string, numbers and strings mixed.
    let array = format!("[{a},\"{b}\",\"{c}\"]");
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", &array),
        ])
        .await;
    assert_eq!(numbers(&v["products"]), want);
    // Repeated fields.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", &a),
            ("productIds", &b),
            ("productIds", &c),
        ])
        .await;
    assert_eq!(numbers(&v["products"]), want);
    // name[] fields.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "services"),
            ("productIds[]", &a),
            ("productIds[]", &b),
            ("productIds[]", &c),
        ])
        .await;
    assert_eq!(numbers(&v["services"]), want);
    // A real JSON array in a JSON body.
    let v: Value = http
        .post(&api)
        .json(&json!({"key": key, "action": "products", "productIds": [f.gmail_usa, b, f.gmail_bulk]}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(numbers(&v["products"]), want);
    // Unknown ids select nothing; malformed ones are an error.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", "999999,aaaaaaaaaaaaaaaaaaaaaaaa"),
        ])
        .await;
    assert_eq!(v["total"], 0);
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", "2,abc"),
        ])
        .await;
    assert_eq!(v, json!({"error": "Invalid product ID: abc"}));
    // At most 100 values.
    let hundred: Vec<String> = (1..=100).map(|n| n.to_string()).collect();
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", &hundred.join(",")),
        ])
        .await;
    assert_eq!(v["total"], 3);
    let many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
    for form in [many.join(","), serde_json::to_string(&many).expect("json")] {
        let v = app
            .call(&[("key", &key), ("action", "products"), ("productIds", &form)])
            .await;
        assert_eq!(v, json!({"error": "Too many product IDs (max 100)"}));
    }
    let mut repeated: Vec<(&str, &str)> = vec![("key", &key), ("action", "services")];
    repeated.extend(many.iter().map(|n| ("productIds[]", n.as_str())));
    let v = app.call(&repeated).await;
    assert_eq!(v, json!({"error": "Too many product IDs (max 100)"}));
    app.stop().await;
});

engine_test!(languages_and_fallback, |db| {
    let (app, f, key) = app_with_fixture(db).await;
    let codes = [
        "zh", "es", "fr", "de", "ja", "ko", "pt", "pt-BR", "ru", "ar", "hi", "vi", "ur", "bn-BD",
        "en", "jp", "JA", "PT-br",
    ];
    for code in codes {
        for action in ["categories", "services", "products"] {
            let v = app
                .call(&[("key", &key), ("action", action), ("lang", code)])
                .await;
            assert!(v.get("error").is_none(), "lang={code} action={action}: {v}");
        }
        let v = app
            .call(&[
                ("key", &key),
                ("action", "subcategory_info"),
                ("subcategoryId", &f.gmail),
                ("lang", code),
            ])
            .await;
        assert!(v.get("error").is_none(), "lang={code}: {v}");
        let v = app
            .call(&[
                ("key", &key),
                ("action", "inventory"),
                ("service", &f.gmail_usa.to_string()),
                ("lang", code),
            ])
            .await;
        assert!(v.get("error").is_none(), "lang={code}: {v}");
    }
    for bad in ["xx", "english", "pt_BR", "zh-CN"] {
        for action in [
            "categories",
            "subcategory_info",
            "services",
            "products",
            "inventory",
        ] {
            let v = app
                .call(&[("key", &key), ("action", action), ("lang", bad)])
                .await;
            assert_eq!(
                v,
                json!({"error": "Unsupported language"}),
                "lang={bad} action={action}"
            );
        }
    }
    // Translated where a translation exists, English per field otherwise.
    let cats = app
        .call(&[("key", &key), ("action", "categories"), ("lang", "ru")])
        .await;
    assert_eq!(
        cats,
        json!({"categories": [
            {"category": "Инстаграм", "subcategories": ["Подписчики", "Comments", "Likes"]},
            {"category": "Почтовые аккаунты", "subcategories": ["Gmail", "Outlook"]}
        ]})
    );
    let info = app
        .call(&[
            ("key", &key),
            ("action", "subcategory_info"),
            ("subcategoryId", &f.gmail),
            ("lang", "zh"),
        ])
        .await;
    assert_eq!(info["name"], "谷歌邮箱");
    assert_eq!(info["description"], "已验证的 Gmail 账号");
    assert_eq!(info["category"]["name"], "电子邮箱");
    let de = app
        .call(&[
            ("key", &key),
            ("action", "subcategory_info"),
            ("subcategoryId", &f.gmail),
            ("lang", "de"),
        ])
        .await;
    assert_eq!(de["name"], "Gmail");
    // jp is ja; the product name is translated, its description falls back to English.
    for code in ["jp", "ja"] {
        let v = app
            .call(&[
                ("key", &key),
                ("action", "products"),
                ("productIds", &f.gmail_usa.to_string()),
                ("lang", code),
            ])
            .await;
        assert_eq!(v["products"][0]["name"], "Gmailアカウント - USA");
        assert_eq!(
            v["products"][0]["description"],
            "Verified Gmail account with recovery email"
        );
        assert_eq!(v["products"][0]["category"], "Email Accounts");
    }
    let inv = app
        .call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &f.gmail_usa.to_string()),
            ("lang", "ru"),
        ])
        .await;
    assert_eq!(inv["subproducts"][0]["name"], "1 месяц");
    assert_eq!(inv["subproducts"][1]["name"], "3 Months");
    // lang does not apply to balance, and an unsupported one there is ignored.
    let v = app
        .call(&[("key", &key), ("action", "balance"), ("lang", "xx")])
        .await;
    assert_eq!(v["balance"], "100.00");
    app.stop().await;
});

engine_test!(seed_error_strings, |db| {
    let (app, f, key) = app_with_fixture(db).await;
    let revoked = app.buyer("revoked@test.local", "0").await;
    let user = app.user_id("revoked@test.local").await;
    let (_, changes) = app.store.rotate_api_key(&user, 0).await.expect("rotate");
    app.state.apply_changes(&changes).await.expect("apply");
    for params in [
        vec![("action", "balance")],
        vec![("key", ""), ("action", "balance")],
        vec![("key", "not-a-key"), ("action", "services")],
        vec![("key", revoked.as_str()), ("action", "balance")],
    ] {
        assert_eq!(
            app.call(&params).await,
            json!({"error": "Invalid API key"}),
            "{params:?}"
        );
    }
    for action in ["", "nonsense", "BALANCE", "services;drop"] {
        assert_eq!(
            app.call(&[("key", &key), ("action", action)]).await,
            json!({"error": "Invalid action"})
        );
    }
    assert_eq!(
        app.call(&[("key", &key)]).await,
        json!({"error": "Invalid action"})
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "inventory")]).await,
        json!({"error": "Service ID is required"})
    );
    for missing in ["999999", "0", "abc", "aaaaaaaaaaaaaaaaaaaaaaaa", "-5"] {
        assert_eq!(
            app.call(&[("key", &key), ("action", "inventory"), ("service", missing)])
                .await,
            json!({"error": "Service not found"}),
            "service={missing}"
        );
    }
    assert_eq!(
        app.call(&[("key", &key), ("action", "subcategory_info")])
            .await,
        json!({"error": "Subcategory ID is required"})
    );
    for missing in ["aaaaaaaaaaaaaaaaaaaaaaaa", "nope", &f.instagram] {
        assert_eq!(
            app.call(&[
                ("key", &key),
                ("action", "subcategory_info"),
                ("subcategoryId", missing)
            ])
            .await,
            json!({"error": "Subcategory not found"})
        );
    }
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "services"),
            ("entityType", "both")
        ])
        .await,
        json!({"error": "entityType must be product or smm"})
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "products"),
            ("isRecommended", "maybe")
        ])
        .await,
        json!({"error": "isRecommended must be true or false"})
    );
    app.stop().await;
});

engine_test!(empty_database, |db| {
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "0").await;
    assert_eq!(
        app.call(&[("key", &key), ("action", "categories")]).await,
        json!({"categories": []})
    );
    for (action, list) in [
        ("services", "services"),
        ("products", "products"),
        ("shops", "shops"),
    ] {
        let v = app.call(&[("key", &key), ("action", action)]).await;
        assert_eq!(v[list], json!([]));
        assert_eq!(v["total"], 0);
        assert_eq!(v["total_pages"], 1);
    }
    assert_eq!(
        app.call(&[("key", &key), ("action", "inventory"), ("service", "1")])
            .await,
        json!({"error": "Service not found"})
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await,
        json!({"balance": "0.00", "currency": "USD"})
    );
    app.stop().await;
});

// Prices in a display currency (`currency`, an extension): converted rows, the envelope
// naming the currency, inventory too; our own currency or none reads as always; an
// unlisted currency and a bad setting are refused and change nothing.
engine_test!(prices_in_a_display_currency, |db| {
    use crate::supply_kit::{ok, patch, As};

    let (app, _, key) = app_with_fixture(db).await;
    let plain = app
        .call(&[("key", &key), ("action", "services"), ("limit", "0")])
        .await;
    let first = plain["services"][0].clone();
    let number = first["service"].as_i64().expect("service").to_string();
    let ask = |currency: &'static str| {
        let app = &app;
        let key = &key;
        async move {
            app.call(&[
                ("key", key),
                ("action", "services"),
                ("limit", "0"),
                ("currency", currency),
            ])
            .await
        }
    };
    assert_eq!(ask("EUR").await, json!({"error": "Unknown currency"}));
    let refused = ok(
        400,
        patch(
            &app,
            As::Operator,
            "/api/operator/v1/settings",
            json!({"display_currencies": "EURO=0.9"}),
        )
        .await,
    );
    assert!(
        refused["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("display_currencies must be CODE=rate pairs")),
        "{refused}"
    );
    ok(
        200,
        patch(
            &app,
            As::Operator,
            "/api/operator/v1/settings",
            json!({"display_currencies": "eur=0.5, RUB=100"}),
        )
        .await,
    );
    // Our own currency, in any case, is the plain list.
    assert_eq!(ask("usd").await, plain);
    let eur = ask("eur").await;
    assert_eq!(eur["currency"], "EUR");
    let rows = eur["services"].as_array().expect("rows");
    assert_eq!(
        rows.len(),
        plain["services"].as_array().expect("rows").len()
    );
    for (row, mine) in rows.iter().zip(plain["services"].as_array().expect("rows")) {
        let ours = souk_core::Money::parse(mine["rate"].as_str().expect("rate")).expect("rate");
        let want = ours.mul_div_half_up(1, 2).expect("half").display2();
        assert_eq!(row["rate"], json!(want), "{row}");
        // Everything else as in our currency.
        let (mut a, mut b) = (row.clone(), mine.clone());
        a["rate"] = json!(null);
        b["rate"] = json!(null);
        assert_eq!(a, b);
    }
    let inventory = app
        .call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &number),
            ("currency", "RUB"),
        ])
        .await;
    let ours = app
        .call(&[("key", &key), ("action", "inventory"), ("service", &number)])
        .await;
    let rate = souk_core::Money::parse(ours["rate"].as_str().expect("rate")).expect("rate");
    assert_eq!(
        (inventory["rate"].clone(), inventory["currency"].clone()),
        (
            json!(rate.mul_div_half_up(100, 1).expect("x100").display4()),
            json!("RUB")
        )
    );
    assert_eq!(ours.get("currency"), None);
    // Balances stay ours.
    let balance = app
        .call(&[("key", &key), ("action", "balance"), ("currency", "EUR")])
        .await;
    assert_eq!(balance["currency"], "USD");
    app.stop().await;
});
