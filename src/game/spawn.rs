//! Starting the game as the player, never as root.
//!
//! The tuner runs as root (it loads a BPF scheduler), usually through sudo.
//! The game must not: it would write root-owned files into the player's home,
//! miss the player's session (audio, D-Bus, XDG_RUNTIME_DIR) and run
//! untrusted code with every privilege. So the child drops to the player's
//! uid, gid and supplementary groups before it execs the game.

use std::ffi::{CString, OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use nix::unistd::{Gid, Uid, User};

use super::caller_env;
use super::identity::{GameId, Program};
use super::{find_in_path, is_mangohud, launch_chain, same_file};
use crate::mangohud::config::ConfigFileSearch;
use crate::mangohud::env::game_env;

/// The config file MangoHud would read for `game`, started by `cmd` as
/// `user` with the environment `env` (the tuner's, which the game
/// inherits), if one exists: MANGOHUD_CONFIGFILE alone when set, else
/// `ConfigFileSearch`'s order in the user's config folder
/// (XDG_CONFIG_HOME, else ~/.config), the game's own folder,
/// /etc/MangoHud.conf and, for a Wine game, the file named after its
/// Windows program. The tuner carries
/// its settings over into the MANGOHUD_CONFIG it gives the game.
pub fn players_config_file(user: &GameUser, cmd: &[OsString], game: &GameId, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let program = Program::of_command(cmd, env);
    let chain = launch_chain(cmd);
    let (configfile, xdg) = (chain.var("MANGOHUD_CONFIGFILE", env), chain.var("XDG_CONFIG_HOME", env));
    let home = user.home.to_string_lossy();
    let (exe_name, exe_folder, wine_exe) = match &program {
        Program::Native(path) => (game.exe.as_str(), path.parent(), None),
        // MangoHud runs in the 64-bit preloader of today's Wine and Proton
        // (a 32-bit game's `wine-preloader.conf` is not looked for); the
        // preloader's folder is Wine's, not the game's: not searched.
        Program::Wine => ("wine64-preloader", None, Some(game.exe.as_str())),
        Program::Other => (game.exe.as_str(), None, None),
    };
    let search = ConfigFileSearch {
        configfile: configfile.as_deref(),
        xdg_config_home: xdg.as_deref(),
        home: Some(&home),
        exe_name,
        exe_folder,
        wine_exe,
    };
    search.find(Path::is_file)
}

/// How the tuner starts a game: `cmd` (MangoHud in its chain, see
/// `with_mangohud`) as it runs, and the variables to add to the
/// environment `env` it starts with. The player's MangoHud settings
/// survive and logging into `logs` is ours
/// (`mangohud::config::tuner_config`). Their settings are the ones the
/// game would have seen: a `MANGOHUD_CONFIG=…` (or `MANGOHUD_CONFIGFILE=…`)
/// set by an `env` in the command wins over `env`'s (and one it unsets
/// is not theirs). Each `env` in the command sets ours (MANGOHUD_CONFIG,
/// MANGOHUD) again after its own arguments: a Steam launch option
/// `scx_gamer launch -- env MANGOHUD_CONFIG=fps_limit=60 %command%` (or
/// `env -u MANGOHUD_CONFIG`, `env -i`) would otherwise replace or remove
/// ours on the way, and the game would log nothing for us.
pub fn game_launch(
    user: &GameUser,
    cmd: &[OsString],
    game: &GameId,
    env: &dyn Fn(&str) -> Option<String>,
    logs: &Path,
) -> (Vec<OsString>, Vec<(String, String)>) {
    let chain = launch_chain(cmd);
    // Read as the player (`fs_user`): it is their file, and as root a link
    // there to /etc/shadow would have put its lines into the game's
    // environment, which the player can read.
    let user_file = players_config_file(user, cmd, game, env).and_then(|p| {
        match crate::fs_user::as_owner(Some((user.uid, user.gid)), || crate::procfs::read_text(&p)) {
            Ok(text) => Some((text, p)),
            Err(e) => {
                log::warn!("your MangoHud config {} cannot be read ({e}); the game starts without its settings", p.display());
                None
            }
        }
    });
    let extra = game_env(chain.var("MANGOHUD_CONFIG", env).as_deref(), user_file.as_ref().map(|(t, p)| (p.as_path(), t.as_str())), logs);
    let mut cmd = cmd.to_vec();
    // Ours go last in each `env`'s own arguments: env takes the last
    // assignment, and they hold whatever that env unset (`-u`, `-i`).
    for &end in chain.env_ends.iter().rev() {
        cmd.splice(end..end, extra.iter().map(|(k, v)| OsString::from(format!("{k}={v}"))));
    }
    (cmd, extra)
}

/// The account the game runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GameUser {
    pub uid: u32,
    pub gid: u32,
    pub name: String,
    pub home: PathBuf,
}

const ROOT_FIX: &str = "run scx_gamer through sudo from your user account, or pass --user NAME";

