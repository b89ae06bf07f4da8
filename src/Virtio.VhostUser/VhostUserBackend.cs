using System.Buffers.Binary;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Virtio.Device;
using Virtio.Memory;
using Virtio.Rings;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// A vhost-user back-end: serves one <see cref="VirtioDevice"/> to a front-end (QEMU, DPDK virtio-user, a C# VMM) over
/// a Unix socket. One message loop validates and dispatches each request (the shape of libvhost-user's
/// <c>vu_dispatch</c> and rust-vmm's <c>BackendReqHandler</c>); the device's queues know nothing of the socket. The
/// front-end's memory is mapped from the descriptors it sends, ring addresses are translated from its user addresses,
/// and kicks arrive on eventfds watched by one poll thread.
/// </summary>
/// <remarks>
/// <para>The front-end is untrusted: a malformed frame ends the connection; a bad request is refused with an error reply
/// (REPLY_ACK) or, for a request that has a reply of its own, by ending the connection; either way it is logged. No ring
/// runs on memory that is not mapped: memory changes stop the running rings first and restart them after.</para>
/// <para>With INFLIGHT_SHMFD each running ring records its requests in flight in the front-end's inflight region, and a
/// ring started on a region that still holds some (the back-end was killed, the front-end reconnected) resubmits them
/// first, oldest first, so that the guest sees each completed once.</para>
/// <para>Out of scope: dirty-page logging and migration, the back-end-initiated channel, postcopy.</para>
/// </remarks>
public sealed class VhostUserBackend : IDisposable, IBusyPollTarget
{
    private const VhostUserProtocolFeature SupportedProtocolFeatures =
        VhostUserProtocolFeature.MultiQueue | VhostUserProtocolFeature.ReplyAck
        | VhostUserProtocolFeature.Config | VhostUserProtocolFeature.ConfigureMemSlots
        | VhostUserProtocolFeature.InflightShmfd;

    private readonly VhostUserBackendOptions _options;
    private readonly ILogger _logger;
    private readonly VhostUserMemoryMap _map;
    private readonly Vring[] _vrings;
    private readonly KickPoller _poller;
    private readonly VhostUserMessage _message = new();
    private InflightRegion? _inflight;
    private int _serving;
    private ulong _features;
    private VhostUserProtocolFeature _protocolFeatures;
    private bool _protocolFeaturesSet;
    private bool _featuresSet;
    private int _errorSignalled;

    /// <summary>Creates the device over this back-end's guest memory (empty until the front-end shares its own).</summary>
    /// <param name="createDevice">Builds the device on the memory it is given.</param>
    /// <param name="options">Settings; defaults when null.</param>
    public VhostUserBackend(Func<GuestMemory, VirtioDevice> createDevice, VhostUserBackendOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(createDevice);
        _options = options ?? new VhostUserBackendOptions();
        Memory = new GuestMemory();
        Device = createDevice(Memory);
        Name = _options.Name ?? Device.Name;
        _logger = _options.LoggerFactory?.CreateLogger("Virtio.VhostUser." + Name) ?? NullLogger.Instance;
        _map = new VhostUserMemoryMap(Memory);
        _vrings = new Vring[Device.Queues.Count];
        for (int i = 0; i < _vrings.Length; i++)
        {
            _vrings[i] = new Vring();
            Device.Queues[i].Call = _options.WrapCall?.Invoke(i, _vrings[i].Call) ?? _vrings[i].Call;
        }

        ArgumentOutOfRangeException.ThrowIfNegative(_options.PollIdle.Ticks, nameof(options));
        _poller = new KickPoller(_vrings.Length, OnKick, OnBadKick, Name + "-kick", _options.PollIdle > TimeSpan.Zero ? this : null, _options.PollIdle);
    }

    /// <summary>The device served.</summary>
    public VirtioDevice Device { get; }

    /// <summary>Guest memory: the front-end's regions, mapped.</summary>
    public GuestMemory Memory { get; }

    /// <summary>The name in logs.</summary>
    public string Name { get; }

    /// <summary>Messages handled on the current or last connection.</summary>
    public long Messages { get; private set; }

    /// <summary>Requests refused (bad payload, bad values, out of order, unsupported).</summary>
    public long Refusals { get; private set; }

    /// <summary>Why the last connection ended (null while serving, or after a clean end of file).</summary>
    public string? CloseReason { get; private set; }

    /// <summary>Busy-poll spells the kick thread ended, notifications back on (<see cref="VhostUserBackendOptions.PollIdle"/>); 0 when it does not poll.</summary>
    public long PollSpells => _poller.PollSpells;

