namespace Virtio.Devices.Block;

/// <summary>How a <see cref="FileBlockBackend"/> opens its file and runs its requests.</summary>
public sealed class FileBlockBackendOptions
{
    /// <summary>The disk image: a regular file whose length, rounded down to 512, is the capacity.</summary>
    public required string Path { get; init; }

    /// <summary>Open the file read-only and refuse writes, discards and write-zeroes (VIRTIO_BLK_F_RO).</summary>
    public bool ReadOnly { get; init; }

    /// <summary>
    /// When set, create the file if it does not exist and extend it to at least this many bytes (sparse where the file
    /// system allows); a longer file is never truncated. Must be a multiple of 512 and cannot be combined with
    /// <see cref="ReadOnly"/>.
    /// </summary>
    public ulong? CreateSize { get; init; }

    /// <summary>
    /// True: every request runs on the thread pool and completes from there, so requests complete out of order and
    /// never on the submitting thread. False (the default): requests complete inline, on the caller's thread.
    /// </summary>
    public bool Asynchronous { get; init; }
}