impl GameUser {
    /// Who the game runs as: `explicit` (`--user NAME` or a uid) if given;
    /// else the sudo caller (SUDO_UID/SUDO_GID in `env`), else the pkexec
    /// caller (PKEXEC_UID); else the current user unless that is root. The
    /// game never runs as root.
    pub fn resolve(explicit: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Result<GameUser> {
        if let Some(who) = explicit {
            let user = lookup(who).with_context(|| format!("--user {who}"))?;
            if user.uid == 0 {
                bail!("--user {who}: the game is never run as root; name your own account");
            }
            return Ok(user);
        }
        for var in ["SUDO_UID", "PKEXEC_UID"] {
            let Some(text) = env(var) else { continue };
            let uid: u32 = text.trim().parse().with_context(|| format!("{var}={text:?} is not a uid"))?;
            if uid == 0 {
                bail!("{var}=0: you ran the tuner through {} as root, so the game would run as root; {ROOT_FIX}", var_tool(var));
            }
            let mut user = from_uid(uid).with_context(|| format!("{var}={text}"))?;
            if var == "SUDO_UID"
                && let Some(g) = env("SUDO_GID")
            {
                user.gid = g.trim().parse().with_context(|| format!("SUDO_GID={g:?} is not a gid"))?;
            }
            return Ok(user);
        }
        let me = nix::unistd::getuid().as_raw();
        if me == 0 {
            bail!("the tuner runs as root and would have to start the game as root: {ROOT_FIX}");
        }
        from_uid(me)
    }
}

fn var_tool(var: &str) -> &'static str {
    if var == "SUDO_UID" { "sudo" } else { "pkexec" }
}

/// A user by name, or by uid when `who` is all digits.
fn lookup(who: &str) -> Result<GameUser> {
    if !who.is_empty() && who.bytes().all(|b| b.is_ascii_digit()) {
        let uid: u32 = who.parse().with_context(|| format!("{who} is not a uid"))?;
        return from_uid(uid);
    }
    match User::from_name(who).with_context(|| format!("looking up user {who:?}"))? {
        Some(u) => Ok(game_user(u)),
        None => bail!("no user named {who:?} in the password database"),
    }
}

fn from_uid(uid: u32) -> Result<GameUser> {
    match User::from_uid(Uid::from_raw(uid)).with_context(|| format!("looking up uid {uid}"))? {
        Some(u) => Ok(game_user(u)),
        None => bail!("no user with uid {uid} in the password database"),
    }
}

fn game_user(u: User) -> GameUser {
    GameUser { uid: u.uid.as_raw(), gid: u.gid.as_raw(), name: u.name, home: u.dir }
}

/// The game's command line with MangoHud in its launch chain: kept as is when
/// a wrapper already is `mangohud`, else MangoHud's launcher (found on
/// `path_env`) is put in front.
pub fn with_mangohud(cmd: &[OsString], path_env: Option<&OsStr>) -> Result<Vec<OsString>> {
    if cmd.is_empty() {
        bail!("no game command given: put it after `--`, e.g. `scx_gamer tune -- mangohud ./game`");
    }
    let chain = launch_chain(cmd);
    if let Some(problem) = &chain.problem {
        bail!("the game command ends inside a wrapper: {problem}");
    }
    if chain.wrappers.iter().any(|&i| is_mangohud(&cmd[i])) {
        return Ok(cmd.to_vec());
    }
    let Some(mangohud) = find_in_path(OsStr::new("mangohud"), path_env) else {
        bail!("MangoHud is not installed: install it (Debian: apt install mangohud) or put `mangohud` before the game command");
    };
    let mut out = Vec::with_capacity(cmd.len() + 1);
    out.push(mangohud.into_os_string());
    out.extend(cmd.iter().cloned());
    Ok(out)
}

/// The session bus address for a game started as `uid` whose runtime folder
/// is `runtime_dir`, when what it inherits (`inherited`) will not do: sudo
/// drops DBUS_SESSION_BUS_ADDRESS, and root's own names root's bus, so the
/// game found no session bus (portals, screensaver inhibition, Steam's
/// overlay helpers). The player's systemd user bus,
/// `unix:path=<runtime_dir>/bus`, when it exists; None: leave it as it is.
fn session_bus(inherited: Option<&str>, runtime_dir: &Path, uid: u32) -> Option<String> {
    let theirs = format!("/run/user/{uid}/");
    let usable = inherited.is_some_and(|a| !a.contains("/run/user/") || a.contains(&theirs));
    let bus = runtime_dir.join("bus");
    (!usable && std::fs::symlink_metadata(&bus).is_ok()).then(|| format!("unix:path={}", bus.display()))
}

/// Start `cmd` as `user`, with our environment (through sudo, with what sudo
/// removed of the player's put back: `caller_env`) plus `extra_env`, HOME, USER
/// and LOGNAME of the user (sudo may have left root's) and XDG_RUNTIME_DIR
/// `/run/user/<uid>` when that folder exists and the variable is unset (or
/// names another user's folder), and the player's session bus when the
/// inherited one is missing or another user's (`session_bus`). The standard
/// streams and the process group are ours, so the terminal's Ctrl-C reaches
/// the game as it would without the tuner.
pub fn spawn_as(user: &GameUser, cmd: &[OsString], extra_env: &[(String, String)]) -> Result<Child> {
    let Some(program) = cmd.first() else { bail!("no game command to start") };
    let shown = program.to_string_lossy();
    command_as(user, cmd, extra_env)?.spawn().with_context(|| format!("starting {shown} as {} (uid {})", user.name, user.uid))
}

