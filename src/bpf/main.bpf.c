/* SPDX-License-Identifier: GPL-2.0 */
/*
 * scx_gamer: a sched_ext scheduler for games.
 *
 * Policy in one paragraph: every task is ordered by a virtual deadline
 * (weighted vruntime plus the CPU time it has used since it last woke up), so
 * interactive tasks run before CPU hogs and nobody starves. Threads of the
 * game (the process tree userspace names in game_tgids, plus anything those
 * processes fork) get their deadline pulled forward by game_boost_ns and,
 * under contention, game_weight times a background task's CPU share. A game
 * thread queued with no idle CPU preempts a CPU that runs a non-game task
 * (its previous CPU first) when wake_preempt is set or inside the input
 * window (input_window_ns after userspace signals an input event, when game
 * threads also get a second deadline credit); otherwise it waits for a slice
 * end, and background slices shrink while tasks wait. Each task
 * may change CPU at most mig_max times per mig_window_ns; past that it waits
 * for its previous CPU (warm caches, less jitter) unless that CPU already has
 * a queue or, for a game thread, runs another game thread or anything at
 * all when the thread may not preempt it: then it may go anywhere.
 *
 * Queues: one shared DSQ for tasks free to run anywhere, one DSQ per CPU for
 * tasks kept on their CPU (affinity or migration limit). A CPU takes the
 * earlier deadline of the heads of its own DSQ and of the shared DSQ, or
 * keeps a task whose slice ran out if that one's deadline is earlier still.
 *
 * Every knob is const volatile (rodata), fixed at load time: the tuner loads
 * a fresh copy of this program for every config it tries.
 */
#include <scx/common.bpf.h>
#include "intf.h"

char _license[] SEC("license") = "GPL";

/* --- knobs (rodata, set by userspace before load) --- */
const volatile u64 slice_ns = 1000ULL * 1000;
const volatile u64 input_window_ns = 5000ULL * 1000;
const volatile u64 game_boost_ns = 2000ULL * 1000;
const volatile u64 mig_window_ns = 100ULL * 1000 * 1000;
const volatile u32 mig_max = 3;		/* 0: no migration limit */
/*
 * A game thread's CPU share against a background task of the same nice
 * level: its vtime advances game_weight times slower, as if it had that
 * many times the weight. 1: equal shares, only the deadline credit.
 */
const volatile u32 game_weight = 2;
/*
 * 1: a game thread queued with no idle CPU preempts a CPU that runs a
 * background task, inside the input window or not; 0: only inside it
 * (outside, it waits for a slice end, which is a tick away at most). Off by
 * default: in the benchmarks (emulated, BENCHMARKS.md) under a background
 * load the kicks, an IPI and a context switch each, cost more frame time
 * than the wait they save; the tuner tries both.
 */
const volatile u32 wake_preempt = 0;

/*
 * Most vruntime credit a task keeps from sleeping, and most CPU time since
 * wake-up counted against its deadline. Bounds both how far an interactive
 * task can jump ahead and how far a hog falls behind.
 */
const volatile u64 slice_lag_ns = 20ULL * 1000 * 1000;

/* --- runtime data shared with userspace (bss) --- */

/* Bumped whenever game_tgids changes, so tasks refresh their cached flag. */
volatile u64 game_gen;

UEI_DEFINE(uei);

static u64 nr_cpu_ids;
/* Largest task vtime seen running: the reference point for new tasks. */
static u64 vtime_now;

/* Processes that are the game: tgid -> enum game_tgid_origin. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GAMER_MAX_GAME_TGIDS);
	__type(key, u32);
	__type(value, u32);
} game_tgids SEC(".maps");

/* The last input event and the count, shared by every copy (see intf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct input_shared);
} input_shared SEC(".maps");

static struct input_shared *input_here(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&input_shared, &zero);
}

/* Scheduler stats: struct gamer_counters per CPU (see intf.h). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct gamer_counters);
} counters SEC(".maps");

struct task_ctx {
	u64 vtime;		/* weighted runtime, our own clock for fairness */
	u64 exec_vtime;		/* weighted runtime since the last wake-up */
	u64 last_run_at;
	u64 mig_window_start;
	u64 game_gen;		/* game_gen when is_game was computed */
	u32 mig_count;
	s32 last_cpu;
	bool is_game;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_ctx);
} task_ctxs SEC(".maps");

