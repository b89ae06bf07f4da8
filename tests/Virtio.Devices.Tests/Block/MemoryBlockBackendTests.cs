using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;
using Virtio.Testing;

namespace Virtio.Devices.Tests.Block;

/// <summary>The sparse in-memory disk.</summary>
public class MemoryBlockBackendTests
{
    private const int Chunk = MemoryBlockBackend.ChunkSize;
    private const ulong OneTiB = 1UL << 40;

    [Fact]
    public void Read_of_never_written_range_returns_zeroes()
    {
        using var disk = new MemoryBlockBackend(OneTiB);
        var read = TestBlockIo.Read(OneTiB / 2, 3000, 1096);
        Array.Fill(read.Segments[0], (byte)0xAA);
        Array.Fill(read.Segments[1], (byte)0xAA);

        disk.Submit(read);

        Assert.Equal(BlockIoStatus.Ok, read.Status);
        Assert.All(read.Data(), b => Assert.Equal(0, b));
        Assert.Equal(0UL, disk.AllocatedBytes);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Random_reads_and_writes_match_a_byte_array_model(int seed)
    {
        // 8 chunks and a bit: requests cross chunk boundaries and the ragged last chunk.
        using var disk = new MemoryBlockBackend((8 * Chunk) + (3 * 512));
        ModelRun.Run(disk, seed, steps: 400, discardReadsZeroes: true);
    }

    [Fact]
    public void A_one_TiB_disk_commits_only_the_chunks_written()
    {
        using var disk = new MemoryBlockBackend(OneTiB);
        ulong[] offsets = [0, OneTiB / 3 / 512 * 512, OneTiB - 512];
        foreach (ulong offset in offsets)
        {
            disk.Submit(TestBlockIo.Write(offset, TestPattern.Bytes(512, (byte)offset)));
        }

        Assert.Equal(3UL * Chunk, disk.AllocatedBytes);
        foreach (ulong offset in offsets)
        {
            var read = TestBlockIo.Read(offset, 512);
            disk.Submit(read);
            Assert.Equal(TestPattern.Bytes(512, (byte)offset), read.Data());
        }

        Assert.True(GC.GetTotalMemory(forceFullCollection: false) < 1L << 30, "a 1 TiB disk must not be backed by its size");
    }

    [Fact]
    public void Writing_zeroes_to_a_hole_commits_nothing()
    {
        using var disk = new MemoryBlockBackend(4 * Chunk);
        disk.Submit(TestBlockIo.Write(0, new byte[2 * Chunk]));
        Assert.Equal(0UL, disk.AllocatedBytes);
    }

    [Fact]
    public void A_write_across_a_chunk_boundary_commits_both_chunks()
    {
        using var disk = new MemoryBlockBackend(4 * Chunk);
        var write = TestBlockIo.Write(Chunk - 512, TestPattern.Bytes(1024, 7));
        disk.Submit(write);

        Assert.Equal(BlockIoStatus.Ok, write.Status);
        Assert.Equal(2UL * Chunk, disk.AllocatedBytes);
        var read = TestBlockIo.Read(Chunk - 512, 1024);
        disk.Submit(read);
        Assert.Equal(TestPattern.Bytes(1024, 7), read.Data());
    }

    [Theory]
    [InlineData(BlockIoKind.Discard, false)]
    [InlineData(BlockIoKind.WriteZeroes, false)]
    [InlineData(BlockIoKind.WriteZeroes, true)]
    public void Zeroing_releases_covered_chunks_and_clears_partial_ones(BlockIoKind kind, bool unmap)
    {
        using var disk = new MemoryBlockBackend(4 * Chunk);
        disk.Submit(TestBlockIo.Write(0, TestPattern.Bytes(4 * Chunk, 1)));
        Assert.Equal(4UL * Chunk, disk.AllocatedBytes);

        // From the middle of chunk 0 to the middle of chunk 3: chunks 1 and 2 go, 0 and 3 are cleared in part.
        var range = new BlockRange(Chunk / 2, 3 * Chunk, unmap);
        var zero = kind == BlockIoKind.Discard ? TestBlockIo.Discard(range) : TestBlockIo.WriteZeroes(range);
        disk.Submit(zero);

        Assert.Equal(BlockIoStatus.Ok, zero.Status);
        Assert.Equal(2UL * Chunk, disk.AllocatedBytes);
        var read = TestBlockIo.Read(0, 4 * Chunk);
        disk.Submit(read);
        byte[] expected = TestPattern.Bytes(4 * Chunk, 1);
        expected.AsSpan(Chunk / 2, 3 * Chunk).Clear();
        Assert.Equal(expected, read.Data());
    }

    [Fact]
    public void Discard_reaching_the_capacity_releases_the_ragged_last_chunk()
    {
        using var disk = new MemoryBlockBackend(Chunk + 1024);
        disk.Submit(TestBlockIo.Write(Chunk, TestPattern.Bytes(1024, 3)));
        Assert.Equal((ulong)Chunk, disk.AllocatedBytes);

        disk.Submit(TestBlockIo.Discard(new BlockRange(Chunk, 1024, false)));

        Assert.Equal(0UL, disk.AllocatedBytes);
    }

    [Fact]
    public void Several_ranges_in_one_request_are_all_zeroed()
    {
        using var disk = new MemoryBlockBackend(2 * Chunk);
        disk.Submit(TestBlockIo.Write(0, TestPattern.Bytes(2 * Chunk, 9)));

        disk.Submit(TestBlockIo.WriteZeroes(new BlockRange(512, 512, false), new BlockRange(Chunk, Chunk, true)));

        var read = TestBlockIo.Read(0, 2 * Chunk);
        disk.Submit(read);
        byte[] expected = TestPattern.Bytes(2 * Chunk, 9);
        expected.AsSpan(512, 512).Clear();
        expected.AsSpan(Chunk, Chunk).Clear();
        Assert.Equal(expected, read.Data());
        Assert.Equal((ulong)Chunk, disk.AllocatedBytes);
    }

    [Fact]
    public void Read_only_disk_refuses_writes_discards_and_write_zeroes_but_reads_and_flushes()
    {
        byte[] image = TestPattern.Bytes(4096, 5);
        using var disk = new MemoryBlockBackend(4096, readOnly: true, image);
        TestBlockIo[] refused =
        [
            TestBlockIo.Write(0, new byte[512]),
            TestBlockIo.Discard(new BlockRange(0, 512, false)),
            TestBlockIo.WriteZeroes(new BlockRange(0, 512, true)),
        ];
        foreach (TestBlockIo io in refused)
        {
            disk.Submit(io);
            Assert.Equal(BlockIoStatus.IoError, io.Status);
        }

        var flush = TestBlockIo.Flush();
        var read = TestBlockIo.Read(0, 4096);
        disk.Submit(flush);
        disk.Submit(read);
        Assert.True(disk.IsReadOnly);
        Assert.Equal(BlockIoStatus.Ok, flush.Status);
        Assert.Equal(image, read.Data());
    }

    [Fact]
    public void Initial_content_reads_back_and_its_zero_chunks_stay_sparse()
    {
        byte[] image = new byte[3 * Chunk];
        TestPattern.Bytes(100, 4).CopyTo(image, 2 * Chunk);
        using var disk = new MemoryBlockBackend(4 * Chunk, initialContent: image);

        var read = TestBlockIo.Read(0, 4 * Chunk);
        disk.Submit(read);

        Assert.Equal((ulong)Chunk, disk.AllocatedBytes);
        Assert.Equal(image.Concat(new byte[Chunk]).ToArray(), read.Data());
    }

    [Fact]
    public void Flush_completes_Ok_inline()
    {
        using var disk = new MemoryBlockBackend(4096);
        var flush = TestBlockIo.Flush();
        disk.Submit(flush);
        Assert.Equal(1, flush.Completions);
        Assert.Equal(BlockIoStatus.Ok, flush.Status);
        Assert.Equal(Environment.CurrentManagedThreadId, flush.CompletionThread);
    }

    [Fact]
    public void Capabilities_are_flush_discard_and_write_zeroes()
    {
        using var disk = new MemoryBlockBackend(4096);
        Assert.Equal(
            BlockBackendCapabilities.Flush | BlockBackendCapabilities.Discard | BlockBackendCapabilities.WriteZeroes,
            disk.Capabilities);
        Assert.Equal(4096UL, disk.Capacity);
    }

    public static TheoryData<string, TestBlockIo> OutOfRangeRequests => new()
    {
        { "read starting at the capacity", TestBlockIo.Read(8192, 512) },
        { "read running past the end", TestBlockIo.Read(7680, 1024) },
        { "write running past the end", TestBlockIo.Write(7680, new byte[512], new byte[512]) },
        { "offset near 2^64", TestBlockIo.Read(ulong.MaxValue - 511, 1024) },
        { "length disagreeing with the segments", TestBlockIo.Raw(BlockIoKind.Read, 0, 512, [new byte[1024]], []) },
        { "range running past the end", TestBlockIo.Discard(new BlockRange(4096, 8192, false)) },
        { "range overflowing 2^64", TestBlockIo.WriteZeroes(new BlockRange(512, ulong.MaxValue, true)) },
    };

    [Theory]
    [MemberData(nameof(OutOfRangeRequests))]
    public void Request_outside_the_capacity_completes_with_IoError_and_touches_nothing(string what, TestBlockIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        using var disk = new MemoryBlockBackend(8192, initialContent: TestPattern.Bytes(8192, 2));
        disk.Submit(io);

        Assert.True(BlockIoStatus.IoError == io.Status, what);
        var read = TestBlockIo.Read(0, 8192);
        disk.Submit(read);
        Assert.Equal(TestPattern.Bytes(8192, 2), read.Data());
    }

    [Fact]
    public void Unknown_request_kind_completes_Unsupported()
    {
        using var disk = new MemoryBlockBackend(4096);
        var io = TestBlockIo.Raw((BlockIoKind)99, 0, 0, [], []);
        disk.Submit(io);
        Assert.Equal(BlockIoStatus.Unsupported, io.Status);
    }

    [Fact]
    public void Request_after_dispose_completes_with_IoError()
    {
        var disk = new MemoryBlockBackend(4096);
        disk.Submit(TestBlockIo.Write(0, TestPattern.Bytes(512, 1)));
        disk.Dispose();

        var read = TestBlockIo.Read(0, 512);
        disk.Submit(read);

        Assert.Equal(BlockIoStatus.IoError, read.Status);
        Assert.Equal(0UL, disk.AllocatedBytes);
    }

    [Theory]
    [InlineData(1000UL)]
    [InlineData(MemoryBlockBackend.MaxCapacity + 512)]
    public void Constructor_rejects_a_capacity_that_is_not_whole_sectors_or_too_large(ulong capacity)
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBlockBackend(capacity));
    }

    [Fact]
    public void Constructor_rejects_initial_content_longer_than_the_capacity()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new MemoryBlockBackend(512, initialContent: new byte[513]));
    }

    [Fact]
    public void Two_threads_writing_disjoint_ranges_of_the_same_chunks_both_land()
    {
        // Interleaved sectors: both threads race to install each chunk, and neither write may be lost.
        const int Sectors = 16 * Chunk / 512;
        using var disk = new MemoryBlockBackend(16 * Chunk);
        using var start = new Barrier(2);
        int errors = 0;
        void Writer(int parity) =>
            RunAfter(start, () =>
            {
                for (int sector = parity; sector < Sectors; sector += 2)
                {
                    var write = TestBlockIo.Write((ulong)sector * 512, TestPattern.Bytes(512, (byte)sector));
                    disk.Submit(write);
                    if (write.Status != BlockIoStatus.Ok)
                    {
                        Interlocked.Increment(ref errors);
                    }
                }
            });

        var a = new Thread(() => Writer(0));
        var b = new Thread(() => Writer(1));
        a.Start();
        b.Start();
        a.Join();
        b.Join();

        Assert.Equal(0, errors);
        Assert.Equal(16UL * Chunk, disk.AllocatedBytes);
        var read = TestBlockIo.Read(0, 16 * Chunk);
        disk.Submit(read);
        byte[] data = read.Data();
        for (int sector = 0; sector < Sectors; sector++)
        {
            Assert.Equal(TestPattern.Bytes(512, (byte)sector), data.AsSpan(sector * 512, 512).ToArray());
        }
    }

    [Fact]
    public void Warm_reads_and_writes_allocate_nothing()
    {
        using var disk = new MemoryBlockBackend(OneTiB);
        var write = TestBlockIo.Write(0, TestPattern.Bytes(700, 1), TestPattern.Bytes(3396, 2), TestPattern.Bytes(4096, 3));
        var read = TestBlockIo.Read(0, 4096, 100, 3996);
        void Cycle(int n)
        {
            for (int i = 0; i < n; i++)
            {
                // Wander over four chunks, crossing their boundaries.
                ulong offset = (ulong)(i % 63) * 4096;
                write.Rearm(offset);
                disk.Submit(write);
                read.Rearm(offset);
                disk.Submit(read);
            }
        }

        Cycle(1000);
        Assert.Equal(0, SteadyState.AllocatedBytes(() => Cycle(10_000)));
        Assert.Equal(BlockIoStatus.Ok, read.Status);
        Assert.Equal(write.Data(), read.Data());
    }

    private static void RunAfter(Barrier start, Action work)
    {
        start.SignalAndWait();
        work();
    }
}
