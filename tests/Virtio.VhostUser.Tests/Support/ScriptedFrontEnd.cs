using System.Buffers.Binary;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Memory;
using Virtio.Notifications;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser.Tests.Support;

/// <summary>
/// A front-end written message by message over a socket pair, against a <see cref="VhostUserBackend"/> serving a
/// virtio-blk device on its own thread. Guest RAM is a memfd this process maps too, so the test can build rings in it
/// at the same user addresses QEMU would send.
/// </summary>
internal sealed class ScriptedFrontEnd : IDisposable
{
    public const string MemfdName = "vhost-test-ram";
    public const ulong RamSize = 1 << 20;

    private readonly VhostUserMessage _reply = new();
    private readonly IBlockBackend _disk;
    private readonly Func<IBlockBackend, IBlockBackend>? _wrapBackend;
    private readonly Func<int, IEventNotifier, IEventNotifier>? _wrapCall;
    private readonly int _numQueues;
    private readonly int _queueSize;
    private readonly Func<GuestMemory, VirtioDevice>? _device;
    private readonly List<VhostUserBackend> _deadBackends = [];
    private Thread _serveThread = null!;
    private bool _disposed;

    public ScriptedFrontEnd(int numQueues = 1, int queueSize = 256, Func<IBlockBackend, IBlockBackend>? wrapBackend = null,
        Func<int, IEventNotifier, IEventNotifier>? wrapCall = null, Func<GuestMemory, VirtioDevice>? device = null)
    {
        _disk = new MemoryBlockBackend(1 << 20);
        _wrapBackend = wrapBackend;
        _wrapCall = wrapCall;
        _numQueues = numQueues;
        _queueSize = queueSize;
        _device = device;
        Connect();
        RamFd = SharedMemory.CreateMemfd(MemfdName, RamSize);
        RamUserAddress = SharedMemory.TryMap(RamFd.Value, RamSize, out _);
        Ram = new GuestMemory(GuestMemoryRegion.Wrap(0, RamSize, RamUserAddress));
    }

    /// <summary>The back-end of the current connection.</summary>
    public VhostUserBackend Backend { get; private set; } = null!;

    public VhostUserChannel Channel { get; private set; } = null!;

    public FileDescriptor RamFd { get; }

    /// <summary>Where this process mapped guest RAM: the <c>userspace_addr</c> a front-end sends.</summary>
    public nint RamUserAddress { get; }

    /// <summary>The front-end's view of guest RAM (gpa 0).</summary>
    public GuestMemory Ram { get; }

    public ulong User(ulong guestPhysicalAddress) => (ulong)RamUserAddress + guestPhysicalAddress;

    public void Send(VhostUserRequest request, ReadOnlySpan<byte> payload = default, ReadOnlySpan<int> fds = default, bool needReply = false) =>
        Channel.Send(request, needReply ? VhostUserProtocol.FlagNeedReply : 0, payload, fds);

    /// <summary>Sends with NEED_REPLY and returns the REPLY_ACK status (0 success).</summary>
    public ulong SendAcked(VhostUserRequest request, ReadOnlySpan<byte> payload = default, ReadOnlySpan<int> fds = default)
    {
        Send(request, payload, fds, needReply: true);
        return ReadReply(request).U64(0);
    }

    public VhostUserMessage ReadReply(VhostUserRequest request)
    {
        Assert.Equal(VhostUserReceiveResult.Message, Channel.Receive(_reply));
        Assert.Equal(request, _reply.Request);
        Assert.NotEqual(0u, _reply.Flags & VhostUserProtocol.FlagReply);
        return _reply;
    }

    public ulong Get(VhostUserRequest request)
    {
        Send(request);
        return ReadReply(request).U64(0);
    }

    /// <summary>The usual opening: features (with PROTOCOL_FEATURES), protocol features, owner.</summary>
    public void Negotiate(VhostUserProtocolFeature protocol = VhostUserProtocolFeature.ReplyAck | VhostUserProtocolFeature.Config
        | VhostUserProtocolFeature.MultiQueue | VhostUserProtocolFeature.ConfigureMemSlots)
    {
        ulong features = Get(VhostUserRequest.GetFeatures);
        Assert.Equal(0u, SendAcked(VhostUserRequest.SetFeatures, U64(features)));
        Get(VhostUserRequest.GetProtocolFeatures);
        Send(VhostUserRequest.SetProtocolFeatures, U64((ulong)protocol));
        Send(VhostUserRequest.SetOwner);
    }

