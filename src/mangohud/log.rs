//! MangoHud CSV logs → frames, streaming.
//!
//! A log is: optional version lines (`v1`, `v0.6.8`, `---…---` banners with
//! `log_versioning`), a system-info header `os,cpu,gpu,…` and its values, a
//! column header (`fps,frametime,…,elapsed`), then one row per frame (or per
//! sample). Two logs started in the same second share one file, so a second
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
    /// `0.6.8` from a `v0.6.8` line; `None` when the log does not say.
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

fn is_version_line(line: &str) -> bool {
    line.strip_prefix('v').is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit() || c == '.'))
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
        if let State::Rows { first } = self.state
            && raw.first().is_some_and(|b| b.is_ascii_digit() || *b == b'-' || *b == b'.')
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
        if is_version_line(line) {
            let v = &line[1..];
            if v.contains('.') {
                self.meta.mangohud_version = Some(v.to_string());
            } else {
                self.meta.log_format = v.parse().ok();
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
        let source = match (cols.frametime, self.meta.mangohud_version.as_deref()) {
            (None, _) => FrametimeSource::DerivedFromFps,
            (Some(_), Some(v)) if version_at_least(v, (0, 6, 9)) => FrametimeSource::Millis,
            (Some(_), Some(_)) => FrametimeSource::Micros,
            // Version unknown: decided from the first row (fps × frametime).
            (Some(_), None) => self.meta.frametime_source.unwrap_or(FrametimeSource::Micros),
        };
        if self.meta.mangohud_version.is_some() || cols.frametime.is_none() {
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

// ---------------------------------------------------------------------------
// Fast path: rows in the form MangoHud writes, read straight from the bytes.
//
// A row takes it only when the general path (`LogParser::fields`, which
// parses `str`s) would read the same fields and the same numbers from it:
// the row starts with a digit (else it may be a preamble line), has the
// header's width, no `\r`, and each wanted field is a plain decimal
// (`digits` or `digits.digits`, ≤ 19 digits; elapsed: `digits`). Anything
// else (signs, exponents, spaces, `nan`, bad rows…) goes the general way,
// which decides and words the verdict. Numbers are exact: see `Dec::to_f64`
// and `exact_ns`; tests compare both paths.
// ---------------------------------------------------------------------------

/// A plain decimal: `m` × 10^-`k` (`k` = number of decimals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dec {
    m: u64,
    k: usize,
}

/// Powers of ten exactly representable as f64.
const POW10: [f64; 23] =
    [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];

impl Dec {
    /// As f64, bit-identical to `str::parse::<f64>` of its text: with
    /// m ≤ 2^53 and k ≤ 22, m and 10^k are exact f64s, so one IEEE division
    /// is the correctly rounded value, which `parse` returns (this is its
    /// own exact fast path, Clinger's). `None` beyond that.
    fn to_f64(self) -> Option<f64> {
        (self.m <= 1 << 53).then_some(())?;
        Some(self.m as f64 / *POW10.get(self.k)?)
    }
}

/// The wanted fields of a plain row, and where its line ends (the index of
/// its `\n`, or the end of the line).
#[derive(Clone, Copy, Debug, PartialEq)]
struct PlainRow {
    fps: Option<Dec>,
    ft: Option<Dec>,
    elapsed: Option<u64>,
    end: usize,
}

impl PlainRow {
    /// The numbers as the general path reads them; `None` when one is
    /// beyond the exact conversion (the general path then decides).
    fn fields(&self) -> Option<RowFields> {
        let f = |d: Option<Dec>| d.map(Dec::to_f64).map_or(Some(None), |v| v.map(Some));
        Some((f(self.fps)?, f(self.ft)?, self.elapsed))
    }
}

/// The frame time in whole ns of `ft` in a unit of 10^-`scale` s (ms: 6,
/// µs: 3), when it is one that counts (0 < ns ≤ 10 s) and has at most
/// `scale` decimals; `None` otherwise (then `accept` decides).
///
/// This is exactly what the f64 path gives (`t = parse(text)`,
/// `ns = t × 10^scale`, range check, `round`): the exact value N = m ×
/// 10^(scale−k) is an integer; t and ns are each correctly rounded, so
/// ns = N(1+δ) with |δ| ≤ 2.3e-16, i.e. within 2.3e-6 of N for N ≤ 10^10:
/// it rounds to N, it is > 0 iff N > 0, and it is ≤ 10^10 iff N ≤ 10^10
/// (N = 10^10 is 10 s, 10^4 ms or 10^7 µs: t is exact, and so is ns).
/// Larger N stay > 10^10 (|δ|·N < N − 10^10), and are left to `accept`.
fn exact_ns(ft: Dec, scale: usize) -> Option<u64> {
    const POW: [u64; 7] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000];
    let ns = ft.m.checked_mul(*POW.get(scale.checked_sub(ft.k)?)?)?;
    (1..=MAX_FRAME_NS).contains(&ns).then_some(ns)
}

/// The fields of a row without its newline, read straight from the bytes
/// when they are plain decimals; `None` otherwise.
fn fast_fields(line: &[u8], cols: &Columns) -> Option<RowFields> {
    let last = cols.count.checked_sub(1)?;
    let wanted = [cols.fps, cols.frametime, cols.elapsed];
    let row = scan_fields(line, wanted, walked_fields(&wanted, last), last)?;
    if row.end != line.len() {
        return None;
    }
    row.fields()
}

/// How many fields are walked to from the front: up to the last wanted one
/// before the last column (MangoHud puts fps and frametime first); the last
/// column is found from its end.
fn walked_fields(wanted: &[Option<usize>; 3], last: usize) -> usize {
    wanted.iter().flatten().filter(|&&i| i < last).map(|&i| i + 1).max().unwrap_or(0)
}

/// The plain row at `chunk[at..]`, ended by a `\n`, found from the bitmaps
/// of `chunk` (rows up to 127 bytes; longer ones byte by byte). Without
/// `need_fps`, fps is checked but not read (`fps: None`).
#[inline(always)]
fn plain_row(
    chunk: &[u8],
    at: usize,
    maps: &RowMaps,
    wanted: [Option<usize>; 3],
    walk: usize,
    last: usize,
    need_fps: bool,
) -> Option<PlainRow> {
    if !chunk.get(at)?.is_ascii_digit() {
        return None;
    }
    let (commas, newlines) = maps.windows(at);
    if newlines == 0 {
        // No newline in the next 128 bytes: a long row, or an unfinished one.
        let mut row = scan_fields(chunk.get(at..)?, wanted, walk, last)?;
        row.end += at;
        return (chunk.get(row.end) == Some(&b'\n')).then_some(row);
    }
    let len = newlines.trailing_zeros() as usize; // ≥ 1: the row starts with a digit
    let all = commas & (newlines - 1); // the commas before the newline
    if all.count_ones() as usize != last || chunk.get(at + len - 1) == Some(&b'\r') {
        return None;
    }
    let mut row = PlainRow { fps: None, ft: None, elapsed: None, end: at + len };
    let (mut commas, mut from) = (all, at);
    for col in 0..walk {
        let to = at + commas.trailing_zeros() as usize;
        commas &= commas - 1;
        read_field(&mut row, chunk, wanted, col, from, to, need_fps)?;
        from = to + 1;
    }
    let from = if all == 0 { at } else { at + 128 - all.leading_zeros() as usize };
    read_field(&mut row, chunk, wanted, last, from, at + len, need_fps)?;
    Some(row)
}

/// Field `col` of a row, `s[from..to]`, read into `row` if wanted.
#[inline(always)]
fn read_field(
    row: &mut PlainRow,
    s: &[u8],
    [fps, ft, elapsed]: [Option<usize>; 3],
    col: usize,
    from: usize,
    to: usize,
    need_fps: bool,
) -> Option<()> {
    if Some(col) == fps {
        if need_fps {
            row.fps = Some(decimal(s, from, to)?);
        } else if !is_decimal(s, from, to) {
            return None;
        }
    } else if Some(col) == ft {
        row.ft = Some(decimal(s, from, to)?);
    } else if Some(col) == elapsed {
        row.elapsed = Some(integer(s, from, to)?);
    }
    Some(())
}

/// `plain_row` for the layout MangoHud writes (fps first, frametime
/// second, elapsed last, `last + 1` ≥ 3 columns) when the frame time is a
/// whole number of ns in its unit (`exact_ns`): the frame time, elapsed and
/// where the line ends; `None` for any other row (then `plain_row` and
/// `accept` decide).
#[inline(always)]
fn usual_row(chunk: &[u8], at: usize, maps: &RowMaps, last: usize, scale: usize) -> Option<(u64, u64, usize)> {
    if !chunk.get(at)?.is_ascii_digit() {
        return None;
    }
    let (commas, newlines) = maps.windows(at);
    if newlines == 0 {
        return None;
    }
    let len = newlines.trailing_zeros() as usize;
    let all = commas & (newlines - 1); // the commas before the newline
    if all.count_ones() as usize != last {
        return None;
    }
    let fps_end = at + all.trailing_zeros() as usize;
    let ft_end = at + (all & (all - 1)).trailing_zeros() as usize;
    let elapsed_at = at + 128 - all.leading_zeros() as usize;
    let end = at + len;
    // A '\r' before the newline is not a digit: elapsed is not plain then.
    if !is_decimal(chunk, at, fps_end) {
        return None;
    }
    let ns = exact_ns(decimal(chunk, fps_end + 1, ft_end)?, scale)?;
    Some((ns, integer(chunk, elapsed_at, end)?, end))
}

/// The wanted fields of the row at the start of `s`, up to its first `\n`
/// (or the end of `s`), byte by byte; `None` unless it is a plain row.
fn scan_fields(s: &[u8], wanted: [Option<usize>; 3], walk: usize, last: usize) -> Option<PlainRow> {
    if !s.first()?.is_ascii_digit() {
        return None;
    }
    let [fps_col, ft_col, elapsed_col] = wanted;
    let mut row = PlainRow { fps: None, ft: None, elapsed: None, end: 0 };
    let mut pos = 0;
    for i in 0..walk {
        if Some(i) == fps_col {
            let (v, end) = decimal_at(s, pos)?;
            (row.fps, pos) = (Some(v), end);
        } else if Some(i) == ft_col {
            let (v, end) = decimal_at(s, pos)?;
            (row.ft, pos) = (Some(v), end);
        } else if Some(i) == elapsed_col {
            let (v, end) = decimal_at(s, pos)?;
            (row.elapsed, pos) = (Some(v.m).filter(|_| v.k == 0), end);
            row.elapsed?;
        } else {
            pos += s.get(pos..)?.iter().position(|&b| b == b',' || b == b'\n')?;
        }
        if s.get(pos) != Some(&b',') {
            return None;
        }
        pos += 1;
    }
    let rest = s.get(pos..)?;
    let len = memchr::memchr(b'\n', rest).unwrap_or(rest.len());
    let rest = &rest[..len];
    if walk + memchr::memchr_iter(b',', rest).count() != last || rest.last() == Some(&b'\r') {
        return None;
    }
    row.end = pos + len;
    let from = memchr::memrchr(b',', rest).map_or(pos, |c| pos + c + 1);
    if Some(last) == fps_col {
        row.fps = Some(decimal(s, from, row.end)?);
    } else if Some(last) == ft_col {
        row.ft = Some(decimal(s, from, row.end)?);
    } else if Some(last) == elapsed_col {
        row.elapsed = Some(integer(s, from, row.end)?);
    }
    Some(row)
}

/// Bit i of entry j: is byte 64j + i of the chunk a comma / a newline.
#[derive(Debug, Default)]
struct RowMaps {
    /// (commas, newlines) per 64 bytes, and two empty entries after.
    bits: Vec<[u64; 2]>,
}

impl RowMaps {
    fn build(&mut self, chunk: &[u8]) {
        self.bits.clear();
        let mut blocks = chunk.chunks_exact(64);
        for block in &mut blocks {
            self.bits.push(block_maps(block.try_into().unwrap_or(&[0; 64])));
        }
        let mut tail = [0u8; 64];
        tail[..blocks.remainder().len()].copy_from_slice(blocks.remainder());
        self.bits.push(block_maps(&tail));
        self.bits.extend([[0; 2]; 2]);
    }

    /// 128 bits of the comma and of the newline maps from bit `at` (zeros
    /// past the end).
    #[inline(always)]
    fn windows(&self, at: usize) -> (u128, u128) {
        let (w, shift) = (at / 64, (at % 64) as u32);
        let Some(&[[c0, n0], [c1, n1], [c2, n2]]) = self.bits.get(w..).and_then(|b| b.first_chunk::<3>()) else {
            return (0, 0);
        };
        // (c2 << 1) << (127 − shift): no shift by 128 when `shift` is 0.
        let join = |a: u64, b: u64, c: u64| ((u128::from(a) | u128::from(b) << 64) >> shift) | (u128::from(c) << 1 << (127 - shift));
        (join(c0, c1, c2), join(n0, n1, n2))
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const LO7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// 0x80 in each byte of `x` that is zero, exactly (no false positives: the
/// masked add cannot carry across bytes).
#[inline(always)]
fn zero_bytes(x: u64) -> u64 {
    !(((x & LO7) + LO7) | x | LO7)
}

/// Commas and newlines among 64 bytes, as bits (bit i: byte i).
#[inline(always)]
fn block_maps(block: &[u8; 64]) -> [u64; 2] {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `block_maps_sse2` only needs SSE2, which every x86-64 CPU has
    // (it is part of the x86-64 baseline, as the std docs say; rustc's own
    // x86_64 targets enable it). It reads nothing but its argument.
    return unsafe { block_maps_sse2(block) };
    #[cfg(not(target_arch = "x86_64"))]
    return block_maps_swar(block);
}

/// `block_maps` with SSE2: 16 compares at once, `pmovmskb` for the bits.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn block_maps_sse2(block: &[u8; 64]) -> [u64; 2] {
    use std::arch::x86_64::{_mm_cmpeq_epi8, _mm_movemask_epi8, _mm_set_epi64x, _mm_set1_epi8};
    let comma = _mm_set1_epi8(b',' as i8);
    let newline = _mm_set1_epi8(b'\n' as i8);
    let (mut commas, mut newlines) = (0u64, 0u64);
    for (k, bytes) in block.chunks_exact(16).enumerate() {
        let half = |at: usize| i64::from_le_bytes(bytes.get(at..at + 8).and_then(|h| h.try_into().ok()).unwrap_or([0; 8]));
        let v = _mm_set_epi64x(half(8), half(0)); // one unaligned load
        commas |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma)) as u16) << (16 * k);
        newlines |= u64::from(_mm_movemask_epi8(_mm_cmpeq_epi8(v, newline)) as u16) << (16 * k);
    }
    [commas, newlines]
}

