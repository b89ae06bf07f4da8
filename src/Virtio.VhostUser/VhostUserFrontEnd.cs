using System.Buffers.Binary;
using Virtio.Rings;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// The front-end side of vhost-user, as a C# VMM uses a device back-end written elsewhere (this project's, QEMU's
/// <c>qemu-storage-daemon</c>, DPDK's): negotiate, share guest RAM, set rings up for a driver, pass kick and call
/// eventfds, read the device's config. Mirrors the order of QEMU's <c>vhost_dev_start</c>.
/// </summary>
/// <remarks>
/// One thread at a time. Every request the back-end could refuse is sent with NEED_REPLY once REPLY_ACK is negotiated,
/// and a refusal throws <see cref="VhostUserException"/>. Replies are validated like requests on the back-end side.
/// </remarks>
public sealed class VhostUserFrontEnd : IDisposable
{
    private readonly VhostUserChannel _channel;
    private readonly VhostUserMessage _reply = new();
    private bool _replyAck;

    private VhostUserFrontEnd(FileDescriptor socket) => _channel = new VhostUserChannel(socket);

    /// <summary>The protocol features both sides agreed on (after <see cref="Negotiate"/>).</summary>
    public VhostUserProtocolFeature ProtocolFeatures { get; private set; }

    /// <summary>The virtio features acknowledged (after <see cref="Negotiate"/>).</summary>
    public ulong Features { get; private set; }

    /// <summary>Connects to a back-end listening on <paramref name="path"/>.</summary>
    /// <exception cref="IOException">The connection failed.</exception>
    public static VhostUserFrontEnd Connect(string path) => new(UnixSocket.Connect(path));

    /// <summary>Uses a connected socket (for example one end of a socket pair), taking ownership of it.</summary>
    public static VhostUserFrontEnd FromSocket(FileDescriptor socket)
    {
        ArgumentNullException.ThrowIfNull(socket);
        return new VhostUserFrontEnd(socket);
    }

    /// <summary>GET_FEATURES.</summary>
    public ulong GetFeatures() => Get(VhostUserRequest.GetFeatures);

    /// <summary>
    /// The opening QEMU performs: GET_FEATURES, GET/SET_PROTOCOL_FEATURES (the ones both sides have, of
    /// <paramref name="wantedProtocol"/>), SET_OWNER, SET_FEATURES with the offered features masked by
    /// <paramref name="wantedFeatures"/> (PROTOCOL_FEATURES kept when offered).
    /// </summary>
    /// <returns>The acknowledged virtio features.</returns>
    public ulong Negotiate(ulong wantedFeatures, VhostUserProtocolFeature wantedProtocol =
        VhostUserProtocolFeature.MultiQueue | VhostUserProtocolFeature.ReplyAck | VhostUserProtocolFeature.Config)
    {
        ulong offered = GetFeatures();
        if ((offered & VhostUserProtocol.ProtocolFeaturesFeature) != 0)
        {
            var protocol = (VhostUserProtocolFeature)Get(VhostUserRequest.GetProtocolFeatures) & wantedProtocol;
            Send(VhostUserRequest.SetProtocolFeatures, U64(stackalloc byte[8], (ulong)protocol), ack: false);
            ProtocolFeatures = protocol;
            _replyAck = (protocol & VhostUserProtocolFeature.ReplyAck) != 0;
        }

        Send(VhostUserRequest.SetOwner, []);
        Features = offered & (wantedFeatures | VhostUserProtocol.ProtocolFeaturesFeature);
        Send(VhostUserRequest.SetFeatures, U64(stackalloc byte[8], Features));
        return Features;
    }

    /// <summary>GET_QUEUE_NUM (needs MQ).</summary>
    public int GetQueueNum() => (int)Math.Min(Get(VhostUserRequest.GetQueueNum), int.MaxValue);

    /// <summary>GET_CONFIG: reads <paramref name="destination"/>.Length bytes of config space at <paramref name="offset"/>.</summary>
    public void GetConfig(uint offset, Span<byte> destination)
    {
        if (destination.Length > VhostUserProtocol.MaxConfigSize)
        {
            throw new ArgumentException($"at most {VhostUserProtocol.MaxConfigSize} bytes", nameof(destination));
        }

        Span<byte> request = stackalloc byte[12 + destination.Length];
        request.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(request, offset);
        BinaryPrimitives.WriteUInt32LittleEndian(request[4..], (uint)destination.Length);
        _channel.Send(VhostUserRequest.GetConfig, 0, request);
        VhostUserMessage reply = ReadReply(VhostUserRequest.GetConfig);
        if (reply.Size != request.Length)
        {
            throw new VhostUserException($"GET_CONFIG reply of {reply.Size} bytes, {request.Length} expected");
        }

        reply.Payload[12..].CopyTo(destination);
    }

