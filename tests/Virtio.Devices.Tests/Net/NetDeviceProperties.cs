using CsCheck;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Net;

/// <summary>
/// A guest that sends and posts whatever it likes: random frame lengths (runts to oversize), random headers, random
/// descriptor layouts, rx buffers of random sizes (some smaller than the header). Whatever it does, the device never
/// throws, completes every tx chain while it works, delivers only whole frames in the order they were sent, and
/// when it breaks it says why, sets NEEDS_RESET and keeps no chain in flight.
/// </summary>
public class NetDeviceProperties
{
    [Fact]
    public void Random_guests_never_crash_the_device_and_get_whole_frames_in_order()
    {
        Gen.Select(Gen.Bool, NetGen.Step.Array[1, 30]).Sample((mergeable, steps) => Run(mergeable, steps), iter: 300, threads: 1);
    }

    private static void Run(bool mergeable, NetStep[] steps)
    {
        ulong features = mergeable ? NetRig.AllFeatures : NetRig.AllFeatures & ~NetFeature.MrgRxBuf;
        using var rig = new NetRig(features: features, queueSize: 16);
        var sent = new List<byte[]>();
        var received = new List<byte[]>();
        int tx = 0;
        for (int step = 0; step < steps.Length && !rig.NeedsReset; step++)
        {
            NetStep s = steps[step];
            switch (s.Kind)
            {
                case NetStepKind.PostRx:
                    if (rig.Rx().NumFree > 0)
                    {
                        rig.PostRx(1, s.Bytes, segments: s.Segments);
                    }

                    break;
                case NetStepKind.Send:
                    byte[] frame = NetRig.Frame(s.Bytes, seed: step);
                    rig.Send(frame, s.Header, layout: s.Layout, frameSegments: s.Segments);
                    sent.Add(frame);
                    tx++;
                    break;
                default:
                    received.AddRange(rig.Receive().Select(f => f.Frame));
                    break;
            }

            if (!rig.NeedsReset)
            {
                Assert.Equal(tx, rig.ReclaimTx()); // every chain sent so far was completed
                tx = 0;
            }
        }

        if (rig.NeedsReset)
        {
            Assert.NotNull(rig.Device.BrokenReason);
            Assert.All(rig.Device.Queues, q => Assert.Equal(0, q.InFlight));
            return;
        }

        Assert.Null(rig.Device.BrokenReason);
        received.AddRange(rig.Receive().Select(f => f.Frame));

        // Received frames are whole sent frames (a partial checksum is never requested with a default header, and a
        // random header's frame may be dropped or completed), in the order they were sent.
        int at = 0;
        foreach (byte[] frame in received)
        {
            int match = sent.FindIndex(at, s => s.Length == frame.Length);
            Assert.True(match >= 0, $"a {frame.Length}-byte frame arrived that was not sent after the previous one");
            at = match + 1;
        }

        NetStatistics stats = rig.Device.Statistics;
        Assert.Equal(received.Count, stats.RxPackets);
        Assert.True(stats.TxPackets <= sent.Count);
    }
}
