"""The control plane at scale: for 10 to 10,000 downstreams, what health checks, scrapes, memory and reloads cost.

Everything runs in one network namespace of its own (loopback only). Downstreams live at 127.x.y.z on one port;
one echo responder answers UDP-echo probes for all of them from the address each probe went to (IP_PKTINFO),
and the kernel answers ICMP echo. Per count it measures: the daemon's CPU (utime + stime from /proc) over a
window with health checks on at a 1 s interval, for each protocol; the time of a /metrics scrape; the resident
memory above an idle daemon (one listener, one downstream, no health checks); and the time from SIGHUP to
"reload applied" for a config whose downstreams changed (half of them replaced). For the largest count it also
times discovery: a listener follows a service of that many endpoints on a Kubernetes API stand-in (the list and
watch calls of EndpointSlice discovery, in the same namespace), and a watch event replaces a tenth of them; the
time runs from the event's sending to the daemon's "has N ready endpoints" line, logged once the data path has the
new set.
"""
import os
import queue
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
import urllib.request

NS = "ufb-cp"
PORT = 7000
METRICS_PORT = 9718
LISTEN_BASE = 5000
PER_LISTENER = 1000


def sh(cmd, check=True):
    return subprocess.run(cmd, shell=True, check=check, capture_output=True, text=True).stdout


def address(i):
    return f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"


def config(count, protocol, generation=0):
    """Listeners of at most 1,000 downstreams each; generation > 0 replaces half of them with new addresses."""
    listeners = max(1, (count + PER_LISTENER - 1) // PER_LISTENER)
    lines = ["listeners:"]
    for n in range(listeners):
        members = range(n * count // listeners, (n + 1) * count // listeners)
        lines += [f"  - name: l{n}", f"    bind: \"127.0.0.1:{LISTEN_BASE + n}\"", "    downstream:"]
        for i in members:
            j = i + count * generation if i % 2 else i
            lines.append(f"      - {{ name: d{j}, address: \"{address(j)}:{PORT}\" }}")
    if protocol:
        lines.append(f"health: {{ enabled: true, protocol: {protocol}, interval_secs: 1, timeout_secs: 0.5 }}")
    lines.append(f"metrics: {{ enabled: true, bind: \"127.0.0.1:{METRICS_PORT}\" }}")
    return "\n".join(lines) + "\n"


class Responder:
    """UDP echo for every 127.x address on PORT, answering from the probed address; runs inside the namespace."""

    def __enter__(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS, "/usr/bin/python3", "-c", RESPONDER, str(PORT)])
        time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


RESPONDER = r"""
import socket, struct, sys
IP_PKTINFO = 8
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, anc, _, src = s.recvmsg(64, 64)
    for level, kind, info in anc:
        if level == socket.IPPROTO_IP and kind == IP_PKTINFO:
            dst = info[8:12]
            s.sendmsg([data], [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("i4s4s", 0, dst, bytes(4)))], 0, src)
"""


class KubernetesApi:
    """The API server as far as EndpointSlice discovery uses it, inside the namespace: a paged list, and one watch
    stream that carries the MODIFIED events the bench asks for (on the stand-in's stdin) as chunked JSON lines."""

    def __init__(self, directory, count):
        self.count = count
        self.kubeconfig = f"{directory}/kubeconfig"
        with open(self.kubeconfig, "w") as f:
            f.write(KUBECONFIG.format(port=API_PORT))

    def __enter__(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS, "/usr/bin/python3", "-c", API_SERVER, str(API_PORT),
                                      str(self.count), str(PORT)], stdin=subprocess.PIPE, text=True)
        time.sleep(0.5)
        return self

    def replace_tenth(self, generation):
        """Sends one watch event: the first slice (a tenth of the endpoints) with addresses of that generation."""
        self.proc.stdin.write(f"{generation}\n")
        self.proc.stdin.flush()

    def __exit__(self, *exc):
        self.proc.kill()
        self.proc.wait()


API_PORT = 6443
SERVICE = "receivers"
SLICES = 10  # of a tenth each: one slice's event replaces 10 % (Kubernetes allows up to 1,000 endpoints a slice)

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
  - name: bench
    cluster: {{ server: "http://127.0.0.1:{port}" }}
contexts:
  - name: bench
    context: {{ cluster: bench, user: bench, namespace: bench }}
current-context: bench
users:
  - name: bench
    user: {{ token: bench }}
"""

API_SERVER = r"""
import http.server, json, sys, threading, urllib.parse
port, count, target = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
SLICES = 10
version = [1000]
events = []
changed = threading.Condition()

def address(i):
    return f"127.{1 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}"

