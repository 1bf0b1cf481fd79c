/* test_psp_daemon.c - tern-psp as a process, driven for real: it outlives
 * running out of file descriptors (issue 10 case 13), ends promptly on
 * SIGTERM/SIGINT/SIGHUP whatever signal mask or dispositions it inherited,
 * and the emu back-end's auto-start (psp_daemon__start, the fork path of
 * `tern run --cc emu`) hands it a clean mask and none of the VMM's
 * descriptors. Socket activation and `make install` are tested by
 * tests/integration/test_psp_daemon.sh. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "cc/psp_daemon.h"
#include "psp_harness.h"

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void rcv_timeout(int fd, int sec)
{
	struct timeval tv = { .tv_sec = sec };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

static bool file_has(const char *path, const char *needle)
{
	char buf[4096];
	bool found = false;
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	while (!found && fgets(buf, sizeof(buf), f))
		found = strstr(buf, needle) != NULL;
	fclose(f);
	return found;
}

/* A mask line of /proc/PID/status (SigBlk, SigIgn), as a bit set. */
static unsigned long long proc_mask(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long long v = ~0ULL;
	size_t kl = strlen(key);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = strtoull(line + kl + 1, NULL, 16);
	fclose(f);
	return v;
}

#define SIGBIT(s) (1ULL << ((s) - 1))
static const unsigned long long term_sigs = SIGBIT(SIGTERM) | SIGBIT(SIGINT) | SIGBIT(SIGHUP);

/* The terminating signals are neither blocked nor ignored by pid's main
 * thread. Polled for up to a second: glibc's pthread_create blocks every
 * signal in the creating thread for a moment (the daemon creates one per
 * connection, ours included), which a single read can catch. */
static void assert_takes_term_sigs(pid_t pid)
{
	unsigned long long blk = 0, ign = 0;
	for (int i = 0; i < 1000; i++) {
		blk = proc_mask(pid, "SigBlk") & term_sigs;
		ign = proc_mask(pid, "SigIgn") & term_sigs;
		if (!blk && !ign)
			return;
		usleep(1000);
	}
	fail_msg("tern-psp (pid %d) still blocks 0x%llx and ignores 0x%llx of SIGTERM/SIGINT/SIGHUP",
		 (int)pid, blk, ign);
}

/* Wait up to `sec` for pid (our child) to end; its status, or -1. */
static int wait_exit(pid_t pid, double sec)
{
	double t0 = now_s();
	int st;
	while (now_s() - t0 < sec) {
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid)
			return st;
		assert_true(r == 0);
		usleep(1000);
	}
	return -1;
}

/* What `tern run` does before it starts a daemon: block the terminating
 * signals (its signal thread takes them), and here also ignore them, the
 * other thing a parent can leave behind across exec. */
static sigset_t saved_mask;
static struct sigaction saved_act[3];
static const int term_list[3] = { SIGTERM, SIGINT, SIGHUP };

static void hostile_parent(void)
{
	sigset_t s;
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigemptyset(&s);
	sigemptyset(&ign.sa_mask);
	for (int i = 0; i < 3; i++) {
		sigaddset(&s, term_list[i]);
		sigaction(term_list[i], &ign, &saved_act[i]);
	}
	sigprocmask(SIG_BLOCK, &s, &saved_mask);
}

static void parent_restore(void)
{
	for (int i = 0; i < 3; i++)
		sigaction(term_list[i], &saved_act[i], NULL);
	sigprocmask(SIG_SETMASK, &saved_mask, NULL);
}

/* ---- out of file descriptors ------------------------------------------- */

#define FD_LIMIT 40
#define EXTRA    120

/* With RLIMIT_NOFILE at 40, 120 more clients than the daemon can hold:
 * it must refuse the ones it cannot take, keep serving the VM that was
 * there before, and serve new clients once the crowd is gone. */
static void test_fd_exhaustion(void **state)
{
	struct rlimit old, low;
	struct psp_vm_info vi;
	struct psp_platform_info pi;
	int extra[EXTRA], served = 0, hung_up = 0;
	(void)state;

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	assert_true(old.rlim_cur == RLIM_INFINITY || old.rlim_cur >= EXTRA + 64);
	low = old;
	low.rlim_cur = FD_LIMIT;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct pd *d = pd_start(NULL, NULL);     /* the child inherits the low limit */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);

	/* a VM that exists before the crowd arrives */
	int plat = pd_connect(d);
	int vm = ph_sev_only(plat, NULL, false);
	ph_info(vm, &vi);
	assert_true(vi.sev);

	for (int i = 0; i < EXTRA; i++) {
		struct psp_reply r;
		extra[i] = psp__connect(d->sock);
		if (extra[i] < 0)
			fail_msg("connect %d: %s (tern-psp alive: %d)", i, strerror(-extra[i]),
				 pd_alive(d));
		rcv_timeout(extra[i], 10);
		int s = psp__call(extra[i], PSP_OP_HELLO, 0, NULL, 0, -1, &r);
		psp__reply_free(&r);
		if (s == 0)
			served++;
		else if (s == -ECONNRESET || s == -EPIPE)
			hung_up++;
		else
			fail_msg("HELLO on extra connection %d: %s", i, strerror(-s));
	}
	print_message("fd limit %d: %d extra clients served, %d refused\n", FD_LIMIT, served,
		      hung_up);
	assert_true(hung_up > 0);                /* the limit was reached */
	assert_true(served > 0);
	assert_true(pd_alive(d));

	/* existing clients are served while the daemon is full */
	ph_info(vm, &vi);
	assert_true(vi.sev);
	ph_hello(plat, &pi);
	assert_true(file_has(d->log, "refusing new connections: Too many open files"));

	for (int i = 0; i < EXTRA; i++)
		close(extra[i]);

	/* once they are gone, a new client gets a full service (a VM needs
	 * descriptors of its own); the daemon notices closes asynchronously */
	double t0 = now_s();
	for (;;) {
		struct psp_reply r;
		int c = psp__connect(d->sock), s = c < 0 ? c : 0, v = -1;
		if (c >= 0) {
			rcv_timeout(c, 10);
			s = psp__call(c, PSP_OP_HELLO, 0, NULL, 0, -1, &r);
			psp__reply_free(&r);
			if (!s)
				v = psp__vm_create(c, NULL);
			if (!s && v < 0)
				s = v;
		}
		if (v >= 0) {
			ST_EQ(ph_enc(v, PSP_SEV_INIT, NULL, 0, NULL), 0);
			close(v);
			close(c);
			break;
		}
		if (c >= 0)
			close(c);
		if (now_s() - t0 > 10)
			fail_msg("no new client served 10 s after the crowd left: %s", strerror(-s));
		usleep(20000);
	}
	assert_true(pd_alive(d));
	close(vm);
	close(plat);
}

