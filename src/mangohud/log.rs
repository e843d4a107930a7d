//! MangoHud CSV logs → frames, streaming.
//!
//! A log is: optional version lines (`v1`, `v0.6.8` or a git build's
//! `v0.8.1-45-gabcdef0`, `---…---` banners with `log_versioning`), a
//! system-info header `os,cpu,gpu,…` and its values, a column header
//! (`fps,frametime,…,elapsed`), then one row per frame (or per sample).
//! Two logs started in the same second share one file, so a second
//! preamble can follow rows. Columns are mapped by name; fields are never
//! quoted.
//!
//! Units: `frametime` is integer µs up to 0.6.8 and float ms from 0.6.9;
//! `elapsed` is ns (µs in 0.4/0.5, which have no `frametime` column: frame
//! time is then derived from `fps` and flagged). Frames come out in ns.
//!
//! Which frames count (one rule, used everywhere): the first data row of each
//! log is dropped (MangoHud's first row can be garbage, e.g. 8765 s);
//! frame times ≤ 0 or > 10 s, non-numeric fields and rows of the wrong width
//! are bad rows: skipped and counted. Everything else counts.
//!
//! `LogParser::feed` takes any chunk of bytes (partial lines are kept for the
//! next chunk), so a growing file can be parsed as it grows.
//!
//! Speed (a long session's log is millions of rows): rows in the form
//! MangoHud writes are read by a fast path, from bitmaps of the commas and
//! newlines of each chunk and with numbers parsed from the bytes (SWAR);
//! everything else, and any row the fast path is not sure of, goes the
//! general way (`str` parsing), which decides. The fast path only takes rows
//! where both give the same frame, bit for bit (see "Fast path" below; the
//! tests check it on thousands of mutated logs).

use std::fmt;
use std::path::Path;

use anyhow::{Result, bail};
use serde::Serialize;

use crate::frames::MAX_FRAME_NS;

/// Longest line accepted; anything longer is junk, not a MangoHud row.
const MAX_LINE: usize = 64 * 1024;
/// Marks the pending remainder of an over-long line (already counted).
const SKIP: &[u8] = b"\0skip";
/// Rows looked at to decide whether a log is per-frame or sampled.
const SAMPLED_PROBE_ROWS: usize = 64;
/// Bad rows kept with their reason, for messages.
const BAD_ROW_EXAMPLES: usize = 5;

/// One frame: how long it took, and when (since logging started) if known.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Frame {
    pub frametime_ns: u64,
    pub elapsed_ns: Option<u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrametimeSource {
    /// `frametime` column in µs (MangoHud ≤ 0.6.8).
    Micros,
    /// `frametime` column in ms (MangoHud ≥ 0.6.9).
    Millis,
    /// No `frametime` column (0.4/0.5): derived as 1/fps.
    DerivedFromFps,
}

/// What a log says about itself, beyond its frames.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LogMeta {
    /// `0.6.8` from a `v0.6.8` line (`0.8.1-45-gabcdef0` from a git build's);
    /// `None` when the log does not say.
    pub mangohud_version: Option<String>,
    /// `1` from a `v1` line (the log format version).
    pub log_format: Option<u32>,
    pub os: Option<String>,
    pub cpu: Option<String>,
    pub gpu: Option<String>,
    pub kernel: Option<String>,
    pub driver: Option<String>,
    pub cpuscheduler: Option<String>,
    pub columns: Vec<String>,
    pub frametime_source: Option<FrametimeSource>,
    /// One row per sampling interval, not per frame (0.6.8's default
    /// `log_interval=100`). `None` until enough rows were seen to tell.
    pub sampled: Option<bool>,
    /// Logs (preamble + header) in this file; > 1 when two logs shared it.
    pub segments: u32,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct BadRows {
    pub count: u64,
    /// The first few: (line number, why).
    pub examples: Vec<(u64, String)>,
}

