//! Checks before loading: privileges, a sched_ext kernel, no other sched_ext
//! scheduler. Each failure says what is wrong and what to do.

use std::fs;
use std::path::Path;

use anyhow::{Result, bail};

const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

pub const SCHED_EXT_SYSFS: &str = "/sys/kernel/sched_ext";

/// The effective capability set of this process, from /proc/self/status.
fn effective_caps() -> Result<u64> {
    let status = fs::read_to_string("/proc/self/status")?;
    let hex =
        status.lines().find_map(|l| l.strip_prefix("CapEff:")).ok_or_else(|| anyhow::anyhow!("/proc/self/status has no CapEff line"))?;
    Ok(u64::from_str_radix(hex.trim(), 16)?)
}

/// Names of the capabilities (of CAP_SYS_ADMIN, CAP_BPF) missing from `caps`.
fn missing_caps(caps: u64) -> Vec<&'static str> {
    [(CAP_SYS_ADMIN, "CAP_SYS_ADMIN"), (CAP_BPF, "CAP_BPF")]
        .into_iter()
        .filter(|(bit, _)| caps & (1u64 << bit) == 0)
        .map(|(_, name)| name)
        .collect()
}

pub fn check_privileges() -> Result<()> {
    let missing = missing_caps(effective_caps()?);
    if !missing.is_empty() {
        bail!(
            "loading a sched_ext scheduler needs root: this process (uid {}) lacks {}. Run it with sudo.",
            nix::unistd::geteuid(),
            missing.join(" and ")
        );
    }
    Ok(())
}

pub fn check_sched_ext_kernel() -> Result<()> {
    if !Path::new(SCHED_EXT_SYSFS).is_dir() {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        bail!(
            "this kernel ({}) has no sched_ext: {} is missing. Boot a kernel built with \
             CONFIG_SCHED_CLASS_EXT=y (6.12 or newer), or use the VM test bed: scripts/vm-run -- scx_gamer …",
            release.trim(),
            SCHED_EXT_SYSFS
        );
    }
    Ok(())
}

/// What is known to go wrong with sched_ext on kernel `release`
/// (`uname -r`), for a warning; None for a kernel without such a record.
/// 6.19.0–6.19.10: the machine can hang while a scheduler is disabled —
/// the kernel ends it when a CPU goes offline or online, as at every
/// suspend and resume: our test bed's 6.19.6 hung so in 1 of 20 runs of
/// the hotplug test even with attach and detach out of sched_ext's reach
/// (rt_switch), 6.19.14 in none of 20; 6.19.11 carries the sched_ext fixes
/// for hangs of this kind (README, "What the suite tests").
pub fn known_kernel_problem(release: &str) -> Option<String> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().ok());
    let (Some(Some(major)), Some(Some(minor)), Some(Some(patch))) = (parts.next(), parts.next(), parts.next()) else { return None };
    ((major, minor) == (6, 19) && patch < 11).then(|| {
        format!(
            "kernel {release}: a CPU going offline or online (suspend/resume) while a sched_ext scheduler runs can hang this kernel; \
             update to 6.19.11 or later (it carries sched_ext fixes for such hangs)"
        )
    })
}

/// Warn once per process when the running kernel has a known problem.
pub fn warn_about_kernel() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        if let Some(problem) = known_kernel_problem(release.trim()) {
            log::warn!("{problem}");
        }
    });
}

/// `/sys/kernel/sched_ext/state`: "enabled", "disabled", "enabling", …
pub fn sched_ext_state() -> Result<String> {
    Ok(fs::read_to_string(Path::new(SCHED_EXT_SYSFS).join("state"))?.trim().to_string())
}

/// `/sys/kernel/sched_ext/hotplug_seq`: how many times a CPU went offline
/// or online (None: not readable).
pub fn hotplug_seq() -> Option<u64> {
    fs::read_to_string(Path::new(SCHED_EXT_SYSFS).join("hotplug_seq")).ok()?.trim().parse().ok()
}

/// Name of the attached sched_ext scheduler, if any.
pub fn attached_ops() -> Option<String> {
    let state = sched_ext_state().ok()?;
    if state == "disabled" {
        return None;
    }
    let ops = fs::read_to_string(Path::new(SCHED_EXT_SYSFS).join("root/ops")).map(|s| s.trim().to_string()).unwrap_or_default();
    Some(if ops.is_empty() { format!("<unknown, state {state}>") } else { ops })
}

pub fn check_no_other_scheduler() -> Result<()> {
    if let Some(ops) = attached_ops() {
        bail!("another sched_ext scheduler is attached: {ops}. Stop it first (only one can run at a time).");
    }
    Ok(())
}

/// Everything `run` needs before it loads anything.
pub fn check_all() -> Result<()> {
    check_privileges()?;
    check_sched_ext_kernel()?;
    check_no_other_scheduler()
}

/// Whether the BPF scheduler sees input in the kernel's input core (fentry
/// on `input_event`, which must be in the kernel's BTF) instead of the
/// userspace reader of /dev/input. Real key presses reach it (qemu's PS/2
/// keyboard in the VM, on the oldest and newest kernel: tests/vm/sched.rs's
/// `a_real_key_press_…`). On by default; `SCX_GAMER_INPUT_HOOK=0` turns it
/// off (the reader alone). Where it does not attach, the reader, which
/// always runs, stands in (`Scheduler::sees_input`). Decided once per
/// process.
pub fn input_hook_enabled() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        if std::env::var_os("SCX_GAMER_INPUT_HOOK").is_some_and(|v| v == "0") {
            return false;
        }
        // SAFETY: libbpf's own loader for /sys/kernel/btf/vmlinux; the
        // handle is checked, only read, and freed here.
        unsafe {
            let btf = libbpf_rs::libbpf_sys::btf__load_vmlinux_btf();
            if btf.is_null() || libbpf_rs::libbpf_sys::libbpf_get_error(btf.cast()) != 0 {
                return false;
            }
            let found =
                libbpf_rs::libbpf_sys::btf__find_by_name_kind(btf, c"input_event".as_ptr(), libbpf_rs::libbpf_sys::BTF_KIND_FUNC) > 0;
            libbpf_rs::libbpf_sys::btf__free(btf);
            found
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_caps_are_enough() {
        assert!(missing_caps(u64::MAX).is_empty());
    }

    #[test]
    fn older_6_19_kernels_are_named_and_others_are_not() {
        let warned = known_kernel_problem("6.19.6+deb13-cloud-amd64").unwrap();
        assert!(warned.contains("kernel 6.19.6+deb13-cloud-amd64") && warned.contains("6.19.11 or later"), "{warned}");
        assert!(known_kernel_problem("6.19.10-arch1-1").is_some());
        assert!(known_kernel_problem("6.19.0").is_some());
        for fine in
            ["6.19.11+deb13-cloud-amd64", "6.19.14", "7.3.4+deb13-cloud-amd64", "6.12.48+deb13-amd64", "6.18.5", "", "6.19", "garbage"]
        {
            assert_eq!(known_kernel_problem(fine), None, "{fine}");
        }
    }

    #[test]
    fn names_each_missing_cap() {
        assert_eq!(missing_caps(0), vec!["CAP_SYS_ADMIN", "CAP_BPF"]);
        assert_eq!(missing_caps(1 << CAP_SYS_ADMIN), vec!["CAP_BPF"]);
    }
}
