using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace Virtio.Memory;

/// <summary>
/// Guest-physical memory: a set of non-overlapping <see cref="GuestMemoryRegion"/>s. Every access is bounds-checked
/// against exactly one region; an address that overflows, falls in a gap or crosses a region's end is refused with a
/// <see cref="GuestMemoryError"/>, never with an exception and never by touching host memory outside a region.
/// Values are little-endian, as in VIRTIO 1.x.
/// </summary>
/// <remarks>
/// <para>Threading: accesses may run on any number of threads at once. The region set is fixed while any virtqueue is
/// ready on this memory (<see cref="IsInUse"/>): queues cache host pointers to their rings, so
/// <see cref="AddRegion"/> and <see cref="RemoveRegion"/> are refused until every queue is reset.</para>
/// <para>Lookup is O(1) when there is one region (the common embedded case) and a binary search otherwise.</para>
/// </remarks>
public sealed unsafe class GuestMemory : IDisposable
{
    private GuestMemoryRegion[] _regions;

    // Fast path for the first region: one subtraction and two compares. With one region it is the whole lookup.
    private byte* _fastPointer;
    private ulong _fastBase;
    private ulong _fastSize;

    private int _users;
    private int _disposed;
    private int _freed;

    /// <summary>Creates guest memory from regions it takes ownership of (they are disposed with it).</summary>
    /// <exception cref="ArgumentException">Two regions overlap.</exception>
    public GuestMemory(params ReadOnlySpan<GuestMemoryRegion> regions)
    {
        _regions = [];
        foreach (GuestMemoryRegion region in regions)
        {
            Insert(region);
        }
    }

    /// <summary>Creates guest memory with one zeroed, library-owned region of <paramref name="size"/> bytes.</summary>
    public static GuestMemory Create(ulong size, ulong baseAddress = 0) => new(GuestMemoryRegion.Allocate(baseAddress, size));

    /// <summary>The regions, sorted by guest-physical address.</summary>
    public IReadOnlyList<GuestMemoryRegion> Regions => _regions;

    /// <summary>One past the last byte of the highest region (0 when there is none).</summary>
    public ulong EndAddress => _regions.Length == 0 ? 0 : _regions[^1].EndAddress;

    /// <summary>True while a ready virtqueue caches pointers into this memory; the region set cannot change then.</summary>
    public bool IsInUse => Volatile.Read(ref _users) != 0;

    /// <summary>Adds a region, taking ownership of it.</summary>
    /// <exception cref="ArgumentException">It overlaps an existing region.</exception>
    /// <exception cref="InvalidOperationException">A ready queue uses this memory.</exception>
    public void AddRegion(GuestMemoryRegion region)
    {
        ArgumentNullException.ThrowIfNull(region);
        ThrowIfInUse();
        Insert(region);
    }

    /// <summary>Removes the region that starts at <paramref name="guestPhysicalAddress"/> and hands it back undisposed.</summary>
    /// <exception cref="ArgumentException">No region starts there.</exception>
    /// <exception cref="InvalidOperationException">A ready queue uses this memory.</exception>
    public GuestMemoryRegion RemoveRegion(ulong guestPhysicalAddress)
    {
        ThrowIfInUse();
        int i = Array.FindIndex(_regions, r => r.GuestPhysicalAddress == guestPhysicalAddress);
        if (i < 0)
        {
            throw new ArgumentException($"no region starts at 0x{guestPhysicalAddress:x}", nameof(guestPhysicalAddress));
        }

        GuestMemoryRegion region = _regions[i];
        GuestMemoryRegion[] next = new GuestMemoryRegion[_regions.Length - 1];
        Array.Copy(_regions, 0, next, 0, i);
        Array.Copy(_regions, i + 1, next, i, next.Length - i);
        Publish(next);
        return region;
    }

    /// <summary>True when every byte of [<paramref name="address"/>, +<paramref name="length"/>) is in one region.</summary>
    public bool IsValidRange(ulong address, ulong length) => TryTranslate(address, length, out _) == GuestMemoryError.None;

    /// <summary>Gets a span over guest memory, or why it cannot.</summary>
    public GuestMemoryError TryGetSpan(ulong address, int length, out Span<byte> span)
    {
        if (length < 0)
        {
            span = default;
            return GuestMemoryError.TooLarge;
        }

        GuestMemoryError error = TryTranslate(address, (ulong)length, out byte* p);
        span = error == GuestMemoryError.None ? new Span<byte>(p, length) : default;
        return error;
    }