impl BadRows {
    fn add(&mut self, line: u64, why: impl fmt::Display) {
        self.count += 1;
        if self.examples.len() < BAD_ROW_EXAMPLES {
            self.examples.push((line, why.to_string()));
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Before a column header.
    Preamble,
    /// The line after `os,cpu,…`: system info values.
    SysInfo,
    /// Data rows; `first` until this segment's first row was dropped.
    Rows { first: bool },
}

#[derive(Clone, Debug, Default)]
struct Columns {
    fps: Option<usize>,
    frametime: Option<usize>,
    elapsed: Option<usize>,
    count: usize,
}

pub struct LogParser {
    state: State,
    pending: Vec<u8>,
    line_no: u64,
    meta: LogMeta,
    sysinfo_names: Vec<String>,
    cols: Columns,
    bad: BadRows,
    dropped_first_rows: u64,
    /// elapsed delta / frame time of the first rows, to tell sampled logs.
    probe: Vec<f64>,
    last_elapsed: Option<u64>,
    /// Where the commas and newlines of the chunk being fed are.
    maps: RowMaps,
    /// Take the fast path for plain rows (off only in tests, to check it
    /// against the general path).
    fast: bool,
}

impl Default for LogParser {
    fn default() -> Self {
        Self::new()
    }
}

/// Errors that make a whole file unusable; bad rows are not errors.
#[derive(Debug)]
pub struct LogError {
    pub line: u64,
    pub message: String,
}

impl fmt::Display for LogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 { write!(f, "{}", self.message) } else { write!(f, "line {}: {}", self.line, self.message) }
    }
}

impl std::error::Error for LogError {}

/// What follows the `v` of a version line: `v1` (the log format) or
/// MangoHud's own version. That one is `git describe --tags --dirty=+` of
/// the build (its meson.build), so besides `v0.8.4` it can be
/// `v0.8.1-45-gabcdef0` (a build from git: AUR mangohud-git, Gentoo 9999),
/// `v0.8.4+` (uncommitted changes) or `v0.7.2-rc1`: any `v<digit>…` is one.
/// No row starts with `v` and no header line has a `v<digit>` name; a
/// comma means a (bad) row, not a version.
fn version_line(line: &str) -> Option<&str> {
    let v = line.strip_prefix('v')?;
    (v.starts_with(|c: char| c.is_ascii_digit()) && !v.contains(',')).then_some(v)
}

impl LogParser {
    pub fn new() -> Self {
        Self {
            state: State::Preamble,
            pending: Vec::new(),
            line_no: 0,
            meta: LogMeta::default(),
            sysinfo_names: Vec::new(),
            cols: Columns::default(),
            bad: BadRows::default(),
            dropped_first_rows: 0,
            probe: Vec::new(),
            last_elapsed: None,
            maps: RowMaps::default(),
            fast: true,
        }
    }

    pub fn meta(&self) -> &LogMeta {
        &self.meta
    }

    pub fn bad_rows(&self) -> &BadRows {
        &self.bad
    }

    /// Rows dropped by the first-row rule.
    pub fn dropped_first_rows(&self) -> u64 {
        self.dropped_first_rows
    }

    /// True once a column header was seen (frames can follow).
    pub fn has_header(&self) -> bool {
        self.meta.segments > 0
    }

