//! `scx_gamer daemon`: the root service. One thread owns the scheduler
//! (BPF skeletons stay on the thread that loaded them); a thread per
//! connection reads requests, checks them, and hands the valid ones over.
//!
//! Rules: one owner (connection) at a time; an owner may only name its own
//! processes; the scheduler goes back to the kernel's when the owner's game
//! exits, the owner disconnects, or says `revert`. Nothing a client sends
//! can crash the daemon or change its state unless it is a valid request
//! from the owner (or from anyone while nobody owns it). When scx_loader
//! runs a scheduler, it is paused for the game and put back when the
//! connection it is held for closes and nothing of ours is in place
//! (`scx_loader`).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use crossbeam::channel::{self, Receiver, Sender};
use log::{info, warn};

use super::admission::{Connections, FIRST_REQUEST_WAIT, Reading};
use super::peer::{credentials, may_act_on};
use super::pidns::CallerNs;
use super::protocol::{MAX_REQUEST, Request, Response, parse_request};
use super::scx_loader::{Busctl, Pauser};
use crate::procfs;
use crate::sched::pool::Pool;
use crate::sched::session::{Feeds, Session, ejection_error};
use crate::sched::{SchedConfig, Scheduler, preflight};

const TICK: Duration = Duration::from_millis(100);

enum Msg {
    Request { conn: u64, uid: u32, req: Request, reply: Sender<Response> },
    Closed { conn: u64 },
}

struct Owner {
    conn: u64,
    uid: u32,
    pid: u32,
}

#[derive(Default)]
struct State {
    current: Option<Scheduler>,
    /// Configs one connection had applied, detached, for its next turns
    /// (`launch --tune` comes back to the same few configs round after
    /// round, with a revert for the kernel's turn between). Emptied when
    /// that connection closes or another one applies: a kept copy's game
    /// list is that connection's game.
    pool: Pool,
    pool_conn: Option<u64>,
    owner: Option<Owner>,
    /// The connection whose config was last taken away, and why: its next
    /// `stats` learns that its trial ended (e.g. the kernel ejected it).
    reverted: Option<(u64, String)>,
    /// scx_loader's scheduler, paused for a game (None: setting off).
    loader: Option<Pauser<Busctl>>,
}

