using System.Diagnostics;
using System.Text;
using UdpFanout.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Configuration;

/// <summary>
/// 100,000 YAML documents, random and mutated from real configs, through the loader: each one must give a config
/// or config errors with positions, and nothing else (no other exception, no crash, no stall). The seed is fixed,
/// so a failure reproduces; the failing document is written to a file named in the message.
/// </summary>
// Up to half a minute of a busy core: run apart from the tests that measure time (health intervals, traffic).
[Collection(KernelCollection.Name)]
public sealed class ConfigLoaderFuzzTests
{
    private const int Documents = 100_000;
    private static readonly TimeSpan PerDocument = TimeSpan.FromSeconds(2);

    private static readonly string[] Interesting =
    [
        "NaN", ".nan", "Infinity", "-Infinity", ".inf", "-.inf", "1e400", "-1", "0", "-0", "0.0", "4294967296", "9223372036854775808",
        new string('9', 400), "0x10", "1_000", "\"\"", "''", "~", "null", "true", "yes", "on", "\"0.0.0.0:0\"", "\"127.0.0.1:65536\"",
        "\"[::1]:5514\"", "\"1.2.3.4:-1\"", "&a x", "*a", "*nosuch", "!!binary aGk=", "!!int x", "|\n  text", ">-\n  text", "<<: *a",
        "[]", "{}", "[[[[[[]]]]]]", "{a: {b: {c: {}}}}", "? [a]\n: b", "\t", "\u0000", "\uFEFF", "é", "%YAML 1.2\n---", "---", "...",
    ];

    private static readonly string[] Keys =
    [
        "listeners", "name", "bind", "mode", "interface", "downstream", "address", "workers", "cpus", "batch_size", "recv_buffer_bytes",
        "send_buffer_bytes", "max_packet_size", "xdp_mode", "xdp", "queues", "metrics_bind", "kubernetes", "namespace", "service", "port",
        "port_name", "kubeconfig", "health", "enabled", "interval_secs", "timeout_secs", "protocol", "probe_port", "unhealthy_threshold",
        "healthy_threshold", "fail_open", "metrics", "tuning", "mtu", "combined_channels", "memlock",
    ];

    private const string Syntax = "[]{}:,-?&*!|>'\"#%@` \n\t.0123456789";

