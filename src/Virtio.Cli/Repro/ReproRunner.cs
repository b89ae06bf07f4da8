using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Faults;
using Virtio.Diagnostics.Watchdog;
using Virtio.Driver;
using Virtio.Faults;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;
using Virtio.Transport;

namespace Virtio.Cli.Repro;

/// <summary>
/// Runs a <see cref="ReproScenario"/>: a Linux-like guest driver sends batches of requests to the device over
/// virtio-mmio and waits for each batch's interrupt, all on one thread (<see cref="QueueProcessing.Inline"/>) and on
/// the scenario's own clock. At a seeded batch the fault strikes; the guest then waits, the clock moves a second per
/// step, and the watchdog, checked at each step, reports the stall after its timeout and explains it with the hang
/// analysis. Races are not left to chance: the fault seams of Core are the hooks at which the other side acts, and
/// a store the racing side has not yet made visible is held back in guest RAM for exactly that step.
/// </summary>
public sealed class ReproRunner : IDisposable
{
    /// <summary>The watchdog's stall timeout, on the scenario's clock.</summary>
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(5);

    // Guest RAM: 4 MiB for the small rings the scenarios use by default, plus room that grows with --ring-size (the
    // rings, an indirect table per entry and the request buffers), so every size up to 32768 runs.
    private readonly ulong _memoryBytes;
    private const int MaxBatch = 4;
    private const int Batches = 8;
    private const int MaxSteps = 60;

    private readonly ReproScenario _scenario;
    private readonly ReproOptions _options;
    private readonly ScenarioDevice _adapter;
    private readonly ScenarioClock _clock = new();
    private readonly GuestMemory _memory;
    private readonly VirtioDevice _device;
    private readonly VirtioQueue _queue;
    private readonly VirtioMmioGuestDriver<int> _driver;
    private readonly QueueWatchdog _watchdog;
    private readonly Random _random;
    private DriverQueue<int> _vq = null!;
    private int _nextToken;
    private int _outstanding;
    private int _completed;
    private bool _armed;
    private bool _raced;
    private bool _racingAdd;
    private ushort _staleAvailEvent;
    private string? _diagnosis;

    private ReproRunner(ReproScenario scenario, ReproOptions options, ScenarioDevice adapter)
    {
        _scenario = scenario;
        _options = options;
        _adapter = adapter;
        _random = new Random(options.Seed);
        _memoryBytes = (4UL << 20) + ((ulong)options.RingSize * 2048);
        _memory = GuestMemory.Create(_memoryBytes);
        _device = adapter.Create(_memory, new VirtioDeviceOptions
        {
            QueueSize = Math.Max(options.RingSize, 256), // the maximum (QueueNumMax); the driver sets up RingSize entries
            Processing = QueueProcessing.Inline,
            TimeProvider = _clock,
            ResetDrainTimeout = TimeSpan.FromMilliseconds(10),
        });
        _queue = _device.Queues[adapter.QueueIndex];
        _driver = new VirtioMmioGuestDriver<int>(new VirtioMmioTransport(_device), _memory, 0x1000, _memoryBytes - 0x1000);
        _watchdog = new QueueWatchdog(new QueueWatchdogOptions
        {
            StallTimeout = StallTimeout,
            CheckPeriod = TimeSpan.Zero,
            TimeProvider = _clock,
            Diagnose = LiveHangDiagnosis.For(_device),
        });
        _watchdog.Stalled += (_, e) => _diagnosis = e.Diagnosis;
    }

    private bool Inject => _options.InjectFault;

    /// <summary>Runs <paramref name="scenario"/> with <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">The device is unknown or the ring size is not a power of two of at least 2.</exception>
    public static ReproResult Run(ReproScenario scenario, ReproOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        ScenarioDevice adapter = ScenarioDevice.Create(options.Device)
            ?? throw new ArgumentException($"unknown device '{options.Device}' (ring, blk or net)", nameof(options));
        if (scenario.ExpectedFor(options.EventIdx) is null)
        {
            throw new ArgumentException($"{scenario.Name} needs VIRTIO_RING_F_EVENT_IDX: its race is on avail_event or used_event", nameof(options));
        }

        if (options.RingSize < CommandLine.CliOption.MinRingSize || !SplitRing.IsValidSize(options.RingSize))
        {
            throw new ArgumentException($"ring size {options.RingSize} is not a power of two from {CommandLine.CliOption.MinRingSize} to {SplitRing.MaxQueueSize}", nameof(options));
        }

        using var runner = new ReproRunner(scenario, options, adapter);
        return runner.Execute();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _adapter.Release();
        _watchdog.Dispose();
        _driver.Dispose();
        _device.Dispose();
        _memory.Dispose();
    }

