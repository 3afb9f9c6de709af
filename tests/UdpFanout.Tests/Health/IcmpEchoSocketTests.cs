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
}
