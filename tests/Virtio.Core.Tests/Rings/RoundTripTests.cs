using Virtio.Testing;
using Virtio.Core.Tests.Support;
using Virtio.Rings;

namespace Virtio.Core.Tests.Rings;

public class RoundTripTests
{
    [Fact]
    public void One_buffer_goes_driver_to_device_and_back()
    {
        using var h = new RingHarness(size: 8);
        var outSeg = h.Buffer(4, fill: 0xAB);
        var inSeg = h.Buffer(8);
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([outSeg], [inSeg], 42));
        Assert.True(h.Driver.KickPrepare());

        DescriptorChain chain = h.PopOne();
        Assert.Equal(1, chain.ReadableCount);
        Assert.Equal(1, chain.WritableCount);
        Assert.Equal(4u, chain.ReadableLength);
        Assert.Equal(8u, chain.WritableLength);
        Span<byte> got = stackalloc byte[4];
        Assert.Equal(4, chain.CopyFromReadable(got));
        Assert.Equal(new byte[] { 0xAB, 0xAB, 0xAB, 0xAB }, got.ToArray());
        Assert.Equal(3, chain.CopyToWritable([1, 2, 3]));
        Assert.True(h.Device.Push(chain, 3));
        Assert.True(h.Device.ShouldNotify());

        Assert.True(h.Driver.TryGetBuffer(out int token, out uint len));
        Assert.Equal(42, token);
        Assert.Equal(3u, len);
        Assert.Equal(new byte[] { 1, 2, 3 }, h.Memory.GetSpan(inSeg.Address, 3).ToArray());
        Assert.Equal(8, h.Driver.NumFree);
        Assert.Equal(0, h.Device.InUse);
    }

    [Fact]
    public void Indirect_chain_round_trips_when_negotiated()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        Assert.Equal(Virtio.Driver.AddResult.Added, h.Driver.Add([h.Buffer(16, 1), h.Buffer(32, 2)], [h.Buffer(64)], 7));
        Assert.Equal(7, h.Driver.NumFree); // one ring descriptor for the whole chain

        DescriptorChain chain = h.PopOne();
        Assert.True(chain.IsIndirect);
        Assert.Equal(3, chain.DescriptorCount);
        Assert.Equal(48u, chain.ReadableLength);
        Assert.Equal(64u, chain.WritableLength);
        int n = 0;
        foreach (DescriptorBuffer b in chain)
        {
            Assert.Equal(n == 2, b.IsWritable);
            n++;
        }

        Assert.Equal(3, n);
        h.Device.Push(chain.Head, 64);
        Assert.True(h.Driver.TryGetBuffer(out int token, out uint len));
        Assert.Equal((7, 64u), (token, len));
        Assert.Equal(8, h.Driver.NumFree);
    }
}
