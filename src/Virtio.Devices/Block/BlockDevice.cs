using System.Buffers.Binary;
using System.Text;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;

namespace Virtio.Devices.Block;

/// <summary>
/// virtio-blk (VIRTIO 1.x section 5.2): parses each request chain, checks it against the disk and the config limits,
/// and hands it to an <see cref="IBlockBackend"/>; the request is acknowledged only when the backend completes it.
/// Errors follow QEMU's <c>virtio_blk_handle_request</c>: a chain too short for the header or with no status byte is a
/// device error (NEEDS_RESET); a bad range, misalignment, oversize or read-only write gets IOERR; an unknown type UNSUPP.
/// </summary>
public sealed class BlockDevice : VirtioDevice
{
    /// <summary>The VIRTIO device ID of a block device.</summary>
    public const uint BlockDeviceId = 2;

    /// <summary>Bytes of config space this device exposes (up to <c>write_zeroes_may_unmap</c> and its padding).</summary>
    public const int ConfigBytes = 60;

    /// <summary>Bytes GET_ID returns.</summary>
    public const int IdBytes = 20;

    private const int HeaderBytes = VirtioBlkRequestHeader.Size;
    private const int SegmentDescriptorBytes = 16;
    private const byte StatusOk = 0;
    private const byte StatusIoErr = 1;
    private const byte StatusUnsupp = 2;

    private readonly IBlockBackend _backend;
    private readonly BlockBackendCapabilities _capabilities;
    private readonly bool _readOnly;
    private readonly BlockDeviceOptions _options;
    private readonly BlockRequest[][] _requests;
    private readonly byte[] _id = new byte[IdBytes];
    private readonly ulong _capacitySectors;
    private readonly ulong _sectorMask;
    private readonly int _segMax;
    private readonly KeyValuePair<string, object?> _deviceTag;
    private readonly BlockMetrics _metrics;

    /// <summary>A block device over <paramref name="backend"/> (which it disposes).</summary>
    public BlockDevice(GuestMemory memory, IBlockBackend backend, BlockDeviceOptions? options = null)
        : base(memory, BlockDeviceId, "virtio-blk", Validate(options).NumQueues, ConfigBytes, Features(backend, options ?? new()), (options ?? new()).Device)
    {
        _backend = backend;

        // Read once: a backend property that throws (or changes) later must not reach the request path.
        _capabilities = backend.Capabilities;
        _readOnly = backend.IsReadOnly;
        _options = options ?? new BlockDeviceOptions();
        _capacitySectors = backend.Capacity / 512;
        _sectorMask = (ulong)(_options.LogicalBlockSize / 512) - 1;
        _deviceTag = new("device", Name);
        _metrics = BlockMetrics.For(MeterFactory);
        int queueSize = _options.Device.QueueSize;

        // seg_max = queue size - 2, QEMU's choice (seg_max_adjust): the header and the status take two descriptors.
        _segMax = Math.Max(queueSize - 2, 1);
        Encoding.ASCII.GetBytes(_options.Serial.AsSpan(0, Math.Min(_options.Serial.Length, IdBytes)), _id);
        int maxRanges = (int)Math.Max(_options.MaxDiscardSegments, _options.MaxWriteZeroesSegments);
        _requests = new BlockRequest[Queues.Count][];
        for (int q = 0; q < Queues.Count; q++)
        {
            _requests[q] = new BlockRequest[queueSize];
            for (int h = 0; h < queueSize; h++)
            {
                _requests[q][h] = new BlockRequest(this, Queues[q], _segMax, maxRanges);
            }
        }

        WriteConfig();
    }

    /// <summary>The backend.</summary>
    public IBlockBackend Backend => _backend;

    /// <summary>Disk size in 512-byte sectors (<c>capacity</c>).</summary>
    public ulong CapacitySectors => _capacitySectors;

    /// <summary>The advertised and enforced <c>seg_max</c>.</summary>
    public int SegMax => _segMax;

    /// <summary>
    /// Whether the cache is in writeback mode (<c>writeback</c> in config space). Always false when the backend cannot
    /// flush: such a device is write-through, whatever <see cref="BlockDeviceOptions.Writeback"/> says.
    /// </summary>
    public bool Writeback => Config[32] != 0;

    /// <summary><c>writeback</c> at reset: the option, but 0 (write-through) when there is no FLUSH to offer.</summary>
    private byte InitialWriteback => _options.Writeback && (_capabilities & BlockBackendCapabilities.Flush) != 0 ? (byte)1 : (byte)0;

