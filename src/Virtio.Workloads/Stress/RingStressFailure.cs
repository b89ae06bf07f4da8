namespace Virtio.Workloads.Stress;

/// <summary>Why a <see cref="RingStress"/> run failed, and where: enough to replay it.</summary>
/// <param name="Kind">What went wrong.</param>
/// <param name="SeedIndex">The seed of the run (0 for the first) the failure happened in.</param>
/// <param name="SeedKey">That seed's key, derived from <see cref="RingStressOptions.Seed"/> and the index.</param>
/// <param name="Configuration">The seed's configuration (ring size, features, ...), as one line.</param>
/// <param name="Serial">The buffer concerned (its serial within the seed), or -1.</param>
/// <param name="Message">What was expected and what was found, with the numbers.</param>
/// <param name="QueueReport">The device queue's state and the three-question walk-through (text), when a queue was there to read.</param>
public sealed record RingStressFailure(
    RingStressFailureKind Kind,
    int SeedIndex,
    ulong SeedKey,
    string Configuration,
    long Serial,
    string Message,
    string? QueueReport);
