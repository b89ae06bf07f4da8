using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Devices.Block;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Workloads.Bench;

/// <summary>
/// virtio-blk request throughput on one thread: a guest driver keeps <c>queue depth</c> requests in flight against a
/// <see cref="BlockDevice"/> on the memory backend, through virtio-mmio (QueueNotify, inline handler, used ring).
/// </summary>
public sealed class BlkBench : IDisposable
{
    /// <summary>The largest block size: 1 MiB.</summary>
    public const int MaxBlockSize = 1 << 20;

    /// <summary>Guest RAM the request buffers may take (block size times queue depth): 1 GiB.</summary>
    public const long MaxBufferBytes = 1L << 30;

    private const ulong DiskBytes = 1UL << 30;
    private readonly GuestMemory _memory;
    private readonly BlockDevice _device;
    private readonly VirtioMmioGuestDriver<int> _driver;
    private readonly DriverQueue<int> _queue;
    private readonly GuestSegment[][] _readable;
    private readonly GuestSegment[][] _writable;
    private readonly int _depth;
    private readonly string _rw;
    private readonly int _blockSize;

    /// <summary>Sets up guest RAM, the device and the driver, and pre-builds <paramref name="queueDepth"/> request buffers.</summary>
    /// <param name="rw">read, write, randread or randwrite.</param>
    /// <param name="blockSize">Bytes per request (a multiple of 512).</param>
    /// <param name="queueDepth">Requests in flight per kick.</param>
    /// <param name="seed">Seed of the random offsets.</param>
    /// <param name="loggerFactory">Where the device and its transport log (status changes, errors); nothing is logged when null.</param>
    public BlkBench(string rw, int blockSize, int queueDepth, int seed = 1, ILoggerFactory? loggerFactory = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueDepth, 1);
        if (blockSize < 512 || blockSize % 512 != 0 || blockSize > 1 << 20)
        {
            throw new ArgumentOutOfRangeException(nameof(blockSize), "a multiple of 512 up to 1 MiB");
        }

        bool write = rw is "write" or "randwrite";
        bool random = rw is "randread" or "randwrite";
        if (rw is not ("read" or "write" or "randread" or "randwrite"))
        {
            throw new ArgumentException("read, write, randread or randwrite", nameof(rw));
        }

        _depth = queueDepth;
        _rw = rw;
        _blockSize = blockSize;
        int ringSize = (int)Math.Max(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)queueDepth));
        _memory = GuestMemory.Create((64UL << 20) + (2 * (ulong)blockSize * (ulong)queueDepth));
        var backend = new MemoryBlockBackend(DiskBytes);
        _device = new BlockDevice(_memory, backend, new BlockDeviceOptions { Device = new VirtioDeviceOptions { QueueSize = ringSize, LoggerFactory = loggerFactory } });
        var mmio = new VirtioMmioTransport(_device, loggerFactory);
        _driver = new VirtioMmioGuestDriver<int>(mmio, _memory, 0x10_0000, _memory.EndAddress - 0x10_0000);
        _driver.Probe(VirtioFeature.RingEventIdx | VirtioFeature.RingIndirectDesc | VirtioBlkFeature.Flush, 1, ringSize);
        _queue = _driver.Queues[0];
        _readable = new GuestSegment[queueDepth][];
        _writable = new GuestSegment[queueDepth][];
        var rng = new Random(seed);
        ulong blocks = DiskBytes / (ulong)blockSize;
        byte[] header = new byte[16];
        for (int i = 0; i < queueDepth; i++)
        {
            ulong block = random ? (ulong)rng.NextInt64((long)blocks) : (ulong)i % blocks;
            BinaryPrimitives.WriteUInt32LittleEndian(header, write ? 1u : 0u);
            BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(8), block * (ulong)blockSize / 512);
            var hdr = new GuestSegment(_driver.Allocate(16), 16);
            header.CopyTo(_memory.GetSpan(hdr.Address, 16));
            var data = new GuestSegment(_driver.Allocate((ulong)blockSize, 4096), (uint)blockSize);
            var status = new GuestSegment(_driver.Allocate(1), 1);
            _readable[i] = write ? [hdr, data] : [hdr];
            _writable[i] = write ? [status] : [data, status];

            // Touch every block once so the measured run does not pay for the sparse backend's first allocation.
            _memory.GetSpan(data.Address, blockSize).Fill((byte)i);
            _queue.Add([hdr, data], [status], -1);
            BinaryPrimitives.WriteUInt32LittleEndian(_memory.GetSpan(hdr.Address, 4), 1);
        }

        _queue.Kick();
        while (_queue.TryGetBuffer(out _, out _))
        {
        }

        for (int i = 0; i < queueDepth; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_memory.GetSpan(_readable[i][0].Address, 4), write ? 1u : 0u);
        }
    }

    /// <summary>
    /// Checks a block size and queue depth as <c>virtio bench blk</c> takes them: whole sectors, and request buffers
    /// within <see cref="MaxBufferBytes"/>.
    /// </summary>
    /// <returns>Why they will not do, naming the options, or null.</returns>
    public static string? Validate(int blockSize, int queueDepth) =>
        blockSize % 512 != 0 ? $"--block-size {blockSize}: must be a multiple of 512 (a sector)"
        : (long)blockSize * queueDepth > MaxBufferBytes ? $"--block-size {blockSize} with --queue-depth {queueDepth}: {(long)blockSize * queueDepth >> 20} MiB of request buffers; keep their product within {MaxBufferBytes >> 20} MiB"
        : null;

    /// <summary>Runs <paramref name="requests"/> requests after <paramref name="warmup"/> unmeasured ones, and reports them.</summary>
    public BlkBenchReport Measure(long requests, long warmup)
    {
        var (elapsed, done, allocated, failed) = Run(requests, warmup);
        return new BlkBenchReport(_rw, _blockSize, _depth, done, elapsed, allocated, failed);
    }

    /// <summary>Runs <paramref name="requests"/> requests (after <paramref name="warmup"/> unmeasured ones).</summary>
    /// <returns>Elapsed time, requests done, bytes allocated by this thread during the measured run, and failures.</returns>
    public (TimeSpan Elapsed, long Requests, long AllocatedBytes, long Failed) Run(long requests, long warmup)
        => BenchRun.Measure(Loop, requests, warmup);

    /// <inheritdoc/>
    public void Dispose()
    {
        _driver.Dispose();
        _device.Dispose();
        _memory.Dispose();
    }

    private long Loop(long requests)
    {
        long done = 0, failed = 0;
        while (done < requests)
        {
            int n = (int)Math.Min(_depth, requests - done);
            for (int i = 0; i < n; i++)
            {
                _queue.Add(_readable[i], _writable[i], i);
            }

            _queue.Kick();
            while (_queue.TryGetBuffer(out int token, out _))
            {
                GuestSegment status = _writable[token][^1];
                failed += _memory.GetSpan(status.Address, 1)[0] != 0 ? 1 : 0;
                done++;
            }
        }

        return failed;
    }
}
