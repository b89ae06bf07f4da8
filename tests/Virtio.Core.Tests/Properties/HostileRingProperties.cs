using Virtio.Testing;
using CsCheck;
using Virtio.Rings;

namespace Virtio.Core.Tests.Properties;

/// <summary>
/// Rings full of random (but often nearly plausible) values: the device never throws, never loops, never hands out
/// a buffer outside guest memory, and ends in valid chains, an empty ring, or a typed error.
/// </summary>
public class HostileRingProperties
{
    private static readonly VirtqueueErrorKind[] Kinds = Enum.GetValues<VirtqueueErrorKind>();

    [Fact]
    public void Random_rings_give_valid_chains_or_a_typed_error_and_stay_inside_guest_memory()
    {
        RingGen.HostileRing.Sample(ring =>
        {
            using var h = new RingHarness(ring.Size, ring.EventIdx, ring.Indirect, memorySize: 0x200_0000);
            ring.WriteTo(h);
            Drive(h, ring.Size);
        }, iter: 3000, threads: 1);
    }

    [Fact]
    public void Completely_random_bytes_never_crash_the_device()
    {
        RingGen.Size.SelectMany(size => Gen.Select(
                Gen.Byte.Array[(int)(SplitRingLayout.Create(RingHarness.RingBase, size).EndAddress - RingHarness.RingBase)],
                Gen.Byte.Array[0x1000],
                (ring, indirect) => (Size: size, Ring: ring, Indirect: indirect)))
            .Sample(bytes =>
            {
                using var h = new RingHarness(bytes.Size, eventIdx: true, indirect: true, memorySize: 0x200_0000);
                bytes.Ring.CopyTo(h.Memory.GetSpan(h.Layout.DescriptorTable, bytes.Ring.Length));
                bytes.Indirect.CopyTo(h.Memory.GetSpan(RingHarness.IndirectBase, bytes.Indirect.Length));
                Drive(h, bytes.Size);
            }, iter: 1000, threads: 1);
    }

    private static void Drive(RingHarness h, int size)
    {
        for (int i = 0; i < 2 * size + 2; i++)
        {
            PopResult r = h.Device.Pop(out DescriptorChain chain);
            if (r == PopResult.Broken)
            {
                Assert.Contains(h.Device.Error!.Kind, Kinds);
                Assert.False(string.IsNullOrEmpty(h.Device.Error.Message));
                return;
            }

            if (r == PopResult.Empty)
            {
                return;
            }

            int n = 0;
            bool sawWritable = false;
            foreach (DescriptorBuffer b in chain)
            {
                Assert.True(h.Memory.IsValidRange(b.Address, b.Length));
                Assert.Equal((int)b.Length, b.Span.Length);
                Assert.False(sawWritable && !b.IsWritable);
                sawWritable |= b.IsWritable;
                n++;
            }

            Assert.Equal(chain.DescriptorCount, n);
            if (i % 2 == 0)
            {
                h.Device.Push(chain, chain.WritableLength);
                h.Device.ShouldNotify();
            }
        }
    }
}
