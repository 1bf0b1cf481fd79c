/* kvm.c - system and VM level ioctls. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm/kvm.h"

int kvm__open(struct kvm_sys *k, const char *path)
{
	int v;
	k->fd = open(path, O_RDWR | O_CLOEXEC);
	if (k->fd < 0)
		return -errno;
	v = ioctl(k->fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		close(k->fd);
		k->fd = -1;
		return -EPROTO;
	}
	k->run_size = ioctl(k->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (k->run_size <= 0) {
		int e = errno;
		close(k->fd);
		k->fd = -1;
		return -e;
	}
	k->max_vcpus = kvm__check(k, KVM_CAP_MAX_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = kvm__check(k, KVM_CAP_NR_VCPUS);
	if (k->max_vcpus <= 0)
		k->max_vcpus = 4;
	return 0;
}

void kvm__close(struct kvm_sys *k)
{
	if (k->fd >= 0)
		close(k->fd);
	k->fd = -1;
}

int kvm__check(struct kvm_sys *k, long cap)
{
	int r = ioctl(k->fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

int kvm__create_vm(struct kvm_sys *k)
{
	int fd;
	do
		fd = ioctl(k->fd, KVM_CREATE_VM, 0);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

int kvm__supported_cpuid(struct kvm_sys *k, struct kvm_cpuid2 **out)
{
	for (unsigned n = 128; n <= 4096; n *= 2) {
		struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = n;
		if (ioctl(k->fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG)
			return -errno;
	}
	return -E2BIG;
}

int kvm__msr_index_list(struct kvm_sys *k, uint32_t **out, uint32_t *n)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *l;

	if (ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return -errno;
	l = calloc(1, sizeof(*l) + probe.nmsrs * sizeof(uint32_t));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	if (ioctl(k->fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int e = errno;
		free(l);
		return -e;
	}
	*n = l->nmsrs;
	*out = malloc(l->nmsrs * sizeof(uint32_t) + 1);
	if (!*out) {
		free(l);
		return -ENOMEM;
	}
	memcpy(*out, l->indices, l->nmsrs * sizeof(uint32_t));
	free(l);
	return 0;
}

int kvm_vm__set_memslot(int vmfd, uint32_t slot, uint64_t gpa, uint64_t size,
			void *hva, uint32_t flags)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)hva,
	};
	return ioctl(vmfd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

int kvm_vm__enable_cap(int vmfd, uint32_t cap, uint64_t arg0)
{
	struct kvm_enable_cap c = { .cap = cap, .args = { arg0 } };
	return ioctl(vmfd, KVM_ENABLE_CAP, &c) < 0 ? -errno : 0;
}

int kvm_vm__trap_msrs(int vmfd, const uint32_t *msrs, unsigned n)
{
	/* One range per MSR with its single bitmap bit clear = "deny", which
	 * KVM turns into an exit to userspace once KVM_MSR_EXIT_REASON_FILTER
	 * is enabled. Everything outside the ranges keeps default-allow. */
	static uint8_t deny;
	struct kvm_msr_filter f = { .flags = KVM_MSR_FILTER_DEFAULT_ALLOW };
	if (n > KVM_MSR_FILTER_MAX_RANGES)
		return -E2BIG;
	for (unsigned i = 0; i < n; i++) {
		f.ranges[i].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
		f.ranges[i].nmsrs = 1;
		f.ranges[i].base = msrs[i];
		f.ranges[i].bitmap = &deny;
	}
	return ioctl(vmfd, KVM_X86_SET_MSR_FILTER, &f) < 0 ? -errno : 0;
}

int kvm_vcpu__create(int vmfd, int id, int run_size, int *fd, struct kvm_run **run)
{
	void *m;
	*fd = ioctl(vmfd, KVM_CREATE_VCPU, id);
	if (*fd < 0)
		return -errno;
	m = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (m == MAP_FAILED) {
		int e = errno;
		close(*fd);
		*fd = -1;
		return -e;
	}
	*run = m;
	return 0;
}

int kvm_vcpu__pre_fault(int vcpufd, uint64_t gpa, uint64_t size)
{
	struct kvm_pre_fault_memory r = { .gpa = gpa, .size = size };

	/* KVM maps part of the range per call and says how far it got; EINTR
	 * and EAGAIN (a signal, an MMU notifier race) just mean "go on" */
	while (r.size) {
		if (ioctl(vcpufd, KVM_PRE_FAULT_MEMORY, &r) < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
	}
	return 0;
}

void kvm_vcpu__destroy(int fd, struct kvm_run *run, int run_size)
{
	if (run)
		munmap(run, run_size);
	if (fd >= 0)
		close(fd);
}
