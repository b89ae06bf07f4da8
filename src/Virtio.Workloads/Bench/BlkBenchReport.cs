using System.Text.Json;

namespace Virtio.Workloads.Bench;

/// <summary>What one measured run of <see cref="BlkBench"/> gives, as <c>virtio bench blk</c> prints it.</summary>
/// <param name="Rw">The access pattern: read, write, randread or randwrite.</param>
/// <param name="BlockSize">Bytes per request.</param>
/// <param name="QueueDepth">Requests in flight per kick.</param>
/// <param name="Requests">Requests done.</param>
/// <param name="Elapsed">Wall-clock time of the measured run.</param>
/// <param name="AllocatedBytes">Bytes the thread allocated during the measured run.</param>
/// <param name="Failed">Requests whose status was not VIRTIO_BLK_S_OK.</param>
public sealed record BlkBenchReport(string Rw, int BlockSize, int QueueDepth, long Requests, TimeSpan Elapsed, long AllocatedBytes, long Failed)
{
    /// <summary>Requests per second.</summary>
    public double Iops => Requests / Elapsed.TotalSeconds;

    /// <summary>Nanoseconds per request.</summary>
    public double NsPerRequest => Elapsed.TotalNanoseconds / Requests;

    /// <summary>One camelCase JSON object (rates rounded), without a newline.</summary>
    public string ToJson() => JsonSerializer.Serialize(
        new BlkBenchJson(Rw, BlockSize, QueueDepth, Requests, Math.Round(Iops), Math.Round(NsPerRequest, 2), AllocatedBytes, Failed), BenchJsonContext.Default.BlkBenchJson);

    /// <summary>Two lines for a person, each ending in a newline.</summary>
    public string ToText() =>
        $"virtio-blk {Rw} bs={BlockSize} qd={QueueDepth}: {Requests} requests in {Elapsed.TotalMilliseconds:F0} ms{Environment.NewLine}" +
        $"  {Iops / 1e6:F2} M IOPS, {NsPerRequest:F1} ns/request, {AllocatedBytes} bytes allocated, {Failed} failed{Environment.NewLine}";
}