    /// <inheritdoc/>
    protected override void HandleChain(VirtioQueue queue, in DescriptorChain chain)
    {
        // Mirrors virtio_blk_handle_request: the header and the status byte must be there, or the driver is broken.
        if (chain.ReadableCount < 1 || chain.WritableCount < 1)
        {
            DeviceError(queue, chain, "virtio-blk missing headers");
            return;
        }

        // One walk of the chain for the header and a read's or write's data (QEMU maps the chain once, at pop, and
        // virtio_blk_handle_request parses that mapping); the header may span several buffers or share one with data.
        Span<byte> header = stackalloc byte[HeaderBytes];
        DescriptorChainEnumerator walk = chain.GetEnumerator();
        Span<byte> rest = default;
        int got = 0;
        while (got < HeaderBytes && walk.MoveNext())
        {
            DescriptorBuffer buffer = walk.Current;
            if (buffer.IsWritable)
            {
                break;
            }

            Span<byte> span = buffer.Span;
            int n = Math.Min(span.Length, HeaderBytes - got);
            span[..n].CopyTo(header[got..]);
            got += n;
            rest = span[n..];
        }

        if (got != HeaderBytes)
        {
            DeviceError(queue, chain, "virtio-blk request outhdr too short");
            return;
        }

        var outhdr = VirtioBlkRequestHeader.Read(header);
        VirtioBlkRequestType type = outhdr.Type;
        ulong sector = outhdr.Sector;
        BlockRequest request = _requests[queue.Index][chain.Head];
        request.Begin(chain, type);
        switch (type)
        {
            case VirtioBlkRequestType.In:
            case VirtioBlkRequestType.Out:
                StartReadWrite(request, chain, sector, ref walk, rest);
                break;
            case VirtioBlkRequestType.Flush:
                if ((_capabilities & BlockBackendCapabilities.Flush) == 0)
                {
                    Finish(request, StatusUnsupp, "the backend cannot flush");
                    break;
                }

                request.SetKind(BlockIoKind.Flush);
                Submit(request);
                break;
            case VirtioBlkRequestType.GetId:
                chain.CopyToWritable(_id.AsSpan(0, (int)Math.Min(chain.WritableLength - 1, IdBytes)));
                Finish(request, StatusOk, null);
                break;
            case VirtioBlkRequestType.Discard:
            case VirtioBlkRequestType.WriteZeroes:
                StartDiscardOrWriteZeroes(request, chain);
                break;
            default:
                Finish(request, StatusUnsupp, "unknown request type");
                break;
        }
    }

    /// <inheritdoc/>
    protected override bool WriteConfigField(int offset, ReadOnlySpan<byte> source)
    {
        // writeback is the only writable field, and only with VIRTIO_BLK_F_CONFIG_WCE (5.2.5).
        if (offset != 32 || source.Length != 1 || !HasFeature(VirtioBlkFeature.ConfigWce))
        {
            return false;
        }

        Config[32] = source[0] != 0 ? (byte)1 : (byte)0;
        return true;
    }

