using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Net;

/// <summary>
/// When the rx queue asks the driver for kicks (QEMU's <c>virtio_net_has_buffers</c>): not while buffers are posted,
/// so refills cost no exit; always when a frame finds too few, so no frame waits for a kick that never comes.
/// </summary>
public class NetRxNotificationTests
{
    private const int MrgBuffer = 1536;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Refills_do_not_kick_while_no_frame_is_waiting_for_a_buffer(bool eventIdx)
    {
        // The guest refills each buffer the device used, as NAPI does. With EVENT_IDX a device that moved avail_event
        // on every pop would make each refill of a drained ring kick; a device with kicks off lets frames find the
        // buffers through its own wake-up, and asks for a kick only when a frame finds none.
        using var rig = new NetRig(features: eventIdx ? NetRig.AllFeatures : NetRig.AllFeatures & ~VirtioFeature.RingEventIdx);
        rig.PostRx(4, MrgBuffer);
        for (int i = 0; i < 4; i++)
        {
            rig.Send(NetRig.Frame(60, seed: i));
        }

        Assert.Equal(4, rig.Receive().Count); // the ring is drained, no frame waits
        long kicks = rig.Rx().KicksSent;
        for (int i = 0; i < 8; i++)
        {
            rig.PostRx(1, MrgBuffer);
            rig.Send(NetRig.Frame(60, seed: 10 + i));
            Assert.Equal(NetRig.Frame(60, seed: 10 + i), Assert.Single(rig.Receive()).Frame);
        }

        Assert.Equal(kicks, rig.Rx().KicksSent);
        Assert.Equal(0, rig.Device.Statistics.Dropped);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_frame_that_finds_no_rx_buffer_waits_and_the_next_refill_kicks_and_delivers_it(bool eventIdx)
    {
        using var rig = new NetRig(features: eventIdx ? NetRig.AllFeatures : NetRig.AllFeatures & ~VirtioFeature.RingEventIdx);
        rig.PostRx(1, MrgBuffer);
        byte[][] frames = [NetRig.Frame(60, 1), NetRig.Frame(60, 2), NetRig.Frame(60, 3)];
        foreach (byte[] f in frames)
        {
            rig.Send(f);
        }

        Assert.Equal(frames[0], Assert.Single(rig.Receive()).Frame); // the other two wait in the backlog
        long kicks = rig.Rx().KicksSent;
        rig.PostRx(2, MrgBuffer);
        Assert.Equal(kicks + 1, rig.Rx().KicksSent); // the device ran short and asked for this refill
        Assert.Equal(frames[1..], rig.Receive().Select(f => f.Frame));
        Assert.Equal(0, rig.Device.Statistics.Dropped);
    }

    [Fact]
    public void Frames_from_another_thread_all_arrive_in_order_while_the_guest_keeps_few_rx_buffers_posted()
    {
        // The backend's thread places frames while the guest's thread refills: every shortage must end in a kick or a
        // re-check that finds the refill, or a frame would wait forever (the deadline turns that into a failure).
        const int Frames = 3000;
        var backend = new NetDeviceHostileTests.CapturingBackend();
        using var rig = new NetRig(backend);
        using var ready = new SemaphoreSlim(0);
        backend.OnReceiveReady = () => ready.Release();
        var sender = Task.Factory.StartNew(
            () =>
            {
                for (int i = 0; i < Frames; i++)
                {
                    byte[] f = NetRig.Frame(60, seed: i);
                    while (!backend.Sink!.TryReceive(0, default, f))
                    {
                        if (!ready.Wait(Timeout))
                        {
                            throw new TimeoutException($"frame {i}: refused and never offered again");
                        }
                    }
                }
            },
            TaskCreationOptions.LongRunning);

        var received = new List<byte[]>();
        long deadline = Environment.TickCount64 + (long)Timeout.TotalMilliseconds;
        while (received.Count < Frames && Environment.TickCount64 < deadline && !sender.IsFaulted)
        {
            received.AddRange(rig.Receive().Select(f => f.Frame));
            int posted = rig.Rx().InFlight;
            if (posted < 3)
            {
                rig.PostRx(3 - posted, MrgBuffer);
            }

            Thread.Yield();
        }

        Assert.True(sender.Wait(Timeout), "the sender did not finish");
        Assert.Equal(Frames, received.Count);
        for (int i = 0; i < Frames; i++)
        {
            Assert.Equal(NetRig.Frame(60, seed: i), received[i]);
        }

        Assert.Equal(0, rig.Device.Statistics.Dropped);
    }
}
