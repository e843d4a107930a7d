//! Watch a MangoHud output folder and deliver frames as logs appear and grow.
//!
//! The logs are read every `POLL` (and at once on `sync`): what is new in
//! each log since last time goes to that file's `LogParser`. A growing log
//! is read through its open file; the folder itself is listed less often
//! (`LIST_EVERY`). MangoHud
//! ≤ 0.6.8 writes a log whole when logging stops; ≥ 0.6.9 creates it at the
//! first row and appends a row per frame. Both look the same from here.
//!
//! Why a poll and not inotify: a live log is written once per frame, and
//! inotify reported every write — and every open, read and close of our own
//! — as an event to wake for: at 60 fps in the TCG VM the event thread and
//! this one took 33–44 s of CPU in a 3-minute tune, about half of the
//! tuner's own (bench/tuner-cpu.sh, BENCHMARKS.md "The tuner's own CPU
//! time"). A
//! poll costs the same whatever the frame rate, and a measurement's
//! boundaries come from `sync`, not from the poll.
//!
//! The folder need not exist yet: the logs in it when it appears are
//! delivered. Summary files are ignored. Logs already in the folder when
//! the watch starts are read to their end silently (so a live log's header
//! is known) and only rows added afterwards are delivered.

use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Result;
use crossbeam::channel::{Receiver, Sender};

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
    /// When it last grew: a log quiet for `QUIET` is looked at only when
    /// the folder is listed (a folder of finished logs, one per trial).
    grew: Instant,
    /// The log, open while it grows: read again through this file, its
    /// size from the open file, no path looked up (closed once quiet, so a
    /// long tune's logs do not pile up open files).
    file: Option<File>,
}

/// How often the folder and its logs are read: the delay of a live frame
/// (progress only: `sync` cuts measurements; the live progress bar redraws
/// its p99 once a second). Each poll costs the same system calls and a
/// wake-up whatever it finds: at 4 polls a second this thread was 18 % of
/// the tuner's CPU samples in an 8-minute tune (BENCHMARKS.md "The tuner's
/// own CPU time").
const POLL: Duration = Duration::from_secs(1);
const QUIET: Duration = Duration::from_secs(5);
/// While a log grows, the folder is listed (for new logs and the quiet
/// ones) only every this many polls; the polls between read the growing
/// logs through their open files. Listing the folder and looking each log
/// up by path were two thirds of this thread's CPU at one listing per poll
/// (BENCHMARKS.md "The tuner's own CPU time"). A poll after which no log
/// grew lists the folder (a new log is what comes next: the first, or the
/// next trial's), and so does `sync`.
const LIST_EVERY: u32 = 5;

/// What the watch thread is asked.
enum Msg {
    /// Read everything new now, then answer.
    Sync(mpsc::Sender<()>),
    Stop,
}

pub struct LogWatcher {
    events: Receiver<LogEvent>,
    ask: mpsc::Sender<Msg>,
}

impl LogWatcher {
    pub fn events(&self) -> &Receiver<LogEvent> {
        &self.events
    }

    /// Return once everything the logs hold now has been read and its
    /// events sent (or the watch is gone): a measurement that begins or
    /// ends here takes exactly the frames written before or after.
    pub fn sync(&self) {
        let (done_tx, done_rx) = mpsc::channel();
        if self.ask.send(Msg::Sync(done_tx)).is_ok() {
            let _ = done_rx.recv_timeout(Duration::from_secs(10));
        }
    }
}

impl Drop for LogWatcher {
    fn drop(&mut self) {
        let _ = self.ask.send(Msg::Stop);
    }
}

struct Worker {
    folder: PathBuf,
    tails: HashMap<PathBuf, Tail>,
    out: Sender<LogEvent>,
    polls: u32,
    /// Whether a log grew at the last poll.
    grew: bool,
}

