using System.Reflection;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Interop.Netlink;

/// <summary>Every number of the netlink uAPI the daemon names has the value the C headers give it, as the compiler reads them.</summary>
public sealed class NetlinkConstantsTests
{
    /// <summary>Constants that are no name in C, with the C expression that makes them.</summary>
    private static readonly Dictionary<string, string> Expressions = new()
    {
        ["TC_H_CLSACT_INGRESS"] = "TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS)",
        ["TC_H_CLSACT_EGRESS"] = "TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)",
        ["NLA_TYPE_MASK"] = "(unsigned short)NLA_TYPE_MASK",
    };

    [Fact]
    public void Constants_EveryNumber_HasTheCHeadersValue()
    {
        // <linux/netdev.h> came with Linux 6.3, after Debian 12's headers (6.1): its numbers are proven by
        // XdpTransmittersTests and GenlFamilyTests against the running kernel instead.
        var constants = typeof(global::Interop.Netlink).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral && f.FieldType != typeof(string) && !f.Name.StartsWith("NETDEV_"))
            .ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue()));
        var dir = Directory.CreateTempSubdirectory("netlink-constants-");
        try
        {
            var source = Path.Combine(dir.FullName, "constants.c");
            File.WriteAllText(source, $$"""
                #include <stdio.h>
                #include <sys/socket.h>
                #include <linux/netlink.h>
                #include <linux/rtnetlink.h>
                #include <linux/fib_rules.h>
                #include <linux/genetlink.h>
                #include <linux/neighbour.h>
                #include <linux/pkt_sched.h>
                int main(void)
                {
                {{string.Concat(constants.Keys.Select(name => $"    printf(\"{name} %lld\\n\", (long long)({Expressions.GetValueOrDefault(name, name)}));\n"))}}    return 0;
                }
                """);
            var binary = Path.Combine(dir.FullName, "constants");
            Shell.Run($"gcc -o {binary} {source}");
            var measured = Shell.Run(binary).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => line.Split(' '))
                .ToDictionary(parts => parts[0], parts => long.Parse(parts[1]));

            Assert.Equal(measured.OrderBy(c => c.Key), constants.OrderBy(c => c.Key));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
