//! The environment the player had before sudo reset it.
//!
//! `sudo scx_gamer tune -- ./game` runs us with sudo's `env_reset`: the
//! player's MANGOHUD_CONFIG, PROTON_*/DXVK_*/WINE* settings, WAYLAND_DISPLAY,
//! LD_PRELOAD and PATH are gone, so the game ran — and was tuned — with
//! other settings than the player plays with (a `fps_limit` lost changes
//! the very frame times we score). sudo runs the command as its own child,
//! and its process still holds the environment it was started with: the
//! player's. We read it back from there, for the game (which runs as the
//! player, so it gets nothing it could not have set itself) and for what
//! the tuner reads of the game's settings (MangoHud config, SteamAppId).

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::OnceLock;

/// Names sudo gives the target account or itself: never the caller's.
const NOT_THE_CALLERS: &[&str] =
    &["HOME", "USER", "LOGNAME", "USERNAME", "MAIL", "SHELL", "SUDO_USER", "SUDO_UID", "SUDO_GID", "SUDO_COMMAND", "SUDO_HOME"];

/// The environment sudo was started with.
#[derive(Debug, Default, PartialEq)]
pub struct CallerEnv {
    vars: BTreeMap<OsString, OsString>,
}

impl CallerEnv {
    /// The environment of `ppid` when it is sudo and we run for its caller
    /// (`sudo_uid`, our SUDO_UID, is set); None otherwise — also when sudo
    /// ran the command without a child of its own (we would be reading our
    /// own caller's shell, which is not whom sudo ran us for).
    pub fn of_sudo_parent(proc_root: &Path, ppid: u32, sudo_uid: Option<&str>) -> Option<Self> {
        sudo_uid?;
        let dir = proc_root.join(ppid.to_string());
        let exe = std::fs::read_link(dir.join("exe")).ok()?;
        // sudo, or sudo-rs installed as `sudo` (Ubuntu 25.10).
        if !matches!(exe.file_name()?.to_str()?, "sudo" | "sudo-rs") {
            return None;
        }
        let raw = std::fs::read(dir.join("environ")).ok()?;
        let vars = raw
            .split(|&b| b == 0)
            .filter_map(|entry| {
                let eq = entry.iter().position(|&b| b == b'=')?;
                let (k, v) = (&entry[..eq], &entry[eq + 1..]);
                (!k.is_empty()).then(|| (OsStr::from_bytes(k).to_owned(), OsStr::from_bytes(v).to_owned()))
            })
            .filter(|(k, _)| !NOT_THE_CALLERS.iter().any(|n| OsStr::new(n) == k))
            .collect();
        Some(Self { vars })
    }

    pub fn var_os(&self, name: &str) -> Option<&OsStr> {
        self.vars.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// What the game gets back on top of our environment: each of the
    /// caller's variables we lack (what sudo removed), and the caller's
    /// PATH (sudo's `secure_path` is for root; the game's own helpers are
    /// looked up as the player). Names that say who runs it are ours.
    pub fn for_game<'a>(&'a self, ours: &'a dyn Fn(&OsStr) -> Option<OsString>) -> impl Iterator<Item = (&'a OsStr, &'a OsStr)> + 'a {
        self.vars.iter().filter(move |(k, _)| k.as_bytes() == b"PATH" || ours(k).is_none()).map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }
}

/// The caller's environment when we run through sudo, read once.
pub fn through_sudo() -> Option<&'static CallerEnv> {
    static CALLER: OnceLock<Option<CallerEnv>> = OnceLock::new();
    CALLER
        .get_or_init(|| {
            let ppid = nix::unistd::getppid().as_raw() as u32;
            let found = CallerEnv::of_sudo_parent(crate::procfs::root(), ppid, std::env::var("SUDO_UID").ok().as_deref())
                // Still our parent after the read: not a pid sudo left and
                // another process (another user's sudo) was given since.
                .filter(|_| nix::unistd::getppid().as_raw() as u32 == ppid);
            if let Some(env) = &found {
                log::debug!("through sudo: the game gets back {} variables of your environment", env.vars.len());
            }
            found
        })
        .as_ref()
}

