using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Virtio.Faults;
using Virtio.Memory;

namespace Virtio.Rings;

/// <summary>
/// The device side of one split virtqueue, mirroring QEMU's <c>hw/virtio/virtio.c</c>: it pops descriptor chains the
/// driver made available, puts completed ones in the used ring, and decides when the driver must be notified. Its
/// state carries QEMU's names (<c>last_avail_idx</c>, <c>shadow_avail_idx</c>, <c>used_idx</c>, <c>inuse</c>,
/// <c>signalled_used</c>) because the diagnostics report them.
/// </summary>
/// <remarks>
/// <para>Everything read from guest RAM is untrusted. A ring violation breaks the queue with a
/// <see cref="VirtqueueError"/> (the device should then set DEVICE_NEEDS_RESET); a broken queue pops nothing and
/// writes nothing to guest RAM until <see cref="Reset"/>, so its state stays as it was for diagnosis.</para>
/// <para>Threading: configuration (<see cref="Size"/>, the ring addresses, the feature flags, <see cref="Enable"/>,
/// <see cref="Reset"/>) happens on the control thread (the vCPU's MMIO handler) while no worker runs the queue.
/// Everything else (pop, fill, flush, notification) runs on one thread at a time, the queue's worker. Reading
/// <see cref="GetState"/> and <see cref="ReadGuestFields"/> from another thread is safe; each field is read
/// atomically, the set is not one atomic snapshot.</para>
/// <para>The pop is stricter than QEMU's where the spec or a hostile guest asks for it (a head already in flight,
/// INDIRECT with NEXT, nested indirect tables; a last INDIRECT descriptor after normal ones is accepted): see
/// <see cref="Pop"/> and the README's "Where the device differs from QEMU".</para>
/// <para>Host programming errors (pushing more chains than are in flight, configuring a ready queue) throw.</para>
/// </remarks>
public sealed unsafe partial class SplitQueue
{
    private readonly GuestMemory _memory;

    // Host pointers to the three ring areas, translated and bounds-checked once by Enable (QEMU's region caches).
    private byte* _desc;
    private byte* _avail;
    private byte* _used;
    private byte* _usedEvent;
    private byte* _availEvent;

    // The first guest memory region, cached at Enable (the region set is frozen while the queue is ready), so that
    // translating a buffer touches only this object: QEMU keeps a MemoryRegionCache per ring for the same reason.
    private byte* _ramPointer;
    private ulong _ramBase;
    private ulong _ramSize;
    private ushort _mask;
    private int _size;

    private ushort _lastAvailIdx;
    private ushort _shadowAvailIdx;
    private ushort _usedIdx;
    private int _inUse;
    private ushort _signalledUsed;
    private bool _signalledUsedValid;
    private bool _notification = true;
    private bool _eventIdx;
    private bool _indirect;
    private VirtqueueError? _error;
    private int _generation;

    // Heads popped and not yet published in the used ring, one bit per head: a head made available again while in
    // flight breaks the queue (VirtqueueErrorKind.HeadInUse). Sized for MaxSize at the first Enable and reused, so
    // pop, flush and rewind never allocate. _poppedHeads remembers the head popped from each avail slot (for Rewind,
    // which must not trust the avail ring the guest may have rewritten); _filledHeads the head filled at each batch
    // offset (for Flush, which must not trust the used ring either).
    private ulong[] _headsInFlight = [];

    // The descriptor-table entries each multi-descriptor pop validated, as it read them (QEMU maps the chain into the
    // element at pop for the same reason): walks of a popped chain read these, never the guest's table again, so a
    // rewrite after the kick cannot redirect a direct chain. _descriptorOwner names the pop (its serial) that last
    // wrote each entry; a walk finding another pop's serial knows two in-flight chains shared a descriptor.
    private byte[] _shadowTable = [];
    private byte* _shadow;
    private int[] _descriptorOwner = [];
    private int _popSerial;

