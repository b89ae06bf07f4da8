namespace Virtio.Memory;

/// <summary>
/// Thrown only by the convenience accessors of <see cref="GuestMemory"/> (the ones without <c>Try</c>), which a host
/// or a test harness calls with addresses it chose itself. Code that handles guest-controlled addresses uses the
/// <c>Try</c> forms, which return a <see cref="GuestMemoryError"/> instead.
/// </summary>
public sealed class GuestMemoryException : Exception
{
    /// <summary>Creates the exception for a refused access.</summary>
    public GuestMemoryException(GuestMemoryError error, ulong address, ulong length)
        : base($"guest memory access of {length} byte(s) at 0x{address:x} refused: {error}")
    {
        Error = error;
        Address = address;
        Length = length;
    }

    /// <summary>Creates the exception with a message.</summary>
    public GuestMemoryException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public GuestMemoryException(string message, Exception innerException) : base(message, innerException) { }

    /// <summary>Creates the exception.</summary>
    public GuestMemoryException() { }

    /// <summary>Why the access was refused.</summary>
    public GuestMemoryError Error { get; }

    /// <summary>The guest-physical address of the refused access.</summary>
    public ulong Address { get; }

    /// <summary>The length of the refused access.</summary>
    public ulong Length { get; }
}