    [Fact]
    public void Parse_100kRandomAndMutatedDocuments_EachGivesAConfigOrPositionedErrors()
    {
        var seeds = Seeds();
        var random = new Random(20261125);
        var outcomes = new int[2];
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < Documents; i++)
        {
            var text = i % 10 == 0 ? RandomDocument(random) : Mutate(random, seeds, random.Next(1, 4));
            var stopwatch = Stopwatch.StartNew();
            try
            {
                ConfigLoader.Parse(text, "fuzz.yaml");
                outcomes[0]++;
            }
            catch (ConfigException e)
            {
                Assert.NotEmpty(e.Errors);
                Assert.All(e.Errors, error => Assert.True(error.Line >= 0 && error.Column >= 0 && error.File == "fuzz.yaml", error.ToString()));
                outcomes[1]++;
            }
            catch (Exception e)
            {
                Assert.Fail($"document {i} threw {e.GetType().Name}: {e.Message}; it is in {Keep(text)}\n{e}");
            }
            var elapsed = stopwatch.Elapsed;
            Assert.True(elapsed < PerDocument, $"document {i} took {elapsed.TotalMilliseconds:F0} ms; it is in {Keep(text)}");
            slowest = elapsed > slowest ? elapsed : slowest;
        }
        // Both outcomes must occur, or the mutations are too timid (or too wild) to test anything.
        Assert.True(outcomes[0] > 1000, $"only {outcomes[0]} of {Documents} documents were valid configs");
        Assert.True(outcomes[1] > 1000, $"only {outcomes[1]} of {Documents} documents were refused");
    }

    /// <summary>The example file, its commented options switched on, and configs in the shapes the tests use.</summary>
    private static string[] Seeds()
    {
        var example = File.ReadAllText(Path.Combine(ConfigLoaderTests.RepositoryRoot(), "config.example.yaml"));
        var uncommented = System.Text.RegularExpressions.Regex.Replace(example, "^( *)# (?=[a-z_]+:|- )", "$1", System.Text.RegularExpressions.RegexOptions.Multiline);
        return
        [
            example,
            uncommented,
            ConfigLoaderTests.EveryOption,
            """
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: &sinks
                  - { name: archive, address: "10.9.0.1:5514" }
                kubernetes: { namespace: logging, service: vector-receivers, port_name: syslog, kubeconfig: /etc/udp-fanout/kubeconfig }
              - name: netflow
                bind: "10.0.0.10:2055"
                mode: tc_ebpf
                interface: eth0
                downstream: *sinks
                metrics_bind: "127.0.0.1:9719"
            """,
        ];
    }

    private static string Mutate(Random random, string[] seeds, int steps)
    {
        var text = seeds[random.Next(seeds.Length)];
        for (var step = 0; step < steps; step++)
        {
            var at = random.Next(text.Length + 1);
            var span = Math.Min(text.Length - at, random.Next(1, 40));
            text = random.Next(9) switch
            {
                0 => text.Remove(at, span),
                1 => text.Insert(at, text.Substring(at, span)),
                2 => text.Insert(at, Syntax[random.Next(Syntax.Length)].ToString()),
                3 => text.Insert(at, Interesting[random.Next(Interesting.Length)]),
                4 => ReplaceScalar(random, text),
                5 => SwapLines(random, text),
                6 => text.Insert(at, new string(random.Next(2) == 0 ? '[' : '{', random.Next(1, 200))),
                7 => text.Insert(at, new string(' ', random.Next(1, 5))),
                _ => Splice(text, at, seeds[random.Next(seeds.Length)]),
            };
        }
        return text;
    }

    /// <summary>The start of one document up to <paramref name="at"/>, the rest of another from the same offset on.</summary>
    private static string Splice(string text, int at, string other) => text[..at] + other[Math.Min(at, other.Length)..];

    /// <summary>The value after some "key: " replaced with an interesting one.</summary>
    private static string ReplaceScalar(Random random, string text)
    {
        var colons = Enumerable.Range(0, text.Length - 1).Where(i => text[i] == ':' && text[i + 1] == ' ').ToArray();
        if (colons.Length == 0)
        {
            return text;
        }
        var start = colons[random.Next(colons.Length)] + 2;
        var end = text.IndexOfAny([',', '}', '\n'], start);
        end = end < 0 ? text.Length : end;
        return text[..start] + Interesting[random.Next(Interesting.Length)] + text[end..];
    }

    private static string SwapLines(Random random, string text)
    {
        var lines = text.Split('\n');
        var (a, b) = (random.Next(lines.Length), random.Next(lines.Length));
        (lines[a], lines[b]) = (lines[b], lines[a]);
        return string.Join('\n', lines);
    }

    /// <summary>A document built from the config's own keys in random shapes, nesting and flow styles.</summary>
    private static string RandomDocument(Random random)
    {
        var text = new StringBuilder();
        Node(random, text, 0, random.Next(1, 12));
        return text.ToString();
    }

    private static void Node(Random random, StringBuilder text, int indent, int budget)
    {
        switch (budget <= 0 ? 0 : random.Next(4))
        {
            case 0:
                text.Append(random.Next(3) == 0 ? Interesting[random.Next(Interesting.Length)] : Keys[random.Next(Keys.Length)]);
                break;
            case 1:
                text.Append('[');
                for (var i = random.Next(4); i > 0; i--)
                {
                    Node(random, text, indent, budget - 3);
                    text.Append(i > 1 ? ", " : "");
                }
                text.Append(']');
                break;
            case 2:
                text.Append('{');
                for (var i = random.Next(4); i > 0; i--)
                {
                    text.Append(Keys[random.Next(Keys.Length)]).Append(": ");
                    Node(random, text, indent, budget - 3);
                    text.Append(i > 1 ? ", " : "");
                }
                text.Append('}');
                break;
            default:
                for (var i = random.Next(1, 4); i > 0; i--)
                {
                    text.Append('\n').Append(' ', indent).Append(random.Next(3) == 0 ? "- " : "").Append(Keys[random.Next(Keys.Length)]).Append(": ");
                    Node(random, text, indent + 2, budget - 2);
                }
                break;
        }
    }

    private static string Keep(string text)
    {
        var path = Path.Combine(Path.GetTempPath(), $"udp-fanout-fuzz-{Guid.NewGuid():N}.yaml");
        File.WriteAllText(path, text);
        return path;
    }
}
