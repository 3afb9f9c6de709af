using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Model;

namespace UdpFanout.Tests.Forwarding;

public sealed class ListenerDataPlaneTests
{
    private static readonly Downstream A = new("a", IPEndPoint.Parse("10.0.0.1:6000"));
    private static readonly Downstream B = new("b", IPEndPoint.Parse("10.0.0.2:6000"));

    [Fact]
    public async Task Update_WorkerInABatchOfTheOldSet_ReturnsOnlyAfterTheBatchEnds()
    {
        var plane = new ListenerDataPlane(new ListenerConfig { Name = "l", Bind = IPEndPoint.Parse("127.0.0.1:5514") }, NullLogger.Instance);
        plane.Update(new DownstreamSet([A, B]));
        var gate = new BatchGate();
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        ActiveDownstreams? readInBatch = null;
        var worker = new Thread(() =>
        {
            gate.Enter();
            readInBatch = plane.Active;
            entered.Set();
            release.Wait();
            gate.Exit();
        });
        plane.Join(gate, worker);
        worker.Start();
        entered.Wait();

        var update = Task.Run(() => plane.Update(new DownstreamSet([A])));

        Assert.NotSame(update, await Task.WhenAny(update, Task.Delay(200)));
        release.Set();
        await update.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, readInBatch!.Count);
        Assert.Equal(1, plane.Active.Count);
        worker.Join();
    }

    [Theory]
    [InlineData("round_robin", typeof(RoundRobinPolicy))]
    [InlineData("source_hash", typeof(MaglevPolicy))]
    public void Update_ListenerBalance_PicksItsPolicy(string balance, Type policy)
    {
        Assert.True(YamlNames.TryParse<BalancePolicy>(balance, out var parsed));
        var plane = new ListenerDataPlane(new ListenerConfig { Name = "l", Bind = IPEndPoint.Parse("127.0.0.1:5514"), Balance = parsed }, NullLogger.Instance);

        plane.Update(new DownstreamSet([A, B]));

        Assert.IsType(policy, plane.Active.Policy);
    }
}
