/* kvm.h - thin, typed wrappers over the /dev/kvm ioctls tern uses.
 * Every function returns 0 (or a value) on success and -errno on failure,
 * so callers can name the cause. */
#ifndef TERN_KVM_KVM_H
#define TERN_KVM_KVM_H

#include <stddef.h>
#include <stdint.h>
#include <linux/kvm.h>

struct kvm_sys {
	int fd;                           /* /dev/kvm */
	int run_size;                     /* size of each vCPU's kvm_run mapping */
	int max_vcpus;
};

int  kvm__open(struct kvm_sys *k, const char *path);
void kvm__close(struct kvm_sys *k);
int  kvm__check(struct kvm_sys *k, long cap);          /* KVM_CHECK_EXTENSION */
int  kvm__create_vm(struct kvm_sys *k);               /* returns the VM fd */

/* KVM_GET_SUPPORTED_CPUID; *out is malloc'd. */
int  kvm__supported_cpuid(struct kvm_sys *k, struct kvm_cpuid2 **out);
/* KVM_GET_MSR_INDEX_LIST; *out is malloc'd. */
int  kvm__msr_index_list(struct kvm_sys *k, uint32_t **out, uint32_t *n);

int  kvm_vm__set_memslot(int vmfd, uint32_t slot, uint64_t gpa, uint64_t size,
			 void *hva, uint32_t flags);
int  kvm_vm__enable_cap(int vmfd, uint32_t cap, uint64_t arg0);
/* Install an MSR filter that makes guest accesses to the listed MSRs exit
 * to userspace (KVM_EXIT_X86_RDMSR/WRMSR); all other MSRs stay in KVM. */
int  kvm_vm__trap_msrs(int vmfd, const uint32_t *msrs, unsigned n);

/* KVM_PRE_FAULT_MEMORY (Linux 6.10+, TDP hosts only): map guest-physical
 * [gpa, gpa+size) in KVM's page tables now, through this vCPU, so the guest
 * takes no fault on first touch. The uapi headers this builds against may
 * predate it. */
#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
struct kvm_pre_fault_memory {
	__u64 gpa;
	__u64 size;
	__u64 flags;
	__u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif
/* 0 once all of it is mapped; -errno (-EOPNOTSUPP: shadow paging, -ENOENT:
 * a hole in the memslots, -ENOTTY: an older kernel) otherwise. */
int  kvm_vcpu__pre_fault(int vcpufd, uint64_t gpa, uint64_t size);

int  kvm_vcpu__create(int vmfd, int id, int run_size, int *fd, struct kvm_run **run);
void kvm_vcpu__destroy(int fd, struct kvm_run *run, int run_size);

#endif