/// The command `spawn_as` starts, for a caller that adds to it before it
/// starts it (`launch` sets the game's signal mask).
pub fn command_as(user: &GameUser, cmd: &[OsString], extra_env: &[(String, String)]) -> Result<Command> {
    let Some(program) = cmd.first() else { bail!("no game command to start") };
    // Everything that allocates or reads the group database happens here,
    // before fork: between fork and exec only system calls are safe.
    let cname = CString::new(user.name.as_bytes()).with_context(|| format!("user name {:?}", user.name))?;
    let gid = Gid::from_raw(user.gid);
    let uid = Uid::from_raw(user.uid);
    let groups = nix::unistd::getgrouplist(&cname, gid)
        .with_context(|| format!("reading the groups of {} (needed for video, input, audio access)", user.name))?;

    let mut command = Command::new(program);
    command.args(&cmd[1..]);
    // Through sudo: the player's own environment, which sudo reset
    // (caller_env); ours and the tuner's settings go on top.
    let caller = caller_env::through_sudo();
    if let Some(caller) = caller {
        command.envs(caller.for_game(&|k| std::env::var_os(k)));
    }
    let inherited = |k: &str| std::env::var_os(k).or_else(|| caller?.var_os(k).map(OsStr::to_owned));
    command.envs(extra_env.iter().map(|(k, v)| (k, v)));
    command.env("HOME", &user.home).env("USER", &user.name).env("LOGNAME", &user.name);
    let runtime_dir = Path::new("/run/user").join(user.uid.to_string());
    // Unset, or root's own (`su -`, a root login): the game would look for
    // its audio and Wayland sockets in a folder it cannot enter.
    let inherited_runtime = inherited("XDG_RUNTIME_DIR");
    let someone_elses = inherited_runtime
        .as_deref()
        .and_then(|d| Path::new(d).strip_prefix("/run/user").ok())
        .is_some_and(|n| n.as_os_str() != OsStr::new(&user.uid.to_string()));
    let runtime_set = (inherited_runtime.is_some() && !someone_elses) || extra_env.iter().any(|(k, _)| k == "XDG_RUNTIME_DIR");
    if !runtime_set && runtime_dir.is_dir() {
        command.env("XDG_RUNTIME_DIR", &runtime_dir);
    } else if !runtime_set && someone_elses {
        command.env_remove("XDG_RUNTIME_DIR");
    }
    let bus_set = extra_env.iter().any(|(k, _)| k == "DBUS_SESSION_BUS_ADDRESS");
    let inherited_bus = inherited("DBUS_SESSION_BUS_ADDRESS").and_then(|a| a.into_string().ok());
    if !bus_set && let Some(bus) = session_bus(inherited_bus.as_deref(), &runtime_dir, user.uid) {
        command.env("DBUS_SESSION_BUS_ADDRESS", bus);
    }
    // SAFETY: the closure only makes the setgroups/setgid/setuid system
    // calls on data prepared above; it allocates nothing and takes no lock.
    unsafe {
        command.pre_exec(move || {
            // Supplementary groups first (needs root), then the group, then
            // the user: after setuid nothing else can be changed.
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            Ok(())
        });
    }
    Ok(command)
}

/// Stop a game we started: SIGTERM, up to `grace` to exit, then SIGKILL; the
/// process is reaped. Returns how it ended. Gives up with an error when even
/// SIGKILL does not end it within a few seconds (a process stuck in the
/// kernel) rather than hang.
pub fn stop(child: &mut Child, grace: Duration) -> Result<ExitStatus> {
    let pid = child.id();
    if let Some(status) = child.try_wait().with_context(|| format!("checking game process {pid}"))? {
        return Ok(status);
    }
    let target = nix::unistd::Pid::from_raw(pid as i32);
    match nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
        Err(e) => bail!("sending SIGTERM to game process {pid}: {e}"),
    }
    if let Some(status) = wait_for(child, grace)? {
        return Ok(status);
    }
    log::info!("game process {pid} did not exit {grace:?} after SIGTERM: killing it");
    // kill() on a child that has exited but is not yet reaped is fine.
    child.kill().with_context(|| format!("sending SIGKILL to game process {pid}"))?;
    match wait_for(child, Duration::from_secs(5))? {
        Some(status) => Ok(status),
        None => bail!("game process {pid} is still there 5 s after SIGKILL (stuck in the kernel?)"),
    }
}

/// Poll until `child` exits or `limit` passes.
fn wait_for(child: &mut Child, limit: Duration) -> Result<Option<ExitStatus>> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().with_context(|| format!("waiting for game process {}", child.id()))? {
            return Ok(Some(status));
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(20)));
    }
}

/// A private folder for the game's MangoHud logs: the game user can write
/// it, nobody else (but root) can read it, and it goes away on drop unless
/// kept.
#[derive(Debug)]
pub struct LogFolder {
    path: Option<PathBuf>,
}

