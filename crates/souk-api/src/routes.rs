//! Route tables that remember what they serve. The supplier and operator APIs are built
//! from them, and the same tables are what the OpenAPI document is checked against, so a
//! route added without documentation fails a test instead of going unnoticed.
//!
//! `Routes::new().route("/x", get(a).post(b))` reads like axum's own builder; `get`,
//! `post`, ... here wrap axum's and note the method.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{self, MethodRouter};
use axum::Router;

use crate::state::AppState;

/// The handlers of one path and the methods they answer.
pub struct Methods {
    router: MethodRouter<AppState>,
    methods: Vec<Method>,
}

/// A router plus its (method, path) table.
#[derive(Default)]
pub struct Routes {
    router: Router<AppState>,
    table: Vec<(Method, String)>,
}

macro_rules! method {
    ($($name:ident => $method:ident),* $(,)?) => {
        $(
            pub fn $name<H, T>(handler: H) -> Methods
            where
                H: Handler<T, AppState>,
                T: 'static,
            {
                Methods { router: routing::$name(handler), methods: vec![Method::$method] }
            }
        )*

        impl Methods {
            $(
                pub fn $name<H, T>(mut self, handler: H) -> Methods
                where
                    H: Handler<T, AppState>,
                    T: 'static,
                {
                    self.router = self.router.$name(handler);
                    self.methods.push(Method::$method);
                    self
                }
            )*
        }
    };
}

method!(get => GET, post => POST, put => PUT, patch => PATCH, delete => DELETE);

impl Routes {
    pub fn new() -> Routes {
        Routes::default()
    }

    pub fn route(mut self, path: &str, methods: Methods) -> Routes {
        self.table
            .extend(methods.methods.into_iter().map(|m| (m, path.to_owned())));
        self.router = self.router.route(path, methods.router);
        self
    }

    pub fn merge(mut self, other: Routes) -> Routes {
        self.table.extend(other.table);
        self.router = self.router.merge(other.router);
        self
    }

    /// Every (method, path) served, with `prefix` in front of each path.
    pub fn table(&self, prefix: &str) -> Vec<(Method, String)> {
        self.table
            .iter()
            .map(|(m, p)| (m.clone(), format!("{prefix}{p}")))
            .collect()
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

/// Every route of the supplier, account and operator APIs as `("get", "/api/admin/v2/me")`, sorted:
/// what the OpenAPI document must list.
pub fn documented_routes() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = crate::supplier::routes()
        .table(crate::supplier::PREFIX)
        .into_iter()
        .chain(crate::account::routes().table(crate::account::PREFIX))
        .chain(crate::operator::routes().table(crate::operator::PREFIX))
        .map(|(m, p)| (m.as_str().to_ascii_lowercase(), p))
        .collect();
    all.sort();
    all
}
