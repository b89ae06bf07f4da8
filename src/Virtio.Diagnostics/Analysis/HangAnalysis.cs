using Virtio.Rings;
using static System.FormattableString;

namespace Virtio.Diagnostics;

/// <summary>
/// Tells who stopped talking to whom on one split queue, by the three questions of the reference ("How to debug
/// stuck VIRTIO devices in QEMU"): did the device see the requests, did it complete them, did the driver see the
/// completions. All index arithmetic is modulo 2^16, as the ring's. Precedence: broken, then movement between two readings (progressing),
/// then a held element (device-stuck: a device holding one may stop popping), then the questions in order.
/// </summary>
public static class HangAnalysis
{
    /// <summary>Analyses a live queue: captures its status and guest fields (read-only) and takes its EVENT_IDX and error.</summary>
    /// <param name="queue">The queue.</param>
    /// <param name="inFlight">The requests the driver considers in flight, if the caller knows them.</param>
    /// <exception cref="InvalidOperationException">The queue is neither ready nor broken: there is no ring to look at.</exception>
    /// <param name="popsOnDemand">Whether the device pops this queue only when it has something to deliver (<see cref="HangAnalysisInput.PopsOnDemand"/>).</param>
    public static HangReport Analyze(SplitQueue queue, IReadOnlyList<InFlightRequest>? inFlight = null, bool? popsOnDemand = null)
    {
        ArgumentNullException.ThrowIfNull(queue);
        if (!queue.ReadGuestFields(out GuestRingFields guest) && !queue.IsBroken)
        {
            throw new InvalidOperationException("the queue is not ready: there is no ring to analyse");
        }

        return Analyze(new HangAnalysisInput(QueueStatus.Capture(queue, queue.Name), guest)
        {
            EventIdx = queue.EventIdx,
            Broken = queue.IsBroken,
            BrokenError = queue.Error?.Message,
            InFlight = inFlight ?? [],
            PopsOnDemand = popsOnDemand,
        });
    }

    /// <summary>Analyses a queue from its status and guest ring fields.</summary>
    /// <exception cref="ArgumentException"><c>vring-num</c> is not a valid queue size.</exception>
    public static HangReport Analyze(HangAnalysisInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        QueueStatus s = input.Status;
        ArgumentNullException.ThrowIfNull(s);
        if (s.VringNum > SplitRing.MaxQueueSize || !SplitRing.IsValidSize((int)s.VringNum))
        {
            throw new ArgumentException($"vring-num {s.VringNum} is not a valid queue size (a power of two from 1 to 32768)", nameof(input));
        }

        GuestRingFields g = input.Guest;
        int num = (int)s.VringNum;
        bool broken = input.Broken || input.BrokenError is not null;

        HangFinding brokenFinding = broken
            ? new(HangQuestion.QueueBroken, FindingAnswer.Yes, 0, input.BrokenError is { } text
                ? $"the device broke the queue: \"{text}\" (virtio_error: the device sets DEVICE_NEEDS_RESET and processes nothing more until the driver resets it)"
                : "the device is marked broken (virtio_error ran; its text is not known): it processes nothing more until the driver resets it")
            : new(HangQuestion.QueueBroken, FindingAnswer.No, 0, "the queue is not broken");

        (HangFinding q1, string? violation) = DeviceSawRequests(s, g, input.EventIdx, num, input.PopsOnDemand);
        HangFinding q2 = DeviceCompletedRequests(s, g, num, input.PopsOnDemand);
        HangFinding q3 = DriverSawCompletions(s, g, input.EventIdx, num);

        // A queue that moved between two readings is not stuck, whatever the snapshot shows.
        HangVerdict verdict =
            broken || violation is not null ? HangVerdict.QueueBroken
            : input.Progress is not null ? HangVerdict.Progressing
            : q2.Answer == FindingAnswer.No && s.InUse > 0 ? HangVerdict.DeviceStuck // a held element outranks unread buffers
            : q1.Answer == FindingAnswer.No ? HangVerdict.DeviceMissedKick
            : q2.Answer == FindingAnswer.No ? HangVerdict.DeviceStuck
            : q3.Answer == FindingAnswer.No ? HangVerdict.DriverMissedNotification
            : HangVerdict.Healthy;

        return new HangReport(verdict, [brokenFinding, q1, q2, q3], s, g)
        {
            EventIdx = input.EventIdx,
            Error = input.BrokenError ?? violation,
            InFlight = input.InFlight ?? [],
            Progress = verdict == HangVerdict.Progressing ? input.Progress : null,
        };
    }

