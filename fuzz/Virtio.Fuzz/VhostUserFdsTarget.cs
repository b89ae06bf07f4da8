using System.Buffers.Binary;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Devices.Net;
using Virtio.VhostUser;
using Virtio.VhostUser.Interop;

namespace Virtio.Fuzz;

/// <summary>
/// The vhost-user back-end driven by a hostile front-end that passes real file descriptors: the input is a sequence of
/// front-end messages (request, flags, payload all the fuzzer's) and each message that carries descriptors gets real
/// ones by SCM_RIGHTS (a memfd of guest RAM for SET_MEM_TABLE / ADD_MEM_REG / REM_MEM_REG, eventfds for
/// SET_VRING_KICK / CALL / ERR, an inflight memfd for SET_INFLIGHT_FD: the one the back-end returned to
/// GET_INFLIGHT_FD, else the harness's own), or none, or wrong ones, as the input says. Other commands write into the
/// shared guest RAM and the inflight region (descriptors, rings, inflight records) and signal a ring's kick eventfd,
/// so a ring the fuzzer built is served by the real back-end (blk, or net on a loopback, by the first input bit).
/// </summary>
/// <remarks>
/// <para>Every input must end in refusals, a closed connection or served rings: an exception escaping the back-end's
/// message loop or its kick thread (logged as <c>vhost_user_handler_failed</c>), a hang, or a descriptor or mapping
/// still open once the connection ended is a finding.</para>
/// <para>Determinism (AFL's stability): before guest RAM is written or a kick is sent, the harness waits until the
/// back-end answered every message sent so far (a GET_QUEUE_NUM as barrier), and after a kick until the kick thread
/// took the eventfd's count and is back in <c>poll</c>, so that nothing the back-end does overlaps the next command.</para>
/// </remarks>
internal static class VhostUserFdsTarget
{
    public const int RamSize = 64 * 1024;
    public const int Rings = 4;
    public const string RamName = "fuzz-vhost-ram";
    public const string InflightName = "fuzz-vhost-inflight";

    // Commands; the seed generator writes the same.
    public const byte CmdMessage = 0, CmdPatch = 1, CmdKick = 2, CmdPatchInflight = 3, CmdReconnect = 4, CmdCount = 5;

    // Which descriptors travel with a message (low 2 bits of its fd byte): the ones its request carries, none, those
    // plus an eventfd too many, or 1 to 8 of one kind (bits 2-4: count - 1; bits 5-6: RAM memfd, kick eventfd,
    // inflight memfd, call eventfd).
    public const byte FdsNatural = 0, FdsNone = 1, FdsExtra = 2, FdsChosen = 3;

    private static readonly Backend?[] s_backends = new Backend?[2];

    /// <summary>What the last input did (for <c>--replay</c>): messages, refusals, why the connection ended, calls signalled.</summary>
    public static string LastSummary { get; private set; } = "";

    public static void Run(ReadOnlySpan<byte> data)
    {
        var input = new FuzzInput(data);
        byte header = input.U8();
        // Both back-ends exist before any input is measured: building one is coverage that happens once per process.
        s_backends[0] ??= new Backend("fz-blk");
        s_backends[1] ??= new Backend("fz-net");
        Backend backend = s_backends[header & 1]!;
        int fdsBefore = DescriptorCensus.Count();
        backend.Log.Clear();
        long calls;
        string? mappingLeak;
        bool backendMemfd;
        using (var session = new Session(backend, inflightSize: 4096 << (input.U8() % 5)))
        {
            while (!input.AtEnd && session.Step(ref input))
            {
            }

            calls = session.TakeCalls();
            mappingLeak = session.Close();
            backendMemfd = session.ReceivedBackendMemfd;
        }

        LastSummary = $"messages={backend.Server.Messages} refusals={backend.Server.Refusals} calls={calls} closed={backend.Server.CloseReason ?? "end of input"}";

        if (backend.Log.Failure is { } failure)
        {
            throw new InvalidOperationException($"vhost-user back-end: {failure}");
        }

        if (backend.Server.CloseReason is { } reason && reason.StartsWith("internal error", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"vhost-user back-end: {reason}");
        }

        // Every descriptor the back-end received was closed with the connection, every region unmapped.
        // Only sockets, eventfds and memfds are counted: under AFL, SharpFuzz's thread that watches the parent process
        // opens /proc files at any moment, which are no leak of ours.
        int fdsAfter = DescriptorCensus.Count();
        if (fdsAfter != fdsBefore)
        {
            throw new InvalidOperationException($"descriptor leak: {fdsBefore} open before the input, {fdsAfter} after: {string.Join(", ", DescriptorCensus.List())}");
        }

        if (mappingLeak is not null)
        {
            throw new InvalidOperationException($"mapping leak: {mappingLeak}");
        }

        // The back-end's own inflight memfd cannot be sealed by the harness: its mappings are looked up by name, and
        // only after an input that received one.
        int mappings = backendMemfd ? File.ReadLines("/proc/self/maps").Count(l => l.Contains("memfd:vhost-user-inflight", StringComparison.Ordinal)) : 0;
        if (mappings != 0)
        {
            throw new InvalidOperationException($"mapping leak: {mappings} mapping(s) of the back-end's inflight memfd are still in place");
        }
    }

