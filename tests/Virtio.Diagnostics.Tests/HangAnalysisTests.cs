using Virtio.Testing;
using System.Text.Json;
using Virtio.Diagnostics.Tests.Support;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.Diagnostics.Tests;

public class HangAnalysisTests
{
    private static QueueStatus Status(ushort last, ushort shadow, ushort used, uint inUse = 0, uint num = 256, ushort? signalled = null, bool valid = true) => new()
    {
        Name = "virtio-blk",
        QueueIndex = 0,
        InUse = inUse,
        VringNum = num,
        VringNumDefault = 256,
        VringAlign = 4096,
        VringDesc = 0x2a00000,
        VringAvail = 0x2a01000,
        VringUsed = 0x2a01240,
        LastAvailIdx = last,
        ShadowAvailIdx = shadow,
        UsedIdx = used,
        SignalledUsed = signalled ?? used,
        SignalledUsedValid = valid,
    };

    private static GuestRingFields Guest(ushort availIdx, ushort usedEvent, ushort usedIdx, ushort availEvent, ushort availFlags = 0, ushort usedFlags = 0) =>
        new(availFlags, availIdx, usedEvent, usedFlags, usedIdx, availEvent);

    private static HangReport Analyze(QueueStatus s, GuestRingFields g, bool? eventIdx = true, bool broken = false, string? error = null) =>
        HangAnalysis.Analyze(new HangAnalysisInput(s, g) { EventIdx = eventIdx, Broken = broken, BrokenError = error });

    private static HangFinding Finding(HangReport r, HangQuestion q) => r.Findings.Single(f => f.Question == q);

    [Fact]
    public void The_reference_idle_queue_is_healthy_with_every_question_answered_yes()
    {
        HangReport r = Analyze(Status(17, 17, 17), Guest(17, 17, 17, 17));
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        Assert.All(r.Findings.Skip(1), f => Assert.Equal(FindingAnswer.Yes, f.Answer));
        Assert.Equal(FindingAnswer.No, Finding(r, HangQuestion.QueueBroken).Answer);
        Assert.False(r.IsHang);
    }