    // Question 1: guest avail->idx against shadow_avail_idx. Not last_avail_idx: buffers the device has read but not
    // popped (net rx waiting for packets) were seen.
    private static (HangFinding Finding, string? Violation) DeviceSawRequests(QueueStatus s, GuestRingFields g, bool? eventIdx, int num, bool? popsOnDemand)
    {
        int shadowAhead = (ushort)(s.ShadowAvailIdx - s.LastAvailIdx);
        int aheadOfLast = (ushort)(g.AvailIdx - s.LastAvailIdx);
        int unseen = (ushort)(g.AvailIdx - s.ShadowAvailIdx);
        int behind = (ushort)(s.ShadowAvailIdx - g.AvailIdx);

        if (shadowAhead > num)
        {
            // virtqueue_num_heads would have broken the queue on reading such an index.
            string v = Invariant($"Guest moved used index from {s.LastAvailIdx} to {s.ShadowAvailIdx}");
            return (new(HangQuestion.DeviceSawRequests, FindingAnswer.RingViolation, 0, Invariant(
                $"shadow_avail_idx {s.ShadowAvailIdx} is {shadowAhead} ahead of last_avail_idx {s.LastAvailIdx}, more than the queue size {num}: the device read an avail->idx that breaks the ring (QEMU: \"{v}\") and did not break the queue")), v);
        }

        if (aheadOfLast > num)
        {
            if (behind > 0 && behind <= num)
            {
                string back = Invariant($"avail->idx moved back from {s.ShadowAvailIdx} to {g.AvailIdx}");
                return (new(HangQuestion.DeviceSawRequests, FindingAnswer.RingViolation, 0, Invariant(
                    $"avail->idx {g.AvailIdx} in guest RAM is {behind} behind shadow_avail_idx {s.ShadowAvailIdx}: the driver moved avail->idx backwards, which a running queue never does (Linux only in virtqueue_detach_unused_buf, after a reset)")), back);
            }

            string v = Invariant($"Guest moved used index from {s.LastAvailIdx} to {g.AvailIdx}");
            return (new(HangQuestion.DeviceSawRequests, FindingAnswer.RingViolation, 0, Invariant(
                $"avail->idx {g.AvailIdx} in guest RAM is {aheadOfLast} ahead of last_avail_idx {s.LastAvailIdx} (and {unseen} ahead of shadow_avail_idx {s.ShadowAvailIdx}), more than the queue size {num}: the driver broke the ring; the device breaks the queue when it next reads avail->idx (virtqueue_num_heads: \"{v}\")")), v);
        }

        if (unseen == 0)
        {
            return (new(HangQuestion.DeviceSawRequests, FindingAnswer.Yes, 0, Invariant(
                $"avail->idx {g.AvailIdx} in guest RAM equals shadow_avail_idx {s.ShadowAvailIdx}: the device has read every buffer the driver published")), null);
        }

        if (popsOnDemand == true)
        {
            // QEMU's virtio-net rx kick handler only flushes queued packets; the device reads avail->idx when a packet
            // arrives (virtio_net_has_buffers), so buffers posted on an idle link stay unread with no kick owed.
            return (new(HangQuestion.DeviceSawRequests, FindingAnswer.Yes, unseen, Invariant(
                $"avail->idx {g.AvailIdx} in guest RAM, shadow_avail_idx {s.ShadowAvailIdx}: {unseen} buffer(s) the driver posted are not read yet, and need not be: the device takes this queue's buffers only when it has something to put in them (net rx: QEMU's virtio_net_handle_rx only flushes queued packets, and avail->idx is read when a packet arrives), so the queue is idle, not missing a kick")), null);
        }

        // QEMU's virtio-net tx holds the element whose async send is pending and stops popping (and with EVENT_IDX
        // leaves avail_event stale): the buffers behind a held element stay unread as a consequence, not a lost kick.
        string held = s.InUse > 0
            ? Invariant($" The device holds {s.InUse} popped request(s) (question 2); a device that stops popping while it holds one leaves the buffers behind it unread, so that comes first.")
            : string.Empty;
        string why = eventIdx switch
        {
            true => KickWithEventIdx(s, g, unseen),
            false => KickWithoutEventIdx(g),
            null => Invariant($"EVENT_IDX negotiation is unknown, so whether the driver owed a kick cannot be decided: with EVENT_IDX, {KickWithEventIdx(s, g, unseen)}; without it, {KickWithoutEventIdx(g)}"),
        };
        return (new(HangQuestion.DeviceSawRequests, FindingAnswer.No, unseen, Invariant(
            $"avail->idx {g.AvailIdx} in guest RAM, shadow_avail_idx {s.ShadowAvailIdx}: the driver published {unseen} buffer(s) the device has not read. {why}{held}")), null);
    }

