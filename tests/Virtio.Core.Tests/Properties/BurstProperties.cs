using CsCheck;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Core.Tests.Properties;

/// <summary>
/// The burst pop and push against the one-at-a-time ones on hostile rings: the same chains in the same order, the same
/// typed error at the same chain, and the same shadow state after every burst.
/// </summary>
public class BurstProperties
{
    [Fact]
    public void Burst_pop_and_push_match_single_pop_and_push_on_hostile_rings()
    {
        Gen.Select(RingGen.HostileRing, Gen.Int[1, 9].Array[1, 8]).Sample((ring, bursts) =>
        {
            using var single = new RingHarness(ring.Size, ring.EventIdx, ring.Indirect, memorySize: 0x200_0000);
            using var burst = new RingHarness(ring.Size, ring.EventIdx, ring.Indirect, memorySize: 0x200_0000);
            ring.WriteTo(single);
            ring.WriteTo(burst);
            var chains = new DescriptorChain[9];
            var lengths = new uint[9];
            for (int step = 0; step < 2 * ring.Size + 2; step++)
            {
                int k = bursts[step % bursts.Length];
                int n = 0;
                PopResult singleStatus = PopResult.Chain;
                for (; n < k; n++)
                {
                    singleStatus = single.Device.Pop(out chains[n]);
                    if (singleStatus != PopResult.Chain)
                    {
                        break;
                    }

                    lengths[n] = chains[n].WritableLength;
                }

                var burstChains = new DescriptorChain[k];
                int m = burst.Device.PopBurst(burstChains, out PopResult burstStatus);
                Assert.Equal(n, m);
                for (int i = 0; i < n; i++)
                {
                    Assert.Equal(chains[i].Head, burstChains[i].Head);
                    Assert.Equal(chains[i].DescriptorCount, burstChains[i].DescriptorCount);
                    Assert.Equal(chains[i].WritableLength, burstChains[i].WritableLength);
                    Assert.Equal(chains[i].ReadableLength, burstChains[i].ReadableLength);
                }

                Assert.Equal(single.Device.Error?.Kind, burst.Device.Error?.Kind);
                Assert.Equal(single.Device.Error?.Message, burst.Device.Error?.Message);
                if (singleStatus == PopResult.Broken)
                {
                    Assert.Equal(PopResult.Broken, burstStatus);
                }
                else if (n > 0)
                {
                    Assert.Equal(PopResult.Chain, burstStatus);
                }

                bool singleNotify = false;
                if (step % 2 == 0 && n > 0)
                {
                    for (int i = 0; i < n; i++)
                    {
                        single.Device.Push(chains[i], lengths[i]);
                    }

                    singleNotify = single.Device.ShouldNotify();
                    Assert.Equal(singleNotify, burst.Device.PushBurst(burstChains.AsSpan(0, n), lengths.AsSpan(0, n)));
                }

                Assert.Equal(single.Device.GetState(), burst.Device.GetState());
                Assert.Equal(single.RingBytes(), burst.RingBytes());
                if (n == 0 && singleStatus != PopResult.Chain)
                {
                    return;
                }
            }
        }, iter: 2000, threads: 1);
    }
}
