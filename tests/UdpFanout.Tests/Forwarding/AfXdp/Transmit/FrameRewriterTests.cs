using System.Buffers.Binary;
using System.Net;
using UdpFanout.Forwarding.AfXdp.Transmit;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Forwarding.AfXdp.Transmit;

/// <summary>The in-place rewrite against frames whose checksums were computed from scratch.</summary>
public sealed unsafe class FrameRewriterTests
{
    private static readonly byte[] NewDestinationMac = [0x02, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE];
    private static readonly byte[] NewSourceMac = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];

    public static TheoryData<string> Cases => ["plain", "options", "no UDP checksum", "empty payload", "odd payload"];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Rewrite_ToAnotherDestination_GivesTheFrameBuiltFromScratchWithTheClientsSourceKept(string name)
    {
        var received = name switch
        {
            "options" => new Ipv4UdpFrame { IpOptions = [1, 1, 1, 0] },
            "no UDP checksum" => new Ipv4UdpFrame { ZeroUdpChecksum = true },
            "empty payload" => new Ipv4UdpFrame { Payload = [] },
            "odd payload" => new Ipv4UdpFrame { Payload = [9, 8, 7] },
            _ => new Ipv4UdpFrame(),
        };

        var rewritten = Rewrite(received, IPAddress.Parse("198.51.100.7"), 6001);

        var expected = received with { Destination = IPAddress.Parse("198.51.100.7"), DestinationPort = 6001, Ttl = 63 };
        Assert.Equal(WithMacs(expected.Build()), rewritten);
    }

    [Fact]
    public void Rewrite_20000RandomFrames_EachEqualsTheFrameBuiltFromScratch()
    {
        // Random addresses, ports, TTLs and payloads reach every carry and the checksums' zero and all-ones edges.
        var random = new Random(14);
        for (var i = 0; i < 20_000; i++)
        {
            var received = new Ipv4UdpFrame
            {
                Source = new IPAddress(random.NextInt64(0, 1L << 32)),
                Destination = new IPAddress(random.NextInt64(0, 1L << 32)),
                SourcePort = random.Next(1, 65536),
                DestinationPort = random.Next(1, 65536),
                Ttl = (byte)random.Next(2, 256),
                Payload = Enumerable.Range(0, random.Next(0, 40)).Select(_ => (byte)random.Next(256)).ToArray(),
            };
            var destination = new IPAddress(random.NextInt64(0, 1L << 32));
            var port = random.Next(1, 65536);

            var rewritten = Rewrite(received, destination, port);

            var expected = WithMacs((received with { Destination = destination, DestinationPort = port, Ttl = (byte)(received.Ttl - 1) }).Build());
            Assert.True(expected.AsSpan().SequenceEqual(rewritten), $"frame {i}: {Convert.ToHexString(rewritten)} instead of {Convert.ToHexString(expected)}");
        }
    }

    private static byte[] Rewrite(Ipv4UdpFrame received, IPAddress destination, int port)
    {
        var frame = received.Build();
        var address = BitConverter.ToUInt32(destination.GetAddressBytes());
        var networkPort = BinaryPrimitives.ReverseEndianness((ushort)port);
        fixed (byte* start = frame)
        {
            FrameRewriter.Rewrite(start, 14 + 20 + received.IpOptions.Length, FrameRewriter.PackMac(NewDestinationMac), FrameRewriter.PackMac(NewSourceMac), address, networkPort);
        }
        return frame;
    }

    private static byte[] WithMacs(byte[] frame)
    {
        NewDestinationMac.CopyTo(frame, 0);
        NewSourceMac.CopyTo(frame, 6);
        return frame;
    }
}
