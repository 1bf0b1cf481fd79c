/* host_check.c - `tern host-check [--json]`: what a user runs first on a new
 * host (compare libvirt's virt-host-validate). One line per capability tern
 * uses, with its status and the feature it gates:
 *   OK       present and usable
 *   LIMITED  absent or partial, tern works around it (said how)
 *   MISSING  absent: the feature named is unavailable here
 * Exit 0 when `tern run` can work (KVM, user-space MSR exits, memfd), 1 when
 * it cannot. The test runner reads the JSON form to skip, with this
 * reason, exactly the tests whose capability is MISSING.
 * Each check is one small function; none changes the host. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cpuid.h>
#include <jansson.h>
#include <linux/userfaultfd.h>

#include "cc/cc.h"
#include "cli/cli.h"
#include "dev/guest_call.h"
#include "kvm/cpuid_probe.h"
#include "kvm/kvm.h"
#include "util/log.h"
#include "util/version.h"

enum hc_status { HC_OK, HC_LIMITED, HC_MISSING };
static const char *const status_name[] = { "OK", "LIMITED", "MISSING" };

struct hc_item {
	const char *name;
	const char *affects;
	enum hc_status status;
	char detail[200];
};

#define HC_MAX 24
struct hc_report {
	struct hc_item item[HC_MAX];
	int n;
	struct kvm_sys kvm;          /* fd -1 when /dev/kvm cannot be used */
	char kvm_err[120];
	char vendor[13], model[64], kernel[65];
	unsigned tsc_khz;
};

