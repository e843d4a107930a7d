//! The charts, as inline SVG drawn by plotters' SVG backend into a String.
//!
//! plotters writes fixed colours, but the page has a light and a dark
//! theme. So axes, labels and the baseline are drawn in a sentinel colour
//! that is rewritten to `currentColor` afterwards (the page sets `color`
//! per theme), and the series colours are mid-tones that read on both a
//! white and a near-black background. The charts take prepared points
//! (downsampled, sorted): what to draw is decided elsewhere.

use anyhow::{Context, Result};
use plotters::prelude::*;

use super::curves::{MAX_NINES, percentile_label};
use super::page::esc;

/// Drawn as `currentColor`: the theme's text colour.
const FG: RGBColor = RGBColor(0x12, 0x34, 0x56);
const FG_HEX: &str = "#123456";
const SVG_NS: &str = " xmlns=\"http://www.w3.org/2000/svg\"";

/// Series colours, mid-tones distinguishable on light and dark backgrounds
/// (no black, white or pale yellow); more series than colours reuse them,
/// and the legend tells them apart by order and name.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x2f, 0x8f, 0xd8), // blue
    RGBColor(0xe6, 0x8a, 0x00), // orange
    RGBColor(0x1f, 0xa8, 0x7a), // green
    RGBColor(0xd9, 0x4f, 0x4f), // red
    RGBColor(0x9b, 0x6c, 0xe0), // violet
    RGBColor(0xc9, 0x6b, 0xa8), // pink
    RGBColor(0x8a, 0x9a, 0x2a), // olive
    RGBColor(0x3d, 0xb4, 0xc4), // teal
    RGBColor(0xb5, 0x7a, 0x4a), // brown
    RGBColor(0x6f, 0x86, 0xd6), // slate blue
];

const FONT: &str = "sans-serif";

/// What a series is drawn in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ink {
    /// The theme's text colour: the baseline, so it stands out in both.
    Fg,
    Colour(RGBColor),
}

impl Ink {
    /// The `i`-th series colour.
    pub fn nth(i: usize) -> Self {
        Ink::Colour(PALETTE[i % PALETTE.len()])
    }

    fn rgb(self) -> RGBColor {
        match self {
            Ink::Fg => FG,
            Ink::Colour(c) => c,
        }
    }

    /// The HTML legend's swatch for this ink.
    pub fn swatch(self) -> String {
        match self {
            Ink::Fg => "<span class=\"swatch fg\"></span>".into(),
            Ink::Colour(RGBColor(r, g, b)) => format!("<span class=\"swatch\" style=\"background:#{r:02x}{g:02x}{b:02x}\"></span>"),
        }
    }
}

/// One line of a chart with several.
pub struct Line {
    pub points: Vec<(f64, f64)>,
    pub ink: Ink,
    /// Drawn thicker and on top: the baseline and the best config.
    pub emphasis: bool,
}

/// plotters' SVG made fit for the page: themed, scalable, labelled for
/// screen readers, and without the XML namespace (HTML needs none, and the
/// page then holds no URL at all).
fn finish(svg: String, label: &str) -> String {
    let svg = svg.replace(FG_HEX, "currentColor").replacen(SVG_NS, "", 1);
    let label = esc(label);
    let head = format!("<svg class=\"chart\" role=\"img\" aria-label=\"{label}\"");
    let svg = svg.replacen("<svg", &head, 1);
    // A <title> shows the label on hover, too.
    match svg.find('>') {
        Some(end) => format!("{}<title>{label}</title>{}", &svg[..=end], &svg[end + 1..]),
        None => svg,
    }
}

/// An axis range that is never empty (plotters divides by its width).
fn upper(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 { max } else { 1.0 }
}

/// Tick labels with as many decimals as the range needs.
fn tick(v: f64, range: f64) -> String {
    if range < 5.0 { format!("{v:.1}") } else { format!("{v:.0}") }
}

/// One trial's (or log's) frame times over time: `points` as (s, ms),
/// already downsampled; a faint line at its p99. Small, so the axes carry
/// no titles: the page says what they are once for all of them. Shared `x_max`/`y_max`
/// put every small multiple on the same scale.
pub fn frame_time(points: &[(f64, f64)], ink: Ink, p99_ms: f64, x_max: f64, y_max: f64, label: &str) -> Result<String> {
    let small = TimeLayout { size: (460, 190), margin: 6, margin_right: 14, x_area: 24, y_area: 40, x_labels: 6 };
    time_chart(&small, &[(points, ink)], Some(p99_ms), x_max, y_max, label)
}