    /// Parse the complete lines in `chunk` (plus what was pending), pushing
    /// frames to `out`; an unfinished last line waits for the next chunk.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Frame>) -> Result<(), LogError> {
        let mut at = 0;
        let mut maps_built = false;
        loop {
            // Hot path: a run of plain data rows, read from bitmaps of the
            // chunk's commas and newlines. It stops at the first row it is
            // not sure of, which then goes the general way below.
            if self.fast && self.pending.is_empty() && self.state == (State::Rows { first: false }) {
                if !maps_built {
                    self.maps.build(chunk);
                    maps_built = true;
                }
                at = self.fast_rows(chunk, at, out);
            }
            let rest = &chunk[at..];
            let Some(nl) = memchr::memchr(b'\n', rest) else {
                break;
            };
            let line = &rest[..nl];
            at += nl + 1;
            if self.pending.is_empty() {
                self.line(line, out)?;
            } else {
                let mut full = std::mem::take(&mut self.pending);
                full.extend_from_slice(line);
                self.line(&full, out)?;
                full.clear();
                self.pending = full; // keep the allocation
            }
        }
        let rest = &chunk[at..];
        self.pending.extend_from_slice(rest);
        if self.pending.len() > MAX_LINE {
            // A line this long is junk: count it once, then drop the rest of
            // it up to its newline instead of buffering without bound.
            if !self.pending.starts_with(SKIP) {
                self.line_no += 1;
                self.reject_line("line longer than 64 KiB")?;
            }
            self.pending.clear();
            self.pending.extend_from_slice(SKIP);
        }
        Ok(())
    }

    /// The input is complete: a last line without a newline is parsed too,
    /// and a file that never had a column header is an error.
    pub fn finish(&mut self, out: &mut Vec<Frame>) -> Result<(), LogError> {
        if !self.pending.is_empty() {
            let last = std::mem::take(&mut self.pending);
            self.line(&last, out)?;
        }
        self.decide_sampled(true);
        if self.line_no == 0 {
            return Err(LogError { line: 0, message: "empty file".into() });
        }
        if !self.has_header() {
            return Err(LogError { line: 0, message: "not a MangoHud log: no column header with fps or frametime".into() });
        }
        Ok(())
    }

    fn reject_line(&mut self, why: &str) -> Result<(), LogError> {
        match self.state {
            State::Rows { .. } => {
                self.bad.add(self.line_no, why);
                Ok(())
            }
            _ => Err(LogError { line: self.line_no, message: format!("not a MangoHud log: {why}") }),
        }
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<Frame>) -> Result<(), LogError> {
        if raw.starts_with(SKIP) {
            return Ok(()); // tail of an over-long line, already counted
        }
        self.line_no += 1;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        // Hot path: a data row (starts with a number) inside a log's rows.
        // Not a `---…---` banner: that starts the preamble of a second log
        // in the same file (see below), and no number starts with `--`.
        if let State::Rows { first } = self.state
            && raw.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-' || *b == b'.')
            && !raw.starts_with(b"--")
        {
            self.state = State::Rows { first: false };
            self.row(raw, first, out);
            return Ok(());
        }
        let Ok(line) = std::str::from_utf8(raw) else {
            return self.reject_line("not text (invalid UTF-8)");
        };
        let line = line.trim();
        if line.is_empty() {
            return Ok(());
        }

        // Preamble lines may start a new log at any point (shared file).
        if line.starts_with("---") {
            return Ok(());
        }
        // Not on the line after `os,…`: that one holds values (an OS name).
        if self.state != State::SysInfo
            && let Some(v) = version_line(line)
        {
            match v.parse() {
                Ok(format) => self.meta.log_format = Some(format),
                Err(_) => self.meta.mangohud_version = Some(v.to_string()),
            }
            return Ok(());
        }
        if line.starts_with("os,") {
            self.sysinfo_names = line.split(',').map(str::to_string).collect();
            self.state = State::SysInfo;
            return Ok(());
        }
        if self.state == State::SysInfo {
            self.sysinfo(line);
            self.state = State::Preamble;
            return Ok(());
        }
        let first_field = line.split(',').next().unwrap_or("");
        if matches!(first_field, "fps" | "frametime") || (self.state == State::Preamble && line.contains("frametime")) {
            return self.header(line);
        }
        match self.state {
            State::Rows { first } => {
                self.state = State::Rows { first: false };
                self.row(line.as_bytes(), first, out);
                Ok(())
            }
            _ => Err(LogError {
                line: self.line_no,
                message: format!("not a MangoHud log: expected a header, found '{}'", truncate(line, 60)),
            }),
        }
    }

    fn sysinfo(&mut self, line: &str) {
        for (name, value) in self.sysinfo_names.iter().zip(line.split(',')) {
            let v = (!value.is_empty()).then(|| value.to_string());
            match name.as_str() {
                "os" => self.meta.os = v,
                "cpu" => self.meta.cpu = v,
                "gpu" => self.meta.gpu = v,
                "kernel" => self.meta.kernel = v,
                "driver" => self.meta.driver = v,
                "cpuscheduler" => self.meta.cpuscheduler = v,
                _ => {}
            }
        }
    }

    fn header(&mut self, line: &str) -> Result<(), LogError> {
        let names: Vec<&str> = line.split(',').map(str::trim).collect();
        let find = |n: &str| names.iter().position(|c| *c == n);
        let cols = Columns { fps: find("fps"), frametime: find("frametime"), elapsed: find("elapsed"), count: names.len() };
        if cols.fps.is_none() && cols.frametime.is_none() {
            return Err(LogError { line: self.line_no, message: "column header has neither fps nor frametime".into() });
        }
        let by_version = self.meta.mangohud_version.as_deref().and_then(unit_of_version);
        let source = match (cols.frametime, by_version) {
            (None, _) => FrametimeSource::DerivedFromFps,
            (Some(_), Some(unit)) => unit,
            // Version unknown: decided from the first row (fps × frametime).
            (Some(_), None) => self.meta.frametime_source.unwrap_or(FrametimeSource::Micros),
        };
        if by_version.is_some() || cols.frametime.is_none() {
            self.meta.frametime_source = Some(source);
        }
        self.meta.columns = names.iter().map(|s| s.to_string()).collect();
        self.meta.segments += 1;
        self.cols = cols;
        self.state = State::Rows { first: true };
        self.last_elapsed = None;
        Ok(())
    }

    fn row(&mut self, line: &[u8], first: bool, out: &mut Vec<Frame>) {
        // Plain decimal numbers are read straight from the bytes; anything
        // else (a bad row, a sign, an exponent, spaces…) goes the general
        // way, which decides and words the verdict.
        let fast = if self.fast { fast_fields(line, &self.cols) } else { None };
        if let Some(fields) = fast.or_else(|| self.fields(line)) {
            self.accept(fields, first, out);
        }
    }

    /// From `chunk[at..]`, consume the complete, plain data rows (see
    /// `plain_row`) exactly as `line` would; stop before the first other
    /// line. `self.maps` must be those of `chunk`. Returns where it stopped.
    fn fast_rows(&mut self, chunk: &[u8], mut at: usize, out: &mut Vec<Frame>) -> usize {
        let Some(last) = self.cols.count.checked_sub(1) else {
            return at;
        };
        let wanted = [self.cols.fps, self.cols.frametime, self.cols.elapsed];
        let walk = walked_fields(&wanted, last);
        // Frame times in ms with ≤ 6 decimals (µs: ≤ 3) are whole ns: taken
        // exactly as integers, which is what the f64 path gives (see
        // `exact_ns`). Other forms and units go through `accept`.
        let scale = match self.meta.frametime_source {
            Some(FrametimeSource::Millis) => Some(6),
            Some(FrametimeSource::Micros) => Some(3),
            _ => None,
        };
        // fps only tells the unit or the frame time when `scale` is unknown.
        let need_fps = scale.is_none();
        // The layout MangoHud writes (fps, frametime, …, elapsed) has a
        // loop of its own: the same checks, fewer branches.
        let usual = match (wanted, scale) {
            ([Some(0), Some(1), Some(elapsed)], Some(scale)) if elapsed == last && last >= 2 => Some(scale),
            _ => None,
        };
        loop {
            if let Some(scale) = usual {
                while let Some((ns, elapsed, end)) = usual_row(chunk, at, &self.maps, last, scale) {
                    self.line_no += 1;
                    self.emit(ns, Some(elapsed), out);
                    at = end + 1;
                }
            }
            let Some(row) = plain_row(chunk, at, &self.maps, wanted, walk, last, need_fps) else {
                return at;
            };
            if let Some(ns) = scale.and_then(|scale| exact_ns(row.ft?, scale)) {
                self.line_no += 1;
                self.emit(ns, row.elapsed, out);
            } else {
                let row = if need_fps { Some(row) } else { plain_row(chunk, at, &self.maps, wanted, walk, last, true) };
                let Some(fields) = row.and_then(|row| row.fields()) else {
                    return at;
                };
                self.line_no += 1;
                self.accept(fields, false, out);
            }
            at = row.end + 1;
        }
    }

    /// A data row's numbers → a frame (or a bad row, or the dropped first row).
    fn accept(&mut self, (fps, ft, elapsed): RowFields, first: bool, out: &mut Vec<Frame>) {
        if first {
            // Even a dropped first row says which unit an unversioned log uses.
            if self.meta.frametime_source.is_none()
                && let (Some(f), Some(t)) = (fps, ft)
            {
                self.meta.frametime_source = Some(guess_unit(f, t));
            }
            self.dropped_first_rows += 1;
            self.last_elapsed = elapsed;
            return;
        }
        if self.meta.frametime_source.is_none()
            && let (Some(f), Some(t)) = (fps, ft)
        {
            self.meta.frametime_source = Some(guess_unit(f, t));
        }

        let ns = match (self.meta.frametime_source, ft, fps) {
            (Some(FrametimeSource::Millis), Some(t), _) => t * 1e6,
            (Some(FrametimeSource::DerivedFromFps), _, Some(f)) if f > 0.0 => 1e9 / f,
            (Some(FrametimeSource::DerivedFromFps), _, Some(_)) => -1.0,
            (_, Some(t), _) => t * 1e3,
            _ => -1.0,
        };
        if ns <= 0.0 || ns > MAX_FRAME_NS as f64 {
            self.bad.add(self.line_no, format!("frame time {:.3} ms is out of range (0, 10 s]", ns / 1e6));
            return;
        }
        let frametime_ns = round_positive(ns);

        // Elapsed ns in 0.6+; the 0.4/0.5 form (no frametime) counts µs.
        let elapsed_ns =
            elapsed.map(|e| if self.meta.frametime_source == Some(FrametimeSource::DerivedFromFps) { e.saturating_mul(1_000) } else { e });
        self.emit(frametime_ns, elapsed_ns, out);
    }

    /// A frame that counts: out, and into the sampled-log probe.
    fn emit(&mut self, frametime_ns: u64, elapsed_ns: Option<u64>, out: &mut Vec<Frame>) {
        if let (Some(now), Some(prev)) = (elapsed_ns, self.last_elapsed)
            && self.probe.len() < SAMPLED_PROBE_ROWS
            && now > prev
        {
            self.probe.push((now - prev) as f64 / frametime_ns as f64);
            self.decide_sampled(false);
        }
        self.last_elapsed = elapsed_ns;
        out.push(Frame { frametime_ns, elapsed_ns });
    }

    /// The fps, frametime and elapsed fields of a row, the general way
    /// (`str` parsing); a bad row is counted and gives `None`.
    #[cold]
    fn fields(&mut self, line: &[u8]) -> Option<RowFields> {
        // The three columns we read, found in one pass over the commas
        // (no allocation: this runs for every frame of every log).
        let count = line.iter().filter(|&&b| b == b',').count() + 1; // vectorizes
        if count != self.cols.count {
            self.bad.add(self.line_no, format!("{count} fields, header has {}", self.cols.count));
            return None;
        }
        let found = [self.cols.fps, self.cols.frametime, self.cols.elapsed].map(|i| i.map(|i| field(line, i, count)));
        let num = |field: Option<&[u8]>| -> Option<Result<f64, String>> {
            let bytes = field?;
            let text = std::str::from_utf8(bytes).unwrap_or("").trim();
            Some(match text.parse::<f64>() {
                Ok(v) if v.is_finite() => Ok(v),
                _ => Err(format!("'{}' is not a number", truncate(&String::from_utf8_lossy(bytes), 30))),
            })
        };
        let fps = match num(found[0]).transpose() {
            Ok(v) => v,
            Err(e) => {
                self.bad.add(self.line_no, format!("fps {e}"));
                return None;
            }
        };
        let ft = match num(found[1]).transpose() {
            Ok(v) => v,
            Err(e) => {
                self.bad.add(self.line_no, format!("frametime {e}"));
                return None;
            }
        };
        let elapsed = match found[2].map(|b| match std::str::from_utf8(b).ok().and_then(|t| t.trim().parse::<u64>().ok()) {
            Some(v) => Ok(Some(v)),
            None => num(Some(b)).transpose().map(|v| v.filter(|e| *e >= 0.0).map(|e| e as u64)),
        }) {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                self.bad.add(self.line_no, format!("elapsed {e}"));
                return None;
            }
            None => None,
        };
        Some((fps, ft, elapsed))
    }

    /// A per-frame log advances `elapsed` by about one frame time per row; a
    /// sampled one by the sampling interval (many frames). Decide from the
    /// median ratio once enough rows (or all rows, at `finish`) were seen.
    fn decide_sampled(&mut self, at_end: bool) {
        if self.meta.sampled.is_some() || self.probe.is_empty() {
            return;
        }
        if self.probe.len() < SAMPLED_PROBE_ROWS && !at_end {
            return;
        }
        let mut r = self.probe.clone();
        r.sort_by(f64::total_cmp);
        self.meta.sampled = Some(r[r.len() / 2] > 1.5);
    }
}