static void add(struct hc_report *r, const char *name, const char *affects,
		enum hc_status st, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add(struct hc_report *r, const char *name, const char *affects,
		enum hc_status st, const char *fmt, ...)
{
	struct hc_item *it = &r->item[r->n++];
	va_list ap;
	it->name = name;
	it->affects = affects;
	it->status = st;
	va_start(ap, fmt);
	vsnprintf(it->detail, sizeof(it->detail), fmt, ap);
	va_end(ap);
}

static const struct hc_item *find(const struct hc_report *r, const char *name)
{
	for (int i = 0; i < r->n; i++)
		if (!strcmp(r->item[i].name, name))
			return &r->item[i];
	return NULL;
}

/* A KVM capability check that cannot run because /dev/kvm cannot. */
static bool need_kvm(struct hc_report *r, const char *name, const char *affects)
{
	if (r->kvm.fd >= 0)
		return true;
	add(r, name, affects, HC_MISSING, "needs /dev/kvm (%s)", r->kvm_err);
	return false;
}

/* ---- the host ---------------------------------------------------------- */

static void check_host(struct hc_report *r)
{
	unsigned a, b, c, d;
	struct utsname u;
	FILE *f;
	char line[256];

	if (__get_cpuid(0, &a, &b, &c, &d)) {     /* the host's own CPUID: tern is in ring 3 of the host, not a guest of tern */
		memcpy(r->vendor, &b, 4);
		memcpy(r->vendor + 4, &d, 4);
		memcpy(r->vendor + 8, &c, 4);
	}
	if (uname(&u) == 0)
		snprintf(r->kernel, sizeof(r->kernel), "%s", u.release);
	if ((f = fopen("/proc/cpuinfo", "r"))) {
		while (fgets(line, sizeof(line), f)) {
			char *v = strchr(line, ':');
			if (strncmp(line, "model name", 10) || !v)
				continue;
			v += 1 + strspn(v + 1, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(r->model, sizeof(r->model), "%s", v);
			break;
		}
		fclose(f);
	}
}

/* ---- KVM ---------------------------------------------------------------- */

static void check_kvm(struct hc_report *r)
{
	int e = kvm__open(&r->kvm, "/dev/kvm");
	if (e) {
		snprintf(r->kvm_err, sizeof(r->kvm_err), "/dev/kvm: %s",
			 e == -EPROTO ? "unsupported KVM API version" : strerror(-e));
		add(r, "kvm", "every VM: tern run cannot work", HC_MISSING, "%s", r->kvm_err);
		return;
	}
	add(r, "kvm", "every VM", HC_OK, "/dev/kvm, API %d, up to %d vCPUs",
	    KVM_API_VERSION, r->kvm.max_vcpus);
}

static void check_user_msr(struct hc_report *r)
{
	const char *aff = "every VM: migration consent (MSR_KVM_MIGRATION_CONTROL)";
	if (!need_kvm(r, "user-msr", aff))
		return;
	bool msr = kvm__check(&r->kvm, KVM_CAP_X86_USER_SPACE_MSR);
	bool filter = kvm__check(&r->kvm, KVM_CAP_X86_MSR_FILTER);
	if (msr && filter)
		add(r, "user-msr", aff, HC_OK, "KVM_CAP_X86_USER_SPACE_MSR and KVM_CAP_X86_MSR_FILTER");
	else
		add(r, "user-msr", aff, HC_MISSING, "%s missing: tern run refuses to start",
		    !msr ? "KVM_CAP_X86_USER_SPACE_MSR" : "KVM_CAP_X86_MSR_FILTER");
}

static void check_exit_hypercall(struct hc_report *r)
{
	const char *aff = "KVM_HC_MAP_GPA_RANGE by vmcall (real hosts)";
	if (!need_kvm(r, "exit-hypercall", aff))
		return;
	int mask = kvm__check(&r->kvm, KVM_CAP_EXIT_HYPERCALL);
	if (mask & (1 << KVM_HC_MAP_GPA_RANGE_NR))
		add(r, "exit-hypercall", aff, HC_OK, "KVM_CAP_EXIT_HYPERCALL (mask 0x%x)", mask);
	else
		add(r, "exit-hypercall", aff, HC_LIMITED,
		    "KVM_CAP_EXIT_HYPERCALL without MAP_GPA_RANGE: guests use the guest-call port 0xE0");
}

static void check_dirty_log(struct hc_report *r)
{
	const char *aff = "live migration (dirty-page rounds)";
	if (!need_kvm(r, "dirty-log", aff))
		return;
	int caps = kvm__check(&r->kvm, KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2);
	if (caps & KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE)
		add(r, "dirty-log", aff, HC_OK, "KVM_GET_DIRTY_LOG with manual protect (KVM_CLEAR_DIRTY_LOG)%s",
		    caps & KVM_DIRTY_LOG_INITIALLY_SET ? ", initially set" : "");
	else
		add(r, "dirty-log", aff, HC_LIMITED,
		    "no KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2: plain KVM_GET_DIRTY_LOG (each sync re-protects all RAM)");
}

static void check_dirty_ring(struct hc_report *r)
{
	const char *aff = "live migration in ring mode (optional; log mode is the default)";
	if (!need_kvm(r, "dirty-ring", aff))
		return;
	int acq = kvm__check(&r->kvm, KVM_CAP_DIRTY_LOG_RING_ACQ_REL);
	int ring = acq ? acq : kvm__check(&r->kvm, KVM_CAP_DIRTY_LOG_RING);
	if (ring > 0)
		add(r, "dirty-ring", aff, HC_OK, "%s, up to %d bytes per vCPU",
		    acq ? "KVM_CAP_DIRTY_LOG_RING_ACQ_REL" : "KVM_CAP_DIRTY_LOG_RING", ring);
	else
		add(r, "dirty-ring", aff, HC_LIMITED, "no dirty ring: the dirty log is used");
}

static void check_pre_fault(struct hc_report *r)
{
	const char *aff = "populating a new VM's page tables ahead of the guest";
	if (!need_kvm(r, "pre-fault", aff))
		return;
	if (kvm__check(&r->kvm, KVM_CAP_PRE_FAULT_MEMORY))
		add(r, "pre-fault", aff, HC_OK, "KVM_PRE_FAULT_MEMORY");
	else
		add(r, "pre-fault", aff, HC_LIMITED,
		    "no KVM_PRE_FAULT_MEMORY: the guest faults its pages in on first touch");
}

/* ---- memory ------------------------------------------------------------- */

static void check_memfd(struct hc_report *r)
{
	const char *aff = "every VM: guest RAM, handoff (RAM passed, not copied)";
	int fd = memfd_create("tern-host-check", MFD_CLOEXEC);
	if (fd < 0) {
		add(r, "memfd", aff, HC_MISSING, "memfd_create: %s", strerror(errno));
		return;
	}
	void *p = MAP_FAILED;
	if (ftruncate(fd, 1 << 20) == 0)
		p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		add(r, "memfd", aff, HC_MISSING, "cannot size and map a memfd: %s", strerror(errno));
	} else {
		munmap(p, 1 << 20);
		add(r, "memfd", aff, HC_OK, "memfd_create, shared mappings");
	}
	close(fd);
}

static void check_userfaultfd(struct hc_report *r)
{
	const char *aff = "post-copy migration (minor faults on the shmem guest RAM)";
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0)
		fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		add(r, "userfaultfd", aff, HC_MISSING, "userfaultfd: %s", strerror(errno));
		return;
	}
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		add(r, "userfaultfd", aff, HC_MISSING, "UFFDIO_API: %s", strerror(errno));
	else if (!(api.features & UFFD_FEATURE_MINOR_SHMEM))
		add(r, "userfaultfd", aff, HC_MISSING,
		    "no UFFD_FEATURE_MINOR_SHMEM (features 0x%llx)", (unsigned long long)api.features);
	else
		add(r, "userfaultfd", aff, HC_OK, "minor faults on shmem (features 0x%llx)",
		    (unsigned long long)api.features);
	close(fd);
}