    private ReproResult Execute()
    {
        InstallChannelFaults();
        _driver.Probe((_options.EventIdx ? VirtioFeature.RingEventIdx : 0) | VirtioFeature.RingIndirectDesc | _adapter.Features, _adapter.QueueIndex + 1, _options.RingSize, driverOk: false);
        _vq = _driver.Queues[_adapter.QueueIndex];
        _adapter.AllocateSlots(_driver, _options.RingSize);
        _queue.Ring.FaultPlan = new ScenarioRingFaultPlan(DeviceStep);
        _vq.FaultPlan = new ScenarioRingFaultPlan((point, _) => point == RingFaultPoint.DriverReadAvailEventBeforeAvailIdx && _racingAdd && Inject);
        _watchdog.Watch(_queue.Ring, () => _vq.LastUsedIdx);

        bool hung;
        if (_scenario.Name == "kick-before-ready")
        {
            // Linux can notify as soon as a queue is set up; the device must look at the ring when DRIVER_OK comes.
            _armed = true;
            AddBatch(1 + _random.Next(Math.Min(_options.RingSize, MaxBatch)));
            _vq.Kick();
            _driver.SetDriverOk();
            hung = WaitForBatch();
        }
        else
        {
            _driver.SetDriverOk();
            FastForward(_options.StartIndex);
            hung = RunBatches();
        }

        HangReport report = LiveHangDiagnosis.Analyze(_queue);
        VirtioStatus status = VirtioStatus.Capture(_device);
        if (_options.DumpDirectory is { } dir)
        {
            Dump(dir, report, status);
        }

        return new ReproResult(_scenario, _options, report, hung, _diagnosis ?? string.Empty, _completed, status);
    }

    private void InstallChannelFaults()
    {
        // The channels are replaced before DRIVER_OK, as a VMM wires ioeventfd and irqfd before the guest runs.
        if (_scenario.Name == "dropped-kick")
        {
            var plan = new SignalFaultPlan { Seed = _options.Seed, TimeProvider = _clock }.Drop(SignalSelector.After(() => _armed && Inject));
            _queue.Kick = new FaultyEventNotifier(new EventNotifier(), plan, $"{_device.Name}/{_queue.Index}/kick");
        }
        else if (_scenario.Name == "dropped-call")
        {
            var plan = new SignalFaultPlan { Seed = _options.Seed, TimeProvider = _clock }.Drop(SignalSelector.After(() => _armed && Inject));
            _queue.Call = new FaultyEventNotifier(_device.Interrupt, plan, $"{_device.Name}/{_queue.Index}/call");
        }
    }

    private void FastForward(ushort target)
    {
        while (_vq.AvailIdxShadow != target)
        {
            int n = Math.Min(_options.RingSize, (ushort)(target - _vq.AvailIdxShadow));
            AddBatch(n);
            _vq.Kick();
            TakeInterrupt();
            if (_outstanding != 0)
            {
                throw new InvalidOperationException($"fast-forward to ring index {target}: {_outstanding} request(s) did not complete at {_vq.AvailIdxShadow}");
            }
        }
    }

