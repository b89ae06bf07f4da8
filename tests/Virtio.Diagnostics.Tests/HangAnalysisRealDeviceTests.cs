using Virtio.Diagnostics.Live;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests;

/// <summary>The analysis on what QEMU 7.2's own devices and Linux guests produce (numbers from Reference/live).</summary>
public class HangAnalysisRealDeviceTests
{
    private static QueueStatus Net(ushort queue, ushort last, ushort shadow, ushort used, uint inUse) => new()
    {
        Name = "virtio-net",
        QueueIndex = queue,
        InUse = inUse,
        VringNum = 256,
        VringNumDefault = 256,
        VringAlign = 4096,
        VringDesc = 0x10000,
        VringAvail = 0x11000,
        VringUsed = 0x11240,
        LastAvailIdx = last,
        ShadowAvailIdx = shadow,
        UsedIdx = used,
        SignalledUsed = used,
        SignalledUsedValid = false,
    };

    // rx 0 of an idle Linux guest: 256 buffers posted at start, never read (virtio_net_handle_rx only flushes).
    private static readonly QueueStatus IdleRx = Net(0, 0, 0, 0, 0);
    private static readonly GuestRingFields IdleRxGuest = new(0, 256, 0, 0, 0, 0);

    // tx 0 whose stream peer stopped reading: the element of the pending async send held, 203 buffers behind it.
    private static readonly QueueStatus HeldTx = Net(1, 133, 133, 132, 1);
    private static readonly GuestRingFields HeldTxGuest = new(0, 336, 284, 0, 132, 132);

    private static HangFinding Finding(HangReport r, HangQuestion q) => r.Findings.Single(f => f.Question == q);

    [Fact]
    public void Net_rx_buffers_posted_on_an_idle_link_are_idle_not_a_missed_kick()
    {
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(IdleRx, IdleRxGuest)
        {
            EventIdx = true,
            PopsOnDemand = HangAnalysisInput.PopsOnDemandFor("virtio-net", 0, 3),
        });
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        HangFinding q1 = Finding(r, HangQuestion.DeviceSawRequests);
        Assert.Equal((FindingAnswer.Yes, 256), (q1.Answer, q1.Count));
        Assert.Contains("idle, not missing a kick", q1.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Net_rx_idle_holds_offline_too_when_the_device_status_gives_the_queue_count()
    {
        using GuestMemory memory = GuestMemory.Create(1 << 20);
        memory.Write<ushort>(IdleRx.VringAvail + 2, 256);
        HangReport r = DumpAnalysis.Analyze(memory, IdleRx, eventIdx: true, queueCount: 3);
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
    }

    [Fact]
    public void A_request_queue_with_unread_buffers_and_nothing_held_is_still_a_missed_kick()
    {
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(Net(1, 0, 0, 0, 0), IdleRxGuest)
        {
            EventIdx = true,
            PopsOnDemand = HangAnalysisInput.PopsOnDemandFor("virtio-net", 1, 3),
        });
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
    }

    [Fact]
    public void A_held_element_outranks_the_unread_buffers_behind_it()
    {
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(HeldTx, HeldTxGuest) { EventIdx = true, PopsOnDemand = false });
        Assert.Equal(HangVerdict.DeviceStuck, r.Verdict);
        HangFinding q1 = Finding(r, HangQuestion.DeviceSawRequests);
        Assert.Equal((FindingAnswer.No, 203), (q1.Answer, q1.Count));
        Assert.Contains("holds 1 popped request(s)", q1.Detail, StringComparison.Ordinal);
        Assert.Equal(FindingAnswer.No, Finding(r, HangQuestion.DeviceCompletedRequests).Answer);
    }

    [Fact]
    public void A_held_element_outranks_unread_buffers_offline_too()
    {
        using GuestMemory memory = GuestMemory.Create(1 << 20);
        memory.Write<ushort>(HeldTx.VringAvail + 2, 336);
        memory.Write<ushort>(HeldTx.VringAvail + 4 + 512, 284);
        memory.Write<ushort>(HeldTx.VringUsed + 2, 132);
        memory.Write<ushort>(HeldTx.VringUsed + 4 + 2048, 132);
        Assert.Equal(HangVerdict.DeviceStuck, DumpAnalysis.Analyze(memory, HeldTx, eventIdx: true, queueCount: 3).Verdict);
    }

    [Fact]
    public void A_queue_that_moved_between_readings_is_progressing_whatever_the_snapshot_says()
    {
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(HeldTx, HeldTxGuest) { EventIdx = true, Progress = "used_idx 120 -> 132" });
        Assert.Equal(HangVerdict.Progressing, r.Verdict);
        Assert.False(r.IsHang);
        Assert.Contains("between the readings: used_idx 120 -> 132", r.ToText(), StringComparison.Ordinal);
        Assert.Equal("progressing", HangReport.VerdictName(r.Verdict));
    }

    [Fact]
    public void A_broken_queue_stays_broken_even_when_something_moved()
    {
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(HeldTx, HeldTxGuest) { EventIdx = true, Broken = true, Progress = "avail->idx 335 -> 336" });
        Assert.Equal(HangVerdict.QueueBroken, r.Verdict);
        Assert.True(r.IsHang);
        Assert.Null(r.Progress);
    }

    [Theory]
    [InlineData("virtio-net", 5, new[] { "rx 0", "tx 0", "rx 1", "tx 1", "ctrl" })]
    [InlineData("virtio-net", 4, new[] { "rx 0", "tx 0", "rx 1", "tx 1" })]
    [InlineData("virtio-blk", 2, new[] { "request 0", "request 1" })]
    public void Every_queue_of_a_multiqueue_device_has_its_role(string device, int count, string[] roles) =>
        Assert.Equal(roles, Enumerable.Range(0, count).Select(q => QemuQueueRoles.For(device, q, count)));

    [Fact]
    public void Only_net_rx_queues_are_popped_on_demand_in_a_multiqueue_net_device() =>
        Assert.Equal([true, false, true, false, false], Enumerable.Range(0, 5).Select(q => HangAnalysisInput.PopsOnDemandFor("virtio-net", q, 5)));
}
