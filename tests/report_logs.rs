//! `scx_gamer report --log`: good logs are reported, bad ones named after.

use std::process::Command;

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/mangohud/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn bad_logs_are_named_after_the_good_ones_are_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let junk = tmp.path().join("junk.csv");
    std::fs::write(&junk, "hello\nworld\n").unwrap();
    let missing = tmp.path().join("missing.csv");
    let out = Command::new(env!("CARGO_BIN_EXE_scx_gamer"))
        .args(["report", "--json", "--log"])
        .arg(&junk)
        .arg(fixture("glxgears_0.6.8_versioned.csv"))
        .arg(&missing)
        .arg(fixture("glxgears_0.6.8_sampled.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let reports: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(reports.len(), 2, "{stdout}");
    assert_eq!(reports[0]["mangohud_version"], "0.6.8");
    assert_eq!(reports[0]["sampled"], false);
    assert!(reports[0]["frames"].as_u64().unwrap() > 100);
    assert_eq!(reports[1]["sampled"], true);
    assert!(reports[1]["mangohud_version"].is_null());

    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains(&format!("{}: line 1: not a MangoHud log", junk.display())), "{stderr}");
    assert!(stderr.contains(&format!("{}: No such file", missing.display())), "{stderr}");
    assert!(stderr.contains("2 of 4 logs could not be read"), "{stderr}");
}

#[test]
fn text_report_flags_sampled_logs() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_scx_gamer")).args(["report", "--log", &fixture("glxgears_0.6.8_sampled.csv")]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("SAMPLED (one row per interval, not per frame)"), "{text}");
}
