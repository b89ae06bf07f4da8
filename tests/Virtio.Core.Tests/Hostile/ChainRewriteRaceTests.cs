using Virtio.Testing;
using System.Diagnostics;
using Virtio.Core.Tests.Support;
using Virtio.Rings;

namespace Virtio.Core.Tests.Hostile;

/// <summary>
/// A second thread rewrites the descriptors of a chain in flight (addresses, lengths, flags, next) while the device
/// copies through it: the rewrite may change the data or break the queue, never send a copy outside the buffers the
/// pop validated (for the descriptor table) or past the validated lengths (for an indirect table), never hang.
/// </summary>
public sealed class ChainRewriteRaceTests
{
    private const ulong Readable = RingHarness.DataBase;
    private const ulong Writable1 = RingHarness.DataBase + 0x1000;
    private const ulong Writable2 = RingHarness.DataBase + 0x2000;
    private const ulong Canary = RingHarness.DataBase + 0x4000;
    private const uint BufferBytes = 256;
    private const int DataArea = 0x8000;
    private const byte CanaryByte = 0xCC;

    private static readonly ulong[] Addresses =
    [
        Readable, Writable1, Writable2, Writable1 + 128, Canary, Canary + 0x100, RingHarness.RingBase,
        RingHarness.MemorySize - 8, RingHarness.MemorySize + 0x1000, ulong.MaxValue - 4, 0,
    ];

    private static readonly uint[] Lengths = [0, 1, 16, BufferBytes, 4096, 0x10000, uint.MaxValue];

    [Fact]
    public void Rewrites_of_the_descriptor_table_in_flight_never_move_a_copy_out_of_the_validated_buffers()
    {
        using var h = new RingHarness(size: 8);
        Run(h, indirect: false, out int popped);
        Assert.True(popped > 0);
        AssertOnlyValidatedBuffersWritten(h);
    }

