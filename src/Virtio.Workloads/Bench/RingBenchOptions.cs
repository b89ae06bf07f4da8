namespace Virtio.Workloads.Bench;

/// <summary>How the ring benchmark waits when its side has nothing to do.</summary>
public enum RingBenchMode
{
    /// <summary>Both sides spin; kicks and calls are decided and counted but nobody sleeps on a channel (ringbase modes 1 and 2).</summary>
    Poll,

    /// <summary>Each side sleeps on its channel (kick for the device, call for the driver) and is woken by the other (ringbase mode 3).</summary>
    Notify,
}

/// <summary>Settings of <c>virtio bench ring</c>.</summary>
public sealed record RingBenchOptions
{
    /// <summary>
    /// The smallest ring: the floor of <c>virtio repro</c> (whose racing scenarios keep one entry for the request that
    /// races the fault), so that one ring size works with both commands.
    /// </summary>
    public const int MinRingSize = 2;

    /// <summary>1: driver and device take turns on one thread; 2: each has its own thread.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Polling or sleeping waiters.</summary>
    public RingBenchMode Mode { get; init; } = RingBenchMode.Poll;

    /// <summary>Queue size.</summary>
    public int RingSize { get; init; } = 256;

    /// <summary>Buffers to move through the ring (the measured run).</summary>
    public long Buffers { get; init; } = 20_000_000;

    /// <summary>Buffers the driver adds before it considers a kick, and the device completes before it flushes.</summary>
    public int Batch { get; init; } = 1;

    /// <summary>
    /// Move each batch through the burst API (<c>AddBurst</c>, <c>PopBurst</c>, <c>PushBurst</c>, <c>GetBurst</c>): one
    /// index publish or read and one notification decision per <see cref="Batch"/> buffers, instead of one call per buffer.
    /// </summary>
    public bool Burst { get; init; }

    /// <summary>Negotiate VIRTIO_RING_F_EVENT_IDX.</summary>
    public bool EventIdx { get; init; } = true;

    /// <summary>Negotiate VIRTIO_RING_F_INDIRECT_DESC (the driver uses it for chains of more than one segment).</summary>
    public bool Indirect { get; init; }

    /// <summary>Segments per buffer (the first readable, the rest writable).</summary>
    public int Segments { get; init; } = 1;

    /// <summary>Checks the settings; returns an error message or null.</summary>
    public string? Validate()
    {
        if (Threads is not (1 or 2))
        {
            return $"--threads {Threads}: must be 1 or 2";
        }

        if (Mode == RingBenchMode.Notify && Threads != 2)
        {
            return "--mode notify needs --threads 2 (one thread cannot sleep waiting for itself)";
        }

        if (RingSize < MinRingSize || !Virtio.Rings.SplitRing.IsValidSize(RingSize))
        {
            return $"--ring-size {RingSize}: must be a power of two from {MinRingSize} to {Virtio.Rings.SplitRing.MaxQueueSize} (as for virtio repro)";
        }

        if (Buffers < 1)
        {
            return $"--buffers {Buffers}: must be at least 1";
        }

        if (Batch < 1 || Batch > RingSize)
        {
            return $"--batch {Batch}: must be from 1 to the ring size ({RingSize})";
        }

        if (Segments < 1 || Segments > 64)
        {
            return $"--segments {Segments}: must be from 1 to 64";
        }

        if (!Indirect && Segments > RingSize)
        {
            return $"--segments {Segments}: more than the ring size ({RingSize}) without --indirect";
        }

        return null;
    }
}
