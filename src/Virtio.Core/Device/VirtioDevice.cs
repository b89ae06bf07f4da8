using System.Diagnostics.Metrics;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Virtio.Faults;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Device;

/// <summary>
/// What every VIRTIO 1.x device has (section 2): an ID, offered and acknowledged features, the status byte and its
/// state machine, a config space with a generation counter, queues, and the used-buffer and config-change interrupts.
/// A device model derives from it and handles its queues; a transport (<see cref="Transport.VirtioMmioTransport"/>)
/// exposes it to the driver.
/// </summary>
/// <remarks>
/// <para>Errors follow QEMU: a ring or protocol violation is a device error (<see cref="DeviceError(string)"/>, QEMU's
/// <c>virtio_error</c>): the device sets DEVICE_NEEDS_RESET, raises a config-change interrupt, stops processing every
/// queue and keeps the reason for diagnostics until reset. A bad request only fails that request.</para>
/// <para>Threading: the driver-facing members (status, features, config, queue setup, reset) are called by one thread at
/// a time (the VMM's exit handler for this device). Queue handlers run under each queue's lock; completions may
/// arrive from any thread.</para>
/// </remarks>
public abstract class VirtioDevice : IDisposable
{
    private readonly VirtioQueue[] _queues;
    private readonly byte[] _config;
    private readonly VirtioDeviceOptions _options;
    private readonly DeviceMetrics _metrics;
    private readonly bool _coarseClock;
    private readonly EventNotifier _interrupt = new();
    private Thread[]? _workers;
    private ulong _driverFeatures;
    private int _status;
    private int _interruptStatus;
    private int _configGeneration;
    private volatile bool _live;
    private bool _trace;
    private volatile string? _brokenReason;
    private volatile bool _disposed;
    private int _staleInFlight;

    /// <summary>Creates the device with its queues, all at <see cref="VirtioDeviceOptions.QueueSize"/>.</summary>
    /// <param name="memory">Guest RAM the queues live in.</param>
    /// <param name="deviceId">The VIRTIO device ID (1 net, 2 block, ...).</param>
    /// <param name="defaultName">The name when the options give none (QEMU's, e.g. <c>virtio-blk</c>).</param>
    /// <param name="queueCount">How many queues.</param>
    /// <param name="configSize">Bytes of device-specific config space.</param>
    /// <param name="deviceFeatures">The model's own feature bits; VERSION_1 and the ring features are added here.</param>
    /// <param name="options">Shared settings; defaults when null.</param>
    protected VirtioDevice(GuestMemory memory, uint deviceId, string defaultName, int queueCount, int configSize, ulong deviceFeatures, VirtioDeviceOptions? options)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(queueCount);
        ArgumentOutOfRangeException.ThrowIfNegative(configSize);
        _options = options ?? new VirtioDeviceOptions();
        _coarseClock = ReferenceEquals(_options.TimeProvider, TimeProvider.System);
        if (!SplitRing.IsValidSize(_options.QueueSize))
        {
            throw new ArgumentException($"queue size {_options.QueueSize} is not a power of two in 1..32768", nameof(options));
        }

        Memory = memory;
        DeviceId = deviceId;
        Name = _options.Name ?? defaultName;
        Logger = _options.LoggerFactory?.CreateLogger("Virtio.Device." + Name) ?? NullLogger.Instance;
        _trace = Logger.IsEnabled(LogLevel.Trace);
        DeviceFeatures = deviceFeatures | VirtioFeature.Version1
            | (_options.EventIdx ? VirtioFeature.RingEventIdx : 0)
            | (_options.IndirectDescriptors ? VirtioFeature.RingIndirectDesc : 0);
        _config = new byte[configSize];
        ILogger? ringLogger = _options.LoggerFactory is null ? null : Logger;

        // Instruments per device on the host's meter, or the shared ones on the static meter (no factory).
        RingMetrics ringMetrics = RingMetrics.Default;
        _metrics = DeviceMetrics.Default;
        if (_options.MeterFactory is { } meterFactory)
        {
            Meter meter = RingMetrics.MeterFor(meterFactory);
            ringMetrics = new RingMetrics(meter);
            _metrics = new DeviceMetrics(meter);
        }

