//! Who is asking, and may they: the caller's uid comes from the kernel
//! (SO_PEERCRED), never from the request; a pid may only be named by the
//! user who owns that process.

use std::os::unix::net::UnixStream;
use std::path::Path;

use anyhow::{Context, Result};
use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};

/// The connected process's uid and pid, as the kernel recorded them.
pub fn credentials(stream: &UnixStream) -> Result<(u32, i32)> {
    let cred = getsockopt(stream, PeerCredentials).context("reading the caller's credentials (SO_PEERCRED)")?;
    Ok((cred.uid(), cred.pid()))
}

/// May `caller_uid` make `pid` the game? Root may name any process.
pub fn may_act_on(proc_root: &Path, caller_uid: u32, pid: u32) -> Result<(), String> {
    if pid == 0 {
        return Err("pid 0 is not a process".into());
    }
    let owner = crate::procfs::real_uid(proc_root, pid)?;
    if caller_uid != 0 && owner != caller_uid {
        return Err(format!("pid {pid} belongs to uid {owner}, not to you (uid {caller_uid})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_or_root_may_name_a_process() {
        let proc_root = tempfile::tempdir().unwrap();
        std::fs::create_dir(proc_root.path().join("42")).unwrap();
        std::fs::write(proc_root.path().join("42/status"), "Name:\tgame\nUid:\t1000\t1000\t1000\t1000\n").unwrap();
        assert!(may_act_on(proc_root.path(), 1000, 42).is_ok());
        assert!(may_act_on(proc_root.path(), 0, 42).is_ok());
        assert_eq!(may_act_on(proc_root.path(), 1001, 42).unwrap_err(), "pid 42 belongs to uid 1000, not to you (uid 1001)");
        assert_eq!(may_act_on(proc_root.path(), 1000, 43).unwrap_err(), "no process with pid 43");
        assert!(may_act_on(proc_root.path(), 1000, 0).is_err());
    }

    #[test]
    fn reads_real_credentials() {
        let (a, b) = UnixStream::pair().unwrap();
        let (uid, pid) = credentials(&a).unwrap();
        assert_eq!(uid, nix::unistd::getuid().as_raw());
        assert_eq!(pid as u32, std::process::id());
        drop(b);
    }
}
