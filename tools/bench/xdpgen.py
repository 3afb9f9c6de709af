"""The XDP generator (`--generator xdp`): frames made by the kernel from a template and sent with an XDP redirect out
of the client's veth (BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, as xdp-trafficgen does; xdp-tools 1.3's own
tool does not load on this kernel). They reach the proxy's veth as XDP frames, never as skbs, which is what a NIC
hands its driver. With trafgen every datagram starts as an skb, so a veth has to turn it into an XDP frame (a copy)
before any XDP program sees it: a cost no NIC has, charged to exactly the paths that run at XDP.

Imported by measure.py for the template and the build; run as a script inside the client's namespace to send:
    python3 xdpgen.py OBJECT FRAME_HEX RATE [COUNT]     (RATE 0: flat out; paced, it stops after COUNT frames if given, else it runs until killed)
"""
import ctypes
import os
import socket
import struct
import subprocess
import sys
import time

PROGRAM = r"""
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/* HEADERS (the template's Ethernet, IP and UDP headers), IFINDEX and MANY_PORTS come from the command line. */
static const __u8 headers[] = { HEADERS };

/* The headers are written afresh every time: a live frame's page comes back from the proxy, which rewrote them
 * (destination, MACs, TTL), and the kernel does not initialise a page again. Then a random source port per frame
 * (many ports), with the UDP checksum updated to match: the same spread as trafgen's drnd(1024, 65000). */
SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct udphdr *udp = data + sizeof(headers) - sizeof(struct udphdr);
    if (data + sizeof(headers) > end)
        return XDP_ABORTED;
    __builtin_memcpy(data, headers, sizeof(headers));
    if (MANY_PORTS) {
        __u16 old = udp->source, port = bpf_htons(1024 + bpf_get_prandom_u32() % 63977);
        udp->source = port;
        if (udp->check) {
            /* One's complement arithmetic gives the same result in either byte order. */
            __u32 sum = (__u16)~udp->check + (__u16)~old + port;
            sum = (sum & 0xffff) + (sum >> 16);
            sum = (sum & 0xffff) + (sum >> 16);
            udp->check = (__u16)~sum ? (__u16)~sum : 0xffff;
        }
    }
    return bpf_redirect(IFINDEX, 0);
}
char LICENSE[] SEC("license") = "GPL";
"""

BPF_F_TEST_XDP_LIVE_FRAMES = 1 << 1


def build(bed, directory, template, many_ports):
    """Compiles the generator of frames like `template` for the client's veth; returns the object's path."""
    ifindex = int(bed.ns(bed.cli, f"cat /sys/class/net/{bed.client_if}/ifindex"))
    header_length = 14 + (20 if template[12:14] == b"\x08\x00" else 40) + 8
    name = f"{directory}/xdpgen-{len(template)}-{template[12:14].hex()}-{int(many_ports)}"
    with open(f"{directory}/xdpgen.bpf.c", "w") as f:
        f.write(PROGRAM)
    triplet = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip() or "x86_64-linux-gnu"
    subprocess.run(["clang", "-O2", "-g", "-target", "bpf", f"-I/usr/include/{triplet}", f"-DIFINDEX={ifindex}",
                    f"-DMANY_PORTS={int(many_ports)}", f"-DHEADERS={','.join(str(b) for b in template[:header_length])}",
                    "-c", f"{directory}/xdpgen.bpf.c", "-o", f"{name}.o"], check=True)
    return f"{name}.o"


