#!/usr/bin/python3
# Where do a key file's private numbers sit in a running process?
#
# memscan.py scan [--dd-only] PID KEYFILE...
# Reads the private numbers of unencrypted openssh-key-v1 files (Ed25519
# seed; ECDSA scalar; RSA d, p and q), then every readable mapping of the
# process through /proc/PID/mem (root: the agent is not dumpable), and
# prints one line per number, byte order and mapping it is found in:
#
#   hit <key>:<number> <be|le> <address> secure|plain <start>-<end> <perms> <name>
#
# A copy may be cut into pieces by a chunked read, and OpenSSL keeps
# BIGNUMs as little-endian words: each number is searched as 16-byte
# windows every 8 bytes, in both byte orders, so any piece of 24 bytes or
# more is found. A mapping is "secure" when /proc/PID/smaps shows it both
# locked and excluded from core dumps (VmFlags lo and dd): the OpenSSL
# secure heap and kmes_secure_alloc blocks, never ordinary heap or stack.
# --dd-only drops the "locked" half, for an agent built with a sanitizer,
# whose runtime turns mlock() into a no-op. Mappings with no page in memory
# or swap hold nothing and are skipped, as is a sanitizer's shadow memory.
# Also printed: "numbers <key> <n>" per key file, and "unreadable ..." for
# a mapping that should have been readable but was not.
# The process is stopped (SIGSTOP) for the scan and continued after it: a
# running process may move a copy from a mapping not yet read to one
# already read, or unmap a mapping between the listing and the read (which
# showed as "unreadable" on a loaded machine). The windows are searched
# only in pages that hold an aligned 8-byte word of one of them (a window
# always covers such a word), so the hundreds of windows of an RSA key
# are not each searched through every byte: reading a never-touched stack
# through /proc/PID/mem makes it count as resident, and each later scan
# then searched megabytes of zeros once per window.
#
# memscan.py hold SOCKET KEYFILE [--after-list]
# A client that stops half-way: sends SSH_AGENTC_ADD_IDENTITY for the key
# but for its last byte (after a REQUEST_IDENTITIES in the same write with
# --after-list, whose answer it reads), waits until the agent has read
# every byte sent, prints "held", and on a line from stdin sends the last
# byte and prints "reply <code>" for the agent's answer.

import base64
import fcntl
import os
import re
import signal
import socket
import struct
import sys
import termios
import time

WINDOW = 16
STEP = 8
CHUNK = 64 * 1024 * 1024
# Reserved address space of a sanitizer runtime (shadow memory): terabytes
# of never-touched pages that hold no program data.
HUGE = 1 << 40
PAGE = 4096
ZERO_PAGE = bytes(PAGE)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if self.pos + n > len(self.data):
            raise ValueError("truncated key file")
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def u32(self):
        return int.from_bytes(self.take(4), "big")

    def string(self):
        return self.take(self.u32())

    def mpint(self):
        return self.string().lstrip(b"\0")


def key_private(path):
    """The private numbers of one unencrypted openssh-key-v1 file, and the
    body of the SSH_AGENTC_ADD_IDENTITY request that adds it (the file's
    private section from the key type to the comment, as PROTOCOL.agent
    lays it out)."""
    with open(path) as f:
        lines = [ln.strip() for ln in f if not ln.startswith("-----")]
    r = Reader(base64.b64decode("".join(lines)))
    if r.take(15) != b"openssh-key-v1\0":
        raise ValueError(path + ": not an openssh-key-v1 file")
    if r.string() != b"none" or r.string() != b"none":
        raise ValueError(path + ": encrypted")
    r.string()
    if r.u32() != 1:
        raise ValueError(path + ": not one key")
    r.string()
    r = Reader(r.string())
    if r.u32() != r.u32():
        raise ValueError(path + ": bad check bytes")
    start = r.pos
    kt = r.string()
    if kt == b"ssh-ed25519":
        r.string()
        nums = {"seed": r.string()[:32]}
    elif kt.startswith(b"ecdsa-sha2-"):
        r.string()
        r.string()
        nums = {"d": r.mpint()}
    elif kt == b"ssh-rsa":
        r.mpint()
        r.mpint()
        d = r.mpint()
        r.mpint()
        nums = {"d": d, "p": r.mpint(), "q": r.mpint()}
    else:
        raise ValueError(path + ": unsupported key type " + kt.decode())
    r.string()
    return nums, r.data[start:r.pos]


def windows(num):
    out = []
    for order, v in (("be", num), ("le", num[::-1])):
        for off in range(0, max(len(v) - WINDOW, 0) + 1, STEP):
            out.append((order, v[off:off + WINDOW]))
    return out


def mappings(pid):
    """(start, end, perms, name, vmflags, kB in RAM or swap) for every
    mapping."""
    maps = []
    head = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$")
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            m = head.match(line)
            if m:
                maps.append([int(m.group(1), 16), int(m.group(2), 16),
                             m.group(3), m.group(4), set(), 0])
            elif line.startswith("VmFlags:") and maps:
                maps[-1][4] = set(line.split()[1:])
            elif line.startswith(("Rss:", "Swap:")) and maps:
                maps[-1][5] += int(line.split()[1])
    return maps


