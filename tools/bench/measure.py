"""One measured run: the generator at a rate (or flat out) for a while, and what the machine and sinks saw."""
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import xdpgen
from testbed import LISTEN_PORT, sh


def cpu_jiffies(cpu=""):
    """(busy, idle) time of the whole machine (or of one CPU), in USER_HZ ticks. The two come from different clocks:
    busy (user, system, softirq, ...) is sampled at each timer tick, so work that starts and ends between two ticks,
    as a proxy woken for each batch does, can be missed or overcounted; idle (idle and iowait) is measured at every
    entry and exit of the idle loop on a tickless kernel, so the wall time minus idle is busy time to the microsecond."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith(f"cpu{cpu} "):
                fields = [int(x) for x in line.split()[1:]]
                return sum(fields) - fields[3] - fields[4], fields[3] + fields[4]
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def rss_kib(pid):
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        return None
    return None


def trafgen_config(bed, size, many_ports, family=4):
    sport = "drnd(1024, 65000)" if many_ports else "40000"
    payload = max(size, 1)
    ip = (f"ipv4(saddr={bed.client_addr}, daddr={bed.proxy_addr}, ttl=64)" if family == 4
          else f"ipv6(saddr={bed.client_addr6}, daddr={bed.proxy_addr6}, hoplimit=64)")
    return f"""{{
  eth(da={bed.mac(bed.proxy, bed.proxy_if)}, sa={bed.mac(bed.cli, bed.client_if)}),
  {ip},
  udp(sport={sport}, dport={LISTEN_PORT}),
  fill(0x41, {payload}),
}}
"""


def tx_packets(bed):
    return int(bed.ns(bed.cli, f"cat /sys/class/net/{bed.client_if}/statistics/tx_packets"))


def generator_command(bed, size, many_ports, rate, family):
    """The generator's command line (in the client's namespace), its config file, and how to read what it offered."""
    if bed.generator == "xdp":
        template = xdpgen.frame(bed, size, family, LISTEN_PORT)
        argv = ["ip", "netns", "exec", bed.cli, sys.executable, xdpgen.__file__, bed.xdp_generator(template, many_ports),
                template.hex(), str(rate or 0)]
        return argv, None, lambda: xdpgen.offered(bed)
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
        f.write(trafgen_config(bed, size, many_ports, family))
    argv = ["ip", "netns", "exec", bed.cli, "trafgen", "--dev", bed.client_if, "--conf", f.name, "-P", "1", "-q"]
    if rate:
        argv += ["-b", f"{rate}pps"]
    return argv, f.name, lambda: tx_packets(bed)


def run(bed, system, size, many_ports, rate, seconds, isolated=False):
    """Returns offered and delivered datagrams per second, busy CPU seconds per second, and the RSS under load.
    `isolated`: the generator on core 0 and the proxy on core 1, as in run_isolated."""
    argv, config, offered = generator_command(bed, size, many_ports, rate, getattr(system, "family", 4))
    with _proxy_on_core_1(bed, system) if isolated else contextlib.nullcontext():
        sent0, delivered0, (busy0, idle0), t0 = offered(), bed.delivered(), cpu_jiffies(), time.time()
        # Its own process group: trafgen ignores SIGTERM and SIGINT while it sends, so it is killed whole.
        generator = subprocess.Popen(["taskset", "-c", "0", *argv] if isolated else argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        rss = []
        sampler = threading.Timer(seconds / 2, lambda: rss.append(rss_kib(system.pid)))
        sampler.start()
        time.sleep(seconds)
        os.killpg(generator.pid, signal.SIGKILL)
        generator.wait()
        (busy1, idle1), elapsed = cpu_jiffies(), time.time() - t0
        time.sleep(0.3)  # let in-flight datagrams reach the sinks
        sent, delivered = offered() - sent0, bed.delivered() - delivered0
        sampler.join()
    if config:
        os.unlink(config)
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "offered_pps": sent / elapsed,
        "delivered_pps": delivered / elapsed,
        "share": delivered / sent if sent else 0.0,
        "busy_cores": (busy1 - busy0) / hz / elapsed,
        "busy_cores_idle": os.cpu_count() - (idle1 - idle0) / hz / elapsed,
        "rss_kib": rss[0] if rss else None,
    }


def run_isolated(bed, system, rate, count):
    """The isolated measure: the generator pinned to core 0 and everything the proxy does on core 1, `count` 64-byte
    datagrams at `rate`; returns core 1's busy microseconds per delivered datagram.

    How the proxy's receive processing reaches core 1 depends on the generator. With trafgen it is steered there by
    RPS (rps_cpus), which moves skbs only: XDP runs in the sender's softirq on a veth, before any steering, so the XDP
    rows cannot be isolated (`isolable`). With the XDP generator the proxy's veth polls its ring in a NAPI thread of
    its own (`threaded`), pinned to core 1, as a NIC's interrupt and poll run on the proxy's own cores: every row,
    XDP included, receives there. (Threaded NAPI cannot serve trafgen: on this kernel a veth whose NAPI runs threaded
    with an XDP program attached takes skbs from its peer only a few hundred times a second.) Either way the daemon's
    threads are pinned to core 1 too, and the sinks' receive runs there, in the softirq that the proxy's sends raise.
    """
    family = getattr(system, "family", 4)
    with _proxy_on_core_1(bed, system):
        delivered0, (busy0, idle0), t0 = bed.delivered(), cpu_jiffies(1), time.time()
        if bed.generator == "xdp":
            template = xdpgen.frame(bed, 64, family, LISTEN_PORT)
            argv = ["taskset", "-c", "0", "ip", "netns", "exec", bed.cli, sys.executable, xdpgen.__file__,
                    bed.xdp_generator(template, True), template.hex(), str(rate), str(count)]
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        else:
            with tempfile.NamedTemporaryFile("w", suffix=".cfg", delete=False) as f:
                f.write(trafgen_config(bed, 64, True, family))
            argv = ["ip", "netns", "exec", bed.cli, "taskset", "-c", "0", "trafgen", "--dev", bed.client_if, "--conf",
                    f.name, "-P", "1", "-q", "-b", f"{rate}pps", "-n", str(count)]
            try:
                subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            finally:
                os.unlink(f.name)
        time.sleep(0.3)  # let in-flight datagrams reach the sinks
        (busy1, idle1), elapsed = cpu_jiffies(1), time.time() - t0
        delivered = bed.delivered() - delivered0
    hz = os.sysconf("SC_CLK_TCK")
    return {
        "offered_pps": count / elapsed,
        "delivered": delivered,
        "core1_us_per_datagram": (busy1 - busy0) / hz / delivered * 1e6 if delivered else None,
        "core1_us_per_datagram_idle": (elapsed - (idle1 - idle0) / hz) / delivered * 1e6 if delivered else None,
    }


def isolable(name, generator):
    """Whether the isolated measure can put all of a row's work on core 1 (see run_isolated); never a baseline."""
    if name.startswith("baseline"):
        return False
    return generator == "xdp" or name.startswith("nftables") or (
        name.startswith("udp-fanout") and "af_xdp" not in name and "xdp: on" not in name)