    // The same for indirect tables of up to _indirectShadowEntries descriptors (Linux's blk and net requests), one
    // slot per head: a head cannot be popped again while in flight, so its slot stays the chain's own. Larger tables
    // are read again from guest RAM and re-validated.
    private byte[] _indirectShadowTable = [];
    private byte* _indirectShadow;
    private int _indirectShadowEntries;
    private ushort[] _poppedHeads = [];
    private ushort[] _filledHeads = [];

    // Heads to pop before the available ring (a device restarted with requests in flight: vhost-user's inflight
    // region), as libvhost-user's resubmit_list; each stands for the avail entry at _resubmitBase + its position.
    private ushort[] _resubmitHeads = [];
    private int _resubmitCount;
    private int _resubmitNext;
    private ushort _resubmitBase;
    private IInflightLog? _inflightLog;
    private ILogger? _logger;
    private ILogger? _trace; // _logger when it had trace events on at the last sample, else null

    // Fault seam state: the value of used_event read "too early" by the DeviceReadUsedEventBeforeUsedIdx fault.
    private bool _staleUsedEventPending;
    private ushort _staleUsedEvent;

    /// <summary>Creates a queue over <paramref name="memory"/>.</summary>
    /// <param name="memory">The guest RAM the rings and buffers live in.</param>
    /// <param name="maxSize">The largest size the device offers (QueueNumMax; QEMU's <c>vring-num-default</c>).</param>
    /// <param name="index">The queue's index within its device.</param>
    /// <param name="name">The device name diagnostics show (QEMU's <c>name</c>, such as <c>virtio-blk</c>).</param>
    public SplitQueue(GuestMemory memory, int maxSize = 256, int index = 0, string name = "virtio")
    {
        ArgumentNullException.ThrowIfNull(memory);
        if (!SplitRing.IsValidSize(maxSize))
        {
            throw new ArgumentOutOfRangeException(nameof(maxSize), maxSize, "a power of two from 1 to 32768");
        }

        _memory = memory;
        MaxSize = maxSize;
        Index = index;
        Name = name;
        Size = maxSize;
        MaxIndirectDescriptors = Math.Max(maxSize, 1024);
    }

    /// <summary>The guest RAM this queue works on.</summary>
    public GuestMemory Memory => _memory;

    /// <summary>The queue's index within its device (QEMU's <c>queue-index</c>).</summary>
    public int Index { get; }

    /// <summary>The device name (QEMU's <c>name</c>).</summary>
    public string Name { get; }

    /// <summary>The largest size the device offers (QueueNumMax; QEMU's <c>vring-num-default</c>).</summary>
    public int MaxSize { get; }

    /// <summary>The queue size the driver chose (QEMU's <c>vring-num</c>); checked by <see cref="Enable"/>.</summary>
    public int Size
    {
        get => _size;
        set
        {
            ThrowIfReady();
            _size = value;
        }
    }

    /// <summary>Guest-physical address of the descriptor table (QEMU's <c>vring-desc</c>).</summary>
    public ulong DescriptorTableAddress { get; set => field = ThrowIfReady(value); }

    /// <summary>Guest-physical address of the available ring, the driver area (QEMU's <c>vring-avail</c>).</summary>
    public ulong AvailRingAddress { get; set => field = ThrowIfReady(value); }

    /// <summary>Guest-physical address of the used ring, the device area (QEMU's <c>vring-used</c>).</summary>
    public ulong UsedRingAddress { get; set => field = ThrowIfReady(value); }

    /// <summary>Whether VIRTIO_RING_F_EVENT_IDX was negotiated.</summary>
    public bool EventIdx
    {
        get => _eventIdx;
        set
        {
            ThrowIfReady();
            _eventIdx = value;
        }
    }

    /// <summary>Whether VIRTIO_RING_F_INDIRECT_DESC was negotiated.</summary>
    public bool IndirectDescriptors
    {
        get => _indirect;
        set
        {
            ThrowIfReady();
            _indirect = value;
        }
    }

    /// <summary>Whether VIRTIO_F_NOTIFY_ON_EMPTY was negotiated (notify whenever the queue runs empty).</summary>
    public bool NotifyOnEmpty { get; set => field = ThrowIfReady(value); }

