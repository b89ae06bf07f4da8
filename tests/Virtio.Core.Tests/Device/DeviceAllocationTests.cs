using Virtio.Core.Tests.Support;
using Virtio.Device;
using Virtio.Driver;
using Virtio.Testing;

namespace Virtio.Core.Tests.Device;

/// <summary>The request path through virtio-mmio (add, QueueNotify, handler, complete, interrupt, get) allocates nothing.</summary>
[Collection("Threads")]
public class DeviceAllocationTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Mmio_round_trip_allocates_nothing_after_warm_up(bool eventIdx)
    {
        using var rig = new MmioRig();
        rig.Driver.Probe(eventIdx ? VirtioFeature.RingEventIdx : 0, 1, 64);
        DriverQueue<int> q = rig.Queue(0);
        GuestSegment[] outs = [new(rig.Driver.Allocate(64), 64)];
        GuestSegment[] ins = [new(rig.Driver.Allocate(64), 64)];
        int Loop(int n)
        {
            int bad = 0;
            for (int i = 0; i < n; i++)
            {
                bad += q.Add(outs, ins, i) == AddResult.Added ? 0 : 1;
                q.Kick();
                rig.Driver.TakeInterrupt();
                bad += q.TryGetBuffer(out int token, out uint len) && token == i && len == 64 ? 0 : 1;
            }

            return bad;
        }

        Assert.Equal(0, Loop(1000));
        int bad = 0;
        long allocated = SteadyState.AllocatedBytes(() => bad += Loop(10_000));
        Assert.Equal(0, bad);
        Assert.Equal(0, allocated);
    }
}
