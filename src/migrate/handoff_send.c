/* handoff_send.c - the source side of a handoff (the old tern process).
 *
 *   connect, HELLO            versions checked before anything is paused
 *   CONFIG + RAM memfd        the destination builds the VM meanwhile
 *   -- pause --
 *   STATE + serial fd (+ the cc context fd: move mode)
 *   COMMIT                    the destination takes the commit word, moves
 *                             the context, resumes, answers with its times
 *   -- exit 0 --
 * Any failure before the destination has taken the commit word resumes
 * the VM here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "migrate/commit_word.h"
#include "migrate/handoff.h"
#include "migrate/wire.h"
#include "state/record.h"
#include "util/io.h"
#include "util/log.h"
#include "util/unix_sock.h"
#include "vm/state.h"

#define HELLO_TIMEOUT_MS   5000
#define PREPARE_TIMEOUT_MS 30000     /* building a VM with many vCPUs */
#define STEP_TIMEOUT_MS    10000

static int connect_unix(const char *path, char *err, size_t errlen)
{
	char why[300];
	int e, fd = unix__connect(path, "the handoff socket", 0, &e, why, sizeof(why));
	if (fd < 0)
		errbuf__set(err, errlen, "no tern is waiting at %s (%s): start `tern run --takeover %s` first",
			   path, strerror(e), path);
	return fd;
}

/* Hand a finished memory stream to the caller (who frees it), or free it. */
static int records_out(struct rec_writer *w, int r, void **buf, size_t *len)
{
	if (r) {
		rec__writer_free_mem(w);
		return r;
	}
	*buf = w->mem;
	*len = w->mem_len;
	return 0;
}

/* The CONFIG payload: a record stream with VM_CONFIG and HANDOFF_INFO. */
static int config_records(struct vm *vm, const char *ctl_path, enum cc_transfer xfer,
			  unsigned helper_lanes, const uint8_t nonce[WIRE_NONCE_LEN], void **buf, size_t *len)
{
	struct rec_writer w;
	struct tlv_buf b;
	int r;

	tlv__init(&b);
	if (ctl_path)
		tlv__put(&b, HI_CTL_PATH, 0, ctl_path, strlen(ctl_path));
	if (vm->cc_open && vm->cc.socket[0])
		tlv__put(&b, HI_PSP_SOCKET, 0, vm->cc.socket, strlen(vm->cc.socket));
	if (vm->cc_open)
		tlv__put_u64(&b, HI_CC_XFER, 0, (uint64_t)xfer);
	if (helper_lanes)
		tlv__put_u64(&b, HI_HELPER_LANES, 0, helper_lanes);
	r = rec__writer_init_mem(&w);
	if (!r)
		r = vm__save_config(vm, &w);
	if (!r)
		r = rec__write(&w, REC_HANDOFF_INFO, 1, 0, b.data, b.len);
	if (!r)
		r = rec__write(&w, REC_WIRE_NONCE, 1, REC_F_REQUIRED, nonce, WIRE_NONCE_LEN);
	if (!r)
		r = rec__writer_finish(&w);
	tlv__free(&b);
	return records_out(&w, r, buf, len);
}

/* Built in memory and sent as it is: this runs inside the pause window. */
static int state_records(struct vm *vm, void **buf, size_t *len, char *err, size_t errlen)
{
	struct rec_writer w;
	int r = rec__writer_init_mem(&w);
	if (!r && vm__save_state(vm, &w, err, errlen))
		r = -EIO;
	if (!r)
		r = rec__writer_finish(&w);
	return records_out(&w, r, buf, len);
}