/// `block_maps` in plain Rust, eight bytes at a time (SWAR): a byte's mark
/// moved to bit 8j, then the multiply gathers bit 8j of each byte j into
/// bit 56 + j (the partial products do not overlap, so nothing carries).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))] // the reference in tests
fn block_maps_swar(block: &[u8; 64]) -> [u64; 2] {
    const GATHER: u64 = 0x0102_0408_1020_4080;
    let (mut commas, mut newlines) = (0u64, 0u64);
    for (j, bytes) in block.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(bytes.try_into().unwrap_or([0; 8]));
        let bits = |needle: u8| ((zero_bytes(w ^ (ONES * u64::from(needle))) >> 7).wrapping_mul(GATHER) >> 56) << (8 * j);
        commas |= bits(b',');
        newlines |= bits(b'\n');
    }
    [commas, newlines]
}

/// The plain decimal that is all of `s[from..to]`.
#[inline(always)]
fn decimal(s: &[u8], from: usize, to: usize) -> Option<Dec> {
    let len = to.checked_sub(from)?;
    match s.get(from..).and_then(|r| r.first_chunk::<8>()) {
        Some(word) if (1..=8).contains(&len) => decimal8(u64::from_le_bytes(*word), len),
        _ => decimal_at(s.get(..to)?, from).and_then(|(d, end)| (end == to).then_some(d)),
    }
}

