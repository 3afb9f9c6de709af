using System.Diagnostics;
using UdpFanout.Tests.Testing;

namespace UdpFanout.Tests.Packaging;

/// <summary>
/// A minimal Debian 12 root (debootstrap, cached under .cache/ in the repository) booted with systemd-nspawn,
/// since PID 1 on these machines is not systemd. It runs in a given network namespace (the proxy of a
/// <see cref="NetnsTestbed"/>), so its units see that namespace's interfaces and loopback, and the test reaches them
/// with sockets made in the same namespace. Commands run inside through nsenter.
/// </summary>
internal sealed class BootedContainer : IDisposable
{
    private static readonly string[] Capabilities = ["CAP_NET_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_SYS_RESOURCE"];
    private readonly Process _nspawn;

    public BootedContainer(string repositoryRoot, string deb, NetworkNamespace network)
    {
        var cache = Path.Combine(repositoryRoot, ".cache", "bookworm-systemd-v2");
        if (!Directory.Exists(cache))
        {
            Shell.Run($"rm -rf {cache}.tmp && debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,libbpf1,procps bookworm {cache}.tmp http://deb.debian.org/debian && mv {cache}.tmp {cache}");
        }
        Root = $"/var/tmp/uftsys{Environment.ProcessId % 10000:x}";
        Shell.Run($"rm -rf {Root} && cp -a {cache} {Root}");
        Shell.Run($"cp {deb} {Root}/tmp/udp-fanout.deb && chroot {Root} apt-get install -y -q /tmp/udp-fanout.deb");
        // A host's systemd mounts a BPF filesystem at /sys/fs/bpf, mode 0700; the container's cannot (no
        // CAP_SYS_ADMIN), so it gets one like it from here, where the test also reads the pins.
        BpfFs = $"/run/uftsys-bpf{Environment.ProcessId % 10000:x}";
        Shell.Run($"mkdir -p {BpfFs} && (mountpoint -q {BpfFs} || mount -t bpf -o mode=700 bpf {BpfFs})");
        var start = new ProcessStartInfo("systemd-nspawn",
            // nspawn's own seccomp filter refuses bpf(2) to a container without CAP_SYS_ADMIN; allowing the call alone
            // keeps the container otherwise as strict, so the unit's capabilities and sandboxing are what is tested.
            ["-D", Root, "-b", "--register=no", "--keep-unit", "--console=passive", "-q", "--system-call-filter=bpf", $"--capability={string.Join(',', Capabilities)}",
             $"--network-namespace-path=/run/netns/{network.Name}", $"--bind={BpfFs}:/sys/fs/bpf"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _nspawn = Process.Start(start)!;
        _nspawn.BeginOutputReadLine();
        _nspawn.BeginErrorReadLine();
        Pid = FindInit();
        WaitUntilBooted();
    }

    /// <summary>The container's root directory, as seen from the host.</summary>
    public string Root { get; }

    /// <summary>The container's /sys/fs/bpf, as seen from the host.</summary>
    public string BpfFs { get; }

    /// <summary>The host pid of the container's systemd.</summary>
    public int Pid { get; }

    public string Exec(string command, bool allowFailure = false)
    {
        var (code, output) = TryExec(command);
        Assert.True(allowFailure || code == 0, $"in the container, `{command}` exited {code}: {output}");
        return output;
    }

    public (int Code, string Output) TryExec(string command) =>
        Shell.TryRun($"nsenter -t {Pid} -m -u -i -p -- /bin/sh -c '{command.Replace("'", "'\\''")}'");

    public void Dispose()
    {
        if (!_nspawn.HasExited)
        {
            _nspawn.Kill(entireProcessTree: true);
            _nspawn.WaitForExit();
        }
        Shell.TryRun($"rm -rf {Root}");
        Shell.TryRun($"umount {BpfFs}");
        Shell.TryRun($"rmdir {BpfFs}");
    }

    /// <summary>Until systemd answers on its bus and has finished starting units (running, or degraded).</summary>
    private void WaitUntilBooted()
    {
        var deadline = DateTime.UtcNow.AddSeconds(90);
        string state = "";
        while (DateTime.UtcNow < deadline)
        {
            state = TryExec("systemctl is-system-running --wait").Output.Trim();
            if (state is "running" or "degraded")
            {
                return;
            }
            Thread.Sleep(500);
        }
        throw new TimeoutException($"the container did not finish booting within 90 s (last state: {state})");
    }

    private int FindInit()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            Assert.False(_nspawn.HasExited, "systemd-nspawn exited while booting");
            var init = Descendants(_nspawn.Id).FirstOrDefault(pid => Comm(pid) == "systemd");
            if (init != 0)
            {
                return init;
            }
            Thread.Sleep(100);
        }
        throw new TimeoutException("the container's systemd did not start within 30 s");
    }

    private static IEnumerable<int> Descendants(int pid)
    {
        var children = File.Exists($"/proc/{pid}/task/{pid}/children")
            ? File.ReadAllText($"/proc/{pid}/task/{pid}/children").Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray()
            : [];
        return children.Concat(children.SelectMany(Descendants));
    }

    private static string Comm(int pid) => File.Exists($"/proc/{pid}/comm") ? File.ReadAllText($"/proc/{pid}/comm").Trim() : "";
}
