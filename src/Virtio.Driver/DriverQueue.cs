using System.Runtime.CompilerServices;
using Virtio.Faults;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Driver;

/// <summary>
/// The driver side of one split virtqueue, a faithful model of Linux <c>drivers/virtio/virtio_ring.c</c> (split) as
/// of Linux 6.4 (and 6.1.28 onwards, so Debian 12's 6.1 kernel): a descriptor free list, direct and indirect chains,
/// a shadow <c>avail-&gt;idx</c>, <c>kick_prepare</c> with <c>vring_need_event</c>, <c>get_buf</c> that writes
/// <c>used_event</c> on every pop while callbacks are on, <c>disable_cb</c>/<c>enable_cb</c>/<c>enable_cb_delayed</c>,
/// and <c>event_triggered</c> (<see cref="OnInterrupt"/>). Test harnesses and benchmarks drive devices with it, and the
/// diagnostics rely on it behaving exactly as Linux does.
/// </summary>
/// <typeparam name="TToken">The caller's per-buffer token (Linux's <c>data</c>); stored in an array, never boxed.</typeparam>
/// <remarks>
/// Threading: one thread drives a driver queue (as Linux serialises a virtqueue with the driver's lock). The device
/// may run concurrently on another thread; the memory ordering between the two follows the spec.
/// Everything read from the used ring is untrusted: a bad id marks the queue broken (<see cref="Error"/>).
/// <para>
/// <c>event_triggered</c> (Linux 5.13, 8d622d21d248; reworked in 6.4 by 6c0b057cec5e, backported to 6.1.28): with
/// EVENT_IDX an interrupt sets it, and a <see cref="DisableCallbacks"/> while it is set marks callbacks off in the
/// shadow flags but leaves <c>used_event</c> where it was (the device will not interrupt again until the driver moves
/// it), so <see cref="TryGetBuffer"/> stops writing <c>used_event</c> too. A driver busy in (or stuck inside) its
/// interrupt handler, NAPI poll or <c>virtblk_done</c>, therefore shows <c>used_event</c> behind <c>used-&gt;idx</c>
/// until <see cref="EnableCallbacks"/>, <see cref="EnableCallbacksPrepare"/> or <see cref="EnableCallbacksDelayed"/>
/// clears it. Between 5.13 and 6.4 (before 6.1.28), <c>disable_cb</c> returned without even setting the shadow flag,
/// so <c>get_buf</c> kept writing <c>used_event</c>; this model does not reproduce those kernels.
/// </para>
/// </remarks>
public sealed unsafe class DriverQueue<TToken> : IDisposable
{
    private readonly GuestMemory _memory;
    private readonly byte* _desc;
    private readonly byte* _avail;
    private readonly byte* _used;
    private readonly byte* _indirectArea;
    private readonly ulong _indirectGuest;
    private readonly int _size;
    private readonly ushort _mask;
    private readonly bool _eventIdx;
    private readonly bool _indirect;
    private readonly int _maxIndirect;
    private readonly int _queueIndex;

    // desc_extra: the driver's private copy of each descriptor's flags and next, which also threads the free list.
    private readonly DescExtra[] _extra;

    // desc_state: the token of each chain in flight, keyed by head.
    private readonly DescState[] _state;

    // used_event (avail->ring[num]) and avail_event (used->ring[num]).
    private readonly byte* _usedEvent;
    private readonly byte* _availEvent;

    private ushort _freeHead;
    private int _numFree;
    private ushort _availIdxShadow;
    private ushort _availFlagsShadow;
    private int _numAdded;
    private int _placed; // buffers written to the avail ring and not yet published
    private ushort _lastUsedIdx;
    private DriverRingError? _error;
    private readonly bool _clampUsedLength;
    private long _usedLengthClamped;
    private bool _eventTriggered;
    private bool _staleAvailEventPending;
    private ushort _staleAvailEvent;
    private bool _disposed;

