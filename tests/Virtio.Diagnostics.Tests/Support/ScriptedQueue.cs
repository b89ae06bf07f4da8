using Virtio.Diagnostics.Watchdog;

namespace Virtio.Diagnostics.Tests.Support;

/// <summary>A watched queue whose numbers the test sets directly.</summary>
internal sealed class ScriptedQueue(string name = "virtio-scripted", int index = 0) : IWatchedQueue
{
    public string Name { get; } = name;

    public int Index { get; } = index;

    /// <summary>What <see cref="ReadProgress"/> returns; starts idle and ready.</summary>
    public QueueProgress Progress { get; set; } = new(true, false, 0, 0, 0, 0, 0, 0);

    public QueueProgress ReadProgress() => Progress;

    /// <summary>The driver makes <paramref name="count"/> buffers available.</summary>
    public void MakeAvailable(int count = 1) => Progress = Progress with { AvailIdx = (ushort)(Progress.AvailIdx + count) };

    /// <summary>The device pops and completes one buffer and the driver consumes it.</summary>
    public void CompleteOne() => Progress = Progress with
    {
        LastAvailIdx = (ushort)(Progress.LastAvailIdx + 1),
        ShadowAvailIdx = Progress.AvailIdx,
        UsedIdx = (ushort)(Progress.UsedIdx + 1),
        DriverConsumedIdx = (ushort)(Progress.UsedIdx + 1),
    };
}
