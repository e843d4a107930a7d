//! Settings of the daemon and the launch wrapper, as scx_loader and
//! GameMode do it: `/etc/scx_gamer.toml`, then the user's
//! `$XDG_CONFIG_HOME/scx_gamer/config.toml` (later files win).
//!
//! ```toml
//! socket = "/run/scx_gamer.sock"   # where the daemon listens
//! data_dir = "/home/p/games/ml"    # tuning data (launch)
//! pause_scx_loader = true          # daemon: pause scx_loader's scheduler
//!                                  # for a game, put it back after
//! ```

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Deserialize;

pub const SYSTEM_FILE: &str = "/etc/scx_gamer.toml";
pub const DEFAULT_SOCKET: &str = "/run/scx_gamer.sock";

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub socket: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    /// The daemon pauses scx_loader's scheduler while it serves a game
    /// (`daemon::scx_loader`); default on.
    pub pause_scx_loader: Option<bool>,
}

impl Settings {
    fn merge(self, later: Settings) -> Settings {
        Settings {
            socket: later.socket.or(self.socket),
            data_dir: later.data_dir.or(self.data_dir),
            pause_scx_loader: later.pause_scx_loader.or(self.pause_scx_loader),
        }
    }

    fn read(path: &Path) -> Result<Settings> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}", parse_error(path, &text, &e))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Settings::default()),
            // The path first, as for a parse error: "ignoring <path>: …".
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    /// The system file, then (for a user) the user's file.
    pub fn load(system: &Path, user: Option<&Path>) -> Result<Settings> {
        let mut s = Self::read(system)?;
        if let Some(u) = user {
            s = s.merge(Self::read(u)?);
        }
        Ok(s)
    }

    /// The launch wrapper's settings: a broken file must not keep the game
    /// from starting, so it is left out with a warning (to print) naming
    /// it; the other file still counts. Falling back to the built-in
    /// settings for a broken user file dropped /etc's too: a daemon on a
    /// socket of /etc's was then "not running".
    pub fn load_for_launch(system: &Path, user: Option<&Path>) -> (Settings, Vec<String>) {
        let mut warnings = Vec::new();
        let mut read = |path: &Path| {
            Self::read(path).unwrap_or_else(|e| {
                // The error names the file (and the line) already.
                warnings.push(format!("ignoring {e:#}"));
                Settings::default()
            })
        };
        let mut s = read(system);
        if let Some(u) = user {
            s = s.merge(read(u));
        }
        (s, warnings)
    }

    pub fn pauses_scx_loader(&self) -> bool {
        self.pause_scx_loader.unwrap_or(true)
    }

    pub fn socket(&self) -> PathBuf {
        self.socket.clone().unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
    }
}

/// A settings file's parse error on one line, with where it is: the
/// message alone (`invalid type: string "yes", expected a boolean`) does
/// not say which setting, and toml's own Display draws the spot over
/// several lines, which a launch wrapper's one stderr line cannot hold.
fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim();
    // (`get`: a span that is not on a character boundary is not sliced.)
    let Some(before) = e.span().and_then(|span| text.get(..span.start)) else { return format!("{}: {message}", path.display()) };
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_no = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    format!("{}, line {line_no}, column {column}: {message} (in `{line}`)", path.display())
}

/// `$XDG_CONFIG_HOME/scx_gamer/config.toml` (default `~/.config`).
pub fn user_file(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = env("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| env("HOME").map(|h| Path::new(&h).join(".config")))?;
    Some(base.join("scx_gamer/config.toml"))
}

/// Tuning data of a user: `$XDG_DATA_HOME/scx_gamer/ml_data` (default
/// `~/.local/share`); for root, `/var/lib/scx_gamer/ml_data`.
pub fn user_data_dir(uid: u32, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/var/lib/scx_gamer/ml_data");
    }
    let base = env("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("scx_gamer/ml_data")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settings_override_the_system_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (sys, user) = (dir.path().join("sys.toml"), dir.path().join("user.toml"));
        std::fs::write(&sys, "socket = \"/run/a.sock\"\ndata_dir = \"/d\"\n").unwrap();
        std::fs::write(&user, "data_dir = \"/u\"\n").unwrap();
        let s = Settings::load(&sys, Some(&user)).unwrap();
        assert_eq!((s.socket(), s.data_dir.clone().unwrap()), (PathBuf::from("/run/a.sock"), PathBuf::from("/u")));
        assert_eq!(Settings::load(&dir.path().join("none"), None).unwrap().socket(), PathBuf::from(DEFAULT_SOCKET));
        assert!(s.pauses_scx_loader(), "on unless turned off");
        std::fs::write(&sys, "pause_scx_loader = false\n").unwrap();
        assert!(!Settings::load(&sys, Some(&user)).unwrap().pauses_scx_loader());
        std::fs::write(&user, "sockett = 1\n").unwrap();
        let err = Settings::load(&sys, Some(&user)).unwrap_err().to_string();
        assert!(err.contains("user.toml") && err.contains("unknown field `sockett`"), "{err}");
    }

    #[test]
    fn a_bad_value_is_named_with_its_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let sys = dir.path().join("sys.toml");
        std::fs::write(&sys, "socket = \"/run/a.sock\"\npause_scx_loader = \"yes\"\n").unwrap();
        let err = Settings::load(&sys, None).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}, line 2, column 20: invalid type: string \"yes\", expected a boolean (in `pause_scx_loader = \"yes\"`)",
                sys.display()
            )
        );
    }

    #[test]
    fn a_broken_user_file_leaves_the_system_settings_in_force() {
        let dir = tempfile::tempdir().unwrap();
        let (sys, user) = (dir.path().join("sys.toml"), dir.path().join("user.toml"));
        std::fs::write(&sys, "socket = \"/run/other.sock\"\ndata_dir = \"/d\"\n").unwrap();
        std::fs::write(&user, "data_dir = 3\n").unwrap();
        let (s, warnings) = Settings::load_for_launch(&sys, Some(&user));
        // The daemon listens where /etc says: the wrapper must look there.
        assert_eq!((s.socket(), s.data_dir), (PathBuf::from("/run/other.sock"), Some(PathBuf::from("/d"))));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with(&format!("ignoring {}, line 1", user.display())), "{warnings:?}");
        // A broken system file: the user's settings over the built-in ones.
        std::fs::write(&sys, "socket = [\n").unwrap();
        std::fs::write(&user, "data_dir = \"/u\"\n").unwrap();
        let (s, warnings) = Settings::load_for_launch(&sys, Some(&user));
        assert_eq!((s.socket(), s.data_dir), (PathBuf::from(DEFAULT_SOCKET), Some(PathBuf::from("/u"))));
        assert!(warnings.len() == 1 && warnings[0].starts_with(&format!("ignoring {}", sys.display())), "{warnings:?}");
        // Both fine: nothing to say.
        std::fs::write(&sys, "").unwrap();
        assert!(Settings::load_for_launch(&sys, Some(&user)).1.is_empty());
    }

    #[test]
    fn data_goes_under_xdg_dirs() {
        let env = |k: &str| match k {
            "HOME" => Some("/home/p".to_string()),
            _ => None,
        };
        assert_eq!(user_data_dir(1000, &env), PathBuf::from("/home/p/.local/share/scx_gamer/ml_data"));
        assert_eq!(user_file(&env), Some(PathBuf::from("/home/p/.config/scx_gamer/config.toml")));
        assert_eq!(user_data_dir(0, &env), PathBuf::from("/var/lib/scx_gamer/ml_data"));
    }
}
