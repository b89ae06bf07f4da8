using Virtio.Testing;
using Virtio.Core.Tests.Support;
using Virtio.Faults;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>EVENT_IDX and flag-based notification suppression, on both directions.</summary>
public class NotificationTests
{
    [Theory]
    [InlineData((ushort)0, (ushort)1, (ushort)0, true)]     // event 0 passed by 0 -> 1
    [InlineData((ushort)1, (ushort)1, (ushort)0, false)]    // event 1 not yet reached
    [InlineData((ushort)5, (ushort)10, (ushort)0, true)]    // inside [old, new)
    [InlineData((ushort)10, (ushort)10, (ushort)0, false)]  // new itself is not passed
    [InlineData((ushort)65535, (ushort)2, (ushort)65534, true)]  // across the wrap
    [InlineData((ushort)2, (ushort)2, (ushort)65534, false)]
    [InlineData((ushort)65533, (ushort)2, (ushort)65534, false)] // before old, across the wrap
    [InlineData((ushort)7, (ushort)7, (ushort)7, false)]    // nothing new
    public void NeedEvent_is_true_only_for_an_event_in_old_to_new(ushort ev, ushort now, ushort old, bool expected) =>
        Assert.Equal(expected, SplitRing.NeedEvent(ev, now, old));

    [Fact]
    public void First_notify_decision_after_enable_always_notifies()
    {
        using var h = new RingHarness(size: 8);
        h.Driver.DisableCallbacks(); // used_event = 0: would suppress
        h.AddSimple(1);
        h.Device.Push(h.PopOne(), 1);
        Assert.False(h.Device.SignalledUsedValid);
        Assert.True(h.Device.ShouldNotify());
        Assert.True(h.Device.SignalledUsedValid);
        Assert.Equal(1, h.Device.SignalledUsed);
    }

