//! The page around the charts: one self-contained HTML document (inline
//! CSS, inline SVG, no URL anywhere) that follows the reader's light or
//! dark theme, plus the escaping and number formatting every section uses.

use std::fmt::Write as _;

/// Text from data (game, config and file names, failure reasons) as HTML:
/// a config named `<b>` must show as `<b>`, not turn the page bold.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `x` with `digits` decimals, "–" when it is not a number (no frames, no
/// baseline): a table cell never says NaN.
pub fn num(x: f64, digits: usize) -> String {
    if x.is_finite() { format!("{x:.digits$}") } else { "–".into() }
}

pub fn opt_num(x: Option<f64>, digits: usize) -> String {
    x.map_or_else(|| "–".into(), |x| num(x, digits))
}

/// What a histogram over `lo..hi` ms does with the frames outside it.
pub fn clip_note(lo: f64, hi: f64) -> String {
    if lo > 0.0 {
        format!("frames faster than {lo} ms or slower than {hi} ms are counted in the first or last bar")
    } else {
        format!("frames slower than {hi} ms are counted in the last bar")
    }
}

// Theme colours: one set per scheme. Charts draw their axes and text in
// `currentColor` (see charts.rs), so they follow `--fg` too.
const CSS: &str = r#"
:root { color-scheme: light dark; --bg: #fdfdfc; --fg: #1d2126; --muted: #5c6570; --card: #f2f4f6;
  --line: #cfd5dc; --better: #17803a; --worse: #c92a2a; --neutral: #6b7480; --warn: #a05a00; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #111418; --fg: #e4e8ec; --muted: #9aa4ae; --card: #1b2026;
    --line: #343c45; --better: #4cc26c; --worse: #ff6b6b; --neutral: #97a1ab; --warn: #e0a040; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, "DejaVu Sans", sans-serif; }
main { max-width: 1360px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
p.sub, .note, figcaption { color: var(--muted); }
.note { font-size: 13px; }
code { font: 13px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: var(--card);
  padding: 1px 5px; border-radius: 4px; overflow-wrap: anywhere; }
.verdict-box { background: var(--card); border-left: 5px solid var(--neutral); padding: 12px 16px;
  border-radius: 6px; margin: 16px 0; font-size: 15px; }
.verdict-box.better { border-left-color: var(--better); }
.verdict-box.worse { border-left-color: var(--worse); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: 13px; }
th, td { padding: 4px 6px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--card); position: sticky; top: 0; font-weight: 600; }
td.name, th.name, td.text, th.text { text-align: left; }
td.text { white-space: normal; min-width: 11em; }
tr.baseline td.name { font-weight: 600; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px;
  border: 1px solid currentColor; white-space: nowrap; }
.better { color: var(--better); } .worse, .failed { color: var(--worse); }
.fps_loss, .warn, .unmeasured { color: var(--warn); } .neutral, .no_baseline, .too_few_pairs, .no_significant_difference { color: var(--neutral); }
ul.failures { margin: 2px 0 0; padding-left: 16px; text-align: left; color: var(--worse); white-space: normal; }
.ci { position: relative; display: inline-block; width: 100px; height: 12px; vertical-align: middle;
  margin-left: 6px; }
.ci .one { position: absolute; top: -2px; bottom: -2px; width: 1px; background: var(--muted); }
.ci .bar { position: absolute; top: 4px; height: 4px; border-radius: 2px; background: currentColor; }
.ci .dot { position: absolute; top: 2px; width: 8px; height: 8px; margin-left: -4px; border-radius: 50%;
  background: currentColor; }
svg.chart { display: block; width: 100%; height: auto; color: var(--fg); }
figure { margin: 0; }
figure.wide { background: var(--card); border-radius: 8px; padding: 8px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 6px 4px 0; font-size: 13px; padding: 0; }
.legend li { list-style: none; display: flex; align-items: center; gap: 6px; }
.swatch { display: inline-block; width: 18px; height: 4px; border-radius: 2px; }
.swatch.fg { background: var(--fg); height: 5px; }
.legend .em { font-weight: 600; }
.multiples { display: grid; grid-template-columns: repeat(auto-fill, minmax(400px, 1fr)); gap: 10px; }
.multiples figure { background: var(--card); border-radius: 8px; padding: 6px 8px 4px; }
.multiples figcaption { font-size: 12px; }
.multiples figcaption b { color: var(--fg); }
.nochart { padding: 24px 8px; text-align: center; }
"#;

// Records script errors and resources that fail to load (capture phase
// sees both) on <html>, so a test, or a curious reader, can see the page
// rendered cleanly. The report itself needs no script to be read.
const ERROR_PROBE: &str = "(function(){var d=document.documentElement;d.setAttribute('data-errors','0');\
window.addEventListener('error',function(e){d.setAttribute('data-errors',String(+d.getAttribute('data-errors')+1));\
d.setAttribute('data-last-error',String(e.message||(e.target&&e.target.tagName)||e.type));},true);\
document.addEventListener('DOMContentLoaded',function(){d.setAttribute('data-ready','1');});})();";

/// A whole document: `title` (already plain text) and the body's HTML.
pub fn document(title: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + CSS.len() + 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"generator\" content=\"scx_gamer {}\">\n<title>{}</title>\n\
         <script>{ERROR_PROBE}</script>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(title),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(esc(r#"<img src=x onerror="a('b')"> & co"#), "&lt;img src=x onerror=&quot;a(&#39;b&#39;)&quot;&gt; &amp; co");
        assert_eq!(esc("glxgears ✓"), "glxgears ✓");
    }

    #[test]
    fn numbers_never_show_nan() {
        assert_eq!(num(f64::NAN, 2), "–");
        assert_eq!(num(1.0 / 3.0, 2), "0.33");
        assert_eq!(opt_num(None, 1), "–");
    }

    #[test]
    fn the_document_is_self_contained() {
        let doc = document("a <game>", "<p>x</p>");
        assert!(doc.contains("<title>a &lt;game&gt;</title>"));
        assert!(!doc.contains("http"), "no URL in the page");
        assert!(doc.contains("prefers-color-scheme: dark"));
    }
}
