using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Interop;

/// <summary>
/// The real C layouts: a small C program, compiled with the system's gcc against the same headers the native
/// side uses, prints sizeof and offsetof for every struct the daemon shares with libc, libbpf or the BPF programs.
/// </summary>
internal static class NativeLayout
{
    private static readonly Lazy<Dictionary<string, long>> Values = new(Measure);

    /// <summary>"struct" for sizeof, "struct.field" for offsetof.</summary>
    public static long Of(string name) =>
        Values.Value.TryGetValue(name, out var value) ? value : throw new KeyNotFoundException($"the C program does not print {name}");

    private static readonly (string Struct, string[] Fields)[] Structs =
    [
        ("iovec", ["iov_base", "iov_len"]),
        ("msghdr", ["msg_name", "msg_namelen", "msg_iov", "msg_iovlen", "msg_control", "msg_controllen", "msg_flags"]),
        ("mmsghdr", ["msg_hdr", "msg_len"]),
        ("sockaddr_in", ["sin_family", "sin_port", "sin_addr", "sin_zero"]),
        ("sockaddr_in6", ["sin6_family", "sin6_port", "sin6_flowinfo", "sin6_addr", "sin6_scope_id"]),
        ("cmsghdr", ["cmsg_len", "cmsg_level", "cmsg_type"]),
        ("in6_pktinfo", ["ipi6_addr", "ipi6_ifindex"]),
        ("sock_extended_err", ["ee_errno", "ee_origin", "ee_type", "ee_code", "ee_pad", "ee_info", "ee_data"]),
        ("sock_filter", ["code", "jt", "jf", "k"]),
        ("sock_fprog", ["len", "filter"]),
        ("bpf_tc_hook", ["sz", "ifindex", "attach_point", "parent"]),
        ("bpf_tc_opts", ["sz", "prog_fd", "flags", "prog_id", "handle", "priority"]),
        ("bpf_link_info", ["type", "id", "prog_id", "xdp.ifindex", "netns.attach_type"]),
        ("bpf_map_info", ["type", "id"]),
        ("bpf_test_run_opts", ["sz", "data_in", "data_out", "data_size_in", "data_size_out", "ctx_in", "ctx_out", "ctx_size_in", "ctx_size_out", "retval", "repeat", "duration", "flags", "cpu", "batch_size"]),
        ("bpf_link_create_opts", ["sz", "flags"]),
        ("bpf_xdp_query_opts", ["sz", "prog_id", "drv_prog_id", "hw_prog_id", "skb_prog_id", "attach_mode"]),
        ("fanout_listener", ["addr", "port", "balance", "hash_key", "addr6", "families", "pad", "xdp_chain_slot"]),
        ("fanout_downstream", ["addr", "port", "slot"]),
        ("fanout_downstream_set", ["count", "flags", "order_len", "downstreams", "table"]),
        ("fanout_counter", ["packets", "bytes"]),
        ("fanout_xmit_watch", ["netns_cookie", "ifindex", "pad"]),
        ("fanout_route", ["epoch", "daddr", "next_hop", "ingress_ifindex", "ifindex", "mtu", "nh_family", "resolved", "dmac", "smac"]),
        ("fib_rule_hdr", ["family", "dst_len", "src_len", "tos", "table", "res1", "res2", "action", "flags"]),
        ("__sk_buff", ["ingress_ifindex", "ifindex"]),
        ("xdp_md", ["data", "data_end", "ingress_ifindex", "rx_queue_index"]),
        ("xdp_umem_reg", ["addr", "len", "chunk_size", "headroom", "flags"]),
        ("xdp_ring_offset", ["producer", "consumer", "desc", "flags"]),
        ("xdp_mmap_offsets", ["rx", "tx", "fr", "cr"]),
        ("sockaddr_xdp", ["sxdp_family", "sxdp_flags", "sxdp_ifindex", "sxdp_queue_id", "sxdp_shared_umem_fd"]),
        ("xdp_desc", ["addr", "len", "options"]),
        ("xdp_statistics", ["rx_dropped", "rx_invalid_descs", "tx_invalid_descs", "rx_ring_full", "rx_fill_ring_empty_descs", "tx_ring_empty_descs"]),
        ("xdp_options", ["flags"]),
        ("ethtool_channels", ["cmd", "max_rx", "max_tx", "max_other", "max_combined", "rx_count", "tx_count", "other_count", "combined_count"]),
        ("ethtool_drvinfo", ["cmd", "driver", "version", "fw_version", "bus_info", "erom_version", "reserved2", "n_priv_flags", "n_stats", "testinfo_len", "eedump_len", "regdump_len"]),
        ("rlimit", ["rlim_cur", "rlim_max"]),
        ("statfs", ["f_type", "f_bsize", "f_blocks", "f_bfree", "f_bavail", "f_files", "f_ffree", "f_fsid", "f_namelen", "f_frsize", "f_flags", "f_spare"]),
        ("pollfd", ["fd", "events", "revents"]),
        ("ifreq", ["ifr_name", "ifr_mtu", "ifr_data", "ifr_hwaddr"]),
        ("nlmsghdr", ["nlmsg_len", "nlmsg_type", "nlmsg_flags", "nlmsg_seq", "nlmsg_pid"]),
        ("genlmsghdr", ["cmd", "version", "reserved"]),
        ("nlattr", ["nla_len", "nla_type"]),
        ("tcmsg", ["tcm_family", "tcm__pad1", "tcm__pad2", "tcm_ifindex", "tcm_handle", "tcm_parent", "tcm_info"]),
        ("rtattr", ["rta_len", "rta_type"]),
        ("ndmsg", ["ndm_family", "ndm_pad1", "ndm_pad2", "ndm_ifindex", "ndm_state", "ndm_flags", "ndm_type"]),
        ("rtmsg", ["rtm_family", "rtm_dst_len", "rtm_src_len", "rtm_tos", "rtm_table", "rtm_protocol", "rtm_scope", "rtm_type", "rtm_flags"]),
        ("sockaddr_nl", ["nl_family", "nl_pad", "nl_pid", "nl_groups"]),
    ];

