using Virtio.Cli.Bench;
using Virtio.Core.Tests.Support;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.Core.Tests.Allocation;

/// <summary>The steady-state ring path allocates nothing: measured, not assumed.</summary>
[Collection("Threads")]
public class HotPathAllocationTests
{
    [Theory]
    [InlineData(true, false, 1)]
    [InlineData(false, false, 1)]
    [InlineData(true, true, 3)]
    [InlineData(true, false, 3)]
    public void Add_kick_pop_walk_push_notify_get_allocates_nothing(bool eventIdx, bool indirect, int segments)
    {
        using var h = new RingHarness(size: 64, eventIdx, indirect);
        GuestSegment[] segs = [.. Enumerable.Range(0, segments).Select(_ => h.Buffer(32))];
        byte[] scratch = new byte[16];
        Assert.Equal(0, Loop(h, segs, scratch, 1000));
        long before = GC.GetAllocatedBytesForCurrentThread();
        int bad = Loop(h, segs, scratch, 10_000);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, bad);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Notification_toggling_and_callbacks_allocate_nothing()
    {
        using var h = new RingHarness(size: 16);
        GuestSegment[] segs = [h.Buffer(32)];
        void Cycle()
        {
            h.Device.SetNotification(false);
            h.Driver.DisableCallbacks();
            h.Driver.Add(segs, default, 1);
            h.Driver.Kick();
            h.Device.Pop(out DescriptorChain c);
            h.Device.Push(c, 0);
            h.Device.ShouldNotify();
            h.Device.EnableNotificationAndRecheck();
            h.Driver.EnableCallbacksDelayed();
            h.Driver.TryGetBuffer(out _, out _);
            h.Driver.EnableCallbacks();
            h.Device.ReadGuestFields(out _);
            h.Device.GetState();
        }

        for (int i = 0; i < 100; i++)
        {
            Cycle();
        }

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            Cycle();
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Theory]
    [InlineData(RingBenchMode.Notify)]
    [InlineData(RingBenchMode.Poll)]
    public void Two_thread_run_allocates_nothing(RingBenchMode mode)
    {
        // Process-wide counting also sees the runtime's occasional background allocation (~100-200 bytes), so up to
        // three runs are made; a per-buffer allocation would show in every run as at least 200 000 bytes.
        using var bench = new RingBench(new RingBenchOptions { Threads = 2, Mode = mode, Buffers = 200_000 });
        var runs = new List<long>();
        for (int i = 0; i < 3 && !runs.Contains(0); i++)
        {
            runs.Add(bench.Run(warmup: 50_000).AllocatedBytes);
        }

        Assert.True(runs.Contains(0), "bytes allocated per run: " + string.Join(", ", runs));
    }

    /// <summary>The measured loop: no assertion library calls inside (they allocate); returns the mismatches.</summary>
    private static int Loop(RingHarness h, GuestSegment[] segs, byte[] scratch, int n)
    {
        int bad = 0;
        for (int i = 0; i < n; i++)
        {
            bad += h.Driver.Add(segs.AsSpan(0, 1), segs.AsSpan(1), i) == AddResult.Added ? 0 : 1;
            h.Driver.KickPrepare();
            if (h.Device.Pop(out DescriptorChain chain) != PopResult.Chain)
            {
                bad++;
                continue;
            }

            foreach (DescriptorBuffer b in chain)
            {
                scratch[0] ^= b.Span[0];
            }

            chain.CopyFromReadable(scratch);
            uint written = (uint)chain.CopyToWritable(scratch);
            h.Device.Push(chain, written);
            h.Device.ShouldNotify();
            bad += h.Driver.TryGetBuffer(out int token, out _) && token == i ? 0 : 1;
        }

        return bad;
    }
}
