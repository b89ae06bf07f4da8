namespace Virtio.Scenarios;

/// <summary>
/// The scenario's own clock: time moves only when the scenario says so, so a five-second stall takes no real time
/// and every run is the same. Starts one second after zero because the device reads timestamp 0 as "never popped".
/// </summary>
internal sealed class ScenarioClock : TimeProvider
{
    private static readonly DateTimeOffset Epoch = new(2023, 3, 22, 0, 0, 0, TimeSpan.Zero);
    private long _ticks = TimeSpan.TicksPerSecond;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => Volatile.Read(ref _ticks);

    public override DateTimeOffset GetUtcNow() => Epoch.AddTicks(GetTimestamp());

    public void Advance(TimeSpan by) => Interlocked.Add(ref _ticks, by.Ticks);
}
