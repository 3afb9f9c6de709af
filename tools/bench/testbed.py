"""The benchmark's network-namespace testbeds: the routed one of shared/TESTBED.md (the default)

    ns cli (N.1.2) --veth-- ns proxy (N.1.1 on "in"; N.(10+i).1 on "d<i>") --veth-- ns s<i> (N.(10+i).2)

and the same in IPv6 (Q:1::2, Q:1::1 and Q:(10+i)::1, Q:(10+i)::2, one /64 per link), for the IPv6 rows;
and the two same-segment ones: through a bridge (SegmentTestbed, `--topology segment`) and without one
(LinkTestbed, `--topology link`).

The sinks count the datagrams they are sent with an nftables counter at the netdev ingress hook and drop them
there, so counting costs almost nothing and ARP and everything else still pass.
"""
import os
import shutil
import subprocess
import tempfile

import xdpgen

NETWORK = "10.203"
NETWORK6 = "fd00:203"
LISTEN_PORT = 5514
SINK_PORT = 6000


def sh(cmd, check=True):
    result = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"`{cmd}` exited {result.returncode}: {result.stdout}{result.stderr}")
    return result.stdout


class Testbed:
    # segment: the proxy reaches the sinks out of the interface it receives on (af_xdp then uses its TX ring).
    segment = False

    def __init__(self, downstreams=3, generator="trafgen"):
        # trafgen (skbs from a packet socket) or xdp (XDP frames, as a NIC delivers them; see xdpgen.py).
        self.generator = generator
        self._xdpgen = {}
        self.id = f"ufb{os.getpid() % 10000:x}"
        self.downstreams = downstreams
        self.cli, self.proxy = f"{self.id}-cli", f"{self.id}-proxy"
        self.sinks = [f"{self.id}-s{i}" for i in range(downstreams)]
        self.client_if, self.proxy_if = f"{self.id}c", f"{self.id}in"
        self.client_addr, self.proxy_addr = f"{NETWORK}.1.2", f"{NETWORK}.1.1"
        self.client_addr6, self.proxy_addr6 = f"{NETWORK6}:1::2", f"{NETWORK6}:1::1"

    def sink_addr(self, i):
        return f"{NETWORK}.{11 + i}.2"

    def sink_addr6(self, i):
        return f"{NETWORK6}:{11 + i}::2"

    def ns(self, name, cmd, check=True):
        return sh(f"ip netns exec {name} {cmd}", check)

    def __enter__(self):
        try:
            self._build()
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for name in [self.cli, self.proxy, *self.sinks]:
            sh(f"ip netns del {name}", check=False)
        if self._xdpgen:
            shutil.rmtree(os.path.dirname(next(iter(self._xdpgen.values()))), ignore_errors=True)

    def xdp_generator(self, template, many_ports):
        """The XDP generator's object for frames like `template` from this testbed's client veth, built once."""
        key = (template, many_ports)
        if key not in self._xdpgen:
            directory = os.path.dirname(next(iter(self._xdpgen.values()))) if self._xdpgen else tempfile.mkdtemp(prefix="ufb-xdpgen-")
            self._xdpgen[key] = xdpgen.build(self, directory, template, many_ports)
        return self._xdpgen[key]

    def _take_xdp_frames(self):
        """With the XDP generator, GRO on the proxy's end gives its veth the NAPI that takes XDP frames from the
        client's end, as a NIC has its RX ring, whether or not an XDP program runs there."""
        if self.generator == "xdp":
            self.ns(self.proxy, f"ethtool -K {self.proxy_if} gro on")

    def _build(self):
        for name in [self.cli, self.proxy, *self.sinks]:
            sh(f"ip netns add {name}")
            self.ns(name, "ip link set lo up")
        sh(f"ip link add {self.client_if} netns {self.cli} type veth peer name {self.proxy_if} netns {self.proxy}")
        self.ns(self.cli, f"ip addr add {self.client_addr}/24 dev {self.client_if}")
        self.ns(self.cli, f"ip link set {self.client_if} up")
        self.ns(self.cli, f"ip route add {NETWORK}.0.0/16 via {self.proxy_addr}")
        # nodad: the addresses work at once, without duplicate address detection's wait.
        self.ns(self.cli, f"ip addr add {self.client_addr6}/64 dev {self.client_if} nodad")
        self.ns(self.cli, f"ip -6 route add {NETWORK6}::/32 via {self.proxy_addr6}")
        self.ns(self.proxy, f"ip addr add {self.proxy_addr}/24 dev {self.proxy_if}")
        self.ns(self.proxy, f"ip addr add {self.proxy_addr6}/64 dev {self.proxy_if} nodad")
        self.ns(self.proxy, f"ip link set {self.proxy_if} up")
        self.ns(self.proxy, "sysctl -qw net.ipv4.ip_forward=1")
        self.ns(self.proxy, "sysctl -qw net.ipv6.conf.all.forwarding=1")
        for i, sink in enumerate(self.sinks):
            inside, outside = f"{self.id}s{i}", f"{self.id}d{i}"
            sh(f"ip link add {inside} netns {sink} type veth peer name {outside} netns {self.proxy}")
            self.ns(sink, f"ip addr add {self.sink_addr(i)}/24 dev {inside}")
            self.ns(sink, f"ip link set {inside} up")
            # GRO on the sink's end gives its veth the NAPI that takes XDP frames, as a NIC has: tc_ebpf's XDP layer
            # then sends to it at XDP. It changes nothing for UDP that is not GRO'd, so every system gets it.
            self.ns(sink, f"ethtool -K {inside} gro on")
            self.ns(sink, f"ip route add default via {NETWORK}.{11 + i}.1")
            self.ns(sink, f"ip addr add {self.sink_addr6(i)}/64 dev {inside} nodad")
            self.ns(sink, f"ip -6 route add default via {NETWORK6}:{11 + i}::1")
            self.ns(self.proxy, f"ip addr add {NETWORK}.{11 + i}.1/24 dev {outside}")
            self.ns(self.proxy, f"ip addr add {NETWORK6}:{11 + i}::1/64 dev {outside} nodad")
            self.ns(self.proxy, f"ip link set {outside} up")
            self._count_at(sink, inside)
            # Resolve the neighbours once, so the first measured packets do not wait for ARP or NDP.
            self.ns(self.proxy, f"ping -c 1 -W 1 {self.sink_addr(i)}", check=False)
            self.ns(self.proxy, f"ping -6 -c 1 -W 1 {self.sink_addr6(i)}", check=False)
        self.ns(self.cli, f"ping -c 1 -W 1 {self.proxy_addr}", check=False)
        self.ns(self.cli, f"ping -6 -c 1 -W 1 {self.proxy_addr6}", check=False)
        self._take_xdp_frames()

    def _count_at(self, ns, ifname, match=""):
        """The sink's counter: datagrams to the sink port (and `match`) arriving at `ifname`, counted and dropped."""
        self.ns(ns, "nft add table netdev sink")
        self.ns(ns, f"nft 'add chain netdev sink in {{ type filter hook ingress device {ifname} priority 0; }}'")
        self.ns(ns, f"nft add rule netdev sink in {match} udp dport {SINK_PORT} counter drop")

    def mac(self, ns, ifname):
        return self.ns(ns, f"cat /sys/class/net/{ifname}/address").strip()

    def counting_namespaces(self):
        """The namespaces whose _count_at counters the sinks' datagrams land in."""
        return self.sinks

    def delivered(self):
        """Datagrams counted by the sinks so far."""
        total = 0
        for ns in self.counting_namespaces():
            out = self.ns(ns, "nft list chain netdev sink in")
            for token in out.split("packets ")[1:]:
                total += int(token.split()[0])
        return total


