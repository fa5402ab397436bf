//! A small known catalogue, shaped after the seed's examples.

use souk_core::catalogue::{EntityType, ProductType};
use souk_core::{Lang, Money, Text};
use souk_store::{NewCategory, NewService, NewShop, NewSubcategory, NewSubproduct, NewUser, Store};

pub struct Fixture {
    pub instagram: String,
    pub email: String,
    pub followers: String,
    pub likes: String,
    pub gmail: String,
    pub outlook: String,
    pub nord: String,
    pub boost: String,
    /// SMM, Instagram / Followers, BoostLab: the seed's service 1.
    pub ig_followers: i64,
    /// Product, Email / Gmail, Nord, inventory, recommended: subproducts 1 Month (42
    /// lines, 25.00) and 3 Months (no stock, 60.00).
    pub gmail_usa: i64,
    pub gmail_usa_id: String,
    pub gmail_subs: Vec<String>,
    /// Product, Email / Outlook, Nord, manual, declared capacity 10.
    pub outlook_fresh: i64,
    pub outlook_fresh_id: String,
    /// SMM, Instagram / Likes, BoostLab, drip-feed.
    pub ig_likes: i64,
    /// Product, Email / Gmail, BoostLab, inventory, 3 lines at 0.0450.
    pub gmail_bulk: i64,
    pub gmail_bulk_sub: String,
}

/// Two `auto` products (fulfilled by an upstream), the kind of order early cancel is for.
pub struct AutoProducts {
    /// Nord, 5.00 per unit, capacity 100.
    pub netflix_auto: i64,
    /// Nord, free (0.00), capacity 100.
    pub freebie: i64,
}

fn text(en: &str, translations: &[(Lang, &str)]) -> Text {
    let mut t = Text::new(en);
    for (l, v) in translations {
        t.set(*l, *v);
    }
    t
}

fn money(s: &str) -> Money {
    Money::parse(s).expect("amount")
}

