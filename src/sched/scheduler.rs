//! `Scheduler`: one loaded copy of the BPF scheduler with one `SchedConfig`.
//!
//! Life cycle: `load` (open, set rodata, verifier) → `attach` → … → `detach`
//! (→ `attach` again …). Loading does not need sched_ext to be free, so the
//! tuner loads the next config while the current one is still attached; a
//! switch is then only detach + attach (`switch_to`). Many schedulers may be
//! loaded, one after another, in one process, and a detached one attaches
//! again without a load (`pool::Pool` keeps them).

use std::collections::{BTreeSet, VecDeque};
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use libbpf_rs::libbpf_sys;
use libbpf_rs::{AsRawLibbpf, Link, MapCore, MapFlags, MapHandle, OpenObject, PrintLevel, ProgramInput};
use scx_utils::{UserExitInfo, scx_ops_load, scx_ops_open};

use super::bpf_intf;
use super::bpf_skel::{BpfSkel, BpfSkelBuilder};
use super::config::SchedConfig;
use super::input::InputBatch;
use super::preflight;
use super::rt_switch;
use super::stats::Metrics;

/// Each knob into its BPF rodata field (`for_each_knob!`: name × scale).
macro_rules! write_rodata {
    ($( #[doc = $doc:literal] $name:ident : $ty:ty = $default:expr, $min:literal ..= $max:literal, $unit:literal,
        $bpf:ident * $scale:literal, absent $absent:expr; )*) => {
        fn write_rodata(config: &SchedConfig, rodata: &mut super::bpf_skel::types::rodata) {
            $( rodata.$bpf = config.$name * $scale; )*
        }
    };
}
crate::for_each_knob!(write_rodata);

/// Lines libbpf printed recently (the verifier log among them): the tail goes
/// into the error when a load fails. libbpf's print hook is a plain fn, hence
/// a global.
static LIBBPF_LOG: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());
const LIBBPF_LOG_LINES: usize = 400;
const VERIFIER_TAIL_LINES: usize = 30;

/// The input state every copy of the scheduler this process loads shares
/// (intf.h's `input_shared` map), and the one in-kernel hook that stamps
/// it. Set by the first copy that loads, for the process's life. With a
/// hook per copy, a tune that keeps its configs loaded had one fentry
/// program per config on input_event, and attaching and detaching each
/// rewrote kernel text with IPIs to every CPU: ~10 % of the tuner's CPU
/// in a 4-minute profile (BENCHMARKS.md "The tuner's own CPU time").
struct SharedInput {
    map: MapHandle,
    /// None: no hook in this kernel, or it has not attached yet (the
    /// trampoline of input_event was full: every later load tries again,
    /// with a hook program of its own that stamps this same map); the
    /// Session's /dev/input reader calls signal_input meanwhile.
    hook: Mutex<Option<Link>>,
}

impl SharedInput {
    fn hooked(&self) -> bool {
        self.hook.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

static SHARED_INPUT: OnceLock<SharedInput> = OnceLock::new();
/// Held by a load while SHARED_INPUT is unset: two loads are never both
/// the first.
static FIRST_LOAD: Mutex<()> = Mutex::new(());

/// Input events the schedulers of this process have seen (monotonic).
fn input_events_seen() -> u64 {
    let Some(shared) = SHARED_INPUT.get() else { return 0 };
    match shared.map.lookup(&0u32.to_ne_bytes(), MapFlags::ANY) {
        Ok(Some(v)) if v.len() >= std::mem::size_of::<bpf_intf::input_shared>() => {
            // SAFETY: the value is one struct input_shared (intf.h): two
            // u64s, any bytes valid; read unaligned from the Vec.
            unsafe { std::ptr::read_unaligned(v.as_ptr().cast::<bpf_intf::input_shared>()) }.events
        }
        _ => 0,
    }
}

fn capture_libbpf_print(level: PrintLevel, msg: String) {
    if level == PrintLevel::Warn {
        log::debug!("libbpf: {}", msg.trim_end());
    }
    let mut log = LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner());
    for line in msg.lines() {
        if log.len() == LIBBPF_LOG_LINES {
            log.pop_front();
        }
        log.push_back(line.to_string());
    }
}

fn libbpf_log_tail(n: usize) -> String {
    let log = LIBBPF_LOG.lock().unwrap_or_else(|e| e.into_inner());
    let skip = log.len().saturating_sub(n);
    log.iter().skip(skip).cloned().collect::<Vec<_>>().join("\n")
}

/// Where a scheduler is in its life cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Loaded,
    Attached,
    Detached,
}

