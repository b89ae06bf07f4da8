using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Block;

public sealed class StallingBlockBackendTests
{
    [Fact]
    public void Only_the_Nth_request_is_held_and_the_others_complete()
    {
        using var backend = new StallingBlockBackend(new MemoryBlockBackend(1 << 20), stallAt: 2);
        TestBlockIo first = TestBlockIo.Read(0, 512), second = TestBlockIo.Read(512, 512), third = TestBlockIo.Read(1024, 512);
        backend.Submit(first);
        backend.Submit(second);
        backend.Submit(third);
        Assert.Equal(1, first.Completions);
        Assert.Equal(0, second.Completions);
        Assert.Equal(1, third.Completions);
        Assert.Equal(1, backend.Stalled);
    }

    [Fact]
    public void Dispose_fails_the_stalled_request()
    {
        var backend = new StallingBlockBackend(new MemoryBlockBackend(1 << 20), stallAt: 1);
        TestBlockIo stalled = TestBlockIo.Read(0, 512);
        backend.Submit(stalled);
        backend.Dispose();
        Assert.Equal(1, stalled.Completions);
        Assert.Equal(BlockIoStatus.IoError, stalled.Status);
    }

    [Fact]
    public void Flush_reaches_the_inner_backend()
    {
        using var file = new TempFile();
        var inner = new FileBlockBackend(new() { Path = file.Path, CreateSize = 64 * 1024 });
        using var backend = new StallingBlockBackend(inner, stallAt: 1);
        Assert.Equal(BlockIoStatus.Ok, backend.Flush());
        inner.Dispose();
        Assert.Equal(BlockIoStatus.IoError, backend.Flush());
    }
}
