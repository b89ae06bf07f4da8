using Virtio.Testing;
using Virtio.Core.Tests.Notifications;
using Virtio.Core.Tests.Support;
using Virtio.Driver;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Core.Tests.Concurrency;

/// <summary>
/// A driver thread and a device thread on one ring, for real: every buffer completes exactly once, and nobody
/// sleeps forever (every wait has a timeout that fails the test instead of hanging it).
/// </summary>
[Collection("Threads")]
public class TwoThreadRingTests
{
    private const int WaitMs = 10_000;
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
        var kick = new EventNotifier();
        var call = new EventNotifier();
        h.Driver.KickChannel = wait == Wait.Poll ? null : kick;
        GuestSegment[] segs = [.. Enumerable.Range(0, segments).Select(_ => h.Buffer(64))];
        var seen = new bool[buffers];
        Exception? deviceError = null;
        int stop = 0;

        var device = new Thread(() =>
        {
            try
            {
                RunDevice(h.Device, wait, kick, call, buffers, ref stop);
            }
            catch (Exception e)
            {
                deviceError = e;
            }
        });
        device.Start();

        try
        {
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
                Assert.False(h.Driver.IsBroken, h.Driver.Error?.Message);
                if (deviceError is not null)
                {
                    throw new InvalidOperationException("device thread failed", deviceError);
                }

                if (got == 0 && done < buffers && wait != Wait.Poll)
                {
                    bool sleep = wait == Wait.SleepDelayed ? h.Driver.EnableCallbacksDelayed() : h.Driver.EnableCallbacks();
                    if (sleep)
                    {
                        Assert.True(call.Wait(WaitMs), $"driver slept {WaitMs} ms: lost interrupt (done {done} of {buffers})");
                        call.TestAndClear();
                    }

                    h.Driver.DisableCallbacks();
                }
            }
        }
        finally
        {
            Volatile.Write(ref stop, 1);
            kick.Signal();
            Assert.True(device.Join(WaitMs * 2));
        }

        Assert.Null(deviceError);
        Assert.DoesNotContain(false, seen);
        Assert.Equal(0, h.Driver.InFlight);
        Assert.Equal(0, h.Device.InUse);
        Assert.Equal(size, h.Driver.NumFree);
    }

    private static void RunDevice(SplitQueue q, Wait wait, EventNotifier kick, EventNotifier call, int buffers, ref int stop)
    {
        int done = 0;
        while (done < buffers && Volatile.Read(ref stop) == 0)
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
                    call.Signal();
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
            else if (done < buffers && !q.EnableNotificationAndRecheck())
            {
                if (!kick.Wait(WaitMs))
                {
                    throw new TimeoutException($"device slept {WaitMs} ms: lost kick (done {done} of {buffers})");
                }

                kick.TestAndClear();
            }
        }
    }
}
