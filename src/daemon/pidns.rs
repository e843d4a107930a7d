//! The caller's pids in the daemon's pid namespace.
//!
//! A request names the game by the pid the caller sees. A `launch` in a pid
//! namespace of its own (Flatpak's Steam: `bwrap --unshare-pid`) sees other
//! pids than the daemon: its game's pid 23 is some unrelated process here
//! ("pid 23 belongs to uid 0"), or worse another process of the player's,
//! which would then be tuned as the game. The kernel gives the caller's
//! own pid in the daemon's namespace (SO_PEERCRED), and `/proc/<pid>/status`
//! lists every pid of a process from the outermost namespace in (`NSpid:`);
//! so the requested pid is looked up among the processes of the caller's
//! namespace, the caller's own children first.
//!
//! Pid reuse: the caller's namespace is read when it connects (its pid
//! names it then: it is waiting on that connection), not at each request,
//! when it might have gone and its pid been given to another process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::procfs;
use crate::sched::game_tree::process_tree;

/// A caller in a pid namespace other than the daemon's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerNs {
    /// The caller's pid here.
    peer: u32,
    /// Its pid namespace (the `ns/pid` link, e.g. "pid:[4026532291]").
    ns: PathBuf,
    /// How many pids a process of that namespace has (its `NSpid:`
    /// length): the caller's pid for a process is the one at depth - 1.
    depth: usize,
}

impl CallerNs {
    /// The namespace of the caller `peer` (its pid here), seen from
    /// `proc_root` by the daemon (`me`); None when it is the daemon's own:
    /// its pids are ours.
    pub fn of(proc_root: &Path, me: u32, peer: u32) -> Result<Option<CallerNs>, String> {
        let ours = procfs::pid_namespace(proc_root, me).map_err(|e| format!("reading the daemon's pid namespace: {e}"))?;
        let ns = procfs::pid_namespace(proc_root, peer).map_err(|e| format!("reading your pid namespace (pid {peer} here): {e}"))?;
        if ns == ours {
            return Ok(None);
        }
        let depth = procfs::namespace_pids(proc_root, peer).len();
        if depth < 2 {
            // A kernel before 4.1 (no NSpid), or one that is not nested in
            // ours: nothing says which of its pids is which here.
            return Err(format!(
                "you run in a pid namespace of your own ({}), and /proc does not say which process your pids name",
                ns.display()
            ));
        }
        Ok(Some(CallerNs { peer, ns, depth }))
    }

    /// The process the caller calls `requested`, by its pid here.
    pub fn pid(&self, proc_root: &Path, requested: u32) -> Result<u32, String> {
        let not_found = || {
            format!("no process with pid {requested} in your pid namespace (you run in one of your own; you are pid {} here)", self.peer)
        };
        if requested == 0 {
            return Err("pid 0 is not a process".into());
        }
        let procs = procfs::scan_processes(proc_root).map_err(|e| format!("{e:#}"))?;
        let parents: HashMap<u32, u32> = procs.iter().copied().collect();
        // The caller's children first (the game it started), then the rest.
        let mine = process_tree(&[self.peer], &procs);
        let others = procs.iter().map(|&(p, _)| p).filter(|p| !mine.contains(p));
        for pid in mine.iter().copied().chain(others) {
            let ids = procfs::namespace_pids(proc_root, pid);
            if ids.get(self.depth - 1) == Some(&requested) && self.sees(proc_root, pid, ids.len(), &parents) {
                return Ok(pid);
            }
        }
        Err(not_found())
    }

