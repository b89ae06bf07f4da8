using System.Globalization;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Virtio.Diagnostics.Qmp;
using Virtio.Rings;

namespace Virtio.Diagnostics.Live;

/// <summary>
/// The reference's procedure ("How to debug stuck VIRTIO devices in QEMU") against a running QEMU, over QMP and
/// without GDB: for each virtio device and queue, QEMU's device-side state (<c>x-query-virtio-queue-status</c>) and
/// the guest's ring fields (HMP <c>xp</c> at the ring addresses), read twice <see cref="QemuDiagnosisOptions.Interval"/>
/// apart, then the three questions of <see cref="HangAnalysis"/> on the second reading. Nothing it sends changes the
/// guest or the device, with one exception QEMU 7.2 forces: <c>x-query-virtio-queue-element</c> updates
/// <c>shadow_avail_idx</c>, so elements are queried last, only for stuck queues, and never feed a verdict.
/// </summary>
public sealed class QemuDiagnostics
{
    private readonly QmpClient _client;
    private readonly QemuDiagnosisOptions _options;
    private readonly ILogger _logger;

    /// <summary>Creates the diagnosis over a connected client.</summary>
    public QemuDiagnostics(QmpClient client, QemuDiagnosisOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(client);
        _client = client;
        _options = options ?? new QemuDiagnosisOptions();
        _logger = _options.Logger;
    }

