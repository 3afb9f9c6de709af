"""udp-fanout's benchmark: every mode against the peers, side by side, in one run on one testbed.

Measures, per system: datagrams delivered with the generator flat out, the share delivered at fixed offered
rates, whole-machine CPU per delivered datagram above the drop-at-proxy baseline, and the daemon's resident
memory. Writes a markdown report and a PNG plot.
"""
import argparse
import json
import datetime
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import control_plane  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402
import xdpgen  # noqa: E402
from systems import Baseline, Nftables, Nginx, UdpFanout, XdpDropBaseline  # noqa: E402
from testbed import LinkTestbed, SegmentTestbed, Testbed  # noqa: E402


TESTBEDS = {"routed": Testbed, "segment": SegmentTestbed, "link": LinkTestbed}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--binary", required=True, help="the published udp-fanout binary")
    p.add_argument("--smoke", action="store_true", help="a few seconds: the userspace mode and the baselines, one rate")
    p.add_argument("--runs", type=int, default=3, help="runs per point (median and spread are reported)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of one run")
    p.add_argument("--sizes", default="64,512,1400", help="UDP payload sizes")
    p.add_argument("--rates", default="50000,100000,200000,400000", help="fixed offered rates (datagrams/s) for 64-byte payloads")
    p.add_argument("--only", default=None,
                   help="comma-separated parts of system names to measure (the baseline always runs), e.g. 'udp-fanout'; "
                        "skips the control-plane section")
    p.add_argument("--topology", choices=list(TESTBEDS), default="routed",
                   help="routed: one veth per sink, the proxy routes (the default); segment: client, proxy and sinks on "
                        "one bridge, where af_xdp with preserve_source sends from its TX ring (report: docs/benchmarks-segment.md); "
                        "link: the same segment without the bridge, the sinks are addresses on the client's veth, so the "
                        "proxy's one veth carries both directions (report: docs/benchmarks-link.md)")
    p.add_argument("--generator", choices=["trafgen", "xdp"], default="trafgen",
                   help="trafgen: datagrams sent as skbs from a packet socket (the default); xdp: XDP frames from "
                        "BPF_PROG_RUN's live mode, which reach the proxy as a NIC's frames do, before any skb exists")
    p.add_argument("--control-plane-only", action="store_true",
                   help="only the control-plane section (10 to 10,000 downstreams, and a discovery update of the largest count): "
                        "docs/control-plane.md and .png")
    p.add_argument("--counts", default="10,100,1000,10000", help="downstream counts of the control-plane section")
    p.add_argument("--window", type=float, default=10.0, help="seconds of daemon CPU measured per count and protocol")
    p.add_argument("--isolated", action="store_true",
                   help="also the isolated measure: the generator on core 0, the proxy's receive and the daemon on core 1 "
                        "(with trafgen steered by RPS, for the skb paths only; with the XDP generator by a threaded NAPI, "
                        "for every row)")
    p.add_argument("--isolated-rates", default="150000,250000", help="fixed rates of the isolated measure")
    p.add_argument("--isolated-count", type=int, default=1_000_000, help="datagrams per isolated run")
    p.add_argument("--out", default=None, help="markdown report (default docs/benchmarks.md, or artifacts/bench/smoke.md with --smoke)")
    return p.parse_args()


