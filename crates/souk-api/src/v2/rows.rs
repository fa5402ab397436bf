//! `services` and `products` rows, rendered once per catalogue snapshot and language.
//! Only `max` and `stock` move without a new snapshot (stock cells change in place), so
//! each row is kept as three pieces of JSON around those two numbers; a request copies
//! the pieces and prints the numbers.

use std::sync::OnceLock;

use serde::Serialize;
use souk_core::catalogue::{Catalogue, EntityType, Service};
use souk_core::{Lang, Money};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceRowView<'a> {
    id: &'a str,
    service: i64,
    name: &'a str,
    #[serde(rename = "type")]
    type_name: &'a str,
    category: &'a str,
    rate: String,
    min: i64,
    max: i64,
    refill: bool,
    cancel: bool,
    stock: i64,
    entity_type: &'static str,
    auto_delivery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    dripfeed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    image_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_recommended: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subcategory_id: Option<&'a str>,
}

/// The row with placeholders for `max` and `stock`.
fn row<'a>(c: &'a Catalogue, s: &'a Service, lang: Lang) -> ServiceRowView<'a> {
    let product = s.entity == EntityType::Product;
    ServiceRowView {
        id: &s.id,
        service: s.number,
        name: s.name.get(lang),
        type_name: &s.type_name,
        category: c
            .category(&s.category_id)
            .map_or("", |cat| cat.name.get(lang)),
        rate: s.rate().display2(),
        min: s.min(),
        max: MAX_HOLE,
        refill: s.refill,
        cancel: s.cancel,
        stock: STOCK_HOLE,
        entity_type: s.entity.as_str(),
        auto_delivery: s.auto_delivery(),
        dripfeed: (!product).then_some(s.dripfeed),
        description: product.then(|| s.description.get(lang)),
        image_url: product.then(|| s.image_url.as_deref().unwrap_or("")),
        is_recommended: product.then_some(s.recommended),
        subcategory_id: product.then_some(s.subcategory_id.as_str()),
    }
}

/// Numbers no real row carries, marking where `max` and `stock` go.
const MAX_HOLE: i64 = -9_007_199_254_740_991;
const STOCK_HOLE: i64 = -9_007_199_254_740_993;

struct RowParts {
    head: Box<[u8]>,
    mid: Box<[u8]>,
    tail: Box<[u8]>,
}

/// The rendered rows of one snapshot, made per language on first use.
#[derive(Default)]
pub struct RenderedRows {
    per_lang: [OnceLock<Vec<RowParts>>; Lang::ALL.len()],
}

impl std::fmt::Debug for RenderedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderedRows(..)")
    }
}

fn render(c: &Catalogue, s: &Service, lang: Lang) -> RowParts {
    let json = serde_json::to_vec(&row(c, s, lang)).unwrap_or_default();
    let max = format!("\"max\":{MAX_HOLE}");
    let stock = format!("\"stock\":{STOCK_HOLE}");
    let find = |needle: &str| {
        json.windows(needle.len())
            .position(|w| w == needle.as_bytes())
    };
    match (find(&max), find(&stock)) {
        (Some(m), Some(st)) if m < st => RowParts {
            head: json[..m + 6].into(),
            mid: json[m + max.len()..st + 8].into(),
            tail: json[st + stock.len()..].into(),
        },
        // Unreachable with the field order above; an empty row would be a bug, not a leak.
        _ => RowParts {
            head: Box::default(),
            mid: Box::default(),
            tail: Box::default(),
        },
    }
}