impl Worker {
    /// Read what is new in the folder: in every log it lists with `all`,
    /// when no log grew at the last poll, or every `LIST_EVERY` polls; else
    /// in the growing logs only. A missing folder has nothing yet; the logs
    /// in it once it appears are news.
    fn poll(&mut self, deliver: bool, all: bool) {
        self.polls = self.polls.wrapping_add(1);
        let list = all || !self.grew || self.polls.is_multiple_of(LIST_EVERY);
        self.grew = false;
        let mut paths: Vec<PathBuf> = if list {
            let Ok(entries) = std::fs::read_dir(&self.folder) else { return };
            entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| mlog::is_frame_log(p)).collect()
        } else {
            self.tails.iter().filter(|(_, t)| t.file.is_some()).map(|(p, _)| p.clone()).collect()
        };
        paths.sort();
        for p in paths {
            self.read_new(&p, deliver);
        }
    }

    /// Parse what was appended to `path`; `deliver` false primes the parser
    /// without sending frames (logs present before the watch started).
    fn read_new(&mut self, path: &Path, deliver: bool) {
        let is_new = !self.tails.contains_key(path);
        let tail = self.tails.entry(path.to_path_buf()).or_insert_with(|| Tail {
            parser: LogParser::new(),
            offset: 0,
            failed: false,
            grew: Instant::now(),
            file: None,
        });
        if tail.failed {
            return;
        }
        if is_new && deliver {
            let _ = self.out.send(LogEvent::NewLog(path.to_path_buf()));
        }
        if tail.file.is_none() {
            // (the size first: most listings find most logs as they were)
            match std::fs::metadata(path) {
                Ok(m) if m.len() == tail.offset => return,
                Err(_) => return, // gone again: the next listing retries
                Ok(_) => {}
            }
            match open_log(path) {
                Ok(f) => tail.file = Some(f),
                Err(_) => return, // not readable yet: the next listing retries
            }
        }
        let Some(f) = tail.file.as_mut() else { return };
        let mut buf = Vec::new();
        let read = f.metadata().and_then(|m| {
            let len = m.len();
            if len < tail.offset {
                // Truncated: start over.
                tail.parser = LogParser::new();
                tail.offset = 0;
            }
            f.seek(SeekFrom::Start(tail.offset))?;
            f.take(len - tail.offset).read_to_end(&mut buf)
        });
        if read.is_err() {
            tail.file = None; // the next listing opens it again
            return;
        }
        tail.offset += buf.len() as u64;
        if !buf.is_empty() {
            tail.grew = Instant::now();
            self.grew = true;
        } else if tail.grew.elapsed() > QUIET {
            tail.file = None;
        }
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
}

/// Watch `folder` (which may not exist yet) for MangoHud logs.
pub fn watch_folder(folder: &Path) -> Result<LogWatcher> {
    let folder = if folder.is_absolute() { folder.to_path_buf() } else { std::env::current_dir()?.join(folder) };
    let (ask, rx) = mpsc::channel::<Msg>();
    let (out, events) = crossbeam::channel::unbounded();
    let mut worker = Worker { folder, tails: HashMap::new(), out, polls: 0, grew: false };
    // What is there now is not news.
    worker.poll(false, true);

    std::thread::Builder::new().name("mangohud-watch".into()).spawn(move || {
        loop {
            match rx.recv_timeout(POLL) {
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
                Ok(Msg::Sync(done)) => {
                    worker.poll(true, true);
                    let _ = done.send(());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => worker.poll(true, false),
            }
        }
    })?;
    Ok(LogWatcher { events, ask })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const HEAD: &str = "v1\nv0.8.2\nfps,frametime,elapsed\n";

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap().write_all(text.as_bytes()).unwrap();
    }

    fn new_logs(rx: &Receiver<LogEvent>) -> Vec<PathBuf> {
        rx.try_iter().filter_map(|e| if let LogEvent::NewLog(p) = e { Some(p) } else { None }).collect()
    }

    #[test]
    fn a_growing_log_is_read_through_its_open_file_and_the_folder_listed_every_few_polls() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("game_1.csv"), dir.path().join("game_2.csv"));
        let (out, rx) = crossbeam::channel::unbounded();
        let mut w = Worker { folder: dir.path().to_path_buf(), tails: HashMap::new(), out, polls: 0, grew: false };
        append(&a, HEAD);
        w.poll(true, false);
        assert_eq!(new_logs(&rx), vec![a.clone()]);
        assert!(w.tails[&a].file.is_some(), "kept open while it grows");

        // A second log while the first grows: found at the next listing,
        // within LIST_EVERY polls, not at every poll.
        append(&b, HEAD);
        let mut found = None;
        for i in 1..=LIST_EVERY {
            append(&a, &format!("60,16.6,{i}\n"));
            w.poll(true, false);
            if !new_logs(&rx).is_empty() {
                found = Some(i);
                break;
            }
        }
        assert!(found.is_some_and(|i| i > 1), "found after {found:?} polls");

        // A log quiet for QUIET is closed; it is looked at again by path.
        let t = w.tails.get_mut(&a).unwrap();
        t.grew = Instant::now() - QUIET * 2;
        w.poll(true, true);
        assert!(w.tails[&a].file.is_none());
        append(&a, "60,16.6,99\n");
        w.poll(true, true);
        let frames: usize = rx.try_iter().map(|e| if let LogEvent::Frames { frames, .. } = e { frames.len() } else { 0 }).sum();
        assert_eq!(frames, 1, "its new row is read");
        assert!(w.tails[&a].file.is_some(), "open again while it grows");
    }
}