def systems(bed, binary, smoke):
    if smoke:
        # With the XDP generator the XDP drop too, which the shares of the XDP-drop baseline need.
        xdp_drop = [lambda: XdpDropBaseline(bed)] if bed.generator == "xdp" and not bed.segment else []
        return [lambda: Baseline(bed), *xdp_drop, lambda: UdpFanout(bed, binary, "userspace")]
    if bed.segment:
        # What the TX ring is measured against: the in-kernel peer and the path through the stack.
        return [
            lambda: Baseline(bed),
            lambda: Nftables(bed),
            lambda: UdpFanout(bed, binary, "userspace", 1),
            lambda: UdpFanout(bed, binary, "af_xdp", preserve_source=True),
        ]
    return [
        lambda: Baseline(bed),
        lambda: Nftables(bed),
        lambda: Nginx(bed),
        lambda: UdpFanout(bed, binary, "userspace", 1),
        lambda: UdpFanout(bed, binary, "userspace", 2),
        lambda: UdpFanout(bed, binary, "userspace", 4),
        lambda: XdpDropBaseline(bed),
        # The default config (xdp: auto, the TC program alone on these veths): the row every tc_ebpf goal and variant
        # (source_hash, IPv6) compares with; xdp: on forces the XDP layer, the row its goal is judged by.
        lambda: UdpFanout(bed, binary, "tc_ebpf"),
        lambda: UdpFanout(bed, binary, "tc_ebpf", xdp="on"),
        lambda: UdpFanout(bed, binary, "af_xdp"),
        lambda: UdpFanout(bed, binary, "userspace", 1, "source_hash"),
        lambda: UdpFanout(bed, binary, "tc_ebpf", balance="source_hash"),
        lambda: UdpFanout(bed, binary, "af_xdp", balance="source_hash"),
        lambda: UdpFanout(bed, binary, "userspace", 1, preserve_source=True),
        # IPv6 rows: 64-byte payloads from many source ports only (see plan below).
        lambda: Nftables(bed, family=6),
        lambda: UdpFanout(bed, binary, "userspace", 1, family=6),
        lambda: UdpFanout(bed, binary, "tc_ebpf", family=6),
        lambda: UdpFanout(bed, binary, "tc_ebpf", family=6, xdp="on"),
        lambda: UdpFanout(bed, binary, "af_xdp", family=6),
    ]


def summarize(samples):
    def stat(key):
        values = [s[key] for s in samples if s[key] is not None]
        return (statistics.median(values), min(values), max(values)) if values else None
    return {k: stat(k) for k in samples[0]}