pub struct Scheduler {
    // Field order is drop order: the link before the skeleton, the skeleton
    // before the storage it borrows.
    link: Option<Link>,
    skel: BpfSkel<'static>,
    _object: Box<MaybeUninit<OpenObject>>,
    dump_ptr: *const std::ffi::c_char,
    config: SchedConfig,
    phase: Phase,
    load_time: Duration,
    /// Counters of the copies this one replaced (`restart`), so that a
    /// scheduler that came back reads on where the old one stopped.
    carried: Metrics,
    /// sched_ext's CPU hotplug count when this copy was opened (scx_utils
    /// writes it into the struct_ops; 0: not known).
    hotplug_seq: u64,
}

/// Timings of one switch from an attached scheduler to a loaded one.
#[derive(Clone, Copy, Debug)]
pub struct SwitchTiming {
    /// Detaching the old scheduler (until sched_ext reads "disabled").
    pub detach: Duration,
    /// Old one detached → sched_ext "enabled" with the new one: the time
    /// the system ran on the kernel's default scheduler.
    pub gap: Duration,
    /// The new one was loaded afresh during the gap: a kept copy the
    /// kernel would not link again (`attach`).
    pub loaded_afresh: bool,
}

/// The steps `attach` chooses between when it links a scheduler: behind a
/// trait so that the choice is tested on a fake, as no kernel we test
/// refuses a re-link and a real load needs root and sched_ext.
trait Linkable: Sized {
    fn config(&self) -> &SchedConfig;
    /// Attached before and detached since: kept for another turn.
    fn kept(&self) -> bool;
    /// Loaded before a CPU went offline or online (suspend/resume,
    /// hotplug): the kernel ends such a copy as soon as it is enabled
    /// ("expected hotplug seq … did not match"), asking for a restart.
    fn stale(&self) -> bool;
    /// Link the struct_ops map: from now on it is the system's scheduler.
    fn link(&mut self) -> Result<()>;
    /// A fresh load of the same config that reads on where this copy
    /// stopped: the same game processes, its counters carried.
    fn load_afresh(&self) -> Result<Self>;
}

/// Link `sched`. A kept copy the kernel will not link again costs a load,
/// not the caller's switch: it is replaced by a fresh load of its config,
/// linked (true). A copy never attached has nothing to fall back on, so its
/// error is the caller's. On error `sched` stays as it was, unlinked.
fn link_or_load_afresh<S: Linkable>(sched: &mut S) -> Result<bool> {
    if sched.stale() {
        // A suspend and resume between two turns of a race: every copy in
        // the pool (and one preloaded) was loaded for the CPUs before it.
        log::info!("{}: CPUs went offline or online since it was loaded (suspend/resume, hotplug): loading it afresh", sched.config());
        let mut fresh = sched.load_afresh()?;
        fresh.link()?;
        *sched = fresh;
        return Ok(true);
    }
    let Err(e) = sched.link() else { return Ok(false) };
    if !sched.kept() {
        return Err(e);
    }
    log::warn!("{}, kept from its last turn, did not attach again ({e:#}): loading it afresh", sched.config());
    let mut fresh = sched.load_afresh()?;
    fresh.link()?;
    *sched = fresh;
    Ok(true)
}

