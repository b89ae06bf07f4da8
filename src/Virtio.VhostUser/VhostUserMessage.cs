using System.Buffers.Binary;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// One received message: its header, payload and descriptors. Reused for every message of a connection (no
/// allocation per message). A handler that keeps a descriptor takes it with <see cref="TakeFd"/>; the channel closes
/// the others once the message is handled.
/// </summary>
internal sealed class VhostUserMessage
{
    private readonly byte[] _payload = new byte[VhostUserProtocol.MaxPayloadSize];
    private readonly int[] _fds = new int[VhostUserProtocol.MaxFds];

    public VhostUserRequest Request { get; private set; }

    public uint Flags { get; private set; }

    public int Size { get; private set; }

    public int FdCount { get; private set; }

    public bool NeedReply => (Flags & VhostUserProtocol.FlagNeedReply) != 0;

    public ReadOnlySpan<byte> Payload => _payload.AsSpan(0, Size);

    internal Span<byte> PayloadBuffer => _payload;

    internal Span<int> FdBuffer => _fds;

    public ulong U64(int offset) => BinaryPrimitives.ReadUInt64LittleEndian(Payload[offset..]);

    public uint U32(int offset) => BinaryPrimitives.ReadUInt32LittleEndian(Payload[offset..]);

    /// <summary>Takes ownership of the <paramref name="index"/>-th descriptor, or null when there is none.</summary>
    public FileDescriptor? TakeFd(int index = 0)
    {
        if ((uint)index >= (uint)FdCount || _fds[index] < 0)
        {
            return null;
        }

        var fd = new FileDescriptor(_fds[index]);
        _fds[index] = -1;
        return fd;
    }

    internal void Set(uint request, uint flags, int size, int fdCount)
    {
        Request = (VhostUserRequest)request;
        Flags = flags;
        Size = size;
        FdCount = fdCount;
    }

    /// <summary>Closes every descriptor nobody took.</summary>
    internal void CloseFds()
    {
        for (int i = 0; i < FdCount; i++)
        {
            if (_fds[i] >= 0)
            {
                FileDescriptor.CloseAll([_fds[i]]);
                _fds[i] = -1;
            }
        }

        FdCount = 0;
    }
}