@contextlib.contextmanager
def _proxy_on_core_1(bed, system):
    """For one isolated run: the proxy's receive processing and the daemon's threads on core 1; undone after."""
    # With the XDP generator the veth's NAPI runs threaded, else RPS steers its skbs.
    knob = f"/sys/class/net/{bed.proxy_if}/" + ("threaded" if bed.generator == "xdp" else "queues/rx-0/rps_cpus")
    try:
        if bed.generator == "xdp":
            bed.ns(bed.proxy, f"sh -c 'echo 1 > {knob}'")
            # The poll thread is named after the device (napi/<device>-<NAPI id>); a kernel thread's name may be cut.
            threads = [line.split()[0] for line in sh("ps -eo pid=,comm=").splitlines()
                       if line.split()[1:] and line.split()[1].startswith(f"napi/{bed.proxy_if}"[:15])]
            if not threads:
                raise RuntimeError(f"no NAPI thread of {bed.proxy_if} after `echo 1 > {knob}`")
            for thread in threads:
                sh(f"taskset -pc 1 {thread}")
        else:
            bed.ns(bed.proxy, f"sh -c 'echo 2 > {knob}'")
        if system.pid:
            sh(f"taskset -a -pc 1 {system.pid}")
        yield
    finally:
        if system.pid:
            sh(f"taskset -a -pc 0-{os.cpu_count() - 1} {system.pid}", check=False)
        bed.ns(bed.proxy, f"sh -c 'echo 0 > {knob}'", check=False)
