//! `<store>.trials`: the trials recorded since the store was last written
//! whole, one JSON line each.
//!
//! A tune records a trial every few seconds (interleaved segments are
//! trials), and writing the whole store after each one costs the size of
//! the store every time: O(trials²) bytes over a tune, all while the game
//! runs. So a trial is appended here (one fsynced line), and the store is
//! rewritten whole only once the journal has grown as large as the store
//! (then the journal goes): every byte is written a bounded number of
//! times, O(trials) in all. `GameStore::load` reads the journal's trials
//! after the store's, so every reader sees every recorded trial.
//!
//! A crash can leave a last line without its newline (a torn append): it is
//! not a recorded trial and is skipped. A line that is not a trial record
//! (damaged on disk) is skipped with a warning and kept aside in
//! `<journal>.bad` at the next whole write. A crash between a whole write and
//! the journal's removal leaves trials that are in both: those already in
//! the store (by id) are skipped.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::record::{GameStore, TrialRecord};

/// The journal of the store at `store`.
pub fn journal_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".trials");
    PathBuf::from(name)
}

/// Append the journal's trials at `path` (if there is one) to `store`.
pub(super) fn read_into(store: &mut GameStore, path: &Path) -> Result<()> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    // Only lines with their newline were fully written.
    let whole = match text.rfind('\n') {
        Some(end) => &text[..=end],
        None => "",
    };
    if whole.len() < text.len() {
        log::warn!("{}: its last line is incomplete (a write was cut short); that trial was not recorded", path.display());
    }
    for (i, line) in whole.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let rec: TrialRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            // One damaged line (a crash on a file system that leaves
            // garbage in a torn block) must not put every other trial out
            // of reach.
            Err(e) => {
                log::warn!(
                    "{}:{}: not a trial record ({e}): skipped; kept in {} at the next write",
                    path.display(),
                    i + 1,
                    bad_path(path).display()
                );
                if !store.unreadable_journal.iter().any(|l| l == line) {
                    store.unreadable_journal.push(line.to_string());
                }
                continue;
            }
        };
        if !store.trials.iter().any(|t| t.id == rec.id) {
            store.trials.push(rec);
        }
    }
    Ok(())
}

/// Where the unreadable lines of the journal at `journal` are kept.
fn bad_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".bad");
    PathBuf::from(name)
}

/// Append `lines` (journal lines that could not be read) to the store at
/// `store`'s `<journal>.bad`, durably, before its journal goes.
pub(super) fn keep_unreadable(store: &Path, lines: &[String]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let bad = bad_path(&journal_path(store));
    let mut text = lines.join("\n");
    text.push('\n');
    // (Called from inside the whole write, already as the folder's owner.)
    append(&bad, text.as_bytes(), None).with_context(|| format!("keeping unreadable journal lines in {}", bad.display()))
}

/// Records a store's trials: whole writes, with the trials in between
/// appended to its journal.
#[derive(Debug)]
pub struct StoreWriter {
    path: PathBuf,
    /// Size of the last whole write (0: none yet by this writer).
    whole_bytes: u64,
    /// Bytes appended to the journal since.
    journal_bytes: u64,
    /// Whom the journal is appended as (`file::owner_to_give` of the
    /// store's folder, found at the last whole write): a trial is appended
    /// every few seconds, and the folder's owner does not change.
    owner: Option<(u32, u32)>,
}

