//! The environment that makes a game log frames for the tuner.
//!
//! MANGOHUD_CONFIG is comma-separated `key=value` (or bare `key`). We keep
//! every setting of the player's except the few we must own, and append ours.
//!
//! `read_cfg` (read the config file too) is deliberately not added: with it,
//! MangoHud 0.6.8 opens the control socket but never answers on it (seen on
//! Debian bookworm's 0.6.8 with glxgears), and the tuner needs the socket.
//! A player's own `read_cfg` is kept.

use std::path::Path;

/// Keys the tuner sets; a player's value for them is replaced.
const OWNED: [&str; 5] = ["output_folder", "log_interval", "control", "log_versioning", "autostart_log"];

/// MANGOHUD_CONFIG for a game whose frames the tuner reads: per-frame logs
/// into `output_folder`, a control socket per pid, version lines in logs.
pub fn tuner_config(user: Option<&str>, output_folder: &Path) -> String {
    let mut parts: Vec<String> = user
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| {
            let key = p.split_once('=').map_or(*p, |(k, _)| k).trim();
            !OWNED.contains(&key)
        })
        .map(str::to_string)
        .collect();
    parts.push(format!("output_folder={}", output_folder.display()));
    parts.push("log_interval=0".into());
    parts.push("log_versioning".into());
    parts.push("control=mangohud-%p".into());
    parts.join(",")
}

/// Environment variables to set for the game (`mangohud` itself only sets
/// LD_PRELOAD and MANGOHUD=1).
pub fn game_env(user_config: Option<&str>, output_folder: &Path) -> Vec<(String, String)> {
    vec![
        ("MANGOHUD".into(), "1".into()),
        ("MANGOHUD_CONFIG".into(), tuner_config(user_config, output_folder)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_players_settings_and_owns_the_logging_ones() {
        let cfg = tuner_config(Some("fps_limit=144, position=top-right,output_folder=/home/p/logs,log_interval=100,no_display"), Path::new("/var/lib/t"));
        assert_eq!(
            cfg,
            "fps_limit=144,position=top-right,no_display,output_folder=/var/lib/t,log_interval=0,log_versioning,control=mangohud-%p"
        );
    }

    #[test]
    fn works_without_a_player_config_and_keeps_an_existing_read_cfg() {
        assert_eq!(
            tuner_config(None, Path::new("/o")),
            "output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p"
        );
        let cfg = tuner_config(Some("read_cfg,control=mine"), Path::new("/o"));
        assert_eq!(cfg.matches("read_cfg").count(), 1);
        assert!(!cfg.contains("control=mine"));
    }

    #[test]
    fn game_env_sets_mangohud_on() {
        let env = game_env(Some(""), Path::new("/o"));
        assert_eq!(env[0], ("MANGOHUD".to_string(), "1".to_string()));
        assert!(env[1].1.starts_with("output_folder=/o,"));
    }
}
