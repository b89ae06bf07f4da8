namespace Virtio.Diagnostics.Live;

/// <summary>
/// What <c>virtio diagnose --watch</c> prints of each round of <see cref="QemuDiagnostics.WatchAsync"/>: the queues
/// whose verdict changed since the round before (every queue on the first round), so that a stuck queue is reported
/// once per episode rather than on every poll.
/// </summary>
public sealed class QueueVerdictChanges
{
    private readonly Dictionary<(string DevicePath, int QueueIndex), HangVerdict?> _last = [];

    /// <summary>The queues of <paramref name="round"/> whose verdict differs from the one they had in the last round seen (or that were not in it).</summary>
    public IReadOnlyList<QueueDiagnosis> Next(QemuDiagnosis round)
    {
        ArgumentNullException.ThrowIfNull(round);
        var changed = new List<QueueDiagnosis>();
        foreach (QueueDiagnosis q in round.Queues)
        {
            if (!_last.TryGetValue((q.DevicePath, q.QueueIndex), out HangVerdict? before) || before != q.Verdict)
            {
                _last[(q.DevicePath, q.QueueIndex)] = q.Verdict;
                changed.Add(q);
            }
        }

        return changed;
    }
}
