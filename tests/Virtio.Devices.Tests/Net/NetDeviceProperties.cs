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
    private static readonly int[] FrameLengths = [1, 13, 14, 60, 64, 1514, 1524, 1525, 3000, 9000, VirtioNetDevice.MaxFrameLength, VirtioNetDevice.MaxFrameLength + 1];
    private static readonly int[] RxBytes = [12, 13, 76, 100, 1536, 1536, 3000, 9100];

    [Fact]
    public void Random_guests_never_crash_the_device_and_get_whole_frames_in_order()
    {
        Gen.Select(Gen.Bool, Gen.Int).Sample((mergeable, seed) => Run(mergeable, seed), iter: 300, threads: 1);
    }

    private static void Run(bool mergeable, int seed)
    {
        var rnd = new Random(seed);
        ulong features = mergeable ? NetRig.AllFeatures : NetRig.AllFeatures & ~NetFeature.MrgRxBuf;
        using var rig = new NetRig(features: features, queueSize: 16);
        var sent = new List<byte[]>();
        var received = new List<byte[]>();
        int tx = 0;
        for (int step = 0; step < 30 && !rig.NeedsReset; step++)
        {
            switch (rnd.Next(3))
            {
                case 0:
                    int bytes = rnd.Next(25) == 0 ? rnd.Next(1, VirtioNetHeader.Size) : RxBytes[rnd.Next(RxBytes.Length)]; // sometimes too small
                    if (rig.Rx().NumFree > 0)
                    {
                        rig.PostRx(1, bytes, segments: rnd.Next(1, 4));
                    }

                    break;
                case 1:
                    int length = FrameLengths[rnd.Next(FrameLengths.Length)];
                    byte[] frame = NetRig.Frame(length, seed: step);
                    VirtioNetHeader header = rnd.Next(3) == 0 ? RandomHeader(rnd) : default;
                    rig.Send(frame, header, layout: (TxLayout)rnd.Next(3), frameSegments: rnd.Next(1, 4));
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
            Assert.True(match >= 0, $"seed {seed}: a {frame.Length}-byte frame arrived that was not sent after the previous one");
            at = match + 1;
        }

        NetStatistics stats = rig.Device.Statistics;
        Assert.Equal(received.Count, stats.RxPackets);
        Assert.True(stats.TxPackets <= sent.Count);
    }

    private static VirtioNetHeader RandomHeader(Random rnd) => new()
    {
        Flags = (NetHeaderFlags)rnd.Next(256),
        GsoType = (NetGsoType)rnd.Next(256),
        HeaderLength = (ushort)rnd.Next(65536),
        GsoSize = (ushort)rnd.Next(3),
        ChecksumStart = (ushort)rnd.Next(100),
        ChecksumOffset = (ushort)rnd.Next(20),
        BufferCount = (ushort)rnd.Next(65536),
    };
}
