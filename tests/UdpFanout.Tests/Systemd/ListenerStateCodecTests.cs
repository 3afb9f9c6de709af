using System.Net;
using System.Security.Cryptography;
using System.Text;
using UdpFanout.Balancing;
using UdpFanout.Systemd;

namespace UdpFanout.Tests.Systemd;

/// <summary>
/// The state blob kept in systemd's store: what is written reads back the same, and whatever else the next process
/// finds (torn by a crash mid-write, another version's, garbage) is refused with a reason, never thrown.
/// </summary>
public sealed class ListenerStateCodecTests
{
    private static readonly ListenerState[] States =
    [
        new("syslog", null, [new Downstream("sink-2", IPEndPoint.Parse("10.0.0.2:5514"))], []),
        new("pods", "logging/vector/6000",
            [new Downstream("vector-1", IPEndPoint.Parse("10.244.0.11:6000"))],
            [new Downstream("vector-0", IPEndPoint.Parse("10.244.0.10:6000")), new Downstream("vector-1", IPEndPoint.Parse("10.244.0.11:6000")) { Weight = 0 },
             new Downstream("v6 \"quoted\" ü", IPEndPoint.Parse("[fd00::5]:6000"))]),
    ];

    [Fact]
    public void Decode_WhatEncodeWrote_GivesTheSameStates()
    {
        var decoded = ListenerStateCodec.Decode(ListenerStateCodec.Encode(States), out var error);

        Assert.Equal("", error);
        Assert.NotNull(decoded);
        Assert.Equal(States.Length, decoded.Count);
        for (var i = 0; i < States.Length; i++)
        {
            Assert.Equal((States[i].Listener, States[i].Discovery), (decoded[i].Listener, decoded[i].Discovery));
            Assert.Equal(States[i].Down, decoded[i].Down);
            Assert.Equal(States[i].Discovered, decoded[i].Discovered);
            Assert.Equal(States[i].Discovered.Select(d => d.Weight), decoded[i].Discovered.Select(d => d.Weight));
        }
    }

    [Fact]
    public void Decode_NoListeners_GivesAnEmptyList()
    {
        Assert.Empty(ListenerStateCodec.Decode(ListenerStateCodec.Encode([]), out _)!);
    }

    [Theory]
    [InlineData("", "not a state blob of udp-fanout")]
    [InlineData("udp-fanout-state 1 abc", "not a state blob of udp-fanout")]
    [InlineData("something else entirely\n[]", "not a state blob of udp-fanout")]
    [InlineData("udp-fanout-state 2 00\n[]", "format version 2, this version reads 1")]
    [InlineData("udp-fanout-state 1 00\n[]", "its checksum does not match (written in part when the process died?)")]
    public void Decode_NotAWholeBlobOfThisVersion_IsRefusedWithTheReason(string blob, string reason)
    {
        Assert.Null(ListenerStateCodec.Decode(Encoding.UTF8.GetBytes(blob), out var error));
        Assert.Equal(reason, error);
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("[1]")]
    [InlineData("[{}]")]
    [InlineData("[{\"listener\":null,\"discovery\":null,\"down\":[],\"discovered\":[]}]")]
    [InlineData("[{\"listener\":\"a\",\"discovery\":null,\"down\":{},\"discovered\":[]}]")]
    [InlineData("[{\"listener\":\"a\",\"discovery\":null,\"down\":[{\"name\":\"x\",\"address\":\"nowhere\",\"weight\":1}],\"discovered\":[]}]")]
    [InlineData("[{\"listener\":\"a\",\"discovery\":null,\"down\":[],\"discovered\":[{\"name\":\"x\",\"address\":\"10.0.0.1:1\",\"weight\":101}]}]")]
    [InlineData("[{\"listener\":\"a\",\"discovery\":null,\"down\":[],\"discovered\":[{\"name\":\"x\",\"address\":\"10.0.0.1:1\",\"weight\":\"1\"}]}]")]
    [InlineData("[{\"listener\":\"a\",\"discovery\":null,\"down\":[],\"discovered\":[{\"name\":\"x\",\"address\":\"10.0.0.1:1\",\"weight\":1e99}]}]")]
    [InlineData("[{\"listener\":\"a\"")]
    public void Decode_SealedButNotWhatThisVersionWrites_IsRefusedWithTheReason(string json)
    {
        var body = Encoding.UTF8.GetBytes(json);
        var blob = Encoding.ASCII.GetBytes($"udp-fanout-state 1 {Convert.ToHexStringLower(SHA256.HashData(body))}\n").Concat(body).ToArray();

        Assert.Null(ListenerStateCodec.Decode(blob, out var error));
        Assert.StartsWith("its content is not what this version wrote: ", error);
    }

    [Fact]
    public void Decode_TornWritesAndRandomDamage_AreRefusedNeverThrown()
    {
        var blob = ListenerStateCodec.Encode(States);
        var older = ListenerStateCodec.Encode(States.Take(1));
        var random = new Random(15);
        for (var i = 0; i < 20_000; i++)
        {
            var damaged = blob.ToArray();
            switch (i % 4)
            {
                case 0:
                    // A crash between the write and the truncate, or in the middle of the write.
                    damaged = [.. damaged.AsSpan(0, random.Next(damaged.Length))];
                    break;
                case 1:
                    damaged[random.Next(damaged.Length)] ^= (byte)(1 << random.Next(8));
                    break;
                case 2:
                    // The new blob written over part of the old one.
                    var cut = random.Next(older.Length);
                    damaged = [.. blob.AsSpan(0, Math.Min(cut, blob.Length)), .. older.AsSpan(cut)];
                    break;
                default:
                    random.NextBytes(damaged);
                    break;
            }
            // A whole blob (the old one, when the cut fell in the header both share) is not damaged.
            if (damaged.AsSpan().SequenceEqual(blob) || damaged.AsSpan().SequenceEqual(older))
            {
                continue;
            }
            Assert.Null(ListenerStateCodec.Decode(damaged, out var error));
            Assert.NotEqual("", error);
        }
    }
}
