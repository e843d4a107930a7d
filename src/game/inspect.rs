//! A game that already runs (`scx_gamer attach --pid N`): what /proc tells
//! about it, whether MangoHud is in it, where its MangoHud writes logs and
//! which control socket it listens on.
//!
//! MangoHud decides its settings inside the game, from the game's own
//! environment and the game user's config files, so we redo its reasoning
//! from `/proc/<pid>`. What MangoHud does, from its sources
//! (flightlessmango/MangoHud: src/overlay_params.cpp, src/config.cpp,
//! src/logging.cpp, src/file_utils.cpp) and checked against Debian's 0.6.8:
//!
//! - MANGOHUD_CONFIG set (even empty): its settings only; the config files
//!   are read as well only with `read_cfg`, and then the environment's
//!   settings override the file's. MangoHud splits it at `,`, `:` and `;`
//!   alike (`\` escapes one inside a value); a repeated key: the last wins.
//! - MANGOHUD_CONFIG unset: the first config file that exists of
//!   `$XDG_CONFIG_HOME/MangoHud/wine-<exe>.conf` (Wine games only),
//!   `<folder of the executable>/MangoHud.conf`,
//!   `$XDG_CONFIG_HOME/MangoHud/<exe>.conf`, `/etc/MangoHud.conf` (0.7.0
//!   and later), `$XDG_CONFIG_HOME/MangoHud/MangoHud.conf`
//!   (XDG_CONFIG_HOME defaulting to `$HOME/.config`; neither set: no file),
//!   or only `$MANGOHUD_CONFIGFILE` when that is set; all of them as the
//!   game sees them, in its root (`in_root`).
//! - `output_folder` (like every path setting) starting with `~` is expanded
//!   with wordexp(3), so `~/x` and `~user/x` work; any other relative path
//!   is used as is, i.e. relative to the game's working folder.
//! - No `output_folder`: MangoHud 0.6.8 (Debian bookworm) writes no log at
//!   all (its Logger writes only `if (!output_folder.empty())`; seen too: a
//!   logged run of glxgears left no file in HOME or the working folder).
//!   Later versions (the Logger that appends each frame to the file as it
//!   comes, with swap_used/process_rss columns) default it to `$HOME` in
//!   the Logger's constructor. We report `$HOME` as the
//!   default, marked [`FolderSource::Default`], so a caller can say that an
//!   old MangoHud will log nowhere.

use std::collections::BTreeSet;
use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::{file_name, same_file};
use crate::mangohud::config::{ConfigFileSearch, applied, env_settings, last, log_duration_secs, truthy};
use crate::procfs;

/// What we can learn about a running process from `/proc/<pid>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameProcess {
    pub pid: u32,
    /// Real uid (first field of `Uid:` in status).
    pub uid: u32,
    /// File name of the executable (MangoHud's "program name"), or of comm
    /// when the executable cannot be read.
    pub exe_name: String,
    /// Environment at exec time, from `environ` (later setenv calls do not
    /// show there; MangoHud reads its settings early, so this is what it saw).
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Full path of the executable, as the game's mount namespace names it.
    pub exe_path: Option<PathBuf>,
    /// Arguments from `cmdline`.
    pub cmdline: Vec<String>,
    /// The kernel's short name (`comm`, at most 15 bytes).
    pub comm: String,
}

impl GameProcess {
    /// Read `<proc_root>/<pid>`. Errors say whether the process is missing,
    /// unreadable (another user's game without root) or no game at all (a
    /// kernel thread or a zombie).
    pub fn read(proc_root: &Path, pid: u32) -> Result<GameProcess> {
        let dir = proc_root.join(pid.to_string());
        match fs::symlink_metadata(&dir) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => bail!("no process with pid {pid}"),
            Err(e) => bail!("cannot look at {}: {e}", dir.display()),
        }
        let status = read_text(&dir.join("status"), pid)?;
        if status_field(&status, "State:").is_some_and(|s| s.starts_with('Z')) {
            bail!("pid {pid} is not a game (it is a zombie: it has exited and waits to be reaped)");
        }
        let uid = status_field(&status, "Uid:")
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no Uid: line in {}", dir.join("status").display()))?;
        let exe_path = match fs::read_link(dir.join("exe")) {
            Ok(p) => Some(strip_deleted(p)),
            Err(e) if e.kind() == ErrorKind::PermissionDenied => {
                bail!(denied(&dir.join("exe"), pid))
            }
            Err(_) => None, // kernel threads have no exe; neither do exited processes
        };
        let environ = read_bytes(&dir.join("environ"), pid)?;
        if exe_path.is_none() && environ.is_empty() {
            bail!("pid {pid} is not a game (a kernel thread or an exited process: no executable and no environment)");
        }
        let env =
            split_nul(&environ).into_iter().filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.to_string(), v.to_string()))).collect();
        let cmdline = fs::read(dir.join("cmdline")).map(|b| split_nul(&b)).unwrap_or_default();
        let comm = procfs::read_text(&dir.join("comm")).map(|s| s.trim_end_matches('\n').to_string()).unwrap_or_default();
        let exe_name = match &exe_path {
            Some(p) => file_name(p.as_os_str()),
            None => comm.clone(),
        };
        let cwd = fs::read_link(dir.join("cwd")).ok();
        Ok(GameProcess { pid, uid, exe_name, env, cwd, exe_path, cmdline, comm })
    }

    /// An environment variable of the game; when repeated, the first, as
    /// glibc's getenv finds it.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Whether MangoHud is loaded: preloaded (OpenGL, `mangohud` launcher),
    /// enabled as a Vulkan layer (MANGOHUD=1), or mapped into the process
    /// (the Vulkan layer does not show in LD_PRELOAD, only in maps).
    pub fn has_mangohud(&self, proc_root: &Path) -> bool {
        if self.var("LD_PRELOAD").is_some_and(|p| p.contains("libMangoHud")) || self.var("MANGOHUD") == Some("1") {
            return true;
        }
        let maps = proc_root.join(self.pid.to_string()).join("maps");
        procfs::read_text(&maps).is_ok_and(|text| {
            text.lines().any(|l| {
                let path = l.split_whitespace().nth(5).unwrap_or("");
                let name = file_name(path.as_ref());
                name.starts_with("libMangoHud") && name.contains(".so")
            })
        })
    }
}

