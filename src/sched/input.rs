//! Input activity from evdev devices (`/dev/input/event*`), hot-plug aware.
//!
//! Each device gets a reader thread doing blocking reads (no polling); a
//! `notify` watch on the folder starts readers for devices plugged in later.
//! Readers send the real input events (keys, relative and absolute axes; not
//! sync or misc reports) of each read down a channel, counted and with the
//! time stamps evdev gave the first and the last (CLOCK_MONOTONIC, asked for
//! with EVIOCSCLOCKID: the clock BPF reads); the run loop turns them into
//! one `signal_input` call into BPF, which opens the input window and counts
//! how late — or, beside the in-kernel hook, how early the hook was.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use crossbeam::channel::Sender;
use log::{debug, info, warn};
use notify::{EventKind, RecursiveMode, Watcher};

/// Size of `struct input_event` on 64-bit Linux: timeval (16) + type, code
/// (2 + 2) + value (4).
pub const INPUT_EVENT_SIZE: usize = 24;
const EV_KEY: u16 = 0x01;
const EV_REL: u16 = 0x02;
const EV_ABS: u16 = 0x03;

pub const DEFAULT_INPUT_DIR: &str = "/dev/input";

/// The user input among some `input_event` records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputBatch {
    pub events: u32,
    /// evdev's stamps of the first and the last of them, in ns; 0: unknown
    /// (the device's clock could not be set to CLOCK_MONOTONIC).
    pub first_ns: u64,
    pub last_ns: u64,
}

impl InputBatch {
    /// These and `later`'s events as one batch.
    pub fn merge(self, later: InputBatch) -> InputBatch {
        if self.events == 0 {
            return later;
        }
        if later.events == 0 {
            return self;
        }
        let first_ns = if self.first_ns == 0 || later.first_ns == 0 { 0 } else { self.first_ns.min(later.first_ns) };
        InputBatch { events: self.events + later.events, first_ns, last_ns: self.last_ns.max(later.last_ns) }
    }
}

/// The user input among the whole `input_event` records in `buf`, with
/// their stamps when `stamped` (the device's clock is CLOCK_MONOTONIC).
pub fn input_events(buf: &[u8], stamped: bool) -> InputBatch {
    let mut batch = InputBatch::default();
    for ev in buf.chunks_exact(INPUT_EVENT_SIZE) {
        let kind = u16::from_ne_bytes([ev[16], ev[17]]);
        if !matches!(kind, EV_KEY | EV_REL | EV_ABS) {
            continue;
        }
        let at = if stamped { stamp_ns(ev) } else { 0 };
        if batch.events == 0 {
            batch.first_ns = at;
        }
        batch.last_ns = at;
        batch.events += 1;
    }
    batch
}

/// A record's `struct timeval` (seconds, microseconds; 64-bit each) in ns.
fn stamp_ns(ev: &[u8]) -> u64 {
    let sec = i64::from_ne_bytes(ev[0..8].try_into().expect("8 bytes"));
    let usec = i64::from_ne_bytes(ev[8..16].try_into().expect("8 bytes"));
    u64::try_from(sec.saturating_mul(1_000_000_000).saturating_add(usec.saturating_mul(1000))).unwrap_or(0)
}

// EVIOCSCLOCKID (linux/input.h): the clock of the device's event stamps
// for this reader, CLOCK_REALTIME unless set.
nix::ioctl_write_ptr!(eviocsclockid, b'E', 0xa0, nix::libc::c_int);

/// Ask for CLOCK_MONOTONIC stamps; false where the file is no evdev
/// device (the tests' FIFOs) or refuses.
fn monotonic_stamps(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    let clock: nix::libc::c_int = nix::libc::CLOCK_MONOTONIC;
    // SAFETY: a plain ioctl on our own open fd with a pointer to an int
    // that outlives the call.
    unsafe { eviocsclockid(file.as_raw_fd(), &clock) }.is_ok()
}

// EVIOCGPROP(len) (linux/input.h): the device's property bits.
nix::ioctl_read_buf!(eviocgprop, b'E', 0x09, u8);

/// INPUT_PROP_ACCELEROMETER (input-event-codes.h).
const INPUT_PROP_ACCELEROMETER: usize = 0x06;

/// Whether a device with property bits `props` is a motion sensor (a game
/// controller's IMU, a laptop's accelerometer): it reports all the time,
/// whatever the player does, and is no input here (as in the hook).
fn is_motion_sensor(props: &[u8]) -> bool {
    props.get(INPUT_PROP_ACCELEROMETER / 8).is_some_and(|b| b & (1 << (INPUT_PROP_ACCELEROMETER % 8)) != 0)
}

