using Virtio.Driver;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Core.Tests;

/// <summary>The README's embedding example, verbatim apart from the assertions: it must keep compiling and working.</summary>
public class ReadmeExampleTests
{
    [Fact]
    public void Readme_example_does_one_round_trip()
    {
        using var memory = GuestMemory.Create(16 << 20);
        var layout = SplitRingLayout.Create(0x1000, size: 256);
        using var driver = new DriverQueue<string>(memory, layout);
        var device = new SplitQueue(memory, maxSize: 256)
        {
            DescriptorTableAddress = layout.DescriptorTable, AvailRingAddress = layout.AvailRing,
            UsedRingAddress = layout.UsedRing, EventIdx = true,
        };
        if (device.Enable() is { } error) throw new InvalidOperationException(error.Message);

        memory.Write<uint>(0x10_0000, 0xC0FFEE);
        driver.Add([new GuestSegment(0x10_0000, 4)], [new GuestSegment(0x20_0000, 64)], "req-1");
        bool kick = driver.KickPrepare();

        bool call = false;
        if (device.Pop(out DescriptorChain chain) == PopResult.Chain)
        {
            int written = chain.CopyToWritable("done"u8);
            device.Push(chain, (uint)written);
            call = device.ShouldNotify();
        }
        driver.TryGetBuffer(out string token, out uint length);

        Assert.True(kick);
        Assert.True(call);
        Assert.Equal(("req-1", 4u), (token, length));
        Assert.Equal("done"u8.ToArray(), memory.GetSpan(0x20_0000, 4).ToArray());
        device.Reset();
    }
}
