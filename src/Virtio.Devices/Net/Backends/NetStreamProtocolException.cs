namespace Virtio.Devices.Net;

/// <summary>
/// The peer of a <see cref="StreamNetBackend"/> broke the stream framing (a 4-byte big-endian length, then the frame):
/// a length of 0 or above <see cref="VirtioNetDevice.MaxFrameLength"/>, or a stream that ends inside a frame.
/// </summary>
public sealed class NetStreamProtocolException : IOException
{
    /// <summary>Creates the exception with a default message.</summary>
    public NetStreamProtocolException()
        : base("the stream broke the length-prefixed frame format")
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/>.</summary>
    public NetStreamProtocolException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with <paramref name="message"/> and its cause.</summary>
    public NetStreamProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a frame length the peer announced.</summary>
    /// <param name="frameLength">The length as read from the wire (unsigned 32-bit).</param>
    /// <param name="message">What is wrong with it.</param>
    public NetStreamProtocolException(long frameLength, string message)
        : base(message)
    {
        FrameLength = frameLength;
    }

    /// <summary>The frame length that broke the format, when a length did; otherwise null.</summary>
    public long? FrameLength { get; }
}
