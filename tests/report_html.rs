//! The HTML report in a real browser: Debian's chromium, headless, renders
//! the report of a 27-trial store and of MangoHud logs. The DOM it dumps
//! must hold the expected charts and table rows with no script or resource
//! error, and its screenshots, light and dark, must be real pictures. Also
//! the terminal table's colour rules and bad input. Never skipped: without
//! chromium it fails and says how to install it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;

use scx_gamer::game::identity::GameId;
use scx_gamer::sched::SchedConfig;
use scx_gamer::store::{GameStore, SessionInfo, SessionMode, SystemInfo, TrialStatus, store_path};
use support::store::synthetic_trial;

/// A config name that would run script if the page did not escape it.
const EVIL: &str = "<img src=x onerror=\"throw 1\"> & co";

fn scx_gamer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scx_gamer")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Frame times (µs): a steady game with a 3× spike every `spike_every`.
fn frames(n: usize, base: u32, spike_every: usize, seed: u32) -> Vec<u32> {
    (0..n)
        .map(|i| {
            let jitter = ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 22) % 400;
            if spike_every > 0 && i % spike_every == spike_every / 2 { base * 3 } else { base + jitter }
        })
        .collect()
}

/// 5 blocks × (baseline + 4 configs), a partial trial and a failed one:
/// 27 trials (26 with frames) of 6 configs.
const TRIALS: usize = 27;
const TRIALS_WITH_FRAMES: usize = 26;
const CONFIGS: usize = 6;

fn write_store(dir: &Path) {
    let cfg = |s: &str| -> SchedConfig { s.parse().unwrap() };
    let mut store = GameStore::new(GameId { key: "steam-570".into(), exe: "dota2 <beta>".into(), steam_app_id: Some("570".into()) });
    store.sessions.push(SessionInfo {
        id: "s1".into(),
        mode: SessionMode::Tune,
        started_at: "2026-11-24T00:00:00Z".into(),
        scx_gamer_version: "0.1.0".into(),
        system: SystemInfo {
            kernel: "6.12.9-test".into(),
            cpu: "AMD Ryzen <7> & co".into(),
            cpus: 16,
            mangohud_version: Some("0.8.1".into()),
        },
        trials_file: Some("trials/default.toml".into()),
        search: Some("grid".into()),
        seed: Some(7),
        trial_secs: 20.0,
        warmup_secs: 2.0,
        frame_source: "control-socket".into(),
        measure: None,
    });
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    for block in 1..=5 {
        let seed = block * 100;
        let n = 2000;
        store.trials.push(synthetic_trial(next(), block, "baseline", None, &frames(n, 8000, 40, seed), TrialStatus::Ok));
        store.trials.push(synthetic_trial(
            next(),
            block,
            "calm",
            Some(cfg("slice_us=500")),
            &frames(n, 8000, 0, seed + 1),
            TrialStatus::Ok,
        ));
        // "same" is the default config: the winner must beat it too.
        store.trials.push(synthetic_trial(
            next(),
            block,
            "same",
            Some(SchedConfig::default()),
            &frames(n, 8000, 40, seed + 2),
            TrialStatus::Ok,
        ));
        store.trials.push(synthetic_trial(
            next(),
            block,
            "spiky",
            Some(cfg("slice_us=20000")),
            &frames(n, 9000, 40, seed + 3),
            TrialStatus::Ok,
        ));
        store.trials.push(synthetic_trial(
            next(),
            block,
            EVIL,
            Some(cfg("game_boost_us=0")),
            &frames(n, 8000, 40, seed + 4),
            TrialStatus::Ok,
        ));
    }
    let partial = frames(600, 8000, 0, 9);
    store.trials.push(synthetic_trial(
        next(),
        5,
        "calm",
        Some(cfg("slice_us=500")),
        &partial,
        TrialStatus::Partial("the game exited".into()),
    ));
    let mut broken =
        synthetic_trial(next(), 5, "broken", Some(cfg("slice_us=9000")), &[], TrialStatus::Failed("ejected: <sysrq> & co".into()));
    broken.frame_times = None;
    store.trials.push(broken);
    // One after the other, as a tune runs them: the session's timeline.
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-24T00:00:00Z").unwrap();
    for (k, t) in store.trials.iter_mut().enumerate() {
        t.ended_at = (t0 + chrono::Duration::seconds(22 * (k as i64 + 1))).to_rfc3339();
    }
    assert_eq!(store.trials.len(), TRIALS);
    store.save(&store_path(dir, "steam-570")).unwrap();
}

fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chromium"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("chromium is not installed: run scripts/setup.sh (as root) to install it"))
}

/// Headless chromium on `page` with a fresh profile, killed after 120 s.
fn browse(page: &Path, dark: bool, extra: &[&str]) -> Output {
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("timeout");
    cmd.arg("120").arg(chromium());
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--window-size=1400,3000",
    ]);
    cmd.arg(format!("--user-data-dir={}", profile.path().display()));
    if dark {
        // Makes prefers-color-scheme: dark.
        cmd.arg("--force-dark-mode");
    }
    cmd.args(extra).arg(format!("file://{}", page.display()));
    let out = cmd.output().expect("running chromium");
    assert!(out.status.success(), "chromium failed ({}): {}", out.status, stderr(&out));
    out
}