    private bool RunBatches()
    {
        _watchdog.Check(); // baseline
        int faultBatch = _scenario.Hangs ? 1 + _random.Next(3) : -1;
        int armedAt = -1;
        for (int batch = 0; batch < Batches || (faultBatch >= 0 && (armedAt < 0 || batch <= armedAt + 1)); batch++)
        {
            if (batch > 64)
            {
                throw new InvalidOperationException($"{_scenario.Name}: the fault never found a batch to strike");
            }

            // The racing scenarios add one request more inside the device's handler: leave it a descriptor.
            int room = _options.RingSize - (NeedsRacingSlot ? 1 : 0);
            int size = 1 + _random.Next(Math.Min(room, MaxBatch));
            if (faultBatch >= 0 && !_armed && batch >= faultBatch && AwayFromZero(_vq.AvailIdxShadow, size + 1))
            {
                Arm();
                armedAt = batch;
            }

            if (_armed && !_raced && _scenario.Name == "device-missing-barrier")
            {
                _vq.DisableCallbacks(); // the driver is still in its completion handler (virtblk_done) for the last batch
            }

            AddBatch(size);
            if (_armed && _scenario.Name == "hostile-descriptor-loop" && Inject)
            {
                WriteDescriptorLoop();
            }

            _vq.Kick();
            if (_racingPublishPending)
            {
                // The driver's avail->idx store becomes visible only now; its kick decision uses avail_event as read before.
                WriteIndex(_queue.Ring.AvailRingAddress + 2, _vq.AvailIdxShadow);
                _racingPublishPending = false;
                _vq.Kick();
            }

            if (WaitForBatch())
            {
                return true;
            }
        }

        return false;
    }

    private bool NeedsRacingSlot => _scenario.Name is "stale-avail-event" or "driver-missing-barrier";

    private bool _racingPublishPending;

    private void Arm()
    {
        _armed = true;
        if (_scenario.Name == "stalled-backend" && Inject)
        {
            _adapter.Stall();
        }
    }

    // Dropped-call, slow-interrupt-handler and device-missing-barrier leave used_event at the driver's position, which must not be 0 (Linux's
    // "callbacks disabled" value) nor pass through 0 during the batch, or question 3 could not tell.
    private static bool AwayFromZero(ushort start, int count)
    {
        for (int i = 0; i <= count; i++)
        {
            if ((ushort)(start + i) == 0)
            {
                return false;
            }
        }

        return true;
    }

    private void AddBatch(int size)
    {
        for (int i = 0; i < size; i++)
        {
            AddOne();
        }
    }

    private void AddOne()
    {
        int token = _nextToken++;
        AddResult r = _adapter.Add(_vq, token % _options.RingSize, token);
        if (r != AddResult.Added)
        {
            throw new InvalidOperationException($"{_scenario.Name}: adding request {token} gave {r}");
        }

        _outstanding++;
    }

    // The guest waits for its interrupt; each step is a second of the scenario's clock and a watchdog check.
    private bool WaitForBatch()
    {
        for (int step = 0; step < MaxSteps; step++)
        {
            TakeInterrupt();
            if (_outstanding == 0)
            {
                _clock.Advance(TimeSpan.FromMilliseconds(10));
                _watchdog.Check();
                return false;
            }

            _clock.Advance(TimeSpan.FromSeconds(1));
            if (_watchdog.Check() > 0)
            {
                _raced = true;
                return true;
            }
        }

        throw new InvalidOperationException($"{_scenario.Name}: {_outstanding} request(s) outstanding and the watchdog did not fire in {MaxSteps} s");
    }

    // Linux's vm_interrupt + vring_interrupt + virtblk_done: read and acknowledge the interrupt (event_triggered), then
    // drain with callbacks disabled and re-enable them (writing used_event = last_used_idx), looping if completions
    // arrived meanwhile.
    private void TakeInterrupt()
    {
        if (_device.Interrupt.TestAndClear() == 0)
        {
            return;
        }

        _driver.TakeInterrupt();
        if (!_vq.OnInterrupt())
        {
            return; // IRQ_NONE: nothing used
        }

        if (_armed && _scenario.Name == "slow-interrupt-handler" && Inject)
        {
            // The handler starts (disable_cb, which after the interrupt leaves used_event where it was) and then is
            // busy elsewhere, or stuck, before it reaches the used ring: the interrupt was delivered, not lost.
            _vq.DisableCallbacks();
            return;
        }

        do
        {
            _vq.DisableCallbacks();
            while (_vq.TryGetBuffer(out _, out _))
            {
                _outstanding--;
                _completed++;
            }
        }
        while (!_vq.EnableCallbacks());
    }

