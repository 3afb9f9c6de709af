using System.Reflection;

namespace UdpFanout.Tests.Interop;

/// <summary>
/// The C# copy of bpf/include/fanout_shared.h (Interop.Fanout) says exactly what the C side says: every constant,
/// every enum with every member, and every map and program name of every built object, in both directions, so a
/// member added on one side only fails here. Struct layouts are <see cref="StructLayoutTests"/>'s.
/// </summary>
public sealed class SharedContractTests
{
    private static readonly FieldInfo[] Shared = typeof(global::Interop.Fanout).GetFields(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)
        .Where(f => f.IsLiteral).ToArray();

    [Fact]
    public void Constants_EveryOneOnEitherSide_HasTheSameValueOnTheOther()
    {
        var csharp = Shared.Where(f => f.FieldType != typeof(string)).ToDictionary(f => f.Name, f => Convert.ToInt64(f.GetRawConstantValue()));

        Assert.NotEmpty(NativeContract.Constants);
        Assert.Equal(Sorted(NativeContract.Constants), Sorted(csharp));
    }

    [Fact]
    public void Enums_EveryMemberOnEitherSide_HasTheSameValueOnTheOther()
    {
        var csharp = typeof(global::Interop.Fanout).GetNestedTypes(BindingFlags.Public | BindingFlags.NonPublic).Where(t => t.IsEnum)
            .ToDictionary(t => t.Name, t => Enum.GetNames(t).ToDictionary(n => n, n => Convert.ToInt64(Enum.Parse(t, n))));

        Assert.Equal(NativeContract.Enums.Keys.Order(), csharp.Keys.Order());
        foreach (var (name, members) in NativeContract.Enums)
        {
            Assert.Equal(Listed(name, Sorted(members)), Listed(name, Sorted(csharp[name])));
        }
    }

    [Fact]
    public void Names_EveryMapAndProgramOfEveryBuiltObject_IsTheOneTheDaemonLooksUp()
    {
        // By convention X_OBJECT is the file, X_PROGRAM its program (X_PROGRAM_* its others) and X_MAP_* its maps.
        var names = Shared.Where(f => f.FieldType == typeof(string)).ToDictionary(f => f.Name, f => (string)f.GetRawConstantValue()!);
        var prefixes = names.Keys.Where(k => k.EndsWith("_OBJECT", StringComparison.Ordinal)).Select(k => k[..^"OBJECT".Length]).ToArray();

        Assert.Equal(NativeContract.Objects().Order(), prefixes.Select(p => names[p + "OBJECT"]).Order());
        foreach (var prefix in prefixes)
        {
            var file = names[prefix + "OBJECT"];
            var (maps, programs) = NativeContract.Names(file);
            Assert.Equal(Listed(file, programs), Listed(file, names.Where(n => n.Key == prefix + "PROGRAM" || n.Key.StartsWith(prefix + "PROGRAM_", StringComparison.Ordinal)).Select(n => n.Value)));
            Assert.Equal(Listed(file, maps), Listed(file, names.Where(n => n.Key.StartsWith(prefix + "MAP_", StringComparison.Ordinal)).Select(n => n.Value)));
        }
        Assert.DoesNotContain(names.Keys, k => !prefixes.Any(k.StartsWith));
    }

    /// <summary>One line naming the object or enum, so a failure says which one differs.</summary>
    private static string Listed(string owner, IEnumerable<string> items) => $"{owner}: {string.Join(", ", items.Order(StringComparer.Ordinal))}";

    private static string[] Sorted(IEnumerable<KeyValuePair<string, long>> values) =>
        values.OrderBy(v => v.Key, StringComparer.Ordinal).Select(v => $"{v.Key} = {v.Value}").ToArray();
}
