using System.Runtime.InteropServices;

namespace Virtio.Memory;

/// <summary>
/// One contiguous range of guest-physical memory backed by host memory: either native memory this library allocated
/// (zeroed, freed on dispose), or memory it does not own, such as an <c>mmap</c> of a memfd shared with a vhost-user
/// front end, which it never frees (the owner's release callback runs instead).
/// </summary>
/// <remarks>
/// A region is immutable once created. Its host pointer must have the same alignment modulo 8 as its guest-physical
/// base, so that a naturally aligned guest index is a naturally aligned host access (single, untorn load or store).
/// </remarks>
public sealed unsafe class GuestMemoryRegion : IDisposable
{
    private readonly Action<nint>? _release;
    private byte* _pointer;
    private readonly bool _owned;

    private GuestMemoryRegion(ulong guestPhysicalAddress, ulong size, byte* pointer, bool owned, Action<nint>? release)
    {
        GuestPhysicalAddress = guestPhysicalAddress;
        Size = size;
        _pointer = pointer;
        _owned = owned;
        _release = release;
    }

    /// <summary>The guest-physical address of the first byte.</summary>
    public ulong GuestPhysicalAddress { get; }

    /// <summary>The size in bytes (at least 1).</summary>
    public ulong Size { get; }

    /// <summary>The guest-physical address one past the last byte. A region never wraps the address space.</summary>
    public ulong EndAddress => GuestPhysicalAddress + Size;

    /// <summary>The host address of the first byte, or 0 once disposed.</summary>
    public nint HostAddress => (nint)_pointer;

    /// <summary>True when this library allocated the memory and frees it on dispose.</summary>
    public bool OwnsMemory => _owned;

    internal byte* Pointer => _pointer;

    /// <summary>Allocates a zeroed region of native memory owned by the library.</summary>
    /// <param name="guestPhysicalAddress">The guest-physical base address.</param>
    /// <param name="size">The size in bytes; must be at least 1 and the region must not wrap the address space.</param>
    public static GuestMemoryRegion Allocate(ulong guestPhysicalAddress, ulong size)
    {
        Validate(guestPhysicalAddress, size);
        if (size > (ulong)nint.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(size), size, "region is larger than the host address space");
        }

        // NativeMemory.AllocZeroed is calloc: large allocations are lazily committed zero pages, so a big sparse guest
        // costs only what it touches. calloc returns memory aligned for any scalar, which satisfies the 8-byte rule.
        byte* p = (byte*)NativeMemory.AllocZeroed((nuint)size);
        return new GuestMemoryRegion(guestPhysicalAddress, size, p, owned: true, release: null);
    }

    /// <summary>
    /// Wraps host memory the library does not own (for example an <c>mmap</c> of a memfd). The memory must stay valid
    /// until the region is disposed; <paramref name="release"/>, if given, runs then with <paramref name="hostAddress"/>.
    /// </summary>
    public static GuestMemoryRegion Wrap(ulong guestPhysicalAddress, ulong size, nint hostAddress, Action<nint>? release = null)
    {
        Validate(guestPhysicalAddress, size);
        if (hostAddress == 0)
        {
            throw new ArgumentNullException(nameof(hostAddress), "host address is null");
        }

        if (((ulong)hostAddress & 7) != (guestPhysicalAddress & 7))
        {
            throw new ArgumentException(
                $"host address 0x{hostAddress:x} and guest address 0x{guestPhysicalAddress:x} differ in alignment modulo 8; " +
                "aligned guest indexes would become unaligned host accesses", nameof(hostAddress));
        }

        return new GuestMemoryRegion(guestPhysicalAddress, size, (byte*)hostAddress, owned: false, release);
    }

    /// <summary>True when <paramref name="address"/> lies inside this region.</summary>
    public bool Contains(ulong address) => address - GuestPhysicalAddress < Size;

    /// <summary>Frees owned memory, or runs the release callback for wrapped memory. Idempotent.</summary>
    public void Dispose()
    {
        byte* p = _pointer;
        if (p == null)
        {
            return;
        }

        _pointer = null;
        if (_owned)
        {
            NativeMemory.Free(p);
        }
        else
        {
            _release?.Invoke((nint)p);
        }
    }

    private static void Validate(ulong guestPhysicalAddress, ulong size)
    {
        if (size == 0)
        {
            throw new ArgumentOutOfRangeException(nameof(size), "a region has at least one byte");
        }

        if (size > ulong.MaxValue - guestPhysicalAddress)
        {
            // EndAddress must be representable: a region never wraps or touches 2^64.
            throw new ArgumentOutOfRangeException(nameof(size), $"region 0x{guestPhysicalAddress:x}+0x{size:x} wraps the address space");
        }
    }
}
