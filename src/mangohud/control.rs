//! Client for MangoHud's control socket.
//!
//! With `control=mangohud-%p` in MANGOHUD_CONFIG, MangoHud listens on the
//! abstract unix socket `@mangohud-<pid>`. On connect it greets with
//! `:MangoHudControlVersion=1;:DeviceName=…;:MangoHudVersion=MangoHud v0.6.8;`.
//! `:logging=1;` starts a log, `:logging=0;` stops it (answered with
//! `:LoggingFinished`). MangoHud reads commands only when the game presents
//! a frame, so every wait has a timeout.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// `:key=value;` messages (a key without `=value` gets an empty value);
/// anything else in the stream is ignored.
pub fn parse_messages(text: &str) -> Vec<(String, String)> {
    text.split(':')
        .filter_map(|m| {
            let m = m.trim_end_matches(';').trim();
            if m.is_empty() {
                return None;
            }
            Some(match m.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (m.to_string(), String::new()),
            })
        })
        .collect()
}

/// Connect without blocking: MangoHud accepts only when the game presents a
/// frame, so a stalled game's full backlog would block a plain connect()
/// forever.
fn connect_abstract(name: &str, timeout: Duration) -> Result<UnixStream> {
    use nix::errno::Errno;
    use nix::sys::socket::{AddressFamily, SockFlag, SockType, UnixAddr, connect, socket};
    use std::os::fd::AsRawFd;

    let addr = UnixAddr::new_abstract(name.as_bytes())?;
    let fd = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC, None)?;
    let deadline = Instant::now() + timeout;
    loop {
        match connect(fd.as_raw_fd(), &addr) {
            Ok(()) => break,
            // Backlog full: MangoHud has not accepted lately.
            Err(Errno::EAGAIN) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Err(Errno::EAGAIN) => bail!("MangoHud's control socket @{name} accepts no connection (is the game presenting frames?)"),
            Err(e) => bail!(
                "MangoHud is not listening on the control socket @{name} ({e}); \
                 the game needs control=mangohud-%p in MANGOHUD_CONFIG"
            ),
        }
    }
    let stream = UnixStream::from(fd);
    stream.set_nonblocking(false)?;
    Ok(stream)
}

fn listener_pid(stream: &UnixStream, name: &str) -> Result<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    let cred = getsockopt(stream, PeerCredentials).with_context(|| format!("reading who listens on @{name}"))?;
    // 0: the listener is in a pid namespace we cannot see into.
    u32::try_from(cred.pid()).ok().filter(|&p| p > 0).with_context(|| format!("@{name} is held by a process outside our pid namespace"))
}

pub struct Control {
    stream: UnixStream,
    name: String,
    /// "0.6.8" from `MangoHudVersion=MangoHud v0.6.8`.
    pub mangohud_version: Option<String>,
    pub device: Option<String>,
}

/// A connection MangoHud has not greeted yet: it is queued until MangoHud
/// accepts it, which it does at most once per frame it presents (and only
/// while it has no other client). Keep it and wait (`greeting`): giving up
/// on it and connecting again leaves a dead connection in MangoHud's
/// queue, which it must accept and drop first — a game that presents frames
/// slowly (a loaded machine, a game still loading) then never gets to ours.
pub struct Pending {
    stream: UnixStream,
    name: String,
    text: String,
}

impl Pending {
    /// The pid, as we see it, of the process that listens on this socket
    /// (SO_PEERCRED of a connecting socket: the listener's at listen()).
    /// The name alone does not tell: MangoHud names it with the pid the
    /// game knows itself by, and games in pid namespaces of their own
    /// (Flatpak) can share a name in one network namespace.
    pub fn listener_pid(&self) -> Result<u32> {
        listener_pid(&self.stream, &self.name)
    }

