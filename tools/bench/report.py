"""Turns the benchmark's points into the markdown report (tables, goal ratios) and the PNG plot."""

BASELINE = "baseline (drop at proxy)"
TC = "udp-fanout tc_ebpf"
# The XDP layer forced (xdp: on): the default, xdp: auto, leaves it out on the testbed's veths.
TC_XDP_ON = "udp-fanout tc_ebpf xdp: on"


def fmt_rate(stat):
    median, low, high = stat
    return f"{median / 1000:.0f}k ({low / 1000:.0f}-{high / 1000:.0f}k)"


# The two ways the machine's busy time is read (measure.cpu_jiffies): the kernel's tick-sampled busy fields, and the
# wall time minus the idle time, which a tickless kernel measures at every idle entry and exit. A process that wakes
# for each batch and sleeps again within a tick is where they part; every CPU figure and goal is given under both.
MEASURES = (("busy_cores", "ticks"), ("busy_cores_idle", "idle time"))


def cpu_ns(points, name, size, many, rate, measure="busy_cores"):
    """Whole-machine CPU per delivered datagram above the baseline at the same offered rate, in ns, by `measure`.

    Only meaningful at fixed offered rates: flat out, in-kernel forwarding runs in the generator's softirq on the
    generator's own core, so it shows as a slower generator rather than as extra busy time."""
    point = find(points, name, size, many, rate)
    base = find(points, BASELINE, size, many, rate)
    if point is None or base is None or point["delivered_pps"][0] <= 0 or not point.get(measure) or not base.get(measure):
        return None
    return (point[measure][0] - base[measure][0]) * 1e9 / point["delivered_pps"][0]


def by_measures(fn):
    """The text of a CPU goal under each measure, and whether it is met under all of them: fn(measure, label) returns
    (text, met) or None where the run cannot tell."""
    results = [r for key, label in MEASURES if (r := fn(key, label)) is not None]
    return results, bool(results) and all(met for _, met in results)


def find(points, name, size, many, rate):
    for n, s, m, r, summary in points:
        if (n, s, m, r) == (name, size, many, rate):
            return summary
    return None


# What each same-segment topology is, and why the link one exists beside the bridge one.
TOPOLOGIES = {
    "segment": ["", "Same-segment topology: the client, the proxy and the sinks share one bridge and one subnet, so the proxy",
                "sends to the sinks out of the interface it receives on, and af_xdp sends from its AF_XDP TX ring. Every",
                "datagram crosses the bridge twice, as an skb; [benchmarks-link.md](benchmarks-link.md) measures the same",
                "segment without the bridge (`--topology link`)."],
    "link": ["", "Same-segment topology without a bridge (`--topology link`): one veth pair between the client's namespace and",
             "the proxy's; the sinks are addresses in the client and proxy's subnet on the client's end of it, so the proxy",
             "sends to the sinks back out of the interface it receives on (af_xdp from its AF_XDP TX ring, userspace and",
             "nftables by routing out of the same interface), and the sinks count at the client's ingress (destination a",
             "sink address and the sink port), which the generator's own frames never pass. It exists beside the bridge",
             "topology (`--topology segment`, [benchmarks-segment.md](benchmarks-segment.md)) because there every datagram",
             "crosses the software bridge twice, client to proxy and proxy to sink, and is an skb there: a per-datagram",
             "cost that a hardware switch does not put on the host, charged to every system alike, which pulls every",
             "ratio towards 1, and which turns the XDP generator's frames into skbs before they reach the proxy. Here",
             "nothing but the veth pair lies between the proxy and the others, as between a NIC and its switch port."],
}


