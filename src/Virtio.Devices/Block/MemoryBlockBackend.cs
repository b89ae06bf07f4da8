namespace Virtio.Devices.Block;

/// <summary>
/// The default <see cref="IBlockBackend"/>: a sparse disk in process memory. Storage is committed in
/// <see cref="ChunkSize"/> chunks on first write, so a 1 TiB disk costs only what has been written. Requests complete
/// inline, and reads and writes to already written chunks allocate nothing.
/// </summary>
/// <remarks>
/// Chunks hang off a two-level table: a root array sized for the capacity, and leaves of <see cref="LeafChunks"/>
/// chunk references allocated on first write to their span. Lookups are plain volatile reads; a new leaf or chunk is
/// installed with <see cref="Interlocked.CompareExchange{T}(ref T, T, T)"/>, so concurrent queue workers never lock.
/// Requests that overlap and run at the same time have no defined order (as on real hardware); a write racing with a
/// discard of the same chunk may land in the chunk being dropped, which reads as if the discard had come second.
/// </remarks>
public sealed class MemoryBlockBackend : IBlockBackend
{
    /// <summary>Bytes per storage chunk, the unit of allocation and of release by discard and write-zeroes.</summary>
    public const int ChunkSize = 1 << ChunkShift;

    /// <summary>Largest supported capacity, 2^50 bytes (1 PiB): the root table then holds 2^22 leaf references.</summary>
    public const ulong MaxCapacity = 1UL << 50;

    private const int ChunkShift = 16;
    private const int LeafShift = 12;
    private const int LeafChunks = 1 << LeafShift;
    private const int SectorSize = 512;

    private readonly ulong _capacity;
    private readonly bool _readOnly;
    private byte[]?[]?[]? _root;
    private long _allocatedBytes;

    /// <summary>Creates an empty (all zeroes) disk, optionally pre-filled from the start.</summary>
    /// <param name="capacity">Size in bytes: a multiple of 512, at most <see cref="MaxCapacity"/>.</param>
    /// <param name="readOnly">Refuse writes, discards and write-zeroes (VIRTIO_BLK_F_RO).</param>
    /// <param name="initialContent">
    /// Bytes copied to offset 0; at most <paramref name="capacity"/> long. Chunks that would be all zeroes are not
    /// committed, so an image with holes stays sparse.
    /// </param>
    /// <exception cref="ArgumentOutOfRangeException">The capacity or the initial content's length is invalid.</exception>
    public MemoryBlockBackend(ulong capacity, bool readOnly = false, ReadOnlySpan<byte> initialContent = default)
    {
        if (capacity % SectorSize != 0 || capacity > MaxCapacity)
        {
            throw new ArgumentOutOfRangeException(
                nameof(capacity), capacity, $"the capacity must be a multiple of {SectorSize} and at most {MaxCapacity}");
        }

        if ((ulong)initialContent.Length > capacity)
        {
            throw new ArgumentOutOfRangeException(
                nameof(initialContent), initialContent.Length, $"the initial content is longer than the capacity {capacity}");
        }

        _capacity = capacity;
        _readOnly = readOnly;
        ulong chunks = (capacity + ChunkSize - 1) >> ChunkShift;
        _root = new byte[]?[]?[(int)((chunks + LeafChunks - 1) >> LeafShift)];

        for (int start = 0; start < initialContent.Length; start += ChunkSize)
        {
            ReadOnlySpan<byte> piece = initialContent.Slice(start, Math.Min(ChunkSize, initialContent.Length - start));
            if (piece.ContainsAnyExcept((byte)0))
            {
                piece.CopyTo(GetOrAddChunk(_root, (ulong)start >> ChunkShift));
            }
        }
    }

    /// <inheritdoc />
    public ulong Capacity => _capacity;

    /// <inheritdoc />
    public bool IsReadOnly => _readOnly;

    /// <inheritdoc />
    public BlockBackendCapabilities Capabilities =>
        BlockBackendCapabilities.Flush | BlockBackendCapabilities.Discard | BlockBackendCapabilities.WriteZeroes;

    /// <summary>Bytes committed by chunks (a multiple of <see cref="ChunkSize"/>); the tables are not counted.</summary>
    public ulong AllocatedBytes => (ulong)Interlocked.Read(ref _allocatedBytes);

    /// <inheritdoc />
    public void Submit(BlockIo request)
    {
        ArgumentNullException.ThrowIfNull(request);
        BlockIoStatus status;
        try
        {
            status = Execute(request);
        }
        catch (Exception)
        {
            // A chunk that cannot be allocated, or a request the validation let through by mistake, fails this request.
            status = BlockIoStatus.IoError;
        }

        request.Complete(status);
    }

    /// <summary>Drops every chunk; later requests complete with <see cref="BlockIoStatus.IoError"/>.</summary>
    public void Dispose()
    {
        Volatile.Write(ref _root, null);
        Interlocked.Exchange(ref _allocatedBytes, 0);
    }

