//! The environment that makes a game log frames for the tuner.
//!
//! MANGOHUD_CONFIG is comma-separated `key=value` (or bare `key`); lists use
//! `+` there where config files use `,`. We keep every setting of the
//! player's except the few we must own, and append ours.
//!
//! `read_cfg` (read the config file as well) cannot be used: with it,
//! MangoHud 0.6.8 opens the control socket but never answers on it (seen on
//! Debian bookworm's 0.6.8 with glxgears), and the tuner needs the socket. So
//! where MangoHud would have read the player's config file (MANGOHUD_CONFIG
//! unset, or containing `read_cfg`), we read it ourselves and carry its
//! settings over into MANGOHUD_CONFIG.

use std::path::{Path, PathBuf};

/// Keys the tuner sets; a player's value for them is replaced.
const OWNED: [&str; 6] = ["output_folder", "log_interval", "control", "log_versioning", "autostart_log", "read_cfg"];

fn key_of(setting: &str) -> &str {
    setting.split_once('=').map_or(setting, |(k, _)| k).trim()
}

/// Settings of a MangoHud config file, in MANGOHUD_CONFIG form: comments and
/// blank lines dropped, `key = a,b` becomes `key=a+b`.
pub fn file_settings(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(|l| match l.split_once('=') {
            Some((k, v)) => format!("{}={}", k.trim(), v.trim().replace(',', "+")),
            None => l.to_string(),
        })
        .collect()
}

/// The config file MangoHud would read for `exe`: `<exe>.conf`, else
/// `MangoHud.conf`, in `$XDG_CONFIG_HOME/MangoHud` (default `~/.config`).
pub fn user_config_file(home: &Path, xdg_config_home: Option<&Path>, exe: &str) -> Option<PathBuf> {
    let dir = xdg_config_home.map_or_else(|| home.join(".config"), Path::to_path_buf).join("MangoHud");
    [format!("{exe}.conf"), "MangoHud.conf".to_string()].into_iter().map(|f| dir.join(f)).find(|p| p.is_file())
}

/// MANGOHUD_CONFIG for a game whose frames the tuner reads: per-frame logs
/// into `output_folder`, a control socket per pid, version lines in logs.
/// `user_env` is the player's MANGOHUD_CONFIG, `user_file` the text of the
/// config file MangoHud would have read.
pub fn tuner_config(user_env: Option<&str>, user_file: Option<&str>, output_folder: &Path) -> String {
    let env_parts: Vec<&str> = user_env.unwrap_or("").split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    let file_applies = user_env.is_none() || env_parts.contains(&"read_cfg");
    let mut parts: Vec<String> = if file_applies { user_file.map(file_settings).unwrap_or_default() } else { Vec::new() };
    // Environment settings come after the file's, as MangoHud applies them.
    parts.extend(env_parts.iter().map(|p| p.to_string()));
    parts.retain(|p| !OWNED.contains(&key_of(p)));
    parts.push(format!("output_folder={}", output_folder.display()));
    parts.push("log_interval=0".into());
    parts.push("log_versioning".into());
    parts.push("control=mangohud-%p".into());
    parts.join(",")
}

/// Environment variables to set for the game (`mangohud` itself only sets
/// LD_PRELOAD and MANGOHUD=1).
pub fn game_env(user_env: Option<&str>, user_file: Option<&str>, output_folder: &Path) -> Vec<(String, String)> {
    vec![("MANGOHUD".into(), "1".into()), ("MANGOHUD_CONFIG".into(), tuner_config(user_env, user_file, output_folder))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_players_settings_and_owns_the_logging_ones() {
        let cfg = tuner_config(
            Some("fps_limit=144, position=top-right,output_folder=/home/p/logs,log_interval=100,no_display"),
            Some("cpu_temp\n"),
            Path::new("/var/lib/t"),
        );
        // MANGOHUD_CONFIG set without read_cfg: MangoHud ignores the file.
        assert_eq!(
            cfg,
            "fps_limit=144,position=top-right,no_display,output_folder=/var/lib/t,log_interval=0,log_versioning,control=mangohud-%p"
        );
    }

    #[test]
    fn carries_the_config_file_over_when_mangohud_would_read_it() {
        let file = "# my setup\nfps_limit = 60,144\nposition=top-left # corner\n\ngpu_stats\nlog_interval=1000\n";
        assert_eq!(file_settings(file), vec!["fps_limit=60+144", "position=top-left", "gpu_stats", "log_interval=1000"]);
        // No MANGOHUD_CONFIG: the file is what MangoHud would have used.
        assert_eq!(
            tuner_config(None, Some(file), Path::new("/o")),
            "fps_limit=60+144,position=top-left,gpu_stats,output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p"
        );
        // read_cfg asks for the file too; the env setting wins (comes later)
        // and read_cfg itself is dropped (it breaks 0.6.8's control socket).
        let cfg = tuner_config(Some("read_cfg,position=bottom-right"), Some(file), Path::new("/o"));
        assert!(cfg.starts_with("fps_limit=60+144,position=top-left,gpu_stats,position=bottom-right,output_folder=/o"), "{cfg}");
        assert!(!cfg.contains("read_cfg"));
    }

    #[test]
    fn works_without_any_player_config() {
        assert_eq!(tuner_config(None, None, Path::new("/o")), "output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p");
        let env = game_env(Some(""), None, Path::new("/o"));
        assert_eq!(env[0], ("MANGOHUD".to_string(), "1".to_string()));
        assert!(env[1].1.starts_with("output_folder=/o,"));
    }

    #[test]
    fn finds_the_per_game_file_before_the_global_one() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join(".config/MangoHud");
        assert_eq!(user_config_file(home.path(), None, "game"), None);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("MangoHud.conf"), "fps_limit=60\n").unwrap();
        assert_eq!(user_config_file(home.path(), None, "game"), Some(dir.join("MangoHud.conf")));
        std::fs::write(dir.join("game.conf"), "fps_limit=30\n").unwrap();
        assert_eq!(user_config_file(home.path(), None, "game"), Some(dir.join("game.conf")));
        let xdg = home.path().join("xdg");
        assert_eq!(user_config_file(home.path(), Some(&xdg), "game"), None);
    }
}