impl RenderedRows {
    fn rows(&self, c: &Catalogue, lang: Lang) -> &[RowParts] {
        let slot = Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0);
        self.per_lang[slot].get_or_init(|| c.services.iter().map(|s| render(c, s, lang)).collect())
    }

    /// Writes `[row, row, ...]` for the services at `indexes`.
    pub fn write(&self, c: &Catalogue, lang: Lang, indexes: &[usize], out: &mut Vec<u8>) {
        let rows = self.rows(c, lang);
        let mut numbers = itoa::Buffer::new();
        out.push(b'[');
        for (n, &i) in indexes.iter().enumerate() {
            let (Some(parts), Some(s)) = (rows.get(i), c.services.get(i)) else {
                continue;
            };
            if n > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&parts.head);
            out.extend_from_slice(numbers.format(s.max()).as_bytes());
            out.extend_from_slice(&parts.mid);
            out.extend_from_slice(numbers.format(s.stock()).as_bytes());
            out.extend_from_slice(&parts.tail);
        }
        out.push(b']');
    }
}

/// Writes `[row, row, ...]` for the services at `indexes` with each rate converted (a
/// display currency): rendered per request, not kept, since few ask for one.
pub fn write_converted(
    c: &Catalogue,
    lang: Lang,
    indexes: &[usize],
    convert: &dyn Fn(Money) -> Money,
    out: &mut Vec<u8>,
) {
    out.push(b'[');
    for (n, &i) in indexes.iter().enumerate() {
        let Some(s) = c.services.get(i) else {
            continue;
        };
        if n > 0 {
            out.push(b',');
        }
        let mut r = row(c, s, lang);
        r.rate = convert(s.rate()).display2();
        r.max = s.max();
        r.stock = s.stock();
        // Writing into a Vec cannot fail.
        serde_json::to_writer(&mut *out, &r).ok();
    }
    out.push(b']');
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_core::catalogue::{Category, ProductType, Shop, StockBoard, Subcategory, Subproduct};
    use souk_core::{Money, Text};

    #[test]
    fn pieces_reassemble_to_the_serialized_row() {
        let board = StockBoard::default();
        let mut name = Text::new("Gmail \"max\":1 ™");
        name.set(Lang::Ru, "Почта");
        let product = Service {
            number: 2,
            id: "b".repeat(24),
            entity: EntityType::Product,
            product_type: ProductType::Inventory,
            shop_id: "s".into(),
            category_id: "c".into(),
            subcategory_id: "sc".into(),
            name,
            description: Text::new("d"),
            type_name: "Default".into(),
            image_url: None,
            rate: Money::ZERO,
            min: 1,
            max: 1,
            refill: false,
            refill_days: None,
            cancel: false,
            dripfeed: false,
            recommended: true,
            subproducts: vec![Subproduct {
                id: "p".into(),
                name: Text::new("p"),
                price: Money::from_micros(25_000_000),
                min: 1,
                max: 50,
                position: 1,
                stock: board.cell("p", 1, 42),
            }],
        };
        let c = Catalogue::build(
            vec![Category {
                id: "c".into(),
                slug: "c".into(),
                name: Text::new("Cat"),
                description: Text::new(""),
                image_url: None,
                position: 1,
                active: true,
            }],
            vec![Subcategory {
                id: "sc".into(),
                category_id: "c".into(),
                slug: "sc".into(),
                name: Text::new("Sub"),
                description: Text::new(""),
                image_url: None,
                position: 1,
                active: true,
            }],
            vec![Shop {
                id: "s".into(),
                name: "S".into(),
                active: true,
                review_count: 0,
                rating_sum: 0,
            }],
            vec![product],
        );
        let rendered = RenderedRows::default();
        for lang in [Lang::En, Lang::Ru] {
            let mut out = Vec::new();
            rendered.write(&c, lang, &[0], &mut out);
            let mut view = row(&c, &c.services[0], lang);
            view.max = c.services[0].max();
            view.stock = c.services[0].stock();
            let expected = serde_json::to_vec(&vec![view]).expect("json");
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected)
            );
        }
        // Stock moves without a new rendering.
        board.apply("p", 2, 7);
        let mut out = Vec::new();
        rendered.write(&c, Lang::En, &[0], &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("json");
        assert_eq!(
            (v[0]["max"].clone(), v[0]["stock"].clone()),
            (serde_json::json!(7), serde_json::json!(7))
        );
    }
}
