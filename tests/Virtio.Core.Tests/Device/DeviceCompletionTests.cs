using Virtio.Core.Tests.Support;
using Virtio.Device;
using Virtio.Driver;
using Virtio.Rings;

namespace Virtio.Core.Tests.Device;

/// <summary>Asynchronous and out-of-order completion, reset with requests in flight, worker threads.</summary>
[Collection("Threads")]
public class DeviceCompletionTests
{
    private const ulong RingFeatures = VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc;

    [Fact]
    public void Requests_completed_out_of_order_from_another_thread_all_reach_the_driver()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1, 64);
        rig.Device.Hold = true;
        for (int i = 0; i < 40; i++)
        {
            rig.AddRequest(0, i, [(byte)i]);
        }

        rig.Queue(0).Kick();
        Assert.Equal(40, rig.Device.Held.Count);
        Assert.Equal(40, rig.Device.Queues[0].InFlight);
        Assert.Equal(40, rig.Device.Queues[0].GetInFlight().Count);
        var order = rig.Device.Held.OrderBy(h => (h.Chain.Head * 7919) % 41).ToList();
        var completer = new Thread(() =>
        {
            foreach (var (queue, chain) in order)
            {
                Assert.True(queue.Complete(chain, 1));
            }
        });
        completer.Start();
        Assert.True(completer.Join(TimeSpan.FromSeconds(30)));

        var tokens = new List<int>();
        while (rig.Queue(0).TryGetBuffer(out int token, out uint len))
        {
            Assert.Equal(1u, len);
            tokens.Add(token);
        }

        Assert.Equal(Enumerable.Range(0, 40), tokens.Order());
        Assert.NotEqual(Enumerable.Range(0, 40), tokens);
        Assert.Equal(0, rig.Device.Queues[0].InFlight);
        Assert.Empty(rig.Device.Queues[0].GetInFlight());
    }

    [Fact]
    public void Reset_waits_for_requests_in_flight_before_taking_the_rings_away()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1, 16);
        rig.Device.Hold = true;
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        var (queue, chain) = Assert.Single(rig.Device.Held);
        ulong used = queue.Ring.UsedRingAddress;
        var resetter = new Thread(rig.Device.Reset);
        resetter.Start();
        Assert.True(SpinWait.SpinUntil(() => !rig.Device.IsLive, TimeSpan.FromSeconds(30)), "the reset did not start");
        Assert.False(resetter.Join(200), "the reset returned with a request in flight");
        Assert.True(queue.Ring.IsReady); // the rings are still there while the request is out
        queue.Complete(chain, 1);
        Assert.True(resetter.Join(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, queue.StaleCompletions); // completed before the reset went on
        Assert.Equal(1, BitConverter.ToUInt16(rig.Memory.GetSpan(used + 2, 2))); // and published to the used ring
        Assert.False(queue.Ring.IsReady);
    }

    [Fact]
    public void A_completion_after_a_timed_out_reset_is_discarded_and_writes_nothing()
    {
        using var rig = new MmioRig(new VirtioDeviceOptions { ResetDrainTimeout = TimeSpan.FromMilliseconds(20) });
        rig.Driver.Probe(RingFeatures, 1, 16);
        rig.Device.Hold = true;
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        var (queue, chain) = Assert.Single(rig.Device.Held);
        ulong used = queue.Ring.UsedRingAddress;
        rig.Device.Reset();
        byte[] before = rig.Memory.GetSpan(used, 16).ToArray();
        Assert.False(queue.Complete(chain, 1));
        Assert.Equal(1, queue.StaleCompletions);
        Assert.Equal(before, rig.Memory.GetSpan(used, 16).ToArray());
    }

    [Fact]
    public void A_broken_device_writes_no_used_element_for_a_request_completed_late()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1, 16);
        rig.Device.Hold = true;
        rig.AddRequest(0, 1, [1]);
        rig.Queue(0).Kick();
        var (queue, chain) = Assert.Single(rig.Device.Held);
        rig.Device.DeviceError("protocol violation");
        Assert.False(queue.Complete(chain, 1));
        Assert.Equal(0, queue.Ring.UsedIdx);
        Assert.Equal(0, queue.InFlight);
    }

    [Fact]
    public void A_status_byte_the_device_found_is_written_for_a_current_chain_and_completes_it()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1, 16);
        rig.Device.Hold = true;
        ulong inAddr = rig.AddRequest(0, 7, [0xAA]);
        rig.Queue(0).Kick();
        var (queue, chain) = Assert.Single(rig.Device.Held);
        Assert.True(queue.CompleteWithStatus(chain, 1, 0x5C, rig.Memory.GetSpan(inAddr, 1)));
        Assert.Equal(0x5C, rig.Memory.GetSpan(inAddr, 1)[0]);
        Assert.True(rig.Queue(0).TryGetBuffer(out int token, out uint len));
        Assert.Equal((7, 1u), (token, len));
    }

    [Fact]
    public void A_status_byte_the_device_found_is_not_written_for_a_chain_popped_before_a_reset()
    {
        using var rig = new MmioRig(new VirtioDeviceOptions { ResetDrainTimeout = TimeSpan.FromMilliseconds(20) });
        rig.Driver.Probe(RingFeatures, 1, 16);
        rig.Device.Hold = true;
        ulong inAddr = rig.AddRequest(0, 1, [0xAA]);
        rig.Memory.GetSpan(inAddr, 1)[0] = 0xAA;
        rig.Queue(0).Kick();
        var (queue, chain) = Assert.Single(rig.Device.Held);
        rig.Device.Reset();
        Assert.False(queue.CompleteWithStatus(chain, 1, 0x5C, rig.Memory.GetSpan(inAddr, 1)));
        Assert.Equal(0xAA, rig.Memory.GetSpan(inAddr, 1)[0]); // untouched
        Assert.Equal(1, queue.StaleCompletions);
    }

    [Fact]
    public void A_status_byte_of_other_than_one_byte_is_refused()
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(RingFeatures, 1, 16);
        rig.Device.Hold = true;
        ulong inAddr = rig.AddRequest(0, 1, [0xAA, 0xBB]);
        rig.Queue(0).Kick();
        var (queue, chain) = Assert.Single(rig.Device.Held);
        Assert.Throws<ArgumentException>(() => queue.CompleteWithStatus(chain, 2, 0, rig.Memory.GetSpan(inAddr, 2)));
        Assert.Throws<ArgumentException>(() => queue.CompleteWithStatus(chain, 2, 0, Span<byte>.Empty));
        Assert.Equal(1, queue.InFlight); // nothing was completed
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Worker_threads_serve_a_driver_on_another_thread(bool eventIdx)
    {
        using var rig = new MmioRig(new VirtioDeviceOptions { Processing = QueueProcessing.Worker, QueueSize = 16 });
        rig.Driver.Probe(eventIdx ? VirtioFeature.RingEventIdx : 0, 1, 16);
        DriverQueue<int> q = rig.Queue(0);
        GuestSegment outSeg = new(rig.Driver.Allocate(64), 64);
        GuestSegment inSeg = new(rig.Driver.Allocate(64), 64);
        const int total = 20_000;
        int sent = 0, received = 0;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (received < total && DateTime.UtcNow < deadline)
        {
            while (sent < total && q.Add([outSeg], [inSeg], sent) == AddResult.Added)
            {
                sent++;
            }

            q.Kick();
            if (!rig.Device.Interrupt.Wait(1000))
            {
                continue;
            }

            rig.Device.Interrupt.TestAndClear();
            rig.Driver.TakeInterrupt();
            do
            {
                while (q.TryGetBuffer(out int token, out _))
                {
                    Assert.Equal(received, token);
                    received++;
                }
            }
            while (!q.EnableCallbacks());
        }

        Assert.Equal(total, received);
    }
}
