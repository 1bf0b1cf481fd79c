/* args.c - `tern run` options. Every check that needs no KVM happens here,
 * so a typo fails before anything is created. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "helper/mailbox.h"           /* HELPER_LANES */
#include "util/log.h"
#include "util/size.h"

const char run_usage[] =
	"usage: tern run --guest ELF [--mem SIZE] [--cpus N] [--guest-args \"ARGS\"]\n"
	"                [--ctl SOCKET] [--serial stdio|file:PATH]\n"
	"                [--cc none|emu|sev [--cc-policy N] [--owner-session DIR] [--owner-secret FILE]\n"
	"                 [--helper ELF [--owner-helper-key FILE] [--helper-lanes N]]]\n"
	"                [--on-reset restart|exit]\n"
	"       tern run --restore|--restore-lazy SNAPSHOT [--ctl SOCKET] [--serial ...] [RESET]\n"
	"       tern run --takeover SOCKET [--prefault auto|populate|off] [--ctl SOCKET] [--serial ...] [RESET]\n"
	"       tern run --incoming tcp:ADDR:PORT [--cc emu] [--mem SIZE] [--cpus N] [--ctl SOCKET]\n"
	"                [--max-mem SIZE] [--provision setup|announced|none] [--stats FILE]\n"
	"                [--tls-creds DIR [--tls-authz NAME]] [RESET]\n"
	"         RESET: [--reset-guest ELF [--reset-guest-args \"ARGS\"]] [--on-reset restart|exit]\n"
	"  --guest ELF         multiboot ELF to boot (e.g. build/guest/dirtier.elf)\n"
	"  --mem SIZE          guest RAM, a multiple of 2M, at least 64M (default 256M)\n"
	"  --cpus N            vCPUs, 1-16 (default 1)\n"
	"  --guest-args ARGS   command line passed to the guest\n"
	"  --ctl SOCKET        control socket path (see tern ctl)\n"
	"  --serial WHERE      console: stdio (default) or file:PATH\n"
	"  --restore SNAPSHOT  resume a snapshot written by `tern ctl SOCKET snapshot PATH [--live]`\n"
	"                      (guest RAM read first, one reader thread per core)\n"
	"  --restore-lazy SNAPSHOT  the same, but the guest runs at once: the pages it touches\n"
	"                      are read on demand (userfaultfd), the rest in the background\n"
	"  --takeover SOCKET   wait at SOCKET for a running VM handed over by another tern\n"
	"                      (`tern ctl OLD handoff SOCKET`); without --ctl, the old\n"
	"                      process's control socket path is taken over too\n"
	"  --prefault HOW      with --takeover: map the guest's written RAM while the old\n"
	"                      process still runs it, so the guest does not fault it in again:\n"
	"                      auto (default: KVM_PRE_FAULT_MEMORY where the kernel has it,\n"
	"                      else populate), populate (this process's page tables only,\n"
	"                      MADV_POPULATE_WRITE) or off\n"
	"  --incoming URI      wait for a live migration on tcp:ADDR:PORT (or unix:PATH);\n"
	"                      --mem/--cpus/--cc, if given, must match the arriving VM\n"
	"  --max-mem SIZE      with --incoming: refuse a VM with more RAM than this (default:\n"
	"                      the host's available memory), even without --mem\n"
	"  --provision WHEN    with --incoming: when guest RAM is allocated, so that pages land\n"
	"                      in memory that is ready: setup (the default with --mem: all of\n"
	"                      it while waiting for the source, so a destination started\n"
	"                      ahead of the migration pays nothing on the way; costs --mem of\n"
	"                      host memory at once), announced (the default without --mem: the\n"
	"                      pages the source announces, as the stream starts) or none\n"
	"  --stats FILE        with --incoming: write the migration summary (JSON) there\n"
	"  --tls-creds DIR     with --incoming: accept only a source speaking TLS 1.3 with a\n"
	"                      certificate from DIR/ca-cert.pem's CA; DIR also holds this\n"
	"                      side's server-cert.pem and server-key.pem (docs/protocol.md)\n"
	"  --tls-authz NAME    with --tls-creds: the source's certificate must name NAME\n"
	"  --cc MODE           confidential platform: none (default), emu (tern-psp, started if\n"
	"                      none is running), sev (AMD hardware: /dev/sev)\n"
	"  --cc-policy N       guest policy for LAUNCH_START (default 0, or the session's)\n"
	"                      (bit 0x4, SEV-ES: the vCPUs are launched into VMSAs)\n"
	"  --owner-session DIR launch with the guest owner's session (from `tern owner session`)\n"
	"  --owner-secret FILE after measuring, wait for FILE (from `tern owner secret`) and\n"
	"                      inject it at GPA 0x6000 before the guest runs\n"
	"  --helper ELF        load the migration helper (build/guest/helper.elf) into its region\n"
	"                      at 0x400000 and measure it with the guest (needs --cc emu or sev)\n"
	"  --owner-helper-key FILE  after measuring, wait for FILE (from `tern owner helper-key`)\n"
	"                      and inject it into the helper's key slot before the guest runs\n"
	"  --helper-lanes N    helper vCPUs, 1-4 (default 1)\n"
	"  --launch-timeout S  how long to wait for the secret and helper key (default 120)\n"
	"  --psp-socket PATH   tern-psp's socket (default $TERN_PSP_SOCKET or the standard path)\n"
	"  --on-reset WHAT     when the guest resets the machine (port 0xCF9, 0x64): restart\n"
	"                      (default: boot the guest again in place) or exit (stop, status 0);\n"
	"                      a confidential guest is never restarted (docs/guest-abi.md)\n"
	"  --reset-guest ELF   with --restore, --takeover or --incoming: the image a guest reset\n"
	"                      boots (the one the VM was booted from); without it such a VM\n"
	"                      stops when its guest resets\n"
	"  --reset-guest-args ARGS  the command line that image boots with\n";

