namespace UdpFanout.Model;

/// <summary>
/// An error the user can fix (a config error, a port in use, a missing capability, an unreachable API): its
/// message says what is wrong and what to do. The command line prints it as lines without a stack trace and
/// exits 1; a reload logs it at priority err and counts a failure. Any other exception is a bug.
/// </summary>
internal abstract class UserFixableException(string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>What to tell the user, one line each (a config error lists every problem of the file).</summary>
    public virtual IReadOnlyList<string> Lines => [Message];

    /// <summary>
    /// One line for a log: the message of a user-fixable error or of an error the system reported (its strerror
    /// text says it all), and for anything else, which is a bug, its type too.
    /// </summary>
    public static string Describe(Exception e) =>
        e is UserFixableException or System.Net.Sockets.SocketException or IOException ? e.Message : $"{e.GetType().Name}: {e.Message}";
}