fn dump_dom(page: &Path) -> String {
    let out = browse(page, false, &["--virtual-time-budget=5000", "--dump-dom"]);
    let dom = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(dom.contains("</html>"), "no DOM dumped: {}", stderr(&out));
    dom
}

/// RGB pixels of a screenshot of `page`.
fn screenshot(page: &Path, dark: bool) -> (u32, u32, Vec<[u8; 3]>) {
    let dir = tempfile::tempdir().unwrap();
    let png_path = dir.path().join("shot.png");
    browse(page, dark, &["--virtual-time-budget=5000", &format!("--screenshot={}", png_path.display())]);
    let decoder = png::Decoder::new(std::fs::File::open(&png_path).expect("no screenshot written"));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let step = info.color_type.samples();
    assert!(step >= 3, "unexpected PNG colour type {:?}", info.color_type);
    let px = buf[..info.buffer_size()].chunks_exact(step).map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, px)
}

/// Not blank: many colours (anti-aliased text, chart lines) and no colour
/// covering nearly all of it. Returns the mean luminance, 0..1.
fn assert_picture(name: &str, (w, h, px): &(u32, u32, Vec<[u8; 3]>)) -> f64 {
    assert_eq!((*w, *h), (1400, 3000), "{name}: screenshot size");
    let mut counts = std::collections::HashMap::new();
    for p in px {
        *counts.entry(*p).or_insert(0usize) += 1;
    }
    let top = counts.values().max().copied().unwrap_or(0);
    assert!(counts.len() > 200, "{name}: only {} distinct colours: blank?", counts.len());
    assert!((top as f64) < 0.95 * px.len() as f64, "{name}: one colour covers {top} of {} pixels", px.len());
    // The series palette shows: some clearly saturated pixels.
    let saturated = px.iter().filter(|p| p.iter().max().unwrap() - p.iter().min().unwrap() > 80).count();
    assert!(saturated > 2000, "{name}: only {saturated} coloured pixels: no charts drawn?");
    px.iter().map(|p| (0.2126 * f64::from(p[0]) + 0.7152 * f64::from(p[1]) + 0.0722 * f64::from(p[2])) / 255.0).sum::<f64>()
        / px.len() as f64
}

fn html_attr<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let tag_end = dom.find("<head").unwrap_or(dom.len());
    let html_tag = &dom[dom.find("<html").expect("no <html>")..tag_end];
    let key = format!("{name}=\"");
    let start = html_tag.find(&key)? + key.len();
    Some(&html_tag[start..start + html_tag[start..].find('"')?])
}

fn assert_rendered_cleanly(dom: &str) {
    assert_eq!(html_attr(dom, "data-ready"), Some("1"), "the page's script did not run");
    assert_eq!(html_attr(dom, "data-errors"), Some("0"), "errors in the page: {:?}", html_attr(dom, "data-last-error"));
}

