using System.Buffers.Binary;
using System.Diagnostics;
using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.Rings;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Net;

namespace Virtio.VhostUser.Tests.Support;

/// <summary>
/// A virtio-net device served over vhost-user on its own thread, driven through this project's front-end
/// (<see cref="VhostUserFrontEnd"/>) with one Linux-model driver queue per ring, as a C# VMM (or QEMU) would.
/// </summary>
internal sealed class NetFrontEndRig : IDisposable
{
    public const ulong Version1 = 1UL << 32;
    public const ulong EventIdx = 1UL << 29;
    private const int RingSize = 256;
    private const ulong BufferArea = 0x100000;

    private readonly Thread _serveThread;
    private readonly SharedGuestMemory _ram;
    private readonly DriverQueue<int>[] _queues;
    private readonly EventFdNotifier[] _kicks;
    private readonly EventFdNotifier[] _calls;
    private readonly Dictionary<int, ulong> _buffers = [];
    private ulong _next = BufferArea;
    private int _token;

    public NetFrontEndRig(INetBackend backend, int queuePairs = 1, int backlogFrames = 256, ulong wanted = ~0UL, TimeSpan pollIdle = default)
    {
        Backend = VhostUserNet.CreateBackend(backend, new VhostUserNetOptions { QueuePairs = queuePairs, BacklogFrames = backlogFrames, QueueSize = RingSize, PollIdle = pollIdle });
        (FileDescriptor mine, FileDescriptor theirs) = UnixSocket.Pair();
        _serveThread = new Thread(() => Backend.Serve(theirs)) { IsBackground = true, Name = "vhost-net-test-backend" };
        _serveThread.Start();
        FrontEnd = VhostUserFrontEnd.FromSocket(mine);
        Features = FrontEnd.Negotiate(wanted);
        _ram = SharedGuestMemory.Create(8 << 20, name: "vhost-net-test-ram");
        FrontEnd.SetMemTable(_ram);
        int rings = 2 * queuePairs;
        _queues = new DriverQueue<int>[rings];
        _kicks = new EventFdNotifier[rings];
        _calls = new EventFdNotifier[rings];
        for (int i = 0; i < rings; i++)
        {
            var layout = SplitRingLayout.Create(0x1000 + ((ulong)i * 0x4000), RingSize);
            _queues[i] = new DriverQueue<int>(_ram.Memory, layout, new DriverQueueOptions { EventIdx = (Features & EventIdx) != 0, QueueIndex = i });
            _kicks[i] = new EventFdNotifier();
            _calls[i] = new EventFdNotifier();
            _queues[i].KickChannel = _kicks[i];
            FrontEnd.StartRing(i, layout, RingSize, _ram, _kicks[i], _calls[i]);
        }
    }

    public VhostUserBackend Backend { get; }

    public VirtioNetDevice Device => (VirtioNetDevice)Backend.Device;

    public VhostUserFrontEnd FrontEnd { get; }

    /// <summary>What the front-end acknowledged.</summary>
    public ulong Features { get; }

    /// <summary>Posts <paramref name="count"/> rx buffers of <paramref name="bytes"/> each on <paramref name="pair"/> and kicks.</summary>
    public void PostRx(int count, int bytes, int pair = 0)
    {
        for (int i = 0; i < count; i++)
        {
            int token = ++_token;
            ulong address = Allocate(bytes);
            _buffers[token] = address;
            Assert.Equal(AddResult.Added, _queues[2 * pair].Add([], [new GuestSegment(address, (uint)bytes)], token));
        }

        _queues[2 * pair].Kick();
    }

    /// <summary>Sends a tx chain of one buffer: the 12-byte header (zeros) then <paramref name="frame"/>.</summary>
    public void Send(ReadOnlySpan<byte> frame, int pair = 0)
    {
        ulong address = Allocate(VirtioNetHeader.Size + frame.Length);
        _ram.Memory.GetSpan(address, VirtioNetHeader.Size).Clear();
        frame.CopyTo(_ram.Memory.GetSpan(address + VirtioNetHeader.Size, frame.Length));
        Assert.Equal(AddResult.Added, _queues[(2 * pair) + 1].Add([new GuestSegment(address, (uint)(VirtioNetHeader.Size + frame.Length))], [], ++_token));
        _queues[(2 * pair) + 1].Kick();
    }

    /// <summary>Adds a tx chain as <see cref="Send"/> does but does not kick; returns whether the driver's kick decision wanted one.</summary>
    public bool SendWithoutKick(ReadOnlySpan<byte> frame, int pair = 0)
    {
        ulong address = Allocate(VirtioNetHeader.Size + frame.Length);
        _ram.Memory.GetSpan(address, VirtioNetHeader.Size).Clear();
        frame.CopyTo(_ram.Memory.GetSpan(address + VirtioNetHeader.Size, frame.Length));
        Assert.Equal(AddResult.Added, _queues[(2 * pair) + 1].Add([new GuestSegment(address, (uint)(VirtioNetHeader.Size + frame.Length))], [], ++_token));
        return _queues[(2 * pair) + 1].KickPrepare();
    }

    /// <summary>Waits (30 s at most) for the device to complete the next buffer of ring <paramref name="queue"/>.</summary>
    public (int Token, uint Length) NextUsed(int queue)
    {
        var deadline = Stopwatch.StartNew();
        int token;
        uint length;
        while (!_queues[queue].TryGetBuffer(out token, out length))
        {
            // A call may be spurious or coalesce several completions: re-check the ring after each.
            int left = (int)Math.Max(0, 30_000 - deadline.ElapsedMilliseconds);
            Assert.True(left > 0 && _calls[queue].Wait(left), $"ring {queue}: no used buffer within 30 s");
            _calls[queue].TestAndClear();
        }

        return (token, length);
    }

    /// <summary>The next frame received on <paramref name="pair"/> (one buffer each, num_buffers 1), without its header.</summary>
    public byte[] Receive(int pair = 0)
    {
        (int token, uint length) = NextUsed(2 * pair);
        Assert.True(length >= VirtioNetHeader.Size, $"an rx buffer of {length} bytes");
        ReadOnlySpan<byte> buffer = _ram.Memory.GetSpan(_buffers[token], (int)length);
        Assert.Equal(1, BinaryPrimitives.ReadUInt16LittleEndian(buffer[10..])); // num_buffers
        return buffer[VirtioNetHeader.Size..].ToArray();
    }

    /// <summary>Whether ring <paramref name="queue"/> has a used buffer now (without waiting).</summary>
    public bool HasUsed(int queue) => _queues[queue].TryGetBuffer(out _, out _);

    public DriverQueue<int> Queue(int index) => _queues[index];

    public ulong Allocate(int bytes)
    {
        ulong address = _next;
        _next += (ulong)((bytes + 63) & ~63);
        Assert.True(_next < _ram.Size, "the test ran out of guest RAM");
        return address;
    }

    public static byte[] Frame(int length, byte seed)
    {
        byte[] frame = new byte[length];
        frame.AsSpan(0, 6).Fill(0xff);
        frame[6] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), 0x88b5);
        for (int i = 14; i < length; i++)
        {
            frame[i] = (byte)(seed + i);
        }

        return frame;
    }

    public void Dispose()
    {
        FrontEnd.Dispose();
        Assert.True(_serveThread.Join(TimeSpan.FromSeconds(30)), "the back-end did not end the connection");
        Backend.Dispose();
        foreach (DriverQueue<int> q in _queues)
        {
            q.Dispose();
        }

        foreach (EventFdNotifier n in _kicks.Concat(_calls))
        {
            n.Dispose();
        }

        _ram.Dispose();
    }
}
