namespace Virtio.Devices.Block;

/// <summary>One byte range of a discard or write-zeroes request, already checked against the disk's capacity.</summary>
/// <param name="Offset">First byte.</param>
/// <param name="Length">Bytes.</param>
/// <param name="Unmap">For write-zeroes: the backend may deallocate the range (VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP).</param>
public readonly record struct BlockRange(ulong Offset, ulong Length, bool Unmap);
