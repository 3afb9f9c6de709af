namespace UdpFanout.Model;

/// <summary>The snake_case spellings that enums have in the YAML file and in metric labels.</summary>
internal static class YamlNames
{
    public static string YamlName<T>(this T value) where T : struct, Enum => ToSnakeCase(value.ToString());

    public static bool TryParse<T>(string text, out T value) where T : struct, Enum
    {
        foreach (var candidate in Enum.GetValues<T>())
        {
            if (candidate.YamlName() == text)
            {
                value = candidate;
                return true;
            }
        }
        value = default;
        return false;
    }

    public static string AllNames<T>() where T : struct, Enum => string.Join(" | ", Enum.GetValues<T>().Select(v => v.YamlName()));

    public static string ToSnakeCase(string pascal) =>
        string.Concat(pascal.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));
}
