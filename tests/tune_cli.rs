//! `tune`/`attach`/`report` on the host: everything that must be refused
//! before a game is launched, and the report of a store.

use std::path::Path;
use std::process::{Command, Output};

mod support;

use scx_gamer::game::identity::GameId;
use scx_gamer::sched::SchedConfig;
use scx_gamer::store::{CpuUse, GameStore, TrialStatus, store_path};
use support::store::{spiky_frames as frames, synthetic_trial};

fn scx_gamer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scx_gamer")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

/// `scx_gamer ARGS` in a mount namespace whose /sys/kernel is an empty
/// tmpfs that `setup` (shell) fills, whatever this host's kernel has.
fn scx_gamer_with_sys_kernel(setup: &str, args: &[&str]) -> Output {
    let script = format!("mount -t tmpfs none /sys/kernel && {setup} && exec \"$0\" \"$@\"");
    Command::new("unshare")
        .args(["--mount", "sh", "-c", &script, env!("CARGO_BIN_EXE_scx_gamer")])
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

/// `scx_gamer ARGS` where the kernel shows no sched_ext.
fn scx_gamer_without_sched_ext(args: &[&str]) -> Output {
    scx_gamer_with_sys_kernel("true", args)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn refuses_before_launching_anything() {
    support::assert_players_reach_the_checkout();
    let dir = tempfile::tempdir().unwrap();
    let mark = dir.path().join("launched");
    let game = format!("touch {}", mark.display());
    let o = scx_gamer_without_sched_ext(&["tune", "--trials", "trials/ci.toml", "--", "sh", "-c", &game]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("has no sched_ext"), "{}", stderr(&o));
    assert!(!mark.exists(), "the game was launched although tuning cannot run");

    let o = scx_gamer_without_sched_ext(&["attach", "--pid", "1", "--trials", "trials/ci.toml"]);
    assert!(stderr(&o).contains("has no sched_ext"), "{}", stderr(&o));

    // Not root (as nobody): said before anything else happens.
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", env!("CARGO_BIN_EXE_scx_gamer")])
        .args(["tune", "--trials", "trials/ci.toml", "--", "sh", "-c", &game])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(stderr(&o).contains("root") || stderr(&o).contains("CAP_"), "{}", stderr(&o));
    assert!(!mark.exists());
}

#[test]
fn a_search_in_races_under_a_budget_of_minutes_is_told_it_needs_hours() {
    let o = scx_gamer_without_sched_ext(&["tune", "--search", "halving", "--trials", "trials/ci.toml", "--", "true"]);
    assert!(
        stderr(&o).contains("a halving search takes hours of play") && stderr(&o).contains("--budget-mins 10 ends it"),
        "{}",
        stderr(&o)
    );
    // Hours given, or a grid, or blocks: nothing to say.
    for args in [&["--search", "halving", "--budget-mins", "600"][..], &["--search", "grid"], &["--search", "model", "--measure", "blocks"]]
    {
        let o = scx_gamer_without_sched_ext(&[&["tune", "--trials", "trials/ci.toml"][..], args, &["--", "true"]].concat());
        assert!(!stderr(&o).contains("takes hours of play"), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("has no sched_ext"), "{args:?}: {}", stderr(&o));
    }
}

/// `scx_gamer ARGS` where the kernel seems to have sched_ext with nothing
/// attached (a mount namespace with a /sys/kernel/sched_ext of files):
/// whatever is refused before a scheduler loads can be tested on a host
/// without sched_ext.
fn scx_gamer_with_idle_sched_ext(args: &[&str]) -> Output {
    scx_gamer_with_sys_kernel("mkdir -p /sys/kernel/sched_ext/root && echo disabled > /sys/kernel/sched_ext/state", args)
}

/// A game whose MangoHud hides the HUD with no_display and has no control
/// socket writes no log at all on MangoHud 0.7+: attach refuses at once and
/// names the setting and where it was set (MANGOHUD_CONFIG, or the config
/// file MangoHud read).
#[test]
fn attach_refuses_a_game_whose_mangohud_logs_nothing_and_names_the_setting() {
    let home = tempfile::tempdir().unwrap();
    let conf = home.path().join(".config/MangoHud/MangoHud.conf");
    std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
    std::fs::write(&conf, "output_folder=/tmp\nno_display\n").unwrap();
    let cases: [(&[(&str, &str)], String); 2] = [
        (&[("MANGOHUD_CONFIG", "output_folder=/tmp,no_display")], "from MANGOHUD_CONFIG".to_string()),
        (&[], format!("from {}", conf.display())),
    ];
    for (env, origin) in cases {
        // MANGOHUD=1: MangoHud enabled as a Vulkan layer would be.
        let mut game = Command::new("sleep")
            .arg("60")
            .env_clear()
            .env("HOME", home.path())
            .env("MANGOHUD", "1")
            .envs(env.iter().copied())
            .spawn()
            .unwrap();
        let pid = game.id().to_string();
        let o = scx_gamer_with_idle_sched_ext(&["attach", "--pid", &pid, "--trials", "trials/ci.toml"]);
        let _ = game.kill();
        let _ = game.wait();
        let err = stderr(&o);
        assert!(!o.status.success(), "{err}");
        assert!(err.contains(&format!("has no_display ({origin}) and no control socket")), "{err}");
        assert!(err.contains("alpha=0,background_alpha=0") && err.contains("control=mangohud-%p"), "{err}");
    }
}

/// A game whose MangoHud ends every log after `log_duration` seconds:
/// attach refuses at once (before waiting for a control socket) and says
/// why, rather than measure a few seconds of each trial or segment.
#[test]
fn attach_refuses_a_game_whose_mangohud_ends_its_logs_too_soon() {
    let home = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        // No control socket: the one log MangoHud writes ends for good.
        ("output_folder=/tmp,log_duration=300", &[], "has log_duration=300 (from MANGOHUD_CONFIG) and no control socket"),
        // A control socket: each segment (at most 20 s) is a log of its own.
        ("output_folder=/tmp,control=mangohud-%p,log_duration=5", &[], "it ends every log after 5 s, and a trial takes 20 s"),
        ("output_folder=/tmp,control=mangohud-%p,log_duration=5", &["--segment-secs", "4"], ""),
    ];
    for (config, extra, said) in cases {
        let mut game = Command::new("sleep")
            .arg("60")
            .env_clear()
            .env("HOME", home.path())
            .env("MANGOHUD", "1")
            .env("MANGOHUD_CONFIG", config)
            .spawn()
            .unwrap();
        let pid = game.id().to_string();
        let args = [&["attach", "--pid", &pid, "--trials", "trials/ci.toml", "--frames-timeout", "1"][..], extra].concat();
        let o = scx_gamer_with_idle_sched_ext(&args);
        let _ = game.kill();
        let _ = game.wait();
        let err = stderr(&o);
        assert!(!o.status.success(), "{err}");
        if said.is_empty() {
            // Segments shorter than the limit: no refusal for it (the tune
            // goes on, to find no control socket in this test).
            assert!(!err.contains("log_duration"), "{err}");
        } else {
            assert!(err.contains(said), "{config}: {err}");
        }
    }
}

#[test]
fn bad_options_and_trial_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[trial]]\nname = \"x\"\nslice_us = 0\n").unwrap();
    let o = scx_gamer(&["tune", "--trials", bad.to_str().unwrap(), "--", "true"]);
    assert!(stderr(&o).contains(&format!("{}:3: trial 'x': slice_us = 0 is out of range", bad.display())), "{}", stderr(&o));
    let o = scx_gamer(&["tune", "--trials", "trials/ci.toml", "--measure", "blocks", "--trial-secs", "0", "--", "true"]);
    assert!(stderr(&o).contains("--trial-secs 0"), "{}", stderr(&o));
    // An option of the other measurement mode is refused, not ignored.
    let o = scx_gamer(&["tune", "--trials", "trials/ci.toml", "--trial-secs", "5", "--", "true"]);
    assert!(stderr(&o).contains("--trial-secs is an option of --measure blocks, and this tune measures interleaved"), "{}", stderr(&o));
    let o = scx_gamer(&["attach", "--pid", "1", "--measure", "blocks", "--budget-mins", "3"]);
    assert!(stderr(&o).contains("--budget-mins is an option of --measure interleaved, and this tune measures blocks"), "{}", stderr(&o));
    let o = scx_gamer(&["tune", "--trials", "trials/ci.toml", "--repeats", "0", "--", "true"]);
    assert!(stderr(&o).contains("--repeats 0"), "{}", stderr(&o));
    let o = scx_gamer(&["tune", "--trials", "/nonexistent.toml", "--", "true"]);
    assert!(stderr(&o).contains("reading trial file /nonexistent.toml"), "{}", stderr(&o));
    let o = scx_gamer(&["tune", "--trials", "trials/ci.toml"]);
    assert!(!o.status.success(), "a command is required");
    // -v before a subcommand is fine (other flags there mean `run`).
    let o = scx_gamer(&["-v", "report", "--data", "/nonexistent"]);
    assert!(stderr(&o).contains("no tuning data in /nonexistent"), "{}", stderr(&o));
    let o = scx_gamer(&["attach", "--pid", "abc"]);
    assert!(stderr(&o).contains("abc"), "{}", stderr(&o));
}

