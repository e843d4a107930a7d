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

/// Our children now, of every thread (an orphan is given to one of them),
/// from `proc_root`/self/task/*/children.
pub fn our_children(proc_root: &Path) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(proc_root.join("self/task")) else { return Vec::new() };
    let mut pids: Vec<u32> = tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<u32>>())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
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
    let signal_all = |sig: Signal| {
        for pid in our_children(proc_root) {
            let _ = kill(Pid::from_raw(pid as i32), sig);
        }
    };
    reap_exited();
    if our_children(proc_root).is_empty() {
        return;
    }
    signal_all(Signal::SIGTERM);
    let (term_until, kill_until) = (Instant::now() + grace, Instant::now() + grace + Duration::from_secs(5));
    let mut killed = false;
    loop {
        reap_exited();
        let left = our_children(proc_root);
        if left.is_empty() {
            return;
        }
        if !killed && Instant::now() >= term_until {
            signal_all(Signal::SIGKILL);
            killed = true;
        }
        if Instant::now() >= kill_until {
            log::warn!("processes the game left running did not end even after SIGKILL: {left:?}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_of_every_thread_are_read() {
        let root = tempfile::tempdir().unwrap();
        for (tid, list) in [("10", "11 12 "), ("13", ""), ("14", "12 15")] {
            let dir = root.path().join("self/task").join(tid);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("children"), list).unwrap();
        }
        assert_eq!(our_children(root.path()), [11, 12, 15]);
        assert!(our_children(Path::new("/nonexistent")).is_empty());
    }
}
