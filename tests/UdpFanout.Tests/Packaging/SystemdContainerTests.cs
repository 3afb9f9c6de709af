using System.Net;
using System.Net.Sockets;
using UdpFanout.Tests.Testing;
using Xunit.Abstractions;

namespace UdpFanout.Tests.Packaging;

/// <summary>
/// The package as a user meets it: installed with apt into a booted Debian 12 systemd, then start, reload,
/// a broken reload, an eBPF listener under the unit's capabilities and sandboxing, stop, purge.
/// </summary>
[Collection(PackagesCollection.Name)]
public sealed class SystemdContainerTests(PackagesFixture packages, ITestOutputHelper output) : IDisposable
{
    private readonly List<CountingReceiver> _receivers = [.. Enumerable.Range(0, 3).Select(_ => new CountingReceiver())];
    private readonly IPEndPoint _listener = LoopbackPorts.FreeUdp();
    private readonly IPEndPoint _podsListener = LoopbackPorts.FreeUdp();
    private readonly CountingReceiver _pod = new();
    private readonly FakeKubernetesApi _api = new();

    public void Dispose()
    {
        _receivers.ForEach(r => r.Dispose());
        _pod.Dispose();
        _api.Dispose();
        Shell.TryRun("ip link del uftsysa");
    }

    [Fact]
    public async Task InstalledPackage_StartReloadBrokenReloadEbpfStopPurge_BehaveAsDocumented()
    {
        Shell.TryRun("ip link del uftsysa");
        Shell.Run("ip link add uftsysa type veth peer name uftsysb && ip addr add 10.201.241.1/24 dev uftsysa && ip link set uftsysa up && ip link set uftsysb up");
        using var container = new BootedContainer(packages.Root, packages.Deb);
        var config = Path.Combine(container.Root, "etc/udp-fanout/config.yaml");
        Assert.True(File.Exists(config), "the package installs /etc/udp-fanout/config.yaml");
        // The API server on the host's loopback, which the container shares.
        File.Move(_api.WriteKubeconfig(Path.GetTempPath()), Path.Combine(container.Root, "etc/udp-fanout/kubeconfig"));
        _api.Apply(EndpointSliceJson.Slice("vector-abcde", "vector", [new EndpointSliceJson.Pod("vector-0", "127.0.0.1")]));

        File.WriteAllText(config, Config(0, 1));
        container.Exec("systemctl start udp-fanout@demo");
        await SendAsync(300);
        await Eventually.TrueAsync(() => _receivers[0].Count == 150 && _receivers[1].Count == 150, "the started unit to forward to r0 and r1");

        File.WriteAllText(config, Config(1, 2));
        container.Exec("systemctl reload udp-fanout@demo");
        // systemd 252 ends the reload job when ExecReload= returns; the daemon applies the file right after.
        await Eventually.TrueAsync(() => container.Exec("journalctl -u udp-fanout@demo --no-pager").Contains("reload applied"), "the daemon to apply the reload");
        await SendAsync(300);
        await Eventually.TrueAsync(() => _receivers[1].Count == 300 && _receivers[2].Count == 150, "the reloaded unit to forward to r1 and r2");
        Assert.Equal(150, _receivers[0].Count);

        File.WriteAllText(config, Config(1, 2).Replace("workers: 1", "workers: 0"));
        var broken = container.TryExec("systemctl reload udp-fanout@demo");
        Assert.NotEqual(0, broken.Code);
        Assert.Equal("active", container.Exec("systemctl is-active udp-fanout@demo").Trim());
        Assert.Contains("listeners[0].workers: 0 is out of range (1..256)", container.Exec("journalctl -u udp-fanout@demo -p err --no-pager"));
        await SendAsync(300);
        await Eventually.TrueAsync(() => _receivers[1].Count == 450 && _receivers[2].Count == 300, "the old config to keep forwarding");

        File.WriteAllText(config, Config(1, 2));
        container.Exec("systemctl start udp-fanout@kernel");
        Assert.Contains("tc_fanout", Shell.Run("tc filter show dev uftsysa ingress"));
        var exposure = container.Exec("systemd-analyze security udp-fanout@demo.service --no-pager", allowFailure: true).Split('\n').Last(l => l.Contains("Overall exposure"));
        output.WriteLine(exposure);
        Assert.Matches(@"level for udp-fanout@demo.service: [0-2]\.\d|level for udp-fanout@demo.service: 3\.0", exposure);

        // Discovery from the packaged Native AOT binary, under the unit's sandbox.
        container.Exec("systemctl start udp-fanout@pods");
        await SendAsync(100, _podsListener);
        await Eventually.TrueAsync(() => _pod.Count == 100, "the discovered pod to get the pods listener's datagrams");

        container.Exec("systemctl stop udp-fanout@kernel udp-fanout@demo udp-fanout@pods");
        Assert.DoesNotContain("tc_fanout", Shell.Run("tc filter show dev uftsysa ingress"));
        Assert.DoesNotContain("clsact", Shell.Run("tc qdisc show dev uftsysa"));

        container.Exec("apt-get purge -y -q udp-fanout");
        Assert.NotEqual(0, container.TryExec("getent passwd udp-fanout").Code);
        Assert.False(Directory.Exists(Path.Combine(container.Root, "etc/udp-fanout")), "purge removes /etc/udp-fanout");
    }

    private string Config(params int[] downstreams) => $"""
        listeners:
          - name: demo
            bind: "{_listener}"
            workers: 1
            downstream:
        {string.Concat(downstreams.Select(i => $"      - {{ name: r{i}, address: \"{_receivers[i].Endpoint}\" }}\n"))}
          - name: kernel
            bind: "10.201.241.1:5515"
            mode: tc_ebpf
            interface: uftsysa
            downstream:
              - {"{"} name: r0, address: "10.201.241.2:6000" {"}"}
          - name: pods
            bind: "{_podsListener}"
            kubernetes: {"{"} namespace: logging, service: vector, port: {_pod.Endpoint.Port}, kubeconfig: /etc/udp-fanout/kubeconfig {"}"}
        metrics: {"{"} enabled: false {"}"}
        """;

    private async Task SendAsync(int count, IPEndPoint? target = null)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        for (var i = 0; i < count; i++)
        {
            client.SendTo(NumberedPayload.Create(i, 64), target ?? _listener);
            if (i % 50 == 49)
            {
                await Task.Delay(5);
            }
        }
    }
}