pub async fn load(store: &Store) -> Fixture {
    let now = 1_700_000_000_000;
    let category = |slug: &str, name: Text, position: i64| NewCategory {
        slug: slug.into(),
        name,
        description: Text::new(""),
        image_url: None,
        position,
    };
    let (instagram, _) = store
        .create_category(
            &category(
                "instagram",
                text(
                    "Instagram",
                    &[(Lang::Ru, "Инстаграм"), (Lang::Zh, "照片墙")],
                ),
                1,
            ),
            now,
        )
        .await
        .expect("category");
    let (email, _) = store
        .create_category(
            &category(
                "email-accounts",
                text(
                    "Email Accounts",
                    &[(Lang::Ru, "Почтовые аккаунты"), (Lang::Zh, "电子邮箱")],
                ),
                2,
            ),
            now,
        )
        .await
        .expect("category");
    let sub = |category_id: &str, slug: &str, name: Text, position: i64, description: Text| {
        NewSubcategory {
            category_id: category_id.into(),
            slug: slug.into(),
            name,
            description,
            image_url: Some(format!(
                "https://example.com/uploads/subcategories/{slug}.webp"
            )),
            position,
        }
    };
    let (followers, _) = store
        .create_subcategory(
            &sub(
                &instagram,
                "followers",
                text("Followers", &[(Lang::Ru, "Подписчики")]),
                1,
                Text::new(""),
            ),
            now,
        )
        .await
        .expect("sub");
    store
        .create_subcategory(
            &sub(
                &instagram,
                "comments",
                Text::new("Comments"),
                2,
                Text::new(""),
            ),
            now,
        )
        .await
        .expect("sub");
    let (likes, _) = store
        .create_subcategory(
            &sub(&instagram, "likes", Text::new("Likes"), 3, Text::new("")),
            now,
        )
        .await
        .expect("sub");
    let (gmail, _) = store
        .create_subcategory(
            &sub(
                &email,
                "gmail",
                text("Gmail", &[(Lang::Zh, "谷歌邮箱")]),
                1,
                text(
                    "Verified Gmail accounts",
                    &[(Lang::Zh, "已验证的 Gmail 账号")],
                ),
            ),
            now,
        )
        .await
        .expect("sub");
    let (outlook, _) = store
        .create_subcategory(
            &sub(&email, "outlook", Text::new("Outlook"), 2, Text::new("")),
            now,
        )
        .await
        .expect("sub");

    let supplier = |email: &str| NewUser {
        email: email.into(),
        name: String::new(),
        password_hash: None,
        is_supplier: true,
        initial_balance: Money::ZERO,
    };
    let (nord_owner, _) = store
        .create_user(&supplier("nord@fixture.test"), now)
        .await
        .expect("user");
    let (boost_owner, _) = store
        .create_user(&supplier("boost@fixture.test"), now)
        .await
        .expect("user");
    let (nord, _) = store
        .create_shop(
            &NewShop {
                owner_id: nord_owner,
                name: "NordAccounts".into(),
            },
            now,
        )
        .await
        .expect("shop");
    let (boost, _) = store
        .create_shop(
            &NewShop {
                owner_id: boost_owner,
                name: "BoostLab".into(),
            },
            now,
        )
        .await
        .expect("shop");
    for rating in [5, 4, 5] {
        store
            .add_shop_review(&nord, rating, "good", now)
            .await
            .expect("review");
    }

    let smm = |shop: &str,
               sub: &str,
               name: Text,
               type_name: &str,
               rate: &str,
               min: i64,
               max: i64,
               refill: bool,
               dripfeed: bool| NewService {
        entity: EntityType::Smm,
        product_type: ProductType::Auto,
        shop_id: shop.into(),
        subcategory_id: sub.into(),
        name,
        description: Text::new(""),
        type_name: type_name.into(),
        image_url: None,
        rate: money(rate),
        min,
        max,
        refill,
        refill_days: refill.then_some(30),
        cancel: false,
        dripfeed,
        recommended: false,
        subproducts: Vec::new(),
    };
    let variant =
        |name: Text, price: &str, min: i64, max: i64, position: i64, declared: i64| NewSubproduct {
            name,
            price: money(price),
            min,
            max,
            position,
            declared_stock: declared,
        };
    let product = |shop: &str,
                   sub: &str,
                   product_type: ProductType,
                   name: Text,
                   description: Text,
                   recommended: bool,
                   subproducts: Vec<NewSubproduct>| NewService {
        entity: EntityType::Product,
        product_type,
        shop_id: shop.into(),
        subcategory_id: sub.into(),
        name,
        description,
        type_name: "Default".into(),
        image_url: Some("https://example.com/uploads/products/gmail.webp".into()),
        rate: Money::ZERO,
        min: 1,
        max: 1,
        refill: false,
        refill_days: None,
        cancel: false,
        dripfeed: false,
        recommended,
        subproducts,
    };

    let (ig_followers, ..) = store
        .create_service(
            &smm(
                &boost,
                &followers,
                text("Instagram Followers", &[(Lang::Ru, "Подписчики Instagram")]),
                "Default",
                "0.50",
                100,
                10000,
                true,
                false,
            ),
            now,
        )
        .await
        .expect("service");
    let (gmail_usa, gmail_usa_id, gmail_subs, _) = store
        .create_service(
            &product(
                &nord,
                &gmail,
                ProductType::Inventory,
                text(
                    "Gmail Account - USA",
                    &[
                        (Lang::Ru, "Аккаунт Gmail - США"),
                        (Lang::Ja, "Gmailアカウント - USA"),
                    ],
                ),
                Text::new("Verified Gmail account with recovery email"),
                true,
                vec![
                    variant(
                        text("1 Month", &[(Lang::Ru, "1 месяц")]),
                        "25.00",
                        1,
                        50,
                        1,
                        0,
                    ),
                    variant(Text::new("3 Months"), "60.00", 1, 50, 2, 0),
                ],
            ),
            now,
        )
        .await
        .expect("product");
    let lines: Vec<String> = (1..=42)
        .map(|n| format!("user{n}@gmail.com:pass{n}"))
        .collect();
    store
        .add_stock_lines(&gmail_subs[0], &lines, false, now)
        .await
        .expect("stock");
    let (outlook_fresh, outlook_fresh_id, ..) = store
        .create_service(
            &product(
                &nord,
                &outlook,
                ProductType::Manual,
                Text::new("Outlook Account - Fresh"),
                Text::new("Registered on order"),
                false,
                vec![variant(Text::new("Standard"), "1.5", 1, 20, 1, 10)],
            ),
            now,
        )
        .await
        .expect("product");
    let (ig_likes, ..) = store
        .create_service(
            &smm(
                &boost,
                &likes,
                Text::new("Instagram Likes"),
                "Default",
                "0.0123",
                10,
                5000,
                false,
                true,
            ),
            now,
        )
        .await
        .expect("service");
    let (gmail_bulk, _, bulk_subs, _) = store
        .create_service(
            &product(
                &boost,
                &gmail,
                ProductType::Inventory,
                Text::new("Gmail Bulk"),
                Text::new("Bulk Gmail accounts"),
                false,
                vec![variant(Text::new("Single"), "0.0450", 1, 100, 1, 0)],
            ),
            now,
        )
        .await
        .expect("product");
    store
        .add_stock_lines(
            &bulk_subs[0],
            &["a:1".to_owned(), "b:2".to_owned(), "c:3".to_owned()],
            false,
            now,
        )
        .await
        .expect("stock");
    Fixture {
        instagram,
        email,
        followers,
        likes,
        gmail,
        outlook,
        nord,
        boost,
        ig_followers,
        gmail_usa,
        gmail_usa_id,
        gmail_subs,
        outlook_fresh,
        outlook_fresh_id,
        ig_likes,
        gmail_bulk,
        gmail_bulk_sub: bulk_subs[0].clone(),
    }
}

