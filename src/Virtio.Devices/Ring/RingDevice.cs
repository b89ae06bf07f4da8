using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Devices.Ring;

/// <summary>
/// The barest device: one queue, no config, no request format. It completes every chain it pops with nothing
/// written, or, while <see cref="Holding"/> is set, keeps the chains popped and never completes them (a device stuck
/// on its backend). The hang scenarios use it to exercise the ring alone, without a device model in the way.
/// </summary>
public sealed class RingDevice : VirtioDevice
{
    /// <summary>The device ID it reports: none is reserved for a bare ring, so it takes one from the unassigned range.</summary>
    public const uint RingDeviceId = 0xFFF0;

    private readonly List<(VirtioQueue Queue, DescriptorChain Chain)> _held = [];

    /// <summary>Creates the device over <paramref name="memory"/>.</summary>
    /// <param name="memory">Guest RAM.</param>
    /// <param name="options">Queue size, processing, clock; defaults when null.</param>
    public RingDevice(GuestMemory memory, VirtioDeviceOptions? options = null)
        : base(memory, RingDeviceId, "virtio-ring", queueCount: 1, configSize: 0, deviceFeatures: 0, options)
    {
    }

    /// <summary>True: chains popped from now on are kept, not completed (the stalled device).</summary>
    public bool Holding { get; set; }

    /// <summary>How many chains are held.</summary>
    public int HeldCount
    {
        get
        {
            lock (_held)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>Completes every held chain, oldest first.</summary>
    /// <returns>How many were completed.</returns>
    public int ReleaseAll()
    {
        (VirtioQueue Queue, DescriptorChain Chain)[] taken;
        lock (_held)
        {
            taken = [.. _held];
            _held.Clear();
        }

        foreach ((VirtioQueue queue, DescriptorChain chain) in taken)
        {
            queue.Complete(chain, 0);
        }

        return taken.Length;
    }

    /// <inheritdoc />
    protected override void HandleChain(VirtioQueue queue, in DescriptorChain chain)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (Holding)
        {
            lock (_held)
            {
                _held.Add((queue, chain));
            }

            return;
        }

        queue.Complete(chain, 0);
    }

    /// <inheritdoc />
    protected override void OnResetting()
    {
        Holding = false;
        ReleaseAll(); // a reset waits for requests in flight: finish them, as a backend that drains
    }
}