/// `KEEP_REPORT_HTML=DIR` keeps a copy of each page (and the store) to look at.
fn keep(page: &Path) {
    if let Some(dir) = std::env::var_os("KEEP_REPORT_HTML") {
        std::fs::copy(page, Path::new(&dir).join(page.file_name().unwrap())).unwrap();
    }
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

#[test]
fn store_report_renders_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let page = dir.path().join("report.html");
    let o = scx_gamer(&["report", "--data", dir.path().to_str().unwrap(), "570", "--html", page.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    keep(&page);
    keep(&store_path(dir.path(), "steam-570"));
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: nothing to fetch, one inline script (the error probe).
    for fetch in ["http:", "https:", "url(", "<link", "<img", "<iframe", "@import"] {
        assert!(!html.contains(fetch), "the page must not load anything, but has {fetch}");
    }
    assert_eq!(count(&html, "<script"), 1);

    let dom = dump_dom(&page);
    assert_rendered_cleanly(&dom);
    // A chart per trial with frames, the percentile curves, the histogram.
    // A chart per trial with frames, the percentiles, the histogram, and
    // the session's timeline of every trial with frames.
    assert_eq!(count(&dom, "<svg class=\"chart\""), TRIALS_WITH_FRAMES + 3);
    assert_eq!(count(&dom, "<figure class=\"timeline\""), 1);
    assert!(dom.contains(&format!("session s1 · blocks · {TRIALS_WITH_FRAMES} trials")), "the timeline's caption");
    assert_eq!(count(&dom, "<tr class=\"config"), CONFIGS);
    assert_eq!(count(&dom, "<tr class=\"trial\""), TRIALS);
    assert_eq!(count(&dom, "<tr class=\"session\""), 1);
    assert_eq!(count(&dom, "<figure class=\"trial\""), TRIALS, "a figure per trial, the failed one as a note");
    // The legend lists every config that has frames.
    let legend = &dom[dom.find("id=\"percentiles\"").unwrap()..];
    let legend = &legend[legend.find("<ul class=\"legend\">").unwrap()..legend.find("</ul>").unwrap()];
    assert_eq!(count(legend, "<li"), CONFIGS - 1, "{legend}");
    // The verdict and the winner's flags.
    assert!(dom.contains("<b>calm</b> beats the kernel's scheduler"), "no verdict");
    assert!(dom.contains("scx_gamer --slice-us 500"));
    assert!(dom.contains("class=\"badge worse\""), "spiky is worse");
    // Data is text, never markup.
    assert!(!dom.contains("<img"), "a config name became an element");
    assert!(dom.contains("&lt;img src=x onerror=\"throw 1\"&gt; &amp; co"), "the name is shown as text");
    assert!(dom.contains("ejected: &lt;sysrq&gt; &amp; co"));
    assert!(dom.contains("AMD Ryzen &lt;7&gt; &amp; co"));

    let light = assert_picture("light", &screenshot(&page, false));
    let dark = assert_picture("dark", &screenshot(&page, true));
    assert!(light > 0.75, "light theme mean luminance {light:.2}");
    assert!(dark < 0.3, "dark theme mean luminance {dark:.2}");
}

#[test]
fn log_report_renders_in_chromium_and_names_bad_logs() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("logs.html");
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mangohud");
    let logs: Vec<String> = [
        "glxgears_0.6.8_per_frame.csv",
        "glxgears_0.6.8_sampled.csv",
        "glxgears_0.6.8_versioned.csv",
        "glxgears_0.6.8_per_frame_summary.csv",
    ]
    .iter()
    .map(|f| fx.join(f).display().to_string())
    .collect();
    let mut args = vec!["report", "--html", page.to_str().unwrap(), "--log"];
    args.extend(logs.iter().map(String::as_str));
    let o = scx_gamer(&args);
    // The summary file is no log: named, exit 1, the others still reported.
    assert!(!o.status.success(), "a bad log must fail the command");
    assert!(stderr(&o).contains("glxgears_0.6.8_per_frame_summary.csv"), "{}", stderr(&o));

    keep(&page);
    let dom = dump_dom(&page);
    assert_rendered_cleanly(&dom);
    assert_eq!(count(&dom, "<svg class=\"chart\""), 3 + 2);
    assert_eq!(count(&dom, "<tr class=\"log\""), 3);
    assert_eq!(count(&dom, "<li class=\"bad-log\""), 1);
    assert!(dom.contains("sampled"), "the sampled log is flagged");
    assert_picture("logs", &screenshot(&page, false));
}

#[test]
fn bad_input_is_named_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let page = dir.path().join("out.html");
    let out = page.to_str().unwrap();
    std::fs::write(dir.path().join("steam-570.json"), "{\"schema_version\": 1, \"game\": [").unwrap();
    let o = scx_gamer(&["report", "--data", data, "steam-570", "--html", out]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("steam-570.json"), "{}", stderr(&o));
    assert!(!page.exists());

    let o = scx_gamer(&["report", "--data", data, "--html", out]);
    assert!(!o.status.success() && stderr(&o).contains("--html needs a GAME"), "{}", stderr(&o));
    let o = scx_gamer(&["report", "--data", data, "quake", "--html", out]);
    assert!(!o.status.success() && stderr(&o).contains("no tuning data for 'quake'"), "{}", stderr(&o));
    let o = scx_gamer(&["report", "--data", data, "570", "--html", out, "--json"]);
    assert!(!o.status.success(), "--html and --json conflict");
}

#[test]
fn terminal_table_has_sparklines_and_colour_only_on_a_tty() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let data = dir.path().to_str().unwrap();
    // Piped: plain text, with sparklines.
    let o = scx_gamer(&["report", "--data", data, "570"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!text.contains('\x1b'), "colour in a pipe:\n{text}");
    let calm = text.lines().find(|l| l.contains(" calm ")).unwrap();
    assert!(calm.contains('▁') && !calm.contains('█'), "calm has no spikes: {calm}");
    let spiky = text.lines().find(|l| l.contains(" spiky ")).unwrap();
    assert!(spiky.contains('█'), "spiky's spikes show: {spiky}");

    // On a terminal (script(1) gives it a pty): colour, unless NO_COLOR.
    let cmd = format!("{} report --data {data} 570", env!("CARGO_BIN_EXE_scx_gamer"));
    let tty = |no_color: bool| {
        let mut c = Command::new("script");
        c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            c.env("NO_COLOR", "1");
        }
        let o = c.output().expect("script(1) from util-linux");
        assert!(o.status.success(), "{}", stderr(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let coloured = tty(false);
    assert!(coloured.contains("\x1b[1;32mbetter than baseline\x1b[0m"), "{coloured}");
    assert!(coloured.contains("\x1b[31mworse than baseline\x1b[0m"), "{coloured}");
    assert!(!tty(true).contains('\x1b'), "NO_COLOR is set");
}
