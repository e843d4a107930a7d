/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Types and constants shared by the BPF scheduler (main.bpf.c) and its Rust
 * userspace (bindgen turns this file into bpf_intf.rs).
 */
#ifndef __SCX_GAMER_INTF_H
#define __SCX_GAMER_INTF_H

#ifndef __VMLINUX_H__
typedef unsigned int u32;
typedef unsigned long long u64;
typedef int s32;
#endif

enum gamer_consts {
	/* Upper bound of CPUs the per-CPU loops in BPF walk. */
	GAMER_MAX_CPUS = 1024,
	/* Most game processes (tgids) tracked at once. */
	GAMER_MAX_GAME_TGIDS = 8192,
	/* The shared DSQ's id; per-CPU DSQs use the CPU number as id. */
	GAMER_SHARED_DSQ = 1 << 20,
	/* sched_ext watchdog: a runnable task not run for this long ejects us. */
	GAMER_TIMEOUT_MS = 5000,
};

/* Value stored in the game_tgids map. */
enum game_tgid_origin {
	GAME_FROM_USER = 1,	/* named by userspace (root pid or /proc scan) */
	GAME_FROM_FORK = 2,	/* inherited in BPF when a game process forked */
};

/*
 * The scheduler's counters, one copy per CPU (the "counters" map), summed by
 * userspace: a global counter would take an atomic add, and its cache line
 * a trip between CPUs, on every scheduling event. All monotonic except
 * nr_running, a gauge: +1 in ops.running(), -1 in ops.stopping(), which run
 * on the same CPU, so the sum over CPUs is the number running.
 */
struct gamer_counters {
	u64 nr_running;
	u64 local_dispatches;	/* straight to an idle CPU */
	u64 cpu_dispatches;	/* to a per-CPU DSQ */
	u64 shared_dispatches;	/* to the shared DSQ */
	u64 kthread_dispatches;	/* per-CPU kthreads, run at once */
	u64 game_dispatches;	/* any of the above, for a game thread */
	u64 boosted_dispatches;	/* game thread inside the input window */
	u64 migrations;		/* task ran on another CPU than last time */
	u64 mig_blocked;	/* over budget: kept on its CPU */
	u64 mig_saturated;	/* over budget, CPU busy: let go */
	u64 game_mig_blocked;	/* the two above, for game threads */
	u64 game_mig_saturated;
	u64 preempt_kicks;	/* game thread preempted a non-game CPU */
	u64 idle_kicks;		/* SCX_KICK_IDLE sent (a no-op on a busy CPU) */
	u64 slice_expired;	/* ran a whole slice and still runnable */
	u64 game_forks;		/* processes added by fork inheritance */
	/*
	 * Input event -> window open, against evdev's CLOCK_MONOTONIC stamp
	 * of the event (see struct input_arg): the userspace path's delay,
	 * and how long before that stamp the in-kernel hook had opened it.
	 */
	u64 input_delay_samples;
	u64 input_delay_ns;	/* sum */
	u64 input_lead_samples;
	u64 input_lead_ns;	/* sum */
};

/*
 * Input, shared by every copy of the scheduler one process loads (the
 * "input_shared" map, which userspace creates once and reuses): the first
 * copy's in-kernel hook stamps it for all, so a tune that preloads many
 * configs attaches one hook, not one per copy.
 */
struct input_shared {
	u64 last_ns;		/* bpf_ktime_get_ns() of the last event; 0: none yet */
	u64 events;		/* input events so far, monotonic */
};

/* Argument of the SEC("syscall") program signal_input(). */
struct input_arg {
	/* How many input events this call stands for (userspace batches). */
	u32 nr_events;
	/*
	 * 1: the in-kernel hook opened the window for these events already;
	 * this call only measures how early it did.
	 */
	u32 measure_only;
	/*
	 * evdev's CLOCK_MONOTONIC stamps (bpf_ktime_get_ns()'s clock) of the
	 * first and the last of these events; 0: unknown.
	 */
	u64 first_event_ns;
	u64 last_event_ns;
};

#endif /* __SCX_GAMER_INTF_H */
