using Virtio.CrashHost;
using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;
using Xunit.Abstractions;

namespace Virtio.Devices.Tests.Block;

/// <summary>
/// Power loss: the page cache does not survive it, so only what an fsync covered is safe. A recording layer under
/// <see cref="FileBlockBackend"/> logs what reaches the file; <see cref="CrashStateChecker"/> replays every crash
/// state that log allows and checks each FLUSH the driver saw acknowledged kept its promise.
/// </summary>
[Collection("BlkThreads")]
public class PowerLossTests(ITestOutputHelper output)
{
    private const int Sectors = 64;

    [Theory]
    [InlineData(false, 1)]
    [InlineData(true, 2)]
    public void Every_write_acknowledged_before_a_completed_FLUSH_survives_every_crash_state_the_log_allows(bool asynchronous, int seed)
    {
        using var file = new TempFile(Sectors * 512);
        var recorder = new RecordingImageFile(new BlockImageFile(File.OpenHandle(file.Path, FileMode.Open, FileAccess.ReadWrite)));
        var backend = new FileBlockBackend(recorder, readOnly: false, asynchronous);
        var workload = Workload.Run(backend, recorder, seed);
        var checker = new CrashStateChecker(Sectors, seed);

        var violations = checker.Check(recorder.Snapshot(), workload.Promises, workload.Acceptable);

        output.WriteLine($"{recorder.Count} operations logged, {workload.Promises.Count} flushes acknowledged, {checker.StatesChecked} crash states checked");
        Assert.Empty(violations);
        Assert.True(workload.Promises.Count > 10 && checker.StatesChecked > 1000, $"{workload.Promises.Count} flushes, {checker.StatesChecked} states");
        // Write-zeroes reached the file: as holes, or as written zeroes where the file system cannot punch or zero ranges.
        Assert.Contains(recorder.Snapshot(), op => op.Kind == LoggedKind.Zero || (op.Kind == LoggedKind.Write && !op.Data.AsSpan().ContainsAnyExcept((byte)0)));
    }

