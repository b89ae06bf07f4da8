using System.Diagnostics;
using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Hostile;

/// <summary>
/// A backend that throws from its entry points: the request fails or the device breaks (NEEDS_RESET), the process
/// lives, and no exception reaches the thread pool or goes unobserved.
/// </summary>
[Collection(nameof(UnhandledExceptionCounting))]
public sealed class ThrowingBackendTests
{
    [Theory]
    [InlineData("memory")]
    [InlineData("file-async")]
    public void A_backend_that_throws_from_Submit_breaks_the_device_and_the_request_is_not_completed(string kind)
    {
        using var counter = new UnhandledExceptionCounter();
        using var disk = new HostileDisk(kind);
        var backend = new ThrowingBlockBackend(disk.Held) { SubmitThrowsBefore = true };
        using (var rig = new BlkRig(backend))
        {
            rig.SendWrite(8, new byte[512]);
            Assert.True(rig.Device.IsBroken);
            Assert.Contains("virtio-blk backend failed: InvalidOperationException: backend bug in Submit", rig.Device.BrokenReason, StringComparison.Ordinal);
            Assert.True((rig.Driver.ReadStatus() & Virtio.Device.DeviceStatus.DeviceNeedsReset) != 0);
            Assert.Equal(0, rig.Device.Queues[0].InFlight);
        }

        counter.AssertNone();
    }

    [Theory]
    [InlineData("memory")]
    [InlineData("file-async")]
    public void A_backend_that_throws_after_taking_the_request_breaks_the_device_and_its_late_completion_is_ignored(string kind)
    {
        using var counter = new UnhandledExceptionCounter();
        using var disk = new HostileDisk(kind);
        var backend = new ThrowingBlockBackend(disk.Held) { SubmitThrowsAfter = true };
        using (var rig = new BlkRig(backend))
        {
            rig.SendWrite(8, Enumerable.Repeat((byte)0xAA, 512).ToArray());
            Assert.True(rig.Device.IsBroken);
            WaitForInnerCompletions(backend, 1);
            Assert.Equal(0, rig.Device.Queues[0].InFlight);
        }

        counter.AssertNone();
    }

    [Fact]
    public void Backend_properties_that_start_throwing_after_construction_never_reach_the_request_path()
    {
        using var counter = new UnhandledExceptionCounter();
        using var disk = new HostileDisk("memory");
        var backend = new ThrowingBlockBackend(disk.Held);
        using (var rig = new BlkRig(backend))
        {
            backend.PropertiesThrow = true;
            rig.Write(8, Enumerable.Repeat((byte)0x5A, 512).ToArray());
            Assert.Equal(Enumerable.Repeat((byte)0x5A, 512), rig.Read(8, 512));
            Assert.Equal(0, rig.Run(rig.Send([rig.Buffer(16, BlkRig.Header(VirtioBlkRequestType.Flush, 0))], [rig.Buffer(1)])).Status);
            Assert.False(rig.Device.IsBroken);
        }

        counter.AssertNone();
    }

    [Fact]
    public void A_backend_that_throws_from_Dispose_does_not_fail_the_device_Dispose()
    {
        using var counter = new UnhandledExceptionCounter();
        using var disk = new HostileDisk("memory");
        var backend = new ThrowingBlockBackend(disk.Held) { DisposeThrows = true };
        var rig = new BlkRig(backend);
        rig.Write(8, new byte[512]);
        rig.Dispose();
        Assert.True(backend.Disposed);
        counter.AssertNone();
    }

    [Fact]
    public void A_backend_that_completes_twice_completes_the_request_once()
    {
        using var counter = new UnhandledExceptionCounter();
        using var disk = new HostileDisk("memory");
        var backend = new ThrowingBlockBackend(disk.Held) { CompleteTwice = true };
        using (var rig = new BlkRig(backend))
        {
            int first = rig.SendWrite(8, new byte[512]);
            int second = rig.SendWrite(9, new byte[512]);
            var done = rig.Collect(2);
            Assert.Equal(0, done[first].Status);
            Assert.Equal(0, done[second].Status);
            Assert.Equal(0, rig.Device.Queues[0].InFlight);
            Assert.False(rig.Driver.Queues[0].TryGetBuffer(out _, out _));
            Assert.False(rig.Device.IsBroken);
        }

        counter.AssertNone();
    }

