using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Scenarios.Adapters;

/// <summary>
/// virtio-net's transmit queue (tx0, queue 1) on a <see cref="HeldNetBackend"/>; each request is one 60-byte frame
/// behind its 12-byte header, in one descriptor. A stalled backend answers Busy, so the device keeps the chain it
/// popped and stops its tx queue until the backend is ready again (QEMU's <c>virtio_net_flush_tx</c> with an async send).
/// </summary>
public sealed class NetScenarioDevice : ScenarioDevice
{
    private const int PacketBytes = VirtioNetHeader.Size + 60;
    private readonly HeldNetBackend _backend = new();
    private ulong[] _slots = [];

    /// <inheritdoc />
    public override string Name => "net";

    /// <inheritdoc />
    public override ulong Features => 0;

    /// <inheritdoc />
    public override int QueueIndex => 1;

    /// <inheritdoc />
    public override VirtioDevice Create(GuestMemory memory, VirtioDeviceOptions options) =>
        new VirtioNetDevice(memory, _backend, new VirtioNetDeviceOptions { MergeableRxBuffers = false, Offloads = false }, options);

    /// <inheritdoc />
    public override void AllocateSlots(VirtioMmioGuestDriver<int> driver, int slots)
    {
        ArgumentNullException.ThrowIfNull(driver);
        _slots = new ulong[slots];
        ReadOnlySpan<byte> destination = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        for (int i = 0; i < slots; i++)
        {
            _slots[i] = driver.Allocate(PacketBytes);
            Span<byte> packet = driver.Memory.GetSpan(_slots[i], PacketBytes);
            packet.Clear(); // a zero virtio_net_hdr_v1: no offloads
            destination.CopyTo(packet[VirtioNetHeader.Size..]);
        }
    }

    /// <inheritdoc />
    public override AddResult Add(DriverQueue<int> queue, int slot, int token)
    {
        ArgumentNullException.ThrowIfNull(queue);
        ReadOnlySpan<GuestSegment> readable = [new GuestSegment(_slots[slot], PacketBytes)];
        return queue.Add(readable, ReadOnlySpan<GuestSegment>.Empty, token);
    }

    /// <inheritdoc />
    public override void Stall() => _backend.Holding = true;

    /// <inheritdoc />
    public override void Release() => _backend.Release();

    /// <summary>A wire that takes every frame, or, while <see cref="Holding"/>, none (answering Busy).</summary>
    private sealed class HeldNetBackend : INetBackend
    {
        private INetFrameSink? _sink;

        public bool Holding { get; set; }

        public bool CarriesHeader => false;

        public void Attach(INetFrameSink sink) => _sink = sink;

        public NetTransmitResult Transmit(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame) =>
            Holding ? NetTransmitResult.Busy : NetTransmitResult.Sent;

        public void ReceiveReady()
        {
        }

        /// <summary>Takes frames again and tells the device, which retries the chain it kept.</summary>
        public void Release()
        {
            Holding = false;
            _sink?.TransmitReady();
        }
    }
}