def needle_words(needles):
    """Every 8 bytes of every needle, at each byte offset, as native
    words. A needle's 16 bytes in memory always cover one whole 8-byte-
    aligned word, and that word is one of these."""
    words = set()
    for _, _, w in needles:
        for off in range(WINDOW - 7):
            words.add(int.from_bytes(w[off:off + 8], sys.byteorder))
    return words


def candidate_runs(data, words):
    """(start, end) of the stretches of data that may hold a needle: each
    page with an aligned word from words, widened by WINDOW - 1 bytes each
    side (a needle starts at most 8 bytes before such a word). A page of
    zeros is passed over by one compare, unless some needle holds eight
    zero bytes in a row."""
    view = memoryview(data)[:len(data) // 8 * 8]
    skip_zero = 0 not in words
    runs = []
    for off in range(0, len(view), PAGE):
        if skip_zero and data[off:off + PAGE] == ZERO_PAGE[:len(view) - off]:
            continue
        if words.isdisjoint(view[off:off + PAGE].cast("Q")):
            continue
        start = max(off - (WINDOW - 1), 0)
        end = min(off + PAGE + WINDOW - 1, len(data))
        if runs and runs[-1][1] >= start:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((start, end))
    return runs


def task_states(pid):
    states = []
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                states.append(f.read().rsplit(") ", 1)[1][0])
        except (FileNotFoundError, ProcessLookupError):
            continue
    return states


def stop(pid):
    """SIGSTOP the process and wait until every thread has stopped, so its
    mappings and memory hold still while they are listed and read."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 20
    while not all(st in "tT" for st in task_states(pid)):
        if time.monotonic() > deadline:
            sys.exit("the process did not stop")
        time.sleep(0.005)


def scan(pid, paths, dd_only):
    # A timeout's SIGTERM must still continue the stopped process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        stop(pid)
        return scan_stopped(pid, paths, dd_only)
    finally:
        os.kill(pid, signal.SIGCONT)


def scan_stopped(pid, paths, dd_only):
    needles = []
    for path in paths:
        nums = key_private(path)[0]
        print("numbers %s %d" % (path, len(nums)))
        for name, v in nums.items():
            for order, w in windows(v):
                needles.append(("%s:%s" % (path, name), order, w))
    words = needle_words(needles)
    seen = set()
    with open("/proc/%d/mem" % pid, "rb", buffering=0) as mem:
        for start, end, perms, name, flags, kb in mappings(pid):
            if perms[0] != "r" or name.startswith("[vvar") or \
                    name == "[vsyscall]":
                continue
            if kb == 0 or (end - start >= HUGE and "nr" in flags):
                continue
            secure = {"dd"} if dd_only else {"lo", "dd"}
            kind = "secure" if secure <= flags else "plain"
            where = "%s %x-%x %s %s" % (kind, start, end, perms, name)
            pos = start
            while pos < end:
                n = min(CHUNK + WINDOW, end - pos)
                try:
                    mem.seek(pos)
                    data = mem.read(n)
                except OSError as e:
                    print("unreadable %x-%x %s %s: %s" %
                          (start, end, perms, name, e.strerror))
                    break
                for a, b in candidate_runs(data, words):
                    for key, order, w in needles:
                        if (key, order, start) in seen:
                            continue
                        i = data.find(w, a, b)
                        if i != -1:
                            seen.add((key, order, start))
                            print("hit %s %s %x %s" % (key, order, pos + i,
                                                       where))
                pos += CHUNK
    return 0


def frame(body):
    return struct.pack(">I", len(body)) + body


def read_reply(sock):
    head = b""
    while len(head) < 4:
        part = sock.recv(4 - len(head))
        if not part:
            raise EOFError("the agent closed the connection")
        head += part
    want = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < want:
        part = sock.recv(want - len(body))
        if not part:
            raise EOFError("the agent closed the connection")
        body += part
    return body


def hold(path, keyfile, after_list):
    add = frame(bytes([17]) + key_private(keyfile)[1])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    first = frame(bytes([11])) if after_list else b""
    sock.sendall(first + add[:-1])
    if after_list and read_reply(sock)[0] != 12:
        sys.exit("the agent did not answer the key list request")
    # The agent has read all it was sent once nothing is left unread in
    # the socket (SIOCOUTQ counts the bytes the peer has not taken).
    deadline = time.monotonic() + 20
    while struct.unpack("i", fcntl.ioctl(sock, termios.TIOCOUTQ,
                                         b"\0" * 4))[0] != 0:
        if time.monotonic() > deadline:
            sys.exit("the agent did not read the request")
        time.sleep(0.01)
    print("held", flush=True)
    sys.stdin.readline()
    sock.sendall(add[-1:])
    print("reply %d" % read_reply(sock)[0], flush=True)
    return 0


def main():
    if len(sys.argv) >= 5 and sys.argv[1:3] == ["scan", "--dd-only"]:
        return scan(int(sys.argv[3]), sys.argv[4:], True)
    if len(sys.argv) >= 4 and sys.argv[1] == "scan":
        return scan(int(sys.argv[2]), sys.argv[3:], False)
    if len(sys.argv) in (4, 5) and sys.argv[1] == "hold":
        return hold(sys.argv[2], sys.argv[3], sys.argv[4:] == ["--after-list"])
    sys.exit("usage: memscan.py scan [--dd-only] PID KEYFILE... | "
             "hold SOCKET KEYFILE [--after-list]")


if __name__ == "__main__":
    sys.exit(main())
