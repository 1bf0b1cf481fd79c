/* args.h - options of `tern run`, parsed without side effects so they can
 * be unit tested. */
#ifndef TERN_CLI_ARGS_H
#define TERN_CLI_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "vm/vm.h"

struct run_opts {
	const char *guest;                /* --guest ELF */
	const char *guest_args;           /* --guest-args "..." */
	const char *restore;              /* --restore SNAPSHOT, --restore-lazy SNAPSHOT */
	int         restore_lazy;         /* --restore-lazy: RAM loaded on demand while the guest runs */
	const char *takeover;             /* --takeover SOCKET: wait for a handoff */
	const char *incoming;             /* --incoming tcp:ADDR:PORT: wait for a migration */
	const char *stats;                /* --stats FILE: migration summary as JSON */
	const char *ctl;                  /* --ctl SOCKET */
	const char *serial_file;          /* --serial file:PATH (NULL: stdout) */
	uint64_t    mem;                  /* --mem SIZE */
	uint64_t    max_mem;              /* --max-mem SIZE (--incoming), 0: not given */
	const char *tls_creds;            /* --tls-creds DIR (--incoming): TLS only */
	const char *tls_authz;            /* --tls-authz NAME: the source's certificate names it */
	int         cpus;                 /* --cpus N */
	enum cc_mode cc;                  /* --cc none|emu|sev */
	uint32_t    cc_policy;            /* --cc-policy N */
	int         cc_policy_set;
	const char *owner_session;        /* --owner-session DIR (tern owner session) */
	const char *owner_secret;         /* --owner-secret FILE (tern owner secret) */
	const char *helper;               /* --helper ELF: the migration helper (helper.elf) */
	const char *owner_helper_key;     /* --owner-helper-key FILE (tern owner helper-key) */
	int         helper_lanes;         /* --helper-lanes N: helper vCPUs, 1..HELPER_LANES */
	const char *psp_socket;           /* --psp-socket PATH */
	unsigned    launch_timeout;       /* --launch-timeout SECONDS (waiting for the secret) */
	enum run_on_reset { RUN_ON_RESET_RESTART = 0, RUN_ON_RESET_EXIT } on_reset;
					  /* --on-reset restart|exit: a guest reset boots it
					   * again (default) or stops the VM with status 0 */
	const char *reset_guest;          /* --reset-guest ELF: what a reset of an arrived VM boots */
	const char *reset_guest_args;     /* --reset-guest-args "..." */
	enum vm_prefault prefault;        /* --prefault auto|populate|off (--takeover) */
	enum run_provision { RUN_PROVISION_DEFAULT = 0, RUN_PROVISION_SETUP, RUN_PROVISION_ANNOUNCED,
			     RUN_PROVISION_NONE } provision;
					  /* --provision (--incoming): the default is setup
					   * with --mem, announced without */
	int         help;
};

#define RUN_DEFAULT_MEM  (256ULL << 20)

/* Returns 0, or -1 with a message naming the bad option. argv[0] is "run". */
int run__opts_parse(int argc, char **argv, struct run_opts *o, char *err, size_t errlen);
extern const char run_usage[];

#endif
