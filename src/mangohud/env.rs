//! The environment that makes a game log frames for the tuner (its
//! MANGOHUD_CONFIG comes from `config::tuner_config`).

use std::path::Path;

use super::config::tuner_config;

/// Environment variables to set for the game (`mangohud` itself only sets
/// LD_PRELOAD and MANGOHUD=1).
pub fn game_env(user_env: Option<&str>, user_file: Option<&str>, output_folder: &Path) -> Vec<(String, String)> {
    vec![("MANGOHUD".into(), "1".into()), ("MANGOHUD_CONFIG".into(), tuner_config(user_env, user_file, output_folder))]
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
