using Virtio.Testing;
using Virtio.Driver;
using Virtio.Faults;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Driver.Tests;

/// <summary>The driver side behaves as Linux's virtio_ring.c does for split rings.</summary>
public class DriverQueueTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    [InlineData(8)]
    public void Direct_chain_takes_one_descriptor_per_segment_and_gives_them_back(int segments)
    {
        using var h = new RingHarness(size: 8);
        GuestSegment[] outs = [.. Enumerable.Range(0, segments).Select(_ => h.Buffer(8))];
        Assert.Equal(AddResult.Added, h.Driver.Add(outs, default, 1));
        Assert.Equal(8 - segments, h.Driver.NumFree);
        DescriptorChain c = h.PopOne();
        Assert.Equal(segments, c.DescriptorCount);
        h.Device.Push(c, 0);
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(8, h.Driver.NumFree);
    }

    [Fact]
    public void Add_returns_no_space_when_descriptors_run_out()
    {
        using var h = new RingHarness(size: 4);
        h.AddSimple(1);
        h.AddSimple(2);
        Assert.Equal(0, h.Driver.NumFree);
        Assert.Equal(AddResult.NoSpace, h.Driver.Add([h.Buffer(4)], default, 3));
        Assert.Equal(2, h.Driver.InFlight);
    }

    [Fact]
    public void No_space_with_readable_segments_notifies_the_device()
    {
        using var h = new RingHarness(size: 2);
        var kick = new EventNotifier();
        h.Driver.KickChannel = kick;
        h.AddSimple(1);
        Assert.Equal(AddResult.NoSpace, h.Driver.Add([h.Buffer(4)], default, 2));
        Assert.Equal(1, h.Driver.KicksSent);
        Assert.Equal(1UL, kick.TestAndClear());
        Assert.Equal(AddResult.NoSpace, h.Driver.Add(default, [h.Buffer(4)], 3));
        Assert.Equal(1, h.Driver.KicksSent); // no readable segment: Linux does not notify
    }

    [Fact]
    public void Indirect_is_used_for_multi_segment_buffers_when_negotiated()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        Assert.Equal(AddResult.Added, h.Driver.Add([h.Buffer(4), h.Buffer(4)], [h.Buffer(4)], 1));
        Assert.Equal(7, h.Driver.NumFree);
        Assert.True(h.PopOne().IsIndirect);
    }

    [Fact]
    public void Single_segment_buffer_stays_direct_even_with_indirect()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        h.Driver.Add([h.Buffer(4)], default, 1);
        Assert.False(h.PopOne().IsIndirect);
    }

    [Fact]
    public void Buffer_with_more_segments_than_an_indirect_table_falls_back_to_direct()
    {
        using var h = new RingHarness(size: 8, indirect: true, maxIndirectSegments: 2);
        Assert.Equal(AddResult.Added, h.Driver.Add([h.Buffer(4), h.Buffer(4), h.Buffer(4)], default, 1));
        Assert.Equal(5, h.Driver.NumFree);
        Assert.False(h.PopOne().IsIndirect);
    }

    [Fact]
    public void Tokens_come_back_with_the_length_the_device_wrote()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(10, writable: 100);
        h.AddSimple(20, writable: 100);
        DescriptorChain a = h.PopOne(), b = h.PopOne();
        h.Device.Push(b, 7);
        h.Device.Push(a, 9);
        Assert.True(h.Driver.TryGetBuffer(out int t1, out uint l1));
        Assert.True(h.Driver.TryGetBuffer(out int t2, out uint l2));
        Assert.Equal((20, 7u, 10, 9u), (t1, l1, t2, l2)); // used order, out of avail order
        Assert.False(h.Driver.TryGetBuffer(out _, out _));
    }

    [Fact]
    public void Kick_prepare_with_event_idx_covers_everything_added_since_the_last_call()
    {
        using var h = new RingHarness(size: 8);
        h.Memory.Write<ushort>(h.Layout.UsedRing + 4 + 64, 2); // avail_event: kick me when idx passes 2
        h.AddSimple(1, writable: 0);
        h.AddSimple(2, writable: 0);
        Assert.False(h.Driver.KickPrepare()); // [0, 2) does not contain 2
        h.AddSimple(3, writable: 0);
        h.AddSimple(4, writable: 0);
        Assert.Equal(2, h.Driver.NumAdded);
        Assert.True(h.Driver.KickPrepare()); // [2, 4) contains 2
        Assert.Equal(0, h.Driver.NumAdded);
    }

    [Fact]
    public void Kick_prepare_without_event_idx_follows_no_notify()
    {
        using var h = new RingHarness(size: 8, eventIdx: false);
        h.AddSimple(1);
        Assert.True(h.Driver.KickPrepare());
        h.Memory.Write(h.Layout.UsedRing, SplitRing.UsedFlagNoNotify);
        h.AddSimple(2);
        Assert.False(h.Driver.KickPrepare());
    }

    [Fact]
    public void Get_buf_writes_used_event_on_every_pop_while_callbacks_are_enabled()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 3; i++)
        {
            h.AddSimple(i);
            h.Device.Push(h.PopOne(), 0);
        }

        for (ushort i = 1; i <= 3; i++)
        {
            Assert.True(h.Driver.TryGetBuffer(out _, out _));
            Assert.Equal(i, h.UsedEvent);
        }
    }

    [Fact]
    public void Get_buf_leaves_used_event_alone_while_callbacks_are_disabled()
    {
        using var h = new RingHarness(size: 8);
        h.Driver.DisableCallbacks();
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(0, h.UsedEvent);
        Assert.Equal(1, h.Driver.LastUsedIdx);
    }

    [Fact]
    public void Disable_cb_with_event_idx_writes_used_event_zero()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 0);
        h.Driver.TryGetBuffer(out _, out _);
        Assert.Equal(1, h.UsedEvent);
        h.Driver.DisableCallbacks();
        Assert.Equal(0, h.UsedEvent);
        Assert.False(h.Driver.CallbacksEnabled);
        Assert.Equal(0, h.Memory.Read<ushort>(h.Layout.AvailRing)); // flags untouched with EVENT_IDX
    }

    [Fact]
    public void Disable_cb_without_event_idx_sets_no_interrupt()
    {
        using var h = new RingHarness(size: 8, eventIdx: false);
        h.Driver.DisableCallbacks();
        Assert.Equal(SplitRing.AvailFlagNoInterrupt, h.Memory.Read<ushort>(h.Layout.AvailRing));
        Assert.True(h.Driver.EnableCallbacks());
        Assert.Equal(0, h.Memory.Read<ushort>(h.Layout.AvailRing));
    }

    [Fact]
    public void Enable_cb_prepare_writes_used_event_equal_to_last_used()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 2; i++)
        {
            h.AddSimple(i);
            h.Device.Push(h.PopOne(), 0);
        }

        h.Driver.DisableCallbacks();
        h.Driver.TryGetBuffer(out _, out _);
        h.Driver.TryGetBuffer(out _, out _);
        Assert.Equal(2, h.Driver.EnableCallbacksPrepare());
        Assert.Equal(2, h.UsedEvent);
        Assert.True(h.Driver.CallbacksEnabled);
    }

    [Fact]
    public void Enable_cb_returns_false_when_used_entries_arrived_meanwhile()
    {
        using var h = new RingHarness(size: 8);
        h.Driver.DisableCallbacks();
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 0);
        Assert.False(h.Driver.EnableCallbacks());
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        Assert.True(h.Driver.EnableCallbacks());
    }

    [Fact]
    public void Enable_cb_delayed_asks_for_three_quarters_of_the_outstanding_buffers()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 8; i++)
        {
            h.AddSimple(i, writable: 0);
        }

        h.Driver.DisableCallbacks();
        Assert.True(h.Driver.EnableCallbacksDelayed());
        Assert.Equal(6, h.UsedEvent); // 0 + 8 * 3 / 4
    }

    [Fact]
    public void Enable_cb_delayed_returns_false_when_that_many_are_already_used()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 8; i++)
        {
            h.AddSimple(i, writable: 0);
        }

        for (int i = 0; i < 7; i++)
        {
            h.Device.Push(h.PopOne(), 0);
        }

        h.Driver.DisableCallbacks();
        Assert.False(h.Driver.EnableCallbacksDelayed());
    }

    [Fact]
    public void An_interrupt_with_used_buffers_sets_event_triggered_and_a_spurious_one_does_not()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        Assert.False(h.Driver.OnInterrupt()); // nothing used yet: IRQ_NONE
        Assert.False(h.Driver.EventTriggered);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Driver.OnInterrupt());
        Assert.True(h.Driver.EventTriggered);
    }

    [Fact]
    public void Without_event_idx_an_interrupt_does_not_set_event_triggered_and_disable_cb_sets_no_interrupt()
    {
        using var h = new RingHarness(size: 8, eventIdx: false);
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Driver.OnInterrupt());
        Assert.False(h.Driver.EventTriggered); // vring_interrupt sets it only with EVENT_IDX
        h.Driver.DisableCallbacks();
        Assert.Equal(SplitRing.AvailFlagNoInterrupt, h.Memory.Read<ushort>(h.Layout.AvailRing));
    }

    [Fact]
    public void Disable_cb_after_an_interrupt_leaves_used_event_and_get_buf_stops_moving_it()
    {
        // Linux 6.4 / 6.1.28: a driver in its interrupt handler (NAPI, virtblk_done) shows used_event behind used->idx.
        using var h = new RingHarness(size: 8);
        h.AddSimple(0);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(1, h.UsedEvent);
        for (int i = 1; i <= 3; i++)
        {
            h.AddSimple(i);
            h.Device.Push(h.PopOne(), 0);
        }

        Assert.True(h.Driver.OnInterrupt());
        h.Driver.DisableCallbacks();
        Assert.False(h.Driver.CallbacksEnabled);
        Assert.Equal(1, h.UsedEvent); // not 0: the device will not interrupt again until the driver moves it
        for (int i = 0; i < 3; i++)
        {
            Assert.True(h.Driver.TryGetBuffer(out _, out _));
        }

        Assert.Equal(1, h.UsedEvent);
        Assert.Equal(4, h.Device.UsedIdx);
    }

    [Fact]
    public void Enable_cb_clears_event_triggered_so_the_next_disable_cb_writes_used_event_zero_again()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Driver.OnInterrupt());
        h.Driver.DisableCallbacks();
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        Assert.True(h.Driver.EnableCallbacks());
        Assert.False(h.Driver.EventTriggered);
        Assert.Equal(1, h.UsedEvent);
        h.Driver.DisableCallbacks();
        Assert.Equal(0, h.UsedEvent);
    }

    [Fact]
    public void Enable_cb_delayed_clears_event_triggered()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.AddSimple(2);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Driver.OnInterrupt());
        h.Driver.DisableCallbacks();
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        Assert.True(h.Driver.EnableCallbacksDelayed());
        Assert.False(h.Driver.EventTriggered);
        h.Driver.DisableCallbacks();
        Assert.Equal(0, h.UsedEvent);
    }

    [Fact]
    public void Detach_unused_buffer_returns_every_token_and_restores_the_ring()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(5);
        h.AddSimple(6);
        h.AddSimple(7, writable: 0);
        var tokens = new List<int>();
        while (h.Driver.TryDetachUnusedBuffer(out int t))
        {
            tokens.Add(t);
        }

        Assert.Equal([5, 6, 7], tokens.Order());
        Assert.Equal(8, h.Driver.NumFree);
        Assert.Equal(0, h.Driver.InFlight);
        Assert.Equal(0, h.GuestAvailIdx);
    }

    [Fact]
    public void Used_id_out_of_range_breaks_the_driver()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.Memory.Write<uint>(h.Layout.UsedRing + 4, 8);
        h.Memory.Write<ushort>(h.Layout.UsedRing + 2, 1);
        Assert.False(h.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(DriverRingErrorKind.UsedIdOutOfRange, h.Driver.Error?.Kind);
        Assert.Equal("id 8 out of range", h.Driver.Error!.Message);
        Assert.Equal(AddResult.Broken, h.Driver.Add([h.Buffer(4)], default, 2));
    }

    [Fact]
    public void Used_id_that_is_not_a_head_in_flight_breaks_the_driver()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1); // head 0 uses descriptors 0 and 1
        h.Memory.Write<uint>(h.Layout.UsedRing + 4, 1);
        h.Memory.Write<ushort>(h.Layout.UsedRing + 2, 1);
        Assert.False(h.Driver.TryGetBuffer(out _, out _));
        Assert.Equal("id 1 is not a head!", h.Driver.Error!.Message);
        Assert.True(h.Driver.IsBroken);
        Assert.False(h.Driver.Notify());
    }

    [Fact]
    public void Used_id_completed_twice_breaks_the_driver()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        DescriptorChain c = h.PopOne();
        h.Device.Push(c, 0);
        Assert.True(h.Driver.TryGetBuffer(out _, out _));
        h.Memory.Write<uint>(h.Layout.UsedRing + 4 + 8, c.Head); // a buggy device completes head 0 again
        h.Memory.Write<ushort>(h.Layout.UsedRing + 2, 2);
        Assert.False(h.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(DriverRingErrorKind.UsedIdNotAHead, h.Driver.Error?.Kind);
    }

    [Theory]
    [InlineData(false, 1000u, 0)] // Linux: 5.16's used-length check (939779f5152d) was reverted (f124034faa91)
    [InlineData(true, 32u, 1)] // this project's option: clamped to the writable space and counted
    public void Used_length_beyond_the_writable_space_is_passed_on_unchecked_unless_the_clamp_option_is_on(bool clamp, uint expected, long clamped)
    {
        using var h = new RingHarness(size: 8, clampUsedLength: clamp);
        h.AddSimple(1, readable: 16, writable: 32);
        h.Device.Push(h.PopOne(), 1000);
        Assert.True(h.Driver.TryGetBuffer(out _, out uint len));
        Assert.Equal(expected, len);
        Assert.Equal(clamped, h.Driver.UsedLengthClamped);
        Assert.False(h.Driver.IsBroken);
    }

    [Fact]
    public void Missing_fence_fault_makes_kick_prepare_miss_a_needed_kick()
    {
        using var h = new RingHarness(size: 8);
        h.Driver.FaultPlan = new FaultAt(RingFaultPoint.DriverReadAvailEventBeforeAvailIdx);
        h.Memory.Write<ushort>(h.Layout.UsedRing + 4 + 64, 5); // stale avail_event seen by the early load
        h.AddSimple(1, writable: 0);
        h.Memory.Write<ushort>(h.Layout.UsedRing + 4 + 64, 0); // the device's real request: kick when passing 0
        Assert.False(h.Driver.KickPrepare());
    }

    [Fact]
    public void Without_the_fault_the_same_kick_is_sent()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1, writable: 0);
        Assert.True(h.Driver.KickPrepare());
    }

    [Fact]
    public void Never_reenable_fault_keeps_callbacks_disabled()
    {
        using var h = new RingHarness(size: 8);
        h.Driver.FaultPlan = new FaultAt(RingFaultPoint.DriverNeverReenableCallbacks);
        h.Driver.DisableCallbacks();
        h.Driver.EnableCallbacks();
        h.Driver.EnableCallbacksDelayed();
        Assert.False(h.Driver.CallbacksEnabled);
        Assert.Equal(0, h.UsedEvent);
    }

    [Fact]
    public void Drop_kick_fault_sends_nothing()
    {
        using var h = new RingHarness(size: 8);
        var kick = new EventNotifier();
        h.Driver.KickChannel = kick;
        h.Driver.FaultPlan = new FaultAt(RingFaultPoint.DriverDropKick);
        h.AddSimple(1);
        Assert.False(h.Driver.Kick());
        Assert.False(kick.IsSet);
        Assert.Equal(0, h.Driver.KicksSent);
    }

    [Fact]
    public void Kick_signals_the_channel_when_needed()
    {
        using var h = new RingHarness(size: 8);
        var kick = new EventNotifier();
        h.Driver.KickChannel = kick;
        h.AddSimple(1);
        Assert.True(h.Driver.Kick());
        Assert.True(kick.IsSet);
        Assert.Equal(1, h.Driver.KicksSent);
    }

    [Fact]
    public void Callbacks_can_start_disabled()
    {
        using var memory = Virtio.Memory.GuestMemory.Create(0x100000);
        var layout = SplitRingLayout.Create(0x1000, 8);
        using var driver = new DriverQueue<int>(memory, layout, new DriverQueueOptions { EventIdx = false, CallbacksEnabled = false });
        Assert.False(driver.CallbacksEnabled);
        Assert.Equal(SplitRing.AvailFlagNoInterrupt, memory.Read<ushort>(layout.AvailRing));
    }

    [Fact]
    public void Constructor_rejects_rings_outside_guest_memory()
    {
        using var memory = Virtio.Memory.GuestMemory.Create(0x2000);
        Assert.Throws<ArgumentException>(() => new DriverQueue<int>(memory, SplitRingLayout.Create(0x1000, 256)));
        Assert.False(memory.IsInUse);
    }

    [Fact]
    public void Add_without_segments_throws()
    {
        using var h = new RingHarness(size: 8);
        Assert.Throws<ArgumentException>(() => h.Driver.Add(default, default, 1));
    }

    [Fact]
    public void Reference_tokens_are_returned_and_released()
    {
        using var memory = Virtio.Memory.GuestMemory.Create(0x100000);
        using var driver = new DriverQueue<string>(memory, SplitRingLayout.Create(0x1000, 4));
        var device = new SplitQueue(memory, 4) { DescriptorTableAddress = 0x1000, AvailRingAddress = 0x1040, UsedRingAddress = 0x2000, EventIdx = true };
        Assert.Null(device.Enable());
        driver.Add([new GuestSegment(0x8000, 4)], default, "hello");
        Assert.Equal(PopResult.Chain, device.Pop(out DescriptorChain c));
        device.Push(c, 0);
        Assert.True(driver.TryGetBuffer(out string token, out _));
        Assert.Equal("hello", token);
        device.Reset();
    }
}
