using System.Buffers.Binary;
using Virtio.Diagnostics;
using Virtio.Rings;

namespace Virtio.Scenarios.Catalog;

/// <summary>A hostile driver publishes a chain whose head descriptor points at itself.</summary>
public sealed class HostileDescriptorLoopScenario : ReproScenario
{
    /// <inheritdoc />
    public override string Name => "hostile-descriptor-loop";

    /// <inheritdoc />
    public override string Fault => "driver writes a descriptor loop";

    /// <inheritdoc />
    public override HangVerdict Expected => HangVerdict.QueueBroken;

    /// <inheritdoc />
    public override string Why =>
        "the driver publishes a chain whose descriptor points at itself; the device detects the loop and breaks the queue (NEEDS_RESET)";

    /// <inheritdoc />
    protected internal override void AfterBatchAdded(ReproRunner run)
    {
        ArgumentNullException.ThrowIfNull(run);
        if (!run.Armed || !run.Inject)
        {
            return;
        }

        // The last request's head descriptor now points at itself: a chain that never ends.
        ushort head = run.ReadIndex(run.AvailRingEntryAddress((ushort)(run.DriverQueue.AvailIdxShadow - 1)));
        Span<byte> d = run.Memory.GetSpan(run.DescriptorAddress(head), SplitRing.DescriptorSize);
        BinaryPrimitives.WriteUInt32LittleEndian(d[8..], SplitRing.DescriptorSize);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], (ushort)DescriptorFlags.Next);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], head);
    }
}