def markdown(points, idle_rss, machine, command, when, topology="routed", generator="trafgen"):
    names = list(dict.fromkeys(p[0] for p in points))
    full = sorted({(s, m) for _, s, m, r, _ in points if r is None}, key=lambda x: (x[0], not x[1]))
    rates = sorted({r for *_, r, _ in points if r is not None})
    lines = [
        "# Benchmarks",
        "",
        f"Made by `{command}` on {when:%Y-%m-%d %H:%M} UTC, {machine}. One {generator} core generates; the proxy",
        ("namespace forwards to three sink addresses that count at the client's ingress. Medians of the runs, with the" if topology == "link"
         else "namespace forwards to three sink namespaces that count at their ingress. Medians of the runs, with the"),
        "range in brackets. These machines are shared and noisy: compare systems within this run, as ratios.",
        *(["", "The generator sends XDP frames (BPF_PROG_RUN's live mode) that reach the proxy's veth as a NIC's frames",
           "reach its driver, before any skb exists; with trafgen each datagram starts as an skb, which the veth must copy",
           "into an XDP frame before any XDP program sees it, a cost no NIC has (see tools/bench/xdpgen.py)."] if generator == "xdp" else []),
        *TOPOLOGIES.get(topology, []),
        *(["", f"\"{TC}\" rows run the default config, xdp: auto, which on this testbed's veths runs the TC program alone;",
           f"\"{TC_XDP_ON}\" rows force the XDP layer in front of it, which meets "
           + ("the generator's XDP frames before any skb exists." if generator == "xdp" else "copies of the generator's skbs that the veth makes.")]
          if any(n.startswith(TC_XDP_ON) for n in names) else []),
        "",
        "## Delivered with the generator flat out (datagrams/s)",
        "",
        "| system | " + " | ".join(f"{s} B, {'many ports' if m else 'one port'}" for s, m in full) + " |",
        "|---|" + "---|" * len(full),
    ]
    for name in names:
        cells = []
        for s, m in full:
            p = find(points, name, s, m, None)
            cells.append(f"{fmt_rate(p['delivered_pps'])} of {p['offered_pps'][0] / 1000:.0f}k" if p else "")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if rates:
        lines += ["", "## CPU per delivered datagram above the baseline (ns, whole machine, 64 B, many source ports)", "",
                  "Busy time of the whole machine above the drop-at-proxy baseline at the same offered rate, divided by",
                  "the datagrams delivered. Measured at fixed rates: flat out, kernel forwarding runs on the generator's",
                  "own core and shows as a slower generator instead of busy time. Each rate has two columns, the busy",
                  "time read two ways: *ticks*, the kernel's busy fields, sampled at each timer tick (what `top` shows),",
                  "and *idle*, the wall time minus the idle time that the tickless kernel measures at every idle entry and",
                  "exit. They part for a process that wakes for each batch and sleeps again between two ticks: the",
                  "sampling misses or overcounts it, the idle time does not. Every CPU goal below is judged under both.", "",
                  "| system | " + " | ".join(f"{r / 1000:.0f}k/s {label}" for r in rates for _, label in MEASURES) + " |",
                  "|---|" + "---|" * (len(rates) * len(MEASURES))]
        for name in names:
            if name == BASELINE:
                continue
            cells = [f"{v:.0f}" if (v := cpu_ns(points, name, 64, True, r, key)) is not None else ""
                     for r in rates for key, _ in MEASURES]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if rates:
        lines += ["", "## Share delivered at fixed offered rates (64 B, many source ports)", "",
                  "| system | " + " | ".join(f"{r / 1000:.0f}k/s" for r in rates) + " |",
                  "|---|" + "---|" * len(rates)]
        for name in names:
            if name == BASELINE:
                continue
            cells = []
            for r in rates:
                p = find(points, name, 64, True, r)
                cells.append(f"{p['share'][0] * 100:.1f} %" if p else "")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "## Resident memory of the proxy process (KiB)", "", "| system | idle | under load (64 B, flat out) |", "|---|---|---|"]
    for name in names:
        p = find(points, name, 64, True, None)
        if idle_rss.get(name) is not None:
            lines.append(f"| {name} | {idle_rss[name]} | {p['rss_kib'][0] if p and p['rss_kib'] else ''} |")
    goals = evaluate_goals(points)
    lines += ["", "## Goals, as ratios within this run", ""] + [f"- {g}" for g in goals] + [""]
    return "\n".join(lines), goals


