//! Which game this is: the key its tuning data is stored under.
//!
//! The same game must get the same key whether the tuner launched it
//! (`tune -- mangohud ./game`) or attached to it (`attach --pid`), so both
//! paths end in [`GameId::from_parts`] with the program's real file name.
//! Steam games are keyed by app id, which survives renames and updates; Wine
//! games by their Windows program, not by `wine64-preloader`.

use std::ffi::{OsStr, OsString};
use std::path::Path;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::inspect::GameProcess;
use super::{file_name, find_in_path, launch_chain};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GameId {
    /// Safe as a file name: `steam-<appid>` or the sanitised program name.
    pub key: String,
    /// The program's name (for Wine, the Windows program without `.exe`).
    pub exe: String,
    pub steam_app_id: Option<String>,
}

/// Programs that run a Windows game named by a `*.exe` argument.
const WINE: [&str; 5] = ["wine", "wine64", "wine-preloader", "wine64-preloader", "proton"];

/// Interpreters whose script is the game (a launch script run as
/// `bash start.sh` shows as `bash` in /proc).
const SHELLS: [&str; 5] = ["sh", "bash", "dash", "zsh", "perl"];

fn is_interpreter(name: &str) -> bool {
    SHELLS.contains(&name) || name.strip_prefix("python").is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

impl GameId {
    /// From the executable's name, its command line (argv, argv[0] first)
    /// and its environment.
    pub fn from_parts(exe: &str, cmdline: &[String], env: &dyn Fn(&str) -> Option<String>) -> GameId {
        let program = program_name(&file_name(OsStr::new(exe)), cmdline);
        let steam_app_id = steam_id(env("SteamAppId")).or_else(|| steam_id(env("SteamGameId")));
        let key = match &steam_app_id {
            Some(id) => format!("steam-{id}"),
            None => sanitize_key(&program),
        };
        GameId { key, exe: program, steam_app_id }
    }

    /// The game running as `pid` (its executable, cmdline and environment).
    pub fn from_process(proc_root: &Path, pid: u32) -> Result<GameId> {
        let g = GameProcess::read(proc_root, pid)?;
        Ok(GameId::from_parts(&g.exe_name, &g.cmdline, &|k| g.var(k).map(str::to_string)))
    }

    /// The game a launch command will run, past its wrappers (`mangohud`,
    /// `gamemoderun`, `env VAR=…`, `gamescope … --`, Steam's runtime).
    /// `env` is the environment it will start with; `env` wrappers' settings
    /// come on top. The program is looked up on PATH and its symlinks
    /// resolved, so the name is the one /proc will show once it runs.
    pub fn from_command(cmd: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> GameId {
        let chain = launch_chain(cmd);
        let lookup = |k: &str| chain.var(k, env);
        let Some(i) = chain.program else {
            // Nothing but wrappers: name it after the last one.
            let exe = chain.wrappers.last().map_or_else(|| "game".to_string(), |&w| file_name(&cmd[w]));
            return GameId::from_parts(&exe, &[], &lookup);
        };
        let literal = file_name(&cmd[i]);
        let cmdline: Vec<String> = cmd[i..].iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let real = match Program::of_command(cmd, env) {
            Program::Native(p) => file_name(p.as_os_str()),
            Program::Wine | Program::Other => literal,
        };
        GameId::from_parts(&real, &cmdline, &lookup)
    }
}

/// What a launch command runs, past its wrappers, as far as MangoHud's
/// choice of config file goes (it looks in the executable's folder, and
/// for a Wine game at a file named after the Windows program).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// A program of its own: its path, found on PATH, symlinks resolved
    /// (the file /proc will show once it runs).
    Native(std::path::PathBuf),
    /// A Windows program run by Wine or Proton.
    Wine,
    /// A script run by an interpreter, or a program not found.
    Other,
}

impl Program {
    /// `env`: the environment the command starts with (its `env` wrappers'
    /// settings come on top).
    pub fn of_command(cmd: &[OsString], env: &dyn Fn(&str) -> Option<String>) -> Program {
        let chain = launch_chain(cmd);
        let Some(i) = chain.program else { return Program::Other };
        let literal = file_name(&cmd[i]);
        if WINE.contains(&literal.as_str()) {
            return Program::Wine;
        }
        if is_interpreter(&literal) {
            return Program::Other;
        }
        let path = chain.var("PATH", env).map(OsString::from);
        find_in_path(&cmd[i], path.as_deref()).and_then(|p| std::fs::canonicalize(p).ok()).map_or(Program::Other, Program::Native)
    }
}

/// The game's own name: for Wine the `*.exe` argument without extension,
/// for an interpreter its script, else `exe`.
fn program_name(exe: &str, cmdline: &[String]) -> String {
    if WINE.contains(&exe) {
        let windows = cmdline.iter().map(|a| file_name(OsStr::new(a))).find(|n| n.to_ascii_lowercase().ends_with(".exe"));
        if let Some(n) = windows {
            return n[..n.len() - 4].to_string();
        }
    } else if is_interpreter(exe) {
        // Options that run inline code or a module: no script file to name
        // the game by.
        let inline: &[&str] = match exe {
            "perl" => &["-e", "-E"],
            e if e.starts_with("python") => &["-c", "-m"],
            _ => &["-c"],
        };
        for arg in cmdline.iter().skip(1) {
            match arg.as_str() {
                a if inline.contains(&a) => break,
                a if a.starts_with('-') => continue,
                a => return file_name(OsStr::new(a)),
            }
        }
    }
    exe.to_string()
}

/// A Steam app id: digits, non-zero, 32 bits. Steam puts 0 in SteamAppId
/// and a 64-bit id in SteamGameId for non-Steam shortcuts; those are no app.
fn steam_id(value: Option<String>) -> Option<String> {
    let v = value?;
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let id: u32 = v.parse().ok()?;
    (id != 0).then(|| id.to_string())
}

/// A key safe as a file name: `[A-Za-z0-9._-]` (anything else becomes
/// `_`), no leading `.` (so never `.`, `..` or hidden), at most 64
/// characters, never empty.
pub fn sanitize_key(s: &str) -> String {
    let mut key: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).take(64).collect();
    if key.starts_with('.') {
        key.replace_range(..1, "_");
    }
    if key.is_empty() { "game".to_string() } else { key }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::test_env::env_of;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn os(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn sanitises_keys_into_file_names() {
        assert_eq!(sanitize_key("Game.x86_64"), "Game.x86_64");
        assert_eq!(sanitize_key("My Game: Édition/2"), "My_Game___dition_2");
        assert_eq!(sanitize_key(".."), "_.");
        assert_eq!(sanitize_key("."), "_");
        assert_eq!(sanitize_key("../../etc/passwd"), "_._.._etc_passwd");
        assert_eq!(sanitize_key(""), "game");
        assert_eq!(sanitize_key(&"x".repeat(100)).len(), 64);
        assert_eq!(sanitize_key(&"é".repeat(100)), "_".repeat(64));
    }

    #[test]
    fn steam_games_go_by_app_id() {
        let id = GameId::from_parts("game.x86_64", &[], &env_of(&[("SteamAppId", "570"), ("SteamGameId", "999")]));
        assert_eq!(id, GameId { key: "steam-570".into(), exe: "game.x86_64".into(), steam_app_id: Some("570".into()) });
        let id = GameId::from_parts("game", &[], &env_of(&[("SteamGameId", "1091500")]));
        assert_eq!(id.key, "steam-1091500");
    }

    #[test]
    fn non_steam_shortcuts_go_by_name() {
        // A non-Steam shortcut: SteamAppId 0, a 64-bit SteamGameId.
        let env = env_of(&[("SteamAppId", "0"), ("SteamGameId", "13345234527523618816")]);
        let id = GameId::from_parts("/opt/Game/game.bin", &[], &env);
        assert_eq!((id.key.as_str(), id.steam_app_id), ("game.bin", None));
        let id = GameId::from_parts("game", &[], &env_of(&[("SteamAppId", "12ab"), ("SteamGameId", "")]));
        assert_eq!(id.key, "game");
    }

    #[test]
    fn wine_games_go_by_their_windows_program() {
        let id = GameId::from_parts("wine64-preloader", &args(&["C:\\Games\\Elden Ring\\eldenring.exe"]), &env_of(&[]));
        assert_eq!((id.key.as_str(), id.exe.as_str()), ("eldenring", "eldenring"));
        let id = GameId::from_parts("/usr/bin/wine", &args(&["wine", "/home/p/Game/Setup.EXE", "/S"]), &env_of(&[]));
        assert_eq!(id.key, "Setup");
        let cmd = args(&["proton", "waitforexitandrun", "/g/common/X/x64/Game.exe"]);
        let id = GameId::from_parts("proton", &cmd, &env_of(&[("SteamAppId", "1245620")]));
        assert_eq!((id.key.as_str(), id.exe.as_str()), ("steam-1245620", "Game"));
        // No .exe: keep the wine name.
        assert_eq!(GameId::from_parts("wine", &args(&["wine", "--version"]), &env_of(&[])).key, "wine");
    }

    #[test]
    fn scripts_go_by_their_file() {
        let id = GameId::from_parts("bash", &args(&["bash", "-e", "/opt/game/start.sh", "-x"]), &env_of(&[]));
        assert_eq!(id.key, "start.sh");
        let id = GameId::from_parts("python3.11", &args(&["python3.11", "-O", "game.py"]), &env_of(&[]));
        assert_eq!(id.key, "game.py");
        assert_eq!(GameId::from_parts("sh", &args(&["sh", "-c", "./game"]), &env_of(&[])).key, "sh");
    }

    #[test]
    fn commands_are_named_past_their_wrappers() {
        let bin = tempfile::tempdir().unwrap();
        let real = bin.path().join("game.x86_64");
        std::fs::write(&real, "#!/bin/sh\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink(&real, bin.path().join("game")).unwrap();
        let path = format!("/nonexistent:{}", bin.path().display());
        let env = env_of(&[("PATH", &path)]);

        // Through PATH and the symlink to the name /proc would show.
        let id = GameId::from_command(&os(&["gamemoderun", "mangohud", "game", "--fullscreen"]), &env);
        assert_eq!(id.key, "game.x86_64");
        let id = GameId::from_command(&os(&["mangohud", bin.path().join("game").to_str().unwrap()]), &env);
        assert_eq!(id.key, "game.x86_64");
        // Not found: the name as given.
        let id = GameId::from_command(&os(&["mangohud", "./missing-game"]), &env);
        assert_eq!(id.key, "missing-game");
        // env wrappers' settings count.
        let id = GameId::from_command(&os(&["env", "SteamAppId=440", "mangohud", "game"]), &env);
        assert_eq!((id.key.as_str(), id.exe.as_str()), ("steam-440", "game.x86_64"));
        let cmd = os(&["gamescope", "-f", "--", "mangohud", "wine", "C:\\x\\Witcher3.exe"]);
        assert_eq!(GameId::from_command(&cmd, &env).key, "Witcher3");
        let cmd = os(&["reaper", "SteamLaunch", "AppId=730", "--", "mangohud", "game"]);
        assert_eq!(GameId::from_command(&cmd, &env).key, "steam-730");
        assert_eq!(GameId::from_command(&os(&["gamescope", "-f"]), &env).key, "gamescope");
        assert_eq!(GameId::from_command(&[], &env).key, "game");
    }

    #[test]
    fn a_process_is_named_like_its_command() {
        let mut child = std::process::Command::new("sleep").arg("30").env("SteamAppId", "0").spawn().unwrap();
        let id = GameId::from_process(Path::new("/proc"), child.id());
        child.kill().unwrap();
        child.wait().unwrap();
        let id = id.unwrap();
        let launched = GameId::from_command(&os(&["mangohud", "sleep", "30"]), &|k| std::env::var(k).ok());
        assert_eq!(id, launched);
        assert!(GameId::from_process(Path::new("/nonexistent-proc"), 1).is_err());
    }

    #[test]
    fn ids_round_trip_through_serde() {
        let id = GameId { key: "steam-1".into(), exe: "g".into(), steam_app_id: Some("1".into()) };
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<GameId>(&json).unwrap(), id);
    }
}
