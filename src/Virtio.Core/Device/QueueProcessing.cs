namespace Virtio.Device;

/// <summary>Who runs a device's queue handlers.</summary>
public enum QueueProcessing
{
    /// <summary>
    /// The thread that delivers the kick runs the handler, as Firecracker's event loop does from an MMIO exit: fully
    /// deterministic, so tests and fault scenarios replay exactly. Kicks delivered late (a delayed channel) are served
    /// by <see cref="VirtioDevice.ProcessPendingKicks"/>.
    /// </summary>
    Inline,

    /// <summary>Each queue has a worker thread that sleeps on the queue's kick channel, as an iothread on an ioeventfd.</summary>
    Worker,
}