class SegmentTestbed(Testbed):
    """The same-segment topology: the client, the proxy and the sinks all on one bridge (in a namespace of its own),
    one subnet, so the proxy sends to the sinks out of the interface it receives on (af_xdp's TX ring serves them):

        ns cli (N.1.2) --+
        ns proxy (N.1.1) +-- bridge in ns br -- ns s<i> (N.1.(11+i))
    """
    segment = True

    def __init__(self, downstreams=3, generator="trafgen"):
        super().__init__(downstreams, generator)
        self.id = f"ufs{os.getpid() % 10000:x}"
        self.br = f"{self.id}-br"
        self.cli, self.proxy = f"{self.id}-cli", f"{self.id}-proxy"
        self.sinks = [f"{self.id}-s{i}" for i in range(downstreams)]
        self.client_if, self.proxy_if = f"{self.id}c", f"{self.id}in"

    def sink_addr(self, i):
        return f"{NETWORK}.1.{11 + i}"

    def __exit__(self, *exc):
        for name in [self.br, self.cli, self.proxy, *self.sinks]:
            sh(f"ip netns del {name}", check=False)

    def _attach(self, ns, inside, port, addr):
        sh(f"ip link add {inside} netns {ns} type veth peer name {port} netns {self.br}")
        self.ns(self.br, f"ip link set {port} master {self.id}br")
        self.ns(self.br, f"ip link set {port} up")
        self.ns(ns, f"ip addr add {addr}/24 dev {inside}")
        self.ns(ns, f"ip link set {inside} up")

    def _build(self):
        for name in [self.br, self.cli, self.proxy, *self.sinks]:
            sh(f"ip netns add {name}")
            self.ns(name, "ip link set lo up")
        self.ns(self.br, f"ip link add {self.id}br type bridge")
        self.ns(self.br, f"ip link set {self.id}br up")
        self._attach(self.cli, self.client_if, f"{self.id}bc", self.client_addr)
        self._attach(self.proxy, self.proxy_if, f"{self.id}bp", self.proxy_addr)
        # nftables forwards back out of the interface it received on: no ICMP redirects for that.
        self.ns(self.proxy, "sysctl -qw net.ipv4.ip_forward=1")
        self.ns(self.proxy, "sysctl -qw net.ipv4.conf.all.send_redirects=0")
        self.ns(self.proxy, f"sysctl -qw net.ipv4.conf.{self.proxy_if}.send_redirects=0")
        for i, sink in enumerate(self.sinks):
            inside = f"{self.id}s{i}"
            self._attach(sink, inside, f"{self.id}b{i}", self.sink_addr(i))
            self._count_at(sink, inside)
            self.ns(self.proxy, f"ping -c 1 -W 1 {self.sink_addr(i)}", check=False)
        self.ns(self.cli, f"ping -c 1 -W 1 {self.proxy_addr}", check=False)
        self._take_xdp_frames()