/// The plain integer (digits only) that is all of `s[from..to]`.
#[inline(always)]
fn integer(s: &[u8], from: usize, to: usize) -> Option<u64> {
    let len = to.checked_sub(from)?;
    match s.get(from..).and_then(|r| r.first_chunk::<16>()) {
        Some(bytes) if (1..=16).contains(&len) => {
            let (head, tail) = bytes.split_at(8);
            let word = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
            digits16(word(head), word(tail), len)
        }
        _ => decimal(s, from, to).and_then(|d| (d.k == 0).then_some(d.m)),
    }
}

/// Eight digit values (0..=9), the first (most significant) in the lowest
/// byte, as a number: pairs, then quads, then all eight (SWAR).
#[inline(always)]
fn eight_digits(x: u64) -> u64 {
    let x = (x.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    x.wrapping_mul(10000 << 32 | 1) >> 32
}

/// The plain decimal in the low `len` (1..=8) bytes of `x` (eight bytes
/// read from the text; the bytes past the field are ignored).
#[inline(always)]
fn decimal8(x: u64, len: usize) -> Option<Dec> {
    let (digits, k) = decimal8_digits(x, len)?;
    Some(Dec { m: eight_digits(digits), k })
}

/// `decimal8` up to the digit values: those (first in the lowest byte,
/// moved up so that eight_digits reads them, zeros below) and the number
/// of decimals. Enough to tell a plain decimal.
#[inline(always)]
fn decimal8_digits(x: u64, len: usize) -> Option<(u64, usize)> {
    let field = u64::MAX.checked_shr(64 - 8 * u32::try_from(len).ok()?)?;
    let t = (x ^ (ONES * u64::from(b'0'))) & field; // a digit → its value
    // 0x80 in each byte of the field that is not 0..=9 (exact, no carries).
    let not_digit = (((t & LO7) + ONES * (0x80 - 10)) | t) & HIGH & field;
    if not_digit == 0 {
        return Some((t << (64 - 8 * len), 0));
    }
    // Else exactly one non-digit: a '.' with digits on both sides.
    let dot = not_digit.trailing_zeros() as usize / 8;
    if not_digit & (not_digit - 1) != 0 || dot == 0 || dot + 1 == len || (x >> (8 * dot)) as u8 != b'.' {
        return None;
    }
    let below = (1u64 << (8 * dot)) - 1;
    let digits = (t & below) | ((t >> 8) & !below); // the '.' taken out
    Some((digits << (64 - 8 * (len - 1)), len - 1 - dot))
}

/// Whether `s[from..to]` is a plain decimal, without its value.
#[inline(always)]
fn is_decimal(s: &[u8], from: usize, to: usize) -> bool {
    let len = to.wrapping_sub(from);
    match s.get(from..).and_then(|r| r.first_chunk::<8>()) {
        Some(word) if (1..=8).contains(&len) => decimal8_digits(u64::from_le_bytes(*word), len).is_some(),
        _ => decimal(s, from, to).is_some(),
    }
}

/// The plain integer in the low `len` (1..=16) bytes of `head`, `tail`
/// (sixteen bytes read from the text; the bytes past the field are ignored).
#[inline(always)]
fn digits16(head: u64, tail: u64, len: usize) -> Option<u64> {
    const POW10_U64: [u64; 9] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000];
    // 0x80 in each byte of `t` that is not 0..=9 (exact, no carries).
    let not_digit = |t: u64| ((t & LO7) + ONES * (0x80 - 10)) | t;
    if len <= 8 {
        return match decimal8_digits(head, len)? {
            (digits, 0) => Some(eight_digits(digits)),
            _ => None,
        };
    }
    let rest = len - 8; // 1..=8 digits in `tail`
    let head = head ^ (ONES * u64::from(b'0'));
    let tail = (tail ^ (ONES * u64::from(b'0'))) << (64 - 8 * rest); // zeros below
    if (not_digit(head) | not_digit(tail)) & HIGH != 0 {
        return None;
    }
    Some(eight_digits(head) * POW10_U64.get(rest)? + eight_digits(tail))
}

