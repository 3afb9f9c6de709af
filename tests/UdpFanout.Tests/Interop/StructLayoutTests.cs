using System.Runtime.InteropServices;
using static Interop.Fanout;
using static Interop.Libbpf;
using static Interop.Libc;
using static Interop.Netlink;
using static Interop.Xdp;

namespace UdpFanout.Tests.Interop;

/// <summary>Every struct the daemon shares with native code has exactly the C layout (see <see cref="NativeLayout"/>).</summary>
public sealed unsafe class StructLayoutTests
{
    [Fact]
    public void Libc_SocketStructs_MatchTheCLayout()
    {
        AssertLayout<iovec>("iovec");
        AssertLayout<msghdr>("msghdr");
        AssertLayout<mmsghdr>("mmsghdr");
        AssertLayout<sockaddr_in>("sockaddr_in");
        AssertLayout<sockaddr_in6>("sockaddr_in6");
        AssertLayout<cmsghdr>("cmsghdr");
        AssertLayout<in6_pktinfo>("in6_pktinfo");
        AssertLayout<sock_extended_err>("sock_extended_err");
        AssertLayout<sock_filter>("sock_filter");
        AssertLayout<sock_fprog>("sock_fprog");
    }

    /// <summary>The union of the two: as large as the larger, with family and port where both keep them.</summary>
    [Fact]
    public void Libc_SockaddrInet_HoldsEitherFamilyWithFamilyAndPortInPlace()
    {
        Assert.Equal(NativeLayout.Of("sockaddr_in6"), sizeof(sockaddr_inet));
        Assert.Equal(NativeLayout.Of("sockaddr_in.sin_family"), Marshal.OffsetOf<sockaddr_inet>(nameof(sockaddr_inet.family)));
        Assert.Equal(NativeLayout.Of("sockaddr_in6.sin6_family"), Marshal.OffsetOf<sockaddr_inet>(nameof(sockaddr_inet.family)));
        Assert.Equal(NativeLayout.Of("sockaddr_in.sin_port"), Marshal.OffsetOf<sockaddr_inet>(nameof(sockaddr_inet.port)));
        Assert.Equal(NativeLayout.Of("sockaddr_in6.sin6_port"), Marshal.OffsetOf<sockaddr_inet>(nameof(sockaddr_inet.port)));
    }

    [Fact]
    public void Libbpf_OptionStructs_MatchTheCLayout()
    {
        AssertLayout<bpf_tc_hook>("bpf_tc_hook");
        AssertLayout<bpf_tc_opts>("bpf_tc_opts");
        AssertLayout<bpf_test_run_opts>("bpf_test_run_opts");
        AssertLayout<bpf_xdp_query_opts>("bpf_xdp_query_opts");
        // Only its head: libbpf reads no further than sz, so the rest of the struct is left out on purpose.
        Assert.Equal(NativeLayout.Of("bpf_link_create_opts.sz"), Marshal.OffsetOf<bpf_link_create_opts>(nameof(bpf_link_create_opts.sz)));
        Assert.Equal(NativeLayout.Of("bpf_link_create_opts.flags"), Marshal.OffsetOf<bpf_link_create_opts>(nameof(bpf_link_create_opts.flags)));
    }

    [Fact]
    public void Libbpf_LinkInfo_MatchesTheCLayout()
    {
        Assert.Equal(NativeLayout.Of("bpf_link_info.type"), Marshal.OffsetOf<bpf_link_info>(nameof(bpf_link_info.type)));
        Assert.Equal(NativeLayout.Of("bpf_link_info.id"), Marshal.OffsetOf<bpf_link_info>(nameof(bpf_link_info.id)));
        Assert.Equal(NativeLayout.Of("bpf_link_info.prog_id"), Marshal.OffsetOf<bpf_link_info>(nameof(bpf_link_info.prog_id)));
        // Debian 12's header predates tcx (Linux 6.6), whose { ifindex, attach_type } opens the union as these do.
        Assert.Equal(NativeLayout.Of("bpf_link_info.xdp.ifindex"), Marshal.OffsetOf<bpf_link_info>(nameof(bpf_link_info.tcx_ifindex)));
        Assert.Equal(NativeLayout.Of("bpf_link_info.netns.attach_type"), Marshal.OffsetOf<bpf_link_info>(nameof(bpf_link_info.tcx_attach_type)));
    }

