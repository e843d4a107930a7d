//! The one place that parses /proc: process states and parents, owners,
//! and the machine's description. Functions take the proc root so tests
//! can point them at a fake tree; `ROOT` is the real one.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};

/// The real /proc.
pub const ROOT: &str = "/proc";

/// The real /proc, as a path.
pub fn root() -> &'static Path {
    Path::new(ROOT)
}

/// Clock ticks per second of /proc's CPU times: USER_HZ, which the kernel
/// exports as 100 on every architecture it runs games on.
const USER_HZ: f64 = 100.0;

/// What `/proc/<pid>/stat` says that we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z`, …
    pub state: char,
    pub ppid: u32,
    /// CPU time of all its threads, user + system, in clock ticks (None
    /// where the line is cut short).
    pub cpu_ticks: Option<u64>,
    /// The system part of `cpu_ticks` (in the kernel on its behalf).
    pub system_ticks: Option<u64>,
}

impl Stat {
    /// CPU time so far, seconds.
    pub fn cpu_secs(&self) -> Option<f64> {
        self.cpu_ticks.map(|t| t as f64 / USER_HZ)
    }

    /// The system part of `cpu_secs`.
    pub fn system_secs(&self) -> Option<f64> {
        self.system_ticks.map(|t| t as f64 / USER_HZ)
    }
}

/// Parse the text of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and ')', so parse from the
/// last ')'.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    // utime and stime are fields 14 and 15: the 10th and 11th after ppid.
    let mut times = fields.skip(9).take(2).map(|f| f.parse::<u64>().ok());
    let (cpu_ticks, system_ticks) = match (times.next().flatten(), times.next().flatten()) {
        (Some(u), Some(s)) => (Some(u + s), Some(s)),
        _ => (None, None),
    };
    Some(Stat { state, ppid, cpu_ticks, system_ticks })
}

/// The threads of `pid` still alive: each one's name (`comm`) and stat.
pub fn threads(root: &Path, pid: u32) -> Vec<(String, Stat)> {
    let Ok(dir) = fs::read_dir(root.join(pid.to_string()).join("task")) else { return Vec::new() };
    dir.filter_map(|e| {
        let text = fs::read_to_string(e.ok()?.path().join("stat")).ok()?;
        let name = text.get(text.find('(')? + 1..text.rfind(')')?)?.to_string();
        Some((name, parse_stat(&text)?))
    })
    .collect()
}

/// `<root>/<pid>/stat`, or None when the process is gone.
pub fn stat(root: &Path, pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(root.join(pid.to_string()).join("stat")).ok()?)
}

/// Why `pid` no longer runs (gone, or a zombie its parent has not reaped),
/// or None while it does.
pub fn exited(root: &Path, pid: u32) -> Option<String> {
    match stat(root, pid) {
        None => Some(format!("pid {pid} is gone")),
        Some(s) if s.state == 'Z' => Some("it is a zombie".into()),
        Some(_) => None,
    }
}

/// (pid, ppid) of every process now in `root`.
pub fn scan_processes(root: &Path) -> Result<Vec<(u32, u32)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(root).with_context(|| format!("reading {}", root.display()))? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // A process may exit between read_dir and this read: skip it.
        if let Some(s) = stat(root, pid) {
            out.push((pid, s.ppid));
        }
    }
    Ok(out)
}

/// CPU time (s) of the processes `pids` so far, those still there.
pub fn cpu_secs<'a>(root: &Path, pids: impl IntoIterator<Item = &'a u32>) -> f64 {
    pids.into_iter().filter_map(|&pid| stat(root, pid)?.cpu_secs()).sum()
}

