using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>
/// Watches a device-side <see cref="SplitQueue"/>: its shadow state (<see cref="SplitQueue.GetState"/>) and the
/// fields in guest RAM (<see cref="SplitQueue.ReadGuestFields"/>), both read without side effects.
/// </summary>
public sealed class SplitQueueWatch : IWatchedQueue
{
    private readonly Func<ushort>? _driverConsumed;

    /// <summary>Watches <paramref name="queue"/>.</summary>
    /// <param name="queue">The device side of the queue.</param>
    /// <param name="driverConsumed">
    /// Optional: how far the driver has consumed the used ring (a driver model's <c>LastUsedIdx</c>). When given it is
    /// used even with EVENT_IDX, because <c>used_event</c> is only the driver's wish for the next interrupt: Linux
    /// writes 0 there on <c>disable_cb</c> and an index ahead on <c>enable_cb_delayed</c>. Without it, <c>used_event</c>
    /// stands in with EVENT_IDX when it can be the driver's position (at <c>used_idx</c>, or non-zero and at most the
    /// queue size behind; 0 and an index ahead read as unknown, as in the hang analysis), and without EVENT_IDX the
    /// driver's consumption is unknown.
    /// </param>
    public SplitQueueWatch(SplitQueue queue, Func<ushort>? driverConsumed = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        Queue = queue;
        _driverConsumed = driverConsumed;
    }

    /// <summary>The watched queue.</summary>
    public SplitQueue Queue { get; }

    /// <inheritdoc />
    public string Name => Queue.Name;

    /// <inheritdoc />
    public int Index => Queue.Index;

    /// <inheritdoc />
    public QueueProgress ReadProgress()
    {
        if (!Queue.ReadGuestFields(out GuestRingFields guest))
        {
            if (!Queue.IsBroken || Queue.Memory.TryRead(Queue.AvailRingAddress + 2, out ushort availIdx) != GuestMemoryError.None)
            {
                return default; // not ready: nothing outstanding
            }

            // A broken queue drops its ring mappings, but the driver's buffers are still owed: read avail->idx directly.
            SplitQueueState broken = Queue.GetState();
            return new QueueProgress(true, true, availIdx, broken.LastAvailIdx, broken.ShadowAvailIdx, broken.UsedIdx, broken.InUse, _driverConsumed?.Invoke());
        }

        SplitQueueState state = Queue.GetState();
        ushort? consumed = _driverConsumed is { } probe ? probe()
            : Queue.EventIdx && HangAnalysis.UsedEventIsDriverPosition(guest.UsedEvent, state.UsedIdx, Queue.Size) ? guest.UsedEvent
            : null; // used_event 0 (callbacks off, polling) or ahead (enable_cb_delayed) is no position: unknown, as question 3 says
        return new QueueProgress(
            IsReady: true,
            IsBroken: Queue.IsBroken,
            AvailIdx: guest.AvailIdx,
            LastAvailIdx: state.LastAvailIdx,
            ShadowAvailIdx: state.ShadowAvailIdx,
            UsedIdx: state.UsedIdx,
            InUse: state.InUse,
            DriverConsumedIdx: consumed);
    }
}