    // The device's steps, seen through its fault seams: the fault decisions, and the racing driver's moves.
    private bool DeviceStep(RingFaultPoint point, ushort ringIndex)
    {
        if (!_armed)
        {
            return false;
        }

        switch (_scenario.Name, point)
        {
            case ("kick-before-ready", RingFaultPoint.DeviceDropKickBeforeActivation):
                return Inject;

            case ("notifications-left-disabled", RingFaultPoint.DeviceLeaveNotificationsDisabled):
                return Inject;

            case ("stale-avail-event", RingFaultPoint.DeviceLeaveNotificationsDisabled) when !_raced:
                _staleAvailEvent = ReadIndex(AvailEventAddress); // what the driver reads until the device's store lands
                return false;

            case ("stale-avail-event", RingFaultPoint.DeviceSkipRecheckAfterEnable) when !_raced:
            {
                // The device read avail->idx and stored avail_event; before that store is visible the driver adds a
                // buffer, fences, and reads the old avail_event: no kick. Only the device's re-check can find it.
                _raced = true;
                ushort fresh = ReadIndex(AvailEventAddress);
                WriteIndex(AvailEventAddress, _staleAvailEvent);
                AddOne();
                _vq.Kick();
                WriteIndex(AvailEventAddress, fresh);
                return Inject;
            }

            case ("driver-missing-barrier", RingFaultPoint.DeviceLeaveNotificationsDisabled) when !_raced:
            {
                // The device drained the ring and is about to enable notifications and re-check. The driver adds a
                // buffer: it reads avail_event (still stale: notifications are off) and stores avail->idx, a store the
                // device does not see until after its re-check. A correct driver fences and reads avail_event after.
                _raced = true;
                ushort visible = ReadIndex(_queue.Ring.AvailRingAddress + 2);
                _racingAdd = true;
                AddOne();
                _racingAdd = false;
                WriteIndex(_queue.Ring.AvailRingAddress + 2, visible);
                _racingPublishPending = true;
                return false;
            }

            case ("device-missing-barrier", RingFaultPoint.DeviceReadUsedEventBeforeUsedIdx) when !_raced:
                return Inject;

            case ("device-missing-barrier", RingFaultPoint.DeviceLeaveNotificationsDisabled) when !_raced:
            {
                // The device flushed the batch's completions but has not decided on the interrupt yet. The driver's
                // completion handler ends now: enable_cb writes used_event = last_used_idx and polls used->idx, which
                // does not show the device's store yet. A correct device fences and reads that used_event; this one
                // read used_event (0, callbacks disabled) before its store.
                _raced = true;
                ushort published = ReadIndex(_queue.Ring.UsedRingAddress + 2);
                WriteIndex(_queue.Ring.UsedRingAddress + 2, _vq.LastUsedIdx);
                bool sleeps = _vq.EnableCallbacks();
                WriteIndex(_queue.Ring.UsedRingAddress + 2, published);
                if (!sleeps)
                {
                    throw new InvalidOperationException("device-missing-barrier: the driver's poll saw the held-back used->idx");
                }

                return false;
            }

            default:
                return false;
        }
    }

    private ulong AvailEventAddress => _queue.Ring.UsedRingAddress + 4 + (8 * (ulong)_queue.Ring.Size);

    private void WriteDescriptorLoop()
    {
        // The last request's head descriptor now points at itself: a chain that never ends.
        SplitQueue ring = _queue.Ring;
        ushort position = (ushort)(_vq.AvailIdxShadow - 1);
        ushort head = ReadIndex(ring.AvailRingAddress + 4 + (2 * (ulong)(position & (ring.Size - 1))));
        Span<byte> d = _memory.GetSpan(ring.DescriptorTableAddress + (16 * (ulong)head), 16);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], 16);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], (ushort)DescriptorFlags.Next);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], head);
    }

    private ushort ReadIndex(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(_memory.GetSpan(address, 2));

    private void WriteIndex(ulong address, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(address, 2), value);

    private void Dump(string directory, HangReport report, VirtioStatus status)
    {
        Directory.CreateDirectory(directory);
        using (FileStream ram = File.Create(Path.Combine(directory, "ram.bin")))
        {
            _memory.Dump(ram);
        }

        File.WriteAllText(Path.Combine(directory, "queue-status.json"), report.QueueStatus.ToQmpReplyJson(indented: true) + "\n");
        File.WriteAllText(Path.Combine(directory, "virtio-status.json"), status.ToQmpReplyJson(indented: true) + "\n");
    }
}