    /// <summary>Bytes allocated by the kick thread, where the device serves requests (for allocation tests).</summary>
    internal long KickThreadAllocatedBytes => _poller.AllocatedBytes;

    /// <summary>Whether ring <paramref name="queue"/> is running (started, enabled, and served by the device).</summary>
    public bool IsRingRunning(int queue) => _vrings[queue].Running;

    /// <summary>
    /// Serves one connection until the front-end closes it, a framing error ends it, or <paramref name="cancellationToken"/>
    /// fires. Takes ownership of <paramref name="socket"/>. On return every ring is stopped (its requests completed or
    /// failed), every region unmapped and every descriptor the front-end sent closed; the back-end can serve again.
    /// </summary>
    /// <exception cref="InvalidOperationException">Another connection is being served.</exception>
    public void Serve(FileDescriptor socket, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(socket);
        if (Interlocked.Exchange(ref _serving, 1) != 0)
        {
            socket.Dispose();
            throw new InvalidOperationException($"{Name}: already serving a connection");
        }

        using var channel = new VhostUserChannel(socket);
        using FileDescriptor stop = EventFd.Create();
        using CancellationTokenRegistration registration = cancellationToken.Register(() => EventFd.Signal(stop.Value));
        Messages = 0;
        CloseReason = null;
        VhostUserLog.Connected(_logger, Name);
        try
        {
            CloseReason = Loop(channel, stop);
        }
        catch (IOException e)
        {
            CloseReason = e.Message;
        }
        finally
        {
            EndConnection();
            if (CloseReason is not null)
            {
                VhostUserLog.ConnectionClosed(_logger, Name, CloseReason);
            }

            VhostUserLog.Disconnected(_logger, Name, Messages);
            Volatile.Write(ref _serving, 0);
        }
    }

    /// <summary>Stops the kick thread and disposes the device.</summary>
    public void Dispose()
    {
        _poller.Dispose();
        foreach (Vring vring in _vrings)
        {
            vring.Call.Dispose();
        }

        Device.Dispose();
        if (!Memory.IsInUse)
        {
            _map.Clear();
        }

        Memory.Dispose();
    }

    private string? Loop(VhostUserChannel channel, FileDescriptor stop)
    {
        Span<Poller.Entry> entries = stackalloc Poller.Entry[2];
        while (true)
        {
            entries[0] = new Poller.Entry(channel.Socket.Value);
            entries[1] = new Poller.Entry(stop.Value);
            Poller.Wait(entries, -1);
            if (entries[1].Readable)
            {
                return "stopped";
            }

            VhostUserReceiveResult result = channel.Receive(_message);
            if (result == VhostUserReceiveResult.EndOfFile)
            {
                return null;
            }

            if (result != VhostUserReceiveResult.Message)
            {
                return $"bad message framing: {result}";
            }

            Messages++;
            try
            {
                if (Dispatch(channel, _message) is { } fatal)
                {
                    return fatal;
                }
            }
            catch (Exception e) when (e is not (IOException or OutOfMemoryException))
            {
                // A bug of ours must end this connection (cleanly, below), never the process serving it.
                VhostUserLog.InternalError(_logger, Name, e);
                return $"internal error handling {_message.Request}: {e.Message}";
            }
            finally
            {
                _message.CloseFds();
            }
        }
    }

    /// <summary>Handles one message; returns why the connection must end, or null.</summary>
    private string? Dispatch(VhostUserChannel channel, VhostUserMessage m)
    {
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            VhostUserLog.Read(_logger, Name, m.Request, (uint)m.Request, m.Flags, m.Size, m.FdCount);
        }

        if ((m.Flags & VhostUserProtocol.FlagReply) != 0)
        {
            return Refuse(m, "a front-end message with the REPLY flag");
        }