struct cpu_ctx {
	/* The task on this CPU is a game thread (set by ops.running()). */
	bool running_game;
	/*
	 * bpf_ktime_get_ns() when a waking game thread claimed this CPU by
	 * kicking it (preempt_non_game()), 0 when unclaimed. Released by
	 * ops.running() and by ops.dispatch() when the CPU keeps its task (no
	 * ops.running() then); a claim older than CLAIM_TTL_NS is stale
	 * whatever path the kick took.
	 */
	u64 claimed_at;
};

/*
 * How long a preempt claim holds. A kick is served within microseconds on
 * hardware (an IPI and a reschedule); an emulated CPU can take longer, and
 * then a second waker merely kicks the CPU again.
 */
#define CLAIM_TTL_NS (1000ULL * 1000)

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct cpu_ctx);
} cpu_ctxs SEC(".maps");

static struct task_ctx *lookup_task_ctx(const struct task_struct *p)
{
	return bpf_task_storage_get(&task_ctxs, (struct task_struct *)p, 0, 0);
}

static struct cpu_ctx *lookup_cpu_ctx(s32 cpu)
{
	u32 zero = 0;

	return bpf_map_lookup_percpu_elem(&cpu_ctxs, &zero, cpu);
}

/*
 * This CPU's counters. Plain increments are safe from the scheduling ops
 * (they run with the CPU's rq lock held and interrupts off, so nothing else
 * on this CPU touches the same field meanwhile); the two counters bumped
 * from preemptible programs (signal_input, ops.init_task) use atomic adds
 * on this CPU's copy, still without sharing a cache line across CPUs.
 */
static struct gamer_counters *counters_here(void)
{
	u32 zero = 0;

	return bpf_map_lookup_elem(&counters, &zero);
}

#define COUNT(field)                                            \
	do {                                                    \
		struct gamer_counters *__c = counters_here();   \
		if (__c)                                        \
			__c->field++;                           \
	} while (0)

static u64 cpu_dsq(s32 cpu)
{
	return (u64)cpu;
}

static u64 nr_cpus_walked(void)
{
	return nr_cpu_ids < GAMER_MAX_CPUS ? nr_cpu_ids : GAMER_MAX_CPUS;
}

static bool is_game(const struct task_struct *p, struct task_ctx *tctx)
{
	u64 gen = READ_ONCE(game_gen);
	u32 tgid;

	if (tctx->game_gen != gen) {
		tgid = p->tgid;
		tctx->is_game = bpf_map_lookup_elem(&game_tgids, &tgid) != NULL;
		tctx->game_gen = gen;
	}
	return tctx->is_game;
}

static bool in_input_window(u64 now)
{
	struct input_shared *in;
	u64 last;

	if (!input_window_ns || !(in = input_here()))
		return false;
	last = READ_ONCE(in->last_ns);
	return last && now - last < input_window_ns;
}

/*
 * True when @tctx used up its migrations for the current window. Starts a new
 * window when the old one is over.
 */
static bool mig_limited(struct task_ctx *tctx, u64 now)
{
	if (!mig_max)
		return false;
	if (now - tctx->mig_window_start >= mig_window_ns) {
		tctx->mig_window_start = now;
		tctx->mig_count = 0;
	}
	return tctx->mig_count >= mig_max;
}

static bool claim_fresh(u64 claimed_at, u64 now)
{
	return claimed_at && now - claimed_at < CLAIM_TTL_NS;
}

