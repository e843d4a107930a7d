//! Who may hold a connection to the daemon, and for how long without a
//! word: any local user may connect, so none may take every connection.
//!
//! Each uid holds at most MAX_PER_UID connections at once (root: any
//! number, within the total); a full total of MAX_CONNECTIONS bounds the
//! daemon's threads. A new connection must send its first request within
//! FIRST_REQUEST_WAIT: 32 connections that said nothing used to lock every
//! launch out. After that it may idle as long as it likes, since both
//! clients idle by design: `launch` holds its connection, silent, for as
//! long as the game runs (the daemon reverts when it closes), and `launch
//! --tune` asks "status" first, then says nothing while the game starts and
//! settles and during each turn of the kernel's scheduler — minutes without
//! owning anything.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Connections open at once, all users together.
pub const MAX_CONNECTIONS: usize = 32;
/// Connections one (non-root) uid may hold at once: a game's `launch` holds
/// one, `launch --tune` one; a few to spare.
pub const MAX_PER_UID: usize = 4;
/// How long a new connection has to send its first request.
pub const FIRST_REQUEST_WAIT: Duration = Duration::from_secs(30);

/// The open connections, per uid.
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<u32, usize>>,
}

/// One admitted connection: counted until dropped.
pub struct Admitted {
    connections: Arc<Connections>,
    uid: u32,
}

impl Connections {
    /// Count a connection of `uid` in, or say why not.
    pub fn admit(self: &Arc<Self>, uid: u32) -> Result<Admitted, String> {
        // A poisoned lock only means a thread panicked while holding it;
        // the counts are still whole (each change is one statement).
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.values().sum::<usize>() >= MAX_CONNECTIONS {
            return Err(format!("too many connections (at most {MAX_CONNECTIONS} at once)"));
        }
        let mine = open.entry(uid).or_default();
        if uid != 0 && *mine >= MAX_PER_UID {
            return Err(format!("too many connections from uid {uid} (at most {MAX_PER_UID} at once)"));
        }
        *mine += 1;
        Ok(Admitted { connections: self.clone(), uid })
    }

    #[cfg(test)]
    fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).values().sum()
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.uid) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.uid);
            }
        }
    }
}

/// A connection's reading side, with a deadline until it is lifted: each
/// read may wait only what is left of it, so a client dribbling a byte now
/// and then cannot stretch it.
pub struct Reading {
    stream: UnixStream,
    deadline: Option<Instant>,
}

impl Reading {
    pub fn new(stream: UnixStream, wait: Duration) -> Self {
        Self { stream, deadline: Some(Instant::now() + wait) }
    }

    /// The first request came: from now on reads wait as long as it takes.
    pub fn lift_deadline(&mut self) -> io::Result<()> {
        if self.deadline.take().is_some() {
            self.stream.set_read_timeout(None)?;
        }
        Ok(())
    }
}

impl Reading {
    /// Whether the deadline passed before a request came.
    pub fn timed_out(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

impl Read for Reading {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::ErrorKind::TimedOut.into());
            }
            self.stream.set_read_timeout(Some(left))?;
        }
        self.stream.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};

    #[test]
    fn a_user_holds_a_few_connections_and_root_any_number() {
        let c = Arc::new(Connections::default());
        let mut mine: Vec<Admitted> = (0..MAX_PER_UID).map(|_| c.admit(1000).unwrap()).collect();
        assert_eq!(c.admit(1000).err().unwrap(), format!("too many connections from uid 1000 (at most {MAX_PER_UID} at once)"));
        // Another user, and root, are not locked out by the first.
        let theirs = c.admit(1001).unwrap();
        let roots: Vec<Admitted> = (0..MAX_PER_UID + 2).map(|_| c.admit(0).unwrap()).collect();
        // One closed: room for one more.
        mine.pop();
        let again = c.admit(1000).unwrap();
        assert_eq!(c.count(), MAX_PER_UID + 1 + MAX_PER_UID + 2);
        drop((again, theirs, roots));
        assert_eq!(c.count(), MAX_PER_UID - 1);
        drop(mine);
        // The total holds for everyone, root too.
        let many: Vec<Admitted> = (0..MAX_CONNECTIONS).map(|_| c.admit(0).unwrap()).collect();
        assert!(c.admit(0).err().unwrap().starts_with("too many connections (at most"));
        assert!(c.admit(1002).is_err());
        drop(many);
        assert!(c.admit(1002).is_ok());
    }

    #[test]
    fn a_silent_or_dribbling_connection_is_cut_at_the_deadline_and_a_talking_one_is_not() {
        let wait = Duration::from_millis(300);
        // Silent. (Hung up after 5 s: without a deadline the test fails
        // rather than hangs.)
        let (client, server) = UnixStream::pair().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(5));
            drop(client);
        });
        let start = Instant::now();
        let mut r = BufReader::new(Reading::new(server, wait));
        assert!(r.fill_buf().is_err());
        assert!(start.elapsed() >= wait && start.elapsed() < wait * 3, "{:?}", start.elapsed());
        // A byte every 100 ms: still cut at the deadline.
        let (mut client, server) = UnixStream::pair().unwrap();
        let dribble = std::thread::spawn(move || {
            for _ in 0..50 {
                if client.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let start = Instant::now();
        let mut r = BufReader::new(Reading::new(server, wait));
        let mut line = Vec::new();
        assert!(r.read_until(b'\n', &mut line).is_err());
        assert!(start.elapsed() < wait * 3, "{:?}", start.elapsed());
        drop(r);
        dribble.join().unwrap();
        // A request in time lifts it: the next may come much later.
        let (mut client, server) = UnixStream::pair().unwrap();
        let mut r = BufReader::new(Reading::new(server, wait));
        client.write_all(b"\"status\"\n").unwrap();
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        r.get_mut().lift_deadline().unwrap();
        let later = std::thread::spawn(move || {
            std::thread::sleep(wait * 2);
            client.write_all(b"\"stats\"\n").unwrap();
            client
        });
        line.clear();
        r.read_line(&mut line).unwrap();
        assert_eq!(line, "\"stats\"\n");
        drop(later.join().unwrap());
    }
}
