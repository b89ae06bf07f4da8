using System.Globalization;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Workloads.Stress;

/// <summary>
/// The device thread of one phase of a seed (from a start or a reset to the next reset or the end): it pops chains
/// from the <see cref="SplitQueue"/>, checks each is the buffer the driver built (shape and readable bytes, by the
/// buffer's serial: the device pops in the driver's add order), writes the pattern into the writable part, and
/// completes it, in order or, holding a few back, out of order. It disables notifications while draining at random and
/// always re-enables them and re-checks before it sleeps on the kick channel, as QEMU's handlers do.
/// </summary>
/// <remarks>
/// Stopping: <see cref="RequestStop"/> then a kick. <see cref="StopMode.Now"/> stops between batches (chains held back
/// stay popped: the reset's accounting needs them); <see cref="StopMode.WhenIdle"/> stops once nothing is available and
/// nothing is held. Either way the thread leaves the queue before it ends, so the caller may reset it after a join.
/// </remarks>
internal sealed class StressDevice
{
    private readonly SplitQueue _queue;
    private readonly EventNotifier _kick;
    private readonly EventNotifier _call;
    private readonly StressSeedConfig _config;
    private readonly int _stallMs;
    private readonly long[] _resubmitSerials;
    private readonly DescriptorChain[] _held;
    private readonly long[] _heldSerials;
    private readonly uint[] _heldWritten;
    private StressDeviceFault _fault;
    private StressRandom _rng;
    private int _resubmitNext;
    private int _stop;
    private volatile StressError? _error;

    /// <summary>
    /// A device for the ready <paramref name="queue"/> whose next available chain is buffer <paramref name="firstSerial"/>,
    /// after the chains resubmitted to the queue (a restart), whose serials are <paramref name="resubmitSerials"/> in order.
    /// </summary>
    public StressDevice(SplitQueue queue, EventNotifier kick, EventNotifier call, StressSeedConfig config, long firstSerial, long[] resubmitSerials, StressDeviceFault fault, int phase, int stallMs)
    {
        _queue = queue;
        _kick = kick;
        _call = call;
        _config = config;
        _stallMs = stallMs;
        NextSerial = firstSerial;
        _resubmitSerials = resubmitSerials;
        _held = new DescriptorChain[Math.Max(config.DeviceHold, 1)];
        _heldSerials = new long[_held.Length];
        _heldWritten = new uint[_held.Length];
        _fault = fault;
        _rng = new StressRandom(StressRandom.Mix(config.Key ^ 0x5EED_DE71_CE00_0000, (ulong)phase));
    }

    public enum StopMode
    {
        Run = 0,
        Now = 1,
        WhenIdle = 2,
    }

    /// <summary>The serial of the next chain the device will pop from the available ring.</summary>
    public long NextSerial { get; private set; }

    /// <summary>Chains popped and held back, not yet in the used ring, oldest first.</summary>
    public int HeldCount { get; private set; }

    /// <summary>Used-buffer notifications sent.</summary>
    public long Calls { get; private set; }

    /// <summary>What the device found wrong, or null.</summary>
    public StressError? Error => _error;

    /// <summary>The serial of held chain <paramref name="i"/>.</summary>
    public long HeldSerial(int i) => _heldSerials[i];

    /// <summary>The head of held chain <paramref name="i"/>.</summary>
    public ushort HeldHead(int i) => _held[i].Head;

    public void RequestStop(StopMode mode) => Volatile.Write(ref _stop, (int)mode);

