namespace Virtio.Workloads.Stress;

/// <summary>A <see cref="RingStress"/> run so far, for a progress line on a long run.</summary>
/// <param name="Buffers">Buffers accounted for so far.</param>
/// <param name="Total">Buffers asked for.</param>
/// <param name="Seeds">Seeds finished.</param>
/// <param name="Elapsed">Time since the start.</param>
public sealed record RingStressProgress(long Buffers, long Total, int Seeds, TimeSpan Elapsed)
{
    /// <summary>Buffers per second so far.</summary>
    public double BuffersPerSecond => Elapsed > TimeSpan.Zero ? Buffers / Elapsed.TotalSeconds : 0;
}