def evaluate_goals(points):
    goals = []
    us, tc, nft = "udp-fanout userspace (1 worker)", "udp-fanout tc_ebpf", "nftables numgen"
    nginx = find(points, "nginx stream (1 worker)", 64, True, None)
    user = find(points, us, 64, True, None)
    if nginx and user:
        ratio = user["delivered_pps"][0] / max(nginx["delivered_pps"][0], 1)
        goals.append(f"userspace (1 worker) delivers {ratio:.1f}x nginx flat out (64 B, many ports; goal >= 5x): {'met' if ratio >= 5 else 'NOT met'}")
    at200 = find(points, us, 64, True, 200000)
    if at200:
        loss = (1 - at200["share"][0]) * 100
        goals.append(f"userspace (1 worker) loses {loss:.2f} % at 200k/s offered (goal < 1 %): {'met' if loss < 1 else 'NOT met'}")
    # The CPU comparison needs a rate both deliver whole and the generator really offers (on a slow machine it
    # falls short of the higher rates, and busy time above the baseline then means nothing); the highest such
    # rate is the most precise.
    rates = sorted({r for n, s, m, r, _ in points if r is not None and n == tc}, reverse=True)
    both = [r for r in rates
            if all((p := find(points, n, 64, True, r)) and p["share"][0] >= 0.999 for n in (tc, nft))
            and all((p := find(points, n, 64, True, r)) and p["offered_pps"][0] >= 0.95 * r for n in (tc, nft, BASELINE))]
    full = find(points, tc, 64, True, None)
    if both and full:
        rate = both[0]

        def cheaper(key, label):
            a, b = cpu_ns(points, tc, 64, True, rate, key), cpu_ns(points, nft, 64, True, rate, key)
            return (f"{a / b:.2f}x by {label}", a / b <= 0.6) if a and b and b > 0 else None

        cpu, met = by_measures(cheaper)
        share = full["share"][0] * 100
        goals.append(f"tc_ebpf costs {', '.join(t for t, _ in cpu)} nftables' CPU per datagram at {rate / 1000:.0f}k/s (goal <= 0.6x): {'met' if met else 'NOT met'}; "
                     f"it delivers {share:.1f} % of what the generator sends flat out (goal 100 %): {'met' if share >= 99.9 else 'NOT met'}")
    xdp = find(points, "udp-fanout af_xdp", 64, True, None)
    if xdp and user:
        rate = xdp["delivered_pps"][0]
        goals.append(f"af_xdp (one forwarder core) delivers {rate / 1000:.0f}k/s flat out, {rate / 30000:.1f}x the 30k/s of the project it comes from "
                     f"(goal >= 10x) and {rate / user['delivered_pps'][0]:.2f}x userspace with 1 worker (goal >= 1x): "
                     f"{'met' if rate >= 300000 and rate >= user['delivered_pps'][0] else 'NOT met'}")
    goals += source_hash_goals(points)
    goals += preserve_source_goals(points)
    goals += ipv6_goals(points)
    goals += tx_ring_goals(points)
    return goals


