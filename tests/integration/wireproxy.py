#!/usr/bin/env python3
"""wireproxy.py - a man in the middle for tern's migration stream, for tests.

    wireproxy.py LISTEN_PORT TARGET_HOST TARGET_PORT MODE [ARG] [--tee FILE]

Forwards every connection the source opens (a migration has a control
connection and data connections), each to the target. Source-to-destination
traffic is parsed as tern wire messages (24-byte header: magic u32,
version u16, cmd u16, flags u32, nfds u32, length u64) so a fault can hit a
chosen message (RAM batches are counted across all connections):

    pass                 forward unchanged
    flip-ram N           flip one byte inside the payload of the N-th RAM batch
    flip-state           flip one byte inside the STATE message's records
    truncate-state       forward half of the STATE message, then close both ways
    cut-after-ram N      close that connection both ways after the N-th RAM batch
    stall-after-ram N    after the N-th RAM batch stop reading, keep the
                         connection open (a destination that hangs)
    cut-on-usr1          forward unchanged until SIGUSR1, then close every
                         connection both ways at once (the network gone)

--tee FILE writes everything the source sent (as forwarded) to FILE, whole
messages at a time. Exits when the first (control) connection ends. Only
ever connects to the target given.
"""
import signal
import socket
import struct
import sys
import threading
import time

W_RAM, W_STATE = 7, 3


def pump_back(dst, src):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            dst.sendall(d)
    except OSError:
        pass
    for s in (dst, src):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        d = s.recv(n - len(buf))
        if not d:
            return None
        buf += d
    return buf


class Shared:
    """What the connections of one proxy share: the RAM batch count across
    all of them (a migration sends RAM on several data connections) and the
    tee file, written a whole message at a time."""

    def __init__(self, tee):
        self.lock = threading.Lock()
        self.rams = 0
        self.tee = tee
        self.socks = []

    def cut(self, *_):
        for s in list(self.socks):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def count_ram(self):
        with self.lock:
            self.rams += 1
            return self.rams

    def write(self, data):
        if self.tee:
            with self.lock:
                self.tee.write(data)
                self.tee.flush()


def forward(src, host, tport, mode, arg, shared):
    dst = socket.create_connection((host, tport))
    shared.socks += [src, dst]
    threading.Thread(target=pump_back, args=(src, dst), daemon=True).start()
    try:
        while True:
            hdr = recv_exact(src, 24)
            if hdr is None:
                break
            _, _, cmd, _, _, length = struct.unpack("<IHHIIQ", hdr)
            payload = recv_exact(src, length) if length else b""
            if payload is None:
                break
            n = shared.count_ram() if cmd == W_RAM else 0
            out = hdr + payload
            if mode == "flip-ram" and cmd == W_RAM and n == arg and length > 100:
                b = bytearray(out)
                b[24 + length // 2] ^= 0x5A
                out = bytes(b)
            elif mode == "flip-state" and cmd == W_STATE and length > 100:
                b = bytearray(out)
                b[24 + length // 2] ^= 0x5A
                out = bytes(b)
            elif mode == "truncate-state" and cmd == W_STATE:
                out = out[: 24 + length // 2]
                dst.sendall(out)
                shared.write(out)
                break
            dst.sendall(out)
            shared.write(out)
            if mode == "cut-after-ram" and cmd == W_RAM and n == arg:
                break
            if mode == "stall-after-ram" and cmd == W_RAM and n == arg:
                time.sleep(3600)          # the test kills the proxy
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
            s.close()
        except OSError:
            pass


def main():
    args = sys.argv[1:]
    tee = None
    if "--tee" in args:
        i = args.index("--tee")
        tee = open(args[i + 1], "wb")
        del args[i:i + 2]
    port, host, tport, mode = int(args[0]), args[1], int(args[2]), args[3]
    arg = int(args[4]) if len(args) > 4 else 0
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(16)
    shared = Shared(tee)
    if mode == "cut-on-usr1":
        signal.signal(signal.SIGUSR1, shared.cut)
    print("ready", flush=True)
    # the control connection first, then the data connections: each one
    # forwarded to the target in its own thread; the proxy ends with the
    # control connection
    first = None
    while True:
        try:
            src, _ = ls.accept()
        except OSError:
            break
        t = threading.Thread(target=forward, args=(src, host, tport, mode, arg, shared), daemon=True)
        t.start()
        if first is None:
            first = t
            threading.Thread(target=lambda: (first.join(), time.sleep(0.5), ls.close(),
                                             tee and tee.close()), daemon=True).start()


if __name__ == "__main__":
    main()
