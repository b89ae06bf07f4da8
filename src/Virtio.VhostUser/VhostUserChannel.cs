using System.Buffers.Binary;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// Message framing on one vhost-user connection: a 12-byte header (request, flags with version 1, payload size), the
/// payload, and up to 8 descriptors in SCM_RIGHTS ancillary data that arrive with the header, as QEMU's
/// <c>vhost_user_read</c> and libvhost-user's <c>vu_message_read_default</c> expect them.
/// </summary>
/// <remarks>One reader and one writer thread at a time. The channel owns the socket.</remarks>
internal sealed class VhostUserChannel : IDisposable
{
    private readonly byte[] _send = new byte[VhostUserProtocol.HeaderSize + VhostUserProtocol.MaxPayloadSize];
    private readonly Lock _sendLock = new();

    public VhostUserChannel(FileDescriptor socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        Socket = socket;
    }

    public FileDescriptor Socket { get; }

    /// <summary>Reads one message. Descriptors of a message that is refused are closed before returning.</summary>
    public VhostUserReceiveResult Receive(VhostUserMessage message)
    {
        Span<byte> header = stackalloc byte[VhostUserProtocol.HeaderSize];
        int n = UnixSocket.Receive(Socket, header, message.FdBuffer, out int fdCount, out bool truncated);
        message.Set(0, 0, 0, fdCount);
        if (truncated)
        {
            return VhostUserReceiveResult.TooManyFds;
        }

        if (n == 0)
        {
            message.CloseFds();
            return VhostUserReceiveResult.EndOfFile;
        }

        // The header may arrive in pieces on a stream socket; the descriptors came with its first byte.
        if (n < header.Length && !UnixSocket.ReceiveExact(Socket, header[n..], out _))
        {
            message.CloseFds();
            return VhostUserReceiveResult.ShortHeader;
        }

        uint request = BinaryPrimitives.ReadUInt32LittleEndian(header);
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        uint size = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
        message.Set(request, flags, 0, fdCount);
        if ((flags & VhostUserProtocol.FlagVersionMask) != VhostUserProtocol.FlagVersion)
        {
            message.CloseFds();
            return VhostUserReceiveResult.BadVersion;
        }

        if (size > VhostUserProtocol.MaxPayloadSize)
        {
            // The stream cannot be resynchronised without reading an unbounded payload: end the connection.
            message.CloseFds();
            return VhostUserReceiveResult.OversizePayload;
        }

        if (!UnixSocket.ReceiveExact(Socket, message.PayloadBuffer[..(int)size], out _))
        {
            message.CloseFds();
            return VhostUserReceiveResult.ShortPayload;
        }

        message.Set(request, flags, (int)size, fdCount);
        return VhostUserReceiveResult.Message;
    }

    /// <summary>Sends one message with <paramref name="fds"/> (not closed: the caller keeps them).</summary>
    public void Send(VhostUserRequest request, uint flags, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default)
    {
        if (payload.Length > VhostUserProtocol.MaxPayloadSize)
        {
            throw new ArgumentException($"payload of {payload.Length} bytes is above {VhostUserProtocol.MaxPayloadSize}", nameof(payload));
        }

        lock (_sendLock)
        {
            Span<byte> bytes = _send.AsSpan(0, VhostUserProtocol.HeaderSize + payload.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, (uint)request);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes[4..], flags | VhostUserProtocol.FlagVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(bytes[8..], (uint)payload.Length);
            payload.CopyTo(bytes[VhostUserProtocol.HeaderSize..]);
            UnixSocket.Send(Socket, bytes, fds);
        }
    }

    /// <summary>Replies to <paramref name="message"/> with <paramref name="payload"/>.</summary>
    public void Reply(VhostUserMessage message, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default) =>
        Send(message.Request, VhostUserProtocol.FlagReply, payload, fds);

    /// <summary>Replies with one u64 (a value, or REPLY_ACK's status: 0 success).</summary>
    public void ReplyU64(VhostUserMessage message, ulong value)
    {
        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(payload, value);
        Reply(message, payload);
    }

    public void Dispose() => Socket.Dispose();
}