    /// <summary>Creates the driver side over rings at <paramref name="layout"/> and initialises them (zeroed, as Linux allocates them).</summary>
    /// <exception cref="ArgumentException">A ring area or the indirect area is outside guest memory or misaligned.</exception>
    public DriverQueue(GuestMemory memory, SplitRingLayout layout, DriverQueueOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(memory);
        options ??= new DriverQueueOptions();
        if (!SplitRing.IsValidSize(layout.Size))
        {
            throw new ArgumentException($"Bad virtqueue length {layout.Size}", nameof(layout));
        }

        _memory = memory;
        _size = layout.Size;
        _mask = (ushort)(_size - 1);
        _eventIdx = options.EventIdx;
        _indirect = options.IndirectDescriptors;
        _maxIndirect = options.MaxIndirectSegments;
        _queueIndex = options.QueueIndex;
        _clampUsedLength = options.ClampUsedLength;
        ArgumentOutOfRangeException.ThrowIfLessThan(_maxIndirect, 1);

        _desc = Map(layout.DescriptorTable, SplitRing.DescriptorTableBytes(_size), SplitRing.DescriptorTableAlignment, "descriptor table");
        _avail = Map(layout.AvailRing, SplitRing.AvailRingBytes(_size, eventIdx: true), SplitRing.AvailRingAlignment, "available ring");
        _used = Map(layout.UsedRing, SplitRing.UsedRingBytes(_size, eventIdx: true), SplitRing.UsedRingAlignment, "used ring");
        if (_indirect)
        {
            _indirectGuest = options.IndirectTableArea;
            _indirectArea = Map(options.IndirectTableArea, options.IndirectAreaBytes(_size), SplitRing.DescriptorTableAlignment, "indirect table area");
        }

        new Span<byte>(_desc, (int)SplitRing.DescriptorTableBytes(_size)).Clear();
        new Span<byte>(_avail, (int)SplitRing.AvailRingBytes(_size, eventIdx: true)).Clear();
        new Span<byte>(_used, (int)SplitRing.UsedRingBytes(_size, eventIdx: true)).Clear();

        _usedEvent = _avail + SplitRing.UsedEventOffset(_size);
        _availEvent = _used + SplitRing.AvailEventOffset(_size);
        _extra = new DescExtra[_size];
        _state = new DescState[_size];
        for (int i = 0; i < _size; i++)
        {
            _extra[i].Next = (ushort)(i + 1); // the last wraps to 0 as Linux's memset leaves it; never followed
        }

        _numFree = _size;
        if (!options.CallbacksEnabled)
        {
            _availFlagsShadow = SplitRing.AvailFlagNoInterrupt;
            if (!_eventIdx)
            {
                LittleEndian.WriteIndex(_avail, _availFlagsShadow);
            }
        }

        memory.AddUser();
    }

    /// <summary>The queue size.</summary>
    public int Size => _size;

    /// <summary><c>num_free</c>: free descriptors.</summary>
    public int NumFree => _numFree;

    /// <summary><c>avail_idx_shadow</c>: the driver's copy of <c>avail-&gt;idx</c>.</summary>
    public ushort AvailIdxShadow => _availIdxShadow;

    /// <summary><c>last_used_idx</c>: the next used element the driver will pop.</summary>
    public ushort LastUsedIdx => _lastUsedIdx;

    /// <summary>Buffers added since the last <see cref="KickPrepare"/> (<c>num_added</c>).</summary>
    public int NumAdded => _numAdded;

    /// <summary>Whether used-buffer callbacks are enabled (VRING_AVAIL_F_NO_INTERRUPT clear in the shadow flags).</summary>
    public bool CallbacksEnabled => (_availFlagsShadow & SplitRing.AvailFlagNoInterrupt) == 0;

    /// <summary>Chains in flight (added and not yet returned by <see cref="TryGetBuffer"/>).</summary>
    public int InFlight { get; private set; }

    /// <summary>True once the device broke a ring rule (<c>vq-&gt;broken</c>).</summary>
    public bool IsBroken => _error is not null;