/// A variable as the game's settings see it: ours, else the caller's from
/// before sudo (a MANGOHUD_CONFIG or SteamAppId sudo removed); PATH is the
/// caller's first (`path_then_ours`), as the game is looked up there — and
/// the game is named by the program found (a Steam launch, as the player,
/// must find the same name).
pub fn var(name: &str) -> Option<String> {
    if name == "PATH" {
        return path_then_ours().and_then(|p| p.into_string().ok());
    }
    std::env::var(name).ok().or_else(|| through_sudo()?.var_os(name).and_then(|v| v.to_str()).map(str::to_owned))
}

/// The caller's PATH from before sudo, then ours: where a program the
/// player names is looked for.
pub fn path_then_ours() -> Option<OsString> {
    let theirs = through_sudo().and_then(|c| c.var_os("PATH")).map(OsStr::to_owned);
    let ours = std::env::var_os("PATH");
    let dirs: Vec<_> = theirs.iter().chain(ours.iter()).flat_map(std::env::split_paths).collect();
    std::env::join_paths(dirs).ok().or(ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_parent(exe: &str, environ: &[u8]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("42");
        std::fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(exe, dir.join("exe")).unwrap();
        std::fs::write(dir.join("environ"), environ).unwrap();
        root
    }

    #[test]
    fn the_environment_sudo_was_started_with_is_read_back() {
        let root = fake_parent(
            "/usr/bin/sudo",
            b"MANGOHUD_CONFIG=fps_limit=60,no_display\0PATH=/home/p/bin:/usr/bin\0HOME=/home/p\0PROTON_LOG=1\0EMPTY=\0=junk\0noequals\0",
        );
        let env = CallerEnv::of_sudo_parent(root.path(), 42, Some("1000")).unwrap();
        assert_eq!(env.var_os("MANGOHUD_CONFIG"), Some(OsStr::new("fps_limit=60,no_display")));
        assert_eq!(env.var_os("PROTON_LOG"), Some(OsStr::new("1")));
        assert_eq!(env.var_os("EMPTY"), Some(OsStr::new("")));
        assert_eq!(env.var_os("HOME"), None, "who runs the game is ours to say");
        assert_eq!(env.vars.len(), 4, "{env:?}");
    }

    #[test]
    fn only_a_sudo_parent_for_a_sudo_run_counts() {
        let shell = fake_parent("/usr/bin/bash", b"A=1\0");
        assert_eq!(CallerEnv::of_sudo_parent(shell.path(), 42, Some("1000")), None, "not sudo: a shell");
        let sudo = fake_parent("/usr/bin/sudo", b"A=1\0");
        assert_eq!(CallerEnv::of_sudo_parent(sudo.path(), 42, None), None, "no SUDO_UID: not run for a caller");
        assert_eq!(CallerEnv::of_sudo_parent(sudo.path(), 43, Some("1000")), None, "no such process");
        let rs = fake_parent("/usr/lib/cargo/bin/sudo-rs", b"A=1\0");
        assert!(CallerEnv::of_sudo_parent(rs.path(), 42, Some("1000")).is_some());
    }

    #[test]
    fn the_game_gets_what_sudo_removed_and_the_callers_path() {
        let root = fake_parent("/usr/bin/sudo", b"PATH=/home/p/bin\0TERM=xterm\0WAYLAND_DISPLAY=wayland-0\0LD_PRELOAD=/home/p/lib.so\0");
        let env = CallerEnv::of_sudo_parent(root.path(), 42, Some("1000")).unwrap();
        let ours = |k: &OsStr| (k == "PATH" || k == "TERM").then(|| OsString::from("sudo's"));
        let given: Vec<_> = env.for_game(&ours).map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy())).collect();
        assert_eq!(given, ["LD_PRELOAD=/home/p/lib.so", "PATH=/home/p/bin", "WAYLAND_DISPLAY=wayland-0"]);
    }
}
