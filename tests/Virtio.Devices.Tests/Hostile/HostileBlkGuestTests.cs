using System.Diagnostics;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Rings;

namespace Virtio.Devices.Tests.Hostile;

/// <summary>
/// Hostile guests writing their own rings against virtio-blk, on the memory backend and on the asynchronous file
/// backend: each ends in a typed device error (NEEDS_RESET with the rule's text) or in correct service, with nothing
/// written outside the sectors the requests name and nothing hung.
/// </summary>
public sealed class HostileBlkGuestTests
{
    private const ulong Header = RawGuest.Data;
    private const ulong Payload = RawGuest.Data + 0x1000;
    private const ulong Status = RawGuest.Data + 0x2000;
    private const ulong Header2 = RawGuest.Data + 0x3000;
    private const ulong Payload2 = RawGuest.Data + 0x4000;
    private const uint Out = (uint)VirtioBlkRequestType.Out;
    private const uint In = (uint)VirtioBlkRequestType.In;

    public static TheoryData<string> Kinds => HostileDisk.Kinds;

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_head_reposted_while_its_request_runs_breaks_the_device_and_only_the_first_request_writes(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        PostHeldWrite(guest, disk);

        RepostHeadZero(guest, sector: 16); // same head, another chain

        AssertBrokenOnHeadZeroInUse(guest);
        Assert.Equal(1, disk.Held.HeldCount);
        ReleaseHeld(guest, disk);
        Assert.Equal(0, guest.UsedIdx); // a broken device publishes nothing
        disk.AssertZeroOutside(8, 1);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_head_named_twice_in_one_avail_batch_breaks_the_device(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        disk.Held.Holding = true;
        WriteRequest(guest, Header, Payload, sector: 8, fill: 0xAA);
        guest.Post(0);
        guest.Post(0);
        guest.Kick();

        AssertBrokenOnHeadZeroInUse(guest);
        Assert.Equal(1, disk.Held.HeldCount);
        ReleaseHeld(guest, disk);
        disk.AssertZeroOutside(8, 1);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_storm_of_reposted_heads_breaks_the_device_once_and_nothing_hangs(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        disk.Held.Holding = true;
        WriteRequest(guest, Header, Payload, sector: 8, fill: 0xAA);
        for (int i = 0; i < 500; i++)
        {
            guest.Post(0);
            guest.Kick();
        }

        Assert.True(guest.NeedsReset);
        Assert.Equal(1, disk.Held.HeldCount);
        ReleaseHeld(guest, disk);
        guest.Setup(); // the driver resets and starts again: the device serves it
        disk.Held.Holding = false;
        RepostHeadZero(guest, sector: 9);
        Assert.True(guest.WaitUsedOrNeedsReset(1));
        Assert.False(guest.NeedsReset);
        Assert.Equal(0, guest.Memory.Read<byte>(Status));
        disk.AssertZeroOutside(8, 2);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_head_reposted_after_a_reset_that_abandoned_its_request_is_served(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk, drain: TimeSpan.Zero);
        PostHeldWrite(guest, disk);

        guest.Setup(); // status 0 while the request is in the backend, then probe again
        RepostHeadZero(guest, sector: 16);
        Assert.False(guest.NeedsReset);
        Assert.True(disk.Held.WaitForHeld(2, TimeSpan.FromSeconds(20)));
        disk.Held.Holding = false;
        disk.Held.ReleaseAll();

        Assert.True(guest.WaitUsedOrNeedsReset(1));
        Assert.False(guest.NeedsReset);
        Assert.Equal(1, guest.UsedIdx);
        Assert.Equal(0u, guest.Memory.Read<uint>(RawGuest.Used + 4)); // head 0, once
        Assert.Equal(0, guest.Memory.Read<byte>(Status));
        WaitNothingInFlight(guest);
        byte[] image = disk.Image();
        Assert.True(image.AsSpan(16 * 512, 512).IndexOfAnyExcept((byte)0xBB) < 0);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Descriptors_rewritten_after_the_kick_never_write_outside_the_requested_sectors(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        ulong[] addresses = [Header, Payload, Payload + 256, Status, RawGuest.Desc, RawGuest.MemoryBytes - 8, RawGuest.MemoryBytes + 0x1000];
        uint[] lengths = [0, 1, 16, 512, 4096, 0x10_0000, uint.MaxValue];
        int active = 0, acknowledged = 0;
        bool done = false;
        var rewriter = new Thread(() =>
        {
            var random = new Random(42);
            while (!Volatile.Read(ref done))
            {
                if (Volatile.Read(ref active) == 0)
                {
                    Volatile.Write(ref acknowledged, 1);
                    Thread.Yield();
                    continue;
                }

                Volatile.Write(ref acknowledged, 0);
                ulong at = RawGuest.Desc + ((ulong)random.Next(3) * 16);
                switch (random.Next(4))
                {
                    case 0: guest.Memory.Write(at, addresses[random.Next(addresses.Length)]); break;
                    case 1: guest.Memory.Write(at + 8, lengths[random.Next(lengths.Length)]); break;
                    case 2: guest.Memory.Write(at + 12, (ushort)random.Next(8)); break;
                    default: guest.Memory.Write(at + 14, (ushort)random.Next(4)); break;
                }
            }
        });
        rewriter.Start();
        int served = 0, broken = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            for (int round = 0; round < 400 && clock.Elapsed < TimeSpan.FromSeconds(20); round++)
            {
                WriteRequest(guest, Header, Payload, sector: 8, fill: (byte)(round | 1));
                ushort expected = (ushort)(guest.UsedIdx + 1);
                Volatile.Write(ref active, 1);
                guest.Post(0);
                guest.Kick();
                Assert.True(guest.WaitUsedOrNeedsReset(expected), $"round {round}: neither completed nor broken");
                Volatile.Write(ref active, 0);
                var wait = Stopwatch.StartNew();
                while (Volatile.Read(ref acknowledged) == 0)
                {
                    Assert.True(wait.Elapsed < TimeSpan.FromSeconds(30), "the rewriter did not stop");
                    Thread.Yield();
                }

                if (guest.NeedsReset)
                {
                    broken++;
                    WaitNothingInFlight(guest);
                    guest.Setup();
                }
                else
                {
                    served++;
                }
            }
        }
        finally
        {
            Volatile.Write(ref done, true);
            Assert.True(rewriter.Join(TimeSpan.FromSeconds(30)));
        }

        Assert.True(served + broken > 0);
        WaitNothingInFlight(guest);
        disk.AssertZeroOutside(8, 8); // a rewrite before the pop may lengthen the data to 4096 bytes, no more
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Avail_idx_more_than_the_queue_size_ahead_breaks_the_device(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        WriteRequest(guest, Header, Payload, sector: 8, fill: 0xAA);
        guest.SetAvailIdx(9);
        guest.Kick();
        Assert.True(guest.NeedsReset);
        Assert.Contains("Guest moved used index from 0 to 9", guest.Device.BrokenReason, StringComparison.Ordinal);
        disk.AssertZeroOutside(0, 0);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_looped_chain_breaks_the_device(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        guest.BlkHeader(Header, Out, 8);
        guest.Descriptor(0, Header, 16, DescriptorFlags.Next, 1);
        guest.Descriptor(1, Payload, 512, DescriptorFlags.Next, 0);
        PostAndExpectDeviceError(guest, disk, "Looped descriptor");
    }

    [Theory]
    [InlineData("memory", 0, "Invalid size for indirect buffer table (0 bytes)")]
    [InlineData("file-async", 0, "Invalid size for indirect buffer table (0 bytes)")]
    [InlineData("memory", 20, "Invalid size for indirect buffer table (20 bytes)")]
    [InlineData("file-async", 40, "Invalid size for indirect buffer table (40 bytes)")]
    public void An_indirect_table_of_a_bad_length_breaks_the_device(string kind, uint length, string reason)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        WriteIndirectRequest(guest);
        guest.Descriptor(0, RawGuest.Indirect, length, DescriptorFlags.Indirect);
        PostAndExpectDeviceError(guest, disk, reason);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void An_indirect_descriptor_inside_an_indirect_table_breaks_the_device(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        WriteIndirectRequest(guest);
        guest.Descriptor(1, RawGuest.Indirect + 0x100, 48, DescriptorFlags.Indirect, 0, RawGuest.Indirect);
        PostAndExpectDeviceError(guest, disk, "Nested indirect descriptor");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void A_well_formed_indirect_request_is_served(string kind)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        WriteIndirectRequest(guest);
        guest.Post(0);
        guest.Kick();
        Assert.True(guest.WaitUsedOrNeedsReset(1));
        Assert.False(guest.NeedsReset);
        Assert.Equal(0, guest.Memory.Read<byte>(Status));
        WaitNothingInFlight(guest);
        disk.AssertZeroOutside(8, 1);
    }

    [Theory]
    [InlineData("memory", RawGuest.MemoryBytes - 64, RawGuest.Avail, RawGuest.Used, "Cannot map desc")]
    [InlineData("file-async", RawGuest.Desc, RawGuest.MemoryBytes - 8, RawGuest.Used, "Cannot map avail")]
    [InlineData("memory", RawGuest.Desc, RawGuest.Avail, RawGuest.MemoryBytes - 36, "Cannot map used")]
    public void A_ring_crossing_the_end_of_guest_memory_breaks_the_device_when_made_ready(string kind, ulong desc, ulong avail, ulong used, string reason)
    {
        using var disk = new HostileDisk(kind);
        using var guest = new RawGuest(m => new BlockDevice(m, disk.Held, Options(TimeSpan.FromSeconds(10))), desc: desc, avail: avail, used: used);
        Assert.False(guest.QueueReady);
        Assert.True(guest.NeedsReset);
        Assert.Contains(reason, guest.Device.BrokenReason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("memory", RawGuest.Desc, RawGuest.Desc, RawGuest.Used)]
    [InlineData("file-async", RawGuest.Desc, RawGuest.Avail, RawGuest.Avail)]
    [InlineData("memory", RawGuest.Desc, RawGuest.Avail, RawGuest.Desc)]
    [InlineData("file-async", RawGuest.Desc, RawGuest.Desc + 0x40, RawGuest.Desc + 0x40)]
    public void Rings_overlapping_each_other_or_the_table_end_in_an_error_or_service_without_stray_writes(string kind, ulong desc, ulong avail, ulong used)
    {
        using var disk = new HostileDisk(kind);
        using var guest = new RawGuest(m => new BlockDevice(m, disk.Held, Options(TimeSpan.FromSeconds(10))), desc: desc, avail: avail, used: used);
        Assert.True(guest.QueueReady);
        WriteRequest(guest, Header, Payload, sector: 8, fill: 0xAA);
        guest.Post(0);
        guest.Kick();
        WaitNothingInFlight(guest); // served, or refused with a device error: either way nothing is left hanging
        disk.AssertZeroOutside(8, 8);
    }

    [Theory]
    [InlineData("memory", RawGuest.Desc)]
    [InlineData("file-async", RawGuest.Avail)]
    [InlineData("memory", RawGuest.Used)]
    [InlineData("file-async", RawGuest.Used + 2)]
    public void A_read_into_the_rings_themselves_ends_in_an_error_or_service(string kind, ulong into)
    {
        using var disk = new HostileDisk(kind);
        using var guest = Guest(disk);
        guest.BlkHeader(Header, In, 8);
        guest.Descriptor(0, Header, 16, DescriptorFlags.Next, 1);
        guest.Descriptor(1, into, 512, DescriptorFlags.Next | DescriptorFlags.Write, 2);
        guest.Descriptor(2, Status, 1, DescriptorFlags.Write);
        guest.Memory.Write<byte>(Status, 0xff);
        guest.Post(0);
        guest.Kick();
        WaitNothingInFlight(guest);
        disk.AssertZeroOutside(0, 0); // a read writes nothing to the disk
    }

    /// <summary>Makes head 0 available, kicks, and expects NEEDS_RESET for <paramref name="reason"/> with the disk untouched.</summary>
    private static void PostAndExpectDeviceError(RawGuest guest, HostileDisk disk, string reason)
    {
        guest.Post(0);
        guest.Kick();
        Assert.True(guest.NeedsReset);
        Assert.Contains(reason, guest.Device.BrokenReason, StringComparison.Ordinal);
        disk.AssertZeroOutside(0, 0);
    }

    private static RawGuest Guest(HostileDisk disk, TimeSpan? drain = null) =>
        new(m => new BlockDevice(m, disk.Held, Options(drain ?? TimeSpan.FromSeconds(10))));

    private static BlockDeviceOptions Options(TimeSpan drain) =>
        new() { Device = new VirtioDeviceOptions { QueueSize = 8, ResetDrainTimeout = drain } };

    /// <summary>A write of one sector: header, 512 bytes of <paramref name="fill"/>, status, in descriptors 0 to 2.</summary>
    private static void WriteRequest(RawGuest guest, ulong header, ulong payload, ulong sector, byte fill)
    {
        guest.BlkHeader(header, Out, sector);
        guest.Memory.GetSpan(payload, 512).Fill(fill);
        guest.Memory.Write<byte>(Status, 0xff);
        guest.Descriptor(0, header, 16, DescriptorFlags.Next, 1);
        guest.Descriptor(1, payload, 512, DescriptorFlags.Next, 2);
        guest.Descriptor(2, Status, 1, DescriptorFlags.Write);
    }

    /// <summary>A write of sector 8 through an indirect table of three descriptors, named by descriptor 0.</summary>
    private static void WriteIndirectRequest(RawGuest guest)
    {
        guest.BlkHeader(Header, Out, 8);
        guest.Memory.GetSpan(Payload, 512).Fill(0xAA);
        guest.Memory.Write<byte>(Status, 0xff);
        guest.Descriptor(0, Header, 16, DescriptorFlags.Next, 1, RawGuest.Indirect);
        guest.Descriptor(1, Payload, 512, DescriptorFlags.Next, 2, RawGuest.Indirect);
        guest.Descriptor(2, Status, 1, DescriptorFlags.Write, 0, RawGuest.Indirect);
        guest.Descriptor(0, RawGuest.Indirect, 48, DescriptorFlags.Indirect);
    }

    /// <summary>A write of sector 8 (0xAA) at head 0, posted and kicked; the backend holds it.</summary>
    private static void PostHeldWrite(RawGuest guest, HostileDisk disk)
    {
        disk.Held.Holding = true;
        WriteRequest(guest, Header, Payload, sector: 8, fill: 0xAA);
        guest.Post(0);
        guest.Kick();
        Assert.True(disk.Held.WaitForHeld(1, TimeSpan.FromSeconds(20)));
    }

    /// <summary>Head 0 rewritten as a write of <paramref name="sector"/> (0xBB) from the second buffers, posted and kicked.</summary>
    private static void RepostHeadZero(RawGuest guest, ulong sector)
    {
        WriteRequest(guest, Header2, Payload2, sector, fill: 0xBB);
        guest.Post(0);
        guest.Kick();
    }

    private static void AssertBrokenOnHeadZeroInUse(RawGuest guest)
    {
        Assert.True(guest.NeedsReset);
        Assert.Contains("Guest posted descriptor head 0 while it is in use", guest.Device.BrokenReason, StringComparison.Ordinal);
    }

    private static void ReleaseHeld(RawGuest guest, HostileDisk disk)
    {
        disk.Held.ReleaseAll();
        WaitNothingInFlight(guest);
    }

    private static void WaitNothingInFlight(RawGuest guest)
    {
        var clock = Stopwatch.StartNew();
        while (guest.Device.Queues[0].InFlight != 0)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "a request stayed in flight");
            Thread.Yield();
        }
    }
}
