using System.Globalization;
using System.Text;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>
/// The numbers a watchdog compares from one check to the next: how far the device has popped and completed, how far
/// the driver has consumed, and what the driver has made available. Named as QEMU names them.
/// </summary>
/// <param name="IsReady">Whether the queue is ready; a queue that is not has no work outstanding.</param>
/// <param name="IsBroken">Whether the device marked the queue broken (it will not move again until reset).</param>
/// <param name="AvailIdx"><c>avail-&gt;idx</c> in guest RAM: what the driver has made available.</param>
/// <param name="LastAvailIdx"><c>last_avail_idx</c>: what the device has popped.</param>
/// <param name="ShadowAvailIdx"><c>shadow_avail_idx</c>: the last <c>avail-&gt;idx</c> the device read.</param>
/// <param name="UsedIdx"><c>used_idx</c>: what the device has completed and published.</param>
/// <param name="InUse"><c>inuse</c>: popped and not completed.</param>
/// <param name="DriverConsumedIdx">
/// How far the driver has consumed the used ring (its <c>last_used_idx</c>, seen through a probe, or as
/// <c>used_event</c> with EVENT_IDX when that can be a position: not 0, not ahead of <c>used_idx</c>, not more than the
/// queue size behind), or null when it cannot be known.
/// </param>
public readonly record struct QueueProgress(
    bool IsReady,
    bool IsBroken,
    ushort AvailIdx,
    ushort LastAvailIdx,
    ushort ShadowAvailIdx,
    ushort UsedIdx,
    int InUse,
    ushort? DriverConsumedIdx)
{
    /// <summary>Buffers the driver made available that the device has not popped (<c>avail-&gt;idx - last_avail_idx</c>).</summary>
    public int NotPopped => (ushort)(AvailIdx - LastAvailIdx);

    /// <summary>
    /// Completions the driver has not consumed (<c>used_idx - consumed</c>), 0 when unknown. A consumed index ahead of
    /// <c>used_idx</c> (Linux's <c>enable_cb_delayed</c> sets <c>used_event</c> ahead) counts as nothing pending.
    /// </summary>
    public int NotConsumed => DriverConsumedIdx is { } consumed ? Math.Max(0, (int)(short)(UsedIdx - consumed)) : 0;

    /// <summary>
    /// True when someone owes the other side something: buffers not popped, popped and not completed, or completed and
    /// not consumed; on a broken queue, any buffer the driver made available that was not completed (the pop that broke
    /// the queue moved <c>last_avail_idx</c> past it, but it is owed for good).
    /// </summary>
    public bool WorkOutstanding => IsReady && (NotPopped != 0 || InUse > 0 || NotConsumed > 0 || (IsBroken && AvailIdx != UsedIdx));

    /// <summary>True when the device popped or completed something, or the driver consumed something, since <paramref name="earlier"/>.</summary>
    /// <remarks><c>avail-&gt;idx</c> moving is not progress: a driver adding work to a stuck device is still a stall.</remarks>
    public bool HasMovedSince(in QueueProgress earlier) =>
        LastAvailIdx != earlier.LastAvailIdx || UsedIdx != earlier.UsedIdx || DriverConsumedIdx != earlier.DriverConsumedIdx;

    /// <summary>The numbers on one line, with QEMU's names.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"avail->idx {AvailIdx}, last_avail_idx {LastAvailIdx}, shadow_avail_idx {ShadowAvailIdx}, used_idx {UsedIdx}, inuse {InUse}");
        text.Append(DriverConsumedIdx is { } consumed
            ? string.Create(CultureInfo.InvariantCulture, $", driver consumed {consumed}")
            : ", driver consumption unknown");
        if (IsBroken)
        {
            text.Append(", broken");
        }

        if (!IsReady)
        {
            text.Append(", not ready");
        }

        return text.ToString();
    }
}