/// Real uid of `pid`, from `<root>/<pid>/status`.
pub fn real_uid(root: &Path, pid: u32) -> Result<u32, String> {
    let status = fs::read_to_string(root.join(pid.to_string()).join("status")).map_err(|_| format!("no process with pid {pid}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("cannot read the owner of pid {pid}"))
}

/// Every pid `pid` has, from ours (the outermost pid namespace we see) to
/// the one it knows itself by (`NSpid:` in status): a process in a pid
/// namespace of its own, as Flatpak and `bwrap --unshare-pid` start games,
/// has two or more, and its own getpid() is the last. `[pid]` when status
/// has no NSpid line (kernels before 4.1) or cannot be read.
pub fn namespace_pids(root: &Path, pid: u32) -> Vec<u32> {
    let status = fs::read_to_string(root.join(pid.to_string()).join("status")).unwrap_or_default();
    let ids: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    if ids.first() == Some(&pid) { ids } else { vec![pid] }
}

/// The CPU's model name (`/proc/cpuinfo`), or "" when unknown.
pub fn cpu_model() -> String {
    fs::read_to_string(root().join("cpuinfo"))
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("model name").map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_parsed_from_the_last_parenthesis() {
        assert_eq!(parse_stat("42 (a) b) c) S 17 42 42 0"), Some(Stat { state: 'S', ppid: 17, cpu_ticks: None, system_ticks: None }));
        assert_eq!(parse_stat("42 (Game Thread) S 1234 0").map(|s| s.ppid), Some(1234));
        assert_eq!(parse_stat("7 (zombie) Z 1 7"), Some(Stat { state: 'Z', ppid: 1, cpu_ticks: None, system_ticks: None }));
        // utime 250 and stime 50 ticks (fields 14 and 15): 3 s.
        let full = "9 (glxgears) R 1 9 9 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 4 0 100 0 0";
        assert_eq!(parse_stat(full).and_then(|s| s.cpu_secs()), Some(3.0));
        assert_eq!(parse_stat(full).and_then(|s| s.system_secs()), Some(0.5));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) R notanumber"), None);
    }

    #[test]
    fn this_process_runs_and_its_parent_is_in_the_scan() {
        let me = std::process::id();
        assert_eq!(exited(root(), me), None);
        assert!(exited(root(), u32::MAX).unwrap().contains("is gone"));
        let procs = scan_processes(root()).unwrap();
        let ppid = stat(root(), me).unwrap().ppid;
        assert!(procs.contains(&(me, ppid)));
    }

    #[test]
    fn this_process_has_used_some_cpu() {
        let me = std::process::id();
        let spent = cpu_secs(root(), &[me]);
        let mut x = 0u64;
        while cpu_secs(root(), &[me]) <= spent {
            x = x.wrapping_mul(31).wrapping_add(1); // tick over
            std::hint::black_box(x);
        }
        // Gone processes count nothing.
        assert_eq!(cpu_secs(root(), &[u32::MAX]), 0.0);
    }

    #[test]
    fn threads_are_named_with_their_own_cpu_time() {
        let probe = std::thread::Builder::new().name("probe-thread".into()).spawn(std::thread::park).unwrap();
        // The new thread names itself once it runs: look until it has.
        let seen = |t: &[(String, Stat)]| t.iter().any(|(name, st)| name == "probe-thread" && st.cpu_ticks.is_some());
        let start = std::time::Instant::now();
        let mut t = threads(root(), std::process::id());
        while !seen(&t) && start.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(10));
            t = threads(root(), std::process::id());
        }
        assert!(seen(&t), "{t:?}");
        probe.thread().unpark();
        probe.join().unwrap();
        assert!(threads(root(), u32::MAX).is_empty());
    }

    #[test]
    fn the_owner_comes_from_status() {
        let fake = tempfile::tempdir().unwrap();
        std::fs::create_dir(fake.path().join("42")).unwrap();
        std::fs::write(fake.path().join("42/status"), "Name:\tgame\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        assert_eq!(real_uid(fake.path(), 42), Ok(1000));
        assert_eq!(real_uid(fake.path(), 43).unwrap_err(), "no process with pid 43");
    }
}
