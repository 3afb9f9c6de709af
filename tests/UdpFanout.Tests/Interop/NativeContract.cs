using System.Text.RegularExpressions;
using UdpFanout.Bpf;
using UdpFanout.Tests.Configuration;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Interop;

/// <summary>
/// What the C side of the contract really says, read from the compiler and the built objects rather than from the
/// header's text: the FANOUT_ macros of bpf/include/fanout_shared.h (names from the preprocessor, values from a
/// compiled C program), its enums with every member (from the DWARF of the header compiled with all types kept),
/// and the maps and programs in each built BPF object (listed by libbpf, as the daemon finds them).
/// </summary>
internal static partial class NativeContract
{
    public const string SharedHeader = "fanout_shared.h";

    private static readonly Lazy<string> Include = new(() => Path.Combine(ConfigLoaderTests.RepositoryRoot(), "bpf", "include"));
    private static readonly Lazy<Dictionary<string, long>> ConstantValues = new(MeasureConstants);
    private static readonly Lazy<Dictionary<string, Dictionary<string, long>>> EnumValues = new(ReadEnums);

    /// <summary>Every FANOUT_ macro the header defines, with its value.</summary>
    public static IReadOnlyDictionary<string, long> Constants => ConstantValues.Value;

    /// <summary>Every enum the header declares, by name, with every member and its value.</summary>
    public static IReadOnlyDictionary<string, Dictionary<string, long>> Enums => EnumValues.Value;

    /// <summary>The BPF objects the build makes: one X.bpf.o from each bpf/X.bpf.c (bpf/bpf.targets).</summary>
    public static IReadOnlyList<string> Objects() =>
        Directory.GetFiles(Path.Combine(ConfigLoaderTests.RepositoryRoot(), "bpf"), "*.bpf.c").Select(f => Path.GetFileNameWithoutExtension(f) + ".o").ToArray();

    /// <summary>The maps and programs libbpf finds in <paramref name="objectFile"/>, without its internal maps (.rodata and the like).</summary>
    public static (string[] Maps, string[] Programs) Names(string objectFile)
    {
        var lines = Compiled("names", """
            #include <stdio.h>
            #include <string.h>
            #include <bpf/libbpf.h>
            int main(int argc, char **argv)
            {
                struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
                struct bpf_map *map;
                struct bpf_program *prog;
                if (!obj)
                    return 1;
                bpf_object__for_each_map(map, obj)
                    if (!strchr(bpf_map__name(map), '.'))
                        printf("map %s\n", bpf_map__name(map));
                bpf_object__for_each_program(prog, obj)
                    printf("program %s\n", bpf_program__name(prog));
                bpf_object__close(obj);
                return 0;
            }
            """, "-lbpf", BpfObjectLocator.Find(objectFile)).Select(line => line.Split(' ')).ToArray();
        return (lines.Where(l => l[0] == "map").Select(l => l[1]).ToArray(), lines.Where(l => l[0] == "program").Select(l => l[1]).ToArray());
    }

    private static Dictionary<string, long> MeasureConstants()
    {
        var names = Shell.Run($"gcc -dM -E -I{Include.Value} {Path.Combine(Include.Value, SharedHeader)}")
            .Split('\n').Select(line => DefineLine().Match(line)).Where(m => m.Success).Select(m => m.Groups[1].Value).ToArray();
        var prints = string.Concat(names.Select(n => $"    printf(\"{n} %lld\\n\", (long long)({n}));\n"));
        return Compiled("constants", $$"""
            #include <stdio.h>
            #include "{{SharedHeader}}"
            int main(void)
            {
            {{prints}}    return 0;
            }
            """).Select(line => line.Split(' ')).ToDictionary(p => p[0], p => long.Parse(p[1]));
    }

    /// <summary>
    /// The enums from the header's DWARF: -fno-eliminate-unused-debug-types keeps types nothing uses, so every enum
    /// is there with every member, including one the C# side has never heard of.
    /// </summary>
    private static Dictionary<string, Dictionary<string, long>> ReadEnums()
    {
        var dir = Directory.CreateTempSubdirectory("contract-");
        try
        {
            var source = Path.Combine(dir.FullName, "enums.c");
            File.WriteAllText(source, $"#include \"{SharedHeader}\"\n");
            var obj = Path.Combine(dir.FullName, "enums.o");
            Shell.Run($"gcc -g -fno-eliminate-unused-debug-types -I{Include.Value} -c -o {obj} {source}");
            var enums = new Dictionary<string, Dictionary<string, long>>();
            Dictionary<string, long>? current = null;
            string? tag = null;
            string? member = null;
            foreach (var line in Shell.Run($"readelf --debug-dump=info {obj}").Split('\n'))
            {
                if (DwarfTag().Match(line) is { Success: true } entry)
                {
                    tag = entry.Groups[1].Value;
                    // An enum's members are its children: any other entry ends it.
                    current = tag == "DW_TAG_enumerator" ? current : null;
                }
                else if (DwarfName().Match(line) is { Success: true } name)
                {
                    if (tag == "DW_TAG_enumeration_type" && current is null)
                    {
                        current = enums[name.Groups[1].Value] = [];
                    }
                    member = tag == "DW_TAG_enumerator" ? name.Groups[1].Value : null;
                }
                else if (DwarfValue().Match(line) is { Success: true } value && current is not null && member is not null)
                {
                    current[member] = long.Parse(value.Groups[1].Value);
                    member = null;
                }
            }
            return enums;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Compiles <paramref name="source"/> against the shared headers and returns the lines it prints.</summary>
    private static string[] Compiled(string name, string source, string libraries = "", string arguments = "")
    {
        var dir = Directory.CreateTempSubdirectory("contract-");
        try
        {
            var file = Path.Combine(dir.FullName, $"{name}.c");
            File.WriteAllText(file, source);
            var binary = Path.Combine(dir.FullName, name);
            Shell.Run($"gcc -I{Include.Value} -o {binary} {file} {libraries}");
            return Shell.Run($"{binary} {arguments}").Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [GeneratedRegex(@"^#define (FANOUT_\w+) ")]
    private static partial Regex DefineLine();

    [GeneratedRegex(@"^\s*<\d+><[0-9a-f]+>: Abbrev Number: \d+ \((DW_TAG_\w+)\)")]
    private static partial Regex DwarfTag();

    [GeneratedRegex(@"DW_AT_name\s*:.*?(\w+)\s*$")]
    private static partial Regex DwarfName();

    [GeneratedRegex(@"DW_AT_const_value\s*:\s*(-?\d+)")]
    private static partial Regex DwarfValue();
}
