namespace Virtio.VhostUser;

/// <summary>Settings of <see cref="VhostUserBlkBench"/>.</summary>
public sealed class VhostUserBlkBenchOptions
{
    /// <summary>Requests in the measured run.</summary>
    public long Requests { get; init; } = 1_000_000;

    /// <summary>Requests before the measured run (connection, caches, JIT).</summary>
    public long WarmupRequests { get; init; } = 20_000;

    /// <summary>Requests kept in flight.</summary>
    public int QueueDepth { get; init; } = 32;

    /// <summary>Bytes per read (a multiple of 512).</summary>
    public int BlockSize { get; init; } = 4096;

    /// <summary>The ring size (QEMU's vhost-user-blk default is 128).</summary>
    public int RingSize { get; init; } = 128;

    /// <summary>
    /// Share an inflight region (INFLIGHT_SHMFD, as QEMU's vhost-user-blk does), so that the back-end records every
    /// request in it: the cost of being able to reconnect without losing I/O.
    /// </summary>
    public bool Inflight { get; init; }

    /// <summary>Seed of the random sectors.</summary>
    public int Seed { get; init; } = 1;
}
