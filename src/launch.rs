//! `scx_gamer launch -- %command%`: the Steam launch option. Runs as the
//! player; starts the game untouched (arguments, environment, stdio), asks
//! the root daemon to apply this game's best known config while it runs,
//! passes signals through, and exits with the game's status (its first
//! process's: a launcher's that exited before the game it started).
//!
//! The game always starts: no daemon, a refused request, a broken store —
//! each is one line on stderr, never a reason to block the game.

use std::ffi::OsString;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use nix::sys::signal::{SigSet, Signal};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;

use crate::daemon::client::Client;
use crate::daemon::protocol::{Request, Response};
use crate::game::identity::GameId;
use crate::game::reaper;
use crate::game::spawn::GameUser;
use crate::procfs;
use crate::sched::SchedConfig;
use crate::store::{GameStore, find_store};
use crate::verdict::choice;

/// How long the wrapper waits for the daemon's answer. An apply loads the
/// scheduler (BPF verification and attach), and a socket-activated daemon
/// starts first: on a busy machine that took more than 10 s (the old
/// wait), and the wrapper gave up while the daemon applied, which then
/// reverted at once. The game is already running while the wrapper waits.
pub(crate) const DAEMON_TIMEOUT: Duration = Duration::from_secs(120);
pub const INSTALL_HINT: &str = "install the scx-gamer package (cargo deb), or from source: sudo scripts/install-service.sh";

pub struct LaunchOptions {
    pub socket: PathBuf,
    pub data_dir: PathBuf,
}

/// The config to apply for `game`: its tuning winner, else the defaults.
/// Returns the config and a line saying where it came from. The winner is
/// the one the last tune recorded (`verdict::choice`); only a store without
/// a current record is ranked here.
pub fn choose_config(data_dir: &Path, game: &GameId) -> (SchedConfig, String) {
    // A Steam game tuned with `sudo scx_gamer tune -- ./game` (sudo drops
    // SteamAppId, so that store is keyed by the exe): found by its exe.
    let found = find_store(data_dir, &game.key).or_else(|e| match game.steam_app_id {
        Some(_) => find_store(data_dir, &game.exe),
        None => Err(e),
    });
    let Ok(path) = found else {
        return (SchedConfig::default(), "the default config (this game has no tuning data)".into());
    };
    match GameStore::load(&path).and_then(|s| choice::current(&s)) {
        Ok(c) => choice::describe(c),
        Err(e) => (SchedConfig::default(), format!("the default config (its tuning data can't be used: {e:#})")),
    }
}

/// Exit status as a shell reports it: the code, or 128 + the signal.
pub fn exit_code(status: ExitStatus) -> i32 {
    status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// The signals a launcher sends the wrapper; they are meant for the game.
const FORWARDED: [Signal; 6] = [Signal::SIGHUP, Signal::SIGINT, Signal::SIGQUIT, Signal::SIGTERM, Signal::SIGUSR1, Signal::SIGUSR2];

/// The forwarded signals, held from the wrapper's start until the game
/// runs. One that comes while the wrapper is starting (reading the store,
/// asking the daemon, starting the game) waits, pending, and then goes to
/// the game like any later one: it neither kills the wrapper and leaves
/// the game running, nor is lost while the game runs on.
pub struct HeldSignals {
    held: SigSet,
    /// The mask the wrapper was started with: the game's.
    original: SigSet,
}

impl HeldSignals {
    /// Block the forwarded signals in this thread (the only one yet; the
    /// threads it starts inherit the block; the game is started without it,
    /// by `spawn_unblocked`).
    pub fn hold() -> Result<Self> {
        let mut set = SigSet::empty();
        for s in FORWARDED {
            set.add(s);
        }
        let original = set.thread_swap_mask(nix::sys::signal::SigmaskHow::SIG_BLOCK).context("blocking signals")?;
        Ok(Self { held: set, original })
    }

    /// Start `cmd` with the signal mask the wrapper was started with: the
    /// block is the wrapper's, not the game's (a mask is inherited across
    /// exec, and the standard library does not reset it).
    pub(crate) fn spawn_unblocked(&self, cmd: &mut Command) -> std::io::Result<std::process::Child> {
        let original = self.original;
        // SAFETY: between fork and exec only sigprocmask runs, which is
        // async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                nix::sys::signal::sigprocmask(nix::sys::signal::SigmaskHow::SIG_SETMASK, Some(&original), None)
                    .map_err(std::io::Error::from)
            });
        }
        cmd.spawn()
    }

    /// Send every forwarded signal, the held ones first, to our children:
    /// the game we started, and the orphans it left us (reaper: a launcher
    /// that exited; its game runs on). A signal the terminal sent (Ctrl-C)
    /// already reached the game, which shares our process group: it is not
    /// sent twice.
    pub(crate) fn forward_to(self) -> Result<()> {
        let mut signals = SignalsInfo::<WithOrigin>::new(FORWARDED.map(|s| s as i32))?;
        std::thread::spawn(move || {
            for info in signals.forever() {
                if info.process.is_none() {
                    continue; // from the kernel (the tty)
                }
                if let Ok(sig) = Signal::try_from(info.signal) {
                    // Our children: the launcher while it runs, and the
                    // orphans that came to us. A reaped launcher is not
                    // among them: its pid, reused, is never signalled.
                    for child in reaper::our_children(procfs::root()) {
                        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(child as i32), sig);
                    }
                }
            }
        });
        // The handler is in place: what was held is delivered now.
        self.held.thread_unblock().context("unblocking signals")?;
        Ok(())
    }
}

