using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;
using Virtio.Driver;

namespace Virtio.Devices.Tests.Block;

/// <summary>virtio-blk through virtio-mmio and the guest driver: config, commands and every bad-request rule.</summary>
public class BlockDeviceTests
{
    private const ulong MiB = 1 << 20;

    [Fact]
    public void Config_space_reports_capacity_seg_max_block_size_queues_and_limits()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(64 * MiB), new BlockDeviceOptions { NumQueues = 2, Device = new VirtioDeviceOptions { QueueSize = 128 } });
        Span<byte> c = stackalloc byte[BlockDevice.ConfigBytes];
        rig.Driver.ReadConfig(0, c);
        Assert.Equal(64 * MiB / 512, BinaryPrimitives.ReadUInt64LittleEndian(c));
        Assert.Equal(126u, BinaryPrimitives.ReadUInt32LittleEndian(c[12..])); // seg_max = queue size - 2
        Assert.Equal(512u, BinaryPrimitives.ReadUInt32LittleEndian(c[20..]));
        Assert.Equal(1, c[32]); // writeback
        Assert.Equal(2, BinaryPrimitives.ReadUInt16LittleEndian(c[34..]));
        Assert.Equal(0x3f_ffffu, BinaryPrimitives.ReadUInt32LittleEndian(c[36..]));
        Assert.Equal(32u, BinaryPrimitives.ReadUInt32LittleEndian(c[40..]));
        Assert.Equal(1, c[56]);
        ulong f = rig.Device.DriverFeatures;
        Assert.Equal(BlkRig.AllFeatures & ~VirtioBlkFeature.ReadOnly, f & BlkRig.AllFeatures);
    }

    [Fact]
    public void A_read_only_backend_offers_ro_and_neither_discard_nor_write_zeroes()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB, readOnly: true));
        ulong offered = rig.Device.DeviceFeatures;
        Assert.NotEqual(0ul, offered & VirtioBlkFeature.ReadOnly);
        Assert.Equal(0ul, offered & (VirtioBlkFeature.Discard | VirtioBlkFeature.WriteZeroes));
        Assert.Equal(1, rig.Run(rig.SendWrite(0, new byte[512])).Status);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(8)]
    public void Written_data_reads_back_across_segment_layouts(int segments)
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        byte[] data = TestData(4096 * 2, seed: segments);
        rig.Write(8, data, segments);
        Assert.Equal(data, rig.Read(8, data.Length, segments: 5));
        Assert.Equal(new byte[512], rig.Read(0, 512));
    }

    [Fact]
    public void A_read_reports_the_whole_writable_length_as_used()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        var c = rig.Run(rig.SendRead(0, 1024));
        Assert.Equal((byte)0, c.Status);
        Assert.Equal(1025u, c.UsedLength);
    }

    [Theory]
    [InlineData(2047ul, 1024)] // runs past the end
    [InlineData(2048ul, 512)] // starts at the end
    [InlineData(ulong.MaxValue, 512)] // sector * 512 overflows
    [InlineData(0ul, 100)] // not whole sectors
    public void Out_of_range_or_partial_sector_requests_fail_with_ioerr(ulong sector, int length)
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        Assert.Equal(1, rig.Run(rig.SendRead(sector, length)).Status);
        Assert.Equal(1, rig.Run(rig.SendWrite(sector, new byte[length])).Status);
        Assert.False(rig.Device.IsBroken);
    }

    [Fact]
    public void With_a_4k_logical_block_size_misaligned_sectors_fail_with_ioerr()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), new BlockDeviceOptions { LogicalBlockSize = 4096 });
        Assert.Equal(1, rig.Run(rig.SendRead(1, 4096)).Status);
        Assert.Equal(1, rig.Run(rig.SendRead(0, 512)).Status);
        Assert.Equal(0, rig.Run(rig.SendRead(8, 4096)).Status);
    }

    [Fact]
    public void Unknown_request_types_get_unsupp()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        foreach (uint type in new uint[] { 2, 10, 14, 0x8000_0000 })
        {
            var c = rig.Run(rig.Send([rig.Buffer(16, Header((VirtioBlkRequestType)type, 0))], [rig.Buffer(1)]));
            Assert.Equal(2, c.Status);
        }

        Assert.False(rig.Device.IsBroken);
    }

    [Fact]
    public void A_request_without_a_writable_status_byte_is_a_device_error()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        Assert.Equal(AddResult.Added, rig.Driver.Queues[0].Add([rig.Buffer(16, Header(VirtioBlkRequestType.In, 0))], [], 1));
        rig.Driver.Queues[0].Kick();
        AssertNeedsReset(rig, "virtio-blk missing headers");
        Assert.False(rig.Driver.Queues[0].TryGetBuffer(out _, out _));
    }

    [Fact]
    public void A_header_shorter_than_16_bytes_is_a_device_error()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        rig.Send([rig.Buffer(15, new byte[15])], [rig.Buffer(1)]);
        AssertNeedsReset(rig, "virtio-blk request outhdr too short");
    }

    [Fact]
    public void A_header_split_across_descriptors_is_accepted()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        byte[] h = Header(VirtioBlkRequestType.Out, 4);
        byte[] data = TestData(512, 3);
        var c = rig.Run(rig.Send([rig.Buffer(5, h.AsSpan(0, 5)), rig.Buffer(11, h.AsSpan(5)), rig.Buffer(512, data)], [rig.Buffer(1)]));
        Assert.Equal(0, c.Status);
        Assert.Equal(data, rig.Read(4, 512));
    }

    [Fact]
    public void A_write_whose_header_shares_a_descriptor_with_its_data_writes_what_follows_the_header()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        byte[] data = TestData(1024, 5);
        byte[] packet = [.. Header(VirtioBlkRequestType.Out, 2), .. data.AsSpan(0, 512)];
        var c = rig.Run(rig.Send([rig.Buffer(packet.Length, packet), rig.Buffer(512, data.AsSpan(512))], [rig.Buffer(1)]));
        Assert.Equal(0, c.Status);
        Assert.Equal(data, rig.Read(2, 1024));
    }

    [Theory]
    [InlineData(new[] { 512, 1 })] // the status in a descriptor of its own
    [InlineData(new[] { 513 })] // data and status share the one writable descriptor
    [InlineData(new[] { 256, 257 })] // the status ends the last data descriptor
    [InlineData(new[] { 300, 212, 1 })]
    public void A_read_puts_the_status_in_the_last_writable_byte_whatever_the_layout(int[] writable)
    {
        // The device keeps where its walk found the status byte and writes it there at completion (no second walk).
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        byte[] data = TestData(512, 9);
        rig.Write(6, data);
        GuestSegment[] buffers = [.. writable.Select(n => rig.Buffer(n, Enumerable.Repeat((byte)0xEE, n).ToArray()))];
        var c = rig.Run(rig.Send([rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.In, 6))], buffers));
        Assert.Equal(0, c.Status);
        Assert.Equal(513u, c.UsedLength);
        byte[] all = [.. buffers.SelectMany(b => rig.Memory.GetSpan(b.Address, (int)b.Length).ToArray())];
        Assert.Equal(data, all[..512]);
        Assert.Equal(0, all[512]);
    }

    [Theory]
    [InlineData(0)] // the status alone
    [InlineData(1)] // a writable byte before it, which the device leaves alone
    public void A_write_puts_the_status_in_the_last_writable_byte(int before)
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        byte[] data = TestData(512, 4);
        GuestSegment[] writable = [.. Enumerable.Range(0, before + 1).Select(_ => rig.Buffer(1, [0xEE]))];
        var c = rig.Run(rig.Send([rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.Out, 3)), rig.Buffer(512, data)], writable));
        Assert.Equal(0, c.Status);
        Assert.All(writable[..^1], b => Assert.Equal(0xEE, rig.Memory.GetSpan(b.Address, 1)[0]));
        Assert.Equal(data, rig.Read(3, 512));
    }

    [Fact]
    public void More_data_segments_than_seg_max_fail_with_ioerr_direct_and_indirect()
    {
        // Queue size 8: seg_max 6. Direct: 1 header + 7 data + status would not fit 8 descriptors, so indirect tables
        // carry the long chains (the driver uses them for any multi-segment request when INDIRECT_DESC is on).
        var options = new BlockDeviceOptions { Device = new VirtioDeviceOptions { QueueSize = 8 } };
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), options, queueSize: 8);
        Assert.Equal(6, rig.Device.SegMax);
        Assert.Equal(0, rig.Run(rig.SendRead(0, 6 * 512, segments: 6)).Status);
        Assert.Equal(1, rig.Run(rig.SendRead(0, 7 * 512, segments: 7)).Status);
        Assert.Equal(1, rig.Run(rig.SendWrite(0, new byte[7 * 512], segments: 7)).Status);
        Assert.False(rig.Device.IsBroken);

        using var direct = new BlkRig(new MemoryBlockBackend(MiB), options, BlkRig.AllFeatures & ~VirtioFeature.RingIndirectDesc, queueSize: 8);
        Assert.Equal(0, direct.Run(direct.SendRead(0, 6 * 512, segments: 6)).Status);
    }

    [Fact]
    public void Get_id_returns_the_serial_zero_padded_to_20_bytes_or_truncated_to_the_buffer()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), new BlockDeviceOptions { Serial = "disk-0042" });
        var c = rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.GetId, 0))], [rig.Buffer(20, Enumerable.Repeat((byte)0xee, 20).ToArray()), rig.Buffer(1)]));
        Assert.Equal(0, c.Status);
        Assert.Equal("disk-0042"u8.ToArray().Concat(new byte[11]), c.Data);
        var shortBuffer = rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.GetId, 0))], [rig.Buffer(4, [9, 9, 9, 9]), rig.Buffer(1)]));
        Assert.Equal("disk"u8.ToArray(), shortBuffer.Data);
    }

    [Fact]
    public void Discard_and_write_zeroes_clear_their_ranges()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        rig.Write(0, TestData(8192, 1));
        var zero = rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.WriteZeroes, 0)), rig.Buffer(32, [.. BlkRig.Segment(0, 2, 1), .. BlkRig.Segment(8, 2, 0)])], [rig.Buffer(1)]));
        Assert.Equal(0, zero.Status);
        byte[] back = rig.Read(0, 8192);
        Assert.Equal(new byte[1024], back[..1024]);
        Assert.Equal(new byte[1024], back[4096..5120]);
        Assert.Equal(TestData(8192, 1)[1024..4096], back[1024..4096]);
        Assert.Equal(0, rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.Discard, 0)), rig.Buffer(16, BlkRig.Segment(0, 16, 0))], [rig.Buffer(1)])).Status);
    }

    [Theory]
    [InlineData(VirtioBlkRequestType.Discard, 1u, 2)] // discard takes no flags
    [InlineData(VirtioBlkRequestType.WriteZeroes, 2u, 2)] // only UNMAP
    public void Discard_and_write_zeroes_with_unknown_flags_get_unsupp(VirtioBlkRequestType type, uint flags, int status)
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        Assert.Equal(status, rig.Run(rig.Send([rig.Buffer(16, Header(type, 0)), rig.Buffer(16, BlkRig.Segment(0, 1, flags))], [rig.Buffer(1)])).Status);
    }

    [Fact]
    public void Discard_segments_past_the_disk_or_above_the_sector_limit_get_ioerr()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), new BlockDeviceOptions { MaxDiscardSectors = 8, MaxDiscardSegments = 2 });
        int Discard(params byte[][] segs) =>
            rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.Discard, 0)), rig.Buffer(16 * segs.Length, [.. segs.SelectMany(s => s)])], [rig.Buffer(1)])).Status;
        Assert.Equal(1, Discard(BlkRig.Segment(2047, 2, 0)));
        Assert.Equal(1, Discard(BlkRig.Segment(0, 9, 0)));
        Assert.Equal(2, Discard(BlkRig.Segment(0, 1, 0), BlkRig.Segment(1, 1, 0), BlkRig.Segment(2, 1, 0)));
        Assert.Equal(0, Discard(BlkRig.Segment(0, 8, 0), BlkRig.Segment(100, 8, 0)));
        Assert.Equal(1, rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.Discard, 0)), rig.Buffer(20, new byte[20])], [rig.Buffer(1)])).Status);
        Assert.False(rig.Device.IsBroken);
    }

    [Fact]
    public void A_discard_without_its_segment_is_a_device_error()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB));
        rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.Discard, 0)), rig.Buffer(8, new byte[8])], [rig.Buffer(1)]);
        AssertNeedsReset(rig, "discard/write_zeroes header too short");
    }

    [Fact]
    public void Discard_without_the_feature_negotiated_gets_unsupp()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), features: BlkRig.AllFeatures & ~VirtioBlkFeature.Discard);
        Assert.Equal(2, rig.Run(rig.Send([rig.Buffer(16, Header(VirtioBlkRequestType.Discard, 0)), rig.Buffer(16, BlkRig.Segment(0, 1, 0))], [rig.Buffer(1)])).Status);
    }

    [Fact]
    public void A_backend_io_error_gets_ioerr_and_the_device_keeps_working()
    {
        using var rig = new BlkRig(new FailingBackend(MiB));
        Assert.Equal(1, rig.Run(rig.SendRead(0, 512)).Status);
        Assert.False(rig.Device.IsBroken);
    }

    [Fact]
    public void Writethrough_mode_flushes_each_write_before_acknowledging_it()
    {
        var counting = new CountingBackend(new MemoryBlockBackend(MiB));
        using var rig = new BlkRig(counting);
        rig.Write(0, new byte[512]);
        Assert.Equal(0, counting.Flushes);
        Assert.True(rig.Mmio.Write(0x100 + 32, 1, 0)); // writeback = 0 (CONFIG_WCE negotiated)
        Assert.False(rig.Device.Writeback);
        rig.Write(0, new byte[512]);
        Assert.Equal(1, counting.Flushes);
        rig.Mmio.Write(0x70, 4, 0); // reset restores the default
        Assert.True(rig.Device.Writeback);
    }

    [Fact]
    public void A_backend_that_cannot_flush_gets_neither_config_wce_nor_flush_and_a_write_through_cache()
    {
        // Section 5.2.5.2: CONFIG_WCE only with FLUSH; the option asks for writeback, the backend cannot honour it.
        using var rig = new BlkRig(new CountingBackend(new MemoryBlockBackend(MiB), BlockBackendCapabilities.Discard), new BlockDeviceOptions { Writeback = true });
        Assert.Equal(0ul, rig.Device.DeviceFeatures & (VirtioBlkFeature.ConfigWce | VirtioBlkFeature.Flush));
        Span<byte> c = stackalloc byte[BlockDevice.ConfigBytes];
        rig.Driver.ReadConfig(0, c);
        Assert.Equal(0, c[32]); // writeback = 0: write-through
        Assert.False(rig.Device.Writeback);
        rig.Mmio.Write(0x100 + 32, 1, 1); // CONFIG_WCE not negotiated: the field stays read-only
        Assert.False(rig.Device.Writeback);
        rig.Mmio.Write(0x70, 4, 0); // a reset does not bring the option's writeback back
        Assert.False(rig.Device.Writeback);
    }

    [Fact]
    public void Every_queue_of_a_multiqueue_device_serves_requests()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), new BlockDeviceOptions { NumQueues = 4 });
        for (int q = 0; q < 4; q++)
        {
            byte[] data = TestData(512, q);
            Assert.Equal(0, rig.Run(rig.SendWrite((ulong)q, data, queue: q), q).Status);
            Assert.Equal(data, rig.Run(rig.SendRead((ulong)q, 512, queue: q), q).Data);
        }
    }

    [Fact]
    public void Requests_survive_the_16_bit_index_wrap_on_a_small_ring()
    {
        var options = new BlockDeviceOptions { Device = new VirtioDeviceOptions { QueueSize = 4 } };
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), options, queueSize: 4);
        var q = rig.Driver.Queues[0];
        GuestSegment hdr = rig.Buffer(16, Header(VirtioBlkRequestType.Out, 0));
        GuestSegment data = rig.Buffer(512);
        GuestSegment status = rig.Buffer(1);
        for (int i = 0; i < 70_000; i++)
        {
            rig.Memory.GetSpan(data.Address, 4).Fill((byte)i);
            Assert.Equal(AddResult.Added, q.Add([hdr, data], [status], i));
            q.Kick();
            Assert.True(q.TryGetBuffer(out int token, out _));
            Assert.Equal(i, token);
            Assert.Equal(0, rig.Memory.GetSpan(status.Address, 1)[0]);
        }

        Assert.Equal(70_000 % 65_536, rig.Device.Queues[0].Ring.UsedIdx);
        Assert.Equal(Enumerable.Repeat((byte)(69_999 & 0xff), 4), rig.Read(0, 512)[..4]);
    }

    internal static byte[] Header(VirtioBlkRequestType type, ulong sector) => BlkRig.Header(type, sector);

    [Fact]
    public void The_trace_level_is_asked_at_creation_and_driver_ok_not_per_request()
    {
        var logging = new TraceAskCounter();
        using var rig = new BlkRig(new MemoryBlockBackend(MiB), new BlockDeviceOptions { Device = new VirtioDeviceOptions { LoggerFactory = logging } });
        int asked = logging.Asked;
        for (int i = 0; i < 16; i++)
        {
            rig.Write((ulong)i * 8, TestData(4096, i));
        }

        Assert.Equal(asked, logging.Asked);
    }

    internal static byte[] TestData(int length, int seed)
    {
        byte[] b = new byte[length];
        new Random(seed).NextBytes(b);
        return b;
    }

    private static void AssertNeedsReset(BlkRig rig, string message)
    {
        Assert.True(rig.Device.IsBroken);
        Assert.Contains(message, rig.Device.BrokenReason, StringComparison.Ordinal);
        Assert.NotEqual(0, (int)(rig.Device.Status & DeviceStatus.DeviceNeedsReset));
        Assert.Equal(InterruptReason.ConfigChange, rig.Driver.TakeInterrupt() & InterruptReason.ConfigChange);
    }

    private sealed class FailingBackend(ulong capacity) : IBlockBackend
    {
        public ulong Capacity => capacity;

        public bool IsReadOnly => false;

        public BlockBackendCapabilities Capabilities => BlockBackendCapabilities.Flush;

        public void Submit(BlockIo request) => request.Complete(BlockIoStatus.IoError);

        public void Dispose()
        {
        }
    }

    private sealed class CountingBackend(IBlockBackend inner, BlockBackendCapabilities? capabilities = null) : IBlockBackend
    {
        public int Flushes;

        public ulong Capacity => inner.Capacity;

        public bool IsReadOnly => inner.IsReadOnly;

        public BlockBackendCapabilities Capabilities => capabilities ?? inner.Capabilities;

        public void Submit(BlockIo request)
        {
            if (request.Kind == BlockIoKind.Flush)
            {
                Interlocked.Increment(ref Flushes);
            }

            inner.Submit(request);
        }

        public void Dispose() => inner.Dispose();
    }

    /// <summary>A logger factory whose loggers have trace off and count how often anyone asks whether it is on.</summary>
    private sealed class TraceAskCounter : ILoggerFactory, ILogger
    {
        public int Asked;

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel)
        {
            if (logLevel == LogLevel.Trace)
            {
                Interlocked.Increment(ref Asked);
            }

            return logLevel >= LogLevel.Warning;
        }

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
        }

        public void Dispose()
        {
        }
    }
}