/* @cpu runs a game thread, or a waking one has claimed it. */
static bool cpu_runs_game(s32 cpu)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);

	return cctx && (cctx->running_game ||
			claim_fresh(READ_ONCE(cctx->claimed_at), bpf_ktime_get_ns()));
}

static void release_claim(s32 cpu)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);

	if (cctx && READ_ONCE(cctx->claimed_at))
		WRITE_ONCE(cctx->claimed_at, 0);
}

/*
 * A CPU is saturated for @game (a game thread or not) when waiting for it
 * would cost more than a migration: its own queue already holds a task, or,
 * for a game thread, it runs another game thread, which the waiter may not
 * preempt, or it runs anything and the waiter may not @preempt at all. (A
 * game thread that waited there while other CPUs ran background work lost
 * a slice or more: the frame-time tail of the migration limit. Without
 * preemption that wait lasts until the CPU's next tick, up to 4 ms at
 * HZ=250, for a cache refill that costs microseconds.)
 */
static bool cpu_saturated(s32 cpu, bool game, bool preempt)
{
	return scx_bpf_dsq_nr_queued(cpu_dsq(cpu)) > 0 ||
	       (game && (!preempt || cpu_runs_game(cpu)));
}

/*
 * The slice a task gets: the whole slice_ns for a game thread or when
 * nothing waits; a background task's shrinks with the number of tasks
 * waiting for @cpu (down to an eighth), so under contention whoever waits,
 * a woken game thread above all, gets a CPU within a fraction of a slice.
 */
static u64 task_slice(bool game, s32 cpu)
{
	u64 waiting, slice;

	if (game)
		return slice_ns;
	waiting = scx_bpf_dsq_nr_queued(GAMER_SHARED_DSQ) + scx_bpf_dsq_nr_queued(cpu_dsq(cpu));
	slice = slice_ns / (waiting + 1);
	return slice > slice_ns / 8 ? slice : slice_ns / 8;
}

/* @ns of @p's runtime in vtime: a game thread's counts game_weight times less. */
static u64 vtime_delta(const struct task_struct *p, struct task_ctx *tctx, u64 ns)
{
	u64 delta = scale_by_task_weight_inverse(p, ns);

	return game_weight > 1 && is_game(p, tctx) ? delta / game_weight : delta;
}

/* The deadline of @p at @vtime, with @exec_vtime used since it woke up. */
static u64 deadline_at(const struct task_struct *p, u64 vtime, u64 exec_vtime,
		       bool game, bool boosted)
{
	u64 lag = scale_by_task_weight(p, slice_lag_ns);
	u64 credit = 0;

	if (game)
		credit += game_boost_ns;
	if (boosted)
		credit += game_boost_ns;

	return vtime + (exec_vtime < lag ? exec_vtime : lag) - credit;
}

/*
 * Sleeping earns at most @lag of credit against the running tasks. Applied
 * when a task wakes (ops.runnable(), which every wake-up passes, also the
 * direct dispatches of ops.select_cpu() that skip ops.enqueue()) and again
 * at each enqueue: without it on every path, a task that slept long, woke
 * on an idle CPU and turned CPU-bound kept that CPU (keeps_cpu()) for its
 * whole vtime deficit while the tasks queued there waited, long enough to
 * trip the watchdog.
 */
static void clamp_sleep_credit(const struct task_struct *p, struct task_ctx *tctx)
{
	u64 lag = scale_by_task_weight(p, slice_lag_ns);

	if (time_before(tctx->vtime, vtime_now - lag))
		tctx->vtime = vtime_now - lag;
}

static u64 task_deadline(const struct task_struct *p, struct task_ctx *tctx,
			 bool game, bool boosted)
{
	clamp_sleep_credit(p, tctx);
	return deadline_at(p, tctx->vtime, tctx->exec_vtime, game, boosted);
}

enum dispatch_kind { DISPATCH_LOCAL, DISPATCH_CPU, DISPATCH_SHARED };