/// The property bits of the evdev device `file` (None: not one, or it
/// refuses).
fn properties(file: &File) -> Option<[u8; 8]> {
    use std::os::fd::AsRawFd;
    let mut props = [0u8; 8];
    // SAFETY: a plain ioctl on our own open fd into a buffer of the length
    // the request names, which outlives the call.
    unsafe { eviocgprop(file.as_raw_fd(), &mut props) }.ok().map(|_| props)
}

fn is_event_device(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("event"))
}

/// Keeps the watch alive; reader threads end with their device.
pub struct InputWatcher {
    _watcher: Option<notify::RecommendedWatcher>,
    readers: Arc<Mutex<HashSet<PathBuf>>>,
}

impl InputWatcher {
    /// Devices being read right now.
    pub fn devices(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.readers.lock().unwrap().iter().cloned().collect();
        v.sort();
        v
    }
}

fn spawn_reader(path: PathBuf, readers: &Arc<Mutex<HashSet<PathBuf>>>, tx: &Sender<InputBatch>) {
    if !readers.lock().unwrap().insert(path.clone()) {
        return; // already read (seen both in the listing and as created)
    }
    let readers = Arc::clone(readers);
    let tx = tx.clone();
    let spawned = std::thread::Builder::new().name(format!("input:{}", path.display())).spawn({
        let path = path.clone();
        let readers = Arc::clone(&readers);
        move || {
            if let Err(e) = read_device(&path, &tx) {
                debug!("input device {} closed: {e:#}", path.display());
            }
            readers.lock().unwrap().remove(&path);
        }
    });
    if let Err(e) = spawned {
        warn!("cannot start a reader for {}: {e}", path.display());
        readers.lock().unwrap().remove(&path);
    }
}

fn read_device(path: &Path, tx: &Sender<InputBatch>) -> Result<()> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    if properties(&file).is_some_and(|p| is_motion_sensor(&p)) {
        debug!("{}: a motion sensor, not read (it reports whatever the player does)", path.display());
        return Ok(());
    }
    let stamped = monotonic_stamps(&file);
    if !stamped {
        debug!("{}: no CLOCK_MONOTONIC stamps (EVIOCSCLOCKID refused): its input delay is not measured", path.display());
    }
    let mut buf = vec![0u8; INPUT_EVENT_SIZE * 64];
    let mut filled = 0;
    loop {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(()); // unplugged (or the test's writer went away)
        }
        filled += n;
        let whole = filled - filled % INPUT_EVENT_SIZE;
        let batch = input_events(&buf[..whole], stamped);
        buf.copy_within(whole..filled, 0);
        filled -= whole;
        if batch.events > 0 && tx.send(batch).is_err() {
            return Ok(()); // nobody listens any more
        }
    }
}