impl Scheduler {
    /// Open and load (verify) the BPF scheduler with `config`; not attached.
    pub fn load(config: &SchedConfig) -> Result<Self> {
        config.validate()?;
        preflight::check_privileges()?;
        preflight::check_sched_ext_kernel()?;
        preflight::warn_about_kernel();
        scx_utils::try_set_rlimit_infinity();
        // Info, not Debug: the verifier's log of a rejected program comes
        // as a warning; libbpf's debug chatter (every map, relocation and
        // feature probe of every load) was formatted and kept for nothing
        // (1.4 % of the tuner's samples in a 3-minute profile).
        libbpf_rs::set_print(Some((PrintLevel::Info, capture_libbpf_print)));

        let start = Instant::now();
        let mut object = Box::new(MaybeUninit::<OpenObject>::uninit());
        // SAFETY: the skeleton borrows the boxed storage for as long as it
        // lives. The box is never moved out of nor dropped before the
        // skeleton: both are fields of `Scheduler`, declared so that the
        // skeleton drops first, and a box's heap address is stable.
        let storage: &'static mut MaybeUninit<OpenObject> = unsafe { &mut *(object.as_mut() as *mut MaybeUninit<OpenObject>) };

        let builder = BpfSkelBuilder::default();
        let mut open = scx_ops_open!(builder, storage, gamer_ops, None::<libbpf_sys::bpf_object_open_opts>)
            .context("opening the scx_gamer BPF object")?;
        let hotplug_seq = open.struct_ops.gamer_ops_mut().hotplug_seq;

        let rodata = open.maps.rodata_data.as_mut().context("BPF object has no rodata")?;
        write_rodata(config, rodata);
        // The input state: the first copy's, shared (SharedInput).
        let _first = SHARED_INPUT.get().is_none().then(|| FIRST_LOAD.lock().unwrap_or_else(|e| e.into_inner()));
        let shared = SHARED_INPUT.get();
        if let Some(s) = shared {
            open.maps.input_shared.reuse_fd(s.map.as_fd()).context("sharing the input state with the first copy")?;
        }
        // The in-kernel input hook, where the kernel has it, in the first
        // copy (and, while none has attached, in every later one); where
        // none is attached the Session's userspace reader calls
        // signal_input. Attached by hand below, not by the skeleton's
        // attach: a hook that cannot attach must not keep the scheduler
        // from attaching.
        let hook_wanted = preflight::input_hook_enabled() && !shared.is_some_and(SharedInput::hooked);
        open.progs.on_input_event.set_autoload(hook_wanted);
        open.progs.on_input_event.set_autoattach(false);

        let skel = match scx_ops_load!(open, gamer_ops, uei) {
            Ok(skel) => skel,
            Err(e) => {
                return Err(e.context(format!(
                    "the kernel rejected scx_gamer ({config}); last lines of the libbpf/verifier log:\n{}",
                    libbpf_log_tail(VERIFIER_TAIL_LINES)
                )));
            }
        };

        let hook = match hook_wanted {
            true => skel
                .progs
                .on_input_event
                .attach()
                .map_err(|e| match shared {
                    None => log::warn!("input: the in-kernel hook did not attach ({e}); the /dev/input reader stands in"),
                    Some(_) => log::debug!("input: the in-kernel hook did not attach at this load either ({e})"),
                })
                .ok(),
            false => None,
        };
        match shared {
            None => {
                let map = MapHandle::try_from(&skel.maps.input_shared).context("keeping the input state")?;
                // (FIRST_LOAD is held: nobody else sets it)
                let _ = SHARED_INPUT.set(SharedInput { map, hook: Mutex::new(hook) });
            }
            Some(s) => {
                let mut slot = s.hook.lock().unwrap_or_else(|e| e.into_inner());
                // (one that attached meanwhile, at a load on another thread,
                // stays; this one is dropped, detached)
                if let (None, Some(link)) = (slot.as_ref(), hook) {
                    *slot = Some(link);
                    log::info!("input: the in-kernel hook attached at a later load; the /dev/input reader only measures now");
                }
            }
        }

        // The exit dump buffer of *this* skeleton (scx_utils keeps only the
        // latest one globally, which is another scheduler's once the next
        // config is preloaded).
        let dump_ptr = {
            let mut size = 0usize;
            let map = &skel.maps.data_uei_dump;
            // SAFETY: the map belongs to the loaded skeleton; libbpf returns
            // its mmap'ed contents, valid while the skeleton lives.
            unsafe {
                libbpf_sys::bpf_map__initial_value(map.as_libbpf_object().as_ptr(), (&raw mut size).cast()) as *const std::ffi::c_char
            }
        };

        Ok(Self {
            link: None,
            skel,
            _object: object,
            dump_ptr,
            config: *config,
            phase: Phase::Loaded,
            load_time: start.elapsed(),
            carried: Metrics::default(),
            hotplug_seq,
        })
    }

    pub fn config(&self) -> &SchedConfig {
        &self.config
    }

    /// Time `load` took (open + rodata + verifier).
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    pub fn is_attached(&self) -> bool {
        self.phase == Phase::Attached
    }

