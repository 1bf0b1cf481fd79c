#!/usr/bin/env python3
"""smoke.py - run the real helper.elf in ring 3 under QEMU (TCG: no /dev/kvm
needed), with the memory layout and entry state of docs/guest-abi.md
("Migration helper"), and check what it does with Python's own AES-GCM
(the `cryptography` package), independently of BearSSL.

    python3 guest/helper/qemu/smoke.py [BUILD]      (default BUILD: build)

For each implementation (cpu facts AES-NI+PCLMUL, then none):
  SEAL 8 pages -> every packet opens with Python's AES-256-GCM under the
  documented nonce and additional data, and gives back its page;
  OPEN those packets on a fresh "destination" -> the pages are in place;
  OPEN with one flipped ciphertext bit -> that entry is TAG and its page
  stays zero, the others arrive.
QEMU does not stop the vCPU at the doorbell as the VMM will, so the helper
runs the same batch again at once: that second run must be refused as a
replay (status 4) on every entry, which is checked too (and is why the
final batch status reads 4). The memory is read back through QEMU's
monitor (pmemsave) after a few seconds.

Exit status 0 if all is as expected, 1 if not, 77 if QEMU or the
`cryptography` package is missing (printed as SKIP).
"""
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:
    print("SKIP: python3 cryptography package missing")
    sys.exit(77)

# guest/helper/mailbox.h
BASE = 0x400000
PT, GDT, TSS, KEYSLOT = BASE + 0x100000, BASE + 0x180000, BASE + 0x181000, BASE + 0x185000
MBOX0 = BASE + 0x400000              # lane 0's shared window: mailbox page...
DATA0 = MBOX0 + 0x1000               # ...then its data area
PKT = 32 + 4096
CMD_SEAL, CMD_OPEN = 1, 2
ST_OK, ST_TAG, ST_REPLAY = 0, 1, 4

RAM_MB = 256
PAGES = 0x2000000                    # the guest pages the batches name
N = 8
KEY = bytes(range(32))
HERE = os.path.dirname(os.path.abspath(__file__))


def page_tables():
    # PML4 -> one PDPT -> one PD of 2 MiB pages: [0, 1 GiB), P RW US
    b = bytearray(3 * 4096)
    struct.pack_into('<Q', b, 0, (PT + 0x1000) | 7)
    struct.pack_into('<Q', b, 4096, (PT + 0x2000) | 7)
    for i in range(512):
        struct.pack_into('<Q', b, 8192 + 8 * i, (i << 21) | 0x87)
    return bytes(b)


def gdt():
    lim = 104 + 8192
    tss = (lim & 0xFFFF) | (TSS & 0xFFFFFF) << 16 | 0x89 << 40 | \
        ((lim >> 16) & 0xF) << 48 | ((TSS >> 24) & 0xFF) << 56
    return struct.pack('<7Q', 0, 0x00AF9A000000FFFF, 0x00CF92000000FFFF,
                       0x00CFF2000000FFFF, 0x00AFFA000000FFFF, tss, TSS >> 32)


def tss():
    b = bytearray(104 + 8192 + 1)    # I/O bitmap all zero, then 0xFF
    struct.pack_into('<H', b, 102, 104)
    b[-1] = 0xFF
    return bytes(b)


def page(k):
    return bytes(((k * 31 + i * 13 + (i >> 8)) & 0xFF) for i in range(4096))


def mailbox(cmd, cpu, entries, stream=1, seq=1):
    b = bytearray(4096)
    n = len(entries) * PKT
    struct.pack_into('<IHHIIIIIIIIII', b, 0, 0x424D4854, 1, 0, seq, cmd, stream,
                     len(entries), 0, n, 0, n, cpu, RAM_MB * 256)
    for i, (gpa, version) in enumerate(entries):
        struct.pack_into('<QII', b, 0x40 + 16 * i, gpa, version, 0xEEEE)
    return bytes(b)


def result(mb, n):
    head = dict(zip(('done_seq', 'status', 'done', 'floor'), struct.unpack_from('<4I', mb, 0x30)))
    return head, [struct.unpack_from('<I', mb, 0x40 + 16 * i + 12)[0] for i in range(n)]


