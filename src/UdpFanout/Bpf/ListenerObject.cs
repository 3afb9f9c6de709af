using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
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
            var listener = Listener(bind, balance);
            listener.xdp_chain_slot = xdpChainSlot;
            MemoryMarshal.Write(obj.GlobalData(".rodata"), listener);
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

    /// <summary>
    /// What the program matches: an IPv4 address (0.0.0.0 any), an IPv6 address, or :: for both families, as a
    /// socket on :: receives IPv4 too (Linux's default, net.ipv6.bindv6only=0). An IPv4-mapped address is IPv4.
    /// </summary>
    public static unsafe fanout_listener Listener(IPEndPoint bind, (byte Policy, byte HashKey) balance = default)
    {
        var address = bind.Address.IsIPv4MappedToIPv6 ? bind.Address.MapToIPv4() : bind.Address;
        var listener = new fanout_listener
        {
            port = BinaryPrimitives.ReverseEndianness((ushort)bind.Port),
            balance = balance.Policy,
            hash_key = balance.HashKey,
        };
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            listener.addr = BitConverter.ToUInt32(address.GetAddressBytes());
            listener.families = FANOUT_LISTEN_IPV4;
        }
        else
        {
            address.TryWriteBytes(new Span<byte>(listener.addr6, 16), out _);
            listener.families = address.Equals(IPAddress.IPv6Any) ? (byte)(FANOUT_LISTEN_IPV4 | FANOUT_LISTEN_IPV6) : FANOUT_LISTEN_IPV6;
        }
        return listener;
    }
}