/// Field `i` of a row with `count` fields. The columns read are near the
/// front (fps, frametime) or last (elapsed), so scan from the nearer end.
fn field(line: &[u8], i: usize, count: usize) -> &[u8] {
    let mut fields = line.split(|&b| b == b',');
    if i + 1 == count {
        let start = memchr::memrchr(b',', line).map_or(0, |p| p + 1);
        return &line[start..];
    }
    fields.nth(i).unwrap_or(&[])
}

/// fps, frametime and elapsed of a row, each `None` when the log has no
/// such column.
type RowFields = (Option<f64>, Option<f64>, Option<u64>);

mod fast;
use fast::*;

/// `x.round() as u64` for 0 < x < 2^53, without a libm call (no SSE4.1 in
/// the baseline x86-64 target): `x as u64` truncates, `x − trunc(x)` is
/// exact (Sterbenz), and `round` goes half away from zero.
fn round_positive(x: f64) -> u64 {
    let t = x as u64;
    if x - t as f64 >= 0.5 { t + 1 } else { t }
}

/// fps × frametime is ~1e6 when frametime is µs and ~1e3 when it is ms.
fn guess_unit(fps: f64, frametime: f64) -> FrametimeSource {
    let product = fps * frametime;
    if product > 0.0 && (product / 1e3).log10().abs() < (product / 1e6).log10().abs() {
        FrametimeSource::Millis
    } else {
        FrametimeSource::Micros
    }
}

