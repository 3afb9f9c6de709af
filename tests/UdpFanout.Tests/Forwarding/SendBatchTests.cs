using System.Net;
using UdpFanout.Forwarding;
using UdpFanout.Tests.Interop;
using static Interop.Libc;

namespace UdpFanout.Tests.Forwarding;

/// <summary>The IPv6 lane's messages as sendmmsg reads them: with a learnt source, one IPV6_PKTINFO control message in the C layout.</summary>
public sealed unsafe class SendBatchTests
{
    private static readonly sockaddr_inet Downstream = sockaddr_inet.From(IPEndPoint.Parse("[fd83:11::2]:6000"));

    [Fact]
    public void Add_WithASource_TheMessageCarriesOneIpv6PktinfoControlMessageNamingIt()
    {
        using var lane = new SendBatch.Lane(4, sources: true);
        var payload = stackalloc byte[8];
        var source = Pktinfo("fd83:11::1");

        lane.Add(payload, 8, 0, Downstream);
        lane.Add(payload, 8, 1, Downstream, source);

        ref var message = ref lane.Hdr[1].msg_hdr;
        // CMSG_SPACE and CMSG_LEN of the 20-byte in6_pktinfo on a 64-bit kernel: a 16-byte header, data padded to 24.
        Assert.Equal(16, NativeLayout.Of("cmsghdr"));
        Assert.Equal(20, NativeLayout.Of("in6_pktinfo"));
        Assert.Equal((nuint)40, message.msg_controllen);
        var header = (cmsghdr*)message.msg_control;
        Assert.Equal((nuint)36, header->cmsg_len);
        Assert.Equal((SOL_IPV6, IPV6_PKTINFO), (header->cmsg_level, header->cmsg_type));
        // CMSG_DATA: right after the header, where the kernel reads the address and an interface index of 0 (the route's).
        var data = (in6_pktinfo*)((byte*)header + 16);
        Assert.Equal(IPAddress.Parse("fd83:11::1"), new IPAddress(new ReadOnlySpan<byte>(data->ipi6_addr, 16)));
        Assert.Equal(0, data->ipi6_ifindex);
        // The message's own fields are those of a datagram without a source.
        Assert.Equal((nuint)1, message.msg_iovlen);
        Assert.Equal((uint)sizeof(sockaddr_in6), message.msg_namelen);
        // The datagram without a source carries no control message; each datagram has a buffer of its own.
        Assert.True(lane.Hdr[0].msg_hdr.msg_control == null);
        Assert.Equal((nuint)0, lane.Hdr[0].msg_hdr.msg_controllen);
    }

    [Fact]
    public void TakeSource_OfAMessageWithOne_LeavesItWithoutAndSaysSoOnce()
    {
        using var lane = new SendBatch.Lane(2, sources: true);
        var payload = stackalloc byte[8];
        lane.Add(payload, 8, 0, Downstream, Pktinfo("fd83:11::1"));

        Assert.True(lane.TakeSource(0));
        Assert.False(lane.TakeSource(0));
        Assert.True(lane.Hdr[0].msg_hdr.msg_control == null);
        Assert.Equal((nuint)0, lane.Hdr[0].msg_hdr.msg_controllen);
    }

    [Fact]
    public void Add_AnEntryReusedWithoutASource_CarriesNoneFromTheEarlierBatch()
    {
        using var lane = new SendBatch.Lane(2, sources: true);
        var payload = stackalloc byte[8];
        lane.Add(payload, 8, 0, Downstream, Pktinfo("fd83:11::1"));
        lane.Count = 0;

        lane.Add(payload, 8, 0, Downstream);

        Assert.True(lane.Hdr[0].msg_hdr.msg_control == null);
    }

    [Fact]
    public void Known_TheUnspecifiedAddress_IsNotASource()
    {
        Assert.False(DownstreamSources.Known(default));
        Assert.True(DownstreamSources.Known(Pktinfo("fd83:11::1")));
    }

    private static in6_pktinfo Pktinfo(string address)
    {
        var result = new in6_pktinfo();
        IPAddress.Parse(address).TryWriteBytes(new Span<byte>(result.ipi6_addr, 16), out _);
        return result;
    }
}
