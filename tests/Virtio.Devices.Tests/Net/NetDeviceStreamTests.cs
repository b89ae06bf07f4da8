using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Net;

/// <summary>Two virtio-net devices, each on a stream backend, wired by a real Unix socket (QEMU's <c>-netdev stream</c> framing), one of them tapped to pcap.</summary>
public class NetDeviceStreamTests
{
    [Fact]
    public async Task Frames_cross_a_unix_socket_between_two_devices_and_are_captured()
    {
        using var sockets = new UnixSocketPair();
        await using var left = StreamNetBackend.FromSocket(sockets.Left);
        await using var right = StreamNetBackend.FromSocket(sockets.Right);
        var capture = new MemoryStream();
        using var tap = new PcapNetBackend(left, capture, leaveOpen: true);
        var worker = new VirtioDeviceOptions { Processing = QueueProcessing.Worker };
        using var a = new NetRig(tap, options: worker);
        using var b = new NetRig(right, new VirtioNetDeviceOptions { MacAddress = System.Net.NetworkInformation.PhysicalAddress.Parse("52-54-00-12-34-57") }, options: worker);
        Assert.Equal(0ul, a.Device.DriverFeatures & NetFeature.Offloads); // the stream carries no virtio header: no offloads offered
        a.PostRx(64, 1536);
        b.PostRx(64, 1536);

        byte[][] toB = [.. new[] { 60, 1514, 9000 }.Select(n => NetRig.Frame(n, seed: n, destination: [0x52, 0x54, 0x00, 0x12, 0x34, 0x57]))];
        byte[] toA = NetRig.Frame(100, seed: 7);
        foreach (byte[] f in toB)
        {
            a.Send(f);
        }

        b.Send(toA);
        List<RxFrame> atB = await Until(() => b.Receive(), toB.Length);
        List<RxFrame> atA = await Until(() => a.Receive(), 1);
        Assert.Equal(toB, atB.Select(r => r.Frame));
        Assert.Equal(toA, Assert.Single(atA).Frame);

        tap.Flush();
        Assert.Equal(4, tap.FramesCaptured);
        Assert.Equal(24 + (4 * 16) + toB.Sum(f => f.Length) + toA.Length, capture.Length); // global header, 4 records
    }

    private static async Task<List<RxFrame>> Until(Func<List<RxFrame>> receive, int count)
    {
        var got = new List<RxFrame>();
        DateTime deadline = DateTime.UtcNow.AddSeconds(30);
        while (got.Count < count && DateTime.UtcNow < deadline)
        {
            got.AddRange(receive());
            await Task.Delay(1);
        }

        return got;
    }
}