pub async fn add_auto_products(store: &Store, f: &Fixture) -> AutoProducts {
    let now = 1_700_000_000_000;
    let auto = |name: &str, price: &str| {
        one_variant_product(
            (&f.nord, &f.gmail),
            ProductType::Auto,
            Text::new(name),
            price,
            (1, 50),
            100,
        )
    };
    let (netflix_auto, ..) = store
        .create_service(&auto("Netflix Premium - Auto", "5.00"), now)
        .await
        .expect("product");
    let (freebie, ..) = store
        .create_service(&auto("Free Sample", "0"), now)
        .await
        .expect("product");
    AutoProducts {
        netflix_auto,
        freebie,
    }
}

/// Just a shop and a subcategory to hang products on: (shop id, subcategory id).
pub async fn load_minimal(store: &Store) -> (String, String) {
    let (category, _) = store
        .create_category(
            &NewCategory {
                slug: "goods".into(),
                name: Text::new("Goods"),
                description: Text::new(""),
                image_url: None,
                position: 1,
            },
            0,
        )
        .await
        .expect("category");
    let (sub, _) = store
        .create_subcategory(
            &NewSubcategory {
                category_id: category,
                slug: "things".into(),
                name: Text::new("Things"),
                description: Text::new(""),
                image_url: None,
                position: 1,
            },
            0,
        )
        .await
        .expect("subcategory");
    let (owner, _) = store
        .create_user(
            &NewUser {
                email: "seller@test.local".into(),
                name: String::new(),
                password_hash: None,
                is_supplier: true,
                initial_balance: Money::ZERO,
            },
            0,
        )
        .await
        .expect("owner");
    let (shop, _) = store
        .create_shop(
            &NewShop {
                owner_id: owner,
                name: "Seller".into(),
            },
            0,
        )
        .await
        .expect("shop");
    (shop, sub)
}

/// A product with one subproduct, the shape most tests need.
pub fn one_variant_product(
    (shop, subcategory): (&str, &str),
    product_type: ProductType,
    name: Text,
    price: &str,
    (min, max): (i64, i64),
    declared_stock: i64,
) -> NewService {
    NewService {
        entity: EntityType::Product,
        product_type,
        shop_id: shop.into(),
        subcategory_id: subcategory.into(),
        name,
        description: Text::new(""),
        type_name: "Default".into(),
        image_url: None,
        rate: Money::ZERO,
        min: 1,
        max: 1,
        refill: false,
        refill_days: None,
        cancel: false,
        dripfeed: false,
        recommended: false,
        subproducts: vec![NewSubproduct {
            name: Text::new("Standard"),
            price: money(price),
            min,
            max,
            position: 1,
            declared_stock,
        }],
    }
}
