using Virtio.Testing;
using Virtio.Workloads.Bench;

namespace Virtio.Workloads.Tests;

/// <summary>The benchmark's loop is itself correct: every frame comes back in the right buffers and nothing is allocated per frame.</summary>
public class NetBenchTests
{
    [Theory]
    [InlineData(64, true, 32, false)]
    [InlineData(64, true, 32, true)]
    [InlineData(64, false, 1, false)]
    [InlineData(1514, true, 8, true)]
    [InlineData(65550, true, 4, false)]
    [InlineData(65550, false, 2, true)]
    public void Bench_frames_all_come_back_without_allocating(int frameSize, bool mergeable, int batch, bool callbacks)
    {
        using var bench = new NetBench(frameSize, mergeable, batch, callbacks);
        long failed = 0, frames = 0;
        long allocated = SteadyState.Least(() =>
        {
            var run = bench.Run(5_000, 1_000);
            frames += run.Frames;
            failed += run.Failed;
            return run.AllocatedBytes;
        });
        Assert.Equal(0, failed);
        Assert.Equal(0, allocated);
        Assert.Equal(frames / 5 * 6, bench.Device.Statistics.RxPackets); // each run: 1,000 warm-up frames and 5,000 measured
        Assert.Equal(0, bench.Device.Statistics.Dropped);
    }

    [Fact]
    public void Bench_rejects_a_runt_frame_size()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new NetBench(13, true));
    }
}
