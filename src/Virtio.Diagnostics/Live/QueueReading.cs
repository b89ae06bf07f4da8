using System.Text.Json.Serialization;
using Virtio.Rings;

namespace Virtio.Diagnostics.Live;

/// <summary>One reading of a queue: QEMU's device-side state and the guest's ring fields, taken one after the other.</summary>
/// <param name="Status">
/// <c>x-query-virtio-queue-status</c>; null for a device run by vhost, whose device-side indexes QEMU does not have
/// without stopping the back-end.
/// </param>
/// <param name="Guest">The guest's ring fields, read from guest RAM with HMP <c>xp</c>.</param>
public sealed record QueueReading(QueueStatus? Status, GuestRingFields Guest)
{
    /// <summary>The queue-status reply as QEMU sent it (later QEMUs add fields), when there is one.</summary>
    [JsonIgnore]
    public string? StatusJson { get; init; }

    /// <summary>Whether the driver gave the queue rings (QEMU reports 0 for the three addresses of a queue never set up).</summary>
    public static bool HasRings(QueueStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        return (status.VringDesc | status.VringAvail | status.VringUsed) != 0;
    }

    /// <summary>What moved from <paramref name="earlier"/> to this reading, or null when nothing did.</summary>
    /// <param name="earlier">The earlier reading of the same queue.</param>
    public string? MovedSince(QueueReading earlier)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        var moved = new List<string>(4);
        if (Status is { } now && earlier.Status is { } then)
        {
            Add(moved, "last_avail_idx", then.LastAvailIdx, now.LastAvailIdx);
            Add(moved, "used_idx", then.UsedIdx, now.UsedIdx);
        }
        else
        {
            Add(moved, "used->idx", earlier.Guest.UsedIdx, Guest.UsedIdx);
        }

        // The driver's own indexes: what it published and where it is in the used ring.
        Add(moved, "avail->idx", earlier.Guest.AvailIdx, Guest.AvailIdx);
        Add(moved, "used_event", earlier.Guest.UsedEvent, Guest.UsedEvent);
        return moved.Count == 0 ? null : string.Join(", ", moved);
    }

    private static void Add(List<string> moved, string name, ushort then, ushort now)
    {
        if (then != now)
        {
            moved.Add(FormattableString.Invariant($"{name} {then} -> {now}"));
        }
    }
}
