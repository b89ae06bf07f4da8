using Virtio.Device;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Scenarios.Adapters;

/// <summary>
/// What a device brings to a hang scenario: how to create it, which features to negotiate, how the guest builds one
/// request for it, and how to make its backend stall. Adding a device to <c>virtio repro</c> is one subclass.
/// </summary>
public abstract class ScenarioDevice
{
    /// <summary>The name on the command line (<c>--device</c>).</summary>
    public abstract string Name { get; }

    /// <summary>Device-specific features the guest asks for (the ring features are added by the scenario).</summary>
    public abstract ulong Features { get; }

    /// <summary>The queue the workload runs on (the driver sets up the queues up to it); 0 unless the device says otherwise.</summary>
    public virtual int QueueIndex => 0;

    /// <summary>The QOM-style path HMP prints for the device.</summary>
    public virtual string QomPath => $"/machine/peripheral/{Name}0/virtio-backend";

    /// <summary>Creates the device on <paramref name="memory"/>.</summary>
    public abstract VirtioDevice Create(GuestMemory memory, VirtioDeviceOptions options);

    /// <summary>Allocates the guest buffers of <paramref name="slots"/> requests (reused round-robin).</summary>
    public abstract void AllocateSlots(VirtioMmioGuestDriver<int> driver, int slots);

    /// <summary>Adds request <paramref name="token"/> to <paramref name="queue"/> using the buffers of <paramref name="slot"/>.</summary>
    public abstract AddResult Add(DriverQueue<int> queue, int slot, int token);

    /// <summary>From now on the device (or its backend) keeps the requests it pops and completes none.</summary>
    public abstract void Stall();

    /// <summary>Ends a <see cref="Stall"/>: completes what was kept.</summary>
    public abstract void Release();

    /// <summary>The names <see cref="Create(string)"/> knows: <c>blk</c>, <c>ring</c> and <c>net</c>.</summary>
    public static IReadOnlyList<string> Names { get; } = ["blk", "ring", "net"];

    /// <summary>A new adapter (it holds one run's device) for the device named <paramref name="name"/>; null for an unknown name.</summary>
    public static ScenarioDevice? Create(string name) => name switch
    {
        "blk" => new BlkScenarioDevice(),
        "ring" => new RingScenarioDevice(),
        "net" => new NetScenarioDevice(),
        _ => null,
    };
}
