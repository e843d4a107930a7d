//! Open a MangoHud log for reading, safely when we run as root and the
//! folder belongs to the player: no following symlinks (a link named
//! `x.csv` to /etc/shadow must not be parsed and quoted back in error
//! messages), nothing but regular files (a FIFO would block us forever).

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

pub fn open_log(path: &Path) -> io::Result<File> {
    let file = std::fs::OpenOptions::new().read(true).custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_links_and_fifos() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("game.csv");
        std::fs::write(&log, "fps,frametime\n").unwrap();
        assert!(open_log(&log).is_ok());
        let link = dir.path().join("link.csv");
        std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
        assert!(open_log(&link).is_err());
        let fifo = dir.path().join("fifo.csv");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(open_log(&fifo).unwrap_err().to_string().contains("not a regular file"));
    }
}
