namespace Virtio.Workloads.Bench;

/// <summary>What one run of the ring benchmark measured.</summary>
/// <param name="Buffers">Buffers moved.</param>
/// <param name="Elapsed">Wall-clock time of the measured run.</param>
/// <param name="Kicks">Kicks the driver decided were needed (and sent, in notify mode).</param>
/// <param name="Calls">Used-buffer notifications the device decided were needed (and sent, in notify mode).</param>
/// <param name="AllocatedBytes">Bytes allocated during the measured run by the thread(s) running the ring, each counted on its own.</param>
public sealed record RingBenchResult(long Buffers, TimeSpan Elapsed, long Kicks, long Calls, long AllocatedBytes)
{
    /// <summary>Nanoseconds per buffer.</summary>
    public double NsPerBuffer => Elapsed.TotalNanoseconds / Buffers;

    /// <summary>Buffers per second.</summary>
    public double BuffersPerSecond => Buffers / Elapsed.TotalSeconds;

    /// <summary>Kicks per buffer.</summary>
    public double KicksPerBuffer => (double)Kicks / Buffers;

    /// <summary>Calls per buffer.</summary>
    public double CallsPerBuffer => (double)Calls / Buffers;
}
