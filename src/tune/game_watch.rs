//! The game as the trial loop watches it (`runner::GameWatch`): has it
//! exited, and how much CPU time has its process tree used.
//!
//! Both are asked several times a second, all tune long, and the measurer
//! must not disturb what it measures: reading /proc for each answer (the
//! game's stat file every 250 ms, the whole process table twice per
//! segment) was a fifth of the tuner's CPU in a 4-minute profile
//! (BENCHMARKS.md, "The tuner's CPU time"). So the exit comes from a pidfd
//! (poll, no file read), and the tree is looked up again only every
//! `game_tree::RESCAN`, in the process table the scheduler's session reads
//! for the same tree; between, only its members' stat files are read, kept
//! open.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::process::Child;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::runner::GameWatch;
use crate::game::reaper;
use crate::procfs::{self, StatFile};
use crate::sched::game_tree;

/// The CPU time of the process tree under a pid. A process that joins the
/// tree between two lookups counts from the next (its CPU time so far
/// with it), one that leaves is not counted, as before.
struct TreeCpu {
    root: u32,
    /// The game also is every child of ours (game_tree::roots).
    adopted: bool,
    members: Vec<(u32, StatFile)>,
    /// When the process table of `members` was read.
    table_at: Option<Instant>,
    /// How old a process table may be (RESCAN; none in tests).
    max_age: Duration,
}

impl TreeCpu {
    fn new(root: u32) -> Self {
        Self { root, adopted: false, members: Vec::new(), table_at: None, max_age: game_tree::RESCAN }
    }

    /// CPU time (s) of the tree's processes still there; None when even
    /// the process table cannot be read.
    fn cpu_secs(&mut self) -> Option<f64> {
        let table = game_tree::process_table(self.max_age).ok()?;
        if self.table_at != Some(table.read_at) {
            let tree = game_tree::process_tree(&game_tree::roots(&[self.root], self.adopted, &table.procs), &table.procs);
            self.members.retain(|(pid, _)| tree.contains(pid));
            for pid in tree {
                if !self.members.iter().any(|&(p, _)| p == pid)
                    && let Some(file) = StatFile::open(procfs::root(), pid)
                {
                    self.members.push((pid, file));
                }
            }
            self.table_at = Some(table.read_at);
        }
        Some(self.members.iter().filter_map(|(_, f)| f.read()?.cpu_secs()).sum())
    }
}

/// A game we started: it is there until its process exits — and, when we
/// are its subreaper (`reaping`), until what that process left running
/// has exited too (a launcher that starts the game and exits).
pub(crate) struct Launched {
    pub(crate) child: Child,
    /// Its `adopted` says whether we reap (`reaping`).
    tree: TreeCpu,
    /// How the first process ended, once it has.
    ended: Option<String>,
}

impl Launched {
    pub(crate) fn new(child: Child) -> Self {
        let tree = TreeCpu::new(child.id());
        Self { child, tree, ended: None }
    }

    /// We are the game's subreaper (game::reaper): the orphans its first
    /// process leaves are ours, and the game runs while any of them does.
    /// (Only where no other child of ours could be mistaken for one.)
    pub(crate) fn reaping(mut self) -> Self {
        self.tree.adopted = true;
        self
    }
}

impl GameWatch for Launched {
    fn exited(&mut self) -> Option<String> {
        let just_ended = self.ended.is_none();
        if just_ended {
            self.ended = match self.child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => return None,
                Err(e) => Some(format!("cannot wait for it: {e}")),
            };
        }
        if self.tree.adopted {
            reaper::reap_exited();
            if !reaper::our_children(procfs::root()).is_empty() {
                if just_ended {
                    let how = self.ended.as_deref().unwrap_or("?");
                    log::info!("the game's launcher exited ({how}); the tune goes on with what it left running");
                }
                return None;
            }
        }
        self.ended.clone()
    }

    fn cpu_secs(&mut self) -> Option<f64> {
        self.tree.cpu_secs()
    }
}

/// A game that runs already (`attach --pid`), not our child.
pub(crate) struct Attached {
    pid: u32,
    /// Readable once the process has exited; None where pidfd_open is not
    /// allowed (a seccomp filter): /proc is read instead.
    pidfd: Option<OwnedFd>,
    tree: TreeCpu,
}

impl Attached {
    pub(crate) fn new(pid: u32) -> Self {
        Self { pid, pidfd: pidfd_open(pid), tree: TreeCpu::new(pid) }
    }
}

impl GameWatch for Attached {
    fn exited(&mut self) -> Option<String> {
        let Some(fd) = &self.pidfd else { return procfs::exited(procfs::root(), self.pid) };
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(0) => None,
            Ok(_) => Some(format!("pid {} exited", self.pid)),
            Err(_) => procfs::exited(procfs::root(), self.pid),
        }
    }

    fn cpu_secs(&mut self) -> Option<f64> {
        self.tree.cpu_secs()
    }
}

/// A pidfd of `pid` (Linux 5.3 and later; every sched_ext kernel has it),
/// or None if the call fails.
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    let pid = nix::libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_pidfd_open, pid, 0) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just gave us this fd; nothing else owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    use std::os::unix::process::CommandExt;
    use std::process::Command;

    #[test]
    fn an_attached_games_exit_is_seen_through_its_pidfd() {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let mut game = Attached::new(child.id());
        assert!(game.pidfd.is_some(), "pidfd_open works on every kernel the tests run on");
        assert_eq!(game.exited(), None);
        assert!(game.cpu_secs().is_some_and(|s| s >= 0.0));
        child.kill().unwrap();
        // A zombie until reaped: exited all the same.
        let deadline = Instant::now() + Duration::from_secs(10);
        while game.exited().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(game.exited().as_deref(), Some(format!("pid {} exited", child.id()).as_str()));
        child.wait().unwrap();
        assert!(game.exited().is_some(), "and after it is reaped");
    }

    #[test]
    fn the_trees_cpu_time_counts_children_and_looks_them_up_again_after_a_while() {
        // A shell that burns CPU in a child of its own.
        let mut child = Command::new("sh").args(["-c", "sh -c 'while :; do :; done' & wait"]).process_group(0).spawn().unwrap();
        let mut tree = TreeCpu::new(child.id());
        std::thread::sleep(Duration::from_millis(300));
        // A fresh lookup: the busy grandchild is a member now.
        tree.max_age = Duration::ZERO;
        let first = tree.cpu_secs().unwrap();
        let members: Vec<u32> = tree.members.iter().map(|&(pid, _)| pid).collect();
        assert_eq!(members.len(), 2, "{members:?}");
        let table_at = tree.table_at;
        tree.max_age = game_tree::RESCAN;
        std::thread::sleep(Duration::from_millis(500));
        let later = tree.cpu_secs().unwrap();
        assert!(later > first, "the child's CPU time counts: {first} → {later}");
        assert!(tree.table_at >= table_at && tree.members.len() == 2, "kept between lookups");
        killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL).unwrap();
        child.wait().unwrap();
    }
}