impl LogFolder {
    /// `parent/scx_gamer-logs.XXXXXX`, mode 0700, owned by `user` (when we
    /// are root; else it is ours, and so the game's too).
    pub fn create(parent: &Path, user: &GameUser) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let template = parent.join("scx_gamer-logs.XXXXXX");
        // mkdtemp picks a fresh name and creates it atomically with mode
        // 0700, so nobody can slip a folder or link in ahead of us even in a
        // world-writable /var/tmp.
        let path = nix::unistd::mkdtemp(&template).with_context(|| format!("creating a log folder in {}", parent.display()))?;
        let folder = LogFolder { path: Some(path.clone()) };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("setting mode 0700 on {}", path.display()))?;
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::lchown(&path, Some(user.uid), Some(user.gid))
                .with_context(|| format!("giving {} to {} (uid {})", path.display(), user.name, user.uid))?;
        }
        Ok(folder)
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Keep the folder (and its logs) after we are done; returns its path.
    pub fn keep(mut self) -> PathBuf {
        self.path.take().unwrap_or_default()
    }
}

/// Where we read the log folder `ours` that game process `pid` writes into.
/// A game sharing our files sees it where we do. A game in a root of its
/// own (a chroot, a container with its own /tmp) does not: it writes into
/// the same path in its root, so the folder is made there (mode 0700, the
/// player's) and read through `/proc/<pid>/root`. Fails, naming what to
/// change, when it cannot be made there.
///
/// The game owns its root: each step below `/proc/<pid>/root` is opened
/// without following symbolic links, so a link the game planted cannot
/// make us create a folder outside it. (Nothing is removed
/// there afterwards, for the same reason; the container's /tmp goes with
/// it.)
pub fn log_folder_for_game(proc_root: &Path, pid: u32, ours: &Path, user: &GameUser) -> Result<PathBuf> {
    let root = proc_root.join(pid.to_string()).join("root");
    let relative = ours.strip_prefix("/").unwrap_or(ours);
    let inside = root.join(relative);
    // Gone already (its exit is noticed and told elsewhere), or the same
    // folder: ours.
    if std::fs::metadata(&root).is_err() || same_file(&inside, ours) {
        return Ok(ours.to_path_buf());
    }
    // (Asked again while the game runs: said once, when made.)
    let made_before = std::fs::symlink_metadata(&inside).is_ok();
    make_in_root(&root, relative, user).with_context(|| {
        format!(
            "the game (pid {pid}) runs in a root of its own, which does not show the log folder {} and where it cannot be made; \
             let the game's container see {} (Steam's pressure-vessel: PRESSURE_VESSEL_FILESYSTEMS_RW={}), \
             or start the game yourself and use `scx_gamer attach --pid`",
            ours.display(),
            ours.display(),
            ours.display()
        )
    })?;
    if !made_before {
        log::info!("the game runs in a root of its own: its MangoHud logs into {} there", ours.display());
    }
    Ok(inside)
}

/// mkdir `root/relative` (its parent must exist), component by component
/// with O_NOFOLLOW, mode 0700, as `user` when we are root: a container's
/// files may belong to a user namespace in which root is no one (bubblewrap
/// run by the player: mkdir as root fails with EOVERFLOW), what is made is
/// then the player's, and we can make nothing the player could not.
fn make_in_root(root: &Path, relative: &Path, user: &GameUser) -> Result<()> {
    use nix::fcntl::{OFlag, openat};
    use nix::sys::stat::{Mode, mkdirat};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let Some(name) = relative.file_name() else { bail!("no folder name in {}", relative.display()) };
    let open = |at: Option<&OwnedFd>, path: &Path, flags: OFlag| -> Result<OwnedFd> {
        let fd = openat(at.map(|f| f.as_raw_fd()), path, flags | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .with_context(|| format!("opening {}", path.display()))?;
        // SAFETY: openat just returned this descriptor; nothing else owns it.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    };
    // /proc/<pid>/root itself is a link to follow (it is the game's root),
    // opened as who we are.
    let top = open(None, root, OFlag::empty())?;
    let below = || -> Result<()> {
        let mut dir = top.try_clone()?;
        for part in relative.parent().into_iter().flat_map(Path::components) {
            dir = open(Some(&dir), Path::new(part.as_os_str()), OFlag::O_NOFOLLOW)?;
        }
        match mkdirat(Some(dir.as_raw_fd()), name, Mode::S_IRWXU) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("creating {}", relative.display())),
        }
        // A folder, not a link (EEXIST above may be anything the game made).
        open(Some(&dir), Path::new(name), OFlag::O_NOFOLLOW).map(drop)
    };
    crate::fs_user::as_owner(Some((user.uid, user.gid)), || below().map_err(|e| std::io::Error::other(format!("{e:#}"))))?;
    Ok(())
}

