namespace Virtio.Devices.Block;

/// <summary>What a <see cref="BlockIo"/> asks the backend to do.</summary>
public enum BlockIoKind
{
    /// <summary>Copy <see cref="BlockIo.Length"/> bytes from <see cref="BlockIo.Offset"/> into the segments.</summary>
    Read,

    /// <summary>Copy the segments to <see cref="BlockIo.Offset"/>.</summary>
    Write,

    /// <summary>Make every write completed before this request durable.</summary>
    Flush,

    /// <summary>The ranges' contents may be dropped; reads of them afterwards may return anything.</summary>
    Discard,

    /// <summary>The ranges read back as zeroes afterwards; <see cref="BlockRange.Unmap"/> allows deallocating them.</summary>
    WriteZeroes,
}