def slice_of(n, generation):
    version[0] += 1
    members = range(n * count // SLICES, (n + 1) * count // SLICES)
    return {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
            "metadata": {"name": f"receivers-{n}", "namespace": "bench", "resourceVersion": str(version[0]),
                         "labels": {"kubernetes.io/service-name": "receivers"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [address(i + count * generation)], "conditions": {"ready": True, "serving": True, "terminating": False},
                           "targetRef": {"kind": "Pod", "namespace": "bench", "name": f"pod-{i + count * generation}"}} for i in members],
            "ports": [{"name": "data", "protocol": "UDP", "port": target}]}

slices = [slice_of(n, 0) for n in range(SLICES)]

class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        if query.get("watch") == ["true"]:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            seen = len(events)
            try:
                while True:
                    with changed:
                        changed.wait_for(lambda: len(events) > seen)
                        pending, seen = events[seen:], len(events)
                    for event in pending:
                        line = (json.dumps({"type": "MODIFIED", "object": event}) + "\n").encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                        self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the daemon stopped
        offset = int(query.get("continue", ["0"])[0] or 0)
        limit = int(query.get("limit", [str(SLICES)])[0])
        page = slices[offset:offset + limit]
        metadata = {"resourceVersion": str(version[0])}
        if offset + limit < SLICES:
            metadata["continue"] = str(offset + limit)
        body = json.dumps({"kind": "EndpointSliceList", "apiVersion": "discovery.k8s.io/v1", "metadata": metadata,
                           "items": page}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
for line in sys.stdin:
    generation = int(line)
    with changed:
        slices[0] = slice_of(0, generation)
        events.append(slices[0])
        changed.notify_all()
"""


def discovery_config(count, kubeconfig):
    return (f"listeners:\n  - name: discovered\n    bind: \"127.0.0.1:{LISTEN_BASE}\"\n"
            f"    kubernetes: {{ namespace: bench, service: {SERVICE}, port: {PORT}, kubeconfig: \"{kubeconfig}\" }}\n"
            f"metrics: {{ enabled: true, bind: \"127.0.0.1:{METRICS_PORT}\" }}\n")


def discovery_seconds(binary, count):
    """Three watch events, each replacing a tenth of a count-endpoint service: the median and range of the time to apply."""
    directory = tempfile.mkdtemp(prefix="ufb-cp-api-")
    try:
        with KubernetesApi(directory, count) as api, Daemon(binary, discovery_config(count, api.kubeconfig)) as daemon:
            line = f"has {count} ready endpoints"
            deadline = time.time() + 30
            while daemon.output().count(line) == 0:
                if time.time() > deadline:
                    raise RuntimeError(f"discovery did not list {count} endpoints in 30 s: {daemon.output()[-2000:]}")
                time.sleep(0.05)
            times = []
            for generation in (1, 2, 1):
                time.sleep(1)
                before = daemon.output().count(line)
                start = time.perf_counter()
                api.replace_tenth(generation)
                while daemon.output().count(line) == before:
                    if time.perf_counter() - start > 30:
                        raise RuntimeError(f"the watch event was not applied in 30 s: {daemon.output()[-2000:]}")
                    time.sleep(0.002)
                times.append(time.perf_counter() - start)
            return sorted(times)
    finally:
        sh(f"rm -rf {directory}", check=False)


class Daemon:
    def __init__(self, binary, text):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="ufb-cp-")
        self.path = f"{self.dir}/config.yaml"
        with open(self.path, "w") as f:
            f.write(text)

    def __enter__(self):
        self.log = open(f"{self.dir}/out.log", "w+")
        self.proc = subprocess.Popen(["ip", "netns", "exec", NS, self.binary, "--config", self.path],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"udp-fanout exited {self.proc.returncode}: {self.output()}")
            if self.scrape_seconds(check=False) is not None:
                return self
            time.sleep(0.2)
        raise RuntimeError(f"udp-fanout not ready after 60 s: {self.output()}")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        sh(f"rm -rf {self.dir}", check=False)

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return None

    def scrape_seconds(self, check=True):
        """One scrape over a socket made inside the namespace; its wall time, or None when it fails and check is off."""
        code = (f"import time,urllib.request;t=time.perf_counter();"
                f"b=urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics',timeout=10).read();"
                f"print(time.perf_counter()-t,len(b))")
        result = subprocess.run(["ip", "netns", "exec", NS, "/usr/bin/python3", "-c", code], capture_output=True, text=True)
        if result.returncode != 0:
            if check:
                raise RuntimeError(result.stderr)
            return None
        seconds, size = result.stdout.split()
        self.scrape_bytes = int(size)
        return float(seconds)

    def reload_seconds(self, text):
        with open(self.path, "w") as f:
            f.write(text)
        before = self.output().count("reload applied")
        start = time.perf_counter()
        self.proc.send_signal(signal.SIGHUP)
        while self.output().count("reload applied") == before:
            if time.perf_counter() - start > 30:
                raise RuntimeError(f"no 'reload applied' 30 s after SIGHUP: {self.output()[-2000:]}")
            time.sleep(0.002)
        return time.perf_counter() - start


def measure(binary, counts, window):
    sh(f"ip netns del {NS}", check=False)
    sh(f"ip netns add {NS}")
    sh(f"ip netns exec {NS} ip link set lo up")
    results = {"counts": counts, "window": window}
    try:
        with Responder():
            with Daemon(binary, config(1, None)) as idle:
                time.sleep(2)
                results["idle_rss_kib"] = idle.rss_kib()
            rows = []
            for count in counts:
                row = {"count": count}
                for protocol in ("udp_echo", "icmp"):
                    with Daemon(binary, config(count, protocol)) as daemon:
                        time.sleep(3)  # every downstream probed at least twice, the set settled
                        cpu0, t0 = daemon.cpu_seconds(), time.perf_counter()
                        time.sleep(window)
                        row[f"cpu_{protocol}"] = (daemon.cpu_seconds() - cpu0) / (time.perf_counter() - t0)
                        row[f"down_{protocol}"] = daemon.output().count("is down after") + daemon.output().count("are down after")
                        if protocol == "udp_echo":
                            scrapes = sorted(daemon.scrape_seconds() for _ in range(7))
                            row["scrape_s"] = scrapes[len(scrapes) // 2]
                            row["scrape_range"] = (scrapes[0], scrapes[-1])
                            row["scrape_bytes"] = daemon.scrape_bytes
                            row["rss_kib"] = daemon.rss_kib()
                            reloads = sorted(daemon.reload_seconds(config(count, protocol, g)) for g in (1, 2, 1))
                            row["reload_s"] = reloads[1]
                            row["reload_range"] = (reloads[0], reloads[-1])
                print(f"   {count:>6} downstreams: CPU udp_echo {row['cpu_udp_echo'] * 100:5.1f} %, icmp {row['cpu_icmp'] * 100:5.1f} % of a core; "
                      f"scrape {row['scrape_s'] * 1000:6.1f} ms ({row['scrape_bytes'] / 1e6:.2f} MB); "
                      f"RSS {row['rss_kib'] / 1024:6.1f} MiB; reload {row['reload_s'] * 1000:6.1f} ms", flush=True)
                rows.append(row)
            results["rows"] = rows
            largest = max(counts)
            results["discovery"] = {"count": largest, "seconds": discovery_seconds(binary, largest)}
            times = results["discovery"]["seconds"]
            print(f"   discovery of {largest} endpoints: a watch event replacing a tenth applied in {times[1] * 1000:.0f} ms "
                  f"({times[0] * 1000:.0f}-{times[-1] * 1000:.0f})", flush=True)
    finally:
        sh(f"ip netns del {NS}", check=False)
    return results


def markdown(results, command, machine, when):
    idle = results["idle_rss_kib"]
    lines = [
        "# Control plane at scale",
        "",
        f"Made by `{command}` on {when:%Y-%m-%d %H:%M} UTC, {machine}. Userspace listeners of at most 1,000",
        "downstreams each on loopback in a namespace of their own; every downstream answers (UDP echo from one",
        "responder for all addresses, ICMP echo from the kernel). Health checks at a 1 s interval. CPU is the",
        f"daemon's own (utime + stime) over {results['window']:.0f} s, in % of one core; the scrape and reload are",
        "medians (range in brackets); memory is resident memory above an idle daemon (one listener, one downstream,",
        f"no health checks: {idle / 1024:.1f} MiB). The machines are shared and noisy: read the growth, not the digits.",
        "",
        "| downstreams | CPU, udp_echo | CPU, icmp | µs per probe (udp_echo, icmp) | scrape | scrape size | RSS above idle | per downstream | reload |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        n = r["count"]
        above = r["rss_kib"] - idle
        lines.append(
            f"| {n:,} | {r['cpu_udp_echo'] * 100:.1f} % | {r['cpu_icmp'] * 100:.1f} % | "
            f"{r['cpu_udp_echo'] * 1e6 / n:.1f}, {r['cpu_icmp'] * 1e6 / n:.1f} | "
            f"{r['scrape_s'] * 1000:.1f} ms ({r['scrape_range'][0] * 1000:.1f}-{r['scrape_range'][1] * 1000:.1f}) | "
            f"{r['scrape_bytes'] / 1e6:.2f} MB | {above / 1024:.1f} MiB | {above * 1024 / n:,.0f} B | "
            f"{r['reload_s'] * 1000:.0f} ms ({r['reload_range'][0] * 1000:.0f}-{r['reload_range'][1] * 1000:.0f}) |")
    lines += [""] + MEMORY
    if "discovery" in results:
        d = results["discovery"]
        times = d["seconds"]
        lines += [
            "",
            f"Discovery of a {d['count']:,}-endpoint service (one userspace listener, no health checks) from a Kubernetes",
            f"API stand-in in the same namespace ({SLICES} EndpointSlices); one MODIFIED event replaces one slice, a tenth",
            "of the endpoints. Timed from the event's sending to the daemon's \"has N ready endpoints\" line, which it logs",
            "once the data path has the new set; median of three (range):",
            "",
            "| endpoints | replaced by one watch event | applied |",
            "|---|---|---|",
            f"| {d['count']:,} | {d['count'] // SLICES:,} | {times[1] * 1000:.0f} ms ({times[0] * 1000:.0f}-{times[-1] * 1000:.0f}) |",
        ]
    lines += ["", "![control plane cost against the number of downstreams](control-plane.png)", ""]
    lines += LIMITS
    return "\n".join(lines)


MEMORY = [
    "Resident memory is read after seven scrapes in a row, so it includes the garbage they leave for the GC's gen0",
    "budget (4 MiB, set in the binary: the default follows the L3 cache, about 25 MiB here, which the daemon filled",
    "within minutes). What stays live per downstream (measured with `GC.GetTotalMemory` on the structures a 10,000-",
    "downstream config builds): about 160 B of parsed config, 260 B of rotation, set and counters, and the health-check",
    "state, which lives inline in each probed downstream. A scrape gathers into one builder kept from scrape to scrape",
    "(a userspace listener's scrape allocates about 20 KB, whatever the count) and sends its text as it is written,",
    "never held whole. The YAML tree of the file (about 4 KB per downstream at its peak) is given back to the kernel",
    "once a config is applied.",
]

LIMITS = [
    "## Limits of each mode",
    "",
    "| | `userspace` | `af_xdp` | `tc_ebpf` |",
    "|---|---|---|---|",
    "| downstreams per listener | no limit of its own (measured up to 10,000 over 10 listeners) | no limit of its own | 256 (`FANOUT_MAX_DOWNSTREAMS` in `bpf/include/fanout_shared.h`, the size of the program's set) |",
    "| a longer static `downstream:` list | runs | runs | refused by `check` and at start and reload, naming the file, line and count |",
    "| a larger discovered or healthy set | runs | runs | the first 256 get the traffic, logged once at warning when the set grows past 256 (\"N downstreams, but tc_ebpf forwards to at most 256\"); the rest are still probed and in the metrics |",
    "",
    "Every mode shares the control plane measured above: one health thread and one probe socket per listener,",
    "the downstream series written by the daemon itself at each scrape, one immutable set swapped per change. Raw ICMP",
    "sockets each get a copy of every echo reply the host receives, so ICMP probing costs grow with listeners times",
    "downstreams in the kernel; the table's 10 listeners of 1,000 include that. On loopback the daemon's CPU also",
    "includes the kernel's answer to each echo request (the downstream's work on a real network).",
    "",
]


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = results["rows"]
    counts = [r["count"] for r in rows]
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8))
    series = [
        ("daemon CPU (% of a core)", [("udp_echo", [r["cpu_udp_echo"] * 100 for r in rows]), ("icmp", [r["cpu_icmp"] * 100 for r in rows])], 10),
        ("scrape (ms)", [("scrape", [r["scrape_s"] * 1000 for r in rows])], 50),
        ("resident memory above idle (MiB)", [("RSS", [(r["rss_kib"] - results["idle_rss_kib"]) / 1024 for r in rows])], 10_000 * 2 / 1024),
        ("reload and discovery update (ms)", [("reload", [r["reload_s"] * 1000 for r in rows])], 1000),
    ]
    for ax, (title, lines, goal) in zip(axes, series):
        for label, values in lines:
            ax.plot(counts, values, marker="o", label=label)
        if goal is not None:
            ax.axhline(goal, color="grey", linestyle="--", linewidth=1, label=f"goal at 10,000")
        ax.set_xscale("log")
        ax.set_xlabel("downstreams")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    if "discovery" in results:
        d = results["discovery"]
        axes[3].plot([d["count"]], [d["seconds"][1] * 1000], marker="s", linestyle="", label="discovery event (a tenth replaced)")
        axes[3].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
