using Virtio.Diagnostics;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Fuzz;

/// <summary>
/// The device side of one split ring over guest RAM the input writes: the queue's size, ring addresses and features
/// come from the header, then a sequence of operations (guest writes to RAM, pop with a walk and copies of the chain,
/// push and batched fill/flush, the burst pop and push, the notification decisions, rewind, reset, a restored start index, a live diagnosis) runs as a device would.
/// Only host-side contracts are kept by the harness (push only what was popped, rewind only the latest pops); every
/// value in guest RAM is the fuzzer's.
/// </summary>
internal static class RingTarget
{
    public const int RamSize = 64 * 1024;
    private const int MaxKept = 64;
    private const int MaxBurst = 16;

    // Op codes; the seed generator writes the same.
    public const byte OpPatch = 0, OpPop = 1, OpPush = 2, OpFillFlush = 3, OpShouldNotify = 4, OpSetNotification = 5,
        OpRecheck = 6, OpRewind = 7, OpReset = 8, OpDiagnose = 9, OpSetBase = 10, OpPopBurst = 11,
        OpPushBurst = 12, OpCount = 13;

    public static void Run(GuardedRam ram, ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        using GuestMemory memory = ram.Fresh();
        // The queue offers the size the input asks for (when valid): per-queue state is sized for the maximum, so a
        // 32768 maximum on every input would spend the run allocating.
        int asked = 1 << (data.Length > 2 ? data[2] % 17 : 0);
        var queue = new SplitQueue(memory, maxSize: asked <= 32768 ? asked : 256, index: 0, name: "fuzz");
        var kept = new List<DescriptorChain>(MaxKept);
        var burst = new DescriptorChain[MaxBurst];
        uint[] lengths = new uint[MaxBurst];
        int popsSincePush = 0;
        byte[] scratch = new byte[4096];
        Configure(queue, ref input);
        while (!input.AtEnd)
        {
            switch (input.U8() % OpCount)
            {
                case OpPatch:
                    input.Patch(ram.Bytes);
                    break;
                case OpPop:
                    if (queue.Pop(out DescriptorChain chain) == PopResult.Chain)
                    {
                        Touch(chain, scratch, ref input);
                        if (kept.Count == MaxKept)
                        {
                            queue.Push(kept[0], 0);
                            kept.RemoveAt(0);
                            popsSincePush = 0;
                        }

                        kept.Add(chain);
                        popsSincePush++;
                    }

                    break;
                case OpPopBurst:
                    {
                        // The burst pop: one avail->idx read for up to 16 chains, each validated as by Pop.
                        int n = queue.PopBurst(burst.AsSpan(0, Math.Min(input.U8() % (MaxBurst + 1), MaxKept - kept.Count)), out _);
                        for (int i = 0; i < n; i++)
                        {
                            Touch(burst[i], scratch, ref input);
                            kept.Add(burst[i]);
                        }

                        popsSincePush += n;
                        break;
                    }

                case OpPushBurst:
                    {
                        int n = Math.Min(kept.Count, input.U8() % (MaxBurst + 1));
                        for (int i = 0; i < n; i++)
                        {
                            burst[i] = kept[i];
                            lengths[i] = input.U32();
                        }

                        _ = queue.PushBurst(burst.AsSpan(0, n), lengths.AsSpan(0, n));
                        kept.RemoveRange(0, n);
                        popsSincePush = n > 0 ? 0 : popsSincePush;
                        break;
                    }

                case OpPush:
                    if (kept.Count > 0)
                    {
                        int i = input.U8() % kept.Count;
                        queue.Push(kept[i], input.U32());
                        kept.RemoveAt(i);
                        popsSincePush = 0;
                    }

                    break;
                case OpFillFlush:
                    {
                        int n = Math.Min(kept.Count, input.U8() % 8);
                        for (int i = 0; i < n; i++)
                        {
                            queue.Fill(kept[i].Head, input.U32(), i);
                        }

                        queue.Flush(n);
                        kept.RemoveRange(0, n);
                        popsSincePush = n > 0 ? 0 : popsSincePush;
                        break;
                    }

                case OpShouldNotify:
                    _ = queue.ShouldNotify();
                    break;
                case OpSetNotification:
                    queue.SetNotification((input.U8() & 1) != 0);
                    break;
                case OpRecheck:
                    _ = queue.EnableNotificationAndRecheck();
                    _ = queue.IsEmpty();
                    _ = queue.AvailableCount();
                    break;
                case OpRewind:
                    {
                        int n = Math.Min(popsSincePush, input.U8() % 4);
                        if (queue.Rewind(n))
                        {
                            kept.RemoveRange(kept.Count - n, n);
                            popsSincePush -= n;
                        }

                        break;
                    }

                case OpReset:
                    queue.Reset();
                    kept.Clear();
                    popsSincePush = 0;
                    Configure(queue, ref input);
                    break;
                case OpSetBase when queue.IsReady && kept.Count == 0:
                    {
                        // Start from any index, as vhost-user SET_VRING_BASE or a migration does: the 16-bit wrap is
                        // then a few pops away instead of 65536.
                        ushort b = input.U16();
                        queue.SetState(new SplitQueueState(b, b, b, 0, b, false, true));
                        popsSincePush = 0;
                        break;
                    }

                case OpDiagnose when queue.IsReady:
                    // What the watchdog and `virtio diagnose` do to a live queue: capture, then analyse guest RAM.
                    _ = queue.ReadGuestFields(out _);
                    QueueStatus status = QueueStatus.Capture(queue, "fuzz");
                    _ = DumpAnalysis.Analyze(memory, status, queue.EventIdx, queue.IsBroken).ToText();
                    break;
            }
        }

        queue.Reset();
    }

    private static void Configure(SplitQueue queue, ref FuzzInput input)
    {
        byte flags = input.U8();
        queue.EventIdx = (flags & 1) != 0;
        queue.IndirectDescriptors = (flags & 2) != 0;
        queue.NotifyOnEmpty = (flags & 4) != 0;
        queue.MaxIndirectDescriptors = 1 + (input.U8() * 8);
        queue.Size = 1 << (input.U8() % 17); // 1 .. 65536: invalid sizes must be refused
        queue.DescriptorTableAddress = input.U32();
        queue.AvailRingAddress = input.U32();
        queue.UsedRingAddress = input.U32();
        _ = queue.Enable();
    }

    /// <summary>Walks the chain and copies through it, as a device model does.</summary>
    private static void Touch(in DescriptorChain chain, byte[] scratch, ref FuzzInput input)
    {
        ulong sum = 0;
        foreach (DescriptorBuffer buffer in chain)
        {
            sum += buffer.Address + buffer.Length;
            if (buffer.Span.Length > 0)
            {
                sum += buffer.Span[0];
                sum += buffer.Span[^1];
            }
        }

        uint offset = input.U16();
        int read = chain.CopyFromReadable(scratch, offset);
        _ = chain.CopyToWritable(scratch.AsSpan(0, read), input.U16());
        if (chain.TryGetSingleBuffer(out Span<byte> single) && single.Length > 0)
        {
            single[0] ^= (byte)sum;
        }
    }
}