    /// <summary>The most descriptors an indirect table may hold (default: the larger of the maximum size and 1024).</summary>
    public int MaxIndirectDescriptors
    {
        get;
        set
        {
            ThrowIfReady();
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 65536);
            field = value;
        }
    }

    /// <summary>The fault plan consulted at each <see cref="RingFaultPoint"/>; null (the default) injects nothing.</summary>
    public IRingFaultPlan? FaultPlan { get; set; }

    /// <summary>
    /// Where the queue records the heads it pops and publishes, for a device that must survive its own restart (the
    /// vhost-user inflight region); null (the default) records nothing. Set while the queue is not ready.
    /// </summary>
    public IInflightLog? InflightLog
    {
        get => _inflightLog;
        set
        {
            ThrowIfReady();
            _inflightLog = value;
        }
    }

    /// <summary>
    /// Raised once when the queue breaks, wherever the violation was found (pop, <see cref="AvailableCount"/>, a walk of
    /// an in-flight chain, <see cref="Enable"/>), on the thread that found it and with the queue's own lock (if any)
    /// held: a handler must not block or take a lock the queue's worker holds while it works. A device hooks it to
    /// set DEVICE_NEEDS_RESET at once (QEMU's <c>virtio_error</c>), so that every ring error takes one path.
    /// </summary>
    public event Action<SplitQueue, VirtqueueError>? Broken;

    /// <summary>
    /// Receives <c>virtio_error</c> and trace events; null logs nothing. Whether trace events are on is read when the
    /// logger is set and at each <see cref="Enable"/>, not per buffer: asking the logger on every pop and flush cost
    /// about 5 ns a buffer with a console logger at its default level (docs/benchmarks.md).
    /// </summary>
    public ILogger? Logger
    {
        get => _logger;
        set
        {
            _logger = value;
            SampleTraceLevel();
        }
    }

    /// <summary>Where ring errors are counted: the device's meter (its host's, when it has one), else the static one.</summary>
    internal RingMetrics Metrics { get; set; } = RingMetrics.Default;

    /// <summary>True between a successful <see cref="Enable"/> and <see cref="Reset"/>.</summary>
    public bool IsReady => _desc != null;

    /// <summary>True once the driver broke a ring rule; cleared only by <see cref="Reset"/>.</summary>
    [MemberNotNullWhen(true, nameof(Error))]
    public bool IsBroken => _error is not null;

    /// <summary>The rule the driver broke, or null.</summary>
    public VirtqueueError? Error => _error;

    /// <summary><c>last_avail_idx</c>: the next available-ring entry to pop.</summary>
    public ushort LastAvailIdx => _lastAvailIdx;

    /// <summary><c>shadow_avail_idx</c>: the last <c>avail-&gt;idx</c> read from guest RAM.</summary>
    public ushort ShadowAvailIdx => _shadowAvailIdx;

    /// <summary><c>used_idx</c>: the used index the device last published.</summary>
    public ushort UsedIdx => _usedIdx;

    /// <summary><c>inuse</c>: chains popped and not yet pushed.</summary>
    public int InUse => _inUse;

    /// <summary><c>signalled_used</c>.</summary>
    public ushort SignalledUsed => _signalledUsed;

    /// <summary><c>signalled_used_valid</c>.</summary>
    public bool SignalledUsedValid => _signalledUsedValid;

    /// <summary>Whether the device currently asks for kicks.</summary>
    public bool NotificationEnabled => _notification;

    /// <summary>
    /// Makes the queue ready (QueueReady = 1): checks the size and that each ring area is aligned and inside one
    /// guest memory region, then caches host pointers to them. The values come from the guest, so a bad one breaks
    /// the queue and is returned rather than thrown.
    /// </summary>
    /// <returns>Null on success; otherwise the error, also kept in <see cref="Error"/>.</returns>
    public VirtqueueError? Enable()
    {
        ThrowIfReady();
        SampleTraceLevel();
        if (_error is not null)
        {
            return _error;
        }

        int size = _size;
        if (!SplitRing.IsValidSize(size) || size > MaxSize)
        {
            return Break(VirtqueueErrorKind.InvalidSize, (ulong)(uint)size, (ulong)MaxSize);
        }

        if (DescriptorTableAddress % SplitRing.DescriptorTableAlignment != 0)
        {
            return Break(VirtqueueErrorKind.RingMisaligned, DescriptorTableAddress, SplitRing.DescriptorTableAlignment);
        }

        if (AvailRingAddress % SplitRing.AvailRingAlignment != 0)
        {
            return Break(VirtqueueErrorKind.RingMisaligned, AvailRingAddress, SplitRing.AvailRingAlignment);
        }

        if (UsedRingAddress % SplitRing.UsedRingAlignment != 0)
        {
            return Break(VirtqueueErrorKind.RingMisaligned, UsedRingAddress, SplitRing.UsedRingAlignment);
        }

        // Same order as QEMU's virtio_init_region_cache: desc, used, avail.
        if (_memory.TryTranslate(DescriptorTableAddress, SplitRing.DescriptorTableBytes(size), out byte* desc) != GuestMemoryError.None)
        {
            return Break(VirtqueueErrorKind.RingUnmapped, DescriptorTableAddress, 0);
        }

        if (_memory.TryTranslate(UsedRingAddress, SplitRing.UsedRingBytes(size, _eventIdx), out byte* used) != GuestMemoryError.None)
        {
            return Break(VirtqueueErrorKind.RingUnmapped, UsedRingAddress, 2);
        }

        if (_memory.TryTranslate(AvailRingAddress, SplitRing.AvailRingBytes(size, _eventIdx), out byte* avail) != GuestMemoryError.None)
        {
            return Break(VirtqueueErrorKind.RingUnmapped, AvailRingAddress, 1);
        }

        EnsureHeadTracking();
        _memory.AddUser();
        (nint ramPointer, _ramBase, _ramSize) = _memory.FastRegion;
        _ramPointer = (byte*)ramPointer;
        _mask = (ushort)(size - 1);
        _desc = desc;
        _avail = avail;
        _used = used;
        _usedEvent = avail + SplitRing.UsedEventOffset(size);
        _availEvent = used + SplitRing.AvailEventOffset(size);
        return null;
    }

    /// <summary>
    /// Returns the queue to its initial state, as QEMU's <c>__virtio_queue_reset</c> does: not ready, size back to
    /// <see cref="MaxSize"/>, addresses 0, indexes 0, notifications on, not broken. Chains popped before the reset are
    /// stale: pushing them is ignored and walking them ends at once.
    /// </summary>
    public void Reset()
    {
        if (_desc != null)
        {
            _desc = null;
            _avail = null;
            _used = null;
            _ramPointer = null;
            _ramBase = 0;
            _ramSize = 0;
            _memory.ReleaseUser();
        }

        _generation++;
        _size = MaxSize;
        _mask = 0;
        DescriptorTableAddress = 0;
        AvailRingAddress = 0;
        UsedRingAddress = 0;
        _lastAvailIdx = 0;
        _shadowAvailIdx = 0;
        _usedIdx = 0;
        _inUse = 0;
        _signalledUsed = 0;
        _signalledUsedValid = false;
        _notification = true;
        _staleUsedEventPending = false;
        _error = null;
        _resubmitCount = _resubmitNext = 0;
        Array.Clear(_headsInFlight);
    }

    /// <summary>
    /// Schedules chains to pop again, by head, before anything from the available ring: the requests a restarted device
    /// had in flight (libvhost-user's <c>vu_check_queue_inflights</c>). Each stands for the next available entry from
    /// <see cref="LastAvailIdx"/> on, as it did when first popped, and is validated by <see cref="PopHead"/> as any pop
    /// is. Call after <see cref="SetState(in SplitQueueState)"/> with <c>last_avail_idx</c> at <c>used_idx</c>.
    /// </summary>
    /// <param name="heads">The heads, oldest first; copied. At most <see cref="MaxSize"/>.</param>
    /// <exception cref="ArgumentException">More heads than <see cref="MaxSize"/>.</exception>
    public void Resubmit(ReadOnlySpan<ushort> heads)
    {
        if (heads.Length > MaxSize)
        {
            throw new ArgumentException($"{heads.Length} heads to resubmit on a queue of at most {MaxSize}", nameof(heads));
        }

        if (_resubmitHeads.Length < MaxSize)
        {
            _resubmitHeads = new ushort[MaxSize];
        }

        heads.CopyTo(_resubmitHeads);
        _resubmitCount = heads.Length;
        _resubmitNext = 0;
        _resubmitBase = _lastAvailIdx;
    }

    /// <summary>Heads scheduled by <see cref="Resubmit"/> and not popped yet.</summary>
    public int PendingResubmits => _resubmitCount - _resubmitNext;

    private void SampleTraceLevel() => _trace = _logger is { } logger && logger.IsEnabled(LogLevel.Trace) ? logger : null;

    /// <summary>The shadow state, as QEMU reports it.</summary>
    public SplitQueueState GetState() => new(
        _lastAvailIdx, _shadowAvailIdx, _usedIdx, _inUse, _signalledUsed, _signalledUsedValid, _notification);

    /// <summary>
    /// Restores shadow state (a snapshot, or a migration's <c>last_avail_idx</c>/<c>used_idx</c>). As QEMU's
    /// <c>virtio_load</c> does, <c>inuse</c> must equal <c>last_avail_idx - used_idx</c> and fit the queue.
    /// </summary>
    /// <remarks>
    /// The state does not say which heads are in flight, so with <c>inuse</c> &gt; 0 the queue forgets them: heads
    /// popped from now on are tracked, the restored ones are not, and the driver may post a restored head again
    /// without breaking the queue. That is sound for a device model that keeps request state only for chains it popped
    /// itself (every model here): it holds nothing for a restored head. A VMM that resubmits restored requests must
    /// name their heads with <see cref="SetState(in SplitQueueState, ReadOnlySpan{ushort})"/>.
    /// </remarks>
    /// <exception cref="ArgumentException">The state is inconsistent.</exception>
    public void SetState(in SplitQueueState state) => SetState(state, []);

    /// <summary>
    /// Restores shadow state as <see cref="SetState(in SplitQueueState)"/> does, with the heads of the chains in flight
    /// (QEMU migrates them as the device's in-flight elements): posting one of them again breaks the queue
    /// (<see cref="VirtqueueErrorKind.HeadInUse"/>) until it is pushed.
    /// </summary>
    /// <param name="state">The shadow state.</param>
    /// <param name="inFlightHeads">Empty (the heads are unknown), or exactly <c>inuse</c> distinct heads below the size.</param>
    /// <exception cref="ArgumentException">The state or the heads are inconsistent.</exception>
    public void SetState(in SplitQueueState state, ReadOnlySpan<ushort> inFlightHeads)
    {
        int inferred = (ushort)(state.LastAvailIdx - state.UsedIdx);
        if (state.InUse != inferred || state.InUse > _size)
        {
            throw new ArgumentException(
                $"inuse {state.InUse} must equal last_avail_idx {state.LastAvailIdx} - used_idx {state.UsedIdx} = {inferred} and be at most the size {_size}",
                nameof(state));
        }

        if ((ushort)(state.ShadowAvailIdx - state.LastAvailIdx) > _size)
        {
            throw new ArgumentException("shadow_avail_idx is more than the queue size ahead of last_avail_idx", nameof(state));
        }

        if (!inFlightHeads.IsEmpty && inFlightHeads.Length != state.InUse)
        {
            throw new ArgumentException($"{inFlightHeads.Length} in-flight heads given for inuse {state.InUse}", nameof(inFlightHeads));
        }

        ulong[] heads = new ulong[(_size + 63) / 64];
        foreach (ushort head in inFlightHeads)
        {
            if (head >= _size || (heads[head >> 6] & (1UL << (head & 63))) != 0)
            {
                throw new ArgumentException($"in-flight head {head} is past the size {_size} or given twice", nameof(inFlightHeads));
            }

            heads[head >> 6] |= 1UL << (head & 63);
        }

        EnsureHeadTracking();
        Array.Clear(_headsInFlight);
        heads.CopyTo(_headsInFlight, 0);
        _lastAvailIdx = state.LastAvailIdx;
        _shadowAvailIdx = state.ShadowAvailIdx;
        _usedIdx = state.UsedIdx;
        _inUse = state.InUse;
        _signalledUsed = state.SignalledUsed;
        _signalledUsedValid = state.SignalledUsedValid;
        _notification = state.NotificationEnabled;
    }

    /// <summary>
    /// Reads the six fields driver and device publish in guest RAM, without changing any state (no shadow update).
    /// Without EVENT_IDX, <c>used_event</c> and <c>avail_event</c> read as 0 when outside guest memory.
    /// </summary>
    /// <returns>False when the queue is not ready.</returns>
    public bool ReadGuestFields(out GuestRingFields fields)
    {
        byte* avail = _avail, used = _used;
        if (avail == null || used == null)
        {
            fields = default;
            return false;
        }

        fields = new GuestRingFields(
            AvailFlags: LittleEndian.ReadIndex(avail),
            AvailIdx: LittleEndian.ReadIndex(avail + SplitRing.IdxOffset),
            UsedEvent: ReadOptionalIndex(AvailRingAddress + SplitRing.UsedEventOffset(_size)),
            UsedFlags: LittleEndian.ReadIndex(used),
            UsedIdx: LittleEndian.ReadIndex(used + SplitRing.IdxOffset),
            AvailEvent: ReadOptionalIndex(UsedRingAddress + SplitRing.AvailEventOffset(_size)));
        return true;
    }

    /// <summary>Translates a buffer: the cached first region, then the full region lookup.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal GuestMemoryError TranslateBuffer(ulong address, ulong length, out byte* pointer)
    {
        ulong offset = address - _ramBase;
        if (offset < _ramSize && length <= _ramSize - offset)
        {
            pointer = _ramPointer + offset;
            return GuestMemoryError.None;
        }

        return _memory.TryTranslate(address, length, out pointer);
    }

    /// <summary>Allocates the in-flight head tracking once, for <see cref="MaxSize"/>, so no later enable allocates.</summary>
    private void EnsureHeadTracking()
    {
        if (_poppedHeads.Length < MaxSize)
        {
            _headsInFlight = new ulong[(MaxSize + 63) / 64];
            _poppedHeads = new ushort[MaxSize];
            _filledHeads = new ushort[MaxSize];
            _shadowTable = GC.AllocateArray<byte>(MaxSize * SplitRing.DescriptorSize, pinned: true);
            _shadow = (byte*)Unsafe.AsPointer(ref _shadowTable[0]);
            _descriptorOwner = new int[MaxSize];

            // Up to 16 entries per head, and at most 1 MiB for the largest queues.
            _indirectShadowEntries = Math.Clamp(65536 / MaxSize, 1, 16);
            _indirectShadowTable = GC.AllocateArray<byte>(MaxSize * _indirectShadowEntries * SplitRing.DescriptorSize, pinned: true);
            _indirectShadow = (byte*)Unsafe.AsPointer(ref _indirectShadowTable[0]);
        }
    }

    private ushort ReadOptionalIndex(ulong address) =>
        _memory.TryReadIndex(address, out ushort value) == GuestMemoryError.None ? value : (ushort)0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool Inject(RingFaultPoint point, ushort ringIndex) =>
        FaultPlan is { } plan && plan.ShouldInject(point, Index, ringIndex);

    [MethodImpl(MethodImplOptions.NoInlining)]
    private VirtqueueError Break(VirtqueueErrorKind kind, ulong a, ulong b)
    {
        if (_error is not null)
        {
            return _error;
        }

        var error = new VirtqueueError(kind, Index, VirtqueueError.Describe(kind, a, b));
        _error = error;
        Metrics.Errors.Add(1, new KeyValuePair<string, object?>("kind", kind.ToString()));
        if (Logger is { } logger)
        {
            RingLog.VirtioError(logger, Name, Index, error.Message);
        }

        Broken?.Invoke(this, error);
        return error;
    }

    private void ThrowIfReady()
    {
        if (_desc != null)
        {
            ThrowHelper.QueueIsReady();
        }
    }

    private T ThrowIfReady<T>(T value)
    {
        ThrowIfReady();
        return value;
    }
}