static void count_dispatch(enum dispatch_kind kind, bool game, bool boosted)
{
	struct gamer_counters *c = counters_here();

	if (!c)
		return;
	switch (kind) {
	case DISPATCH_LOCAL:
		c->local_dispatches++;
		break;
	case DISPATCH_CPU:
		c->cpu_dispatches++;
		break;
	case DISPATCH_SHARED:
		c->shared_dispatches++;
		break;
	}
	if (game)
		c->game_dispatches++;
	if (boosted)
		c->boosted_dispatches++;
}

static void kick_idle(s32 cpu)
{
	scx_bpf_kick_cpu(cpu, SCX_KICK_IDLE);
	COUNT(idle_kicks);
}

/*
 * Preempt @cpu if it runs a non-game task; true if it was kicked. The CPU
 * is claimed first with a compare-and-swap, so of the game threads waking
 * together exactly one kicks it and the others look for another CPU.
 */
static bool preempt_non_game(s32 cpu)
{
	struct cpu_ctx *cctx = lookup_cpu_ctx(cpu);
	u64 now = bpf_ktime_get_ns(), old;

	if (!cctx || READ_ONCE(cctx->running_game))
		return false;
	old = READ_ONCE(cctx->claimed_at);
	if (claim_fresh(old, now) ||
	    __sync_val_compare_and_swap(&cctx->claimed_at, old, now) != old)
		return false;
	scx_bpf_kick_cpu(cpu, SCX_KICK_PREEMPT);
	COUNT(preempt_kicks);
	return true;
}

/*
 * Get a CPU to run @p, just queued on @dsq: an idle CPU if there is one.
 * If there is none and @preempt (a game thread inside the input window, or
 * any game thread with wake_preempt), a CPU that runs something other than
 * the game is kicked (its previous CPU first: warm caches), so the frame
 * does not wait for a background slice to end. Without @preempt it waits
 * for the next slice end, which task_slice() keeps short under contention;
 * but slices end at the scheduler tick (4 ms at HZ=250), so that wait is
 * what wake_preempt trades against the preemptions' cost. A task queued on
 * a CPU's own DSQ can only run there: that CPU is the one woken or kicked.
 */
static void wake_cpu_for(struct task_struct *p, u64 dsq, s32 prev_cpu, bool preempt)
{
	s32 cpu;
	u64 i;

	if (dsq != GAMER_SHARED_DSQ) {
		/* Queued on prev_cpu's own DSQ: only that CPU can take it. */
		if (!(preempt && preempt_non_game(prev_cpu)))
			kick_idle(prev_cpu);
		return;
	}

	cpu = scx_bpf_pick_idle_cpu(p->cpus_ptr, 0);
	if (cpu >= 0) {
		kick_idle(cpu);
		return;
	}
	if (!preempt)
		return;

	if (bpf_cpumask_test_cpu(prev_cpu, p->cpus_ptr) && preempt_non_game(prev_cpu))
		return;
	bpf_for(i, 0, nr_cpus_walked()) {
		if (bpf_cpumask_test_cpu(i, p->cpus_ptr) && preempt_non_game(i))
			return;
	}
}

s32 BPF_STRUCT_OPS(gamer_select_cpu, struct task_struct *p, s32 prev_cpu, u64 wake_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	u64 now = bpf_ktime_get_ns();
	bool game, boosted, is_idle = false;
	s32 cpu;

	if (!tctx)
		return prev_cpu;
	game = is_game(p, tctx);
	boosted = game && in_input_window(now);

	if (mig_limited(tctx, now) && bpf_cpumask_test_cpu(prev_cpu, p->cpus_ptr)) {
		/* Over budget: stay put; ops.enqueue() decides if it waits. */
		if (scx_bpf_test_and_clear_cpu_idle(prev_cpu)) {
			scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, task_slice(game, prev_cpu), 0);
			count_dispatch(DISPATCH_LOCAL, game, boosted);
		}
		return prev_cpu;
	}

	cpu = scx_bpf_select_cpu_dfl(p, prev_cpu, wake_flags, &is_idle);
	if (is_idle) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, task_slice(game, cpu), 0);
		count_dispatch(DISPATCH_LOCAL, game, boosted);
	}
	return cpu;
}

