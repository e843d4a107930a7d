//! Watch a MangoHud output folder and deliver frames as logs appear and grow.
//!
//! `notify` (inotify) wakes us on every create/write (taken together over
//! 50 ms: a live log is written once per frame): no polling. MangoHud
//! ≤ 0.6.8 writes a log whole when logging stops; ≥ 0.6.9 creates it at the
//! first row and appends a row per frame. Both look the same from here: read
//! what is new since last time and feed it to that file's `LogParser`.
//!
//! The folder need not exist yet: we watch its nearest existing ancestor and
//! move the watch down as the missing folders are created. Summary files are
//! ignored. Logs already in the folder when the watch starts are read to
//! their end silently (so a live log's header is known) and only rows added
//! afterwards are delivered.

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use crossbeam::channel::{Receiver, Sender};
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};

use super::log::{self as mlog, Frame, LogParser};
use super::open::open_log;

#[derive(Debug)]
pub enum LogEvent {
    /// A log file not seen before (only for files that appear after start).
    NewLog(PathBuf),
    /// Frames parsed from what was appended to `path`, in order, with what
    /// the log has said of itself so far (its version line; whether it logs
    /// every frame or samples, once that is decided).
    Frames { path: PathBuf, frames: Vec<Frame>, mangohud_version: Option<String>, sampled: Option<bool> },
    /// A log that cannot be parsed; the watch goes on with the other files.
    Bad { path: PathBuf, error: String },
}

struct Tail {
    parser: LogParser,
    offset: u64,
    failed: bool,
}

/// What the watch thread waits on: file system events, or the end.
enum Msg {
    Fs(notify::Result<notify::Event>),
    Stop,
}

pub struct LogWatcher {
    events: Receiver<LogEvent>,
    stop_tx: mpsc::Sender<Msg>,
}

impl LogWatcher {
    pub fn events(&self) -> &Receiver<LogEvent> {
        &self.events
    }
}

impl Drop for LogWatcher {
    fn drop(&mut self) {
        let _ = self.stop_tx.send(Msg::Stop);
    }
}

/// The deepest existing folder on the way to `target`.
fn nearest_existing(target: &Path) -> PathBuf {
    let mut p = target.to_path_buf();
    while !p.is_dir() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => return PathBuf::from("."),
        }
    }
    p
}

struct Worker {
    folder: PathBuf,
    watched: PathBuf,
    watcher: notify::RecommendedWatcher,
    tails: HashMap<PathBuf, Tail>,
    out: Sender<LogEvent>,
}

impl Worker {
    /// Move the watch as deep towards `folder` as exists now; when it
    /// reaches `folder`, take in the logs already there.
    fn rewatch(&mut self) -> Result<()> {
        let want = nearest_existing(&self.folder);
        if want == self.watched {
            return Ok(());
        }
        let _ = self.watcher.unwatch(&self.watched);
        self.watcher.watch(&want, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", want.display()))?;
        self.watched = want;
        if self.watched == self.folder {
            // Files may have been created between mkdir and the watch.
            self.scan(true)?;
        }
        Ok(())
    }

    fn scan(&mut self, deliver: bool) -> Result<()> {
        let Ok(entries) = std::fs::read_dir(&self.folder) else { return Ok(()) };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| mlog::is_frame_log(p)).collect();
        paths.sort();
        for p in paths {
            self.read_new(&p, deliver);
        }
        Ok(())
    }