    /// <summary>The device misbehaviour that broke the queue, or null.</summary>
    public DriverRingError? Error => _error;

    /// <summary>
    /// How many used elements reported more bytes than the chain's writable space and were clamped to it: only with
    /// <see cref="DriverQueueOptions.ClampUsedLength"/>, this project's option (Linux passes the length on unchecked).
    /// </summary>
    public long UsedLengthClamped => _usedLengthClamped;

    /// <summary>
    /// Linux's <c>event_triggered</c>: an interrupt arrived (<see cref="OnInterrupt"/>, with EVENT_IDX) and no enable
    /// call has run since. While set, <see cref="DisableCallbacks"/> leaves <c>used_event</c> untouched.
    /// </summary>
    public bool EventTriggered => _eventTriggered;

    /// <summary>The kick channel <see cref="Notify"/> signals; null counts kicks without signalling.</summary>
    public IEventNotifier? KickChannel { get; set; }

    /// <summary>The fault plan consulted at each driver <see cref="RingFaultPoint"/>; null injects nothing.</summary>
    public IRingFaultPlan? FaultPlan { get; set; }

    /// <summary>Kicks sent (<see cref="Notify"/> calls that were not dropped).</summary>
    public long KicksSent { get; private set; }

    /// <summary>
    /// Adds a buffer of device-readable <paramref name="readable"/> segments followed by device-writable
    /// <paramref name="writable"/> segments (<c>virtqueue_add_sgs</c>). Uses an indirect table when negotiated, the
    /// buffer has more than one segment and a descriptor is free, as Linux chooses. Publishes <c>avail-&gt;idx</c>
    /// at once; the caller decides when to <see cref="Kick"/>.
    /// </summary>
    /// <exception cref="ArgumentException">No segments.</exception>
    public AddResult Add(ReadOnlySpan<GuestSegment> readable, ReadOnlySpan<GuestSegment> writable, TToken token)
    {
        // One segment is never indirect (Linux uses a table only for more than one): the small direct placement.
        AddResult result = readable.Length + writable.Length == 1
            ? PlaceOne(readable.Length == 1 ? readable[0] : writable[0], writable.Length == 1, token)
            : Place(readable, writable, token);
        if (result == AddResult.Added)
        {
            Publish();
        }
        else if (result == AddResult.NoSpace && readable.Length > 0)
        {
            Notify(); // Linux notifies on -ENOSPC when there are out buffers, so the device makes room
        }

        return result;
    }

    /// <summary>
    /// Adds up to <c>tokens.Length</c> buffers of the same shape, each <paramref name="readablePerBuffer"/>
    /// device-readable segments followed by <paramref name="writablePerBuffer"/> device-writable ones, taken in order
    /// from <paramref name="segments"/>, and publishes them with one store of <c>avail-&gt;idx</c> (where Linux's
    /// <c>virtqueue_add_sgs</c> publishes each). Each buffer is placed as <see cref="Add"/> places it (indirect when
    /// negotiated and it has more than one segment). Follow with one <see cref="Kick"/> (or <see cref="KickPrepare"/>)
    /// for the whole burst.
    /// </summary>
    /// <param name="segments">The segments of all the buffers, buffer after buffer.</param>
    /// <param name="readablePerBuffer">Device-readable segments per buffer (first).</param>
    /// <param name="writablePerBuffer">Device-writable segments per buffer (after the readable ones).</param>
    /// <param name="tokens">One token per buffer; their number is the burst's size.</param>
    /// <param name="result">
    /// <see cref="AddResult.Added"/> when all were added; <see cref="AddResult.NoSpace"/> when the ring filled first
    /// (the kick for readable buffers is sent as <see cref="Add"/> sends it, after the added ones are published);
    /// <see cref="AddResult.Broken"/> when the queue is broken.
    /// </param>
    /// <returns>How many buffers were added, from the first.</returns>
    /// <exception cref="ArgumentException">A buffer of no segments, or fewer segments than the tokens ask for.</exception>
    public int AddBurst(ReadOnlySpan<GuestSegment> segments, int readablePerBuffer, int writablePerBuffer, ReadOnlySpan<TToken> tokens, out AddResult result)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(readablePerBuffer);
        ArgumentOutOfRangeException.ThrowIfNegative(writablePerBuffer);
        int per = readablePerBuffer + writablePerBuffer;
        if (per == 0)
        {
            ThrowNoSegments();
        }

