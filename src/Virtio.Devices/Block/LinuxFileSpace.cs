using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Virtio.Devices.Block;

/// <summary>Linux <c>fallocate(2)</c>: deallocating and zeroing file ranges without writing them.</summary>
internal static partial class LinuxFileSpace
{
    public const int KeepSize = 0x01;      // FALLOC_FL_KEEP_SIZE
    public const int PunchHole = 0x02;     // FALLOC_FL_PUNCH_HOLE
    public const int ZeroRange = 0x10;     // FALLOC_FL_ZERO_RANGE

    private const int ENOSYS = 38;
    private const int EOPNOTSUPP = 95;
    private const int EINVAL = 22;
    private const int ENODEV = 19;

    /// <summary>Whether this process can call <c>fallocate</c> at all (Linux, with a 64-bit <c>off_t</c>).</summary>
    public static bool IsAvailable { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    /// <summary>Runs <c>fallocate(fd, mode, offset, length)</c>.</summary>
    /// <returns>0 on success, otherwise the errno.</returns>
    public static int Allocate(SafeFileHandle file, int mode, long offset, long length)
    {
        bool added = false;
        try
        {
            file.DangerousAddRef(ref added);
            int result = Fallocate((int)file.DangerousGetHandle(), mode, offset, length);
            return result == 0 ? 0 : Marshal.GetLastPInvokeError();
        }
        finally
        {
            if (added)
            {
                file.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// True for the errors meaning "this file system or kernel cannot do that mode" (as opposed to an I/O failure),
    /// after which the caller falls back to a slower way.
    /// </summary>
    public static bool IsUnsupported(int errno) => errno is EOPNOTSUPP or ENOSYS or EINVAL or ENODEV;

    [LibraryImport("libc", EntryPoint = "fallocate", SetLastError = true)]
    private static partial int Fallocate(int fd, int mode, long offset, long length);
}
