//! Which processes are the game: the process trees under the game's root
//! pids, read from /proc (`crate::procfs`). The BPF side also adds
//! processes the game forks at fork time; this scan catches what was there
//! before attach and drops the processes that are gone.

use std::collections::{BTreeSet, HashMap};

use anyhow::{Result, bail};

/// The roots that exist plus all their descendants.
pub fn process_tree(roots: &[u32], procs: &[(u32, u32)]) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(pid, ppid) in procs {
        children.entry(ppid).or_default().push(pid);
    }
    let alive: BTreeSet<u32> = procs.iter().map(|&(pid, _)| pid).collect();
    let mut tree = BTreeSet::new();
    let mut stack: Vec<u32> = roots.iter().copied().filter(|p| alive.contains(p)).collect();
    while let Some(pid) = stack.pop() {
        if tree.insert(pid)
            && let Some(kids) = children.get(&pid)
        {
            stack.extend(kids);
        }
    }
    tree
}

/// A pid given on the command line must name a running process.
pub fn check_pid(pid: u32) -> Result<()> {
    if pid == 0 {
        bail!("--game-pid 0 is not a process id");
    }
    if crate::procfs::stat(crate::procfs::root(), pid).is_none() {
        bail!("--game-pid {pid}: no such process");
    }
    Ok(())
}

/// What to change in the scheduler's game set: `add` the tree members it
/// lacks, `remove` the members whose process is gone. Members that are alive
/// but outside the tree (added by BPF at fork, reparented since) stay.
pub fn plan_update(current: &BTreeSet<u32>, tree: &BTreeSet<u32>, alive: &BTreeSet<u32>) -> (Vec<u32>, Vec<u32>) {
    let add = tree.difference(current).copied().collect();
    let remove = current.iter().copied().filter(|p| !alive.contains(p)).collect();
    (add, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_follows_children_and_skips_dead_roots() {
        // 1 -> 10 -> 11 -> 12, 1 -> 20; root 10 and a dead root 99.
        let procs = [(1, 0), (10, 1), (11, 10), (12, 11), (20, 1)];
        let tree = process_tree(&[10, 99], &procs);
        assert_eq!(tree.into_iter().collect::<Vec<_>>(), vec![10, 11, 12]);
    }

    #[test]
    fn update_adds_new_members_and_drops_dead_ones() {
        let current: BTreeSet<u32> = [10, 30, 40].into();
        let tree: BTreeSet<u32> = [10, 11].into();
        let alive: BTreeSet<u32> = [10, 11, 30].into();
        let (add, remove) = plan_update(&current, &tree, &alive);
        assert_eq!(add, vec![11]);
        assert_eq!(remove, vec![40]); // 30 is alive (fork-inherited): kept
    }

    #[test]
    fn check_pid_rejects_missing_processes() {
        assert!(check_pid(std::process::id()).is_ok());
        let err = check_pid(0).unwrap_err().to_string();
        assert!(err.contains("not a process id"), "{err}");
        let err = check_pid(u32::MAX - 1).unwrap_err().to_string();
        assert!(err.contains("no such process"), "{err}");
    }
}