    /// <summary>Gets a span over guest memory; for host-chosen addresses.</summary>
    /// <exception cref="GuestMemoryException">The range is not inside one region.</exception>
    public Span<byte> GetSpan(ulong address, int length)
    {
        GuestMemoryError error = TryGetSpan(address, length, out Span<byte> span);
        return error == GuestMemoryError.None ? span : throw new GuestMemoryException(error, address, (ulong)Math.Max(length, 0));
    }

    /// <summary>Copies guest memory into <paramref name="destination"/>.</summary>
    public GuestMemoryError TryRead(ulong address, Span<byte> destination)
    {
        GuestMemoryError error = TryTranslate(address, (ulong)destination.Length, out byte* p);
        if (error == GuestMemoryError.None)
        {
            new ReadOnlySpan<byte>(p, destination.Length).CopyTo(destination);
        }

        return error;
    }

    /// <summary>Copies <paramref name="source"/> into guest memory.</summary>
    public GuestMemoryError TryWrite(ulong address, ReadOnlySpan<byte> source)
    {
        GuestMemoryError error = TryTranslate(address, (ulong)source.Length, out byte* p);
        if (error == GuestMemoryError.None)
        {
            source.CopyTo(new Span<byte>(p, source.Length));
        }

        return error;
    }

    /// <summary>Reads a little-endian integer (u8, u16, u32, u64...). No alignment is required.</summary>
    public GuestMemoryError TryRead<T>(ulong address, out T value)
        where T : unmanaged, IBinaryInteger<T>
    {
        GuestMemoryError error = TryTranslate(address, (ulong)sizeof(T), out byte* p);
        value = error == GuestMemoryError.None ? T.ReadLittleEndian(new ReadOnlySpan<byte>(p, sizeof(T)), isUnsigned: true) : default;
        return error;
    }

    /// <summary>Writes a little-endian integer. No alignment is required.</summary>
    public GuestMemoryError TryWrite<T>(ulong address, T value)
        where T : unmanaged, IBinaryInteger<T>
    {
        GuestMemoryError error = TryTranslate(address, (ulong)sizeof(T), out byte* p);
        if (error == GuestMemoryError.None)
        {
            // TryWriteLittleEndian is implemented by each integer type; WriteLittleEndian is a default interface
            // method, and calling one on a struct type parameter boxes it.
            value.TryWriteLittleEndian(new Span<byte>(p, sizeof(T)), out _);
        }

        return error;
    }

    /// <summary>Reads a little-endian integer at a host-chosen address.</summary>
    /// <exception cref="GuestMemoryException">The address is not mapped.</exception>
    public T Read<T>(ulong address)
        where T : unmanaged, IBinaryInteger<T>
    {
        GuestMemoryError error = TryRead(address, out T value);
        return error == GuestMemoryError.None ? value : throw new GuestMemoryException(error, address, (ulong)sizeof(T));
    }

    /// <summary>Writes a little-endian integer at a host-chosen address.</summary>
    /// <exception cref="GuestMemoryException">The address is not mapped.</exception>
    public void Write<T>(ulong address, T value)
        where T : unmanaged, IBinaryInteger<T>
    {
        GuestMemoryError error = TryWrite(address, value);
        if (error != GuestMemoryError.None)
        {
            throw new GuestMemoryException(error, address, (ulong)sizeof(T));
        }
    }

    /// <summary>
    /// Reads a 16-bit ring index with acquire semantics as one untorn load. The address must be 2-byte aligned
    /// (<see cref="GuestMemoryError.Misaligned"/> otherwise), as the split ring's index fields always are.
    /// </summary>
    public GuestMemoryError TryReadIndex(ulong address, out ushort value)
    {
        value = 0;
        if ((address & 1) != 0)
        {
            return GuestMemoryError.Misaligned;
        }

        GuestMemoryError error = TryTranslate(address, 2, out byte* p);
        if (error == GuestMemoryError.None)
        {
            value = LittleEndian.FromLe(Volatile.Read(ref *(ushort*)p));
        }

        return error;
    }

    /// <summary>Writes a 16-bit ring index with release semantics as one untorn store (2-byte aligned).</summary>
    public GuestMemoryError TryWriteIndex(ulong address, ushort value)
    {
        if ((address & 1) != 0)
        {
            return GuestMemoryError.Misaligned;
        }

        GuestMemoryError error = TryTranslate(address, 2, out byte* p);
        if (error == GuestMemoryError.None)
        {
            Volatile.Write(ref *(ushort*)p, LittleEndian.ToLe(value));
        }

        return error;
    }

