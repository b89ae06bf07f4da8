using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Devices.Tests.Support;

/// <summary>
/// Guest RAM, a <see cref="BlockDevice"/> behind virtio-mmio, and a minimal virtio_blk guest driver that builds
/// requests (header, data segments, status byte) in guest memory through the Linux-like driver side.
/// </summary>
internal sealed class BlkRig : IDisposable
{
    public const ulong AllFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc | VirtioBlkFeature.SegMax
        | VirtioBlkFeature.BlockSize | VirtioBlkFeature.Flush | VirtioBlkFeature.Topology | VirtioBlkFeature.ConfigWce
        | VirtioBlkFeature.MultiQueue | VirtioBlkFeature.Discard | VirtioBlkFeature.WriteZeroes | VirtioBlkFeature.ReadOnly;

    private readonly Dictionary<int, Pending> _pending = [];
    private int _nextToken;

    public BlkRig(IBlockBackend backend, BlockDeviceOptions? options = null, ulong features = AllFeatures, int queueSize = 64, bool probe = true)
    {
        Memory = GuestMemory.Create(256 << 20);
        Device = new BlockDevice(Memory, backend, options);
        Mmio = new VirtioMmioTransport(Device);
        Driver = new VirtioMmioGuestDriver<int>(Mmio, Memory, 0x10_0000, (256 << 20) - 0x10_0000);
        if (probe)
        {
            Driver.Probe(features, Device.Queues.Count, queueSize);
        }
    }

    public GuestMemory Memory { get; }

    public BlockDevice Device { get; }

    public VirtioMmioTransport Mmio { get; }

    public VirtioMmioGuestDriver<int> Driver { get; }

    /// <summary>A guest buffer holding <paramref name="content"/> (or zeroes of <paramref name="length"/>).</summary>
    public GuestSegment Buffer(int length, ReadOnlySpan<byte> content = default)
    {
        ulong a = Driver.Allocate((ulong)Math.Max(length, 1));
        content.CopyTo(Memory.GetSpan(a, length));
        return new GuestSegment(a, (uint)length);
    }

    public static byte[] Header(VirtioBlkRequestType type, ulong sector) => new VirtioBlkRequestHeader(type, sector).ToArray();

    public static byte[] Segment(ulong sector, uint sectors, uint flags)
    {
        byte[] s = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(s, sector);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(8), sectors);
        BinaryPrimitives.WriteUInt32LittleEndian(s.AsSpan(12), flags);
        return s;
    }

    /// <summary>Adds a request made of the given readable and writable segments (the status byte is the last writable one) and kicks.</summary>
    public int Send(GuestSegment[] readable, GuestSegment[] writable, int queue = 0, bool kick = true)
    {
        int token = _nextToken++;
        AddResult r = Driver.Queues[queue].Add(readable, writable, token);
        Assert.Equal(AddResult.Added, r);
        GuestSegment status = writable[^1];
        _pending[token] = new Pending(status.Address + status.Length - 1, writable);
        if (kick)
        {
            Driver.Queues[queue].Kick();
        }

        return token;
    }

    /// <summary>A read of <paramref name="length"/> bytes in <paramref name="segments"/> pieces; returns the token.</summary>
    public int SendRead(ulong sector, int length, int segments = 1, int queue = 0, bool kick = true)
    {
        var writable = Split(length, segments).Select(n => Buffer(n)).Append(Buffer(1)).ToArray();
        return Send([Buffer(16, Header(VirtioBlkRequestType.In, sector))], writable, queue, kick);
    }

    /// <summary>A write of <paramref name="data"/> in <paramref name="segments"/> pieces (the header in its own descriptor, or with the data when <paramref name="headerWithData"/>).</summary>
    public int SendWrite(ulong sector, byte[] data, int segments = 1, int queue = 0, bool kick = true)
    {
        var readable = new List<GuestSegment> { Buffer(16, Header(VirtioBlkRequestType.Out, sector)) };
        int at = 0;
        foreach (int n in Split(data.Length, segments))
        {
            readable.Add(Buffer(n, data.AsSpan(at, n)));
            at += n;
        }

        return Send([.. readable], [Buffer(1)], queue, kick);
    }

    /// <summary>Collects completions (waiting on the interrupt for up to the timeout): token → (status, used length, data read).</summary>
    public Dictionary<int, Completion> Collect(int expected, int queue = 0, int timeoutMs = 30_000)
    {
        var done = new Dictionary<int, Completion>();
        DateTime deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (done.Count < expected && DateTime.UtcNow < deadline)
        {
            if (!Driver.Queues[queue].TryGetBuffer(out int token, out uint len))
            {
                // Sleep until the used-buffer interrupt (the driver asked for one by consuming everything); the
                // notifier counts signals, so one that came since the last look is not lost.
                int remaining = (int)Math.Max(0, (deadline - DateTime.UtcNow).TotalMilliseconds);
                if (Device.Interrupt.Wait(remaining))
                {
                    Device.Interrupt.TestAndClear();
                }

                continue;
            }

            Pending p = _pending[token];
            _pending.Remove(token);
            byte[] data = [.. p.Writable[..^1].SelectMany(s => Memory.GetSpan(s.Address, (int)s.Length).ToArray())];
            done[token] = new Completion(Memory.GetSpan(p.StatusAddress, 1)[0], len, data);
        }

        return done;
    }

    public Completion Run(int token, int queue = 0)
    {
        var done = Collect(1, queue);
        Assert.True(done.ContainsKey(token), "request did not complete");
        return done[token];
    }

    public byte[] Read(ulong sector, int length, int segments = 1) => Run(SendRead(sector, length, segments)) is { Status: 0 } c ? c.Data : throw new InvalidOperationException("read failed");

    public void Write(ulong sector, byte[] data, int segments = 1) => Assert.Equal(0, Run(SendWrite(sector, data, segments)).Status);

    public static IEnumerable<int> Split(int length, int pieces)
    {
        pieces = Math.Max(1, Math.Min(pieces, Math.Max(length, 1)));
        for (int i = 0; i < pieces; i++)
        {
            yield return (length / pieces) + (i < length % pieces ? 1 : 0);
        }
    }

    public void Dispose()
    {
        Driver.Dispose();
        Device.Dispose();
        Memory.Dispose();
    }

    internal readonly record struct Completion(byte Status, uint UsedLength, byte[] Data);

    private readonly record struct Pending(ulong StatusAddress, GuestSegment[] Writable);
}
