//! The game's whole process tree stays ours.
//!
//! Outside Steam (whose `reaper` does this for its games) a launcher often
//! starts the game and exits — a Windows launcher under Wine, a shell
//! script that backgrounds the binary, Wine's own processes that detach
//! from their parent. Their orphans went to init: `launch` saw its child
//! exit, hung up on the daemon, and the game played on under the kernel's
//! scheduler. As a child subreaper (PR_SET_CHILD_SUBREAPER) we get them
//! instead, wait for them, and pass the launcher's signals on to them.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// From now on, orphans among our descendants become our children.
pub fn become_subreaper() -> Result<()> {
    // SAFETY: prctl with integer arguments only.
    if unsafe { nix::libc::prctl(nix::libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("becoming the game's child subreaper (prctl)");
    }
    Ok(())
}

/// Our children now in our session: the game's first process while it
/// runs, and the orphans it left us. A daemon the game started that made a
/// session of its own (setsid: a sound server, a D-Bus session) is not the
/// game, and neither waited for nor stopped.
pub fn our_children(proc_root: &Path) -> Vec<u32> {
    let ours = nix::unistd::getsid(None).ok();
    let listed = children_listed(proc_root).unwrap_or_else(|| children_by_scan(proc_root));
    listed.into_iter().filter(|&pid| nix::unistd::getsid(Some(Pid::from_raw(pid as i32))).ok() == ours).collect()
}

/// From `proc_root`/self/task/*/children (every thread's: an orphan is given
/// to one of them); None where the kernel has no such files
/// (CONFIG_PROC_CHILDREN unset).
fn children_listed(proc_root: &Path) -> Option<Vec<u32>> {
    let tasks = std::fs::read_dir(proc_root.join("self/task")).ok()?;
    let lists: Vec<String> = tasks.flatten().filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok()).collect();
    if lists.is_empty() {
        return None;
    }
    let mut pids: Vec<u32> = lists.iter().flat_map(|list| list.split_whitespace().filter_map(|p| p.parse().ok())).collect();
    pids.sort_unstable();
    pids.dedup();
    Some(pids)
}

/// Every process whose parent is us, from a scan of the process table.
fn children_by_scan(proc_root: &Path) -> Vec<u32> {
    let procs = crate::procfs::scan_processes(proc_root).unwrap_or_default();
    crate::procfs::children_of(&procs, std::process::id()).collect()
}

/// Reap every child we still have, orphans included, until none is left.
/// `left` is told who is still running (pid and name) before the wait,
/// once, if anyone is.
pub fn wait_for_orphans(proc_root: &Path, left: impl FnOnce(&[(u32, String)])) {
    let running: Vec<(u32, String)> = our_children(proc_root)
        .into_iter()
        .map(|pid| {
            let comm = std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm")).unwrap_or_default();
            (pid, comm.trim_end().to_string())
        })
        .collect();
    if !running.is_empty() {
        left(&running);
    }
    loop {
        match waitpid(None, Some(WaitPidFlag::__WALL)) {
            Ok(_) | Err(Errno::EINTR) => continue,
            Err(_) => return, // ECHILD: nobody left
        }
    }
}

/// Reap the children that have exited, without waiting for the others.
pub fn reap_exited() {
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG | WaitPidFlag::__WALL)) {
        if status == WaitStatus::StillAlive {
            return;
        }
    }
}

/// Stop the orphans we still have: SIGTERM, up to `grace` to exit, then
/// SIGKILL; each is reaped. Gives up a few seconds after SIGKILL (a
/// process stuck in the kernel) rather than hang.
pub fn stop_orphans(proc_root: &Path, grace: Duration) {
    reap_exited();
    if our_children(proc_root).is_empty() {
        return;
    }
    let (term_until, kill_until) = (Instant::now() + grace, Instant::now() + grace + Duration::from_secs(5));
    loop {
        // Each pass: one that came to us since (a grandchild whose parent
        // just ended) is signalled too; SIGTERM again is harmless.
        let sig = if Instant::now() < term_until { Signal::SIGTERM } else { Signal::SIGKILL };
        for pid in our_children(proc_root) {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
        std::thread::sleep(Duration::from_millis(50));
        reap_exited();
        let left = our_children(proc_root);
        if left.is_empty() {
            return;
        }
        if Instant::now() >= kill_until {
            log::warn!("processes the game left running did not end even after SIGKILL: {left:?}");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_every_thread_are_read() {
        assert_eq!(children_listed(Path::new("/nonexistent")), None, "no children files: the scan instead");
        let root = tempfile::tempdir().unwrap();
        for (tid, list) in [("10", "11 12 "), ("13", ""), ("14", "12 15")] {
            let dir = root.path().join("self/task").join(tid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("children"), list).unwrap();
        }
        assert_eq!(children_listed(root.path()), Some(vec![11, 12, 15]));
    }

    #[test]
    fn a_child_in_our_session_is_ours_and_one_in_a_session_of_its_own_is_not() {
        use std::process::Command;
        let mut same = Command::new("sleep").arg("30").spawn().unwrap();
        // (setsid execs sleep in the same process once it has its session.)
        let mut own = Command::new("setsid").args(["sleep", "30"]).spawn().unwrap();
        let own_pid = Pid::from_raw(own.id() as i32);
        let deadline = Instant::now() + Duration::from_secs(10);
        while nix::unistd::getsid(Some(own_pid)).ok() != Some(own_pid) {
            assert!(Instant::now() < deadline, "setsid did not make a session");
            std::thread::sleep(Duration::from_millis(10));
        }
        let root = crate::procfs::root();
        let (mine, scanned) = (our_children(root), children_by_scan(root));
        for child in [&mut same, &mut own] {
            child.kill().unwrap();
            child.wait().unwrap();
        }
        assert!(mine.contains(&same.id()) && !mine.contains(&own.id()), "{mine:?}");
        assert!(scanned.contains(&same.id()) && scanned.contains(&own.id()), "the scan finds every child: {scanned:?}");
    }
}