    /// Make this the system's sched_ext scheduler. A detached scheduler
    /// attaches again without a new load: its struct_ops map is linked
    /// anew (the kernel keeps a link-based map re-linkable after its link
    /// goes), and its verified programs, maps and game list stay as they
    /// were — a switch back to a config costs an attach, not the verifier.
    /// Should the kernel refuse that, the copy is loaded afresh and
    /// attached (true; `load_time` is then that load's).
    pub fn attach(&mut self) -> Result<bool> {
        match self.phase {
            Phase::Attached => bail!("scheduler ({}) is already attached", self.config),
            Phase::Detached => self.clear_exit_record(),
            Phase::Loaded => {}
        }
        preflight::check_no_other_scheduler()?;
        // The struct_ops map alone is linked (`link`); the only other
        // program that attaches, the input hook, is the process's
        // (SharedInput).
        link_or_load_afresh(self)
    }

    /// Whether `attach` may be called again: loaded and never attached, or
    /// detached by us (not ejected by the kernel).
    pub fn reattachable(&self) -> bool {
        self.phase != Phase::Attached
    }

    /// Forget the exit record of the last detach, so that `exited` speaks
    /// of the next attach only.
    fn clear_exit_record(&mut self) {
        let data = self.skel.maps.data_data.as_mut().expect("loaded skeleton has .data");
        // SAFETY: the exit record is plain bytes (integers and char arrays)
        // in the mmap'ed .data, written by BPF only in ops.exit, which ran
        // before sched_ext read "disabled" (detach waits for that); zero is
        // its state before any exit.
        unsafe { std::ptr::write_bytes(&raw mut data.uei, 0, 1) };
    }

    /// Stop being the system's scheduler; returns once sched_ext is disabled.
    pub fn detach(&mut self) -> Result<Duration> {
        let start = Instant::now();
        if self.phase == Phase::Attached {
            // In the real-time class: an older kernel can wedge when the
            // thread that disables sched_ext is preempted (rt_switch).
            let link = self.link.take();
            rt_switch::in_rt_class(|| drop(link));
            self.phase = Phase::Detached;
            wait_for_state(|s| s == "disabled", Duration::from_secs(10)).context("sched_ext did not become disabled after detaching")?;
        }
        Ok(start.elapsed())
    }

    /// Detach `self` and attach `next` (already loaded), timing the gap.
    pub fn switch_to(&mut self, next: &mut Scheduler) -> Result<SwitchTiming> {
        let detach = self.detach()?;
        let detached_at = Instant::now();
        let loaded_afresh = next.attach()?;
        // Or ended at once (a CPU went offline or online just now): the
        // caller's restart takes over, as after any ejection.
        wait_for_state(|s| s == "enabled" || next.exited(), Duration::from_secs(10))
            .context("sched_ext did not become enabled after attaching")?;
        Ok(SwitchTiming { detach, gap: detached_at.elapsed(), loaded_afresh })
    }

    /// True once the kernel ended this scheduler (error, watchdog, sysrq or
    /// our own detach).
    pub fn exited(&self) -> bool {
        let uei = &self.skel.maps.data_data.as_ref().expect("loaded skeleton has .data").uei;
        // SAFETY: plain read of mmap'ed BPF memory the kernel writes to.
        unsafe { std::ptr::read_volatile(&uei.kind) != 0 }
    }

    /// True when the kernel ended this scheduler while it was attached
    /// (an error, a stall, sysrq-S), not through `detach`.
    pub fn ejected(&self) -> bool {
        self.phase == Phase::Attached && self.exited()
    }

    /// True when the kernel ended this scheduler while attached and asked
    /// for a restart (`SCX_ECODE_ACT_RESTART`): a CPU went offline or came
    /// online (CPU hotplug, suspend/resume), nothing wrong with the policy.
    pub fn restartable(&self) -> bool {
        self.ejected() && self.exit_info().should_restart()
    }

