using System.Net;

namespace UdpFanout.Configuration;

/// <summary>
/// The one IPv4 spelling the config accepts: four decimal octets. inet_aton, which IPAddress.Parse follows, also
/// reads "2130706433", "127.1", "010.0.0.1" (octal: 8.0.0.1) and "0x7f.0.0.1" (hex), and each of them names an
/// address that the writer rarely meant (the first two are 127.0.0.1: a loop back into this host).
/// </summary>
internal static class DottedQuad
{
    public static bool IsDottedQuad(ReadOnlySpan<char> text)
    {
        var octets = 0;
        foreach (var range in text.Split('.'))
        {
            var octet = text[range];
            // A leading zero is how inet_aton spells octal, so "010" is refused rather than guessed.
            if (++octets > 4 || octet.Length is 0 or > 3 || octet.Length > 1 && octet[0] == '0'
                || octet.ContainsAnyExceptInRange('0', '9') || int.Parse(octet) > 255)
            {
                return false;
            }
        }
        return octets == 4;
    }

    /// <summary>Why <paramref name="text"/> is refused, and what it would have meant.</summary>
    public static string Refusal(string text, IPEndPoint readAs) =>
        $"'{text}' is not four decimal octets: it would read as {readAs} (a number, fewer than four parts, a leading 0 "
        + $"(octal) or 0x (hex) rarely mean what they seem); write the address as \"{readAs}\" if that is the one meant";
}
