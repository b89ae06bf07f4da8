using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Diagnostics;
using Virtio.Diagnostics.Watchdog;
using Virtio.Driver;
using Virtio.Faults;
using Virtio.Memory;
using Virtio.Rings;
using Virtio.Scenarios.Adapters;
using Virtio.Transport;

namespace Virtio.Scenarios;

/// <summary>
/// Runs a <see cref="ReproScenario"/>: a Linux-like guest driver sends batches of requests to the device over
/// virtio-mmio and waits for each batch's interrupt, all on one thread (<see cref="QueueProcessing.Inline"/>) and on
/// the scenario's own clock. At a seeded batch the fault strikes; the guest then waits, the clock moves a second per
/// step, and the watchdog, checked at each step, reports the stall after its timeout and explains it with the hang
/// analysis. Races are not left to chance: the fault seams of Core are the hooks at which the other side acts, and
/// a store the racing side has not yet made visible is held back in guest RAM for exactly that step.
/// The runner knows no scenario by name: it calls the scenario's hooks at fixed points, and the scenario acts through
/// the members below (the guest's queue, the device's ring, guest RAM).
/// </summary>
public sealed class ReproRunner : IDisposable
{
    /// <summary>The watchdog's stall timeout, on the scenario's clock.</summary>
    public static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The smallest ring a scenario runs on. The spec allows a one-entry queue, but the racing scenarios keep one
    /// entry for the request that races the fault, so they need two.
    /// </summary>
    public const int MinRingSize = 2;

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
    private string? _diagnosis;

