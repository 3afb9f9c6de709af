namespace UdpFanout.Model;

internal static class DropReasonLabels
{
    private static readonly string[] Labels = Enum.GetValues<DropReason>().Select(r => r.YamlName()).ToArray();

    public static int Count => Labels.Length;

    /// <summary>The value of the <c>reason</c> label in metrics: <c>send_buffer_full</c>, <c>no_downstream</c>, ...</summary>
    public static string MetricLabel(this DropReason reason) => Labels[(int)reason];
}
