//! The chart of requests per hour, drawn on the server as inline SVG: stacked bars by status
//! class on the left axis, and the hour's p95 handler duration as a line on the right axis; no
//! script, no external font, so it renders offline and in any browser.
//!
//! Written with `format!` rather than maud: SVG's bars and lines are self-closing elements
//! (`<rect .../>`), which maud cannot write. Everything written here is a number or a constant of
//! this file, except each hour's time, which maud escapes.

use std::fmt::Write;

use shared::metrics::Hour;

use maud::html;
use shared::utc::Utc;

/// Bar colours, one per status class (the page's legend uses the same).
pub const POSITIVE: &str = "#1f8a4c";
pub const NEGATIVE: &str = "#d48806";
pub const FAILED: &str = "#c62828";
/// The p95 line and its axis.
pub const LATENCY: &str = "#3949ab";

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
    right: 736.0,
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
    right: 312.0,
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

/// The smallest axis top of the form 4 x (1, 2 or 5 x 10^k) ms that holds `max` ms, at least 4 ms
/// (so a line of sub-millisecond hours is not drawn as if it were slow).
fn latency_axis_top(max: f64) -> f64 {
    axis_top(max.ceil().max(4.0) as u64) as f64
}

/// A duration for a label: `0.84 ms`, `12 ms`, `1.2 s`.
pub fn duration(ms: f64) -> String {
    if ms >= 1_000.0 {
        format!("{:.1} s", ms / 1_000.0)
    } else if ms >= 10.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

/// `hours` (oldest first, one per hour) as an SVG bar chart with a p95 line, drawn to `layout`.
pub fn hourly(hours: &[Hour], layout: &Layout) -> String {
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
    let max = hours
        .iter()
        .map(|h| h.figures.tally.requests())
        .max()
        .unwrap_or(0);
    let axis = axis_top(max.max(1));
    let total: u64 = hours.iter().map(|h| h.figures.tally.requests()).sum();
    let p95s: Vec<Option<f64>> = hours
        .iter()
        .map(|h| h.figures.latency.quantile(0.95))
        .collect();
    let slowest = p95s.iter().flatten().copied().fold(0.0, f64::max);
    let ms_axis = latency_axis_top(slowest);
    let ms_scale = (bottom - top) / ms_axis;
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
        r##"<svg id="{id}" class="chart {class}" viewBox="0 0 {width} {height}" role="img" aria-labelledby="{id}-title {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-title">Requests per hour and their p95 duration, last 24 hours (UTC)</title><desc id="{id}-desc">{total} requests in the last 24 hours; the busiest hour had {max}. {slow}</desc>"##,
        slow = if slowest > 0.0 {
            format!("The slowest hour's p95 was {}.", duration(slowest))
        } else {
            "No durations were recorded.".to_string()
        },
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
        let _ = write!(
            svg,
            r##"<text class="ms-axis" x="{:.1}" y="{:.1}" text-anchor="start" font-size="{font}" fill="{LATENCY}">{}</text>"##,
            right + 6.0,
            y + font / 3.0,
            duration(ms_axis / 4.0 * i as f64).replace(".00 ms", " ms"),
        );
    }
    let mut line = String::new();
    for (i, (h, p95)) in hours.iter().zip(&p95s).enumerate() {
        let tally = h.figures.tally;
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let start = Utc::of(h.hour * 3_600);
        let label = format!("{:02}:00", start.hour);
        let _ = write!(
            svg,
            r##"<g class="hour" data-hour="{}" data-requests="{}" data-p95="{}"><title>{} – {:02}:00 UTC: {} requests ({} positive, {} negative, {} failed){}{}</title>"##,
            html! { (start.rfc3339()) }.into_string(),
            tally.requests(),
            p95.map_or(String::new(), |ms| format!("{ms:.3}")),
            label,
            (start.hour + 1) % 24,
            tally.requests(),
            tally.positive,
            tally.negative,
            tally.failed,
            p95.map_or(String::new(), |ms| format!("; p95 {}", duration(ms))),
            if h.lost > 0 {
                format!("; {} counts lost: incomplete", h.lost)
            } else {
                String::new()
            },
        );
        if let Some(ms) = p95 {
            // Hours without durations break the line rather than draw it through zero.
            let joined = i > 0 && p95s[i - 1].is_some();
            let _ = write!(
                line,
                "{}{:.1} {:.1}",
                if joined { " L" } else { " M" },
                x + bar / 2.0,
                bottom - ms.min(ms_axis) * ms_scale,
            );
        }
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
    if !line.is_empty() {
        let _ = write!(
            svg,
            r##"<path class="p95" d="{}" fill="none" stroke="{LATENCY}" stroke-width="2" stroke-linejoin="round"/>"##,
            line.trim_start(),
        );
        // A lone hour has no segment to draw: a dot shows it.
        for (i, p95) in p95s.iter().enumerate() {
            let alone = p95.is_some()
                && (i == 0 || p95s[i - 1].is_none())
                && p95s.get(i + 1).is_none_or(|next| next.is_none());
            if let (true, Some(ms)) = (alone, p95) {
                let _ = write!(
                    svg,
                    r##"<circle class="p95" cx="{:.1}" cy="{:.1}" r="3" fill="{LATENCY}"/>"##,
                    left + slot * i as f64 + slot / 2.0,
                    bottom - ms.min(ms_axis) * ms_scale,
                );
            }
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

    use shared::store::{Figures, Tally};

    fn hours(counts: &[(u64, u64, u64)]) -> Vec<Hour> {
        counts
            .iter()
            .enumerate()
            .map(|(i, &(positive, negative, failed))| {
                let mut figures = Figures::default();
                let tally = Tally {
                    positive,
                    negative,
                    failed,
                };
                let bucket = shared::latency::bucket_of(10.0 * (i + 1) as f64);
                figures.add(Some(bucket), tally);
                Hour {
                    hour: 480_000 + i as i64,
                    figures,
                    lost: 0,
                }
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
            5 + 5 + 8,
            "5 values on each axis, every 3rd hour"
        );
        // The p95 line: two hours with traffic, far apart, are two dots, not a segment.
        assert_eq!(svg.matches(r#"<circle class="p95""#).count(), 2);
        let p95 = shared::latency::value_of(shared::latency::bucket_of(240.0));
        assert!(
            svg.contains(&format!("; p95 {}</title>", duration(p95))),
            "{svg}"
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
            5 + 5 + 4,
            "5 values on each axis, every 6th hour"
        );
    }

    #[test]
    fn the_p95_line_joins_hours_with_durations_and_breaks_where_there_are_none() {
        let mut counts = vec![(3, 0, 0); 24];
        counts[10] = (0, 0, 0);
        let svg = hourly(&hours(&counts), &WIDE);
        let d = svg
            .split(r#"<path class="p95" d=""#)
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a p95 line");
        assert_eq!(
            d.matches('M').count(),
            2,
            "broken once, at the empty hour: {d}"
        );
        assert_eq!(d.matches('L').count(), 21, "{d}");
        // The slowest hour (the last, 240 ms) is the highest point, under the axis top.
        let ys: Vec<f64> = d
            .split(['M', 'L'])
            .filter_map(|p| p.split_whitespace().nth(1)?.parse().ok())
            .collect();
        let highest = ys.iter().copied().fold(f64::MAX, f64::min);
        assert_eq!(highest, *ys.last().unwrap());
        assert!(highest >= WIDE.top);
        assert!(svg.contains(r#"data-p95=""#));
        assert_eq!(latency_axis_top(0.3), 4.0);
        assert_eq!(latency_axis_top(237.0), 400.0);
        assert_eq!(duration(0.84), "0.84 ms");
        assert_eq!(duration(1_234.0), "1.2 s");
    }

    #[test]
    fn an_empty_day_says_so() {
        let svg = hourly(&hours(&[(0, 0, 0); 24]), &COMPACT);
        assert!(svg.contains("No API requests in the last 24 hours"));
        assert_eq!(svg.matches("<rect").count(), 0);
    }
}
