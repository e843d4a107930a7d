//! MangoHud's configuration, read as MangoHud reads it — the one place
//! that parses it: MANGOHUD_CONFIG, the config files, which of them applies,
//! and the MANGOHUD_CONFIG the tuner gives a game it starts (the player's
//! settings kept, logging ours).
//!
//! How MangoHud reads it (from its sources, src/overlay_params.cpp and
//! src/config.cpp, checked against Debian's 0.6.8; 0.8.4 also takes `:`
//! between entries and lets a later entry win):
//! - MANGOHUD_CONFIG set (even empty): its settings only; the config files
//!   are read as well only with `read_cfg`, and then the environment's
//!   settings override the file's. Entries are split at `,`, `:` and `;`
//!   alike (`\` escapes one inside a value); a repeated key: the last wins.
//! - MANGOHUD_CONFIG unset: one config file, the first that exists of
//!   `$XDG_CONFIG_HOME/MangoHud/wine-<exe>.conf` (Wine games only),
//!   `<folder of the executable>/MangoHud.conf`,
//!   `$XDG_CONFIG_HOME/MangoHud/<exe>.conf`, `/etc/MangoHud.conf` (0.7.0
//!   and later), `$XDG_CONFIG_HOME/MangoHud/MangoHud.conf`
//!   (XDG_CONFIG_HOME defaulting to `$HOME/.config`; neither set: no file,
//!   not even /etc's), or only `$MANGOHUD_CONFIGFILE` when that is set.
//!   (src/config.cpp's enumerate_config_files lists them the other way
//!   round and parseConfigFile takes the last that exists, so a system-wide
//!   /etc/MangoHud.conf hides the player's own MangoHud.conf.)
//!
//! `read_cfg` cannot be used for a game the tuner starts: with it, MangoHud
//! 0.6.8 opens the control socket but never answers on it (seen on Debian
//! bookworm's 0.6.8 with glxgears), and the tuner needs the socket. So where
//! MangoHud would have read the player's config file, we read it ourselves
//! and carry its settings over into MANGOHUD_CONFIG.

use std::path::{Path, PathBuf};

