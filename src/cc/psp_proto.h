/* psp_proto.h - the messages between tern (the cc "emu" back-end) and the
 * emulated platform daemon tern-psp.
 *
 * Transport: unix SOCK_SEQPACKET, one message per datagram, so a message
 * arrives whole or not at all and two processes sharing a socket never see
 * each other's half-messages.
 *
 * Capabilities: the daemon's listening socket is the *platform* connection.
 * PSP_OP_VM_CREATE returns (SCM_RIGHTS) a new socket: the VM's handle. Every
 * request about that VM travels on that socket, so whoever holds the fd may
 * act on the VM, and passing the fd to another process passes the right. When
 * a request names a second VM (mirror, move) the client attaches that VM's
 * fd; the daemon recognises it by the socket object behind it, never by a
 * number the client supplies.
 *
 * Every request gets one reply with the same op and cmd: status 0 or a
 * negative errno (the KVM ioctl's return value), and fw_error, the firmware
 * status code (enum psp_fw_error) when status is -EIO because the
 * firmware refused. All integers little endian.
 */
#ifndef TERN_CC_PSP_PROTO_H
#define TERN_CC_PSP_PROTO_H

#include <stdint.h>

#define PSP_MAGIC          0x50535054u   /* "TPSP" */
#define PSP_PROTO_VERSION  1
#define PSP_MAX_MSG        (64 * 1024)

/* API version and build the emulated firmware reports */
#define PSP_API_MAJOR      1
#define PSP_API_MINOR      55
#define PSP_BUILD          21

struct psp_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t op;                      /* enum psp_op */
	uint32_t cmd;                     /* PSP_OP_ENC: the SEV command id */
	int32_t  status;                  /* replies: 0 or -errno */
	uint32_t fw_error;                /* replies: firmware status */
	uint32_t len;                     /* payload bytes after the header */
};

enum psp_op {
	/* on the platform connection */
	PSP_OP_HELLO          = 1,        /* -> struct psp_platform_info */
	PSP_OP_VM_CREATE      = 2,        /* struct psp__vm_create or psp_vm_create_typed -> fd of the new VM */
	PSP_OP_EXPORT_CHAIN   = 3,        /* -> PEM: PDH certificate, root */
	/* on a VM connection */
	PSP_OP_ENC            = 10,       /* cmd = SEV command id; payload per command */
	PSP_OP_REGION_REG     = 11,       /* fd = memfd; struct psp_region */
	PSP_OP_REGION_UNREG   = 12,       /* struct psp_region (fd ignored) */
	PSP_OP_COPY_FROM      = 13,       /* fd = owner VM: become its mirror */
	PSP_OP_MOVE_FROM      = 14,       /* fd = source VM: take over its context */
	PSP_OP_VCPU_CREATE    = 15,       /* struct psp_vcpus: register vCPUs */
	PSP_OP_VCPU_BEGIN     = 16,       /* a vCPU creation starts (moves see EBUSY) */
	PSP_OP_VCPU_END       = 17,       /* ... and completes (one more vCPU) */
	PSP_OP_VM_INFO        = 18,       /* -> struct psp_vm_info */
	/* SEV-ES, emulation only: on hardware the CPU itself writes a vCPU's
	 * VMSA at every #VMEXIT and reads it at VMRUN, inside encrypted
	 * memory. tern-psp keeps each launched vCPU's VMSA with the context
	 * instead, and the VMM hands it the vCPU's state when the host would
	 * lose it (a handoff), and takes it back after the context moved. */
	PSP_OP_VMSA_SAVE      = 19,       /* struct psp_vmsa + state: replace vCPU's VMSA */
	PSP_OP_VMSA_LOAD      = 20,       /* struct psp_vcpu_ref -> the vCPU's VMSA bytes */
};