/// The `frametime` unit a MangoHud version writes: µs up to 0.6.8, ms from
/// 0.6.9 (its commit 25b170d4, "logging: change frametime to float", came
/// between). A build from git past 0.6.8 (`0.6.8-12-gabcdef0`) may write
/// either: `None`, and the first row decides.
fn unit_of_version(v: &str) -> Option<FrametimeSource> {
    let git_build = v
        .split('-')
        .any(|p| p.trim_end_matches('+').strip_prefix('g').is_some_and(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit())));
    if version_at_least(v, (0, 6, 9)) {
        Some(FrametimeSource::Millis)
    } else if git_build && version_at_least(v, (0, 6, 8)) {
        None
    } else {
        Some(FrametimeSource::Micros)
    }
}

fn version_at_least(v: &str, min: (u32, u32, u32)) -> bool {
    let mut parts = v.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|p| p.parse::<u32>().unwrap_or(0));
    let got = (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    got >= min
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { s.chars().take(n).collect::<String>() + "…" }
}

/// A whole log file read and parsed.
pub struct ParsedLog {
    pub frames: Vec<Frame>,
    pub meta: LogMeta,
    pub bad_rows: BadRows,
    pub dropped_first_rows: u64,
}

/// Bytes read (and parsed) at a time.
const READ_CHUNK: usize = 1 << 20;

