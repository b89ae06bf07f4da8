using CsCheck;
using Virtio.Devices.Block;

namespace Virtio.Devices.Tests.Support;

/// <summary>A well-formed virtio-blk request (header, data, status byte) with any header and data size.</summary>
/// <param name="Type">The header's type, known or not.</param>
/// <param name="Sector">The header's sector.</param>
/// <param name="DataBytes">Bytes of data (written by the device for IN, read otherwise).</param>
/// <param name="Segments">Descriptors the data is split into.</param>
internal readonly record struct BlkRequestShape(VirtioBlkRequestType Type, ulong Sector, int DataBytes, int Segments);

/// <summary>
/// CsCheck generators for virtio-blk requests: mostly reads and writes near the disk, sometimes other or unknown types,
/// sectors anywhere and lengths that are not whole sectors. Failing requests shrink to a small read at sector 0.
/// </summary>
internal static class BlkGen
{
    /// <summary>IN and OUT most often, then the other types, then any 32-bit value.</summary>
    public static readonly Gen<VirtioBlkRequestType> Type = Gen.Frequency(
        (4, Gen.OneOfConst(VirtioBlkRequestType.In, VirtioBlkRequestType.Out)),
        (1, Gen.OneOfConst(VirtioBlkRequestType.Flush, VirtioBlkRequestType.GetId, VirtioBlkRequestType.Discard, VirtioBlkRequestType.WriteZeroes)),
        (1, Gen.UInt.Select(t => (VirtioBlkRequestType)t)));

    /// <summary>A request on a disk of <paramref name="capacitySectors"/> sectors: mostly on it, sometimes past its end.</summary>
    public static Gen<BlkRequestShape> Request(ulong capacitySectors) => Gen.Select(
        Type,
        Gen.Frequency((4, Gen.ULong[0, capacitySectors - 1]), (1, Gen.ULong)),
        Gen.Frequency((4, Gen.Int[1, 8].Select(n => n * 512)), (1, Gen.Int[1, 5000])),
        Gen.Int[1, 4],
        (type, sector, bytes, segments) =>
        {
            // A discard or write-zeroes payload shorter than one 16-byte segment is malformed: the device breaks as QEMU
            // does ("virtio-blk discard/write_zeroes header too short", BlockDeviceTests), so it is not drawn here.
            bytes = type is VirtioBlkRequestType.Discard or VirtioBlkRequestType.WriteZeroes ? Math.Max(bytes, 16) : bytes;
            return new BlkRequestShape(type, sector, bytes, Math.Min(segments, bytes));
        });
}
