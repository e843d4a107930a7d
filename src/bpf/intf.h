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

/* Argument of the SEC("syscall") program signal_input(). */
struct input_arg {
	/* How many input events this call stands for (userspace batches). */
	u32 nr_events;
};

#endif /* __SCX_GAMER_INTF_H */
