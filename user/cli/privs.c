// SPDX-License-Identifier: Apache-2.0
/*
 * Dropping capabilities in every thread (see privs.h). capset(2),
 * PR_CAPBSET_DROP, PR_CAP_AMBIENT and PR_SET_NO_NEW_PRIVS change the calling
 * thread only, and when start-up is done gRPC core, the tracker and the
 * servers already run threads of their own. So the caller changes itself,
 * then, like glibc's set*id broadcast, signals each thread listed in
 * /proc/self/task whose status still differs, and that thread's handler makes
 * the same change to itself. A thread started meanwhile by one not yet
 * changed inherits the old credentials but is listed by the next scan; the
 * loop ends when one scan finds every thread as asked. Raw system calls only,
 * no libcap: the handler must be async-signal-safe.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"
#include "util.h"

/* Nothing else in kpleg, gRPC core or libbpf uses it. */
#define PRIVS_SIGNAL (SIGRTMIN + 5)
#define MAX_ROUNDS 25
#define ROUND_WAIT_MS 200

static const char *const cap_names[] = {
	"cap_chown", "cap_dac_override", "cap_dac_read_search", "cap_fowner", "cap_fsetid",
	"cap_kill", "cap_setgid", "cap_setuid", "cap_setpcap", "cap_linux_immutable",
	"cap_net_bind_service", "cap_net_broadcast", "cap_net_admin", "cap_net_raw",
	"cap_ipc_lock", "cap_ipc_owner", "cap_sys_module", "cap_sys_rawio", "cap_sys_chroot",
	"cap_sys_ptrace", "cap_sys_pacct", "cap_sys_admin", "cap_sys_boot", "cap_sys_nice",
	"cap_sys_resource", "cap_sys_time", "cap_sys_tty_config", "cap_mknod", "cap_lease",
	"cap_audit_write", "cap_audit_control", "cap_setfcap", "cap_mac_override",
	"cap_mac_admin", "cap_syslog", "cap_wake_alarm", "cap_block_suspend", "cap_audit_read",
	"cap_perfmon", "cap_bpf", "cap_checkpoint_restore",
};

/* What every thread must end with; set before the handler is installed. */
static struct {
	uint64_t keep; /* effective = permitted */
	bool drop_bset;
	int last_cap;
	atomic_uint acks;
	atomic_int err; /* the first failure in a handler, -errno */
} want;

/* One thread's credentials as /proc shows them. */
struct task_privs {
	uint64_t inh, prm, eff, bnd, amb, sigblk;
	int nnp;
	char state;
	char name[32];
};

const char *privs_cap_name(int cap, char *buf, size_t size)
{
	if (cap >= 0 && (size_t)cap < ARRAY_SIZE(cap_names))
		return cap_names[cap];
	snprintf(buf, size, "cap_%d", cap);
	return buf;
}

static int last_cap(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int v = -1;

	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v >= 0 && v < 64 ? v : CAP_LAST_CAP;
}

static int get_caps(uint64_t *ret_eff, uint64_t *ret_prm)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	*ret_eff = (uint64_t)data[1].effective << 32 | data[0].effective;
	*ret_prm = (uint64_t)data[1].permitted << 32 | data[0].permitted;
	return 0;
}

/* The calling thread. Async-signal-safe: system calls only. */
static int apply_self(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2] = {
		{ .effective = (uint32_t)want.keep, .permitted = (uint32_t)want.keep },
		{ .effective = (uint32_t)(want.keep >> 32), .permitted = (uint32_t)(want.keep >> 32) },
	};

	/* EINVAL: a kernel before ambient capabilities (4.3) has none to clear. */
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
		return -errno;
	for (int c = 0; want.drop_bset && c <= want.last_cap; c++)
		if (!(want.keep >> c & 1) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0)
			return -errno;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	/* Last: dropping CAP_SETPCAP first would forbid the bounding-set drops. */
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

static void on_signal(int sig)
{
	int saved = errno, r = apply_self(), none = 0;

	if (r < 0)
		atomic_compare_exchange_strong(&want.err, &none, r);
	atomic_fetch_add(&want.acks, 1);
	errno = saved;
}

static int read_task(pid_t tid, struct task_privs *tp)
{
	char path[64], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(tp, 0, sizeof(*tp));
	tp->nnp = -1;
	/* Each line matches one pattern at most; the first match ends the test. */
	while (fgets(line, sizeof(line), f))
		(void)(sscanf(line, "Name:\t%31[^\n]", tp->name) == 1 ||
		       sscanf(line, "State:\t%c", &tp->state) == 1 ||
		       sscanf(line, "SigBlk:\t%" SCNx64, &tp->sigblk) == 1 ||
		       sscanf(line, "CapInh:\t%" SCNx64, &tp->inh) == 1 ||
		       sscanf(line, "CapPrm:\t%" SCNx64, &tp->prm) == 1 ||
		       sscanf(line, "CapEff:\t%" SCNx64, &tp->eff) == 1 ||
		       sscanf(line, "CapBnd:\t%" SCNx64, &tp->bnd) == 1 ||
		       sscanf(line, "CapAmb:\t%" SCNx64, &tp->amb) == 1 ||
		       sscanf(line, "NoNewPrivs:\t%d", &tp->nnp) == 1);
	fclose(f);
	return 0;
}

static bool task_done(const struct task_privs *tp)
{
	return tp->inh == 0 && tp->amb == 0 && tp->prm == want.keep && tp->eff == want.keep &&
	       tp->nnp == 1 && (!want.drop_bset || tp->bnd == want.keep);
}