/// Start reading every event device in `dir` now and as they appear.
/// A missing `dir` (a VM or container without input devices) is not an
/// error: there is simply no input to watch.
pub fn watch(dir: &Path, tx: Sender<InputBatch>) -> Result<InputWatcher> {
    let readers = Arc::new(Mutex::new(HashSet::new()));
    if !dir.is_dir() {
        info!("{} does not exist: no input devices to watch", dir.display());
        return Ok(InputWatcher { _watcher: None, readers });
    }

    let mut watcher = {
        let readers = Arc::clone(&readers);
        let tx = tx.clone();
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) if matches!(ev.kind, EventKind::Create(_)) => {
                for path in ev.paths.into_iter().filter(|p| is_event_device(p)) {
                    info!("input device plugged in: {}", path.display());
                    spawn_reader(path, &readers, &tx);
                }
            }
            Ok(_) => {}
            Err(e) => warn!("input device watch: {e}"),
        })?
    };
    watcher.watch(dir, RecursiveMode::NonRecursive).with_context(|| format!("watching {}", dir.display()))?;

    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if is_event_device(&path) {
            spawn_reader(path, &readers, &tx);
        }
    }
    Ok(InputWatcher { _watcher: Some(watcher), readers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn a_motion_sensor_is_known_by_its_property_bit() {
        assert!(is_motion_sensor(&[1 << 6, 0]));
        assert!(!is_motion_sensor(&[0b0011_1111, 0xff]), "pointer, direct, buttonpad, … but no accelerometer");
        assert!(!is_motion_sensor(&[]));
    }

    fn event(kind: u16, code: u16, value: i32) -> Vec<u8> {
        stamped_event(0, 0, kind, code, value)
    }

    fn stamped_event(sec: i64, usec: i64, kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(sec.to_ne_bytes());
        v.extend(usec.to_ne_bytes());
        v.extend(kind.to_ne_bytes());
        v.extend(code.to_ne_bytes());
        v.extend(value.to_ne_bytes());
        v
    }

    #[test]
    fn counts_keys_and_axes_but_not_sync_or_partial_records() {
        let mut buf = Vec::new();
        buf.extend(event(0x04, 4, 30)); // EV_MSC scan code
        buf.extend(event(EV_KEY, 30, 1));
        buf.extend(event(0x00, 0, 0)); // EV_SYN
        buf.extend(event(EV_REL, 0, -3));
        buf.extend(event(EV_ABS, 1, 100));
        buf.extend(&event(EV_KEY, 30, 0)[..10]); // truncated record
        assert_eq!(input_events(&buf, false).events, 3);
    }

    #[test]
    fn stamps_of_the_first_and_last_input_event_only_when_the_clock_is_known() {
        let mut buf = Vec::new();
        buf.extend(stamped_event(5, 100, 0x04, 4, 30)); // scan code: not input
        buf.extend(stamped_event(7, 250, EV_KEY, 30, 1));
        buf.extend(stamped_event(7, 900, 0x00, 0, 0));
        buf.extend(stamped_event(8, 1, EV_REL, 0, 2));
        let b = input_events(&buf, true);
        assert_eq!(b, InputBatch { events: 2, first_ns: 7_000_250_000, last_ns: 8_000_001_000 });
        assert_eq!(input_events(&buf, false), InputBatch { events: 2, first_ns: 0, last_ns: 0 });
        assert_eq!(input_events(&stamped_event(1, 0, 0, 0, 0), true), InputBatch::default());
        // Bursts merged by the run loop: one batch from the earliest to the
        // latest stamp; an unknown first stamp stays unknown.
        let later = InputBatch { events: 1, first_ns: 9_000_000_000, last_ns: 9_000_000_000 };
        assert_eq!(b.merge(later), InputBatch { events: 3, first_ns: 7_000_250_000, last_ns: 9_000_000_000 });
        assert_eq!(InputBatch::default().merge(later), later);
        assert_eq!(later.merge(InputBatch { events: 1, first_ns: 0, last_ns: 0 }).first_ns, 0);
    }

    fn mkfifo(path: &Path) {
        nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).unwrap();
    }

    #[test]
    fn reads_existing_and_hot_plugged_devices() {
        let dir = tempfile::tempdir().unwrap();
        mkfifo(&dir.path().join("event0"));
        std::fs::write(dir.path().join("mice"), b"").unwrap(); // not an event device
        let (tx, rx) = crossbeam::channel::unbounded();
        let watcher = watch(dir.path(), tx).unwrap();

        let mut dev0 = std::fs::OpenOptions::new().write(true).open(dir.path().join("event0")).unwrap();
        dev0.write_all(&[event(EV_KEY, 30, 1), event(0, 0, 0)].concat()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap().events, 1);

        // Plugged in after the watch started.
        mkfifo(&dir.path().join("event7"));
        let path7 = dir.path().join("event7");
        let mut dev7 = std::fs::OpenOptions::new().write(true).open(&path7).unwrap();
        // A record split across two writes still counts once.
        let rel = event(EV_REL, 0, 5);
        dev7.write_all(&rel[..7]).unwrap();
        dev7.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        dev7.write_all(&[&rel[7..], &event(EV_REL, 1, 5)[..]].concat()).unwrap();
        let mut got = 0;
        while got < 2 {
            got += rx.recv_timeout(Duration::from_secs(5)).unwrap().events;
        }
        assert_eq!(got, 2);
        assert_eq!(watcher.devices(), vec![dir.path().join("event0"), path7.clone()]);

        // Unplugged: its reader ends.
        drop(dev7);
        for _ in 0..100 {
            if watcher.devices().len() == 1 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(watcher.devices(), vec![dir.path().join("event0")]);
    }

    #[test]
    fn missing_folder_means_no_devices() {
        let (tx, _rx) = crossbeam::channel::unbounded();
        let w = watch(Path::new("/nonexistent/input"), tx).unwrap();
        assert!(w.devices().is_empty());
    }
}