    private ReproRunner(ReproScenario scenario, ReproOptions options, ScenarioDevice adapter)
    {
        _scenario = scenario.ForOneRun();
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
            LoggerFactory = options.LoggerFactory,
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

    /// <summary>How the scenario runs.</summary>
    public ReproOptions Options => _options;

    /// <summary>Whether the fault is switched on (false in the control run, where every hook still runs).</summary>
    public bool Inject => _options.InjectFault;

    /// <summary>Whether the fault is armed: it may strike from now on.</summary>
    public bool Armed { get; private set; }

    /// <summary>Whether the race was played (a scenario sets it) or the watchdog fired: a racing hook acts once.</summary>
    public bool Raced { get; set; }

    /// <summary>The scenario's clock: time moves only when the runner advances it.</summary>
    public TimeProvider Clock => _clock;

    /// <summary>The device under test.</summary>
    public VirtioDevice Device => _device;

    /// <summary>The device's queue the workload runs on.</summary>
    public VirtioQueue Queue => _queue;

    /// <summary>The guest's (Linux-model) view of that queue.</summary>
    public DriverQueue<int> DriverQueue => _vq;

    /// <summary>The device adapter: builds requests and stalls the backend.</summary>
    public ScenarioDevice Adapter => _adapter;

    /// <summary>Guest RAM.</summary>
    public GuestMemory Memory => _memory;

    /// <summary>Guest-physical address of <c>avail->idx</c>.</summary>
    public ulong AvailIdxAddress => _queue.Ring.AvailRingAddress + sizeof(ushort);

    /// <summary>Guest-physical address of <c>used->idx</c>.</summary>
    public ulong UsedIdxAddress => _queue.Ring.UsedRingAddress + sizeof(ushort);

    /// <summary>Guest-physical address of <c>avail_event</c>, after the used ring's entries (VIRTIO 1.x section 2.7.8).</summary>
    public ulong AvailEventAddress => _queue.Ring.UsedRingAddress + SplitRing.UsedRingBytes(_queue.Ring.Size, eventIdx: false);

    /// <summary>Guest-physical address of <c>avail->ring[position % size]</c>: the avail ring's header and the entries before it.</summary>
    public ulong AvailRingEntryAddress(ushort position) =>
        _queue.Ring.AvailRingAddress + SplitRing.AvailRingBytes(position & (_queue.Ring.Size - 1), eventIdx: false);

    /// <summary>Guest-physical address of descriptor <paramref name="index"/> in the table.</summary>
    public ulong DescriptorAddress(ushort index) => _queue.Ring.DescriptorTableAddress + SplitRing.DescriptorTableBytes(index);

    /// <summary>Reads a 16-bit ring index (little-endian) from guest RAM.</summary>
    public ushort ReadIndex(ulong address) => BinaryPrimitives.ReadUInt16LittleEndian(_memory.GetSpan(address, sizeof(ushort)));

    /// <summary>Writes a 16-bit ring index (little-endian) into guest RAM: a store a scenario holds back or makes visible.</summary>
    public void WriteIndex(ulong address, ushort value) => BinaryPrimitives.WriteUInt16LittleEndian(_memory.GetSpan(address, sizeof(ushort)), value);

    /// <summary>Runs <paramref name="scenario"/> with <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">The device is unknown or the ring size is not a power of two of at least 2.</exception>
    public static ReproResult Run(ReproScenario scenario, ReproOptions options)
    {
        ArgumentNullException.ThrowIfNull(scenario);
        ArgumentNullException.ThrowIfNull(options);
        ScenarioDevice adapter = ScenarioDevice.Create(options.Device)
            ?? throw new ArgumentException($"unknown device '{options.Device}' (ring, blk or net)", nameof(options));
        if (!scenario.Devices.Contains(options.Device))
        {
            throw new ArgumentException($"{scenario.Name} does not run on {options.Device} (only {string.Join(", ", scenario.Devices)})", nameof(options));
        }

        if (scenario.ExpectedFor(options.EventIdx) is null)
        {
            throw new ArgumentException($"{scenario.Name} needs VIRTIO_RING_F_EVENT_IDX: its race is on avail_event or used_event", nameof(options));
        }

        if (options.RingSize < MinRingSize || !SplitRing.IsValidSize(options.RingSize))
        {
            throw new ArgumentException($"ring size {options.RingSize} is not a power of two from {MinRingSize} to {SplitRing.MaxQueueSize}", nameof(options));
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
        // The channels are replaced before DRIVER_OK, as a VMM wires ioeventfd and irqfd before the guest runs.
        _scenario.InstallChannels(this);
        _driver.Probe((_options.EventIdx ? VirtioFeature.RingEventIdx : 0) | VirtioFeature.RingIndirectDesc | _adapter.Features, _adapter.QueueIndex + 1, _options.RingSize, driverOk: false);
        _vq = _driver.Queues[_adapter.QueueIndex];
        _adapter.AllocateSlots(_driver, _options.RingSize);
        _queue.Ring.FaultPlan = new ScenarioRingFaultPlan(DeviceStep);
        _vq.FaultPlan = new ScenarioRingFaultPlan((point, _) => _scenario.DriverStep(this, point));
        _watchdog.Watch(_queue.Ring, () => _vq.LastUsedIdx);

        bool hung;
        if (_scenario.KicksBeforeDriverOk)
        {
            // Linux can notify as soon as a queue is set up; the device must look at the ring when DRIVER_OK comes.
            Armed = true;
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
            ScenarioDump.Write(dir, _memory, report, status);
        }

        return new ReproResult(_scenario, _options, report, hung, _diagnosis ?? string.Empty, _completed, status);
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
            int room = _options.RingSize - (_scenario.AddsRacingRequest ? 1 : 0);
            int size = 1 + _random.Next(Math.Min(room, MaxBatch));
            if (faultBatch >= 0 && !Armed && batch >= faultBatch && AwayFromZero(_vq.AvailIdxShadow, size + 1))
            {
                Arm();
                armedAt = batch;
            }

            _scenario.BeforeBatch(this);
            AddBatch(size);
            _scenario.AfterBatchAdded(this);
            _vq.Kick();
            _scenario.AfterKick(this);

            if (WaitForBatch())
            {
                return true;
            }
        }

        return false;
    }

    private void Arm()
    {
        Armed = true;
        _scenario.OnArmed(this);
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
            AddRequest();
        }
    }

    /// <summary>The guest adds one request (the adapter builds it); a racing scenario calls it inside the device's step.</summary>
    /// <exception cref="InvalidOperationException">The driver could not add it (the ring is full).</exception>
    public void AddRequest()
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
                Raced = true;
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

        if (_scenario.OnInterrupt(this))
        {
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
    private bool DeviceStep(RingFaultPoint point, ushort ringIndex) => Armed && _scenario.DeviceStep(this, point, ringIndex);
}