/// MANGOHUD_CONFIG split as MangoHud splits it: `key=value` or a bare `key`
/// (value "1"), separated by `,`, `:` or `;`; a `\` keeps a following
/// delimiter inside a value; keys and values trimmed.
pub fn env_settings(text: &str) -> Vec<(String, String)> {
    let delim = |c: char| matches!(c, ',' | ':' | ';' | '=');
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if delim(c) {
                break;
            }
            key.push(c);
            chars.next();
        }
        let mut value = String::from("1");
        if chars.peek() == Some(&'=') {
            chars.next();
            value.clear();
            while let Some(&c) = chars.peek() {
                if delim(c) {
                    break;
                }
                chars.next();
                if c == '\\' && chars.peek().is_some_and(|&n| delim(n)) {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        chars.next(); // the delimiter
        let key = key.trim();
        if !key.is_empty() {
            out.push((key.to_string(), value.trim().to_string()));
        }
    }
    out
}

/// A config file's settings as MangoHud reads them: `#` starts a comment,
/// `key = value` or a bare `key` (value "1"), both trimmed.
pub fn file_settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let l = l.split('#').next().unwrap_or("");
            let (k, v) = l.split_once('=').unwrap_or((l, "1"));
            let k = k.trim();
            (!k.is_empty()).then(|| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

/// The last value of `key` (MangoHud keeps the last).
pub fn last<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// A boolean MangoHud reads with strtol: a bare key is "1"; "yes" is 0.
pub fn truthy(value: &str) -> bool {
    let v = value.trim();
    let digits: String = v.trim_start_matches(['+', '-']).chars().take_while(char::is_ascii_digit).collect();
    digits.parse::<u64>().is_ok_and(|n| n != 0)
}

/// Where to look for a config file (see the module docs), the one MangoHud
/// prefers first; the first that exists applies. `exe_name` is the program's file
/// name, `exe_folder` its folder, `wine_exe` the Windows program a Wine
/// preloader runs; `configfile`, `xdg_config_home`, `home` the game's
/// MANGOHUD_CONFIGFILE, XDG_CONFIG_HOME and HOME.
pub struct ConfigFileSearch<'a> {
    pub configfile: Option<&'a str>,
    pub xdg_config_home: Option<&'a str>,
    pub home: Option<&'a str>,
    pub exe_name: &'a str,
    pub exe_folder: Option<&'a Path>,
    pub wine_exe: Option<&'a str>,
}

impl ConfigFileSearch<'_> {
    pub fn candidates(&self) -> Vec<PathBuf> {
        if let Some(f) = self.configfile {
            return vec![PathBuf::from(f)];
        }
        // A set XDG_CONFIG_HOME is taken as it is (an empty one: no file).
        let config_dir = match (self.xdg_config_home, self.home) {
            (Some(x), _) => PathBuf::from(x),
            (None, Some(h)) if !h.is_empty() => Path::new(h).join(".config"),
            _ => return Vec::new(),
        };
        if config_dir.as_os_str().is_empty() {
            return Vec::new();
        }
        let dir = config_dir.join("MangoHud");
        let mut out = Vec::new();
        if let Some(wine) = self.wine_exe {
            out.push(dir.join(format!("wine-{wine}.conf")));
        }
        if let Some(folder) = self.exe_folder {
            out.push(folder.join("MangoHud.conf"));
        }
        out.push(dir.join(format!("{}.conf", self.exe_name)));
        // Read by MangoHud 0.7.0 and later (0.6.8 and 0.6.9 do not know it).
        // We follow current MangoHud: the version of the MangoHud a game
        // will load is not known here, and 0.7 is what distributions ship
        // since 2023. Inside the game's root, like the others (callers
        // check existence there).
        out.push(PathBuf::from("/etc/MangoHud.conf"));
        out.push(dir.join("MangoHud.conf"));
        out
    }

    /// The first candidate for which `exists` holds.
    pub fn find(&self, exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
        self.candidates().into_iter().find(|p| exists(p))
    }
}

/// Keys the tuner sets or must not let through; a player's value for them
/// is replaced or dropped. `log_duration=N` makes MangoHud end every log N
/// seconds after it started, also one started through the control socket:
/// a trial longer than that would silently get N seconds of frames.
/// Dropped, MangoHud's default (0) logs until told to stop.
const OWNED: [&str; 7] = ["output_folder", "log_interval", "control", "log_versioning", "autostart_log", "read_cfg", "log_duration"];

/// What MangoHud makes of a number setting (its parse_unsigned:
/// `strtol(s, NULL, 0)` into an `unsigned`): leading blanks and a sign,
/// `0x` hex, a leading `0` octal, digits up to the first other character;
/// no digits is 0.
pub fn mangohud_unsigned(value: &str) -> u32 {
    let s = value.trim_start();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (16, hex)
    } else if s.starts_with('0') {
        (8, s)
    } else {
        (10, s)
    };
    let mut n: i64 = 0;
    for d in digits.chars().map_while(|c| c.to_digit(radix)) {
        // strtol saturates at LONG_MAX.
        n = n.saturating_mul(i64::from(radix)).saturating_add(i64::from(d));
    }
    // The long, converted to `unsigned`: its low 32 bits.
    (if negative { n.wrapping_neg() } else { n }) as u32
}

/// The seconds after which MangoHud ends each log, when `settings` (as
/// MangoHud applies them) set a limit; `None`: logs run until stopped.
pub fn log_duration_secs(settings: &[(String, String)]) -> Option<u32> {
    last(settings, "log_duration").map(mangohud_unsigned).filter(|&s| s > 0)
}

/// Where a player's setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Env,
    File,
}

/// The settings MangoHud applies, in order (a later one wins): the config
/// file's when it applies (no MANGOHUD_CONFIG, or one with `read_cfg`),
/// then MANGOHUD_CONFIG's.
pub fn applied(user_env: Option<&str>, user_file: Option<&str>) -> Vec<(String, String)> {
    applied_from(user_env, user_file).into_iter().map(|(k, v, _)| (k, v)).collect()
}