class LinkTestbed(Testbed):
    """The same-segment topology without a bridge (`--topology link`): one veth pair, and the sinks are addresses
    of the client's namespace on the client's end, in the subnet of the client and the proxy, so the proxy sends to
    every sink back out of the interface it receives on, and the sinks' frames arrive at the client's end:

        ns cli (N.1.2, and the sinks N.1.(11+i)) --veth-- ns proxy (N.1.1)

    On the bridge every datagram crosses a software switch twice and becomes an skb there, a per-datagram cost
    that a hardware switch does not put on the host, charged to every system alike; here nothing lies between the
    proxy and the generator or the sinks but the veth pair, as between a NIC and its switch port. The counter
    matches the sink addresses at the client's ingress, so the generator's own frames (egress) are not counted.
    """
    segment = True

    def __init__(self, downstreams=3, generator="trafgen"):
        super().__init__(downstreams, generator)
        self.id = f"ufl{os.getpid() % 10000:x}"
        self.cli, self.proxy = f"{self.id}-cli", f"{self.id}-proxy"
        # No sink namespaces: the sinks are addresses in the client's.
        self.sinks = []
        self.client_if, self.proxy_if = f"{self.id}c", f"{self.id}in"

    def sink_addr(self, i):
        return f"{NETWORK}.1.{11 + i}"

    def counting_namespaces(self):
        return [self.cli]

    def _build(self):
        for name in [self.cli, self.proxy]:
            sh(f"ip netns add {name}")
            self.ns(name, "ip link set lo up")
        sh(f"ip link add {self.client_if} netns {self.cli} type veth peer name {self.proxy_if} netns {self.proxy}")
        for addr in [self.client_addr, *(self.sink_addr(i) for i in range(self.downstreams))]:
            self.ns(self.cli, f"ip addr add {addr}/24 dev {self.client_if}")
        self.ns(self.cli, f"ip link set {self.client_if} up")
        # As at the routed testbed's sinks, so that every testbed's receiving ends are alike.
        self.ns(self.cli, f"ethtool -K {self.client_if} gro on")
        self.ns(self.proxy, f"ip addr add {self.proxy_addr}/24 dev {self.proxy_if}")
        self.ns(self.proxy, f"ip link set {self.proxy_if} up")
        # nftables and userspace send back out of the interface they received on: no ICMP redirects for that.
        self.ns(self.proxy, "sysctl -qw net.ipv4.ip_forward=1")
        self.ns(self.proxy, "sysctl -qw net.ipv4.conf.all.send_redirects=0")
        self.ns(self.proxy, f"sysctl -qw net.ipv4.conf.{self.proxy_if}.send_redirects=0")
        sinks = ", ".join(self.sink_addr(i) for i in range(self.downstreams))
        self._count_at(self.cli, self.client_if, f"ip daddr {{ {sinks} }}")
        for i in range(self.downstreams):
            self.ns(self.proxy, f"ping -c 1 -W 1 {self.sink_addr(i)}", check=False)
        self.ns(self.cli, f"ping -c 1 -W 1 {self.proxy_addr}", check=False)
        self._take_xdp_frames()