    /// <summary>One back-end (and its kick thread) per device kind per process; every connection starts clean.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Lives as long as the process, as the back-end it serves does.")]
    private sealed class Backend
    {
        public Backend(string name)
        {
            var options = new VirtioDeviceOptions { QueueSize = 256, Processing = QueueProcessing.Inline };
            var backendOptions = new VhostUserBackendOptions { Name = name, LoggerFactory = Log, DrainTimeout = TimeSpan.FromSeconds(2) };
            Server = name == "fz-blk"
                ? new VhostUserBackend(memory => new BlockDevice(memory, new MemoryBlockBackend(1 << 20), new BlockDeviceOptions { Device = options, NumQueues = 2, Serial = "fuzz" }), backendOptions)
                : new VhostUserBackend(memory => new VirtioNetDevice(memory, new LoopbackNetBackend(), new VirtioNetDeviceOptions { ControlQueue = false, MaxQueuePairs = 2, BacklogFrames = 4 }, options), backendOptions);
            KickThread = new ThreadSyscall(FindThread(name + "-kick"));
            var serve = new Thread(ServeLoop) { IsBackground = true, Name = "fz-serve" };
            serve.Start();
            _started.Wait();
        }

        public FindingLog Log { get; } = new();

        public VhostUserBackend Server { get; }

        public int RingCount => Server.Device.Queues.Count;

        /// <summary>The kick thread, to see it back in poll after a kick.</summary>
        public ThreadSyscall KickThread { get; }

        /// <summary>The thread that runs <see cref="VhostUserBackend.Serve"/> for every connection, as a daemon's does.</summary>
        public ThreadSyscall ServeThread { get; private set; } = null!;

        /// <summary>Whether a connection is being served (its message loop is in poll, or handling a message).</summary>
        public bool Serving { get; private set; }

        private readonly SemaphoreSlim _started = new(0), _connection = new(0), _served = new(0);
        private FileDescriptor? _socket;
        private Exception? _serveFailure;

        /// <summary>Serves <paramref name="socket"/> on the serve thread.</summary>
        public void Serve(FileDescriptor socket)
        {
            _socket = socket;
            Serving = true;
            _connection.Release();
        }

        /// <summary>Waits until the connection's Serve returned; returns what it threw.</summary>
        public Exception? WaitServed()
        {
            _served.Wait();
            Serving = false;
            Exception? failure = _serveFailure;
            _serveFailure = null;
            return failure;
        }

        // One thread for every connection: starting one per connection cost more than many inputs' work.
        private void ServeLoop()
        {
            ServeThread = new ThreadSyscall(Native.GetTid().ToString(CultureInfo.InvariantCulture));
            _started.Release();
            while (true)
            {
                _connection.Wait();
                try
                {
                    Server.Serve(_socket!);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    _serveFailure = e;
                }

                _served.Release();
            }
        }