    /// <inheritdoc/>
    protected override void OnReset() => Config[32] = InitialWriteback;

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            try
            {
                _backend.Dispose();
            }
            catch (Exception e)
            {
                // The device is gone either way; a backend that fails to close must not fail its owner's cleanup.
                BlockLog.BackendFailed(Logger, Name, 0, 0, "Dispose", e);
            }
        }
    }

    /// <summary>The backend finished a request (any thread).</summary>
    internal void OnBackendComplete(BlockRequest request, BlockIoStatus status)
    {
        if (_metrics.InFlight.Enabled)
        {
            _metrics.InFlight.Add(-1, _deviceTag);
        }

        if (status == BlockIoStatus.Ok && request.FlushAfter)
        {
            // Writethrough: the write is acknowledged only once it is stable.
            request.FlushAfter = false;
            request.SetKind(BlockIoKind.Flush);
            Submit(request);
            return;
        }

        // A status outside the three the spec defines (a foreign backend's bug) reaches the driver as IOERR.
        byte value = status is BlockIoStatus.Ok or BlockIoStatus.IoError or BlockIoStatus.Unsupported ? (byte)status : StatusIoErr;
        Finish(request, value, status == BlockIoStatus.Ok ? null : "the backend failed the request");
    }

    /// <summary>The device's own completion path threw on the backend's thread: the device breaks.</summary>
    internal void OnCompletionFailed(BlockRequest request, Exception exception)
    {
        BlockLog.BackendFailed(Logger, Name, request.Queue.Index, request.Chain.Head, "Complete", exception);
        DeviceError($"virtio-blk completion failed: {exception.GetType().Name}: {exception.Message}");
    }

    private static BlockDeviceOptions Validate(BlockDeviceOptions? options)
    {
        options ??= new BlockDeviceOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(options.NumQueues, 1, nameof(options));
        int lbs = options.LogicalBlockSize;
        if (lbs < 512 || lbs > 65536 || (lbs & (lbs - 1)) != 0)
        {
            throw new ArgumentException($"logical block size {lbs} is not a power of two in 512..65536", nameof(options));
        }

        if (options.Device.QueueSize < 4)
        {
            throw new ArgumentException("virtio-blk needs queues of at least 4 entries (seg_max = size - 2)", nameof(options));
        }

        return options;
    }

    private static ulong Features(IBlockBackend backend, BlockDeviceOptions options)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ulong f = VirtioBlkFeature.SegMax | VirtioBlkFeature.BlockSize | VirtioBlkFeature.Topology;
        BlockBackendCapabilities caps = backend.Capabilities;

        // Section 5.2.5.2: CONFIG_WCE only with FLUSH. A cache the driver cannot flush must not be offered as
        // switchable: Linux would send FLUSH, get UNSUPP, and fail fsync.
        f |= (caps & BlockBackendCapabilities.Flush) != 0 ? VirtioBlkFeature.Flush | VirtioBlkFeature.ConfigWce : 0;
        f |= backend.IsReadOnly ? VirtioBlkFeature.ReadOnly : 0;
        f |= options.NumQueues > 1 ? VirtioBlkFeature.MultiQueue : 0;
        if (!backend.IsReadOnly)
        {
            f |= (caps & BlockBackendCapabilities.Discard) != 0 ? VirtioBlkFeature.Discard : 0;
            f |= (caps & BlockBackendCapabilities.WriteZeroes) != 0 ? VirtioBlkFeature.WriteZeroes : 0;
        }

        return f;
    }

    private void WriteConfig()
    {
        // struct virtio_blk_config (5.2.4), little-endian.
        Span<byte> c = Config;
        BinaryPrimitives.WriteUInt64LittleEndian(c, _capacitySectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[8..], 0); // size_max: not offered
        BinaryPrimitives.WriteUInt32LittleEndian(c[12..], (uint)_segMax);
        BinaryPrimitives.WriteUInt32LittleEndian(c[20..], (uint)_options.LogicalBlockSize);
        c[24] = 0; // physical_block_exp
        c[25] = 0; // alignment_offset
        BinaryPrimitives.WriteUInt16LittleEndian(c[26..], 1); // min_io_size (blocks)
        BinaryPrimitives.WriteUInt32LittleEndian(c[28..], 0); // opt_io_size
        c[32] = InitialWriteback;
        BinaryPrimitives.WriteUInt16LittleEndian(c[34..], (ushort)Queues.Count);
        BinaryPrimitives.WriteUInt32LittleEndian(c[36..], _options.MaxDiscardSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[40..], _options.MaxDiscardSegments);
        BinaryPrimitives.WriteUInt32LittleEndian(c[44..], _options.DiscardSectorAlignment);
        BinaryPrimitives.WriteUInt32LittleEndian(c[48..], _options.MaxWriteZeroesSectors);
        BinaryPrimitives.WriteUInt32LittleEndian(c[52..], _options.MaxWriteZeroesSegments);
        c[56] = 1; // write_zeroes_may_unmap
    }

    /// <summary>A read or write: its data segments from the rest of the walk, checked against seg_max and the disk.</summary>
    /// <param name="request">The request slot, begun.</param>
    /// <param name="chain">The chain.</param>
    /// <param name="sector">The header's sector.</param>
    /// <param name="walk">The walk that read the header, standing on the buffer that ended it.</param>
    /// <param name="rest">What follows the header in that buffer: a write's first data.</param>
    private void StartReadWrite(BlockRequest request, in DescriptorChain chain, ulong sector, ref DescriptorChainEnumerator walk, Span<byte> rest)
    {
        bool write = request.Type == VirtioBlkRequestType.Out;
        if (write && _readOnly)
        {
            Finish(request, StatusIoErr, "write to a read-only disk");
            return;
        }

        // The data: for a read, the writable part without its last byte (the status); for a write, the readable part
        // after the header. Each descriptor carrying data is one segment, limited to seg_max.
        ulong dataBytes = write ? chain.ReadableLength - HeaderBytes : chain.WritableLength - 1UL;
        ulong left = dataBytes;
        if (write && !rest.IsEmpty && left != 0 && !TryAddSegment(request, rest, ref left))
        {
            return;
        }

        while (left != 0 && walk.MoveNext())
        {
            DescriptorBuffer buffer = walk.Current;
            if (buffer.IsWritable == write)
            {
                continue; // a read takes only writable buffers, a write only readable ones
            }

            if (!TryAddSegment(request, buffer.Span, ref left))
            {
                return;
            }
        }

        if (left != 0)
        {
            // The walk ended early: the driver rewrote the chain after the pop (the ring is broken already).
            DeviceError(request.Queue, chain, "virtio-blk request chain changed while in flight");
            return;
        }

        request.SetStatusByte(StatusByte(ref walk));

        if (!SectorRangeOk(sector, dataBytes))
        {
            Finish(request, StatusIoErr, "sector range outside the disk or misaligned");
            return;
        }

        request.SetTransfer(write ? BlockIoKind.Write : BlockIoKind.Read, sector * 512);
        request.FlushAfter = write && !Writeback && (_capabilities & BlockBackendCapabilities.Flush) != 0;
        if (TraceEnabled)
        {
            if (write)
            {
                BlockLog.HandleWrite(Logger, Name, request.Queue.Index, sector, dataBytes / 512);
            }
            else
            {
                BlockLog.HandleRead(Logger, Name, request.Queue.Index, sector, dataBytes / 512);
            }
        }

        Submit(request);
    }

    /// <summary>
    /// The status byte, the last byte of the chain's last buffer when that is writable, from where the walk stands (for a
    /// read, one buffer further): the completion then writes it without walking the chain again. Empty when the last
    /// buffer is not writable; a walk that ended early broke the ring, and then nothing is completed.
    /// </summary>
    private static Span<byte> StatusByte(ref DescriptorChainEnumerator walk)
    {
        DescriptorBuffer last = walk.Current;
        while (walk.MoveNext())
        {
            last = walk.Current;
        }

        return last.IsWritable && last.Length != 0 ? last.Span[^1..] : default;
    }

    /// <summary>Adds the first <paramref name="left"/> bytes of <paramref name="data"/> as a segment; false (and IOERR) past seg_max.</summary>
    private bool TryAddSegment(BlockRequest request, Span<byte> data, ref ulong left)
    {
        if (request.SegmentCount == request.MaxSegments)
        {
            Finish(request, StatusIoErr, "more data segments than seg_max");
            return false;
        }

        int n = (int)Math.Min((ulong)data.Length, left);
        request.AddSegment(data[..n]);
        left -= (ulong)n;
        return true;
    }

    private void StartDiscardOrWriteZeroes(BlockRequest request, in DescriptorChain chain)
    {
        bool zeroes = request.Type == VirtioBlkRequestType.WriteZeroes;
        if (!HasFeature(zeroes ? VirtioBlkFeature.WriteZeroes : VirtioBlkFeature.Discard))
        {
            Finish(request, StatusUnsupp, "feature not negotiated");
            return;
        }

        ulong payload = chain.ReadableLength - HeaderBytes;
        if (payload < SegmentDescriptorBytes)
        {
            DeviceError(request.Queue, chain, "virtio-blk discard/write_zeroes header too short");
            return;
        }

        uint maxSegments = zeroes ? _options.MaxWriteZeroesSegments : _options.MaxDiscardSegments;
        uint maxSectors = zeroes ? _options.MaxWriteZeroesSectors : _options.MaxDiscardSectors;
        if (payload % SegmentDescriptorBytes != 0)
        {
            Finish(request, StatusIoErr, "segment list is not a whole number of 16-byte segments");
            return;
        }

        if (payload / SegmentDescriptorBytes > maxSegments || payload / SegmentDescriptorBytes > (ulong)request.MaxRanges)
        {
            Finish(request, StatusUnsupp, "more segments than the config allows");
            return;
        }

        Span<byte> segment = stackalloc byte[SegmentDescriptorBytes];
        for (uint offset = HeaderBytes; offset < chain.ReadableLength; offset += SegmentDescriptorBytes)
        {
            if (chain.CopyFromReadable(segment, offset) != SegmentDescriptorBytes)
            {
                DeviceError(request.Queue, chain, "virtio-blk request chain changed while in flight");
                return;
            }

            ulong sector = BinaryPrimitives.ReadUInt64LittleEndian(segment);
            uint sectors = BinaryPrimitives.ReadUInt32LittleEndian(segment[8..]);
            uint flags = BinaryPrimitives.ReadUInt32LittleEndian(segment[12..]);

            // Discard takes no flags; write-zeroes only UNMAP (QEMU virtio_blk_handle_discard_write_zeroes).
            if (zeroes ? (flags & ~1u) != 0 : flags != 0)
            {
                Finish(request, StatusUnsupp, "unsupported segment flags");
                return;
            }

            if (sectors > maxSectors || !SectorRangeOk(sector, (ulong)sectors * 512))
            {
                Finish(request, StatusIoErr, "segment outside the disk, misaligned or above the sector limit");
                return;
            }

            request.AddRange(new BlockRange(sector * 512, (ulong)sectors * 512, (flags & 1) != 0));
        }

        request.SetKind(zeroes ? BlockIoKind.WriteZeroes : BlockIoKind.Discard);
        request.FlushAfter = !Writeback && (_capabilities & BlockBackendCapabilities.Flush) != 0;
        Submit(request);
    }

    private bool SectorRangeOk(ulong sector, ulong bytes)
    {
        // virtio_blk_sect_range_ok: whole logical blocks, aligned, inside the disk (no overflow).
        if (bytes % (ulong)_options.LogicalBlockSize != 0 || (sector & _sectorMask) != 0)
        {
            return false;
        }

        ulong sectors = bytes / 512;
        return sector <= _capacitySectors && sectors <= _capacitySectors - sector;
    }

    /// <summary>
    /// A backend completed a request twice, or after it threw from <see cref="IBlockBackend.Submit"/>: ignored, as the
    /// request was already given back.
    /// </summary>
    internal void OnBackendDoubleComplete(BlockRequest request) =>
        BlockLog.BackendDoubleComplete(Logger, Name, request.Queue.Index, request.Chain.Head);

    private void Submit(BlockRequest request)
    {
        // An instrument nobody listens to costs one branch per request, not a measurement (also in Finish).
        if (_metrics.InFlight.Enabled)
        {
            _metrics.InFlight.Add(1, _deviceTag);
        }

        request.MarkSubmitted();
        try
        {
            _backend.Submit(request);
        }
        catch (Exception e)
        {
            // The contract says Submit does not throw: a backend that does is broken, and may still hold the request
            // (its buffers), so completing it with IOERR would let the driver reuse them. Break the device and give the
            // chain up without a used element (virtio_error + virtqueue_detach_element); a late completion is ignored.
            BlockLog.BackendFailed(Logger, Name, request.Queue.Index, request.Chain.Head, "Submit", e);
            if (request.TryTakeBack())
            {
                if (_metrics.InFlight.Enabled)
                {
                    _metrics.InFlight.Add(-1, _deviceTag);
                }

                DeviceError(request.Queue, request.Chain, $"virtio-blk backend failed: {e.GetType().Name}: {e.Message}");
            }
            else
            {
                DeviceError($"virtio-blk backend failed after completing: {e.GetType().Name}: {e.Message}");
            }
        }
    }

    private void Finish(BlockRequest request, byte status, string? reason)
    {
        VirtioQueue queue = request.Queue;
        ref readonly DescriptorChain chain = ref request.Chain;
        VirtioBlkRequestType type = request.Type;
        ulong bytes = request.Length;
        if (status != StatusOk)
        {
            _metrics.Errors.Add(1, _deviceTag, new("status", status == StatusIoErr ? "ioerr" : "unsupp"));
            if (Logger.IsEnabled(LogLevel.Debug))
            {
                BlockLog.BadRequest(Logger, Name, queue.Index, chain.Head, type, status, reason ?? "");
            }
        }
        else if (_metrics.Requests.Enabled || _metrics.Bytes.Enabled)
        {
            _metrics.Requests.Add(1, _deviceTag, new("type", TypeName(type)));
            if (bytes != 0)
            {
                _metrics.Bytes.Add((long)bytes, _deviceTag, new("type", TypeName(type)));
            }
        }

        if (TraceEnabled)
        {
            BlockLog.ReqComplete(Logger, Name, queue.Index, chain.Head, type, status);
        }

        // QEMU pushes the whole writable length (req->in_len) whatever the outcome.
        Span<byte> statusByte = request.StatusByte;
        if (statusByte.IsEmpty)
        {
            queue.CompleteWithStatus(chain, chain.WritableLength, status);
        }
        else
        {
            queue.CompleteWithStatus(chain, chain.WritableLength, status, statusByte);
        }
    }

    private static string TypeName(VirtioBlkRequestType type) => type switch
    {
        VirtioBlkRequestType.In => "in",
        VirtioBlkRequestType.Out => "out",
        VirtioBlkRequestType.Flush => "flush",
        VirtioBlkRequestType.GetId => "get_id",
        VirtioBlkRequestType.Discard => "discard",
        VirtioBlkRequestType.WriteZeroes => "write_zeroes",
        _ => "other",
    };
}