        if ((long)per * tokens.Length > segments.Length)
        {
            throw new ArgumentException($"{tokens.Length} buffers of {per} segments need {(long)per * tokens.Length} segments; {segments.Length} given", nameof(segments));
        }

        result = AddResult.Added;
        int added = 0;
        for (; added < tokens.Length; added++)
        {
            ReadOnlySpan<GuestSegment> buffer = segments.Slice(added * per, per);
            result = Place(buffer[..readablePerBuffer], buffer[readablePerBuffer..], tokens[added]);
            if (result != AddResult.Added)
            {
                break;
            }

            if (_numAdded + _placed == ushort.MaxValue)
            {
                Publish(); // it kicks, as Add does at this count: num_added must stay unambiguous in 16 bits
            }
        }

        if (_placed > 0)
        {
            Publish();
        }

        if (result == AddResult.NoSpace && readablePerBuffer > 0)
        {
            Notify(); // Linux notifies on -ENOSPC when there are out buffers, so the device makes room
        }

        return added;
    }

    /// <summary>
    /// Writes one buffer's descriptors and its avail ring entry at <c>avail_idx_shadow + num_added</c> without
    /// publishing (<c>virtqueue_add_split</c> up to the <c>avail-&gt;idx</c> store).
    /// </summary>
    private AddResult Place(ReadOnlySpan<GuestSegment> readable, ReadOnlySpan<GuestSegment> writable, TToken token)
    {
        if (_error is not null)
        {
            return AddResult.Broken;
        }

        int total = readable.Length + writable.Length;
        if (total == 0)
        {
            ThrowNoSegments();
        }

        bool indirect = _indirect && total > 1 && _numFree > 0 && total <= _maxIndirect;
        int descsUsed = indirect ? 1 : total;
        if (_numFree < descsUsed)
        {
            return AddResult.NoSpace;
        }

        ushort head = _freeHead;
        uint writableBytes = 0;
        if (indirect)
        {
            byte* table = _indirectArea + ((ulong)head * (ulong)_maxIndirect * SplitRing.DescriptorSize);
            for (int j = 0; j < total; j++)
            {
                bool isWritable = j >= readable.Length;
                GuestSegment s = isWritable ? writable[j - readable.Length] : readable[j];
                WriteDescriptor(table, j, s, ChainFlags(isWritable, j + 1 < total), (ushort)(j + 1));
                writableBytes += isWritable ? s.Length : 0;
            }

            ref DescExtra extra = ref _extra[head];
            ushort nextFree = extra.Next;
            WriteDescriptor(_desc, head, new GuestSegment(DriverAddressOf(table), (uint)(total * SplitRing.DescriptorSize)), (ushort)DescriptorFlags.Indirect, nextFree);
            extra.Flags = (ushort)DescriptorFlags.Indirect;
            _freeHead = nextFree;
        }
        else
        {
            // Walk the free list; the last descriptor gets no NEXT (Linux sets it on all, then clears the last).
            ushort i = head;
            for (int j = 0; j < total; j++)
            {
                bool isWritable = j >= readable.Length;
                GuestSegment s = isWritable ? writable[j - readable.Length] : readable[j];
                ushort flags = ChainFlags(isWritable, j + 1 < total);
                ref DescExtra extra = ref _extra[i];
                ushort next = extra.Next;
                WriteDescriptor(_desc, i, s, flags, next);
                extra.Flags = flags;
                writableBytes += isWritable ? s.Length : 0;
                i = next;
            }

            _freeHead = i;
        }

        _numFree -= descsUsed;
        Record(head, token, writableBytes);
        return AddResult.Added;
    }

    /// <summary><see cref="Place"/> for a buffer of one segment: one direct descriptor from the free list.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private AddResult PlaceOne(GuestSegment segment, bool writable, TToken token)
    {
        if (_error is not null)
        {
            return AddResult.Broken;
        }

        if (_numFree == 0)
        {
            return AddResult.NoSpace;
        }

        ushort head = _freeHead;
        ushort flags = writable ? (ushort)DescriptorFlags.Write : (ushort)0;
        ref DescExtra extra = ref _extra[head];
        ushort next = extra.Next;
        WriteDescriptor(_desc, head, segment, flags, next);
        extra.Flags = flags;
        _freeHead = next;
        _numFree--;
        Record(head, token, writable ? segment.Length : 0);
        return AddResult.Added;
    }

    /// <summary>The chain's <c>desc_state</c> and its avail ring entry at <c>avail_idx_shadow + num_added</c>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Record(ushort head, TToken token, uint writableBytes)
    {
        _state[head] = new DescState { Token = token, WritableBytes = writableBytes, InFlight = true };
        InFlight++;
        int placed = ++_placed;
        LittleEndian.Write16(_avail + SplitRing.AvailEntryOffset((uint)((_availIdxShadow + placed - 1) & _mask)), head);
    }

    /// <summary>
    /// Publishes the buffers placed since the last publish with one release store of <c>avail-&gt;idx</c>
    /// (<c>virtio_wmb</c> then the store).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Publish()
    {
        int count = _placed;
        _placed = 0;
        if (_numAdded == 0 && FaultPlan is not null)
        {
            InjectStaleAvailEvent();
        }

        ushort shadow = _availIdxShadow = (ushort)(_availIdxShadow + count);
        LittleEndian.WriteIndex(_avail + SplitRing.IdxOffset, shadow); // release: ring entries and descriptors first (virtio_wmb)
        if ((_numAdded += count) == ushort.MaxValue)
        {
            Kick(); // Linux: "This is very unlikely, but theoretically possible. Kick just in case."
        }
    }

    /// <summary>Simulates the missing full fence: avail_event is read before avail->idx is visible to the device.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void InjectStaleAvailEvent()
    {
        if (FaultPlan!.ShouldInject(RingFaultPoint.DriverReadAvailEventBeforeAvailIdx, _queueIndex, _availIdxShadow))
        {
            _staleAvailEvent = LittleEndian.ReadIndex(_availEvent);
            _staleAvailEventPending = true;
        }
    }

    /// <summary>
    /// Decides whether the device needs a kick for the buffers added since the last call
    /// (<c>virtqueue_kick_prepare_split</c>): a full fence, then <c>vring_need_event(avail_event, new, old)</c> with
    /// EVENT_IDX, or the device's NO_NOTIFY flag without it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool KickPrepare()
    {
        ushort availEvent;
        if (_staleAvailEventPending)
        {
            _staleAvailEventPending = false;
            availEvent = _staleAvailEvent;
        }
        else
        {
            Interlocked.MemoryBarrier(); // virtio_mb(): avail->idx store before the avail_event / flags load
            availEvent = _eventIdx ? LittleEndian.ReadIndex(_availEvent) : (ushort)0;
        }

        ushort newIdx = _availIdxShadow;
        ushort oldIdx = (ushort)(newIdx - _numAdded);
        _numAdded = 0;
        return _eventIdx
            ? SplitRing.NeedEvent(availEvent, newIdx, oldIdx)
            : (LittleEndian.ReadIndex(_used) & SplitRing.UsedFlagNoNotify) == 0;
    }

    /// <summary>Signals the kick channel (<c>virtqueue_notify</c>).</summary>
    /// <returns>False when the queue is broken or the kick was dropped by the fault plan.</returns>
    public bool Notify()
    {
        if (_error is not null)
        {
            return false;
        }

        if (FaultPlan is not null && FaultPlan.ShouldInject(RingFaultPoint.DriverDropKick, _queueIndex, _availIdxShadow))
        {
            return false;
        }

        KicksSent++;
        KickChannel?.Signal();
        return true;
    }

    /// <summary><see cref="KickPrepare"/> then, if needed, <see cref="Notify"/> (<c>virtqueue_kick</c>).</summary>
    /// <returns>True when a kick was sent.</returns>
    public bool Kick() => KickPrepare() && Notify();

    /// <summary>True when the device has published used elements the driver has not popped (<c>more_used_split</c>).</summary>
    public bool MoreUsed() => _lastUsedIdx != LittleEndian.ReadIndex(_used + SplitRing.IdxOffset);

    /// <summary>
    /// Pops one used element (<c>virtqueue_get_buf</c>): returns its token and the length the device wrote, frees its
    /// descriptors and, while callbacks are enabled, writes <c>used_event = last_used_idx</c> followed by a full fence.
    /// </summary>
    /// <returns>False when nothing is used or the queue is broken (a bad id breaks it: see <see cref="Error"/>).</returns>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryGetBuffer(out TToken token, out uint length)
    {
        token = default!;
        length = 0;
        if (_error is not null)
        {
            return false;
        }

        ushort last = _lastUsedIdx;
        if (last == LittleEndian.ReadIndex(_used + SplitRing.IdxOffset))
        {
            return false; // the acquire load above orders the element reads below (virtio_rmb)
        }

        if (!TakeUsed(last, out token, out length))
        {
            return false;
        }

        _lastUsedIdx = ++last;
        if ((_availFlagsShadow & SplitRing.AvailFlagNoInterrupt) == 0)
        {
            // virtio_store_mb: tell the device which entry we expect an interrupt for, before the next more_used read.
            LittleEndian.WriteIndex(_usedEvent, last);
            Interlocked.MemoryBarrier();
        }

        return true;
    }

    /// <summary>
    /// Pops up to the shorter of <paramref name="tokens"/> and <paramref name="lengths"/> used elements with one read
    /// of <c>used-&gt;idx</c>, each validated as <see cref="TryGetBuffer"/> validates it, and, while callbacks are
    /// enabled, one write of <c>used_event = last_used_idx</c> (followed by a full fence) for the whole burst: after it
    /// returns <c>used_event</c> is as current as after the same number of <see cref="TryGetBuffer"/> calls. A bad id
    /// breaks the queue and ends the burst, with the good elements before it returned.
    /// </summary>
    /// <param name="tokens">Receives each buffer's token, from index 0.</param>
    /// <param name="lengths">Receives the length the device wrote into each buffer.</param>
    /// <returns>How many elements were popped (0 when none was used or the queue is broken).</returns>
    public int GetBurst(Span<TToken> tokens, Span<uint> lengths)
    {
        if (_error is not null)
        {
            return 0;
        }

        ushort last = _lastUsedIdx;
        int max = Math.Min(tokens.Length, lengths.Length);
        int count = Math.Min((ushort)(LittleEndian.ReadIndex(_used + SplitRing.IdxOffset) - last), max); // acquire (virtio_rmb)
        int n = 0;
        while (n < count && TakeUsed((ushort)(last + n), out tokens[n], out lengths[n]))
        {
            n++;
        }

        if (n > 0)
        {
            last = _lastUsedIdx = (ushort)(last + n);
            if ((_availFlagsShadow & SplitRing.AvailFlagNoInterrupt) == 0)
            {
                LittleEndian.WriteIndex(_usedEvent, last); // virtio_store_mb, once for the burst
                Interlocked.MemoryBarrier();
            }
        }

        return n;
    }

    /// <summary>Validates and consumes the used element at <paramref name="index"/>: its id must be a head in flight.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool TakeUsed(ushort index, out TToken token, out uint length)
    {
        byte* e = _used + SplitRing.UsedElementOffset((uint)(index & _mask));
        uint id = LittleEndian.Read32(e);
        uint len = LittleEndian.Read32(e + 4);
        if (id >= (uint)_size)
        {
            _error = new DriverRingError(DriverRingErrorKind.UsedIdOutOfRange, id);
            token = default!;
            length = 0;
            return false;
        }

        ref DescState state = ref _state[id];
        if (!state.InFlight)
        {
            _error = new DriverRingError(DriverRingErrorKind.UsedIdNotAHead, id);
            token = default!;
            length = 0;
            return false;
        }

        if (_clampUsedLength && len > state.WritableBytes)
        {
            _usedLengthClamped++;
            len = state.WritableBytes;
        }

        token = state.Token;
        Detach((ushort)id);
        length = len;
        return true;
    }

    /// <summary>
    /// The used-buffer interrupt arrived (<c>vring_interrupt</c>): true when used elements are waiting (the driver's
    /// callback then runs: call <see cref="DisableCallbacks"/> and <see cref="TryGetBuffer"/> as its handler would),
    /// false for a spurious one (<c>IRQ_NONE</c>). With EVENT_IDX it sets <see cref="EventTriggered"/>.
    /// </summary>
    public bool OnInterrupt()
    {
        if (!MoreUsed())
        {
            return false;
        }

        if (_error is null && _eventIdx)
        {
            _eventTriggered = true; // "Just a hint for performance": the device will not interrupt again by itself
        }

        return true;
    }

    /// <summary>
    /// Disables used-buffer callbacks (<c>virtqueue_disable_cb_split</c>, Linux 6.4): marks them off in the shadow
    /// flags; then, unless an interrupt already triggered (<see cref="EventTriggered"/>: the device will not send
    /// another, so there is nothing to suppress), writes <c>used_event = 0</c> with EVENT_IDX or sets
    /// VRING_AVAIL_F_NO_INTERRUPT without it.
    /// </summary>
    public void DisableCallbacks()
    {
        if ((_availFlagsShadow & SplitRing.AvailFlagNoInterrupt) == 0)
        {
            _availFlagsShadow |= SplitRing.AvailFlagNoInterrupt;
            if (_eventTriggered)
            {
                return; // used_event stays behind used->idx until the driver enables callbacks again
            }

            if (_eventIdx)
            {
                LittleEndian.WriteIndex(_usedEvent, 0);
            }
            else
            {
                LittleEndian.WriteIndex(_avail, _availFlagsShadow);
            }
        }
    }

    /// <summary>
    /// Re-enables callbacks and returns the index to poll with (<c>virtqueue_enable_cb_prepare</c>): clears
    /// <see cref="EventTriggered"/> and writes <c>used_event = last_used_idx</c>.
    /// </summary>
    public ushort EnableCallbacksPrepare()
    {
        if (FaultPlan is not null && FaultPlan.ShouldInject(RingFaultPoint.DriverNeverReenableCallbacks, _queueIndex, _lastUsedIdx))
        {
            return _lastUsedIdx;
        }

        _eventTriggered = false;
        ClearNoInterrupt();
        LittleEndian.WriteIndex(_usedEvent, _lastUsedIdx);
        return _lastUsedIdx;
    }

    /// <summary>After a full fence, true when used elements exist past <paramref name="lastUsedIdx"/> (<c>virtqueue_poll</c>).</summary>
    public bool Poll(ushort lastUsedIdx)
    {
        if (_error is not null)
        {
            return false;
        }

        Interlocked.MemoryBarrier();
        return lastUsedIdx != LittleEndian.ReadIndex(_used + SplitRing.IdxOffset);
    }

    /// <summary>
    /// Re-enables callbacks (<c>virtqueue_enable_cb</c>). Returns false when used elements arrived meanwhile: the
    /// caller must process them, since no interrupt will announce them.
    /// </summary>
    public bool EnableCallbacks() => !Poll(EnableCallbacksPrepare());

    /// <summary>
    /// Re-enables callbacks but asks to be called only after about three quarters of the outstanding buffers are used
    /// (<c>virtqueue_enable_cb_delayed</c>); clears <see cref="EventTriggered"/>.
    /// </summary>
    /// <returns>False when that many are already used: process them now.</returns>
    public bool EnableCallbacksDelayed()
    {
        if (FaultPlan is not null && FaultPlan.ShouldInject(RingFaultPoint.DriverNeverReenableCallbacks, _queueIndex, _lastUsedIdx))
        {
            return true;
        }

        _eventTriggered = false;
        ClearNoInterrupt();
        ushort bufs = (ushort)((ushort)(_availIdxShadow - _lastUsedIdx) * 3 / 4);
        LittleEndian.WriteIndex(_usedEvent, (ushort)(_lastUsedIdx + bufs));
        Interlocked.MemoryBarrier();
        return (ushort)(LittleEndian.ReadIndex(_used + SplitRing.IdxOffset) - _lastUsedIdx) <= bufs;
    }

    /// <summary>
    /// Takes back a buffer the device never used, for shutdown after a reset (<c>virtqueue_detach_unused_buf</c>).
    /// </summary>
    /// <returns>False when no buffer is in flight.</returns>
    public bool TryDetachUnusedBuffer(out TToken token)
    {
        for (int i = 0; i < _size; i++)
        {
            if (_state[i].InFlight)
            {
                token = _state[i].Token;
                Detach((ushort)i);
                _availIdxShadow--;
                LittleEndian.WriteIndex(_avail + SplitRing.IdxOffset, _availIdxShadow);
                return true;
            }
        }

        token = default!;
        return false;
    }

    /// <summary>Releases the pin on guest memory.</summary>
    public void Dispose()
    {
        if (!_disposed)
        {
            _disposed = true;
            _memory.ReleaseUser();
        }
    }

    /// <summary>Frees a chain's descriptors back onto the free list as one block (<c>detach_buf_split</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Detach(ushort head)
    {
        _state[head] = default;
        InFlight--;
        DescExtra[] extra = _extra;
        ushort i = head;
        while ((extra[i].Flags & (ushort)DescriptorFlags.Next) != 0)
        {
            i = extra[i].Next;
            _numFree++;
        }

        extra[i].Next = _freeHead;
        _freeHead = head;
        _numFree++;
    }

    private void ClearNoInterrupt()
    {
        if ((_availFlagsShadow & SplitRing.AvailFlagNoInterrupt) != 0)
        {
            _availFlagsShadow &= unchecked((ushort)~SplitRing.AvailFlagNoInterrupt);
            if (!_eventIdx)
            {
                LittleEndian.WriteIndex(_avail, _availFlagsShadow);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void WriteDescriptor(byte* table, int index, GuestSegment s, ushort flags, ushort next)
    {
        byte* d = table + (index * SplitRing.DescriptorSize);
        LittleEndian.Write64(d, s.Address);
        LittleEndian.Write32(d + 8, s.Length);
        LittleEndian.Write16(d + 12, flags);
        LittleEndian.Write16(d + 14, next);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ushort ChainFlags(bool writable, bool hasNext) =>
        (ushort)((writable ? (ushort)DescriptorFlags.Write : 0) | (hasNext ? (ushort)DescriptorFlags.Next : 0));

    private ulong DriverAddressOf(byte* table) => _indirectGuest + (ulong)(table - _indirectArea);

    private byte* Map(ulong address, ulong length, int alignment, string what)
    {
        if (address % (ulong)alignment != 0)
        {
            throw new ArgumentException($"the {what} at 0x{address:x} is not {alignment}-byte aligned");
        }

        GuestMemoryError error = _memory.TryTranslate(address, length, out byte* p);
        return error == GuestMemoryError.None
            ? p
            : throw new ArgumentException($"the {what} at 0x{address:x} ({length} bytes) is not in guest memory: {error}");
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void ThrowNoSegments() => throw new ArgumentException("a buffer has at least one segment");

    private struct DescExtra
    {
        public ushort Next;
        public ushort Flags;
    }

    private struct DescState
    {
        public TToken Token;
        public uint WritableBytes;
        public bool InFlight;
    }
}
