using Virtio.Diagnostics.Watchdog;

namespace Virtio.Diagnostics.Tests.Watchdog;

public class QueueProgressTests
{
    [Fact]
    public void Buffers_not_popped_are_counted_across_the_16_bit_wrap()
    {
        var progress = new QueueProgress(true, false, AvailIdx: 2, LastAvailIdx: 65534, ShadowAvailIdx: 65534, UsedIdx: 65534, InUse: 0, DriverConsumedIdx: 65534);
        Assert.Equal(4, progress.NotPopped);
        Assert.True(progress.WorkOutstanding);
    }

    [Fact]
    public void A_consumed_index_ahead_of_used_idx_means_nothing_waits_for_the_driver()
    {
        // Linux's enable_cb_delayed writes used_event three quarters of the outstanding buffers ahead.
        var progress = new QueueProgress(true, false, 10, 10, 10, UsedIdx: 10, InUse: 0, DriverConsumedIdx: 13);
        Assert.Equal(0, progress.NotConsumed);
        Assert.False(progress.WorkOutstanding);
    }

    [Fact]
    public void Completions_the_driver_has_not_consumed_are_work_outstanding()
    {
        var progress = new QueueProgress(true, false, 10, 10, 10, UsedIdx: 10, InUse: 0, DriverConsumedIdx: 8);
        Assert.Equal(2, progress.NotConsumed);
        Assert.True(progress.WorkOutstanding);
    }

    [Fact]
    public void Unknown_consumption_is_not_work_outstanding()
    {
        var progress = new QueueProgress(true, false, 10, 10, 10, UsedIdx: 10, InUse: 0, DriverConsumedIdx: null);
        Assert.False(progress.WorkOutstanding);
    }

    [Fact]
    public void A_queue_that_is_not_ready_has_no_work_outstanding()
    {
        Assert.False(new QueueProgress(false, false, 5, 0, 0, 0, 0, null).WorkOutstanding);
    }

    [Fact]
    public void The_driver_adding_buffers_is_not_progress()
    {
        var before = new QueueProgress(true, false, 1, 0, 0, 0, 0, 0);
        Assert.False((before with { AvailIdx = 2 }).HasMovedSince(before));
        Assert.True((before with { LastAvailIdx = 1 }).HasMovedSince(before));
        Assert.True((before with { UsedIdx = 1 }).HasMovedSince(before));
        Assert.True((before with { DriverConsumedIdx = 1 }).HasMovedSince(before));
    }
}
