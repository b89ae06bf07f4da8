using System.Globalization;
using System.Text;
using System.Text.Json;
using Virtio.Rings;

namespace Virtio.Diagnostics;

/// <summary>The result of <see cref="HangAnalysis"/>: the verdict, the answered questions and the state they came from.</summary>
/// <param name="Verdict">The verdict.</param>
/// <param name="Findings">Is the queue broken, then the three questions, in order.</param>
/// <param name="QueueStatus">The device's state analysed.</param>
/// <param name="Guest">The guest ring fields analysed.</param>
public sealed record HangReport(HangVerdict Verdict, IReadOnlyList<HangFinding> Findings, QueueStatus QueueStatus, GuestRingFields Guest)
{
    /// <summary>Whether VIRTIO_RING_F_EVENT_IDX was negotiated; null when unknown.</summary>
    public bool? EventIdx { get; init; }

    /// <summary>The error that broke the queue, or the ring rule the guest's indexes break; null when none.</summary>
    public string? Error { get; init; }

    /// <summary>The requests the caller said were in flight.</summary>
    public IReadOnlyList<InFlightRequest> InFlight { get; init; } = [];

    /// <summary>What moved between the two readings, for <see cref="HangVerdict.Progressing"/>; null otherwise.</summary>
    public string? Progress { get; init; }

    /// <summary>True for every verdict but <see cref="HangVerdict.Healthy"/> and <see cref="HangVerdict.Progressing"/>.</summary>
    public bool IsHang => Verdict is not (HangVerdict.Healthy or HangVerdict.Progressing);

    /// <summary>What to look at next for this verdict.</summary>
    public string NextSteps => Verdict switch
    {
        HangVerdict.DeviceMissedKick =>
            "Look at the kick path: is the host notifier (ioeventfd) of this queue wired and does the device's handle_output run on it (virtio_queue_host_notifier_read)? "
            + "Trace virtio_queue_notify and virtqueue_pop; notifying the queue by hand should make it move. If the device had notifications off, look for the missing re-enable and re-check (virtio_queue_set_notification(vq, 1), then virtio_queue_empty).",
        HangVerdict.DeviceStuck when QueueStatus.InUse == 0 && QueueStatus.LastAvailIdx == QueueStatus.UsedIdx =>
            "Look at the device's queue handler: it read avail->idx but did not pop what it found. Trace virtio_queue_notify, virtqueue_pop and "
            + "virtio_queue_set_notification; look for a re-check (virtio_queue_empty) whose answer is not acted on, or a return before the pop loop. Notifying the queue by hand should make it move.",
        HangVerdict.DeviceStuck =>
            "Look inside the device: the in-use requests were popped and never pushed. Trace virtqueue_pop, virtqueue_fill and virtqueue_flush, and find where the backend holds them "
            + "(block layer or AIO completion that never came, a throttled or drained backend, an error path that dropped the element without virtqueue_push).",
        HangVerdict.DriverMissedNotification =>
            "Look at the used-buffer notification path: did the device call virtio_notify, was the interrupt delivered (irqfd, MSI-X vector masked, guest notifier), "
            + "and did the guest's vring_interrupt run and drain the used ring? Or is the driver still in its handler: analyse again, and used_event moving means it makes progress. "
            + "In the guest, compare the virtqueue's last_used_idx with used->idx.",
        HangVerdict.Progressing =>
            "The queue is moving: this is not a hang, whatever the snapshot below suggests. If the guest is slow, measure it (the queue's rate over time, "
            + "the backend's latency); if it stops moving, diagnose it again.",
        HangVerdict.QueueBroken =>
            "The device stopped this queue after the error above (virtio_error sets DEVICE_NEEDS_RESET). Find which driver write broke the rule "
            + "(dump the element at last_avail_idx with x-query-virtio-queue-element); the driver must reset the device to recover.",
        _ =>
            "Nothing is stuck on the ring. If the guest still hangs, look above it: requests the driver has not added yet (its request queue, a lock), "
            + "a device waiting for something before it pops (net rx without packets), or a driver polling loop that stopped; read the caveats above.",
    };

