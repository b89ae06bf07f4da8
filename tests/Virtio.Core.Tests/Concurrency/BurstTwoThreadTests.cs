using Virtio.Driver;
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
    [Theory]
    [InlineData(true, 256, 32, false, 500_000)]
    [InlineData(false, 256, 32, false, 500_000)]
    [InlineData(true, 64, 7, true, 200_000)]
    [InlineData(true, 8, 8, true, 100_000)]
    public void Every_buffer_completes_exactly_once_through_bursts(bool eventIdx, int size, int burst, bool sleep, int buffers)
    {
        using var h = new RingHarness(size, eventIdx);
        // In-flight tokens form a window of at most `size` (both sides complete in order), so token t owns slot t % size.
        GuestSegment[] slots = [.. Enumerable.Range(0, size).Select(_ => h.Buffer(4))];
        var segments = new GuestSegment[burst];
        var seen = new bool[buffers];
        using var rig = new TwoThreadRing(h, sleep, r => RunDevice(r, burst, sleep));
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
            rig.ThrowIfFailed();
            if (got == 0 && sleep && done < buffers && h.Driver.NumFree == 0)
            {
                rig.DriverSleep(h.Driver.EnableCallbacks, $"done {done} of {buffers}");
            }
        }

        rig.StopAndAssertDrained();
        Assert.DoesNotContain(false, seen);
    }

    private static void RunDevice(TwoThreadRing rig, int burst, bool sleep)
    {
        SplitQueue q = rig.Harness.Device;
        var chains = new DescriptorChain[burst];
        var lengths = new uint[burst];
        var tokenBuffer = new byte[4];
        while (!rig.Stopping)
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
                    rig.CallChannel.Signal();
                }
            }
            else if (sleep)
            {
                rig.DeviceSleep(q, "burst device");
            }
            else
            {
                Thread.SpinWait(1);
            }
        }
    }
}
