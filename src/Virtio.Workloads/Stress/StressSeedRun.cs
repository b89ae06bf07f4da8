using System.Globalization;
using System.Text;
using Virtio.Diagnostics;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Workloads.Stress;

/// <summary>
/// One seed of the stress: the driver (this thread, also the coordinator) and a <see cref="StressDevice"/> thread on a
/// fresh ring in the shared guest RAM, with the seed's resets in the middle. Each buffer's data lives in a slot of its
/// own while in flight; its serial and slot ride in the driver's token.
/// </summary>
internal sealed class StressSeedRun : IDisposable
{
    private const byte Poison = 0xA5;

    private readonly StressGuestLayout _ram;
    private readonly StressSeedConfig _config;
    private readonly RingStressOptions _options;
    private readonly int _stallMs;
    private readonly SplitRingLayout _layout;
    private readonly SplitQueue _device;
    private readonly EventNotifier _kick = new();
    private readonly EventNotifier _call = new();

    // Slot bookkeeping, driver thread only: the serial in each slot (-1 when free) and a stack of free slots.
    private readonly long[] _slotSerial;
    private readonly int[] _freeSlots;
    private int _freeCount;

    private DriverQueue<StressToken> _driver = null!;
    private StressDevice _worker = null!;
    private Thread _thread = null!;
    private StressRandom _rng;
    private int _phase;
    private bool _joined;
    private long _nextSerial;
    private long _outstanding;
    private StressError? _error;

    public StressSeedRun(StressGuestLayout ram, StressSeedConfig config, RingStressOptions options)
    {
        _ram = ram;
        _config = config;
        _options = options;
        _stallMs = (int)Math.Min(int.MaxValue, options.StallTimeout.TotalMilliseconds);
        _layout = SplitRingLayout.Create(StressGuestLayout.RingBase, config.RingSize);
        _device = new SplitQueue(ram.Memory, config.RingSize, 0, "stress");
        _slotSerial = new long[config.RingSize];
        _freeSlots = new int[config.RingSize];
        for (int i = 0; i < config.RingSize; i++)
        {
            _slotSerial[i] = -1;
            _freeSlots[i] = config.RingSize - 1 - i;
        }

        _freeCount = config.RingSize;
        _rng = new StressRandom(StressRandom.Mix(config.Key ^ 0xD81F_E500_0000_0000));
    }

    public long Returned { get; private set; }

    public long TakenBack { get; private set; }

    public int Resets { get; private set; }

    public int Restarts { get; private set; }

    public long Wraps { get; private set; }

    public long Kicks { get; private set; }

    public long Calls { get; private set; }

    /// <summary>Runs the seed; returns null when every buffer was accounted for, or what went wrong.</summary>
    public RingStressFailure? Run()
    {
        string? report = null;
        try
        {
            if (SetUpRings(_config.StartIndex))
            {
                StartDevice(0, []);
                DriverLoop();
            }

            if (_error is not null)
            {
                report = Report();
            }
        }
        finally
        {
            StopAfterFailure();
            Kicks += _driver?.KicksSent ?? 0;
            _device.Reset();
            _driver?.Dispose();
            _driver = null!;
        }

        return _error is null ? null : new RingStressFailure(_error.Kind, _config.Index, _config.Key, _config.ToString(), _error.Serial, _error.Message, report);
    }

    /// <summary>Releases the driver side's pin on guest memory if <see cref="Run"/> did not.</summary>
    public void Dispose() => _driver?.Dispose();

    private void DriverLoop()
    {
        int nextReset = 0;
        int pollStreak = 0;
        while (_error is null)
        {
            int added = 0;
            int batch = _rng.OneIn(4) ? _config.RingSize : 1 + _rng.Below(Math.Min(_config.RingSize, 16));
            while (added < batch && _nextSerial < _config.Buffers
                && (nextReset == _config.ResetAt.Length || _nextSerial < _config.ResetAt[nextReset]) && TryAdd(_nextSerial))
            {
                _nextSerial++;
                added++;
            }

            if (_error is not null)
            {
                return;
            }

            if (added > 0)
            {
                _driver.Kick();
            }

            switch (_rng.Below(16))
            {
                case 0:
                    _driver.DisableCallbacks();
                    break;
                case 1:
                    _driver.EnableCallbacks();
                    break;
                case 2:
                    _driver.EnableCallbacksDelayed();
                    break;
            }

            int got = DrainUsed();
            if (_error is not null)
            {
                return;
            }

            if (nextReset < _config.ResetAt.Length && _nextSerial == _config.ResetAt[nextReset])
            {
                long limit = nextReset + 1 < _config.ResetAt.Length ? _config.ResetAt[nextReset + 1] : _config.Buffers;
                if (!Reset(_config.ResetKinds[nextReset], limit))
                {
                    return;
                }

                nextReset++;
                continue;
            }

            if (_nextSerial == _config.Buffers && (_outstanding == 0 || _config.EndWithQuiesce))
            {
                Finish();
                return;
            }

            if (added == 0 && got == 0)
            {
                // Nothing to add (the ring is full, or everything is added) and nothing came back: poll a little,
                // or ask for a callback (at once or after 3/4 of what is outstanding), re-check, and sleep.
                if (pollStreak < 64 && _rng.OneIn(2))
                {
                    pollStreak++;
                    Thread.Yield();
                    continue;
                }

                pollStreak = 0;
                WaitForCall();
            }
        }
    }

