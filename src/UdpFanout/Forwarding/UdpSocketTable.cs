using System.Globalization;
using System.Net;

namespace UdpFanout.Forwarding;

/// <summary>Reads <c>/proc/net/udp</c> and <c>/proc/net/udp6</c>: every UDP socket of this network namespace, whoever owns it.</summary>
internal static class UdpSocketTable
{
    public static IReadOnlyList<UdpSocketEntry> Read() =>
        [.. Parse(File.ReadAllLines("/proc/net/udp")), .. Parse(File.ReadAllLines("/proc/net/udp6"))];

    /// <summary>
    /// The lines after the header: "sl local_address rem_address st ... uid timeout inode ...". Addresses are the
    /// kernel's 32-bit words printed in hex in host byte order.
    /// </summary>
    public static IEnumerable<UdpSocketEntry> Parse(IEnumerable<string> lines)
    {
        foreach (var line in lines.Skip(1))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 10 || fields[1].Split(':') is not [var address, var port]
                || Address(address) is not { } local)
            {
                continue;
            }
            yield return new UdpSocketEntry(new IPEndPoint(local, int.Parse(port, NumberStyles.HexNumber, CultureInfo.InvariantCulture)),
                long.Parse(fields[9], CultureInfo.InvariantCulture));
        }
    }

    private static IPAddress? Address(string hex)
    {
        if (hex.Length is not (8 or 32))
        {
            return null;
        }
        var bytes = new byte[hex.Length / 2];
        for (var word = 0; word < bytes.Length / 4; word++)
        {
            var value = uint.Parse(hex.AsSpan(word * 8, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            BitConverter.TryWriteBytes(bytes.AsSpan(word * 4), value);
        }
        var address = new IPAddress(bytes);
        // An IPv6 socket on :: takes IPv4 too unless IPV6_V6ONLY, which /proc does not show: it stays [::], which
        // Binds counts as taking both families. One on ::ffff:a.b.c.d takes only that IPv4 address.
        return address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
    }
}
