"""The systems the benchmark compares, each started in the proxy namespace of a Testbed and stopped after.

Every system is a context manager; `pid` (when there is a process) lets the harness read its resident memory.
"""
import os
import re
import subprocess
import tempfile
import time

from testbed import LISTEN_PORT, SINK_PORT, sh

# The daemon's metrics, inside the proxy namespace.
METRICS_PORT = 9718


class Baseline:
    """Drops the listener's datagrams at the proxy's ingress: the cost of receiving alone."""
    name = "baseline (drop at proxy)"
    pid = None

    def __init__(self, bed):
        self.bed = bed

    def __enter__(self):
        b = self.bed
        b.ns(b.proxy, "nft add table netdev base")
        b.ns(b.proxy, f"nft 'add chain netdev base in {{ type filter hook ingress device {b.proxy_if} priority 0; }}'")
        b.ns(b.proxy, f"nft add rule netdev base in udp dport {LISTEN_PORT} counter drop")
        return self

    def __exit__(self, *exc):
        self.bed.ns(self.bed.proxy, "nft delete table netdev base", check=False)


class XdpDropBaseline:
    """Drops the listener's datagrams at XDP on the proxy's ingress: the rate the generator reaches with no skb at all."""
    name = "baseline (XDP drop at proxy)"
    pid = None
    PROGRAM = """
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
SEC("xdp")
int drop_listener(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip = (void *)(eth + 1);
    struct udphdr *udp = (void *)(ip + 1);
    if ((void *)(udp + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP) || ip->protocol != 17)
        return XDP_PASS;
    return udp->dest == bpf_htons(%d) ? XDP_DROP : XDP_PASS;
}
char LICENSE[] SEC("license") = "GPL";
"""

    def __init__(self, bed):
        self.bed = bed
        self.dir = tempfile.mkdtemp(prefix="ufb-xdpdrop-")

    def __enter__(self):
        with open(f"{self.dir}/drop.c", "w") as f:
            f.write(self.PROGRAM % LISTEN_PORT)
        triplet = subprocess.run(["gcc", "-dumpmachine"], capture_output=True, text=True).stdout.strip()
        sh(f"clang -O2 -target bpf -I/usr/include/{triplet} -c {self.dir}/drop.c -o {self.dir}/drop.o")
        self.bed.ns(self.bed.proxy, f"ip link set dev {self.bed.proxy_if} xdpdrv obj {self.dir}/drop.o sec xdp")
        return self

    def __exit__(self, *exc):
        self.bed.ns(self.bed.proxy, f"ip link set dev {self.bed.proxy_if} xdpdrv off", check=False)
        sh(f"rm -rf {self.dir}", check=False)


class Nftables:
    """Stateless round robin in the kernel: notrack, then rewrite the destination from numgen (ip or ip6)."""
    pid = None

    def __init__(self, bed, family=4):
        self.bed, self.family = bed, family
        self.table = "ip fanout" if family == 4 else "ip6 fanout"
        self.name = "nftables numgen" + ("" if family == 4 else " IPv6")

    def __enter__(self):
        b = self.bed
        sink, proxy, daddr = (b.sink_addr, b.proxy_addr, "ip daddr") if self.family == 4 else (b.sink_addr6, b.proxy_addr6, "ip6 daddr")
        targets = ", ".join(f"{i} : {sink(i)}" for i in range(b.downstreams))
        rules = f"""
table {self.table} {{
  chain pre {{
    type filter hook prerouting priority raw; policy accept;
    {daddr} {proxy} udp dport {LISTEN_PORT} notrack {daddr} set numgen inc mod {b.downstreams} map {{ {targets} }} udp dport set {SINK_PORT}
  }}
}}
"""
        with tempfile.NamedTemporaryFile("w", suffix=".nft", delete=False) as f:
            f.write(rules)
        b.ns(b.proxy, f"nft -f {f.name}")
        os.unlink(f.name)
        return self

    def __exit__(self, *exc):
        self.bed.ns(self.bed.proxy, f"nft delete table {self.table}", check=False)


class Process:
    """A proxy process in the proxy namespace, ready once `ready` appears in its output or a port is bound."""
    pid = None

    def __init__(self, bed, argv, ready):
        self.bed, self.argv, self.ready = bed, argv, ready

    def __enter__(self):
        self.log = tempfile.NamedTemporaryFile("w+", suffix=".log")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.bed.proxy, *self.argv], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited {self.proc.returncode}: {open(self.log.name).read()}")
            if self.ready():
                self.pid = self._inner_pid()
                return self
            time.sleep(0.1)
        raise RuntimeError(f"{self.argv[0]} not ready after 20 s: {open(self.log.name).read()}")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()

    def _inner_pid(self):
        # ip netns exec execs the program, so the child's pid is the program's.
        return self.proc.pid

    def udp_bound(self):
        out = self.bed.ns(self.bed.proxy, "ss -uln", check=False)
        return f":{LISTEN_PORT} " in out