    [Fact]
    public void Device_notifies_exactly_when_used_idx_passes_used_event()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 4; i++)
        {
            h.AddSimple(i, writable: 0);
        }

        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Device.ShouldNotify()); // first decision
        h.Memory.Write<ushort>(h.Layout.AvailRing + 4 + (2 * 8), 2); // driver wants an interrupt after entry 2
        h.Device.Push(h.PopOne(), 0);  // used_idx 2: event 2 not passed
        Assert.False(h.Device.ShouldNotify());
        h.Device.Push(h.PopOne(), 0);  // used_idx 3: passes 2
        Assert.True(h.Device.ShouldNotify());
        h.Device.Push(h.PopOne(), 0);  // used_idx 4: already signalled past 2
        Assert.False(h.Device.ShouldNotify());
    }

    [Fact]
    public void Batch_flush_publishes_used_idx_once_and_decides_over_the_whole_batch()
    {
        using var h = new RingHarness(size: 8);
        for (int i = 0; i < 5; i++)
        {
            h.AddSimple(i, writable: 0);
        }

        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Device.ShouldNotify());
        h.Memory.Write<ushort>(h.Layout.AvailRing + 4 + (2 * 8), 3); // ask after entry 3
        var heads = new List<ushort>();
        for (int i = 0; i < 4; i++)
        {
            heads.Add(h.PopOne().Head);
        }

        for (int i = 0; i < heads.Count; i++)
        {
            h.Device.Fill(heads[i], 0, i);
        }

        Assert.Equal(1, h.GuestUsedIdx); // nothing published by Fill
        h.Device.Flush(4);
        Assert.Equal(5, h.GuestUsedIdx);
        Assert.True(h.Device.ShouldNotify()); // event 3 lies in [1, 5)
        for (int i = 0; i < 5; i++)
        {
            Assert.True(h.Driver.TryGetBuffer(out int token, out _));
            Assert.Equal(i, token); // in order
        }
    }

    [Fact]
    public void Flush_invalidates_signalled_used_when_the_index_wraps_past_it()
    {
        using var h = new RingHarness(size: 8);
        h.Device.SetState(h.Device.GetState() with { SignalledUsed = 3, SignalledUsedValid = true });
        h.AddSimple(1, writable: 0);
        h.Device.Push(h.PopOne(), 0); // used_idx 0 -> 1: signalled_used 3 is "ahead": invalid
        Assert.False(h.Device.SignalledUsedValid);
    }

    [Fact]
    public void Without_event_idx_the_device_honours_no_interrupt()
    {
        using var h = new RingHarness(size: 8, eventIdx: false);
        h.AddSimple(1, writable: 0);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Device.ShouldNotify());
        h.Driver.DisableCallbacks();
        Assert.Equal(SplitRing.AvailFlagNoInterrupt, h.Memory.Read<ushort>(h.Layout.AvailRing));
        h.AddSimple(2, writable: 0);
        h.Device.Push(h.PopOne(), 0);
        Assert.False(h.Device.ShouldNotify());
    }

    [Fact]
    public void Notify_on_empty_notifies_when_the_queue_runs_dry()
    {
        using var h = new RingHarness(size: 8);
        h.Device.Reset();
        var q = new SplitQueue(h.Memory, 8)
        {
            DescriptorTableAddress = h.Layout.DescriptorTable, AvailRingAddress = h.Layout.AvailRing,
            UsedRingAddress = h.Layout.UsedRing, EventIdx = true, NotifyOnEmpty = true,
        };
        Assert.Null(q.Enable());
        h.Driver.DisableCallbacks();
        h.AddSimple(1, writable: 0);
        Assert.Equal(PopResult.Chain, q.Pop(out DescriptorChain c));
        q.Push(c, 0);
        Assert.True(q.ShouldNotify()); // first decision
        h.AddSimple(2, writable: 0);
        Assert.Equal(PopResult.Chain, q.Pop(out c));
        q.Push(c, 0);
        Assert.True(q.ShouldNotify()); // used_event = 0 would suppress, but the ring is now empty
        q.Reset();
    }

    [Fact]
    public void Enabling_notifications_with_event_idx_writes_avail_event_equal_to_avail_idx()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.AddSimple(2);
        h.Device.SetNotification(true);
        Assert.Equal(2, h.AvailEvent);
        Assert.Equal(2, h.Device.ShadowAvailIdx);
    }

    [Fact]
    public void Disabling_notifications_with_event_idx_writes_nothing()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1);
        h.Device.SetNotification(false);
        Assert.Equal(0, h.AvailEvent);
        Assert.False(h.Device.NotificationEnabled);
    }

    [Fact]
    public void Pop_writes_avail_event_only_while_notifications_are_enabled()
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1, writable: 0);
        h.AddSimple(2, writable: 0);
        h.PopOne();
        Assert.Equal(1, h.AvailEvent);
        h.Device.SetNotification(false);
        h.PopOne();
        Assert.Equal(1, h.AvailEvent);
    }

    [Fact]
    public void Without_event_idx_notifications_toggle_used_flags_no_notify()
    {
        using var h = new RingHarness(size: 8, eventIdx: false);
        h.Device.SetNotification(false);
        Assert.Equal(SplitRing.UsedFlagNoNotify, h.Memory.Read<ushort>(h.Layout.UsedRing));
        h.AddSimple(1);
        Assert.False(h.Driver.KickPrepare());
        h.Device.SetNotification(true);
        Assert.Equal(0, h.Memory.Read<ushort>(h.Layout.UsedRing));
        h.AddSimple(2);
        Assert.True(h.Driver.KickPrepare());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Driver_stops_kicking_while_the_device_drains_and_kicks_again_after_it_re_enables(bool eventIdx)
    {
        using var h = new RingHarness(size: 8, eventIdx: eventIdx);
        h.AddSimple(1, writable: 0);
        Assert.True(h.Driver.KickPrepare());
        h.Device.SetNotification(false);
        h.PopOne();
        h.AddSimple(2, writable: 0);
        Assert.False(h.Driver.KickPrepare());
        h.PopOne();
        Assert.False(h.Device.EnableNotificationAndRecheck());
        h.AddSimple(3, writable: 0);
        Assert.True(h.Driver.KickPrepare());
    }

    /// <summary>
    /// The device disables notifications and drains buffer 1 (no avail_event update), then the driver adds buffer 2:
    /// avail_event is behind, so the driver does not kick. Returns with buffer 2 available and unannounced.
    /// </summary>
    private static void AddWhileDeviceDrains(RingHarness h)
    {
        h.AddSimple(1);
        Assert.True(h.Driver.KickPrepare());
        h.Device.SetNotification(false);
        h.PopOne();
        h.AddSimple(2);
        Assert.False(h.Driver.KickPrepare());
    }

    [Fact]
    public void Recheck_after_enable_finds_a_buffer_added_while_notifications_were_off()
    {
        using var h = new RingHarness(size: 8);
        AddWhileDeviceDrains(h);
        Assert.True(h.Device.EnableNotificationAndRecheck()); // the re-check finds the unannounced buffer
        h.PopOne();
    }

    [Fact]
    public void Recheck_after_enable_reports_an_empty_ring_as_empty()
    {
        using var h = new RingHarness(size: 8);
        Assert.False(h.Device.EnableNotificationAndRecheck());
        Assert.True(h.Device.IsEmpty());
    }

    [Fact]
    public void Skip_recheck_fault_loses_the_buffer_added_while_notifications_were_off()
    {
        using var h = new RingHarness(size: 8);
        AddWhileDeviceDrains(h);
        h.Device.FaultPlan = new FaultAt(RingFaultPoint.DeviceSkipRecheckAfterEnable);
        Assert.False(h.Device.EnableNotificationAndRecheck()); // the device would now sleep on a kick that never comes
        Assert.Equal(2, h.GuestAvailIdx);
        Assert.Equal(1, h.Device.LastAvailIdx);
    }

    [Fact]
    public void Leave_disabled_fault_keeps_notifications_off_so_the_next_add_does_not_kick()
    {
        using var h = new RingHarness(size: 8);
        AddWhileDeviceDrains(h);
        h.PopOne();
        h.Device.FaultPlan = new FaultAt(RingFaultPoint.DeviceLeaveNotificationsDisabled);
        Assert.False(h.Device.EnableNotificationAndRecheck());
        Assert.False(h.Device.NotificationEnabled);
        h.AddSimple(3);
        Assert.False(h.Driver.KickPrepare());
    }

    [Fact]
    public void Enabling_after_draining_makes_the_next_add_kick()
    {
        using var h = new RingHarness(size: 8);
        AddWhileDeviceDrains(h);
        h.PopOne();
        Assert.False(h.Device.EnableNotificationAndRecheck());
        h.AddSimple(3);
        Assert.True(h.Driver.KickPrepare());
    }

    /// <summary>
    /// The race a missing fence allows: the device reads used_event (still 0) before its used->idx store, the driver
    /// consumes an entry, writes used_event = 1 and sees nothing new; the device decides on the stale 0.
    /// </summary>
    private static bool NotifyAfterRace(IRingFaultPlan? plan)
    {
        using var h = new RingHarness(size: 8);
        h.AddSimple(1, writable: 0);
        h.Device.Push(h.PopOne(), 0);
        Assert.True(h.Device.ShouldNotify()); // signalled_used = 1; the driver has not consumed yet (used_event 0)
        h.AddSimple(2, writable: 0);
        DescriptorChain c = h.PopOne();
        h.Device.FaultPlan = plan;
        h.Device.Fill(c.Head, 0);
        h.Device.Flush(1);                        // used_idx 2
        Assert.True(h.Driver.TryGetBuffer(out _, out _)); // the driver consumes entry 0: used_event = 1
        Assert.Equal(1, h.UsedEvent);
        return h.Device.ShouldNotify();
    }

    [Fact]
    public void Missing_fence_fault_makes_the_device_decide_on_a_stale_used_event() =>
        Assert.False(NotifyAfterRace(new FaultAt(RingFaultPoint.DeviceReadUsedEventBeforeUsedIdx)));

    [Fact]
    public void With_the_fence_the_same_race_notifies() => Assert.True(NotifyAfterRace(null));
}
