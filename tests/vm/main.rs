//! The tests that need a sched_ext kernel: the scheduler (`sched`), the
//! tuner (`tune`) and the Steam wrapper against the root daemon (`daemon`),
//! in the TCG VM test bed (scripts/vm-run), and the Debian package on a
//! booted Debian system (`system`: a VM of its own). One test binary, so that all
//! their scenarios share the VMs it boots (tests/support/mod.rs: one per
//! core, each running scenarios one after another) instead of each file
//! paying for boots of its own and leaving a core idle while its last
//! scenario runs. `cargo test --test vm -- sched::` runs one part.

#[path = "../support/mod.rs"]
mod support;

mod daemon;
mod sched;
mod system;
mod tune;