void BPF_STRUCT_OPS(gamer_enqueue, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	s32 prev_cpu = scx_bpf_task_cpu(p);
	u64 now = bpf_ktime_get_ns();
	enum dispatch_kind kind = DISPATCH_SHARED;
	u64 dsq = GAMER_SHARED_DSQ;
	bool game, boosted, preempt;

	if (!tctx) {
		scx_bpf_error("enqueue: task %d (%s) has no context", p->pid, p->comm);
		return;
	}

	/* Per-CPU kthreads (ksoftirqd, kworkers) run at once: they hold up I/O. */
	if ((p->flags & PF_KTHREAD) && p->nr_cpus_allowed == 1) {
		scx_bpf_dsq_insert(p, SCX_DSQ_LOCAL, slice_ns, enq_flags);
		COUNT(kthread_dispatches);
		return;
	}

	game = is_game(p, tctx);
	boosted = game && in_input_window(now);
	preempt = boosted || (game && wake_preempt);

	if (p->nr_cpus_allowed == 1 || is_migration_disabled(p)) {
		dsq = cpu_dsq(prev_cpu);
		kind = DISPATCH_CPU;
	} else if (mig_limited(tctx, now)) {
		if (cpu_saturated(prev_cpu, game, preempt)) {
			COUNT(mig_saturated);
			if (game)
				COUNT(game_mig_saturated);
		} else {
			dsq = cpu_dsq(prev_cpu);
			kind = DISPATCH_CPU;
			COUNT(mig_blocked);
			if (game)
				COUNT(game_mig_blocked);
		}
	}

	scx_bpf_dsq_insert_vtime(p, dsq, task_slice(game, prev_cpu), task_deadline(p, tctx, game, boosted),
				 enq_flags);
	count_dispatch(kind, game, boosted);
	wake_cpu_for(p, dsq, prev_cpu, preempt);
}

/* Move the head of @dsq to this CPU's local DSQ; false if it had none. */
static bool take_head(u64 dsq, struct task_struct *head)
{
	return head && scx_bpf_dsq_move_to_local(dsq, 0);
}

/*
 * Whether @prev, whose slice ran out, keeps its CPU for another slice: yes
 * while its deadline, with the slice it just ran charged, is earlier than
 * those of the queue heads. ops.dispatch() runs before the kernel queues
 * @prev again, so without this check a task that used up its slice always
 * yielded to whoever waited, whatever the deadlines: two CPU-bound tasks
 * took turns, one slice each, and game_weight changed nothing (the test
 * game_weight_gives_the_game_that_share_of_a_contended_cpu caught it).
 */
static bool keeps_cpu(struct task_struct *prev, struct task_struct *own,
		      struct task_struct *shared, s32 cpu)
{
	struct task_ctx *tctx;
	u64 now, ran, dl;
	bool game;

	if (!prev || !(prev->scx.flags & SCX_TASK_QUEUED))
		return false;
	tctx = lookup_task_ctx(prev);
	if (!tctx)	/* (every task has one from ops.init_task()) */
		return false;
	now = bpf_ktime_get_ns();
	game = is_game(prev, tctx);
	/* (ops.stopping() charges this slice only after dispatch) */
	ran = vtime_delta(prev, tctx, now - tctx->last_run_at);
	dl = deadline_at(prev, tctx->vtime + ran, tctx->exec_vtime + ran,
			 game, game && in_input_window(now));
	if (own && !time_before(dl, own->scx.dsq_vtime))
		return false;
	if (shared && !time_before(dl, shared->scx.dsq_vtime))
		return false;
	return true;
}

/*
 * @prev runs on: give it our slice, or the kernel refills it with its
 * default (SCX_SLICE_DFL, 20 ms), and whoever is queued for this CPU next
 * waits that long.
 */
