using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Scenarios.Adapters;

/// <summary>virtio-blk on a memory disk behind a <see cref="HeldBlockBackend"/>; each request reads one sector.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "The device it creates owns and disposes it; the runner disposes the device.")]
public sealed class BlkScenarioDevice : ScenarioDevice
{
    private const int SectorBytes = 512;
    private const ulong DiskBytes = 1 << 20;
    private HeldBlockBackend? _backend;
    private GuestMemory? _memory;
    private (ulong Header, ulong Data, ulong Status)[] _slots = [];

    /// <inheritdoc />
    public override string Name => "blk";

    /// <inheritdoc />
    public override ulong Features => VirtioBlkFeature.SegMax | VirtioBlkFeature.BlockSize | VirtioBlkFeature.Flush;

    /// <inheritdoc />
    public override VirtioDevice Create(GuestMemory memory, VirtioDeviceOptions options)
    {
        _memory = memory;
        _backend = new HeldBlockBackend(new MemoryBlockBackend(DiskBytes)) { Holding = false };
        return new BlockDevice(memory, _backend, new BlockDeviceOptions { Device = options });
    }

    /// <inheritdoc />
    public override void AllocateSlots(VirtioMmioGuestDriver<int> driver, int slots)
    {
        ArgumentNullException.ThrowIfNull(driver);
        _slots = new (ulong, ulong, ulong)[slots];
        for (int i = 0; i < slots; i++)
        {
            _slots[i] = (driver.Allocate(16), driver.Allocate(SectorBytes), driver.Allocate(1));
        }
    }

    /// <inheritdoc />
    public override AddResult Add(DriverQueue<int> queue, int slot, int token)
    {
        ArgumentNullException.ThrowIfNull(queue);
        (ulong header, ulong data, ulong status) = _slots[slot];
        Span<byte> h = _memory!.GetSpan(header, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(h, (uint)VirtioBlkRequestType.In);
        BinaryPrimitives.WriteUInt32LittleEndian(h[4..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(h[8..], (ulong)token % (DiskBytes / SectorBytes));
        ReadOnlySpan<GuestSegment> readable = [new GuestSegment(header, 16)];
        ReadOnlySpan<GuestSegment> writable = [new GuestSegment(data, SectorBytes), new GuestSegment(status, 1)];
        return queue.Add(readable, writable, token);
    }

    /// <inheritdoc />
    public override void Stall() => _backend!.Holding = true;

    /// <inheritdoc />
    public override void Release()
    {
        if (_backend is { } b)
        {
            b.Holding = false;
            b.ReleaseAll();
        }
    }
}