    [Fact]
    public void Libbpf_MapInfo_MatchesTheCLayout()
    {
        Assert.Equal(NativeLayout.Of("bpf_map_info.type"), Marshal.OffsetOf<bpf_map_info>(nameof(bpf_map_info.type)));
        Assert.Equal(NativeLayout.Of("bpf_map_info.id"), Marshal.OffsetOf<bpf_map_info>(nameof(bpf_map_info.id)));
    }

    [Fact]
    public void AfXdp_UapiStructs_MatchTheCLayout()
    {
        AssertLayout<xdp_umem_reg>("xdp_umem_reg");
        AssertLayout<xdp_ring_offset>("xdp_ring_offset");
        AssertLayout<xdp_mmap_offsets>("xdp_mmap_offsets");
        AssertLayout<sockaddr_xdp>("sockaddr_xdp");
        AssertLayout<xdp_desc>("xdp_desc");
        AssertLayout<xdp_statistics>("xdp_statistics");
        AssertLayout<xdp_options>("xdp_options");
    }

    [Fact]
    public void Libc_TuningAndPollStructs_MatchTheCLayout()
    {
        AssertLayout<ethtool_channels>("ethtool_channels");
        AssertLayout<ethtool_drvinfo>("ethtool_drvinfo");
        AssertLayout<rlimit>("rlimit");
        AssertLayout<statfs>("statfs");
        AssertLayout<pollfd>("pollfd");
        Assert.Equal(NativeLayout.Of("ifreq"), sizeof(ifreq));
        Assert.Equal(NativeLayout.Of("ifreq.ifr_mtu"), Marshal.OffsetOf<ifreq>(nameof(ifreq.ifr_mtu)));
        Assert.Equal(NativeLayout.Of("ifreq.ifr_data"), Marshal.OffsetOf<ifreq>(nameof(ifreq.ifr_data)));
        Assert.Equal(NativeLayout.Of("ifreq.ifr_hwaddr"), Marshal.OffsetOf<ifreq>(nameof(ifreq.ifr_hwaddr)));
    }

    [Fact]
    public void Rtnetlink_Structs_MatchTheCLayout()
    {
        AssertLayout<nlmsghdr>("nlmsghdr");
        AssertLayout<tcmsg>("tcmsg");
        AssertLayout<ndmsg>("ndmsg");
        AssertLayout<rtmsg>("rtmsg");
        AssertLayout<fib_rule_hdr>("fib_rule_hdr");
        AssertLayout<sockaddr_nl>("sockaddr_nl");
        AssertLayout<genlmsghdr>("genlmsghdr");
        AssertLayout<nlattr>("nlattr");
        // One walker reads both: rtnetlink's rtattr is nlattr under other names.
        Assert.Equal(NativeLayout.Of("rtattr"), sizeof(nlattr));
        Assert.Equal(NativeLayout.Of("rtattr.rta_len"), Marshal.OffsetOf<nlattr>(nameof(nlattr.nla_len)));
        Assert.Equal(NativeLayout.Of("rtattr.rta_type"), Marshal.OffsetOf<nlattr>(nameof(nlattr.nla_type)));
    }

    [Fact]
    public void BpfProgram_SharedStructs_MatchTheCLayout()
    {
        AssertLayout<fanout_listener>("fanout_listener");
        AssertLayout<fanout_downstream>("fanout_downstream");
        AssertLayout<fanout_counter>("fanout_counter");
        AssertLayout<fanout_xmit_watch>("fanout_xmit_watch");
        AssertLayout<fanout_route>("fanout_route");
        Assert.Equal(NativeLayout.Of("fanout_downstream_set"), sizeof(fanout_downstream_set));
        var set = new fanout_downstream_set();
        Assert.Equal(NativeLayout.Of("fanout_downstream_set.flags"), (byte*)&set.flags - (byte*)&set);
        Assert.Equal(NativeLayout.Of("fanout_downstream_set.order_len"), (byte*)&set.order_len - (byte*)&set);
        Assert.Equal(NativeLayout.Of("fanout_downstream_set.downstreams"), (byte*)&set.downstreams - (byte*)&set);
        Assert.Equal(NativeLayout.Of("fanout_downstream_set.table"), (byte*)&set.table - (byte*)&set);
    }

    private static void AssertLayout<T>(string name) where T : unmanaged
    {
        Assert.Equal((name, NativeLayout.Of(name)), (name, (long)sizeof(T)));
        foreach (var field in typeof(T).GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.Public))
        {
            Assert.Equal(($"{name}.{field.Name}", NativeLayout.Of($"{name}.{field.Name}")), ($"{name}.{field.Name}", (long)Marshal.OffsetOf<T>(field.Name)));
        }
    }
}