    /// <summary>
    /// Writes guest memory [<paramref name="address"/>, +<paramref name="length"/>) to <paramref name="destination"/>
    /// as raw bytes, like QEMU's <c>pmemsave</c>; bytes in gaps between regions are written as zeros.
    /// </summary>
    /// <exception cref="GuestMemoryException">The range overflows the address space.</exception>
    public void Dump(Stream destination, ulong address, ulong length)
    {
        ArgumentNullException.ThrowIfNull(destination);
        if (length != 0 && address + (length - 1) < address)
        {
            throw new GuestMemoryException(GuestMemoryError.AddressOverflow, address, length);
        }

        byte[] zeros = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            Array.Clear(zeros);
            ulong at = address;
            ulong remaining = length;
            while (remaining != 0)
            {
                int chunk = (int)Math.Min(remaining, (ulong)zeros.Length);
                GuestMemoryRegion? region = Find(at);
                if (region is not null)
                {
                    chunk = (int)Math.Min((ulong)chunk, region.EndAddress - at);
                    destination.Write(new ReadOnlySpan<byte>(region.Pointer + (at - region.GuestPhysicalAddress), chunk));
                }
                else
                {
                    GuestMemoryRegion? next = FindNextAbove(at);
                    if (next is not null)
                    {
                        chunk = (int)Math.Min((ulong)chunk, next.GuestPhysicalAddress - at);
                    }

                    destination.Write(zeros, 0, chunk);
                }

                at += (ulong)chunk;
                remaining -= (ulong)chunk;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }

    /// <summary>Dumps guest memory from address 0 to <see cref="EndAddress"/> (QEMU's <c>pmemsave 0 END file</c>).</summary>
    public void Dump(Stream destination) => Dump(destination, 0, EndAddress);

    /// <summary>
    /// Loads a raw dump into guest memory starting at <paramref name="address"/>. Bytes that land in a gap must be
    /// zero (as <see cref="Dump(Stream, ulong, ulong)"/> writes them); returns the number of bytes read.
    /// </summary>
    /// <exception cref="GuestMemoryException">The dump covers non-zero bytes outside every region.</exception>
    public ulong Load(Stream source, ulong address = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            ulong at = address;
            int n;
            while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
            {
                int done = 0;
                while (done < n)
                {
                    ulong here = at + (ulong)done;
                    GuestMemoryRegion? region = Find(here);
                    int chunk = n - done;
                    if (region is not null)
                    {
                        chunk = (int)Math.Min((ulong)chunk, region.EndAddress - here);
                        buffer.AsSpan(done, chunk).CopyTo(new Span<byte>(region.Pointer + (here - region.GuestPhysicalAddress), chunk));
                    }
                    else
                    {
                        GuestMemoryRegion? next = FindNextAbove(here);
                        if (next is not null)
                        {
                            chunk = (int)Math.Min((ulong)chunk, next.GuestPhysicalAddress - here);
                        }

                        if (buffer.AsSpan(done, chunk).ContainsAnyExcept((byte)0))
                        {
                            throw new GuestMemoryException(GuestMemoryError.Unmapped, here, (ulong)chunk);
                        }
                    }

                    done += chunk;
                }

                at += (ulong)n;
            }

            return at - address;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Creates guest memory with one region holding a raw dump, for offline analysis of a saved guest.</summary>
    public static GuestMemory FromDump(Stream source, ulong baseAddress = 0)
    {
        ArgumentNullException.ThrowIfNull(source);
        if (!source.CanSeek)
        {
            using var copy = new MemoryStream();
            source.CopyTo(copy);
            copy.Position = 0;
            return FromDump(copy, baseAddress);
        }

        long size = source.Length - source.Position;
        if (size <= 0)
        {
            throw new ArgumentException("the dump is empty", nameof(source));
        }

        GuestMemory memory = Create((ulong)size, baseAddress);
        memory.Load(source, baseAddress);
        return memory;
    }

    /// <summary>Frees the regions (owned memory is freed, wrapped memory released), once no queue uses them.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && Volatile.Read(ref _users) == 0)
        {
            FreeRegions();
        }
    }

    /// <summary>Translates a guest range to a host pointer: the single check every access goes through.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal GuestMemoryError TryTranslate(ulong address, ulong length, out byte* pointer)
    {
        ulong offset = address - _fastBase;
        if (offset < _fastSize && length <= _fastSize - offset)
        {
            pointer = _fastPointer + offset;
            return GuestMemoryError.None;
        }

        return TranslateSlow(address, length, out pointer);
    }

    /// <summary>
    /// The first region as (host pointer, base, size), for a ready queue to cache: the region set cannot change
    /// while the queue is registered, so the copy stays valid until it releases.
    /// </summary>
    internal (nint Pointer, ulong Base, ulong Size) FastRegion => ((nint)_fastPointer, _fastBase, _fastSize);

    /// <summary>A ready queue registers itself: the region set is frozen and kept alive until it releases.</summary>
    internal void AddUser()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Interlocked.Increment(ref _users);
    }

