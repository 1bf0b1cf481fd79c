/* handoff_recv.c - the destination side of a handoff (the new process).
 *
 * Receiver state machine (docs/protocol.md):
 *   WAIT_HELLO  --HELLO ok-->           WAIT_CONFIG   (wire__accept_source: a
 *                                     connection that fails it is dropped
 *                                     and the wait goes on)
 *   WAIT_CONFIG --CONFIG, VM built-->   WAIT_STATE
 *   WAIT_STATE  --STATE restored-->     WAIT_COMMIT
 *   WAIT_COMMIT --COMMIT, word taken, context moved, resumed--> RUNNING
 * ABORT, a dead source, an unexpected message or any refusal in any state
 * before RUNNING: reply with the reason, destroy what was built, exit 1. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "migrate/commit_word.h"
#include "migrate/config_rx.h"
#include "migrate/handoff.h"
#include "helper/mailbox.h"
#include "migrate/state_rx.h"
#include "migrate/transport.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/fault.h"
#include "util/io.h"
#include "util/log.h"
#include "util/unix_sock.h"
#include "vm/state.h"

/* How long CONFIG's reply may wait for the pre-fault: a few GiB of written
 * RAM on the development host (MADV_POPULATE_WRITE of 257 MiB took 74-180
 * ms there, 0.3-0.7 ms per MiB), short against the source's prepare
 * timeout (30 s). Past it the pre-fault goes on after the switch. */
#define HANDOFF_PREFAULT_WAIT_MS 2000

enum rx_state { WAIT_HELLO, WAIT_CONFIG, WAIT_STATE, WAIT_COMMIT, RUNNING };
static const char *rx_name[] = { "WAIT_HELLO", "WAIT_CONFIG", "WAIT_STATE", "WAIT_COMMIT", "RUNNING" };
static const uint16_t rx_wants[] = { W_HELLO, W_CONFIG, W_STATE, W_COMMIT };

int handoff__listen(const char *path, char *err, size_t errlen)
{
	/* never a live socket: `--takeover` on a running VM's control socket
	 * would unlink it and leave that VM unmanageable */
	return unix__listen(path, "--takeover", 16, 0, err, errlen);
}

/* Fault HANDOFF_DIE=MSG: die (SIGKILL, no cleanup) when MSG arrives. */
static void maybe_die(uint16_t cmd)
{
	const char *at = fault__arg("HANDOFF_DIE");
	if (at && !strcasecmp(at, wire__cmd_name(cmd)))
		raise(SIGKILL);
}

/* CONFIG: VM_CONFIG (+ HANDOFF_INFO) -> a VM on the source's RAM memfd. */
static int on_config(struct wire_msg *m, const uint8_t nonce[WIRE_NONCE_LEN], struct vm *vm,
		     const struct vm_config *local, char **old_ctl, char **psp_sock, bool *built,
		     uint32_t *helper_lanes, char *err, size_t errlen)
{
	struct config_rx rx = { .cfg = *local };

	if (m->nfds != 2) {
		errbuf__set(err, errlen, "CONFIG must carry the RAM memfd and the commit word");
		return -1;
	}
	if (config_rx__parse(m, nonce, &rx, err, errlen))
		return -1;
	if (rx.helper_lanes > HELPER_LANES || (rx.helper_lanes && rx.cfg.cc == CC_NONE)) {
		config_rx__free(&rx);
		errbuf__set(err, errlen, "HANDOFF_INFO asks for %llu helper lanes%s",
			   (unsigned long long)rx.helper_lanes, rx.cfg.cc == CC_NONE ? " for a plain VM" : "");
		return -1;
	}
	*helper_lanes = (uint32_t)rx.helper_lanes;
	*old_ctl = rx.old_ctl;            /* the caller frees them */
	*psp_sock = rx.psp_sock;
	struct vm_config cfg = rx.cfg;
	int ram_fd = m->fds[0];
	m->fds[0] = -1;                   /* ours now; the VM's once adopted */
	if (!local->psp_socket)
		cfg.psp_socket = *psp_sock;
	*built = true;                    /* from here vm__destroy cleans up */
	if (vm__init(vm, &cfg, err, errlen) || vm__add_guest_devices(vm, err, errlen)) {
		close(ram_fd);
		return -1;
	}
	/* the source's RAM as it is (no copy); the context is not made here
	 * but arrives at COMMIT, by MOVE or by the token LOCAL_SEND staged */
	if (vm__attach_ram_adopted(vm, ram_fd, VM_RAM_SLOT_MAIN, VM_RAM_GPA_MAIN, err, errlen) ||
	    vm__setup_caps(vm, err, errlen) ||
	    vm__cc_role(vm, rx.cc_xfer == CC_XFER_TOKEN ? VM_CC_ADOPT_TOKEN : VM_CC_ADOPT_MOVE, NULL,
			err, errlen) ||
	    vm__create_vcpus(vm, err, errlen))
		return -1;
	/* The old process runs the guest until STATE: map what it has written
	 * meanwhile, so the guest does not fault every page in again after the
	 * switch. Waiting here lengthens prepare (the guest still runs), not
	 * the pause; what is not done in time goes on after the switch. */
	vm__prefault_start(vm);
	if (!vm__prefault_wait(vm, HANDOFF_PREFAULT_WAIT_MS))
		log__info("prefault: still running after %d ms; the handoff goes on meanwhile",
			  HANDOFF_PREFAULT_WAIT_MS);
	return 0;
}

