using Virtio.Testing;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.Core.Tests.Concurrency;

/// <summary>
/// A driver thread and a device thread on one ring, for real: every buffer completes exactly once, and nobody
/// sleeps forever (every wait has a timeout that fails the test instead of hanging it).
/// </summary>
[Collection("Threads")]
public class TwoThreadRingTests
{
    private static readonly byte[] Filler = [1, 2, 3, 4, 5, 6, 7, 8];

    public enum Wait
    {
        Poll,
        Sleep,
        SleepDelayed,
    }

    [Theory]
    [InlineData(Wait.Poll, true, 256, 1, 1_000_000)]
    [InlineData(Wait.Poll, false, 256, 1, 1_000_000)]
    [InlineData(Wait.Sleep, true, 256, 1, 1_000_000)]
    [InlineData(Wait.Sleep, false, 256, 1, 1_000_000)]
    [InlineData(Wait.SleepDelayed, true, 256, 1, 1_000_000)]
    [InlineData(Wait.Sleep, true, 2, 1, 100_000)]
    [InlineData(Wait.Poll, true, 64, 3, 300_000)]
    [InlineData(Wait.Sleep, true, 64, 3, 300_000)]
    public void Every_buffer_completes_exactly_once(Wait wait, bool eventIdx, int size, int segments, int buffers)
    {
        using var h = new RingHarness(size, eventIdx, indirect: segments > 1);
        GuestSegment[] segs = [.. Enumerable.Range(0, segments).Select(_ => h.Buffer(64))];
        var seen = new bool[buffers];
        using var rig = new TwoThreadRing(h, wait != Wait.Poll, r => RunDevice(r, wait, buffers));
        int added = 0, done = 0;
        if (wait != Wait.Poll)
        {
            h.Driver.DisableCallbacks();
        }

        while (done < buffers)
        {
            while (added < buffers && h.Driver.NumFree >= (segments > 1 ? 1 : segments))
            {
                Assert.Equal(AddResult.Added, h.Driver.Add(segs.AsSpan(0, 1), segs.AsSpan(1), added));
                added++;
            }

            h.Driver.Kick();
            int got = 0;
            while (h.Driver.TryGetBuffer(out int token, out uint len))
            {
                Assert.False(seen[token], $"token {token} completed twice");
                seen[token] = true;
                Assert.Equal((uint)(64 * (segments - 1)), len);
                got++;
            }

            done += got;
            rig.ThrowIfFailed();
            if (got == 0 && done < buffers && wait != Wait.Poll)
            {
                rig.DriverSleep(wait == Wait.SleepDelayed ? h.Driver.EnableCallbacksDelayed : h.Driver.EnableCallbacks, $"done {done} of {buffers}");
            }
        }

        rig.StopAndAssertDrained();
        Assert.DoesNotContain(false, seen);
        Assert.Equal(size, h.Driver.NumFree);
    }

    private static void RunDevice(TwoThreadRing rig, Wait wait, int buffers)
    {
        SplitQueue q = rig.Harness.Device;
        int done = 0;
        while (done < buffers && !rig.Stopping)
        {
            if (wait != Wait.Poll)
            {
                q.SetNotification(false);
            }

            while (q.Pop(out DescriptorChain chain) == PopResult.Chain)
            {
                chain.CopyToWritable(Filler);
                q.Push(chain, chain.WritableLength);
                done++;
                if (q.ShouldNotify())
                {
                    rig.CallChannel.Signal();
                }
            }

            if (q.IsBroken)
            {
                throw new InvalidOperationException(q.Error.Message);
            }

            if (wait == Wait.Poll)
            {
                Thread.SpinWait(1);
            }
            else if (done < buffers)
            {
                rig.DeviceSleep(q, $"done {done} of {buffers}");
            }
        }
    }
}