    private void WaitForCall()
    {
        bool sleep = _rng.OneIn(2) ? _driver.EnableCallbacksDelayed() : _driver.EnableCallbacks();
        if (!sleep)
        {
            return; // used buffers arrived meanwhile: no interrupt will announce them
        }

        if (!_call.Wait(_stallMs))
        {
            if (_worker.Error is null)
            {
                Fail(RingStressFailureKind.Stall, -1, string.Create(CultureInfo.InvariantCulture,
                    $"the driver slept {_stallMs} ms for a used-buffer notification with {_outstanding} buffers outstanding (a lost call, kick or buffer)"));
            }

            return;
        }

        _call.TestAndClear();
        if (_rng.OneIn(2) && _driver.OnInterrupt() && _rng.OneIn(2))
        {
            _driver.DisableCallbacks(); // the interrupt handler schedules NAPI and turns callbacks off (event_triggered set)
        }
    }

    private bool TryAdd(long serial)
    {
        var b = new StressBuffer(_config.Key, serial, _config.MaxSegments);
        int need = _config.Indirect && b.Segments > 1 ? 1 : b.Segments;
        if (_driver.NumFree < need || _freeCount == 0)
        {
            return false;
        }

        int slot = _freeSlots[--_freeCount];
        ulong data = _ram.SlotAddress(slot);
        Span<GuestSegment> segments = stackalloc GuestSegment[StressBuffer.MaxSegments];
        uint readOffset = 0;
        for (int j = 0; j < b.Segments; j++)
        {
            uint length = b.SegmentLength(j);
            ulong address = data + ((ulong)j * StressBuffer.MaxSegmentBytes);
            segments[j] = new GuestSegment(address, length);
            Span<byte> span = _ram.Memory.GetSpan(address, (int)length);
            if (j < b.Readable)
            {
                StressBuffer.Fill(span, b.ReadKey, readOffset);
                readOffset += length;
            }
            else
            {
                span.Fill(Poison); // what the device does not write must stay so
            }
        }

        AddResult added = _driver.Add(segments[..b.Readable], segments[b.Readable..b.Segments], new StressToken(serial, slot));
        if (added != AddResult.Added)
        {
            _freeCount++;
            return Fail(RingStressFailureKind.QueueBroken, serial, $"the driver could not add buffer {serial}: {added} {_driver.Error}");
        }

        _slotSerial[slot] = serial;
        _outstanding++;
        if (_driver.AvailIdxShadow == 0)
        {
            Wraps++;
        }

        return true;
    }

    /// <summary>Gets every used buffer and checks it: in flight, the length the device wrote, the device's pattern, the poison after it.</summary>
    private int DrainUsed()
    {
        int got = 0;
        while (_driver.TryGetBuffer(out StressToken token, out uint length))
        {
            if (!Check(token, length))
            {
                return got;
            }

            got++;
        }

        if (_driver.IsBroken)
        {
            Fail(RingStressFailureKind.QueueBroken, -1, $"the driver found the used ring broken: {_driver.Error}");
        }
        else if (_worker.Error is { } e)
        {
            _error ??= e;
        }

        return got;
    }