def ipv6_goals(points):
    """Each system over IPv6 against its own IPv4 row: delivered flat out, and CPU per datagram at the highest fixed
    rate both deliver whole (64 B, many source ports)."""
    goals = []
    for v4 in ("nftables numgen", "udp-fanout userspace (1 worker)", TC, TC_XDP_ON, "udp-fanout af_xdp"):
        v6 = v4 + " IPv6"
        a, b = find(points, v4, 64, True, None), find(points, v6, 64, True, None)
        if not a or not b:
            continue
        ratio = b["delivered_pps"][0] / max(a["delivered_pps"][0], 1)
        text = f"{v6} delivers {ratio:.2f}x its IPv4 row flat out"
        rates = sorted({r for n, s, m, r, _ in points if r is not None and n == v6}, reverse=True)
        both = [r for r in rates
                if all((p := find(points, n, 64, True, r)) and p["share"][0] >= 0.999 for n in (v4, v6))
                and (base := find(points, BASELINE, 64, True, r)) and base["offered_pps"][0] >= 0.95 * r]
        cpu, cpu_met = [], True
        if both:
            def within(key, label):
                c4, c6 = cpu_ns(points, v4, 64, True, both[0], key), cpu_ns(points, v6, 64, True, both[0], key)
                return (f"{c6 / c4:.2f}x by {label}", c6 / c4 <= 1.15) if c4 and c6 and c4 > 0 and c6 > 0 else None

            cpu, cpu_met = by_measures(within)
            if cpu:
                text += f" and costs {', '.join(t for t, _ in cpu)} its CPU per datagram at {both[0] / 1000:.0f}k/s"
        met = ratio >= 0.85 and (not cpu or cpu_met)
        goals.append(f"{text} (goal within 15 %): {'met' if met else 'NOT met'}")
    return goals



def tx_ring_goals(points):
    """af_xdp with the TX ring (same-segment topology) against userspace and nftables on the same testbed."""
    goals = []
    ring, us, nft = "udp-fanout af_xdp (TX ring)", "udp-fanout userspace (1 worker)", "nftables numgen"
    full, user = find(points, ring, 64, True, None), find(points, us, 64, True, None)
    if full and user:
        ratio = full["delivered_pps"][0] / max(user["delivered_pps"][0], 1)
        goals.append(f"af_xdp (TX ring) delivers {ratio:.2f}x userspace (1 worker) flat out (64 B, many ports; goal >= 1.5x): "
                     f"{'met' if ratio >= 1.5 else 'NOT met'}")
    if find(points, ring, 64, True, 200000) and find(points, us, 64, True, 200000):
        # As for the other CPU goals: the generator must really offer the rate, and the baseline leave cores idle.
        offered = all((p := find(points, n, 64, True, 200000)) and p["offered_pps"][0] >= 0.95 * 200000 for n in (ring, us, BASELINE))
        for key, label in MEASURES:
            at_ring, at_user = cpu_ns(points, ring, 64, True, 200000, key), cpu_ns(points, us, 64, True, 200000, key)
            at_nft = cpu_ns(points, nft, 64, True, 200000, key)
            if not offered or at_ring is None or at_user is None or at_ring <= 0 or at_user <= 0:
                goals.append(f"af_xdp (TX ring) CPU per datagram at 200k/s by {label}: not measurable in this run "
                             "(the generator fell short of 200k/s, or the baseline kept every core busy)")
                continue
            ratio = at_ring / at_user
            text = (f"af_xdp (TX ring) costs {at_ring:.0f} ns per datagram at 200k/s by {label}, {ratio:.2f}x userspace's {at_user:.0f} ns "
                    f"(goal <= 0.4x): {'met' if ratio <= 0.4 else 'NOT met'}")
            if at_nft is not None and at_nft > 0:
                text += f"; nftables {at_nft:.0f} ns (goal: at most nftables'): {'met' if at_ring <= at_nft else 'NOT met'}"
            goals.append(text)
    return goals


def source_hash_goals(points):
    """source_hash against round robin in each mode."""
    return variant_goals(points, " source_hash", ("udp-fanout userspace (1 worker)", "udp-fanout tc_ebpf", "udp-fanout af_xdp"),
                         "round robin's", 1.10)


def preserve_source_goals(points):
    """preserve_source (raw sends with the client's address, headers and checksums built by the daemon) against plain userspace."""
    return variant_goals(points, " preserve_source", ("udp-fanout userspace (1 worker)",), "userspace's without it", 1.25)