    [Fact]
    public void Rewrites_of_a_small_indirect_table_in_flight_never_move_a_copy_out_of_the_validated_buffers()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        Run(h, indirect: true, out int popped);
        Assert.True(popped > 0);
        AssertOnlyValidatedBuffersWritten(h);
    }

    [Fact]
    public void Rewrites_of_a_large_indirect_table_in_flight_stay_in_guest_ram_and_within_the_validated_lengths()
    {
        using var h = new RingHarness(size: 8, indirect: true);
        Run(h, indirect: true, out int popped, tableBytes: 64 * 16);
        Assert.True(popped > 0);

        // The indirect table is the guest's to rewrite: a buffer may be redirected inside guest RAM (the guest's own
        // memory), never past what the pop validated, so at most 2 x 256 writable bytes land per copy.
        Assert.Equal(-1, h.Memory.GetSpan(Canary + 0x200, DataArea - 0x4200).IndexOfAnyExcept(CanaryByte));
    }

    private static void Run(RingHarness h, bool indirect, out int popped, uint tableBytes = 48)
    {
        h.Memory.GetSpan(RingHarness.DataBase, DataArea).Fill(CanaryByte);
        h.Memory.GetSpan(Readable, (int)BufferBytes).Fill(0x11);
        h.Memory.GetSpan(Writable1, (int)BufferBytes).Clear();
        h.Memory.GetSpan(Writable2, (int)BufferBytes).Clear();
        ulong table = indirect ? RingHarness.IndirectBase : 0;

        // 0: the device may copy, the rewriter rewrites; 1: stop requested; 2: the rewriter stopped.
        int phase = 2;
        bool done = false;
        var rewriter = new Thread(() =>
        {
            var random = new Random(1234);
            while (!Volatile.Read(ref done))
            {
                int p = Volatile.Read(ref phase);
                if (p == 1)
                {
                    Volatile.Write(ref phase, 2);
                }
                else if (p == 0)
                {
                    int index = random.Next(3);
                    ulong at = (table == 0 ? h.Layout.DescriptorTable : table) + ((ulong)index * 16);
                    switch (random.Next(4))
                    {
                        case 0: h.Memory.Write(at, Addresses[random.Next(Addresses.Length)]); break;
                        case 1: h.Memory.Write(at + 8, Lengths[random.Next(Lengths.Length)]); break;
                        case 2: h.Memory.Write(at + 12, (ushort)random.Next(8)); break;
                        default: h.Memory.Write(at + 14, (ushort)random.Next(4)); break;
                    }
                }
                else
                {
                    Thread.Yield();
                }
            }
        });
        rewriter.Start();

        byte[] payload = new byte[2 * BufferBytes];
        Array.Fill(payload, (byte)0xAB);
        byte[] scratch = new byte[2 * BufferBytes];
        popped = 0;
        ushort availIdx = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            for (int round = 0; round < 3000 && clock.Elapsed < TimeSpan.FromSeconds(20); round++)
            {
                if (h.Device.IsBroken)
                {
                    h.Device.Reset();
                    h.EnableAgain(indirect);
                    availIdx = 0;
                    h.Memory.Write<ushort>(h.Layout.AvailRing + 2, 0);
                }

                WriteValidChain(h, table, tableBytes);
                h.PublishAvail(availIdx, 0, ++availIdx);
                if (h.Device.Pop(out DescriptorChain chain) != PopResult.Chain)
                {
                    continue;
                }

                popped++;
                Volatile.Write(ref phase, 0);
                for (int k = 0; k < 20 && !h.Device.IsBroken; k++)
                {
                    Assert.InRange(chain.CopyToWritable(payload), 0, (int)chain.WritableLength);
                    Assert.InRange(chain.CopyFromReadable(scratch), 0, (int)chain.ReadableLength);
                }

                Volatile.Write(ref phase, 1);
                var wait = Stopwatch.StartNew();
                while (Volatile.Read(ref phase) != 2)
                {
                    Assert.True(wait.Elapsed < TimeSpan.FromSeconds(30), "the rewriter did not stop");
                    Thread.Yield();
                }

                h.Device.Push(chain, chain.WritableLength);
            }
        }
        finally
        {
            Volatile.Write(ref done, true);
            Assert.True(rewriter.Join(TimeSpan.FromSeconds(30)));
        }
    }

    private static void WriteValidChain(RingHarness h, ulong table, uint tableBytes)
    {
        if (table != 0)
        {
            h.WriteDescriptor(0, table, tableBytes, DescriptorFlags.Indirect, 0);
        }

        h.WriteDescriptor(0, Readable, BufferBytes, DescriptorFlags.Next, 1, table);
        h.WriteDescriptor(1, Writable1, BufferBytes, DescriptorFlags.Next | DescriptorFlags.Write, 2, table);
        h.WriteDescriptor(2, Writable2, BufferBytes, DescriptorFlags.Write, 0, table);
    }

    private static void AssertOnlyValidatedBuffersWritten(RingHarness h)
    {
        Span<byte> data = h.Memory.GetSpan(RingHarness.DataBase, DataArea);
        for (int i = 0; i < data.Length; i++)
        {
            ulong address = RingHarness.DataBase + (ulong)i;
            bool validated = address - Writable1 < BufferBytes || address - Writable2 < BufferBytes || address - Readable < BufferBytes;
            if (!validated)
            {
                Assert.True(data[i] == CanaryByte, $"byte at 0x{address:x} outside the chain's buffers was written");
            }
            else if (address - Readable < BufferBytes)
            {
                Assert.Equal(0x11, data[i]); // the device only reads this one
            }
        }

        // And nothing past the data area, up to the end of guest RAM.
        ulong rest = RingHarness.DataBase + DataArea;
        Assert.Equal(-1, h.Memory.GetSpan(rest, (int)(RingHarness.MemorySize - rest)).IndexOfAnyExcept((byte)0));
    }
}
