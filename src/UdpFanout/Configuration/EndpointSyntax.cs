using System.Net;
using System.Net.Sockets;

namespace UdpFanout.Configuration;

/// <summary>
/// The "address:port" spellings the config accepts: "10.0.0.1:5514" (four decimal octets, <see cref="DottedQuad"/>)
/// and "[fd00::12]:5514" (an IPv6 address in brackets, as in URLs, RFC 3986). Anything a reader could take two ways
/// is refused with what it would have meant rather than guessed.
/// </summary>
internal static class EndpointSyntax
{
    /// <summary>Null when <paramref name="text"/> is accepted (then <paramref name="endpoint"/> is set); else what is wrong.</summary>
    public static string? Refusal(string text, out IPEndPoint? endpoint)
    {
        endpoint = null;
        var colon = text.LastIndexOf(':');
        // An IPv6 address without brackets: in "fd00::1:5514" the last group may be the port or part of the address.
        if (!text.StartsWith('[') && text.IndexOf(':') != colon)
        {
            var example = IPAddress.TryParse(text, out var whole) && whole.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{whole}]:5514" : "[fd00::12]:5514";
            return $"'{text}' is an IPv6 address without brackets, which is ambiguous (is the last group the port?): write the address in brackets before the port, such as \"{example}\"";
        }
        if (colon > 0 && int.TryParse(text[(colon + 1)..], out var port) && port > 65535 && IPAddress.TryParse(text[..colon], out _))
        {
            return $"port {port} is out of range (1..65535)";
        }
        if (text.Contains('%'))
        {
            return $"'{text}' has a scope id ('%' and an interface); the config takes none: give a global or unique local (fd00::/8) address";
        }
        if (!IPEndPoint.TryParse(text, out var parsed) || colon < 0 || colon == text.Length - 1 || text.StartsWith('[') && text[colon - 1] != ']')
        {
            return text.StartsWith('[')
                ? $"'{text}' is not an address:port such as \"[fd00::12]:5514\""
                : $"'{text}' is not an address:port such as \"10.0.0.1:5514\"";
        }
        if (parsed.AddressFamily == AddressFamily.InterNetwork && !DottedQuad.IsDottedQuad(text.AsSpan(0, colon)))
        {
            return DottedQuad.Refusal(text, parsed);
        }
        if (parsed.Address.IsIPv4MappedToIPv6)
        {
            return $"'{text}' is an IPv4-mapped IPv6 address; write the IPv4 address as such: \"{new IPEndPoint(parsed.Address.MapToIPv4(), parsed.Port)}\"";
        }
        if (parsed.Address.IsIPv6LinkLocal)
        {
            return $"'{text}' is a link-local address, which means something only together with an interface (a scope id), and the config takes none: give a global or unique local (fd00::/8) address";
        }
        if (parsed.Port == 0)
        {
            return $"'{text}' has port 0; give a port between 1 and 65535";
        }
        endpoint = parsed;
        return null;
    }
}