def variant_goals(points, suffix, modes, against, limit):
    """A variant of a mode against the mode itself: CPU per delivered datagram at the highest fixed rate both deliver
    whole, else (a mode that loses a few per cent at every rate in this run) at the highest both deliver 90 % of,
    with the shares said, since the cost of a datagram delivered does not depend on the ones lost before it."""
    goals = []
    for plain_name in modes:
        variant = plain_name + suffix
        rates = sorted({r for n, s, m, r, _ in points if r is not None and n == variant}, reverse=True)

        def delivering(share):
            return [r for r in rates
                    if all((p := find(points, n, 64, True, r)) and p["share"][0] >= share for n in (plain_name, variant))
                    and (b := find(points, BASELINE, 64, True, r)) and b["offered_pps"][0] >= 0.95 * r]

        whole, most = delivering(0.999), delivering(0.90)
        if not whole and not most:
            continue
        rate = (whole or most)[0]
        shares = "" if whole else (" (the two never both deliver every datagram in this run; at this rate "
                                   + " and ".join(f"{find(points, n, 64, True, rate)['share'][0] * 100:.1f} %" for n in (plain_name, variant))
                                   + ")")

        def costs(key, label):
            costed, plain = cpu_ns(points, variant, 64, True, rate, key), cpu_ns(points, plain_name, 64, True, rate, key)
            # None when the baseline already kept every core busy (other load on the machine): nothing to compare.
            return (f"{costed / plain:.2f}x by {label}", costed / plain <= limit) if costed and plain and costed > 0 and plain > 0 else None

        cpu, met = by_measures(costs)
        if not cpu:
            goals.append(f"{variant} against {plain_name}: not measurable in this run (the baseline kept every core busy at {rate / 1000:.0f}k/s)")
            continue
        goals.append(f"{variant} costs {', '.join(t for t, _ in cpu)} {against} CPU per datagram at {rate / 1000:.0f}k/s{shares} "
                     f"(goal <= {limit:.2f}x): {'met' if met else 'NOT met'}")
    return goals