fn read_text(path: &Path, pid: u32) -> Result<String> {
    Ok(String::from_utf8_lossy(&read_bytes(path, pid)?).into_owned())
}

fn read_bytes(path: &Path, pid: u32) -> Result<Vec<u8>> {
    match fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => bail!(denied(path, pid)),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bail!("no process with pid {pid} (it has exited)")
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn denied(path: &Path, pid: u32) -> String {
    format!("reading {}: permission denied (pid {pid} belongs to another user; run the tuner as root, e.g. through sudo)", path.display())
}

fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim)
}

/// `/proc/<pid>/exe` of a replaced binary reads `… (deleted)`.
fn strip_deleted(p: PathBuf) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    // As bytes: a path need not be UTF-8.
    match p.as_os_str().as_bytes().strip_suffix(b" (deleted)") {
        Some(s) => PathBuf::from(std::ffi::OsStr::from_bytes(s)),
        None => p,
    }
}

fn split_nul(bytes: &[u8]) -> Vec<String> {
    bytes.split(|&b| b == 0).filter(|s| !s.is_empty()).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

/// Which setting decided where MangoHud logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FolderSource {
    /// `output_folder` in the game's MANGOHUD_CONFIG.
    Env,
    /// `output_folder` in this config file.
    ConfigFile(PathBuf),
    /// No `output_folder`: newer MangoHud logs to $HOME; 0.6.8 and older
    /// write no log at all.
    Default,
}

impl fmt::Display for FolderSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FolderSource::Env => write!(f, "from MANGOHUD_CONFIG"),
            FolderSource::ConfigFile(p) => write!(f, "from {}", p.display()),
            FolderSource::Default => {
                write!(f, "MangoHud's default: the game's $HOME, though MangoHud 0.6.8 and older log nowhere without output_folder")
            }
        }
    }
}

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Origin {
    Env,
    File(PathBuf),
}

/// The value MangoHud in `game` uses for `key`, and where it was set
/// (which settings apply is `config::applied`'s decision).
fn setting(proc_root: &Path, game: &GameProcess, key: &str) -> Option<(String, Origin)> {
    let env = game.var("MANGOHUD_CONFIG");
    if let Some(v) = env.map(env_settings).as_deref().and_then(|e| last(e, key)) {
        return Some((v.to_string(), Origin::Env));
    }
    // Not in MANGOHUD_CONFIG: the config file's, if MangoHud reads it.
    let path = config_file(proc_root, game)?;
    let text = procfs::read_text(&in_root(proc_root, game.pid, &path)).ok()?;
    last(&applied(env, Some(&text)), key).map(|v| (v.to_string(), Origin::File(path)))
}

/// A path as the game sees it, through `/proc/<pid>/root` so a game in a
/// container (Steam's pressure-vessel, Flatpak) reads its own files.
fn in_root(proc_root: &Path, pid: u32, path: &Path) -> PathBuf {
    let root = proc_root.join(pid.to_string()).join("root");
    if path.is_absolute() && fs::symlink_metadata(&root).is_ok() {
        root.join(path.strip_prefix("/").unwrap_or(path))
    } else {
        path.to_path_buf()
    }
}

/// Where we find `path`, a path as the game names it: the same path when
/// the game shares our root; inside its root (`/proc/<pid>/root/…`) when it
/// runs in one of its own (a chroot, Steam's pressure-vessel, Flatpak), so
/// the logs it writes to its /tmp are found in that /tmp, not ours.
///
/// Asked of the files, not of the link's text: a sandbox (bubblewrap, so
/// Flatpak and pressure-vessel) pivots into a root of its own that
/// `readlink /proc/<pid>/root` still shows as `/`, and may share our root
/// but not our /tmp. So: the path in the game's root when it exists there
/// and is not the very file we see; else, when it exists nowhere yet, in
/// the game's root when that root is not ours.
pub fn as_seen_from_here(proc_root: &Path, pid: u32, path: &Path) -> PathBuf {
    let root = proc_root.join(pid.to_string()).join("root");
    let inside = in_root(proc_root, pid, path);
    if same_file(&inside, path) {
        return path.to_path_buf();
    }
    let theirs_differs = fs::metadata(&root).is_ok() && !same_file(&root, Path::new("/"));
    if fs::metadata(&inside).is_ok() || theirs_differs { inside } else { path.to_path_buf() }
}

/// The config file MangoHud in `game` read (the first that exists, see the
/// module docs), as the game names it.
pub fn config_file(proc_root: &Path, game: &GameProcess) -> Option<PathBuf> {
    let wine = wine_exe_name(game);
    let search = ConfigFileSearch {
        configfile: game.var("MANGOHUD_CONFIGFILE"),
        xdg_config_home: game.var("XDG_CONFIG_HOME"),
        home: game.var("HOME"),
        exe_name: &game.exe_name,
        exe_folder: game.exe_path.as_deref().and_then(Path::parent),
        wine_exe: wine.as_deref(),
    };
    if search.configfile.is_some() {
        // Named: the one MangoHud reads, whether or not it exists.
        return search.candidates().pop();
    }
    search.find(|p| in_root(proc_root, game.pid, p).is_file())
}

