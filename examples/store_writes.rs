//! What recording a tune's trials costs: bytes written and time, when the
//! store is rewritten whole after every trial (the old way) and when trials
//! go to its journal between whole writes (`store::StoreWriter`).
//!
//!     cargo run --release --example store_writes -- STORE N
//!
//! STORE: a store whose trials are replayed, in a loop, as a tune of N
//! trials (tests/fixtures/store/attach-interleaved.json: the store of the
//! interleaved VM test, 3-s segments of a frame-loop game at 100 fps, ~2.7 KB
//! a trial). Writes into a temporary folder under /var/tmp (a disk, not a
//! tmpfs: every write is fsynced, as in a tune).

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use scx_gamer::store::{GameStore, StoreWriter, TrialRecord};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [store, n] = args.as_slice() else { anyhow::bail!("usage: store_writes STORE N") };
    let n: u32 = n.parse().with_context(|| format!("N: not a number: {n}"))?;
    let source = GameStore::load(Path::new(store))?;
    anyhow::ensure!(!source.trials.is_empty(), "{store} has no trials to replay");
    let trial = |id: u32| -> TrialRecord {
        let mut t = source.trials[(id as usize - 1) % source.trials.len()].clone();
        t.id = id;
        t
    };
    let empty = || {
        let mut s = source.clone();
        s.trials.clear();
        s
    };
    let dir = tempfile::Builder::new().prefix("store-writes.").tempdir_in("/var/tmp")?;
    println!("{n} trials replayed from {store}");

    // The old way: the whole store after every trial.
    let path = dir.path().join("whole.json");
    let (mut s, mut bytes, start) = (empty(), 0u64, Instant::now());
    for id in 1..=n {
        s.trials.push(trial(id));
        s.save(&path)?;
        bytes += std::fs::metadata(&path)?.len();
    }
    let whole = start.elapsed();
    println!("whole store after every trial: {:.1} MB written, {:.2} s", bytes as f64 / 1e6, whole.as_secs_f64());

    // Journal: count what reaches the disk (store and journal sizes as they
    // grow; a whole write shows as the store file changing).
    let path = dir.path().join("journal.json");
    let journal = scx_gamer::store::journal::journal_path(&path);
    let mut w = StoreWriter::new(path.clone());
    let (mut s, mut bytes, start) = (empty(), 0u64, Instant::now());
    w.save(&s)?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let (mut last_store, mut last_journal, mut whole_writes) = (size(&path), 0u64, 0u32);
    bytes += last_store;
    for id in 1..=n {
        w.push_trial(&mut s, trial(id))?;
        let (st, jn) = (size(&path), size(&journal));
        if jn > last_journal {
            bytes += jn - last_journal;
        } else {
            bytes += st;
            whole_writes += 1;
        }
        (last_store, last_journal) = (st, jn);
    }
    w.finish(&s)?;
    if size(&path) != last_store {
        bytes += size(&path);
        whole_writes += 1;
    }
    let appended = start.elapsed();
    println!(
        "journal between whole writes:  {:.1} MB written, {:.2} s ({whole_writes} whole writes)",
        bytes as f64 / 1e6,
        appended.as_secs_f64()
    );
    anyhow::ensure!(GameStore::load(&path)?.trials.len() == n as usize, "the journaled store lost trials");
    Ok(())
}
