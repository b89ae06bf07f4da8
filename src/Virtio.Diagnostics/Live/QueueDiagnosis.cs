using System.Globalization;
using System.Text;
using System.Text.Json;
using Virtio.Diagnostics.Qmp;

namespace Virtio.Diagnostics.Live;

/// <summary>The diagnosis of one queue of a running QEMU: two readings, the verdict and, for a stuck queue, candidates for the held requests.</summary>
public sealed record QueueDiagnosis
{
    /// <summary>The device's QOM path.</summary>
    public required string DevicePath { get; init; }

    /// <summary>QEMU's device name.</summary>
    public required string DeviceName { get; init; }

    /// <summary>The queue index.</summary>
    public required int QueueIndex { get; init; }

    /// <summary>What the queue is for (<see cref="QemuQueueRoles"/>).</summary>
    public required string Role { get; init; }

    /// <summary>
    /// The verdict; null when it cannot be given (a vhost device: QEMU has no device-side indexes to compare, see
    /// <see cref="Note"/>).
    /// </summary>
    public HangVerdict? Verdict => Report?.Verdict ?? (Progress is not null ? HangVerdict.Progressing : null);

    /// <summary>The analysis of the second reading (with what moved since the first), or null for a vhost device.</summary>
    public HangReport? Report { get; init; }

    /// <summary>The first reading.</summary>
    public required QueueReading First { get; init; }

    /// <summary>The second reading, the one analysed.</summary>
    public required QueueReading Second { get; init; }

    /// <summary>The time between the readings.</summary>
    public TimeSpan Interval { get; init; }

    /// <summary>What moved between the readings; null when nothing did.</summary>
    public string? Progress { get; init; }

    /// <summary>
    /// <c>x-query-virtio-queue-element</c> at the avail-ring positions between <c>used_idx</c> and
    /// <c>last_avail_idx</c>: candidates, not certainties, for the held requests (queried after the readings).
    /// </summary>
    public IReadOnlyList<QemuQueueElement> Candidates { get; init; } = [];

    /// <summary>What to know about the candidates or the verdict (vhost, element queries skipped or failed).</summary>
    public string? Note { get; init; }

    /// <summary>Whether the verdict is a hang (not healthy, not progressing, not unknown).</summary>
    public bool IsHang => Report?.IsHang ?? false;

    /// <summary>One line: where, what, the verdict and the numbers behind it.</summary>
    public string Summary
    {
        get
        {
            CultureInfo c = CultureInfo.InvariantCulture;
            string where = string.Create(c, $"{DevicePath} queue {QueueIndex} ({DeviceName} {Role})");
            if (Report is null && Second.Status is { } unset && !QueueReading.HasRings(unset))
            {
                return string.Create(c, $"{where}: not set up (vring-desc, vring-avail and vring-used are 0)");
            }

            if (Report is not { } r)
            {
                GuestFieldsLine(out string guest);
                return Progress is not null
                    ? string.Create(c, $"{where}: progressing ({Progress}); vhost: device-side indexes not available")
                    : string.Create(c, $"{where}: not diagnosed (vhost: device-side indexes not available); {guest}, nothing moved in {Interval.TotalSeconds:0.#} s");
            }

            QueueStatus s = r.QueueStatus;
            string numbers = r.Verdict switch
            {
                HangVerdict.Progressing => Progress!,
                HangVerdict.DeviceStuck when s.InUse > 0 => string.Create(c, $"{s.InUse} request(s) held by the device (inuse {s.InUse}, last_avail_idx {s.LastAvailIdx}, used_idx {s.UsedIdx}), nothing moved in {Interval.TotalSeconds:0.#} s"),
                HangVerdict.QueueBroken => r.Error ?? "the device is broken",
                HangVerdict.Healthy when (ushort)(r.Guest.AvailIdx - s.UsedIdx) == 0 =>
                    string.Create(c, $"nothing outstanding (avail->idx {r.Guest.AvailIdx}, used_idx {s.UsedIdx}), nothing moved in {Interval.TotalSeconds:0.#} s"),
                HangVerdict.Healthy =>
                    string.Create(c, $"idle: {(ushort)(r.Guest.AvailIdx - s.UsedIdx)} buffer(s) posted for the device to fill, none held (avail->idx {r.Guest.AvailIdx}, used_idx {s.UsedIdx}, inuse {s.InUse})"),
                _ => Deciding(r),
            };
            return string.Create(c, $"{where}: {HangReport.VerdictName(r.Verdict)}: {numbers}");
        }
    }

    /// <summary>The diagnosis as one JSON object (source-generated; camelCase, the queue status with QMP's field names).</summary>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(
            new QueueDiagnosisJson(
                DevicePath, DeviceName, QueueIndex, Role, Verdict is { } v ? HangReport.VerdictName(v) : "not-diagnosed", Summary,
                Report?.Findings ?? [], Second.Status, Second.Guest, Report?.EventIdx, Report?.Error, Progress, Interval.TotalSeconds,
                [new QueueReadingJson(First.Status, First.Guest), new QueueReadingJson(Second.Status, Second.Guest)],
                Candidates, Note, Report?.NextSteps),
            LiveJsonContext.For(indented).QueueDiagnosisJson);

    /// <summary>The walk-through: the report of <see cref="HangAnalysis"/>, the readings and the candidates.</summary>
    public string ToText()
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder(4096);
        s.Append(c, $"-- {DevicePath} queue {QueueIndex} ({Role})\n");
        if (Report is { } r)
        {
            s.Append(r.ToText());
        }
        else
        {
            GuestFieldsLine(out string guest);
            s.Append(c, $"{DeviceName} queue {QueueIndex}: {(Progress is not null ? "progressing" : "not diagnosed")}\n  guest:  {guest}\n");
        }

        s.Append(c, $"\nReadings {Interval.TotalSeconds:0.#} s apart: {Progress ?? "nothing moved"}.\n");
        if (Note is not null)
        {
            s.Append(c, $"{Note}\n");
        }

        if (Candidates.Count > 0)
        {
            s.Append(c, $"Candidates for the held request(s), x-query-virtio-queue-element at avail-ring positions [{Report!.QueueStatus.UsedIdx}, {Report.QueueStatus.LastAvailIdx}) (descriptors as QEMU lists them, last first; with out-of-order completion a held head need not sit in these slots, and a slot may have been reused):\n");
            foreach (QemuQueueElement e in Candidates)
            {
                s.Append(c, $"  position {e.Position}: head {e.Head}:");
                foreach (VringDescriptor d in e.Descriptors)
                {
                    s.Append(' ').Append(d.ToShortText());
                }

                s.Append('\n');
            }
        }

        return s.ToString();
    }

    private void GuestFieldsLine(out string guest)
    {
        Virtio.Rings.GuestRingFields g = Second.Guest;
        guest = string.Create(CultureInfo.InvariantCulture, $"avail->idx {g.AvailIdx}, used->idx {g.UsedIdx}, used_event {g.UsedEvent}, avail_event {g.AvailEvent}");
    }

    // The numbers of the question that decided a hang verdict (the finding's text before its first colon).
    private static string Deciding(HangReport r)
    {
        HangQuestion question = r.Verdict switch
        {
            HangVerdict.DeviceMissedKick => HangQuestion.DeviceSawRequests,
            HangVerdict.DeviceStuck => HangQuestion.DeviceCompletedRequests,
            _ => HangQuestion.DriverSawCompletions,
        };
        string detail = r.Findings.First(f => f.Question == question).Detail;
        int stop = detail.IndexOf(": ", StringComparison.Ordinal);
        return stop > 0 ? detail[..stop] : detail;
    }
}
