using Microsoft.Win32.SafeHandles;
using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Block;

/// <summary>The disk image file backend.</summary>
public class FileBlockBackendTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(3, true)]
    [InlineData(4, true)]
    public void Random_reads_and_writes_match_a_byte_array_model(int seed, bool asynchronous)
    {
        using var file = new TempFile();
        using var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 1 << 20, Asynchronous = asynchronous });
        ModelRun.Run(disk, seed, steps: 200, discardReadsZeroes: false);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(6)]
    public void Random_requests_match_the_model_without_fallocate(int seed)
    {
        using var file = new TempFile();
        using var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 1 << 20 }) { UseFallocate = false };
        ModelRun.Run(disk, seed, steps: 200, discardReadsZeroes: false);
    }

    [Fact]
    public void Flush_outside_a_request_succeeds_on_an_open_file()
    {
        using var file = new TempFile();
        using IBlockBackend disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 64 * 1024 });
        Assert.Equal(BlockIoStatus.Ok, disk.Flush());
    }

    [Fact]
    public void Flush_outside_a_request_fails_after_dispose()
    {
        using var file = new TempFile();
        IBlockBackend disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 64 * 1024 });
        disk.Dispose();
        Assert.Equal(BlockIoStatus.IoError, disk.Flush());
    }

    [Fact]
    public void Data_survives_flush_dispose_and_reopen()
    {
        using var file = new TempFile();
        byte[] data = TestPattern.Bytes(8192, 11);
        using (var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 64 * 1024 }))
        {
            var write = TestBlockIo.Write(4096, data[..1000], data[1000..]);
            var flush = TestBlockIo.Flush();
            disk.Submit(write);
            disk.Submit(flush);
            Assert.Equal(BlockIoStatus.Ok, write.Status);
            Assert.Equal(BlockIoStatus.Ok, flush.Status);
        }

        using var reopened = new FileBlockBackend(new() { Path = file.Path, ReadOnly = true });
        var read = TestBlockIo.Read(4096, 8192);
        reopened.Submit(read);
        Assert.Equal(BlockIoStatus.Ok, read.Status);
        Assert.Equal(data, read.Data());
        Assert.Equal(data, File.ReadAllBytes(file.Path).AsSpan(4096, 8192).ToArray());
    }

    [Fact]
    public void Capacity_is_the_file_length_rounded_down_to_512()
    {
        using var file = new TempFile(length: 5000);
        using var disk = new FileBlockBackend(new() { Path = file.Path });
        Assert.Equal(4608UL, disk.Capacity);
        Assert.False(disk.IsReadOnly);
        Assert.Equal(
            BlockBackendCapabilities.Flush | BlockBackendCapabilities.Discard | BlockBackendCapabilities.WriteZeroes,
            disk.Capabilities);
    }

    [Fact]
    public void CreateSize_creates_a_zeroed_file_of_that_size()
    {
        using var file = new TempFile();
        using var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 1UL << 30 });

        var read = TestBlockIo.Read((1UL << 30) - 4096, 4096);
        disk.Submit(read);

        Assert.Equal(1UL << 30, disk.Capacity);
        Assert.Equal(1L << 30, new FileInfo(file.Path).Length);
        Assert.All(read.Data(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void CreateSize_never_truncates_a_longer_file()
    {
        using var file = new TempFile(length: 8192);
        using var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 4096 });
        Assert.Equal(8192UL, disk.Capacity);
    }

    [Fact]
    public void Options_reject_creating_a_read_only_disk_or_a_ragged_size()
    {
        using var file = new TempFile();
        Assert.Throws<ArgumentException>(() => new FileBlockBackend(new() { Path = file.Path, ReadOnly = true, CreateSize = 4096 }));
        Assert.Throws<ArgumentException>(() => new FileBlockBackend(new() { Path = file.Path, CreateSize = 1000 }));
        Assert.False(File.Exists(file.Path));
    }

    [Fact]
    public void Opening_a_missing_file_without_CreateSize_throws()
    {
        using var file = new TempFile();
        Assert.Throws<FileNotFoundException>(() => new FileBlockBackend(new() { Path = file.Path }));
    }

    [Fact]
    public void Read_past_the_end_of_a_file_that_shrank_returns_zeroes()
    {
        using var file = new TempFile();
        File.WriteAllBytes(file.Path, TestPattern.Bytes(8192, 3));
        SafeFileHandle handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        using var disk = new FileBlockBackend(handle, readOnly: false, asynchronous: false);
        RandomAccess.SetLength(handle, 5000);

        var read = TestBlockIo.Read(4096, 2048, 2048);
        disk.Submit(read);

        Assert.Equal(BlockIoStatus.Ok, read.Status);
        byte[] expected = new byte[4096];
        TestPattern.Bytes(8192, 3).AsSpan(4096, 904).CopyTo(expected);
        Assert.Equal(expected, read.Data());
    }

    [Fact]
    public void Read_only_disk_refuses_writes_discards_and_write_zeroes_and_leaves_the_file_alone()
    {
        using var file = new TempFile();
        File.WriteAllBytes(file.Path, TestPattern.Bytes(4096, 8));
        using var disk = new FileBlockBackend(new() { Path = file.Path, ReadOnly = true });
        TestBlockIo[] refused =
        [
            TestBlockIo.Write(0, new byte[512]),
            TestBlockIo.Discard(new BlockRange(0, 4096, false)),
            TestBlockIo.WriteZeroes(new BlockRange(0, 4096, true)),
        ];
        foreach (TestBlockIo io in refused)
        {
            disk.Submit(io);
            Assert.Equal(BlockIoStatus.IoError, io.Status);
        }

        var flush = TestBlockIo.Flush();
        disk.Submit(flush);
        Assert.True(disk.IsReadOnly);
        Assert.Equal(BlockIoStatus.Ok, flush.Status);
        Assert.Equal(TestPattern.Bytes(4096, 8), File.ReadAllBytes(file.Path));
    }

    [Fact]
    public void Host_write_failure_completes_with_IoError()
    {
        // A handle opened for reading only: pwrite fails with EBADF, as it would with EIO or ENOSPC.
        using var file = new TempFile(length: 4096);
        SafeFileHandle handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read);
        using var disk = new FileBlockBackend(handle, readOnly: false, asynchronous: false);

        TestBlockIo[] failing =
        [
            TestBlockIo.Write(0, TestPattern.Bytes(512, 1)),
            TestBlockIo.WriteZeroes(new BlockRange(0, 512, false)),
        ];
        foreach (TestBlockIo io in failing)
        {
            disk.Submit(io);
            Assert.Equal(1, io.Completions);
            Assert.True(io.Status == BlockIoStatus.IoError, $"{io.Kind} completed {io.Status}");
        }
    }

    [Fact]
    public void Host_read_failure_completes_with_IoError()
    {
        using var file = new TempFile(length: 4096);
        SafeFileHandle handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Write);
        using var disk = new FileBlockBackend(handle, readOnly: false, asynchronous: true);

        var read = TestBlockIo.Read(0, 512);
        disk.Submit(read);

        Assert.True(read.WaitForCompletion(Timeout));
        Assert.Equal(BlockIoStatus.IoError, read.Status);
    }

    public static TheoryData<string, TestBlockIo> OutOfRangeRequests => new()
    {
        { "read starting at the capacity", TestBlockIo.Read(8192, 512) },
        { "write running past the end", TestBlockIo.Write(7680, new byte[512], new byte[512]) },
        { "offset near 2^64", TestBlockIo.Write(ulong.MaxValue - 511, new byte[1024]) },
        { "length disagreeing with the segments", TestBlockIo.Raw(BlockIoKind.Write, 0, 512, [new byte[1024]], []) },
        { "range running past the end", TestBlockIo.WriteZeroes(new BlockRange(4096, 8192, false)) },
        { "range overflowing 2^64", TestBlockIo.Discard(new BlockRange(512, ulong.MaxValue, true)) },
    };

    [Theory]
    [MemberData(nameof(OutOfRangeRequests))]
    public void Request_outside_the_capacity_completes_with_IoError_and_does_not_grow_the_file(string what, TestBlockIo io)
    {
        ArgumentNullException.ThrowIfNull(io);
        using var file = new TempFile();
        File.WriteAllBytes(file.Path, TestPattern.Bytes(8192, 2));
        using (var disk = new FileBlockBackend(new() { Path = file.Path }))
        {
            disk.Submit(io);
            Assert.True(BlockIoStatus.IoError == io.Status, what);
        }

        Assert.Equal(TestPattern.Bytes(8192, 2), File.ReadAllBytes(file.Path));
    }

    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public void Write_zeroes_reads_back_zeroes_and_keeps_the_neighbours_and_the_size(bool unmap, bool useFallocate)
    {
        using var file = new TempFile();
        File.WriteAllBytes(file.Path, TestPattern.Bytes(256 * 1024, 6));
        using var disk = new FileBlockBackend(new() { Path = file.Path }) { UseFallocate = useFallocate };

        // Neither end on a file system block boundary, and longer than the fallback's zero buffer.
        var zero = TestBlockIo.WriteZeroes(new BlockRange(1536, 200 * 1024, unmap), new BlockRange(250 * 1024, 512, unmap));
        disk.Submit(zero);

        Assert.Equal(BlockIoStatus.Ok, zero.Status);
        byte[] expected = TestPattern.Bytes(256 * 1024, 6);
        expected.AsSpan(1536, 200 * 1024).Clear();
        expected.AsSpan(250 * 1024, 512).Clear();
        var read = TestBlockIo.Read(0, 256 * 1024);
        disk.Submit(read);
        Assert.Equal(expected, read.Data());
        Assert.Equal(256L * 1024, new FileInfo(file.Path).Length);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Discard_completes_Ok_keeps_the_size_and_leaves_data_outside_the_range(bool useFallocate)
    {
        using var file = new TempFile();
        File.WriteAllBytes(file.Path, TestPattern.Bytes(64 * 1024, 4));
        using var disk = new FileBlockBackend(new() { Path = file.Path }) { UseFallocate = useFallocate };

        var discard = TestBlockIo.Discard(new BlockRange(8192, 16384, false));
        disk.Submit(discard);

        Assert.Equal(BlockIoStatus.Ok, discard.Status);
        Assert.Equal(64L * 1024, new FileInfo(file.Path).Length);
        var read = TestBlockIo.Read(0, 64 * 1024);
        disk.Submit(read);
        byte[] data = read.Data();
        byte[] expected = TestPattern.Bytes(64 * 1024, 4);
        Assert.Equal(expected[..8192], data[..8192]);
        Assert.Equal(expected[24576..], data[24576..]);
        if (!useFallocate)
        {
            // Without fallocate discard is a no-op: keeping the data is a correct discard.
            Assert.Equal(expected, data);
        }
    }

    [Fact]
    public void Synchronous_mode_completes_inline_on_the_callers_thread()
    {
        using var file = new TempFile();
        using var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 4096 });
        var write = TestBlockIo.Write(0, TestPattern.Bytes(512, 1));
        disk.Submit(write);
        Assert.Equal(1, write.Completions);
        Assert.Equal(Environment.CurrentManagedThreadId, write.CompletionThread);
    }

    [Fact]
    public void Asynchronous_mode_completes_from_another_thread()
    {
        using var file = new TempFile();
        using var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 1 << 20, Asynchronous = true });
        var writes = Enumerable.Range(0, 64).Select(i => TestBlockIo.Write((ulong)i * 4096, TestPattern.Bytes(4096, (byte)i))).ToArray();
        foreach (TestBlockIo write in writes)
        {
            disk.Submit(write);
        }

        foreach (TestBlockIo write in writes)
        {
            Assert.True(write.WaitForCompletion(Timeout));
            Assert.Equal(1, write.Completions);
            Assert.Equal(BlockIoStatus.Ok, write.Status);
            Assert.NotEqual(Environment.CurrentManagedThreadId, write.CompletionThread);
        }

        var read = TestBlockIo.Read(0, 64 * 4096);
        disk.Submit(read);
        Assert.True(read.WaitForCompletion(Timeout));
        Assert.Equal(writes.SelectMany(w => w.Data()).ToArray(), read.Data());
    }

    [Fact]
    public void Request_after_dispose_completes_with_IoError()
    {
        using var file = new TempFile();
        var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 4096 });
        disk.Dispose();

        var read = TestBlockIo.Read(0, 512);
        disk.Submit(read);

        Assert.Equal(BlockIoStatus.IoError, read.Status);
    }

    [Fact]
    public void Dispose_closes_the_file()
    {
        using var file = new TempFile();
        var disk = new FileBlockBackend(new() { Path = file.Path, CreateSize = 4096 });
        disk.Dispose();

        // FileShare.None takes an exclusive lock, which would fail while the backend's handle was open.
        using var exclusive = File.Open(file.Path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        Assert.Equal(4096, exclusive.Length);
    }
}
