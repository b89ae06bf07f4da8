using Virtio.Memory;

namespace Virtio.Fuzz;

/// <summary>
/// Guest RAM with an inaccessible (PROT_NONE) page on each side: a read or write one byte outside the region faults
/// and AFL records a crash, instead of the access silently reading the allocator's neighbour. Mapped once per process
/// and zeroed for every input.
/// </summary>
internal sealed class GuardedRam
{
    private const int PageSize = 4096;

    public GuardedRam(int size)
    {
        Size = size;
        nint total = size + (2 * PageSize);
        nint b = Native.Mmap(0, (nuint)total, Native.ProtNone, Native.MapPrivate | Native.MapAnonymous, -1, 0);
        if (b == -1 || Native.Mprotect(b + PageSize, (nuint)size, Native.ProtRead | Native.ProtWrite) != 0)
        {
            throw new InvalidOperationException("mmap/mprotect of guarded guest RAM failed");
        }

        Host = b + PageSize;
    }

    public int Size { get; }

    public nint Host { get; }

    public unsafe Span<byte> Bytes => new((void*)Host, Size);

    /// <summary>Fresh guest memory over the zeroed mapping at guest-physical 0 (the mapping outlives it).</summary>
    public GuestMemory Fresh()
    {
        Bytes.Clear();
        return new GuestMemory(GuestMemoryRegion.Wrap(0, (ulong)Size, Host));
    }
}
