using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Devices.Tests.Support;

/// <summary>How a tx chain lays out the 12-byte header and the frame.</summary>
public enum TxLayout
{
    /// <summary>The header alone in the first descriptor, the frame after it (Linux without ANY_LAYOUT).</summary>
    HeaderApart,

    /// <summary>Header and frame in one descriptor (Linux's usual layout with VERSION_1).</summary>
    HeaderWithFrame,

    /// <summary>The header itself split across two descriptors (5 + 7 bytes), then the frame.</summary>
    HeaderSplit,
}

/// <summary>A frame the guest received: its header, its bytes, and the rx buffers it took.</summary>
internal sealed record RxFrame(VirtioNetHeader Header, byte[] Frame, int Buffers);

/// <summary>
/// Guest RAM, a <see cref="VirtioNetDevice"/> behind virtio-mmio, and a minimal virtio_net guest driver: rx buffers
/// posted to the rx queues, frames sent on the tx queues, received frames reassembled from <c>num_buffers</c>
/// buffers, control commands with their ack.
/// </summary>
internal sealed class NetRig : IDisposable
{
    public const ulong AllFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc | NetFeature.Mac
        | NetFeature.Status | NetFeature.Mtu | NetFeature.MrgRxBuf | NetFeature.CtrlVq | NetFeature.CtrlRx
        | NetFeature.CtrlMacAddr | NetFeature.GuestAnnounce | NetFeature.Mq | NetFeature.Offloads;

    private readonly Dictionary<int, GuestSegment[]> _rxBuffers = [];
    private int _nextToken;

    public NetRig(INetBackend? backend = null, VirtioNetDeviceOptions? netOptions = null, ulong features = AllFeatures, int queueSize = 256, VirtioDeviceOptions? options = null, bool probe = true, int maxIndirectSegments = 16)
    {
        Memory = GuestMemory.Create(256 << 20);
        Backend = backend ?? new LoopbackNetBackend();
        Device = new VirtioNetDevice(Memory, Backend, netOptions, options);
        Mmio = new VirtioMmioTransport(Device);
        Driver = new VirtioMmioGuestDriver<int>(Mmio, Memory, 0x10_0000, (256 << 20) - 0x10_0000);
        if (probe)
        {
            Driver.Probe(features, Device.Queues.Count, queueSize, maxIndirectSegments: maxIndirectSegments);
        }
    }

    public GuestMemory Memory { get; }

    public INetBackend Backend { get; }

    public VirtioNetDevice Device { get; }

    public VirtioMmioTransport Mmio { get; }

    public VirtioMmioGuestDriver<int> Driver { get; }

    public bool Mergeable => (Driver.NegotiatedFeatures & NetFeature.MrgRxBuf) != 0;

    public DriverQueue<int> Rx(int pair = 0) => Driver.Queues[2 * pair];

    public DriverQueue<int> Tx(int pair = 0) => Driver.Queues[(2 * pair) + 1];

    public DriverQueue<int> Ctrl => Driver.Queues[^1];

    public bool NeedsReset => (Driver.ReadStatus() & DeviceStatus.DeviceNeedsReset) != 0;

    /// <summary>A guest buffer holding <paramref name="content"/> (or zeroes of <paramref name="length"/>).</summary>
    public GuestSegment Buffer(int length, ReadOnlySpan<byte> content = default)
    {
        ulong a;
        lock (_rxBuffers)
        {
            a = Driver.Allocate((ulong)Math.Max(length, 1)); // a tx thread and an rx thread may both allocate
        }

        content.CopyTo(Memory.GetSpan(a, length));
        return new GuestSegment(a, (uint)length);
    }

    /// <summary>An Ethernet frame of <paramref name="length"/> bytes to the device's MAC, with a recognisable payload.</summary>
    public static byte[] Frame(int length, int seed = 0, ReadOnlySpan<byte> destination = default)
    {
        byte[] f = new byte[length];
        if (destination.IsEmpty)
        {
            destination = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        }

        for (int i = 0; i < length; i++)
        {
            f[i] = (byte)((i * 7) + seed);
        }

        destination[..Math.Min(6, length)].CopyTo(f);
        if (length >= 14)
        {
            f[6] = 0x52; // a locally administered unicast source
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x88b5); // the IEEE local experimental ethertype
        }

