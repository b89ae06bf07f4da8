namespace Virtio.Workloads.Stress;

/// <summary>What a <see cref="RingStress"/> run did.</summary>
/// <param name="Seed">The seed given (<see cref="RingStressOptions.Seed"/>).</param>
/// <param name="Buffers">Buffers accounted for: <see cref="Returned"/> plus <see cref="TakenBackAtReset"/>.</param>
/// <param name="Returned">Buffers the device completed and the driver got back and verified.</param>
/// <param name="TakenBackAtReset">Buffers outstanding at a device reset, found exactly where the accounting said (held by the device or still in the available ring) and taken back by the driver (<c>virtqueue_detach_unused_buf</c>).</param>
/// <param name="Seeds">Seeds run (each a fresh configuration).</param>
/// <param name="Resets">Device resets in the middle of a seed (both sides reset).</param>
/// <param name="Restarts">Device-side restarts in the middle of a seed (vhost-user style: state saved, the device reset, restored with <c>SetState</c> and its in-flight heads resubmitted; the driver goes on).</param>
/// <param name="WrapsCrossed">Times <c>avail-&gt;idx</c> crossed from 65535 to 0.</param>
/// <param name="Kicks">Kicks the driver sent.</param>
/// <param name="Calls">Used-buffer notifications the device sent.</param>
/// <param name="Elapsed">Wall-clock time of the run.</param>
/// <param name="Failure">Why the run failed, or null when nothing was lost.</param>
public sealed record RingStressResult(
    ulong Seed,
    long Buffers,
    long Returned,
    long TakenBackAtReset,
    int Seeds,
    int Resets,
    int Restarts,
    long WrapsCrossed,
    long Kicks,
    long Calls,
    TimeSpan Elapsed,
    RingStressFailure? Failure)
{
    /// <summary>True when every buffer came back exactly once, intact, and nothing stalled.</summary>
    public bool Passed => Failure is null;

    /// <summary>Buffers per second.</summary>
    public double BuffersPerSecond => Elapsed > TimeSpan.Zero ? Buffers / Elapsed.TotalSeconds : 0;
}