    /// Parse what was appended to `path`; `deliver` false primes the parser
    /// without sending frames (logs present before the watch started).
    fn read_new(&mut self, path: &Path, deliver: bool) {
        let is_new = !self.tails.contains_key(path);
        let tail = self.tails.entry(path.to_path_buf()).or_insert_with(|| Tail { parser: LogParser::new(), offset: 0, failed: false });
        if tail.failed {
            return;
        }
        if is_new && deliver {
            let _ = self.out.send(LogEvent::NewLog(path.to_path_buf()));
        }
        let mut buf = Vec::new();
        let read = open_log(path).and_then(|mut f| {
            let len = f.metadata()?.len();
            if len < tail.offset {
                // Truncated or replaced: start over.
                tail.parser = LogParser::new();
                tail.offset = 0;
            }
            f.seek(SeekFrom::Start(tail.offset))?;
            f.take(len - tail.offset).read_to_end(&mut buf)
        });
        if read.is_err() {
            return; // gone again, or not readable yet: the next event retries
        }
        tail.offset += buf.len() as u64;
        let mut frames = Vec::new();
        match tail.parser.feed(&buf, &mut frames) {
            Ok(()) if deliver && !frames.is_empty() => {
                let meta = tail.parser.meta();
                let (mangohud_version, sampled) = (meta.mangohud_version.clone(), meta.sampled);
                let _ = self.out.send(LogEvent::Frames { path: path.to_path_buf(), frames, mangohud_version, sampled });
            }
            Ok(()) => {}
            Err(e) => {
                tail.failed = true;
                let _ = self.out.send(LogEvent::Bad { path: path.to_path_buf(), error: e.to_string() });
            }
        }
    }

    /// `paths` changed (in the order first seen).
    fn handle(&mut self, paths: Vec<PathBuf>) {
        let _ = self.rewatch();
        if self.watched != self.folder {
            return;
        }
        for path in paths {
            if path.parent() == Some(self.folder.as_path()) && mlog::is_frame_log(&path) {
                self.read_new(&path, true);
            }
        }
    }
}

/// How long the watch gathers file events before reading: the delay of a
/// live frame, against one read per frame (a frame is 4–16 ms).
const BATCH: Duration = Duration::from_millis(50);

/// Whether an event can mean a new log or new rows. Opens and closes for
/// reading cannot: notify's inotify watch reports opens, so reacting to them
/// would read a log, see our own open, read again, and spin forever.
fn may_have_news(kind: &EventKind) -> bool {
    !matches!(kind, EventKind::Access(AccessKind::Open(_) | AccessKind::Read | AccessKind::Close(AccessMode::Read | AccessMode::Any)))
}

/// Watch `folder` (which may not exist yet) for MangoHud logs.
pub fn watch_folder(folder: &Path) -> Result<LogWatcher> {
    let folder = if folder.is_absolute() { folder.to_path_buf() } else { std::env::current_dir()?.join(folder) };
    let (tx, rx) = mpsc::channel::<Msg>();
    let fs_tx = tx.clone();
    let watcher = notify::recommended_watcher(move |res| {
        let _ = fs_tx.send(Msg::Fs(res));
    })?;
    let (out, events) = crossbeam::channel::unbounded();
    let mut worker = Worker { folder: folder.clone(), watched: PathBuf::new(), watcher, tails: HashMap::new(), out };
    let initial = nearest_existing(&folder);
    worker.watcher.watch(&initial, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", initial.display()))?;
    worker.watched = initial;
    if worker.watched == folder {
        worker.scan(false)?;
    } else {
        worker.rewatch()?;
    }

    std::thread::Builder::new().name("mangohud-watch".into()).spawn(move || {
        while let Ok(first) = rx.recv() {
            // A live log grows by a row per frame, each write an event:
            // take the writes of a short while together, so each log is
            // read once per batch instead of once per frame.
            let until = Instant::now() + BATCH;
            let mut batch = vec![first];
            while let Ok(msg) = rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
                batch.push(msg);
            }
            let mut changed: Vec<PathBuf> = Vec::new();
            for msg in batch {
                match msg {
                    Msg::Fs(Ok(ev)) if may_have_news(&ev.kind) => {
                        for p in ev.paths {
                            if !changed.contains(&p) {
                                changed.push(p);
                            }
                        }
                    }
                    Msg::Fs(Ok(_)) => {}
                    Msg::Fs(Err(e)) => ::log::warn!("watching {}: {e}", worker.folder.display()),
                    Msg::Stop => return,
                }
            }
            if !changed.is_empty() {
                worker.handle(changed);
            }
        }
    })?;
    Ok(LogWatcher { events, stop_tx: tx })
}