/// A plain decimal at `s[at..]`: `digits` or `digits.digits`, at most 19
/// digits in all, byte by byte; and where it ends (the caller checks what
/// follows).
#[inline(never)]
fn decimal_at(s: &[u8], at: usize) -> Option<(Dec, usize)> {
    let mut m = 0u64;
    let mut digits = |from: usize| {
        let run = s.get(from..).map_or(0, |r| r.iter().take_while(|b| b.is_ascii_digit()).count());
        for &b in &s[from..from + run] {
            m = m.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
        }
        run
    };
    let int = digits(at);
    if int == 0 {
        return None;
    }
    let mut end = at + int;
    let mut frac = 0;
    if s.get(end) == Some(&b'.') {
        frac = digits(end + 1);
        if frac == 0 {
            return None; // `5.`: std reads it; leave it to the general path
        }
        end += 1 + frac;
    }
    // ≤ 19 digits: m < 10^19 < 2^64, so the wrapping ops above never wrapped.
    (int + frac <= 19).then_some((Dec { m, k: frac }, end))
}

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
pub fn stream_file(path: &Path, mut sink: impl FnMut(&[Frame])) -> Result<LogParser> {
    use std::io::Read;
    use std::sync::mpsc;
    if is_summary(path) {
        bail!("{}: a MangoHud summary file (no frames); give the log beside it", path.display());
    }
    let mut file = super::open::open_log(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
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
    let mut frames = Vec::new();
    let parser = stream_file(path, |batch| frames.extend_from_slice(batch))?;
    Ok(ParsedLog { frames, meta: parser.meta.clone(), bad_rows: parser.bad.clone(), dropped_first_rows: parser.dropped_first_rows })
}

/// MangoHud's `<exe>_<date>_summary.csv` files hold no frames.
pub fn is_summary(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with("_summary.csv"))
}

