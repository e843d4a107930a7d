//! Input activity from evdev devices (`/dev/input/event*`), hot-plug aware.
//!
//! Each device gets a reader thread doing blocking reads (no polling); a
//! `notify` watch on the folder starts readers for devices plugged in later.
//! Readers send the number of real input events (keys, relative and absolute
//! axes; not sync or misc reports) of each read down a channel; the run loop
//! turns them into one `signal_input` call into BPF.

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

/// How many of the whole `input_event` records in `buf` are user input.
pub fn count_input_events(buf: &[u8]) -> u32 {
    buf.chunks_exact(INPUT_EVENT_SIZE)
        .filter(|ev| {
            let kind = u16::from_ne_bytes([ev[16], ev[17]]);
            matches!(kind, EV_KEY | EV_REL | EV_ABS)
        })
        .count() as u32
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

fn spawn_reader(path: PathBuf, readers: &Arc<Mutex<HashSet<PathBuf>>>, tx: &Sender<u32>) {
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

fn read_device(path: &Path, tx: &Sender<u32>) -> Result<()> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut buf = vec![0u8; INPUT_EVENT_SIZE * 64];
    let mut filled = 0;
    loop {
        let n = file.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(()); // unplugged (or the test's writer went away)
        }
        filled += n;
        let whole = filled - filled % INPUT_EVENT_SIZE;
        let count = count_input_events(&buf[..whole]);
        buf.copy_within(whole..filled, 0);
        filled -= whole;
        if count > 0 && tx.send(count).is_err() {
            return Ok(()); // nobody listens any more
        }
    }
}

/// Start reading every event device in `dir` now and as they appear.
/// A missing `dir` (a VM or container without input devices) is not an
/// error: there is simply no input to watch.
pub fn watch(dir: &Path, tx: Sender<u32>) -> Result<InputWatcher> {
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

    fn event(kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut v = vec![0u8; 16];
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
        assert_eq!(count_input_events(&buf), 3);
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
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 1);

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
            got += rx.recv_timeout(Duration::from_secs(5)).unwrap();
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
