//! The console's list of services (products and SMM alike) with a search by name or
//! number, a page at a time, newest numbers last.

use crate::db::on_engine;
use crate::rows::row_struct;
use crate::{Result, Store};

row_struct! {
    /// A service as the console lists it (never its provider's key).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ConsoleService {
        pub number: i64,
        pub entity: String,
        pub product_type: String,
        pub name: String,
        pub shop: String,
        pub subcategory: String,
        pub rate: i64,
        pub provider_id: Option<String>,
        pub provider_rate: Option<i64>,
        pub active: bool,
    }
}

const FROM: &str = "FROM services s JOIN shops sh ON sh.id = s.shop_id \
     JOIN subcategories sc ON sc.id = s.subcategory_id \
     WHERE ($1 = '' OR LOWER(s.name) LIKE $2 ESCAPE '\\' OR CAST(s.number AS TEXT) = $1)";

impl Store {
    /// Services whose name contains `search` (case-insensitive) or whose number it is,
    /// by number, and how many match in all.
    pub async fn console_services(
        &self,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConsoleService>, i64)> {
        let search = search.trim();
        let pattern = format!(
            "%{}%",
            search
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        on_engine!(&self.db, pool => {
            let rows: Vec<ConsoleService> = sqlx::query_as(&format!(
                "SELECT s.number, s.entity, s.product_type, s.name, sh.name AS shop, sc.name AS subcategory, \
                 s.rate, s.provider_id, s.provider_rate, s.active {FROM} ORDER BY s.number LIMIT $3 OFFSET $4"
            ))
            .bind(search)
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) {FROM}"))
                .bind(search)
                .bind(&pattern)
                .fetch_one(pool)
                .await?;
            Ok((rows, total))
        })
    }
}
