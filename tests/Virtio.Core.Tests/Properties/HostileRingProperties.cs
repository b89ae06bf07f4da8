using Virtio.Testing;
using CsCheck;
using Virtio.Core.Tests.Support;
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
        Gen.Select(Gen.Int[0, 6], Gen.Bool, Gen.Bool, Gen.Int)
            .Sample((sizeLog, eventIdx, indirect, seed) => Hostile(1 << sizeLog, eventIdx, indirect, seed), iter: 3000, threads: 1);
    }

    [Fact]
    public void Completely_random_bytes_never_crash_the_device()
    {
        Gen.Select(Gen.Int[0, 6], Gen.Int).Sample((sizeLog, seed) =>
        {
            using var h = new RingHarness(1 << sizeLog, eventIdx: true, indirect: true, memorySize: 0x200_0000);
            var rnd = new Random(seed);
            rnd.NextBytes(h.Memory.GetSpan(h.Layout.DescriptorTable, (int)(h.Layout.EndAddress - h.Layout.DescriptorTable)));
            rnd.NextBytes(h.Memory.GetSpan(RingHarness.IndirectBase, 0x1000));
            Drive(h, 1 << sizeLog);
        }, iter: 1000, threads: 1);
    }

    private static void Hostile(int size, bool eventIdx, bool indirect, int seed)
    {
        using var h = new RingHarness(size, eventIdx, indirect, memorySize: 0x200_0000);
        var rnd = new Random(seed);
        for (int i = 0; i < size; i++)
        {
            h.WriteDescriptor(i, Address(rnd), Length(rnd), Flags(rnd), (ushort)rnd.Next(size + 2));
        }

        for (int i = 0; i < 64; i++)
        {
            h.WriteDescriptor(i, Address(rnd), Length(rnd), Flags(rnd), (ushort)rnd.Next(66), RingHarness.IndirectBase);
        }

        for (int i = 0; i < size; i++)
        {
            h.Memory.Write(h.Layout.AvailRing + 4 + (2 * (ulong)i), (ushort)rnd.Next(size + 1));
        }

        h.Memory.Write(h.Layout.AvailRing + 2, (ushort)(rnd.Next(8) == 0 ? rnd.Next(65536) : rnd.Next(size + 2)));
        Drive(h, size);
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

    private static ulong Address(Random rnd) => rnd.Next(4) switch
    {
        0 => (ulong)rnd.NextInt64(),
        1 => RingHarness.IndirectBase + ((ulong)rnd.Next(64) * 16),
        _ => RingHarness.DataBase + (ulong)rnd.Next(0x10_0000),
    };

    private static uint Length(Random rnd) => rnd.Next(5) switch
    {
        0 => 0,
        1 => (uint)rnd.Next() * 2,
        2 => (uint)rnd.Next(1, 8) * 16,
        _ => (uint)rnd.Next(1, 4096),
    };

    private static DescriptorFlags Flags(Random rnd) => (DescriptorFlags)rnd.Next(8);
}
