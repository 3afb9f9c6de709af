namespace UdpFanout.Forwarding.Xdp;

/// <summary>
/// One listener's place in its interface's <see cref="InterfaceXdpChain"/>: known before the listener's program is
/// loaded (the program carries its slot, to send what is not its own on to the later ones), filled once it is.
/// Disposing empties the slot, so the interface's frames no longer meet the program.
/// </summary>
internal sealed class XdpChainSlot : IDisposable
{
    private readonly InterfaceXdpChain _chain;
    private readonly Action<string> _warn;
    private int _left;

    public XdpChainSlot(InterfaceXdpChain chain, uint slot, Action<string> warn)
    {
        _chain = chain;
        Slot = slot;
        _warn = warn;
    }

    public uint Slot { get; }

    public bool Native => _chain.Native;

    /// <summary>The chain's prog array, for the listener object's xdp_chain map before load.</summary>
    public int ChainMapFd => _chain.SlotsFd;

    /// <summary>False once left: a stopping listener no longer claims an attached program.</summary>
    public bool Attached => Volatile.Read(ref _left) == 0;

    public void Fill(int programFd) => _chain.Fill(Slot, programFd);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _left, 1) == 0)
        {
            _chain.Leave(Slot, _warn);
        }
    }
}