    /// Replace this ejected scheduler by a fresh copy of the same config
    /// with the same game processes, attached; its counters read on from
    /// this one's, `restarts` one up. On error `self` stays as it was:
    /// ejected, for the caller to report.
    pub fn restart(&mut self) -> Result<()> {
        let mut fresh = self.load_afresh()?;
        fresh.carried.restarts += 1;
        // The ejected copy's link goes first (one scheduler attaches at a
        // time), once the kernel has finished disabling it.
        drop(self.link.take());
        wait_for_state(|s| s == "disabled", Duration::from_secs(10)).context("sched_ext did not become disabled after the ejection")?;
        fresh.attach()?;
        wait_for_state(|s| s == "enabled" || fresh.exited(), Duration::from_secs(10))
            .context("sched_ext did not become enabled after the restart")?;
        self.phase = Phase::Detached;
        *self = fresh;
        Ok(())
    }

    /// The kernel's exit record: kind, reason, message, debug dump.
    pub fn exit_info(&self) -> UserExitInfo {
        let uei = &self.skel.maps.data_data.as_ref().expect("loaded skeleton has .data").uei;
        let has = |field| scx_utils::compat::struct_has_field("scx_exit_info", field).unwrap_or(false);
        UserExitInfo::new(
            &uei.kind as *const _,
            if has("exit_code") { &uei.exit_code as *const _ } else { std::ptr::null() },
            if has("exit_cpu") { &uei.exit_cpu as *const _ } else { std::ptr::null() },
            uei.reason.as_ptr() as *const _,
            uei.msg.as_ptr() as *const _,
            self.dump_ptr,
        )
    }

    /// The counters since this scheduler was loaded (and those of the
    /// copies it replaced after a restart).
    pub fn stats(&self) -> Metrics {
        let c = self.counters();
        let mut m = Metrics {
            nr_running: c.nr_running,
            game_tgids: self.game_tgids().len() as u64,
            local_dispatches: c.local_dispatches,
            cpu_dispatches: c.cpu_dispatches,
            shared_dispatches: c.shared_dispatches,
            kthread_dispatches: c.kthread_dispatches,
            game_dispatches: c.game_dispatches,
            boosted_dispatches: c.boosted_dispatches,
            input_events: 0,
            migrations: c.migrations,
            mig_blocked: c.mig_blocked,
            mig_saturated: c.mig_saturated,
            game_mig_blocked: c.game_mig_blocked,
            game_mig_saturated: c.game_mig_saturated,
            preempt_kicks: c.preempt_kicks,
            idle_kicks: c.idle_kicks,
            slice_expired: c.slice_expired,
            game_forks: c.game_forks,
            input_delay_samples: c.input_delay_samples,
            input_delay_ns: c.input_delay_ns,
            input_lead_samples: c.input_lead_samples,
            input_lead_ns: c.input_lead_ns,
            restarts: 0,
            input_hook: u64::from(self.sees_input()),
        };
        m.add_counters(&self.carried);
        // The process's count (shared by every copy), carried or not.
        m.input_events = input_events_seen();
        m
    }

    /// The per-CPU counters summed. Wrapping: nr_running goes up on one CPU
    /// and down on another's copy only in pairs that cancel in the sum.
    fn counters(&self) -> bpf_intf::gamer_counters {
        const N: usize = std::mem::size_of::<bpf_intf::gamer_counters>() / 8;
        let mut sum = [0u64; N];
        let per_cpu = self.skel.maps.counters.lookup_percpu(&0u32.to_ne_bytes(), MapFlags::ANY);
        match per_cpu {
            Ok(Some(cpus)) => {
                for cpu in cpus {
                    for (s, chunk) in sum.iter_mut().zip(cpu.chunks_exact(8)) {
                        *s = s.wrapping_add(u64::from_ne_bytes(chunk.try_into().expect("8-byte chunk")));
                    }
                }
            }
            Ok(None) => {}
            Err(e) => log::debug!("reading the scheduler's counters: {e}"),
        }
        // SAFETY: gamer_counters is a C struct of N u64s and nothing else
        // (intf.h), so any [u64; N] is a valid value of it.
        unsafe { std::mem::transmute::<[u64; N], bpf_intf::gamer_counters>(sum) }
    }

    /// The processes the scheduler treats as the game.
    pub fn game_tgids(&self) -> BTreeSet<u32> {
        self.skel.maps.game_tgids.keys().filter_map(|k| k.try_into().ok().map(u32::from_ne_bytes)).collect()
    }