/* Signals every thread not yet changed (@last: names them instead); the
 * number signalled, or -errno. */
static int scan(pid_t pid, pid_t self, bool last, unsigned *ret_seen)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int sent = 0, r = 0;

	if (!d)
		return -errno;
	*ret_seen = 0;
	while (r == 0 && (de = readdir(d))) {
		struct task_privs tp;
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || read_task(tid, &tp) < 0)
			continue; /* "." and "..", or a thread that has just exited */
		if (tp.state == 'Z' || tp.state == 'X')
			continue;
		++*ret_seen;
		if (task_done(&tp))
			continue;
		if (tid == self) {
			log_error("\"Capabilities not dropped in the calling thread\" tid=%d", (int)tid);
			r = -EIO;
		} else if (last) {
			/* Blocking every signal for a moment is normal (glibc's
			 * pthread_create does, a new thread starts so); for a whole
			 * run of rounds it is not. */
			log_error("\"A thread did not drop its capabilities\" tid=%d name=\"%s\" "
				  "blocksTheSignal=%s signal=%d", (int)tid, tp.name,
				  tp.sigblk >> (PRIVS_SIGNAL - 1) & 1 ? "true" : "false",
				  PRIVS_SIGNAL);
			sent++;
		} else if (syscall(SYS_tgkill, pid, tid, PRIVS_SIGNAL) == 0) {
			sent++;
		} else if (errno != ESRCH) {
			r = -errno;
		}
	}
	closedir(d);
	return r < 0 ? r : sent;
}

static void wait_acks(unsigned n)
{
	const struct timespec ms = { .tv_nsec = 1000000 };

	for (int i = 0; i < ROUND_WAIT_MS && atomic_load(&want.acks) < n; i++)
		nanosleep(&ms, NULL);
}

/* The other threads; every thread's count on success. */
static int broadcast(unsigned *ret_threads)
{
	pid_t pid = getpid(), self = (pid_t)syscall(SYS_gettid);

	for (int round = 0; round <= MAX_ROUNDS; round++) {
		int sent;

		atomic_store(&want.acks, 0);
		sent = scan(pid, self, round == MAX_ROUNDS, ret_threads);
		if (sent <= 0)
			return sent;
		if (round == MAX_ROUNDS)
			break;
		wait_acks((unsigned)sent);
		if (atomic_load(&want.err))
			return atomic_load(&want.err);
	}
	return -ETIMEDOUT;
}

/* @keep as a mask of what is held, each kept capability logged with its reason. */
static uint64_t keep_mask(const struct privs_keep *keep, size_t n, uint64_t prm)
{
	uint64_t mask = 0;
	char buf[16];

	for (size_t i = 0; i < n; i++) {
		const char *name = privs_cap_name(keep[i].cap, buf, sizeof(buf));

		if (keep[i].cap < 0 || keep[i].cap > want.last_cap || !(prm >> keep[i].cap & 1)) {
			log_warn("\"Capability needed but not held, going on without it\" cap=%s "
				 "reason=\"%s\"", name, keep[i].why);
			continue;
		}
		mask |= 1ULL << keep[i].cap;
		log_info("\"Keeping capability\" cap=%s reason=\"%s\"", name, keep[i].why);
	}
	return mask;
}

static void mask_names(uint64_t mask, char *buf, size_t size)
{
	size_t len = 0;
	char num[16];

	snprintf(buf, size, "none");
	for (int c = 0; c < 64 && len < size; c++)
		if (mask >> c & 1)
			len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "," : "",
						privs_cap_name(c, num, sizeof(num)));
}

int privs_restrict(const struct privs_keep *keep, size_t n)
{
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	struct sigaction ign = { .sa_handler = SIG_IGN };
	uint64_t eff = 0, prm = 0;
	unsigned threads = 0;
	char kept[512];
	int r;

	r = get_caps(&eff, &prm);
	if (r < 0)
		return r;
	want.last_cap = last_cap();
	want.keep = keep_mask(keep, n, prm);
	want.drop_bset = eff >> CAP_SETPCAP & 1;
	atomic_store(&want.err, 0);
	if (!want.drop_bset)
		log_info("\"Bounding set left as it is\" reason=\"no CAP_SETPCAP to drop from it\"");
	sigfillset(&sa.sa_mask);
	if (sigaction(PRIVS_SIGNAL, &sa, NULL) < 0)
		return -errno;
	r = apply_self();
	if (r == 0)
		r = broadcast(&threads);
	/* Discards any signal still queued for a thread that was slow to take
	 * the first one (the default action would end the process). */
	sigaction(PRIVS_SIGNAL, &ign, NULL);
	if (r < 0)
		return r;
	mask_names(want.keep, kept, sizeof(kept));
	log_info("\"Dropped privileges\" kept=\"%s\" boundingSet=\"%s\" noNewPrivs=true threads=%u",
		 kept, want.drop_bset ? kept : "unchanged", threads);
	return 0;
}

bool privs_bpf_calls_need_cap(void)
{
	unsigned major = 0, minor = 0;
	struct utsname u;
	FILE *f;
	int v = 1;

	/* 5.19 limited the check to map and program creation (commit
	 * c8644cd0efe7, "bpf: refine kernel.unprivileged_bpf_disabled
	 * behaviour"); before, every bpf() command made it. */
	if (uname(&u) == 0 && sscanf(u.release, "%u.%u", &major, &minor) == 2 &&
	    (major > 5 || (major == 5 && minor >= 19)))
		return false;
	f = fopen("/proc/sys/kernel/unprivileged_bpf_disabled", "re");
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1;
		fclose(f);
	}
	return v != 0;
}
