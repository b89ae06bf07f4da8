using Virtio.Memory;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// The front-end's memory regions as this back-end maps them: each memfd is mapped MAP_SHARED and becomes a
/// <see cref="GuestMemoryRegion"/> at its guest-physical address, and the front-end's user addresses (the ones
/// SET_VRING_ADDR uses) translate through each region's <c>userspace_addr</c>. The one table that owns the mappings.
/// </summary>
internal sealed class VhostUserMemoryMap
{
    private readonly GuestMemory _memory;
    private readonly List<Entry> _entries = [];

    public VhostUserMemoryMap(GuestMemory memory) => _memory = memory;

    public int Count => _entries.Count;

    /// <summary>One region as the front-end described it (VhostUserMemoryRegion).</summary>
    public readonly record struct Description(ulong GuestPhysicalAddress, ulong Size, ulong UserAddress, ulong MmapOffset)
    {
        /// <summary>Why the description cannot be mapped, or null.</summary>
        public string? Validate()
        {
            if (Size == 0)
            {
                return $"region at gpa 0x{GuestPhysicalAddress:x} has size 0";
            }

            if (Size > ulong.MaxValue - GuestPhysicalAddress || Size > ulong.MaxValue - UserAddress || Size > ulong.MaxValue - MmapOffset)
            {
                return $"region gpa 0x{GuestPhysicalAddress:x} user 0x{UserAddress:x} offset 0x{MmapOffset:x} size 0x{Size:x} wraps the address space";
            }

            return null;
        }

        public bool Overlaps(in Description other) =>
            GuestPhysicalAddress < other.GuestPhysicalAddress + other.Size && other.GuestPhysicalAddress < GuestPhysicalAddress + Size
            || UserAddress < other.UserAddress + other.Size && other.UserAddress < UserAddress + Size;
    }

    /// <summary>A mapped region and how many times the front-end added it (see <see cref="TryAddReference"/>).</summary>
    private sealed class Entry(Description description, GuestMemoryRegion region)
    {
        public Description Description { get; } = description;

        public GuestMemoryRegion Region { get; } = region;

        public int References { get; set; } = 1;
    }

    /// <summary>
    /// ADD_MEM_REG of a region already mapped with exactly this description counts one more reference instead of
    /// failing as an overlap: QEMU's vhost-user net runs one <c>vhost_dev</c> per queue pair over the one connection,
    /// and each sends the whole memory layout from its own shadow table (<c>vhost_user_add_remove_regions</c>).
    /// </summary>
    /// <returns>True when the region was already there (nothing is mapped again).</returns>
    public bool TryAddReference(in Description region)
    {
        foreach (Entry e in _entries)
        {
            if (e.Description == region)
            {
                e.References++;
                return true;
            }
        }

        return false;
    }

    /// <summary>REM_MEM_REG of a region added more than once drops one reference and keeps the mapping.</summary>
    /// <returns>True when a reference was dropped and the region stays mapped.</returns>
    public bool TryDropReference(ulong guestPhysicalAddress, ulong size)
    {
        Entry? e = _entries.Find(e => e.Description.GuestPhysicalAddress == guestPhysicalAddress && e.Description.Size == size);
        if (e is null || e.References < 2)
        {
            return false;
        }

        e.References--;
        return true;
    }

    /// <summary>Why <paramref name="candidate"/> cannot join the current regions, or null.</summary>
    public string? CheckOverlap(in Description candidate)
    {
        foreach (Entry e in _entries)
        {
            if (e.Description.Overlaps(candidate))
            {
                return $"region gpa 0x{candidate.GuestPhysicalAddress:x} user 0x{candidate.UserAddress:x} size 0x{candidate.Size:x} " +
                    $"overlaps gpa 0x{e.Description.GuestPhysicalAddress:x} user 0x{e.Description.UserAddress:x} size 0x{e.Description.Size:x}";
            }
        }

        return null;
    }

    /// <summary>
    /// Maps <paramref name="fd"/> at <paramref name="region"/>'s offset and adds it to guest memory. The descriptor
    /// is not kept (a mapping outlives it). Guest memory must not be in use by a ring.
    /// </summary>
    /// <returns>Null on success, or why it failed (nothing stays mapped then).</returns>
    public string? Add(in Description region, FileDescriptor fd)
    {
        if (region.Validate() is { } invalid)
        {
            return invalid;
        }

        if (CheckOverlap(region) is { } overlap)
        {
            return overlap;
        }

        // Map from offset 0 and step in, as libvhost-user does: mmap_offset need not be page-aligned.
        ulong length = region.MmapOffset + region.Size;
        long fileSize = SharedMemory.FileSize(fd.Value);
        if (fileSize < 0 || (ulong)fileSize < length)
        {
            return $"region gpa 0x{region.GuestPhysicalAddress:x} needs {length} bytes of its file, which has {fileSize}";
        }

        nint mapping = SharedMemory.TryMap(fd.Value, length, out int errno);
        if (mapping == 0)
        {
            return $"mmap of {length} bytes for region gpa 0x{region.GuestPhysicalAddress:x} failed: {Libc.ErrorText(errno)}";
        }

        nint host = mapping + (nint)region.MmapOffset;
        if ((((ulong)host ^ region.GuestPhysicalAddress) & 7) != 0)
        {
            SharedMemory.Unmap(mapping, length);
            return $"region gpa 0x{region.GuestPhysicalAddress:x} mmap_offset 0x{region.MmapOffset:x} is not aligned like its guest address";
        }

        GuestMemoryRegion wrapped = GuestMemoryRegion.Wrap(region.GuestPhysicalAddress, region.Size, host, _ => SharedMemory.Unmap(mapping, length));
        try
        {
            _memory.AddRegion(wrapped);
        }
        catch (ArgumentException e)
        {
            wrapped.Dispose();
            return e.Message;
        }

        _entries.Add(new Entry(region, wrapped));
        return null;
    }

    /// <summary>Unmaps the region with this guest address and size (REM_MEM_REG).</summary>
    public string? Remove(ulong guestPhysicalAddress, ulong size)
    {
        int i = _entries.FindIndex(e => e.Description.GuestPhysicalAddress == guestPhysicalAddress && e.Description.Size == size);
        if (i < 0)
        {
            return $"no region at gpa 0x{guestPhysicalAddress:x} of size 0x{size:x}";
        }

        _memory.RemoveRegion(guestPhysicalAddress).Dispose();
        _entries.RemoveAt(i);
        return null;
    }

    /// <summary>Unmaps every region.</summary>
    public void Clear()
    {
        foreach (Entry e in _entries)
        {
            _memory.RemoveRegion(e.Description.GuestPhysicalAddress).Dispose();
        }

        _entries.Clear();
    }

    /// <summary>Translates a front-end user address (SET_VRING_ADDR) to a guest-physical one.</summary>
    public bool TryTranslateUser(ulong userAddress, out ulong guestPhysicalAddress)
    {
        foreach (Entry e in _entries)
        {
            if (userAddress - e.Description.UserAddress < e.Description.Size)
            {
                guestPhysicalAddress = e.Description.GuestPhysicalAddress + (userAddress - e.Description.UserAddress);
                return true;
            }
        }

        guestPhysicalAddress = 0;
        return false;
    }
}