/// A session's timeline: every trial's frame times where they fell in the
/// session (x: seconds from its first measurement), each in its config's
/// ink, so the interleaving and the scenes show at a glance.
pub fn timeline(segments: &[(Vec<(f64, f64)>, Ink)], x_max: f64, y_max: f64, label: &str) -> Result<String> {
    let wide = TimeLayout { size: (1000, 260), margin: 10, margin_right: 24, x_area: 30, y_area: 56, x_labels: 10 };
    let series: Vec<(&[(f64, f64)], Ink)> = segments.iter().map(|(p, ink)| (p.as_slice(), *ink)).collect();
    time_chart(&wide, &series, None, x_max, y_max, label)
}

/// The size and spacing of a frame-times-over-time chart.
struct TimeLayout {
    size: (u32, u32),
    margin: u32,
    margin_right: u32,
    x_area: u32,
    y_area: u32,
    x_labels: usize,
}

/// Frame times (ms) over seconds: each series in its ink, and a faint line
/// at `p99_ms` when given. The one drawing of `frame_time` and `timeline`.
fn time_chart(
    layout: &TimeLayout,
    series: &[(&[(f64, f64)], Ink)],
    p99_ms: Option<f64>,
    x_max: f64,
    y_max: f64,
    label: &str,
) -> Result<String> {
    let (x_max, y_max) = (upper(x_max), upper(y_max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, layout.size).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(layout.margin)
            .margin_right(layout.margin_right)
            .x_label_area_size(layout.x_area)
            .y_label_area_size(layout.y_area)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .context("laying out a frame-time chart")?;
        let x_fmt = |v: &f64| tick(*v, x_max);
        let y_fmt = |v: &f64| tick(*v, y_max);
        chart
            .configure_mesh()
            .axis_style(FG.mix(0.6))
            .bold_line_style(FG.mix(0.12))
            .light_line_style(TRANSPARENT)
            .label_style((FONT, 14).into_font().color(&FG))
            .axis_desc_style((FONT, 14).into_font().color(&FG))
            .x_labels(layout.x_labels)
            .y_labels(5)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .draw()
            .context("drawing a frame-time chart's axes")?;
        if let Some(p99_ms) = p99_ms.filter(|p| p.is_finite() && *p > 0.0) {
            chart
                .draw_series(LineSeries::new([(0.0, p99_ms), (x_max, p99_ms)], FG.mix(0.45).stroke_width(1)))
                .context("drawing a p99 line")?;
        }
        for (points, ink) in series {
            chart.draw_series(LineSeries::new(points.iter().copied(), ink.rgb().stroke_width(1))).context("drawing frame times")?;
        }
        root.present().context("finishing a frame-time chart")?;
    }
    Ok(finish(svg, label))
}

/// Frame time at each percentile, one line per config or log, on the
/// "nines" axis (p0 … p90 … p99 … p99.9): lower is better, and the right
/// end is the stutter a player feels. Emphasised lines go on top.
pub fn percentiles(lines: &[Line], label: &str) -> Result<String> {
    let y_max = upper(lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max) * 1.05);
    let x_max = lines.iter().flat_map(|l| l.points.last().map(|p| p.0)).fold(0.0, f64::max).clamp(1.0, MAX_NINES);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 440)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(0f64..x_max, 0f64..y_max)
            .context("laying out the percentile chart")?;
        let y_fmt = |v: &f64| tick(*v, y_max);
        chart
            .configure_mesh()
            .axis_style(FG.mix(0.6))
            .bold_line_style(FG.mix(0.12))
            .light_line_style(TRANSPARENT)
            .label_style((FONT, 16).into_font().color(&FG))
            .axis_desc_style((FONT, 16).into_font().color(&FG))
            // At most one label per nine: p0, p90, p99, p99.9.
            .x_labels(4)
            .y_labels(8)
            .x_label_formatter(&|v| percentile_label(*v))
            .y_label_formatter(&y_fmt)
            .x_desc("percentile of frames (tail to the right)")
            .y_desc("frame time (ms)")
            .draw()
            .context("drawing the percentile chart's axes")?;
        // Plain lines first, emphasised ones on top of them.
        for line in lines.iter().filter(|l| !l.emphasis).chain(lines.iter().filter(|l| l.emphasis)) {
            let style = if line.emphasis { line.ink.rgb().stroke_width(3) } else { line.ink.rgb().mix(0.8).stroke_width(2) };
            chart.draw_series(LineSeries::new(line.points.iter().copied(), style)).context("drawing a percentile curve")?;
        }
        root.present().context("finishing the percentile chart")?;
    }
    Ok(finish(svg, label))
}