/* ---- signals ----------------------------------------------------------- */

/* Started with the terminating signals blocked and ignored, the daemon
 * takes them back, ends on each within a second with status 0, and
 * removes the socket it created. */
static void test_signals_under_blocked_mask(void **state)
{
	(void)state;
	for (int i = 0; i < 3; i++) {
		hostile_parent();
		struct pd *d = pd_start(NULL, NULL);
		parent_restore();

		assert_takes_term_sigs(d->pid);
		double t0 = now_s();
		assert_int_equal(kill(d->pid, term_list[i]), 0);
		int st = wait_exit(d->pid, 1.0);
		if (st == -1)
			fail_msg("tern-psp still running 1 s after signal %d", term_list[i]);
		d->pid = 0;                       /* reaped: teardown must not stop it */
		print_message("signal %d: exited in %.0f ms\n", term_list[i], (now_s() - t0) * 1000);
		assert_true(WIFEXITED(st));
		assert_int_equal(WEXITSTATUS(st), 0);
		assert_int_equal(access(d->sock, F_OK), -1);   /* socket removed */
	}
}

/* ---- the auto-start fork path ------------------------------------------ */

static pid_t auto_pid;
static char auto_dir[64];

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

static int auto_teardown(void **state)
{
	(void)state;
	if (auto_pid > 0) {
		kill(auto_pid, SIGKILL);
		waitpid(auto_pid, NULL, 0);
		auto_pid = 0;
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	if (auto_dir[0])
		nftw(auto_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	unsetenv("TERN_PSP_STATE");
	return 0;
}

/* Is any descriptor of pid the object behind our fd? */
static bool holds(pid_t pid, int fd)
{
	char p[64];
	struct stat mine, theirs;
	bool found = false;
	assert_int_equal(fstat(fd, &mine), 0);
	for (int i = 0; i < 1024 && !found; i++) {
		snprintf(p, sizeof(p), "/proc/%d/fd/%d", (int)pid, i);
		if (stat(p, &theirs) == 0 && theirs.st_dev == mine.st_dev && theirs.st_ino == mine.st_ino)
			found = true;
	}
	return found;
}

static void test_autostart_clean_child(void **state)
{
	char sock[128], state_dir[128], err[512];
	int pipefd[2];
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	(void)state;

	snprintf(auto_dir, sizeof(auto_dir), "/tmp/tern-psp-auto.XXXXXX");
	assert_non_null(mkdtemp(auto_dir));
	snprintf(sock, sizeof(sock), "%s/psp.sock", auto_dir);
	snprintf(state_dir, sizeof(state_dir), "%s/state", auto_dir);
	setenv("TERN_PSP_STATE", state_dir, 1);
	/* the detached daemon becomes our child, so we can reap and time it */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	/* a descriptor without close-on-exec, like a careless VMM's guest RAM */
	assert_int_equal(pipe(pipefd), 0);

	hostile_parent();
	signal(SIGPIPE, SIG_IGN);
	int plat = psp_daemon__start(ph_bin(), sock, err, sizeof(err));
	parent_restore();
	signal(SIGPIPE, SIG_DFL);
	if (plat < 0)
		fail_msg("psp_daemon__start: %s", err);
	assert_int_equal(getsockopt(plat, SOL_SOCKET, SO_PEERCRED, &cred, &cl), 0);
	auto_pid = cred.pid;

	struct psp_platform_info pi;
	rcv_timeout(plat, 30);
	ph_hello(plat, &pi);
	assert_takes_term_sigs(auto_pid);
	assert_false(holds(auto_pid, pipefd[0]));
	assert_false(holds(auto_pid, pipefd[1]));
	close(pipefd[0]);
	close(pipefd[1]);
	close(plat);

	assert_int_equal(kill(auto_pid, SIGTERM), 0);
	int st = wait_exit(auto_pid, 1.0);
	if (st == -1)
		fail_msg("auto-started tern-psp still running 1 s after SIGTERM");
	auto_pid = 0;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(access(sock, F_OK), -1);

	/* no binary: a clear error, no fork */
	assert_int_equal(psp_daemon__start("/nonexistent/tern-psp", sock, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "none to start at /nonexistent/tern-psp"));
}

int main(int argc, char **argv)
{
	(void)argc;
	ph_init(argv[0]);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_fd_exhaustion, pd_teardown),
		cmocka_unit_test_teardown(test_signals_under_blocked_mask, pd_teardown),
		cmocka_unit_test_teardown(test_autostart_clean_child, auto_teardown),
	};
	return cmocka_run_group_tests_name("psp_daemon", tests, NULL, NULL);
}
