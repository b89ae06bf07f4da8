using Virtio.Devices.Block;
using Virtio.Devices.Tests.Support;

namespace Virtio.Devices.Tests.Block;

/// <summary>The backends' re-check of what the device already checked, shared by the file and memory backends.</summary>
public sealed class BlockIoTests
{
    private const ulong Capacity = 8192;

    [Theory]
    [InlineData(0UL, 8192, true)] // the whole disk
    [InlineData(7680UL, 512, true)] // the last sector
    [InlineData(7680UL, 1024, false)] // runs past the end
    [InlineData(8192UL, 512, false)] // starts at the end
    [InlineData(ulong.MaxValue - 255, 512, false)] // offset + length wraps around
    public void DataFits_only_when_the_transfer_ends_on_the_disk(ulong offset, int length, bool fits)
    {
        Assert.Equal(fits, TestBlockIo.Read(offset, length).DataFits(Capacity));
    }

    [Fact]
    public void DataFits_requires_the_segments_to_add_up_to_the_length()
    {
        Assert.False(TestBlockIo.Raw(BlockIoKind.Read, 0, 1024, [new byte[512]], []).DataFits(Capacity));
    }

    [Theory]
    [InlineData(0UL, 8192UL, true)]
    [InlineData(4096UL, 8192UL, false)]
    [InlineData(8193UL, 0UL, false)]
    [InlineData(512UL, ulong.MaxValue, false)] // offset + length wraps around
    public void RangesFit_only_when_every_range_ends_on_the_disk(ulong offset, ulong length, bool fits)
    {
        Assert.Equal(fits, TestBlockIo.Discard(new BlockRange(0, 512, false), new BlockRange(offset, length, false)).RangesFit(Capacity));
    }
}
