using System.Globalization;
using Virtio.Device;
using Virtio.Notifications;

namespace Virtio.Diagnostics.Faults;

/// <summary>
/// One fault to inject into a served device, as <c>--fault</c> spells it: <c>drop-kick:N</c> (the N-th kick on each
/// queue is lost), <c>drop-call:N</c> (the N-th used-buffer notification on each queue is lost), or
/// <c>stall-backend:N</c> (the N-th request never completes; applied by wrapping the device's backend). Kicks and
/// calls are counted per queue from the device's first DRIVER_OK, each through a <see cref="FaultyEventNotifier"/>.
/// A kick or call fault may name its rings: <c>drop-kick:N:tx</c> (odd rings, virtio-net's transmit queues),
/// <c>drop-call:N:rx</c> (even rings, its receive queues) or <c>drop-kick:N:INDEX</c> (one ring); without a suffix it
/// applies to every ring.
/// </summary>
public sealed class DeviceFaultSpec
{
    private DeviceFaultSpec(DeviceFaultKind kind, long n, DeviceFaultRings rings, int ring)
    {
        Kind = kind;
        N = n;
        Rings = rings;
        Ring = ring;
    }

    /// <summary>What is injected.</summary>
    public DeviceFaultKind Kind { get; }

    /// <summary>Which kick, call or request (from 1).</summary>
    public long N { get; }

    /// <summary>The rings the fault applies to.</summary>
    public DeviceFaultRings Rings { get; }

    /// <summary>The ring index with <see cref="DeviceFaultRings.One"/>; -1 otherwise.</summary>
    public int Ring { get; }

    /// <summary>The verdict the hang analysis should give for the hang this fault causes.</summary>
    public HangVerdict ExpectedVerdict => Kind switch
    {
        DeviceFaultKind.DropKick => HangVerdict.DeviceMissedKick,
        DeviceFaultKind.DropCall => HangVerdict.DriverMissedNotification,
        _ => HangVerdict.DeviceStuck,
    };

    /// <summary>
    /// Parses <c>drop-kick:N</c>, <c>drop-call:N</c> (each optionally followed by <c>:rx</c>, <c>:tx</c> or
    /// <c>:INDEX</c>) or <c>stall-backend:N</c> (N ≥ 1).
    /// </summary>
    public static bool TryParse(string text, out DeviceFaultSpec? spec)
    {
        spec = null;
        ArgumentNullException.ThrowIfNull(text);
        string[] parts = text.Split(':');
        if (parts.Length is < 2 or > 3
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n < 1)
        {
            return false;
        }

        DeviceFaultKind? kind = parts[0] switch
        {
            "drop-kick" => DeviceFaultKind.DropKick,
            "drop-call" => DeviceFaultKind.DropCall,
            "stall-backend" => DeviceFaultKind.StallBackend,
            _ => null,
        };
        if (kind is not { } k)
        {
            return false;
        }

        DeviceFaultRings rings = DeviceFaultRings.All;
        int ring = -1;
        if (parts.Length == 3)
        {
            // A request stalls in the device's backend, which knows no rings: only kicks and calls are per ring.
            if (k == DeviceFaultKind.StallBackend)
            {
                return false;
            }

            switch (parts[2])
            {
                case "rx":
                    rings = DeviceFaultRings.Rx;
                    break;
                case "tx":
                    rings = DeviceFaultRings.Tx;
                    break;
                default:
                    if (!int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out ring))
                    {
                        return false;
                    }

                    rings = DeviceFaultRings.One;
                    break;
            }
        }

        spec = new DeviceFaultSpec(k, n, rings, ring);
        return true;
    }

    /// <summary>Whether the fault applies to ring <paramref name="queue"/>.</summary>
    public bool AppliesTo(int queue) => Rings switch
    {
        DeviceFaultRings.Rx => (queue & 1) == 0,
        DeviceFaultRings.Tx => (queue & 1) == 1,
        DeviceFaultRings.One => queue == Ring,
        _ => true,
    };

    /// <summary>With <c>drop-kick</c>, wraps the kick channel of every queue it applies to. Call before the device is live.</summary>
    public void ApplyToKicks(VirtioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Kind != DeviceFaultKind.DropKick)
        {
            return;
        }

        foreach (VirtioQueue queue in device.Queues)
        {
            if (!AppliesTo(queue.Index))
            {
                continue;
            }

            queue.Kick = new FaultyEventNotifier(queue.Kick, new SignalFaultPlan().Drop(SignalSelector.Nth(N)), $"kick{queue.Index}");
        }
    }

    /// <summary>
    /// With <c>drop-call</c> on a ring it applies to, a fault-injecting wrapper of queue <paramref name="queue"/>'s call
    /// channel; otherwise the channel itself.
    /// </summary>
    public IEventNotifier WrapCall(int queue, IEventNotifier call) =>
        Kind == DeviceFaultKind.DropCall && AppliesTo(queue)
            ? new FaultyEventNotifier(call, new SignalFaultPlan().Drop(SignalSelector.Nth(N)), $"call{queue}")
            : call;

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        DeviceFaultKind.DropKick => "drop-kick",
        DeviceFaultKind.DropCall => "drop-call",
        _ => "stall-backend",
    } + ":" + N.ToString(CultureInfo.InvariantCulture) + Rings switch
    {
        DeviceFaultRings.Rx => ":rx",
        DeviceFaultRings.Tx => ":tx",
        DeviceFaultRings.One => ":" + Ring.ToString(CultureInfo.InvariantCulture),
        _ => string.Empty,
    };
}