/* ---- confidential computing --------------------------------------------- */

static bool module_param_on(const char *path)
{
	char v[8] = "";
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	if (!fgets(v, sizeof(v), f))
		v[0] = '\0';
	fclose(f);
	return v[0] == 'Y' || v[0] == '1';
}

static void check_sev(struct hc_report *r)
{
	const char *aff = "--cc sev (real SEV hardware; unverified, docs/cc.md)";
	bool dev = access("/dev/sev", R_OK | W_OK) == 0;
	bool sev = module_param_on("/sys/module/kvm_amd/parameters/sev");
	bool es = module_param_on("/sys/module/kvm_amd/parameters/sev_es");
	if (dev && sev)
		add(r, "sev", aff, HC_OK, "/dev/sev, kvm_amd sev=Y%s", es ? ", sev_es=Y" : "");
	else
		add(r, "sev", aff, HC_MISSING, "%s", !dev ? "no usable /dev/sev" : "kvm_amd has SEV off");
	if (dev && es)
		add(r, "sev-es", "--cc sev with an SEV-ES policy", HC_OK, "kvm_amd sev_es=Y");
	else
		add(r, "sev-es", "--cc sev with an SEV-ES policy", HC_MISSING, "no SEV-ES on this host");
}

/* KVM reports the move/copy capabilities on hosts without SEV too (the
 * development machines do), where enabling them fails: only SEV makes them
 * usable. The emulated platform needs neither. */
static void check_enc_context(struct hc_report *r, const char *name, long cap,
			      const char *capname, const char *aff)
{
	if (!need_kvm(r, name, aff))
		return;
	bool reported = kvm__check(&r->kvm, cap) > 0;
	const struct hc_item *sev = find(r, "sev");
	if (reported && sev && sev->status == HC_OK)
		add(r, name, aff, HC_OK, "%s", capname);
	else if (reported)
		add(r, name, aff, HC_MISSING, "%s reported, but unusable without SEV (--cc emu does not need it)",
		    capname);
	else
		add(r, name, aff, HC_MISSING, "%s not reported", capname);
}

static void check_psp(struct hc_report *r)
{
	const char *aff = "--cc emu (the emulated SEV platform)";
	char sock[256], self[4096], bin[4200];
	if (cc__emu_probe(sock, sizeof(sock)) == 0) {
		add(r, "tern-psp", aff, HC_OK, "running at %s", sock);
		return;
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		*strrchr(self, '/') = '\0';
		snprintf(bin, sizeof(bin), "%s/tern-psp", self);
		if (access(bin, X_OK) == 0) {
			add(r, "tern-psp", aff, HC_OK, "not running at %s; tern run --cc emu starts %s", sock, bin);
			return;
		}
	}
	add(r, "tern-psp", aff, HC_MISSING, "none running at %s and no tern-psp beside tern", sock);
}

/* ---- test infrastructure ------------------------------------------------ */

static void check_netns(struct hc_report *r)
{
	const char *aff = "two-host migration tests (network namespaces joined by veth)";
	pid_t pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	int st = 0;
	if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		add(r, "netns", aff, HC_OK, "unshare(CLONE_NEWNET) works");
	else
		add(r, "netns", aff, HC_LIMITED, "no network namespaces here: the tests migrate over loopback");
}

/* ---- the guest's view --------------------------------------------------- */