        private static string FindThread(string comm)
        {
            DateTime deadline = DateTime.UtcNow.AddSeconds(10);
            while (true)
            {
                foreach (string task in Directory.GetDirectories("/proc/self/task"))
                {
                    try
                    {
                        if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd() == comm)
                        {
                            return Path.GetFileName(task);
                        }
                    }
                    catch (IOException)
                    {
                        // the thread ended meanwhile
                    }
                }

                if (DateTime.UtcNow > deadline)
                {
                    throw new InvalidOperationException($"no thread named {comm}");
                }

                Thread.Yield();
            }
        }
    }

    /// <summary>The front-end's descriptors and guest RAM for one input, and the connection(s) it makes.</summary>
    private sealed unsafe class Session : IDisposable
    {
        private readonly Backend _backend;
        private readonly int _ram;
        private readonly nint _ramMap;
        private readonly int _inflight;
        private readonly nint _inflightMap;
        private readonly int _inflightSize;
        private readonly int[] _kicks = new int[Rings];
        private readonly int[] _calls = new int[Rings];
        private readonly int[] _errs = new int[Rings];
        private readonly int[] _ringKick = new int[Rings];
        private readonly int[] _fds = new int[16];
        private readonly byte[] _reply = new byte[VhostUserProtocol.MaxPayloadSize];
        private int _returnedInflight = -1;
        private int _front = -1;
        private bool _connected;
        private Exception? _serveFailure;
        private bool _closed;
        private int _unanswered;
        private int _barriersOwed;

        public Session(Backend backend, int inflightSize)
        {
            _backend = backend;
            _ram = Memfd(RamName, RamSize, out _ramMap);
            _inflightSize = inflightSize;
            _inflight = Memfd(InflightName, inflightSize, out _inflightMap);
            for (int i = 0; i < Rings; i++)
            {
                _kicks[i] = NewEventFd();
                _calls[i] = NewEventFd();
                _errs[i] = NewEventFd();
            }

            Connect();
        }

        /// <summary>Runs one command; false once the connection is gone for good (the rest of the input is moot).</summary>
        public bool Step(ref FuzzInput input)
        {
            switch (input.U8() % CmdCount)
            {
                case CmdMessage:
                    return Message(ref input);
                case CmdPatch:
                    Barrier();
                    input.Patch(new Span<byte>((void*)_ramMap, RamSize));
                    break;
                case CmdPatchInflight:
                    Barrier();
                    input.Patch(new Span<byte>((void*)_inflightMap, _inflightSize));
                    break;
                case CmdKick:
                    Kick(input.U8() % _backend.RingCount);
                    break;
                case CmdReconnect:
                    // The back-end's process is replaced, as QEMU's reconnect sees it: the front-end keeps guest RAM
                    // and the inflight region and sets everything up again (SET_INFLIGHT_FD, then the rings).
                    Disconnect();
                    Connect();
                    break;
            }

            return _front >= 0;
        }

        /// <summary>Takes the call eventfds' counts: the interrupts the device raised.</summary>
        public long TakeCalls()
        {
            Disconnect();
            long total = 0;
            foreach (int call in _calls)
            {
                ulong count = 0;
                if (Native.Read(call, &count, 8) == 8)
                {
                    total += (long)count;
                }
            }

            return total;
        }

        /// <summary>Whether the back-end handed over a memfd of its own (GET_INFLIGHT_FD) during the input.</summary>
        public bool ReceivedBackendMemfd { get; private set; }

        /// <summary>
        /// Ends the connection and releases the front-end's descriptors and mappings; returns what is still mapped of
        /// the front-end's memfds, or null. The check is a write seal: F_SEAL_WRITE is refused (EBUSY) while any shared
        /// writable mapping of the memfd exists (memfd_add_seals), and every back-end mapping is one (MAP_SHARED of a
        /// read-write descriptor), so once the harness unmapped its own, a refusal is a mapping the back-end kept.
        /// </summary>
        public string? Close()
        {
            if (_closed)
            {
                return null;
            }

            _closed = true;
            Disconnect();
            CloseFd(ref _returnedInflight);
            for (int i = 0; i < Rings; i++)
            {
                _ = Native.Close(_kicks[i]);
                _ = Native.Close(_calls[i]);
                _ = Native.Close(_errs[i]);
            }

            _ = Native.Munmap(_inflightMap, (nuint)_inflightSize);
            _ = Native.Munmap(_ramMap, RamSize);
            string? leak = (StillMapped(_ram) ? $"memfd:{RamName} " : "") + (StillMapped(_inflight) ? $"memfd:{InflightName}" : "");
            _ = Native.Close(_inflight);
            _ = Native.Close(_ram);
            if (_serveFailure is { } e)
            {
                throw new InvalidOperationException("the back-end's Serve threw", e);
            }

            return leak.Length == 0 ? null : $"{leak.TrimEnd()} still mapped once the connection ended";
        }

        public void Dispose() => Close();

        private static bool StillMapped(int memfd)
        {
            if (Native.Fcntl(memfd, Native.FAddSeals, Native.FSealWrite) == 0)
            {
                return false;
            }

            int errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            return errno == Native.EBusy ? true : throw new InvalidOperationException($"F_ADD_SEALS failed: errno {errno}");
        }

        private bool Message(ref FuzzInput input)
        {
            uint request = input.U8();
            // The version bits stay 1 (framing is the vhost-user target's business); REPLY, NEED_REPLY and the
            // reserved bits are the fuzzer's.
            uint flags = (uint)(input.U8() & ~3) | VhostUserProtocol.FlagVersion;
            byte fdChoice = input.U8();
            int size = input.U16() % (VhostUserProtocol.MaxPayloadSize + 1);
            ReadOnlySpan<byte> payload = input.Bytes(size);
            // Which eventfd kicks which ring is the harness's guess from the message it sends; a SET_VRING_KICK the
            // back-end refuses leaves the ring on its previous kick. Its outcome is seen in the refusal count, between
            // a barrier before it and one after (a kick on the wrong eventfd would wait for nothing: AFL's hangs).
            bool setKick = request == (uint)VhostUserRequest.SetVringKick;
            Span<int> kicksBefore = stackalloc int[Rings];
            long refusalsBefore = 0;
            if (setKick)
            {
                Barrier();
                if (_front < 0)
                {
                    return false;
                }

                _ringKick.CopyTo(kicksBefore);
                refusalsBefore = _backend.Server.Refusals;
            }

            int count = Descriptors(request, payload, fdChoice);
            Span<byte> message = stackalloc byte[VhostUserProtocol.HeaderSize + payload.Length];
            BinaryPrimitives.WriteUInt32LittleEndian(message, request);
            BinaryPrimitives.WriteUInt32LittleEndian(message[4..], flags);
            BinaryPrimitives.WriteUInt32LittleEndian(message[8..], (uint)payload.Length);
            payload.CopyTo(message[VhostUserProtocol.HeaderSize..]);
            if (!Send(message, _fds.AsSpan(0, count)))
            {
                Disconnect();
                return false;
            }

            // A GET_QUEUE_NUM of the input's own is answered like the barrier's: count it, so a barrier waits for both.
            if (request == (uint)VhostUserRequest.GetQueueNum && (flags & VhostUserProtocol.FlagReply) == 0)
            {
                _barriersOwed++;
            }

            // Bounded replies outstanding: the back-end never blocks writing a reply nobody reads, so it keeps reading.
            if (++_unanswered >= 16 || setKick)
            {
                Barrier();
            }

            if (setKick && _front >= 0 && _backend.Server.Refusals != refusalsBefore)
            {
                kicksBefore.CopyTo(_ringKick);
            }

            return _front >= 0;
        }

        /// <summary>Fills <see cref="_fds"/> with the descriptors the message travels with; returns how many.</summary>
        private int Descriptors(uint request, ReadOnlySpan<byte> payload, byte choice)
        {
            int mode = choice & 3;
            if (mode == FdsNone)
            {
                return 0;
            }

            if (mode == FdsChosen)
            {
                int n = 1 + ((choice >> 2) & 7);
                int kind = (choice >> 5) & 3;
                for (int i = 0; i < n; i++)
                {
                    _fds[i] = kind switch { 0 => _ram, 1 => _kicks[i % Rings], 2 => InflightFd(), _ => _calls[i % Rings] };
                }

                if (request == (uint)VhostUserRequest.SetVringKick && payload.Length >= 1 && payload[0] < Rings)
                {
                    _ringKick[payload[0]] = kind == 1 ? 0 : -1;
                }

                return n;
            }

            int count = 0;
            ulong index = payload.Length >= 8 ? BinaryPrimitives.ReadUInt64LittleEndian(payload) : 0;
            bool noFd = (index & VhostUserProtocol.VringNoFdMask) != 0;
            int ring = (int)(index & VhostUserProtocol.VringIndexMask) % Rings;
            switch ((VhostUserRequest)request)
            {
                case VhostUserRequest.SetMemTable:
                    uint regions = payload.Length >= 4 ? BinaryPrimitives.ReadUInt32LittleEndian(payload) : 1;
                    for (; count < Math.Min(regions, (uint)VhostUserProtocol.MaxMemTableRegions); count++)
                    {
                        _fds[count] = _ram;
                    }

                    break;
                case VhostUserRequest.AddMemReg or VhostUserRequest.RemMemReg:
                    _fds[count++] = _ram;
                    break;
                case VhostUserRequest.SetVringKick when !noFd:
                    _fds[count++] = _kicks[ring];
                    if ((index & VhostUserProtocol.VringIndexMask) < Rings)
                    {
                        _ringKick[ring] = ring;
                    }

                    break;
                case VhostUserRequest.SetVringCall when !noFd:
                    _fds[count++] = _calls[ring];
                    break;
                case VhostUserRequest.SetVringErr when !noFd:
                    _fds[count++] = _errs[ring];
                    break;
                case VhostUserRequest.SetInflightFd:
                    _fds[count++] = InflightFd();
                    break;
                case VhostUserRequest.SetLogFd or VhostUserRequest.SetBackendReqFd:
                    _fds[count++] = _calls[0];
                    break;
            }

            if (mode == FdsExtra)
            {
                _fds[count++] = _errs[Rings - 1];
            }

            return count;
        }

        /// <summary>The region the back-end gave with GET_INFLIGHT_FD, as QEMU keeps it; else the harness's own.</summary>
        private int InflightFd() => _returnedInflight >= 0 ? _returnedInflight : _inflight;

        /// <summary>
        /// Signals ring <paramref name="ring"/>'s kick eventfd when the back-end polls it (a running ring whose kick
        /// is the harness's), and waits until the kick thread took the count and is back in poll: the device served
        /// the ring before the next command runs.
        /// </summary>
        private void Kick(int ring)
        {
            Barrier();
            int kick = _ringKick[ring];
            if (kick < 0 || !_backend.Server.IsRingRunning(ring))
            {
                return;
            }

            Native.PollFd p = new() { Fd = _kicks[kick], Events = Native.PollIn };
            ulong one = 1;
            _ = Native.Write(_kicks[kick], &one, 8);
            DateTime deadline = DateTime.UtcNow.AddSeconds(2);
            while (Native.Poll(&p, 1, 0) > 0 && (p.Revents & Native.PollIn) != 0 && DateTime.UtcNow < deadline)
            {
                Thread.Yield();
            }

            Settle(deadline);

            // A kick nobody took (the ring stopped meanwhile) must not be served later, at another command.
            _ = Native.Read(_kicks[kick], &one, 8);
        }

        private bool ServeThreadIdle() => !_backend.Serving || _backend.ServeThread.InPoll();

        /// <summary>Waits until the back-end handled every message sent: a GET_QUEUE_NUM, whose reply comes after theirs.</summary>
        private void Barrier()
        {
            if (_front < 0 || _unanswered == 0)
            {
                return;
            }

            Span<byte> message = stackalloc byte[VhostUserProtocol.HeaderSize];
            BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)VhostUserRequest.GetQueueNum);
            BinaryPrimitives.WriteUInt32LittleEndian(message[4..], VhostUserProtocol.FlagVersion);
            BinaryPrimitives.WriteUInt32LittleEndian(message[8..], 0);
            if (!Send(message, []))
            {
                Disconnect();
                return;
            }

            _barriersOwed++;
            while (_barriersOwed > 0)
            {
                int request = ReadReply();
                if (request < 0)
                {
                    Disconnect(); // the back-end ended the connection: what it did is done
                    return;
                }

                if (request == (int)VhostUserRequest.GetQueueNum)
                {
                    _barriersOwed--;
                }
            }

            _unanswered = 0;
            Settle(DateTime.UtcNow.AddSeconds(2));
        }

        /// <summary>
        /// Waits until the back-end's two threads are back in poll: the message loop finishes its iteration after the
        /// reply went out, and a ring the last message started on a descriptor that is not an eventfd is read until
        /// the back-end gives up on it. Neither may overlap the next command (the coverage map's previous location
        /// is one for all threads, so overlapping threads make the same input draw different edges).
        /// </summary>
        private void Settle(DateTime deadline)
        {
            while ((!_backend.KickThread.InPoll() || !ServeThreadIdle()) && DateTime.UtcNow < deadline)
            {
                Thread.Yield();
            }
        }

        private void Connect()
        {
            int* pair = stackalloc int[2];
            if (Native.SocketPair(Native.AfUnix, Native.SockStream | Native.SockCloexec, 0, pair) != 0)
            {
                throw new InvalidOperationException("socketpair failed");
            }

            _front = pair[0];
            _backend.Serve(new FileDescriptor(pair[1]));
            _connected = true;
            Array.Fill(_ringKick, -1);
            _unanswered = _barriersOwed = 0;
        }

        /// <summary>Ends the connection: the back-end sees end of file; its replies are read (and their fds closed) until it closes.</summary>
        private void Disconnect()
        {
            if (!_connected)
            {
                return;
            }

            if (_front >= 0)
            {
                _ = Native.Shutdown(_front, Native.ShutWr);
                while (ReadReply() >= 0)
                {
                }
            }

            _serveFailure ??= _backend.WaitServed();
            _connected = false;
            CloseFd(ref _front);
        }

        private bool Send(ReadOnlySpan<byte> bytes, ReadOnlySpan<int> fds)
        {
            if (_front < 0)
            {
                return false;
            }

            byte* control = stackalloc byte[16 + (16 * sizeof(int))];
            fixed (byte* p = bytes)
            fixed (int* f = fds)
            {
                int sent = 0;
                while (sent < bytes.Length)
                {
                    Native.IoVec iov = new() { Base = p + sent, Length = (nuint)(bytes.Length - sent) };
                    Native.MsgHdr m = new() { Iov = &iov, IovLength = 1 };
                    if (sent == 0 && fds.Length > 0)
                    {
                        *(nuint*)control = (nuint)(16 + (fds.Length * sizeof(int)));
                        ((int*)control)[2] = Native.SolSocket;
                        ((int*)control)[3] = Native.ScmRights;
                        Buffer.MemoryCopy(f, control + 16, fds.Length * sizeof(int), fds.Length * sizeof(int));
                        m.Control = control;
                        m.ControlLength = (nuint)((16 + (fds.Length * sizeof(int)) + 7) & ~7);
                    }

                    nint n = Native.SendMsg(_front, &m, Native.MsgNosignal);
                    if (n <= 0)
                    {
                        return false; // the back-end closed the connection
                    }

                    sent += (int)n;
                }
            }

            return true;
        }

        /// <summary>Reads one reply; closes the descriptors it carries (keeps GET_INFLIGHT_FD's). Returns its request, -1 at end of file.</summary>
        private int ReadReply()
        {
            Span<byte> header = stackalloc byte[VhostUserProtocol.HeaderSize];
            byte* control = stackalloc byte[16 + (8 * sizeof(int))];
            int fd = -1;
            fixed (byte* h = header)
            {
                Native.IoVec iov = new() { Base = h, Length = (nuint)header.Length };
                Native.MsgHdr m = new() { Iov = &iov, IovLength = 1, Control = control, ControlLength = 16 + (8 * sizeof(int)) };
                nint n = Native.RecvMsg(_front, &m, Native.MsgCmsgCloexec);
                if (m.ControlLength >= 16 && ((int*)control)[2] == Native.SolSocket && ((int*)control)[3] == Native.ScmRights)
                {
                    int count = (int)((*(nuint*)control - 16) / sizeof(int));
                    for (int i = 0; i < count; i++)
                    {
                        int received = ((int*)(control + 16))[i];
                        if (fd < 0)
                        {
                            fd = received;
                        }
                        else
                        {
                            _ = Native.Close(received);
                        }
                    }
                }

                if (n <= 0 || !ReadExact(header[(int)n..]))
                {
                    CloseFd(ref fd);
                    return -1;
                }
            }

            int request = BinaryPrimitives.ReadInt32LittleEndian(header);
            uint size = BinaryPrimitives.ReadUInt32LittleEndian(header[8..]);
            if (size > VhostUserProtocol.MaxPayloadSize || !ReadExact(_reply.AsSpan(0, (int)size)))
            {
                CloseFd(ref fd);
                throw new InvalidOperationException($"the back-end's reply to request {request} is malformed (payload of {size} bytes)");
            }

            if (request == (int)VhostUserRequest.GetInflightFd && fd >= 0)
            {
                CloseFd(ref _returnedInflight);
                _returnedInflight = fd;
                ReceivedBackendMemfd = true;
            }
            else
            {
                CloseFd(ref fd);
            }

            return request;
        }

        private bool ReadExact(Span<byte> buffer)
        {
            fixed (byte* p = buffer)
            {
                int done = 0;
                while (done < buffer.Length)
                {
                    nint n = Native.Read(_front, p + done, (nuint)(buffer.Length - done));
                    if (n <= 0)
                    {
                        return false;
                    }

                    done += (int)n;
                }
            }

            return true;
        }

        private static int Memfd(string name, int size, out nint map)
        {
            int fd = Native.MemfdCreate(name, Native.MfdCloexec | Native.MfdAllowSealing);
            if (fd < 0 || Native.Ftruncate(fd, size) != 0)
            {
                throw new InvalidOperationException($"memfd_create/ftruncate of {name} failed");
            }

            map = Native.Mmap(0, (nuint)size, Native.ProtRead | Native.ProtWrite, Native.MapShared, fd, 0);
            if (map == -1)
            {
                throw new InvalidOperationException($"mmap of {name} failed");
            }

            return fd;
        }

        private static int NewEventFd()
        {
            int fd = Native.EventFd(0, Native.EfdCloexec | Native.EfdNonblock);
            return fd >= 0 ? fd : throw new InvalidOperationException("eventfd failed");
        }

        private static void CloseFd(ref int fd)
        {
            if (fd >= 0)
            {
                _ = Native.Close(fd);
                fd = -1;
            }
        }
    }

    /// <summary>
    /// A thread's current system call, from /proc/self/task/TID/syscall: opened once and read again at offset 0
    /// (the file is regenerated on every read), so a wait for the back-end's threads costs one pread a look.
    /// </summary>
    internal sealed unsafe class ThreadSyscall
    {
        private readonly int _fd;

        public ThreadSyscall(string tid)
        {
            _fd = Native.Open($"/proc/self/task/{tid}/syscall", Native.ORdonly | Native.OCloexec);
            if (_fd < 0)
            {
                throw new InvalidOperationException($"open /proc/self/task/{tid}/syscall failed");
            }
        }

        /// <summary>Whether the thread sits in poll(2) (syscall 7) or ppoll(2) (271): idle.</summary>
        public bool InPoll()
        {
            byte* text = stackalloc byte[8];
            nint n = Native.Pread(_fd, text, 8, 0);
            if (n <= 0)
            {
                return true; // the thread ended
            }

            var call = new ReadOnlySpan<byte>(text, (int)n);
            return call.StartsWith("7 "u8) || call.StartsWith("271 "u8);
        }
    }

    /// <summary>Records what the back-end logs as its own failure: an exception it caught to keep serving.</summary>
    internal sealed class FindingLog : ILoggerFactory, ILogger
    {
        private const int HandlerFailed = 130; // vhost_user_handler_failed
        private const int DrainTimeout = 128; // vhost_user_ring_drain_timeout: requests that never completed

        public string? Failure { get; private set; }

        public void Clear() => Failure = null;

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id is HandlerFailed or DrainTimeout)
            {
                Failure ??= $"{eventId.Name}: {formatter(state, exception)} {exception}";
            }
        }

        public void Dispose()
        {
        }
    }
}
