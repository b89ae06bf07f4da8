namespace Virtio.Rings;

/// <summary>
/// A descriptor chain popped from a <see cref="SplitQueue"/>: its head (the id to push back), counts and lengths
/// of its device-readable and device-writable parts, and a zero-allocation walk over its buffers.
/// </summary>
/// <remarks>
/// The chain was validated when popped. Walking it reads the descriptors again, with every bound checked again, so a
/// driver that rewrites an in-flight chain cannot make the device touch memory outside guest RAM; such a rewrite
/// that breaks a rule breaks the queue and ends the walk.
/// </remarks>
public readonly struct DescriptorChain
{
    private readonly SplitQueue? _queue;

    internal DescriptorChain(SplitQueue queue, int generation, ushort head, int descriptorCount, int readableCount, int writableCount, uint readableLength, uint writableLength, bool isIndirect)
    {
        _queue = queue;
        Generation = generation;
        Head = head;
        DescriptorCount = descriptorCount;
        ReadableCount = readableCount;
        WritableCount = writableCount;
        ReadableLength = readableLength;
        WritableLength = writableLength;
        IsIndirect = isIndirect;
    }

    /// <summary>The index of the head descriptor: the id the used element carries.</summary>
    public ushort Head { get; }

    /// <summary>Number of buffers (descriptors that are not indirect-table pointers).</summary>
    public int DescriptorCount { get; }

    /// <summary>Number of device-readable buffers (they come first).</summary>
    public int ReadableCount { get; }

    /// <summary>Number of device-writable buffers.</summary>
    public int WritableCount { get; }

    /// <summary>Total bytes of the device-readable buffers.</summary>
    public uint ReadableLength { get; }

    /// <summary>Total bytes of the device-writable buffers.</summary>
    public uint WritableLength { get; }

    /// <summary>True when the chain goes through an indirect table.</summary>
    public bool IsIndirect { get; }

    /// <summary>True for a chain returned by <see cref="SplitQueue.Pop"/> (false for <c>default</c>).</summary>
    public bool IsValid => _queue is not null;

    internal int Generation { get; }

    internal bool IsFrom(SplitQueue queue) => ReferenceEquals(_queue, queue);

    /// <summary>Walks the buffers in chain order: readable ones first, then writable ones.</summary>
    public DescriptorChainEnumerator GetEnumerator() => new(_queue, Generation, Head, DescriptorCount);

    /// <summary>
    /// Copies the chain's device-readable bytes, starting <paramref name="offset"/> bytes in, to
    /// <paramref name="destination"/> (for parsing a request header or gathering a frame).
    /// </summary>
    /// <returns>The number of bytes copied.</returns>
    public int CopyFromReadable(Span<byte> destination, uint offset = 0)
    {
        int copied = 0;
        ulong skip = offset;
        foreach (DescriptorBuffer buffer in this)
        {
            if (buffer.IsWritable || copied == destination.Length)
            {
                break;
            }

            if (skip >= buffer.Length)
            {
                skip -= buffer.Length;
                continue;
            }

            Span<byte> src = buffer.Span[(int)skip..];
            skip = 0;
            int n = Math.Min(src.Length, destination.Length - copied);
            src[..n].CopyTo(destination[copied..]);
            copied += n;
        }

        return copied;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the chain's device-writable buffers, starting <paramref name="offset"/>
    /// bytes into the writable part (for completing a read or delivering a frame).
    /// </summary>
    /// <returns>The number of bytes copied (less than the source when the writable part is shorter).</returns>
    public int CopyToWritable(ReadOnlySpan<byte> source, uint offset = 0)
    {
        int copied = 0;
        ulong skip = offset;
        foreach (DescriptorBuffer buffer in this)
        {
            if (!buffer.IsWritable)
            {
                continue;
            }

            if (copied == source.Length)
            {
                break;
            }

            if (skip >= buffer.Length)
            {
                skip -= buffer.Length;
                continue;
            }

            Span<byte> dst = buffer.Span[(int)skip..];
            skip = 0;
            int n = Math.Min(dst.Length, source.Length - copied);
            source.Slice(copied, n).CopyTo(dst);
            copied += n;
        }

        return copied;
    }
}
