using System.Buffers.Binary;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// Test datagrams: an 8-byte sequence number followed by bytes derived from it, so a receiver can tell a datagram
/// that arrived whole from one that was cut, padded or mixed with another.
/// </summary>
internal static class NumberedPayload
{
    public static void Write(Span<byte> payload, long sequence)
    {
        BinaryPrimitives.WriteInt64LittleEndian(payload, sequence);
        for (var i = 8; i < payload.Length; i++)
        {
            payload[i] = Filler(sequence, i, payload.Length);
        }
    }

    public static byte[] Create(long sequence, int length)
    {
        var payload = new byte[length];
        Write(payload, sequence);
        return payload;
    }

    public static bool TryRead(ReadOnlySpan<byte> payload, out long sequence)
    {
        sequence = -1;
        if (payload.Length < 8)
        {
            return false;
        }
        var candidate = BinaryPrimitives.ReadInt64LittleEndian(payload);
        for (var i = 8; i < payload.Length; i++)
        {
            if (payload[i] != Filler(candidate, i, payload.Length))
            {
                return false;
            }
        }
        sequence = candidate;
        return true;
    }

    // Depends on the length too, so a truncated datagram never passes as a shorter valid one.
    private static byte Filler(long sequence, int index, int length) => (byte)(sequence * 31 + index * 7 + length);
}
