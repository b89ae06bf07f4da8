using System.Buffers.Binary;
using System.Diagnostics;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Rings;
using Virtio.VhostUser.Interop;

namespace Virtio.VhostUser;

/// <summary>
/// A virtio-blk read workload driven through a vhost-user front-end against any back-end (this project's
/// <c>serve blk</c>, <c>qemu-storage-daemon --export type=vhost-user-blk</c>): random reads of one block size at a fixed
/// queue depth through the Linux-model driver on shared memfd memory, the way <c>fio</c> in a guest would drive it,
/// minus the guest. The driver polls the used ring while it has completions and sleeps on its call eventfd otherwise.
/// </summary>
public static class VhostUserBlkBench
{
    private const ulong Version1 = 1UL << 32;
    private const ulong EventIdxFeature = 1UL << 29;
    private const ulong RingArea = 0x10000;
    private const ulong HeaderArea = 0x100000;
    private const ulong StatusArea = 0x110000;
    private const ulong DataArea = 0x200000;

    /// <summary>Connects to <paramref name="socketPath"/>, runs the workload on ring 0, stops the ring and disconnects.</summary>
    /// <exception cref="VhostUserException">The back-end refused a request or a request failed.</exception>
    /// <exception cref="IOException">The connection failed.</exception>
    public static VhostUserBlkBenchResult Run(string socketPath, VhostUserBlkBenchOptions? options = null)
    {
        options ??= new VhostUserBlkBenchOptions();
        int depth = options.QueueDepth;
        if (depth < 1 || depth * 3 > options.RingSize || options.BlockSize % 512 != 0 || options.BlockSize <= 0)
        {
            throw new ArgumentException("queue depth x 3 descriptors must fit the ring; block size a positive multiple of 512", nameof(options));
        }

        using VhostUserFrontEnd fe = VhostUserFrontEnd.Connect(socketPath);
        VhostUserProtocolFeature protocol = VhostUserProtocolFeature.MultiQueue | VhostUserProtocolFeature.ReplyAck | VhostUserProtocolFeature.Config;
        ulong features = fe.Negotiate(Version1 | EventIdxFeature, options.Inflight ? protocol | VhostUserProtocolFeature.InflightShmfd : protocol);
        bool eventIdx = (features & EventIdxFeature) != 0;
        Span<byte> config = stackalloc byte[8];
        fe.GetConfig(0, config);
        ulong blocks = BinaryPrimitives.ReadUInt64LittleEndian(config) * 512 / (ulong)options.BlockSize;
        if (blocks == 0)
        {
            throw new VhostUserException("the disk is smaller than one block");
        }

        using SharedGuestMemory ram = SharedGuestMemory.Create(DataArea + ((ulong)depth * (ulong)options.BlockSize), name: "virtio-bench-ram");
        fe.SetMemTable(ram);
        var layout = SplitRingLayout.Create(RingArea, size: options.RingSize);
        using var driver = new DriverQueue<int>(ram.Memory, layout, new DriverQueueOptions { EventIdx = eventIdx });
        using var kick = new EventFdNotifier();
        using var call = new EventFdNotifier();
        driver.KickChannel = kick;
        using FileDescriptor? inflight = options.Inflight ? fe.SetUpInflight(1, options.RingSize) : null;
        fe.StartRing(0, layout, options.RingSize, ram, kick, call);

        var load = new Load(ram, driver, call, options, blocks);
        load.Run(options.WarmupRequests);
        long kicks = driver.KicksSent, sleeps = load.Sleeps, errors = load.Errors;
        long start = Stopwatch.GetTimestamp();
        load.Run(options.Requests);
        TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
        var result = new VhostUserBlkBenchResult(options.Requests, elapsed, driver.KicksSent - kicks, load.Sleeps - sleeps, load.Errors - errors, eventIdx)
        {
            Inflight = inflight is not null,
        };
        fe.StopRing(0);
        return result;
    }

    /// <summary>The driver loop: keep <c>depth</c> reads in flight, resubmit each slot as it completes.</summary>
    private sealed class Load(SharedGuestMemory ram, DriverQueue<int> driver, EventFdNotifier call, VhostUserBlkBenchOptions options, ulong blocks)
    {
        private readonly int _depth = options.QueueDepth;
        private readonly uint _blockSize = (uint)options.BlockSize;
        private uint _random = (uint)options.Seed | 1;
        private int _inFlight;

        public long Sleeps { get; private set; }

        public long Errors { get; private set; }

        public void Run(long requests)
        {
            long submitted = 0, completed = 0;
            while (_inFlight < _depth && submitted < requests)
            {
                Submit(_inFlight);
                submitted++;
            }

            driver.Kick();
            while (completed < requests)
            {
                bool any = false;
                while (driver.TryGetBuffer(out int slot, out _))
                {
                    any = true;
                    completed++;
                    _inFlight--;
                    if (ram.Memory.Read<byte>(StatusArea + (ulong)slot) != 0)
                    {
                        Errors++;
                    }

                    if (submitted < requests)
                    {
                        Submit(slot);
                        submitted++;
                    }
                }

                if (any)
                {
                    driver.Kick();
                    continue;
                }

                // Nothing used: re-enable callbacks (with the re-check Linux's virtqueue_enable_cb does) and sleep on the call.
                if (driver.EnableCallbacks())
                {
                    Sleeps++;
                    if (!call.Wait(30_000))
                    {
                        throw new VhostUserException($"no completion within 30 s ({_inFlight} in flight)");
                    }
                }

                call.TestAndClear();
                driver.DisableCallbacks();
            }
        }

        private void Submit(int slot)
        {
            // xorshift32: a random block, as fio's randread picks one.
            uint x = _random;
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            _random = x;
            ulong sector = x % blocks * (_blockSize / 512);
            ulong header = HeaderArea + ((ulong)slot * VirtioBlkRequestHeader.Size);
            new VirtioBlkRequestHeader(VirtioBlkRequestType.In, sector).Write(ram.Memory.GetSpan(header, VirtioBlkRequestHeader.Size));
            ram.Memory.Write<byte>(StatusArea + (ulong)slot, 0xff);
            ReadOnlySpan<GuestSegment> readable = [new(header, VirtioBlkRequestHeader.Size)];
            ReadOnlySpan<GuestSegment> writable = [new(DataArea + ((ulong)slot * _blockSize), _blockSize), new(StatusArea + (ulong)slot, 1)];
            if (driver.Add(readable, writable, slot) != AddResult.Added)
            {
                throw new VhostUserException("the ring refused a request: " + driver.Error);
            }

            _inFlight++;
        }
    }
}
