using Virtio.Memory;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// Guest RAM a front-end can share with a vhost-user back-end: one memfd mapped MAP_SHARED in this process, exposed as
/// a <see cref="GuestMemory"/> at guest-physical <see cref="GuestPhysicalAddress"/>. QEMU's
/// <c>memory-backend-memfd,share=on</c>, for a C# VMM.
/// </summary>
public sealed class SharedGuestMemory : IDisposable
{
    private SharedGuestMemory(FileDescriptor fd, nint userAddress, ulong size, ulong guestPhysicalAddress)
    {
        Fd = fd;
        UserAddress = userAddress;
        Size = size;
        GuestPhysicalAddress = guestPhysicalAddress;
        Memory = new GuestMemory(GuestMemoryRegion.Wrap(guestPhysicalAddress, size, userAddress));
    }

    /// <summary>The guest RAM (its region wraps the mapping; this object unmaps it).</summary>
    public GuestMemory Memory { get; }

    /// <summary>The memfd, passed to the back-end in SET_MEM_TABLE.</summary>
    public FileDescriptor Fd { get; }

    /// <summary>Where this process mapped it: the <c>userspace_addr</c> the back-end translates ring addresses with.</summary>
    public nint UserAddress { get; }

    /// <summary>Bytes.</summary>
    public ulong Size { get; }

    /// <summary>The guest-physical address of the first byte.</summary>
    public ulong GuestPhysicalAddress { get; }

    /// <summary>Creates <paramref name="size"/> zeroed bytes of shared guest RAM at <paramref name="guestPhysicalAddress"/>.</summary>
    /// <exception cref="IOException">memfd_create, ftruncate or mmap failed.</exception>
    public static SharedGuestMemory Create(ulong size, ulong guestPhysicalAddress = 0, string name = "virtio-guest-ram")
    {
        FileDescriptor fd = SharedMemory.CreateMemfd(name, size);
        nint address = SharedMemory.TryMap(fd.Value, size, out int errno);
        if (address == 0)
        {
            fd.Dispose();
            throw new IOException($"mmap of {size} bytes of shared guest RAM failed: {Libc.ErrorText(errno)}", errno);
        }

        return new SharedGuestMemory(fd, address, size, guestPhysicalAddress);
    }

    /// <summary>The front-end user address of guest-physical <paramref name="guestPhysicalAddress"/>.</summary>
    public ulong UserAddressOf(ulong guestPhysicalAddress) => (ulong)UserAddress + (guestPhysicalAddress - GuestPhysicalAddress);

    /// <summary>Unmaps and closes the memfd (the back-end keeps its own mapping until it drops it).</summary>
    public void Dispose()
    {
        Memory.Dispose();
        SharedMemory.Unmap(UserAddress, Size);
        Fd.Dispose();
    }
}