    [Fact]
    public void Buffers_published_past_shadow_avail_idx_are_a_missed_kick_with_the_count()
    {
        HangReport r = Analyze(Status(17, 17, 17), Guest(20, 17, 17, 17));
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
        HangFinding q1 = Finding(r, HangQuestion.DeviceSawRequests);
        Assert.Equal((FindingAnswer.No, 3), (q1.Answer, q1.Count));
        Assert.Contains("avail->idx 20", q1.Detail, StringComparison.Ordinal);
        Assert.Contains("shadow_avail_idx 17", q1.Detail, StringComparison.Ordinal);
        Assert.Contains("had to kick", q1.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missed_kick_with_avail_event_left_behind_blames_the_device_that_stopped_asking_for_kicks()
    {
        HangReport r = Analyze(Status(17, 17, 17), Guest(20, 17, 17, 10));
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
        Assert.Contains("did not ask for a kick", Finding(r, HangQuestion.DeviceSawRequests).Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0, "the driver had to kick")]
    [InlineData(1, "the device asked not to be kicked")]
    public void Without_event_idx_the_no_notify_flag_says_whether_a_kick_was_owed(ushort usedFlags, string expected)
    {
        HangReport r = Analyze(Status(5, 5, 5), Guest(6, 0, 5, 0, usedFlags: usedFlags), eventIdx: false);
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
        Assert.Contains(expected, Finding(r, HangQuestion.DeviceSawRequests).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Popped_and_uncompleted_requests_are_a_stuck_device()
    {
        HangReport r = Analyze(Status(19, 19, 17, inUse: 2), Guest(19, 17, 17, 19));
        Assert.Equal(HangVerdict.DeviceStuck, r.Verdict);
        HangFinding q2 = Finding(r, HangQuestion.DeviceCompletedRequests);
        Assert.Equal((FindingAnswer.No, 2), (q2.Answer, q2.Count));
        Assert.Contains("inuse 2", q2.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Completions_the_device_did_not_publish_to_guest_ram_are_a_stuck_device()
    {
        HangReport r = Analyze(Status(18, 18, 18), Guest(18, 17, 17, 18));
        Assert.Equal(HangVerdict.DeviceStuck, r.Verdict);
        Assert.Contains("has not published", Finding(r, HangQuestion.DeviceCompletedRequests).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void An_inuse_that_disagrees_with_the_indexes_is_reported()
    {
        HangReport r = Analyze(Status(19, 19, 17, inUse: 0), Guest(19, 17, 17, 19));
        Assert.Equal(HangVerdict.DeviceStuck, r.Verdict);
        Assert.Contains("disagrees", Finding(r, HangQuestion.DeviceCompletedRequests).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Completions_behind_used_event_with_event_idx_are_a_missed_notification()
    {
        HangReport r = Analyze(Status(20, 20, 20), Guest(20, 17, 20, 20));
        Assert.Equal(HangVerdict.DriverMissedNotification, r.Verdict);
        HangFinding q3 = Finding(r, HangQuestion.DriverSawCompletions);
        Assert.Equal((FindingAnswer.No, 3), (q3.Answer, q3.Count));
        Assert.Contains("lost on the way", q3.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Completions_behind_used_event_after_a_notify_name_both_a_lost_interrupt_and_a_driver_still_in_its_handler()
    {
        // Linux 6.4 / 6.1.28: a driver that took the interrupt leaves used_event where one that never got it does.
        HangReport r = Analyze(Status(20, 20, 20), Guest(20, 17, 20, 20));
        string detail = Finding(r, HangQuestion.DriverSawCompletions).Detail;
        Assert.Contains("a notification was due", detail, StringComparison.Ordinal);
        Assert.Contains("lost on the way", detail, StringComparison.Ordinal);
        Assert.Contains("delivered and the driver is still processing, or stuck in, its handler", detail, StringComparison.Ordinal);
        Assert.Contains("event_triggered", detail, StringComparison.Ordinal);
        Assert.Contains("used_event stays at 17 while it works through the 3 completion(s) [17, 20)", detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Completions_after_the_last_notify_decision_blame_the_device_for_not_notifying()
    {
        HangReport r = Analyze(Status(20, 20, 20, signalled: 18), Guest(20, 17, 20, 20));
        Assert.Equal(HangVerdict.DriverMissedNotification, r.Verdict);
        Assert.Contains("did not call virtio_notify", Finding(r, HangQuestion.DriverSawCompletions).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Without_event_idx_the_third_question_cannot_be_answered_and_the_verdict_is_healthy_with_that_caveat()
    {
        HangReport r = Analyze(Status(20, 20, 20), Guest(20, 17, 20, 0), eventIdx: false);
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        HangFinding q3 = Finding(r, HangQuestion.DriverSawCompletions);
        Assert.Equal(FindingAnswer.CannotTell, q3.Answer);
        Assert.Contains("without VIRTIO_RING_F_EVENT_IDX", q3.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_event_idx_negotiation_cannot_answer_the_third_question()
    {
        HangReport r = Analyze(Status(20, 20, 20), Guest(20, 17, 20, 20), eventIdx: null);
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        Assert.Equal(FindingAnswer.CannotTell, Finding(r, HangQuestion.DriverSawCompletions).Answer);
    }

    [Fact]
    public void Used_event_zero_means_the_driver_disabled_callbacks_and_is_polling_not_a_lost_interrupt()
    {
        HangReport r = Analyze(Status(40, 40, 40), Guest(40, 0, 40, 40));
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        HangFinding q3 = Finding(r, HangQuestion.DriverSawCompletions);
        Assert.Equal(FindingAnswer.CannotTell, q3.Answer);
        Assert.Contains("disabled callbacks", q3.Detail, StringComparison.Ordinal);
        Assert.Contains("polling", q3.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Used_event_far_behind_used_idx_is_not_the_drivers_position()
    {
        HangReport r = Analyze(Status(1000, 1000, 1000), Guest(1000, 3, 1000, 1000));
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        Assert.Contains("polling", Finding(r, HangQuestion.DriverSawCompletions).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Used_event_ahead_of_used_idx_is_a_delayed_callback_and_unreachable_ones_are_flagged()
    {
        HangReport reachable = Analyze(Status(30, 30, 20, inUse: 10), Guest(30, 27, 20, 30));
        Assert.Contains("virtqueue_enable_cb_delayed", Finding(reachable, HangQuestion.DriverSawCompletions).Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("never come", Finding(reachable, HangQuestion.DriverSawCompletions).Detail, StringComparison.Ordinal);

        HangReport unreachable = Analyze(Status(20, 20, 20), Guest(20, 25, 20, 20));
        Assert.Equal(HangVerdict.Healthy, unreachable.Verdict);
        Assert.Contains("never come", Finding(unreachable, HangQuestion.DriverSawCompletions).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_net_rx_queue_with_posted_unpopped_buffers_is_idle_not_stuck()
    {
        // The driver keeps the rx ring full; the device read avail->idx but pops only when a packet arrives.
        HangReport r = Analyze(Status(36, 100, 36), Guest(100, 36, 36, 36));
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        Assert.Equal(FindingAnswer.Yes, Finding(r, HangQuestion.DeviceSawRequests).Answer);
        HangFinding q2 = Finding(r, HangQuestion.DeviceCompletedRequests);
        Assert.Equal(FindingAnswer.Yes, q2.Answer);
        Assert.Contains("64 buffer(s) [36, 100) are read but not popped", q2.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_request_queue_with_buffers_read_but_not_popped_has_a_stopped_handler()
    {
        // A blk queue: the device read avail->idx (a re-check, say) and then did not pop what it found.
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(Status(36, 100, 36), Guest(100, 36, 36, 36)) { EventIdx = true, PopsOnDemand = false });
        Assert.Equal(HangVerdict.DeviceStuck, r.Verdict);
        Assert.Equal(FindingAnswer.Yes, Finding(r, HangQuestion.DeviceSawRequests).Answer);
        HangFinding q2 = Finding(r, HangQuestion.DeviceCompletedRequests);
        Assert.Equal(FindingAnswer.No, q2.Answer);
        Assert.Equal(64, q2.Count);
        Assert.Contains("read 64 buffer(s) [36, 100) (shadow_avail_idx) but popped none", q2.Detail, StringComparison.Ordinal);
        Assert.Contains("read avail->idx but did not pop", r.NextSteps, StringComparison.Ordinal);
    }

    [Fact]
    public void A_queue_known_to_pop_on_demand_with_buffers_read_but_not_popped_is_idle()
    {
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(Status(36, 100, 36), Guest(100, 36, 36, 36)) { EventIdx = true, PopsOnDemand = true });
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        HangFinding q2 = Finding(r, HangQuestion.DeviceCompletedRequests);
        Assert.Contains("idle, not stuck", q2.Detail, StringComparison.Ordinal);
        Assert.DoesNotContain("request queue", q2.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("virtio-blk", 0, null, false)]
    [InlineData("virtio-net", 0, 3, true)]
    [InlineData("virtio-net", 1, 3, false)]
    [InlineData("virtio-net", 2, 3, false)] // the control queue of one pair
    [InlineData("virtio-net", 2, 5, true)] // rx1 of two pairs
    [InlineData("virtio-net", 2, null, true)] // num-vqs unknown: an even queue is taken for rx
    [InlineData("virtio-scsi", 2, null, null)]
    public void Which_qemu_queues_pop_on_demand(string device, int index, int? queueCount, bool? expected)
    {
        Assert.Equal(expected, HangAnalysisInput.PopsOnDemandFor(device, index, queueCount));
    }

    [Fact]
    public void Index_arithmetic_wraps_at_65536_for_a_missed_kick()
    {
        HangReport r = Analyze(Status(65534, 65534, 65534), Guest(1, 65534, 65534, 65534));
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
        Assert.Equal(3, Finding(r, HangQuestion.DeviceSawRequests).Count);
    }

    [Fact]
    public void Index_arithmetic_wraps_at_65536_for_a_stuck_device_and_a_missed_notification()
    {
        HangReport stuck = Analyze(Status(2, 2, 65533, inUse: 5), Guest(2, 65533, 65533, 2));
        Assert.Equal((HangVerdict.DeviceStuck, 5), (stuck.Verdict, Finding(stuck, HangQuestion.DeviceCompletedRequests).Count));

        HangReport missed = Analyze(Status(2, 2, 2), Guest(2, 65535, 2, 2));
        Assert.Equal((HangVerdict.DriverMissedNotification, 3), (missed.Verdict, Finding(missed, HangQuestion.DriverSawCompletions).Count));

        HangReport healthy = Analyze(Status(0, 0, 0), Guest(0, 0, 0, 0));
        Assert.Equal(HangVerdict.Healthy, healthy.Verdict);
    }

    [Fact]
    public void Avail_idx_more_than_the_queue_size_ahead_is_a_ring_violation()
    {
        HangReport r = Analyze(Status(10, 10, 10, num: 8), Guest(19, 10, 10, 10));
        Assert.Equal(HangVerdict.QueueBroken, r.Verdict);
        Assert.Equal(FindingAnswer.RingViolation, Finding(r, HangQuestion.DeviceSawRequests).Answer);
        Assert.Equal("Guest moved used index from 10 to 19", r.Error);
    }

    [Fact]
    public void Avail_idx_moved_backwards_is_a_ring_violation()
    {
        HangReport r = Analyze(Status(10, 10, 10, num: 8), Guest(7, 10, 10, 10));
        Assert.Equal(HangVerdict.QueueBroken, r.Verdict);
        Assert.Contains("backwards", Finding(r, HangQuestion.DeviceSawRequests).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void Avail_idx_exactly_the_queue_size_ahead_is_a_full_ring_not_a_violation()
    {
        HangReport r = Analyze(Status(10, 10, 10, num: 8), Guest(18, 10, 10, 10));
        Assert.Equal((HangVerdict.DeviceMissedKick, 8), (r.Verdict, Finding(r, HangQuestion.DeviceSawRequests).Count));
    }

    [Fact]
    public void A_broken_queue_wins_over_every_question_and_carries_its_error_text()
    {
        HangReport r = Analyze(Status(17, 17, 15, inUse: 2), Guest(20, 10, 15, 17), broken: true, error: "Desc next is 300");
        Assert.Equal(HangVerdict.QueueBroken, r.Verdict);
        Assert.Equal("Desc next is 300", r.Error);
        Assert.Contains("Desc next is 300", Finding(r, HangQuestion.QueueBroken).Detail, StringComparison.Ordinal);
        Assert.Equal(FindingAnswer.No, Finding(r, HangQuestion.DeviceSawRequests).Answer);
    }

    [Fact]
    public void The_verdicts_have_stable_kebab_case_json_names()
    {
        foreach ((HangVerdict verdict, string name) in new[]
        {
            (HangVerdict.Healthy, "healthy"), (HangVerdict.DeviceMissedKick, "device-missed-kick"), (HangVerdict.DeviceStuck, "device-stuck"),
            (HangVerdict.DriverMissedNotification, "driver-missed-notification"), (HangVerdict.QueueBroken, "queue-broken"),
        })
        {
            var report = new HangReport(verdict, [], Status(0, 0, 0), default);
            using JsonDocument json = JsonDocument.Parse(report.ToJson());
            Assert.Equal(name, json.RootElement.GetProperty("verdict").GetString());
            Assert.Equal(name, HangReport.VerdictName(verdict));
        }
    }

    [Fact]
    public void Report_json_carries_findings_numbers_the_status_and_the_requests_in_flight()
    {
        var inFlight = new InFlightRequest(3, [new VringDescriptor(0x1000, 16, DescriptorFlags.Next), new VringDescriptor(0x2000, 1, DescriptorFlags.Write)], TimeSpan.FromSeconds(30));
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(Status(17, 17, 17), Guest(18, 17, 17, 17)) { EventIdx = true, InFlight = [inFlight] });
        using JsonDocument json = JsonDocument.Parse(r.ToJson(indented: true));
        JsonElement root = json.RootElement;
        Assert.Equal("device-missed-kick", root.GetProperty("verdict").GetString());
        JsonElement q1 = root.GetProperty("findings")[1];
        Assert.Equal("device-saw-requests", q1.GetProperty("question").GetString());
        Assert.Equal("no", q1.GetProperty("answer").GetString());
        Assert.Equal(1, q1.GetProperty("count").GetInt32());
        Assert.Equal(17, root.GetProperty("queueStatus").GetProperty("shadow-avail-idx").GetInt32());
        Assert.Equal(18, root.GetProperty("guest").GetProperty("availIdx").GetInt32());
        Assert.True(root.GetProperty("eventIdx").GetBoolean());
        Assert.Equal(3, root.GetProperty("inFlight")[0].GetProperty("head").GetInt32());
        Assert.Equal(["next"], root.GetProperty("inFlight")[0].GetProperty("descriptors")[0].GetProperty("flags").EnumerateArray().Select(f => f.GetString()));
        Assert.Contains("kick", root.GetProperty("nextSteps").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Text_walks_through_the_three_questions_and_ends_with_what_to_look_at_next()
    {
        var inFlight = new InFlightRequest(3, [new VringDescriptor(0x1000, 16, DescriptorFlags.Next)], TimeSpan.FromSeconds(30));
        HangReport r = HangAnalysis.Analyze(new HangAnalysisInput(Status(19, 19, 17, inUse: 2), Guest(19, 17, 17, 19)) { EventIdx = true, InFlight = [inFlight] });
        string text = r.ToText();
        Assert.StartsWith("virtio-blk queue 0: device-stuck\n", text, StringComparison.Ordinal);
        int q1 = text.IndexOf("1. Did the device see the requests", StringComparison.Ordinal);
        int q2 = text.IndexOf("2. Did the device complete the requests?", StringComparison.Ordinal);
        int q3 = text.IndexOf("3. Did the driver see the completions?", StringComparison.Ordinal);
        int next = text.IndexOf("\nNext: Look inside the device", StringComparison.Ordinal);
        Assert.True(q1 > 0 && q2 > q1 && q3 > q2 && next > q3, text);
        Assert.Contains("head 3, waiting 30 s: [0x1000 len 16 next]", text, StringComparison.Ordinal);
        Assert.EndsWith("\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void An_invalid_queue_size_is_refused()
    {
        Assert.Throws<ArgumentException>(() => Analyze(Status(0, 0, 0, num: 100), Guest(0, 0, 0, 0)));
        Assert.Throws<ArgumentException>(() => Analyze(Status(0, 0, 0, num: 65536), Guest(0, 0, 0, 0)));
    }

    [Fact]
    public void A_live_dropped_kick_is_a_device_missed_kick()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.AddRequest(2); // published in avail->idx; the kick never reaches the device, which never pops
        ring.AddRequest(3);

        HangReport r = HangAnalysis.Analyze(ring.Device);
        Assert.Equal(HangVerdict.DeviceMissedKick, r.Verdict);
        Assert.Equal(2, Finding(r, HangQuestion.DeviceSawRequests).Count);
        Assert.Contains("had to kick", Finding(r, HangQuestion.DeviceSawRequests).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_live_completion_the_driver_never_consumed_with_event_idx_is_a_missed_notification()
    {
        using var ring = new RingHarness(size: 8, eventIdx: true, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.RoundTrip(2); // used_event = 2
        ring.AddRequest(3);
        ring.Driver.Kick();
        Assert.Equal(PopResult.Chain, ring.Device.Pop(out DescriptorChain chain));
        Assert.True(ring.Device.Push(chain, 1));
        Assert.True(ring.Device.ShouldNotify()); // the interrupt the driver never handles

        HangReport r = HangAnalysis.Analyze(ring.Device);
        Assert.Equal(HangVerdict.DriverMissedNotification, r.Verdict);
        Assert.Equal(1, Finding(r, HangQuestion.DriverSawCompletions).Count);
    }

    [Fact]
    public void A_live_request_held_by_the_device_is_a_stuck_device_and_a_drained_ring_is_healthy()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.AddRequest(1);
        ring.Driver.Kick();
        Assert.Equal(PopResult.Chain, ring.Device.Pop(out DescriptorChain chain));
        Assert.Equal(HangVerdict.DeviceStuck, HangAnalysis.Analyze(ring.Device).Verdict);

        ring.Device.Push(chain, 1);
        ring.Device.ShouldNotify();
        Assert.True(ring.Driver.TryGetBuffer(out _, out _));
        Assert.Equal(HangVerdict.Healthy, HangAnalysis.Analyze(ring.Device).Verdict);
    }

    [Fact]
    public void A_live_driver_that_disabled_callbacks_is_polling_not_missing_interrupts()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.RoundTrip(1);
        ring.Driver.DisableCallbacks();
        ring.AddRequest(2);
        ring.Driver.Kick();
        Assert.Equal(PopResult.Chain, ring.Device.Pop(out DescriptorChain chain));
        ring.Device.Push(chain, 1);

        HangReport r = HangAnalysis.Analyze(ring.Device);
        Assert.Equal(HangVerdict.Healthy, r.Verdict);
        Assert.Contains("polling", Finding(r, HangQuestion.DriverSawCompletions).Detail, StringComparison.Ordinal);
    }

    [Fact]
    public void A_live_broken_queue_reports_its_virtio_error()
    {
        using var ring = new RingHarness(size: 8, placement: RingPlacement.Small, name: "virtio-blk");
        ring.WriteDescriptor(0, 0x10_0000, 16, DescriptorFlags.Next, 9);
        ring.PublishAvail(0, 0, 1);
        Assert.Equal(PopResult.Broken, ring.Device.Pop(out _));

        HangReport r = HangAnalysis.Analyze(ring.Device);
        Assert.Equal(HangVerdict.QueueBroken, r.Verdict);
        Assert.Equal(ring.Device.Error!.Message, r.Error);
    }
}