def plot(points, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for name in dict.fromkeys(p[0] for p in points):
        if name == BASELINE:
            continue
        series = sorted((s["offered_pps"][0], s["delivered_pps"][0]) for n, size, many, r, s in points
                        if n == name and size == 64 and many)
        ax.plot([x / 1000 for x, _ in series], [y / 1000 for _, y in series], marker="o", label=name)
    ax.set_xlabel("offered (thousand datagrams/s, 64 B, many source ports)")
    ax.set_ylabel("delivered (thousand datagrams/s)")
    ax.set_title("udp-fanout and peers: delivered vs offered")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


XDP_BASELINE = "baseline (XDP drop at proxy)"


def account_section(accounts):
    """The daemon's own account of each udp-fanout row over all its runs: received, forwarded, each drop, and for
    af_xdp the frames it put on its TX ring, so a reader sees which path the row's datagrams really took."""
    if not accounts:
        return ""
    lines = ["", "## The daemon's own account (all runs of the row, from its metrics)", ""]
    if any(key.startswith("afxdp_tx") for totals in accounts.values() for key in totals):
        lines += ["`afxdp_tx_frames`: frames af_xdp put on its AF_XDP TX ring; `afxdp_tx_neighbour_miss`: datagrams it sent",
                  "through the kernel instead, for want of a neighbour entry.", ""]
    lines += ["| system | counters |", "|---|---|"]
    for name, totals in accounts.items():
        lines.append(f"| {name} | " + ", ".join(f"{k} {v:,}" for k, v in sorted(totals.items())) + " |")
    for name, totals in accounts.items():
        if "(TX ring)" in name:
            ring = sum(v for k, v in totals.items() if k.startswith("afxdp_tx_frames"))
            forwarded = totals.get("packets_forwarded", 0)
            lines += ["", f"{name} sent {ring:,} of the {forwarded:,} datagrams it forwarded from its TX ring"
                          f" ({ring / max(forwarded, 1):.1%})."]
    return "\n".join(lines) + "\n"


def handed_section(handed, topology):
    """With the XDP generator: how many frames the client's veth handed its peer as XDP frames, and how many the peer
    refused (it takes XDP frames only while it has a NAPI: GRO on, or an XDP program)."""
    if handed is None:
        return ""
    xmit, refused = handed
    peer = "the bridge's port (where they become skbs)" if topology == "segment" else "the proxy's veth"
    return "\n".join(["", "## The XDP generator's frames", "",
                      f"Over the whole run the client's veth handed {xmit:,} frames to {peer} as XDP frames",
                      f"(`ethtool -S`: `tx_queue_0_xdp_xmit`), and {refused:,} were refused (`tx_queue_0_xdp_xmit_errors`; counted",
                      "as offered, never delivered).", ""])


def xdp_sections(points, isolated, generator, flat_isolated=None):
    """Two methods side by side: the share of the XDP-drop baseline's rate each system delivers flat out (64-byte
    payloads, many ports; the goal of the XDP layer: tc_ebpf with xdp: on at 90 % or more), with the XDP generator
    and --isolated also with the proxy on a core of its own (`flat_isolated`: name -> summary), and the isolated
    measure (core 1's busy time per delivered datagram with the generator on core 0; measure.run_isolated)."""
    lines, goals = [], []
    flat = {name: find(points, name, 64, True, None) for name in dict.fromkeys(p[0] for p in points)}
    for summaries, where, intro in [
            (flat, "", "The generator reaches {rate:,.0f} datagrams/s into an XDP drop at the proxy (64-byte payloads, many ports)."),
            (flat_isolated or {}, ", the proxy on core 1",
             "The generator pinned to core 0, the proxy's receive processing and the daemon's threads on core 1 as in the "
             "isolated measure below, so the generator no longer pays for the proxy's receive: it reaches {rate:,.0f} "
             "datagrams/s into an XDP drop at the proxy (64-byte payloads, many ports).")]:
        base = summaries.get(XDP_BASELINE)
        if not base:
            continue
        rate = base["offered_pps"][0]
        lines += ["", f"## Share of the XDP-drop baseline delivered flat out{where}", "", intro.format(rate=rate), "",
                  "| system | delivered/s (median, min-max) | share of the XDP-drop rate |", "|---|---|---|"]
        for name, p in summaries.items():
            if name in (XDP_BASELINE, BASELINE) or not p:
                continue
            median, low, high = p["delivered_pps"]
            lines.append(f"| {name} | {median:,.0f} ({low:,.0f}-{high:,.0f}) | {median / rate:.0%} |")
            if name == TC_XDP_ON:
                goals.append(f"{'MET' if median >= 0.9 * rate else 'NOT MET'}: tc_ebpf with its XDP layer (xdp: on) delivers "
                             f"{median / rate:.0%} of the XDP-drop baseline's rate flat out{where} (goal: 90 %)")
    if isolated:
        how = ("the proxy's veth polled by a NAPI thread of its own (`threaded`) pinned to core 1, as a NIC's interrupt "
               "and poll run on the proxy's cores, so every row, XDP included, receives there"
               if generator == "xdp" else
               "the proxy interface's receive processing steered to core 1 (rps_cpus); XDP rows are left out: on a veth "
               "XDP runs in the sender's softirq, on core 0, before any steering")
        lines += ["", "## Isolated measure" + (" (skb paths)" if generator != "xdp" else ""), "",
                  f"Generator pinned to core 0, {how}; the daemon's threads pinned to core 1 too, and the sinks' receive "
                  "runs there. 64-byte payloads at fixed rates; core 1's busy time per delivered datagram, per run, by "
                  "ticks and by idle time as above.", "",
                  "| system | rate/s | µs of core 1 per delivered datagram, ticks (runs) | the same, idle time (runs) |", "|---|---|---|---|"]
        for name, rate, us, *us_idle in isolated:
            lines.append(f"| {name} | {rate:,} | {', '.join(f'{u:.2f}' for u in us)} | {', '.join(f'{u:.2f}' for u in (us_idle[0] if us_idle else []))} |")
    return "\n".join(lines) + ("\n" if lines else ""), goals