impl StoreWriter {
    pub fn new(path: PathBuf) -> Self {
        Self { path, whole_bytes: 0, journal_bytes: 0, owner: None }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `store` whole (and drop the journal, whose trials it holds).
    pub fn save(&mut self, store: &GameStore) -> Result<()> {
        store.save(&self.path)?;
        self.owner = super::file::owner_to_give(super::file::folder_of(&self.path));
        self.whole_bytes = fs::metadata(&self.path).map(|m| m.len()).unwrap_or(1).max(1);
        self.journal_bytes = 0;
        Ok(())
    }

    /// Record `rec` as `store`'s next trial: appended to the journal, or
    /// a whole write when there is none yet or the journal has grown as
    /// large as the store.
    pub fn push_trial(&mut self, store: &mut GameStore, rec: TrialRecord) -> Result<()> {
        let mut line = serde_json::to_vec(&rec).context("serialising a trial record")?;
        line.push(b'\n');
        store.trials.push(rec);
        if self.whole_bytes == 0 || self.journal_bytes + line.len() as u64 > self.whole_bytes {
            return self.save(store);
        }
        let journal = journal_path(&self.path);
        append(&journal, &line, self.owner).with_context(|| format!("appending a trial to {}", journal.display()))?;
        self.journal_bytes += line.len() as u64;
        Ok(())
    }

    /// Write the store whole if trials are only in its journal: the file
    /// a tune leaves holds all of them (for anyone who reads it directly).
    pub fn finish(&mut self, store: &GameStore) -> Result<()> {
        if self.journal_bytes > 0 { self.save(store) } else { Ok(()) }
    }
}

/// Append `line` durably, as `owner` (the folder's, `owner_to_give`): run
/// as root into a player's folder, the journal is the player's and a link
/// planted in its place leads root nowhere.
fn append(path: &Path, line: &[u8], owner: Option<(u32, u32)>) -> Result<()> {
    let dir = super::file::folder_of(path);
    crate::fs_user::as_owner(owner, || {
        let created = !path.exists();
        let mut f = OpenOptions::new().create(true).append(true).open(path)?;
        f.write_all(line)?;
        f.sync_data()?;
        if created {
            // The new file's name is durable once its folder is synced.
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::identity::GameId;
    use crate::store::record::{TrialKind, TrialStatus};

    fn store() -> GameStore {
        GameStore::new(GameId { key: "g".into(), exe: "g".into(), steam_app_id: None })
    }

    fn trial(id: u32) -> TrialRecord {
        let mut rec = crate::testing::trial_record("s", 1);
        (rec.id, rec.kind, rec.name) = (id, TrialKind::Config, format!("t{id}"));
        (rec.planned_secs, rec.measured_secs, rec.warmup_secs) = (3.0, 3.0, 1.0);
        assert!(matches!(rec.kind, TrialKind::Config) && rec.status == TrialStatus::Ok);
        rec
    }

    fn ids(s: &GameStore) -> Vec<u32> {
        s.trials.iter().map(|t| t.id).collect()
    }

    #[test]
    fn trials_go_to_the_journal_until_it_is_as_large_as_the_store_and_every_reader_sees_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.json");
        let mut s = store();
        let mut w = StoreWriter::new(path.clone());
        w.save(&s).unwrap();
        let (mut whole_writes, mut last_len) = (0, fs::metadata(&path).unwrap().len());
        for id in 1..=200 {
            w.push_trial(&mut s, trial(id)).unwrap();
            // Every trial recorded is read back, whatever file holds it.
            assert_eq!(ids(&GameStore::load(&path).unwrap()), (1..=id).collect::<Vec<_>>());
            let len = fs::metadata(&path).unwrap().len();
            if len != last_len {
                whole_writes += 1;
                last_len = len;
                assert!(!journal_path(&path).exists(), "a whole write drops the journal");
            }
        }
        // The store doubles between whole writes: a handful, not one per trial.
        assert!((3..=12).contains(&whole_writes), "{whole_writes} whole writes for 200 trials");
        assert!(journal_path(&path).exists());
        w.finish(&s).unwrap();
        assert!(!journal_path(&path).exists());
        let on_disk: GameStore = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(on_disk, s, "after finish the store file alone holds every trial");
    }

    #[test]
    fn as_root_the_journal_in_a_players_folder_is_the_players() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let data = crate::testing::players_folder(dir.path(), "ml_data");
        let path = data.join("g.json");
        let (mut s, mut w) = (store(), StoreWriter::new(path.clone()));
        w.save(&s).unwrap();
        // Trials go to the journal between whole writes; a whole write
        // drops it: stop at a trial that left one.
        let journal = journal_path(&path);
        for id in 1..=20 {
            w.push_trial(&mut s, trial(id)).unwrap();
            if journal.exists() {
                break;
            }
        }
        assert!(journal.exists(), "no journal after 20 trials");
        for p in [&path, &journal] {
            let m = fs::metadata(p).unwrap();
            assert_eq!((m.uid(), m.gid()), (65534, 65534), "{}", p.display());
        }
    }

    #[test]
    fn a_torn_last_line_trials_already_in_the_store_and_a_damaged_line_are_skipped_and_the_damaged_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.json");
        let mut s = store();
        s.trials.push(trial(1));
        s.save(&path).unwrap();
        let line = |id| serde_json::to_string(&trial(id)).unwrap();
        // Trial 1 again (a crash after the whole write, before the journal
        // went), trial 2, and half of trial 3.
        let torn = &line(3)[..20];
        fs::write(journal_path(&path), format!("{}\n{}\n{torn}", line(1), line(2))).unwrap();
        assert_eq!(ids(&GameStore::load(&path).unwrap()), [1, 2]);
        // A damaged line in the middle: skipped, the others read; the next
        // whole write keeps it aside in g.json.trials.bad.
        fs::write(journal_path(&path), format!("{}\n{torn}\n{}\n", line(2), line(4))).unwrap();
        let loaded = GameStore::load(&path).unwrap();
        assert_eq!(ids(&loaded), [1, 2, 4]);
        assert_eq!(loaded.unreadable_journal, [torn]);
        loaded.save(&path).unwrap();
        assert!(!journal_path(&path).exists());
        let bad = dir.path().join("g.json.trials.bad");
        assert_eq!(fs::read_to_string(&bad).unwrap(), format!("{torn}\n"));
        let again = GameStore::load(&path).unwrap();
        assert_eq!((ids(&again), again.unreadable_journal.len()), (vec![1, 2, 4], 0));
    }
}