static void refill_prev(struct task_struct *prev, s32 cpu)
{
	struct task_ctx *tctx;

	if (!prev || !(prev->scx.flags & SCX_TASK_QUEUED))
		return;
	tctx = lookup_task_ctx(prev);
	scx_bpf_task_set_slice(prev, task_slice(tctx && is_game(prev, tctx), cpu));
}

void BPF_STRUCT_OPS(gamer_dispatch, s32 cpu, struct task_struct *prev)
{
	struct task_struct *own = __COMPAT_scx_bpf_dsq_peek(cpu_dsq(cpu));
	struct task_struct *shared = __COMPAT_scx_bpf_dsq_peek(GAMER_SHARED_DSQ);

	if (!keeps_cpu(prev, own, shared, cpu)) {
		/* Earliest deadline first between the two queue heads. */
		if (own && (!shared || time_before(own->scx.dsq_vtime, shared->scx.dsq_vtime))) {
			if (take_head(cpu_dsq(cpu), own) || take_head(GAMER_SHARED_DSQ, shared))
				return;
		} else {
			if (take_head(GAMER_SHARED_DSQ, shared) || take_head(cpu_dsq(cpu), own))
				return;
		}
		/*
		 * Both takes failed (another CPU was faster, or the head may
		 * not run here): @prev, if still runnable, runs on.
		 */
	}
	/*
	 * Nothing new runs here, so ops.running() will not release a preempt
	 * claim on this CPU: release it now, or the claim would keep game
	 * threads from preempting this CPU until its task changed.
	 */
	refill_prev(prev, cpu);
	release_claim(cpu);
}

void BPF_STRUCT_OPS(gamer_runnable, struct task_struct *p, u64 enq_flags)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	if (!tctx)
		return;
	tctx->exec_vtime = 0;
	clamp_sleep_credit(p, tctx);
}

void BPF_STRUCT_OPS(gamer_running, struct task_struct *p)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	s32 cpu = scx_bpf_task_cpu(p);
	u64 now = bpf_ktime_get_ns();
	struct cpu_ctx *cctx;

	COUNT(nr_running);
	if (!tctx)
		return;

	tctx->last_run_at = now;
	if (time_before(vtime_now, tctx->vtime))
		vtime_now = tctx->vtime;

	if (tctx->last_cpu >= 0 && tctx->last_cpu != cpu) {
		mig_limited(tctx, now);		/* roll the window first */
		tctx->mig_count++;
		COUNT(migrations);
	}
	tctx->last_cpu = cpu;

	cctx = lookup_cpu_ctx(cpu);
	if (cctx) {
		cctx->running_game = is_game(p, tctx);
		if (cctx->claimed_at)
			WRITE_ONCE(cctx->claimed_at, 0);
	}
}

void BPF_STRUCT_OPS(gamer_stopping, struct task_struct *p, bool runnable)
{
	struct task_ctx *tctx = lookup_task_ctx(p);
	struct gamer_counters *c = counters_here();
	u64 delta;

	if (c)
		c->nr_running--;
	if (!tctx)
		return;

	delta = vtime_delta(p, tctx, bpf_ktime_get_ns() - tctx->last_run_at);
	tctx->vtime += delta;
	tctx->exec_vtime += delta;

	if (runnable && p->scx.slice == 0)
		COUNT(slice_expired);
}

void BPF_STRUCT_OPS(gamer_enable, struct task_struct *p)
{
	struct task_ctx *tctx = lookup_task_ctx(p);

	if (tctx)
		tctx->vtime = vtime_now;
}