    internal void ReleaseUser()
    {
        if (Interlocked.Decrement(ref _users) == 0 && Volatile.Read(ref _disposed) != 0)
        {
            FreeRegions();
        }
    }

    private GuestMemoryError TranslateSlow(ulong address, ulong length, out byte* pointer)
    {
        pointer = null;
        if (length != 0 && address + (length - 1) < address)
        {
            return GuestMemoryError.AddressOverflow;
        }

        GuestMemoryRegion? region = Find(address);
        if (region is null)
        {
            // A zero-length access exactly at a region's end is an empty span, not an error.
            if (length == 0)
            {
                foreach (GuestMemoryRegion r in _regions)
                {
                    if (r.EndAddress == address)
                    {
                        pointer = r.Pointer + r.Size;
                        return GuestMemoryError.None;
                    }
                }
            }

            return GuestMemoryError.Unmapped;
        }

        ulong offset = address - region.GuestPhysicalAddress;
        if (length > region.Size - offset)
        {
            return GuestMemoryError.CrossesRegionEnd;
        }

        pointer = region.Pointer + offset;
        return GuestMemoryError.None;
    }

    private GuestMemoryRegion? Find(ulong address)
    {
        GuestMemoryRegion[] regions = _regions;
        int lo = 0, hi = regions.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            GuestMemoryRegion r = regions[mid];
            if (address < r.GuestPhysicalAddress)
            {
                hi = mid - 1;
            }
            else if (address >= r.EndAddress)
            {
                lo = mid + 1;
            }
            else
            {
                return r;
            }
        }

        return null;
    }

    private GuestMemoryRegion? FindNextAbove(ulong address)
    {
        foreach (GuestMemoryRegion r in _regions)
        {
            if (r.GuestPhysicalAddress > address)
            {
                return r;
            }
        }

        return null;
    }

    private void Insert(GuestMemoryRegion region)
    {
        ObjectDisposedException.ThrowIf(region.HostAddress == 0, region);

        foreach (GuestMemoryRegion r in _regions)
        {
            if (region.GuestPhysicalAddress < r.EndAddress && r.GuestPhysicalAddress < region.EndAddress)
            {
                throw new ArgumentException(
                    $"region 0x{region.GuestPhysicalAddress:x}..0x{region.EndAddress:x} overlaps 0x{r.GuestPhysicalAddress:x}..0x{r.EndAddress:x}",
                    nameof(region));
            }
        }

        GuestMemoryRegion[] next = [.. _regions, region];
        Array.Sort(next, static (a, b) => a.GuestPhysicalAddress.CompareTo(b.GuestPhysicalAddress));
        Publish(next);
    }

    private void Publish(GuestMemoryRegion[] regions)
    {
        _regions = regions;
        if (regions.Length == 0)
        {
            _fastPointer = null;
            _fastBase = 0;
            _fastSize = 0;
        }
        else
        {
            _fastPointer = regions[0].Pointer;
            _fastBase = regions[0].GuestPhysicalAddress;
            _fastSize = regions[0].Size;
        }
    }

    private void ThrowIfInUse()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (IsInUse)
        {
            throw new InvalidOperationException(
                "guest memory regions cannot change while a virtqueue is ready on them (reset the queues first)");
        }
    }

    private void FreeRegions()
    {
        // Dispose and the last queue's release can both see "disposed and unused" when they race: free once.
        if (Interlocked.Exchange(ref _freed, 1) != 0)
        {
            return;
        }

        GuestMemoryRegion[] regions = _regions;
        Publish([]);
        foreach (GuestMemoryRegion r in regions)
        {
            r.Dispose();
        }
    }
}
