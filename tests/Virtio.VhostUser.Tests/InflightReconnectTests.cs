using System.Buffers.Binary;
using Virtio.Devices.Block;
using Virtio.VhostUser.Interop;
using Virtio.VhostUser.Tests.Support;

namespace Virtio.VhostUser.Tests;

/// <summary>
/// Reconnect without losing I/O (vhost-user.rst "Inflight I/O tracking"): a back-end killed with a request in flight is
/// replaced by a new one on the same guest RAM and inflight region, which resubmits what the guest is still owed, and
/// the guest sees every request completed exactly once.
/// </summary>
public sealed class InflightReconnectTests
{
    private const int QueueSize = 256;
    private const ulong RegionBytes = 4160;
    private const uint Out = 1;
    private const uint In = 0;
    private const ulong Header = 0x80000;
    private const VhostUserProtocolFeature Protocol = VhostUserProtocolFeature.ReplyAck | VhostUserProtocolFeature.Config
        | VhostUserProtocolFeature.MultiQueue | VhostUserProtocolFeature.InflightShmfd;

    [Fact]
    public void Back_end_offers_inflight_shmfd() =>
        Assert.NotEqual(0UL, Get(VhostUserRequest.GetProtocolFeatures) & (ulong)VhostUserProtocolFeature.InflightShmfd);

    [Fact]
    public void Popped_request_is_marked_in_flight_in_the_region_until_its_used_element_is_published()
    {
        var swallow = new SwallowingBackend();
        using var s = new Session(wrapBackend: disk => swallow.Wrap(disk));
        s.Ring.Submit(Out, sector: 3);
        Assert.True(swallow.Swallowed.Wait(TimeSpan.FromSeconds(30)));
        using var view = new RegionView(s.Region);
        Assert.Equal(1, view.Flag(0));
        Assert.Equal(1UL, view.Counter(0));

        swallow.Release();
        Assert.True(s.Ring.Call.Wait(30_000));
        Assert.Equal(0, view.Flag(0));
        Assert.Equal(1, view.UsedIdx);
        Assert.Equal(0, view.LastBatchHead);
    }

    [Fact]
    public void Requests_recorded_in_the_inflight_region_allocate_nothing_on_the_back_end()
    {
        using var s = new Session();
        for (int i = 0; i < 500; i++)
        {
            Assert.Equal(0, s.Ring.Request(i % 2 == 0 ? Out : In, sector: (ulong)i));
        }

        long before = s.Fe.Backend.KickThreadAllocatedBytes;
        for (int i = 0; i < 2000; i++)
        {
            Assert.Equal(0, s.Ring.Request(i % 2 == 0 ? Out : In, sector: (ulong)i));
        }

        Assert.Equal(0, s.Fe.Backend.KickThreadAllocatedBytes - before);
        using var view = new RegionView(s.Region);
        Assert.Equal(2500, view.UsedIdx);
    }