s32 BPF_STRUCT_OPS(gamer_init_task, struct task_struct *p, struct scx_init_task_args *args)
{
	struct gamer_counters *c;
	struct task_ctx *tctx;
	u32 parent, child, origin = GAME_FROM_FORK;

	tctx = bpf_task_storage_get(&task_ctxs, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tctx)
		return -ENOMEM;
	tctx->last_cpu = -1;

	/*
	 * A process forked by a game process is part of the game (launchers,
	 * Wine/Proton helpers) from its first instruction; userspace's /proc
	 * scan would only catch it up to a second later.
	 */
	if (args->fork) {
		parent = bpf_get_current_pid_tgid() >> 32;
		child = p->tgid;
		if (child != parent && bpf_map_lookup_elem(&game_tgids, &parent) &&
		    !bpf_map_update_elem(&game_tgids, &child, &origin, BPF_NOEXIST)) {
			__sync_fetch_and_add(&game_gen, 1);
			c = counters_here();
			if (c)
				__sync_fetch_and_add(&c->game_forks, 1);
		}
	}
	return 0;
}

s32 BPF_STRUCT_OPS_SLEEPABLE(gamer_init)
{
	u32 zero = 0;
	s32 err;
	u64 i;

	nr_cpu_ids = scx_bpf_nr_cpu_ids();
	if (nr_cpu_ids > GAMER_MAX_CPUS) {
		scx_bpf_error("%llu CPUs, at most %d supported", nr_cpu_ids, GAMER_MAX_CPUS);
		return -E2BIG;
	}

	bpf_for(i, 0, nr_cpus_walked()) {
		struct gamer_counters *c = bpf_map_lookup_percpu_elem(&counters, &zero, i);
		struct cpu_ctx *cctx = lookup_cpu_ctx(i);

		/*
		 * A copy attached again after a detach (the tuner keeps loaded
		 * configs) starts from what its CPUs run now, not from what
		 * they ran when it was detached.
		 */
		if (cctx) {
			cctx->running_game = false;
			cctx->claimed_at = 0;
		}
		if (c)
			c->nr_running = 0;
		err = scx_bpf_create_dsq(cpu_dsq(i), -1);
		if (err) {
			scx_bpf_error("failed to create DSQ of CPU %llu: %d", i, err);
			return err;
		}
	}
	err = scx_bpf_create_dsq(GAMER_SHARED_DSQ, -1);
	if (err)
		scx_bpf_error("failed to create the shared DSQ: %d", err);
	return err;
}

void BPF_STRUCT_OPS(gamer_exit, struct scx_exit_info *ei)
{
	UEI_RECORD(uei, ei);
}

/*
 * Opens the input window for @n input events that just happened; returns
 * the instant it opened.
 */
static u64 input_seen(u32 n)
{
	struct input_shared *in = input_here();
	u64 now = bpf_ktime_get_ns();

	if (in) {
		WRITE_ONCE(in->last_ns, now);
		__sync_fetch_and_add(&in->events, n);
	}
	return now;
}

/*
 * Called by userspace (BPF_PROG_TEST_RUN) when input devices report events:
 * the fallback where on_input_event cannot attach (also the test hook that
 * injects input); it then opens the window, later than the event by the
 * reader's wake-up and this syscall, and counts that delay. Beside an
 * attached hook (measure_only) it opens nothing and counts how long before
 * evdev stamped the last event the hook had opened the window — a sample
 * only while no later event has moved the window since (its start is then
 * this event's).
 */
SEC("syscall")
int signal_input(struct input_arg *arg)
{
	struct input_shared *in;
	struct gamer_counters *c;
	u64 now, opened;

	if (!arg->measure_only) {
		now = input_seen(arg->nr_events ? arg->nr_events : 1);
		c = counters_here();
		if (c && arg->first_event_ns && now >= arg->first_event_ns) {
			__sync_fetch_and_add(&c->input_delay_samples, 1);
			__sync_fetch_and_add(&c->input_delay_ns, now - arg->first_event_ns);
		}
		return 0;
	}
	in = input_here();
	opened = in ? READ_ONCE(in->last_ns) : 0;
	c = counters_here();
	if (c && opened && arg->last_event_ns && opened <= arg->last_event_ns) {
		__sync_fetch_and_add(&c->input_lead_samples, 1);
		__sync_fetch_and_add(&c->input_lead_ns, arg->last_event_ns - opened);
	}
	return 0;
}

