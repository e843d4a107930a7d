//! The game process itself: starting it as the player ([`spawn`]), looking
//! at one that already runs ([`inspect`]) and naming it ([`identity`]).
//!
//! This file holds what those share: how a launch command line breaks down
//! into wrappers (`mangohud`, `gamemoderun`, `env VAR=…`, `gamescope … --`,
//! Steam's runtime) and the program they finally run. Launching needs it to
//! see whether MangoHud is already in the chain; naming needs it to find the
//! game behind the wrappers.

pub mod caller_env;
pub mod identity;
pub mod inspect;
pub mod reaper;
pub mod spawn;

use std::ffi::OsStr;
use std::path::Path;

/// How a launch command breaks down.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LaunchChain {
    /// Index in the command of each wrapper program, in order.
    pub wrappers: Vec<usize>,
    /// Index of the program the wrappers end up running; None when the
    /// command ends inside a wrapper (`gamescope` without `--`, say).
    pub program: Option<usize>,
    /// What `env` does to the environment on the way (assignments, `-u`,
    /// `-i`), in order, and Steam's `reaper … AppId=N` as `SteamAppId=N`
    /// (it is what the game will see).
    pub env: Vec<EnvStep>,
    /// Per `env` in the chain, the index in the command where its own
    /// arguments end (its `--`, or the program it runs): an assignment
    /// inserted there holds whatever that `env` unset or cleared.
    pub env_ends: Vec<usize>,
    /// What is wrong with the command's wrappers, e.g. `env -C` as its last
    /// argument (GNU env would refuse it): said before the game is started
    /// through them.
    pub problem: Option<String>,
}

/// One change a wrapper makes to the environment it passes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvStep {
    Set(String, String),
    /// `env -u NAME`
    Unset(String),
    /// `env -i`: nothing from before is passed on.
    Clear,
}

impl LaunchChain {
    /// `key` as the game will see it: the chain's last setting of it (or
    /// none, when the chain last unset it or cleared the environment), else
    /// `env`'s (the environment the command starts with).
    pub fn var(&self, key: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        for step in self.env.iter().rev() {
            match step {
                EnvStep::Set(k, v) if k == key => return Some(v.clone()),
                EnvStep::Unset(k) if k == key => return None,
                EnvStep::Clear => return None,
                _ => {}
            }
        }
        env(key)
    }
}

/// The last component of a path-like argument, lossily as UTF-8 (`/usr/bin/env`
/// → `env`; a Windows path `C:\games\x.exe` → `x.exe`).
pub fn file_name(arg: &OsStr) -> String {
    let s = arg.to_string_lossy();
    let s = s.trim_end_matches(['/', '\\']);
    s.rsplit(['/', '\\']).next().unwrap_or("").to_string()
}

/// Wrappers that run the rest of their arguments after options of their own
/// that never take a separate value.
const PLAIN_WRAPPERS: [&str; 8] =
    ["mangohud", "gamemoderun", "prime-run", "primusrun", "optirun", "pvkrun", "obs-gamecapture", "catchsegv"];

/// Wrappers whose own arguments end at `--`: the game comes after it.
const DASHDASH_WRAPPERS: [&str; 10] = [
    "gamescope",
    // The sandbox of Flatpak and pressure-vessel, also used by hand.
    "bwrap",
    "reaper",
    "steam-launch-wrapper",
    "_v2-entry-point",
    "steam-runtime-launch-client",
    "steam-runtime-launch-options",
    "pressure-vessel-wrap",
    "pressure-vessel-launch",
    "pressure-vessel-adverb",
];

/// Walk `cmd` past the wrappers to the program they run.
pub fn launch_chain<S: AsRef<OsStr>>(cmd: &[S]) -> LaunchChain {
    let args: Vec<String> = cmd.iter().map(|a| a.as_ref().to_string_lossy().into_owned()).collect();
    let mut chain = LaunchChain::default();
    let mut i = 0;
    while i < args.len() {
        let name = file_name(OsStr::new(&args[i]));
        let name = name.as_str();
        let start = i;
        i += 1;
        if PLAIN_WRAPPERS.contains(&name) {
            while i < args.len() && args[i].starts_with('-') {
                i += 1;
            }
        } else if name == "env" {
            i = skip_env(&args, i, &mut chain);
        } else if name == "nice" {
            i = skip_options(&args, i, &["-n", "--adjustment"]);
        } else if name == "taskset" {
            i = skip_options(&args, i, &[]);
            // The CPU mask or list; with -p it is followed by a pid instead
            // of a command, which is not a launch at all.
            i += 1;
        } else if DASHDASH_WRAPPERS.contains(&name) {
            let Some(dd) = args[i..].iter().position(|a| a == "--") else {
                chain.wrappers.push(start);
                return chain;
            };
            if name == "reaper"
                && let Some(id) = args[i..i + dd].iter().find_map(|a| a.strip_prefix("AppId="))
            {
                chain.env.push(EnvStep::Set("SteamAppId".into(), id.to_string()));
            }
            i += dd + 1;
        } else {
            chain.program = Some(start);
            return chain;
        }
        chain.wrappers.push(start);
    }
    chain
}

