/* psp_harness.h - shared helpers of the tern-psp conformance tests
 * (tests/unit/test_psp_*.c): start the real daemon binary as a child
 * process, talk to it with the client library (src/cc/psp_client.h), and
 * build VMs in the shapes sev-semantics.md section 4 describes.
 *
 * psp_harness.c is linked into every unit-test binary (the Makefile's
 * UNIT_HELP: the .c files in tests/unit not named test_...). Everything
 * asserts: a helper returns only when its step worked, except the ph_*
 * request wrappers, which return the reply's status (0 or -errno) so
 * tests can check refusals. */
#ifndef TERN_TESTS_PSP_HARNESS_H
#define TERN_TESTS_PSP_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "cc/psp_client.h"
#include "cc/psp_proto.h"

/* ---- assertions that print errno values readably ---------------------- */

const char *ph_errname(long e);

/* status of expr == want (both 0 or -errno) */
#define ST_EQ(expr, want) do {                                                       \
	long _g = (long)(expr), _w = (long)(want);                                   \
	if (_g != _w)                                                                \
		fail_msg("%s:%d: %s = %ld (%s), want %ld (%s)", __FILE__, __LINE__, \
			 #expr, _g, ph_errname(_g), _w, ph_errname(_w));             \
} while (0)

/* a firmware refusal: status -EIO with fw_error code */
#define FW_EQ(expr, fwvar, code) do {                                                \
	long _g = (long)(expr);                                                      \
	if (_g != -EIO || (fwvar) != (uint32_t)(code))                               \
		fail_msg("%s:%d: %s = %ld (%s) fw %s, want -EIO fw %s", __FILE__,   \
			 __LINE__, #expr, _g, ph_errname(_g), psp__fw_error_name(fwvar), \
			 psp__fw_error_name(code));                                   \
} while (0)

/* ---- the daemon -------------------------------------------------------- */

struct pd {
	pid_t pid;                        /* 0: not running */
	bool  died;                       /* found dead without being stopped */
	int   died_status;
	char  dir[256];                   /* mkdtemp directory, removed at teardown */
	char  sock[300];
	char  state[300];
	char  log[300];                   /* the daemon's stdout and stderr */
	char *args[16];                   /* extra options, kept for restarts */
	int   nargs;
};

/* Call first from main(): the binary is $TERN_PSP_BIN, else
 * dirname(argv0)/../tern-psp (build/tests/test_x -> build/tern-psp). */
void ph_init(const char *argv0);
const char *ph_bin(void);

/* Start a daemon with its own socket; state_dir NULL: a fresh one in its
 * directory. Extra options follow, NULL-terminated. Waits until it
 * accepts connections. Every daemon started is stopped at teardown. */
struct pd *pd_start(const char *state_dir, ...);
/* Stop it (SIGTERM) and check it was still alive, exited 0, and logged
 * no sanitizer report; kill it with `sig` instead (SIGKILL) to skip
 * the checks. Returns 0 or -1 after printing why. */
int  pd_stop(struct pd *d);
void pd_kill(struct pd *d, int sig);
/* Start it again with the same socket, state directory and options. */
void pd_restart(struct pd *d);
bool pd_alive(struct pd *d);

/* cmocka fixtures: a fresh default daemon per test in *state; teardown
 * stops every daemon the test started and fails if one misbehaved. */
int  pd_setup(void **state);
int  pd_teardown(void **state);

/* A platform connection (receive timeout set, so a hung daemon fails the
 * test instead of hanging it). */
int  pd_connect(struct pd *d);

/* ---- requests ---------------------------------------------------------- */

/* One request; copies up to outcap reply bytes to out, sets *outlen to the
 * reply's length and *fw to its fw_error (each may be NULL). */
int  ph_call(int sock, uint16_t op, uint32_t cmd, const void *p, size_t len, int fd,
	     uint32_t *fw, void *out, size_t outcap, size_t *outlen);
int  ph_enc(int vm, uint32_t cmd, const void *p, size_t len, uint32_t *fw);
int  ph_move(int dst, int src);
int  ph_copy(int dst, int src);
int  ph_region(int vm, int memfd, uint64_t gpa, uint64_t size, uint64_t off);
int  ph_unregion(int vm, uint64_t gpa, uint64_t size);
int  ph_vcpus(int vm, uint32_t n);
int  ph_status(int vm, struct psp_guest_status *gs, uint32_t *fw);

void ph_hello(int plat, struct psp_platform_info *pi);
void ph_info(int vm, struct psp_vm_info *i);
/* Poll HELLO until the daemon has processed closes: vms VM objects and
 * asid__count_free free ASIDs (either may be -1: don't care). Asserts. */