fn write_store(dir: &Path) {
    let calm: SchedConfig = "slice_us=500".parse().unwrap();
    // The default config, measured in every block as the tuner does: a
    // winner has to beat it as well as the kernel's scheduler.
    let same = SchedConfig::default();
    let broken: SchedConfig = "slice_us=9000".parse().unwrap();
    let mut store = GameStore::new(GameId { key: "steam-570".into(), exe: "dota2".into(), steam_app_id: Some("570".into()) });
    let mut id = 0;
    let mut next = || {
        id += 1;
        id
    };
    for block in 1..=3 {
        let seed = block * 100;
        store.trials.push(synthetic_trial(next(), block, "baseline", None, &frames(4000, 8000, 40, seed), TrialStatus::Ok));
        store.trials.push(synthetic_trial(next(), block, "calm", Some(calm), &frames(4000, 8000, 0, seed + 1), TrialStatus::Ok));
        store.trials.push(synthetic_trial(next(), block, "same", Some(same), &frames(4000, 8000, 40, seed + 2), TrialStatus::Ok));
    }
    store.trials.push(synthetic_trial(
        next(),
        3,
        "broken",
        Some(broken),
        &[],
        TrialStatus::Failed("the kernel ejected scx_gamer: sysrq".into()),
    ));
    // The tuner's CPU time beside the game's, in two trials: 0.3 s of 40 s.
    store.trials[0].cpu = Some(CpuUse { tuner_secs: 0.1, game_secs: 10.0 });
    store.trials[1].cpu = Some(CpuUse { tuner_secs: 0.2, game_secs: 30.0 });
    store.save(&store_path(dir, "steam-570")).unwrap();
}