/// Who the game runs as, for a wrapper running as `uid`: None, as the
/// wrapper (the player: Steam's launch option). The game never runs as
/// root: `sudo scx_gamer launch -- ./game` runs it as the sudo caller
/// (SUDO_UID/SUDO_GID, as `tune` does), and root without a caller to run
/// it as is refused.
pub(crate) fn game_user(uid: u32, env: &dyn Fn(&str) -> Option<String>) -> Result<Option<GameUser>> {
    if uid != 0 {
        return Ok(None);
    }
    if env("SUDO_UID").is_none() && env("PKEXEC_UID").is_none() {
        bail!(
            "scx_gamer launch never runs the game as root: put `scx_gamer launch -- %command%` in Steam's launch options \
             (Steam runs it as you), or run it through sudo from your account"
        );
    }
    GameUser::resolve(None, env).map(Some)
}

/// The game's command: as the wrapper, or dropped to `user`.
fn game_command(cmd: &[OsString], user: Option<&GameUser>) -> Result<Command> {
    let Some((program, args)) = cmd.split_first() else {
        bail!("no game command given (Steam: scx_gamer launch -- %command%)");
    };
    Ok(match user {
        Some(user) => crate::game::spawn::command_as(user, cmd, &[])?,
        None => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    })
}

/// Ask the daemon to apply `config` for `pid`; Err is the line to print.
fn apply(socket: &Path, pid: u32, config: SchedConfig) -> Result<Client, String> {
    let mut client = Client::connect(socket, DAEMON_TIMEOUT)
        .map_err(|e| format!("the scx_gamer service is not running ({e:#}); the game runs without it — {INSTALL_HINT}"))?;
    match client.request(&Request::Apply { pid, config }) {
        Ok(Response::Ok(_)) => Ok(client),
        Ok(Response::Error(e)) => Err(format!("the scx_gamer service refused: {e}")),
        Ok(other) => Err(format!("unexpected answer from the scx_gamer service: {other:?}")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// Run the game; returns its exit code. `held`: the signals held since
/// the wrapper started, forwarded to the game once it runs.
pub fn launch(cmd: &[OsString], opts: &LaunchOptions, held: HeldSignals) -> Result<i32> {
    let env = |k: &str| crate::game::caller_env::var(k);
    let user = game_user(nix::unistd::getuid().as_raw(), &env)?;
    // Before the game starts: what its launcher leaves running is ours
    // to wait for (reaper).
    if let Err(e) = reaper::become_subreaper() {
        eprintln!("scx_gamer: {e:#}; a game its launcher leaves running will run without the config");
    }
    let mut command = game_command(cmd, user.as_ref())?;
    let game = GameId::from_command(cmd, &env);
    let shown = cmd[0].to_string_lossy();
    let mut child = held.spawn_unblocked(&mut command).with_context(|| match &user {
        Some(u) => format!("starting {shown} as {} (uid {})", u.name, u.uid),
        None => format!("starting {shown}"),
    })?;
    held.forward_to()?;
    // The game first, then the config: a store without a recorded choice
    // is ranked (a bootstrap over its trials), and the game must not wait
    // for that (a loaded run of the booted-system test spent over two
    // minutes ranking before the game started). The daemon applies to the
    // running game all the same.
    let (config, from) = choose_config(&opts.data_dir, &game);
    // For our own pid: the game is the tree under the wrapper, which holds
    // the game's first process and, as their subreaper, the processes a
    // launcher that exits leaves running (applied for the launcher, the
    // game lost its config when the launcher went, even before the daemon
    // answered). Held open while the game runs: the daemon reverts when
    // it closes.
    let _client = match apply(&opts.socket, std::process::id(), config) {
        Ok(c) => {
            eprintln!("scx_gamer: {} ({config}) for {}", from, game.key);
            Some(c)
        }
        Err(line) => {
            eprintln!("scx_gamer: {line}");
            None
        }
    };
    let status = child.wait().context("waiting for the game")?;
    // The launcher is gone; the game it started may not be. The daemon
    // keeps the config while any process of the game runs, and this
    // connection is held until the last of them exits.
    reaper::wait_for_orphans(procfs::root(), |left| {
        let names: Vec<String> = left.iter().map(|(pid, name)| format!("{name} (pid {pid})")).collect();
        eprintln!("scx_gamer: the game's launcher exited; waiting for what it left running: {}", names.join(", "));
    });
    Ok(exit_code(status))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_like_a_shell() {
        let code = |cmd: &str| exit_code(Command::new("sh").args(["-c", cmd]).status().unwrap());
        assert_eq!(code("exit 3"), 3);
        assert_eq!(code("kill -TERM $$"), 143);
    }

    #[test]
    fn the_game_never_runs_as_root() {
        let env = crate::game::test_env::env_of;
        // The player (Steam's launch option): as the wrapper.
        assert_eq!(game_user(1000, &env(&[])).unwrap(), None);
        assert_eq!(game_user(1000, &env(&[("SUDO_UID", "65534")])).unwrap(), None, "not root: cannot be anyone else");
        // Through sudo: as the one who ran sudo.
        let user = game_user(0, &env(&[("SUDO_UID", "65534"), ("SUDO_GID", "65534")])).unwrap().unwrap();
        assert_eq!((user.uid, user.gid, user.name.as_str()), (65534, 65534, "nobody"));
        // Root itself: refused, saying how to run it.
        let err = format!("{:#}", game_user(0, &env(&[])).unwrap_err());
        assert!(err.contains("never runs the game as root") && err.contains("Steam's launch options"), "{err}");
        let err = format!("{:#}", game_user(0, &env(&[("SUDO_UID", "0")])).unwrap_err());
        assert!(err.contains("SUDO_UID=0"), "{err}");
    }

    #[test]
    fn a_game_started_through_sudo_runs_as_the_caller() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root (it starts a process as nobody)");
        let nobody = GameUser::resolve(Some("nobody"), &|_| None).unwrap();
        let cmd: Vec<OsString> = ["id", "-u"].iter().map(OsString::from).collect();
        let out = game_command(&cmd, Some(&nobody)).unwrap().output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "65534");
        let out = game_command(&cmd, None).unwrap().output().unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "0");
    }

    #[test]
    fn without_data_the_default_config_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let game = GameId { key: "g".into(), exe: "g".into(), steam_app_id: None };
        let (cfg, from) = choose_config(dir.path(), &game);
        assert_eq!(cfg, SchedConfig::default());
        assert!(from.contains("no tuning data"), "{from}");
    }

    #[test]
    fn a_broken_store_is_named_and_the_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("g.json"), "{\"schema_version\": 1, \"game\": 3}").unwrap();
        let game = GameId { key: "g".into(), exe: "g".into(), steam_app_id: None };
        let (cfg, from) = choose_config(dir.path(), &game);
        assert_eq!(cfg, SchedConfig::default());
        assert!(from.contains("g.json") && from.contains("not a valid scx_gamer store"), "{from}");
    }
}
