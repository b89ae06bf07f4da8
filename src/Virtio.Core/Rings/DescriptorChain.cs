using Virtio.Memory;

namespace Virtio.Rings;

/// <summary>
/// A descriptor chain popped from a <see cref="SplitQueue"/>: its head (the id to push back), counts and lengths
/// of its device-readable and device-writable parts, and a zero-allocation walk over its buffers.
/// </summary>
/// <remarks>
/// The chain was validated when popped. Walking it reads the descriptor-table entries the pop validated (a shadow, not
/// the guest's table) and indirect tables again with every bound checked again, so a driver that rewrites an in-flight
/// chain cannot make the device touch memory outside guest RAM or the validated lengths; such a rewrite that breaks a
/// rule breaks the queue and ends the walk (see <see cref="DescriptorChainEnumerator"/>). A chain of one direct buffer (the common shape) keeps that
/// buffer as validated at pop, as QEMU keeps the mapping it made then, and maps it again, bounds checked, on use.
/// </remarks>
public readonly unsafe struct DescriptorChain
{
    private readonly SplitQueue? _queue;

    /// <summary>The guest address of the one buffer of a single-descriptor direct chain, as validated at pop.</summary>
    private readonly ulong _singleAddress;

    /// <summary>True for a chain of one direct buffer popped by the fast path (<see cref="_singleAddress"/> is set).</summary>
    private readonly bool _single;

    internal DescriptorChain(SplitQueue queue, int generation, int serial, ushort head, int descriptorCount, int readableCount, int writableCount, uint readableLength, uint writableLength, bool isIndirect)
    {
        _queue = queue;
        Generation = generation;
        Serial = serial;
        Head = head;
        DescriptorCount = descriptorCount;
        ReadableCount = readableCount;
        WritableCount = writableCount;
        ReadableLength = readableLength;
        WritableLength = writableLength;
        IsIndirect = isIndirect;
    }

    /// <summary>A chain of one direct buffer (the pop's fast path): the copy helpers use the buffer validated at pop.</summary>
    internal DescriptorChain(SplitQueue queue, int generation, ushort head, ulong address, uint length, bool writable)
        : this(queue, generation, 0, head, 1, writable ? 0 : 1, writable ? 1 : 0, writable ? 0 : length, writable ? length : 0, false)
    {
        _singleAddress = address;
        _single = true;
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

    /// <summary>The pop that validated the chain, for the walk to check the shadow table is still its own.</summary>
    internal int Serial { get; }

    internal bool IsFrom(SplitQueue queue) => ReferenceEquals(_queue, queue);

    /// <summary>Walks the buffers in chain order: readable ones first, then writable ones.</summary>
    public DescriptorChainEnumerator GetEnumerator() => _single
        ? new(_queue!, Generation, Head, _singleAddress, ReadableLength + WritableLength, WritableCount != 0)
        : new(_queue, Generation, Serial, Head, DescriptorCount, ReadableLength, WritableLength);

    /// <summary>
    /// The chain's only buffer, in guest RAM, when it is a chain of one direct buffer (the common shape of a simple
    /// request or a network frame): the buffer as validated at pop, mapped again with its bounds checked. A device may
    /// read it (a readable chain) or fill it (a writable one) in place, without a copy; the guest can change it
    /// meanwhile, so what is parsed from it is read once. False for other chains (walk them, or use the copy helpers)
    /// and for a stale one.
    /// </summary>
    public bool TryGetSingleBuffer(out Span<byte> buffer)
    {
        if (_single)
        {
            return TryMapSingle(ReadableLength + WritableLength, 0, out buffer);
        }

        buffer = default;
        return false;
    }

    /// <summary>
    /// Copies the chain's device-readable bytes, starting <paramref name="offset"/> bytes in, to
    /// <paramref name="destination"/> (for parsing a request header or gathering a frame).
    /// </summary>
    /// <returns>The number of bytes copied.</returns>
    public int CopyFromReadable(Span<byte> destination, uint offset = 0)
    {
        if (_single)
        {
            if (!TryMapSingle(ReadableLength, offset, out Span<byte> source))
            {
                return 0;
            }

            int n = Math.Min(source.Length, destination.Length);
            source[..n].CopyTo(destination);
            return n;
        }

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
        if (_single)
        {
            if (!TryMapSingle(WritableLength, offset, out Span<byte> destination))
            {
                return 0;
            }

            int n = Math.Min(source.Length, destination.Length);
            source[..n].CopyTo(destination);
            return n;
        }

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

    /// <summary>
    /// The one buffer of a single-buffer chain from <paramref name="offset"/> on, without walking the chain: the buffer
    /// validated at pop (as QEMU keeps the mapping it made at pop), mapped again with its bounds checked. False for
    /// a stale chain, as the walk would end at once, or an offset past the end.
    /// </summary>
    private bool TryMapSingle(uint length, uint offset, out Span<byte> buffer)
    {
        buffer = default;
        if (offset >= length || !_queue!.IsCurrent(Generation)
            || _queue.TranslateBuffer(_singleAddress, length, out byte* p) != GuestMemoryError.None)
        {
            return false;
        }

        buffer = new Span<byte>(p + offset, (int)(length - offset));
        return true;
    }
}