    /// Whether `pid` (with `depth` pids) is in the caller's namespace or
    /// one nested in it, not in another of the same depth (two Flatpak
    /// apps each have a pid 23): its nearest ancestor with the caller's
    /// depth (itself, if it has it) is in the caller's namespace. (A
    /// process's namespace is its parent's or one nested in it, so the
    /// depths only fall going up.)
    fn sees(&self, proc_root: &Path, pid: u32, depth: usize, parents: &HashMap<u32, u32>) -> bool {
        let (mut at, mut depth) = (pid, depth);
        while depth > self.depth {
            let Some(&parent) = parents.get(&at) else { return false };
            at = parent;
            depth = procfs::namespace_pids(proc_root, at).len();
        }
        depth == self.depth && procfs::pid_namespace(proc_root, at).is_ok_and(|ns| ns == self.ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process in a fake /proc: its stat (for the parent), its NSpid and
    /// its pid namespace link.
    fn process(root: &Path, pid: u32, ppid: u32, nspid: &[u32], ns: &str) {
        let dir = root.join(pid.to_string());
        std::fs::create_dir_all(dir.join("ns")).unwrap();
        std::fs::write(dir.join("stat"), format!("{pid} (p) S {ppid} 0 0 0 0 0 0 0 0 0 0 0")).unwrap();
        let ids: Vec<String> = nspid.iter().map(u32::to_string).collect();
        std::fs::write(dir.join("status"), format!("Name:\tp\nNSpid:\t{}\nUid:\t1000\t1000\t1000\t1000\n", ids.join("\t"))).unwrap();
        std::os::unix::fs::symlink(ns, dir.join("ns/pid")).unwrap();
    }

    #[test]
    fn a_callers_pid_is_found_in_its_own_namespace() {
        let proc_root = tempfile::tempdir().unwrap();
        let root = proc_root.path();
        let host = "pid:[1]";
        process(root, 1, 0, &[1], host);
        process(root, 10, 1, &[10], host); // the daemon
        process(root, 23, 1, &[23], host); // root's pid 23: not the game
        // Flatpak Steam: bwrap's pid 1 (100 here), launch (101, its pid 2),
        // the game (102, its pid 23), and inside the game's own sandbox a
        // nested namespace (103: 23's child, pid 5 in the game's, 1 in its own).
        process(root, 100, 1, &[100, 1], "pid:[7]");
        process(root, 101, 100, &[101, 2], "pid:[7]");
        process(root, 102, 101, &[102, 23], "pid:[7]");
        process(root, 103, 102, &[103, 5, 1], "pid:[8]");
        // Another app's namespace, with its own pid 23 and 5.
        process(root, 200, 1, &[200, 1], "pid:[9]");
        process(root, 201, 200, &[201, 23], "pid:[9]");
        process(root, 202, 200, &[202, 5], "pid:[9]");

        assert_eq!(CallerNs::of(root, 10, 23).unwrap(), None, "the daemon's own namespace: pids as they are");
        let caller = CallerNs::of(root, 10, 101).unwrap().unwrap();
        assert_eq!(caller.pid(root, 23), Ok(102));
        assert_eq!(caller.pid(root, 2), Ok(101));
        assert_eq!(caller.pid(root, 1), Ok(100), "not the nested namespace's pid 1, nor the host's");
        assert_eq!(caller.pid(root, 5), Ok(103), "nested deeper: by its pid in the caller's namespace");
        let err = caller.pid(root, 10).unwrap_err();
        assert_eq!(err, "no process with pid 10 in your pid namespace (you run in one of your own; you are pid 101 here)");
        assert!(caller.pid(root, 0).is_err());
        // The other app's pid 5 is not the caller's, even when the caller's
        // is gone.
        std::fs::remove_dir_all(root.join("103")).unwrap();
        assert!(caller.pid(root, 5).is_err());
        let other = CallerNs::of(root, 10, 201).unwrap().unwrap();
        assert_eq!((other.pid(root, 23), other.pid(root, 5)), (Ok(201), Ok(202)));

        // No NSpid (a kernel before 4.1): refused, not guessed.
        process(root, 300, 1, &[], "pid:[11]");
        std::fs::write(root.join("300/status"), "Name:\tp\n").unwrap();
        assert!(CallerNs::of(root, 10, 300).unwrap_err().contains("does not say"));
        // A caller gone before it could be read.
        assert!(CallerNs::of(root, 10, 999).unwrap_err().contains("pid 999 here"));
    }

    /// The real thing: a shell in a new pid namespace (`unshare --pid
    /// --fork`) starts a child and names it by its pid there.
    #[test]
    fn a_real_pid_namespace() {
        use std::io::BufRead;
        assert!(nix::unistd::geteuid().is_root(), "this test needs root (unshare --pid)");
        let mut unshare = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "sh", "-c", "sleep 30 & echo $$ $!; exec sleep 30"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(unshare.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let proc_root = Path::new("/proc");
        let procs = procfs::scan_processes(proc_root).unwrap();
        let shell = procs.iter().find(|&&(_, ppid)| ppid == unshare.id()).map(|&(p, _)| p).unwrap();
        /// The namespace's pid 1 killed (and with it all in it) however
        /// the test ends, then unshare reaped.
        struct Ended(u32, std::process::Child);
        impl Drop for Ended {
            fn drop(&mut self) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0 as i32), nix::sys::signal::Signal::SIGKILL);
                let _ = self.1.wait();
            }
        }
        let _ended = Ended(shell, unshare);
        let inside: Vec<u32> = line.split_whitespace().map(|n| n.parse().unwrap()).collect();
        assert_eq!(inside[0], 1, "the shell is pid 1 of its namespace: {line}");
        let me = std::process::id();
        let caller = CallerNs::of(proc_root, me, shell).unwrap().expect("another namespace");
        let child = caller.pid(proc_root, inside[1]).unwrap();
        assert_eq!(procfs::stat(proc_root, child).unwrap().ppid, shell);
        assert_eq!(procfs::namespace_pids(proc_root, child), vec![child, inside[1]]);
        assert_eq!(caller.pid(proc_root, 1), Ok(shell));
        assert!(caller.pid(proc_root, 4000).is_err());
        // Our own: none.
        assert_eq!(CallerNs::of(proc_root, me, me), Ok(None));
    }
}