    private static void WaitForInnerCompletions(ThrowingBlockBackend backend, int count)
    {
        var clock = Stopwatch.StartNew();
        while (backend.InnerCompletions < count)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "the inner backend never completed");
            Thread.Yield();
        }
    }
}

/// <summary>Tests that count process-wide unhandled exceptions run one at a time.</summary>
[CollectionDefinition(nameof(UnhandledExceptionCounting), DisableParallelization = true)]
public sealed class UnhandledExceptionCounting;

/// <summary>Counts <see cref="AppDomain.UnhandledException"/> and <see cref="TaskScheduler.UnobservedTaskException"/> while alive.</summary>
internal sealed class UnhandledExceptionCounter : IDisposable
{
    private int _count;

    public UnhandledExceptionCounter()
    {
        AppDomain.CurrentDomain.UnhandledException += OnUnhandled;
        TaskScheduler.UnobservedTaskException += OnUnobserved;
    }

    public void AssertNone()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        Assert.Equal(0, Volatile.Read(ref _count));
    }

    public void Dispose()
    {
        AppDomain.CurrentDomain.UnhandledException -= OnUnhandled;
        TaskScheduler.UnobservedTaskException -= OnUnobserved;
    }

    private void OnUnhandled(object? sender, UnhandledExceptionEventArgs e) => Interlocked.Increment(ref _count);

    private void OnUnobserved(object? sender, UnobservedTaskExceptionEventArgs e) => Interlocked.Increment(ref _count);
}

/// <summary>Wraps a backend and throws from whichever entry point a test picks.</summary>
internal sealed class ThrowingBlockBackend(IBlockBackend inner) : IBlockBackend
{
    private int _innerCompletions;

    public bool PropertiesThrow { get; set; }

    public bool SubmitThrowsBefore { get; init; }

    public bool SubmitThrowsAfter { get; init; }

    public bool DisposeThrows { get; init; }

    public bool CompleteTwice { get; init; }

    public bool Disposed { get; private set; }

    public int InnerCompletions => Volatile.Read(ref _innerCompletions);

    public ulong Capacity => PropertiesThrow ? throw new InvalidOperationException("backend bug in Capacity") : inner.Capacity;

    public bool IsReadOnly => PropertiesThrow ? throw new InvalidOperationException("backend bug in IsReadOnly") : inner.IsReadOnly;

    public BlockBackendCapabilities Capabilities => PropertiesThrow ? throw new InvalidOperationException("backend bug in Capabilities") : inner.Capabilities;

    public void Submit(BlockIo request)
    {
        if (SubmitThrowsBefore)
        {
            throw new InvalidOperationException("backend bug in Submit");
        }

        inner.Submit(new Forward(request, this));
        if (SubmitThrowsAfter)
        {
            throw new InvalidOperationException("backend bug after Submit");
        }
    }

    public void Dispose()
    {
        Disposed = true;
        inner.Dispose();
        if (DisposeThrows)
        {
            throw new InvalidOperationException("backend bug in Dispose");
        }
    }

    /// <summary>Passes the request through and counts (or doubles) its completion.</summary>
    private sealed class Forward : BlockIo
    {
        private readonly BlockIo _outer;
        private readonly ThrowingBlockBackend _owner;

        public Forward(BlockIo outer, ThrowingBlockBackend owner)
        {
            _outer = outer;
            _owner = owner;
            Kind = outer.Kind;
            Offset = outer.Offset;
            Length = outer.Length;
            SegmentCount = outer.SegmentCount;
            RangeCount = outer.RangeCount;
        }

        public override Span<byte> GetSegment(int index) => _outer.GetSegment(index);

        public override BlockRange GetRange(int index) => _outer.GetRange(index);

        public override void Complete(BlockIoStatus status)
        {
            _outer.Complete(status);
            if (_owner.CompleteTwice)
            {
                _outer.Complete(status);
            }

            Interlocked.Increment(ref _owner._innerCompletions);
        }
    }
}
