//! `services` and `products` rows, rendered once per catalogue snapshot and language.
//! Only `max` and `stock` move without a new snapshot (stock cells change in place), so
//! each row is kept as three pieces of JSON around those two numbers; a request copies
//! the pieces and prints the numbers. Rows are rendered and kept in blocks of 256, each
//! the first time one of its rows is asked for: a box per piece cost more than the JSON
//! itself at 100,000 services, and one buffer for all rows more than the blocks a node
//! answering pages needs.
//!
//! Long lists are streamed a chunk at a time instead of built whole per request, and the
//! whole list is kept gzipped once per language and stock state for clients that accept
//! it.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use souk_core::catalogue::{Catalogue, EntityType, Service};
use souk_core::{Lang, Money};

use crate::cache::Snapshot;

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
        subcategory_id: product.then_some(&*s.subcategory_id),
    }
}

/// Numbers no real row carries, marking where `max` and `stock` go.
const MAX_HOLE: i64 = -9_007_199_254_740_991;
const STOCK_HOLE: i64 = -9_007_199_254_740_993;

/// Rows per streamed chunk (about 100 KB of JSON); shorter lists are answered whole.
pub const ROWS_PER_CHUNK: usize = 256;

/// Rows rendered together and kept together: a block is rendered the first time one of
/// its rows is asked for.
const ROWS_PER_BLOCK: usize = 256;

/// One language's rendered rows, in blocks of [`ROWS_PER_BLOCK`]. A node answering
/// pages only holds the blocks those pages touched (at 100,000 services all rows of one
/// language are ~35 MB), and each block is its own small allocation: one buffer for all
/// rows grew by doubling through sizes the allocator then kept.
struct Rendered {
    blocks: Box<[OnceLock<Block>]>,
    lang: Lang,
}

struct Block {
    /// Every row's head, mid and tail, back to back.
    bytes: Box<[u8]>,
    /// Per row, where its head, mid and tail end in `bytes` (a row starts where the
    /// previous one ends).
    ends: Box<[[u32; 3]]>,
}

impl Rendered {
    fn new(c: &Catalogue, lang: Lang) -> Rendered {
        Rendered {
            blocks: (0..c.services.len().div_ceil(ROWS_PER_BLOCK))
                .map(|_| OnceLock::new())
                .collect(),
            lang,
        }
    }

    fn block(&self, c: &Catalogue, at: usize) -> Option<&Block> {
        let cell = self.blocks.get(at)?;
        Some(cell.get_or_init(|| Block::build(c, self.lang, at)))
    }

    /// Writes row `i` with its live numbers; false when there is none.
    fn write_row(
        &self,
        c: &Catalogue,
        i: usize,
        numbers: &mut itoa::Buffer,
        out: &mut Vec<u8>,
    ) -> bool {
        let (Some(block), Some(s)) = (self.block(c, i / ROWS_PER_BLOCK), c.services.get(i)) else {
            return false;
        };
        let j = i % ROWS_PER_BLOCK;
        let Some(&[head, mid, end]) = block.ends.get(j) else {
            return false;
        };
        let start = if j == 0 { 0 } else { block.ends[j - 1][2] };
        let [start, head, mid, end] = [start, head, mid, end].map(|n| n as usize);
        out.extend_from_slice(&block.bytes[start..head]);
        out.extend_from_slice(numbers.format(s.max()).as_bytes());
        out.extend_from_slice(&block.bytes[head..mid]);
        out.extend_from_slice(numbers.format(s.stock()).as_bytes());
        out.extend_from_slice(&block.bytes[mid..end]);
        true
    }
}

impl Block {
    fn build(c: &Catalogue, lang: Lang, at: usize) -> Block {
        let first = at * ROWS_PER_BLOCK;
        let services = c.services.get(first..).unwrap_or_default();
        let services = &services[..services.len().min(ROWS_PER_BLOCK)];
        let mut bytes = Vec::with_capacity(services.len() * 400);
        let mut ends = Vec::with_capacity(services.len());
        let mut json = Vec::with_capacity(1024);
        let max = format!("\"max\":{MAX_HOLE}");
        let stock = format!("\"stock\":{STOCK_HOLE}");
        // A block is far below 4 GB, so its offsets fit in u32.
        let len = |b: &Vec<u8>| b.len() as u32;
        for s in services {
            json.clear();
            // Writing into a Vec cannot fail.
            serde_json::to_writer(&mut json, &row(c, s, lang)).ok();
            let find = |needle: &str| memchr::memmem::find(&json, needle.as_bytes());
            let start = len(&bytes);
            match (find(&max), find(&stock)) {
                (Some(m), Some(st)) if m < st => {
                    bytes.extend_from_slice(&json[..m + 6]);
                    let head = len(&bytes);
                    bytes.extend_from_slice(&json[m + max.len()..st + 8]);
                    let mid = len(&bytes);
                    bytes.extend_from_slice(&json[st + stock.len()..]);
                    ends.push([head, mid, len(&bytes)]);
                }
                // Unreachable with the field order above; an empty row would be a bug,
                // not a leak.
                _ => ends.push([start; 3]),
            }
        }
        Block {
            bytes: bytes.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
        }
    }
}

