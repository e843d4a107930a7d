//! Where a trial's frames come from.
//!
//! - `Control`: the game's MangoHud has a control socket, so every trial is
//!   its own MangoHud log (`:logging=1;` at the start, `:logging=0;` at the
//!   end). Exact boundaries, and it works with MangoHud ≤ 0.6.8, which
//!   writes a log only when it stops.
//! - `Stream`: no socket, but the game logs continuously (0.6.9+ flushes a
//!   row per frame): frames are cut into trials by the time they are read,
//!   the log read to its end (`LogWatcher::sync`) where a trial begins and
//!   ends.
//!
//! Both deliver live frames (when MangoHud writes them live) for progress.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use log::warn;

use crate::mangohud::control::Control;
use crate::mangohud::log::{self as mlog, parse_file_from};
use crate::mangohud::watch::{LogEvent, LogWatcher, watch_folder};

/// How long MangoHud may take to answer `:logging=0;` (it reads commands
/// only when the game presents a frame; under emulation frames are slow).
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long after `LoggingFinished` the log file may take to appear whole.
const LOG_WRITE_TIMEOUT: Duration = Duration::from_secs(15);
/// A log file whose size did not change for this long is complete.
const LOG_QUIET: Duration = Duration::from_millis(400);

/// One trial's frames.
#[derive(Debug, Default)]
pub struct Measurement {
    pub frames_ns: Vec<u64>,
    pub bad_rows: u64,
    pub logs: Vec<PathBuf>,
    pub mangohud_version: Option<String>,
    pub sampled: Option<bool>,
}

/// Which kind of source: how trials are cut, and what survives the game.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    ControlSocket,
    Stream,
}

impl SourceKind {
    /// As the store records it (`frame_source`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ControlSocket => "control-socket",
            Self::Stream => "stream",
        }
    }

    /// Whether a measurement the game's exit cut short still has its
    /// frames: a row-flushed log has what was played; a log MangoHud ≤ 0.6.8
    /// writes when logging stops dies with the game.
    pub fn keeps_frames_at_game_exit(self) -> bool {
        self == Self::Stream
    }
}

/// A trial's frames as the trial loop sees them: the real sources
/// (`FrameSource`), or the fakes of the loop's tests.
pub trait Frames {
    fn kind(&self) -> SourceKind;
    /// Where the logs are (for error messages).
    fn folder(&self) -> &Path;
    fn mangohud_version(&self) -> Option<String>;
    fn begin(&mut self) -> Result<()>;
    /// Frame times (ns) that arrived since the last call, for progress.
    fn poll_live(&mut self) -> Vec<u64>;
    /// Stop measuring and return the trial's frames.
    fn end(&mut self) -> Result<Measurement>;
    /// Stop a measurement without waiting for its log (shutting down).
    fn abort(&mut self);
}

pub enum FrameSource {
    /// `before`: the logs in the folder and their sizes when the trial
    /// began (see `trial_logs`).
    Control {
        control: Control,
        watcher: LogWatcher,
        folder: PathBuf,
        before: BTreeMap<PathBuf, u64>,
    },
    Stream {
        watcher: LogWatcher,
        folder: PathBuf,
        collecting: bool,
        got: Measurement,
        said: LogsSaid,
    },
}

/// The frame logs (not summaries) in `folder`.
pub(crate) fn csv_logs(folder: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(folder)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| mlog::is_frame_log(p)).collect())
        .unwrap_or_default()
}

/// The frame logs in `folder` and their sizes (of the file itself, not of
/// what a link points to).
fn csv_log_sizes(folder: &Path) -> BTreeMap<PathBuf, u64> {
    csv_logs(folder)
        .into_iter()
        .filter_map(|p| {
            let size = std::fs::symlink_metadata(&p).ok()?.len();
            Some((p, size))
        })
        .collect()
}

/// The logs a trial wrote, each with the byte it starts at: files that are
/// new since `before`, from their start, and files that grew, from where
/// they ended. MangoHud names a log after the second logging started and
/// opens it for appending, so a log started in the same second as the last
/// goes into that log's file (preamble first, which the parser takes as a
/// new log). A file that shrank was replaced: read whole.
fn trial_logs(before: &BTreeMap<PathBuf, u64>, now: &BTreeMap<PathBuf, u64>) -> Vec<(PathBuf, u64)> {
    now.iter()
        .filter_map(|(path, &size)| match before.get(path) {
            None => Some((path.clone(), 0)),
            Some(&old) if size > old => Some((path.clone(), old)),
            Some(&old) if size < old => Some((path.clone(), 0)),
            Some(_) => None,
        })
        .collect()
}