        _queues = new VirtioQueue[queueCount];
        for (int i = 0; i < queueCount; i++)
        {
            var ring = new SplitQueue(memory, _options.QueueSize, i, Name) { Logger = ringLogger, Metrics = ringMetrics };
            ring.Broken += OnRingBroken;
            _queues[i] = new VirtioQueue(this, ring);
        }
    }

    /// <summary>The VIRTIO device ID.</summary>
    public uint DeviceId { get; }

    /// <summary>The device's name (QEMU's <c>vdev-&gt;name</c>).</summary>
    public string Name { get; }

    /// <summary>Guest RAM.</summary>
    public GuestMemory Memory { get; }

    /// <summary>The features the device offers.</summary>
    public ulong DeviceFeatures { get; }

    /// <summary>The features the driver acknowledged (meaningful once FEATURES_OK is set).</summary>
    public ulong DriverFeatures => _driverFeatures;

    /// <summary>The status byte.</summary>
    public DeviceStatus Status => (DeviceStatus)Volatile.Read(ref _status);

    /// <summary>The config generation counter; changes whenever the device changes its config space.</summary>
    public uint ConfigGeneration => (uint)Volatile.Read(ref _configGeneration);

    /// <summary>Bytes of device-specific config space.</summary>
    public int ConfigSize => _config.Length;

    /// <summary>Pending interrupt reasons (virtio-mmio InterruptStatus); cleared by <see cref="AcknowledgeInterrupt"/>.</summary>
    public InterruptReason InterruptStatus => (InterruptReason)Volatile.Read(ref _interruptStatus);

    /// <summary>
    /// The device's interrupt line, signalled whenever a reason is added to <see cref="InterruptStatus"/> (and the
    /// default call channel of every queue).
    /// </summary>
    public IEventNotifier Interrupt => _interrupt;

    /// <summary>The queues.</summary>
    public IReadOnlyList<VirtioQueue> Queues => _queues;

    /// <summary>True once DRIVER_OK was accepted, until reset, a device error or FAILED.</summary>
    public bool IsLive => _live;

    /// <summary>True after a device error (NEEDS_RESET), until reset.</summary>
    public bool IsBroken => _brokenReason is not null;

    /// <summary>Why the device broke (the ring's or the model's error text), or null.</summary>
    public string? BrokenReason => _brokenReason;

    /// <summary>Who runs queue handlers.</summary>
    public QueueProcessing Processing => _options.Processing;

    /// <summary>The device's logger (a null logger when none was configured).</summary>
    protected ILogger Logger { get; }

    /// <summary>
    /// Whether <see cref="Logger"/> had trace events on when the device was created or last set DRIVER_OK: the
    /// per-request paths ask this instead of the logger on every request, as <see cref="SplitQueue"/> does.
    /// </summary>
    protected bool TraceEnabled => _trace;

    /// <summary>The device-specific config space, for the model to fill in; see <see cref="NotifyConfigChanged"/>.</summary>
    protected Span<byte> Config => _config;

    /// <summary>The host's meter factory (<see cref="VirtioDeviceOptions.MeterFactory"/>), for the model's own instruments; null for the static meters.</summary>
    protected IMeterFactory? MeterFactory => _options.MeterFactory;

    internal TimeProvider Clock => _options.TimeProvider;

    /// <summary>
    /// When a chain was popped, for <see cref="VirtioQueue.GetInFlight"/>: on the system clock the coarse millisecond
    /// tick (CLOCK_MONOTONIC_COARSE: an in-flight age needs no more, and a precise clock costs too much per pop; see
    /// docs/benchmarks.md), otherwise the configured <see cref="VirtioDeviceOptions.TimeProvider"/>'s timestamp.
    /// </summary>
    internal long PopTimestamp() => _coarseClock ? Environment.TickCount64 : Clock.GetTimestamp();

    /// <summary>The time from a <see cref="PopTimestamp"/> to <paramref name="now"/>, another one.</summary>
    internal TimeSpan PopAge(long popped, long now) =>
        _coarseClock ? TimeSpan.FromMilliseconds(now - popped) : Clock.GetElapsedTime(popped, now);

    internal bool CanProcess => _live && _brokenReason is null;

    internal bool CanComplete => _brokenReason is null;

    /// <summary>Whether the driver acknowledged <paramref name="feature"/>.</summary>
    public bool HasFeature(ulong feature) => (_driverFeatures & feature) == feature;

    /// <summary>
    /// Sets the driver's features (DriverFeatures). Ignored after FEATURES_OK, as the driver may not change them then.
    /// Bits the device did not offer are kept and make FEATURES_OK fail.
    /// </summary>
    /// <returns>False when the write was ignored.</returns>
    public bool SetDriverFeatures(ulong features)
    {
        if ((Status & DeviceStatus.FeaturesOk) != 0)
        {
            DeviceLog.DriverError(Logger, Name, "driver features written after FEATURES_OK");
            return false;
        }

        _driverFeatures = features;
        return true;
    }

    /// <summary>
    /// The driver writes the status byte. 0 resets the device. Setting FEATURES_OK validates the driver's features and is
    /// refused (the bit stays clear) when they are not acceptable; setting DRIVER_OK makes the device live and serves
    /// whatever the driver made available before.
    /// </summary>
    public void WriteStatus(DeviceStatus value)
    {
        if (value == DeviceStatus.None)
        {
            Reset();
            return;
        }

        // One compare-and-swap for the whole update: a DeviceError on a worker between the read and the write must
        // not lose DEVICE_NEEDS_RESET (the bit is the device's, sticky until reset; the driver cannot clear it).
        DeviceStatus old, next;
        string? refusal;
        bool activate;
        do
        {
            old = Status;
            DeviceStatus added = value & ~old;
            next = (value & ~DeviceStatus.DeviceNeedsReset) | (old & DeviceStatus.DeviceNeedsReset);
            refusal = (added & DeviceStatus.FeaturesOk) != 0 ? ValidateNegotiation() : null;
            if (refusal is not null)
            {
                next &= ~DeviceStatus.FeaturesOk;
            }

            activate = (added & DeviceStatus.DriverOk) != 0;
            if (activate && (next & DeviceStatus.FeaturesOk) == 0)
            {
                next &= ~DeviceStatus.DriverOk;
            }
        }
        while (Interlocked.CompareExchange(ref _status, (int)next, (int)old) != (int)old);

        if (refusal is not null)
        {
            DeviceLog.FeaturesRefused(Logger, Name, refusal);
        }

        if (activate && (next & DeviceStatus.DriverOk) == 0)
        {
            DeviceLog.DriverError(Logger, Name, "DRIVER_OK without FEATURES_OK");
            activate = false;
        }

        DeviceLog.SetStatus(Logger, Name, old, next);
        if ((value & ~old & DeviceStatus.Failed) != 0)
        {
            _live = false;
        }
        else if (activate)
        {
            Activate();
        }
    }

    /// <summary>Reads device-specific config space. Bytes past its end read as 0.</summary>
    public void ReadConfig(int offset, Span<byte> destination)
    {
        destination.Clear();
        if (offset >= 0 && offset < _config.Length)
        {
            ReadOnlySpan<byte> source = _config.AsSpan(offset);
            source[..Math.Min(source.Length, destination.Length)].CopyTo(destination);
        }
    }

    /// <summary>The driver writes config space; only fields the model makes writable change.</summary>
    /// <returns>False when the write was ignored.</returns>
    public bool WriteConfig(int offset, ReadOnlySpan<byte> source)
    {
        if (offset < 0 || offset + source.Length > _config.Length || !WriteConfigField(offset, source))
        {
            DeviceLog.DriverError(Logger, Name, $"config write of {source.Length} byte(s) at {offset} ignored");
            return false;
        }

        return true;
    }

    /// <summary>The driver acknowledges interrupt reasons (InterruptACK).</summary>
    public void AcknowledgeInterrupt(InterruptReason reasons) => Interlocked.And(ref _interruptStatus, ~(int)reasons);

    /// <summary>
    /// Makes a queue ready (QueueReady = 1) with the negotiated ring features. A bad size or ring address is a
    /// device error (NEEDS_RESET).
    /// </summary>
    /// <returns>False when the queue could not be enabled.</returns>
    public bool EnableQueue(int index)
    {
        VirtioQueue queue = _queues[index];
        using (queue.EnterLock())
        {
            SplitQueue ring = queue.Ring;
            if (ring.IsReady)
            {
                return true;
            }

            ring.EventIdx = HasFeature(VirtioFeature.RingEventIdx);
            ring.IndirectDescriptors = HasFeature(VirtioFeature.RingIndirectDesc);
            if (ring.Enable() is not null)
            {
                return false; // the ring's Broken event made it a device error
            }
        }

        if (_live)
        {
            queue.Handle(); // a queue enabled after DRIVER_OK may already hold buffers
        }

        return true;
    }

    /// <summary>Stops using a queue (QueueReady = 0): waits for its requests in flight, then resets it.</summary>
    public void DisableQueue(int index) => ResetQueue(_queues[index], Stopwatch.GetTimestamp());

    /// <summary>
    /// A kick (QueueNotify): signals the queue's kick channel; with <see cref="QueueProcessing.Inline"/> the caller's
    /// thread then serves it. An index past the last queue is ignored (false).
    /// </summary>
    public bool Notify(int queueIndex)
    {
        if ((uint)queueIndex >= (uint)_queues.Length)
        {
            DeviceLog.DriverError(Logger, Name, $"notify of queue {queueIndex}, which does not exist");
            return false;
        }

        VirtioQueue queue = _queues[queueIndex];
        queue.Kick.Signal();
        if (_options.Processing == QueueProcessing.Inline)
        {
            ServeKick(queue);
        }

        return true;
    }

    /// <summary>
    /// Serves a queue without a kick, on the caller's thread: one round of a busy-polling device (Linux vhost's
    /// <c>vhost_net_busy_poll</c>, DPDK's vhost PMD). Set <see cref="VirtioQueue.Polled"/> first so that the handler
    /// leaves notifications off; an index past the last queue is ignored.
    /// </summary>
    public void Poll(int queueIndex)
    {
        if ((uint)queueIndex < (uint)_queues.Length && CanProcess)
        {
            _queues[queueIndex].Handle();
        }
    }

    /// <summary>
    /// Serves every queue whose kick channel is set (inline processing): kicks that a delaying channel delivered
    /// after the fact, or that arrived before the device was live.
    /// </summary>
    public void ProcessPendingKicks()
    {
        foreach (VirtioQueue queue in _queues)
        {
            ServeKick(queue);
        }
    }

    /// <summary>
    /// Resets the device (status 0), as QEMU's <c>virtio_reset</c>: stops processing, waits for the backend's requests
    /// in flight (up to <see cref="VirtioDeviceOptions.ResetDrainTimeout"/>) so that no late completion writes guest
    /// RAM, then returns features, status, interrupts and every queue to their initial state.
    /// </summary>
    public void Reset()
    {
        _live = false;
        DeviceLog.Reset(Logger, Name);
        _metrics.Resets.Add(1, new KeyValuePair<string, object?>("device", Name));
        OnResetting();
        long start = Stopwatch.GetTimestamp();
        foreach (VirtioQueue queue in _queues)
        {
            ResetQueue(queue, start);
        }

        _driverFeatures = 0;
        Volatile.Write(ref _status, 0);
        Volatile.Write(ref _interruptStatus, 0);
        _brokenReason = null;
        OnReset();
    }

    /// <summary>
    /// A device error (QEMU's <c>virtio_error</c>): the driver broke a rule. Sets DEVICE_NEEDS_RESET, raises a
    /// config-change interrupt, stops every queue and keeps <paramref name="message"/> until reset. Only the first
    /// error is kept.
    /// </summary>
    public void DeviceError(string message)
    {
        if (Interlocked.CompareExchange(ref _brokenReason, message, null) is not null)
        {
            return;
        }

        _live = false;
        Interlocked.Or(ref _status, (int)DeviceStatus.DeviceNeedsReset);
        DeviceLog.DeviceError(Logger, Name, message);
        _metrics.NeedsReset.Add(1, new KeyValuePair<string, object?>("device", Name));
        RaiseInterrupt(InterruptReason.ConfigChange, _interrupt);
    }

    /// <summary>
    /// Whether the device pops <paramref name="queueIndex"/>'s buffers only when it has something to put in them (a
    /// receive queue: net rx, balloon stats, vsock events) rather than serving each as it comes (a request queue, the
    /// default). The hang analysis reads buffers seen but not popped as idle on the first and as a stopped handler on
    /// the second.
    /// </summary>
    public virtual bool PopsOnDemand(int queueIndex) => false;

    /// <summary>
    /// A device error caused by a chain the handler popped (QEMU's <c>virtio_error</c> followed by
    /// <c>virtqueue_detach_element</c>): breaks the device as <see cref="DeviceError(string)"/> does and gives the chain
    /// up without a used element, so a reset does not wait for it.
    /// </summary>
    /// <exception cref="ArgumentNullException"><paramref name="queue"/> is null.</exception>
    public void DeviceError(VirtioQueue queue, in DescriptorChain chain, string message)
    {
        ArgumentNullException.ThrowIfNull(queue);
        DeviceError(message);
        queue.Complete(chain, 0); // on a broken device this writes nothing: it only ends the chain's time in flight
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Resets the device and stops its workers; a model releases its backend here.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (_disposed)
        {
            return;
        }

        Reset();
        _disposed = true;
        foreach (Thread worker in _workers ?? [])
        {
            worker.Join();
        }
    }

    /// <summary>
    /// Handles a kick on <paramref name="queue"/> (QEMU's <c>handle_output</c>), with the queue's lock held. The default
    /// pops every available chain with notifications suppressed, hands each to <see cref="HandleChain"/>, then
    /// re-enables notifications and re-checks the ring so that a buffer added meanwhile is not missed.
    /// </summary>
    protected virtual void HandleQueue(VirtioQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        SplitQueue ring = queue.Ring;
        do
        {
            ring.SetNotification(false);
            while (CanProcess && queue.TryPop(out DescriptorChain chain))
            {
                HandleChain(queue, chain);
            }
        }
        while (CanProcess && !queue.Polled && ring.EnableNotificationAndRecheck());
    }

    /// <summary>Handles one popped chain; complete it now or later with <see cref="VirtioQueue.Complete"/>.</summary>
    protected virtual void HandleChain(VirtioQueue queue, in DescriptorChain chain) =>
        DeviceError($"{Name}: queue {queue?.Index} has no handler");

    /// <summary>Checks the driver's features when it sets FEATURES_OK; returns why they are refused, or null.</summary>
    protected virtual string? ValidateFeatures(ulong driverFeatures) => null;

    /// <summary>Applies a driver write to a writable config field; false (the default) ignores it.</summary>
    protected virtual bool WriteConfigField(int offset, ReadOnlySpan<byte> source) => false;

    /// <summary>DRIVER_OK was accepted: the model starts using the negotiated features (before queues are served).</summary>
    protected virtual void OnActivate()
    {
    }

    /// <summary>A reset begins: the model asks its backend to finish or cancel outstanding work.</summary>
    protected virtual void OnResetting()
    {
    }

    /// <summary>A reset is done: the model returns its own state (config fields the driver may write) to defaults.</summary>
    protected virtual void OnReset()
    {
    }

    /// <summary>The model changed its config space: bumps the generation and, when live, interrupts the driver.</summary>
    protected void NotifyConfigChanged()
    {
        Interlocked.Increment(ref _configGeneration);
        if ((Status & DeviceStatus.DriverOk) != 0)
        {
            RaiseInterrupt(InterruptReason.ConfigChange, _interrupt);
        }
    }

    /// <summary>Throws when the device is live (for settings that must not change under the driver).</summary>
    protected internal void ThrowIfLive()
    {
        if (_live)
        {
            throw new InvalidOperationException($"{Name} is live: change this before DRIVER_OK or after a reset");
        }
    }

    internal void HandleQueueCore(VirtioQueue queue) => HandleQueue(queue);

    /// <summary>
    /// Every ring error comes here, from the pop, <see cref="SplitQueue.AvailableCount"/>, a walk of an in-flight chain
    /// or an enable, on whichever thread found it and possibly under the queue's lock: <see cref="DeviceError(string)"/>
    /// takes no lock, so NEEDS_RESET and the config interrupt happen at once.
    /// </summary>
    private void OnRingBroken(SplitQueue ring, VirtqueueError error) => DeviceError(error.ToString());

    internal void OnHandlerFailed(VirtioQueue queue, Exception exception)
    {
        DeviceLog.HandlerFailed(Logger, Name, queue.Index, exception);
        DeviceError($"{Name}: queue {queue.Index} handler failed: {exception.GetType().Name}: {exception.Message}");
    }

    internal void OnStaleCompletion()
    {
        if (Volatile.Read(ref _staleInFlight) > 0 && Interlocked.Decrement(ref _staleInFlight) == 0)
        {
            Memory.ReleaseUser();
        }
    }

    internal void RaiseInterrupt(InterruptReason reason, IEventNotifier channel)
    {
        Interlocked.Or(ref _interruptStatus, (int)reason);
        _metrics.Interrupts.Add(1, new KeyValuePair<string, object?>("reason", reason == InterruptReason.UsedBuffer ? "used" : "config"));
        if (_trace)
        {
            DeviceLog.Notify(Logger, Name, reason);
        }

        channel.Signal();
    }

    private string? ValidateNegotiation()
    {
        ulong unknown = _driverFeatures & ~DeviceFeatures;
        if (unknown != 0)
        {
            return $"driver features 0x{_driverFeatures:x} include bits 0x{unknown:x} the device did not offer";
        }

        if ((_driverFeatures & VirtioFeature.Version1) == 0)
        {
            return "VIRTIO_F_VERSION_1 not accepted (legacy drivers are not supported)";
        }

        return ValidateFeatures(_driverFeatures);
    }

    private void Activate()
    {
        _trace = Logger.IsEnabled(LogLevel.Trace); // sampled here and at creation, not per request or notification
        OnActivate();
        _live = true;
        if (_options.Processing == QueueProcessing.Worker)
        {
            StartWorkers();
        }

        // Serve what the driver made available before DRIVER_OK: its kick may have come early (Firecracker 0899ee515).
        foreach (VirtioQueue queue in _queues)
        {
            IRingFaultPlan? plan = queue.Ring.FaultPlan;
            if (plan is not null && plan.ShouldInject(RingFaultPoint.DeviceDropKickBeforeActivation, queue.Index, queue.Ring.LastAvailIdx))
            {
                queue.Kick.TestAndClear();
                continue;
            }

            if (_options.Processing == QueueProcessing.Inline)
            {
                queue.Kick.TestAndClear();
            }

            queue.Handle();
        }
    }

    private void ServeKick(VirtioQueue queue)
    {
        if (CanProcess && queue.Kick.TestAndClear() != 0)
        {
            queue.Handle();
        }
    }

    private void ResetQueue(VirtioQueue queue, long start)
    {
        // Requests the backend holds must finish before the ring goes away (QEMU drains the block layer on reset).
        int inFlight;
        while ((inFlight = queue.InFlight) > 0 && Stopwatch.GetElapsedTime(start) < _options.ResetDrainTimeout)
        {
            Thread.Sleep(1);
        }

        using (queue.EnterLock())
        {
            inFlight = queue.InFlight;
            if (inFlight > 0)
            {
                // Their buffers stay valid guest memory until the last late completion arrives and is discarded.
                DeviceLog.ResetDrainTimeout(Logger, Name, inFlight, _options.ResetDrainTimeout);
                if (Interlocked.Add(ref _staleInFlight, inFlight) == inFlight)
                {
                    Memory.AddUser();
                }
            }

            queue.Ring.Reset();
            queue.ResetBookkeeping();
        }
    }

    private void StartWorkers()
    {
        if (_workers is not null)
        {
            return;
        }

        _workers = new Thread[_queues.Length];
        for (int i = 0; i < _queues.Length; i++)
        {
            VirtioQueue queue = _queues[i];
            _workers[i] = new Thread(() => WorkerLoop(queue)) { IsBackground = true, Name = $"{Name}-vq{i}" };
            _workers[i].Start();
        }
    }

    private void WorkerLoop(VirtioQueue queue)
    {
        // Wakes on the kick channel like an iothread on an ioeventfd; the timeout only bounds how long Dispose waits
        // when a fault-injecting channel swallows the wake-up.
        while (!_disposed)
        {
            if (queue.Kick.Wait(250) && queue.Kick.TestAndClear() != 0)
            {
                queue.Handle();
            }
        }
    }
}
