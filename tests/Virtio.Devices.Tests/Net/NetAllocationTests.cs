using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Testing;

namespace Virtio.Devices.Tests.Net;

/// <summary>The tx and rx paths over loopback allocate nothing per frame once warm: measured, not assumed.</summary>
public class NetAllocationTests
{
    [Theory]
    [InlineData(true, 64)]
    [InlineData(false, 64)]
    [InlineData(true, 9000)]
    public void Loopback_tx_and_rx_allocate_nothing_per_frame(bool mergeable, int frameLength)
    {
        ulong features = mergeable ? NetRig.AllFeatures : NetRig.AllFeatures & ~NetFeature.MrgRxBuf;
        using var rig = new NetRig(features: features, queueSize: 64);
        int bufferBytes = mergeable ? 1536 : VirtioNetHeader.Size + frameLength;
        int perFrame = mergeable ? (VirtioNetHeader.Size + frameLength + bufferBytes - 1) / bufferBytes : 1;
        GuestSegment[] rx = [.. Enumerable.Range(0, perFrame).Select(_ => rig.Buffer(bufferBytes))];
        byte[] packet = new byte[VirtioNetHeader.Size + frameLength];
        NetRig.Frame(frameLength).CopyTo(packet, VirtioNetHeader.Size);
        GuestSegment[] tx = [rig.Buffer(packet.Length, packet)];
        DriverQueue<int> rxq = rig.Rx();
        DriverQueue<int> txq = rig.Tx();

        int Loop(int n)
        {
            int bad = 0;
            for (int i = 0; i < n; i++)
            {
                for (int b = 0; b < rx.Length; b++)
                {
                    bad += rxq.Add(ReadOnlySpan<GuestSegment>.Empty, rx.AsSpan(b, 1), b) == AddResult.Added ? 0 : 1;
                }

                rxq.Kick();
                bad += txq.Add(tx, ReadOnlySpan<GuestSegment>.Empty, i) == AddResult.Added ? 0 : 1;
                txq.Kick();
                bad += txq.TryGetBuffer(out int token, out _) && token == i ? 0 : 1;
                for (int b = 0; b < rx.Length; b++)
                {
                    bad += rxq.TryGetBuffer(out _, out uint len) && len > 0 ? 0 : 1;
                }
            }

            return bad;
        }

        Assert.Equal(0, Loop(1000));
        int bad = 0;
        long allocated = SteadyState.AllocatedBytes(() => bad += Loop(20_000));
        Assert.Equal(0, bad);
        Assert.Equal(0, allocated);
        Assert.Equal(1_000, rig.Device.Statistics.RxPackets % 20_000); // the warm-up and every measured run came back whole
        Assert.Equal(0, rig.Device.Statistics.Dropped);
    }
}