/* SEV command ids: KVM's (enum sev_cmd_id in <linux/kvm.h>) plus tern's */
enum psp_cmd {
	PSP_SEV_INIT                = 0,
	PSP_SEV_ES_INIT             = 1,
	PSP_SEV_LAUNCH_START        = 2,
	PSP_SEV_LAUNCH_UPDATE_DATA  = 3,
	PSP_SEV_LAUNCH_UPDATE_VMSA  = 4,
	PSP_SEV_LAUNCH_SECRET       = 5,
	PSP_SEV_LAUNCH_MEASURE      = 6,
	PSP_SEV_LAUNCH_FINISH       = 7,
	PSP_SEV_SEND_START          = 8,
	PSP_SEV_SEND_UPDATE_DATA    = 9,
	PSP_SEV_SEND_UPDATE_VMSA    = 10,
	PSP_SEV_SEND_FINISH         = 11,
	PSP_SEV_RECEIVE_START       = 12,
	PSP_SEV_RECEIVE_UPDATE_DATA = 13,
	PSP_SEV_RECEIVE_UPDATE_VMSA = 14,
	PSP_SEV_RECEIVE_FINISH      = 15,
	PSP_SEV_GUEST_STATUS        = 16,
	PSP_SEV_DBG_DECRYPT         = 17,
	PSP_SEV_DBG_ENCRYPT         = 18,
	PSP_SEV_CERT_EXPORT         = 19,
	PSP_SEV_GET_ATTESTATION     = 20,
	PSP_SEV_SEND_CANCEL         = 21,
	PSP_SEV_INIT2               = 22,     /* struct psp_sev_init2 */
	/* tern: the earlier token design (sev-semantics.md section 3) */
	PSP_SEV_LOCAL_SEND          = 0x100,
	PSP_SEV_LOCAL_RECEIVE       = 0x101,
	/* the firmware's DECOMMISSION, which KVM issues at teardown */
	PSP_SEV_DECOMMISSION        = 0x102,
};

/* Firmware status codes (SEV API) */
enum psp_fw_error {
	PSP_FW_SUCCESS               = 0x00,
	PSP_FW_INVALID_PLATFORM_STATE= 0x01,
	PSP_FW_INVALID_GUEST_STATE   = 0x02,
	PSP_FW_INVALID_CONFIG        = 0x03,
	PSP_FW_INVALID_LEN           = 0x04,
	PSP_FW_INVALID_CERTIFICATE   = 0x06,
	PSP_FW_POLICY_FAILURE        = 0x07,
	PSP_FW_INACTIVE              = 0x08,
	PSP_FW_INVALID_ADDRESS       = 0x09,
	PSP_FW_BAD_SIGNATURE         = 0x0a,
	PSP_FW_BAD_MEASUREMENT       = 0x0b,   /* a MAC did not verify */
	PSP_FW_INVALID_GUEST         = 0x10,
	PSP_FW_INVALID_COMMAND       = 0x11,
	PSP_FW_INVALID_PARAM         = 0x16,
	PSP_FW_RESOURCE_LIMIT        = 0x17,
};

/* Guest states (sev-semantics.md section 6) */
enum psp_guest_state {
	PSP_STATE_UNINIT  = 0,
	PSP_STATE_LUPDATE = 1,
	PSP_STATE_LSECRET = 2,
	PSP_STATE_RUNNING = 3,
	PSP_STATE_SUPDATE = 4,
	PSP_STATE_RUPDATE = 5,
	PSP_STATE_SENT    = 6,
};

/* Policy bits (SEV API) */
#define PSP_POLICY_NODBG    (1u << 0)
#define PSP_POLICY_NOKS     (1u << 1)
#define PSP_POLICY_ES       (1u << 2)
#define PSP_POLICY_NOSEND   (1u << 3)
#define PSP_POLICY_DOMAIN   (1u << 4)
#define PSP_POLICY_SEV      (1u << 5)
#define PSP_POLICY_API_MAJOR(p) (((p) >> 16) & 0xff)
#define PSP_POLICY_API_MINOR(p) (((p) >> 24) & 0xff)

/* VM types (KVM_CREATE_VM's argument, KVM_X86_*_VM). tern-psp creates
 * DEFAULT, SEV and SEV_ES VMs; SW_PROTECTED and SNP are refused (EINVAL). */
#define PSP_VM_DEFAULT      0
#define PSP_VM_SW_PROTECTED 1
#define PSP_VM_SEV          2
#define PSP_VM_SEV_ES       3
#define PSP_VM_SNP          4

/* VMSA features (SVM_SEV_FEAT_*) INIT2 may ask for an SEV-ES VM; the
 * emulated platform offers DebugSwap only (KVM_X86_SEV_VMSA_FEATURES) */
#define PSP_VMSA_FEAT_DEBUG_SWAP (1ull << 5)
#define PSP_VMSA_FEATURES        PSP_VMSA_FEAT_DEBUG_SWAP
#define PSP_GHCB_VERSION_MIN     1
#define PSP_GHCB_VERSION_MAX     2

#define PSP_SESSION_LEN   128
#define PSP_PKT_HDR_LEN   52
#define PSP_PAGE          4096
#define PSP_MAX_VCPUS     64

