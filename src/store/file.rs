//! `ml_data/<game key>.json`: reading, finding and atomically replacing a
//! game's store.
//!
//! Every write goes to a temp file in the same folder, is fsynced, then
//! renamed over the store: a crash or kill leaves the old store or the new
//! one, never half of one, so at most the running trial is lost. (A tune
//! appends its trials to the store's journal in between: `journal`.)

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::record::{GameStore, SCHEMA_VERSION};
use crate::game::identity::{GameId, sanitize_key};

/// The store file of `key` under `data_dir`.
pub fn store_path(data_dir: &Path, key: &str) -> PathBuf {
    data_dir.join(format!("{}.json", sanitize_key(key)))
}

impl GameStore {
    pub fn new(game: GameId) -> Self {
        Self {
            schema_version: SCHEMA_VERSION,
            game,
            sessions: Vec::new(),
            trials: Vec::new(),
            choice: None,
            unreadable_journal: Vec::new(),
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let version: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{} is not a scx_gamer store (bad JSON)", path.display()))?;
        match version.get("schema_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(SCHEMA_VERSION) => {}
            Some(v) => bail!("{}: store schema version {v}, this scx_gamer reads {SCHEMA_VERSION}", path.display()),
            None => bail!("{}: no schema_version: not a scx_gamer store", path.display()),
        }
        let mut store: Self =
            serde_json::from_value(version).with_context(|| format!("{}: not a valid scx_gamer store", path.display()))?;
        super::journal::read_into(&mut store, &super::journal::journal_path(path))?;
        Ok(store)
    }

    /// The store at `path`, or a new one for `game` when there is none yet.
    pub fn open_or_new(path: &Path, game: GameId) -> Result<Self> {
        if path.exists() { Self::load(path) } else { Ok(Self::new(game)) }
    }

    /// Replace the file at `path` with this store, atomically. Run as root
    /// (`sudo scx_gamer tune`) into a player's folder, the store and any
    /// folder created for it are written as the owner of the folder they
    /// are in (`fs_user`), not as root: they are the player's (the player's
    /// own `launch --tune` writes to them later), and a link planted there
    /// leads root nowhere.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = folder_of(path);
        create_dir_all_owned(dir).with_context(|| format!("creating {}", dir.display()))?;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("store.json");
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let write = || -> Result<()> {
            // Buffered: serde_json writes token by token, and unbuffered
            // that was a syscall each, thousands per save. On the VM's
            // virtio-fs under load a save took 7-45 s, growing with the
            // store (bench tune of 2026-12-01), while the game ran between
            // trials.
            let mut w = BufWriter::new(File::create(&tmp)?);
            serde_json::to_writer(&mut w, self)?;
            w.write_all(b"\n")?;
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            // The rename itself is durable once the folder is synced.
            File::open(dir)?.sync_all()?;
            // This store holds the journal's trials (`load` read them); the
            // lines it could not read are kept aside, not dropped.
            super::journal::keep_unreadable(path, &self.unreadable_journal)?;
            match fs::remove_file(super::journal::journal_path(path)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
            Ok(())
        };
        crate::fs_user::as_owner(owner_to_give(dir), || {
            write().map_err(|e| {
                let _ = fs::remove_file(&tmp);
                io::Error::other(format!("{e:#}"))
            })
        })
        .with_context(|| format!("writing {}", path.display()))
    }

    pub fn next_trial_id(&self) -> u32 {
        self.trials.iter().map(|t| t.id).max().unwrap_or(0) + 1
    }
}

/// The folder `path` is in ("." for a bare file name).
pub(super) fn folder_of(path: &Path) -> &Path {
    path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Whom root works as in `dir` (`fs_user::as_owner`): the owner of the
/// last component of its path, walking down from `/`, that is not root's —
/// a player's folder, or a link a player made (lstat: a link is its
/// maker's), since from there on the player decides where the path leads.
/// None when we are not root or the whole path is root's.
pub(super) fn owner_to_give(dir: &Path) -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    let dir = std::env::current_dir().ok()?.join(dir);
    let mut at = PathBuf::new();
    let mut owner = None;
    for part in dir.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.uid() != 0 => owner = Some((m.uid(), m.gid())),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    owner
}

/// `fs::create_dir_all`, each folder made as the owner of the folder it is
/// made in (`owner_to_give`, `fs_user`): in a player's folder, the
/// player's.
fn create_dir_all_owned(dir: &Path) -> io::Result<()> {
    let mut missing = Vec::new();
    let mut at = dir;
    while !at.as_os_str().is_empty() && !at.exists() {
        missing.push(at.to_path_buf());
        match at.parent() {
            Some(p) => at = p,
            None => break,
        }
    }
    for d in missing.iter().rev() {
        let owner = d.parent().and_then(owner_to_give);
        crate::fs_user::as_owner(owner, || match fs::create_dir(d) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(()),
        })?;
    }
    Ok(())
}

