using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Hostile;

/// <summary>
/// The disk behind a hostile guest's virtio-blk: the sparse memory backend or the asynchronous file backend (requests
/// on the thread pool), behind a <see cref="HeldBlockBackend"/> so a test can keep requests in flight. Reads the whole
/// image back to check that nothing was written outside the sectors a test allows.
/// </summary>
internal sealed class HostileDisk : IDisposable
{
    public const int Capacity = 64 * 1024;

    private readonly TempFile? _file;
    private readonly IBlockBackend _inner;

    public HostileDisk(string kind)
    {
        if (kind == "file-async")
        {
            _file = new TempFile(Capacity);
            _inner = new FileBlockBackend(new FileBlockBackendOptions { Path = _file.Path, Asynchronous = true });
        }
        else
        {
            _inner = new MemoryBlockBackend(Capacity);
        }

        Held = new HeldBlockBackend(_inner, ownsInner: false) { Holding = false };
    }

    public static TheoryData<string> Kinds => new() { "memory", "file-async" };

    public HeldBlockBackend Held { get; }

    /// <summary>The whole disk, read through the inner backend.</summary>
    public byte[] Image()
    {
        TestBlockIo read = TestBlockIo.Read(0, Capacity);
        _inner.Submit(read);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (read.Completions == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the image read did not complete");
            Thread.Yield();
        }

        Assert.Equal(BlockIoStatus.Ok, read.Status);
        return read.Segments[0];
    }

    /// <summary>Asserts every byte outside sectors [first, first + count) is still zero.</summary>
    public void AssertZeroOutside(ulong firstSector, int count)
    {
        byte[] image = Image();
        int start = (int)(firstSector * 512);
        int end = start + (count * 512);
        Assert.Equal(-1, image.AsSpan(0, start).IndexOfAnyExcept((byte)0));
        Assert.Equal(-1, image.AsSpan(end).IndexOfAnyExcept((byte)0));
    }

    public void Dispose()
    {
        _inner.Dispose();
        _file?.Dispose();
    }
}
