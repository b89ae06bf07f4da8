using System.Text.Json;
using Virtio.Device;

namespace Virtio.Diagnostics;

/// <summary>
/// A device's state with the fields of QMP <c>x-query-virtio-status</c> (QEMU 7.2 <c>qapi/virtio.json</c>
/// <c>VirtioStatus</c>): name, ID, status and features decoded as QEMU decodes them, <c>broken</c>, and the rest with
/// the values an emulated (non-vhost) device has. Reading it never changes the device.
/// </summary>
public sealed record VirtioStatus
{
    /// <summary>The device's name (<c>vdev-&gt;name</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The VIRTIO device ID.</summary>
    public required uint DeviceId { get; init; }

    /// <summary>Whether vhost runs the device (never here).</summary>
    public bool VhostStarted { get; init; }

    /// <summary>The device's byte order.</summary>
    public string DeviceEndian { get; init; } = "little";

    /// <summary>The features the driver acknowledged.</summary>
    public required VirtioFeatureSet GuestFeatures { get; init; }

    /// <summary>The features the device offers.</summary>
    public required VirtioFeatureSet HostFeatures { get; init; }

    /// <summary>The vhost backend's features (none).</summary>
    public VirtioFeatureSet BackendFeatures { get; init; } = new([], []);

    /// <summary>How many queues.</summary>
    public required int NumVqs { get; init; }

    /// <summary>The status byte, decoded.</summary>
    public required VirtioStatusBits Status { get; init; }

    /// <summary>The interrupt status register.</summary>
    public required byte Isr { get; init; }

    /// <summary>The queue selected by the driver (the last one set up).</summary>
    public ushort QueueSel { get; init; }

    /// <summary>Whether the VM runs.</summary>
    public bool VmRunning { get; init; } = true;

    /// <summary>Whether a virtio error broke the device (NEEDS_RESET).</summary>
    public required bool Broken { get; init; }

    /// <summary>Whether the device is disabled.</summary>
    public bool Disabled { get; init; }

    /// <summary>Whether the <c>started</c> field is used.</summary>
    public bool UseStarted { get; init; } = true;

    /// <summary>Whether the device was started (DRIVER_OK accepted).</summary>
    public required bool Started { get; init; }

    /// <summary>Whether the device starts on the first kick.</summary>
    public bool StartOnKick { get; init; }

    /// <summary>Whether the legacy check is disabled.</summary>
    public bool DisableLegacyCheck { get; init; }

    /// <summary>The bus the device sits on.</summary>
    public string BusName { get; init; } = "";

    /// <summary>Whether guest notifiers are masked by QEMU.</summary>
    public bool UseGuestNotifierMask { get; init; } = true;

    /// <summary>Captures <paramref name="device"/>'s state (read-only).</summary>
    public static VirtioStatus Capture(VirtioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        DeviceStatus status = device.Status;
        return new VirtioStatus
        {
            Name = device.Name,
            DeviceId = device.DeviceId,
            GuestFeatures = VirtioFeatureNames.Decode(device.DeviceId, device.DriverFeatures),
            HostFeatures = VirtioFeatureNames.Decode(device.DeviceId, device.DeviceFeatures),
            NumVqs = device.Queues.Count,
            Status = new VirtioStatusBits(VirtioFeatureNames.DecodeStatus(status)),
            Isr = (byte)device.InterruptStatus,
            QueueSel = (ushort)Math.Max(0, device.Queues.Count - 1),
            Broken = device.IsBroken,
            Started = (status & DeviceStatus.DriverOk) != 0,
        };
    }

    /// <summary>The bare JSON object.</summary>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, DiagnosticsJsonContext.For(indented).VirtioStatus);

    /// <summary>The QMP reply: <c>{"return": {...}}</c>.</summary>
    public string ToQmpReplyJson(bool indented = false) =>
        JsonSerializer.Serialize(new QmpReturn<VirtioStatus>(this), DiagnosticsJsonContext.For(indented).QmpReturnVirtioStatus);
}