    private BlockIoStatus Execute(BlockIo request)
    {
        byte[]?[]?[]? root = Volatile.Read(ref _root);
        if (root is null)
        {
            return BlockIoStatus.IoError;
        }

        switch (request.Kind)
        {
            case BlockIoKind.Read:
                return request.DataFits(_capacity) ? Read(root, request) : BlockIoStatus.IoError;
            case BlockIoKind.Write:
                return !_readOnly && request.DataFits(_capacity) ? Write(root, request) : BlockIoStatus.IoError;
            case BlockIoKind.Flush:
                // Memory is as durable as this backend gets.
                return BlockIoStatus.Ok;
            case BlockIoKind.Discard:
            case BlockIoKind.WriteZeroes:
                // Discarded ranges read back as zeroes here, so both kinds share one path; Unmap changes nothing
                // because releasing a whole chunk is always allowed when it reads back as zeroes.
                return !_readOnly && request.RangesFit(_capacity) ? Zero(root, request) : BlockIoStatus.IoError;
            default:
                return BlockIoStatus.Unsupported;
        }
    }

    private static BlockIoStatus Read(byte[]?[]?[] root, BlockIo request)
    {
        ulong position = request.Offset;
        for (int i = 0; i < request.SegmentCount; i++)
        {
            Span<byte> destination = request.GetSegment(i);
            while (!destination.IsEmpty)
            {
                int within = (int)(position & (ChunkSize - 1));
                int count = Math.Min(destination.Length, ChunkSize - within);
                byte[]? chunk = FindChunk(root, position >> ChunkShift);
                if (chunk is null)
                {
                    destination[..count].Clear();
                }
                else
                {
                    chunk.AsSpan(within, count).CopyTo(destination);
                }

                destination = destination[count..];
                position += (ulong)count;
            }
        }

        return BlockIoStatus.Ok;
    }

    private BlockIoStatus Write(byte[]?[]?[] root, BlockIo request)
    {
        ulong position = request.Offset;
        for (int i = 0; i < request.SegmentCount; i++)
        {
            ReadOnlySpan<byte> source = request.GetSegment(i);
            while (!source.IsEmpty)
            {
                int within = (int)(position & (ChunkSize - 1));
                int count = Math.Min(source.Length, ChunkSize - within);
                ReadOnlySpan<byte> piece = source[..count];
                byte[]? chunk = FindChunk(root, position >> ChunkShift);
                if (chunk is not null)
                {
                    piece.CopyTo(chunk.AsSpan(within));
                }
                else if (piece.ContainsAnyExcept((byte)0))
                {
                    // Writing zeroes to a hole changes nothing a reader can see: keep the disk sparse.
                    piece.CopyTo(GetOrAddChunk(root, position >> ChunkShift).AsSpan(within));
                }

                source = source[count..];
                position += (ulong)count;
            }
        }

        return BlockIoStatus.Ok;
    }

    private BlockIoStatus Zero(byte[]?[]?[] root, BlockIo request)
    {
        for (int i = 0; i < request.RangeCount; i++)
        {
            BlockRange range = request.GetRange(i);
            ulong position = range.Offset;
            ulong end = range.Offset + range.Length;
            while (position < end)
            {
                int within = (int)(position & (ChunkSize - 1));
                int count = (int)Math.Min(end - position, (ulong)(ChunkSize - within));
                ulong index = position >> ChunkShift;

                // The last chunk may stick out past the capacity; covering its part inside the disk is covering it all.
                if (within == 0 && (count == ChunkSize || end == _capacity))
                {
                    ReleaseChunk(root, index);
                }
                else
                {
                    FindChunk(root, index)?.AsSpan(within, count).Clear();
                }

                position += (ulong)count;
            }
        }

        return BlockIoStatus.Ok;
    }

    private static byte[]? FindChunk(byte[]?[]?[] root, ulong index)
    {
        byte[]?[]? leaf = Volatile.Read(ref root[(int)(index >> LeafShift)]);
        return leaf is null ? null : Volatile.Read(ref leaf[(int)(index & (LeafChunks - 1))]);
    }

    private byte[] GetOrAddChunk(byte[]?[]?[] root, ulong index)
    {
        ref byte[]?[]? leafSlot = ref root[(int)(index >> LeafShift)];
        byte[]?[]? leaf = Volatile.Read(ref leafSlot);
        if (leaf is null)
        {
            byte[]?[] fresh = new byte[]?[LeafChunks];
            leaf = Interlocked.CompareExchange(ref leafSlot, fresh, null) ?? fresh;
        }

        ref byte[]? chunkSlot = ref leaf[(int)(index & (LeafChunks - 1))];
        byte[]? chunk = Volatile.Read(ref chunkSlot);
        if (chunk is null)
        {
            // Two writers may race to fill the same hole: the loser's chunk is garbage and it writes into the winner's.
            byte[] fresh = new byte[ChunkSize];
            chunk = Interlocked.CompareExchange(ref chunkSlot, fresh, null);
            if (chunk is null)
            {
                Interlocked.Add(ref _allocatedBytes, ChunkSize);
                chunk = fresh;
            }
        }

        return chunk;
    }

    private void ReleaseChunk(byte[]?[]?[] root, ulong index)
    {
        byte[]?[]? leaf = Volatile.Read(ref root[(int)(index >> LeafShift)]);
        if (leaf is not null && Interlocked.Exchange(ref leaf[(int)(index & (LeafChunks - 1))], null) is not null)
        {
            Interlocked.Add(ref _allocatedBytes, -ChunkSize);
        }
    }
}
