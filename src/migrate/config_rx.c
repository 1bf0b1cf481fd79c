/* config_rx.c - see config_rx.h. */
#include <stdlib.h>
#include <string.h>

#include "migrate/config_rx.h"
#include "migrate/handoff.h"
#include "state/record.h"
#include "util/log.h"
#include "vm/state.h"

static const uint16_t handoff_info_fields[] = { HI_CTL_PATH, HI_PSP_SOCKET, HI_CC_XFER, HI_HELPER_LANES };

static char *tlv_str(const void *p, size_t len, uint16_t id)
{
	struct tlv_field f;
	if (!tlv__find(p, len, id, &f))
		return NULL;
	return strndup(f.val, f.len);
}

void config_rx__free(struct config_rx *rx)
{
	free(rx->old_ctl);
	free(rx->psp_sock);
	rx->old_ctl = rx->psp_sock = NULL;
}

/* One record of the stream; 0 or -1 with err. */
static int take(struct config_rx *rx, const struct rec_section_hdr *h, const void *p,
		const uint8_t nonce[WIRE_NONCE_LEN], int *have_cfg, int *bound, char *err, size_t errlen)
{
	switch (h->type) {
	case REC_VM_CONFIG:
		if (*have_cfg) {
			errbuf__set(err, errlen, "CONFIG: two VM_CONFIG records");
			return -1;
		}
		*have_cfg = 1;
		return vm__config_from_record(h->version, p, h->length, &rx->cfg, &rx->tsc_khz, err, errlen);
	case REC_WIRE_NONCE:
		if (h->length != WIRE_NONCE_LEN || memcmp(p, nonce, WIRE_NONCE_LEN)) {
			errbuf__set(err, errlen, "CONFIG is bound to another connection (a replayed or spliced "
				   "stream?): refused before anything is built");
			return -1;
		}
		*bound = 1;
		return 0;
	case REC_HANDOFF_INFO:
		if (tlv__validate(p, h->length, handoff_info_fields,
				 sizeof(handoff_info_fields) / sizeof(handoff_info_fields[0]), err, errlen))
			return -1;
		free(rx->old_ctl);
		free(rx->psp_sock);
		rx->old_ctl = tlv_str(p, h->length, HI_CTL_PATH);
		rx->psp_sock = tlv_str(p, h->length, HI_PSP_SOCKET);
		(void)tlv__get_u64(p, h->length, HI_CC_XFER, &rx->cc_xfer);
		(void)tlv__get_u64(p, h->length, HI_HELPER_LANES, &rx->helper_lanes);
		return 0;
	default:
		if (h->flags & REC_F_REQUIRED) {
			errbuf__set(err, errlen, "CONFIG: unknown required record %s", rec__type_name(h->type));
			return -1;
		}
		return 0;
	}
}

int config_rx__parse(const struct wire_msg *m, const uint8_t nonce[WIRE_NONCE_LEN],
		     struct config_rx *rx, char *err, size_t errlen)
{
	struct rec_reader rd;
	struct rec_section_hdr h;
	int n, have_cfg = 0, bound = 0;

	if (rec__reader_init_mem(&rd, m->data, m->h.length)) {
		errbuf__set(err, errlen, "CONFIG: %s", rd.err);
		return -1;
	}
	while ((n = rec__next(&rd, &h)) == 1) {
		void *p = malloc(h.length + 1);
		int bad = !p || rec__read_payload(&rd, p, h.length);
		if (bad)
			errbuf__set(err, errlen, "CONFIG: %s", p ? rd.err : "out of memory");
		else
			bad = take(rx, &h, p, nonce, &have_cfg, &bound, err, errlen);
		free(p);
		if (bad) {
			n = -2;
			break;
		}
	}
	if (n == -1)
		errbuf__set(err, errlen, "CONFIG: %s", rd.err);
	else if (n == 0 && !have_cfg)
		errbuf__set(err, errlen, "CONFIG: no VM_CONFIG record");
	else if (n == 0 && !bound)
		errbuf__set(err, errlen, "CONFIG is not bound to this connection (no WIRE_NONCE): "
			   "a replayed stream, or a source older than wire protocol %d", WIRE_VERSION);
	else if (n == 0)
		return 0;
	config_rx__free(rx);
	return -1;
}
