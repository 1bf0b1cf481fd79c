/* psp_harness.c - see psp_harness.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "psp_harness.h"

static char ph_binpath[PATH_MAX];
#define PH_MAX_DAEMONS 8
static struct pd *ph_daemons[PH_MAX_DAEMONS];
static int ph_seed;

const char *ph_errname(long e)
{
	if (e == 0)
		return "ok";
	if (e < 0)
		return strerror((int)-e);
	return "positive?";
}

void ph_init(const char *argv0)
{
	const char *e = getenv("TERN_PSP_BIN");
	char tmp[PATH_MAX];
	if (e && *e) {
		snprintf(ph_binpath, sizeof(ph_binpath), "%s", e);
		return;
	}
	snprintf(tmp, sizeof(tmp), "%s", argv0);
	snprintf(ph_binpath, sizeof(ph_binpath), "%s/../tern-psp", dirname(tmp));
}

const char *ph_bin(void)
{
	return ph_binpath;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void set_timeout(int fd)
{
	struct timeval tv = { .tv_sec = 30 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
}

/* ---- the daemon -------------------------------------------------------- */

static void dump_log(struct pd *d)
{
	char buf[4096];
	FILE *f = fopen(d->log, "r");
	if (!f)
		return;
	fprintf(stderr, "---- %s ----\n", d->log);
	while (fgets(buf, sizeof(buf), f))
		fputs(buf, stderr);
	fprintf(stderr, "----\n");
	fclose(f);
}

/* A sanitizer report in the daemon's log means it misbehaved even if it
 * kept running. */
static bool log_has_report(struct pd *d)
{
	static const char *marks[] = { "AddressSanitizer", "LeakSanitizer", "runtime error:",
				       "ThreadSanitizer", "UndefinedBehaviorSanitizer" };
	char buf[4096];
	bool bad = false;
	FILE *f = fopen(d->log, "r");
	if (!f)
		return false;
	while (!bad && fgets(buf, sizeof(buf), f))
		for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
			if (strstr(buf, marks[i]))
				bad = true;
	fclose(f);
	return bad;
}

static void spawn(struct pd *d)
{
	char *argv[32];
	int n = 0;
	struct stat st;

	if (stat(ph_binpath, &st) < 0 || !(st.st_mode & S_IXUSR))
		fail_msg("tern-psp binary %s not found (build it with `make psp`, or set "
			 "TERN_PSP_BIN)", ph_binpath);
	argv[n++] = ph_binpath;
	argv[n++] = "--socket";
	argv[n++] = d->sock;
	argv[n++] = "--state-dir";
	argv[n++] = d->state;
	for (int i = 0; i < d->nargs; i++)
		argv[n++] = d->args[i];
	argv[n] = NULL;

	pid_t parent = getpid();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* never outlive the test binary */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(126);
		int lf = open(d->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nf = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (lf >= 0) {
			dup2(lf, 1);
			dup2(lf, 2);
		}
		if (nf >= 0)
			dup2(nf, 0);
		execv(ph_binpath, argv);
		_exit(127);
	}
	d->pid = pid;

	double t0 = now_s();
	for (;;) {
		int st2;
		if (waitpid(pid, &st2, WNOHANG) == pid) {
			d->pid = 0;
			dump_log(d);
			fail_msg("tern-psp exited at start (status 0x%x)", st2);
		}
		int fd = psp__connect(d->sock);
		if (fd >= 0) {
			close(fd);
			return;
		}
		if (now_s() - t0 > 30) {
			dump_log(d);
			fail_msg("tern-psp did not listen on %s within 30 s", d->sock);
		}
		usleep(2000);
	}
}

struct pd *pd_start(const char *state_dir, ...)
{
	struct pd *d = calloc(1, sizeof(*d));
	va_list ap;
	const char *a;
	int slot = -1;