    private bool Check(StressToken token, uint length)
    {
        if ((uint)token.Slot >= (uint)_slotSerial.Length || _slotSerial[token.Slot] != token.Serial)
        {
            return Fail(RingStressFailureKind.Duplicate, token.Serial, $"buffer {token.Serial} came back but is not in flight");
        }

        var b = new StressBuffer(_config.Key, token.Serial, _config.MaxSegments);
        if (length != b.Written)
        {
            return Fail(RingStressFailureKind.WrongLength, token.Serial, string.Create(CultureInfo.InvariantCulture,
                $"buffer {token.Serial}: used length {length}, but the device wrote {b.Written} of {b.WritableBytes} writable bytes"));
        }

        ulong data = _ram.SlotAddress(token.Slot);
        uint offset = 0;
        for (int j = b.Readable; j < b.Segments; j++)
        {
            uint segmentLength = b.SegmentLength(j);
            Span<byte> span = _ram.Memory.GetSpan(data + ((ulong)j * StressBuffer.MaxSegmentBytes), (int)segmentLength);
            int n = (int)Math.Min(segmentLength, b.Written - offset);
            int bad = StressBuffer.Check(span[..n], b.WriteKey, offset);
            if (bad < 0 && span[n..].IndexOfAnyExcept(Poison) is int past and >= 0)
            {
                bad = n + past;
            }

            if (bad >= 0)
            {
                return Fail(RingStressFailureKind.DataCorrupted, token.Serial, string.Create(CultureInfo.InvariantCulture,
                    $"buffer {token.Serial}: writable byte {offset + (uint)bad} is 0x{span[bad]:x2}, not the device's pattern{(bad >= n ? " (past the used length: must be untouched)" : "")}"));
            }

            offset += (uint)n;
        }

        _slotSerial[token.Slot] = -1;
        _freeSlots[_freeCount++] = token.Slot;
        _outstanding--;
        Returned++;
        return true;
    }

    /// <summary>Creates the driver side (which zeroes the rings), readies the device, and moves both to <paramref name="startIndex"/>.</summary>
    private bool SetUpRings(ushort startIndex)
    {
        _driver = new DriverQueue<StressToken>(_ram.Memory, _layout, new DriverQueueOptions
        {
            EventIdx = _config.EventIdx,
            IndirectDescriptors = _config.Indirect,
            IndirectTableArea = StressGuestLayout.IndirectBase,
            MaxIndirectSegments = StressBuffer.MaxSegments,
            CallbacksEnabled = _config.CallbacksAtStart,
        })
        {
            KickChannel = _kick,
        };
        if (!EnableDevice())
        {
            return false;
        }

        FastForward(startIndex);
        _kick.TestAndClear();
        _call.TestAndClear();
        return _error is null;
    }

    private bool EnableDevice()
    {
        _device.Size = _config.RingSize;
        _device.DescriptorTableAddress = _layout.DescriptorTable;
        _device.AvailRingAddress = _layout.AvailRing;
        _device.UsedRingAddress = _layout.UsedRing;
        _device.EventIdx = _config.EventIdx;
        _device.IndirectDescriptors = _config.Indirect;
        return _device.Enable() is not { } error || Fail(RingStressFailureKind.QueueBroken, -1, $"the device refused the ring: {error}");
    }

    /// <summary>
    /// Moves both sides to <paramref name="startIndex"/> by traffic (one-byte buffers, on this thread, the device thread
    /// not running), as a guest that has run a while: <see cref="DriverQueue{TToken}"/> has no way to start elsewhere than 0.
    /// </summary>
    private void FastForward(ushort startIndex)
    {
        ReadOnlySpan<GuestSegment> one = [new GuestSegment(_ram.DataBase, 1)];
        int remaining = startIndex;
        while (remaining > 0 && _error is null)
        {
            int n = Math.Min(remaining, _config.RingSize);
            for (int i = 0; i < n; i++)
            {
                if (_driver.Add(one, [], new StressToken(-1, -1)) != AddResult.Added)
                {
                    Fail(RingStressFailureKind.QueueBroken, -1, $"fast-forward: the driver could not add: {_driver.Error}");
                    return;
                }
            }

            _driver.KickPrepare();
            for (int i = 0; i < n; i++)
            {
                if (_device.Pop(out DescriptorChain chain) != PopResult.Chain)
                {
                    Fail(RingStressFailureKind.QueueBroken, -1, $"fast-forward: the device popped nothing: {_device.Error}");
                    return;
                }

                _device.Fill(chain.Head, 0, i);
            }

            _device.Flush(n);
            _device.ShouldNotify();
            while (_driver.TryGetBuffer(out _, out _))
            {
            }

            remaining -= n;
        }
    }

