using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;
using Virtio.Driver;
using Virtio.Testing;

namespace Virtio.Devices.Tests.Block;

/// <summary>Data integrity through the whole stack, durability, out-of-order completion, reset and allocation.</summary>
[Collection("BlkThreads")]
public class BlockDeviceIntegrityTests
{
    private const ulong DiskBytes = 4 << 20;

    public static TheoryData<string, int> Backends => new() { { "memory", 1 }, { "memory", 2 }, { "file", 1 }, { "file-async", 2 } };

    [Theory]
    [MemberData(nameof(Backends))]
    public void Random_writes_then_reads_match_a_byte_array_model(string backend, int seed)
    {
        using var file = new TempFile();
        IBlockBackend b = backend switch
        {
            "memory" => new MemoryBlockBackend(DiskBytes),
            _ => new FileBlockBackend(new FileBlockBackendOptions { Path = file.Path, CreateSize = DiskBytes, Asynchronous = backend == "file-async" }),
        };
        using var rig = new BlkRig(b, queueSize: 64);
        var model = new byte[DiskBytes];
        var rng = new Random(seed);
        for (int round = 0; round < 20; round++)
        {
            // Up to 16 requests in flight at once, then collect them all (completions may come back in any order).
            var reads = new Dictionary<int, (ulong Sector, int Length)>();
            int sent = 0;
            for (int i = 0; i < 16; i++)
            {
                int sectors = rng.Next(1, 17);
                ulong sector = (ulong)rng.Next(0, (int)(DiskBytes / 512) - sectors);
                int segments = rng.Next(1, 6);
                if (rng.Next(2) == 0)
                {
                    byte[] data = new byte[sectors * 512];
                    rng.NextBytes(data);
                    // Writes in one batch must not overlap each other or pending reads: the order is the backend's.
                    if (reads.Values.Any(r => Overlaps(r.Sector, r.Length, sector, data.Length)))
                    {
                        continue;
                    }

                    rig.SendWrite(sector, data, segments);
                    data.CopyTo(model, (int)sector * 512);
                    reads[-1 - i] = (sector, data.Length); // reserve the range
                }
                else
                {
                    if (reads.Values.Any(r => Overlaps(r.Sector, r.Length, sector, sectors * 512)))
                    {
                        continue;
                    }

                    int token = rig.SendRead(sector, sectors * 512, segments);
                    reads[token] = (sector, sectors * 512);
                }

                sent++;
            }

            // Snapshot of the model as it will be once every write of the batch landed.
            var done = rig.Collect(sent);
            Assert.Equal(sent, done.Count);
            foreach (var (token, c) in done)
            {
                Assert.Equal(0, c.Status);
                if (reads.TryGetValue(token, out var r))
                {
                    Assert.Equal(model.AsSpan((int)r.Sector * 512, r.Length).ToArray(), c.Data);
                }
            }
        }

        Assert.Equal(model.AsSpan(0, 65536).ToArray(), rig.Read(0, 65536, segments: 4));
    }

    [Fact]
    public void Write_and_flush_to_a_file_survive_dispose_and_reopen()
    {
        using var file = new TempFile();
        byte[] data = BlockDeviceTests.TestData(8192, 7);
        using (var rig = new BlkRig(new FileBlockBackend(new FileBlockBackendOptions { Path = file.Path, CreateSize = DiskBytes })))
        {
            rig.Write(16, data, segments: 3);
            var flush = rig.Run(rig.Send([rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.Flush, 0))], [rig.Buffer(1)]));
            Assert.Equal(0, flush.Status);
        }

        using var again = new BlkRig(new FileBlockBackend(new FileBlockBackendOptions { Path = file.Path }));
        Assert.Equal(DiskBytes / 512, again.Device.CapacitySectors);
        Assert.Equal(data, again.Read(16, 8192));
    }

    [Fact]
    public void Requests_completed_out_of_order_by_the_backend_are_each_acknowledged_once_with_their_own_data()
    {
        var held = new HeldBlockBackend(new MemoryBlockBackend(DiskBytes));
        using var rig = new BlkRig(held, queueSize: 64);
        held.Holding = false;
        for (int i = 0; i < 48; i++)
        {
            rig.Write((ulong)i, Enumerable.Repeat((byte)i, 512).ToArray());
        }

        held.Holding = true;
        var tokens = Enumerable.Range(0, 48).Select(i => rig.SendRead((ulong)i, 512)).ToList();
        Assert.Equal(48, held.HeldCount);
        Assert.Equal(48, rig.Device.Queues[0].InFlight);
        Assert.Empty(rig.Collect(1, timeoutMs: 50));
        held.ReleaseShuffled(new Random(3));
        var done = rig.Collect(48);
        Assert.Equal(48, done.Count);
        for (int i = 0; i < 48; i++)
        {
            Assert.Equal(Enumerable.Repeat((byte)i, 512), done[tokens[i]].Data);
        }
    }

    [Fact]
    public void Reset_with_a_stalled_backend_gives_up_after_the_timeout_and_the_late_completion_writes_nothing()
    {
        var held = new HeldBlockBackend(new MemoryBlockBackend(DiskBytes));
        var options = new BlockDeviceOptions { Device = new VirtioDeviceOptions { ResetDrainTimeout = TimeSpan.FromMilliseconds(30) } };
        using var rig = new BlkRig(held, options);
        int token = rig.SendRead(0, 512);
        Assert.Equal(1, held.HeldCount);
        ulong used = rig.Device.Queues[0].Ring.UsedRingAddress;
        rig.Device.Reset();
        byte[] usedBefore = rig.Memory.GetSpan(used, 16).ToArray();
        held.ReleaseAll();
        Assert.Equal(usedBefore, rig.Memory.GetSpan(used, 16).ToArray());
        Assert.Equal(1, rig.Device.Queues[0].StaleCompletions);
        _ = token;
    }

    [Fact]
    public void The_read_path_with_the_memory_backend_allocates_nothing_per_request()
    {
        using var rig = new BlkRig(new MemoryBlockBackend(DiskBytes), queueSize: 64);
        var q = rig.Driver.Queues[0];
        GuestSegment[] readHdr = [rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.In, 8))];
        GuestSegment[] writeHdr = [rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.Out, 8)), rig.Buffer(4096)];
        GuestSegment[] readIn = [rig.Buffer(4096), rig.Buffer(1)];
        GuestSegment[] status = [rig.Buffer(1)];
        rig.Write(8, new byte[4096]); // the backend's chunk exists
        int Loop(int n)
        {
            int bad = 0;
            for (int i = 0; i < n; i++)
            {
                bad += q.Add(readHdr, readIn, i) == AddResult.Added ? 0 : 1;
                bad += q.Add(writeHdr, status, i) == AddResult.Added ? 0 : 1;
                q.Kick();
                bad += q.TryGetBuffer(out _, out uint len) && len == 4097 ? 0 : 1;
                bad += q.TryGetBuffer(out _, out _) ? 0 : 1;
            }

            return bad;
        }

        Assert.Equal(0, Loop(1000));
        int bad = 0;
        long allocated = SteadyState.AllocatedBytes(() => bad += Loop(10_000));
        Assert.Equal(0, bad);
        Assert.Equal(0, allocated);
    }

    private static bool Overlaps(ulong aSector, int aLength, ulong bSector, int bLength) =>
        aSector * 512 < (bSector * 512) + (ulong)bLength && (bSector * 512) < (aSector * 512) + (ulong)aLength;
}
