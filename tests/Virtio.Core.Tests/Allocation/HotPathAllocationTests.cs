using Virtio.Core.Tests.Support;
using Virtio.Driver;
using Virtio.Rings;
using Virtio.Testing;

namespace Virtio.Core.Tests.Allocation;

/// <summary>The steady-state ring path allocates nothing: measured, not assumed.</summary>
[Collection("Threads")]
public class HotPathAllocationTests
{
    [Theory]
    [InlineData(true, false, 1)]
    [InlineData(false, false, 1)]
    [InlineData(true, true, 3)]
    [InlineData(true, false, 3)]
    public void Add_kick_pop_walk_push_notify_get_allocates_nothing(bool eventIdx, bool indirect, int segments)
    {
        using var h = new RingHarness(size: 64, eventIdx, indirect);
        GuestSegment[] segs = [.. Enumerable.Range(0, segments).Select(_ => h.Buffer(32))];
        byte[] scratch = new byte[16];
        Assert.Equal(0, Loop(h, segs, scratch, 1000));
        int bad = 0;
        long allocated = SteadyState.AllocatedBytes(() => bad += Loop(h, segs, scratch, 10_000));
        Assert.Equal(0, bad);
        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData(true, false, 1)]
    [InlineData(false, false, 1)]
    [InlineData(true, true, 3)]
    public void Burst_add_kick_pop_push_get_allocates_nothing(bool eventIdx, bool indirect, int segments)
    {
        const int Burst = 16;
        using var h = new RingHarness(size: 64, eventIdx, indirect);
        GuestSegment[] segs = [.. Enumerable.Range(0, Burst * segments).Select(_ => h.Buffer(32))];
        var tokens = new int[Burst];
        var lengths = new uint[Burst];
        var chains = new DescriptorChain[Burst];
        int Cycles(int n)
        {
            int bad = 0;
            for (int i = 0; i < n; i++)
            {
                bad += h.Driver.AddBurst(segs, 1, segments - 1, tokens, out _) == Burst ? 0 : 1;
                h.Driver.Kick();
                int popped = h.Device.PopBurst(chains, out _);
                for (int j = 0; j < popped; j++)
                {
                    lengths[j] = chains[j].WritableLength;
                }

                h.Device.PushBurst(chains.AsSpan(0, popped), lengths.AsSpan(0, popped));
                bad += h.Driver.GetBurst(tokens, lengths) == Burst && popped == Burst ? 0 : 1;
            }

            return bad;
        }

        Assert.Equal(0, Cycles(1000));
        int bad = 0;
        long allocated = SteadyState.AllocatedBytes(() => bad += Cycles(10_000));
        Assert.Equal(0, bad);
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Notification_toggling_and_callbacks_allocate_nothing()
    {
        using var h = new RingHarness(size: 16);
        GuestSegment[] segs = [h.Buffer(32)];
        void Cycle()
        {
            h.Device.SetNotification(false);
            h.Driver.DisableCallbacks();
            h.Driver.Add(segs, default, 1);
            h.Driver.Kick();
            h.Device.Pop(out DescriptorChain c);
            h.Device.Push(c, 0);
            h.Device.ShouldNotify();
            h.Device.EnableNotificationAndRecheck();
            h.Driver.EnableCallbacksDelayed();
            h.Driver.TryGetBuffer(out _, out _);
            h.Driver.EnableCallbacks();
            h.Device.ReadGuestFields(out _);
            h.Device.GetState();
        }

        for (int i = 0; i < 100; i++)
        {
            Cycle();
        }

        Assert.Equal(0, SteadyState.AllocatedBytes(() =>
        {
            for (int i = 0; i < 10_000; i++)
            {
                Cycle();
            }
        }));
    }

    [Fact]
    public void Guest_memory_integer_access_allocates_nothing()
    {
        using var m = new Virtio.Memory.GuestMemory(Virtio.Memory.GuestMemoryRegion.Allocate(0, 0x1000));
        long Cycle(int n)
        {
            long sum = 0;
            for (int i = 0; i < n; i++)
            {
                m.TryWrite(0x10, (byte)i);
                m.TryWrite(0x20, (ushort)i);
                m.TryWrite(0x30, (uint)i);
                m.TryWrite(0x40, (ulong)i);
                m.Write(0x50, (ulong)i);
                m.TryRead(0x10, out byte b);
                m.TryRead(0x20, out ushort w);
                m.TryRead(0x30, out uint d);
                m.TryRead(0x40, out ulong q);
                sum += b + w + d + (long)q + (long)m.Read<ulong>(0x50);
            }

            return sum;
        }

        Cycle(100);
        long sum = 0;
        Assert.Equal(0, SteadyState.AllocatedBytes(() => sum = Cycle(10_000)));
        Assert.NotEqual(0, sum);
    }

    /// <summary>The measured loop: no assertion library calls inside (they allocate); returns the mismatches.</summary>
    private static int Loop(RingHarness h, GuestSegment[] segs, byte[] scratch, int n)
    {
        int bad = 0;
        for (int i = 0; i < n; i++)
        {
            bad += h.Driver.Add(segs.AsSpan(0, 1), segs.AsSpan(1), i) == AddResult.Added ? 0 : 1;
            h.Driver.KickPrepare();
            if (h.Device.Pop(out DescriptorChain chain) != PopResult.Chain)
            {
                bad++;
                continue;
            }

            foreach (DescriptorBuffer b in chain)
            {
                scratch[0] ^= b.Span[0];
            }

            chain.CopyFromReadable(scratch);
            uint written = (uint)chain.CopyToWritable(scratch);
            h.Device.Push(chain, written);
            h.Device.ShouldNotify();
            bad += h.Driver.TryGetBuffer(out int token, out _) && token == i ? 0 : 1;
        }

        return bad;
    }
}