/// A whole list gzipped and the stock epoch it was rendered at, if made yet.
pub type GzippedSlot = tokio::sync::Mutex<Option<(u64, Bytes)>>;

/// The rendered rows of one snapshot, made per language on first use, and the whole
/// lists gzipped.
#[derive(Default)]
pub struct RenderedRows {
    per_lang: [OnceLock<Rendered>; Lang::ALL.len()],
    /// Per kind (`services`, `products`) and language: the gzipped whole list and the
    /// stock epoch it was rendered at.
    gzipped: [[GzippedSlot; Lang::ALL.len()]; 2],
}

impl std::fmt::Debug for RenderedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RenderedRows(..)")
    }
}

fn slot(lang: Lang) -> usize {
    Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)
}

impl RenderedRows {
    fn rendered(&self, c: &Catalogue, lang: Lang) -> &Rendered {
        self.per_lang[slot(lang)].get_or_init(|| Rendered::new(c, lang))
    }

    /// Writes `[row, row, ...]` for the services at `indexes`.
    pub fn write(&self, c: &Catalogue, lang: Lang, indexes: &[usize], out: &mut Vec<u8>) {
        let rendered = self.rendered(c, lang);
        let mut numbers = itoa::Buffer::new();
        out.push(b'[');
        let mut written = 0usize;
        for &i in indexes {
            if written > 0 {
                out.push(b',');
            }
            if rendered.write_row(c, i, &mut numbers, out) {
                written += 1;
            } else if written > 0 {
                out.pop();
            }
        }
        out.push(b']');
    }

    /// The slot of the gzipped whole list of `products` (else `services`) in `lang`.
    pub fn gzipped(&self, products: bool, lang: Lang) -> &GzippedSlot {
        &self.gzipped[usize::from(products)][slot(lang)]
    }
}

/// A list answer a chunk of rows at a time: `head`, `[`, the rows at `indexes`, `]`,
/// `tail`. Holds the snapshot, so a long answer reads one catalogue to its end.
pub struct RowChunks {
    snapshot: Arc<Snapshot>,
    lang: Lang,
    indexes: Vec<usize>,
    next: usize,
    written: usize,
    head: Option<Vec<u8>>,
    tail: Option<Vec<u8>>,
    numbers: itoa::Buffer,
}

impl RowChunks {
    pub fn new(
        snapshot: Arc<Snapshot>,
        lang: Lang,
        indexes: Vec<usize>,
        head: Vec<u8>,
        tail: Vec<u8>,
    ) -> RowChunks {
        RowChunks {
            snapshot,
            lang,
            indexes,
            next: 0,
            written: 0,
            head: Some(head),
            tail: Some(tail),
            numbers: itoa::Buffer::new(),
        }
    }

    /// True when the answer fits one chunk.
    pub fn is_short(&self) -> bool {
        self.indexes.len() <= ROWS_PER_CHUNK
    }

    /// Everything at once.
    pub fn into_vec(self) -> Vec<u8> {
        let mut out = Vec::new();
        for chunk in self {
            out.extend_from_slice(&chunk);
        }
        out
    }

    /// Everything, gzipped.
    pub fn gzip(self) -> std::io::Result<Bytes> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        for chunk in self {
            encoder.write_all(&chunk)?;
        }
        Ok(Bytes::from(encoder.finish()?))
    }
}

impl Iterator for RowChunks {
    type Item = Bytes;

