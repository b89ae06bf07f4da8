using System.Runtime.InteropServices;
using Virtio.Memory;

namespace Virtio.Core.Tests.Support;

/// <summary>
/// One read-write page followed by a PROT_NONE guard page (Linux <c>mmap</c>/<c>mprotect</c>), wrapped as guest memory.
/// Any access one byte past the page faults and crashes the test host, so a test passes only if the library never
/// touches memory outside the guest region.
/// </summary>
internal sealed partial class GuardedPage : IDisposable
{
    public const int PageSize = 4096;
    private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20;
    private readonly nint _base;

    public GuardedPage()
    {
        _base = NativeMethods.Mmap(0, 2 * PageSize, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (_base == -1 || NativeMethods.Mprotect(_base + PageSize, PageSize, ProtNone) != 0)
        {
            throw new InvalidOperationException("mmap/mprotect failed");
        }

        Memory = new GuestMemory(GuestMemoryRegion.Wrap(0, PageSize, _base));
    }

    public GuestMemory Memory { get; }

    public void Dispose()
    {
        Memory.Dispose();
        _ = NativeMethods.Munmap(_base, 2 * PageSize);
    }

    private static partial class NativeMethods
    {
        [LibraryImport("libc", EntryPoint = "mmap")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static partial nint Mmap(nint addr, nuint length, int prot, int flags, int fd, nint offset);

        [LibraryImport("libc", EntryPoint = "mprotect")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static partial int Mprotect(nint addr, nuint length, int prot);

        [LibraryImport("libc", EntryPoint = "munmap")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static partial int Munmap(nint addr, nuint length);
    }
}