static int on_state(struct wire_msg *m, struct vm *vm, bool own_serial, int *cc_old,
		    char *err, size_t errlen)
{
	int k = 0;

	if (state_rx__apply(vm, m->data, m->h.length, err, errlen))
		return -1;
	/* descriptors: the console, then (cc move) the source's platform handle */
	if (m->nfds > k) {
		if (!own_serial) {
			/* no flush first: the restored half line must go to this fd */
			pthread_mutex_lock(&vm->serial.lock);
			vm->serial.out_fd = m->fds[k];
			pthread_mutex_unlock(&vm->serial.lock);
			m->fds[k] = -1;
		}
		k++;
	}
	if (m->nfds > k) {
		*cc_old = m->fds[k];
		m->fds[k] = -1;
	}
	return 0;
}

/* COMMIT: take the word, take the context, resume. */
static int on_commit(struct wire_msg *m, struct vm *vm, struct commit_word *cw, int cc_old,
		     struct handoff_result *res, char *err, size_t errlen)
{
	struct wire_commit c;
	if (m->h.length != sizeof(c)) {
		errbuf__set(err, errlen, "COMMIT is malformed");
		return -1;
	}
	memcpy(&c, m->data, sizeof(c));
	if (!commit_word__cas(cw, CW_UNDECIDED, CW_TAKEN)) {
		errbuf__set(err, errlen, "the source already gave up on this handoff");
		return -1;
	}
	if (vm->cc_open) {
		uint32_t fw = 0;
		char why[128];
		int s;
		if (c.cc_transfer == CC_XFER_MOVE && cc_old >= 0) {
			s = vm->cc.ops->move_from(&vm->cc, cc_old, &fw);
		} else if (c.cc_transfer == CC_XFER_TOKEN) {
			/* SEV was initialised on this target when it was built */
			struct cc_token t = { c.token };
			const char *x = fault__arg("TOKEN_XOR");          /* a wrong token */
			if (x)
				t.token ^= strtoull(x, NULL, 0);
			s = vm->cc.ops->local_receive(&vm->cc, &t, &fw);
		} else {
			s = -EINVAL;
		}
		if (s) {
			/* nothing changed hands: let the source resume */
			commit_word__set(cw, CW_TAKEOVER_FAILED);
			errbuf__set(err, errlen, "taking over the encryption context failed: %s%s",
				   cc__strerror(s, fw, why, sizeof(why)), s == -EOPNOTSUPP ?
				   " (token-mode handoff exists only on the emulated platform: use the move mode)" : "");
			return -1;
		}
		/* SEV-ES: the vCPUs' registers came with the context, in their
		 * VMSAs (the STATE records only said so). The context is ours
		 * now and the source's handle dead: a failure here loses the VM */
		if (vm->cfg.cc_es && vm__restore_vmsas(vm, err, errlen))
			return -1;
	}
	if (vm__start(vm, err, errlen))
		return -1;
	res->pause_ns = c.pause_ns;
	res->resume_ns = now__ns();
	res->downtime_ns = res->resume_ns - c.pause_ns;
	return 0;
}