/// Wait until `path` exists, is non-empty and stopped growing.
fn wait_complete(path: &Path, deadline: Instant) -> Result<()> {
    let mut last = (0u64, Instant::now());
    loop {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if size != last.0 {
            last = (size, Instant::now());
        } else if size > 0 && last.1.elapsed() >= LOG_QUIET {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("MangoHud's log {} was not written completely in time", path.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What the logs said of themselves (the stream source has no control
/// socket to ask): the version line, and whether they sample.
#[derive(Debug, Default)]
pub struct LogsSaid {
    mangohud_version: Option<String>,
    sampled: Option<bool>,
}

/// Empty the watcher's queue; frames go to `sink` when measuring, with what
/// the logs say of themselves (kept in `said`, which the stream source
/// needs; the control source asks MangoHud instead and passes None).
/// Returns the frame times (ns) seen.
fn drain(watcher: &LogWatcher, mut sink: Option<&mut Measurement>, mut said: Option<&mut LogsSaid>) -> Vec<u64> {
    let mut live = Vec::new();
    while let Ok(ev) = watcher.events().try_recv() {
        match ev {
            LogEvent::Frames { path, frames, mangohud_version, sampled } => {
                live.extend(frames.iter().map(|f| f.frametime_ns));
                if let Some(said) = said.as_deref_mut() {
                    said.mangohud_version = mangohud_version.or(said.mangohud_version.take());
                    said.sampled = sampled.or(said.sampled);
                }
                if let Some(got) = sink.as_deref_mut() {
                    got.frames_ns.extend(frames.iter().map(|f| f.frametime_ns));
                    if let Some(said) = said.as_deref() {
                        got.mangohud_version = said.mangohud_version.clone();
                        got.sampled = said.sampled;
                    }
                    if !got.logs.contains(&path) {
                        got.logs.push(path);
                    }
                }
            }
            LogEvent::Bad { path, error } => warn!("skipping MangoHud log {}: {error}", path.display()),
            LogEvent::NewLog(_) => {}
        }
    }
    live
}

impl FrameSource {
    pub fn control(control: Control, folder: &Path) -> Result<Self> {
        let watcher = watch_folder(folder)?;
        Ok(Self::Control { control, watcher, folder: folder.to_path_buf(), before: BTreeMap::new() })
    }

    pub fn stream(folder: &Path) -> Result<Self> {
        let watcher = watch_folder(folder)?;
        Ok(Self::Stream {
            watcher,
            folder: folder.to_path_buf(),
            collecting: false,
            got: Measurement::default(),
            said: LogsSaid::default(),
        })
    }
}

impl Frames for FrameSource {
    fn kind(&self) -> SourceKind {
        match self {
            Self::Control { .. } => SourceKind::ControlSocket,
            Self::Stream { .. } => SourceKind::Stream,
        }
    }

    fn folder(&self) -> &Path {
        match self {
            Self::Control { folder, .. } | Self::Stream { folder, .. } => folder,
        }
    }

    fn mangohud_version(&self) -> Option<String> {
        match self {
            Self::Control { control, .. } => control.mangohud_version.clone(),
            Self::Stream { said, .. } => said.mangohud_version.clone(),
        }
    }

    fn begin(&mut self) -> Result<()> {
        // Frames written before this instant are not the measurement's.
        if let Self::Stream { watcher, .. } = self {
            watcher.sync();
        }
        self.poll_live();
        match self {
            Self::Control { control, folder, before, .. } => {
                *before = csv_log_sizes(folder);
                control.start_logging()
            }
            Self::Stream { collecting, got, .. } => {
                *collecting = true;
                *got = Measurement::default();
                Ok(())
            }
        }
    }

    fn poll_live(&mut self) -> Vec<u64> {
        match self {
            Self::Control { watcher, .. } => drain(watcher, None, None),
            Self::Stream { watcher, collecting, got, said, .. } => drain(watcher, collecting.then_some(got), Some(said)),
        }
    }

    fn end(&mut self) -> Result<Measurement> {
        match self {
            Self::Control { control, watcher, folder, before } => {
                let ended_by_itself = control.stop_logging(STOP_TIMEOUT).context("stopping the trial's MangoHud log")?;
                if ended_by_itself {
                    // Its frames stop before the trial's end: a measurement
                    // of part of the trial that would pass for all of it.
                    bail!(
                        "MangoHud ended this trial's log by itself before the trial was over: the game's MangoHud settings have \
                         log_duration (it ends every log that many seconds after it started; restart the game without it, or with trials \
                         no longer than it), or its logging key was pressed"
                    );
                }
                let deadline = Instant::now() + LOG_WRITE_TIMEOUT;
                let new = loop {
                    let new = trial_logs(before, &csv_log_sizes(folder));
                    if !new.is_empty() {
                        break new;
                    }
                    if Instant::now() > deadline {
                        bail!("MangoHud wrote no log into {} for this trial", folder.display());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                let mut m = Measurement { mangohud_version: control.mangohud_version.clone(), ..Default::default() };
                for (path, from) in new {
                    wait_complete(&path, deadline)?;
                    let log = parse_file_from(&path, from)?;
                    m.frames_ns.extend(log.frames.iter().map(|f| f.frametime_ns));
                    m.bad_rows += log.bad_rows.count;
                    m.sampled = log.meta.sampled.or(m.sampled);
                    m.mangohud_version = log.meta.mangohud_version.or(m.mangohud_version);
                    m.logs.push(path);
                }
                drain(watcher, None, None); // the watcher's copy of these logs is not news
                Ok(m)
            }
            Self::Stream { watcher, collecting, got, said, .. } => {
                // Every frame written until now is the measurement's.
                watcher.sync();
                drain(watcher, Some(got), Some(said));
                *collecting = false;
                Ok(std::mem::take(got))
            }
        }
    }

    fn abort(&mut self) {
        match self {
            Self::Control { control, .. } => {
                if let Err(e) = control.stop_logging(Duration::from_secs(2)) {
                    warn!("MangoHud did not confirm the end of logging: {e:#}");
                }
            }
            Self::Stream { collecting, .. } => *collecting = false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    /// A MangoHud on the socket `name` that appends a log to one file in
    /// `folder` at each `:logging=1;` (all in the same second, as far as
    /// its name goes), trial n's frames n ms long; with `duration_ends_it`,
    /// it ends the log at once by itself (log_duration), else when told to.
    fn fake_mangohud(name: &str, folder: &Path, duration_ends_it: bool) -> std::thread::JoinHandle<()> {
        let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
        let log = folder.join("game_2026-01-01_00-00-00.csv");
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b":MangoHudControlVersion=1;:MangoHudVersion=MangoHud v0.8.4;").unwrap();
            let mut got = String::new();
            let mut buf = [0u8; 64];
            let mut trial = 0;
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    return;
                }
                got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
                // Each whole command, however the reads cut them.
                while let Some(end) = got.find(';') {
                    let command: String = got.drain(..=end).collect();
                    if command == ":logging=1;" {
                        trial += 1;
                        let text = format!("v1\nv0.8.4\nfps,frametime,elapsed\n60,{trial},0\n60,{trial},{trial}000000\n");
                        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
                        file.write_all(text.as_bytes()).unwrap();
                        if duration_ends_it {
                            s.write_all(b":LoggingFinished").unwrap();
                        }
                    } else if command == ":logging=0;" {
                        s.write_all(b":LoggingFinished").unwrap();
                    }
                }
            }
        })
    }

    #[test]
    fn a_trial_log_mangohud_ended_early_is_an_error_not_a_short_measurement() {
        for duration_ends_it in [false, true] {
            let folder = tempfile::tempdir().unwrap();
            let name = format!("scx-gamer-fs-{}-{duration_ends_it}", std::process::id());
            let server = fake_mangohud(&name, folder.path(), duration_ends_it);
            let control = Control::connect_name(&name, Duration::from_secs(5)).unwrap();
            let mut source = FrameSource::control(control, folder.path()).unwrap();
            source.begin().unwrap();
            std::thread::sleep(Duration::from_millis(200)); // the trial runs
            let got = source.end();
            drop(source);
            server.join().unwrap();
            if duration_ends_it {
                let err = format!("{:#}", got.unwrap_err());
                assert!(err.contains("MangoHud ended this trial's log by itself") && err.contains("log_duration"), "{err}");
            } else {
                assert_eq!(got.unwrap().frames_ns, vec![1_000_000]);
            }
        }
    }

    #[test]
    fn a_trial_log_appended_to_the_last_trials_file_is_read_from_where_that_one_ended() {
        let folder = tempfile::tempdir().unwrap();
        let name = format!("scx-gamer-fs-same-second-{}", std::process::id());
        let server = fake_mangohud(&name, folder.path(), false);
        let control = Control::connect_name(&name, Duration::from_secs(5)).unwrap();
        let mut source = FrameSource::control(control, folder.path()).unwrap();
        for trial in 1..=3u64 {
            source.begin().unwrap();
            let m = source.end().unwrap();
            // This trial's frames only, each trial's log in the one file.
            assert_eq!(m.frames_ns, vec![trial * 1_000_000], "trial {trial}");
            assert_eq!(m.logs, vec![folder.path().join("game_2026-01-01_00-00-00.csv")]);
            assert_eq!(m.bad_rows, 0);
        }
        drop(source);
        server.join().unwrap();
    }

    #[test]
    fn the_logs_of_a_trial_are_the_new_and_the_grown_files() {
        let p = |s: &str| PathBuf::from(s);
        let before = BTreeMap::from([(p("/l/a.csv"), 100), (p("/l/b.csv"), 50), (p("/l/c.csv"), 70)]);
        let now = BTreeMap::from([(p("/l/a.csv"), 100), (p("/l/b.csv"), 80), (p("/l/c.csv"), 10), (p("/l/d.csv"), 5)]);
        assert_eq!(trial_logs(&before, &now), vec![(p("/l/b.csv"), 50), (p("/l/c.csv"), 0), (p("/l/d.csv"), 0)]);
        assert!(trial_logs(&now, &now).is_empty());
    }
}
