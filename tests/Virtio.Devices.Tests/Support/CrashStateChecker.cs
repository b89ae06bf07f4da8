using Virtio.CrashHost;

namespace Virtio.Devices.Tests.Support;

/// <summary>A FLUSH the driver saw acknowledged: from log position <see cref="LogPosition"/> on, each sector must hold <see cref="Required"/>'s generation or newer.</summary>
/// <param name="LogPosition">The log's length when the acknowledgement was seen.</param>
/// <param name="Required">Per sector, the generation of the last write or write-zeroes acknowledged before the FLUSH was submitted (0: none).</param>
internal sealed record FlushPromise(int LogPosition, long[] Required);

/// <summary>
/// Replays the crash states a <see cref="RecordingImageFile"/> log allows after a power loss, in the manner of
/// CrashMonkey: at every log position, everything before the start of the last completed fsync is on disk, and any
/// subset of the later writes and holes may be too, each torn at sector boundaries. Every subset is tried when there
/// are few, a seeded sample otherwise. In each state, every FLUSH acknowledged by then must have kept its promise.
/// </summary>
internal sealed class CrashStateChecker(int sectors, int seed)
{
    private const int ExhaustiveLimit = 6;
    private const int Samples = 32;

    /// <summary>Crash states examined by the last <see cref="Check"/>.</summary>
    public long StatesChecked { get; private set; }

    /// <summary>
    /// The broken promises (empty when every state keeps them). <paramref name="acceptable"/> says whether a sector's
    /// contents (<see cref="SectorStamp.Parse"/>'s answer) satisfy a required generation.
    /// </summary>
    public List<string> Check(IReadOnlyList<LoggedOp> log, IReadOnlyList<FlushPromise> promises, Func<int, long, long, bool> acceptable)
    {
        var rng = new Random(seed);
        var violations = new List<string>();
        byte[] durable = new byte[sectors * 512];
        byte[] state = new byte[durable.Length];
        int durableEnd = 0;
        var volatileOps = new List<int>();
        StatesChecked = 0;
        for (int position = 0; position <= log.Count && violations.Count < 10; position++)
        {
            // An fsync that ended before the crash made everything logged before it began durable.
            if (position > 0 && log[position - 1].Kind == LoggedKind.FlushEnd && (int)log[position - 1].Offset > durableEnd)
            {
                for (int i = durableEnd; i < (int)log[position - 1].Offset; i++)
                {
                    Apply(durable, log[i], tear: null);
                }

                durableEnd = (int)log[position - 1].Offset;
            }

            volatileOps.Clear();
            for (int i = durableEnd; i < position; i++)
            {
                if (log[i].Kind is LoggedKind.Write or LoggedKind.Zero)
                {
                    volatileOps.Add(i);
                }
            }

            var active = promises.Where(p => p.LogPosition <= position).ToList();
            bool exhaustive = volatileOps.Count <= ExhaustiveLimit;
            int subsets = exhaustive ? 1 << volatileOps.Count : Samples;
            for (int s = 0; s < subsets * 2 && violations.Count < 10; s++)
            {
                // Even: whole operations; odd: the same subset with each sector of each operation kept or lost.
                bool torn = s % 2 == 1;
                int subset = s / 2;
                durable.CopyTo(state, 0);
                for (int v = 0; v < volatileOps.Count; v++)
                {
                    // Sampled subsets always include none and all of the operations.
                    bool include = exhaustive ? (subset >> v & 1) != 0 : subset == 0 ? false : subset == 1 || rng.Next(2) == 1;
                    if (include)
                    {
                        Apply(state, log[volatileOps[v]], torn ? rng : null);
                    }
                }

                StatesChecked++;
                Verify(state, position, active, acceptable, violations);
            }
        }

        return violations;
    }

    private void Verify(byte[] state, int position, List<FlushPromise> active, Func<int, long, long, bool> acceptable, List<string> violations)
    {
        for (int sector = 0; sector < sectors && violations.Count < 10; sector++)
        {
            long found = SectorStamp.Parse(state.AsSpan(sector * 512, 512), (ulong)sector);
            if (found == SectorStamp.Garbage)
            {
                violations.Add($"crash at log position {position}: sector {sector} holds bytes never written to it");
                continue;
            }

            foreach (FlushPromise p in active)
            {
                if (!acceptable(sector, found, p.Required[sector]))
                {
                    violations.Add($"crash at log position {position}: sector {sector} holds {(found == 0 ? "zeroes" : $"generation {found}")}, "
                        + $"but the FLUSH acknowledged at log position {p.LogPosition} promised generation {p.Required[sector]} or newer");
                    break;
                }
            }
        }
    }

    // Applies a write or hole; with a tear generator, each of its sectors reaches the disk or not.
    private static void Apply(byte[] disk, LoggedOp op, Random? tear)
    {
        if (op.Kind is not (LoggedKind.Write or LoggedKind.Zero))
        {
            return;
        }

        for (long at = op.Offset; at < op.Offset + op.Length; at = (at / 512 + 1) * 512)
        {
            long end = Math.Min(op.Offset + op.Length, (at / 512 + 1) * 512);
            if (tear is not null && tear.Next(2) == 0)
            {
                continue;
            }

            Span<byte> target = disk.AsSpan((int)at, (int)(end - at));
            if (op.Kind == LoggedKind.Write)
            {
                op.Data.AsSpan((int)(at - op.Offset), target.Length).CopyTo(target);
            }
            else
            {
                target.Clear();
            }
        }
    }
}
