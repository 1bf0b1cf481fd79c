/* run.c - `tern run`: boot a guest (or restore a snapshot), serve the
 * control socket, and wait until the VM stops. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/args.h"
#include "cli/cli.h"
#include "ctl/ctl.h"
#include "util/log.h"
#include "util/size.h"
#include "vm/snapshot.h"
#include "vm/vm.h"

int cmd_run(int argc, char **argv)
{
	struct run_opts o;
	struct vm_config cfg = { 0 };
	struct ctl_server ctl = { .lfd = -1 };
	struct snapshot_result sr;
	static struct vm vm;              /* large; and ASan-friendly */
	char err[1024], sz[32];
	sigset_t sigs;
	int code, serial_fd = STDOUT_FILENO;
	bool have_ctl = false;

	if (run_opts_parse(argc, argv, &o, err, sizeof(err))) {
		log_err("%s", err);
		fprintf(stderr, "%s", run_usage);
		return 2;
	}
	if (o.help) {
		printf("%s", run_usage);
		return 0;
	}
	if (o.serial_file) {
		serial_fd = open(o.serial_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (serial_fd < 0) {
			log_err("cannot open serial output %s: %s", o.serial_file, strerror(errno));
			return 1;
		}
	}
	/* Claim the control socket before anything else: a second VM started
	 * on the same path fails here, before it creates anything. */
	if (o.ctl) {
		if (ctl_server__open(&ctl, o.ctl, err, sizeof(err))) {
			log_err("%s", err);
			return 1;
		}
		have_ctl = true;
	}

	/* SIGINT/SIGTERM are taken by this thread with sigtimedwait; every
	 * thread created from here on inherits the block. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	cfg.serial_fd = serial_fd;
	if (o.restore) {
		if (snapshot__restore(o.restore, &vm, &cfg, &sr, err, sizeof(err))) {
			log_err("%s", err);
			code = 1;
			goto out_ctl;
		}
		log_info("restored %s: %d vCPUs, %s RAM, %llu pages in %.1f ms", o.restore,
			 vm.cfg.ncpus, size_str(vm.cfg.mem, sz, sizeof(sz)),
			 (unsigned long long)sr.ram_pages, (double)sr.ns / 1e6);
	} else {
		cfg.mem = o.mem;
		cfg.ncpus = o.cpus;
		cfg.cc = o.cc;
		if (vm__create(&vm, &cfg, err, sizeof(err)) ||
		    vm__load_guest(&vm, o.guest, o.guest_args, err, sizeof(err))) {
			log_err("%s", err);
			vm__destroy(&vm);
			code = 1;
			goto out_ctl;
		}
	}
	if (vm__start(&vm, err, sizeof(err))) {
		log_err("%s", err);
		vm__wait(&vm);
		vm__destroy(&vm);
		code = 1;
		goto out_ctl;
	}
	if (have_ctl && ctl_server__start(&ctl, &vm, o.restore ? o.restore : o.guest)) {
		log_err("cannot start the control socket thread");
		vm__stop(&vm, 1, "control socket failed");
	}
	if (!o.restore)
		log_info("running %s: %d vCPUs, %s RAM%s%s", o.guest, vm.cfg.ncpus,
			 size_str(vm.cfg.mem, sz, sizeof(sz)), o.ctl ? ", control socket " : "",
			 o.ctl ? o.ctl : "");

	while (!vm__stopping(&vm)) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		int sig = sigtimedwait(&sigs, NULL, &ts);
		if (sig > 0)
			vm__stop(&vm, 128 + sig, "stopped by signal %s", strsignal(sig));
	}
	code = vm__wait(&vm);
	if (have_ctl)
		ctl_server__close(&ctl);
	have_ctl = false;
	log_info("%s", vm.stop_reason);
	vm__destroy(&vm);
out_ctl:
	if (have_ctl)
		ctl_server__close(&ctl);
	if (serial_fd != STDOUT_FILENO)
		close(serial_fd);
	return code;
}
