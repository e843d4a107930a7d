//! The environment that makes a game log frames for the tuner (its
//! MANGOHUD_CONFIG comes from `config::tuner_config`).

use std::path::{Path, PathBuf};

use super::config::{ConfigFileSearch, tuner_config};

/// The config file MangoHud would read for the player's game `exe`
/// (`home`, `xdg_config_home`: the player's), if one exists.
pub fn user_config_file(home: &Path, xdg_config_home: Option<&Path>, exe: &str) -> Option<PathBuf> {
    let home = home.to_string_lossy();
    let xdg = xdg_config_home.map(|x| x.to_string_lossy().into_owned());
    let search = ConfigFileSearch {
        configfile: None,
        xdg_config_home: xdg.as_deref(),
        home: Some(&home),
        exe_name: exe,
        exe_folder: None,
        wine_exe: None,
    };
    search.find(Path::is_file)
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