    private void StartDevice(long firstSerial, long[] resubmitSerials)
    {
        _worker = new StressDevice(_device, _kick, _call, _config, firstSerial, resubmitSerials, _config.Index == 0 ? _options.DeviceFault : StressDeviceFault.None, _phase++, _stallMs);
        _thread = new Thread(_worker.Run) { IsBackground = true, Name = "virtio-stress-device" };
        _joined = false;
        _thread.Start();
    }

    /// <summary>Stops the device thread and waits for it to leave the queue (the threading contract for a reset).</summary>
    private bool StopDevice(StressDevice.StopMode mode)
    {
        _worker.RequestStop(mode);
        _kick.Signal();
        if (!_thread.Join(_stallMs))
        {
            return Fail(RingStressFailureKind.Stall, -1, string.Create(CultureInfo.InvariantCulture,
                $"the device thread did not stop within {_stallMs} ms ({(mode == StressDevice.StopMode.Now ? "for a reset" : "once idle, at the end of the seed")})"));
        }

        _joined = true;
        Calls += _worker.Calls;
        if (_worker.Error is { } e)
        {
            _error ??= e;
            return false;
        }

        return true;
    }

    /// <summary>After a failure (or the end), makes sure the device thread is gone before the queue is reset.</summary>
    private void StopAfterFailure()
    {
        if (_thread is not null && !_joined)
        {
            _worker.RequestStop(StressDevice.StopMode.Now);
            _kick.Signal();
            _joined = _thread.Join(_stallMs);
            Calls += _worker.Calls;
        }
    }

    /// <summary>
    /// A reset in the middle, under the threading contract: the device thread leaves the queue first. Every buffer in
    /// flight at that moment must be in exactly one place: in the used ring (the driver gets and checks it now), held
    /// by the device (popped, not completed), or still in the available ring past <c>last_avail_idx</c>.
    /// </summary>
    private bool Reset(StressResetKind kind, long addLimit)
    {
        if (!StopDevice(StressDevice.StopMode.Now))
        {
            return false;
        }

        // The guest goes on adding while the device is stopped (a vhost-user back-end reconnecting, or a driver racing
        // its own reset): those buffers sit unpopped in the available ring, so every reset has some to account for.
        for (int late = 1 + _rng.Below(8); late > 0 && _nextSerial < addLimit && TryAdd(_nextSerial); late--)
        {
            _nextSerial++;
        }

        DrainUsed();
        if (_error is not null)
        {
            return false;
        }

        int held = _worker.HeldCount;
        long unpopped = _nextSerial - _worker.NextSerial;
        int availAhead = (ushort)(_driver.AvailIdxShadow - _device.LastAvailIdx);
        long inAvail = 0;
        for (int i = 0; i < _slotSerial.Length; i++)
        {
            inAvail += _slotSerial[i] >= _worker.NextSerial ? 1 : 0;
        }

        bool heldInFlight = true;
        for (int i = 0; i < held; i++)
        {
            long s = _worker.HeldSerial(i);
            heldInFlight &= s >= 0 && s < _worker.NextSerial && Array.IndexOf(_slotSerial, s) >= 0;
        }

        if (_device.InUse != held || availAhead != unpopped || inAvail != unpopped || _outstanding != held + unpopped || !heldInFlight)
        {
            return Fail(RingStressFailureKind.ResetAccounting, -1, string.Create(CultureInfo.InvariantCulture,
                $"at the {(kind == StressResetKind.Device ? "reset" : "restart")} after buffer {_nextSerial - 1}: the driver has {_outstanding} outstanding; the device holds {held} (inuse {_device.InUse}{(heldInFlight ? "" : ", not all of them in flight")}) and has {availAhead} available entries unpopped; by serial {unpopped} were never popped ({inAvail} of them in flight)"));
        }

        return kind == StressResetKind.Device ? ResetBothSides(held + unpopped) : RestartDevice(held);
    }

    /// <summary>A device reset: the device forgets everything, the driver takes back every outstanding buffer and starts over.</summary>
    private bool ResetBothSides(long expected)
    {
        _device.Reset();
        long taken = 0;
        while (_driver.TryDetachUnusedBuffer(out StressToken token))
        {
            if ((uint)token.Slot >= (uint)_slotSerial.Length || _slotSerial[token.Slot] != token.Serial)
            {
                return Fail(RingStressFailureKind.ResetAccounting, token.Serial, $"the driver took back buffer {token.Serial}, which was not outstanding");
            }

            _slotSerial[token.Slot] = -1;
            _freeSlots[_freeCount++] = token.Slot;
            _outstanding--;
            taken++;
        }

        if (taken != expected)
        {
            return Fail(RingStressFailureKind.ResetAccounting, -1, string.Create(CultureInfo.InvariantCulture,
                $"the driver took back {taken} buffers at the reset; {expected} were outstanding"));
        }

        TakenBack += taken;
        Resets++;
        Kicks += _driver.KicksSent;
        _driver.Dispose();
        _driver = null!;
        if (!SetUpRings(StressSeedConfig.DrawStartIndex(ref _rng, _config.RingSize)))
        {
            return false;
        }

        StartDevice(_nextSerial, []);
        return true;
    }

