using System.Net;
using UdpFanout.Balancing;
using UdpFanout.Configuration;
using UdpFanout.Forwarding;
using UdpFanout.Model;

namespace UdpFanout.Tests.Balancing;

public sealed class DownstreamRotationTests
{
    private static readonly DownstreamConfig A = new("a", IPEndPoint.Parse("10.0.0.1:6000"));
    private static readonly DownstreamConfig B = new("b", IPEndPoint.Parse("10.0.0.2:6000"));
    private readonly List<DownstreamSet> _published = [];

    [Fact]
    public void SetHealth_Down_LeavesTheRotationAndUpReturns()
    {
        var rotation = Rotation(A, B);

        rotation.SetHealth(Downstream(B), up: false);
        Assert.Equal(["a"], _published[^1].Members.Select(d => d.Name));

        rotation.SetHealth(Downstream(B), up: true);
        Assert.Equal(["a", "b"], _published[^1].Members.Select(d => d.Name));
    }

    [Fact]
    public void SetHealth_AllDown_DropsWithNoHealthyDownstream()
    {
        var rotation = Rotation(A, B);

        rotation.SetHealth(Downstream(A), false);
        rotation.SetHealth(Downstream(B), false);

        Assert.Empty(_published[^1].Members);
        Assert.Equal(DropReason.NoHealthyDownstream, _published[^1].ReasonWhenEmpty);
    }

    [Fact]
    public void SetHealth_AllDownWithFailOpen_KeepsSendingToAll()
    {
        var rotation = Rotation(A, B);
        rotation.FailOpen = true;

        rotation.SetHealth(Downstream(A), false);
        rotation.SetHealth(Downstream(B), false);

        Assert.Equal(["a", "b"], _published[^1].Members.Select(d => d.Name));
    }

    [Fact]
    public void SetConfigured_Empty_DropsWithNoDownstream()
    {
        Rotation();

        Assert.Equal(DropReason.NoDownstream, _published[^1].ReasonWhenEmpty);
    }

    [Fact]
    public void SetHealth_OfADownstreamNotConfigured_ChangesNothing()
    {
        var rotation = Rotation(A);
        var before = _published.Count;

        rotation.SetHealth(Downstream(B), false);

        Assert.Equal(before, _published.Count);
    }

    [Fact]
    public void SetDiscovered_JoinsTheStaticOnes_AnEndpointInBothOnceUnderItsStaticName()
    {
        var rotation = Rotation(A);

        rotation.SetDiscovered([new Downstream("pod-a", A.Address), Downstream(B)]);
        Assert.Equal(["a", "b"], _published[^1].Members.Select(d => d.Name));

        rotation.SetConfigured([]);
        Assert.Equal(["pod-a", "b"], _published[^1].Members.Select(d => d.Name));
    }

    [Fact]
    public void SetDiscovered_ADownstreamThatLeaves_LosesItsHealthVerdict()
    {
        var rotation = Rotation();
        rotation.SetDiscovered([Downstream(A), Downstream(B)]);
        rotation.SetHealth(Downstream(B), false);

        rotation.SetDiscovered([Downstream(A)]);
        rotation.SetDiscovered([Downstream(A), Downstream(B)]);

        Assert.Equal(["a", "b"], _published[^1].Members.Select(d => d.Name));
    }

    [Fact]
    public void SetConfigured_WeightZero_LeavesTheSetStaysConfiguredAndReturnsWhenRaised()
    {
        var rotation = Rotation(A, B with { Weight = 0 });

        Assert.Equal(["a"], _published[^1].Members.Select(d => d.Name));
        Assert.Equal([("a", true), ("b", true)], rotation.Health.Select(h => (h.Downstream.Name, h.Up)));

        rotation.SetConfigured([A, B with { Weight = 3 }]);

        Assert.Equal([("a", 1), ("b", 3)], _published[^1].Members.Select(d => (d.Name, d.Weight)));
    }

    [Fact]
    public void SetDiscovered_Endpoints_GetWeightOne()
    {
        var rotation = Rotation();

        rotation.SetDiscovered([new Downstream("pod-a", A.Address)]);

        Assert.Equal(1, _published[^1].Members.Single().Weight);
    }

    [Fact]
    public void SetConfigured_AllDrained_DropsWithNoDownstream()
    {
        Rotation(A with { Weight = 0 });

        Assert.Empty(_published[^1].Members);
        Assert.Equal(DropReason.NoDownstream, _published[^1].ReasonWhenEmpty);
    }

    [Fact]
    public void SetHealth_DrainedDownstreamWithFailOpen_StaysOut()
    {
        var rotation = Rotation(A, B with { Weight = 0 });
        rotation.FailOpen = true;

        rotation.SetHealth(Downstream(A), false);

        Assert.Equal(["a"], _published[^1].Members.Select(d => d.Name));
    }

    private DownstreamRotation Rotation(params DownstreamConfig[] configured)
    {
        var rotation = new DownstreamRotation(_published.Add);
        rotation.SetConfigured(configured);
        return rotation;
    }

    private static Downstream Downstream(DownstreamConfig d) => new(d.Name, d.Address);
}