/// The Windows program a wine-preloader runs, without `.exe`, found as
/// MangoHud finds it: comm when it ends in `.exe`, else the first argument
/// with a path separator or ending in `.exe`.
fn wine_exe_name(game: &GameProcess) -> Option<String> {
    if !matches!(game.exe_name.as_str(), "wine-preloader" | "wine64-preloader") {
        return None;
    }
    let strip = |s: &str| s.rsplit_once('.').map_or(s, |(stem, _)| stem).to_string();
    if game.comm.to_ascii_lowercase().ends_with(".exe") {
        return Some(strip(&game.comm));
    }
    game.cmdline.iter().find_map(|a| {
        if let Some(n) = a.rfind(['/', '\\'])
            && n + 1 < a.len()
        {
            let base = &a[n + 1..];
            Some(strip(base))
        } else if a.to_ascii_lowercase().ends_with(".exe") {
            Some(strip(a))
        } else {
            None
        }
    })
}

/// Where the game's MangoHud writes its logs, and which setting said so.
/// See the module docs for how MangoHud decides.
pub fn log_folder(game: &GameProcess) -> Result<(PathBuf, FolderSource)> {
    log_folder_in(crate::procfs::root(), game)
}

/// [`log_folder`] for a game read from `proc_root`.
pub fn log_folder_in(proc_root: &Path, game: &GameProcess) -> Result<(PathBuf, FolderSource)> {
    let (value, source) = match setting(proc_root, game, "output_folder") {
        Some((v, origin)) if !v.is_empty() => {
            let source = match origin {
                Origin::Env => FolderSource::Env,
                Origin::File(p) => FolderSource::ConfigFile(p),
            };
            (v, source)
        }
        _ => {
            let Some(home) = game.var("HOME").filter(|h| !h.is_empty()) else {
                bail!("pid {}: MangoHud has no output_folder and the game has no HOME to default to", game.pid);
            };
            return Ok((PathBuf::from(home), FolderSource::Default));
        }
    };
    let path = expand_path(&value, game).with_context(|| format!("output_folder={value} ({source})"))?;
    Ok((path, source))
}

/// A path setting as MangoHud resolves it: `~` and `~user` expanded (it uses
/// wordexp, which would also expand `$VARS` after a leading `~`; we expand
/// only the tilde), relative paths relative to the game's working folder.
fn expand_path(value: &str, game: &GameProcess) -> Result<PathBuf> {
    let path = if let Some(rest) = value.strip_prefix('~') {
        let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let home = if user.is_empty() {
            match game.var("HOME") {
                Some(h) => PathBuf::from(h),
                None => user_home_by_uid(game.uid)?,
            }
        } else {
            match nix::unistd::User::from_name(user) {
                Ok(Some(u)) => u.dir,
                _ => bail!("no user {user:?} for ~{user}"),
            }
        };
        if tail.is_empty() { home } else { home.join(tail) }
    } else {
        PathBuf::from(value)
    };
    if path.is_absolute() {
        return Ok(path);
    }
    match &game.cwd {
        Some(cwd) => Ok(cwd.join(path)),
        None => bail!("the path is relative and the working folder of pid {} is unknown", game.pid),
    }
}

fn user_home_by_uid(uid: u32) -> Result<PathBuf> {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(u)) => Ok(u.dir),
        _ => bail!("the game has no HOME and uid {uid} is not in the password database"),
    }
}

/// The game's MangoHud control socket (abstract name, without `@`): the
/// `control=` setting with `%p` standing for the pid of the process that
/// loaded MangoHud, which may be any process of `tree` (a launcher may fork
/// the real game). MangoHud writes the pid it knows itself by: in a pid
/// namespace of its own (Flatpak, `bwrap --unshare-pid`) that is not ours,
/// so every pid of each process counts (`procfs::namespace_pids`). Only a
/// name listening in `<proc_root>/net/unix` counts.
pub fn control_socket(proc_root: &Path, game: &GameProcess, tree: &BTreeSet<u32>) -> Option<String> {
    let (pattern, _) = setting(proc_root, game, "control")?;
    if pattern.is_empty() {
        return None;
    }
    let listening = abstract_sockets(&procfs::read_text(&proc_root.join("net/unix")).ok()?);
    let is_listening = |name: &str| listening.iter().any(|l| l == name);
    if !pattern.contains("%p") {
        return is_listening(&pattern).then_some(pattern);
    }
    std::iter::once(game.pid)
        .chain(tree.iter().copied().filter(|&p| p != game.pid))
        .flat_map(|pid| procfs::namespace_pids(proc_root, pid))
        .map(|pid| pattern.replacen("%p", &pid.to_string(), 1))
        .find(|name| is_listening(name))
}

/// Where the game's MangoHud got `no_display` from, when it hides its HUD
/// that way: MangoHud 0.7 and later then write no log unless logging is
/// started through the control socket (their overlay.cpp updates the
/// logger only `if (!no_display || logger->is_active())`, and autostart is
/// checked inside that update; 0.6.8 still autostarts).
pub fn no_display_origin(proc_root: &Path, game: &GameProcess) -> Option<String> {
    let (value, origin) = setting(proc_root, game, "no_display")?;
    truthy(&value).then(|| match origin {
        Origin::Env => "MANGOHUD_CONFIG".to_string(),
        Origin::File(p) => p.display().to_string(),
    })
}