        return f;
    }

    /// <summary>Posts <paramref name="count"/> rx chains of <paramref name="segments"/> writable descriptors totalling <paramref name="bytes"/> each.</summary>
    public void PostRx(int count, int bytes, int pair = 0, int segments = 1, bool kick = true)
    {
        for (int i = 0; i < count; i++)
        {
            GuestSegment[] writable = [.. BlkRig.Split(bytes, segments).Select(n => Buffer(n))];
            int token = Interlocked.Increment(ref _nextToken);
            Assert.Equal(AddResult.Added, Rx(pair).Add([], writable, token));
            _rxBuffers[token] = writable;
        }

        if (kick)
        {
            Rx(pair).Kick();
        }
    }

    /// <summary>Sends <paramref name="frame"/> with <paramref name="header"/> on <paramref name="pair"/>'s tx queue.</summary>
    public void Send(byte[] frame, VirtioNetHeader header = default, int pair = 0, TxLayout layout = TxLayout.HeaderWithFrame, int frameSegments = 1, bool kick = true)
    {
        byte[] h = new byte[VirtioNetHeader.Size];
        header.Write(h);
        var readable = new List<GuestSegment>();
        switch (layout)
        {
            case TxLayout.HeaderApart:
                readable.Add(Buffer(h.Length, h));
                break;
            case TxLayout.HeaderSplit:
                readable.Add(Buffer(5, h.AsSpan(0, 5)));
                readable.Add(Buffer(7, h.AsSpan(5)));
                break;
            case TxLayout.HeaderWithFrame:
                byte[] all = [.. h, .. frame];
                int first = BlkRig.Split(frame.Length, frameSegments).First();
                readable.Add(Buffer(h.Length + first, all.AsSpan(0, h.Length + first)));
                AddPieces(readable, frame.AsSpan(first), frameSegments - 1);
                Add(pair, readable, kick);
                return;
        }

        AddPieces(readable, frame, frameSegments);
        Add(pair, readable, kick);
    }

    /// <summary>Tx chains the device completed since the last call.</summary>
    public int ReclaimTx(int pair = 0)
    {
        int n = 0;
        while (Tx(pair).TryGetBuffer(out _, out _))
        {
            n++;
        }

        return n;
    }

    /// <summary>Every frame the device placed in <paramref name="pair"/>'s rx buffers, reassembled from <c>num_buffers</c> buffers.</summary>
    public List<RxFrame> Receive(int pair = 0)
    {
        var frames = new List<RxFrame>();
        while (Rx(pair).TryGetBuffer(out int token, out uint len))
        {
            byte[] first = Gather(token, len);
            if (first.Length < VirtioNetHeader.Size)
            {
                // A buffer given back unused (too short for the header): Linux's receive_buf counts an rx length error.
                Assert.Empty(first);
                continue;
            }

            VirtioNetHeader header = VirtioNetHeader.Read(first);
            int buffers = Mergeable ? header.BufferCount : 1;
            Assert.True(buffers >= 1, "num_buffers is 0");
            var data = new List<byte>(first.AsSpan(VirtioNetHeader.Size).ToArray());
            for (int i = 1; i < buffers; i++)
            {
                Assert.True(Rx(pair).TryGetBuffer(out int next, out uint nextLen), $"num_buffers is {buffers} but only {i} buffer(s) were used");
                data.AddRange(Gather(next, nextLen));
            }

            frames.Add(new RxFrame(header, [.. data], buffers));
        }

        return frames;
    }

    /// <summary>Sends a control command and returns its ack byte (or null when the device did not complete it).</summary>
    public byte? Control(byte @class, byte command, ReadOnlySpan<byte> data)
    {
        byte[] head = [@class, command];
        GuestSegment ack = Buffer(1, [0xee]);
        GuestSegment[] readable = data.IsEmpty ? [Buffer(2, head)] : [Buffer(2, head), Buffer(data.Length, data)];
        Assert.Equal(AddResult.Added, Ctrl.Add(readable, [ack], Interlocked.Increment(ref _nextToken)));
        Ctrl.Kick();
        return Ctrl.TryGetBuffer(out _, out uint len) && len == 1 ? Memory.GetSpan(ack.Address, 1)[0] : null;
    }

    public ushort ConfigU16(int offset)
    {
        byte[] b = new byte[2];
        Driver.ReadConfig(offset, b);
        return BinaryPrimitives.ReadUInt16LittleEndian(b);
    }

    public byte[] ConfigMac()
    {
        byte[] b = new byte[6];
        Driver.ReadConfig(0, b);
        return b;
    }

    public void Dispose()
    {
        Driver.Dispose();
        Device.Dispose();
        Memory.Dispose();
    }

    private byte[] Gather(int token, uint length)
    {
        Assert.True(_rxBuffers.Remove(token, out GuestSegment[]? segments), $"token {token} is not an rx buffer");
        var bytes = new List<byte>();
        foreach (GuestSegment s in segments)
        {
            int n = (int)Math.Min(s.Length, length - (uint)bytes.Count);
            bytes.AddRange(Memory.GetSpan(s.Address, n).ToArray());
            if (bytes.Count == length)
            {
                break;
            }
        }

        Assert.Equal((int)length, bytes.Count);
        return [.. bytes];
    }

    private void AddPieces(List<GuestSegment> readable, ReadOnlySpan<byte> data, int pieces)
    {
        int at = 0;
        foreach (int n in BlkRig.Split(data.Length, pieces))
        {
            if (n > 0)
            {
                readable.Add(Buffer(n, data.Slice(at, n)));
            }

            at += n;
        }
    }

    private void Add(int pair, List<GuestSegment> readable, bool kick)
    {
        Assert.Equal(AddResult.Added, Tx(pair).Add([.. readable], [], Interlocked.Increment(ref _nextToken)));
        if (kick)
        {
            Tx(pair).Kick();
        }
    }
}
