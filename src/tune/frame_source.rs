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

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use log::warn;

use crate::mangohud::control::Control;
use crate::mangohud::log::{self as mlog, parse_file};
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
    Control { control: Control, watcher: LogWatcher, folder: PathBuf, before: BTreeSet<PathBuf> },
    Stream { watcher: LogWatcher, folder: PathBuf, collecting: bool, got: Measurement, said: LogsSaid },
}

/// The frame logs (not summaries) in `folder`.
pub(crate) fn csv_logs(folder: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(folder)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| mlog::is_frame_log(p)).collect())
        .unwrap_or_default()
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
        Ok(Self::Control { control, watcher, folder: folder.to_path_buf(), before: BTreeSet::new() })
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
                *before = csv_logs(folder);
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
                control.stop_logging(STOP_TIMEOUT).context("stopping the trial's MangoHud log")?;
                let deadline = Instant::now() + LOG_WRITE_TIMEOUT;
                let new = loop {
                    let new: Vec<PathBuf> = csv_logs(folder).difference(before).cloned().collect();
                    if !new.is_empty() {
                        break new;
                    }
                    if Instant::now() > deadline {
                        bail!("MangoHud wrote no log into {} for this trial", folder.display());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                };
                let mut m = Measurement { mangohud_version: control.mangohud_version.clone(), ..Default::default() };
                for path in new {
                    wait_complete(&path, deadline)?;
                    let log = parse_file(&path)?;
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
