using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Workloads.Bench;

/// <summary>
/// A driver and a device on one split ring, like Linux <c>tools/virtio/ringtest</c> and
/// <c>shared/bench/ringbase.c</c>: the Linux-model driver adds buffers and reclaims them, the QEMU-model device pops
/// and completes them, with EVENT_IDX bookkeeping on both sides. The device completes each chain with the length of
/// its writable part without touching the data, as ringbase does.
/// </summary>
public sealed class RingBench : IDisposable
{
    private const ulong RingBase = 0x1_0000;
    private const ulong IndirectBase = 0x10_0000;
    private const ulong DataBase = 0x100_0000;
    private const uint SegmentBytes = 64;
    // Only catches a lost wake-up (the run then fails instead of hanging); generous, because a loaded 2-core CI
    // machine can keep a runnable thread off the CPU for seconds.
    private const int WaitTimeoutMs = 30_000;

    private readonly RingBenchOptions _options;
    private readonly GuestMemory _memory;
    private readonly SplitRingLayout _layout;
    private readonly GuestSegment[] _segments;

    // Burst mode's scratch, one per side (the two threads never share one): each slot's token, the chains a device
    // burst popped and the lengths it pushes, and the tokens and lengths a driver burst got.
    private readonly int[] _slotTokens;
    private readonly DescriptorChain[] _chains;
    private readonly uint[] _deviceLengths;
    private readonly int[] _gotTokens;
    private readonly uint[] _gotLengths;
    private DriverQueue<int> _driver = null!;
    private SplitQueue _device = null!;
    private EventNotifier _kick = null!;
    private EventNotifier _call = null!;

    /// <summary>Creates the ring in fresh guest memory.</summary>
    public RingBench(RingBenchOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        string? error = options.Validate();
        if (error is not null)
        {
            throw new ArgumentException(error, nameof(options));
        }

        _options = options;
        _memory = GuestMemory.Create(DataBase + ((ulong)options.RingSize * (ulong)options.Segments * SegmentBytes) + 0x1000);
        _layout = SplitRingLayout.Create(RingBase, options.RingSize);
        _segments = new GuestSegment[options.RingSize * options.Segments];
        for (int i = 0; i < _segments.Length; i++)
        {
            _segments[i] = new GuestSegment(DataBase + ((ulong)i * SegmentBytes), SegmentBytes);
        }

        _slotTokens = [.. Enumerable.Range(0, options.RingSize)];
        _chains = new DescriptorChain[options.Batch];
        _deviceLengths = new uint[options.Batch];
        _gotTokens = new int[options.RingSize];
        _gotLengths = new uint[options.RingSize];
    }

    /// <summary>Runs a warm-up of <paramref name="warmup"/> buffers, then the measured run.</summary>
    public RingBenchResult Run(long warmup)
    {
        if (warmup > 0)
        {
            Setup();
            Execute(warmup);
            Teardown();
        }

        Setup();
        (long kicks, long calls, TimeSpan elapsed, long allocated) = Execute(_options.Buffers);
        Teardown();
        return new RingBenchResult(_options.Buffers, elapsed, kicks, calls, allocated);
    }

    /// <inheritdoc />
    public void Dispose() => _memory.Dispose();

    private void Setup()
    {
        _driver = new DriverQueue<int>(_memory, _layout, new DriverQueueOptions
        {
            EventIdx = _options.EventIdx,
            IndirectDescriptors = _options.Indirect,
            IndirectTableArea = IndirectBase,
            MaxIndirectSegments = Math.Max(_options.Segments, 1),
        });
        _device = new SplitQueue(_memory, _options.RingSize, 0, "ring")
        {
            DescriptorTableAddress = _layout.DescriptorTable,
            AvailRingAddress = _layout.AvailRing,
            UsedRingAddress = _layout.UsedRing,
            EventIdx = _options.EventIdx,
            IndirectDescriptors = _options.Indirect,
            Logger = _options.LoggerFactory?.CreateLogger("Virtio.Device.ring"),
        };
        if (_device.Enable() is { } error)
        {
            throw new InvalidOperationException(error.ToString());
        }

        _kick = new EventNotifier();
        _call = new EventNotifier();
        if (_options.Mode == RingBenchMode.Notify)
        {
            _driver.KickChannel = _kick;
        }
        else
        {
            // Both sides poll, so both suppress notifications, as a vhost busy-poll device and a NAPI driver do:
            // the device stops asking for kicks, the driver for used-buffer notifications.
            _device.SetNotification(false);
            _driver.DisableCallbacks();
        }
    }

    private void Teardown()
    {
        _device.Reset();
        _driver.Dispose();
    }

