//! The one place that parses /proc: process states and parents, owners,
//! and the machine's description. Functions take the proc root so tests
//! can point them at a fake tree; `ROOT` is the real one.

use std::fs::{self, File};
use std::os::unix::fs::FileExt;
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

/// The text of a file, any bytes that are not UTF-8 replaced. /proc shows
/// names and paths as the kernel holds them — a command name cut inside a
/// character (`comm` keeps 15 bytes: "ゲーム.exe" loses its tail mid-
/// character), a library under a folder named in Latin-1 — and a player's
/// config file may carry such bytes in a comment: refusing the whole text
/// for them lost everything else in it (a game "not found", its MangoHud
/// "not loaded", a request "for no process").
pub fn read_text(path: &Path) -> std::io::Result<String> {
    Ok(String::from_utf8_lossy(&fs::read(path)?).into_owned())
}

/// The threads of `pid` still alive: each one's name (`comm`) and stat.
pub fn threads(root: &Path, pid: u32) -> Vec<(String, Stat)> {
    let Ok(dir) = fs::read_dir(root.join(pid.to_string()).join("task")) else { return Vec::new() };
    dir.filter_map(|e| {
        let text = read_text(&e.ok()?.path().join("stat")).ok()?;
        let name = text.get(text.find('(')? + 1..text.rfind(')')?)?.to_string();
        Some((name, parse_stat(&text)?))
    })
    .collect()
}

/// `<root>/<pid>/stat`, or None when the process is gone.
pub fn stat(root: &Path, pid: u32) -> Option<Stat> {
    StatFile::open(root, pid)?.read()
}

/// A process's stat file, kept open to be read again: a read of an open
/// /proc file is one system call, where opening it walks the path through
/// the process's directory first (the open was most of a stat read's cost
/// in the tuner's profile under emulation).
pub struct StatFile(File);

impl StatFile {
    /// `<root>/<pid>/stat`, or None when the process is gone. The file
    /// stays the process's: once it has been reaped, reads fail (a new
    /// process with the same pid is not read through it).
    pub fn open(root: &Path, pid: u32) -> Option<Self> {
        let mut path = root.join(pid.to_string());
        path.push("stat");
        File::open(path).ok().map(Self)
    }

    /// What the file says now, or None when the process is gone.
    pub fn read(&self) -> Option<Stat> {
        parse_stat(&read_from_start(&self.0)?)
    }
}

/// The whole text of an open /proc or sysfs file from its start, with as
/// few system calls as it takes (`fs::read_to_string` also asks the size
/// and position, which such files do not know); bytes that are not UTF-8
/// replaced, as `read_text` does.
pub fn read_from_start(file: &File) -> Option<String> {
    let mut buf = [0u8; 1024];
    let mut text = Vec::new();
    loop {
        let n = file.read_at(&mut buf, text.len() as u64).ok()?;
        text.extend_from_slice(&buf[..n]);
        // A short read ending a line is the whole file: a /proc file
        // shows its text at once, and reading on to the end would cost
        // one more call per file.
        if n == 0 || (n < buf.len() && text.last() == Some(&b'\n')) {
            break;
        }
    }
    Some(String::from_utf8_lossy(&text).into_owned())
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

/// The children of `parent` in a process table (`scan_processes`).
pub fn children_of(procs: &[(u32, u32)], parent: u32) -> impl Iterator<Item = u32> + '_ {
    procs.iter().filter(move |&&(_, ppid)| ppid == parent).map(|&(pid, _)| pid)
}

