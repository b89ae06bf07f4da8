using System.Globalization;
using System.Numerics;
using System.Text;

namespace Virtio.Workloads.Stress;

/// <summary>How a reset in the middle of a seed is done.</summary>
internal enum StressResetKind
{
    /// <summary>A device reset (status 0): both sides reset; the driver takes back what was outstanding and starts over.</summary>
    Device,

    /// <summary>
    /// A device-side restart, as a vhost-user back-end reconnecting: the device's state is saved (GET_VRING_BASE), the
    /// queue reset, restored with <c>SetState</c> (SET_VRING_BASE) and its in-flight heads resubmitted (the inflight
    /// region); the driver never notices.
    /// </summary>
    Restart,
}

/// <summary>One seed's configuration, drawn from the run's seed and the seed's index.</summary>
internal sealed class StressSeedConfig
{
    private static readonly int[] s_segmentChoices = [1, 2, 4, StressBuffer.MaxSegments];
    private static readonly int[] s_holdChoices = [0, 0, 1, 4, 16];

    private StressSeedConfig()
    {
    }

    public int Index { get; private init; }

    /// <summary>The key every buffer's shape and contents derive from.</summary>
    public ulong Key { get; private init; }

    public int RingSize { get; private init; }

    public bool EventIdx { get; private init; }

    public bool Indirect { get; private init; }

    /// <summary>Segments per buffer, at most (the ring size without indirect descriptors).</summary>
    public int MaxSegments { get; private init; }

    public long Buffers { get; private init; }

    /// <summary>The index both sides start at (near the 16-bit wrap more often than not).</summary>
    public ushort StartIndex { get; private init; }

    /// <summary>Whether the driver starts with used-buffer callbacks enabled.</summary>
    public bool CallbacksAtStart { get; private init; }

    /// <summary>Chains the device may hold back and complete later, out of order (0: in order).</summary>
    public int DeviceHold { get; private init; }

    /// <summary>Chains the device pops before it publishes them with one used-index store.</summary>
    public int DeviceBatch { get; private init; }

    /// <summary>Serials after whose addition a reset happens, ascending.</summary>
    public long[] ResetAt { get; private init; } = [];

    /// <summary>The kind of each reset.</summary>
    public StressResetKind[] ResetKinds { get; private init; } = [];

    /// <summary>
    /// Whether the seed ends by stopping the device once it is idle instead of the driver first waiting for every buffer:
    /// the end check then finds a buffer the device dropped without waiting for a stall.
    /// </summary>
    public bool EndWithQuiesce { get; private init; }

    public static StressSeedConfig Draw(ulong runSeed, int index, long remaining, int maxRingSize, bool quiesceEnd)
    {
        ulong key = StressRandom.Mix(runSeed, (ulong)index);
        var rng = new StressRandom(key);
        int log2Max = BitOperations.Log2((uint)maxRingSize);
        int ringSize = 1 << (1 + rng.Below(log2Max));
        bool indirect = rng.OneIn(2);
        int maxSegments = s_segmentChoices[rng.Below(s_segmentChoices.Length)];
        if (!indirect)
        {
            maxSegments = Math.Min(maxSegments, ringSize);
        }

        long buffers = Math.Min(remaining, 2_000 + rng.Below(38_000) + ((long)ringSize * (1 + rng.Below(3))));
        int resets = buffers > 100 ? rng.Below(3) : 0;
        long[] resetAt = new long[resets];
        var kinds = new StressResetKind[resets];
        for (int i = 0; i < resets; i++)
        {
            resetAt[i] = 1 + (long)(rng.Next() % (ulong)(buffers - 1));
            kinds[i] = rng.OneIn(2) ? StressResetKind.Device : StressResetKind.Restart;
        }

        Array.Sort(resetAt);
        return new StressSeedConfig
        {
            Index = index,
            Key = key,
            RingSize = ringSize,
            EventIdx = rng.OneIn(2),
            Indirect = indirect,
            MaxSegments = maxSegments,
            Buffers = buffers,
            StartIndex = DrawStartIndex(ref rng, ringSize),
            CallbacksAtStart = !rng.OneIn(4),
            DeviceHold = Math.Min(s_holdChoices[rng.Below(s_holdChoices.Length)], ringSize),
            DeviceBatch = 1 + rng.Below(Math.Min(ringSize, 64)),
            ResetAt = resetAt,
            ResetKinds = kinds,
            EndWithQuiesce = quiesceEnd || rng.OneIn(2),
        };
    }

    /// <summary>0, anywhere, or (half the time) a few ring-fulls before the 16-bit wrap, so that the run crosses it.</summary>
    public static ushort DrawStartIndex(ref StressRandom rng, int ringSize) => rng.Below(4) switch
    {
        0 => 0,
        1 => (ushort)rng.Next(),
        _ => (ushort)(0x1_0000 - 1 - rng.Below(Math.Min(4 * ringSize, 4096))),
    };

    public override string ToString()
    {
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder();
        s.Append(c, $"seed #{Index} key 0x{Key:x16}: ring-size={RingSize} event-idx={(EventIdx ? "on" : "off")} indirect={(Indirect ? "on" : "off")} ");
        s.Append(c, $"max-segments={MaxSegments} buffers={Buffers} start-index={StartIndex} callbacks={(CallbacksAtStart ? "on" : "off")} ");
        s.Append(c, $"device-hold={DeviceHold} device-batch={DeviceBatch} resets=[");
        for (int i = 0; i < ResetAt.Length; i++)
        {
            s.Append(c, $"{(i > 0 ? " " : "")}{(ResetKinds[i] == StressResetKind.Device ? "reset" : "restart")}@{ResetAt[i]}");
        }

        s.Append(c, $"] end={(EndWithQuiesce ? "quiesce" : "wait")}");
        return s.ToString();
    }
}
