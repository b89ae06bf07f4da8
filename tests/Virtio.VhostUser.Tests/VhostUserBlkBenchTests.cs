using Virtio.Devices.Block;

namespace Virtio.VhostUser.Tests;

public sealed class VhostUserBlkBenchTests
{
    private static T WithServer<T>(Func<string, VhostUserBackend, T> run)
    {
        string path = Path.Combine(Path.GetTempPath(), $"vhost-bench-{Environment.ProcessId}-{Guid.NewGuid():N}.sock");
        using var backend = new VhostUserBackend(memory => new BlockDevice(memory, new MemoryBlockBackend(64 << 20)));
        using var listening = new ManualResetEventSlim();
        using var stop = new CancellationTokenSource();
        var server = new Thread(() => VhostUserServer.Listen(backend, path, onListening: listening.Set, cancellationToken: stop.Token));
        server.Start();
        Assert.True(listening.Wait(TimeSpan.FromSeconds(30)));
        T result = run(path, backend);
        stop.Cancel();
        Assert.True(server.Join(TimeSpan.FromSeconds(30)));
        return result;
    }

    [Fact]
    public void The_bench_completes_every_read_against_serve_blk()
    {
        VhostUserBlkBenchResult r = WithServer((path, _) => VhostUserBlkBench.Run(path, new VhostUserBlkBenchOptions { Requests = 5000, WarmupRequests = 500 }));
        Assert.Equal(5000, r.Requests);
        Assert.Equal(0, r.Errors);
        Assert.True(r.EventIdx);
        Assert.InRange(r.Kicks, 1, 5000);
    }

    [Fact]
    public void The_bench_with_an_inflight_region_completes_every_read_and_leaves_none_in_flight()
    {
        VhostUserBlkBenchResult r = WithServer((path, _) =>
            VhostUserBlkBench.Run(path, new VhostUserBlkBenchOptions { Requests = 5000, WarmupRequests = 500, Inflight = true }));
        Assert.True(r.Inflight);
        Assert.Equal(5000, r.Requests);
        Assert.Equal(0, r.Errors);
    }

    [Fact]
    public void Front_end_shares_an_inflight_region_the_back_end_records_in()
    {
        // GET_INFLIGHT_FD answers with a memfd sized for one queue of 128, and SET_INFLIGHT_FD takes it back (acked).
        WithServer((path, backend) =>
        {
            using VhostUserFrontEnd fe = VhostUserFrontEnd.Connect(path);
            fe.Negotiate(0, VhostUserProtocolFeature.ReplyAck | VhostUserProtocolFeature.InflightShmfd);
            using Virtio.VhostUser.Interop.FileDescriptor region = fe.SetUpInflight(1, 128);
            Assert.Equal(InflightSplitQueue.RegionSize(128), Virtio.VhostUser.Interop.SharedMemory.FileSize(region.Value));
            return 0;
        });
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Reads_through_the_back_end_and_the_front_end_allocate_nothing_per_request(bool inflight)
    {
        // The device side (the kick thread: kick, pop, blk parse, memory read, used push, call write) and the driver
        // side (this thread: add, kick decision, get), each measured on its own thread after a warm-up connection.
        const int Requests = 200_000;
        (long device, long driver) = WithServer((path, backend) =>
        {
            VhostUserBlkBench.Run(path, new VhostUserBlkBenchOptions { Requests = 1, WarmupRequests = 50_000, Inflight = inflight });
            var options = new VhostUserBlkBenchOptions { Requests = Requests, WarmupRequests = 1, Inflight = inflight };
            long deviceBefore = backend.KickThreadAllocatedBytes, driverBefore = GC.GetAllocatedBytesForCurrentThread();
            VhostUserBlkBench.Run(path, options);
            return (backend.KickThreadAllocatedBytes - deviceBefore, GC.GetAllocatedBytesForCurrentThread() - driverBefore);
        });

        // Zero per request: a one-off (a late tier-up of a rare path has been seen at 32 bytes) stays far below what a
        // single 8-byte object per request would cost (1.6 MB).
        Assert.True(device < 1024, $"the kick thread allocated {device} bytes for {Requests} requests");
        Assert.True(driver < 64 * 1024, $"the driver thread allocated {driver} bytes: more than its connection set-up");
    }
}