def main():
    args = parse_args()
    if args.control_plane_only:
        run_control_plane(args)
        return
    sizes = [64] if args.smoke else [int(s) for s in args.sizes.split(",")]
    rates = [20000] if args.smoke else [int(r) for r in args.rates.split(",")]
    runs, seconds = (1, 1.0) if args.smoke else (args.runs, args.seconds)
    routed = args.topology == "routed"
    out = args.out or ("artifacts/bench/smoke.md" if args.smoke else "docs/benchmarks.md" if routed else f"docs/benchmarks-{args.topology}.md")
    points = []  # (system, size, many_ports, rate or None, summary)
    isolated = []  # (system, rate, [µs of core 1 per delivered datagram, per run] by ticks, the same by idle time)
    flat_isolated = {}  # system -> summary of its flat-out runs with the proxy on core 1 (the XDP generator only)
    idle_rss = {}
    accounts = {}  # the daemon's own account per udp-fanout row, at the end of its runs
    with TESTBEDS[args.topology](generator=args.generator) as bed:
        wanted = args.only.split(",") if args.only else None
        for make in systems(bed, args.binary, args.smoke):
            system = make()
            if wanted and system.name not in (report.BASELINE, report.XDP_BASELINE) and not any(w in system.name for w in wanted):
                # Never started: only the config directory its constructor wrote goes.
                shutil.rmtree(getattr(system, "dir", ""), ignore_errors=True)
                continue
            with system:
                idle_rss[system.name] = measure.rss_kib(system.pid)
                print(f"== {system.name}", flush=True)
                plan = [(size, many, None) for size in sizes for many in ([True] if args.smoke else [True, False])]
                if getattr(system, "family", 4) == 6:
                    # The IPv6 rows compare each system with its own IPv4 row, at the sizes and rates that goal names.
                    plan = [(64, True, None)]
                plan += [(64, True, rate) for rate in rates]
                for size, many, rate in plan:
                    samples = [measure.run(bed, system, size, many, rate, seconds) for _ in range(runs)]
                    summary = summarize(samples)
                    points.append((system.name, size, many, rate, summary))
                    print(f"   {size:>5} B, {'many ports' if many else 'one port  '}, "
                          f"{'full rate' if rate is None else f'{rate:>7}/s'}: delivered {summary['delivered_pps'][0]:>10.0f}/s "
                          f"of {summary['offered_pps'][0]:>10.0f}/s, {summary['busy_cores'][0]:.2f} cores busy "
                          f"({summary['busy_cores_idle'][0]:.2f} by idle time)", flush=True)
                if hasattr(system, "accounting"):
                    accounts[system.name] = system.accounting()
                    print(f"   accounted by the daemon: {accounts[system.name]}", flush=True)
                if args.isolated and measure.isolable(system.name, args.generator):
                    for rate in [int(r) for r in args.isolated_rates.split(",")]:
                        samples = [measure.run_isolated(bed, system, rate, args.isolated_count) for _ in range(runs)]
                        us = [s["core1_us_per_datagram"] for s in samples if s["core1_us_per_datagram"] is not None]
                        us_idle = [s["core1_us_per_datagram_idle"] for s in samples if s["core1_us_per_datagram_idle"] is not None]
                        isolated.append((system.name, rate, us, us_idle))
                        print(f"   isolated {rate:>7}/s: core 1 {', '.join(f'{u:.2f}' for u in us)} µs per delivered datagram "
                              f"(by idle time {', '.join(f'{u:.2f}' for u in us_idle)})", flush=True)
                if args.isolated and args.generator == "xdp" and system.name != report.BASELINE:
                    # The XDP drop too: each share compares with it measured the same way.
                    summary = summarize([measure.run(bed, system, 64, True, None, seconds, isolated=True) for _ in range(runs)])
                    flat_isolated[system.name] = summary
                    print(f"   isolated full rate: delivered {summary['delivered_pps'][0]:>10.0f}/s of "
                          f"{summary['offered_pps'][0]:>10.0f}/s", flush=True)
        handed = xdpgen.handed(bed) if args.generator == "xdp" else None
    os.makedirs("artifacts/bench", exist_ok=True)
    with open("artifacts/bench/points.json", "w") as f:
        json.dump({"points": points, "idle_rss": idle_rss, "isolated": isolated, "flat_isolated": flat_isolated,
                   "accounts": accounts}, f)
    machine = f"{platform.node()}: {os.cpu_count()} cores, Linux {platform.release()}, {cpu_model()}"
    command = "sudo tools/bench/bench" + "".join(f" {shlex.quote(a)}" for a in passed_options())
    text, goals = report.markdown(points, idle_rss, machine, command, datetime.datetime.now(datetime.timezone.utc), args.topology, args.generator)
    extra, extra_goals = report.xdp_sections(points, isolated, args.generator, flat_isolated)
    text += extra + report.account_section(accounts) + report.handed_section(handed, args.topology)
    goals += extra_goals
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    if not args.smoke:
        report.plot(points, os.path.splitext(out)[0] + ".png")
    print(f"wrote {out}")
    for line in goals:
        print(line)
    # A run of --only some systems is a look at those, and the control plane does not depend on the topology: it
    # is measured with the default full run only (or --control-plane-only).
    if not args.smoke and not args.only and routed:
        run_control_plane(args)


def passed_options():
    """The options the run was given, as the report quotes them: all but --binary, which the wrapper adds."""
    argv, options = sys.argv[1:], []
    while argv:
        option = argv.pop(0)
        if option == "--binary":
            argv = argv[1:]
        elif not option.startswith("--binary="):
            options.append(option)
    return options


def run_control_plane(args):
    """The control plane at scale, in a namespace of its own; its report and plot go beside the data path's."""
    print("== control plane", flush=True)
    counts = [int(c) for c in args.counts.split(",")]
    results = control_plane.measure(args.binary, counts, args.window)
    machine = f"{platform.node()}: {os.cpu_count()} cores, Linux {platform.release()}, {cpu_model()}"
    command = "sudo tools/bench/bench" + (" --control-plane-only" if args.control_plane_only else "")
    with open("docs/control-plane.md", "w") as f:
        f.write(control_plane.markdown(results, command, machine, datetime.datetime.now(datetime.timezone.utc)))
    control_plane.plot(results, "docs/control-plane.png")
    os.makedirs("artifacts/bench", exist_ok=True)
    with open("artifacts/bench/control-plane.json", "w") as f:
        json.dump(results, f)
    print("wrote docs/control-plane.md")


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return subprocess.run(["uname", "-m"], capture_output=True, text=True).stdout.strip()


if __name__ == "__main__":
    main()
