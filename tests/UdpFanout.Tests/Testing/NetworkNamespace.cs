using System.Diagnostics;
using System.Runtime.InteropServices;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// A named network namespace (ip netns). Code runs inside it on a dedicated thread that has joined it with
/// setns; sockets keep the namespace they were created in, so they can be used from any thread afterwards.
/// </summary>
internal sealed partial class NetworkNamespace : IDisposable
{
    private const int CLONE_NEWNET = 0x40000000;

    public NetworkNamespace(string name)
    {
        Name = name;
        Shell.Run($"ip netns add {name}");
        Exec("ip link set lo up");
    }

    public string Name { get; }

    /// <summary>Runs a command inside the namespace; fails the test with its output when it fails.</summary>
    public string Exec(string command) => Shell.Run($"ip netns exec {Name} {command}");

    /// <summary>Runs a command inside the namespace and returns its exit code and output, whatever happens.</summary>
    public (int Code, string Output) TryExec(string command) => Shell.TryRun($"ip netns exec {Name} {command}");

    /// <summary>Runs <paramref name="work"/> on a new thread inside the namespace and returns its result.</summary>
    public T Invoke<T>(Func<T> work)
    {
        T result = default!;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                Join();
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        });
        thread.Start();
        thread.Join();
        if (failure is not null)
        {
            throw new InvalidOperationException($"in network namespace {Name}: {failure.Message}", failure);
        }
        return result;
    }

    public void Invoke(Action work) => Invoke(() =>
    {
        work();
        return 0;
    });

    public void Dispose() => Shell.TryRun($"ip netns del {Name}");

    private void Join()
    {
        using var ns = File.OpenHandle($"/var/run/netns/{Name}");
        if (setns((int)ns.DangerousGetHandle(), CLONE_NEWNET) != 0)
        {
            throw new InvalidOperationException($"setns({Name}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int setns(int fd, int nstype);
}