        string? error;
        switch (m.Request)
        {
            // Requests with a reply of their own: a bad one ends the connection (the front-end waits for a reply
            // it would misread).
            case VhostUserRequest.GetFeatures:
                channel.ReplyU64(m, Device.DeviceFeatures | VhostUserProtocol.ProtocolFeaturesFeature);
                return null;
            case VhostUserRequest.GetProtocolFeatures:
                channel.ReplyU64(m, (ulong)SupportedProtocolFeatures);
                return null;
            case VhostUserRequest.GetQueueNum:
                channel.ReplyU64(m, (ulong)_vrings.Length);
                return null;
            case VhostUserRequest.GetMaxMemSlots:
                channel.ReplyU64(m, (ulong)_options.MaxMemSlots);
                return null;
            case VhostUserRequest.GetVringBase:
                return GetVringBase(channel, m) is { } e1 ? Refuse(m, e1) : null;
            case VhostUserRequest.GetConfig:
                return GetConfig(channel, m) is { } e2 ? Refuse(m, e2) : null;
            case VhostUserRequest.GetInflightFd:
                return GetInflightFd(channel, m) is { } e3 ? Refuse(m, e3) : null;

            case VhostUserRequest.SetFeatures:
                error = SetFeatures(m);
                break;
            case VhostUserRequest.SetProtocolFeatures:
                error = SetProtocolFeatures(m);
                break;
            case VhostUserRequest.SetOwner:
                error = null;
                break;
            case VhostUserRequest.ResetOwner:
                error = ResetOwner();
                break;
            case VhostUserRequest.SetMemTable:
                error = SetMemTable(m);
                break;
            case VhostUserRequest.AddMemReg:
                error = AddMemReg(m);
                break;
            case VhostUserRequest.RemMemReg:
                error = RemMemReg(m);
                break;
            case VhostUserRequest.SetVringNum:
                error = SetVringNum(m);
                break;
            case VhostUserRequest.SetVringAddr:
                error = SetVringAddr(m);
                break;
            case VhostUserRequest.SetVringBase:
                error = SetVringBase(m);
                break;
            case VhostUserRequest.SetVringKick:
                error = SetVringKick(m);
                break;
            case VhostUserRequest.SetVringCall:
                error = SetVringCallOrErr(m, err: false);
                break;
            case VhostUserRequest.SetVringErr:
                error = SetVringCallOrErr(m, err: true);
                break;
            case VhostUserRequest.SetVringEnable:
                error = SetVringEnable(m);
                break;
            case VhostUserRequest.SetConfig:
                error = SetConfig(m);
                break;
            case VhostUserRequest.SetInflightFd:
                error = SetInflightFd(m);
                break;
            default:
                VhostUserLog.Unsupported(_logger, Name, m.Request, (uint)m.Request);
                if (!m.NeedReply && HasOwnReply(m.Request))
                {
                    Refusals++;
                    return $"unsupported request {m.Request} ({(uint)m.Request}) that needs a reply";
                }

                error = "unsupported";
                break;
        }

        if (error is not null)
        {
            Refusals++;
            VhostUserLog.Refused(_logger, Name, m.Request, error);
        }

        if (m.NeedReply)
        {
            channel.ReplyU64(m, error is null ? 0UL : 1UL);
        }

