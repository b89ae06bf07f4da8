using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Diagnostics.Watchdog;

/// <summary>
/// The hang analysis on a live device queue, with the requests it holds in flight (head, descriptors, age), and the
/// plug that makes a <see cref="QueueWatchdog"/> explain each stall with it (<see cref="QueueWatchdogOptions.Diagnose"/>).
/// </summary>
public static class LiveHangDiagnosis
{
    /// <summary>Analyses <paramref name="queue"/> now (read-only): the three questions and the requests in flight.</summary>
    /// <exception cref="InvalidOperationException">The queue is neither ready nor broken.</exception>
    public static HangReport Analyze(VirtioQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        return HangAnalysis.Analyze(queue.Ring, InFlight(queue), queue.Device.PopsOnDemand(queue.Index));
    }

    /// <summary>The chains <paramref name="queue"/> popped and has not completed, oldest first, with their descriptors as guest RAM holds them.</summary>
    public static IReadOnlyList<InFlightRequest> InFlight(VirtioQueue queue)
    {
        ArgumentNullException.ThrowIfNull(queue);
        SplitQueue ring = queue.Ring;
        var result = new List<InFlightRequest>();
        foreach ((ushort head, TimeSpan age) in queue.GetInFlight())
        {
            result.Add(new InFlightRequest(head, ReadChain(ring.Memory, ring.DescriptorTableAddress, (uint)ring.Size, head), age));
        }

        result.Sort((a, b) => b.Age.CompareTo(a.Age));
        return result;
    }

    /// <summary>
    /// A <see cref="QueueWatchdogOptions.Diagnose"/> for the queues of <paramref name="device"/>: the walk-through of
    /// <see cref="HangReport.ToText"/>. Queues of other devices get the watchdog's numeric summary.
    /// </summary>
    public static Func<IWatchedQueue, string> For(VirtioDevice device)
    {
        ArgumentNullException.ThrowIfNull(device);
        return watched =>
        {
            foreach (VirtioQueue queue in device.Queues)
            {
                if (watched is SplitQueueWatch w && ReferenceEquals(w.Queue, queue.Ring))
                {
                    return Analyze(queue).ToText();
                }
            }

            return QueueWatchdog.Summarize(watched, watched.ReadProgress());
        };
    }

    private static List<VringDescriptor> ReadChain(GuestMemory memory, ulong table, uint num, ushort head)
    {
        // Bounded like QueueElement's walk: a chain never visits more descriptors than its table holds.
        var chain = new List<VringDescriptor>();
        uint max = num;
        uint i = head;
        while (chain.Count < max && TryReadDescriptor(memory, table, i, out VringDescriptor? d, out ushort next))
        {
            if ((d.Flags & DescriptorFlags.Indirect) != 0 && chain.Count == 0 && d.Len % SplitRing.DescriptorSize == 0 && d.Len > 0)
            {
                table = d.Addr;
                max = d.Len / SplitRing.DescriptorSize;
                i = 0;
                continue;
            }

            chain.Add(d);
            if ((d.Flags & DescriptorFlags.Next) == 0 || next >= max)
            {
                break;
            }

            i = next;
        }

        return chain;
    }

    private static bool TryReadDescriptor(GuestMemory memory, ulong table, uint i, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out VringDescriptor? descriptor, out ushort next)
    {
        ulong at = table + ((ulong)i * SplitRing.DescriptorSize);
        next = 0;
        descriptor = null;
        if (memory.TryRead(at, out ulong addr) != GuestMemoryError.None
            || memory.TryRead(at + 8, out uint len) != GuestMemoryError.None
            || memory.TryRead(at + 12, out ushort flags) != GuestMemoryError.None
            || memory.TryRead(at + 14, out next) != GuestMemoryError.None)
        {
            return false;
        }

        descriptor = new VringDescriptor(addr, len, (DescriptorFlags)flags);
        return true;
    }
}