    /// <summary>SET_MEM_TABLE with one region per shared memory.</summary>
    public void SetMemTable(params ReadOnlySpan<SharedGuestMemory> regions)
    {
        if (regions.Length is 0 or > VhostUserProtocol.MaxMemTableRegions)
        {
            throw new ArgumentException($"1 to {VhostUserProtocol.MaxMemTableRegions} regions", nameof(regions));
        }

        Span<byte> payload = stackalloc byte[8 + (32 * regions.Length)];
        payload.Clear();
        Span<int> fds = stackalloc int[regions.Length];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)regions.Length);
        for (int i = 0; i < regions.Length; i++)
        {
            Span<byte> r = payload[(8 + (32 * i))..];
            BinaryPrimitives.WriteUInt64LittleEndian(r, regions[i].GuestPhysicalAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(r[8..], regions[i].Size);
            BinaryPrimitives.WriteUInt64LittleEndian(r[16..], (ulong)regions[i].UserAddress);
            BinaryPrimitives.WriteUInt64LittleEndian(r[24..], 0);
            fds[i] = regions[i].Fd.Value;
        }

        Send(VhostUserRequest.SetMemTable, payload, fds);
    }

    /// <summary>
    /// Sets ring <paramref name="index"/> up as QEMU's <c>vhost_virtqueue_start</c> does: NUM, BASE, ADDR (user
    /// addresses in <paramref name="memory"/>), CALL, KICK, then ENABLE when PROTOCOL_FEATURES was negotiated.
    /// </summary>
    public void StartRing(int index, SplitRingLayout layout, int size, SharedGuestMemory memory, EventFdNotifier kick, EventFdNotifier call, ushort baseIndex = 0)
    {
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(kick);
        ArgumentNullException.ThrowIfNull(call);
        Span<byte> state = stackalloc byte[8];
        Send(VhostUserRequest.SetVringNum, State(state, index, (uint)size));
        Send(VhostUserRequest.SetVringBase, State(state, index, baseIndex));
        Span<byte> addr = stackalloc byte[40];
        addr.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(addr, (uint)index);
        BinaryPrimitives.WriteUInt64LittleEndian(addr[8..], memory.UserAddressOf(layout.DescriptorTable));
        BinaryPrimitives.WriteUInt64LittleEndian(addr[16..], memory.UserAddressOf(layout.UsedRing));
        BinaryPrimitives.WriteUInt64LittleEndian(addr[24..], memory.UserAddressOf(layout.AvailRing));
        Send(VhostUserRequest.SetVringAddr, addr);
        Send(VhostUserRequest.SetVringCall, U64(stackalloc byte[8], (ulong)index), [call.Fd]);
        Send(VhostUserRequest.SetVringKick, U64(stackalloc byte[8], (ulong)index), [kick.Fd]);
        if ((Features & VhostUserProtocol.ProtocolFeaturesFeature) != 0)
        {
            Send(VhostUserRequest.SetVringEnable, State(state, index, 1));
        }
    }

    /// <summary>
    /// GET_INFLIGHT_FD, then SET_INFLIGHT_FD with the region it returned, as QEMU's vhost-user-blk does at its first
    /// start (needs INFLIGHT_SHMFD, and comes before the rings start): the back-end records its requests in flight
    /// there. Keep the region, and hand it to the back-end that replaces a dead one with
    /// <see cref="SetInflightFd"/>, so that it resubmits what the dead one left.
    /// </summary>
    /// <returns>The region's memfd; the caller owns it.</returns>
    public FileDescriptor SetUpInflight(int numQueues, int queueSize)
    {
        if ((ProtocolFeatures & VhostUserProtocolFeature.InflightShmfd) == 0)
        {
            throw new VhostUserException("VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD was not negotiated");
        }

        Span<byte> payload = Inflight(stackalloc byte[24], 0, numQueues, queueSize);
        _channel.Send(VhostUserRequest.GetInflightFd, 0, payload);
        VhostUserMessage reply = ReadReply(VhostUserRequest.GetInflightFd, keepFds: true);
        FileDescriptor? region;
        ulong size;
        try
        {
            size = reply.Size >= 8 ? reply.U64(0) : 0;
            region = reply.TakeFd();
        }
        finally
        {
            reply.CloseFds();
        }

        if (region is null || size == 0)
        {
            region?.Dispose();
            throw new VhostUserException("GET_INFLIGHT_FD reply without a region");
        }

        try
        {
            SetInflightFd(region, numQueues, queueSize);
        }
        catch
        {
            region.Dispose();
            throw;
        }

        return region;
    }

    /// <summary>SET_INFLIGHT_FD: shares <paramref name="region"/> (from <see cref="SetUpInflight"/>), all of its file.</summary>
    public void SetInflightFd(FileDescriptor region, int numQueues, int queueSize)
    {
        ArgumentNullException.ThrowIfNull(region);
        long size = SharedMemory.FileSize(region.Value);
        if (size <= 0)
        {
            throw new VhostUserException("the inflight region's file is empty");
        }

        Send(VhostUserRequest.SetInflightFd, Inflight(stackalloc byte[24], (ulong)size, numQueues, queueSize), [region.Value]);
    }

    /// <summary>GET_VRING_BASE: stops ring <paramref name="index"/> and returns the back-end's next available index.</summary>
    public ushort StopRing(int index)
    {
        _channel.Send(VhostUserRequest.GetVringBase, 0, State(stackalloc byte[8], index, 0));
        VhostUserMessage reply = ReadReply(VhostUserRequest.GetVringBase);
        if (reply.Size < 8 || reply.U32(0) != (uint)index || reply.U32(4) > ushort.MaxValue)
        {
            throw new VhostUserException($"GET_VRING_BASE reply for ring {index} is malformed");
        }

        return (ushort)reply.U32(4);
    }

    /// <summary>Closes the connection.</summary>
    public void Dispose() => _channel.Dispose();

    private ulong Get(VhostUserRequest request)
    {
        _channel.Send(request, 0, []);
        VhostUserMessage reply = ReadReply(request);
        if (reply.Size != 8)
        {
            throw new VhostUserException($"{request} reply of {reply.Size} bytes, 8 expected");
        }

        return reply.U64(0);
    }

    private void Send(VhostUserRequest request, ReadOnlySpan<byte> payload, ReadOnlySpan<int> fds = default, bool ack = true)
    {
        bool needReply = ack && _replyAck;
        _channel.Send(request, needReply ? VhostUserProtocol.FlagNeedReply : 0, payload, fds);
        if (needReply)
        {
            VhostUserMessage reply = ReadReply(request);
            if (reply.Size != 8 || reply.U64(0) != 0)
            {
                throw new VhostUserException($"the back-end refused {request}");
            }
        }
    }

    private VhostUserMessage ReadReply(VhostUserRequest request, bool keepFds = false)
    {
        try
        {
            VhostUserReceiveResult result = _channel.Receive(_reply);
            if (result != VhostUserReceiveResult.Message)
            {
                throw new VhostUserException($"no reply to {request}: {result}");
            }

            if (_reply.Request != request || (_reply.Flags & VhostUserProtocol.FlagReply) == 0)
            {
                throw new VhostUserException($"expected a reply to {request}, got {_reply.Request} with flags 0x{_reply.Flags:x}");
            }

            return _reply;
        }
        finally
        {
            if (!keepFds)
            {
                _reply.CloseFds(); // a back-end has no reason to send descriptors in these replies
            }
        }
    }

    private static ReadOnlySpan<byte> U64(Span<byte> buffer, ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, value);
        return buffer;
    }

    private static Span<byte> Inflight(Span<byte> buffer, ulong size, int numQueues, int queueSize)
    {
        buffer.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(buffer, size);
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[16..], checked((ushort)numQueues));
        BinaryPrimitives.WriteUInt16LittleEndian(buffer[18..], checked((ushort)queueSize));
        return buffer;
    }

    private static ReadOnlySpan<byte> State(Span<byte> buffer, int index, uint num)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(buffer, (uint)index);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer[4..], num);
        return buffer;
    }
}