static void check_ring3_cpuid(struct hc_report *r)
{
	const char *aff = "guests that read CPUID in ring 3 (tern's guests read it in ring 0)";
	struct cpuid_probe p;
	char err[160];
	if (!need_kvm(r, "ring3-cpuid", aff))
		return;
	if (cpuid_probe__ring3(&r->kvm, &p, err, sizeof(err))) {
		add(r, "ring3-cpuid", aff, HC_LIMITED, "probe VM failed: %s", err);
		return;
	}
	r->tsc_khz = p.tsc_khz;
	if (p.intercepted)
		add(r, "ring3-cpuid", aff, HC_OK, "intercepted: ring 3 sees tern's table (max leaf 0x%x)",
		    p.got_eax);
	else
		add(r, "ring3-cpuid", aff, HC_LIMITED,
		    "NOT intercepted: ring 3 saw max leaf 0x%x (tern set 0x%x), another hypervisor's leaves",
		    p.got_eax, p.want_max);
}

/* ---- output ------------------------------------------------------------- */

static bool usable(const struct hc_report *r)
{
	static const char *const needed[] = { "kvm", "user-msr", "memfd" };
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]); i++) {
		const struct hc_item *it = find(r, needed[i]);
		if (!it || it->status == HC_MISSING)
			return false;
	}
	return true;
}

static void print_text(const struct hc_report *r)
{
	printf("host: %s (%s), kernel %s", r->model[0] ? r->model : "unknown CPU",
	       r->vendor[0] ? r->vendor : "unknown vendor", r->kernel);
	if (r->tsc_khz)
		printf(", guest TSC %u kHz", r->tsc_khz);
	printf("\n");
	for (int i = 0; i < r->n; i++) {
		const struct hc_item *it = &r->item[i];
		printf("%-8s %-17s %s\n         %-17s affects: %s\n", status_name[it->status], it->name,
		       it->detail, "", it->affects);
	}
	if (usable(r))
		printf("tern run can work on this host\n");
	else
		printf("tern run cannot work on this host (see the MISSING lines for kvm, user-msr, memfd)\n");
}

static int print_json(const struct hc_report *r)
{
	json_t *checks = json_array();
	for (int i = 0; i < r->n; i++) {
		const struct hc_item *it = &r->item[i];
		json_array_append_new(checks, json_pack("{s:s, s:s, s:s, s:s}", "name", it->name,
							"status", status_name[it->status],
							"affects", it->affects, "detail", it->detail));
	}
	json_t *o = json_pack("{s:s, s:b, s:{s:s, s:s, s:s, s:I}, s:o}",
			      "tern", version__string(), "usable", usable(r),
			      "host", "vendor", r->vendor, "model", r->model, "kernel", r->kernel,
			      "tsc-khz", (json_int_t)r->tsc_khz, "checks", checks);
	if (!o)
		return -1;
	char *s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!s)
		return -1;
	printf("%s\n", s);
	free(s);
	return 0;
}

int cmd__host_check(int argc, char **argv)
{
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help")) {
			printf("usage: tern host-check [--json]\n"
			       "Checks every host capability tern uses; one line each: OK, LIMITED or MISSING,\n"
			       "with the feature it affects. Exit 0 if tern run can work here, 1 if not.\n");
			return 0;
		} else {
			log__err("host-check: unknown argument '%s' (usage: tern host-check [--json])", argv[i]);
			return 2;
		}
	}
	struct hc_report *r = calloc(1, sizeof(*r));
	if (!r)
		die("out of memory");
	r->kvm.fd = -1;
	check_host(r);
	check_kvm(r);
	check_user_msr(r);
	check_exit_hypercall(r);
	check_dirty_log(r);
	check_dirty_ring(r);
	check_pre_fault(r);
	check_memfd(r);
	check_userfaultfd(r);
	check_sev(r);
	check_enc_context(r, "copy-enc-context", KVM_CAP_VM_COPY_ENC_CONTEXT_FROM,
			  "KVM_CAP_VM_COPY_ENC_CONTEXT_FROM", "--cc sev mirror VMs (the migration helper)");
	check_enc_context(r, "move-enc-context", KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM,
			  "KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM", "--cc sev handoff (moving the encryption context)");
	check_psp(r);
	check_netns(r);
	check_ring3_cpuid(r);

	int rc = usable(r) ? 0 : 1;
	if (json) {
		if (print_json(r))
			rc = 1;
	} else {
		print_text(r);
	}
	kvm__close(&r->kvm);
	free(r);
	return rc;
}
