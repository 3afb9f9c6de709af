using Microsoft.Extensions.Logging;
using UdpFanout.Configuration;
using static Interop.Libc;

namespace UdpFanout.Tuning;

/// <summary>
/// Applies one interface's <c>tuning:</c> entry. Idempotent: a setting already in place is left alone, so the
/// boot unit can run any number of times. Logs each setting before and after.
/// </summary>
internal sealed partial class InterfaceTuner(ILogger logger)
{
    public void Apply(InterfaceTuningConfig tuning)
    {
        if (if_nametoindex(tuning.Interface) == 0)
        {
            throw new TuningException($"interface {tuning.Interface} does not exist (`ip link` lists the interfaces)", ENOENT);
        }
        using var device = new NetDevice(tuning.Interface);
        if (tuning.Mtu is { } mtu)
        {
            ApplyMtu(device, mtu);
        }
        if (tuning.CombinedChannels is { } channels)
        {
            ApplyChannels(device, channels);
        }
    }

    private void ApplyMtu(NetDevice device, int mtu)
    {
        var before = device.Mtu;
        if (before == mtu)
        {
            LogUnchanged(logger, device.Name, "MTU", mtu);
            return;
        }
        try
        {
            device.Mtu = mtu;
        }
        catch (TuningException e) when (e.Errno == EINVAL)
        {
            throw new TuningException($"{e.Message}: the driver refuses MTU {mtu} (AWS ENA allows at most 3498 while an XDP program is attached; check the NIC's maximum with `ip -d link show {device.Name}`)", e.Errno);
        }
        LogChanged(logger, device.Name, "MTU", before, device.Mtu);
    }

    private void ApplyChannels(NetDevice device, int combined)
    {
        var channels = device.ReadChannels();
        if (channels.max_combined == 0)
        {
            throw new TuningException($"{device.Name} has no combined channels to set (its driver reports a maximum of 0; remove combined_channels for it)", EOPNOTSUPP);
        }
        if (channels.combined_count == combined)
        {
            LogUnchanged(logger, device.Name, "combined channels", combined);
            return;
        }
        if (combined > channels.max_combined)
        {
            throw new TuningException($"{device.Name} has at most {channels.max_combined} combined channels, not {combined}", EINVAL);
        }
        var before = (int)channels.combined_count;
        try
        {
            device.WriteChannels(channels with { combined_count = (uint)combined });
        }
        catch (TuningException e) when (e.Errno == EINVAL)
        {
            throw new TuningException($"{e.Message}: the driver refuses {combined} combined channels (AWS ENA lets AF_XDP use at most half of the queues)", e.Errno);
        }
        LogChanged(logger, device.Name, "combined channels", before, (int)device.ReadChannels().combined_count);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Interface}: {Setting} already {Value}")]
    private static partial void LogUnchanged(ILogger logger, string @interface, string setting, int value);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Interface}: {Setting} {Before} -> {After}")]
    private static partial void LogChanged(ILogger logger, string @interface, string setting, int before, int after);
}