/// Histograms (share of frames per bin, from `curves::histogram`) over
/// `lo..hi` ms, overlaid as translucent areas with outlines.
pub fn histogram(series: &[(Ink, Vec<f64>)], lo: f64, hi: f64, label: &str) -> Result<String> {
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let y_max = upper(series.iter().flat_map(|s| s.1.iter().copied()).fold(0.0, f64::max) * 100.0 * 1.1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 320)).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .margin_right(24)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d(lo..hi, 0f64..y_max)
            .context("laying out the histogram")?;
        let x_fmt = |v: &f64| tick(*v, hi - lo);
        let y_fmt = |v: &f64| tick(*v, y_max);
        chart
            .configure_mesh()
            .axis_style(FG.mix(0.6))
            .bold_line_style(FG.mix(0.12))
            .light_line_style(TRANSPARENT)
            .label_style((FONT, 16).into_font().color(&FG))
            .axis_desc_style((FONT, 16).into_font().color(&FG))
            .x_labels(12)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc("frame time (ms)")
            .y_desc("% of frames")
            .draw()
            .context("drawing the histogram's axes")?;
        for (ink, shares) in series {
            let width = (hi - lo) / shares.len().max(1) as f64;
            // A step outline: each bin flat across its width.
            let mut points = vec![(lo, 0.0)];
            for (i, s) in shares.iter().enumerate() {
                let x0 = lo + i as f64 * width;
                points.push((x0, s * 100.0));
                points.push((x0 + width, s * 100.0));
            }
            points.push((hi, 0.0));
            let c = ink.rgb();
            chart.draw_series(AreaSeries::new(points, 0.0, c.mix(0.18)).border_style(c.stroke_width(2))).context("drawing a histogram")?;
        }
        root.present().context("finishing the histogram")?;
    }
    Ok(finish(svg, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(hay: &str, needle: &str) -> usize {
        hay.matches(needle).count()
    }

    #[test]
    fn charts_are_themed_labelled_inline_svg() {
        let pts: Vec<(f64, f64)> = (0..100).map(|i| (f64::from(i) / 10.0, 8.0 + f64::from(i % 5))).collect();
        let svg = frame_time(&pts, Ink::nth(0), 11.5, 10.0, 20.0, "trial 1 <calm> & co").unwrap();
        assert!(svg.starts_with("<svg class=\"chart\" role=\"img\" aria-label=\"trial 1 &lt;calm&gt; &amp; co\""), "{}", &svg[..200]);
        assert!(svg.contains("<title>trial 1 &lt;calm&gt; &amp; co</title>"));
        assert_eq!(count(&svg, "<svg"), 1);
        assert!(svg.contains("currentColor") && !svg.contains(FG_HEX), "axes follow the theme");
        assert!(!svg.contains("http"), "no namespace URL");
        assert!(svg.contains("#2F8FD8"), "the series colour");
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn percentile_axis_is_labelled_in_percentiles() {
        let pts: Vec<(f64, f64)> = (0..=30).map(|i| (f64::from(i) / 10.0, 8.0 + f64::from(i))).collect();
        let lines = [Line { points: pts.clone(), ink: Ink::Fg, emphasis: true }, Line { points: pts, ink: Ink::nth(3), emphasis: false }];
        let svg = percentiles(&lines, "percentiles").unwrap();
        for l in ["p0", "p90", "p99", "p99.9"] {
            assert!(svg.contains(&format!("{l}\n</text>")), "no {l} tick: {svg}");
        }
        // The baseline line is drawn in the theme's colour.
        assert!(svg.contains("stroke=\"currentColor\" stroke-width=\"3\""));
    }

    #[test]
    fn histogram_and_degenerate_input_draw_without_panicking() {
        let svg = histogram(&[(Ink::Fg, vec![0.5, 0.5]), (Ink::nth(1), vec![0.1, 0.9])], 8.0, 10.0, "h").unwrap();
        assert!(svg.contains("<polygon"), "filled areas");
        // Empty and flat data: still a chart, no panic, no NaN.
        for svg in [
            frame_time(&[], Ink::Fg, f64::NAN, 0.0, 0.0, "empty").unwrap(),
            percentiles(&[], "none").unwrap(),
            histogram(&[], 5.0, 5.0, "flat").unwrap(),
        ] {
            assert!(svg.starts_with("<svg") && !svg.contains("NaN"), "{svg}");
        }
    }
}