impl Drop for LogFolder {
    fn drop(&mut self) {
        if let Some(path) = self.path.take()
            && let Err(e) = std::fs::remove_dir_all(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            log::warn!("could not remove log folder {}: {e}", path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::test_env::env_of;
    use std::io::{BufRead, BufReader};
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::process::Stdio;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    fn am_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    #[test]
    fn finds_the_players_mangohud_config_file_where_mangohud_would() {
        crate::testing::assert_no_system_mangohud_conf();
        let home = tempfile::tempdir().unwrap();
        let user = GameUser { uid: 1000, gid: 1000, name: "p".into(), home: home.path().to_path_buf() };
        let dir = home.path().join(".config/MangoHud");
        let folder = home.path().join("games/g");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::create_dir_all(&folder).unwrap();
        let exe = folder.join("game");
        std::fs::write(&exe, "").unwrap();
        let game = |cmd: &[OsString]| GameId::from_command(cmd, &|_| None);
        let find = |cmd: &[&str], vars: &[(&str, &str)]| {
            let cmd: Vec<OsString> = cmd.iter().map(OsString::from).collect();
            let env = env_of(vars);
            players_config_file(&user, &cmd, &game(&cmd), &env)
        };
        let native = [exe.to_str().unwrap()];
        assert_eq!(find(&native, &[]), None);
        let write = |p: &Path| std::fs::write(p, "fps_limit=60\n").unwrap();
        write(&dir.join("MangoHud.conf"));
        assert_eq!(find(&native, &[]), Some(dir.join("MangoHud.conf")));
        write(&dir.join("game.conf"));
        assert_eq!(find(&native, &[]), Some(dir.join("game.conf")));
        // The game's own folder comes before the per-game file; a wrapper
        // in front changes nothing.
        write(&folder.join("MangoHud.conf"));
        assert_eq!(find(&native, &[]), Some(folder.join("MangoHud.conf")));
        assert_eq!(find(&["mangohud", exe.to_str().unwrap()], &[]), Some(folder.join("MangoHud.conf")));
        // A Wine game: its Windows program's file first; never game.conf's
        // neighbour in the game folder (MangoHud runs in Wine's preloader).
        let wine = ["wine", "C:\\Games\\game.exe"];
        assert_eq!(find(&wine, &[]), Some(dir.join("MangoHud.conf")));
        write(&dir.join("wine-game.conf"));
        assert_eq!(find(&wine, &[]), Some(dir.join("wine-game.conf")));
        // MANGOHUD_CONFIGFILE: that file alone (none if it does not exist).
        let own = home.path().join("mine.conf");
        let configfile = [("MANGOHUD_CONFIGFILE", own.to_str().unwrap())];
        assert_eq!(find(&native, &configfile), None);
        write(&own);
        assert_eq!(find(&native, &configfile), Some(own.clone()));
        // A set XDG_CONFIG_HOME is where the config folder is.
        let xdg = home.path().join("xdg");
        assert_eq!(find(&["game"], &[("XDG_CONFIG_HOME", xdg.to_str().unwrap())]), None);
    }

    #[test]
    fn the_launch_commands_own_mangohud_config_is_the_players_and_carries_ours() {
        let home = tempfile::tempdir().unwrap();
        let user = GameUser { uid: 1000, gid: 1000, name: "p".into(), home: home.path().to_path_buf() };
        let logs = Path::new("/run/logs");
        let launch = |cmd: &[&str], vars: &[(&str, &str)]| {
            let cmd = os(cmd);
            game_launch(&user, &cmd, &GameId::from_command(&cmd, &|_| None), &env_of(vars), logs)
        };
        let config = |extra: &[(String, String)]| extra.iter().find(|(k, _)| k == "MANGOHUD_CONFIG").unwrap().1.clone();
        let outer = [("MANGOHUD_CONFIG", "fps_limit=30")];

        // No `env` in the command: it runs as given, the outer settings kept.
        let (cmd, extra) = launch(&["mangohud", "game"], &outer);
        assert_eq!(cmd, os(&["mangohud", "game"]));
        let ours = config(&extra);
        assert!(ours.contains("fps_limit=30") && ours.contains("output_folder=/run/logs"), "{ours}");

        // `env MANGOHUD_CONFIG=…` in the command (a Steam launch option):
        // its settings are the player's, and it carries ours to the game.
        let (cmd, extra) = launch(&["env", "A=1", "MANGOHUD_CONFIG=fps_limit=60:no_display", "MANGOHUD=0", "mangohud", "game"], &outer);
        let ours = config(&extra);
        assert!(ours.contains("fps_limit=60") && !ours.contains("fps_limit=30"), "{ours}");
        assert!(ours.contains("output_folder=/run/logs") && ours.contains("control=mangohud-%p"), "{ours}");
        assert!(ours.contains("alpha=0") && !ours.contains("no_display"), "hidden, yet logging: {ours}");
        let set = format!("MANGOHUD_CONFIG={ours}");
        let theirs = ["env", "A=1", "MANGOHUD_CONFIG=fps_limit=60:no_display", "MANGOHUD=0"];
        assert_eq!(cmd, os(&[&theirs[..], &["MANGOHUD=1", &set, "mangohud", "game"]].concat()), "env takes the last");

        // An `env` that unsets it or clears the environment: not the
        // player's setting, and ours set after it; every env in the chain.
        let (cmd, extra) = launch(&["env", "-u", "MANGOHUD_CONFIG", "env", "-i", "--", "mangohud", "game"], &outer);
        let ours = config(&extra);
        assert!(!ours.contains("fps_limit"), "{ours}");
        let set = format!("MANGOHUD_CONFIG={ours}");
        let want = ["env", "-u", "MANGOHUD_CONFIG", "MANGOHUD=1", &set, "env", "-i", "MANGOHUD=1", &set, "--", "mangohud", "game"];
        assert_eq!(cmd, os(&want));

        // `env MANGOHUD_CONFIGFILE=…`: that file's settings are the player's.
        let file = home.path().join("mine.conf");
        // (with a comment in Latin-1, "für" with ü as one byte: the file counts)
        std::fs::write(&file, b"# f\xfcr mich\nfps_limit=90\nposition=top-right\n").unwrap();
        let set = format!("MANGOHUD_CONFIGFILE={}", file.display());
        let (cmd, extra) = launch(&["env", &set, "mangohud", "game"], &[]);
        let ours = config(&extra);
        assert!(ours.contains("fps_limit=90") && ours.contains("position=top-right"), "{ours}");
        let ours = format!("MANGOHUD_CONFIG={ours}");
        assert_eq!(
            cmd,
            os(&["env", &set, "MANGOHUD=1", &ours, "mangohud", "game"]),
            "the file's setting stays (MANGOHUD_CONFIG wins over files)"
        );
    }

    #[test]
    fn the_game_gets_the_players_session_bus_when_it_inherits_none_or_roots() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path();
        // No bus socket: nothing to give.
        assert_eq!(session_bus(None, runtime, 1000), None);
        std::os::unix::net::UnixListener::bind(runtime.join("bus")).unwrap();
        let theirs = format!("unix:path={}/bus", runtime.display());
        assert_eq!(session_bus(None, runtime, 1000), Some(theirs.clone()), "sudo dropped it");
        assert_eq!(session_bus(Some("unix:path=/run/user/0/bus"), runtime, 1000), Some(theirs), "root's");
        // Their own, or one not under /run/user (a dbus-launch address): kept.
        assert_eq!(session_bus(Some("unix:path=/run/user/1000/bus"), runtime, 1000), None);
        assert_eq!(session_bus(Some("unix:abstract=/tmp/dbus-x"), runtime, 1000), None);
    }

    #[test]
    fn the_players_mangohud_config_is_read_as_the_player() {
        let tmp = tempfile::tempdir().unwrap();
        let home = crate::testing::players_folder(tmp.path(), "home");
        let secret = tmp.path().join("shadow");
        std::fs::write(&secret, "root:secret_hash\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
        let conf = home.join(".config/MangoHud/MangoHud.conf");
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        let user = GameUser { uid: 65534, gid: 65534, name: "nobody".into(), home: home.clone() };
        let cmd = os(&["mangohud", "game"]);
        let config = |conf_text: Option<&str>| {
            let _ = std::fs::remove_file(&conf);
            match conf_text {
                Some(t) => std::fs::write(&conf, t).unwrap(),
                None => std::os::unix::fs::symlink(&secret, &conf).unwrap(),
            }
            let (_, extra) = game_launch(&user, &cmd, &GameId::from_command(&cmd, &|_| None), &env_of(&[]), Path::new("/run/logs"));
            extra.into_iter().find(|(k, _)| k == "MANGOHUD_CONFIG").unwrap().1
        };
        // The player's own file: carried over.
        assert!(config(Some("fps_limit=60\n")).starts_with("fps_limit=60,"));
        // A link to a file only root may read: not read (as root, its lines
        // landed in the game's environment).
        let c = config(None);
        assert!(!c.contains("secret"), "{c}");
    }

    #[test]
    fn an_env_option_missing_its_value_is_named_not_a_panic() {
        // `launch --tune -- env -C`: env's -C takes the next argument, and
        // there is none; the end of env's own arguments lay past the end
        // of the command and inserting ours there panicked.
        let user = GameUser { uid: 1000, gid: 1000, name: "p".into(), home: PathBuf::from("/nonexistent") };
        for opt in ["-C", "--chdir", "-S", "--split-string"] {
            let cmd = os(&["mangohud", "env", opt]);
            let (out, extra) = game_launch(&user, &cmd, &GameId::from_command(&cmd, &|_| None), &env_of(&[]), Path::new("/run/logs"));
            let config = extra.iter().find(|(k, _)| k == "MANGOHUD_CONFIG").unwrap();
            let config = OsString::from(format!("MANGOHUD_CONFIG={}", config.1));
            assert_eq!(out, [&cmd[..], &[OsString::from("MANGOHUD=1"), config]].concat(), "{opt}");
            let err = with_mangohud(&os(&["env", opt]), None).unwrap_err().to_string();
            let what = if opt.contains('C') || opt.contains("chdir") { "a directory" } else { "a string" };
            assert_eq!(err, format!("the game command ends inside a wrapper: env {opt} needs {what} after it"), "{opt}");
        }
    }

    #[test]
    fn the_sudo_caller_plays() {
        let user = GameUser::resolve(None, &env_of(&[("SUDO_UID", "65534"), ("SUDO_GID", "65534")])).unwrap();
        assert_eq!((user.uid, user.gid, user.name.as_str()), (65534, 65534, "nobody"));
        assert_eq!(user.home, Path::new("/nonexistent"));
        // Without SUDO_GID the passwd group.
        let user = GameUser::resolve(None, &env_of(&[("SUDO_UID", "65534")])).unwrap();
        assert_eq!(user.gid, 65534);
    }

    #[test]
    fn an_explicit_user_wins() {
        let env = env_of(&[("SUDO_UID", "1")]);
        assert_eq!(GameUser::resolve(Some("nobody"), &env).unwrap().uid, 65534);
        assert_eq!(GameUser::resolve(Some("65534"), &env).unwrap().name, "nobody");
    }

    #[test]
    fn root_never_plays() {
        let err = GameUser::resolve(Some("root"), &env_of(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("never run as root"), "{err:#}");
        let err = GameUser::resolve(Some("0"), &env_of(&[])).unwrap_err();
        assert!(format!("{err:#}").contains("never run as root"), "{err:#}");
        let err = GameUser::resolve(None, &env_of(&[("SUDO_UID", "0")])).unwrap_err();
        assert!(format!("{err:#}").contains("--user NAME"), "{err:#}");
        if am_root() {
            let err = GameUser::resolve(None, &env_of(&[])).unwrap_err();
            assert!(format!("{err:#}").contains("run scx_gamer through sudo from your user account, or pass --user NAME"));
        }
    }

    #[test]
    fn bad_users_are_named() {
        let err = format!("{:#}", GameUser::resolve(None, &env_of(&[("SUDO_UID", "abc")])).unwrap_err());
        assert!(err.contains("SUDO_UID=\"abc\""), "{err}");
        let err = format!("{:#}", GameUser::resolve(None, &env_of(&[("SUDO_UID", "65534"), ("SUDO_GID", "x")])).unwrap_err());
        assert!(err.contains("SUDO_GID=\"x\""), "{err}");
        let err = format!("{:#}", GameUser::resolve(Some("no-such-player-xyz"), &env_of(&[])).unwrap_err());
        assert!(err.contains("no-such-player-xyz"), "{err}");
        let err = format!("{:#}", GameUser::resolve(None, &env_of(&[("SUDO_UID", "3999999")])).unwrap_err());
        assert!(err.contains("uid 3999999"), "{err}");
    }

    #[test]
    fn mangohud_kept_when_already_in_the_chain() {
        let cmd = os(&["gamemoderun", "/usr/bin/mangohud", "./game"]);
        assert_eq!(with_mangohud(&cmd, None).unwrap(), cmd);
        let cmd = os(&["gamescope", "-f", "--", "mangohud", "--dlsym", "./game"]);
        assert_eq!(with_mangohud(&cmd, None).unwrap(), cmd);
    }

    #[test]
    fn mangohud_put_in_front_or_asked_for() {
        let bin = tempfile::tempdir().unwrap();
        let launcher = bin.path().join("mangohud");
        std::fs::write(&launcher, "#!/bin/sh\nexec \"$@\"\n").unwrap();
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths(["/nonexistent", bin.path().to_str().unwrap()]).unwrap();
        let cmd = os(&["gamemoderun", "./game", "mangohud"]); // an argument, not a wrapper
        let out = with_mangohud(&cmd, Some(&path)).unwrap();
        assert_eq!(out[0], launcher.as_os_str());
        assert_eq!(&out[1..], &cmd[..]);

        let err = with_mangohud(&cmd, Some(OsStr::new("/nonexistent"))).unwrap_err().to_string();
        assert!(err.starts_with("MangoHud is not installed: install it (Debian: apt install mangohud)"), "{err}");
        assert!(with_mangohud(&[], None).is_err());
    }

    /// A parent folder the game user can walk into.
    fn open_parent() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        dir
    }

    #[test]
    fn log_folder_is_private_to_the_player() {
        let parent = open_parent();
        let nobody = GameUser::resolve(Some("nobody"), &env_of(&[])).unwrap();
        let folder = LogFolder::create(parent.path(), &nobody).unwrap();
        let path = folder.path().to_path_buf();
        assert!(path.file_name().unwrap().to_str().unwrap().starts_with("scx_gamer-logs."));
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o700);
        if am_root() {
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        }
        std::fs::write(path.join("x.csv"), "1\n").unwrap();
        drop(folder);
        assert!(!path.exists());

        let kept = LogFolder::create(parent.path(), &nobody).unwrap().keep();
        assert!(kept.is_dir());
        let err = LogFolder::create(Path::new("/nonexistent/dir"), &nobody).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/dir"), "{err:#}");
    }

    #[test]
    fn a_game_in_a_root_of_its_own_gets_the_log_folder_made_there() {
        let t = open_parent();
        let nobody = GameUser::resolve(Some("nobody"), &env_of(&[])).unwrap();
        let ours = LogFolder::create(t.path(), &nobody).unwrap();
        let relative = ours.path().strip_prefix("/").unwrap().to_path_buf();
        // proc/1/root: our own root; proc/2/root: a game root that has the
        // folder's parent (as a container's /tmp would), proc/3/root: one
        // without it, proc/4/root: one where the parent is a link the game
        // planted, pointing out of its root.
        let procs = t.path().join("proc");
        let game = t.path().join("game");
        let bare = t.path().join("bare");
        let trap = t.path().join("trap");
        let outside = t.path().join("outside");
        for d in [&game.join(relative.parent().unwrap()), &bare, &outside] {
            std::fs::create_dir_all(d).unwrap();
        }
        // As a container's /tmp: anyone may make folders in it.
        std::fs::set_permissions(game.join(relative.parent().unwrap()), std::fs::Permissions::from_mode(0o1777)).unwrap();
        std::fs::create_dir_all(trap.join(relative.parent().unwrap().parent().unwrap())).unwrap();
        std::os::unix::fs::symlink(&outside, trap.join(relative.parent().unwrap())).unwrap();
        for (pid, root) in [("1", Path::new("/")), ("2", &game), ("3", &bare), ("4", &trap)] {
            std::fs::create_dir_all(procs.join(pid)).unwrap();
            std::os::unix::fs::symlink(root, procs.join(pid).join("root")).unwrap();
        }

        assert_eq!(log_folder_for_game(&procs, 1, ours.path(), &nobody).unwrap(), ours.path());

        let inside = log_folder_for_game(&procs, 2, ours.path(), &nobody).unwrap();
        assert_eq!(inside, procs.join("2/root").join(&relative));
        let meta = std::fs::metadata(game.join(&relative)).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o700);
        if am_root() {
            assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        }
        // Made already (a second trial, a second launch): fine.
        assert_eq!(log_folder_for_game(&procs, 2, ours.path(), &nobody).unwrap(), inside);

        let err = format!("{:#}", log_folder_for_game(&procs, 3, ours.path(), &nobody).unwrap_err());
        assert!(err.contains("runs in a root of its own") && err.contains("PRESSURE_VESSEL_FILESYSTEMS_RW="), "{err}");
        let err = format!("{:#}", log_folder_for_game(&procs, 4, ours.path(), &nobody).unwrap_err());
        assert!(err.contains("runs in a root of its own"), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0, "nothing made through the planted link");
    }

    #[test]
    fn the_game_runs_as_the_player() {
        // Switching users needs root; the suite runs as root, and a check
        // that cannot run fails rather than passing empty.
        assert!(am_root(), "this test needs root (it starts a process as nobody)");
        let parent = open_parent();
        let nobody = GameUser::resolve(Some("nobody"), &env_of(&[])).unwrap();
        let folder = LogFolder::create(parent.path(), &nobody).unwrap();
        let out = folder.path().join("id.txt");
        let script = format!("id -u > {o}; id -G >> {o}; echo \"$HOME $USER $LOGNAME $SCX_TEST_VAR\" >> {o}", o = out.display());
        let cmd = os(&["sh", "-c", &script]);
        let mut child = spawn_as(&nobody, &cmd, &[("SCX_TEST_VAR".into(), "hello".into())]).unwrap();
        assert!(child.wait().unwrap().success());
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "65534");
        let want: Vec<String> = nix::unistd::getgrouplist(&CString::new("nobody").unwrap(), Gid::from_raw(65534))
            .unwrap()
            .iter()
            .map(|g| g.as_raw().to_string())
            .collect();
        let mut got: Vec<&str> = lines[1].split_whitespace().collect();
        got.sort();
        let mut want: Vec<&str> = want.iter().map(String::as_str).collect();
        want.sort();
        want.dedup();
        assert_eq!(got, want, "root's groups must be gone");
        assert_eq!(lines[2], "/nonexistent nobody nobody hello");
    }

    #[test]
    fn spawn_errors_name_the_program() {
        let nobody = GameUser::resolve(Some("nobody"), &env_of(&[])).unwrap();
        let err = spawn_as(&nobody, &os(&["/nonexistent/game-binary"]), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/game-binary"), "{err:#}");
        assert!(spawn_as(&nobody, &[], &[]).is_err());
    }

    #[test]
    fn stop_terminates_politely() {
        let mut child = Command::new("sleep").arg("100").spawn().unwrap();
        let start = Instant::now();
        let status = stop(&mut child, Duration::from_secs(5)).unwrap();
        assert!(start.elapsed() < Duration::from_secs(4));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc_sigterm()));
        // A second stop on the reaped child just reports the status again.
        assert_eq!(stop(&mut child, Duration::from_secs(1)).unwrap().signal(), Some(libc_sigterm()));
    }

    fn libc_sigterm() -> i32 {
        nix::sys::signal::Signal::SIGTERM as i32
    }

    #[test]
    fn stop_kills_a_game_that_ignores_sigterm() {
        use std::os::unix::process::ExitStatusExt;
        // `exec` so the process that ignores TERM is the one we kill (no
        // orphaned sleep); "ready" once the trap is in place.
        let mut child = Command::new("sh").args(["-c", "trap '' TERM; echo ready; exec sleep 100"]).stdout(Stdio::piped()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        let start = Instant::now();
        let status = stop(&mut child, Duration::from_millis(300)).unwrap();
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(4), "{took:?}");
        assert_eq!(status.signal(), Some(nix::sys::signal::Signal::SIGKILL as i32));
    }
}