/// Real uid of `pid`, from `<root>/<pid>/status`.
pub fn real_uid(root: &Path, pid: u32) -> Result<u32, String> {
    let status = read_text(&root.join(pid.to_string()).join("status")).map_err(|_| format!("no process with pid {pid}"))?;
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
    let status = read_text(&root.join(pid.to_string()).join("status")).unwrap_or_default();
    let ids: Vec<u32> = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .map(|v| v.split_whitespace().filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    if ids.first() == Some(&pid) { ids } else { vec![pid] }
}

/// The pid namespace `pid` is in: the target of `<root>/<pid>/ns/pid`
/// (e.g. "pid:[4026531836]"), the same for every process of it.
pub fn pid_namespace(root: &Path, pid: u32) -> std::io::Result<std::path::PathBuf> {
    fs::read_link(root.join(pid.to_string()).join("ns/pid"))
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
        // Through one kept stat file, read again and again (as the
        // tuner's game watch reads the game's).
        let me = StatFile::open(root(), std::process::id()).unwrap();
        let cpu = || me.read().and_then(|s| s.cpu_secs()).unwrap();
        let spent = cpu();
        let mut x = 0u64;
        while cpu() <= spent {
            x = x.wrapping_mul(31).wrapping_add(1); // tick over
            std::hint::black_box(x);
        }
        // Gone processes have no stat file.
        assert!(StatFile::open(root(), u32::MAX).is_none());
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
    fn a_stat_file_is_read_whole_and_again_and_a_cut_name_does_not_hide_it() {
        let fake = tempfile::tempdir().unwrap();
        std::fs::create_dir(fake.path().join("42")).unwrap();
        // comm keeps 15 bytes: "ゲームの名" cut inside its last character.
        let mut text = b"42 (\xe3\x82\xb2\xe3\x83\xbc\xe3\x83\xa0\xe3\x81\xae\xe5\x90) S 7 42 42 0 -1 0 0 0 0 0 250 50".to_vec();
        // Longer than one read's buffer.
        text.extend(b" 0".repeat(700));
        text.push(b'\n');
        std::fs::write(fake.path().join("42/stat"), &text).unwrap();
        let file = StatFile::open(fake.path(), 42).unwrap();
        let st = file.read().unwrap();
        assert_eq!((st.state, st.ppid, st.cpu_ticks), ('S', 7, Some(300)));
        assert_eq!(file.read(), Some(st), "read again from the start");
        assert_eq!(stat(fake.path(), 42), Some(st));
        assert!(StatFile::open(fake.path(), 43).is_none());
        let text = read_from_start(&File::open(fake.path().join("42/stat")).unwrap()).unwrap();
        assert_eq!(text.len(), 4 + "ゲームの".len() + 3 + ") S 7 42 42 0 -1 0 0 0 0 0 250 50".len() + 1400 + 1);
    }

    #[test]
    fn a_real_process_whose_name_the_kernel_cut_inside_a_character_is_seen() {
        // The kernel keeps 15 bytes of the program's name as comm:
        // "1ゲームゲーム" (19 bytes) becomes "1ゲームゲ" and two thirds of
        // "ー", as a Japanese game's exe can under Wine.
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("1ゲームゲーム");
        std::os::unix::fs::symlink("/bin/sleep", &exe).unwrap();
        let mut child = std::process::Command::new(&exe).arg("30").spawn().unwrap();
        let pid = child.id();
        // The parent runs on (vfork) before exec has set the new name: until
        // then comm is the inherited one (this test thread's).
        let comm = || std::fs::read(root().join(pid.to_string()).join("comm")).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::str::from_utf8(&comm()).is_ok() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let comm = comm();
        assert!(std::str::from_utf8(&comm).is_err(), "the name is cut inside a character: {comm:?}");
        let me = nix::unistd::getuid().as_raw();
        let seen = (
            stat(root(), pid).map(|s| s.ppid),
            real_uid(root(), pid),
            scan_processes(root()).unwrap().contains(&(pid, std::process::id())),
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, (Some(std::process::id()), Ok(me), true));
    }

    #[test]
    fn the_owner_comes_from_status() {
        let fake = tempfile::tempdir().unwrap();
        std::fs::create_dir(fake.path().join("42")).unwrap();
        std::fs::write(fake.path().join("42/status"), "Name:\tgame\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        assert_eq!(real_uid(fake.path(), 42), Ok(1000));
        // A name cut inside a character ("ゲーム" to 8 bytes) is still the
        // process, and so are its other lines.
        std::fs::create_dir(fake.path().join("44")).unwrap();
        let status = b"Name:\t\xe3\x82\xb2\xe3\x83\xbc\xe3\x83\nUid:\t1001\t1001\t1001\t1001\nNSpid:\t44\t3\n";
        std::fs::write(fake.path().join("44/status"), status).unwrap();
        assert_eq!(real_uid(fake.path(), 44), Ok(1001));
        assert_eq!(namespace_pids(fake.path(), 44), vec![44, 3]);
        assert_eq!(real_uid(fake.path(), 43).unwrap_err(), "no process with pid 43");
    }
}
