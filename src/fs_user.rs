//! File work done as another user. Run as root (`sudo scx_gamer tune`),
//! the tuner writes into a player's folders (the store, its journal, the
//! folders made for them) and reads a player's files (their MangoHud
//! config). Done as root, a link the player — or the game, which runs as
//! the player — planted there would make root write or read any file on
//! the machine: a store's temporary file linked to /etc/shadow was
//! truncated and then given to the player. So such work runs with the
//! player's file-system ids: it reaches no file the player could not reach
//! anyway, and what it creates is the player's without a chown.

use std::io;

/// Run `f` with the file-system ids of `owner` (uid, gid) and no
/// supplementary groups, when we are root and `owner` is given; else as we
/// are. File-system ids are per thread (setfsuid), so `f` runs on a thread
/// of its own; dropping fsuid 0 also drops the file-system capabilities
/// (CAP_DAC_OVERRIDE, CAP_FOWNER, …) of that thread.
pub fn as_owner<T: Send>(owner: Option<(u32, u32)>, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let Some((uid, gid)) = owner.filter(|_| nix::unistd::geteuid().is_root()) else { return f() };
    std::thread::scope(|s| {
        s.spawn(|| {
            switch_to(uid, gid)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("file work as another user panicked")))
    })
}

/// This thread's file-system ids to `uid`/`gid`, its supplementary groups
/// to none.
fn switch_to(uid: u32, gid: u32) -> io::Result<()> {
    // The raw system call: glibc's setgroups() changes every thread of the
    // process (POSIX), the kernel's only the caller.
    // SAFETY: setgroups(0, NULL) reads no memory.
    if unsafe { nix::libc::syscall(nix::libc::SYS_setgroups, 0, std::ptr::null::<nix::libc::gid_t>()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    nix::unistd::setfsgid(nix::unistd::Gid::from_raw(gid));
    nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
    // setfsuid reports no error; asking again returns the id in force.
    let now = nix::unistd::setfsuid(nix::unistd::Uid::from_raw(uid));
    if now.as_raw() != uid {
        return Err(io::Error::other(format!("could not take the file-system ids of uid {uid}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn files_are_made_as_the_owner_and_what_only_root_may_touch_is_out_of_reach() {
        assert!(nix::unistd::geteuid().is_root(), "this test needs root (it works as another user)");
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "root only").unwrap();
        std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let players = crate::testing::players_folder(dir.path(), "player");
        let made = as_owner(Some((65534, 65534)), || {
            std::fs::write(players.join("mine"), "x")?;
            // Through a link the player planted: refused.
            std::os::unix::fs::symlink(&secret, players.join("link"))?;
            Ok(std::fs::write(players.join("link"), "owned").unwrap_err().kind())
        })
        .unwrap();
        assert_eq!(made, io::ErrorKind::PermissionDenied);
        assert_eq!(std::fs::read_to_string(&secret).unwrap(), "root only");
        assert_eq!(std::fs::metadata(players.join("mine")).unwrap().uid(), 65534);
        // This thread is still root; without an owner, as we are.
        assert!(as_owner(None, || std::fs::read_to_string(&secret)).is_ok());
        assert!(as_owner(Some((65534, 65534)), || std::fs::read_to_string(&secret)).is_err());
    }
}