class Qemu:
    def __init__(self, tmp, stub, blobs):
        self.tmp = tmp
        self.sock = os.path.join(tmp, 'mon.sock')
        args = ['qemu-system-x86_64', '-accel', 'tcg', '-cpu', 'max', '-m', str(RAM_MB),
                '-display', 'none', '-no-reboot', '-serial', 'none', '-kernel', stub,
                '-monitor', f'unix:{self.sock},server,nowait']
        for i, (addr, data) in enumerate(blobs):
            fn = os.path.join(tmp, f'blob{i}.bin')
            with open(fn, 'wb') as f:
                f.write(data)
            args += ['-device', f'loader,file={fn},addr={addr:#x},force-raw=on']
        self.p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def read_after(self, secs, ranges):
        time.sleep(secs)
        s = socket.socket(socket.AF_UNIX)
        s.connect(self.sock)
        time.sleep(0.3)
        s.recv(65536)                # the monitor's greeting
        out = []
        for i, (addr, size) in enumerate(ranges):
            fn = os.path.join(self.tmp, f'dump{i}.bin')
            if os.path.exists(fn):
                os.unlink(fn)        # an earlier run's dump is not this one's
            s.sendall(f'pmemsave {addr:#x} {size} "{fn}"\n'.encode())
            for _ in range(100):
                if os.path.exists(fn) and os.path.getsize(fn) == size:
                    break
                time.sleep(0.1)
            time.sleep(0.2)          # written in one go, but let QEMU close it
            with open(fn, 'rb') as f:
                out.append(f.read())
        s.sendall(b'quit\n')
        self.p.wait(10)
        return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    elf = os.path.join(build, 'guest', 'helper.elf')
    if not shutil.which('qemu-system-x86_64'):
        print("SKIP: qemu-system-x86_64 missing")
        return 77
    tmp = tempfile.mkdtemp(prefix='helper-smoke.')
    try:
        stub = os.path.join(tmp, 'stub.elf')
        subprocess.run(['cc', '-c', os.path.join(HERE, 'stub.S'), '-o', stub + '.o'], check=True)
        subprocess.run(['ld', '-nostdlib', '--no-warn-rwx-segments', '-T',
                        os.path.join(HERE, 'stub.ld'), '-o', stub + '64', stub + '.o'], check=True)
        subprocess.run(['objcopy', '-O', 'elf32-i386', stub + '64', stub], check=True)
        image = os.path.join(tmp, 'helper.bin')
        subprocess.run(['objcopy', '-O', 'binary', elf, image], check=True)
        with open(image, 'rb') as f:
            region = [(BASE, f.read()), (PT, page_tables()), (GDT, gdt()), (TSS, tss()),
                      (KEYSLOT, struct.pack('<II', 0x594B4854, 32) + KEY)]
        entries = [(PAGES + k * 4096, 1) for k in range(N)]
        failures = []

        def check(what, cond, detail=''):
            print(('ok   ' if cond else 'FAIL ') + what + ('' if cond else f' ({detail})'))
            if not cond:
                failures.append(what)

        for cpu, name in ((3, 'aes-ni+pclmul'), (0, 'constant-time')):
            q = Qemu(tmp, stub, region + [(MBOX0, mailbox(CMD_SEAL, cpu, entries)),
                                         (PAGES, b''.join(page(k) for k in range(N)))])
            mb, data = q.read_after(4, [(MBOX0, 4096), (DATA0, N * PKT)])
            head, st = result(mb, N)
            check(f'{name}: SEAL ran (done_seq 1, floor 1), repeat refused as replay',
                  head['done_seq'] == 1 and head['floor'] == 1 and st == [ST_REPLAY] * N,
                  f'{head} {st}')
            packets, opened = [], True
            for k in range(N):
                p = data[k * PKT:(k + 1) * PKT]
                gpa, version, stream = struct.unpack_from('<QII', p, 0)
                nonce = struct.pack('<III', stream, gpa >> 12, version)
                ad = struct.pack('<QII', gpa, version, stream)
                try:
                    plain = AESGCM(KEY).decrypt(nonce, p[32:] + p[16:32], ad)
                except Exception:
                    plain = None
                opened &= plain == page(k) and (gpa, version, stream) == (PAGES + k * 4096, 1, 1)
                packets.append(bytearray(p))
            check(f'{name}: every packet opens with Python AES-GCM and gives back its page', opened)

            for flip in (None, 5):
                sent = [bytearray(p) for p in packets]
                if flip is not None:
                    sent[flip][100] ^= 1
                q = Qemu(tmp, stub, region + [(MBOX0, mailbox(CMD_OPEN, cpu, entries)),
                                             (DATA0, b''.join(bytes(p) for p in sent))])
                mb, mem = q.read_after(4, [(MBOX0, 4096), (PAGES, N * 4096)])
                head, st = result(mb, N)
                got = [mem[k * 4096:(k + 1) * 4096] for k in range(N)]
                if flip is None:
                    check(f'{name}: OPEN writes every page in place; repeat refused as replay',
                          all(got[k] == page(k) for k in range(N)) and st == [ST_REPLAY] * N
                          and head['done_seq'] == 1, f'{head} {st}')
                else:
                    want = [ST_REPLAY] * N
                    want[flip] = ST_TAG
                    check(f'{name}: OPEN with a flipped bit: that entry TAG, its page untouched, '
                          'the rest in place',
                          st == want and got[flip] == bytes(4096) and
                          all(got[k] == page(k) for k in range(N) if k != flip),
                          f'{head} {st} pages {[got[k] == page(k) for k in range(N)]}')
        print(f'{len(failures)} failed')
        return 1 if failures else 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
