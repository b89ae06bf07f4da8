using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Block;

/// <summary>The fallocate binding the file backend uses for discard and write-zeroes.</summary>
public class LinuxFileSpaceTests
{
    [Theory]
    [InlineData(LinuxFileSpace.PunchHole)]
    [InlineData(LinuxFileSpace.ZeroRange)]
    public void Fallocate_zeroes_the_range_or_reports_the_mode_unsupported(int mode)
    {
        if (!LinuxFileSpace.IsAvailable)
        {
            return;
        }

        using var file = new TempFile();
        File.WriteAllBytes(file.Path, TestPattern.Bytes(64 * 1024, 1));
        int errno;
        using (var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.ReadWrite))
        {
            errno = LinuxFileSpace.Allocate(handle, mode | LinuxFileSpace.KeepSize, 8192, 16384);
        }

        Assert.True(errno == 0 || LinuxFileSpace.IsUnsupported(errno), $"fallocate failed with errno {errno}");
        if (errno == 0)
        {
            byte[] expected = TestPattern.Bytes(64 * 1024, 1);
            expected.AsSpan(8192, 16384).Clear();
            Assert.Equal(expected, File.ReadAllBytes(file.Path));
        }
    }

    [Fact]
    public void Fallocate_on_a_read_only_handle_reports_an_error_that_is_not_unsupported()
    {
        if (!LinuxFileSpace.IsAvailable)
        {
            return;
        }

        using var file = new TempFile(length: 4096);
        using var handle = File.OpenHandle(file.Path, FileMode.Open, FileAccess.Read);

        int errno = LinuxFileSpace.Allocate(handle, LinuxFileSpace.PunchHole | LinuxFileSpace.KeepSize, 0, 4096);

        Assert.Equal(9, errno); // EBADF: the file backend turns it into IoError rather than falling back
        Assert.False(LinuxFileSpace.IsUnsupported(errno));
    }
}