class Nginx(Process):
    """nginx's stream module as a UDP proxy: one worker, no responses expected."""

    def __init__(self, bed):
        self.dir = tempfile.mkdtemp(prefix="ufb-nginx-")
        servers = "\n".join(f"    server {bed.sink_addr(i)}:{SINK_PORT};" for i in range(bed.downstreams))
        conf = f"""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
worker_processes 1;
daemon off;
master_process off;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log warn;
events {{ worker_connections 4096; }}
stream {{
  upstream sinks {{
{servers}
  }}
  server {{
    listen {bed.proxy_addr}:{LISTEN_PORT} udp;
    proxy_pass sinks;
    proxy_responses 0;
    proxy_timeout 1s;
  }}
}}
"""
        with open(f"{self.dir}/nginx.conf", "w") as f:
            f.write(conf)
        super().__init__(bed, ["nginx", "-c", f"{self.dir}/nginx.conf", "-p", self.dir], self.udp_bound)
        self.name = "nginx stream (1 worker)"

    def __exit__(self, *exc):
        super().__exit__(*exc)
        sh(f"rm -rf {self.dir}", check=False)


class UdpFanout(Process):
    """The daemon itself, with a generated config for one listener in the given mode, over IPv4 or IPv6."""

    def __init__(self, bed, binary, mode, workers=1, balance="round_robin", family=4, preserve_source=False, xdp=None):
        self.dir = tempfile.mkdtemp(prefix="ufb-fanout-")
        self.family = family
        # source_ip_port: the generator sends from one address and many ports, which spread only by port.
        balancing = "    balance: source_hash\n    hash_key: source_ip_port\n" if balance == "source_hash" else ""
        sink, proxy = (bed.sink_addr, bed.proxy_addr) if family == 4 else ((lambda i: f"[{bed.sink_addr6(i)}]"), f"[{bed.proxy_addr6}]")
        downstream = "\n".join(
            f"      - {{ name: s{i}, address: \"{sink(i)}:{SINK_PORT}\" }}" for i in range(bed.downstreams))
        interface = f"    interface: {bed.proxy_if}\n" if mode != "userspace" else ""
        preserve = "    preserve_source: true\n" if preserve_source else ""
        # tc_ebpf's default (xdp: auto) runs the TC program alone on the testbed's veths; on forces the XDP layer.
        interface += f"    xdp: {xdp}\n" if xdp else ""
        config = f"""listeners:
  - name: bench
    bind: "{proxy}:{LISTEN_PORT}"
    mode: {mode}
{interface}{balancing}{preserve}    workers: {workers}
    downstream:
{downstream}
metrics: {{ enabled: true, bind: "127.0.0.1:{METRICS_PORT}" }}
"""
        with open(f"{self.dir}/config.yaml", "w") as f:
            f.write(config)
        super().__init__(bed, [binary, "--config", f"{self.dir}/config.yaml"], self._started)
        # On the segment af_xdp with preserve_source sends from its TX ring (the daemon picks it by the routes).
        self.name = (f"udp-fanout {mode}" + (f" ({workers} worker{'s' if workers > 1 else ''})" if mode == "userspace" else "")
                     + (" (TX ring)" if mode == "af_xdp" and preserve_source and bed.segment else "")
                     + (" source_hash" if balance == "source_hash" else "")
                     + (" preserve_source" if preserve_source and not (mode == "af_xdp" and bed.segment) else "")
                     + (f" xdp: {xdp}" if xdp else "")
                     # Last, so an IPv6 row is its IPv4 row's name plus " IPv6" (the report pairs them so).
                     + ("" if family == 4 else " IPv6"))

    def _started(self):
        return "listener bench started" in open(self.log.name).read()

    def accounting(self):
        """The daemon's own account since it started: received, forwarded and each drop reason, from its metrics
        (scraped between runs, never while one is measured), so a row that delivers less says where the rest went."""
        text = self.bed.ns(self.bed.proxy, f"curl -s --max-time 10 http://127.0.0.1:{METRICS_PORT}/metrics", check=False)
        totals = {}
        for line in text.splitlines():
            m = re.match(r'udp_fanout_(packets_received|packets_forwarded|packets_dropped|[a-z_]*passed[a-z_]*|'
                         r'source_not_kept|worker_restarts|afxdp_rx_frames|ipv6_[a-z_]*|afxdp_rx_ring_empty|afxdp_rx_fill_ring_empty_descs|'
                         r'afxdp_tx_frames|afxdp_tx_neighbour_miss)_total\{([^}]*)\} (\S+)', line)
            if m and 'listener="bench"' in m.group(2):
                # The reason of a drop or pass, the queue of a frame count: what tells one row's losses apart.
                label = re.search(r'(?:reason|queue)="([^"]*)"', m.group(2))
                key = m.group(1) + (f"[{label.group(1)}]" if label else "")
                totals[key] = totals.get(key, 0) + float(m.group(3))
        return {k: int(v) for k, v in totals.items() if v}

    def __exit__(self, *exc):
        super().__exit__(*exc)
        sh(f"rm -rf {self.dir}", check=False)
