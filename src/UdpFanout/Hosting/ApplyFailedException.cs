using UdpFanout.Model;

namespace UdpFanout.Hosting;

/// <summary>
/// Some listeners could not take their part of a config; the others did. One line per failed listener, since
/// each is a separate thing to fix.
/// </summary>
internal sealed class ApplyFailedException(IReadOnlyList<UserFixableException> failures)
    : UserFixableException(string.Join(Environment.NewLine, failures.Select(f => f.Message)), failures[0])
{
    public override IReadOnlyList<string> Lines => failures.SelectMany(f => f.Lines).ToArray();
}