int handoff__receive(int lfd, struct vm *vm, const struct vm_config *cfg, char **old_ctl,
		     struct handoff_result *res, char *err, size_t errlen)
{
	enum rx_state st = WAIT_HELLO;
	uint8_t nonce[WIRE_NONCE_LEN];
	struct commit_word cw = { .fd = -1 };
	struct wire_msg m;
	char *psp_sock = NULL;
	int sock, r, cc_old = -1;
	bool built = false;

	memset(res, 0, sizeof(res[0]));
	*old_ctl = NULL;
	sock = wire__accept_source(lfd, WIRE_HANDOFF, nonce, err, errlen);
	if (sock < 0)
		return -1;
	maybe_die(W_HELLO);               /* the HELLO arrived (and was answered) */
	st = WAIT_CONFIG;
	while (st != RUNNING) {
		/* generous: the source may be slow to pause a busy VM */
		r = wire__recv(sock, &m, 60000);
		if (r) {
			errbuf__set(err, errlen, "in %s: %s", rx_name[st],
				   r == -ECONNRESET ? "the source closed the connection" :
				   r == -EPROTO ? "the peer does not speak tern's protocol" :
				   r == -ETIMEDOUT ? "the source went silent" :
				   r == -ECANCELED ? "stopped by a signal" : strerror(-r));
			goto fail;
		}
		maybe_die(m.h.cmd);
		if (m.h.cmd == W_ABORT) {
			errbuf__set(err, errlen, "the source aborted the handoff: %s", (char *)m.data);
			wire__msg_free(&m);
			goto fail;
		}
		if (m.h.cmd != rx_wants[st]) {
			errbuf__set(err, errlen, "expected %s in %s, got %s", wire__cmd_name(rx_wants[st]),
				   rx_name[st], wire__cmd_name(m.h.cmd));
			wire__reply_err(sock, "%s", err);
			wire__msg_free(&m);
			goto fail;
		}
		switch (st) {
		case WAIT_HELLO:              /* wire__accept_source took it */
			break;
		case WAIT_CONFIG:
			if (on_config(&m, nonce, vm, cfg, old_ctl, &psp_sock, &built, &res->helper_lanes,
				      err, errlen) == 0) {
				if ((r = commit_word__map(&cw, m.fds[1])) == 0) {
					m.fds[1] = -1;
					st = WAIT_STATE;
					err[0] = '\0';
				} else {
					m.fds[1] = -1;
					errbuf__set(err, errlen, "cannot map the commit word: %s", strerror(-r));
				}
			}
			break;
		case WAIT_STATE:
			if (on_state(&m, vm, cfg->serial_fd >= 0, &cc_old, err, errlen) == 0) {
				st = WAIT_COMMIT;
				err[0] = '\0';
			}
			break;
		case WAIT_COMMIT:
			if (on_commit(&m, vm, &cw, cc_old, res, err, errlen) == 0) {
				struct wire_running run = { res->resume_ns, res->downtime_ns };
				wire__msg_free(&m);
				(void)wire__reply_ok(sock, &run, sizeof(run));
				st = RUNNING;
				continue;
			}
			break;
		case RUNNING:
			break;
		}
		wire__msg_free(&m);
		if (err[0]) {
			wire__reply_err(sock, "%s", err);
			goto fail;
		}
		wire__reply_ok(sock, NULL, 0);
	}
	/* the VM's config named the source's platform socket, freed here: from
	 * now on it is the one this VM's platform connection uses */
	vm->cfg.psp_socket = vm->cc_open && vm->cc.socket[0] ? vm->cc.socket : NULL;
	free(psp_sock);
	if (cc_old >= 0)
		close(cc_old);
	commit_word__close(&cw);
	close(sock);
	return 0;
fail:
	free(psp_sock);
	if (cc_old >= 0)
		close(cc_old);
	commit_word__close(&cw);
	close(sock);
	if (built) {
		vm__stop(vm, 1, "handoff failed");
		vm__wait(vm);
		vm__destroy(vm);
	}
	free(*old_ctl);
	*old_ctl = NULL;
	return -1;
}