    /// Wait up to `timeout` for the greeting: the connection, greeted; or
    /// Ok(Err(self)) when it has not come yet (the connection stays queued:
    /// call again on what came back).
    pub fn greeting(mut self, timeout: Duration) -> Result<Result<Control, Pending>> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 1024];
        loop {
            let msgs = parse_messages(&self.text);
            if msgs.iter().any(|(k, _)| k == "MangoHudVersion") {
                let mut c = Control { stream: self.stream, name: self.name, mangohud_version: None, device: None };
                for (k, v) in msgs {
                    match k.as_str() {
                        "MangoHudVersion" => {
                            c.mangohud_version = Some(v.trim_start_matches("MangoHud v").trim_start_matches('v').to_string())
                        }
                        "DeviceName" => c.device = Some(v),
                        _ => {}
                    }
                }
                return Ok(Ok(c));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Err(self));
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("MangoHud closed the control socket @{}", self.name),
                Ok(n) => self.text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e).with_context(|| format!("reading @{}", self.name)),
            }
        }
    }
}

impl Control {
    /// The pid, as we see it, of the process that listens (see
    /// `Pending::listener_pid`).
    pub fn listener_pid(&self) -> Result<u32> {
        listener_pid(&self.stream, &self.name)
    }

    /// Connect to the MangoHud of process `pid`.
    pub fn connect(pid: u32, timeout: Duration) -> Result<Self> {
        Self::connect_name(&format!("mangohud-{pid}"), timeout)
    }

    /// Queue a connection to the abstract socket `@name` (waiting up to
    /// `timeout` while MangoHud's queue is full); the greeting comes later.
    pub fn open(name: &str, timeout: Duration) -> Result<Pending> {
        let stream = connect_abstract(name, timeout)?;
        Ok(Pending { stream, name: name.to_string(), text: String::new() })
    }

    /// Connect to the abstract socket `@name` and read the greeting.
    pub fn connect_name(name: &str, timeout: Duration) -> Result<Self> {
        let pending = Self::open(name, timeout)?;
        match pending.greeting(timeout)? {
            Ok(c) => Ok(c),
            Err(_) => bail!("no answer from MangoHud on @{name} within {timeout:?} (is the game presenting frames?)"),
        }
    }

    fn send(&mut self, msg: &str) -> Result<()> {
        self.stream.write_all(msg.as_bytes()).with_context(|| format!("writing to @{}", self.name))
    }

    /// Read messages until `done` holds for everything read so far.
    fn read_until(&mut self, timeout: Duration, done: impl Fn(&[(String, String)]) -> bool) -> Result<Vec<(String, String)>> {
        let deadline = Instant::now() + timeout;
        let mut text = String::new();
        let mut buf = [0u8; 1024];
        loop {
            let msgs = parse_messages(&text);
            if done(&msgs) {
                return Ok(msgs);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("no answer from MangoHud on @{} within {timeout:?} (is the game presenting frames?)", self.name);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("MangoHud closed the control socket @{}", self.name),
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {}
                Err(e) => return Err(e).with_context(|| format!("reading @{}", self.name)),
            }
        }
    }

    /// Ask MangoHud to start a log.
    pub fn start_logging(&mut self) -> Result<()> {
        self.send(":logging=1;")
    }

    /// Stop the log and wait until MangoHud says it is written. True when
    /// MangoHud had already ended it by itself (`log_duration`: it then
    /// says LoggingFinished at once, and a `:logging=0;` would get no
    /// answer, as it only stops a log that runs).
    pub fn stop_logging(&mut self, timeout: Duration) -> Result<bool> {
        if self.pending_text()?.contains("LoggingFinished") {
            return Ok(true);
        }
        self.send(":logging=0;")?;
        self.read_until(timeout, |msgs| msgs.iter().any(|(k, _)| k == "LoggingFinished"))?;
        Ok(false)
    }

