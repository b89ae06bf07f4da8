using Virtio.Core.Tests.Support;
using Virtio.Testing;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

/// <summary>
/// The inflight log hook and the pop-by-head path a restarted device uses to resubmit the requests it had in flight
/// (vhost-user.rst "Inflight I/O tracking", libvhost-user's resubmit list).
/// </summary>
public class ResubmitTests
{
    [Fact]
    public void Pop_records_each_popped_head_in_the_inflight_log_in_pop_order()
    {
        using var h = new RingHarness();
        var log = new RecordingLog(h);
        RestartWith(h, log, 0);
        Add(h, 0);
        Add(h, 1);
        h.PopOne();
        h.PopOne();
        Assert.Equal(["popped 0", "popped 1"], log.Events);
    }

    [Fact]
    public void Flush_records_the_batch_before_used_idx_publishes_it_and_clears_it_after()
    {
        using var h = new RingHarness();
        var log = new RecordingLog(h);
        RestartWith(h, log, 0);
        Add(h, 0);
        Add(h, 1);
        DescriptorChain a = h.PopOne(), b = h.PopOne();
        h.Device.Fill(b.Head, 0, 0);
        h.Device.Fill(a.Head, 0, 1);
        h.Device.Flush(2);
        Assert.Equal(["popped 0", "popped 1", "publishing 1,0 at used->idx 0", "published 1,0 at used->idx 2 (2)"], log.Events);
    }

    [Fact]
    public void Rewind_tells_the_inflight_log_the_head_went_back_to_the_available_ring()
    {
        using var h = new RingHarness();
        var log = new RecordingLog(h);
        RestartWith(h, log, 0);
        Add(h, 0);
        h.PopOne();
        h.Device.Unpop();
        Assert.Equal(["popped 0", "unpopped 0"], log.Events);
    }

    [Fact]
    public void Pop_returns_resubmitted_heads_first_in_the_order_given_then_the_available_ring()
    {
        using var h = new RingHarness();
        DieOwingHeadsZeroAndTwo(h, added: 4);
        h.Device.Resubmit([2, 0]);

        Assert.Equal(2, h.PopOne().Head);
        Assert.Equal(0, h.PopOne().Head);
        Assert.Equal(3, h.PopOne().Head);
        Assert.Equal(PopResult.Empty, h.Device.Pop(out _));
        Assert.Equal((ushort)4, h.Device.LastAvailIdx);
        Assert.Equal(3, h.Device.InUse);
    }

    [Fact]
    public void Resubmitted_requests_complete_once_each_for_the_driver()
    {
        using var h = new RingHarness();
        DieOwingHeadsZeroAndTwo(h, added: 3);
        h.Device.Resubmit([0, 2]);
        while (h.Device.Pop(out DescriptorChain chain) == PopResult.Chain)
        {
            h.Device.Push(chain, 0);
        }

        var tokens = new List<int>();
        while (h.Driver.TryGetBuffer(out int token, out _))
        {
            tokens.Add(token);
        }

        Assert.Equal([1, 0, 2], tokens);
        Assert.False(h.Device.IsBroken);
    }

    [Fact]
    public void PopHead_does_not_record_the_head_in_the_inflight_log_again()
    {
        using var h = new RingHarness();
        Add(h, 0);
        h.PopOne();
        var log = new RecordingLog(h);
        RestartWith(h, log, 0);
        h.Device.Resubmit([0]);
        h.PopOne();
        Assert.Empty(log.Events);
    }

    [Fact]
    public void PopHead_rejects_a_head_out_of_range()
    {
        using var h = new RingHarness();
        Add(h, 0);
        RestartWith(h, null, 0);
        Assert.Equal(PopResult.Broken, h.Device.PopHead(8, out _));
        Assert.Equal(VirtqueueErrorKind.HeadOutOfRange, h.Device.Error!.Kind);
    }

