using System.Diagnostics;
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
        long kicks = 0, calls = 0, done = 0;
        int slot = 0;
        while (done < total)
        {
            int n = (int)Math.Min(batch, total - done);
            for (int i = 0; i < n; i++)
            {
                Add(driver, ref slot);
            }

            if (driver.KickPrepare())
            {
                kicks++;
            }

            for (int i = 0; i < n; i++)
            {
                if (device.Pop(out DescriptorChain chain) != PopResult.Chain)
                {
                    throw new InvalidOperationException($"device found no chain: {device.Error}");
                }

                device.Fill(chain.Head, chain.WritableLength, i);
            }

            device.Flush(n);
            if (device.ShouldNotify())
            {
                calls++;
            }

            while (driver.TryGetBuffer(out _, out _))
            {
                done++;
            }
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
        int batch = _options.Batch;
        long calls = 0, done = 0;
        while (done < total)
        {
            int n = 0;
            while (n < batch && device.Pop(out DescriptorChain chain) == PopResult.Chain)
            {
                device.Fill(chain.Head, chain.WritableLength, n);
                n++;
            }

            if (n == 0)
            {
                CheckBroken(device);
                Thread.SpinWait(1); // a pause, never a yield: both sides own a core, as in ringbase
                continue;
            }

            device.Flush(n);
            done += n;
            if (device.ShouldNotify())
            {
                calls++;
            }
        }

        return calls;
    }

    private long DeviceNotifyLoop(long total)
    {
        SplitQueue device = _device;
        int batch = _options.Batch;
        long calls = 0, done = 0;
        while (done < total)
        {
            // Mirrors a QEMU handler: notifications off while draining, back on (with the re-check) before sleeping.
            device.SetNotification(false);
            while (true)
            {
                int n = 0;
                while (n < batch && device.Pop(out DescriptorChain chain) == PopResult.Chain)
                {
                    device.Fill(chain.Head, chain.WritableLength, n);
                    n++;
                }

                if (n == 0)
                {
                    break;
                }

                device.Flush(n);
                done += n;
                if (device.ShouldNotify())
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
            int n = 0;
            while (added < total && driver.NumFree >= DescriptorsPerBuffer)
            {
                Add(driver, ref slot);
                added++;
                n++;
                if (n == batch)
                {
                    if (driver.KickPrepare())
                    {
                        kicks++;
                    }

                    n = 0;
                }
            }

            if (n > 0 && driver.KickPrepare())
            {
                kicks++;
            }

            int got = 0;
            while (driver.TryGetBuffer(out _, out _))
            {
                got++;
            }

            done += got;
            if (got == 0)
            {
                if (driver.IsBroken || failed() is not null)
                {
                    break;
                }

                Thread.SpinWait(1); // a pause, never a yield: both sides own a core, as in ringbase
            }
            else
            {
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
            int n = 0;
            while (added < total && driver.NumFree >= DescriptorsPerBuffer)
            {
                Add(driver, ref slot);
                added++;
                if (++n == batch)
                {
                    driver.Kick();
                    n = 0;
                }
            }

            if (n > 0)
            {
                driver.Kick();
            }

            int got = 0;
            while (driver.TryGetBuffer(out _, out _))
            {
                got++;
            }

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

    private void Add(DriverQueue<int> driver, ref int slot)
    {
        int segs = _options.Segments;
        ReadOnlySpan<GuestSegment> all = _segments.AsSpan(slot * segs, segs);
        AddResult r = driver.Add(all[..1], all[1..], slot);
        if (r != AddResult.Added)
        {
            throw new InvalidOperationException($"driver add failed: {r} {driver.Error}");
        }

        slot = slot + 1 == _options.RingSize ? 0 : slot + 1;
    }

    private static void CheckBroken(SplitQueue device)
    {
        if (device.IsBroken)
        {
            throw new InvalidOperationException(device.Error.ToString());
        }
    }
}