    /// What MangoHud has sent and we have not read, without waiting.
    fn pending_text(&mut self) -> Result<String> {
        let mut text = String::new();
        let mut buf = [0u8; 1024];
        self.stream.set_nonblocking(true)?;
        let read = loop {
            match self.stream.read(&mut buf) {
                Ok(0) => break Err(anyhow::anyhow!("MangoHud closed the control socket @{}", self.name)),
                Ok(n) => text.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => break Err(e).with_context(|| format!("reading @{}", self.name)),
            }
        };
        self.stream.set_nonblocking(false)?;
        read.map(|()| text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    #[test]
    fn parses_the_greeting_and_replies() {
        let m =
            parse_messages(":MangoHudControlVersion=1;:DeviceName=llvmpipe (LLVM 15);:MangoHudVersion=MangoHud v0.6.8;:LoggingFinished");
        assert_eq!(m[0], ("MangoHudControlVersion".into(), "1".into()));
        assert_eq!(m[1].1, "llvmpipe (LLVM 15)");
        assert_eq!(m[3], ("LoggingFinished".into(), String::new()));
        assert!(parse_messages("").is_empty());
    }

    fn fake_mangohud(name: &str, greet: &'static [u8]) -> std::thread::JoinHandle<Vec<u8>> {
        fake_mangohud_finishing_after(name, greet, b":logging=0;")
    }

    /// A fake MangoHud that says `:LoggingFinished` once what it got ends
    /// with `after` (MangoHud's answer to `:logging=0;`, or what it sends
    /// by itself when its log_duration ends a log).
    fn fake_mangohud_finishing_after(name: &str, greet: &'static [u8], after: &'static [u8]) -> std::thread::JoinHandle<Vec<u8>> {
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixListener::bind_addr(&addr).unwrap();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(greet).unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 64];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.ends_with(after) {
                    s.write_all(b":LoggingFinished").unwrap();
                }
            }
            got
        })
    }

    #[test]
    fn talks_to_a_mangohud_like_server() {
        let name = format!("scx-gamer-test-{}", std::process::id());
        let server = fake_mangohud(&name, b":MangoHudControlVersion=1;:DeviceName=x;:MangoHudVersion=MangoHud v0.8.2;");
        let mut c = Control::connect_name(&name, Duration::from_secs(5)).unwrap();
        assert_eq!(c.mangohud_version.as_deref(), Some("0.8.2"));
        // The fake listens in this process.
        assert_eq!(c.listener_pid().unwrap(), std::process::id());
        c.start_logging().unwrap();
        assert!(!c.stop_logging(Duration::from_secs(5)).unwrap(), "stopped by us");
        drop(c);
        assert_eq!(server.join().unwrap(), b":logging=1;:logging=0;");
    }

    #[test]
    fn a_log_mangohud_ended_by_itself_is_told_apart() {
        // log_duration: MangoHud ends the log and says so before we ask;
        // a `:logging=0;` would then get no answer at all.
        let name = format!("scx-gamer-test-duration-{}", std::process::id());
        let server = fake_mangohud_finishing_after(&name, b":MangoHudControlVersion=1;:MangoHudVersion=MangoHud v0.8.4;", b":logging=1;");
        let mut c = Control::connect_name(&name, Duration::from_secs(5)).unwrap();
        c.start_logging().unwrap();
        std::thread::sleep(Duration::from_millis(200)); // the log runs out
        let started = Instant::now();
        assert!(c.stop_logging(Duration::from_secs(5)).unwrap(), "ended by MangoHud");
        assert!(started.elapsed() < Duration::from_secs(1), "no wait for an answer that cannot come");
        drop(c);
        assert_eq!(server.join().unwrap(), b":logging=1;", "nothing to stop");
    }

    #[test]
    fn clear_errors_when_nobody_listens_or_answers() {
        let err = Control::connect(u32::MAX, Duration::from_millis(100)).err().unwrap().to_string();
        assert!(err.contains("not listening on the control socket @mangohud-4294967295"), "{err}");
        assert!(err.contains("control=mangohud-%p"), "{err}");

        let name = format!("scx-gamer-silent-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let _listener = UnixListener::bind_addr(&addr).unwrap(); // accepts (backlog), never greets
        let err = Control::connect_name(&name, Duration::from_millis(200)).err().unwrap().to_string();
        assert!(err.contains("no answer from MangoHud"), "{err}");
    }
}