fn applied_from(user_env: Option<&str>, user_file: Option<&str>) -> Vec<(String, String, Source)> {
    let env = user_env.map(env_settings).unwrap_or_default();
    let file_applies = user_env.is_none() || last(&env, "read_cfg").is_some_and(truthy);
    let file = if file_applies { user_file.map(file_settings).unwrap_or_default() } else { Vec::new() };
    let tag = |settings: Vec<(String, String)>, source| settings.into_iter().map(move |(k, v)| (k, v, source));
    tag(file, Source::File).chain(tag(env, Source::Env)).collect()
}

/// MangoHud reads MANGOHUD_CONFIG into `char key[256], value[256]` with no
/// bounds check (parse_overlay_env, 0.6.8 to 0.8.4): a longer key or value
/// overflows them inside the game. Values count unescaped, as stored.
const MAX_ENV_FIELD: usize = 255;

/// One setting in MANGOHUD_CONFIG form, or why it cannot be one. A bare
/// key for "1" (what MangoHud reads a bare key as); every delimiter
/// MangoHud splits at (`,` `:` `;` `=`) escaped with `\`, which its
/// parse_string undoes (0.6.8 and 0.8.4 alike), so the value arrives as
/// the config file had it: free text (custom_text, exec, time_format, a
/// font path) unchanged, and a list `a,b` read as the file's is. A `\`
/// before anything else stays as it is, so `\` itself needs no escape.
fn entry(key: &str, value: &str) -> Result<String, String> {
    let too_long = |what: &str, len: usize| {
        format!(
            "its {what} is {len} bytes, more than the {MAX_ENV_FIELD} MangoHud can read from MANGOHUD_CONFIG without overflowing in the game"
        )
    };
    if key.len() > MAX_ENV_FIELD {
        return Err(too_long("name", key.len()));
    }
    if value == "1" {
        return Ok(key.to_string());
    }
    if value.len() > MAX_ENV_FIELD {
        return Err(too_long("value", value.len()));
    }
    // A `\` before the `,` that ends the entry would escape it.
    if value.ends_with('\\') {
        return Err("its value ends in '\\', which MANGOHUD_CONFIG cannot hold before another setting".to_string());
    }
    Ok(format!("{key}={}", escape(value)))
}

/// `value` with MangoHud's entry delimiters escaped.
fn escape(value: &str) -> String {
    let mut v = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, ',' | ':' | ';' | '=') {
            v.push('\\');
        }
        v.push(c);
    }
    v
}

/// MANGOHUD_CONFIG for a game whose frames the tuner reads: the player's
/// settings (`user_env`: their MANGOHUD_CONFIG; `user_file`: the text of
/// the config file MangoHud would have read), without the ones we must own,
/// then per-frame logs into `output_folder`, a control socket per pid,
/// version lines in logs.
///
/// A player's `no_display` becomes `alpha=0,background_alpha=0`: MangoHud
/// 0.7 and later write no log at all under no_display unless logging is
/// started through the control socket, and the warm-up reads a log it
/// starts itself. With alpha 0 Dear ImGui draws no window at all (its
/// Begin() skips windows of style alpha 0; the HUD, the logging dot and the
/// summary), so the player still sees no HUD, and both 0.6.8 and 0.8.4 log
/// every frame (the VM tests of `tune` on 0.6.8 and 0.8.4 take screenshots:
/// no pixel of the HUD's text, which a visible HUD shows).
///
/// A setting MangoHud could not read from MANGOHUD_CONFIG (see `entry`) is
/// left out with a warning naming it and where it was set; the game runs
/// without it rather than overflow MangoHud's buffers or lose what follows.
pub fn tuner_config(user_env: Option<&str>, user_file: Option<&str>, output_folder: &Path) -> String {
    let (config, left_out) = tuner_config_checked(user_env, user_file, None, output_folder);
    for why in left_out {
        log::warn!("{why}");
    }
    config
}