/// Why the game's MangoHud cannot give a trial of `trial` its frames
/// because of its `log_duration` (it ends every log that many seconds after
/// it started, also one started through the control socket), or `None`.
/// With a control socket (`control`) each trial is a log of its own, so
/// only a limit shorter than a trial matters; without one the tuner reads
/// the one log MangoHud keeps writing, which the limit ends for good.
///
/// A refusal, not a warning: the trials would get a few seconds of frames
/// (or none) where the player asked for more, and the verdict would rest
/// on less than it says; a player would rather restart the game without
/// the setting, or shorten the trials, than get that.
pub fn log_duration_problem(proc_root: &Path, game: &GameProcess, trial: std::time::Duration, control: bool) -> Option<String> {
    let (value, origin) = setting(proc_root, game, "log_duration")?;
    let secs = log_duration_secs(&[("log_duration".to_string(), value.clone())])?;
    let origin = match origin {
        Origin::Env => "MANGOHUD_CONFIG".to_string(),
        Origin::File(p) => p.display().to_string(),
    };
    let pid = game.pid;
    if !control {
        return Some(format!(
            "pid {pid}'s MangoHud has log_duration={value} (from {origin}) and no control socket: it ends its log {secs} s after logging \
             started, and no frames come after that. Restart the game without log_duration, or add control=mangohud-%p"
        ));
    }
    let trial_secs = trial.as_secs_f64();
    (f64::from(secs) < trial_secs).then(|| {
        format!(
            "pid {pid}'s MangoHud has log_duration={value} (from {origin}): it ends every log after {secs} s, and a trial takes \
             {trial_secs} s. Restart the game without log_duration (or with log_duration={} or more), or use --trial-secs {secs} or less",
            trial_secs.ceil()
        )
    })
}

/// The game's MangoHud is set up to open a control socket (`control=` in
/// its settings), listening yet or not: MangoHud opens it at the first
/// frame it hooks, which can take seconds after the game started.
pub fn control_configured(proc_root: &Path, game: &GameProcess) -> bool {
    setting(proc_root, game, "control").is_some_and(|(pattern, _)| !pattern.is_empty())
}

/// `__SO_ACCEPTCON` in /proc/net/unix's Flags column: a listening socket.
const LISTENING: u32 = 0x0001_0000;