/// Past `env`'s options and assignments (what they do collected into
/// `chain`, GNU env's spellings).
fn skip_env(args: &[String], mut i: usize, chain: &mut LaunchChain) -> usize {
    let with_value = ["-C", "--chdir", "-S", "--split-string"];
    while i < args.len() {
        let a = args[i].as_str();
        let unset = match a {
            "-u" | "--unset" => args.get(i + 1).map(String::as_str),
            _ => a.strip_prefix("--unset=").or_else(|| a.strip_prefix("-u").filter(|n| !n.is_empty())),
        };
        if a == "--" {
            chain.env_ends.push(i);
            return i + 1;
        } else if let Some(name) = unset {
            chain.env.push(EnvStep::Unset(name.to_string()));
            i += if a == "-u" || a == "--unset" { 2 } else { 1 };
        } else if a == "-" || a == "-i" || a == "--ignore-environment" {
            chain.env.push(EnvStep::Clear);
            i += 1;
        } else if with_value.contains(&a) {
            if i + 1 == args.len() {
                // Nothing after it: env's own arguments end with the
                // command (an index past it would be out of range).
                let what = if a == "-C" || a == "--chdir" { "a directory" } else { "a string" };
                chain.problem = Some(format!("env {a} needs {what} after it"));
                i += 1;
            } else {
                i += 2;
            }
        } else if a.starts_with('-') {
            i += 1;
        } else if let Some((k, v)) = a.split_once('=') {
            chain.env.push(EnvStep::Set(k.to_string(), v.to_string()));
            i += 1;
        } else {
            break;
        }
    }
    chain.env_ends.push(i);
    i
}

/// Past options starting with `-`; those in `with_value` take the next
/// argument as their value.
fn skip_options(args: &[String], mut i: usize, with_value: &[&str]) -> usize {
    while i < args.len() && args[i].starts_with('-') {
        if args[i] == "--" {
            return i + 1;
        }
        i += if with_value.contains(&args[i].as_str()) { 2 } else { 1 };
    }
    i
}

/// Whether `arg` names MangoHud's launcher script, by file name.
pub fn is_mangohud(arg: &OsStr) -> bool {
    file_name(arg) == "mangohud"
}

/// Look `prog` up in a PATH value the way execvp does: a name with a `/` is
/// taken as is; else the first executable regular file in the PATH folders.
/// Whether `a` and `b` are the same file (device and inode), e.g. one path
/// seen through a game's `/proc/<pid>/root` and ours. False when either is
/// missing.
pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => false,
    }
}

