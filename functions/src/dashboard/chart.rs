//! The chart of requests per hour, drawn on the server as inline SVG: stacked bars by status
//! class, no script, no external font, so it renders offline and in any browser.
//!
//! Written with `format!` rather than maud: SVG's bars and lines are self-closing elements
//! (`<rect .../>`), which maud cannot write. Everything written here is a number or a constant of
//! this file, except each hour's time, which maud escapes.

use std::fmt::Write;

use shared::store::Tally;

use maud::html;
use shared::utc::Utc;

/// Bar colours, one per status class (the page's legend uses the same).
pub const POSITIVE: &str = "#1f8a4c";
pub const NEGATIVE: &str = "#d48806";
pub const FAILED: &str = "#c62828";

/// The drawing's size and margins, in SVG user units, and how often an hour is labelled.
pub struct Layout {
    /// The element id; its title and description ids derive from it.
    pub id: &'static str,
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    font: f64,
    label_every: usize,
}

/// For wide screens: labels every 3 hours.
pub const WIDE: Layout = Layout {
    id: "hourly-chart",
    width: 800.0,
    height: 260.0,
    left: 48.0,
    right: 780.0,
    top: 14.0,
    bottom: 226.0,
    font: 12.0,
    label_every: 3,
};

/// For phones: drawn about as wide as the screen, so its text stays legible without scrolling.
pub const COMPACT: Layout = Layout {
    id: "hourly-chart-compact",
    width: 360.0,
    height: 220.0,
    left: 30.0,
    right: 340.0,
    top: 10.0,
    bottom: 192.0,
    font: 11.0,
    label_every: 6,
};

/// The smallest axis top of the form 4 x (1, 2 or 5 x 10^k) that holds `max`.
fn axis_top(max: u64) -> u64 {
    let mut unit = 1u64;
    loop {
        for step in [unit, unit * 2, unit * 5] {
            if step.saturating_mul(4) >= max {
                return step * 4;
            }
        }
        unit = unit.saturating_mul(10);
    }
}

/// `hours` (oldest first, one per hour) as an SVG bar chart drawn to `layout`.
pub fn hourly(hours: &[(i64, Tally)], layout: &Layout) -> String {
    let Layout {
        id,
        width,
        height,
        left,
        right,
        top,
        bottom,
        font,
        label_every,
    } = *layout;
    let max = hours.iter().map(|(_, t)| t.requests()).max().unwrap_or(0);
    let axis = axis_top(max.max(1));
    let total: u64 = hours.iter().map(|(_, t)| t.requests()).sum();
    let scale = (bottom - top) / axis as f64;
    let slot = (right - left) / hours.len().max(1) as f64;
    let bar = (slot * 0.68).max(1.0);
    let class = if id == WIDE.id { "wide" } else { "compact" };
    // Every few hours counting back from the current one, which is always labelled.
    let labelled: std::collections::HashSet<usize> =
        (0..hours.len()).rev().step_by(label_every.max(1)).collect();

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg id="{id}" class="chart {class}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">Requests per hour, last 24 hours (UTC)</title><desc id="{id}-desc">{total} requests in the last 24 hours; the busiest hour had {max}.</desc>"##
    );
    for i in 0..=4u64 {
        let value = axis / 4 * i;
        let y = bottom - value as f64 * scale;
        let _ = write!(
            svg,
            r##"<line x1="{left}" x2="{right}" y1="{y:.1}" y2="{y:.1}" stroke="{}" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="{font}" fill="#5b6577">{value}</text>"##,
            if i == 0 { "#9aa4b5" } else { "#e3e7ee" },
            left - 6.0,
            y + font / 3.0,
        );
    }
    for (i, (hour, tally)) in hours.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let start = Utc::of(hour * 3_600);
        let label = format!("{:02}:00", start.hour);
        let _ = write!(
            svg,
            r##"<g class="hour" data-hour="{}" data-requests="{}"><title>{} – {:02}:00 UTC: {} requests ({} positive, {} negative, {} failed)</title>"##,
            html! { (start.rfc3339()) }.into_string(),
            tally.requests(),
            label,
            (start.hour + 1) % 24,
            tally.requests(),
            tally.positive,
            tally.negative,
            tally.failed,
        );
        let mut y = bottom;
        for (count, colour) in [
            (tally.positive, POSITIVE),
            (tally.negative, NEGATIVE),
            (tally.failed, FAILED),
        ] {
            if count == 0 {
                continue;
            }
            let h = count as f64 * scale;
            y -= h;
            let _ = write!(
                svg,
                r##"<rect x="{x:.1}" y="{y:.1}" width="{bar:.1}" height="{h:.1}" fill="{colour}"/>"##
            );
        }
        svg.push_str("</g>");
        if labelled.contains(&i) {
            let _ = write!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{font}" fill="#5b6577">{label}</text>"##,
                x + bar / 2.0,
                bottom + font + 6.0,
            );
        }
    }
    if total == 0 {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{:.0}" fill="#5b6577">No API requests in the last 24 hours</text>"##,
            (left + right) / 2.0,
            (top + bottom) / 2.0,
            font + 2.0,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(counts: &[(u64, u64, u64)]) -> Vec<(i64, Tally)> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &(positive, negative, failed))| {
                (
                    480_000 + i as i64,
                    Tally {
                        positive,
                        negative,
                        failed,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn the_axis_top_is_a_round_number_that_holds_the_peak() {
        assert_eq!(axis_top(1), 4);
        assert_eq!(axis_top(4), 4);
        assert_eq!(axis_top(5), 8);
        assert_eq!(axis_top(11), 20);
        assert_eq!(axis_top(41), 80);
        assert_eq!(axis_top(1_234), 2_000);
    }

    #[test]
    fn every_hour_is_a_group_with_one_bar_per_class_that_occurred() {
        let mut counts = vec![(0, 0, 0); 24];
        counts[23] = (4, 5, 2);
        counts[0] = (1, 0, 0);
        let svg = hourly(&hours(&counts), &WIDE);
        assert!(svg.starts_with(r#"<svg id="hourly-chart" class="chart wide""#));
        assert_eq!(svg.matches(r#"<g class="hour""#).count(), 24);
        assert_eq!(
            svg.matches("</text>").count(),
            5 + 8,
            "5 axis values, every 3rd hour"
        );
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(svg.contains(r#"data-requests="11""#));
        assert!(svg.contains("11 requests (4 positive, 5 negative, 2 failed)"));
        assert!(!svg.contains("No API requests"));
        assert_eq!(svg.matches("http").count(), 1, "only the xmlns is a URL");
        let compact = hourly(&hours(&counts), &COMPACT);
        assert_eq!(compact.matches(r#"<g class="hour""#).count(), 24);
        assert_eq!(
            compact.matches("</text>").count(),
            5 + 4,
            "5 axis values, every 6th hour"
        );
    }

    #[test]
    fn an_empty_day_says_so() {
        let svg = hourly(&hours(&[(0, 0, 0); 24]), &COMPACT);
        assert!(svg.contains("No API requests in the last 24 hours"));
        assert_eq!(svg.matches("<rect").count(), 0);
    }
}
