using Virtio.Devices.Block;

namespace Virtio.Devices.Tests.Support;

/// <summary>
/// Drives a backend with seeded random requests and checks every read against a plain byte array that models the disk.
/// Offsets are sector aligned, as the device sends them; segment layouts are arbitrary, as a guest's descriptors are.
/// </summary>
internal static class ModelRun
{
    /// <param name="backend">A writable backend whose content is all zeroes and whose capacity fits in an array.</param>
    /// <param name="seed">Replays a run.</param>
    /// <param name="steps">Requests to send.</param>
    /// <param name="discardReadsZeroes">Whether discarded ranges must read back as zeroes (else discard is not sent).</param>
    public static void Run(IBlockBackend backend, int seed, int steps, bool discardReadsZeroes)
    {
        var rng = new Random(seed);
        byte[] model = new byte[checked((int)backend.Capacity)];
        int sectors = model.Length / 512;
        for (int step = 0; step < steps; step++)
        {
            int op = rng.Next(discardReadsZeroes ? 5 : 4);
            int start = rng.Next(sectors) * 512;
            int length = Math.Min(model.Length - start, rng.Next(1, 300) * 512);
            switch (op)
            {
                case 0 or 1:
                    byte[][] segments = Split(rng, length, fill: true);
                    Submit(backend, TestBlockIo.Write((ulong)start, segments), step, seed);
                    int at = start;
                    foreach (byte[] s in segments)
                    {
                        s.CopyTo(model, at);
                        at += s.Length;
                    }

                    break;
                case 2:
                    var read = TestBlockIo.Read((ulong)start, [.. Split(rng, length, fill: false).Select(s => s.Length)]);
                    Submit(backend, read, step, seed);
                    Assert.True(
                        model.AsSpan(start, length).SequenceEqual(read.Data()),
                        $"seed {seed} step {step}: read of {length} bytes at {start} differs from the model");
                    break;
                default:
                    BlockRange[] ranges = [.. Enumerable.Range(0, rng.Next(1, 4)).Select(_ =>
                    {
                        int o = rng.Next(sectors) * 512;
                        return new BlockRange((ulong)o, (ulong)Math.Min(model.Length - o, rng.Next(1, 400) * 512), rng.Next(2) == 0);
                    })];
                    Submit(backend, op == 3 ? TestBlockIo.WriteZeroes(ranges) : TestBlockIo.Discard(ranges), step, seed);
                    foreach (BlockRange r in ranges)
                    {
                        model.AsSpan((int)r.Offset, (int)r.Length).Clear();
                    }

                    break;
            }
        }

        var whole = TestBlockIo.Read(0, model.Length);
        Submit(backend, whole, steps, seed);
        Assert.True(model.AsSpan().SequenceEqual(whole.Data()), $"seed {seed}: final disk content differs from the model");
    }

    /// <summary>Splits a length into 1..4 segments of random, not necessarily sector-sized, lengths.</summary>
    public static byte[][] Split(Random rng, int length, bool fill)
    {
        int count = Math.Min(length, rng.Next(1, 5));
        var cuts = Enumerable.Range(0, count - 1).Select(_ => rng.Next(1, length)).Distinct().Order().ToList();
        cuts.Add(length);
        var segments = new byte[cuts.Count][];
        int previous = 0;
        for (int i = 0; i < cuts.Count; i++)
        {
            segments[i] = new byte[cuts[i] - previous];
            if (fill)
            {
                rng.NextBytes(segments[i]);
            }

            previous = cuts[i];
        }

        return segments;
    }

    private static void Submit(IBlockBackend backend, TestBlockIo io, int step, int seed)
    {
        backend.Submit(io);
        Assert.True(io.WaitForCompletion(TimeSpan.FromSeconds(10)), $"seed {seed} step {step}: request never completed");
        Assert.Equal(1, io.Completions);
        Assert.Equal(BlockIoStatus.Ok, io.Status);
    }
}