/// Abstract unix socket names (without `@`) that are listening, from the
/// text of /proc/net/unix (columns `Num RefCount Protocol Flags Type St
/// Inode Path`; abstract paths start with `@`).
pub fn abstract_sockets(net_unix: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for line in net_unix.lines() {
        let mut rest = line.trim_start();
        let mut fields = Vec::with_capacity(7);
        for _ in 0..7 {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            fields.push(&rest[..end]);
            rest = rest[end..].trim_start();
        }
        let Ok(flags) = u32::from_str_radix(fields[3], 16) else {
            continue;
        }; // header, odd line
        let Some(name) = rest.strip_prefix('@') else {
            continue;
        };
        if flags & LISTENING != 0 && !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake /proc with one process in it.
    struct FakeProc {
        dir: tempfile::TempDir,
    }

    impl FakeProc {
        fn new() -> Self {
            FakeProc { dir: tempfile::tempdir().unwrap() }
        }
        fn root(&self) -> &Path {
            self.dir.path()
        }
        fn add(&self, pid: u32, exe: Option<&str>, env: &[(&str, &str)]) -> PathBuf {
            let d = self.root().join(pid.to_string());
            fs::create_dir_all(&d).unwrap();
            let environ: String = env.iter().map(|(k, v)| format!("{k}={v}\0")).collect();
            fs::write(d.join("environ"), environ).unwrap();
            fs::write(d.join("status"), format!("Name:\tgame\nState:\tS (sleeping)\nPid:\t{pid}\nUid:\t1000\t1000\t1000\t1000\n")).unwrap();
            if let Some(exe) = exe {
                symlink(exe, d.join("exe")).unwrap();
                fs::write(d.join("cmdline"), format!("{exe}\0--fullscreen\0")).unwrap();
                fs::write(d.join("comm"), format!("{}\n", file_name(exe.as_ref()))).unwrap();
            }
            d
        }
        fn net_unix(&self, text: &str) {
            fs::create_dir_all(self.root().join("net")).unwrap();
            fs::write(self.root().join("net/unix"), text).unwrap();
        }
    }

    #[test]
    fn a_game_in_a_root_of_its_own_has_its_logs_found_there() {
        let p = FakeProc::new();
        let d = p.add(5, Some("/usr/bin/game"), &[]);
        let own = tempfile::tempdir().unwrap();
        symlink(own.path(), d.join("root")).unwrap();
        let seen = as_seen_from_here(p.root(), 5, Path::new("/tmp/logs"));
        assert_eq!(seen, d.join("root/tmp/logs"));
        // Our own root: the path as it is.
        let d = p.add(6, Some("/usr/bin/game"), &[]);
        symlink("/", d.join("root")).unwrap();
        assert_eq!(as_seen_from_here(p.root(), 6, Path::new("/tmp/logs")), Path::new("/tmp/logs"));
        // This process: its root is ours.
        let me = std::process::id();
        assert_eq!(as_seen_from_here(Path::new("/proc"), me, Path::new("/x")), Path::new("/x"));
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(as_seen_from_here(Path::new("/proc"), me, tmp.path()), tmp.path());
    }

    #[test]
    fn a_sandboxed_game_with_our_root_but_its_own_tmp_has_its_logs_found_there() {
        // bubblewrap (as Flatpak and pressure-vessel use it): readlink of
        // its /proc/PID/root says "/", and here its / is even ours, but its
        // /tmp is not.
        let Some(bwrap) = crate::game::find_in_path(std::ffi::OsStr::new("bwrap"), std::env::var_os("PATH").as_deref()) else {
            panic!("bwrap is not installed (scripts/setup.sh installs bubblewrap)");
        };
        let mut child = std::process::Command::new(bwrap)
            .args(["--die-with-parent", "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--"])
            .args(["sh", "-c", "mkdir /tmp/logs && echo ready && exec sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
        assert_eq!(line.trim(), "ready", "the sandbox did not start");
        // bwrap's child runs the command: find the sleeping descendant. sh
        // said "ready" before its exec, which a loaded host may not have
        // reached yet (one loaded run found only sh): wait for it, bounded.
        let sleeper = || {
            let procs = crate::procfs::scan_processes(Path::new("/proc")).unwrap();
            let tree = crate::sched::game_tree::process_tree(&[child.id()], &procs);
            tree.into_iter().find(|&p| fs::read_to_string(format!("/proc/{p}/comm")).is_ok_and(|c| c.trim() == "sleep"))
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let game = loop {
            match sleeper() {
                Some(p) => break p,
                None if std::time::Instant::now() < deadline => std::thread::sleep(std::time::Duration::from_millis(20)),
                None => panic!("no sleep process under bwrap (pid {}) within 20 s", child.id()),
            }
        };
        assert_eq!(fs::read_link(format!("/proc/{game}/root")).unwrap(), Path::new("/"));
        let seen = as_seen_from_here(Path::new("/proc"), game, Path::new("/tmp/logs"));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, PathBuf::from(format!("/proc/{game}/root/tmp/logs")));
    }

    // Lines in this machine's /proc/net/unix format: a listening stream
    // socket (flags 00010000), a connection to it, an unbound one, a
    // bound datagram socket and a path socket.
    const NET_UNIX: &str = "\
Num       RefCount Protocol Flags    Type St Inode Path
000000007d3eb251: 00000003 00000000 00000000 0001 03 108629 /var/tmp/scx-gamer-vm.zm6jWa/out.sock
00000000cce401b2: 00000003 00000000 00000000 0001 03  1134
000000002bb6246f: 00000003 00000000 00000000 0001 02     0 @mangohud-4242
000000009da40084: 00000002 00000000 00000000 0002 01 111139 @dgram-x
00000000e3eeb48a: 00000002 00000000 00010000 0001 01 111137 @mangohud-4242
0000000069cd948e: 00000002 00000000 00000000 0001 01 111138 @bound-only
0000000011111111: 00000002 00000000 00010000 0001 01 111140 @with space
00000000e3eeb48b: 00000002 00000000 00010000 0001 01 111141 @mangohud-4242
";

    #[test]
    fn lists_listening_abstract_sockets() {
        assert_eq!(abstract_sockets(NET_UNIX), vec!["mangohud-4242", "with space"]);
        assert!(abstract_sockets("").is_empty());
        assert!(abstract_sockets("garbage\n1 2\n").is_empty());
    }

    #[test]
    fn reads_a_game_from_a_fake_proc() {
        let p = FakeProc::new();
        let d = p.add(77, Some("/opt/game/bin/game.x86_64"), &[("HOME", "/home/p"), ("A", "b=c"), ("A", "second")]);
        symlink("/opt/game", d.join("cwd")).unwrap();
        let g = GameProcess::read(p.root(), 77).unwrap();
        assert_eq!((g.pid, g.uid, g.exe_name.as_str()), (77, 1000, "game.x86_64"));
        assert_eq!(g.var("A"), Some("b=c"));
        assert_eq!(g.var("HOME"), Some("/home/p"));
        assert_eq!(g.var("NOPE"), None);
        assert_eq!(g.cwd.as_deref(), Some(Path::new("/opt/game")));
        assert_eq!(g.cmdline, vec!["/opt/game/bin/game.x86_64", "--fullscreen"]);
        assert_eq!(g.comm, "game.x86_64");
    }

    #[test]
    fn explains_what_is_not_a_game() {
        let p = FakeProc::new();
        let err = GameProcess::read(p.root(), 5).unwrap_err().to_string();
        assert_eq!(err, "no process with pid 5");
        p.add(2, None, &[]); // kthreadd
        let err = GameProcess::read(p.root(), 2).unwrap_err().to_string();
        assert!(err.starts_with("pid 2 is not a game (a kernel thread"), "{err}");
        let d = p.add(9, None, &[]);
        fs::write(d.join("status"), "Name:\tgame\nState:\tZ (zombie)\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        let err = GameProcess::read(p.root(), 9).unwrap_err().to_string();
        assert!(err.starts_with("pid 9 is not a game (it is a zombie"), "{err}");
        let d = p.add(10, Some("/bin/x"), &[]);
        fs::write(d.join("status"), "Name:\tx\n").unwrap();
        let err = format!("{:#}", GameProcess::read(p.root(), 10).unwrap_err());
        assert!(err.contains("no Uid: line"), "{err}");
    }

    #[test]
    fn a_deleted_executable_keeps_its_name() {
        let p = FakeProc::new();
        p.add(3, Some("/opt/game/game (deleted)"), &[("HOME", "/h")]);
        assert_eq!(GameProcess::read(p.root(), 3).unwrap().exe_name, "game");
        // A folder named in Latin-1 ("Spiele/Müll"): the suffix goes too.
        use std::os::unix::ffi::OsStrExt;
        let latin1 = std::ffi::OsStr::from_bytes(b"/home/p/Spiele/M\xfcll/game (deleted)");
        assert_eq!(strip_deleted(PathBuf::from(latin1)), PathBuf::from(std::ffi::OsStr::from_bytes(b"/home/p/Spiele/M\xfcll/game")));
    }

    #[test]
    fn reads_a_real_process() {
        crate::testing::assert_no_system_mangohud_conf();
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env_clear()
            .env("SCX_GAMER_TEST", "x=1")
            .env("HOME", "/nowhere")
            .current_dir(dir.path())
            .spawn()
            .unwrap();
        let read = GameProcess::read(Path::new("/proc"), child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        let g = read.unwrap();
        assert_eq!(g.exe_name, "sleep");
        assert_eq!(g.uid, nix::unistd::getuid().as_raw());
        assert_eq!(g.var("SCX_GAMER_TEST"), Some("x=1"));
        assert_eq!(g.env.len(), 2);
        assert_eq!(g.cwd.as_deref(), Some(dir.path()));
        assert_eq!(g.cmdline, vec!["sleep", "30"]);
        assert!(!g.has_mangohud(Path::new("/proc")));
        assert_eq!(log_folder(&g).unwrap(), (PathBuf::from("/nowhere"), FolderSource::Default));
    }

    #[test]
    fn sees_mangohud_in_preload_env_or_maps() {
        let p = FakeProc::new();
        let game = |pid, env: &[(&str, &str)]| {
            p.add(pid, Some("/g"), env);
            GameProcess::read(p.root(), pid).unwrap()
        };
        let g = game(1, &[("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/mangohud/libMangoHud_dlsym.so")]);
        assert!(g.has_mangohud(p.root()));
        assert!(game(2, &[("MANGOHUD", "1")]).has_mangohud(p.root()));
        let g = game(3, &[("MANGOHUD", "0")]);
        assert!(!g.has_mangohud(p.root()));
        fs::write(
            p.root().join("3/maps"),
            "7f0000000000-7f0000001000 r--p 00000000 08:01 1234 /usr/lib/libc.so.6\n\
             7f0000002000-7f0000003000 r-xp 00001000 08:01 5678 /usr/lib/x86_64-linux-gnu/mangohud/libMangoHud.so\n",
        )
        .unwrap();
        assert!(g.has_mangohud(p.root()));
        // A library under a folder named in Latin-1 ("Spiele/Müll") in the
        // same maps: MangoHud is still seen.
        let g = game(5, &[]);
        let mut maps = b"7f00-7f01 r--p 00000000 08:01 1 /home/p/Spiele/M\xfcll/lib.so\n".to_vec();
        maps.extend_from_slice(b"7f02-7f03 r-xp 00001000 08:01 2 /usr/lib/mangohud/libMangoHud.so\n");
        fs::write(p.root().join("5/maps"), maps).unwrap();
        assert!(g.has_mangohud(p.root()));
        let g = game(4, &[("X", "libMangoHud")]);
        fs::write(p.root().join("4/maps"), "7f00-7f01 r--p 00000000 08:01 1 /opt/libMangoHudHelper.txt\n").unwrap();
        assert!(!g.has_mangohud(p.root()));
    }

    /// A fake game whose home is a real temp folder.
    fn game_with(p: &FakeProc, pid: u32, exe: &str, env: &[(&str, &str)]) -> GameProcess {
        let d = p.add(pid, Some(exe), env);
        symlink("/opt/game", d.join("cwd")).unwrap();
        GameProcess::read(p.root(), pid).unwrap()
    }

    #[test]
    fn log_folder_from_the_environment() {
        crate::testing::assert_no_system_mangohud_conf();
        let p = FakeProc::new();
        let home = p.root().join("home");
        let conf = home.join(".config/MangoHud");
        fs::create_dir_all(&conf).unwrap();
        fs::write(conf.join("MangoHud.conf"), "output_folder=/from/file\n").unwrap();
        let h = home.to_str().unwrap();

        // MANGOHUD_CONFIG set: the file is not read...
        let g = game_with(&p, 1, "/opt/game/game", &[("HOME", h), ("MANGOHUD_CONFIG", "output_folder=/env/logs,fps_limit=60")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap(), (PathBuf::from("/env/logs"), FolderSource::Env));
        let g = game_with(&p, 2, "/opt/game/game", &[("HOME", h), ("MANGOHUD_CONFIG", "fps_limit=60")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap(), (PathBuf::from(h), FolderSource::Default));
        // ...unless read_cfg, and then the environment still wins.
        let g = game_with(&p, 3, "/opt/game/game", &[("HOME", h), ("MANGOHUD_CONFIG", "read_cfg")]);
        let file_source = FolderSource::ConfigFile(conf.join("MangoHud.conf"));
        assert_eq!(log_folder_in(p.root(), &g).unwrap(), (PathBuf::from("/from/file"), file_source.clone()));
        let g = game_with(&p, 4, "/opt/game/game", &[("HOME", h), ("MANGOHUD_CONFIG", "read_cfg,output_folder=/e")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap(), (PathBuf::from("/e"), FolderSource::Env));
        // Not set at all: the file.
        let g = game_with(&p, 5, "/opt/game/game", &[("HOME", h)]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap(), (PathBuf::from("/from/file"), file_source));
        assert_eq!(format!("{}", FolderSource::Env), "from MANGOHUD_CONFIG");
    }

    #[test]
    fn log_folder_from_the_config_files_in_mangohuds_order() {
        // The game runs in a root of its own, so the files it sees (its
        // /etc/MangoHud.conf too) are the test's, not this machine's.
        let p = FakeProc::new();
        let root = tempfile::tempdir().unwrap();
        let at = |path: &str| root.path().join(path.trim_start_matches('/'));
        for d in ["/home/p/.config/MangoHud", "/xdg/MangoHud", "/opt/bin", "/etc"] {
            fs::create_dir_all(at(d)).unwrap();
        }
        let write = |path: &str, folder: &str| {
            fs::write(at(path), format!("output_folder={folder}\n")).unwrap();
            PathBuf::from(path)
        };
        let check = |pid: u32, env: &[(&str, &str)], want: &str, file: &Path| {
            let d = p.add(pid, Some("/opt/bin/game"), env);
            symlink(root.path(), d.join("root")).unwrap();
            let g = GameProcess::read(p.root(), pid).unwrap();
            let got = log_folder_in(p.root(), &g).unwrap();
            assert_eq!(got, (PathBuf::from(want), FolderSource::ConfigFile(file.to_path_buf())), "pid {pid}");
        };
        let home = [("HOME", "/home/p")];
        let global = write("/home/p/.config/MangoHud/MangoHud.conf", "/global");
        check(1, &home, "/global", &global);
        // MangoHud 0.7+ prefers /etc's file to the player's MangoHud.conf...
        let system = write("/etc/MangoHud.conf", "/system");
        check(8, &home, "/system", &system);
        // ...but not to a per-game one.
        let per_game = write("/home/p/.config/MangoHud/game.conf", "/per-game");
        check(2, &home, "/per-game", &per_game);
        let beside = write("/opt/bin/MangoHud.conf", "/beside");
        check(3, &home, "/beside", &beside);
        // XDG_CONFIG_HOME replaces ~/.config.
        let x = write("/xdg/MangoHud/MangoHud.conf", "/xdg");
        fs::remove_file(at("/opt/bin/MangoHud.conf")).unwrap();
        fs::remove_file(at("/etc/MangoHud.conf")).unwrap();
        check(4, &[("HOME", "/home/p"), ("XDG_CONFIG_HOME", "/xdg")], "/xdg", &x);
        // MANGOHUD_CONFIGFILE is the only file read when set.
        let named = write("/named.conf", "/named");
        check(5, &[("HOME", "/home/p"), ("MANGOHUD_CONFIGFILE", "/named.conf")], "/named", &named);
        // A comment in Latin-1 ("für" as one byte ü): the file still counts.
        fs::write(at("/named.conf"), b"# f\xfcr mich\noutput_folder=/latin1\n").unwrap();
        check(7, &[("HOME", "/home/p"), ("MANGOHUD_CONFIGFILE", "/named.conf")], "/latin1", &named);
        // A file without output_folder: the default.
        fs::write(at("/home/p/.config/MangoHud/game.conf"), "fps_limit=30\n").unwrap();
        let d = p.add(6, Some("/opt/bin/game"), &home);
        symlink(root.path(), d.join("root")).unwrap();
        let g = GameProcess::read(p.root(), 6).unwrap();
        assert_eq!(log_folder_in(p.root(), &g).unwrap(), (PathBuf::from("/home/p"), FolderSource::Default));
    }

    #[test]
    fn wine_games_have_their_own_file() {
        crate::testing::assert_no_system_mangohud_conf();
        let p = FakeProc::new();
        let home = p.root().join("home");
        fs::create_dir_all(home.join(".config/MangoHud")).unwrap();
        fs::write(home.join(".config/MangoHud/MangoHud.conf"), "output_folder=/global\n").unwrap();
        fs::write(home.join(".config/MangoHud/wine-Game.conf"), "output_folder=/wine\n").unwrap();
        let d = p.add(1, Some("/usr/lib/wine/wine64-preloader"), &[("HOME", home.to_str().unwrap())]);
        // Wine rewrites its argv: cmdline starts with the Windows program.
        fs::write(d.join("cmdline"), "C:\\Games\\Game.exe\0-dx11\0").unwrap();
        fs::write(d.join("comm"), "MainThrd\n").unwrap();
        let g = GameProcess::read(p.root(), 1).unwrap();
        assert_eq!(log_folder_in(p.root(), &g).unwrap().0, PathBuf::from("/wine"));
        fs::write(d.join("comm"), "Game.exe\n").unwrap();
        let g = GameProcess::read(p.root(), 1).unwrap();
        assert_eq!(wine_exe_name(&g).as_deref(), Some("Game"));
    }

    #[test]
    fn tilde_and_relative_folders() {
        let p = FakeProc::new();
        let g = game_with(&p, 1, "/opt/game/game", &[("HOME", "/home/p"), ("MANGOHUD_CONFIG", "output_folder=~/logs")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap().0, PathBuf::from("/home/p/logs"));
        let g = game_with(&p, 2, "/g", &[("HOME", "/home/p"), ("MANGOHUD_CONFIG", "output_folder=~")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap().0, PathBuf::from("/home/p"));
        let g = game_with(&p, 3, "/g", &[("MANGOHUD_CONFIG", "output_folder=~nobody/x")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap().0, PathBuf::from("/nonexistent/x"));
        let g = game_with(&p, 4, "/g", &[("MANGOHUD_CONFIG", "output_folder=logs/here")]);
        assert_eq!(log_folder_in(p.root(), &g).unwrap().0, PathBuf::from("/opt/game/logs/here"));
        let g = game_with(&p, 5, "/g", &[("MANGOHUD_CONFIG", "output_folder=~no-such-user-xyz/x")]);
        let err = format!("{:#}", log_folder_in(p.root(), &g).unwrap_err());
        assert!(err.contains("output_folder=~no-such-user-xyz/x (from MANGOHUD_CONFIG)"), "{err}");
        let g = game_with(&p, 6, "/g", &[("MANGOHUD_CONFIG", "fps_limit=1")]);
        let err = log_folder_in(p.root(), &g).unwrap_err().to_string();
        assert!(err.contains("pid 6") && err.contains("no HOME"), "{err}");
    }

    #[test]
    fn finds_the_control_socket_in_the_game_tree() {
        let p = FakeProc::new();
        p.net_unix(NET_UNIX);
        let tree: BTreeSet<u32> = [100, 4242, 5000].into();
        // The launcher (100) has the setting; its child 4242 loaded MangoHud.
        let g = game_with(&p, 100, "/g", &[("MANGOHUD_CONFIG", "control=mangohud-%p,no_display")]);
        assert_eq!(control_socket(p.root(), &g, &tree), Some("mangohud-4242".to_string()));
        assert_eq!(control_socket(p.root(), &g, &[100, 5000].into()), None);
        let g = game_with(&p, 101, "/g", &[("MANGOHUD_CONFIG", "no_display")]);
        assert_eq!(control_socket(p.root(), &g, &tree), None);
        assert_eq!(no_display_origin(p.root(), &g).as_deref(), Some("MANGOHUD_CONFIG"));
        let g = game_with(&p, 105, "/g", &[("MANGOHUD_CONFIG", "no_display=0,control=x")]);
        assert_eq!(no_display_origin(p.root(), &g), None);
        let g = game_with(&p, 102, "/g", &[("MANGOHUD_CONFIG", "control=with space")]);
        assert_eq!(control_socket(p.root(), &g, &tree), Some("with space".to_string()));
        let g = game_with(&p, 103, "/g", &[("MANGOHUD_CONFIG", "control=bound-only")]);
        assert_eq!(control_socket(p.root(), &g, &tree), None, "bound but not listening");
        fs::remove_file(p.root().join("net/unix")).unwrap();
        let g = game_with(&p, 104, "/g", &[("MANGOHUD_CONFIG", "control=mangohud-%p")]);
        assert_eq!(control_socket(p.root(), &g, &tree), None);
    }

    #[test]
    fn a_log_duration_shorter_than_a_trial_is_refused() {
        use std::time::Duration;
        let p = FakeProc::new();
        let trial = Duration::from_secs(120);
        let g = game_with(&p, 1, "/g", &[("MANGOHUD_CONFIG", "control=mangohud-%p,log_duration=30")]);
        let why = log_duration_problem(p.root(), &g, trial, true).unwrap();
        assert!(why.starts_with("pid 1's MangoHud has log_duration=30 (from MANGOHUD_CONFIG): it ends every log after 30 s"), "{why}");
        assert!(why.contains("a trial takes 120 s") && why.contains("--trial-secs 30 or less"), "{why}");
        // Long enough for the trial: each trial's log is over before.
        assert_eq!(log_duration_problem(p.root(), &g, Duration::from_secs(30), true), None);
        // Without a socket the one log the tuner reads ends for good.
        let why = log_duration_problem(p.root(), &g, Duration::from_secs(10), false).unwrap();
        assert!(why.contains("no control socket") && why.contains("no frames come after that"), "{why}");
        // No limit: 0, absent, or turned off again later.
        for config in ["log_duration=0", "fps_limit=60", "log_duration=30:log_duration=0"] {
            let g = game_with(&p, 2 + config.len() as u32, "/g", &[("MANGOHUD_CONFIG", config)]);
            assert_eq!(log_duration_problem(p.root(), &g, trial, false), None, "{config}");
        }
        // From the player's config file (in the game's own root, so not
        // this machine's /etc/MangoHud.conf): the message names it.
        let root = tempfile::tempdir().unwrap();
        fs::create_dir_all(root.path().join("home/p/.config/MangoHud")).unwrap();
        fs::write(root.path().join("home/p/.config/MangoHud/MangoHud.conf"), "log_duration=60\n").unwrap();
        let d = p.add(50, Some("/g"), &[("HOME", "/home/p")]);
        symlink(root.path(), d.join("root")).unwrap();
        let g = GameProcess::read(p.root(), 50).unwrap();
        let why = log_duration_problem(p.root(), &g, trial, true).unwrap();
        assert!(why.contains("log_duration=60 (from /home/p/.config/MangoHud/MangoHud.conf)"), "{why}");
    }

    #[test]
    fn finds_the_control_socket_of_a_game_in_a_pid_namespace_of_its_own() {
        // bwrap --unshare-pid (Flatpak): our pid 7001 is pid 2 inside the
        // sandbox (1 is bwrap's init), and MangoHud's %p is 2.
        let p = FakeProc::new();
        p.net_unix(&NET_UNIX.replace("@mangohud-4242", "@mangohud-2"));
        let g = game_with(&p, 7001, "/g", &[("MANGOHUD_CONFIG", "control=mangohud-%p")]);
        let status = p.root().join("7001/status");
        assert_eq!(control_socket(p.root(), &g, &[7001].into()), None, "no NSpid line: only our pid");
        fs::write(&status, "Name:\tgame\nPid:\t7001\nNSpid:\t7001\t2\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        assert_eq!(procfs::namespace_pids(p.root(), 7001), vec![7001, 2]);
        assert_eq!(control_socket(p.root(), &g, &[7001].into()), Some("mangohud-2".to_string()));
        // A status whose NSpid does not start with the pid is not believed.
        fs::write(&status, "Name:\tgame\nNSpid:\t9\t2\n").unwrap();
        assert_eq!(procfs::namespace_pids(p.root(), 7001), vec![7001]);
        assert_eq!(procfs::namespace_pids(p.root(), 4), vec![4], "no such process");
    }
}