    private static string KickWithEventIdx(QueueStatus s, GuestRingFields g, int unseen)
    {
        // Linux kicks when vring_need_event(avail_event, new, old): avail_event in [old, new). QEMU rewrites
        // avail_event only while notifications are enabled (virtio_queue_set_notification, virtqueue_pop).
        int offset = (ushort)(g.AvailEvent - s.ShadowAvailIdx);
        return offset < unseen
            ? Invariant($"avail_event {g.AvailEvent} lies in [{s.ShadowAvailIdx}, {g.AvailIdx}): the driver had to kick when avail->idx passed it (vring_need_event), so the kick was lost on the way to the device or the device did not run its handler on it")
            : Invariant($"avail_event {g.AvailEvent} lies outside [{s.ShadowAvailIdx}, {g.AvailIdx}): the device did not ask for a kick for these buffers (it leaves avail_event behind while notifications are off, virtio_queue_set_notification(vq, 0)), so it had to keep polling or re-enable notifications and re-check the ring");
    }

    private static string KickWithoutEventIdx(GuestRingFields g) =>
        (g.UsedFlags & SplitRing.UsedFlagNoNotify) != 0
            ? Invariant($"used->flags {g.UsedFlags} has VRING_USED_F_NO_NOTIFY: the device asked not to be kicked, so it had to keep polling or clear the flag and re-check the ring")
            : Invariant($"used->flags {g.UsedFlags} does not have VRING_USED_F_NO_NOTIFY: the driver had to kick, so the kick was lost on the way to the device or the device did not run its handler on it");

    // Question 2: what the device popped (last_avail_idx, inuse) against what it completed (used_idx).
    private static HangFinding DeviceCompletedRequests(QueueStatus s, GuestRingFields g, int num, bool? popsOnDemand)
    {
        int popped = (ushort)(s.LastAvailIdx - s.UsedIdx);
        int seenNotPopped = (ushort)(s.ShadowAvailIdx - s.LastAvailIdx);
        long inUse = s.InUse;
        string consistency = popped == inUse
            ? string.Empty
            : Invariant($" (inuse {inUse} disagrees with last_avail_idx - used_idx = {popped}: the device's state is inconsistent, or it detached elements without completing them, virtqueue_detach_element)");

        if (inUse > 0 || popped > 0)
        {
            long stuck = Math.Max(inUse, popped);
            string bound = stuck > num ? Invariant($" That is more than the queue size {num}: the device's counters are corrupt.") : string.Empty;
            return new(HangQuestion.DeviceCompletedRequests, FindingAnswer.No, (int)Math.Min(stuck, int.MaxValue), Invariant(
                $"last_avail_idx {s.LastAvailIdx}, used_idx {s.UsedIdx}, inuse {inUse}: the device popped {stuck} request(s) it has not completed; they are inside the device or its backend{consistency}.{bound}"));
        }

        if (g.UsedIdx != s.UsedIdx)
        {
            int diff = (ushort)(s.UsedIdx - g.UsedIdx);
            return new(HangQuestion.DeviceCompletedRequests, FindingAnswer.No, diff <= num ? diff : 0, Invariant(
                $"the device's used_idx is {s.UsedIdx} but used->idx in guest RAM is {g.UsedIdx}: the device has not published its completions (virtqueue_flush did not write used->idx) or something else wrote the used ring"));
        }

        if (seenNotPopped > 0 && seenNotPopped <= num && popsOnDemand == false)
        {
            return new(HangQuestion.DeviceCompletedRequests, FindingAnswer.No, seenNotPopped, Invariant(
                $"the device read {seenNotPopped} buffer(s) [{s.LastAvailIdx}, {s.ShadowAvailIdx}) (shadow_avail_idx) but popped none (last_avail_idx {s.LastAvailIdx}, inuse 0): on a request queue a buffer read is a buffer to serve, so its handler stopped between reading avail->idx and popping (a re-check after enabling notifications whose answer it ignored, an early return, a wait on something else)"));
        }

        string idle = seenNotPopped == 0
            ? string.Empty
            : popsOnDemand == true
                ? Invariant($" {seenNotPopped} buffer(s) [{s.LastAvailIdx}, {s.ShadowAvailIdx}) are read but not popped: this queue is filled when the device has something to deliver (net rx waiting for packets), so it is idle, not stuck.")
                : Invariant($" {seenNotPopped} buffer(s) [{s.LastAvailIdx}, {s.ShadowAvailIdx}) are read but not popped: normal for a queue the device fills when it has something to deliver (net rx waiting for packets, balloon stats, vsock events), which is idle, not stuck; on a request queue (blk, scsi) it means the device stopped popping, so look at what its handle_output waits for.");
        return new(HangQuestion.DeviceCompletedRequests, FindingAnswer.Yes, 0, Invariant(
            $"last_avail_idx {s.LastAvailIdx} equals used_idx {s.UsedIdx} and inuse is 0: the device completed every request it popped.{idle}"));
    }