    /// <summary>
    /// The report as one JSON object (source-generated; camelCase names, the verdict as its stable name, the queue
    /// status with QMP's kebab-case names).
    /// </summary>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(this, Live.LiveJsonContext.For(indented).HangReport);

    /// <summary>A walk through the questions the way the reference does, ending with what to look at next.</summary>
    public string ToText()
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder(2048);
        QueueStatus q = QueueStatus;
        s.Append(c, $"{q.Name} queue {q.QueueIndex}: {VerdictName(Verdict)}\n");
        s.Append(c, $"  device: last_avail_idx {q.LastAvailIdx}, shadow_avail_idx {q.ShadowAvailIdx}, used_idx {q.UsedIdx}, inuse {q.InUse}, signalled_used {q.SignalledUsed} ({(q.SignalledUsedValid ? "valid" : "not valid")}), vring-num {q.VringNum}\n");
        s.Append(c, $"  guest:  avail->idx {Guest.AvailIdx}, avail->flags {Guest.AvailFlags}, used_event {Guest.UsedEvent}, used->idx {Guest.UsedIdx}, used->flags {Guest.UsedFlags}, avail_event {Guest.AvailEvent}\n");
        s.Append(c, $"  EVENT_IDX: {(EventIdx is { } e ? e ? "negotiated" : "not negotiated" : "unknown")}\n");
        if (Error is not null)
        {
            s.Append(c, $"  error: {Error}\n");
        }

        if (Progress is not null)
        {
            s.Append(c, $"  between the readings: {Progress}\n");
        }

        int number = 0;
        foreach (HangFinding f in Findings)
        {
            s.Append('\n');
            if (f.Question == HangQuestion.QueueBroken)
            {
                s.Append(c, $"{QuestionText(f.Question)}\n");
            }
            else
            {
                s.Append(c, $"{++number}. {QuestionText(f.Question)}\n");
            }

            s.Append(c, $"   {AnswerText(f.Answer)}{(f.Count > 0 ? $" ({f.Count})" : string.Empty)}: {f.Detail}\n");
        }

        if (InFlight.Count > 0)
        {
            s.Append(c, $"\nIn flight (driver's view): {InFlight.Count} request(s)\n");
            foreach (InFlightRequest r in InFlight)
            {
                s.Append(c, $"  head {r.Head}, waiting {r.Age.TotalSeconds:0.###} s:");
                foreach (VringDescriptor d in r.Descriptors)
                {
                    s.Append(' ').Append(d.ToShortText());
                }

                s.Append('\n');
            }
        }

        s.Append(c, $"\nNext: {NextSteps}\n");
        return s.ToString();
    }

    /// <summary>The stable kebab-case name of a verdict, as in JSON.</summary>
    public static string VerdictName(HangVerdict verdict) => verdict switch
    {
        HangVerdict.Healthy => "healthy",
        HangVerdict.DeviceMissedKick => "device-missed-kick",
        HangVerdict.DeviceStuck => "device-stuck",
        HangVerdict.DriverMissedNotification => "driver-missed-notification",
        HangVerdict.QueueBroken => "queue-broken",
        HangVerdict.Progressing => "progressing",
        _ => throw new ArgumentOutOfRangeException(nameof(verdict), verdict, null),
    };

    private static string QuestionText(HangQuestion question) => question switch
    {
        HangQuestion.QueueBroken => "Is the queue broken?",
        HangQuestion.DeviceSawRequests => "Did the device see the requests the driver submitted?",
        HangQuestion.DeviceCompletedRequests => "Did the device complete the requests?",
        _ => "Did the driver see the completions?",
    };

    private static string AnswerText(FindingAnswer answer) => answer switch
    {
        FindingAnswer.Yes => "Yes",
        FindingAnswer.No => "No",
        FindingAnswer.CannotTell => "Cannot tell",
        _ => "Ring violation",
    };
}