/// Every store under `data_dir` (ignores temp files).
pub fn list_stores(data_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let entries = match fs::read_dir(data_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e).with_context(|| format!("listing {}", data_dir.display())),
    };
    for entry in entries {
        let path = entry?.path();
        let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
        if !hidden && path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// The store for what the player typed as GAME: a store key, an exe name or
/// a Steam app id.
pub fn find_store(data_dir: &Path, game: &str) -> Result<PathBuf> {
    let direct = store_path(data_dir, game);
    if direct.is_file() {
        return Ok(direct);
    }
    let steam = store_path(data_dir, &format!("steam-{game}"));
    if steam.is_file() {
        return Ok(steam);
    }
    let stores = list_stores(data_dir)?;
    let mut known = Vec::new();
    // `glxgears` finds `glxgears.x86_64-linux-gnu` (the binary behind the
    // command's symlink), when only one store matches so.
    let mut prefixed = Vec::new();
    for path in &stores {
        if let Ok(store) = GameStore::load(path) {
            if store.game.exe == game || store.game.steam_app_id.as_deref() == Some(game) {
                return Ok(path.clone());
            }
            if store.game.exe.strip_prefix(game).is_some_and(|rest| rest.starts_with('.')) {
                prefixed.push(path.clone());
            }
            known.push(store.game.key);
        }
    }
    if let [only] = prefixed.as_slice() {
        return Ok(only.clone());
    }
    if known.is_empty() {
        bail!("no tuning data for '{game}' in {} (run `scx_gamer tune` first)", data_dir.display());
    }
    bail!("no tuning data for '{game}' in {}; games with data: {}", data_dir.display(), known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_root_a_store_in_a_players_folder_is_the_players() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let player = crate::testing::players_folder(tmp.path(), "home");
        let path = player.join(".local/share/scx_gamer/ml_data/game.json");
        let store = GameStore::new(GameId { key: "game".into(), exe: "game".into(), steam_app_id: None });
        store.save(&path).unwrap();
        for p in [path.as_path(), path.parent().unwrap(), &player.join(".local")] {
            assert_eq!(fs::metadata(p).unwrap().uid(), 65534, "{}", p.display());
        }
        // In root's own folder it stays root's.
        let own = tmp.path().join("root.json");
        store.save(&own).unwrap();
        assert_eq!(fs::metadata(&own).unwrap().uid(), 0);
    }

    #[test]
    fn as_root_a_link_planted_in_a_players_folder_leads_nowhere() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("shadow");
        fs::write(&victim, "root's").unwrap();
        fs::set_permissions(&victim, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let data = crate::testing::players_folder(tmp.path(), "ml_data");
        let path = data.join("game.json");
        let store = GameStore::new(GameId { key: "game".into(), exe: "game".into(), steam_app_id: None });
        // The temporary file's name is known in advance: linked to root's
        // file, root truncated it and gave it to the player.
        std::os::unix::fs::symlink(&victim, data.join(format!(".game.json.tmp.{}", std::process::id()))).unwrap();
        assert!(store.save(&path).is_err());
        // The journal, dangling: root created the file it named. (A store
        // written whole first, large enough that the next trial is
        // appended.)
        let mut big = store.clone();
        big.trials = (1..=5).map(|id| crate::store::TrialRecord { id, ..crate::testing::trial_record("s", 1) }).collect();
        let mut writer = super::super::journal::StoreWriter::new(path.clone());
        writer.save(&big).unwrap();
        let created = tmp.path().join("ld.so.preload");
        std::os::unix::fs::symlink(&created, data.join("game.json.trials")).unwrap();
        assert!(writer.push_trial(&mut big, crate::store::TrialRecord { id: 6, ..crate::testing::trial_record("s", 1) }).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "root's");
        assert_eq!(fs::metadata(&victim).unwrap().uid(), 0);
        assert!(!created.exists());
        // A player's own folder made a link to root's: written as the
        // player, so not at all.
        let link = tmp.path().join("player-link");
        let roots = tmp.path().join("roots");
        fs::create_dir(&roots).unwrap();
        std::os::unix::fs::symlink(&roots, &link).unwrap();
        std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).unwrap();
        assert!(store.save(&link.join("game.json")).is_err());
        assert_eq!(fs::read_dir(&roots).unwrap().count(), 0);
    }

    fn game() -> GameId {
        GameId { key: "glxgears".into(), exe: "glxgears".into(), steam_app_id: None }
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_path(dir.path(), "glxgears");
        let store = GameStore::new(game());
        store.save(&path).unwrap();
        assert_eq!(GameStore::load(&path).unwrap(), store);
        // No temp file left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        assert_eq!(find_store(dir.path(), "glxgears").unwrap(), path);
    }

    #[test]
    fn rejects_foreign_or_newer_files_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        fs::write(&path, "{\"schema_version\": 99}").unwrap();
        let err = GameStore::load(&path).unwrap_err().to_string();
        assert!(err.contains("x.json") && err.contains("schema version 99"), "{err}");
        fs::write(&path, "[1,2").unwrap();
        assert!(GameStore::load(&path).unwrap_err().to_string().contains("bad JSON"));
        fs::write(&path, "{}").unwrap();
        assert!(GameStore::load(&path).unwrap_err().to_string().contains("no schema_version"));
    }

    #[test]
    fn finds_by_exe_or_app_id_and_says_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let g = GameId { key: "steam-570".into(), exe: "dota2".into(), steam_app_id: Some("570".into()) };
        GameStore::new(g).save(&store_path(dir.path(), "steam-570")).unwrap();
        let want = store_path(dir.path(), "steam-570");
        assert_eq!(find_store(dir.path(), "570").unwrap(), want);
        assert_eq!(find_store(dir.path(), "dota2").unwrap(), want);
        let gears = GameId { key: "glxgears.x86_64-linux-gnu".into(), exe: "glxgears.x86_64-linux-gnu".into(), steam_app_id: None };
        GameStore::new(gears).save(&store_path(dir.path(), "glxgears.x86_64-linux-gnu")).unwrap();
        assert_eq!(find_store(dir.path(), "glxgears").unwrap(), store_path(dir.path(), "glxgears.x86_64-linux-gnu"));
        let err = find_store(dir.path(), "quake").unwrap_err().to_string();
        assert!(err.contains("no tuning data for 'quake'") && err.contains("steam-570"), "{err}");
        let err = find_store(&dir.path().join("none"), "quake").unwrap_err().to_string();
        assert!(err.contains("run `scx_gamer tune` first"), "{err}");
    }
}