void ph_wait(int plat, long vms, long asid__count_free);

/* A VM handle in an accounting domain (NULL: default), with a receive timeout. */
int  ph_vm(int plat, const char *domain);
/* VM_CREATE with a VM type (PSP_VM_*): the handle, or -errno (no assert). */
int  ph_vm_typed(int plat, const char *domain, uint32_t vm_type);
/* KVM_SEV_INIT2 naming vm_type, with vmsa_features and ghcb_version. */
int  ph_init2(int vm, uint32_t vm_type, uint64_t vmsa_features, uint16_t ghcb_version);
/* A plain (non-SEV) VM with n vCPUs. */
int  ph_aux(int plat, const char *domain, uint32_t vcpus);
/* A VM with SEV (or SEV-ES) initialised and nothing else. */
int  ph_sev_only(int plat, const char *domain, bool es);

char *ph_chain(int plat, size_t *len);    /* PSP_OP_EXPORT_CHAIN, malloc'd, NUL-terminated */

/* ---- test VMs: a handle plus 1 MiB of guest memory at GPA 0 ------------- */

#define TVM_MEM   (1u << 20)
#define TVM_VCPUS 4

struct tvm {
	int      fd;                      /* the VM handle, -1 once closed */
	int      memfd;
	uint8_t *mem;                     /* the memfd, mapped shared */
	uint32_t handle, policy;
};

/* memory only (patterned, distinct per tvm) */
void tvm_mem(struct tvm *v);
/* Section 4's setup: VM, INIT/ES_INIT, region, 4 vCPUs, LAUNCH_START
 * (policy; ES adds PSP_POLICY_ES), LAUNCH_UPDATE_DATA over page 0, and
 * for SEV-ES LAUNCH_UPDATE_VMSA of every vCPU. Left in LUPDATE. */
void tvm_sev(struct tvm *v, int plat, const char *domain, bool es, uint32_t policy);
/* LAUNCH_MEASURE + LAUNCH_FINISH: LUPDATE -> RUNNING */
void tvm_run(struct tvm *v);
void tvm_close_vm(struct tvm *v);         /* the handle only */
void tvm_close(struct tvm *v);            /* handle and memory */

/* ---- firmware command helpers ----------------------------------------- */

int  ph_launch_start(int vm, uint32_t policy, uint32_t *fw, uint32_t *handle);
int  ph_update_data(int vm, uint64_t gpa, uint32_t len, uint32_t *fw);
int  ph_vmsa(int vm, uint32_t vcpu, uint32_t *fw);
/* LAUNCH_START with a guest owner's session blob and public key (PEM) */
int  ph_launch_session(int vm, uint32_t policy, const uint8_t session[PSP_SESSION_LEN],
		       const char *pem, size_t plen, uint32_t *fw, uint32_t *handle);
int  ph_measure(int vm, struct psp_measure_reply *mr, uint32_t *fw);
int  ph_dbg_decrypt(int vm, uint64_t gpa, uint32_t len, void *out, uint32_t *fw);
int  ph_dbg_encrypt(int vm, uint64_t gpa, const void *data, uint32_t len, uint32_t *fw);
/* SEND_START to the holder of chain; session and the sender's chain
 * (malloc'd, may be NULL) out. */
int  ph_send_start(int vm, const char *chain, size_t clen, uint32_t *fw,
		   uint8_t session[PSP_SESSION_LEN], uint32_t *policy, char **sender_chain,
		   size_t *sender_len);
int  ph_receive_start(int vm, uint32_t policy, const uint8_t session[PSP_SESSION_LEN],
		      const char *chain, size_t clen, uint32_t *fw, uint32_t *handle);
/* SEND_UPDATE_DATA: pkt receives struct psp_packet + ciphertext */
int  ph_send_data(int vm, uint64_t gpa, uint32_t len, uint32_t *fw, uint8_t *pkt, size_t cap,
		  size_t *pktlen);
int  ph_receive_data(int vm, const uint8_t *pkt, size_t pktlen, uint32_t *fw);
uint32_t ph_state(int vm);                /* GUEST_STATUS state (asserts it works) */

/* A sender/receiver pair on one platform: src RUNNING -> SUPDATE,
 * dst (SEV initialised, region registered) RUPDATE. */
void ph_session(int plat, struct tvm *src, struct tvm *dst, uint32_t policy);

/* ---- raw datagrams ----------------------------------------------------- */

/* Send len bytes (and optionally an fd) as one datagram; wait for one
 * reply datagram; returns its length and copies its header to *rh, or
 * -errno. */
long ph_raw(int sock, const void *buf, size_t len, int fd, struct psp_hdr *rh);

#endif