def _checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(bed, size, family, listen_port):
    """One Ethernet frame from the client to the listener, checksums valid, as trafgen would build it."""
    payload = b"\x41" * max(size, 1)
    sport = 40000
    udp_length = 8 + len(payload)
    if family == 4:
        src, dst = socket.inet_aton(bed.client_addr), socket.inet_aton(bed.proxy_addr)
        pseudo = src + dst + struct.pack("!BBH", 0, 17, udp_length)
        ethertype = 0x0800
    else:
        src, dst = socket.inet_pton(socket.AF_INET6, bed.client_addr6), socket.inet_pton(socket.AF_INET6, bed.proxy_addr6)
        pseudo = src + dst + struct.pack("!IxxxB", udp_length, 17)
        ethertype = 0x86DD
    udp = struct.pack("!HHHH", sport, listen_port, udp_length, 0) + payload
    check = _checksum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack("!H", check) + udp[8:]
    if family == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    else:
        ip = struct.pack("!IHBB16s16s", 6 << 28, len(udp), 17, 64, src, dst)
    mac = lambda text: bytes.fromhex(text.replace(":", ""))
    return mac(bed.mac(bed.proxy, bed.proxy_if)) + mac(bed.mac(bed.cli, bed.client_if)) + struct.pack("!H", ethertype) + ip + udp


def offered(bed):
    """Frames the generator has pushed into the client's veth, taken by the proxy's end or not (its ring full)."""
    return sum(handed(bed))


def handed(bed):
    """Frames the client's veth has handed its peer as XDP frames (ndo_xdp_xmit), and those the peer refused."""
    stats = {}
    for line in bed.ns(bed.cli, f"ethtool -S {bed.client_if}").splitlines():
        key, _, value = line.strip().partition(": ")
        stats[key] = value
    return int(stats.get("tx_queue_0_xdp_xmit", 0)), int(stats.get("tx_queue_0_xdp_xmit_errors", 0))


class _RunOptions(ctypes.Structure):
    """libbpf's struct bpf_test_run_opts (1.1)."""
    _fields_ = [("sz", ctypes.c_size_t), ("data_in", ctypes.c_void_p), ("data_out", ctypes.c_void_p),
                ("data_size_in", ctypes.c_uint32), ("data_size_out", ctypes.c_uint32),
                ("ctx_in", ctypes.c_void_p), ("ctx_out", ctypes.c_void_p),
                ("ctx_size_in", ctypes.c_uint32), ("ctx_size_out", ctypes.c_uint32),
                ("retval", ctypes.c_uint32), ("repeat", ctypes.c_int), ("duration", ctypes.c_uint32),
                ("flags", ctypes.c_uint32), ("cpu", ctypes.c_uint32), ("batch_size", ctypes.c_uint32)]


def main(obj_path, frame_hex, rate, count=None):
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    lib.bpf_object__open_file.restype = ctypes.c_void_p
    lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.bpf_object__load.argtypes = [ctypes.c_void_p]
    lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
    lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.bpf_program__fd.argtypes = [ctypes.c_void_p]
    obj = lib.bpf_object__open_file(obj_path.encode(), None)
    if not obj or lib.bpf_object__load(obj) != 0:
        sys.exit(f"xdpgen: cannot load {obj_path}: errno {ctypes.get_errno()}")
    fd = lib.bpf_program__fd(lib.bpf_object__find_program_by_name(obj, b"xdp_gen"))
    data = bytes.fromhex(frame_hex)
    buffer = ctypes.create_string_buffer(data, len(data))

    def send(count):
        opts = _RunOptions(sz=ctypes.sizeof(_RunOptions), data_in=ctypes.cast(buffer, ctypes.c_void_p),
                           data_size_in=len(data), repeat=count, flags=BPF_F_TEST_XDP_LIVE_FRAMES, batch_size=64)
        if lib.bpf_prog_test_run_opts(fd, ctypes.byref(opts)) != 0:
            sys.exit(f"xdpgen: BPF_PROG_RUN failed: errno {ctypes.get_errno()}")

    if rate == 0:
        while True:
            send(1 << 20)
    # Paced per millisecond: what is due by now, in one call.
    start, sent = time.monotonic(), 0
    while count is None or sent < count:
        due = int((time.monotonic() - start) * rate)
        if count is not None:
            due = min(due, count)
        if due > sent:
            send(due - sent)
            sent = due
        time.sleep(0.0005)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else None)