enum { O_GUEST = 1, O_MEM, O_CPUS, O_ARGS, O_CTL, O_SERIAL, O_RESTORE, O_CC, O_POLICY,
       O_OSESSION, O_OSECRET, O_PSP, O_LTIMEOUT, O_TAKEOVER, O_INCOMING, O_STATS, O_MAXMEM,
       O_HELPER, O_OHKEY, O_HLANES, O_ONRESET, O_RGUEST, O_RARGS, O_PREFAULT, O_TLSCREDS, O_TLSAUTHZ, O_RESTORE_LAZY, O_PROVISION,
       O_HELP };

int run__opts_parse(int argc, char **argv, struct run_opts *o, char *err, size_t errlen)
{
	static const struct option opts[] = {
		{ "guest", required_argument, NULL, O_GUEST },
		{ "mem", required_argument, NULL, O_MEM },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "guest-args", required_argument, NULL, O_ARGS },
		{ "ctl", required_argument, NULL, O_CTL },
		{ "serial", required_argument, NULL, O_SERIAL },
		{ "restore", required_argument, NULL, O_RESTORE },
		{ "cc", required_argument, NULL, O_CC },
		{ "cc-policy", required_argument, NULL, O_POLICY },
		{ "owner-session", required_argument, NULL, O_OSESSION },
		{ "owner-secret", required_argument, NULL, O_OSECRET },
		{ "psp-socket", required_argument, NULL, O_PSP },
		{ "launch-timeout", required_argument, NULL, O_LTIMEOUT },
		{ "takeover", required_argument, NULL, O_TAKEOVER },
		{ "incoming", required_argument, NULL, O_INCOMING },
		{ "stats", required_argument, NULL, O_STATS },
		{ "max-mem", required_argument, NULL, O_MAXMEM },
		{ "helper", required_argument, NULL, O_HELPER },
		{ "owner-helper-key", required_argument, NULL, O_OHKEY },
		{ "helper-lanes", required_argument, NULL, O_HLANES },
		{ "on-reset", required_argument, NULL, O_ONRESET },
		{ "reset-guest", required_argument, NULL, O_RGUEST },
		{ "reset-guest-args", required_argument, NULL, O_RARGS },
		{ "prefault", required_argument, NULL, O_PREFAULT },
		{ "tls-creds", required_argument, NULL, O_TLSCREDS },
		{ "tls-authz", required_argument, NULL, O_TLSAUTHZ },
		{ "restore-lazy", required_argument, NULL, O_RESTORE_LAZY },
		{ "provision", required_argument, NULL, O_PROVISION },
		{ "help", no_argument, NULL, O_HELP },
		{ 0 },
	};
	/* indexed by O_* (the error messages below): one entry each, in order */
	_Static_assert(sizeof(opts) / sizeof(opts[0]) == O_HELP + 1, "opts[] follows the O_* enum");
	bool mem_set = false, cpus_set = false, lanes_set = false, prefault_set = false;
	int c;

	memset(o, 0, sizeof(*o));
	o->mem = RUN_DEFAULT_MEM;
	o->cpus = 1;
	o->launch_timeout = 120;
	o->helper_lanes = 1;
	optind = 0;                       /* reset: tests call us repeatedly */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case O_GUEST: o->guest = optarg; break;
		case O_ARGS: o->guest_args = optarg; break;
		case O_RGUEST: o->reset_guest = optarg; break;
		case O_RARGS: o->reset_guest_args = optarg; break;
		case O_CTL: o->ctl = optarg; break;
		case O_RESTORE:
		case O_RESTORE_LAZY:
			if (o->restore) {
				errbuf__set(err, errlen, "give one --restore or --restore-lazy");
				return -1;
			}
			o->restore = optarg;
			o->restore_lazy = c == O_RESTORE_LAZY;
			break;
		case O_MEM:
			if (size__parse(optarg, &o->mem)) {
				errbuf__set(err, errlen, "--mem %s: not a size (try 512M or 1G)", optarg);
				return -1;
			}
			if (o->mem < VM_MIN_MEM) {
				errbuf__set(err, errlen, "--mem %s: too small, the minimum is %lluM",
					   optarg, VM_MIN_MEM >> 20);
				return -1;
			}
			if (o->mem % VM_MEM_ALIGN) {
				errbuf__set(err, errlen, "--mem %s: must be a multiple of 2M", optarg);
				return -1;
			}
			mem_set = true;
			break;
		case O_MAXMEM:
			if (size__parse(optarg, &o->max_mem) || !o->max_mem) {
				errbuf__set(err, errlen, "--max-mem %s: not a size (try 8G)", optarg);
				return -1;
			}
			break;
		case O_CPUS: {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > VM_MAX_VCPUS) {
				errbuf__set(err, errlen, "--cpus %s: must be a number from 1 to %d",
					   optarg, VM_MAX_VCPUS);
				return -1;
			}
			o->cpus = (int)n;
			cpus_set = true;
			break;
		}
		case O_SERIAL:
			if (!strcmp(optarg, "stdio"))
				o->serial_file = NULL;
			else if (!strncmp(optarg, "file:", 5) && optarg[5])
				o->serial_file = optarg + 5;
			else {
				errbuf__set(err, errlen, "--serial %s: use stdio or file:PATH", optarg);
				return -1;
			}
			break;
		case O_CC:
			if (!strcmp(optarg, "none"))
				o->cc = CC_NONE;
			else if (!strcmp(optarg, "emu"))
				o->cc = CC_EMU;
			else if (!strcmp(optarg, "sev"))
				o->cc = CC_SEV;
			else {
				errbuf__set(err, errlen, "--cc %s: unknown platform (none, emu or sev)", optarg);
				return -1;
			}
			break;
		case O_POLICY: {
			char *end;
			errno = 0;
			unsigned long v = strtoul(optarg, &end, 0);
			if (errno || *end || end == optarg || v > 0xffffffffUL) {
				errbuf__set(err, errlen, "--cc-policy %s: not a 32-bit number", optarg);
				return -1;
			}
			o->cc_policy = (uint32_t)v;
			o->cc_policy_set = 1;
			break;
		}
		case O_OSESSION: o->owner_session = optarg; break;
		case O_OSECRET: o->owner_secret = optarg; break;
		case O_PSP: o->psp_socket = optarg; break;
		case O_HELPER: o->helper = optarg; break;
		case O_OHKEY: o->owner_helper_key = optarg; break;
		case O_HLANES: {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > HELPER_LANES) {
				errbuf__set(err, errlen, "--helper-lanes %s: must be a number from 1 to %d",
					   optarg, HELPER_LANES);
				return -1;
			}
			o->helper_lanes = (int)n;
			lanes_set = true;
			break;
		}
		case O_ONRESET:
			if (!strcmp(optarg, "restart"))
				o->on_reset = RUN_ON_RESET_RESTART;
			else if (!strcmp(optarg, "exit"))
				o->on_reset = RUN_ON_RESET_EXIT;
			else {
				errbuf__set(err, errlen, "--on-reset %s: use restart or exit", optarg);
				return -1;
			}
			break;
		case O_PREFAULT:
			if (!strcmp(optarg, "auto"))
				o->prefault = VM_PREFAULT_AUTO;
			else if (!strcmp(optarg, "populate"))
				o->prefault = VM_PREFAULT_POPULATE;
			else if (!strcmp(optarg, "off"))
				o->prefault = VM_PREFAULT_OFF;
			else {
				errbuf__set(err, errlen, "--prefault %s: use auto, populate or off", optarg);
				return -1;
			}
			prefault_set = true;
			break;
		case O_PROVISION:
			if (!strcmp(optarg, "setup"))
				o->provision = RUN_PROVISION_SETUP;
			else if (!strcmp(optarg, "announced"))
				o->provision = RUN_PROVISION_ANNOUNCED;
			else if (!strcmp(optarg, "none"))
				o->provision = RUN_PROVISION_NONE;
			else {
				errbuf__set(err, errlen, "--provision %s: use setup, announced or none", optarg);
				return -1;
			}
			break;
		case O_TAKEOVER: o->takeover = optarg; break;
		case O_INCOMING: o->incoming = optarg; break;
		case O_STATS: o->stats = optarg; break;
		case O_TLSCREDS: o->tls_creds = optarg; break;
		case O_TLSAUTHZ: o->tls_authz = optarg; break;
		case O_LTIMEOUT: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end || end == optarg || v == 0 || v > 86400) {
				errbuf__set(err, errlen, "--launch-timeout %s: seconds, 1 to 86400", optarg);
				return -1;
			}
			o->launch_timeout = (unsigned)v;
			break;
		}
		case O_HELP:
		case 'h':
			o->help = 1;
			return 0;
		case '?':
		default:
			/* getopt_long also reports "--help=x" with optopt = O_HELP:
			 * that option takes no value rather than needing one. */
			if (optopt >= O_GUEST && optopt <= O_HELP && opts[optopt - 1].has_arg == no_argument)
				errbuf__set(err, errlen, "option --%s takes no value", opts[optopt - 1].name);
			else if (optopt >= O_GUEST && optopt <= O_HELP)
				errbuf__set(err, errlen, "option --%s needs a value", opts[optopt - 1].name);
			else if (optopt)
				errbuf__set(err, errlen, "unknown option -%c", optopt);
			else
				errbuf__set(err, errlen, "unknown option %s", argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		errbuf__set(err, errlen, "unexpected argument '%s'", argv[optind]);
		return -1;
	}
	if (o->reset_guest_args && !o->reset_guest) {
		errbuf__set(err, errlen, "--reset-guest-args is the command line of --reset-guest: it needs it");
		return -1;
	}
	if (o->reset_guest && !o->restore && !o->takeover && !o->incoming) {
		errbuf__set(err, errlen, "--reset-guest is for a VM that arrives (--restore, --takeover, "
			   "--incoming); a booted VM resets into its --guest");
		return -1;
	}
	if (o->provision && !o->incoming) {
		errbuf__set(err, errlen, "--provision says when a destination allocates the RAM it receives: "
			   "it needs --incoming");
		return -1;
	}
	if (prefault_set && !o->takeover) {
		errbuf__set(err, errlen, "--prefault applies to a VM taken over with --takeover");
		return -1;
	}
	if (o->incoming) {
		if (o->guest || o->restore || o->takeover || o->guest_args || o->owner_session ||
		    o->owner_secret || o->cc_policy_set || o->helper || o->owner_helper_key) {
			errbuf__set(err, errlen, "--incoming receives the VM from the source: it takes no --guest, "
				   "--restore, --takeover, --guest-args or launch options");
			return -1;
		}
		if (strncmp(o->incoming, "tcp:", 4) && strncmp(o->incoming, "unix:", 5)) {
			errbuf__set(err, errlen, "--incoming %s: use tcp:ADDR:PORT or unix:PATH", o->incoming);
			return -1;
		}
		if (mem_set && o->max_mem && o->mem > o->max_mem) {
			errbuf__set(err, errlen, "--mem is larger than --max-mem");
			return -1;
		}
		if (o->tls_authz && !o->tls_creds) {
			errbuf__set(err, errlen, "--tls-authz checks the source's TLS certificate: it needs --tls-creds");
			return -1;
		}
		if (o->provision == RUN_PROVISION_SETUP && !mem_set) {
			errbuf__set(err, errlen, "--provision setup allocates guest RAM before the source comes: "
				   "it needs --mem (the size the source's VM has)");
			return -1;
		}
		if (!o->provision)
			o->provision = mem_set ? RUN_PROVISION_SETUP : RUN_PROVISION_ANNOUNCED;
		if (!mem_set)
			o->mem = 0;       /* take the source's */
		if (!cpus_set)
			o->cpus = 0;
		return 0;
	}
	if (o->max_mem) {
		errbuf__set(err, errlen, "--max-mem limits what --incoming accepts: it needs --incoming");
		return -1;
	}
	if (o->tls_creds || o->tls_authz) {
		errbuf__set(err, errlen, "--tls-creds and --tls-authz secure what --incoming receives: they need "
			   "--incoming (the source gives `tern migrate` its own --tls-creds)");
		return -1;
	}
	if (o->takeover) {
		if (o->guest || o->restore || mem_set || cpus_set || o->guest_args || o->cc != CC_NONE ||
		    o->owner_session || o->owner_secret || o->cc_policy_set || o->helper ||
		    o->owner_helper_key || lanes_set) {
			errbuf__set(err, errlen, "--takeover receives the VM as it is: it takes no --guest, "
				   "--restore, --mem, --cpus, --guest-args or --cc options");
			return -1;
		}
		return 0;
	}
	if (!o->guest && !o->restore) {
		errbuf__set(err, errlen, "nothing to run: give --guest ELF, --restore SNAPSHOT or --takeover SOCKET");
		return -1;
	}
	if (o->guest && o->restore) {
		errbuf__set(err, errlen, "--guest and --restore exclude each other");
		return -1;
	}
	if (o->owner_helper_key && !o->helper) {
		errbuf__set(err, errlen, "--owner-helper-key is the migration helper's key: it needs --helper");
		return -1;
	}
	if (lanes_set && !o->helper) {
		errbuf__set(err, errlen, "--helper-lanes needs --helper");
		return -1;
	}
	if (o->helper && (o->restore || o->cc == CC_NONE)) {
		errbuf__set(err, errlen, "--helper needs a confidential launch of a guest (--guest with "
			   "--cc emu or sev): its region is measured with the guest");
		return -1;
	}
	if (o->cc == CC_NONE && (o->cc_policy_set || o->owner_session || o->owner_secret)) {
		errbuf__set(err, errlen, "--cc-policy, --owner-session and --owner-secret need --cc emu or sev");
		return -1;
	}
	if (o->restore && o->cc != CC_NONE) {
		errbuf__set(err, errlen, "--restore of a confidential VM is not possible: its private "
			   "memory leaves only through the platform (migration)");
		return -1;
	}
	if (o->restore && (mem_set || cpus_set || o->guest_args)) {
		errbuf__set(err, errlen, "--restore takes memory, vCPUs and guest arguments from the snapshot");
		return -1;
	}
	return 0;
}