    /// <summary>
    /// A device-side restart as a vhost-user back-end's reconnection: GET_VRING_BASE (the state), the queue reset,
    /// SET_VRING_BASE (<see cref="SplitQueue.SetState(in SplitQueueState)"/> at <c>used_idx</c>) and the in-flight heads
    /// resubmitted (the inflight region); the driver goes on as if nothing happened.
    /// </summary>
    private bool RestartDevice(int held)
    {
        SplitQueueState saved = _device.GetState();
        long[] serials = new long[held];
        ushort[] heads = new ushort[held];
        for (int i = 0; i < held; i++)
        {
            serials[i] = _worker.HeldSerial(i);
            heads[i] = _worker.HeldHead(i);
        }

        _device.Reset();
        if (!EnableDevice())
        {
            return false;
        }

        _device.SetState(new SplitQueueState(saved.UsedIdx, saved.UsedIdx, saved.UsedIdx, 0, saved.UsedIdx, false, true));
        _device.Resubmit(heads);
        Restarts++;
        StartDevice(_worker.NextSerial, serials);
        return true;
    }

    /// <summary>The end of the seed: the device stops once idle; then nothing may be outstanding.</summary>
    private void Finish()
    {
        if (!StopDevice(StressDevice.StopMode.WhenIdle))
        {
            return;
        }

        DrainUsed();
        if (_error is not null)
        {
            return;
        }

        if (_outstanding != 0)
        {
            var lost = new StringBuilder();
            int listed = 0;
            for (int i = 0; i < _slotSerial.Length && listed < 8; i++)
            {
                if (_slotSerial[i] >= 0)
                {
                    lost.Append(CultureInfo.InvariantCulture, $"{(listed++ > 0 ? ", " : "")}{_slotSerial[i]}");
                }
            }

            long first = Array.Find(_slotSerial, s => s >= 0);
            Fail(RingStressFailureKind.Lost, first, string.Create(CultureInfo.InvariantCulture,
                $"{_outstanding} buffers never came back although the device stopped idle (serials {lost}{(_outstanding > listed ? ", ..." : "")})"));
            return;
        }

        if (_device.InUse != 0 || _device.LastAvailIdx != _driver.AvailIdxShadow || _device.UsedIdx != _driver.LastUsedIdx)
        {
            Fail(RingStressFailureKind.Lost, -1, string.Create(CultureInfo.InvariantCulture,
                $"every buffer came back, but the device shows inuse {_device.InUse}, last_avail_idx {_device.LastAvailIdx}, used_idx {_device.UsedIdx} against the driver's avail idx {_driver.AvailIdxShadow} and last_used_idx {_driver.LastUsedIdx}"));
        }
    }

    /// <summary>The queue's state and the three questions, then the driver's view: for a failure report.</summary>
    private string? Report()
    {
        var s = new StringBuilder();
        try
        {
            if (_device.IsReady || _device.IsBroken)
            {
                s.Append(HangAnalysis.Analyze(_device).ToText());
            }
        }
        catch (InvalidOperationException e)
        {
            s.Append(CultureInfo.InvariantCulture, $"(no queue report: {e.Message})\n");
        }

        if (_driver is { } d)
        {
            s.Append(CultureInfo.InvariantCulture,
                $"driver: avail_idx_shadow {d.AvailIdxShadow}, last_used_idx {d.LastUsedIdx}, num_free {d.NumFree}, in flight {d.InFlight}, callbacks {(d.CallbacksEnabled ? "on" : "off")}, event_triggered {d.EventTriggered}\n");
        }

        if (_worker is { } w)
        {
            s.Append(CultureInfo.InvariantCulture, $"device thread: next serial {w.NextSerial}, holding {w.HeldCount}; driver: next serial {_nextSerial}, outstanding {_outstanding}\n");
        }

        return s.ToString();
    }

    private bool Fail(RingStressFailureKind kind, long serial, string message)
    {
        _error ??= new StressError(kind, serial, message);
        return false;
    }
}
