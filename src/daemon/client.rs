//! The launch wrapper's side of the socket.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::protocol::{Request, Response};

pub struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
    timeout: Duration,
}

impl Client {
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Self> {
        let stream = UnixStream::connect(socket).with_context(|| format!("connecting to {}", socket.display()))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Self { stream, reader, timeout })
    }

    /// Send one request and wait for its answer.
    pub fn request(&mut self, req: &Request) -> Result<Response> {
        let mut line = serde_json::to_vec(req)?;
        line.push(b'\n');
        self.stream.write_all(&line).context("sending to the scx_gamer daemon")?;
        let mut answer = String::new();
        match self.reader.read_line(&mut answer) {
            Ok(0) => bail!("the scx_gamer daemon closed the connection"),
            Ok(_) => {}
            // What a read timeout looks like ("Resource temporarily
            // unavailable" says nothing to a player).
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("the scx_gamer daemon did not answer within {:?}", self.timeout)
            }
            Err(e) => return Err(e).context("reading the scx_gamer daemon's answer"),
        }
        serde_json::from_str(answer.trim()).with_context(|| format!("bad answer from the daemon: {answer:?}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    #[test]
    fn a_daemon_that_does_not_answer_is_named_with_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut client = Client::connect(&path, Duration::from_millis(200)).unwrap();
        let _held = listener.accept().unwrap(); // accepted, never answered
        let err = client.request(&Request::Status).unwrap_err();
        assert_eq!(format!("{err:#}"), "the scx_gamer daemon did not answer within 200ms");
    }
}