        return null;
    }

    private static bool HasOwnReply(VhostUserRequest request) => request is VhostUserRequest.GetInflightFd
        or VhostUserRequest.GetStatus or VhostUserRequest.PostcopyAdvise or VhostUserRequest.IotlbMsg
        or VhostUserRequest.SetLogBase or VhostUserRequest.CreateCryptoSession;

    private string Refuse(VhostUserMessage m, string error)
    {
        Refusals++;
        VhostUserLog.Refused(_logger, Name, m.Request, error);
        return $"{m.Request}: {error}";
    }

    private bool TryRing(VhostUserMessage m, int minSize, out Vring vring, out int index, out string? error)
    {
        vring = null!;
        index = -1;
        if (m.Size < minSize)
        {
            error = $"payload of {m.Size} bytes, at least {minSize} expected";
            return false;
        }

        uint raw = m.Request is VhostUserRequest.SetVringKick or VhostUserRequest.SetVringCall or VhostUserRequest.SetVringErr
            ? (uint)(m.U64(0) & VhostUserProtocol.VringIndexMask)
            : m.U32(0);
        if (raw >= (uint)_vrings.Length)
        {
            error = $"ring index {raw} out of range (the device has {_vrings.Length})";
            return false;
        }

        index = (int)raw;
        vring = _vrings[index];
        error = null;
        return true;
    }

    private string? SetFeatures(VhostUserMessage m)
    {
        if (m.Size < 8)
        {
            return $"payload of {m.Size} bytes, 8 expected";
        }

        ulong features = m.U64(0);
        ulong offered = Device.DeviceFeatures | VhostUserProtocol.ProtocolFeaturesFeature;
        if ((features & ~offered) != 0)
        {
            return $"features 0x{features:x} include bits 0x{features & ~offered:x} that were not offered";
        }

        if (AnyRunning() && features != _features)
        {
            return "features changed while rings run";
        }

        _features = features;
        _featuresSet = true;
        return null;
    }

    private string? SetProtocolFeatures(VhostUserMessage m)
    {
        if (m.Size < 8)
        {
            return $"payload of {m.Size} bytes, 8 expected";
        }

        var features = (VhostUserProtocolFeature)m.U64(0);
        if ((features & ~SupportedProtocolFeatures) != 0)
        {
            return $"protocol features 0x{(ulong)features:x} include bits that were not offered";
        }

        _protocolFeatures = features;
        _protocolFeaturesSet = true;
        return null;
    }

    private string? ResetOwner()
    {
        StopAll(forget: true);
        _features = 0;
        _featuresSet = false;
        return null;
    }

    private string? SetMemTable(VhostUserMessage m)
    {
        if (m.Size < 8)
        {
            return $"payload of {m.Size} bytes, at least 8 expected";
        }

        uint count = m.U32(0);
        if (count == 0 || count > VhostUserProtocol.MaxMemTableRegions)
        {
            return $"{count} regions, 1 to {VhostUserProtocol.MaxMemTableRegions} allowed";
        }

        if (m.Size < 8 + (32 * (int)count))
        {
            return $"payload of {m.Size} bytes is too short for {count} regions";
        }

        if (m.FdCount != count)
        {
            return $"{count} regions but {m.FdCount} descriptors";
        }

        var regions = new VhostUserMemoryMap.Description[count];
        for (int i = 0; i < count; i++)
        {
            regions[i] = ReadRegion(m, 8 + (32 * i));
            if (regions[i].Validate() is { } invalid)
            {
                return invalid;
            }

            for (int j = 0; j < i; j++)
            {
                if (regions[i].Overlaps(regions[j]))
                {
                    return $"regions {j} and {i} overlap";
                }
            }
        }

        return ChangeMemory(() =>
        {
            _map.Clear();
            for (int i = 0; i < regions.Length; i++)
            {
                using FileDescriptor fd = m.TakeFd(i)!;
                if (_map.Add(regions[i], fd) is { } failed)
                {
                    _map.Clear();
                    return failed;
                }

                LogRegion(regions[i]);
            }

            return null;
        });
    }

    private string? AddMemReg(VhostUserMessage m)
    {
        if (m.Size < 40)
        {
            return $"payload of {m.Size} bytes, 40 expected";
        }

        if (m.FdCount != 1)
        {
            return $"{m.FdCount} descriptors, 1 expected";
        }

        VhostUserMemoryMap.Description region = ReadRegion(m, 8);
        if (_map.TryAddReference(region))
        {
            return null; // the same region from another queue pair's vhost_dev: already mapped, no ring stops
        }

        if (_map.Count >= _options.MaxMemSlots)
        {
            return $"all {_options.MaxMemSlots} memory slots are in use";
        }

        if ((region.Validate() ?? _map.CheckOverlap(region)) is { } invalid)
        {
            return invalid;
        }

        return ChangeMemory(() =>
        {
            using FileDescriptor fd = m.TakeFd()!;
            string? failed = _map.Add(region, fd);
            if (failed is null)
            {
                LogRegion(region);
            }

            return failed;
        });
    }

    private string? RemMemReg(VhostUserMessage m)
    {
        // QEMU sends the region's descriptor with REM_MEM_REG too; it is closed with the message.
        if (m.Size < 40)
        {
            return $"payload of {m.Size} bytes, 40 expected";
        }

        VhostUserMemoryMap.Description region = ReadRegion(m, 8);
        if (_map.TryDropReference(region.GuestPhysicalAddress, region.Size))
        {
            return null; // another vhost_dev still has it in its table
        }

        return ChangeMemory(() => _map.Remove(region.GuestPhysicalAddress, region.Size));
    }

    /// <summary>Stops the running rings, changes the memory, restarts them: no ring runs on a region being replaced.</summary>
    private string? ChangeMemory(Func<string?> change)
    {
        var stopped = new List<int>();
        for (int i = 0; i < _vrings.Length; i++)
        {
            if (_vrings[i].Running)
            {
                StopRing(i);
                stopped.Add(i);
            }
        }

        if (Memory.IsInUse)
        {
            // Requests that outlived the drain still point into the old mappings: they must stay mapped.
            return "guest memory is still in use by requests that did not finish";
        }

        string? error = change();
        foreach (int i in stopped)
        {
            if (TryStart(i) is { } restart)
            {
                VhostUserLog.Refused(_logger, Name, VhostUserRequest.SetMemTable, $"ring {i} cannot restart: {restart}");
            }
        }

        return error;
    }

    private string? SetVringNum(VhostUserMessage m)
    {
        if (!TryRing(m, 8, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        uint num = m.U32(4);
        int max = Device.Queues[index].Ring.MaxSize;
        if (!SplitRing.IsValidSize((int)Math.Min(num, int.MaxValue)) || num > (uint)max)
        {
            return $"ring {index} size {num} is not a power of two in 1..{max}";
        }

        if (vring.Running)
        {
            return $"ring {index} is running";
        }

        vring.Num = (int)num;
        return null;
    }

    private string? SetVringAddr(VhostUserMessage m)
    {
        if (!TryRing(m, 40, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        if (vring.Running)
        {
            return $"ring {index} is running";
        }

        vring.DescUser = m.U64(8);
        vring.UsedUser = m.U64(16);
        vring.AvailUser = m.U64(24);
        vring.AddressSet = true;
        return null;
    }

    private string? SetVringBase(VhostUserMessage m)
    {
        if (!TryRing(m, 8, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        uint value = m.U32(4);
        if (value > ushort.MaxValue)
        {
            return $"ring {index} base {value} is not a 16-bit index";
        }

        if (vring.Running)
        {
            return $"ring {index} is running";
        }

        vring.Base = (ushort)value;
        return null;
    }

    private string? GetVringBase(VhostUserChannel channel, VhostUserMessage m)
    {
        if (!TryRing(m, 8, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        // Stops the ring (vhost-user.rst: "the back-end must stop the ring"), its requests completed or failed first.
        if (vring.Running)
        {
            StopRing(index);
        }

        vring.Started = false;
        vring.Enabled = false;
        vring.Kick?.Dispose();
        vring.Kick = null;
        if (!AnyRunning() && Device.Status != DeviceStatus.None)
        {
            Device.Reset();
        }

        Span<byte> payload = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32LittleEndian(payload, (uint)index);
        BinaryPrimitives.WriteUInt32LittleEndian(payload[4..], vring.Base);
        channel.Reply(m, payload);
        return null;
    }

    /// <summary>
    /// A SET_VRING_KICK, _CALL or _ERR's ring, and no more than one descriptor unless the NOFD bit says none is used
    /// (libvhost-user's <c>vu_check_queue_msg_file</c> refuses the same): which of several a front-end meant is not
    /// guessed.
    /// </summary>
    private bool TryRingFd(VhostUserMessage m, out Vring vring, out int index, out string? error)
    {
        if (!TryRing(m, 8, out vring, out index, out error))
        {
            return false;
        }

        if (m.FdCount > 1 && (m.U64(0) & VhostUserProtocol.VringNoFdMask) == 0)
        {
            error = $"ring {index}: {m.FdCount} descriptors, at most 1 expected";
            return false;
        }

        return true;
    }

    private string? SetVringKick(VhostUserMessage m)
    {
        if (!TryRingFd(m, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        if ((m.U64(0) & VhostUserProtocol.VringNoFdMask) != 0)
        {
            return $"ring {index}: polling without a kick descriptor is not supported";
        }

        FileDescriptor? fd = m.TakeFd();
        if (fd is null)
        {
            return $"ring {index}: kick without a descriptor";
        }

        if (vring.Running)
        {
            _poller.SetKick(index, fd)?.Dispose();
            return null;
        }

        vring.Kick?.Dispose();
        vring.Kick = fd;
        vring.Started = true;
        return TryStart(index);
    }

    private string? SetVringCallOrErr(VhostUserMessage m, bool err)
    {
        if (!TryRingFd(m, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        FileDescriptor? fd = null;
        if ((m.U64(0) & VhostUserProtocol.VringNoFdMask) == 0 && (fd = m.TakeFd()) is null)
        {
            return $"ring {index}: no descriptor and no NOFD bit";
        }

        if (err)
        {
            vring.Err?.Dispose();
            vring.Err = fd;
        }
        else
        {
            vring.Call.Replace(fd);
        }

        return null;
    }

    private string? SetVringEnable(VhostUserMessage m)
    {
        if (!TryRing(m, 8, out Vring vring, out int index, out string? error))
        {
            return error;
        }

        uint enable = m.U32(4);
        if (enable > 1)
        {
            return $"ring {index}: enable value {enable}";
        }

        if (!ProtocolFeaturesNegotiated)
        {
            return "SET_VRING_ENABLE without VHOST_USER_F_PROTOCOL_FEATURES";
        }

        vring.Enabled = enable == 1;
        if (vring.Enabled)
        {
            return TryStart(index);
        }

        if (vring.Running)
        {
            StopRing(index);
        }

        return null;
    }

    private string? GetConfig(VhostUserChannel channel, VhostUserMessage m)
    {
        if (ConfigRequest(m, out uint offset, out uint size) is { } error)
        {
            return error;
        }

        Span<byte> reply = stackalloc byte[12 + (int)size];
        m.Payload[..12].CopyTo(reply);
        Device.ReadConfig((int)offset, reply[12..]);
        channel.Reply(m, reply);
        return null;
    }

    private string? SetConfig(VhostUserMessage m)
    {
        if (ConfigRequest(m, out uint offset, out uint size) is { } error)
        {
            return error;
        }

        return Device.WriteConfig((int)offset, m.Payload.Slice(12, (int)size)) ? null : $"config write of {size} bytes at {offset} refused";
    }

    private string? ConfigRequest(VhostUserMessage m, out uint offset, out uint size)
    {
        offset = size = 0;
        if ((_protocolFeatures & VhostUserProtocolFeature.Config) == 0)
        {
            return "VHOST_USER_PROTOCOL_F_CONFIG was not negotiated";
        }

        if (m.Size < 12)
        {
            return $"payload of {m.Size} bytes, at least 12 expected";
        }

        offset = m.U32(0);
        size = m.U32(4);
        if (size > VhostUserProtocol.MaxConfigSize || offset > VhostUserProtocol.MaxConfigSize || m.Size != 12 + (int)size)
        {
            return $"config access of {size} bytes at {offset} in a payload of {m.Size} bytes";
        }

        return null;
    }

    /// <summary>
    /// VHOST_USER_F_PROTOCOL_FEATURES is in force once the front-end acknowledged it in SET_FEATURES or used
    /// SET_PROTOCOL_FEATURES (which it may only do after seeing the bit offered): QEMU's vhost-user net restores
    /// each ring's enable state (SET_VRING_ENABLE) in <c>vhost_net_start</c> before it sends SET_FEATURES.
    /// </summary>
    private bool ProtocolFeaturesNegotiated => (_features & VhostUserProtocol.ProtocolFeaturesFeature) != 0 || _protocolFeaturesSet;

    private bool AnyRunning() => Array.Exists(_vrings, v => v.Running);

    /// <summary>
    /// Starts ring <paramref name="index"/> in the device when it has a kick and (with PROTOCOL_FEATURES) is enabled:
    /// translates its addresses, brings the device up if it is not, enables the queue at the front-end's base.
    /// </summary>
    private string? TryStart(int index)
    {
        Vring vring = _vrings[index];
        if (vring.Running || !vring.Started || (ProtocolFeaturesNegotiated && !vring.Enabled))
        {
            return null;
        }

        if (!vring.AddressSet)
        {
            return $"ring {index} started without SET_VRING_ADDR";
        }

        if (!_map.TryTranslateUser(vring.DescUser, out ulong desc) || !_map.TryTranslateUser(vring.AvailUser, out ulong avail)
            || !_map.TryTranslateUser(vring.UsedUser, out ulong used))
        {
            return $"ring {index}: an address (desc 0x{vring.DescUser:x}, avail 0x{vring.AvailUser:x}, used 0x{vring.UsedUser:x}) is in no memory region";
        }

        if (Device.IsBroken)
        {
            return $"ring {index}: the device needs a reset ({Device.BrokenReason}); stop every ring first";
        }

        if (!Device.IsLive && BringUp() is { } refused)
        {
            return refused;
        }

        VirtioQueue queue = Device.Queues[index];
        SplitQueue ring = queue.Ring;
        if (ring.IsReady)
        {
            return $"ring {index} is still in use";
        }

        ushort start = vring.Base;
        InflightQueueLog? log = null;
        ushort[] resubmit = [];
        if ((_protocolFeatures & VhostUserProtocolFeature.InflightShmfd) != 0 && _inflight is { } region
            && RecoverInflight(index, region, used, out log, out start, out resubmit) is { } notRecovered)
        {
            return notRecovered;
        }

        ring.Size = vring.Num;
        ring.DescriptorTableAddress = desc;
        ring.AvailRingAddress = avail;
        ring.UsedRingAddress = used;
        ring.InflightLog = log;
        ring.SetState(new SplitQueueState(start, start, start, 0, 0, false, true));
        ring.Resubmit(resubmit);
        if (!Device.EnableQueue(index))
        {
            string reason = Device.BrokenReason ?? "the queue could not be enabled";
            DisableQueue(index);
            SignalError();
            return $"ring {index}: {reason}";
        }

        vring.Running = true;
        _poller.SetKick(index, vring.Kick)?.Dispose();
        vring.Kick = null;
        VhostUserLog.RingStarted(_logger, Name, index, vring.Num, start, desc, avail, used);
        return null; // EnableQueue already served what the driver made available before the ring started
    }

    private string? BringUp()
    {
        if (!_featuresSet)
        {
            return "a ring started before SET_FEATURES";
        }

        if (Device.Status != DeviceStatus.None)
        {
            Device.Reset();
        }

        Device.SetDriverFeatures(_features & ~(VhostUserProtocol.ProtocolFeaturesFeature | VhostUserProtocol.LogAllFeature));
        DeviceStatus status = DeviceStatus.Acknowledge | DeviceStatus.Driver | DeviceStatus.FeaturesOk;
        Device.WriteStatus(status);
        if ((Device.Status & DeviceStatus.FeaturesOk) == 0)
        {
            Device.Reset();
            return $"the device refused features 0x{_features:x}";
        }

        Interlocked.Exchange(ref _errorSignalled, 0);
        Device.WriteStatus(status | DeviceStatus.DriverOk);
        return null;
    }

    /// <summary>Stops a running ring: no more kicks, its requests drained, the device queue reset; keeps its base.</summary>
    private void StopRing(int index)
    {
        Vring vring = _vrings[index];
        vring.Kick = _poller.SetKick(index, null);
        VirtioQueue queue = Device.Queues[index];
        long start = Stopwatch.GetTimestamp();
        while (queue.InFlight > 0 && Stopwatch.GetElapsedTime(start) < _options.DrainTimeout)
        {
            Thread.Sleep(1);
        }

        int left = queue.InFlight;
        if (left > 0)
        {
            VhostUserLog.DrainTimeout(_logger, Name, index, left, _options.DrainTimeout);
        }

        vring.Base = queue.Ring.LastAvailIdx;
        vring.Running = false;
        DisableQueue(index);
        VhostUserLog.RingStopped(_logger, Name, index, vring.Base);
    }

    /// <summary>Resets the device's queue and detaches it from the inflight region, which may be unmapped next.</summary>
    private void DisableQueue(int index)
    {
        Device.DisableQueue(index);
        Device.Queues[index].Ring.InflightLog = null;
    }

    /// <summary>
    /// Reads ring <paramref name="index"/>'s record in the inflight region before it starts (libvhost-user's
    /// vu_check_queue_inflights): the heads still in flight are resubmitted oldest first, and the ring starts at the
    /// guest's used->idx, which the resubmitted heads advance to used_idx + inuse as they are popped again.
    /// </summary>
    private string? RecoverInflight(int index, InflightRegion region, ulong usedRing, out InflightQueueLog? log, out ushort start, out ushort[] resubmit)
    {
        log = null;
        start = 0;
        resubmit = [];
        InflightRequest shape = region.Request;
        if (index >= shape.NumQueues || _vrings[index].Num > shape.QueueSize)
        {
            return $"ring {index} of size {_vrings[index].Num} has no record in the inflight region ({shape.NumQueues} queues of {shape.QueueSize})";
        }

        if (Memory.TryReadIndex(usedRing + 2, out ushort usedIdx) != GuestMemoryError.None)
        {
            return $"ring {index}: used->idx at 0x{usedRing + 2:x} is not in guest memory";
        }

        var heads = new ushort[shape.QueueSize];
        (int count, ulong next, string? error) = InflightSplitQueue.Recover(region.Queue(index), shape.QueueSize, usedIdx, heads);
        if (error is not null)
        {
            return $"ring {index}: {error}";
        }

        if (count > 0)
        {
            VhostUserLog.InflightResubmit(_logger, Name, index, count, usedIdx);
        }

        log = region.QueueLog(index, next);
        start = usedIdx;
        resubmit = heads[..count];
        return null;
    }

    private void StopAll(bool forget)
    {
        for (int i = 0; i < _vrings.Length; i++)
        {
            Vring vring = _vrings[i];
            if (vring.Running)
            {
                StopRing(i);
            }

            if (forget)
            {
                vring.Forget();
            }
        }

        if (Device.Status != DeviceStatus.None)
        {
            Device.Reset();
        }
    }

    private void EndConnection()
    {
        StopAll(forget: true);
        _inflight?.Dispose();
        _inflight = null;
        if (Memory.IsInUse)
        {
            // Requests that outlived the drain still hold pointers into the mappings: leak them rather than unmap.
            VhostUserLog.ConnectionClosed(_logger, Name, "guest memory still in use by unfinished requests; its mappings are kept");
        }
        else
        {
            _map.Clear();
        }

        _features = 0;
        _featuresSet = false;
        _protocolFeatures = 0;
        _protocolFeaturesSet = false;
    }

    private void OnKick(int index)
    {
        if (_options.PollIdle > TimeSpan.Zero)
        {
            Device.Queues[index].Polled = true; // a polling spell follows: the kick's handler run leaves notifications off
        }

        ServeRing(index, poll: false);
    }

    private void ServeRing(int index, bool poll)
    {
        try
        {
            if (poll)
            {
                Device.Poll(index);
            }
            else
            {
                Device.Notify(index);
            }

            if (Device.IsBroken)
            {
                SignalError();
            }
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // A device model bug must not take the poll thread (and every other ring) down with it.
            VhostUserLog.InternalError(_logger, Name, e);
            Device.DeviceError($"internal error on ring {index}: {e.Message}");
            SignalError();
        }
    }

    bool IBusyPollTarget.Poll(int index)
    {
        VirtioQueue queue = Device.Queues[index];
        ushort before = queue.Ring.LastAvailIdx;
        queue.Polled = true;
        ServeRing(index, poll: true);
        return queue.Ring.LastAvailIdx != before;
    }

    void IBusyPollTarget.EndPoll(int index)
    {
        Device.Queues[index].Polled = false;
        Interlocked.MemoryBarrier(); // against a producer that published a frame and then read Polled (VirtioNetDevice)
        ServeRing(index, poll: true); // the handler runs unpolled: notifications back on, the ring re-checked
    }

    private void OnBadKick(int index) => VhostUserLog.BadKick(_logger, Name, index);

    /// <summary>Tells the front-end the device broke (SET_VRING_ERR's eventfds), once per bring-up.</summary>
    private void SignalError()
    {
        if (Interlocked.Exchange(ref _errorSignalled, 1) != 0)
        {
            return;
        }

        foreach (Vring vring in _vrings)
        {
            if (vring.Err is { } err)
            {
                EventFd.Signal(err.Value);
            }
        }
    }

    /// <summary>GET_INFLIGHT_FD: a fresh zeroed region for the front-end's queues, replacing any earlier one.</summary>
    private string? GetInflightFd(VhostUserChannel channel, VhostUserMessage m)
    {
        if (InflightRequest.TryParse(m.Payload, m.FdCount, set: false, _vrings.Length, out InflightRequest ask) is { } error)
        {
            return error;
        }

        if (AnyRunning())
        {
            return "the inflight region cannot be replaced while rings run";
        }

        _inflight?.Dispose();
        _inflight = InflightRegion.Create(ask);
        Span<byte> reply = stackalloc byte[24];
        reply.Clear();
        BinaryPrimitives.WriteUInt64LittleEndian(reply, _inflight.Request.MmapSize);
        BinaryPrimitives.WriteUInt16LittleEndian(reply[16..], (ushort)ask.NumQueues);
        BinaryPrimitives.WriteUInt16LittleEndian(reply[18..], (ushort)ask.QueueSize);
        channel.Reply(m, reply, [_inflight.Fd.Value]);
        return null;
    }

    /// <summary>SET_INFLIGHT_FD: maps the region the front-end kept across a reconnect, replacing any earlier one.</summary>
    private string? SetInflightFd(VhostUserMessage m)
    {
        if (InflightRequest.TryParse(m.Payload, m.FdCount, set: true, _vrings.Length, out InflightRequest request) is { } error)
        {
            return error;
        }

        if (AnyRunning())
        {
            return "the inflight region cannot be replaced while rings run";
        }

        InflightRegion? region = InflightRegion.TryMap(m.TakeFd()!, request, out error);
        if (region is null)
        {
            return error;
        }

        _inflight?.Dispose();
        _inflight = region;
        return null;
    }

    private static VhostUserMemoryMap.Description ReadRegion(VhostUserMessage m, int offset) =>
        new(m.U64(offset), m.U64(offset + 8), m.U64(offset + 16), m.U64(offset + 24));

    private void LogRegion(in VhostUserMemoryMap.Description r) =>
        VhostUserLog.RegionMapped(_logger, Name, r.GuestPhysicalAddress, r.Size, r.UserAddress, r.MmapOffset);

    /// <summary>What the front-end told the back-end about one ring.</summary>
    private sealed class Vring
    {
        public int Num = 256;
        public ulong DescUser;
        public ulong AvailUser;
        public ulong UsedUser;
        public bool AddressSet;
        public ushort Base;
        public bool Started;
        public bool Enabled;
        public volatile bool Running;
        public FileDescriptor? Kick;
        public FileDescriptor? Err;

        public EventFdNotifier Call { get; } = new(null);

        public void Forget()
        {
            Num = 256;
            DescUser = AvailUser = UsedUser = 0;
            AddressSet = false;
            Base = 0;
            Started = Enabled = false;
            Kick?.Dispose();
            Kick = null;
            Err?.Dispose();
            Err = null;
            Call.Replace(null);
        }
    }
}
