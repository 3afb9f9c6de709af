using System.Net;
using UdpFanout.Health;
using static Interop.Libc;

namespace UdpFanout.Tests.Health;

public sealed class IcmpEchoSocketTests
{
    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1")]
    public async Task Receive_TwoCheckersProbing_EachReadsOnlyTheRepliesToItsOwnProbes(string address)
    {
        using var mine = IcmpEchoSocket.Open();
        using var other = IcmpEchoSocket.Open();
        OutgoingProbe[] probes = [new() { Destination = sockaddr_inet.From(new IPEndPoint(IPAddress.Parse(address), 0)), Token = 42, Sequence = 1 }];

        mine.Send(probes);

        Assert.True(probes[0].Sent);
        var replies = new ProbeReply[ProbeSocket.Batch];
        var read = 0;
        for (var tries = 0; tries < 100 && read == 0; tries++)
        {
            await Task.Delay(10);
            read = mine.Receive(replies, out _);
        }
        Assert.Equal(1, read);
        Assert.True(mine.Matches(probes[0], replies[0]));
        Assert.Equal((UInt128)42, replies[0].Token);
        Assert.Equal(0, other.Receive(replies, out _));
    }

    [Theory]
    [InlineData(new byte[] { 0x08, 0x00, 0x00, 0x00, 0x12, 0x34, 0x00, 0x01 }, 0xe5ca)]
    [InlineData(new byte[] { 0x00, 0x01, 0xf2 }, 0x0dfe)]
    public void InternetChecksum_MatchesRfc1071(byte[] bytes, int expected) =>
        Assert.Equal((ushort)expected, IcmpEchoSocket.InternetChecksum(bytes));
}