    [Fact]
    public void The_replay_checker_fails_a_backend_that_acknowledges_FLUSH_without_flushing()
    {
        using var file = new TempFile(Sectors * 512);
        var recorder = new RecordingImageFile(new BlockImageFile(File.OpenHandle(file.Path, FileMode.Open, FileAccess.ReadWrite)));
        var backend = new FlushIgnoringBackend(new FileBlockBackend(recorder, readOnly: false, asynchronous: false));
        var workload = Workload.Run(backend, recorder, seed: 3);

        var violations = new CrashStateChecker(Sectors, 3).Check(recorder.Snapshot(), workload.Promises, workload.Acceptable);

        Assert.NotEmpty(violations);
        Assert.Contains("promised generation", violations[0], StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_write_whose_segments_split_sectors_reaches_the_file_in_whole_sectors(bool asynchronous)
    {
        // Found by the replay checker: one pwrite per segment let a power loss tear a sector the segments split.
        using var file = new TempFile(Sectors * 512);
        var recorder = new RecordingImageFile(new BlockImageFile(File.OpenHandle(file.Path, FileMode.Open, FileAccess.ReadWrite)));
        using var backend = new FileBlockBackend(recorder, readOnly: false, asynchronous);
        byte[] data = new byte[3 * 512];
        new Random(5).NextBytes(data);
        var write = TestBlockIo.Write(1024, data[..300], data[300..310], data[310..1100], data[1100..]);

        backend.Submit(write);

        Assert.True(write.WaitForCompletion(TimeSpan.FromSeconds(30)));
        Assert.Equal(BlockIoStatus.Ok, write.Status);
        LoggedOp[] writes = [.. recorder.Snapshot().Where(op => op.Kind == LoggedKind.Write)];
        Assert.All(writes, op => Assert.True(op.Offset % 512 == 0 && op.Length % 512 == 0, $"pwrite of {op.Length} bytes at {op.Offset}"));
        Assert.Equal(data, File.ReadAllBytes(file.Path).AsSpan(1024, data.Length).ToArray());
    }

    /// <summary>A backend that lies: it acknowledges FLUSH without passing it on, like a disk with a volatile cache that ignores cache flushes.</summary>
    private sealed class FlushIgnoringBackend(IBlockBackend inner) : IBlockBackend
    {
        public ulong Capacity => inner.Capacity;

        public bool IsReadOnly => inner.IsReadOnly;

        public BlockBackendCapabilities Capabilities => inner.Capabilities;

        public void Submit(BlockIo request)
        {
            if (request.Kind == BlockIoKind.Flush)
            {
                request.Complete(BlockIoStatus.Ok);
                return;
            }

            inner.Submit(request);
        }

        public void Dispose() => inner.Dispose();
    }

    /// <summary>
    /// Random writes (stamped with their generation), write-zeroes, discards and flushes through the real device and
    /// the Linux-model driver, up to four in flight and never overlapping, so each sector's history is a sequence.
    /// </summary>
    private sealed class Workload
    {
        private readonly List<(long Generation, bool Zeroes)>[] _history = [.. Enumerable.Range(0, Sectors).Select(_ => new List<(long, bool)>())];

        public List<FlushPromise> Promises { get; } = [];

        public static Workload Run(IBlockBackend backend, RecordingImageFile recorder, int seed)
        {
            var w = new Workload();
            var rng = new Random(seed);
            using var rig = new BlkRig(backend);
            var acked = new long[Sectors];
            var inFlight = new Dictionary<int, (char Kind, long Generation, int Sector, int Count, long[]? Required)>();
            long generation = 1;
            for (int round = 0; round < 200 || inFlight.Count > 0; round++)
            {
                while (round < 200 && inFlight.Count < 4)
                {
                    int roll = rng.Next(100);
                    char kind = roll < 60 ? 'W' : roll < 72 ? 'Z' : roll < 84 ? 'D' : 'F';
                    int count = rng.Next(1, 9);
                    int sector = rng.Next(0, Sectors - count + 1);
                    if (kind != 'F' && inFlight.Values.Any(r => r.Kind != 'F' && sector < r.Sector + r.Count && r.Sector < sector + count))
                    {
                        break;
                    }

                    long gen = generation++;
                    int token;
                    if (kind == 'W')
                    {
                        byte[] data = new byte[count * 512];
                        for (int s = 0; s < count; s++)
                        {
                            SectorStamp.Write(data.AsSpan(s * 512, 512), (ulong)(sector + s), gen);
                        }

                        token = rig.SendWrite((ulong)sector, data, segments: rng.Next(1, 4));
                    }
                    else if (kind == 'F')
                    {
                        token = rig.Send([rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.Flush, 0))], [rig.Buffer(1)]);
                    }
                    else
                    {
                        VirtioBlkRequestType type = kind == 'Z' ? VirtioBlkRequestType.WriteZeroes : VirtioBlkRequestType.Discard;
                        uint flags = kind == 'Z' && rng.Next(2) == 0 ? 1u : 0u; // VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP
                        token = rig.Send([rig.Buffer(16, BlkRig.Header(type, 0)), rig.Buffer(16, BlkRig.Segment((ulong)sector, (uint)count, flags))], [rig.Buffer(1)]);
                    }

                    if (kind != 'F')
                    {
                        for (int s = sector; s < sector + count; s++)
                        {
                            w._history[s].Add((gen, kind != 'W'));
                        }
                    }

                    // A FLUSH promises what was acknowledged before it was submitted (virtio 1.2 5.2.6.4 / Linux's REQ_PREFLUSH).
                    inFlight[token] = (kind, gen, sector, kind == 'F' ? 0 : count, kind == 'F' ? (long[])acked.Clone() : null);
                }

                foreach (var (token, completion) in rig.Collect(1))
                {
                    Assert.Equal(0, completion.Status);
                    var r = inFlight[token];
                    inFlight.Remove(token);
                    if (r.Kind == 'F')
                    {
                        w.Promises.Add(new FlushPromise(recorder.Count, r.Required!));
                    }
                    else if (r.Kind != 'D')
                    {
                        // A discard promises nothing about the contents, so the last requirement stands.
                        for (int s = r.Sector; s < r.Sector + r.Count; s++)
                        {
                            acked[s] = r.Generation;
                        }
                    }
                }
            }

            return w;
        }

        /// <summary>Whether a sector's contents are what the required generation left, or what a later request there left.</summary>
        public bool Acceptable(int sector, long found, long required) =>
            required == 0 || (found == SectorStamp.Zero
                ? _history[sector].Any(h => h.Zeroes && h.Generation >= required)
                : found >= required && _history[sector].Any(h => !h.Zeroes && h.Generation == found));
    }
}
