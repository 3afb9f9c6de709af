using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace UdpFanout.Tests.Testing;

/// <summary>
/// The real udp-fanout binary (the build output next to the tests) run as a child process with a config file,
/// watched through its notify socket and its output, signalled like systemd does.
/// </summary>
internal sealed partial class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly NotifySocket _notify;
    private readonly bool _ownsNotify;

    public DaemonProcess(string configPath, params string[] extraArgs)
        : this(configPath, null, extraArgs)
    {
    }

    /// <summary>Runs the daemon inside <paramref name="networkNamespace"/> (ip netns exec) when one is given.</summary>
    public DaemonProcess(string configPath, NetworkNamespace? networkNamespace, params string[] extraArgs)
        : this(configPath, networkNamespace, null, extraArgs)
    {
    }

    /// <summary>
    /// With <paramref name="systemd"/> as its NOTIFY_SOCKET, which the test reads itself (the descriptors the daemon
    /// stores, as systemd's store would get them); then <see cref="WaitReady"/> is not for this daemon.
    /// </summary>
    public DaemonProcess(string configPath, NetworkNamespace? networkNamespace, NotifySocket? systemd, params string[] extraArgs)
        : this(configPath, networkNamespace, systemd, new Dictionary<string, string>(), extraArgs)
    {
    }

    /// <summary>With <paramref name="environment"/> added to the daemon's environment.</summary>
    public DaemonProcess(string configPath, NetworkNamespace? networkNamespace, NotifySocket? systemd, IReadOnlyDictionary<string, string> environment, params string[] extraArgs)
    {
        _notify = systemd ?? new NotifySocket();
        _ownsNotify = systemd is null;
        var binary = Path.Combine(AppContext.BaseDirectory, "udp-fanout");
        var start = new ProcessStartInfo(networkNamespace is null ? binary : "ip")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        string[] prefix = networkNamespace is null ? [] : ["netns", "exec", networkNamespace.Name, binary];
        foreach (var arg in (string[])[.. prefix, "--config", configPath, .. extraArgs])
        {
            start.ArgumentList.Add(arg);
        }
        start.Environment["NOTIFY_SOCKET"] = _notify.Path;
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>The daemon's process id (that of `ip netns exec` when run in a namespace, which execs the daemon).</summary>
    public int Pid => _process.Id;

    public int ExitCode => _process.ExitCode;

    /// <summary>Waits for READY=1 (every listener bound); fails with the daemon's output if it never comes.</summary>
    public void WaitReady() => WaitForState("READY=1");

    public void WaitForState(string state)
    {
        try
        {
            _notify.WaitFor(state);
        }
        catch (TimeoutException e)
        {
            Assert.Fail($"{e.Message}; daemon output:\n{Output}");
        }
    }

    /// <summary>
    /// Waits for <paramref name="text"/> in the output: the console logger writes from a queue of its own, so a line
    /// logged before a notify state can show up after it.
    /// </summary>
    public Task WaitForOutputAsync(string text, double timeoutSeconds = 10) =>
        Eventually.TrueAsync(() => Output.Contains(text), $"'{text}' in the daemon's output:\n{Output}", timeoutSeconds);

    public void Signal(int signal) => Assert.Equal(0, kill(_process.Id, signal));

    /// <summary>
    /// True when it exited in time; then <see cref="Output"/> is complete too (the timed wait alone returns
    /// before the last lines of redirected output have been read, the untimed one waits for them).
    /// </summary>
    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit(timeout))
        {
            return false;
        }
        _process.WaitForExit();
        return true;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
        if (_ownsNotify)
        {
            _notify.Dispose();
        }
    }

    public const int SIGHUP = 1;
    public const int SIGKILL = 9;
    public const int SIGTERM = 15;
    public const int SIGSTOP = 19;

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int sig);
}