#pragma pack(push, 1)
struct psp_platform_info {
	uint8_t  api_major, api_minor, build, pad;
	uint32_t asids_total, asids_free;
	uint32_t vms;
};

struct psp__vm_create {
	char     domain[32];              /* accounting domain (misc-cgroup analogue), NUL padded; "" = "default" */
};

/* VM_CREATE with a VM type (KVM_CREATE_VM(type)): the type is the VM's for
 * its life. The shorter psp__vm_create makes a PSP_VM_DEFAULT VM. */
struct psp_vm_create_typed {
	char     domain[32];
	uint32_t vm_type;                 /* PSP_VM_* */
};

/* PSP_SEV_INIT2 (KVM_SEV_INIT2, struct kvm_sev_init): vm_type names the
 * VM's type, which must be the one it was created with (EINVAL otherwise:
 * KVM reads it from the VM itself). */
struct psp_sev_init2 {
	uint32_t vm_type;                 /* PSP_VM_SEV or PSP_VM_SEV_ES */
	uint32_t flags;                   /* must be 0 */
	uint64_t vmsa_features;           /* SEV-ES only; subset of PSP_VMSA_FEATURES */
	uint16_t ghcb_version;            /* SEV-ES: 0 (= 2) .. 2; SEV: 0 */
	uint16_t pad1;
	uint32_t pad2;
};

struct psp_region {
	uint64_t gpa, size, offset;       /* guest range and its offset in the memfd */
};

struct psp_vcpus {
	uint32_t count;
};

struct psp_vm_info {
	uint8_t  sev, es, dead, mirror;   /* mirror: borrows another VM's context */
	uint32_t asid, handle, state, policy;   /* a mirror's handle: copied from its owner at COPY_FROM */
	uint32_t vcpus, nmirrors, nregions, vmsa_launched;
	uint32_t vm_type;                 /* PSP_VM_* given at VM_CREATE */
	uint32_t ghcb_version;
	uint64_t vmsa_features;
};

/* PSP_SEV_LAUNCH_START */
struct psp_launch_start {
	uint32_t policy;
	uint32_t flags;                   /* bit 0: session + owner key present */
	uint8_t  session[PSP_SESSION_LEN];
	uint32_t owner_pub_len;           /* then the owner's P-384 public key, PEM */
};
struct psp_handle_reply { uint32_t handle; };

/* LAUNCH_UPDATE_DATA, DBG_DECRYPT, SEND_UPDATE_DATA (request) */
struct psp_range { uint64_t gpa; uint32_t len; uint32_t flags; };
#define PSP_RANGE_QUERY 1                 /* SEND_UPDATE_DATA: only report lengths */

/* LAUNCH_UPDATE_VMSA (and VMSA_SAVE): the vCPU and its register state
 * (LAUNCH: measured), 1..PSP_VMSA_MAX bytes */
struct psp_vmsa { uint32_t vcpu; uint32_t len; /* then len bytes */ };
#define PSP_VMSA_MAX   (32 * 1024)
struct psp_vcpu_ref { uint32_t vcpu; };

struct psp_measure_reply {
	uint8_t measurement[32];
	uint8_t mnonce[16];
	uint8_t api_major, api_minor, build, pad;
	uint32_t policy;
};

/* LAUNCH_SECRET / RECEIVE_UPDATE_DATA: where, the packet header, then len
 * bytes of ciphertext. seq: RECEIVE only, strictly increasing per session
 * and bound into the MAC with the GPA (tern's replay protection). */
struct psp_packet {
	uint64_t gpa;
	uint64_t seq;
	uint32_t len;
	uint8_t  hdr[PSP_PKT_HDR_LEN];
};

/* SEND_UPDATE_DATA reply: struct psp_packet (gpa, seq filled) + ciphertext */

/* SEND_START request: u32 chain length + the receiver's PEM chain.
 * reply: session blob + u32 length + the sender's PEM chain */
struct psp_send_start_reply {
	uint8_t  session[PSP_SESSION_LEN];
	uint32_t policy;
	uint32_t chain_len;
};

/* RECEIVE_START request */
struct psp_receive_start {
	uint32_t policy;
	uint8_t  session[PSP_SESSION_LEN];
	uint32_t chain_len;               /* then the sender's PEM chain */
};

struct psp_guest_status { uint32_t handle, policy, state; };

struct psp_token { uint64_t token; };
#pragma pack(pop)

#endif