    [Fact]
    public void PopHead_rejects_a_head_already_in_flight()
    {
        using var h = new RingHarness();
        Add(h, 0);
        Add(h, 1);
        RestartWith(h, null, 0);
        Assert.Equal(PopResult.Chain, h.Device.PopHead(1, out _));
        Assert.Equal(PopResult.Broken, h.Device.PopHead(1, out _));
        Assert.Equal(VirtqueueErrorKind.HeadInUse, h.Device.Error!.Kind);
    }

    [Fact]
    public void PopHead_rejects_a_head_with_no_available_entry_left_for_it()
    {
        using var h = new RingHarness();
        Add(h, 0);
        RestartWith(h, null, 0);
        h.Device.Resubmit([0, 1]);
        h.PopOne();
        Assert.Equal(PopResult.Broken, h.Device.Pop(out _));
        Assert.Equal(VirtqueueErrorKind.ResubmitBeyondAvail, h.Device.Error!.Kind);
    }

    [Fact]
    public void PopHead_validates_the_chain_as_pop_does()
    {
        using var h = new RingHarness();
        Add(h, 0);
        h.WriteDescriptor(0, RingHarness.DataBase, 16, DescriptorFlags.Next, 0); // loops on itself
        RestartWith(h, null, 0);
        Assert.Equal(PopResult.Broken, h.Device.PopHead(0, out _));
        Assert.Equal(VirtqueueErrorKind.LoopedDescriptor, h.Device.Error!.Kind);
    }

    [Fact]
    public void Rewind_of_a_resubmitted_chain_gives_it_back_to_the_resubmit_list_not_the_log()
    {
        using var h = new RingHarness();
        Add(h, 0);
        Add(h, 1);
        h.PopOne();
        h.PopOne();
        var log = new RecordingLog(h);
        RestartWith(h, log, 0);
        h.Device.Resubmit([1, 0]);
        Assert.Equal(1, h.PopOne().Head);
        h.Device.Unpop();
        Assert.Equal(2, h.Device.PendingResubmits);
        Assert.Equal(1, h.PopOne().Head);
        Assert.Equal(0, h.PopOne().Head);
        Assert.Empty(log.Events);
    }

    /// <summary>A one-descriptor buffer: its head is its token while the ring is fresh.</summary>
    private static void Add(RingHarness h, int token) => h.AddSimple(token, readable: 16, writable: 0);

    /// <summary>Heads 0..2 popped, head 1 completed, then the device died and restarted: 0 and 2 are owed.</summary>
    private static void DieOwingHeadsZeroAndTwo(RingHarness h, int added)
    {
        for (int i = 0; i < added; i++)
        {
            Add(h, i);
        }

        h.PopOne();
        h.PopOne();
        h.PopOne();
        h.Device.Push(1, 0);
        RestartWith(h, null, 1);
    }

    /// <summary>The device restarts on the same ring with <c>last_avail_idx</c> at the guest's <c>used_idx</c>.</summary>
    private static void RestartWith(RingHarness h, IInflightLog? log, ushort usedIdx)
    {
        h.Device.Reset();
        h.Device.InflightLog = log;
        h.EnableAgain();
        h.Device.SetState(new SplitQueueState(usedIdx, usedIdx, usedIdx, 0, usedIdx, false, true));
    }

    private sealed class RecordingLog(RingHarness h) : IInflightLog
    {
        public List<string> Events { get; } = [];

        public void Popped(ushort head) => Events.Add($"popped {head}");

        public void Unpopped(ushort head) => Events.Add($"unpopped {head}");

        public void Publishing(ReadOnlySpan<ushort> heads) =>
            Events.Add($"publishing {string.Join(',', heads.ToArray())} at used->idx {h.GuestUsedIdx}");

        public void Published(ReadOnlySpan<ushort> heads, ushort usedIdx) =>
            Events.Add($"published {string.Join(',', heads.ToArray())} at used->idx {h.GuestUsedIdx} ({usedIdx})");
    }
}
