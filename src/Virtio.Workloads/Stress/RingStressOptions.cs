namespace Virtio.Workloads.Stress;

/// <summary>Settings of <see cref="RingStress"/> (<c>virtio stress</c>).</summary>
public sealed record RingStressOptions
{
    /// <summary>Buffers to move in all, over as many seeds as that takes (each buffer returned, or taken back at a reset).</summary>
    public long Buffers { get; init; } = 1_000_000;

    /// <summary>The seed every per-seed configuration and every buffer's shape and contents derive from.</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>The largest ring size a seed may draw (a power of two, 2 to 32768); smaller keeps guest RAM small in tests.</summary>
    public int MaxRingSize { get; init; } = Rings.SplitRing.MaxQueueSize;

    /// <summary>
    /// How long a side may wait with work outstanding before the run fails as a stall (a lost kick or call, or a lost
    /// buffer). Generous: a loaded machine can keep a runnable thread off the CPU for seconds.
    /// </summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How often <see cref="Progress"/> is called (between seeds).</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Called every <see cref="ProgressInterval"/> with the run so far; null for none.</summary>
    public Action<RingStressProgress>? Progress { get; init; }

    /// <summary>A deliberately broken device, for the engine's own tests: proves the checks can fail.</summary>
    internal StressDeviceFault DeviceFault { get; init; }

    /// <summary>Checks the settings; returns an error message or null.</summary>
    public string? Validate()
    {
        if (Buffers < 1)
        {
            return $"--buffers {Buffers}: must be at least 1";
        }

        if (MaxRingSize < 2 || !Rings.SplitRing.IsValidSize(MaxRingSize))
        {
            return $"max ring size {MaxRingSize}: must be a power of two from 2 to {Rings.SplitRing.MaxQueueSize}";
        }

        return StallTimeout <= TimeSpan.Zero ? "the stall timeout must be positive" : null;
    }
}