    private static Dictionary<string, long> Measure()
    {
        var dir = Directory.CreateTempSubdirectory("layout-");
        try
        {
            var prints = string.Concat(Structs.Select(s =>
                $"    printf(\"{s.Struct} %zu\\n\", sizeof(struct {s.Struct}));\n" +
                string.Concat(s.Fields.Select(f => $"    printf(\"{s.Struct}.{f} %zu\\n\", offsetof(struct {s.Struct}, {f}));\n"))));
            var source = Path.Combine(dir.FullName, "layout.c");
            File.WriteAllText(source, $$"""
                #define _GNU_SOURCE
                #include <stddef.h>
                #include <stdio.h>
                #include <sys/socket.h>
                #include <sys/uio.h>
                #include <netinet/in.h>
                #include <net/if.h>
                #include <poll.h>
                #include <sys/resource.h>
                #include <sys/vfs.h>
                #include <linux/if_xdp.h>
                #include <linux/errqueue.h>
                #include <linux/filter.h>
                #include <linux/ethtool.h>
                #include <linux/netlink.h>
                #include <linux/rtnetlink.h>
                #include <linux/fib_rules.h>
                #include <linux/genetlink.h>
                #include <bpf/libbpf.h>
                #include <bpf/bpf.h>
                #include "fanout_shared.h"
                int main(void)
                {
                {{prints}}    return 0;
                }
                """);
            var include = Path.Combine(ConfigLoaderTests.RepositoryRoot(), "bpf", "include");
            var binary = Path.Combine(dir.FullName, "layout");
            Shell.Run($"gcc -I{include} -o {binary} {source}");
            return Shell.Run(binary).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .ToDictionary(parts => parts[0], parts => long.Parse(parts[1]));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
