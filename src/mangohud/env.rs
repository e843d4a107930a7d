//! The environment that makes a game log frames for the tuner (its
//! MANGOHUD_CONFIG comes from `config::tuner_config`).

use std::path::Path;

#[cfg(test)]
use super::config::tuner_config;
use super::config::tuner_config_checked;

/// Environment variables to set for the game (`mangohud` itself only sets
/// LD_PRELOAD and MANGOHUD=1): the player's MANGOHUD_CONFIG `user_env` and
/// config file `user_file` (its path and text) carried over. A setting that
/// cannot be carried over is left out with a warning naming it and where
/// it was set.
pub fn game_env(user_env: Option<&str>, user_file: Option<(&Path, &str)>, output_folder: &Path) -> Vec<(String, String)> {
    let (config, left_out) =
        tuner_config_checked(user_env, user_file.map(|(_, text)| text), user_file.map(|(path, _)| path), output_folder);
    for why in left_out {
        log::warn!("{why}");
    }
    vec![("MANGOHUD".into(), "1".into()), ("MANGOHUD_CONFIG".into(), config)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn works_without_any_player_config() {
        assert_eq!(tuner_config(None, None, Path::new("/o")), "output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p");
        let env = game_env(Some(""), None, Path::new("/o"));
        assert_eq!(env[0], ("MANGOHUD".to_string(), "1".to_string()));
        assert!(env[1].1.starts_with("output_folder=/o,"));
    }
}