    /// <summary>
    /// Whether <c>used_event</c> can stand for the driver's position in the used ring (Linux's <c>last_used_idx</c>):
    /// at <c>used_idx</c>, or non-zero and at most the queue size behind it. 0 is what <c>virtqueue_disable_cb</c>
    /// writes (callbacks off, polling); an index ahead is <c>virtqueue_enable_cb_delayed</c>'s "tell me later"; neither
    /// is a position. Question 3 and the watchdog (<see cref="Watchdog.SplitQueueWatch"/>) share this rule.
    /// </summary>
    internal static bool UsedEventIsDriverPosition(ushort usedEvent, ushort usedIdx, int num) =>
        usedEvent == usedIdx || (usedEvent != 0 && (ushort)(usedIdx - usedEvent) <= num);

    // Question 3: with EVENT_IDX, Linux writes used_event = last_used_idx on every virtqueue_get_buf while callbacks are
    // on, so used_event is the driver's position in the used ring, unless callbacks are disabled (virtqueue_disable_cb
    // writes 0) or the driver asked to hear later (enable_cb_delayed writes an index ahead). Since Linux 6.4 (6.1.28),
    // a driver that took the interrupt (event_triggered) disables callbacks without writing 0 and stops writing
    // used_event, so an index behind used_idx is also a driver still in (or stuck in) its handler.
    private static HangFinding DriverSawCompletions(QueueStatus s, GuestRingFields g, bool? eventIdx, int num)
    {
        if (eventIdx is false)
        {
            string flags = (g.AvailFlags & SplitRing.AvailFlagNoInterrupt) != 0
                ? Invariant($" avail->flags {g.AvailFlags} has VRING_AVAIL_F_NO_INTERRUPT: the driver has callbacks disabled and is polling or processing.")
                : string.Empty;
            return new(HangQuestion.DriverSawCompletions, FindingAnswer.CannotTell, 0,
                "without VIRTIO_RING_F_EVENT_IDX the driver's position in the used ring (Linux's last_used_idx) is not in guest RAM, so completions it missed are invisible." + flags);
        }

        if (eventIdx is null)
        {
            return new(HangQuestion.DriverSawCompletions, FindingAnswer.CannotTell, 0, Invariant(
                $"whether VIRTIO_RING_F_EVENT_IDX was negotiated is unknown, so used_event {g.UsedEvent} (used_idx {s.UsedIdx}) may be meaningless; give the device's features (x-query-virtio-status) to answer"));
        }

        int unconsumed = (ushort)(s.UsedIdx - g.UsedEvent);
        if (unconsumed == 0)
        {
            return new(HangQuestion.DriverSawCompletions, FindingAnswer.Yes, 0, Invariant(
                $"used_event {g.UsedEvent} equals used_idx {s.UsedIdx}: the driver consumed every completion (Linux writes used_event = last_used_idx on each virtqueue_get_buf)"));
        }

        if (g.UsedEvent == 0)
        {
            return new(HangQuestion.DriverSawCompletions, FindingAnswer.CannotTell, unconsumed <= num ? unconsumed : 0, Invariant(
                $"used_event is 0 while used_idx is {s.UsedIdx}: the driver disabled callbacks (Linux's virtqueue_disable_cb writes 0) and is polling the used ring (NAPI, blk-mq poll, or work between disable_cb and enable_cb), so no notification was expected and none was lost; its position in the used ring is not visible. (If the driver has not consumed a single completion since the queue started, 0 is also its position, and {unconsumed} completion(s) would be waiting.)"));
        }

        if (UsedEventIsDriverPosition(g.UsedEvent, s.UsedIdx, num))
        {
            return new(HangQuestion.DriverSawCompletions, FindingAnswer.No, unconsumed, Invariant(
                $"used_event {g.UsedEvent}, used_idx {s.UsedIdx}: {unconsumed} completion(s) [{g.UsedEvent}, {s.UsedIdx}) are in the used ring and the driver has not consumed them, or is consuming them with callbacks off. {NotifyDecision(s, g, unconsumed)}"));
        }

        int ahead = (ushort)(g.UsedEvent - s.UsedIdx);
        if (ahead <= num)
        {
            int outstanding = (ushort)(g.AvailIdx - s.UsedIdx);
            string never = ahead > outstanding
                ? Invariant($" Only {outstanding} request(s) are outstanding (avail->idx {g.AvailIdx}), so that notification can never come: unless the driver polls, it waits forever.")
                : string.Empty;
            return new(HangQuestion.DriverSawCompletions, FindingAnswer.CannotTell, 0, Invariant(
                $"used_event {g.UsedEvent} is {ahead} ahead of used_idx {s.UsedIdx}: the driver asked to be notified only after {ahead} more completion(s) (virtqueue_enable_cb_delayed), so it is not waiting on the completions so far and its position is not visible.{never}"));
        }

        return new(HangQuestion.DriverSawCompletions, FindingAnswer.CannotTell, 0, Invariant(
            $"used_event {g.UsedEvent} is {unconsumed} behind used_idx {s.UsedIdx}, more than the queue size {num}: it is not the driver's position (which is never more than the queue size behind); the driver has callbacks disabled and is polling, so no notification was expected"));
    }

