using System.Diagnostics;

namespace Virtio.Workloads.Stress;

/// <summary>
/// <c>virtio stress</c>: a driver (<see cref="Driver.DriverQueue{TToken}"/>, the Linux model) and a device
/// (<see cref="Rings.SplitQueue"/>, the QEMU model) on two threads over one guest RAM, each sleeping on its
/// <see cref="Notifications.EventNotifier"/> (the kick and call channels) when idle, across many seeds derived from
/// <see cref="RingStressOptions.Seed"/>. Each seed draws a ring size (2 to 32768), EVENT_IDX and INDIRECT on or off,
/// chain shapes (1 to 16 descriptors, readable then writable, indirect tables when negotiated), a start index (often just
/// before the 16-bit wrap), how the device batches and reorders completions, and resets in the middle: device resets
/// (both sides) and device-side restarts (vhost-user's GET/SET_VRING_BASE with the in-flight heads resubmitted). At
/// random points the driver disables, enables or delays its callbacks and the device suppresses kicks.
/// </summary>
/// <remarks>
/// What "nothing lost" means here, checked buffer by buffer: every buffer the driver adds comes back exactly once (or
/// is, at a device reset, exactly where the accounting says: held by the device or unpopped in the available ring);
/// the device finds the chain the driver built and the driver's bytes in its readable part (a pattern of the seed and
/// the buffer's serial); the driver finds the device's pattern in the writable part, the used length equal to what the
/// device wrote, and the bytes past it untouched. A side that waits past <see cref="RingStressOptions.StallTimeout"/>
/// with work outstanding fails the run with the queue's state and the three-question analysis, instead of hanging.
/// The run stops at the first failure.
/// </remarks>
public sealed class RingStress : IDisposable
{
    private readonly RingStressOptions _options;
    private readonly StressGuestLayout _ram;

    /// <summary>Allocates the guest RAM (about 41 MiB for rings up to 32768 entries).</summary>
    /// <exception cref="ArgumentException">The options are not valid (<see cref="RingStressOptions.Validate"/>).</exception>
    public RingStress(RingStressOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _options = options;
        _ram = new StressGuestLayout(options.MaxRingSize);
    }

    /// <summary>Runs seeds until <see cref="RingStressOptions.Buffers"/> buffers are accounted for, or the first failure.</summary>
    public RingStressResult Run()
    {
        long start = Stopwatch.GetTimestamp();
        long lastProgress = start;
        long returned = 0, takenBack = 0, wraps = 0, kicks = 0, calls = 0;
        int seeds = 0, resets = 0, restarts = 0;
        RingStressFailure? failure = null;
        while (returned + takenBack < _options.Buffers && failure is null)
        {
            var config = StressSeedConfig.Draw(_options.Seed, seeds, _options.Buffers - returned - takenBack, _options.MaxRingSize,
                quiesceEnd: seeds == 0 && _options.DeviceFault != StressDeviceFault.None);
            using var run = new StressSeedRun(_ram, config, _options);
            failure = run.Run();
            seeds++;
            returned += run.Returned;
            takenBack += run.TakenBack;
            resets += run.Resets;
            restarts += run.Restarts;
            wraps += run.Wraps;
            kicks += run.Kicks;
            calls += run.Calls;
            if (_options.Progress is { } progress && Stopwatch.GetElapsedTime(lastProgress) >= _options.ProgressInterval)
            {
                lastProgress = Stopwatch.GetTimestamp();
                progress(new RingStressProgress(returned + takenBack, _options.Buffers, seeds, Stopwatch.GetElapsedTime(start)));
            }
        }

        return new RingStressResult(_options.Seed, returned + takenBack, returned, takenBack, seeds, resets, restarts, wraps, kicks, calls,
            Stopwatch.GetElapsedTime(start), failure);
    }

    /// <inheritdoc />
    public void Dispose() => _ram.Dispose();
}