    [Fact]
    public void Request_in_flight_when_the_back_end_dies_completes_once_after_reconnect()
    {
        // A is stuck in the old back-end while B, popped after it, completes: out of order, so the available ring
        // from used->idx on names B again and not A; only the inflight region knows that A is owed.
        var swallow = new SwallowingBackend();
        int connections = 0;
        using var s = new Session(wrapBackend: disk => connections++ == 0 ? swallow.Wrap(disk) : disk);
        s.Fe.Ram.GetSpan(0x40000, 512).Fill(0x5a);
        s.Ring.Submit(Out, sector: 3, data: 0x40000, area: Header);
        Assert.True(swallow.Swallowed.Wait(TimeSpan.FromSeconds(30)));
        s.Ring.Submit(Out, sector: 5, data: 0x44000, area: Header + 0x1000);
        ReapOneCompletion(s.Ring, "B was not completed");
        Assert.Equal(0, s.Fe.Ram.Read<byte>(Header + 0x1000 + 16));

        Assert.Equal(0UL, s.ReconnectAndResume());

        ReapOneCompletion(s.Ring, "the resubmitted request A was not completed");
        Assert.Equal(0, s.Fe.Ram.Read<byte>(Header + 16));
        Assert.False(s.Ring.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(2, s.Ring.GuestUsedIdx);

        // A's write reached the disk, and the guest has seen three completions in all: A and B once each, this read.
        Assert.Equal(0, s.Ring.Request(In, sector: 3, data: 0x50000));
        Assert.All(s.Fe.Ram.GetSpan(0x50000, 512).ToArray(), b => Assert.Equal(0x5a, b));
        Assert.Equal(3, s.Ring.GuestUsedIdx);
        Assert.False(s.Fe.Backend.Device.IsBroken);

        // The dead back-end's copy of A completes now, as stale: its device discards it and lets its mappings go.
        swallow.Release();
        Assert.Equal(3, s.Ring.GuestUsedIdx);
    }

    [Fact]
    public void Request_whose_used_element_was_published_before_the_back_end_died_is_not_completed_again()
    {
        using var s = new Session();
        Assert.Equal(0, s.Ring.Request(Out, sector: 3));

        // Died between publishing used->idx 1 and clearing head 0's flag and used_idx (the doc's last two steps).
        using (var view = new RegionView(s.Region))
        {
            view.SetFlag(0, 1);
            view.UsedIdx = 0;
            view.LastBatchHead = 0;
        }

        Assert.Equal(0UL, s.ReconnectAndResume());
        Assert.Equal(0, s.Ring.Request(In, sector: 3, data: 0x50000));
        Assert.False(s.Ring.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(2, s.Ring.GuestUsedIdx);
        Assert.False(s.Fe.Backend.Device.IsBroken);
        using var after = new RegionView(s.Region);
        Assert.Equal(0, after.Flag(0));
        Assert.Equal(2, after.UsedIdx);
    }

    [Theory]
    [InlineData("flag-not-0-or-1", true)]
    [InlineData("batch-list-out-of-range", true)]
    [InlineData("used-idx-far-behind", true)]
    [InlineData("other-desc-num", true)]
    [InlineData("other-version", true)]
    [InlineData("heads-beyond-avail-with-garbage-counters", false)]
    public void Hostile_region_after_reconnect_refuses_the_ring_or_breaks_the_device_never_the_host(string damage, bool refused)
    {
        using var s = new Session();
        Assert.Equal(0, s.Ring.Request(Out, sector: 3));
        using (var view = new RegionView(s.Region))
        {
            switch (damage)
            {
                case "flag-not-0-or-1":
                    view.SetFlag(3, 7);
                    break;
                case "batch-list-out-of-range":
                    view.UsedIdx = 0;
                    view.LastBatchHead = 999;
                    break;
                case "used-idx-far-behind":
                    view.UsedIdx = 200;
                    break;
                case "other-desc-num":
                    view.DescNum = 128;
                    break;
                case "other-version":
                    view.Version = 9;
                    break;
                default:
                    for (ushort head = 10; head < 200; head++)
                    {
                        view.SetFlag(head, 1);
                        view.SetCounter(head, ulong.MaxValue - head);
                    }

                    break;
            }
        }

        ulong status = s.ReconnectAndResume();
        Assert.Equal(refused, status != 0);
        Assert.Equal(!refused, s.Fe.Backend.Device.IsBroken);
        Assert.Equal(1UL, s.Fe.Get(VhostUserRequest.GetQueueNum)); // the connection goes on
        Assert.Equal(1, s.Ring.GuestUsedIdx); // nothing was completed on the hostile region's word
    }

    [Fact]
    public void Region_head_beyond_the_ring_size_breaks_the_device_as_a_pop_would()
    {
        using var s = new Session();
        Assert.Equal(0, s.Ring.Request(Out, sector: 3));
        using (var view = new RegionView(s.Region))
        {
            view.SetFlag(200, 1); // a head of the region's 256 entries, but the ring restarts with 128
        }

        s.Fe.Reconnect();
        s.Ring.Submit(Out, sector: 4); // one available entry, so the resubmission gets as far as the head check
        Resume(s.Fe, s.Ring, s.Region, num: 128);
        Assert.True(s.Fe.Backend.Device.IsBroken);
        Assert.Contains("Guest says index 200 is available", s.Fe.Backend.Device.BrokenReason, StringComparison.Ordinal);
        Assert.Equal(1, s.Ring.GuestUsedIdx);
    }

    private static ulong Get(VhostUserRequest request)
    {
        using var fe = new ScriptedFrontEnd();
        return fe.Get(request);
    }

    /// <summary>QEMU's first start: negotiate, share RAM, GET_INFLIGHT_FD, then SET_INFLIGHT_FD with the region it got.</summary>
    private static FileDescriptor OpenSession(ScriptedFrontEnd fe)
    {
        fe.Negotiate(Protocol);
        Assert.Equal(0UL, fe.SetMemTable());
        fe.Send(VhostUserRequest.GetInflightFd, InflightRequestTests.Payload(0, 0, 1, QueueSize));
        FileDescriptor region = fe.ReadReply(VhostUserRequest.GetInflightFd).TakeFd()!;
        Assert.Equal(0UL, fe.SendAcked(VhostUserRequest.SetInflightFd, InflightRequestTests.Payload(RegionBytes, 0, 1, QueueSize), [region.Value]));
        return region;
    }

    /// <summary>QEMU after a reconnect: the same again with the region it kept (no GET_INFLIGHT_FD), then the ring.</summary>
    private static ulong Resume(ScriptedFrontEnd fe, TestRing ring, FileDescriptor region, uint num = QueueSize)
    {
        fe.Negotiate(Protocol);
        Assert.Equal(0UL, fe.SetMemTable());
        Assert.Equal(0UL, fe.SendAcked(VhostUserRequest.SetInflightFd, InflightRequestTests.Payload(RegionBytes, 0, 1, QueueSize), [region.Value]));

        // QEMU sends the guest's used->idx as the base when GET_VRING_BASE failed on the dead connection.
        return ring.SendRingSetUp(ring.GuestUsedIdx, num);
    }

    /// <summary>Waits for the call, then takes one used buffer: the request named by <paramref name="what"/> completed.</summary>
    private static void ReapOneCompletion(TestRing ring, string what)
    {
        Assert.True(ring.Call.Wait(30_000), what);
        ring.Call.TestAndClear();
        Assert.True(ring.Driver.TryGetBuffer(out _, out _));
    }

    /// <summary>A back-end with the inflight region shared as QEMU first shares it (<see cref="OpenSession"/>) and queue 0 running.</summary>
    private sealed class Session : IDisposable
    {
        public Session(Func<IBlockBackend, IBlockBackend>? wrapBackend = null)
        {
            Fe = new ScriptedFrontEnd(wrapBackend: wrapBackend);
            Region = OpenSession(Fe);
            Ring = TestRing.Start(Fe);
        }

        public ScriptedFrontEnd Fe { get; }

        public FileDescriptor Region { get; }

        public TestRing Ring { get; }

        /// <summary>A new back-end on the same socket, given the kept region and the ring (<see cref="Resume"/>).</summary>
        public ulong ReconnectAndResume(uint num = QueueSize)
        {
            Fe.Reconnect();
            return Resume(Fe, Ring, Region, num);
        }

        public void Dispose()
        {
            Ring.Dispose();
            Region.Dispose();
            Fe.Dispose();
        }
    }

    /// <summary>The front-end's own mapping of queue 0's record, as QEMU holds it across the back-end's death.</summary>
    private sealed class RegionView : IDisposable
    {
        private readonly nint _address;

        public RegionView(FileDescriptor region)
        {
            _address = SharedMemory.TryMap(region.Value, RegionBytes, out int errno);
            Assert.True(_address != 0, $"mmap failed: {errno}");
        }

        public ushort Version
        {
            get => BinaryPrimitives.ReadUInt16LittleEndian(Bytes[8..]);
            set => BinaryPrimitives.WriteUInt16LittleEndian(Bytes[8..], value);
        }

        public ushort DescNum
        {
            get => BinaryPrimitives.ReadUInt16LittleEndian(Bytes[10..]);
            set => BinaryPrimitives.WriteUInt16LittleEndian(Bytes[10..], value);
        }

        public ushort LastBatchHead
        {
            get => BinaryPrimitives.ReadUInt16LittleEndian(Bytes[12..]);
            set => BinaryPrimitives.WriteUInt16LittleEndian(Bytes[12..], value);
        }

        public ushort UsedIdx
        {
            get => BinaryPrimitives.ReadUInt16LittleEndian(Bytes[14..]);
            set => BinaryPrimitives.WriteUInt16LittleEndian(Bytes[14..], value);
        }

        private Span<byte> Bytes => SharedMemory.AsSpan(_address, (int)RegionBytes);

        public byte Flag(ushort head) => Bytes[16 + (16 * head)];

        public void SetFlag(ushort head, byte value) => Bytes[16 + (16 * head)] = value;

        public ulong Counter(ushort head) => BinaryPrimitives.ReadUInt64LittleEndian(Bytes[(16 + (16 * head) + 8)..]);

        public void SetCounter(ushort head, ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Bytes[(16 + (16 * head) + 8)..], value);

        public void Dispose() => SharedMemory.Unmap(_address, RegionBytes);
    }

    /// <summary>A disk whose first request vanishes (a back-end killed before it completes) until released; others pass.</summary>
    private sealed class SwallowingBackend
    {
        private readonly List<BlockIo> _held = [];
        private IBlockBackend? _inner;

        public ManualResetEventSlim Swallowed { get; } = new();

        public IBlockBackend Wrap(IBlockBackend inner)
        {
            _inner = inner;
            return new Disk(this);
        }

        public void Release()
        {
            BlockIo[] held;
            lock (_held)
            {
                held = [.. _held];
                _held.Clear();
            }

            foreach (BlockIo io in held)
            {
                _inner!.Submit(io);
            }
        }

        private sealed class Disk(SwallowingBackend owner) : IBlockBackend
        {
            public ulong Capacity => owner._inner!.Capacity;

            public bool IsReadOnly => owner._inner!.IsReadOnly;

            public BlockBackendCapabilities Capabilities => owner._inner!.Capabilities;

            public void Submit(BlockIo request)
            {
                if (owner.Swallowed.IsSet)
                {
                    owner._inner!.Submit(request);
                    return;
                }

                lock (owner._held)
                {
                    owner._held.Add(request);
                }

                owner.Swallowed.Set();
            }

            public void Dispose()
            {
            }
        }
    }
}