    private (long Kicks, long Calls, TimeSpan Elapsed, long Allocated) Execute(long total)
    {
        if (_options.Threads == 1)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            long start = Stopwatch.GetTimestamp();
            (long kicks, long calls) = RunOneThread(total);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
            return (kicks, calls, elapsed, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return RunTwoThreads(total);
    }

    private (long Kicks, long Calls) RunOneThread(long total)
    {
        DriverQueue<int> driver = _driver;
        SplitQueue device = _device;
        int batch = _options.Batch;
        bool burst = _options.Burst;
        long kicks = 0, calls = 0, done = 0;
        int slot = 0;
        while (done < total)
        {
            int n = (int)Math.Min(batch, total - done);
            if (burst)
            {
                AddBursts(driver, n, ref slot);
            }
            else
            {
                AddSingles(driver, n, ref slot);
            }

            if (driver.KickPrepare())
            {
                kicks++;
            }

            bool notify;
            if ((burst ? CompleteBurst(device, out notify) : CompleteSingles(device, out notify)) != n)
            {
                throw new InvalidOperationException($"device found fewer than {n} chains: {device.Error}");
            }

            if (notify)
            {
                calls++;
            }

            done += burst ? GetBursts(driver) : GetSingles(driver);
        }

        return (kicks, calls);
    }

    private (long Kicks, long Calls, TimeSpan Elapsed, long Allocated) RunTwoThreads(long total)
    {
        bool notify = _options.Mode == RingBenchMode.Notify;
        long calls = 0, deviceAllocated = 0;
        Exception? deviceFailure = null;
        using var go = new ManualResetEventSlim();
        var deviceThread = new Thread(() =>
        {
            try
            {
                go.Wait();
                long before = GC.GetAllocatedBytesForCurrentThread();
                calls = notify ? DeviceNotifyLoop(total) : DevicePollLoop(total);
                deviceAllocated = GC.GetAllocatedBytesForCurrentThread() - before;
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
                deviceFailure = e;
                _call.Signal();
            }
        })
        { IsBackground = true, Name = "virtio-bench-device" };
        Func<Exception?> failed = () => deviceFailure;
        deviceThread.Start();

        // Everything allocated above is set-up; the measured run starts when the device thread is released. Each ring
        // thread counts its own allocations: a process-wide count would also see whatever else the process runs.
        long before = GC.GetAllocatedBytesForCurrentThread();
        long start = Stopwatch.GetTimestamp();
        go.Set();
        long kicks = notify ? DriverNotifyLoop(total, failed) : DriverPollLoop(total, failed);
        deviceThread.Join();
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before + deviceAllocated;
        if (deviceFailure is not null)
        {
            throw new InvalidOperationException("the device thread failed", deviceFailure);
        }

        return (kicks, calls, elapsed, allocated);
    }

    private long DevicePollLoop(long total)
    {
        SplitQueue device = _device;
        long calls = 0, done = 0;
        while (done < total)
        {
            int n = CompleteBatch(device, out bool notify);
            if (n == 0)
            {
                CheckBroken(device);
                Thread.SpinWait(1); // a pause, never a yield: both sides own a core, as in ringbase
                continue;
            }

            done += n;
            if (notify)
            {
                calls++;
            }
        }

        return calls;
    }

    private long DeviceNotifyLoop(long total)
    {
        SplitQueue device = _device;
        long calls = 0, done = 0;
        while (done < total)
        {
            // Mirrors a QEMU handler: notifications off while draining, back on (with the re-check) before sleeping.
            device.SetNotification(false);
            while (true)
            {
                int n = CompleteBatch(device, out bool notify);
                if (n == 0)
                {
                    break;
                }

                done += n;
                if (notify)
                {
                    calls++;
                    _call.Signal();
                }
            }

            CheckBroken(device);
            if (done < total && !device.EnableNotificationAndRecheck())
            {
                if (!_kick.Wait(WaitTimeoutMs))
                {
                    throw new TimeoutException($"device waited {WaitTimeoutMs} ms for a kick (done {done} of {total})");
                }

                _kick.TestAndClear();
            }
        }

        return calls;
    }

    private long DriverPollLoop(long total, Func<Exception?> failed)
    {
        DriverQueue<int> driver = _driver;
        int batch = _options.Batch;
        long kicks = 0, added = 0, done = 0;
        int slot = 0;
        while (done < total)
        {
            while (added < total && driver.NumFree >= DescriptorsPerBuffer)
            {
                int n = (int)Math.Min(Math.Min(batch, total - added), driver.NumFree / DescriptorsPerBuffer);
                AddBuffers(driver, n, ref slot);
                added += n;
                if (driver.KickPrepare())
                {
                    kicks++;
                }
            }

            int got = GetAll(driver);
            done += got;
            if (got == 0)
            {
                if (driver.IsBroken || failed() is not null)
                {
                    break;
                }

                Thread.SpinWait(1); // a pause, never a yield: both sides own a core, as in ringbase
            }
        }

        return kicks;
    }

    private long DriverNotifyLoop(long total, Func<Exception?> failed)
    {
        DriverQueue<int> driver = _driver;
        int batch = _options.Batch;
        long added = 0, done = 0;
        int slot = 0;
        driver.DisableCallbacks();
        while (done < total)
        {
            while (added < total && driver.NumFree >= DescriptorsPerBuffer)
            {
                int n = (int)Math.Min(Math.Min(batch, total - added), driver.NumFree / DescriptorsPerBuffer);
                AddBuffers(driver, n, ref slot);
                added += n;
                driver.Kick();
            }

            int got = GetAll(driver);
            done += got;
            if (got == 0 && done < total)
            {
                if (driver.IsBroken || failed() is not null)
                {
                    break;
                }

                // Linux's pattern: ask for a callback after 3/4 of what is outstanding, re-check, then sleep.
                if (driver.EnableCallbacksDelayed())
                {
                    if (!_call.Wait(WaitTimeoutMs))
                    {
                        throw new TimeoutException($"driver waited {WaitTimeoutMs} ms for a call (done {done} of {total})");
                    }

                    _call.TestAndClear();
                }

                driver.DisableCallbacks();
            }
        }

        return driver.KicksSent;
    }

    private int DescriptorsPerBuffer => _options.Indirect && _options.Segments > 1 ? 1 : _options.Segments;

    /// <summary>Adds <paramref name="n"/> buffers from <paramref name="slot"/> on: one <c>Add</c> each, or bursts.</summary>
    private void AddBuffers(DriverQueue<int> driver, int n, ref int slot)
    {
        if (_options.Burst)
        {
            AddBursts(driver, n, ref slot);
        }
        else
        {
            AddSingles(driver, n, ref slot);
        }
    }

    private void AddBursts(DriverQueue<int> driver, int n, ref int slot)
    {
        int segs = _options.Segments;
        while (n > 0)
        {
            // One burst per run of slots that does not wrap: the segments of consecutive slots are consecutive.
            int run = Math.Min(n, _options.RingSize - slot);
            if (driver.AddBurst(_segments.AsSpan(slot * segs, run * segs), 1, segs - 1, _slotTokens.AsSpan(slot, run), out AddResult r) != run)
            {
                ThrowAddFailed(r, driver);
            }

            n -= run;
            slot = slot + run == _options.RingSize ? 0 : slot + run;
        }
    }

    // Inlined into the 1-thread loop, so what it counts is the ring's work, not the harness's calls.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddSingles(DriverQueue<int> driver, int n, ref int slot)
    {
        int segs = _options.Segments;
        int size = _options.RingSize;
        for (; n > 0; n--)
        {
            ReadOnlySpan<GuestSegment> all = _segments.AsSpan(slot * segs, segs);
            AddResult r = driver.Add(all[..1], all[1..], slot);
            if (r != AddResult.Added)
            {
                ThrowAddFailed(r, driver);
            }

            slot = slot + 1 == size ? 0 : slot + 1;
        }
    }

    /// <summary>
    /// Pops and completes up to a batch of chains, each with the length of its writable part, and decides on a
    /// notification: a pop, fill per chain and one flush, or one burst pop and one burst push.
    /// </summary>
    private int CompleteBatch(SplitQueue device, out bool notify) =>
        _options.Burst ? CompleteBurst(device, out notify) : CompleteSingles(device, out notify);

    private int CompleteBurst(SplitQueue device, out bool notify)
    {
        DescriptorChain[] chains = _chains;
        uint[] lengths = _deviceLengths;
        int popped = device.PopBurst(chains, out _);
        for (int i = 0; i < popped; i++)
        {
            lengths[i] = chains[i].WritableLength;
        }

        notify = popped > 0 && device.PushBurst(chains.AsSpan(0, popped), lengths.AsSpan(0, popped));
        return popped;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int CompleteSingles(SplitQueue device, out bool notify)
    {
        int batch = _options.Batch;
        int n = 0;
        while (n < batch && device.Pop(out DescriptorChain chain) == PopResult.Chain)
        {
            device.Fill(chain.Head, chain.WritableLength, n);
            n++;
        }

        if (n > 0)
        {
            device.Flush(n);
        }

        notify = n > 0 && device.ShouldNotify();
        return n;
    }

    /// <summary>Takes every used buffer the driver finds: one <c>TryGetBuffer</c> each, or bursts.</summary>
    private int GetAll(DriverQueue<int> driver) => _options.Burst ? GetBursts(driver) : GetSingles(driver);

    private int GetBursts(DriverQueue<int> driver)
    {
        int got = 0, n;
        while ((n = driver.GetBurst(_gotTokens, _gotLengths)) > 0)
        {
            got += n;
        }

        return got;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int GetSingles(DriverQueue<int> driver)
    {
        int got = 0;
        while (driver.TryGetBuffer(out _, out _))
        {
            got++;
        }

        return got;
    }

    [DoesNotReturn]
    private static void ThrowAddFailed(AddResult r, DriverQueue<int> driver) =>
        throw new InvalidOperationException($"driver add failed: {r} {driver.Error}");

    private static void CheckBroken(SplitQueue device)
    {
        if (device.IsBroken)
        {
            throw new InvalidOperationException(device.Error.ToString());
        }
    }
}