/// `tuner_config`, and what was left out and why (one message each, naming
/// `file_path`, the config file's path, when given).
pub fn tuner_config_checked(
    user_env: Option<&str>,
    user_file: Option<&str>,
    file_path: Option<&Path>,
    output_folder: &Path,
) -> (String, Vec<String>) {
    let settings = applied_from(user_env, user_file);
    let hidden = settings.iter().rev().find(|(k, _, _)| k == "no_display").is_some_and(|(_, v, _)| truthy(v));
    let mut parts = Vec::new();
    let mut left_out = Vec::new();
    for (key, value, source) in &settings {
        if OWNED.contains(&key.as_str()) || key == "no_display" {
            continue;
        }
        match entry(key, value) {
            Ok(e) => parts.push(e),
            Err(why) => {
                let from = match (source, file_path) {
                    (Source::Env, _) => "MANGOHUD_CONFIG".to_string(),
                    (Source::File, Some(path)) => path.display().to_string(),
                    (Source::File, None) => "the player's MangoHud config file".to_string(),
                };
                left_out.push(format!("MangoHud setting '{key}' (from {from}) left out of the game's MANGOHUD_CONFIG: {why}"));
            }
        }
    }
    if hidden {
        parts.push("alpha=0".into());
        parts.push("background_alpha=0".into());
    }
    parts.push(format!("output_folder={}", escape(&output_folder.display().to_string())));
    parts.push("log_interval=0".into());
    parts.push("log_versioning".into());
    parts.push("control=mangohud-%p".into());
    (parts.join(","), left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_mangohud_config_like_mangohud() {
        let s = env_settings(" fps_limit = 60 ,no_display;output_folder=/a\\:b:log_interval=0,,read_cfg=0");
        let want = [("fps_limit", "60"), ("no_display", "1"), ("output_folder", "/a:b"), ("log_interval", "0"), ("read_cfg", "0")];
        assert_eq!(s, want.map(|(k, v)| (k.to_string(), v.to_string())).to_vec());
        assert!(env_settings("").is_empty());
        assert_eq!(file_settings("# c\noutput_folder = ~/logs # mine\n\ncpu_temp\n").len(), 2);
        assert!(truthy("1") && truthy("2") && !truthy("0") && !truthy("yes") && !truthy(""));
    }

    #[test]
    fn keeps_the_players_settings_and_owns_the_logging_ones() {
        let cfg = tuner_config(
            Some("fps_limit=144, position=top-right,output_folder=/home/p/logs,log_interval=100,no_display"),
            Some("cpu_temp\n"),
            Path::new("/var/lib/t"),
        );
        // MANGOHUD_CONFIG set without read_cfg: MangoHud ignores the file.
        // no_display (no log at all on 0.7+) becomes an invisible HUD.
        assert_eq!(
            cfg,
            "fps_limit=144,position=top-right,alpha=0,background_alpha=0,output_folder=/var/lib/t,log_interval=0,log_versioning,control=mangohud-%p"
        );
        // Turned off again later (the last wins): nothing to hide.
        let cfg = tuner_config(Some("no_display,alpha=0.5,no_display=0"), None, Path::new("/o"));
        assert_eq!(cfg, "alpha=0.5,output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p");
    }

    #[test]
    fn carries_the_config_file_over_when_mangohud_would_read_it() {
        let file = "# my setup\nfps_limit = 60,144\nposition=top-left # corner\n\ngpu_stats\nlog_interval=1000\n";
        let pairs = [("fps_limit", "60,144"), ("position", "top-left"), ("gpu_stats", "1"), ("log_interval", "1000")];
        assert_eq!(file_settings(file), pairs.map(|(k, v)| (k.to_string(), v.to_string())).to_vec());
        // No MANGOHUD_CONFIG: the file is what MangoHud would have used.
        assert_eq!(
            tuner_config(None, Some(file), Path::new("/o")),
            "fps_limit=60\\,144,position=top-left,gpu_stats,output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p"
        );
        // read_cfg asks for the file too; the env setting wins (comes later)
        // and read_cfg itself is dropped (it breaks 0.6.8's control socket).
        let cfg = tuner_config(Some("read_cfg,position=bottom-right"), Some(file), Path::new("/o"));
        assert!(cfg.starts_with("fps_limit=60\\,144,position=top-left,gpu_stats,position=bottom-right,output_folder=/o"), "{cfg}");
        assert!(!cfg.contains("read_cfg"));
    }

    #[test]
    fn free_text_and_lists_from_the_config_file_arrive_as_mangohud_reads_the_file() {
        let file = "custom_text=a=b, c: d; e\nexec=echo a,b | cut -d, -f1\nfps_limit=60,144\nfont_file=C:\\x\\y.ttf\n";
        let (cfg, left_out) = tuner_config_checked(None, Some(file), None, Path::new("/o"));
        assert!(left_out.is_empty(), "{left_out:?}");
        assert!(
            cfg.starts_with(
                "custom_text=a\\=b\\, c\\: d\\; e,exec=echo a\\,b | cut -d\\, -f1,fps_limit=60\\,144,font_file=C\\:\\x\\y.ttf,"
            ),
            "{cfg}"
        );
        // MangoHud's own reading of it (env_settings splits as its
        // parse_string does) gives back the file's values, and no stray keys.
        let back = env_settings(&cfg);
        assert_eq!(&back[..4], &file_settings(file)[..], "{back:?}");
        assert_eq!(last(&back, "output_folder"), Some("/o"));
        // Our folder is escaped the same way.
        let (cfg, _) = tuner_config_checked(None, None, None, Path::new("/run/a:b,c"));
        assert_eq!(last(&env_settings(&cfg), "output_folder"), Some("/run/a:b,c"));
    }

    #[test]
    fn settings_mangohud_cannot_read_from_its_environment_are_left_out_with_a_warning() {
        let long = "x".repeat(256);
        let file = format!("fps_limit=60\nblacklist={long}\nexec=cd C:\\games\\\n{}=1\ncpu_temp\n", "k".repeat(256));
        let conf = Path::new("/home/p/.config/MangoHud/MangoHud.conf");
        let (cfg, left_out) = tuner_config_checked(None, Some(&file), Some(conf), Path::new("/o"));
        assert_eq!(cfg, "fps_limit=60,cpu_temp,output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p");
        assert_eq!(left_out.len(), 3, "{left_out:?}");
        assert!(left_out[0].starts_with("MangoHud setting 'blacklist' (from /home/p/.config/MangoHud/MangoHud.conf) left out"));
        assert!(left_out[0].contains("its value is 256 bytes, more than the 255"), "{}", left_out[0]);
        assert!(left_out[1].starts_with("MangoHud setting 'exec' (from /home/p") && left_out[1].contains("ends in '\\'"));
        assert!(left_out[2].contains("its name is 256 bytes"), "{}", left_out[2]);
        // 255 bytes fit; what counts is the value as MangoHud stores it,
        // unescaped. From MANGOHUD_CONFIG, the message says so.
        let fits = ",".repeat(255);
        let (cfg, left_out) = tuner_config_checked(None, Some(&format!("custom_text={fits}\n")), Some(conf), Path::new("/o"));
        assert!(left_out.is_empty() && last(&env_settings(&cfg), "custom_text") == Some(&fits[..]), "{left_out:?}");
        let (_, left_out) = tuner_config_checked(Some(&format!("blacklist={long}")), None, None, Path::new("/o"));
        assert!(left_out[0].starts_with("MangoHud setting 'blacklist' (from MANGOHUD_CONFIG) left out"), "{left_out:?}");
    }

    #[test]
    fn a_players_log_duration_does_not_reach_a_game_we_start() {
        // It would end each trial's log after 30 s, however long the trial.
        let cfg = tuner_config(None, Some("log_duration=30\nfps_limit=60\n"), Path::new("/o"));
        assert_eq!(cfg, "fps_limit=60,output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p");
        let cfg = tuner_config(Some("log_duration=30:fps_limit=60"), None, Path::new("/o"));
        assert!(!cfg.contains("log_duration"), "{cfg}");
    }

    #[test]
    fn log_duration_is_read_as_mangohud_reads_it() {
        let secs = |text: &str| log_duration_secs(&env_settings(text));
        assert_eq!(secs("log_duration=30"), Some(30));
        assert_eq!(secs("log_duration=30,log_duration=0"), None, "the last wins; 0 is no limit");
        assert_eq!(secs("fps_limit=60"), None);
        assert_eq!(secs("log_duration= 0x10"), Some(16));
        assert_eq!(secs("log_duration=010"), Some(8));
        assert_eq!(secs("log_duration=90s"), Some(90));
        assert_eq!(secs("log_duration=half"), None);
        assert_eq!(secs("log_duration"), Some(1), "a bare key is 1");
        assert_eq!(secs("log_duration=-1"), Some(u32::MAX));
        assert_eq!(mangohud_unsigned("99999999999999999999999"), u32::MAX, "LONG_MAX's low bits");
    }

    #[test]
    fn a_players_config_is_split_as_mangohud_splits_it_before_ours_is_added() {
        // MangoHud 0.8 takes `:` and `;` between entries too: the player's
        // output_folder is recognised and replaced, not kept inside another
        // entry; a delimiter inside a value stays escaped.
        let cfg = tuner_config(Some("fps_limit=60:output_folder=/x;font_file=/a\\:b.ttf"), None, Path::new("/o"));
        assert_eq!(cfg, "fps_limit=60,font_file=/a\\:b.ttf,output_folder=/o,log_interval=0,log_versioning,control=mangohud-%p");
        // read_cfg=0 does not read the file.
        assert_eq!(applied(Some("read_cfg=0"), Some("gpu_stats")), vec![("read_cfg".to_string(), "0".to_string())]);
    }

    #[test]
    fn config_files_are_searched_in_mangohuds_order() {
        let search = ConfigFileSearch {
            configfile: None,
            xdg_config_home: None,
            home: Some("/home/p"),
            exe_name: "game.exe",
            exe_folder: Some(Path::new("/games/g")),
            wine_exe: Some("game"),
        };
        // MangoHud 0.8.4's enumerate_config_files, last first.
        let want = [
            "/home/p/.config/MangoHud/wine-game.conf",
            "/games/g/MangoHud.conf",
            "/home/p/.config/MangoHud/game.exe.conf",
            "/etc/MangoHud.conf",
            "/home/p/.config/MangoHud/MangoHud.conf",
        ];
        assert_eq!(search.candidates(), want.map(PathBuf::from).to_vec());
        assert_eq!(ConfigFileSearch { configfile: Some("/c.conf"), ..search }.candidates(), vec![PathBuf::from("/c.conf")]);
        // No config folder: MangoHud gives up before it lists /etc's file.
        assert!(ConfigFileSearch { home: None, ..search }.candidates().is_empty());
        assert!(ConfigFileSearch { xdg_config_home: Some(""), ..search }.candidates().is_empty());
        // /etc's file outranks the player's MangoHud.conf, not a per-game one.
        let exists = |have: &'static [&'static str]| move |p: &Path| have.iter().any(|h| p == Path::new(h));
        let plain = ConfigFileSearch { wine_exe: None, exe_folder: None, ..search };
        let found = plain.find(exists(&["/home/p/.config/MangoHud/MangoHud.conf", "/etc/MangoHud.conf"]));
        assert_eq!(found, Some(PathBuf::from("/etc/MangoHud.conf")));
        let found = plain.find(exists(&["/home/p/.config/MangoHud/game.exe.conf", "/etc/MangoHud.conf"]));
        assert_eq!(found, Some(PathBuf::from("/home/p/.config/MangoHud/game.exe.conf")));
    }
}