/* Event types (uapi input-event-codes.h, not in vmlinux.h's BTF). */
#define GAMER_EV_KEY 0x01
#define GAMER_EV_REL 0x02
#define GAMER_EV_ABS 0x03

/* uapi input-event-codes.h */
#define GAMER_KEY_CNT			0x300
#define GAMER_ABS_MT_SLOT		0x2f
#define GAMER_INPUT_PROP_ACCELEROMETER	0x06

/*
 * Whether an event is input a player made: what the input core passes on
 * to the handlers (input_get_disposition(), which runs after this hook) —
 * a key or button that goes down or up or repeats (value 2), a relative
 * axis that moved, an absolute axis at a new value (multi-touch codes
 * always) — and not from a motion sensor. A driver may report a device's
 * whole state in every report: a game controller resends every button and
 * axis hundreds of times a second while it lies untouched, a keyboard a
 * release for a key that is up, and a controller's motion-sensor device
 * never rests. Counting those held the input window open for good.
 * Unreadable state counts as a change.
 */
static bool input_changes(struct input_dev *dev, unsigned int type, unsigned int code, int value)
{
	unsigned long props = 0, keys[GAMER_KEY_CNT / 64];
	struct input_absinfo *info;
	int now;

	if (type != GAMER_EV_KEY && type != GAMER_EV_REL && type != GAMER_EV_ABS)
		return false;
	if (!bpf_probe_read_kernel(&props, sizeof(props), &dev->propbit) &&
	    (props & (1UL << GAMER_INPUT_PROP_ACCELEROMETER)))
		return false;
	if (type == GAMER_EV_REL)
		return value != 0;
	if (type == GAMER_EV_KEY) {
		/* (masked: the verifier then knows the word index in 64 bits) */
		u64 word = (code >> 6) & 15;

		if (value == 2 || code >= GAMER_KEY_CNT || word >= GAMER_KEY_CNT / 64 ||
		    bpf_probe_read_kernel(keys, sizeof(keys), &dev->key))
			return true;
		return !!(keys[word] & (1UL << (code & 63))) != !!value;
	}
	if (code >= GAMER_ABS_MT_SLOT)
		return true;
	info = BPF_CORE_READ(dev, absinfo);
	if (!info || bpf_probe_read_kernel(&now, sizeof(now), &info[code].value))
		return true;
	return now != value;
}

/*
 * Every input event of every device, in the kernel's input core: the
 * window opens in the same instant as the event, with no wake-up of a
 * userspace reader, no syscall after it, and no /dev/input access (uinput
 * devices such as Steam Input's virtual pads come through here too). Keys
 * and buttons, relative and absolute axes count when they change the
 * device's state (input_changes()), as in the userspace reader, which reads
 * what the input core passed on; sync and scan-code events do not. Only
 * the first copy of the scheduler a process loads loads and attaches it,
 * at once, for the process's life (where it cannot attach, the trampoline
 * full, each later load tries with its own until one does): it stamps
 * input_shared, which every copy shares (not loaded at all where
 * input_event has no BTF).
 */
SEC("fentry/input_event")
int BPF_PROG(on_input_event, struct input_dev *dev, unsigned int type, unsigned int code, int value)
{
	if (input_changes(dev, type, code, value))
		input_seen(1);
	return 0;
}

SCX_OPS_DEFINE(gamer_ops,
	       .select_cpu	= (void *)gamer_select_cpu,
	       .enqueue		= (void *)gamer_enqueue,
	       .dispatch	= (void *)gamer_dispatch,
	       .runnable	= (void *)gamer_runnable,
	       .running		= (void *)gamer_running,
	       .stopping	= (void *)gamer_stopping,
	       .enable		= (void *)gamer_enable,
	       .init_task	= (void *)gamer_init_task,
	       .init		= (void *)gamer_init,
	       .exit		= (void *)gamer_exit,
	       .timeout_ms	= GAMER_TIMEOUT_MS,
	       .name		= "scx_gamer");