    /// Add and remove game processes; tasks pick the change up at their next
    /// scheduling event.
    pub fn update_game_tgids(&self, add: &[u32], remove: &[u32]) -> Result<()> {
        if add.is_empty() && remove.is_empty() {
            return Ok(());
        }
        let map = &self.skel.maps.game_tgids;
        let origin = bpf_intf::game_tgid_origin_GAME_FROM_USER.to_ne_bytes();
        // Removals first: in a full map the additions fail, and the dead
        // members must still make room for the next try.
        for tgid in remove {
            // Already gone (raced with another removal) is fine.
            let _ = map.delete(&tgid.to_ne_bytes());
        }
        let added = add.iter().try_for_each(|tgid| {
            map.update(&tgid.to_ne_bytes(), &origin, MapFlags::ANY).with_context(|| format!("adding game process {tgid}"))
        });
        // BPF learns of whatever changed, also when an addition failed.
        self.bump_game_gen();
        added
    }

    fn bump_game_gen(&self) {
        let bss = self.skel.maps.bss_data.as_ref().expect("loaded skeleton has .bss");
        let ptr = &bss.game_gen as *const u64 as *mut u64;
        // SAFETY: game_gen is an aligned u64 in the mmap'ed .bss that BPF
        // also bumps with atomic adds; an atomic add here cannot lose theirs.
        unsafe { AtomicU64::from_ptr(ptr) }.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether this scheduler sees input in the kernel itself (the
    /// process's hook is attached): then the userspace reader's events are
    /// not passed on.
    pub fn sees_input(&self) -> bool {
        SHARED_INPUT.get().is_some_and(SharedInput::hooked)
    }

    /// Tell BPF that the userspace reader saw `batch`: opens the input
    /// window and counts its delay, or, where the hook saw these events
    /// already (they must not count twice), counts how early it was.
    pub fn signal_input(&self, batch: &InputBatch) -> Result<()> {
        let mut arg = bpf_intf::input_arg {
            nr_events: batch.events,
            measure_only: u32::from(self.sees_input()),
            first_event_ns: batch.first_ns,
            last_event_ns: batch.last_ns,
        };
        // SAFETY: input_arg is a plain C struct; the slice covers exactly it.
        let ctx = unsafe { std::slice::from_raw_parts_mut((&raw mut arg).cast::<u8>(), std::mem::size_of::<bpf_intf::input_arg>()) };
        let input = ProgramInput { context_in: Some(ctx), ..Default::default() };
        let out = self.skel.progs.signal_input.test_run(input).context("running signal_input")?;
        if out.return_value != 0 {
            bail!("signal_input returned {}", out.return_value);
        }
        Ok(())
    }
}

impl Linkable for Scheduler {
    fn config(&self) -> &SchedConfig {
        &self.config
    }

    fn kept(&self) -> bool {
        self.phase == Phase::Detached
    }

    fn stale(&self) -> bool {
        self.hotplug_seq != 0 && preflight::hotplug_seq().is_some_and(|now| now != self.hotplug_seq)
    }

    fn link(&mut self) -> Result<()> {
        // The struct_ops map alone, not the skeleton's `attach()` (which
        // scx_utils' scx_ops_attach! calls): that one attaches every
        // auto-attached program again each time and overwrote the
        // skeleton's links — a third attach of one copy crashed in libbpf.
        // In the real-time class: an older kernel can starve the thread
        // that enables sched_ext (rt_switch).
        let link = rt_switch::in_rt_class(|| self.skel.maps.gamer_ops.attach_struct_ops())
            .with_context(|| format!("attaching scx_gamer ({})", self.config))?;
        self.link = Some(link);
        self.phase = Phase::Attached;
        Ok(())
    }

    fn load_afresh(&self) -> Result<Self> {
        let mut fresh = Scheduler::load(&self.config)?;
        let game: Vec<u32> = self.game_tgids().into_iter().collect();
        fresh.update_game_tgids(&game, &[])?;
        fresh.carried = self.stats();
        Ok(fresh)
    }
}

impl Drop for Scheduler {
    fn drop(&mut self) {
        if self.phase == Phase::Attached {
            let _ = self.detach();
        }
    }
}

/// Longest pause between two reads of sched_ext's state while waiting.
const STATE_POLL_MAX: Duration = Duration::from_millis(2);

/// Poll /sys/kernel/sched_ext/state until `want` holds: after 100 µs, then
/// at twice the pause each time, up to `STATE_POLL_MAX`. A switch takes
/// 0.1–0.4 s under TCG, and reading every 100 µs throughout made it
/// hundreds of sysfs reads per switch (2 % of the tuner's samples in a
/// 3-minute profile: BENCHMARKS.md "The tuner's own CPU time"); a state
/// reached is now seen at most 2 ms late.
pub fn wait_for_state(want: impl Fn(&str) -> bool, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_micros(100);
    loop {
        let state = preflight::sched_ext_state()?;
        if want(&state) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("sched_ext state stayed '{state}' for {timeout:?}");
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(STATE_POLL_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_log_tail_keeps_the_last_lines_of_multi_line_messages() {
        for i in 0..LIBBPF_LOG_LINES {
            capture_libbpf_print(PrintLevel::Debug, format!("filler {i}\n"));
        }
        capture_libbpf_print(PrintLevel::Warn, "0: (b7) r0 = 0\n1: (95) exit\nR0 invalid mem access\n".into());
        assert_eq!(libbpf_log_tail(2), "1: (95) exit\nR0 invalid mem access");
        assert_eq!(LIBBPF_LOG.lock().unwrap().len(), LIBBPF_LOG_LINES);
    }

    /// A scheduler whose link the kernel may refuse; a load fails for
    /// slice 13.
    struct Fake {
        config: SchedConfig,
        kept: bool,
        refused: bool,
        linked: bool,
        game: Vec<u32>,
        stale: bool,
        loads: u32,
    }

    fn fake(kept: bool, refused: bool) -> Fake {
        Fake { config: SchedConfig::default(), kept, refused, linked: false, game: Vec::new(), stale: false, loads: 0 }
    }

    impl Linkable for Fake {
        fn config(&self) -> &SchedConfig {
            &self.config
        }
        fn kept(&self) -> bool {
            self.kept
        }
        fn stale(&self) -> bool {
            self.stale
        }
        fn link(&mut self) -> Result<()> {
            anyhow::ensure!(!self.refused, "EINVAL");
            self.linked = true;
            Ok(())
        }
        fn load_afresh(&self) -> Result<Self> {
            anyhow::ensure!(self.config.slice_us != 13, "the verifier said no");
            Ok(Fake { game: self.game.clone(), loads: self.loads + 1, ..fake(false, false) })
        }
    }

    #[test]
    fn a_copy_loaded_before_a_suspend_is_loaded_afresh_before_it_links() {
        // Kept from an earlier turn, or preloaded and never attached: the
        // kernel would link it and end it at once.
        for kept in [true, false] {
            let mut sched = Fake { game: vec![7], stale: true, ..fake(kept, false) };
            assert!(link_or_load_afresh(&mut sched).unwrap(), "reported as a load");
            assert_eq!((sched.loads, sched.linked, sched.stale, &sched.game[..]), (1, true, false, &[7][..]));
        }
        // The load failing is the caller's error; the copy stays unlinked.
        let mut sched = Fake { stale: true, ..fake(true, false) };
        sched.config.slice_us = 13;
        assert!(link_or_load_afresh(&mut sched).is_err());
        assert!(!sched.linked && sched.stale);
    }

    #[test]
    fn a_kept_copy_the_kernel_will_not_link_again_is_loaded_afresh_and_linked() {
        let mut sched = Fake { game: vec![7, 8], ..fake(true, true) };
        assert!(link_or_load_afresh(&mut sched).unwrap(), "reported as a load");
        assert!(sched.linked && !sched.kept, "the fresh copy runs");
        assert_eq!(sched.game, [7, 8], "with the game's processes");

        let mut sched = fake(true, false);
        assert!(!link_or_load_afresh(&mut sched).unwrap(), "linked again, no load");
        assert!(sched.linked && sched.kept);
    }

    #[test]
    fn a_refused_link_is_the_callers_error_when_not_kept_or_the_load_fails() {
        // Never attached: it is a fresh load already, another fares alike.
        let mut sched = fake(false, true);
        assert!(format!("{:#}", link_or_load_afresh(&mut sched).unwrap_err()).contains("EINVAL"));
        assert!(sched.refused && !sched.linked, "not replaced");

        let mut sched = fake(true, true);
        sched.config.slice_us = 13;
        assert!(format!("{:#}", link_or_load_afresh(&mut sched).unwrap_err()).contains("verifier"));
        assert!(sched.kept && sched.refused && !sched.linked, "left as it was");
    }
}
