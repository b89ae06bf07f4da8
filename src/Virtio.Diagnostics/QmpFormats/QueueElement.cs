using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics;

/// <summary>
/// One entry of the available ring and the descriptor chain it names, as QEMU's <c>x-query-virtio-queue-element</c>
/// reports it: read from guest RAM, read-only, bounded.
/// </summary>
/// <param name="Name">The device name.</param>
/// <param name="Index">The head descriptor's index (QEMU's reply <c>index</c>).</param>
/// <param name="Descriptors">The descriptors in chain order (for an indirect head, the table's descriptors).</param>
/// <param name="AvailFlags"><c>avail-&gt;flags</c>.</param>
/// <param name="AvailIdx"><c>avail-&gt;idx</c> in guest RAM.</param>
/// <param name="AvailRing">The available-ring entry read (the head, as QEMU reports <c>avail.ring</c>).</param>
/// <param name="UsedFlags"><c>used-&gt;flags</c>.</param>
/// <param name="UsedIdx"><c>used-&gt;idx</c> in guest RAM.</param>
public sealed record QueueElement(
    string Name,
    ushort Index,
    IReadOnlyList<VringDescriptor> Descriptors,
    ushort AvailFlags,
    ushort AvailIdx,
    ushort AvailRing,
    ushort UsedFlags,
    ushort UsedIdx)
{
    // Bounds the walk of an indirect table whose length claims more descriptors than any chain may hold.
    private const int MaxChainWalk = 65536;

    /// <summary>
    /// Reads the element at available-ring position <paramref name="index"/> (default <c>last-avail-idx</c>, taken
    /// modulo the queue size) as <c>qmp_x_query_virtio_queue_element</c> does: the head from the available ring, its
    /// chain, and an indirect table in place of an indirect head. Nothing is written; a hostile ring (a loop, an index
    /// out of range, an unmapped table) gives an error instead of hanging or throwing.
    /// </summary>
    /// <param name="memory">Guest RAM (live, or loaded from a dump).</param>
    /// <param name="status">The queue's size, ring addresses, name and <c>last-avail-idx</c>.</param>
    /// <param name="index">The available-ring position; null for <c>last-avail-idx</c>.</param>
    /// <param name="element">The element, on success.</param>
    /// <param name="error">Why it could not be read, on failure.</param>
    public static bool TryRead(
        GuestMemory memory,
        QueueStatus status,
        ushort? index,
        [NotNullWhen(true)] out QueueElement? element,
        [NotNullWhen(false)] out QueueElementError? error)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(status);
        element = null;
        uint num = status.VringNum;
        if (num > int.MaxValue || !SplitRing.IsValidSize((int)num))
        {
            error = new(QueueElementErrorKind.InvalidQueueSize, $"Invalid queue size {num} (a power of two from 1 to {SplitRing.MaxQueueSize})");
            return false;
        }

        if (!memory.IsValidRange(status.VringDesc, SplitRing.DescriptorTableBytes((int)num)))
        {
            error = new(QueueElementErrorKind.DescriptorTableUnmapped, $"Cannot map descriptor ring at 0x{status.VringDesc:x} ({num} descriptors)");
            return false;
        }

        ushort position = index ?? status.LastAvailIdx;
        ulong slot = status.VringAvail + SplitRing.AvailEntryOffset((uint)(position & (num - 1)));
        if (memory.TryRead(status.VringAvail, out ushort availFlags) != GuestMemoryError.None
            || memory.TryRead(status.VringAvail + SplitRing.IdxOffset, out ushort availIdx) != GuestMemoryError.None
            || memory.TryRead(slot, out ushort head) != GuestMemoryError.None)
        {
            error = new(QueueElementErrorKind.AvailRingUnmapped, $"Cannot map avail ring at 0x{status.VringAvail:x}");
            return false;
        }

        if (memory.TryRead(status.VringUsed, out ushort usedFlags) != GuestMemoryError.None
            || memory.TryRead(status.VringUsed + SplitRing.IdxOffset, out ushort usedIdx) != GuestMemoryError.None)
        {
            error = new(QueueElementErrorKind.UsedRingUnmapped, $"Cannot map used ring at 0x{status.VringUsed:x}");
            return false;
        }

        if (head >= num)
        {
            error = new(QueueElementErrorKind.HeadOutOfRange, $"Guest says index {head} is available (avail ring position {position}, queue size {num})");
            return false;
        }

        ulong table = status.VringDesc;
        uint max = num;
        uint i = head;
        VringDescriptor desc = ReadDescriptor(memory, table, i, out ushort next);
        if ((desc.Flags & DescriptorFlags.Indirect) != 0)
        {
            // Mirrors the query: the indirect head is replaced by its table, whose descriptors are listed instead.
            if (desc.Len == 0 || desc.Len % SplitRing.DescriptorSize != 0)
            {
                error = new(QueueElementErrorKind.IndirectTableInvalidSize, $"Invalid size for indirect buffer table ({desc.Len} bytes) at head {head}");
                return false;
            }

            if (!memory.IsValidRange(desc.Addr, desc.Len))
            {
                error = new(QueueElementErrorKind.IndirectTableUnmapped, $"Cannot map indirect buffer at 0x{desc.Addr:x} ({desc.Len} bytes)");
                return false;
            }

            table = desc.Addr;
            max = desc.Len / SplitRing.DescriptorSize;
            i = 0;
            desc = ReadDescriptor(memory, table, i, out next);
        }

        uint limit = Math.Min(max, MaxChainWalk);
        var chain = new List<VringDescriptor>();
        while (true)
        {
            // QEMU stops silently here ("A buggy driver may produce an infinite loop"); a diagnosis says so.
            if ((uint)chain.Count >= limit)
            {
                error = new(QueueElementErrorKind.LoopedDescriptor, $"Looped descriptor: chain at head {head} visits more than {limit} descriptors");
                return false;
            }

            chain.Add(desc);
            if ((desc.Flags & DescriptorFlags.Next) == 0)
            {
                break;
            }

            // Mirrors virtqueue_split_read_next_desc.
            if (next >= max)
            {
                error = new(QueueElementErrorKind.NextOutOfRange, $"Desc next is {next} (table of {max} descriptors, chain at head {head})");
                return false;
            }

            i = next;
            desc = ReadDescriptor(memory, table, i, out next);
        }

        element = new QueueElement(status.Name, head, chain, availFlags, availIdx, head, usedFlags, usedIdx);
        error = null;
        return true;
    }

    /// <summary>Reads the element of a live queue (its status taken with <see cref="QueueStatus.Capture"/>).</summary>
    public static bool TryRead(
        SplitQueue queue,
        ushort? index,
        [NotNullWhen(true)] out QueueElement? element,
        [NotNullWhen(false)] out QueueElementError? error)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return TryRead(queue.Memory, QueueStatus.Capture(queue, queue.Name), index, out element, out error);
    }

    /// <summary>The bare JSON object; <c>descs</c> in reverse chain order, as QEMU lists them.</summary>
    public string ToJson(bool indented = false) =>
        JsonSerializer.Serialize(ToReply(), DiagnosticsJsonContext.For(indented).QueueElementReply);

    /// <summary>The full QMP reply: <c>{"return": {...}}</c>.</summary>
    public string ToQmpReplyJson(bool indented = false) =>
        JsonSerializer.Serialize(new QmpReturn<QueueElementReply>(ToReply()), DiagnosticsJsonContext.For(indented).QmpReturnQueueElement);

    /// <summary>
    /// Text in the layout of HMP's <c>info virtio-queue-element</c>, with LF line ends, except that the descriptors are
    /// listed in chain order (HMP prints QEMU's reversed list).
    /// </summary>
    /// <param name="qomPath">The QOM path of the device.</param>
    public string ToText(string qomPath)
    {
        ArgumentNullException.ThrowIfNull(qomPath);
        CultureInfo c = CultureInfo.InvariantCulture;
        var s = new StringBuilder(256);
        s.Append(c, $"{qomPath}:\n");
        s.Append(c, $"  device_name: {Name}\n");
        s.Append(c, $"  index:   {Index}\n");
        s.Append("  desc:\n");
        s.Append("    descs:\n");
        for (int k = 0; k < Descriptors.Count; k++)
        {
            VringDescriptor d = Descriptors[k];
            s.Append(c, $"        addr 0x{d.Addr:x} len {(int)d.Len}");
            if (d.FlagNames.Count > 0)
            {
                s.Append(" (").AppendJoin(", ", d.FlagNames).Append(')');
            }

            s.Append(k + 1 < Descriptors.Count ? ",\n" : "\n");
        }

        if (Descriptors.Count == 0)
        {
            s.Append('\n');
        }

        s.Append("  avail:\n");
        s.Append(c, $"    flags: {AvailFlags}\n");
        s.Append(c, $"    idx:   {AvailIdx}\n");
        s.Append(c, $"    ring:  {AvailRing}\n");
        s.Append("  used:\n");
        s.Append(c, $"    flags: {UsedFlags}\n");
        s.Append(c, $"    idx:   {UsedIdx}\n");
        return s.ToString();
    }

    private QueueElementReply ToReply()
    {
        // qmp_x_query_virtio_queue_element prepends each descriptor to its list: the JSON is in reverse chain order.
        var reversed = new VringDescriptor[Descriptors.Count];
        for (int k = 0; k < reversed.Length; k++)
        {
            reversed[k] = Descriptors[Descriptors.Count - 1 - k];
        }

        return new QueueElementReply(Name, Index, reversed, new VringAvailReply(AvailFlags, AvailIdx, AvailRing), new VringUsedReply(UsedFlags, UsedIdx));
    }

    private static VringDescriptor ReadDescriptor(GuestMemory memory, ulong table, uint i, out ushort next)
    {
        // The table was checked to be mapped as a whole, so these reads cannot fail.
        ulong at = table + SplitRing.DescriptorOffset(i);
        memory.TryRead(at, out ulong addr);
        memory.TryRead(at + 8, out uint len);
        memory.TryRead(at + 12, out ushort flags);
        memory.TryRead(at + 14, out next);
        return new VringDescriptor(addr, len, (DescriptorFlags)flags);
    }
}