pub fn find_in_path(prog: &OsStr, path_env: Option<&OsStr>) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if prog.is_empty() {
        return None;
    }
    if prog.to_string_lossy().contains('/') {
        return Some(Path::new(prog).to_path_buf());
    }
    std::env::split_paths(path_env?)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(prog))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(args: &[&str]) -> LaunchChain {
        launch_chain(args)
    }

    #[test]
    fn file_names_of_unix_and_windows_paths() {
        assert_eq!(file_name(OsStr::new("/usr/bin/mangohud")), "mangohud");
        assert_eq!(file_name(OsStr::new("mangohud")), "mangohud");
        assert_eq!(file_name(OsStr::new("C:\\Games\\Foo\\foo.exe")), "foo.exe");
        assert_eq!(file_name(OsStr::new("dir/")), "dir");
        assert_eq!(file_name(OsStr::new("")), "");
    }

    #[test]
    fn walks_past_wrappers_to_the_game() {
        let c = chain(&["gamemoderun", "mangohud", "--dlsym", "./game", "-w"]);
        assert_eq!(c.wrappers, vec![0, 1]);
        assert_eq!(c.program, Some(3));

        let c = chain(&["env", "-u", "DISPLAY", "DXVK_HUD=1", "A=b=c", "/usr/bin/mangohud", "game"]);
        assert_eq!(c.wrappers, vec![0, 5]);
        assert_eq!(c.program, Some(6));
        let set = |k: &str, v: &str| EnvStep::Set(k.into(), v.into());
        assert_eq!(c.env, vec![EnvStep::Unset("DISPLAY".into()), set("DXVK_HUD", "1"), set("A", "b=c")]);
        assert_eq!(c.env_ends, vec![5]);
        let outer = |k: &str| ["A", "B", "DISPLAY"].contains(&k).then(|| "outer".to_string());
        assert_eq!(c.var("A", &outer).as_deref(), Some("b=c"), "the chain's own wins");
        assert_eq!(c.var("B", &outer).as_deref(), Some("outer"));
        assert_eq!(c.var("C", &outer), None);
        assert_eq!(c.var("DISPLAY", &outer), None, "unset on the way");

        // Unset and cleared in GNU env's other spellings; `--` ends env's
        // own arguments.
        for cmd in [["env", "--unset=B", "-uA", "--", "game"], ["env", "-i", "X=1", "--", "game"]] {
            let c = chain(&cmd);
            assert_eq!((c.wrappers.clone(), c.program, c.env_ends.clone()), (vec![0], Some(4), vec![3]), "{cmd:?}");
            assert_eq!((c.var("A", &outer), c.var("B", &outer)), (None, None), "{cmd:?}");
        }
        assert_eq!(chain(&["env", "-i", "X=1", "--", "game"]).var("X", &outer).as_deref(), Some("1"));

        let c = chain(&["gamescope", "-W", "1920", "-f", "--", "mangohud", "game"]);
        assert_eq!(c.wrappers, vec![0, 5]);
        assert_eq!(c.program, Some(6));

        let c = chain(&["bwrap", "--bind", "/games/root", "/", "--tmpfs", "/tmp", "--", "mangohud", "game"]);
        assert_eq!(c.wrappers, vec![0, 7]);
        assert_eq!(c.program, Some(8));

        let c = chain(&["nice", "-n", "5", "taskset", "-c", "0-3", "game"]);
        assert_eq!(c.wrappers, vec![0, 3]);
        assert_eq!(c.program, Some(6));
    }

    #[test]
    fn steams_reaper_gives_the_app_id() {
        let c = chain(&[
            "/home/p/.steam/ubuntu12_32/reaper",
            "SteamLaunch",
            "AppId=570",
            "--",
            "/home/p/.steam/steamapps/common/SteamLinuxRuntime_sniper/_v2-entry-point",
            "--verb=waitforexitandrun",
            "--",
            "game.sh",
        ]);
        assert_eq!(c.program, Some(7));
        assert_eq!(c.env, vec![EnvStep::Set("SteamAppId".into(), "570".into())]);
    }

    #[test]
    fn a_chain_without_a_program() {
        assert_eq!(chain(&[]).program, None);
        assert_eq!(chain(&["mangohud"]).program, None);
        let c = chain(&["gamescope", "-f"]);
        assert_eq!((c.wrappers, c.program), (vec![0], None));
        assert_eq!(chain(&["env", "A=1"]).program, None);
    }

    /// The whole path with a real MangoHud: launch glxgears as `nobody` on
    /// Xvfb, find it from /proc as `attach` would, log through its control
    /// socket. Needs root, mangohud, Xvfb and glxgears (scripts/setup.sh
    /// installs them).
    #[test]
    fn real_game_under_mangohud() {
        use crate::mangohud::control::Control;
        use std::ffi::OsString;
        use std::time::{Duration, Instant};

        let path = std::env::var_os("PATH");
        for tool in ["Xvfb", "glxgears", "mangohud"] {
            assert!(find_in_path(OsStr::new(tool), path.as_deref()).is_some(), "{tool} is needed");
        }
        /// Killed and reaped however the test ends: a failed assertion
        /// must not leave Xvfb or the game running (a leaked game holds the
        /// test harness's output pipe open).
        struct Reaped(std::process::Child);
        impl Drop for Reaped {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        // Xvfb picks a free display and says which once it listens
        // (`-displayfd`): a fixed display's socket file can be a stale one
        // left by a killed Xvfb, which glxgears would fail to connect to
        // (a clean-clone run's glxgears exited at once that way).
        let mut xvfb = std::process::Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "640x480x24", "-nolisten", "tcp"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let ready = xvfb.stdout.take().unwrap();
        let _xvfb = Reaped(xvfb);
        let mut display = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(ready), &mut display).unwrap();
        assert!(!display.trim().is_empty(), "Xvfb exited without a display");
        let display = format!(":{}", display.trim());

        let parent = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let user = spawn::GameUser::resolve(Some("nobody"), &|_| None).unwrap();
        let folder = spawn::LogFolder::create(parent.path(), &user).unwrap();
        let cmd = spawn::with_mangohud(&[OsString::from("glxgears")], path.as_deref()).unwrap();
        let mut env = crate::mangohud::env::game_env(None, None, folder.path());
        env.push(("DISPLAY".into(), display));
        let mut child = Reaped(spawn::spawn_as(&user, &cmd, &env).unwrap());
        let pid = child.0.id();
        let proc_root = Path::new("/proc");
        let tree = std::collections::BTreeSet::from([pid]);
        // MangoHud loaded and its control socket open (the shell wrapper
        // execs glxgears first; MangoHud opens the socket with its first
        // frame, which llvmpipe compiles shaders for). Generous: a loaded
        // clean-clone run once timed out at 60 s, for a reason not yet
        // known; a timeout now says what the game was doing.
        let deadline = Instant::now() + Duration::from_secs(240);
        while !inspect::GameProcess::read(proc_root, pid).is_ok_and(|g| inspect::control_socket(proc_root, &g, &tree).is_some()) {
            if let Ok(Some(status)) = child.0.try_wait() {
                panic!("glxgears exited ({status}) before MangoHud opened its control socket");
            }
            if Instant::now() > deadline {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_else(|e| format!("gone: {e}"));
                let unix = std::fs::read_to_string("/proc/net/unix").unwrap_or_default();
                let mangohud: Vec<&str> = unix.lines().filter(|l| l.contains("mangohud")).collect();
                panic!("no MangoHud control socket of glxgears within 240 s; its /proc stat: {stat}; mangohud sockets: {mangohud:?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let game = inspect::GameProcess::read(proc_root, pid).unwrap();
        assert_eq!(game.uid, 65534);
        assert!(game.has_mangohud(proc_root));
        let (logs, source) = inspect::log_folder(&game).unwrap();
        assert_eq!((logs.as_path(), source), (folder.path(), inspect::FolderSource::Env));
        let socket = inspect::control_socket(proc_root, &game, &tree);
        assert_eq!(socket, Some(format!("mangohud-{pid}")));
        let id = identity::GameId::from_process(proc_root, pid).unwrap();
        assert_eq!(id, identity::GameId::from_command(&cmd, &|k| std::env::var(k).ok()));

        let mut control = Control::connect_name(&socket.unwrap(), Duration::from_secs(30)).unwrap();
        control.start_logging().unwrap();
        std::thread::sleep(Duration::from_secs(1));
        control.stop_logging(Duration::from_secs(30)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let csv = loop {
            let found = std::fs::read_dir(folder.path())
                .unwrap()
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.ends_with(".csv") && !n.ends_with("_summary.csv"));
            if found.is_some() || Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        spawn::stop(&mut child.0, Duration::from_secs(3)).unwrap();
        let csv = csv.expect("MangoHud wrote a log");
        assert!(csv.starts_with(&id.exe), "{csv} vs {id:?}");
    }

    #[test]
    fn finds_programs_on_path() {
        let path = std::ffi::OsString::from("/nonexistent:/bin:/usr/bin");
        let sh = find_in_path(OsStr::new("sh"), Some(&path)).unwrap();
        assert!(sh.ends_with("sh"), "{}", sh.display());
        assert_eq!(find_in_path(OsStr::new("no-such-program-here"), Some(&path)), None);
        assert_eq!(find_in_path(OsStr::new("sh"), None), None);
        assert_eq!(find_in_path(OsStr::new("./x"), None), Some("./x".into()));
        // A folder named like the program is not it.
        assert_eq!(find_in_path(OsStr::new("tmp"), Some(OsStr::new("/"))), None);
    }
}

/// A fake environment for the tests of `resolve` and `from_parts`.
#[cfg(test)]
pub(crate) mod test_env {
    use std::collections::HashMap;

    pub fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }
}
