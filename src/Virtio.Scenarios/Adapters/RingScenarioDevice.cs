using Virtio.Device;
using Virtio.Devices.Ring;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Scenarios.Adapters;

/// <summary>The bare <see cref="RingDevice"/>; each request is 16 readable bytes and one writable byte.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The device it creates owns and disposes it; the runner disposes the device.")]
public sealed class RingScenarioDevice : ScenarioDevice
{
    private RingDevice? _device;
    private (ulong Out, ulong In)[] _slots = [];

    /// <inheritdoc />
    public override string Name => "ring";

    /// <inheritdoc />
    public override ulong Features => 0;

    /// <inheritdoc />
    public override VirtioDevice Create(GuestMemory memory, VirtioDeviceOptions options) => _device = new RingDevice(memory, options);

    /// <inheritdoc />
    public override void AllocateSlots(VirtioMmioGuestDriver<int> driver, int slots)
    {
        ArgumentNullException.ThrowIfNull(driver);
        _slots = new (ulong, ulong)[slots];
        for (int i = 0; i < slots; i++)
        {
            _slots[i] = (driver.Allocate(16), driver.Allocate(1));
        }
    }

    /// <inheritdoc />
    public override AddResult Add(DriverQueue<int> queue, int slot, int token)
    {
        ArgumentNullException.ThrowIfNull(queue);
        (ulong o, ulong i) = _slots[slot];
        ReadOnlySpan<GuestSegment> readable = [new GuestSegment(o, 16)];
        ReadOnlySpan<GuestSegment> writable = [new GuestSegment(i, 1)];
        return queue.Add(readable, writable, token);
    }

    /// <inheritdoc />
    public override void Stall() => _device!.Holding = true;

    /// <inheritdoc />
    public override void Release()
    {
        if (_device is { } d)
        {
            d.Holding = false;
            d.ReleaseAll();
        }
    }
}