    /// <summary>Two readings <see cref="QemuDiagnosisOptions.Interval"/> apart, the verdicts, and candidates for every stuck queue.</summary>
    /// <exception cref="QmpException">QEMU cannot be reached, lacks a command, or answers something unexpected.</exception>
    public async Task<QemuDiagnosis> DiagnoseAsync(CancellationToken cancellationToken = default)
    {
        IReadOnlyList<Target> targets = await FindTargetsAsync(cancellationToken).ConfigureAwait(false);
        Dictionary<(string, int), QueueReading> first = await ReadAllAsync(targets, cancellationToken).ConfigureAwait(false);
        await Task.Delay(_options.Interval, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
        targets = await RefreshAsync(targets, cancellationToken).ConfigureAwait(false);
        Dictionary<(string, int), QueueReading> second = await ReadAllAsync(targets, cancellationToken).ConfigureAwait(false);
        return await ConcludeAsync(targets, first, second, _ => true, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Polls every <see cref="QemuDiagnosisOptions.Interval"/>, each reading compared with the one before, and yields
    /// each round's diagnosis until cancelled. Elements are queried once per stuck episode of a queue (each query
    /// spoils the next reading's <c>shadow_avail_idx</c>); an episode ends when the queue is no longer stuck.
    /// </summary>
    /// <exception cref="QmpException">QEMU cannot be reached, lacks a command, or answers something unexpected.</exception>
    public async IAsyncEnumerable<QemuDiagnosis> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        IReadOnlyList<Target> targets = await FindTargetsAsync(cancellationToken).ConfigureAwait(false);
        Dictionary<(string, int), QueueReading> previous = await ReadAllAsync(targets, cancellationToken).ConfigureAwait(false);
        var queried = new HashSet<(string, int)>();
        while (true)
        {
            await Task.Delay(_options.Interval, _options.TimeProvider, cancellationToken).ConfigureAwait(false);
            targets = await RefreshAsync(targets, cancellationToken).ConfigureAwait(false);
            Dictionary<(string, int), QueueReading> current = await ReadAllAsync(targets, cancellationToken).ConfigureAwait(false);
            QemuDiagnosis diagnosis = await ConcludeAsync(targets, previous, current, key => queried.Add(key), cancellationToken).ConfigureAwait(false);
            foreach (QueueDiagnosis q in diagnosis.Queues.Where(q => q.Verdict != HangVerdict.DeviceStuck))
            {
                queried.Remove((q.DevicePath, q.QueueIndex));
            }

            // An element query moved shadow_avail_idx; read again so the next comparison starts from QEMU's new state.
            previous = diagnosis.Queues.Any(q => q.Candidates.Count > 0)
                ? await ReadAllAsync(targets, cancellationToken).ConfigureAwait(false)
                : current;
            yield return diagnosis;
        }
    }

    /// <summary>
    /// Runs <see cref="WatchAsync"/> until <paramref name="cancellationToken"/> is cancelled, handing
    /// <paramref name="onChanges"/> after each round the queues whose verdict changed (<see cref="QueueVerdictChanges"/>:
    /// every queue on the first round), as <c>virtio diagnose --watch</c> prints them.
    /// </summary>
    /// <returns>The last round's diagnosis, or null when cancelled before the first round ended.</returns>
    /// <exception cref="QmpException">QEMU cannot be reached, lacks a command, or answers something unexpected.</exception>
    public async Task<QemuDiagnosis?> WatchChangesAsync(Func<IReadOnlyList<QueueDiagnosis>, CancellationToken, Task> onChanges, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onChanges);
        var changes = new QueueVerdictChanges();
        QemuDiagnosis? last = null;
        try
        {
            await foreach (QemuDiagnosis round in WatchAsync(cancellationToken).ConfigureAwait(false))
            {
                last = round;
                await onChanges(changes.Next(round), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Cancellation is how a watch ends.
        }

        return last;
    }

    private async Task<IReadOnlyList<Target>> FindTargetsAsync(CancellationToken cancellationToken)
    {
        await _client.RequireCommandsAsync(QmpClient.VirtioCommands, cancellationToken).ConfigureAwait(false);
        IReadOnlyList<VirtioDeviceInfo> devices = await _client.QueryVirtioAsync(cancellationToken).ConfigureAwait(false);
        if (_options.Path is { } path)
        {
            devices = devices.Where(d => d.Path == path).ToArray();
            if (devices.Count == 0)
            {
                IReadOnlyList<VirtioDeviceInfo> all = await _client.QueryVirtioAsync(cancellationToken).ConfigureAwait(false);
                throw new QmpException(QmpErrorKind.CommandFailed, $"x-query-virtio lists no device at {path}; it lists: {(all.Count == 0 ? "none" : string.Join(", ", all.Select(d => $"{d.Path} ({d.Name})")))}")
                {
                    Command = "x-query-virtio",
                };
            }
        }

        var targets = new List<Target>(devices.Count);
        foreach (VirtioDeviceInfo d in devices.OrderBy(d => d.Path, StringComparer.Ordinal))
        {
            QemuVirtioStatus status = await _client.QueryVirtioStatusAsync(d.Path, cancellationToken).ConfigureAwait(false);
            if (_options.Queue is int q && q >= status.NumVqs)
            {
                throw new QmpException(QmpErrorKind.CommandFailed, string.Create(CultureInfo.InvariantCulture, $"{d.Path} ({d.Name}) has {status.NumVqs} queue(s); there is no queue {q}"))
                {
                    Command = "x-query-virtio-status",
                };
            }

            targets.Add(new Target(d, status));
        }

        return targets;
    }

    // The device status again, for broken and vhost-started as they are now.
    private async Task<IReadOnlyList<Target>> RefreshAsync(IReadOnlyList<Target> targets, CancellationToken cancellationToken)
    {
        var refreshed = new List<Target>(targets.Count);
        foreach (Target t in targets)
        {
            refreshed.Add(t with { Status = await _client.QueryVirtioStatusAsync(t.Device.Path, cancellationToken).ConfigureAwait(false) });
        }

        return refreshed;
    }

    private IEnumerable<int> QueuesOf(Target t) =>
        _options.Queue is int q ? [q] : Enumerable.Range(0, Math.Max(0, t.Status.NumVqs));

    private async Task<Dictionary<(string, int), QueueReading>> ReadAllAsync(IReadOnlyList<Target> targets, CancellationToken cancellationToken)
    {
        var readings = new Dictionary<(string, int), QueueReading>();
        foreach (Target t in targets.Where(t => Refusal(t.Status) is null))
        {
            foreach (int q in QueuesOf(t))
            {
                readings[(t.Device.Path, q)] = await ReadAsync(t, q, cancellationToken).ConfigureAwait(false);
            }
        }

        return readings;
    }

    private async Task<QueueReading> ReadAsync(Target t, int queue, CancellationToken cancellationToken)
    {
        if (t.Status.VhostStarted)
        {
            // Never x-query-virtio-queue-status here: QEMU 7.2 would call vhost_get_vring_base, which stops a
            // vhost-user back-end's ring (GET_VRING_BASE), and report its return code as last-avail-idx.
            VhostQueueStatus v = await _client.QueryVirtioVhostQueueStatusAsync(t.Device.Path, queue, cancellationToken).ConfigureAwait(false);
            return new QueueReading(null, await ReadGuestFieldsAsync(v.AvailPhys, v.UsedPhys, v.Num, cancellationToken).ConfigureAwait(false));
        }

        (QueueStatus status, string json) = await _client.QueryVirtioQueueStatusRawAsync(t.Device.Path, queue, cancellationToken).ConfigureAwait(false);
        if (!QueueReading.HasRings(status))
        {
            return new QueueReading(status, default) { StatusJson = json };
        }

        GuestRingFields guest = await ReadGuestFieldsAsync(status.VringAvail, status.VringUsed, status.VringNum, cancellationToken).ConfigureAwait(false);
        return new QueueReading(status, guest) { StatusJson = json };
    }

    /// <summary>
    /// Reads <c>avail-&gt;flags</c>, <c>avail-&gt;idx</c>, <c>used_event</c>, <c>used-&gt;flags</c>, <c>used-&gt;idx</c> and
    /// <c>avail_event</c> (VIRTIO 1.x 2.7.6, 2.7.8) from guest RAM through HMP <c>xp</c>: the same fields the
    /// reference's GDB script reads.
    /// </summary>
    private async Task<GuestRingFields> ReadGuestFieldsAsync(ulong avail, ulong used, uint num, CancellationToken cancellationToken)
    {
        if (num == 0 || num > SplitRing.MaxQueueSize || !SplitRing.IsValidSize((int)num))
        {
            throw new QmpException(QmpErrorKind.ProtocolError, string.Create(CultureInfo.InvariantCulture, $"the queue size {num} QEMU reports is not a valid split-ring size"));
        }

        ushort[] a = await _client.ReadGuestHalfwordsAsync(avail, 2, cancellationToken).ConfigureAwait(false);
        ushort[] usedEvent = await _client.ReadGuestHalfwordsAsync(avail + SplitRing.UsedEventOffset((int)num), 1, cancellationToken).ConfigureAwait(false);
        ushort[] u = await _client.ReadGuestHalfwordsAsync(used, 2, cancellationToken).ConfigureAwait(false);
        ushort[] availEvent = await _client.ReadGuestHalfwordsAsync(used + SplitRing.AvailEventOffset((int)num), 1, cancellationToken).ConfigureAwait(false);
        return new GuestRingFields(a[0], a[1], usedEvent[0], u[0], u[1], availEvent[0]);
    }

    private async Task<QemuDiagnosis> ConcludeAsync(
        IReadOnlyList<Target> targets,
        Dictionary<(string, int), QueueReading> first,
        Dictionary<(string, int), QueueReading> second,
        Func<(string, int), bool> mayQueryElements,
        CancellationToken cancellationToken)
    {
        var analysed = new List<(Target Target, List<QueueDiagnosis> Queues)>(targets.Count);
        foreach (Target t in targets)
        {
            var queues = new List<QueueDiagnosis>();
            if (Refusal(t.Status) is null)
            {
                // A queue read only once (num-vqs changed between the readings: the driver reset the device) is left out.
                foreach (int q in QueuesOf(t))
                {
                    if (first.TryGetValue((t.Device.Path, q), out QueueReading? a) && second.TryGetValue((t.Device.Path, q), out QueueReading? b))
                    {
                        queues.Add(Analyze(t, q, a, b));
                    }
                }
            }

            analysed.Add((t, queues));
        }

        // Elements last: each query updates shadow_avail_idx, so nothing read after it may feed a verdict.
        var devices = new List<DeviceDiagnosis>(targets.Count);
        foreach ((Target t, List<QueueDiagnosis> queues) in analysed)
        {
            for (int i = 0; i < queues.Count; i++)
            {
                QueueDiagnosis q = queues[i];
                if (q.Report is { Verdict: HangVerdict.DeviceStuck } r && mayQueryElements((q.DevicePath, q.QueueIndex)))
                {
                    queues[i] = await AddCandidatesAsync(q, r.QueueStatus, cancellationToken).ConfigureAwait(false);
                }

                LiveLog.Verdict(_logger, queues[i].Summary);
            }

            devices.Add(new DeviceDiagnosis(t.Device.Path, t.Device.Name, t.Status, queues) { Refusal = Refusal(t.Status) });
        }

        return new QemuDiagnosis(_client.Version, devices);
    }

    private QueueDiagnosis Analyze(Target t, int queue, QueueReading first, QueueReading second)
    {
        string? progress = second.MovedSince(first);
        var diagnosis = new QueueDiagnosis
        {
            DevicePath = t.Device.Path,
            DeviceName = t.Device.Name,
            QueueIndex = queue,
            Role = QemuQueueRoles.For(t.Device.Name, queue, t.Status.NumVqs),
            First = first,
            Second = second,
            Interval = _options.Interval,
            Progress = progress,
        };
        if (second.Status is { } unset && !QueueReading.HasRings(unset))
        {
            return diagnosis with { Note = "The driver has not set this queue up (vring-desc, vring-avail and vring-used are 0: a queue the guest does not use, such as a virtio-net queue pair beyond the ones it enabled); there is no ring to read." };
        }

        if (second.Status is not { } status)
        {
            return diagnosis with
            {
                Note = "vhost-started: a vhost back-end runs this queue, so QEMU's device-side indexes are not the device's, and asking QEMU for them (x-query-virtio-queue-status) would stop a vhost-user back-end's ring. "
                    + "Only the guest's ring fields are shown; ask the back-end for its indexes (one served by virtio-sharp can answer them itself).",
            };
        }

        HangReport report = HangAnalysis.Analyze(new HangAnalysisInput(status, second.Guest)
        {
            EventIdx = t.Status.EventIdx,
            Broken = t.Status.Broken,
            PopsOnDemand = HangAnalysisInput.PopsOnDemandFor(t.Device.Name, queue, t.Status.NumVqs),
            Progress = progress,
        });
        return diagnosis with { Report = report };
    }

    private async Task<QueueDiagnosis> AddCandidatesAsync(QueueDiagnosis q, QueueStatus s, CancellationToken cancellationToken)
    {
        int held = Math.Min((ushort)(s.LastAvailIdx - s.UsedIdx), (int)s.VringNum);
        if (held == 0)
        {
            return q with { Note = "No request is held (inuse 0), so there are no elements to list." };
        }

        int count = Math.Min(held, _options.MaxCandidates);
        var candidates = new List<QemuQueueElement>(count);
        string? failure = null;
        for (int i = 0; i < count; i++)
        {
            ushort position = (ushort)(s.UsedIdx + i);
            try
            {
                candidates.Add(await _client.QueryVirtioQueueElementAsync(q.DevicePath, q.QueueIndex, position, cancellationToken).ConfigureAwait(false));
            }
            catch (QmpException e) when (e.Kind == QmpErrorKind.CommandFailed)
            {
                LiveLog.ElementFailed(_logger, q.DevicePath, q.QueueIndex, position, e.Message);
                failure ??= string.Create(CultureInfo.InvariantCulture, $"x-query-virtio-queue-element at position {position} failed: {e.QemuDescription ?? e.Message}.");
            }
        }

        string more = held > count ? string.Create(CultureInfo.InvariantCulture, $" Listing {count} of {held} positions (MaxCandidates).") : string.Empty;
        string note = "The candidates were queried after the readings; the query updates shadow_avail_idx in QEMU 7.2, so they played no part in the verdict." + more + (failure is null ? string.Empty : " " + failure);
        return q with { Candidates = candidates, Note = note };
    }

    private static string? Refusal(QemuVirtioStatus status) =>
        status.AccessPlatform
            ? "VIRTIO_F_ACCESS_PLATFORM is negotiated: the ring addresses QEMU reports are IOVAs behind an IOMMU, not guest-physical addresses, so reading them with xp would read the wrong memory; diagnose it with the IOMMU's translation (or without the IOMMU)"
            : null;

    private sealed record Target(VirtioDeviceInfo Device, QemuVirtioStatus Status);
}
