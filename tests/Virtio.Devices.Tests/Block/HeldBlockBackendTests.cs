using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Block;

/// <summary>The backend that holds requests until the test lets them go.</summary>
public class HeldBlockBackendTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public void Held_requests_do_not_complete_until_released()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(4096));
        var write = TestBlockIo.Write(0, TestPattern.Bytes(512, 1));

        held.Submit(write);

        Assert.Equal(1, held.HeldCount);
        Assert.Equal(0, write.Completions);
        Assert.Same(write, held.GetHeld(0));
        Assert.Equal(1, held.ReleaseAll());
        Assert.Equal(1, write.Completions);
        Assert.Equal(BlockIoStatus.Ok, write.Status);
        Assert.Equal(0, held.HeldCount);
    }

    [Fact]
    public void Release_by_index_completes_requests_out_of_order()
    {
        var order = new OrderRecordingBackend();
        using var held = new HeldBlockBackend(order);
        TestBlockIo[] reads = [.. Enumerable.Range(0, 4).Select(i => TestBlockIo.Read((ulong)i * 512, 512))];
        foreach (TestBlockIo read in reads)
        {
            held.Submit(read);
        }

        held.Release(2);
        held.Release(0);
        held.Release(1); // was at index 3: later requests move up

        Assert.Equal(1, held.HeldCount);
        Assert.Equal([reads[2], reads[0], reads[3]], order.Forwarded);
        Assert.Equal(0, reads[1].Completions);
        held.Release(0);
        Assert.All(reads, r => Assert.Equal(1, r.Completions));
    }

    [Fact]
    public void Release_out_of_range_throws_and_keeps_the_held_requests()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(4096));
        held.Submit(TestBlockIo.Flush());

        Assert.Throws<ArgumentOutOfRangeException>(() => held.Release(1));
        Assert.Throws<ArgumentOutOfRangeException>(() => held.Release(-1));
        Assert.Equal(1, held.HeldCount);
    }

    [Fact]
    public void Release_all_forwards_in_submission_order()
    {
        var order = new OrderRecordingBackend();
        using var held = new HeldBlockBackend(order);
        TestBlockIo[] flushes = [.. Enumerable.Range(0, 5).Select(_ => TestBlockIo.Flush())];
        foreach (TestBlockIo flush in flushes)
        {
            held.Submit(flush);
        }

        held.ReleaseAll();

        Assert.Equal(flushes, order.Forwarded);
    }

    [Fact]
    public void Shuffled_release_forwards_every_request_once_in_a_seeded_order()
    {
        List<BlockIo> Run(int seed)
        {
            var order = new OrderRecordingBackend();
            using var held = new HeldBlockBackend(order);
            TestBlockIo[] flushes = [.. Enumerable.Range(0, 32).Select(i => TestBlockIo.Raw(BlockIoKind.Flush, (ulong)i, 0, [], []))];
            foreach (TestBlockIo flush in flushes)
            {
                held.Submit(flush);
            }

            Assert.Equal(32, held.ReleaseShuffled(new Random(seed)));
            Assert.All(flushes, f => Assert.Equal(1, f.Completions));
            return order.Forwarded;
        }

        List<BlockIo> first = Run(42);
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (ulong)i), first.Select(r => r.Offset).Order());
        Assert.NotEqual(Enumerable.Range(0, 32).Select(i => (ulong)i), first.Select(r => r.Offset));
        Assert.Equal(first.Select(r => r.Offset), Run(42).Select(r => r.Offset));
    }

    [Fact]
    public void When_not_holding_requests_pass_straight_through()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(4096)) { Holding = false };
        var write = TestBlockIo.Write(0, TestPattern.Bytes(512, 1));

        held.Submit(write);

        Assert.Equal(0, held.HeldCount);
        Assert.Equal(1, write.Completions);
        Assert.Equal(BlockIoStatus.Ok, write.Status);
    }

    [Fact]
    public void Turning_holding_off_keeps_already_held_requests_until_released()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(4096));
        var first = TestBlockIo.Flush();
        held.Submit(first);

        held.Holding = false;
        var second = TestBlockIo.Flush();
        held.Submit(second);

        Assert.Equal(0, first.Completions);
        Assert.Equal(1, second.Completions);
        held.ReleaseAll();
        Assert.Equal(1, first.Completions);
    }

    [Fact]
    public void Capacity_read_only_and_capabilities_come_from_the_inner_backend()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(8192, readOnly: true));
        Assert.Equal(8192UL, held.Capacity);
        Assert.True(held.IsReadOnly);
        Assert.Equal(
            BlockBackendCapabilities.Flush | BlockBackendCapabilities.Discard | BlockBackendCapabilities.WriteZeroes,
            held.Capabilities);
    }

    [Fact]
    public void Dispose_completes_held_requests_with_IoError_and_disposes_the_inner_backend()
    {
        var inner = new MemoryBlockBackend(4096);
        var held = new HeldBlockBackend(inner);
        var write = TestBlockIo.Write(0, TestPattern.Bytes(512, 1));
        held.Submit(write);

        held.Dispose();

        Assert.Equal(1, write.Completions);
        Assert.Equal(BlockIoStatus.IoError, write.Status);
        var read = TestBlockIo.Read(0, 512);
        inner.Submit(read);
        Assert.Equal(BlockIoStatus.IoError, read.Status);
        var late = TestBlockIo.Flush();
        held.Submit(late);
        Assert.Equal(BlockIoStatus.IoError, late.Status);
    }

    [Fact]
    public void Dispose_leaves_the_inner_backend_open_when_it_does_not_own_it()
    {
        using var inner = new MemoryBlockBackend(4096);
        new HeldBlockBackend(inner, ownsInner: false).Dispose();

        var read = TestBlockIo.Read(0, 512);
        inner.Submit(read);
        Assert.Equal(BlockIoStatus.Ok, read.Status);
    }

    [Fact]
    public void Requests_from_several_threads_are_all_held_then_each_completed_once()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(1 << 20));
        const int PerThread = 200;
        TestBlockIo[][] perThread = [.. Enumerable.Range(0, 4).Select(t =>
            Enumerable.Range(0, PerThread).Select(i => TestBlockIo.Write((ulong)((t * PerThread) + i) * 512, TestPattern.Bytes(512, (byte)i))).ToArray())];
        Thread[] threads = [.. perThread.Select(ios => new Thread(() =>
        {
            foreach (TestBlockIo io in ios)
            {
                held.Submit(io);
            }
        }))];
        foreach (Thread t in threads)
        {
            t.Start();
        }

        Assert.True(held.WaitForHeld(4 * PerThread, Timeout));
        foreach (Thread t in threads)
        {
            t.Join();
        }

        Assert.Equal(4 * PerThread, held.ReleaseShuffled(new Random(7)));
        Assert.All(perThread.SelectMany(x => x), io =>
        {
            Assert.Equal(1, io.Completions);
            Assert.Equal(BlockIoStatus.Ok, io.Status);
        });
    }

    [Fact]
    public void Waiting_for_more_held_requests_than_arrive_times_out()
    {
        using var held = new HeldBlockBackend(new MemoryBlockBackend(4096));
        held.Submit(TestBlockIo.Flush());
        Assert.True(held.WaitForHeld(1, TimeSpan.Zero));
        Assert.False(held.WaitForHeld(2, TimeSpan.FromMilliseconds(50)));
    }

    [Fact]
    public void A_held_file_backend_completes_released_requests_from_its_own_threads()
    {
        using var file = new TempFile();
        using var held = new HeldBlockBackend(
            new FileBlockBackend(new() { Path = file.Path, CreateSize = 64 * 1024, Asynchronous = true }));
        TestBlockIo[] writes = [.. Enumerable.Range(0, 8).Select(i => TestBlockIo.Write((ulong)i * 4096, TestPattern.Bytes(4096, (byte)i)))];
        foreach (TestBlockIo write in writes)
        {
            held.Submit(write);
        }

        Assert.All(writes, w => Assert.Equal(0, w.Completions));
        held.ReleaseShuffled(new Random(1));
        Assert.All(writes, w =>
        {
            Assert.True(w.WaitForCompletion(Timeout));
            Assert.Equal(BlockIoStatus.Ok, w.Status);
        });
    }

    /// <summary>Completes every request Ok at once and remembers the order they arrived in.</summary>
    private sealed class OrderRecordingBackend : IBlockBackend
    {
        public List<BlockIo> Forwarded { get; } = [];

        public ulong Capacity => 1 << 20;

        public bool IsReadOnly => false;

        public BlockBackendCapabilities Capabilities => BlockBackendCapabilities.Flush;

        public void Submit(BlockIo request)
        {
            lock (Forwarded)
            {
                Forwarded.Add(request);
            }

            request.Complete(BlockIoStatus.Ok);
        }

        public void Dispose()
        {
        }
    }
}
