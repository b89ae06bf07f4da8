using System.Buffers.Binary;

namespace Virtio.Devices.Tests.Net;

/// <summary>A classic little-endian pcap file, parsed by hand to check what the tap wrote.</summary>
internal sealed record PcapRecords(uint Magic, ushort VersionMajor, ushort VersionMinor, int ThisZone, uint SigFigs, uint SnapLength, uint LinkType, IReadOnlyList<PcapRecord> Records)
{
    public static PcapRecords Parse(byte[] file)
    {
        ReadOnlySpan<byte> s = file;
        Assert.True(s.Length >= 24, $"a pcap file has a 24-byte header, this one is {s.Length} bytes");
        var records = new List<PcapRecord>();
        int offset = 24;
        while (offset < s.Length)
        {
            Assert.True(s.Length - offset >= 16, $"a record header is cut at offset {offset}");
            uint included = BinaryPrimitives.ReadUInt32LittleEndian(s[(offset + 8)..]);
            Assert.True(s.Length - offset - 16 >= included, $"a record's data is cut at offset {offset}");
            records.Add(new PcapRecord(
                BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]),
                BinaryPrimitives.ReadUInt32LittleEndian(s[(offset + 4)..]),
                included,
                BinaryPrimitives.ReadUInt32LittleEndian(s[(offset + 12)..]),
                s.Slice(offset + 16, (int)included).ToArray()));
            offset += 16 + (int)included;
        }

        return new PcapRecords(
            BinaryPrimitives.ReadUInt32LittleEndian(s),
            BinaryPrimitives.ReadUInt16LittleEndian(s[4..]),
            BinaryPrimitives.ReadUInt16LittleEndian(s[6..]),
            BinaryPrimitives.ReadInt32LittleEndian(s[8..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[12..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[16..]),
            BinaryPrimitives.ReadUInt32LittleEndian(s[20..]),
            records);
    }
}

internal sealed record PcapRecord(uint Seconds, uint Microseconds, uint IncludedLength, uint OriginalLength, byte[] Data);
