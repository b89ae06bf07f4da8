using System.Buffers.Binary;

namespace Virtio.Devices.Net;

/// <summary>
/// Writes the classic libpcap file format (what QEMU's <c>filter-dump</c> writes): a 24-byte global header, then a
/// 16-byte header and the captured bytes per frame, all in little-endian with the microsecond magic. Not thread-safe.
/// </summary>
internal sealed class PcapWriter
{
    /// <summary>The microsecond-timestamp magic; written little-endian it reads <c>d4 c3 b2 a1</c>.</summary>
    public const uint Magic = 0xa1b2c3d4;

    /// <summary><c>LINKTYPE_ETHERNET</c>.</summary>
    public const uint LinkTypeEthernet = 1;

    public const int GlobalHeaderSize = 24;

    public const int RecordHeaderSize = 16;

    private readonly Stream _stream;
    private readonly int _snapLength;
    private readonly byte[] _recordHeader = new byte[RecordHeaderSize];

    public PcapWriter(Stream stream, int snapLength)
    {
        _stream = stream;
        _snapLength = snapLength;
    }

    public void WriteGlobalHeader()
    {
        Span<byte> header = stackalloc byte[GlobalHeaderSize];
        BinaryPrimitives.WriteUInt32LittleEndian(header, Magic);
        BinaryPrimitives.WriteUInt16LittleEndian(header[4..], 2); // version_major
        BinaryPrimitives.WriteUInt16LittleEndian(header[6..], 4); // version_minor
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], 0); // thiszone: timestamps are UTC
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0); // sigfigs
        BinaryPrimitives.WriteUInt32LittleEndian(header[16..], (uint)_snapLength);
        BinaryPrimitives.WriteUInt32LittleEndian(header[20..], LinkTypeEthernet);
        _stream.Write(header);
    }

    /// <summary>Writes one record: the frame cut to the snap length (<c>incl_len</c>), its full length as <c>orig_len</c>.</summary>
    public void WriteRecord(DateTimeOffset timestamp, ReadOnlySpan<byte> frame)
    {
        // Before 1970 cannot be written (ts_sec is unsigned): such a clock is clamped to the epoch.
        long ticks = Math.Max(0, timestamp.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks);
        int included = Math.Min(frame.Length, _snapLength);
        Span<byte> header = _recordHeader;
        BinaryPrimitives.WriteUInt32LittleEndian(header, (uint)(ticks / TimeSpan.TicksPerSecond));
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], (uint)(ticks % TimeSpan.TicksPerSecond / TimeSpan.TicksPerMicrosecond));
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], (uint)included);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], (uint)frame.Length);
        _stream.Write(header);
        _stream.Write(frame[..included]);
    }
}
