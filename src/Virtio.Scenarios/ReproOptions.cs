namespace Virtio.Scenarios;

/// <summary>How to run a scenario.</summary>
public sealed record ReproOptions
{
    /// <summary>The device: <c>blk</c> (default), <c>ring</c> or <c>net</c>.</summary>
    public string Device { get; init; } = "blk";

    /// <summary>Seeds the batch sizes and the batch at which the fault strikes.</summary>
    public int Seed { get; init; } = 1;

    /// <summary>Queue size (a power of two, at least 2).</summary>
    public int RingSize { get; init; } = 16;

    /// <summary>
    /// Ring index the workload starts at: the guest first pushes that many requests through a healthy queue (16-bit,
    /// so 65530 starts just before the wrap). Ignored by <c>kick-before-ready</c>, whose fault needs a fresh queue.
    /// </summary>
    public ushort StartIndex { get; init; }

    /// <summary>Negotiate VIRTIO_RING_F_EVENT_IDX (the default); false uses the flags (NO_NOTIFY, NO_INTERRUPT) instead.</summary>
    public bool EventIdx { get; init; } = true;

    /// <summary>False runs the same workload and interleaving with the fault switched off (the control run: it must be healthy).</summary>
    public bool InjectFault { get; init; } = true;

    /// <summary>Where to write <c>ram.bin</c>, <c>queue-status.json</c> and <c>virtio-status.json</c>; null writes nothing.</summary>
    public string? DumpDirectory { get; init; }

    /// <summary>Where the device under test logs (its status changes, <c>virtio_error</c>); null logs nothing.</summary>
    public Microsoft.Extensions.Logging.ILoggerFactory? LoggerFactory { get; init; }
}
