using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using static Interop.Libc;

namespace UdpFanout.Tuning;

/// <summary>The MTU, MAC address, driver and channel settings of one network device, read and written through ioctl(2).</summary>
internal sealed unsafe class NetDevice(string name) : IDisposable
{
    // Any socket will do as the handle for interface ioctls.
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

    public string Name { get; } = name;

    public int Mtu
    {
        get
        {
            var request = Request();
            Call(SIOCGIFMTU, &request, "read the MTU of");
            return request.ifr_mtu;
        }
        set
        {
            var request = Request();
            request.ifr_mtu = value;
            Call(SIOCSIFMTU, &request, $"set MTU {value} on");
        }
    }

    /// <summary>The device's MAC address: the source of the frames an af_xdp listener transmits itself.</summary>
    public byte[] HardwareAddress
    {
        get
        {
            var request = Request();
            Call(SIOCGIFHWADDR, &request, "read the hardware address of");
            return new ReadOnlySpan<byte>(request.ifr_hwaddr + 2, 6).ToArray();
        }
    }

    /// <summary>The name of the device's driver ("veth", "mlx5_core"), as <c>ethtool -i</c> shows it.</summary>
    public string Driver
    {
        get
        {
            var info = new ethtool_drvinfo { cmd = ETHTOOL_GDRVINFO };
            var request = Request();
            request.ifr_data = &info;
            Call(SIOCETHTOOL, &request, "read the driver of");
            return Marshal.PtrToStringAnsi((nint)info.driver) ?? "";
        }
    }

    public ethtool_channels ReadChannels()
    {
        var channels = new ethtool_channels { cmd = ETHTOOL_GCHANNELS };
        var request = Request();
        request.ifr_data = &channels;
        Call(SIOCETHTOOL, &request, "read the channels of");
        return channels;
    }

    public void WriteChannels(ethtool_channels channels)
    {
        channels.cmd = ETHTOOL_SCHANNELS;
        var request = Request();
        request.ifr_data = &channels;
        Call(SIOCETHTOOL, &request, $"set {channels.combined_count} combined channels on");
    }

    public void Dispose() => _socket.Dispose();

    private ifreq Request()
    {
        var request = new ifreq();
        var bytes = Encoding.ASCII.GetBytes(Name);
        if (bytes.Length > 15)
        {
            throw new TuningException($"'{Name}' is not an interface name (at most 15 characters)", 0);
        }
        for (var i = 0; i < bytes.Length; i++)
        {
            request.ifr_name[i] = bytes[i];
        }
        return request;
    }

    private void Call(uint request, ifreq* arg, string what)
    {
        if (ioctl((int)_socket.Handle, request, arg) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new TuningException($"cannot {what} {Name}: {StrError(errno)}", errno);
        }
    }
}