    private static string NotifyDecision(QueueStatus s, GuestRingFields g, int unconsumed)
    {
        // virtio_split_should_notify: signalled_used is used_idx at the last decision; invalid means "notify next time".
        if (!s.SignalledUsedValid)
        {
            return "signalled_used is not valid: the device has not decided whether to notify since these completions (virtio_notify was not called after virtqueue_flush), or it would have notified unconditionally.";
        }

        if (s.SignalledUsed != s.UsedIdx)
        {
            return Invariant($"signalled_used {s.SignalledUsed} is behind used_idx {s.UsedIdx}: the device completed {(ushort)(s.UsedIdx - s.SignalledUsed)} request(s) after its last notify decision and did not call virtio_notify for them.");
        }

        // The ring cannot tell a lost interrupt from a slow handler: with event_triggered (Linux 6.4, 6.1.28) a driver
        // that took the interrupt leaves used_event exactly where a driver that never got it does. Say both.
        return Invariant($"signalled_used {s.SignalledUsed} equals used_idx: the device decided at the latest completion, and used_event {g.UsedEvent} lies in the completed range, so vring_need_event asked for a notification; a notification was due. Either it was lost on the way (irqfd, masked MSI-X vector, guest notifier) or the guest's vring_interrupt did not run, or it was delivered and the driver is still processing, or stuck in, its handler: since Linux 6.4 (and 6.1.28) a driver that took the interrupt disables callbacks without writing used_event (event_triggered), so used_event stays at {g.UsedEvent} while it works through the {unconsumed} completion(s) [{g.UsedEvent}, {s.UsedIdx}) until it re-enables callbacks. Look again: used_event moving means the handler makes progress; unchanged, check the guest's interrupt counts for this queue (/proc/interrupts) and its NAPI poll or virtblk_done.");
    }
}
