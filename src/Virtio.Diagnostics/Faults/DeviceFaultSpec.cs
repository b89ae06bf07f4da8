using System.Globalization;
using Virtio.Device;
using Virtio.Notifications;

namespace Virtio.Diagnostics.Faults;

/// <summary>
/// One fault to inject into a served device, as <c>--fault</c> spells it: <c>drop-kick:N</c> (the N-th kick on each
/// queue is lost), <c>drop-call:N</c> (the N-th used-buffer notification on each queue is lost), or
/// <c>stall-backend:N</c> (the N-th request never completes; applied by wrapping the device's backend). Kicks and
/// calls are counted per queue from the device's first DRIVER_OK, each through a <see cref="FaultyEventNotifier"/>.
/// </summary>
public sealed class DeviceFaultSpec
{
    private DeviceFaultSpec(DeviceFaultKind kind, long n)
    {
        Kind = kind;
        N = n;
    }

    /// <summary>What is injected.</summary>
    public DeviceFaultKind Kind { get; }

    /// <summary>Which kick, call or request (from 1).</summary>
    public long N { get; }

    /// <summary>The verdict the hang analysis should give for the hang this fault causes.</summary>
    public HangVerdict ExpectedVerdict => Kind switch
    {
        DeviceFaultKind.DropKick => HangVerdict.DeviceMissedKick,
        DeviceFaultKind.DropCall => HangVerdict.DriverMissedNotification,
        _ => HangVerdict.DeviceStuck,
    };

    /// <summary>Parses <c>drop-kick:N</c>, <c>drop-call:N</c> or <c>stall-backend:N</c> (N ≥ 1).</summary>
    public static bool TryParse(string text, out DeviceFaultSpec? spec)
    {
        spec = null;
        ArgumentNullException.ThrowIfNull(text);
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0 || !long.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long n) || n < 1)
        {
            return false;
        }

        DeviceFaultKind? kind = text[..colon] switch
        {
            "drop-kick" => DeviceFaultKind.DropKick,
            "drop-call" => DeviceFaultKind.DropCall,
            "stall-backend" => DeviceFaultKind.StallBackend,
            _ => null,
        };
        spec = kind is { } k ? new DeviceFaultSpec(k, n) : null;
        return spec is not null;
    }

    /// <summary>With <c>drop-kick</c>, wraps every queue's kick channel. Call before the device is live.</summary>
    public void ApplyToKicks(VirtioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        if (Kind != DeviceFaultKind.DropKick)
        {
            return;
        }

        foreach (VirtioQueue queue in device.Queues)
        {
            queue.Kick = new FaultyEventNotifier(queue.Kick, new SignalFaultPlan().Drop(SignalSelector.Nth(N)), $"kick{queue.Index}");
        }
    }

    /// <summary>With <c>drop-call</c>, a fault-injecting wrapper of queue <paramref name="queue"/>'s call channel; otherwise the channel itself.</summary>
    public IEventNotifier WrapCall(int queue, IEventNotifier call) =>
        Kind == DeviceFaultKind.DropCall
            ? new FaultyEventNotifier(call, new SignalFaultPlan().Drop(SignalSelector.Nth(N)), $"call{queue}")
            : call;

    /// <inheritdoc/>
    public override string ToString() => Kind switch
    {
        DeviceFaultKind.DropKick => "drop-kick",
        DeviceFaultKind.DropCall => "drop-call",
        _ => "stall-backend",
    } + ":" + N.ToString(CultureInfo.InvariantCulture);
}
