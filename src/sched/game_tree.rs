//! Which processes are the game: the process trees under the game's root
//! pids, read from /proc (`crate::procfs`). The BPF side also adds
//! processes the game forks at fork time; this scan catches what was there
//! before attach and drops the processes that are gone.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// How often the game's process tree is looked up again in the process
/// table. The BPF side adds what the game forks at fork time; the lookup
/// catches the rest — processes there before a load and forks between two
/// schedulers (every load, switch and restart syncs at once) — and drops
/// exited ones. It reads every process on the machine: with it once a
/// second, scx_gamer's process used 76 ms of a vCPU per second in the TCG
/// VM and the frame-loop game's p99, alone on the machine, was 1.14×
/// EEVDF's; every 10 s, 17 ms/s and 0.98× (BENCHMARKS.md, "The idle cell's
/// cause, measured").
pub const RESCAN: Duration = Duration::from_secs(10);

/// Every process on the machine, (pid, ppid), as read at `read_at`.
#[derive(Clone, Debug)]
pub struct ProcessTable {
    pub read_at: Instant,
    pub procs: Arc<[(u32, u32)]>,
}

/// The process table, read again only when the last one this process read
/// is older than `max_age`: the scheduler's session (which processes BPF
/// treats as the game) and the tuner's game watch (the game's CPU time)
/// each want the game's tree every RESCAN, and one read of every process's
/// stat file serves both.
pub fn process_table(max_age: Duration) -> Result<ProcessTable> {
    static LAST: Mutex<Option<ProcessTable>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    recent_or_read(&mut last, max_age, || crate::procfs::scan_processes(crate::procfs::root()))
}

/// `last` if younger than `max_age`, else a table from `read` (kept in
/// `last`).
fn recent_or_read(
    last: &mut Option<ProcessTable>,
    max_age: Duration,
    read: impl FnOnce() -> Result<Vec<(u32, u32)>>,
) -> Result<ProcessTable> {
    if let Some(table) = last.as_ref().filter(|t| t.read_at.elapsed() <= max_age) {
        return Ok(table.clone());
    }
    let read_at = Instant::now();
    let table = ProcessTable { read_at, procs: read()?.into() };
    *last = Some(table.clone());
    Ok(table)
}

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

/// The roots of the game's tree: `pids`, and with `adopted` every child of
/// ours — we are the game's subreaper (`tune`: game::reaper), so what a
/// launcher that exited left running came to us, out of the launcher's
/// tree. (Our only children are then the game's.)
pub fn roots(pids: &[u32], adopted: bool, procs: &[(u32, u32)]) -> Vec<u32> {
    let mut roots = pids.to_vec();
    if adopted {
        roots.extend(crate::procfs::children_of(procs, std::process::id()));
    }
    roots
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
/// `alive` is a process table that may be seconds old (`process_table`):
/// a member missing from it may have been forked (and added by BPF) since,
/// so it goes only if `gone_now` confirms it — else a game exe forked by a
/// launcher that then exited left the set for good, missing from the
/// table and from the tree.
pub fn plan_update(
    current: &BTreeSet<u32>,
    tree: &BTreeSet<u32>,
    alive: &BTreeSet<u32>,
    gone_now: impl Fn(u32) -> bool,
) -> (Vec<u32>, Vec<u32>) {
    let add = tree.difference(current).copied().collect();
    let remove = current.iter().copied().filter(|&p| !alive.contains(&p) && gone_now(p)).collect();
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
        let (add, remove) = plan_update(&current, &tree, &alive, |_| true);
        assert_eq!(add, vec![11]);
        assert_eq!(remove, vec![40]); // 30 is alive (fork-inherited): kept
        // 40 missing from an old table but running now (forked since the
        // table was read): kept.
        let (_, remove) = plan_update(&current, &tree, &alive, |p| p != 40);
        assert!(remove.is_empty(), "{remove:?}");
    }

    #[test]
    fn a_young_table_is_shared_and_an_old_one_read_again() {
        let mut last = None;
        let mut reads = 0;
        let mut read = |max_age| {
            recent_or_read(&mut last, max_age, || {
                reads += 1;
                Ok(vec![(reads, 1)])
            })
            .unwrap()
        };
        let first = read(Duration::ZERO);
        let shared = read(Duration::from_secs(3600));
        assert_eq!((shared.read_at, &*shared.procs), (first.read_at, &[(1, 1)][..]));
        std::thread::sleep(Duration::from_millis(5));
        let fresh = read(Duration::from_millis(1));
        assert!(fresh.read_at > first.read_at);
        assert_eq!(&*fresh.procs, &[(2, 1)]);
        // A failed read keeps nothing.
        let err = recent_or_read(&mut None, Duration::ZERO, || anyhow::bail!("no /proc")).unwrap_err();
        assert_eq!(err.to_string(), "no /proc");
        // The real one sees this process.
        assert!(process_table(Duration::ZERO).unwrap().procs.iter().any(|&(pid, _)| pid == std::process::id()));
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