/// Without --data, report reads the data where the player's launch reads
/// it (~/.local/share/scx_gamer/ml_data), as tune and attach now write it
/// (they wrote ./ml_data, and a player's Steam launch never found it).
#[test]
fn report_reads_the_players_data_where_launch_does() {
    use std::os::unix::fs::PermissionsExt;
    support::assert_players_reach_the_checkout();
    let home = tempfile::tempdir().unwrap();
    std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let data = home.path().join(".local/share/scx_gamer/ml_data");
    std::fs::create_dir_all(&data).unwrap();
    write_store(&data);
    let o = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_scx_gamer"), "report", "--best", "steam-570"])
        .env_clear()
        .env("HOME", home.path())
        .current_dir("/")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("--slice-us 500 "), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn report_ranks_a_store_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    write_store(dir.path());
    let data = dir.path().to_str().unwrap();

    let o = scx_gamer(&["report", "--data", data, "570", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let names: Vec<&str> = v["rows"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    // Best first, failed last; "same" and the baseline are within noise.
    assert_eq!((names[0], names[3]), ("calm", "broken"), "{names:?}");
    let row = |n: &str| v["rows"].as_array().unwrap().iter().find(|r| r["name"] == n).unwrap().clone();
    assert_eq!(row("calm")["verdict"], "better");
    assert_eq!(row("same")["verdict"], "no_significant_difference");
    assert_eq!(row("broken")["verdict"], "failed");
    assert_eq!(v["rows"][v["winner"].as_u64().unwrap() as usize]["name"], "calm");
    assert!((v["tuner_cpu_share"].as_f64().unwrap() - 0.0075).abs() < 1e-9, "{}", v["tuner_cpu_share"]);
    // One p99 per config: the pooled statistics carry the verdict's.
    for r in v["rows"].as_array().unwrap().iter().filter(|r| r["ok_trials"].as_u64() > Some(0)) {
        assert_eq!(r["stats"]["p99_ms"], r["p99_ms"]["estimate"], "{r}");
    }

    let o = scx_gamer(&["report", "--data", data, "dota2"]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("best: calm beats the kernel's scheduler") && text.contains("scx_gamer --slice-us 500"), "{text}");
    assert!(text.contains("trial 10: the kernel ejected scx_gamer: sysrq"), "{text}");
    assert!(text.contains("tuner CPU: 0.8 % of the game's while measuring"), "{text}");

    let o = scx_gamer(&["report", "--data", data, "--best", "steam-570"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        "--slice-us 500 --input-window-us 5000 --mig-max 3 --mig-window-ms 100 --game-boost-us 2000 --game-weight 2 --wake-preempt 0"
    );
    let old = scx_gamer(&["--ml-show-best", "570", "--data", data]);
    assert_eq!(old.stdout, o.stdout, "{}", stderr(&old));

    let o = scx_gamer(&["report", "--data", data, "570", "--csv"]);
    let mut rd = csv::Reader::from_reader(o.stdout.as_slice());
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 10);
    assert_eq!(&rows[9][5], "failed");

    let o = scx_gamer(&["report", "--data", data, "quake"]);
    assert!(!o.status.success() && stderr(&o).contains("no tuning data for 'quake'"), "{}", stderr(&o));
    std::fs::write(dir.path().join("steam-570.json"), "{\"schema_version\": 1, \"game\": 5}").unwrap();
    let o = scx_gamer(&["report", "--data", data, "steam-570"]);
    assert!(!o.status.success() && stderr(&o).contains("steam-570.json: not a valid scx_gamer store"), "{}", stderr(&o));
}

/// Frame times (µs) with about 1.5 % slow frames at pseudo-random places:
/// the p99 falls among them, so it varies from seed to seed like a real one.
fn noisy(n: usize, base: u32, seed: u32) -> Vec<u32> {
    (0..n as u32)
        .map(|i| {
            let x = (i ^ seed.wrapping_mul(0x9e37_79b9)).wrapping_mul(2654435761).rotate_left(13).wrapping_mul(0x85eb_ca6b) >> 8;
            if x % 1000 < 15 { base * 2 + x % (base / 2) } else { base + x % 400 }
        })
        .collect()
}

/// A store where the defaults and `others` (name, config, frame base µs)
/// ran in every block beside a baseline: a spiky one that all of them beat,
/// or (`even_baseline`) one about as fast as they are.
fn write_defaults_store(dir: &Path, key: &str, others: &[(&str, &str, u32)], even_baseline: bool) {
    let mut store = GameStore::new(GameId { key: key.into(), exe: key.into(), steam_app_id: None });
    let mut id = 0;
    for block in 1..=3 {
        let seed = block * 100;
        let mut push = |name: &str, cfg: Option<SchedConfig>, f: Vec<u32>| {
            id += 1;
            store.trials.push(synthetic_trial(id, block, name, cfg, &f, TrialStatus::Ok));
        };
        push("baseline", None, if even_baseline { noisy(4000, 7600, seed) } else { frames(4000, 9000, 20, seed) });
        push("default", Some(SchedConfig::default()), noisy(4000, 8000, seed + 1));
        for (i, (name, cfg, base)) in others.iter().enumerate() {
            push(name, Some(cfg.parse().unwrap()), noisy(4000, *base, seed + 2 + i as u32));
        }
    }
    store.save(&store_path(dir, key)).unwrap();
}

#[test]
fn a_tuned_config_has_to_beat_the_defaults_beyond_the_noise() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    // "lucky" ranks first (its frames a few % faster: a p99 ratio a hair
    // below the defaults') but is not better than them beyond the noise.
    write_defaults_store(dir.path(), "even", &[("lucky", "slice_us=4000", 7600)], false);
    let o = scx_gamer(&["report", "--data", data, "even", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows[0]["name"], "lucky", "{v}");
    assert_eq!(rows[0]["verdict"], "better");
    assert!(rows[0]["p99_vs_defaults"]["high"].as_f64().unwrap() >= 1.0, "{v}");
    assert_eq!(v["passed_over"], "lucky");
    assert_eq!(rows[v["winner"].as_u64().unwrap() as usize]["name"], "default");
    let o = scx_gamer(&["report", "--data", data, "--best", "even"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("--slice-us 1000 "), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(stderr(&o).contains("'lucky' ranked higher, but it does not beat the default config"), "{}", stderr(&o));
    let o = scx_gamer(&["report", "--data", data, "even"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("best: default beats the kernel's scheduler"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );

    // A config clearly faster than the defaults wins.
    write_defaults_store(dir.path(), "clear", &[("lucky", "slice_us=4000", 7600), ("fast", "slice_us=500", 6000)], false);
    let o = scx_gamer(&["report", "--data", data, "clear", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["rows"][v["winner"].as_u64().unwrap() as usize]["name"], "fast", "{v}");
    assert!(v["passed_over"].is_null(), "{v}");
    let o = scx_gamer(&["report", "--data", data, "--best", "clear"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("--slice-us 500 "), "{}", String::from_utf8_lossy(&o.stdout));

    // Nothing beats the kernel: no winner; --best offers the best measured
    // config to try, and says it is no significant win.
    write_defaults_store(dir.path(), "none", &[("lucky", "slice_us=4000", 7600)], true);
    let o = scx_gamer(&["report", "--data", data, "none", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(v["winner"].is_null() && v["passed_over"].is_null(), "{v}");
    assert_eq!(v["rows"][0]["name"], "lucky", "{v}");
    let o = scx_gamer(&["report", "--data", data, "--best", "none"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("--slice-us 4000 "), "{}", String::from_utf8_lossy(&o.stdout));
    assert!(stderr(&o).contains("'lucky' is the best measured config, but it does not beat the kernel's scheduler"), "{}", stderr(&o));
}