int handoff__send(struct vm *vm, const char *to, enum cc_transfer xfer, const char *ctl_path,
		  unsigned helper_lanes, struct handoff_result *res, char *err, size_t errlen)
{
	uint8_t nonce[WIRE_NONCE_LEN];
	struct commit_word cw = { .fd = -1 };
	struct wire_msg m;
	struct wire_commit cm = { 0 };
	void *buf = NULL;
	size_t len;
	bool paused = false;
	char why[512];
	uint64_t t0 = now__ns();
	int sock, r, outcome = HANDOFF_FAILED;

	memset(res, 0, sizeof(res[0]));
	if (vm->cc_open && cc__lost(&vm->cc)) {
		errbuf__set(err, errlen, "handoff refused: %s", cc__lost(&vm->cc));
		return HANDOFF_FAILED;
	}
	if ((sock = connect_unix(to, err, errlen)) < 0)
		return HANDOFF_FAILED;

	/* 1. versions, before anything else */
	if (wire__hello(sock, WIRE_HANDOFF, HELLO_TIMEOUT_MS, nonce, why, sizeof(why))) {
		errbuf__set(err, errlen, "handshake with %s: %s", to, why);
		goto fail;
	}

	/* 2. the machine's shape and its RAM: the destination builds the VM
	 *    while ours keeps running */
	if ((r = commit_word__create(&cw)) || (r = config_records(vm, ctl_path, xfer, helper_lanes, nonce, &buf, &len))) {
		errbuf__set(err, errlen, "preparing the handoff: %s", strerror(-r));
		goto fail;
	}
	int cfds[2] = { vm->ram.fd, cw.fd };
	r = wire__send(sock, W_CONFIG, 0, buf, len, cfds, 2);
	free(buf);
	buf = NULL;
	if (r || wire__expect_reply(sock, &m, PREPARE_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(err, errlen, "the new process could not prepare the VM: %s", r ? strerror(-r) : why);
		goto fail;
	}
	wire__msg_free(&m);
	res->prepare_ns = now__ns() - t0;

	/* 3. pause; from here on the guest waits */
	res->pause_ns = now__ns();
	if (vm__pause(vm)) {
		errbuf__set(err, errlen, "the VM stopped while pausing");
		goto fail;
	}
	paused = true;
	if ((r = state_records(vm, &buf, &len, why, sizeof(why)))) {
		errbuf__set(err, errlen, "saving state: %s", r == -EIO ? why : strerror(-r));
		goto fail;
	}
	res->state_bytes = len;
	int sfds[2] = { vm->serial.out_fd, -1 };
	int nsfds = vm->serial.out_fd >= 0 ? 1 : 0;
	if (vm->cc_open && xfer == CC_XFER_MOVE)
		sfds[nsfds++] = vm->cc.ops->context_fd(&vm->cc);   /* what the destination moves from */
	r = wire__send(sock, W_STATE, 0, buf, len, nsfds ? sfds : NULL, nsfds);
	free(buf);
	buf = NULL;
	if (r || wire__expect_reply(sock, &m, STEP_TIMEOUT_MS, why, sizeof(why))) {
		errbuf__set(err, errlen, "the new process refused the state: %s", r ? strerror(-r) : why);
		goto fail;
	}
	wire__msg_free(&m);

	/* 4. commit */
	cm.pause_ns = res->pause_ns;
	cm.cc_transfer = vm->cc_open ? xfer : 0;
	if (vm->cc_open && xfer == CC_XFER_TOKEN) {
		struct cc_token t = { 0 };
		uint32_t fw = 0;
		int s = vm->cc.ops->local_send(&vm->cc, &t, &fw);
		if (s == -EEXIST && vm->cc.token) {
			/* staged by an earlier attempt that failed: still ours */
			cm.token = vm->cc.token;
		} else if (s) {
			errbuf__set(err, errlen, "LOCAL_SEND: %s%s", cc__strerror(s, fw, why, sizeof(why)),
				   s == -EOPNOTSUPP ? " (token-mode handoff exists only on the emulated "
				   "platform, --cc emu: use the move mode)" : "");
			goto fail;
		} else {
			cm.token = vm->cc.token = t.token;
		}
	}
	r = wire__send(sock, W_COMMIT, 0, &cm, sizeof(cm), NULL, 0);
	if (!r && !wire__expect_reply(sock, &m, STEP_TIMEOUT_MS, why, sizeof(why))) {
		struct wire_running run = { 0 };
		if (m.h.length == sizeof(run))
			memcpy(&run, m.data, sizeof(run));
		wire__msg_free(&m);
		res->resume_ns = run.resume_ns;
		res->downtime_ns = run.downtime_ns;
		outcome = HANDOFF_DONE;
		if (vm->cc_open) {
			/* the context left with the VM: our handle must be dead now */
			uint32_t fw = 0;
			struct cc_guest_status gs;
			int g = vm->cc.ops->guest_status(&vm->cc, &gs, &fw);
			log__info("old platform handle after handoff: %s", g == -EIO ? "dead (EIO)" :
				 g == -EPERM ? "staged (EPERM)" : g ? strerror(-g) : "STILL ALIVE");
		}
		goto out;
	}
	errbuf__set(err, errlen, "commit: %s", r ? strerror(-r) : why);
fail:
	if (cw.word && !commit_word__cas(&cw, CW_UNDECIDED, CW_ABORTED) &&
	    commit_word__get(&cw) == CW_TAKEN) {
		/* the destination took the VM and then failed to confirm: it
		 * may be running it, so ours must never run again */
		size_t n = strlen(err);
		errbuf__set(err + n, errlen - n, "; the new process had taken the VM over: not resuming here");
		outcome = HANDOFF_LOST;
		goto out;
	}
	if (sock >= 0)
		(void)wire__send(sock, W_ABORT, 0, err, strlen(err), NULL, 0);
	if (paused)
		vm__resume(vm);
	outcome = HANDOFF_FAILED;
out:
	free(buf);
	commit_word__close(&cw);
	close(sock);
	return outcome;
}
