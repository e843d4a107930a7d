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

/// What `/proc/<pid>/stat` says that we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// `R`, `S`, `D`, `Z`, …
    pub state: char,
    pub ppid: u32,
}

/// Parse the text of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and ')', so parse from the
/// last ')'.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some(Stat { state, ppid })
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
        assert_eq!(parse_stat("42 (a) b) c) S 17 42 42 0"), Some(Stat { state: 'S', ppid: 17 }));
        assert_eq!(parse_stat("42 (Game Thread) S 1234 0").map(|s| s.ppid), Some(1234));
        assert_eq!(parse_stat("7 (zombie) Z 1 7"), Some(Stat { state: 'Z', ppid: 1 }));
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
    fn the_owner_comes_from_status() {
        let fake = tempfile::tempdir().unwrap();
        std::fs::create_dir(fake.path().join("42")).unwrap();
        std::fs::write(fake.path().join("42/status"), "Name:\tgame\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        assert_eq!(real_uid(fake.path(), 42), Ok(1000));
        assert_eq!(real_uid(fake.path(), 43).unwrap_err(), "no process with pid 43");
    }
}
