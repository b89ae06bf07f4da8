namespace Virtio.Memory;

/// <summary>Why a guest-physical access was refused. Values come from the guest, so none of these throw.</summary>
public enum GuestMemoryError : byte
{
    /// <summary>The access is valid.</summary>
    None = 0,

    /// <summary><c>address + length</c> overflows the 64-bit guest-physical address space.</summary>
    AddressOverflow,

    /// <summary>The address is in no region (below, above or between regions).</summary>
    Unmapped,

    /// <summary>The access starts inside a region but runs past its end (regions are never merged).</summary>
    CrossesRegionEnd,

    /// <summary>A volatile index access is not naturally aligned, so it could not be a single atomic load or store.</summary>
    Misaligned,

    /// <summary>The length does not fit in a <see cref="Span{T}"/> (more than <see cref="int.MaxValue"/> bytes).</summary>
    TooLarge,
}
