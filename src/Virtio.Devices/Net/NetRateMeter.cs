using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Virtio.Devices.Net;

/// <summary>
/// Counters and rates of a virtio-net device for a periodic line (<c>virtio serve net --stats</c>): frames and bytes
/// each way since the start, the rates since the previous sample, drops, and what each queue pair carried.
/// </summary>
public sealed class NetRateMeter
{
    private readonly VirtioNetDevice _device;
    private NetStatistics _last;
    private long _lastTimestamp;

    /// <summary>Starts measuring <paramref name="device"/> from now.</summary>
    public NetRateMeter(VirtioNetDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        _device = device;
        _last = device.Statistics;
        _lastTimestamp = Stopwatch.GetTimestamp();
    }

    /// <summary>
    /// One line: <c>tx F frames B bytes (R frames/s, M Mbit/s) rx ... dropped D | pair 0: tx F rx F | ...</c>, rates
    /// over the time since the previous call.
    /// </summary>
    public string Sample()
    {
        NetStatistics now = _device.Statistics;
        long timestamp = Stopwatch.GetTimestamp();
        double seconds = Math.Max(Stopwatch.GetElapsedTime(_lastTimestamp, timestamp).TotalSeconds, 1e-6);
        var line = new StringBuilder();
        CultureInfo c = CultureInfo.InvariantCulture;
        line.Append(c, $"tx {now.TxPackets} frames {now.TxBytes} bytes ({(now.TxPackets - _last.TxPackets) / seconds:F0} frames/s, {(now.TxBytes - _last.TxBytes) * 8 / seconds / 1e6:F2} Mbit/s)");
        line.Append(c, $" rx {now.RxPackets} frames {now.RxBytes} bytes ({(now.RxPackets - _last.RxPackets) / seconds:F0} frames/s, {(now.RxBytes - _last.RxBytes) * 8 / seconds / 1e6:F2} Mbit/s)");
        line.Append(c, $" dropped {now.Dropped}");
        for (int pair = 0; pair < _device.MaxQueuePairs; pair++)
        {
            NetQueuePairStatistics p = _device.QueuePairStatistics(pair);
            line.Append(c, $" | pair {pair}: tx {p.TxPackets} rx {p.RxPackets}");
        }

        _last = now;
        _lastTimestamp = timestamp;
        return line.ToString();
    }
}
