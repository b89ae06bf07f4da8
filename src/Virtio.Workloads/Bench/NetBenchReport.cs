using System.Text.Json;

namespace Virtio.Workloads.Bench;

/// <summary>What one measured run of <see cref="NetBench"/> gives, as <c>virtio bench net</c> prints it.</summary>
/// <param name="FrameSize">Ethernet frame bytes, without the virtio-net header.</param>
/// <param name="MrgRxBuf">Whether MRG_RXBUF was negotiated.</param>
/// <param name="Batch">Frames per tx kick.</param>
/// <param name="Callbacks">Whether the guest driver kept used-buffer callbacks on.</param>
/// <param name="Frames">Frames sent.</param>
/// <param name="Elapsed">Wall-clock time of the measured run.</param>
/// <param name="AllocatedBytes">Bytes the thread allocated during the measured run.</param>
/// <param name="Failed">Frames that did not come back, or came back in the wrong number of buffers.</param>
/// <param name="RxKicks">Kicks the driver sent on the rx queue.</param>
/// <param name="TxKicks">Kicks the driver sent on the tx queue.</param>
public sealed record NetBenchReport(int FrameSize, bool MrgRxBuf, int Batch, bool Callbacks, long Frames, TimeSpan Elapsed, long AllocatedBytes, long Failed, long RxKicks, long TxKicks)
{
    /// <summary>Frames per second.</summary>
    public double Pps => Frames / Elapsed.TotalSeconds;

    /// <summary>Nanoseconds per frame.</summary>
    public double NsPerFrame => Elapsed.TotalNanoseconds / Frames;

    /// <summary>Frame bits per second, in Gbit/s.</summary>
    public double GbitPerSecond => Pps * FrameSize * 8 / 1e9;

    /// <summary>One camelCase JSON object (rates rounded), without a newline.</summary>
    public string ToJson() => JsonSerializer.Serialize(
        new NetBenchJson(FrameSize, MrgRxBuf, Batch, Callbacks, Frames, Math.Round(Pps), Math.Round(NsPerFrame, 2), Math.Round(GbitPerSecond, 3),
            Math.Round((double)RxKicks / Frames, 4), Math.Round((double)TxKicks / Frames, 4), AllocatedBytes, Failed),
        BenchJsonContext.Default.NetBenchJson);

    /// <summary>Three lines for a person, each ending in a newline.</summary>
    public string ToText() =>
        $"virtio-net loopback frame={FrameSize} mrg_rxbuf={(MrgRxBuf ? "on" : "off")} batch={Batch} callbacks={(Callbacks ? "on" : "off")}: {Frames} frames in {Elapsed.TotalMilliseconds:F0} ms{Environment.NewLine}" +
        $"  {Pps / 1e6:F2} M frames/s, {NsPerFrame:F1} ns/frame, {GbitPerSecond:F2} Gbit/s, {AllocatedBytes} bytes allocated, {Failed} failed{Environment.NewLine}" +
        $"  kicks per frame: rx {(double)RxKicks / Frames:F4}, tx {(double)TxKicks / Frames:F4}{Environment.NewLine}";
}
