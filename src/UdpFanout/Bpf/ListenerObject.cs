using System.Buffers.Binary;
using System.Net;
using System.Runtime.InteropServices;
using static Interop.Fanout;

namespace UdpFanout.Bpf;

/// <summary>Opens one of the fan-out BPF objects for a listener: its address and port go into .rodata before load.</summary>
internal static class ListenerObject
{
    /// <param name="beforeLoad">Settles what else must be fixed before load, such as the size of a map.</param>
    /// <param name="balance">The listener's <c>FANOUT_BALANCE_*</c> and <c>FANOUT_HASH_*</c>, for a program that balances.</param>
    /// <param name="xdpChainSlot">An XDP program's slot in its interface's chain.</param>
    public static BpfObject Load(string objectFile, IPEndPoint bind, Action<BpfObject>? beforeLoad = null, (byte Policy, byte HashKey) balance = default, uint xdpChainSlot = 0)
    {
        var obj = BpfObject.Open(BpfObjectLocator.Find(objectFile));
        try
        {
            MemoryMarshal.Write(obj.GlobalData(".rodata"), new fanout_listener
            {
                addr = BitConverter.ToUInt32(bind.Address.GetAddressBytes()),
                port = BinaryPrimitives.ReverseEndianness((ushort)bind.Port),
                balance = balance.Policy,
                hash_key = balance.HashKey,
                xdp_chain_slot = xdpChainSlot,
            });
            beforeLoad?.Invoke(obj);
            obj.Load();
            return obj;
        }
        catch
        {
            obj.Dispose();
            throw;
        }
    }
}
