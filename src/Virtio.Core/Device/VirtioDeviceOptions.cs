using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;

namespace Virtio.Device;

/// <summary>Settings shared by every device model.</summary>
public sealed class VirtioDeviceOptions
{
    /// <summary>The device's name in logs, metrics and diagnostics (QEMU's <c>vdev-&gt;name</c>); the model's default when null.</summary>
    public string? Name { get; init; }

    /// <summary>Maximum (and default) size of each queue: QueueNumMax. A power of two up to 32768.</summary>
    public int QueueSize { get; init; } = 256;

    /// <summary>Who runs the queue handlers.</summary>
    public QueueProcessing Processing { get; init; } = QueueProcessing.Inline;

    /// <summary>Offer VIRTIO_RING_F_EVENT_IDX.</summary>
    public bool EventIdx { get; init; } = true;

    /// <summary>Offer VIRTIO_RING_F_INDIRECT_DESC.</summary>
    public bool IndirectDescriptors { get; init; } = true;

    /// <summary>
    /// How long a reset waits for requests the backend still holds. After it, the reset goes on and their late
    /// completions are discarded (never written to the used ring).
    /// </summary>
    public TimeSpan ResetDrainTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Where the device's instruments live (meters <c>Virtio.Core</c> and, for the device models, <c>Virtio.Devices</c>):
    /// the host's factory, as <c>Microsoft.Extensions.Diagnostics</c> gives one, or the libraries' static meters when
    /// null.
    /// </summary>
    public IMeterFactory? MeterFactory { get; init; }

    /// <summary>Where logs go; nothing is logged when null.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>The clock for request ages.</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;
}