    public void Run()
    {
        try
        {
            Loop();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Any exception is a finding (the library threw where it must return a typed error, or the stress has a
            // bug); escaping this thread would kill the process instead of reporting it.
            Fail(RingStressFailureKind.Exception, -1, $"the device thread threw {e.GetType().Name}: {e.Message}");
        }
    }

    private void Loop()
    {
        SplitQueue q = _queue;
        while (true)
        {
            if (_rng.OneIn(2))
            {
                q.SetNotification(false); // QEMU's handlers drain with notifications off
            }

            // Drain: pop a batch, complete it (and maybe some held chains) with one used-index store, notify if due.
            while (true)
            {
                int filled = 0;
                while (filled < _config.DeviceBatch)
                {
                    bool resubmitted = q.PendingResubmits > 0;
                    PopResult popped = q.Pop(out DescriptorChain chain);
                    if (popped == PopResult.Empty)
                    {
                        break;
                    }

                    if (popped == PopResult.Broken)
                    {
                        Fail(RingStressFailureKind.QueueBroken, NextSerial, $"the device broke the queue: {q.Error}");
                        return;
                    }

                    long serial = resubmitted ? _resubmitSerials[_resubmitNext++] : NextSerial++;
                    if (!Process(chain, serial, out uint written))
                    {
                        return;
                    }

                    if (_fault == StressDeviceFault.DropUsedEntry && _config.Index == 0 && serial == _config.Buffers - 1)
                    {
                        _fault = StressDeviceFault.None;
                        continue; // popped, checked, and forgotten: never in the used ring
                    }

                    if (_config.DeviceHold > 0 && !_rng.OneIn(3))
                    {
                        if (HeldCount == _config.DeviceHold)
                        {
                            ReleaseHeld(_rng.Below(HeldCount), filled++);
                        }

                        _held[HeldCount] = chain;
                        _heldSerials[HeldCount] = serial;
                        _heldWritten[HeldCount] = written;
                        HeldCount++;
                    }
                    else
                    {
                        q.Fill(chain.Head, written, filled++);
                    }
                }

                if (HeldCount > 0 && _rng.OneIn(2))
                {
                    ReleaseHeld(_rng.Below(HeldCount), filled++);
                }

                if (filled == 0)
                {
                    break;
                }

                Publish(filled);
                if (Volatile.Read(ref _stop) == (int)StopMode.Now && q.PendingResubmits == 0)
                {
                    return;
                }
            }

            if (q.IsBroken)
            {
                Fail(RingStressFailureKind.QueueBroken, NextSerial, $"the device broke the queue: {q.Error}");
                return;
            }

            int stop = Volatile.Read(ref _stop);
            if (stop == (int)StopMode.Now)
            {
                return; // held chains stay popped: the reset accounts for them
            }

            // Idle: nothing is available. Complete what is held (a device that sits on requests while idle would hang
            // the driver: that is the device-stuck bug class, not this device's job).
            if (HeldCount > 0)
            {
                int n = 0;
                while (HeldCount > 0)
                {
                    ReleaseHeld(HeldCount - 1, n++);
                }

                Publish(n);
                continue;
            }

            if (stop == (int)StopMode.WhenIdle && q.IsEmpty())
            {
                return;
            }

            if (_fault == StressDeviceFault.SleepWithNotificationsOff && _config.Index == 0)
            {
                q.SetNotification(false);
            }
            else if (q.EnableNotificationAndRecheck())
            {
                continue; // a buffer added while notifications were off: it produced no kick
            }

            if (!_kick.Wait(_stallMs))
            {
                // Read-only (IsEmpty would move shadow_avail_idx and hide from the analysis that the device never saw them).
                if (Volatile.Read(ref _stop) == (int)StopMode.Run && q.ReadGuestFields(out GuestRingFields guest) && guest.AvailIdx != q.LastAvailIdx)
                {
                    Fail(RingStressFailureKind.Stall, NextSerial, string.Create(CultureInfo.InvariantCulture,
                        $"the device slept {_stallMs} ms while buffers were available and no kick came (avail->idx {guest.AvailIdx}, last_avail_idx {q.LastAvailIdx})"));
                    return;
                }

                continue;
            }

            _kick.TestAndClear();
        }
    }

    /// <summary>Checks the chain is buffer <paramref name="serial"/> as the driver built it, and writes its pattern.</summary>
    private bool Process(in DescriptorChain chain, long serial, out uint written)
    {
        var b = new StressBuffer(_config.Key, serial, _config.MaxSegments);
        written = b.Written;
        bool indirect = _config.Indirect && b.Segments > 1; // Linux's choice: an indirect table for more than one segment
        if (chain.DescriptorCount != b.Segments || chain.ReadableCount != b.Readable || chain.ReadableLength != b.ReadableBytes
            || chain.WritableLength != b.WritableBytes || chain.IsIndirect != indirect)
        {
            return Fail(RingStressFailureKind.WrongChain, serial, string.Create(CultureInfo.InvariantCulture,
                $"head {chain.Head}: {chain.DescriptorCount} descriptors ({chain.ReadableCount} readable, {chain.ReadableLength} + {chain.WritableLength} bytes, indirect {chain.IsIndirect}); the driver built {b.Segments} ({b.Readable} readable, {b.ReadableBytes} + {b.WritableBytes} bytes, indirect {indirect})"));
        }

        uint readOffset = 0, writeOffset = 0;
        int walked = 0;
        foreach (DescriptorBuffer d in chain)
        {
            walked++;
            Span<byte> span = d.Span;
            if (!d.IsWritable)
            {
                int bad = StressBuffer.Check(span, b.ReadKey, readOffset);
                if (bad >= 0)
                {
                    return Fail(RingStressFailureKind.DataCorrupted, serial, string.Create(CultureInfo.InvariantCulture,
                        $"head {chain.Head}: readable byte {readOffset + (uint)bad} is 0x{span[bad]:x2}, not the driver's pattern"));
                }

                readOffset += (uint)span.Length;
            }
            else
            {
                int n = (int)Math.Min((uint)span.Length, b.Written - writeOffset);
                StressBuffer.Fill(span[..n], b.WriteKey, writeOffset);
                writeOffset += (uint)n;
                if (_fault == StressDeviceFault.CorruptWrittenByte && _config.Index == 0)
                {
                    _fault = StressDeviceFault.None;
                    span[0] ^= 0x5A; // inside the written part, or just past it (the driver poisons the rest)
                }
            }
        }

        if (walked != b.Segments)
        {
            return Fail(RingStressFailureKind.QueueBroken, serial, string.Create(CultureInfo.InvariantCulture,
                $"head {chain.Head}: the walk ended after {walked} of {b.Segments} buffers: {_queue.Error}"));
        }

        if (_fault == StressDeviceFault.WrongUsedLength && _config.Index == 0 && b.WritableBytes > 0)
        {
            _fault = StressDeviceFault.None;
            written++;
        }

        return true;
    }

    private void ReleaseHeld(int index, int offset)
    {
        _queue.Fill(_held[index].Head, _heldWritten[index], offset);
        HeldCount--;
        for (int i = index; i < HeldCount; i++)
        {
            _held[i] = _held[i + 1];
            _heldSerials[i] = _heldSerials[i + 1];
            _heldWritten[i] = _heldWritten[i + 1];
        }

        _held[HeldCount] = default;
    }

    private void Publish(int count)
    {
        _queue.Flush(count);
        if (_queue.ShouldNotify())
        {
            Calls++;
            _call.Signal();
        }
    }

    private bool Fail(RingStressFailureKind kind, long serial, string message)
    {
        _error ??= new StressError(kind, serial, message);
        _call.Signal(); // wake the driver, which reports it
        return false;
    }
}
