using Virtio.Driver;
using Virtio.Notifications;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Core.Tests.Concurrency;

/// <summary>
/// The burst API on both sides of one ring, a driver thread and a device thread: every buffer completes exactly once,
/// with the length the device wrote, and nobody waits forever (every wait has a deadline that fails the test).
/// </summary>
[Collection("Threads")]
public class BurstTwoThreadTests
{
    private const int WaitMs = 20_000;

    [Theory]
    [InlineData(true, 256, 32, false, 500_000)]
    [InlineData(false, 256, 32, false, 500_000)]
    [InlineData(true, 64, 7, true, 200_000)]
    [InlineData(true, 8, 8, true, 100_000)]
    public void Every_buffer_completes_exactly_once_through_bursts(bool eventIdx, int size, int burst, bool sleep, int buffers)
    {
        using var h = new RingHarness(size, eventIdx);
        var kick = new EventNotifier();
        var call = new EventNotifier();
        h.Driver.KickChannel = sleep ? kick : null;
        // In-flight tokens form a window of at most `size` (both sides complete in order), so token t owns slot t % size.
        GuestSegment[] slots = [.. Enumerable.Range(0, size).Select(_ => h.Buffer(4))];
        var segments = new GuestSegment[burst];
        var seen = new bool[buffers];
        Exception? deviceError = null;
        int stop = 0;
        var device = new Thread(() =>
        {
            try
            {
                RunDevice(h.Device, burst, sleep, kick, call, ref stop);
            }
            catch (Exception e)
            {
                deviceError = e;
            }
        });
        device.Start();

        try
        {
            var tokens = new int[burst];
            var lengths = new uint[burst];
            int added = 0, done = 0;
            if (sleep)
            {
                h.Driver.DisableCallbacks();
            }

            while (done < buffers)
            {
                int n = Math.Min(Math.Min(burst, buffers - added), h.Driver.NumFree);
                if (n > 0)
                {
                    for (int i = 0; i < n; i++)
                    {
                        tokens[i] = added + i;
                        segments[i] = slots[(added + i) % size];
                        h.Memory.Write(segments[i].Address, added + i);
                    }

                    Assert.Equal(n, h.Driver.AddBurst(segments, 1, 0, tokens.AsSpan(0, n), out AddResult result));
                    Assert.Equal(AddResult.Added, result);
                    added += n;
                    h.Driver.Kick();
                }

                int got = h.Driver.GetBurst(tokens, lengths);
                for (int i = 0; i < got; i++)
                {
                    Assert.False(seen[tokens[i]], $"token {tokens[i]} completed twice");
                    seen[tokens[i]] = true;
                    Assert.Equal((uint)(tokens[i] % 64), lengths[i]);
                }

                done += got;
                Assert.False(h.Driver.IsBroken, h.Driver.Error?.Message);
                if (deviceError is not null)
                {
                    throw new InvalidOperationException("device thread failed", deviceError);
                }

                if (got == 0 && sleep && done < buffers && h.Driver.NumFree == 0)
                {
                    if (h.Driver.EnableCallbacks())
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
    }

    private static void RunDevice(SplitQueue q, int burst, bool sleep, EventNotifier kick, EventNotifier call, ref int stop)
    {
        var chains = new DescriptorChain[burst];
        var lengths = new uint[burst];
        var tokenBuffer = new byte[4];
        while (Volatile.Read(ref stop) == 0)
        {
            if (sleep)
            {
                q.SetNotification(false);
            }

            int n = q.PopBurst(chains, out PopResult status);
            if (status == PopResult.Broken)
            {
                throw new InvalidOperationException(q.Error!.Message);
            }

            for (int i = 0; i < n; i++)
            {
                // The buffer holds the driver's token: the device completes it with token % 64 bytes, so a swapped or
                // repeated element shows at the driver as a wrong length.
                Assert.Equal(4, chains[i].CopyFromReadable(tokenBuffer, 0));
                lengths[i] = (uint)(BitConverter.ToInt32(tokenBuffer) % 64);
            }

            if (n > 0)
            {
                if (q.PushBurst(chains.AsSpan(0, n), lengths.AsSpan(0, n)))
                {
                    call.Signal();
                }

                continue;
            }

            if (sleep)
            {
                if (!q.EnableNotificationAndRecheck())
                {
                    if (!kick.Wait(WaitMs) && Volatile.Read(ref stop) == 0)
                    {
                        throw new TimeoutException($"device slept {WaitMs} ms: lost kick");
                    }

                    kick.TestAndClear();
                }
            }
            else
            {
                Thread.SpinWait(1);
            }
        }
    }
}
