using System.Diagnostics;
using System.Text;
using UdpFanout.Configuration;

namespace UdpFanout.Tests.Configuration;

/// <summary>Input built to crash or stall a YAML loader is refused with a position, like any other config error.</summary>
public sealed class YamlLimitsTests
{
    private const string File = "/etc/udp-fanout/config.yaml";

    private const string Listener = """
        listeners:
          - name: syslog
            bind: "0.0.0.0:5514"
            downstream: [{ name: a, address: "10.0.0.1:6000" }]

        """;

    [Theory]
    [InlineData("NaN", "'NaN' is not a number of seconds")]
    [InlineData("nan", "'nan' is not a number of seconds")]
    [InlineData(".nan", "'.nan' is not a number of seconds")]
    [InlineData("Infinity", "'Infinity' is not a number of seconds")]
    [InlineData("-Infinity", "'-Infinity' is not a number of seconds")]
    [InlineData("∞", "'∞' is not a number of seconds")]
    [InlineData(".inf", "'.inf' is not a number of seconds")]
    [InlineData("1e400", "'1e400' is not a number of seconds")]
    [InlineData("-1", "'-1' is not a number of seconds")]
    [InlineData("-0.5", "'-0.5' is not a number of seconds")]
    public void Parse_IntervalNotAFiniteNonNegativeNumber_IsRefusedWithItsPosition(string value, string message)
    {
        var error = RefusedWith(Listener + $"health: {{ enabled: true, interval_secs: {value} }}\n");

        Assert.Equal($"{File}:5:41: health.interval_secs: {message}", error);
    }

    [Fact]
    public void Parse_IntervalWithHundredsOfDigits_IsOutOfRange()
    {
        var huge = new string('9', 400);

        var error = RefusedWith(Listener + $"health: {{ interval_secs: {huge} }}\n");

        Assert.Equal($"{File}:5:26: health.interval_secs: {huge} is out of range (0.05..3600 seconds)", error);
    }

    [Theory]
    [InlineData("[", "]")]
    [InlineData("{a: ", "}")]
    public void Parse_100kNestedFlowCollections_IsRefusedAtTheFirstLevelTooDeep(string open, string close)
    {
        var text = "listeners: " + string.Concat(Enumerable.Repeat(open, 100_000)) + string.Concat(Enumerable.Repeat(close, 100_000)) + "\n";

        var error = RefusedWith(text);

        Assert.Equal($"{File}:1:{12 + (YamlLimits.MaxDepth - 1) * open.Length}: (yaml): nested deeper than {YamlLimits.MaxDepth} levels", error);
    }

    [Fact]
    public void Parse_100kUnclosedBrackets_IsRefusedAtTheFirstLevelTooDeep()
    {
        var error = RefusedWith("listeners: " + new string('[', 100_000));

        Assert.Equal($"{File}:1:{11 + YamlLimits.MaxDepth}: (yaml): nested deeper than {YamlLimits.MaxDepth} levels", error);
    }

    [Fact]
    public void Parse_DeepBlockNesting_IsRefused()
    {
        var text = new StringBuilder("listeners:\n");
        for (var level = 1; level <= 3000; level++)
        {
            text.Append(' ', level).Append("- \n");
        }

        var error = RefusedWith(text.ToString());

        Assert.EndsWith($"(yaml): nested deeper than {YamlLimits.MaxDepth} levels", error);
    }

    [Fact]
    public void Parse_AliasChainUsedAsMappingKey_IsRefusedQuickly()
    {
        // Each anchor doubles the one before: 2^40 nodes when expanded, in a file under 1 KiB.
        var text = new StringBuilder("a0: &a0 [x, x]\n");
        for (var i = 1; i <= 40; i++)
        {
            text.Append($"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n");
        }
        text.Append("listeners: { *a40 : 1 }\n");
        var stopwatch = Stopwatch.StartNew();

        var error = RefusedWith(text.ToString());

        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(1), $"took {stopwatch.Elapsed}");
        Assert.EndsWith($"(yaml): aliases expand to more than {YamlLimits.MaxExpandedNodes} nodes", error);
    }

    [Fact]
    public void Parse_AliasOfAListUsedAsMappingKey_IsRefused()
    {
        var errors = Refused("a: &a [x, y]\nlisteners: { *a : 1 }\n");

        Assert.Contains($"{File}:2:14: (yaml): a mapping key must be a plain value, not an alias of a list or mapping", errors);
    }

    [Fact]
    public void Parse_ListUsedAsMappingKey_IsRefused()
    {
        var errors = Refused("? [a, b]\n: 1\n" + Listener);

        Assert.Contains($"{File}:1:3: (yaml): a mapping key must be a plain value, not a list or mapping", errors);
    }

    [Fact]
    public void Parse_AliasChainUsedAsValue_IsRefusedBeforeItExpands()
    {
        var text = new StringBuilder("a0: &a0 [x, x]\n");
        for (var i = 1; i <= 40; i++)
        {
            text.Append($"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n");
        }
        text.Append("listeners: *a40\n");

        var errors = Refused(text.ToString());

        Assert.Contains(errors, e => e.EndsWith($"(yaml): aliases expand to more than {YamlLimits.MaxExpandedNodes} nodes", StringComparison.Ordinal));
    }

    [Fact]
    public void Parse_ModestAnchorsAndAliases_StillWork()
    {
        var config = ConfigLoader.Parse("""
            listeners:
              - name: syslog
                bind: "0.0.0.0:5514"
                downstream: &sinks
                  - { name: a, address: "10.0.0.1:6000" }
                  - { name: b, address: "10.0.0.2:6000" }
              - name: flows
                bind: "0.0.0.0:2055"
                downstream: *sinks
            """, File);

        Assert.Equal(config.Listeners[0].Downstreams, config.Listeners[1].Downstreams);
    }

    private static string RefusedWith(string text) => Assert.Single(Refused(text));

    private static string[] Refused(string text) =>
        Assert.Throws<ConfigException>(() => ConfigLoader.Parse(text, File)).Errors.Select(e => e.ToString()).ToArray();
}