/// The listening socket: systemd's (socket activation) or our own.
fn listen(path: &Path) -> Result<(UnixListener, Option<PathBuf>)> {
    let ours = std::env::var("LISTEN_PID").ok().and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    if ours && std::env::var("LISTEN_FDS").as_deref() == Ok("1") {
        // SAFETY: under socket activation systemd passes the socket as fd 3
        // (SD_LISTEN_FDS_START) and LISTEN_PID names us; nothing else owns it.
        let listener = unsafe { UnixListener::from_raw_fd(3) };
        info!("listening on the socket systemd passed");
        return Ok((listener, None));
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            bail!("another scx_gamer daemon is listening on {}", path.display());
        }
        std::fs::remove_file(path).with_context(|| format!("removing the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(path).with_context(|| format!("listening on {}", path.display()))?;
    // Any local user may connect; every request is checked against the
    // caller's uid (SO_PEERCRED).
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
    info!("listening on {}", path.display());
    Ok((listener, Some(path.to_path_buf())))
}

enum Line {
    Bytes(Vec<u8>),
    TooLong(usize),
}

/// The next request line, at most MAX_REQUEST bytes (a longer one is read
/// to its end and reported, so the connection stays in sync). None at end
/// of stream, also mid-line: a half-sent request is dropped.
fn read_line(reader: &mut impl BufRead) -> Option<Line> {
    let mut line = Vec::new();
    let mut total = 0usize;
    loop {
        let buf = reader.fill_buf().ok()?;
        if buf.is_empty() {
            return None;
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        total += chunk.len();
        if total <= MAX_REQUEST {
            line.extend_from_slice(chunk);
        }
        let used = done.unwrap_or(buf.len());
        reader.consume(used);
        if done.is_some() {
            return Some(if total > MAX_REQUEST { Line::TooLong(total) } else { Line::Bytes(line) });
        }
    }
}

/// One client connection, on its own thread: `uid` and `pid` are the
/// kernel's (SO_PEERCRED); `first_wait` is how long it has to send its
/// first request (`admission`).
fn serve_connection(stream: UnixStream, conn: u64, uid: u32, pid: i32, tx: Sender<Msg>, first_wait: Duration) {
    info!("connection {conn} from uid {uid} (pid {pid})");
    // Read now, while the caller waits on this connection: its pid cannot
    // have gone to another process yet (pidns).
    let caller_ns = CallerNs::of(procfs::root(), std::process::id(), u32::try_from(pid).unwrap_or(0));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(Reading::new(read_half, first_wait));
    let mut writer = stream;
    while let Some(line) = read_line(&mut reader) {
        let response = match line {
            Line::TooLong(n) => Response::Error(format!("request too large: {n} bytes (at most {MAX_REQUEST})")),
            Line::Bytes(bytes) => match parse_request(&bytes).and_then(|req| in_our_namespace(req, &caller_ns, conn)) {
                Err(e) => Response::Error(e),
                Ok(req) => {
                    if reader.get_mut().lift_deadline().is_err() {
                        break;
                    }
                    let (reply, answer) = channel::bounded(1);
                    if tx.send(Msg::Request { conn, uid, req, reply }).is_err() {
                        break;
                    }
                    answer.recv().unwrap_or_else(|_| Response::Error("the daemon is shutting down".into()))
                }
            },
        };
        let mut out = serde_json::to_vec(&response).unwrap_or_default();
        out.push(b'\n');
        if writer.write_all(&out).is_err() {
            break;
        }
    }
    if reader.get_ref().timed_out() {
        info!("connection {conn} closed: no request within {first_wait:?}");
    }
    let _ = tx.send(Msg::Closed { conn });
}

/// `req` with the pid it names as the daemon knows that process: a caller
/// in a pid namespace of its own names it by its pid there.
fn in_our_namespace(req: Request, caller_ns: &Result<Option<CallerNs>, String>, conn: u64) -> Result<Request, String> {
    match (req, caller_ns) {
        (Request::Apply { pid, config }, Ok(Some(ns))) => {
            let here = ns.pid(procfs::root(), pid)?;
            info!("connection {conn}: pid {pid} of the caller's pid namespace is pid {here} here");
            Ok(Request::Apply { pid: here, config })
        }
        (Request::Apply { .. }, Err(e)) => Err(e.clone()),
        (req, _) => Ok(req),
    }
}

fn accept_loop(listener: UnixListener, tx: Sender<Msg>) {
    let connections = Arc::new(Connections::default());
    for (conn, stream) in (1u64..).zip(listener.incoming()) {
        let Ok(mut stream) = stream else { continue };
        let Ok((uid, pid)) = credentials(&stream) else { continue };
        let admitted = match connections.admit(uid) {
            Ok(a) => a,
            Err(why) => {
                warn!("connection from uid {uid} (pid {pid}) refused: {why}");
                // A client that does not read must not hold up the loop.
                let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
                let mut out = serde_json::to_vec(&Response::Error(why)).unwrap_or_default();
                out.push(b'\n');
                let _ = stream.write_all(&out);
                continue;
            }
        };
        let tx = tx.clone();
        std::thread::spawn(move || {
            serve_connection(stream, conn, uid, pid, tx, FIRST_REQUEST_WAIT);
            drop(admitted);
        });
    }
}

fn alive(pid: u32) -> bool {
    procfs::exited(procfs::root(), pid).is_none()
}

/// The game runs while the process it was applied for does, or any
/// process of its set: a launcher that started the game and exited (a
/// Windows launcher under Wine, a script that backgrounds the game) leaves
/// the game running, and `launch` waits for it (game::reaper).
fn game_alive(pid: u32, set: impl FnOnce() -> BTreeSet<u32>, alive: impl Fn(u32) -> bool) -> bool {
    alive(pid) || set().into_iter().any(alive)
}

impl State {
    fn revert(&mut self, why: &str) {
        if let Some(o) = &self.owner {
            self.reverted = Some((o.conn, why.to_string()));
        }
        if let Some(mut cur) = self.current.take() {
            match cur.detach() {
                Ok(_) => info!("reverted to the kernel's scheduler: {why}"),
                Err(e) => warn!("detaching: {e:#}"),
            }
            self.pool.put(cur);
        }
        self.owner = None;
    }

    fn apply(&mut self, session: &mut Session, conn: u64, uid: u32, pid: u32, config: SchedConfig) -> Response {
        if let Some(why) = self.busy(conn, uid) {
            return Response::Error(why);
        }
        if let Err(e) = may_act_on(procfs::root(), uid, pid) {
            return Response::Error(e);
        }
        if self.pool_conn != Some(conn) {
            self.pool = Pool::default();
            self.pool_conn = Some(conn);
        }
        session.set_game_pids(vec![pid]);
        if let Some(cur) = self.current.as_ref().filter(|c| c.is_attached() && *c.config() == config) {
            // Already in place (a round that starts with the config that
            // ended the last one): it stays.
            if let Err(e) = session.hand_over(None, cur) {
                warn!("telling the scheduler the game's processes: {e:#}");
            }
            self.owner = Some(Owner { conn, uid, pid });
            if let Some(loader) = self.loader.as_mut() {
                loader.attached_for(conn);
            }
            info!("applied {config} for pid {pid} of uid {uid} (already in place: kept from its last turn)");
            return Response::Ok(format!("applied {config}"));
        }
        let taken = match self.pool.take(&config) {
            Ok(t) => t,
            Err(e) => return Response::Error(format!("loading {config}: {e:#}")),
        };
        let mut next = taken.scheduler;
        if let Err(e) = session.hand_over(self.current.as_ref().filter(|c| c.is_attached()), &next) {
            warn!("telling the scheduler the game's processes: {e:#}");
        }
        let ours = self.current.as_ref().is_some_and(|c| c.is_attached());
        if !ours
            && let Some(other) = preflight::attached_ops()
            && let Some(loader) = self.loader.as_mut()
            && let Err(e) = loader.pause_for(conn)
        {
            return Response::Error(format!("another sched_ext scheduler is attached ({other}); pausing scx_loader's failed: {e:#}"));
        }
        let switched = match self.current.take() {
            Some(mut cur) if cur.is_attached() => {
                let switched = cur.switch_to(&mut next).map(|t| t.loaded_afresh);
                self.pool.put(cur);
                switched
            }
            // None, or ejected and not reverted yet: what is left of it
            // goes before the next attaches (as `Local` does), not after.
            stale => {
                drop(stale);
                next.attach()
            }
        };
        let loaded_afresh = match switched {
            Ok(loaded_afresh) => loaded_afresh,
            Err(e) => {
                self.owner = None;
                // Gone before scx_loader's may start: a half-attached
                // `next` must not be in its way.
                drop(next);
                // The player's own scheduler back rather than none (at the
                // next tick, nothing of ours being in place).
                if let Some(loader) = self.loader.as_mut() {
                    loader.closed(conn);
                }
                return Response::Error(format!("attaching {config}: {e:#}"));
            }
        };
        // Loaded afresh too: a kept copy the kernel would not link again.
        let how = if taken.loaded || loaded_afresh { "loaded" } else { "kept from its last turn: not loaded again" };
        info!("applied {config} for pid {pid} of uid {uid} ({how})");
        self.current = Some(next);
        self.owner = Some(Owner { conn, uid, pid });
        if let Some(loader) = self.loader.as_mut() {
            loader.attached_for(conn);
        }
        Response::Ok(format!("applied {config}"))
    }

    /// Whose game is served, and how, to the game's own user (any of its
    /// connections: what `ps` shows them anyway) and root only; anyone
    /// else learns "busy" — another user's pid and config are not theirs
    /// to watch (as `stats` is the owner's).
    fn status(&self, uid: u32) -> Response {
        Response::Ok(match (&self.owner, &self.current) {
            (Some(o), Some(s)) if uid == 0 || uid == o.uid => format!("serving pid {} of uid {} with {}", o.pid, o.uid, s.config()),
            (Some(_), _) => "busy".into(),
            _ => "idle".into(),
        })
    }

    /// Why `uid` (on `conn`) may not apply now; None: it may. Whose game
    /// it is only for that user or root, as for `status`.
    fn busy(&self, conn: u64, uid: u32) -> Option<String> {
        let o = self.owner.as_ref().filter(|o| o.conn != conn)?;
        Some(if uid == 0 || uid == o.uid {
            format!("busy: serving the game of uid {} (pid {}); try again when it ends", o.uid, o.pid)
        } else {
            "busy: serving another user's game; try again when it ends".into()
        })
    }

    /// Counters for the owner only: another user must not watch the game.
    fn stats(&self, conn: u64) -> Response {
        match (&self.owner, &self.current) {
            (Some(o), Some(s)) if o.conn == conn => Response::Stats(s.stats()),
            (Some(_), _) => Response::Error("not yours: another client owns the scheduler".into()),
            _ => Response::Error(match &self.reverted {
                Some((c, why)) if *c == conn => format!("no config is applied for you: reverted ({why})"),
                _ => "no config is applied for you".into(),
            }),
        }
    }

    fn handle(&mut self, session: &mut Session, msg: Msg) {
        match msg {
            Msg::Closed { conn } => {
                if self.owner.as_ref().is_some_and(|o| o.conn == conn) {
                    self.revert("the client disconnected");
                }
                if self.pool_conn == Some(conn) {
                    self.pool = Pool::default();
                    self.pool_conn = None;
                }
                if let Some(loader) = self.loader.as_mut() {
                    loader.closed(conn);
                }
            }
            Msg::Request { conn, uid, req, reply } => {
                let response = match req {
                    Request::Apply { pid, config } => self.apply(session, conn, uid, pid, config),
                    Request::Revert => match &self.owner {
                        Some(o) if o.conn != conn => Response::Error("not yours: another client owns the scheduler".into()),
                        _ => {
                            self.revert("asked to");
                            Response::Ok("reverted to the kernel's scheduler".into())
                        }
                    },
                    Request::Stats => self.stats(conn),
                    Request::Status => self.status(uid),
                };
                let _ = reply.send(response);
            }
        }
    }
}

/// Run the daemon until SIGINT/SIGTERM; the kernel's scheduler is back
/// when it returns.
pub fn run(socket: &Path, input_dir: &Path, pause_scx_loader: bool, shutdown: Arc<AtomicBool>) -> Result<()> {
    preflight::check_privileges()?;
    preflight::check_sched_ext_kernel()?;
    let (listener, bound) = listen(socket)?;
    let (tx, rx): (Sender<Msg>, Receiver<Msg>) = channel::unbounded();
    std::thread::spawn(move || accept_loop(listener, tx));
    let mut session = Session::start(Feeds { game_pids: Vec::new(), adopted: false, input_dir: input_dir.to_path_buf() }, shutdown)?;
    let mut state = State { loader: pause_scx_loader.then(Pauser::system), ..State::default() };
    if let Some(loader) = state.loader.as_mut() {
        loader.recover();
    }
    loop {
        if session.serve(state.current.as_mut(), Some(Instant::now() + TICK))? {
            break;
        }
        if let Some(cur) = state.current.as_ref().filter(|c| c.ejected()) {
            let why = format!("{:#}", ejection_error(cur));
            warn!("{why}");
            state.revert(&format!("the kernel ejected the scheduler: {why}"));
        }
        if let Some(o) = &state.owner
            && !game_alive(o.pid, || state.current.as_ref().map(Scheduler::game_tgids).unwrap_or_default(), alive)
        {
            let why = format!("the game (pid {}) exited", o.pid);
            state.revert(&why);
        }
        while let Ok(msg) = rx.try_recv() {
            state.handle(&mut session, msg);
        }
        // scx_loader's scheduler back once nothing of ours is in place and
        // the connection it was paused for is gone.
        let ours_in_place = state.owner.is_some() || state.current.as_ref().is_some_and(|c| c.is_attached());
        if let Some(loader) = state.loader.as_mut() {
            loader.tick(ours_in_place);
        }
    }
    state.revert("shutting down");
    if let Some(loader) = state.loader.as_mut() {
        loader.put_back();
    }
    if let Some(path) = bound {
        let _ = std::fs::remove_file(path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Result<Vec<u8>, usize>> {
        let mut r = BufReader::with_capacity(7, input);
        std::iter::from_fn(|| read_line(&mut r))
            .map(|l| match l {
                Line::Bytes(b) => Ok(b),
                Line::TooLong(n) => Err(n),
            })
            .collect()
    }

    #[test]
    fn stats_go_to_the_owner_only_and_a_reverted_owner_learns_why() {
        let mut state = State { owner: Some(Owner { conn: 1, uid: 1000, pid: 42 }), ..Default::default() };
        let err = |r: Response| match r {
            Response::Error(e) => e,
            other => panic!("{other:?}"),
        };
        assert!(err(state.stats(2)).contains("not yours"));
        state.revert("the game (pid 42) exited");
        assert_eq!(err(state.stats(1)), "no config is applied for you: reverted (the game (pid 42) exited)");
        // Another connection does not learn what happened to the first.
        assert_eq!(err(state.stats(2)), "no config is applied for you");
    }

    #[test]
    fn only_the_owner_learns_whose_game_is_served() {
        let mut state = State { owner: Some(Owner { conn: 1, uid: 1000, pid: 42 }), ..Default::default() };
        let ok = |r: Response| match r {
            Response::Ok(s) => s,
            other => panic!("{other:?}"),
        };
        // Another user: busy, no more.
        assert_eq!(ok(state.status(1001)), "busy");
        assert_eq!(state.busy(2, 1001).unwrap(), "busy: serving another user's game; try again when it ends");
        assert!(state.busy(2, 1000).unwrap().contains("pid 42"), "their own game");
        assert!(state.busy(2, 0).unwrap().contains("uid 1000"), "root sees all");
        assert_eq!(state.busy(1, 1000), None, "the owner itself");
        state.revert("asked to");
        assert_eq!(ok(state.status(1001)), "idle");
    }

    #[test]
    fn a_connection_that_says_nothing_is_closed_and_one_that_asks_is_served() {
        let (tx, rx) = channel::unbounded();
        let (silent, server) = UnixStream::pair().unwrap();
        let txc = tx.clone();
        std::thread::spawn(move || serve_connection(server, 1, 1000, 1, txc, Duration::from_millis(200)));
        assert!(matches!(rx.recv_timeout(Duration::from_secs(5)), Ok(Msg::Closed { conn: 1 })), "not closed");
        drop(silent);
        // One that asks in time, then idles past the wait, is still served.
        let (mut client, server) = UnixStream::pair().unwrap();
        let serving = std::thread::spawn(move || serve_connection(server, 2, 1000, 1, tx, Duration::from_millis(200)));
        client.write_all(b"\"status\"\n").unwrap();
        let Ok(Msg::Request { reply, .. }) = rx.recv() else { panic!("no request") };
        reply.send(Response::Ok("idle".into())).unwrap();
        std::thread::sleep(Duration::from_millis(500));
        client.write_all(b"\"status\"\n").unwrap();
        let Ok(Msg::Request { reply, .. }) = rx.recv_timeout(Duration::from_secs(5)) else { panic!("closed while idle") };
        reply.send(Response::Ok("idle".into())).unwrap();
        drop(client);
        serving.join().unwrap();
    }

    #[test]
    fn an_apply_names_its_game_as_the_daemon_knows_it() {
        let apply = Request::Apply { pid: 42, config: SchedConfig::default() };
        // The daemon's own namespace: as sent.
        assert_eq!(in_our_namespace(apply.clone(), &Ok(None), 1), Ok(apply.clone()));
        // A caller whose namespace could not be read names no process;
        // its other requests name none.
        let unread = Err("reading your pid namespace (pid 7 here): gone".to_string());
        assert_eq!(in_our_namespace(apply, &unread, 1), Err("reading your pid namespace (pid 7 here): gone".into()));
        assert_eq!(in_our_namespace(Request::Status, &unread, 1), Ok(Request::Status));
    }

    #[test]
    fn a_running_game_is_alive_and_a_reaped_one_is_not() {
        let mut child = std::process::Command::new("sh").args(["-c", "sleep 1; exit 7"]).spawn().unwrap();
        assert!(alive(child.id()));
        child.wait().unwrap();
        assert!(!alive(child.id()));
    }

    #[test]
    fn the_game_runs_while_any_process_of_its_set_does() {
        let running = |live: &'static [u32]| move |p: u32| live.contains(&p);
        assert!(game_alive(10, || unreachable!("the set is read only once the first process is gone"), running(&[10])));
        // Its launcher exited; the game it started runs on.
        assert!(game_alive(10, || BTreeSet::from([10, 11]), running(&[11])));
        assert!(!game_alive(10, || BTreeSet::from([10, 11]), running(&[12])));
        assert!(!game_alive(10, BTreeSet::new, running(&[])));
    }

    #[test]
    fn reads_bounded_lines_and_drops_a_half_sent_one() {
        let long = vec![b'x'; MAX_REQUEST + 10];
        let mut input = b"\"status\"\n".to_vec();
        input.extend_from_slice(&long);
        input.extend_from_slice(b"\n\"revert\"\n{\"apply\":");
        assert_eq!(lines(&input), vec![Ok(b"\"status\"".to_vec()), Err(MAX_REQUEST + 10), Ok(b"\"revert\"".to_vec())]);
        assert!(lines(b"").is_empty());
    }
}