    public ulong SetMemTable(params (ulong Gpa, ulong Size, ulong User, ulong Offset)[] regions)
    {
        byte[] payload = MemTable(regions);
        int[] fds = Enumerable.Repeat(RamFd.Value, regions.Length).ToArray();
        return SendAcked(VhostUserRequest.SetMemTable, payload, fds);
    }

    /// <summary>All of guest RAM as one region, as QEMU sends a memory-backend-memfd.</summary>
    public ulong SetMemTable() => SetMemTable((0, RamSize, User(0), 0));

    public static byte[] MemTable(params (ulong Gpa, ulong Size, ulong User, ulong Offset)[] regions)
    {
        byte[] payload = new byte[8 + (32 * regions.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)regions.Length);
        for (int i = 0; i < regions.Length; i++)
        {
            Span<byte> r = payload.AsSpan(8 + (32 * i));
            BinaryPrimitives.WriteUInt64LittleEndian(r, regions[i].Gpa);
            BinaryPrimitives.WriteUInt64LittleEndian(r[8..], regions[i].Size);
            BinaryPrimitives.WriteUInt64LittleEndian(r[16..], regions[i].User);
            BinaryPrimitives.WriteUInt64LittleEndian(r[24..], regions[i].Offset);
        }

        return payload;
    }

    public static byte[] U64(ulong value)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(b, value);
        return b;
    }

    public static byte[] State(uint index, uint num)
    {
        byte[] b = new byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(b, index);
        BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan(4), num);
        return b;
    }

    public static byte[] Addr(uint index, ulong desc, ulong used, ulong avail)
    {
        byte[] b = new byte[40];
        BinaryPrimitives.WriteUInt32LittleEndian(b, index);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(8), desc);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(16), used);
        BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan(24), avail);
        return b;
    }

    /// <summary>
    /// Kills the connection as a back-end crash would look to the front-end (the socket closes), then connects a new
    /// back-end process (a new <see cref="VhostUserBackend"/> over the same disk) to the same guest RAM. The old back-end
    /// is left as it ended, its requests never completed, and disposed with this front-end.
    /// </summary>
    public void Reconnect()
    {
        UnixSocket.Shutdown(Channel.Socket);
        Assert.True(_serveThread.Join(TimeSpan.FromSeconds(30)), "the old back-end did not end its connection");
        Channel.Dispose();
        _deadBackends.Add(Backend);
        Connect();
    }

    /// <summary>Waits for the back-end to end the connection (generous deadline).</summary>
    public bool WaitClosed() => _serveThread.Join(TimeSpan.FromSeconds(30));

    private void Connect()
    {
        IBlockBackend disk = _wrapBackend?.Invoke(_disk) ?? _disk;
        Backend = new VhostUserBackend(
            _device ?? (memory => new BlockDevice(memory, disk, new BlockDeviceOptions
            {
                NumQueues = _numQueues,
                Device = new() { QueueSize = _queueSize, ResetDrainTimeout = TimeSpan.FromSeconds(2) },
            })),
            new VhostUserBackendOptions { DrainTimeout = TimeSpan.FromSeconds(2), WrapCall = _wrapCall });
        (FileDescriptor mine, FileDescriptor theirs) = UnixSocket.Pair();
        Channel = new VhostUserChannel(mine);
        VhostUserBackend backend = Backend;
        _serveThread = new Thread(() => backend.Serve(theirs)) { IsBackground = true, Name = "vhost-test-backend" };
        _serveThread.Start();
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        UnixSocket.Shutdown(Channel.Socket);
        _serveThread.Join(TimeSpan.FromSeconds(30));
        Channel.Dispose();
        Backend.Dispose();
        _deadBackends.ForEach(b => b.Dispose());
        Ram.Dispose();
        SharedMemory.Unmap(RamUserAddress, RamSize);
        RamFd.Dispose();
    }
}
