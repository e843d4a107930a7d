//! The launch wrapper's side of the socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::protocol::{Request, Response};

pub struct Client {
    stream: UnixStream,
    reader: BufReader<UnixStream>,
}

impl Client {
    pub fn connect(socket: &Path, timeout: Duration) -> Result<Self> {
        let stream = UnixStream::connect(socket).with_context(|| format!("connecting to {}", socket.display()))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Self { stream, reader })
    }

    /// Send one request and wait for its answer.
    pub fn request(&mut self, req: &Request) -> Result<Response> {
        let mut line = serde_json::to_vec(req)?;
        line.push(b'\n');
        self.stream.write_all(&line).context("sending to the scx_gamer daemon")?;
        let mut answer = String::new();
        if self.reader.read_line(&mut answer).context("reading the scx_gamer daemon's answer")? == 0 {
            bail!("the scx_gamer daemon closed the connection");
        }
        serde_json::from_str(answer.trim()).with_context(|| format!("bad answer from the daemon: {answer:?}"))
    }
}
