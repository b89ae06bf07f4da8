namespace Virtio.Devices.Block;

/// <summary>
/// One request handed to an <see cref="IBlockBackend"/>. The device owns these objects and reuses them, so a backend
/// must not keep a reference after calling <see cref="Complete"/>.
/// </summary>
public abstract class BlockIo
{
    /// <summary>The operation.</summary>
    public BlockIoKind Kind { get; protected set; }

    /// <summary>First byte on the disk (read and write).</summary>
    public ulong Offset { get; protected set; }

    /// <summary>Bytes to transfer: the sum of the segments' lengths (read and write).</summary>
    public ulong Length { get; protected set; }

    /// <summary>Data segments in order (read: destinations; write: sources).</summary>
    public int SegmentCount { get; protected set; }

    /// <summary>Ranges of a discard or write-zeroes request.</summary>
    public int RangeCount { get; protected set; }

    /// <summary>A data segment: guest memory the backend reads from or writes to; valid until <see cref="Complete"/>.</summary>
    public abstract Span<byte> GetSegment(int index);

    /// <summary>A range of a discard or write-zeroes request.</summary>
    public abstract BlockRange GetRange(int index);

    /// <summary>Finishes the request. Call exactly once, from any thread.</summary>
    public abstract void Complete(BlockIoStatus status);

    /// <summary>
    /// True when the data segments add up to <see cref="Length"/> and the bytes from <see cref="Offset"/> on lie on a
    /// disk of <paramref name="capacity"/> bytes. The device has checked this already; a backend re-checks it before a
    /// read or write so that a device bug cannot move data past the disk's end.
    /// </summary>
    public bool DataFits(ulong capacity)
    {
        ulong total = 0;
        for (int i = 0; i < SegmentCount; i++)
        {
            total += (ulong)GetSegment(i).Length;
        }

        return total == Length && Offset <= capacity && total <= capacity - Offset;
    }

    /// <summary>True when every discard or write-zeroes range lies on a disk of <paramref name="capacity"/> bytes (the backend's re-check, as <see cref="DataFits"/>).</summary>
    public bool RangesFit(ulong capacity)
    {
        for (int i = 0; i < RangeCount; i++)
        {
            BlockRange range = GetRange(i);
            if (range.Offset > capacity || range.Length > capacity - range.Offset)
            {
                return false;
            }
        }

        return true;
    }
}
