//! Attach and detach run with the calling thread in the real-time class.
//!
//! Kernels 6.19.0 to 6.19.10 (6.19.6 is the oldest of our test bed) can
//! wedge the whole machine in either step, when the thread that links or
//! unlinks the scheduler is itself scheduled by sched_ext:
//!
//! - **Detach.** `scx_disable()` marks the scheduler as exiting, which stops
//!   every move out of the BPF scheduler's own queues (`scx_aborting`), and
//!   only then queues the kernel's disable work. A thread preempted between
//!   the two sits in our queues, which nobody may drain any more, and never
//!   queues the work that would rescue it: the RCU read-side section it is
//!   in never ends, RCU stalls, and the machine hangs (the 6.19.6 VM run of
//!   `one_process_switches_between_three_configs...` did: a preempted
//!   task blocking RCU, the RCU thread starved for two minutes).
//! - **Attach.** `scx_enable()` moves every task into sched_ext one by one,
//!   the calling thread among them; once it is moved, any not-yet-moved
//!   CPU-bound task of the fair class outranks it, and it can starve there
//!   holding the lock every fork waits for.
//!
//! 6.19.11 fixed both in the kernel (preemption off around the first; the
//! second runs in a real-time kernel thread). A real-time thread is never
//! scheduled by sched_ext, so doing the same from here closes both windows
//! on the older kernels; on newer ones it costs two system calls.

use nix::libc;

/// Run `step` with the calling thread in SCHED_FIFO at the lowest
/// real-time priority, then put its scheduling policy back. Should the
/// switch be refused (no CAP_SYS_NICE, an RT limit), `step` runs as it is:
/// the windows above are narrow and rare, and the step itself still works.
pub fn in_rt_class<T>(step: impl FnOnce() -> T) -> T {
    let _restore = RtClass::enter();
    step()
}

/// The calling thread's policy before `enter`, put back on drop.
struct RtClass {
    before: Option<(libc::c_int, libc::sched_param)>,
}

impl RtClass {
    fn enter() -> Self {
        // SAFETY: plain system calls on the calling thread (pid 0) with
        // pointers to locals.
        unsafe {
            let policy = libc::sched_getscheduler(0);
            let mut param: libc::sched_param = std::mem::zeroed();
            if policy < 0 || libc::sched_getparam(0, &mut param) != 0 {
                return Self { before: None };
            }
            // Only from the classes sched_ext takes (SCHED_EXT is 7): a
            // real-time thread is out of its reach already, and a deadline
            // one could not be put back with sched_setscheduler.
            if !matches!(policy & !libc::SCHED_RESET_ON_FORK, libc::SCHED_OTHER | libc::SCHED_BATCH | libc::SCHED_IDLE | 7) {
                return Self { before: None };
            }
            let fifo = libc::sched_param { sched_priority: 1 };
            // RESET_ON_FORK: nothing forked meanwhile inherits the class.
            if libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &fifo) != 0 {
                log::debug!("running the attach/detach in the real-time class: {}", std::io::Error::last_os_error());
                return Self { before: None };
            }
            Self { before: Some((policy, param)) }
        }
    }
}

impl Drop for RtClass {
    fn drop(&mut self) {
        if let Some((policy, param)) = self.before {
            // SAFETY: as in `enter`. The nice value is kept by the kernel
            // across the two switches.
            if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
                log::warn!("could not leave the real-time class after an attach/detach: {}", std::io::Error::last_os_error());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> libc::c_int {
        unsafe { libc::sched_getscheduler(0) }
    }

    #[test]
    fn the_step_runs_in_the_rt_class_and_the_thread_leaves_it_after() {
        // On its own thread: the policy is per thread, and the test
        // harness's other threads must not see it change.
        std::thread::spawn(|| {
            assert!(nix::unistd::Uid::effective().is_root(), "this test needs root (CAP_SYS_NICE): run the suite as root");
            let before = policy();
            assert_eq!(before, libc::SCHED_OTHER);
            // A nice value of its own (this thread's: PRIO_PROCESS 0 on
            // Linux), which the round trip must keep.
            assert_eq!(unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 5) }, 0);
            let inside = in_rt_class(policy);
            assert_eq!(inside, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK);
            assert_eq!(policy(), before);
            assert_eq!(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }, 5, "the nice value is kept");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_thread_already_real_time_is_left_as_it_is() {
        std::thread::spawn(|| {
            let rr = libc::sched_param { sched_priority: 3 };
            assert_eq!(unsafe { libc::sched_setscheduler(0, libc::SCHED_RR, &rr) }, 0, "this test needs root");
            let inside = in_rt_class(policy);
            assert_eq!(inside, libc::SCHED_RR);
            assert_eq!(policy(), libc::SCHED_RR);
        })
        .join()
        .unwrap();
    }
}
