//! Bar charts as SVG, drawn on the server (no script, no chart library): grouped bars,
//! one group per label, scaled to the largest value, with a legend. Every chart on the
//! console has a table of the same numbers next to it.

use maud::{html, Markup};

/// One series: its name, its colour and a value per label.
pub struct Series<'a> {
    pub name: &'a str,
    pub color: &'a str,
    pub values: Vec<i64>,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 8.0;
const BOTTOM: f64 = 26.0;
const TOP: f64 = 10.0;

/// Grouped bars; negative values are drawn at zero height (profit below zero shows in
/// its table). `id` names the chart for tests and screenshots.
pub fn bars(id: &str, title: &str, labels: &[String], series: &[Series<'_>]) -> Markup {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let groups = labels.len().max(1) as f64;
    let group_w = (WIDTH - LEFT) / groups;
    let bar_w = (group_w * 0.8 / series.len().max(1) as f64).max(1.0);
    let plot_h = HEIGHT - BOTTOM - TOP;
    // Label every n-th group so they never overlap.
    let every = (labels.len() / 12).max(1);
    html! {
        figure.chart id=(id) {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(title) preserveAspectRatio="none" {
                line x1=(LEFT) y1=(HEIGHT - BOTTOM) x2=(WIDTH) y2=(HEIGHT - BOTTOM) stroke="#9aa5b1" stroke-width="1" {}
                @for (g, label) in labels.iter().enumerate() {
                    @for (k, s) in series.iter().enumerate() {
                        @let v = s.values.get(g).copied().unwrap_or(0).max(0) as f64;
                        @let h = v / max * plot_h;
                        rect x=(format!("{:.1}", LEFT + g as f64 * group_w + group_w * 0.1 + k as f64 * bar_w))
                             y=(format!("{:.1}", HEIGHT - BOTTOM - h))
                             width=(format!("{:.1}", bar_w)) height=(format!("{:.1}", h)) fill=(s.color) {
                            title { (label) " · " (s.name) }
                        }
                    }
                    @if g % every == 0 {
                        text x=(format!("{:.1}", LEFT + g as f64 * group_w + group_w / 2.0)) y=(HEIGHT - 8.0)
                             font-size="11" text-anchor="middle" fill="#5d6b78" { (short(label)) }
                    }
                }
            }
            p.legend {
                @for s in series {
                    // A swatch as SVG: the pages' policy allows no inline styles.
                    span { svg.swatch xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" width="12" height="12" { rect width="10" height="10" rx="2" fill=(s.color) {} } " " (s.name) }
                }
            }
        }
    }
}

/// `2026-12-01` as `12-01`; other labels as they are.
fn short(label: &str) -> &str {
    if label.len() == 10 && label.as_bytes()[4] == b'-' {
        &label[5..]
    } else {
        label
    }
}