/// Stream a complete log through `sink`, a batch of frames at a time (no
/// need to hold a long log's frames in memory). Errors name the file (and
/// line). Returns the parser, for its metadata and bad-row counts.
///
/// The file is read on a second thread (copying from the page cache is a
/// good part of the time), a chunk ahead of the parser; the parser sees the
/// same bytes in the same order as from one thread, so the result is the
/// same. Without a thread (spawning failed) it reads in line.
pub fn stream_file(path: &Path, sink: impl FnMut(&[Frame])) -> Result<LogParser> {
    stream_file_from(path, 0, sink)
}

/// `stream_file` of the part of the file from byte `offset` on: the logs
/// appended to a file that already held one (MangoHud appends a log
/// started in the same second as the last to that log's file, preamble
/// first). Line numbers in errors count from `offset`, which they name.
pub fn stream_file_from(path: &Path, offset: u64, mut sink: impl FnMut(&[Frame])) -> Result<LogParser> {
    use std::io::{Read, Seek, SeekFrom};
    use std::sync::mpsc;
    if is_summary(path) {
        bail!("{}: a MangoHud summary file (no frames); give the log beside it", path.display());
    }
    let mut file = super::open::open_log(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let name = if offset == 0 { path.display().to_string() } else { format!("{} (from byte {offset})", path.display()) };
    let path = Path::new(&name); // for messages only from here on
    if offset > 0 {
        file.seek(SeekFrom::Start(offset)).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    }
    let mut parser = LogParser::new();
    let mut frames = Vec::new();
    let mut parse = |chunk: &[u8], parser: &mut LogParser| -> Result<()> {
        if let Err(e) = parser.feed(chunk, &mut frames) {
            bail!("{}: {e}", path.display());
        }
        sink(&frames);
        frames.clear();
        Ok(())
    };
    std::thread::scope(|scope| -> Result<()> {
        // Filled chunks one way (at most two waiting), empty buffers back.
        let (full_tx, full_rx) = mpsc::sync_channel::<std::io::Result<Vec<u8>>>(2);
        let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
        let reader = file.try_clone().ok().and_then(|mut file| {
            let read_ahead = move || {
                loop {
                    let mut buf = empty_rx.try_recv().unwrap_or_default();
                    buf.resize(READ_CHUNK, 0);
                    let got = file.read(&mut buf).map(|n| {
                        buf.truncate(n);
                        buf
                    });
                    let stop = !matches!(&got, Ok(b) if !b.is_empty());
                    // A send fails once the parser stopped (an error): done.
                    if full_tx.send(got).is_err() || stop {
                        return;
                    }
                }
            };
            std::thread::Builder::new().name("log-read".into()).spawn_scoped(scope, read_ahead).ok()
        });
        if reader.is_some() {
            for got in full_rx {
                let chunk = got.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                if chunk.is_empty() {
                    break;
                }
                parse(&chunk, &mut parser)?;
                let _ = empty_tx.send(chunk);
            }
            return Ok(());
        }
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = file.read(&mut buf).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            if n == 0 {
                return Ok(());
            }
            parse(&buf[..n], &mut parser)?;
        }
    })?;
    if let Err(e) = parser.finish(&mut frames) {
        bail!("{}: {e}", path.display());
    }
    sink(&frames);
    Ok(parser)
}

/// Read and parse a complete log into memory.
pub fn parse_file(path: &Path) -> Result<ParsedLog> {
    parse_file_from(path, 0)
}

/// `parse_file` of the part from byte `offset` on (see `stream_file_from`).
pub fn parse_file_from(path: &Path, offset: u64) -> Result<ParsedLog> {
    let mut frames = Vec::new();
    let parser = stream_file_from(path, offset, |batch| frames.extend_from_slice(batch))?;
    Ok(ParsedLog { frames, meta: parser.meta.clone(), bad_rows: parser.bad.clone(), dropped_first_rows: parser.dropped_first_rows })
}

/// MangoHud's `<exe>_<date>_summary.csv` files hold no frames.
pub fn is_summary(path: &Path) -> bool {
    // As bytes: MangoHud names its logs after the game's executable, whose
    // name need not be UTF-8 (a Latin-1 file name).
    path.file_name().is_some_and(|n| n.as_encoded_bytes().ends_with(b"_summary.csv"))
}

/// A MangoHud frame log: a `.csv` that is not a summary.
pub fn is_frame_log(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "csv") && !is_summary(path)
}

#[cfg(test)]
mod tests;