/// A MangoHud frame log: a `.csv` that is not a summary.
pub fn is_frame_log(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "csv") && !is_summary(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V068: &str = "v1\nv0.6.8\n---------------------SYSTEM INFO---------------------\n\
        os,cpu,gpu,ram,kernel,driver,cpuscheduler\nDebian,AMD EPYC,,24684092,6.18.44,4.5 Mesa,\n\
        --------------------FRAME METRICS--------------------\n\
        fps,frametime,cpu_load,gpu_load,cpu_temp,gpu_temp,gpu_core_clock,gpu_mem_clock,gpu_vram_used,gpu_power,ram_used,elapsed\n\
        0.000114,8765056874,100,0,0,0,0,0,0,0,0.4,114815461\n\
        200,5000,50,0,0,0,0,0,0,0,0.4,119815461\n\
        100,10000,50,0,0,0,0,0,0,0,0.4,129815461\n";

    fn parse(text: &[u8]) -> (Vec<Frame>, LogParser) {
        let mut p = LogParser::new();
        let mut out = Vec::new();
        p.feed(text, &mut out).unwrap();
        p.finish(&mut out).unwrap();
        (out, p)
    }

    #[test]
    fn versioned_068_log_in_micros_drops_the_first_row() {
        let (frames, p) = parse(V068.as_bytes());
        assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![5_000_000, 10_000_000]);
        assert_eq!(frames[0].elapsed_ns, Some(119815461));
        let m = p.meta();
        assert_eq!(m.mangohud_version.as_deref(), Some("0.6.8"));
        assert_eq!(m.log_format, Some(1));
        assert_eq!(m.cpu.as_deref(), Some("AMD EPYC"));
        assert_eq!(m.gpu, None);
        assert_eq!(m.kernel.as_deref(), Some("6.18.44"));
        assert_eq!(m.frametime_source, Some(FrametimeSource::Micros));
        assert_eq!(p.dropped_first_rows(), 1);
        assert_eq!(p.bad_rows().count, 0);
        assert_eq!(m.sampled, Some(false));
    }

    #[test]
    fn newer_logs_are_float_millis_by_version_or_by_fps() {
        let body = "fps,frametime,cpu_load,elapsed\n60,16.6,1,0\n60,16.667,1,16667000\n120,8.333,1,25000000\n";
        let (frames, p) = parse(format!("v1\nv0.8.2\n{body}").as_bytes());
        assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![16_667_000, 8_333_000]);
        assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Millis));
        // No version line: fps × frametime ≈ 1000 says ms.
        let (frames, p) = parse(body.as_bytes());
        assert_eq!(frames[0].frametime_ns, 16_667_000);
        assert_eq!(p.meta().mangohud_version, None);
        assert_eq!(p.meta().frametime_source, Some(FrametimeSource::Millis));
    }

    #[test]
    fn old_logs_without_frametime_derive_it_from_fps() {
        let (frames, p) = parse(b"fps,cpu,gpu,elapsed\n10,1,1,0\n50,1,1,20000\n100,1,1,30000\n");
        assert_eq!(frames.iter().map(|f| f.frametime_ns).collect::<Vec<_>>(), vec![20_000_000, 10_000_000]);
        assert_eq!(frames[1].elapsed_ns, Some(30_000_000)); // µs → ns
        assert_eq!(p.meta().frametime_source, Some(FrametimeSource::DerivedFromFps));
    }

    #[test]
    fn partial_lines_wait_for_the_rest() {
        let mut p = LogParser::new();
        let mut out = Vec::new();
        for chunk in V068.as_bytes().chunks(7) {
            p.feed(chunk, &mut out).unwrap();
        }
        p.finish(&mut out).unwrap();
        assert_eq!(out.len(), 2);
        // A row cut mid-way is not emitted until its newline arrives.
        let mut p = LogParser::new();
        let mut out = Vec::new();
        p.feed(b"fps,frametime,elapsed\n1,1000000,0\n100,100", &mut out).unwrap();
        assert!(out.is_empty());
        p.feed(b"00,10000000\n", &mut out).unwrap();
        assert_eq!(out, vec![Frame { frametime_ns: 10_000_000, elapsed_ns: Some(10_000_000) }]);
    }

    #[test]
    fn a_second_preamble_starts_a_new_log_in_the_same_file() {
        let text = format!("{V068}{V068}");
        let (frames, p) = parse(text.as_bytes());
        assert_eq!(frames.len(), 4);
        assert_eq!(p.meta().segments, 2);
        assert_eq!(p.dropped_first_rows(), 2);
    }

    #[test]
    fn bad_rows_are_skipped_and_counted() {
        let text = "fps,frametime,elapsed\n100,10000,0\n100,10000,1\nabc,10000,2\n100,-5,3\n100,20000000,4\n100,10000\n100,nan,5\n100,0,6\n100,10000,7\n";
        let (frames, p) = parse(text.as_bytes());
        assert_eq!(frames.len(), 2);
        assert_eq!(p.bad_rows().count, 6);
        let ex = &p.bad_rows().examples;
        assert_eq!(ex[0], (4, "fps 'abc' is not a number".to_string()));
        assert!(ex[1].1.contains("out of range"), "{ex:?}");
        assert!(ex[3].1.contains("2 fields, header has 3"), "{ex:?}");
    }

    #[test]
    fn unusable_files_are_errors_with_a_line() {
        let err = |t: &[u8]| {
            let mut p = LogParser::new();
            let mut out = Vec::new();
            p.feed(t, &mut out).and_then(|_| p.finish(&mut out)).unwrap_err().to_string()
        };
        assert_eq!(err(b""), "empty file");
        assert!(err(b"\x7fELF\x02\x01\x01\0\0\n").starts_with("line 1: not a MangoHud log"));
        assert!(err(b"hello,world\n1,2\n").contains("line 1: not a MangoHud log: expected a header"));
        assert_eq!(err(b"gpu_load,cpu_load,elapsed,frametimes\n"), "line 1: column header has neither fps nor frametime");
        assert!(err(b"os,cpu\nx,y\n").contains("no column header"));
    }

    #[test]
    fn junk_after_the_header_is_bad_rows_not_a_panic() {
        let mut text = b"fps,frametime,elapsed\n100,10000,0\n".to_vec();
        text.extend_from_slice(&[0xff, 0xfe, b',', 0, b'\n']);
        text.extend(std::iter::repeat_n(b'x', 70_000));
        text.extend_from_slice(b"\n100,10000,5\n");
        let (frames, p) = parse(&text);
        assert_eq!(frames.len(), 1);
        assert_eq!(p.bad_rows().count, 2);
    }

    #[test]
    fn an_endless_line_fed_in_chunks_is_one_bad_row() {
        let mut p = LogParser::new();
        let mut out = Vec::new();
        p.feed(b"fps,frametime,elapsed\n100,10000,0\n", &mut out).unwrap();
        for _ in 0..50 {
            p.feed(&[b'7'; 10_000], &mut out).unwrap();
        }
        p.feed(b"\n100,10000,5\n", &mut out).unwrap();
        p.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(p.bad_rows().count, 1);
        assert_eq!(p.line_no, 4);
    }

    #[test]
    fn version_comparison() {
        assert!(version_at_least("0.6.9", (0, 6, 9)));
        assert!(version_at_least("0.8.1-1", (0, 6, 9)));
        assert!(!version_at_least("0.6.8", (0, 6, 9)));
        assert!(version_at_least("1.0", (0, 6, 9)));
    }

    // --- The fast path against the general one -------------------------

    /// Deterministic xorshift.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            if n == 0 { 0 } else { (self.next() % n as u64) as usize }
        }
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            &items[self.below(items.len())]
        }
    }

    /// Everything a parser makes of `text` fed in chunks of the given
    /// sizes (cycled), as one comparable string, plus the frames.
    fn outcome(text: &[u8], fast: bool, sizes: &[usize]) -> (Vec<Frame>, String) {
        let mut p = LogParser::new();
        p.fast = fast;
        let mut out = Vec::new();
        let mut rest = text;
        let mut result = Ok(());
        for &n in sizes.iter().cycle() {
            if rest.is_empty() || result.is_err() {
                break;
            }
            let n = n.clamp(1, rest.len());
            result = p.feed(&rest[..n], &mut out);
            rest = &rest[n..];
        }
        let result = result.and_then(|_| p.finish(&mut out)).map_err(|e| e.to_string());
        let summary = format!(
            "{result:?} line {} dropped {} bad {:?} meta {:?} probe {:?} last {:?}",
            p.line_no, p.dropped_first_rows, p.bad, p.meta, p.probe, p.last_elapsed
        );
        (out, summary)
    }

    fn assert_same_as_general_path(text: &[u8], rng: &mut Rng) {
        let (want_frames, want) = outcome(text, false, &[text.len().max(1)]);
        let sizes: Vec<usize> = match rng.below(3) {
            0 => vec![text.len().max(1)],
            1 => (0..8).map(|_| 1 + rng.below(300)).collect(),
            _ => (0..8).map(|_| 1 + rng.below(5000)).collect(),
        };
        let (frames, got) = outcome(text, true, &sizes);
        assert_eq!(got, want, "{}", String::from_utf8_lossy(&text[..text.len().min(2000)]));
        assert_eq!(frames, want_frames);
    }

    /// Logs of every form the parser knows, with a mix of plain rows and
    /// rows that are not (so both paths and the hand-over between them run).
    fn synthetic_log(rng: &mut Rng) -> Vec<u8> {
        let mut text = String::new();
        let version = *rng.pick(&["", "v1\nv0.8.2\n", "v1\nv0.6.8\n", "v0.7.0\n"]);
        text.push_str(version);
        if rng.below(2) == 0 {
            text.push_str("os,cpu,gpu,ram,kernel,driver,cpuscheduler\nDebian,EPYC,,1,6.1,,\n");
        }
        // Columns: the wanted ones among others, in several orders and widths.
        let extra = *rng.pick(&[0usize, 1, 3, 13, 40]);
        let mut cols: Vec<String> = (0..extra).map(|i| format!("c{i}")).collect();
        for name in ["fps", "frametime", "elapsed"] {
            if rng.below(8) != 0 {
                let at = match rng.below(4) {
                    0 => 0,
                    1 => cols.len(),
                    _ => rng.below(cols.len() + 1),
                };
                cols.insert(at, name.to_string());
            }
        }
        if !cols.iter().any(|c| c == "fps" || c == "frametime") {
            cols.insert(0, "fps".into());
        }
        let crlf = rng.below(10) == 0;
        let eol = if crlf { "\r\n" } else { "\n" };
        text.push_str(&cols.join(","));
        text.push_str(eol);
        let millis = rng.below(2) == 0;
        let mut elapsed: u64 = rng.next() % 1_000_000_000_000;
        for _ in 0..rng.below(400) {
            let ft_ms = 1.0 + (rng.next() % 40_000) as f64 / 1000.0;
            elapsed += (ft_ms * 1e6) as u64;
            let fields: Vec<String> = cols
                .iter()
                .map(|c| match c.as_str() {
                    "fps" => match rng.below(4) {
                        0 => format!("{:.4}", 1000.0 / ft_ms),
                        1 => format!("{:.0}", 1000.0 / ft_ms),
                        2 => format!("{:.9}", 1000.0 / ft_ms),
                        _ => format!("{}", 1000.0 / ft_ms),
                    },
                    "frametime" if millis => match rng.below(4) {
                        0 => format!("{ft_ms:.3}"),
                        1 => format!("{ft_ms:.6}"),
                        2 => format!("{ft_ms:.7}"),
                        _ => format!("{ft_ms}"),
                    },
                    "frametime" => format!("{}", (ft_ms * 1000.0) as u64),
                    "elapsed" => format!("{elapsed}"),
                    _ => format!("{}", rng.below(100_000)),
                })
                .collect();
            text.push_str(&fields.join(","));
            text.push_str(eol);
        }
        text.into_bytes()
    }

    /// Replace, insert or delete a few bytes, favouring the ones that make
    /// numbers not plain (signs, exponents, spaces, dots, long digit runs…).
    fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
        const JUNK: [&[u8]; 22] = [
            b",",
            b"\n",
            b"\r",
            b".",
            b"-",
            b"+",
            b"e",
            b"E3",
            b" ",
            b"\t",
            b"\xc2\xa0",
            b"nan",
            b"inf",
            b"1e309",
            b"0000000000",
            b"12345678901234567890",
            b"\xff",
            b"0",
            b"9",
            b"..",
            b"os,cpu\n",
            b"fps,frametime,elapsed\n",
        ];
        for _ in 0..1 + rng.below(4) {
            let len = bytes.len();
            let at = rng.below(len + 1);
            match rng.below(4) {
                0 if len > 0 => bytes[at.min(len - 1)] = *rng.pick(b"0123456789.,-+eE \r\n\t\xffx"),
                1 => {
                    let end = (at + rng.below(8)).min(len);
                    bytes.drain(at..end);
                }
                _ => {
                    let junk = *rng.pick(&JUNK);
                    bytes.splice(at..at, junk.iter().copied());
                }
            }
        }
        bytes
    }

    #[test]
    fn the_fast_path_gives_what_the_general_path_gives() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mangohud");
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
        seeds.sort();
        seeds.push(V068.as_bytes().to_vec());
        let mut rng = Rng(0x853c_49e6_748f_ea9b);
        for _ in 0..300 {
            seeds.push(synthetic_log(&mut rng));
        }
        for seed in &seeds {
            assert_same_as_general_path(seed, &mut rng);
        }
        for _ in 0..4000 {
            let seed = seeds[rng.below(seeds.len())].clone();
            let text = mutate(&mut rng, seed);
            assert_same_as_general_path(&text, &mut rng);
        }
        // Two logs in one file, and a log after junk rows.
        for _ in 0..100 {
            let mut text = synthetic_log(&mut rng);
            let second = synthetic_log(&mut rng);
            text.extend(mutate(&mut rng, second));
            assert_same_as_general_path(&text, &mut rng);
        }
    }

    #[test]
    fn rows_the_fast_path_leaves_to_the_general_one() {
        // Each of these rows is read by `str` parsing, as before: same
        // frames, same bad rows, same messages.
        let rows = [
            "100,16.667,7",
            "100,1e1,7",
            "100,+16,7",
            "100,16.,7",
            "100,.5,7",
            "100, 16,7",
            "100,16 ,7",
            "100,16\t,7",
            "100,\u{a0}16,7",
            "100,-1,7",
            "100,-0,7",
            "100,nan,7",
            "100,inf,7",
            "100,1e309,7",
            "100,,7",
            "100,16,7.5",
            "100,16,-7",
            "100,16,+7",
            "100,16,1e3",
            "100,16,99999999999999999999",
            "100,16,18446744073709551615",
            "100,16,18446744073709551616",
            "100,0.0000001,7",
            "100,0.0000004999,7",
            "100,0.0000005,7",
            "100,10000.0000004,7",
            "100,10000.000001,7",
            "100,10000,7",
            "100,12345678901234567890,7",
            "100,1234567890123456789,7",
            "100,9007199254740993,7",
            "100,0.9007199254740993,7",
            "1e2,16,7",
            "100,16,7,",
            "100,16",
            "100,16,7\r",
            "0100,016.6670,0007",
        ];
        for unit in ["v0.8.2\n", "v0.6.8\n", ""] {
            for row in rows {
                let text = format!("{unit}fps,frametime,elapsed\n60,16.6,0\n{row}\n60,16.6,33200000\n");
                let mut rng = Rng(7);
                assert_same_as_general_path(text.as_bytes(), &mut rng);
            }
        }
    }

    #[test]
    fn plain_decimals_read_exactly_as_std_parses_them() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut cases: Vec<Vec<u8>> = [
            "0",
            "00",
            "0.0",
            "16.667",
            "8.333",
            "1e3",
            "-1",
            "+1",
            "nan",
            "NaN",
            "inf",
            "",
            " 5",
            "5 ",
            "5.",
            ".5",
            ".",
            "1.2.3",
            "9007199254740992",
            "9007199254740993",
            "0.9007199254740993",
            "123456789012345678",
            "1234567890123456789",
            "12345678901234567890",
            "99999999999999999999",
            "0.000000000000000001",
            "1.000000000000000000",
            "18446744073709551615",
            "18446744073709551616",
            "4.9406564584124654e-324",
            "1_000",
            "0x10",
            "١٢",
            "12345678",
            "123456789",
            "1234567.8",
            "1234567.89",
            "1.2345678",
            "99999999.99999999",
            "9999999999999999",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        for _ in 0..200_000 {
            let len = rng.below(22);
            let alphabet: &[u8] = if rng.below(4) == 0 { b"0123456789.-+eE x," } else { b"0123456789." };
            cases.push((0..len).map(|_| *rng.pick(alphabet)).collect());
        }
        for case in &cases {
            let std_f64 = std::str::from_utf8(case).ok().and_then(|t| t.trim().parse::<f64>().ok()).filter(|v| v.is_finite());
            let std_u64 = std::str::from_utf8(case).ok().and_then(|t| t.trim().parse::<u64>().ok());
            let scalar = decimal_at(case, 0).and_then(|(d, end)| (end == case.len()).then_some(d));
            // The same field with what follows it in a row (the 8- and
            // 16-byte reads), and at the very end of the input.
            for tail in [&b",123456789012345678\n"[..], b"", b"\n", b"9999999999999999"] {
                let mut text = case.clone();
                text.extend_from_slice(tail);
                assert_eq!(decimal(&text, 0, case.len()), scalar, "{:?}", String::from_utf8_lossy(case));
                let int = integer(&text, 0, case.len());
                assert_eq!(int, scalar.filter(|d| d.k == 0).map(|d| d.m), "{:?}", String::from_utf8_lossy(case));
            }
            if let Some(d) = scalar {
                // Only what std reads, and to the same bits.
                let v = std_f64.unwrap_or_else(|| panic!("{:?} taken but std rejects it", String::from_utf8_lossy(case)));
                if let Some(fast) = d.to_f64() {
                    assert_eq!(fast.to_bits(), v.to_bits(), "{:?}", String::from_utf8_lossy(case));
                } else {
                    assert!(d.m > 1 << 53, "{d:?}");
                }
                if d.k == 0 {
                    assert_eq!(std_u64, Some(d.m), "{:?}", String::from_utf8_lossy(case));
                }
            } else if let Some(v) = std_u64 {
                // Digits std reads as u64 are plain unless over 19 digits.
                assert!(case.len() > 19 || !case.iter().all(u8::is_ascii_digit), "{v}");
            }
        }
        // Random plain decimals of every size are all taken, exactly.
        for _ in 0..200_000 {
            let digits = 1 + rng.below(19);
            let k = rng.below(digits);
            let m = rng.next() % 10u64.pow(digits as u32);
            let text = format!("{m:0digits$}");
            let text = if k > 0 { format!("{}.{}", &text[..digits - k], &text[digits - k..]) } else { text };
            let d = decimal(text.as_bytes(), 0, text.len()).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(d, Dec { m, k }, "{text}");
            if let Some(v) = d.to_f64() {
                assert_eq!(v.to_bits(), text.parse::<f64>().unwrap().to_bits(), "{text}");
            }
        }
    }

    #[test]
    fn whole_ns_frame_times_are_what_the_f64_path_gives() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut cases: Vec<(u64, usize)> = vec![
            (10_000, 0),
            (10_000_000_000, 6),
            (10_000_000_001, 6),
            (9_999_999_999, 6),
            (1, 6),
            (0, 0),
            (0, 6),
            (1, 0),
            (10_000_000, 0),
            (10_000_001, 0),
            (10_000_000_000, 3),
            (10_000_000_001, 3),
            (1, 3),
            (16_667, 3),
            (u64::MAX / 10, 6),
        ];
        for _ in 0..500_000 {
            let digits = 1 + rng.below(19);
            cases.push((rng.next() % 10u64.pow(digits as u32), rng.below(8)));
        }
        for (m, k) in cases {
            let text = format!("{m:0width$}", width = k + 1);
            let text = if k > 0 { format!("{}.{}", &text[..text.len() - k], &text[text.len() - k..]) } else { text };
            let t: f64 = text.parse().unwrap();
            for (scale, factor) in [(6, 1e6), (3, 1e3)] {
                // The f64 path, as `accept` has it.
                let ns = t * factor;
                let old = (ns > 0.0 && ns <= MAX_FRAME_NS as f64).then(|| ns.round() as u64);
                match exact_ns(Dec { m, k }, scale) {
                    Some(v) => assert_eq!(Some(v), old, "{text} × 10^{scale}"),
                    None => assert!(old.is_none() || k > scale, "{text} × 10^{scale}: {old:?}"),
                }
            }
        }
    }

    #[test]
    fn round_positive_is_round() {
        let mut rng = Rng(3);
        let mut xs = vec![0.5, 1.5, 2.5, 0.49999999999999994, 1e10, 4503599627370495.5, 1.0 - f64::EPSILON / 2.0, 1e-300];
        for _ in 0..1_000_000 {
            let x = f64::from_bits(rng.next() >> 2); // 0 .. ~2^1022, all exponents
            xs.push(x);
            xs.push((rng.next() % 20_000_000_000) as f64 / 2.0);
            xs.push((rng.next() % 10_000_000_000) as f64 + (rng.next() % 1000) as f64 / 1000.0);
        }
        for x in xs.into_iter().filter(|&x| x > 0.0 && x < (1u64 << 53) as f64) {
            assert_eq!(round_positive(x), x.round() as u64, "{x:e}");
        }
    }

    #[test]
    fn row_maps_find_every_comma_and_newline() {
        let mut rng = Rng(11);
        for _ in 0..20_000 {
            let block: [u8; 64] = std::array::from_fn(|_| *rng.pick(b",\n0123456789.\r\xff\x80\x2c\x0a\x00\xac\x8a"));
            let naive = |needle: u8| block.iter().enumerate().fold(0u64, |m, (i, &b)| m | u64::from(b == needle) << i);
            let want = [naive(b','), naive(b'\n')];
            assert_eq!(block_maps(&block), want);
            assert_eq!(block_maps_swar(&block), want);
        }
        // Windows across words, to the end and past it.
        let text: Vec<u8> = (0..1000).map(|_| *rng.pick(b",\nx")).collect();
        let mut maps = RowMaps::default();
        maps.build(&text);
        for at in 0..text.len() + 130 {
            let want = |needle: u8| (0..128).fold(0u128, |m, i| m | u128::from(text.get(at + i) == Some(&needle)) << i);
            assert_eq!(maps.windows(at), (want(b','), want(b'\n')), "{at}");
        }
    }

    #[test]
    fn stream_file_reads_as_one_feed_would() {
        // Several read chunks, bad rows, two logs: the reader thread and
        // the batches change nothing.
        let mut rng = Rng(5);
        let mut text = Vec::new();
        while text.len() < 3 * READ_CHUNK + 12345 {
            let log = synthetic_log(&mut rng);
            text.extend(if rng.below(10) == 0 { mutate(&mut rng, log) } else { log });
        }
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("big.csv");
        std::fs::write(&path, &text).unwrap();
        let mut p = LogParser::new();
        p.fast = false;
        let mut frames = Vec::new();
        let want = p.feed(&text, &mut frames).and_then(|_| p.finish(&mut frames));
        match (parse_file(&path), want) {
            (Ok(parsed), Ok(())) => {
                assert_eq!(parsed.frames, frames);
                assert_eq!(format!("{:?}", parsed.meta), format!("{:?}", p.meta));
                assert_eq!(format!("{:?}", parsed.bad_rows), format!("{:?}", p.bad));
                assert_eq!(parsed.dropped_first_rows, p.dropped_first_rows);
                assert!(frames.len() > 10_000 && p.meta.segments > 100, "{} frames", frames.len());
            }
            (Err(e), Err(w)) => assert_eq!(e.to_string(), format!("{}: {w}", path.display())),
            (got, want) => panic!("{:?} vs {want:?}", got.map(|p| p.frames.len())),
        }
    }
}