    fn next(&mut self) -> Option<Bytes> {
        let mut out = match self.head.take() {
            Some(mut head) => {
                head.push(b'[');
                head
            }
            None if self.tail.is_none() => return None,
            None => Vec::new(),
        };
        let end = self
            .next
            .saturating_add(ROWS_PER_CHUNK)
            .min(self.indexes.len());
        out.reserve((end - self.next) * 400 + 128);
        let s = &*self.snapshot;
        let rendered = s.rows.rendered(&s.catalogue, self.lang);
        for &i in &self.indexes[self.next..end] {
            if self.written > 0 {
                out.push(b',');
            }
            if rendered.write_row(&s.catalogue, i, &mut self.numbers, &mut out) {
                self.written += 1;
            } else if self.written > 0 {
                out.pop();
            }
        }
        self.next = end;
        if self.next == self.indexes.len() {
            if let Some(tail) = self.tail.take() {
                out.push(b']');
                out.extend_from_slice(&tail);
            }
        }
        Some(Bytes::from(out))
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
            id: "b".repeat(24).into(),
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
                stock: board.cell(&"p".into(), 1, 42),
            }],
        };
        let c = one_subcategory(vec![product]);
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

    fn smm_catalogue(n: i64) -> Catalogue {
        let services = (1..=n)
            .map(|number| Service {
                number,
                id: format!("{number:024x}").into(),
                entity: EntityType::Smm,
                product_type: ProductType::Manual,
                shop_id: "s".into(),
                category_id: "c".into(),
                subcategory_id: "sc".into(),
                name: Text::new(format!("Followers #{number}")),
                description: Text::new("d"),
                type_name: "Default".into(),
                image_url: None,
                rate: Money::from_micros(number * 10_000),
                min: 10,
                max: 1000 + number,
                refill: number % 2 == 0,
                refill_days: None,
                cancel: false,
                dripfeed: number % 3 == 0,
                recommended: false,
                subproducts: Vec::new(),
            })
            .collect();
        one_subcategory(services)
    }

    /// A catalogue of `services` in one category, subcategory and shop.
    fn one_subcategory(services: Vec<souk_core::catalogue::Service>) -> Catalogue {
        Catalogue::build(
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
            services,
        )
    }

    #[test]
    fn rows_of_every_block_are_the_serialized_rows() {
        let c = smm_catalogue((ROWS_PER_BLOCK * 2 + 3) as i64);
        let rendered = RenderedRows::default();
        // A later block first, then rows on both sides of each boundary.
        for i in [
            ROWS_PER_BLOCK * 2 + 2,
            0,
            ROWS_PER_BLOCK - 1,
            ROWS_PER_BLOCK,
            ROWS_PER_BLOCK * 2,
        ] {
            let mut out = Vec::new();
            rendered.write(&c, Lang::En, &[i], &mut out);
            let mut view = row(&c, &c.services[i], Lang::En);
            view.max = c.services[i].max();
            view.stock = c.services[i].stock();
            let expected = serde_json::to_vec(&vec![view]).expect("json");
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected),
                "row {i}"
            );
        }
        let mut out = Vec::new();
        rendered.write(&c, Lang::En, &[c.services.len()], &mut out);
        assert_eq!(out, b"[]");
    }

    #[test]
    fn chunks_and_gzip_carry_the_whole_answer() {
        let rows = ROWS_PER_CHUNK * 2 + 7;
        let snapshot = Arc::new(Snapshot {
            version: 1,
            catalogue: smm_catalogue(rows as i64),
            rows: RenderedRows::default(),
        });
        let indexes: Vec<usize> = (0..rows).collect();
        let mut expected = b"{\"services\":".to_vec();
        snapshot
            .rows
            .write(&snapshot.catalogue, Lang::En, &indexes, &mut expected);
        expected.extend_from_slice(b",\"total\":1}");
        let chunks = || {
            RowChunks::new(
                snapshot.clone(),
                Lang::En,
                indexes.clone(),
                b"{\"services\":".to_vec(),
                b",\"total\":1}".to_vec(),
            )
        };
        assert!(!chunks().is_short());
        assert_eq!(chunks().count(), 3);
        assert_eq!(chunks().into_vec(), expected);
        let v: serde_json::Value = serde_json::from_slice(&expected).expect("json");
        assert_eq!(v["services"].as_array().map(Vec::len), Some(rows));

        let gzipped = chunks().gzip().expect("gzip");
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gzipped[..]), &mut plain)
            .expect("gunzip");
        assert_eq!(plain, expected);

        // An empty list is one chunk, brackets and envelope.
        let empty = RowChunks::new(
            snapshot.clone(),
            Lang::En,
            Vec::new(),
            b"{".to_vec(),
            b"}".to_vec(),
        );
        assert!(empty.is_short());
        assert_eq!(empty.into_vec(), b"{[]}");
    }
}