	assert_non_null(d);
	for (int i = 0; i < PH_MAX_DAEMONS; i++)
		if (!ph_daemons[i]) {
			slot = i;
			break;
		}
	assert_true(slot >= 0);
	snprintf(d->dir, sizeof(d->dir), "/tmp/tern-psp-test.XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->sock, sizeof(d->sock), "%s/psp.sock", d->dir);
	snprintf(d->log, sizeof(d->log), "%s/log", d->dir);
	if (state_dir)
		snprintf(d->state, sizeof(d->state), "%s", state_dir);
	else
		snprintf(d->state, sizeof(d->state), "%s/state", d->dir);
	va_start(ap, state_dir);
	while ((a = va_arg(ap, const char *)) != NULL) {
		assert_true(d->nargs < 16);
		d->args[d->nargs++] = strdup(a);
	}
	va_end(ap);
	ph_daemons[slot] = d;
	spawn(d);
	return d;
}

bool pd_alive(struct pd *d)
{
	int st;
	if (!d->pid)
		return false;
	if (waitpid(d->pid, &st, WNOHANG) == d->pid) {
		d->pid = 0;
		d->died = true;
		d->died_status = st;
		return false;
	}
	return true;
}

void pd_kill(struct pd *d, int sig)
{
	int st;
	if (!d->pid)
		return;
	kill(d->pid, sig);
	waitpid(d->pid, &st, 0);
	d->pid = 0;
	d->died = false;
}

int pd_stop(struct pd *d)
{
	int st = 0, rc = 0;
	pid_t pid = d->pid;

	if (!pid && d->died) {
		d->died = false;
		fprintf(stderr, "tern-psp (%s) died during the test (status 0x%x)\n", d->sock,
			d->died_status);
		dump_log(d);
		return -1;
	}
	if (!pid) {
		fprintf(stderr, "tern-psp (%s) is not running\n", d->sock);
		return -1;
	}
	if (waitpid(pid, &st, WNOHANG) == pid) {
		d->pid = 0;
		fprintf(stderr, "tern-psp (%s) died during the test (status 0x%x)\n", d->sock, st);
		dump_log(d);
		return -1;
	}
	kill(pid, SIGTERM);
	double t0 = now_s();
	while (waitpid(pid, &st, WNOHANG) != pid) {
		if (now_s() - t0 > 20) {
			fprintf(stderr, "tern-psp ignored SIGTERM\n");
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			rc = -1;
			break;
		}
		usleep(1000);
	}
	d->pid = 0;
	if (!rc && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		fprintf(stderr, "tern-psp exited with status 0x%x after SIGTERM\n", st);
		rc = -1;
	}
	if (log_has_report(d)) {
		fprintf(stderr, "tern-psp logged a sanitizer report\n");
		rc = -1;
	}
	if (rc)
		dump_log(d);
	return rc;
}

void pd_restart(struct pd *d)
{
	if (d->pid || d->died)
		assert_int_equal(pd_stop(d), 0);
	spawn(d);
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(p);
	return 0;
}

int pd_setup(void **state)
{
	*state = pd_start(NULL, NULL);
	return 0;
}

int pd_teardown(void **state)
{
	int rc = 0;
	(void)state;
	for (int i = 0; i < PH_MAX_DAEMONS; i++) {
		struct pd *d = ph_daemons[i];
		if (!d)
			continue;
		if ((d->pid || d->died) && pd_stop(d))
			rc = -1;
		nftw(d->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		for (int k = 0; k < d->nargs; k++)
			free(d->args[k]);
		free(d);
		ph_daemons[i] = NULL;
	}
	return rc;
}

int pd_connect(struct pd *d)
{
	int fd = psp__connect(d->sock);
	if (fd < 0)
		fail_msg("connect %s: %s", d->sock, strerror(-fd));
	set_timeout(fd);
	return fd;
}

/* ---- requests ---------------------------------------------------------- */

int ph_call(int sock, uint16_t op, uint32_t cmd, const void *p, size_t len, int fd,
	    uint32_t *fw, void *out, size_t outcap, size_t *outlen)
{
	struct psp_reply r;
	int s = psp__call(sock, op, cmd, p, len, fd, &r);
	if (fw)
		*fw = r.fw_error;
	if (outlen)
		*outlen = r.len;
	if (out && r.data)
		memcpy(out, r.data, r.len < outcap ? r.len : outcap);
	psp__reply_free(&r);
	return s;
}

int ph_enc(int vm, uint32_t cmd, const void *p, size_t len, uint32_t *fw)
{
	return ph_call(vm, PSP_OP_ENC, cmd, p, len, -1, fw, NULL, 0, NULL);
}

/* An ENC request whose body is a fixed header then tlen bytes after it (a
 * PEM, a chain, data); the handle its reply carries, if handle is given. */
static int ph_enc_tail(int vm, uint32_t cmd, const void *hdr, size_t hlen, const void *tail,
		       size_t tlen, uint32_t *fw, uint32_t *handle)
{
	struct psp_handle_reply hr = { 0 };
	uint8_t *buf = malloc(hlen + tlen);
	assert_non_null(buf);
	memcpy(buf, hdr, hlen);
	memcpy(buf + hlen, tail, tlen);
	int s = ph_call(vm, PSP_OP_ENC, cmd, buf, hlen + tlen, -1, fw, &hr, sizeof(hr), NULL);
	free(buf);
	if (handle)
		*handle = hr.handle;
	return s;
}

int ph_move(int dst, int src)
{
	return ph_call(dst, PSP_OP_MOVE_FROM, 0, NULL, 0, src, NULL, NULL, 0, NULL);
}

int ph_copy(int dst, int src)
{
	return ph_call(dst, PSP_OP_COPY_FROM, 0, NULL, 0, src, NULL, NULL, 0, NULL);
}

int ph_region(int vm, int memfd, uint64_t gpa, uint64_t size, uint64_t off)
{
	struct psp_region g = { gpa, size, off };
	return ph_call(vm, PSP_OP_REGION_REG, 0, &g, sizeof(g), memfd, NULL, NULL, 0, NULL);
}

int ph_unregion(int vm, uint64_t gpa, uint64_t size)
{
	struct psp_region g = { gpa, size, 0 };
	return ph_call(vm, PSP_OP_REGION_UNREG, 0, &g, sizeof(g), -1, NULL, NULL, 0, NULL);
}

int ph_vcpus(int vm, uint32_t n)
{
	struct psp_vcpus v = { n };
	return ph_call(vm, PSP_OP_VCPU_CREATE, 0, &v, sizeof(v), -1, NULL, NULL, 0, NULL);
}

int ph_status(int vm, struct psp_guest_status *gs, uint32_t *fw)
{
	size_t n = 0;
	memset(gs, 0, sizeof(*gs));
	int s = ph_call(vm, PSP_OP_ENC, PSP_SEV_GUEST_STATUS, NULL, 0, -1, fw, gs, sizeof(*gs), &n);
	if (s == 0)
		assert_int_equal(n, sizeof(*gs));
	return s;
}

uint32_t ph_state(int vm)
{
	struct psp_guest_status gs;
	uint32_t fw = 0;
	int s = ph_status(vm, &gs, &fw);
	if (s)
		fail_msg("GUEST_STATUS: %d (%s) fw %s", s, ph_errname(s), psp__fw_error_name(fw));
	return gs.state;
}

void ph_hello(int plat, struct psp_platform_info *pi)
{
	size_t n = 0;
	memset(pi, 0, sizeof(*pi));
	ST_EQ(ph_call(plat, PSP_OP_HELLO, 0, NULL, 0, -1, NULL, pi, sizeof(*pi), &n), 0);
	assert_int_equal(n, sizeof(*pi));
	assert_int_equal(pi->api_major, PSP_API_MAJOR);
	assert_int_equal(pi->api_minor, PSP_API_MINOR);
}

void ph_info(int vm, struct psp_vm_info *i)
{
	size_t n = 0;
	memset(i, 0, sizeof(*i));
	ST_EQ(ph_call(vm, PSP_OP_VM_INFO, 0, NULL, 0, -1, NULL, i, sizeof(*i), &n), 0);
	assert_int_equal(n, sizeof(*i));
}

void ph_wait(int plat, long vms, long asid__count_free)
{
	struct psp_platform_info pi;
	double t0 = now_s();
	for (;;) {
		ph_hello(plat, &pi);
		bool ok = (vms < 0 || pi.vms == (uint32_t)vms) &&
			  (asid__count_free < 0 || pi.asids_free == (uint32_t)asid__count_free);
		if (ok)
			return;
		if (now_s() - t0 > 10)
			fail_msg("platform: %u VMs, %u of %u ASIDs free; want %ld VMs, %ld free",
				 pi.vms, pi.asids_free, pi.asids_total, vms, asid__count_free);
		usleep(1000);
	}
}

int ph_vm(int plat, const char *domain)
{
	int fd = psp__vm_create(plat, domain ? domain : "");
	if (fd < 0)
		fail_msg("VM_CREATE: %s", strerror(-fd));
	set_timeout(fd);
	return fd;
}

int ph_vm_typed(int plat, const char *domain, uint32_t vm_type)
{
	struct psp_vm_create_typed c;
	struct psp_reply r;
	memset(&c, 0, sizeof(c));
	snprintf(c.domain, sizeof(c.domain), "%s", domain ? domain : "");
	c.vm_type = vm_type;
	int s = psp__call(plat, PSP_OP_VM_CREATE, 0, &c, sizeof(c), -1, &r);
	if (s == 0 && r.fd < 0)
		s = -EPROTO;
	int fd = s ? s : r.fd;
	if (!s)
		r.fd = -1;
	psp__reply_free(&r);
	if (fd >= 0)
		set_timeout(fd);
	return fd;
}

int ph_init2(int vm, uint32_t vm_type, uint64_t vmsa_features, uint16_t ghcb_version)
{
	struct psp_sev_init2 in;
	memset(&in, 0, sizeof(in));
	in.vm_type = vm_type;
	in.vmsa_features = vmsa_features;
	in.ghcb_version = ghcb_version;
	return ph_enc(vm, PSP_SEV_INIT2, &in, sizeof(in), NULL);
}

int ph_aux(int plat, const char *domain, uint32_t vcpus)
{
	int fd = ph_vm(plat, domain);
	if (vcpus)
		ST_EQ(ph_vcpus(fd, vcpus), 0);
	return fd;
}

int ph_sev_only(int plat, const char *domain, bool es)
{
	int fd = ph_vm(plat, domain);
	ST_EQ(ph_enc(fd, es ? PSP_SEV_ES_INIT : PSP_SEV_INIT, NULL, 0, NULL), 0);
	return fd;
}

char *ph_chain(int plat, size_t *len)
{
	struct psp_reply r;
	ST_EQ(psp__call(plat, PSP_OP_EXPORT_CHAIN, 0, NULL, 0, -1, &r), 0);
	assert_true(r.len > 0);
	char *c = malloc(r.len + 1);
	assert_non_null(c);
	memcpy(c, r.data, r.len);
	c[r.len] = '\0';
	*len = r.len;
	psp__reply_free(&r);
	return c;
}

/* ---- test VMs ---------------------------------------------------------- */

void tvm_mem(struct tvm *v)
{
	uint8_t seed = (uint8_t)(++ph_seed * 37 + 11);
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->memfd = memfd_create("psp-test", MFD_CLOEXEC);
	assert_true(v->memfd >= 0);
	assert_int_equal(ftruncate(v->memfd, TVM_MEM), 0);
	v->mem = mmap(NULL, TVM_MEM, PROT_READ | PROT_WRITE, MAP_SHARED, v->memfd, 0);
	assert_true(v->mem != MAP_FAILED);
	for (size_t i = 0; i < TVM_MEM; i++)
		v->mem[i] = (uint8_t)(i * 31 + (i >> 12) * 7 + seed);
}

int ph_launch_start(int vm, uint32_t policy, uint32_t *fw, uint32_t *handle)
{
	struct psp_launch_start ls;
	struct psp_handle_reply hr = { 0 };
	memset(&ls, 0, sizeof(ls));
	ls.policy = policy;
	int s = ph_call(vm, PSP_OP_ENC, PSP_SEV_LAUNCH_START, &ls, sizeof(ls), -1, fw, &hr,
			sizeof(hr), NULL);
	if (handle)
		*handle = hr.handle;
	return s;
}

int ph_update_data(int vm, uint64_t gpa, uint32_t len, uint32_t *fw)
{
	struct psp_range g = { gpa, len, 0 };
	return ph_enc(vm, PSP_SEV_LAUNCH_UPDATE_DATA, &g, sizeof(g), fw);
}

int ph_vmsa(int vm, uint32_t vcpu, uint32_t *fw)
{
	uint8_t buf[sizeof(struct psp_vmsa) + 64];
	struct psp_vmsa v = { vcpu, 64 };
	memcpy(buf, &v, sizeof(v));
	for (int i = 0; i < 64; i++)
		buf[sizeof(v) + i] = (uint8_t)(vcpu * 64 + i);
	return ph_enc(vm, PSP_SEV_LAUNCH_UPDATE_VMSA, buf, sizeof(buf), fw);
}

int ph_launch_session(int vm, uint32_t policy, const uint8_t session[PSP_SESSION_LEN],
		      const char *pem, size_t plen, uint32_t *fw, uint32_t *handle)
{
	struct psp_launch_start ls;
	memset(&ls, 0, sizeof(ls));
	ls.policy = policy;
	ls.flags = 1;
	memcpy(ls.session, session, PSP_SESSION_LEN);
	ls.owner_pub_len = (uint32_t)plen;
	return ph_enc_tail(vm, PSP_SEV_LAUNCH_START, &ls, sizeof(ls), pem, plen, fw, handle);
}

int ph_measure(int vm, struct psp_measure_reply *mr, uint32_t *fw)
{
	struct psp_measure_reply tmp;
	size_t n = 0;
	int s = ph_call(vm, PSP_OP_ENC, PSP_SEV_LAUNCH_MEASURE, NULL, 0, -1, fw, mr ? mr : &tmp,
			sizeof(tmp), &n);
	if (s == 0)
		assert_int_equal(n, sizeof(tmp));
	return s;
}

void tvm_sev(struct tvm *v, int plat, const char *domain, bool es, uint32_t policy)
{
	struct psp_vm_info i;
	tvm_mem(v);
	v->fd = ph_vm(plat, domain);
	ST_EQ(ph_enc(v->fd, es ? PSP_SEV_ES_INIT : PSP_SEV_INIT, NULL, 0, NULL), 0);
	ST_EQ(ph_region(v->fd, v->memfd, 0, TVM_MEM, 0), 0);   /* an SEV guest's only (ENOTTY before) */
	ST_EQ(ph_vcpus(v->fd, TVM_VCPUS), 0);
	if (es)
		policy |= PSP_POLICY_ES;
	v->policy = policy;
	ST_EQ(ph_launch_start(v->fd, policy, NULL, &v->handle), 0);
	assert_true(v->handle != 0);
	ST_EQ(ph_update_data(v->fd, 0, PSP_PAGE, NULL), 0);
	for (uint32_t k = 0; es && k < TVM_VCPUS; k++)
		ST_EQ(ph_vmsa(v->fd, k, NULL), 0);
	ph_info(v->fd, &i);
	assert_true(i.sev && !i.dead && !i.mirror);
	assert_int_equal(i.es, es);
	assert_true(i.asid != 0);
	assert_int_equal(i.handle, v->handle);
	assert_int_equal(i.state, PSP_STATE_LUPDATE);
	assert_int_equal(i.policy, policy);
	assert_int_equal(i.vcpus, TVM_VCPUS);
	assert_int_equal(i.nregions, 1);
	assert_int_equal(i.vmsa_launched, es ? TVM_VCPUS : 0);
}

void tvm_run(struct tvm *v)
{
	ST_EQ(ph_measure(v->fd, NULL, NULL), 0);
	ST_EQ(ph_enc(v->fd, PSP_SEV_LAUNCH_FINISH, NULL, 0, NULL), 0);
	assert_int_equal(ph_state(v->fd), PSP_STATE_RUNNING);
}

void tvm_close_vm(struct tvm *v)
{
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

void tvm_close(struct tvm *v)
{
	tvm_close_vm(v);
	if (v->mem && v->mem != MAP_FAILED)
		munmap(v->mem, TVM_MEM);
	v->mem = NULL;
	if (v->memfd >= 0)
		close(v->memfd);
	v->memfd = -1;
}

/* ---- firmware command helpers ----------------------------------------- */

int ph_dbg_decrypt(int vm, uint64_t gpa, uint32_t len, void *out, uint32_t *fw)
{
	struct psp_range g = { gpa, len, 0 };
	size_t n = 0;
	int s = ph_call(vm, PSP_OP_ENC, PSP_SEV_DBG_DECRYPT, &g, sizeof(g), -1, fw, out, len, &n);
	if (s == 0)
		assert_int_equal(n, len);
	return s;
}

int ph_dbg_encrypt(int vm, uint64_t gpa, const void *data, uint32_t len, uint32_t *fw)
{
	struct psp_range g = { gpa, len, 0 };
	return ph_enc_tail(vm, PSP_SEV_DBG_ENCRYPT, &g, sizeof(g), data, len, fw, NULL);
}

int ph_send_start(int vm, const char *chain, size_t clen, uint32_t *fw,
		  uint8_t session[PSP_SESSION_LEN], uint32_t *policy, char **sender_chain,
		  size_t *sender_len)
{
	struct psp_reply r;
	uint32_t l = (uint32_t)clen;
	uint8_t *req = malloc(4 + clen);
	assert_non_null(req);
	memcpy(req, &l, 4);
	memcpy(req + 4, chain, clen);
	int s = psp__call(vm, PSP_OP_ENC, PSP_SEV_SEND_START, req, 4 + clen, -1, &r);
	free(req);
	if (fw)
		*fw = r.fw_error;
	if (sender_chain)
		*sender_chain = NULL;
	if (s == 0) {
		struct psp_send_start_reply sr;
		assert_true(r.len >= sizeof(sr));
		memcpy(&sr, r.data, sizeof(sr));
		assert_int_equal(r.len, sizeof(sr) + sr.chain_len);
		if (session)
			memcpy(session, sr.session, PSP_SESSION_LEN);
		if (policy)
			*policy = sr.policy;
		if (sender_chain) {
			*sender_chain = malloc(sr.chain_len + 1);
			assert_non_null(*sender_chain);
			memcpy(*sender_chain, r.data + sizeof(sr), sr.chain_len);
			(*sender_chain)[sr.chain_len] = '\0';
		}
		if (sender_len)
			*sender_len = sr.chain_len;
	}
	psp__reply_free(&r);
	return s;
}

int ph_receive_start(int vm, uint32_t policy, const uint8_t session[PSP_SESSION_LEN],
		     const char *chain, size_t clen, uint32_t *fw, uint32_t *handle)
{
	struct psp_receive_start rs;
	memset(&rs, 0, sizeof(rs));
	rs.policy = policy;
	memcpy(rs.session, session, PSP_SESSION_LEN);
	rs.chain_len = (uint32_t)clen;
	return ph_enc_tail(vm, PSP_SEV_RECEIVE_START, &rs, sizeof(rs), chain, clen, fw, handle);
}

int ph_send_data(int vm, uint64_t gpa, uint32_t len, uint32_t *fw, uint8_t *pkt, size_t cap,
		 size_t *pktlen)
{
	struct psp_range g = { gpa, len, 0 };
	size_t n = 0;
	int s = ph_call(vm, PSP_OP_ENC, PSP_SEV_SEND_UPDATE_DATA, &g, sizeof(g), -1, fw, pkt, cap, &n);
	if (pktlen)
		*pktlen = n;
	if (s == 0)
		assert_int_equal(n, sizeof(struct psp_packet) + len);
	return s;
}

int ph_receive_data(int vm, const uint8_t *pkt, size_t pktlen, uint32_t *fw)
{
	return ph_enc(vm, PSP_SEV_RECEIVE_UPDATE_DATA, pkt, pktlen, fw);
}

void ph_session(int plat, struct tvm *src, struct tvm *dst, uint32_t policy)
{
	size_t clen, slen;
	char *chain = ph_chain(plat, &clen), *schain;
	uint8_t session[PSP_SESSION_LEN];
	uint32_t pol = 0, handle = 0;

	tvm_sev(src, plat, NULL, false, policy);
	tvm_run(src);
	ST_EQ(ph_send_start(src->fd, chain, clen, NULL, session, &pol, &schain, &slen), 0);
	assert_int_equal(pol, src->policy);
	assert_int_equal(slen, clen);
	assert_memory_equal(schain, chain, clen);      /* the sender's own chain */
	assert_int_equal(ph_state(src->fd), PSP_STATE_SUPDATE);

	tvm_mem(dst);
	memset(dst->mem, 0xee, TVM_MEM);
	dst->fd = ph_vm(plat, NULL);
	ST_EQ(ph_enc(dst->fd, PSP_SEV_INIT, NULL, 0, NULL), 0);
	ST_EQ(ph_region(dst->fd, dst->memfd, 0, TVM_MEM, 0), 0);
	ST_EQ(ph_receive_start(dst->fd, pol, session, schain, slen, NULL, &handle), 0);
	assert_true(handle != 0 && handle != src->handle);
	dst->handle = handle;
	dst->policy = pol;
	assert_int_equal(ph_state(dst->fd), PSP_STATE_RUPDATE);
	free(chain);
	free(schain);
}

/* ---- raw datagrams ----------------------------------------------------- */

long ph_raw(int sock, const void *buf, size_t len, int fd, struct psp_hdr *rh)
{
	union { char b[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .fd = sock, .events = POLLIN };
	ssize_t n;

	if (fd >= 0) {
		memset(&u, 0, sizeof(u));
		m.msg_control = u.b;
		m.msg_controllen = sizeof(u.b);
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0)
		return -errno;
	if (poll(&p, 1, 30000) != 1)
		return -ETIMEDOUT;
	uint8_t *rb = malloc(PSP_MAX_MSG);
	assert_non_null(rb);
	struct iovec riov = { rb, PSP_MAX_MSG };
	struct msghdr r = { .msg_iov = &riov, .msg_iovlen = 1, .msg_control = u.b,
			    .msg_controllen = sizeof(u.b) };
	n = recvmsg(sock, &r, MSG_CMSG_CLOEXEC);
	if (n < 0) {
		n = -errno;
	} else {
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&r); c; c = CMSG_NXTHDR(&r, c))
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
				int got;
				memcpy(&got, CMSG_DATA(c), sizeof(int));
				close(got);
			}
		memset(rh, 0, sizeof(*rh));
		memcpy(rh, rb, (size_t)n < sizeof(*rh) ? (size_t)n : sizeof(*rh));
	}
	free(rb);
	return n;
}
