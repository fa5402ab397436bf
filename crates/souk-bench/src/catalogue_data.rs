//! The words the seeded catalogue is made of, in English, Russian and Chinese.

/// (English, Russian, Chinese)
pub type Words = (&'static str, &'static str, &'static str);

pub struct CategoryData {
    pub slug: &'static str,
    pub name: Words,
    pub description: Words,
    /// SMM categories hold SMM services; the others hold marketplace products.
    pub smm: bool,
    /// (slug, name) of its four subcategories.
    pub subcategories: [(&'static str, Words); 4],
}

pub const CATEGORIES: [CategoryData; 10] = [
    CategoryData {
        slug: "instagram",
        name: ("Instagram", "Инстаграм", "照片墙"),
        description: (
            "Followers, likes and views for Instagram",
            "Подписчики, лайки и просмотры для Instagram",
            "Instagram 粉丝、点赞和浏览量",
        ),
        smm: true,
        subcategories: [
            ("followers", ("Followers", "Подписчики", "粉丝")),
            ("likes", ("Likes", "Лайки", "点赞")),
            ("views", ("Views", "Просмотры", "浏览量")),
            ("comments", ("Comments", "Комментарии", "评论")),
        ],
    },
    CategoryData {
        slug: "tiktok",
        name: ("TikTok", "ТикТок", "抖音国际版"),
        description: (
            "Growth services for TikTok",
            "Продвижение в TikTok",
            "TikTok 增长服务",
        ),
        smm: true,
        subcategories: [
            ("followers", ("Followers", "Подписчики", "粉丝")),
            ("likes", ("Likes", "Лайки", "点赞")),
            ("views", ("Views", "Просмотры", "浏览量")),
            ("shares", ("Shares", "Репосты", "分享")),
        ],
    },
    CategoryData {
        slug: "youtube",
        name: ("YouTube", "Ютуб", "油管"),
        description: (
            "Subscribers, views and watch time for YouTube",
            "Подписчики, просмотры и время просмотра для YouTube",
            "YouTube 订阅者、浏览量和观看时长",
        ),
        smm: true,
        subcategories: [
            ("subscribers", ("Subscribers", "Подписчики", "订阅者")),
            ("views", ("Views", "Просмотры", "浏览量")),
            ("likes", ("Likes", "Лайки", "点赞")),
            ("watch-hours", ("Watch Hours", "Часы просмотра", "观看时长")),
        ],
    },
    CategoryData {
        slug: "telegram",
        name: ("Telegram", "Телеграм", "电报"),
        description: (
            "Members, views and reactions for Telegram channels",
            "Участники, просмотры и реакции для каналов Telegram",
            "Telegram 频道成员、浏览和表情回应",
        ),
        smm: true,
        subcategories: [
            ("members", ("Members", "Участники", "成员")),
            ("post-views", ("Post Views", "Просмотры постов", "帖子浏览")),
            ("reactions", ("Reactions", "Реакции", "表情回应")),
            ("boosts", ("Boosts", "Бусты", "助力")),
        ],
    },
    CategoryData {
        slug: "twitter",
        name: ("X (Twitter)", "X (Твиттер)", "X（推特）"),
        description: (
            "Followers and engagement for X",
            "Подписчики и вовлечённость для X",
            "X 粉丝与互动",
        ),
        smm: true,
        subcategories: [
            ("followers", ("Followers", "Подписчики", "粉丝")),
            ("likes", ("Likes", "Лайки", "点赞")),
            ("reposts", ("Reposts", "Репосты", "转发")),
            ("views", ("Views", "Просмотры", "浏览量")),
        ],
    },
    CategoryData {
        slug: "email-accounts",
        name: ("Email Accounts", "Почтовые аккаунты", "电子邮箱"),
        description: (
            "Ready-made mailboxes",
            "Готовые почтовые ящики",
            "现成的邮箱账号",
        ),
        smm: false,
        subcategories: [
            ("gmail", ("Gmail", "Gmail", "谷歌邮箱")),
            ("outlook", ("Outlook", "Outlook", "Outlook 邮箱")),
            ("yahoo", ("Yahoo", "Yahoo", "雅虎邮箱")),
            ("proton", ("Proton Mail", "Proton Mail", "Proton 邮箱")),
        ],
    },
    CategoryData {
        slug: "social-accounts",
        name: ("Social Accounts", "Аккаунты соцсетей", "社交账号"),
        description: (
            "Registered social network accounts",
            "Зарегистрированные аккаунты соцсетей",
            "已注册的社交网络账号",
        ),
        smm: false,
        subcategories: [
            ("facebook", ("Facebook", "Facebook", "脸书")),
            (
                "instagram-accounts",
                ("Instagram Accounts", "Аккаунты Instagram", "Instagram 账号"),
            ),
            (
                "tiktok-accounts",
                ("TikTok Accounts", "Аккаунты TikTok", "TikTok 账号"),
            ),
            ("x-accounts", ("X Accounts", "Аккаунты X", "X 账号")),
        ],
    },
    CategoryData {
        slug: "gaming",
        name: ("Gaming", "Игры", "游戏"),
        description: (
            "Game accounts, keys and currency",
            "Игровые аккаунты, ключи и валюта",
            "游戏账号、激活码和货币",
        ),
        smm: false,
        subcategories: [
            ("steam", ("Steam Accounts", "Аккаунты Steam", "Steam 账号")),
            ("game-keys", ("Game Keys", "Игровые ключи", "游戏激活码")),
            (
                "in-game",
                ("In-game Currency", "Игровая валюта", "游戏货币"),
            ),
            ("gift-cards", ("Gift Cards", "Подарочные карты", "礼品卡")),
        ],
    },
    CategoryData {
        slug: "vpn-proxies",
        name: ("VPN & Proxies", "VPN и прокси", "VPN 与代理"),
        description: (
            "Private networks and proxies",
            "Частные сети и прокси",
            "私人网络与代理",
        ),
        smm: false,
        subcategories: [
            ("vpn", ("VPN Subscriptions", "Подписки VPN", "VPN 订阅")),
            (
                "residential",
                ("Residential Proxies", "Резидентные прокси", "住宅代理"),
            ),
            ("mobile", ("Mobile Proxies", "Мобильные прокси", "移动代理")),
            (
                "datacenter",
                ("Datacenter Proxies", "Серверные прокси", "数据中心代理"),
            ),
        ],
    },
    CategoryData {
        slug: "software",
        name: ("Software Keys", "Ключи ПО", "软件密钥"),
        description: (
            "Licence keys for software",
            "Лицензионные ключи для программ",
            "软件许可证密钥",
        ),
        smm: false,
        subcategories: [
            ("windows", ("Windows", "Windows", "Windows 系统")),
            ("office", ("Office", "Office", "Office 办公")),
            ("antivirus", ("Antivirus", "Антивирусы", "杀毒软件")),
            ("ai-tools", ("AI Tools", "ИИ-сервисы", "AI 工具")),
        ],
    },
];

pub const SHOPS: [&str; 20] = [
    "NordAccounts",
    "BoostLab",
    "PanelKing",
    "SocialRise",
    "FollowFactory",
    "KeyVault",
    "ProxyHub",
    "MailForge",
    "GameLoot",
    "ViralWave",
    "TrendPush",
    "PixelMart",
    "CloudKeys",
    "FastFame",
    "LikeStorm",
    "AccountDepot",
    "StreamBoost",
    "DigitalBazaar",
    "SafeLogins",
    "GrowthEngine",
];

/// Qualities of SMM services.
pub const SMM_QUALITIES: [Words; 8] = [
    ("Real HQ", "Реальные HQ", "真实高质量"),
    ("Bots", "Боты", "机器人"),
    ("Mixed", "Смешанные", "混合"),
    ("Targeted USA", "Таргет США", "美国定向"),
    ("Targeted Europe", "Таргет Европа", "欧洲定向"),
    ("Premium", "Премиум", "高级"),
    ("Cheapest", "Самые дешёвые", "最便宜"),
    ("Organic", "Органические", "自然增长"),
];

/// Start times of SMM services.
pub const SMM_STARTS: [Words; 4] = [
    ("Instant", "Мгновенно", "即时"),
    ("Start 0-1h", "Старт 0-1ч", "0-1小时开始"),
    ("Start 0-6h", "Старт 0-6ч", "0-6小时开始"),
    ("Start 24h", "Старт 24ч", "24小时开始"),
];

/// Variants of marketplace products.
pub const PRODUCT_VARIANTS: [Words; 8] = [
    (
        "USA, phone verified",
        "США, подтверждён телефон",
        "美国，手机验证",
    ),
    ("Aged 2019", "Стаж с 2019", "2019 年老号"),
    ("Fresh, IMAP on", "Новые, IMAP включён", "新号，已开 IMAP"),
    ("EU IP", "IP Европы", "欧洲 IP"),
    ("Premium", "Премиум", "高级"),
    ("Global", "Весь мир", "全球"),
    ("With 2FA", "С 2FA", "带两步验证"),
    ("Lifetime warranty", "Пожизненная гарантия", "终身质保"),
];

/// Names of subproducts, in position order.
pub const SUBPRODUCTS: [Words; 3] = [
    ("Standard", "Стандарт", "标准"),
    ("Premium", "Премиум", "高级"),
    ("Bulk pack", "Оптовый пакет", "批量包"),
];

pub const REVIEWS: [&str; 6] = [
    "Fast delivery, works as described.",
    "Good seller, will buy again.",
    "Some drop after a week but refill came quickly.",
    "Exactly what I ordered.",
    "Support answered in minutes.",
    "Decent quality for the price.",
];
