using System.Buffers.Binary;
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
    private const ulong DiskBytes = 1UL << 30;
    private readonly GuestMemory _memory;
    private readonly BlockDevice _device;
    private readonly VirtioMmioGuestDriver<int> _driver;
    private readonly DriverQueue<int> _queue;
    private readonly GuestSegment[][] _readable;
    private readonly GuestSegment[][] _writable;
    private readonly int _depth;

    /// <summary>Sets up guest RAM, the device and the driver, and pre-builds <paramref name="queueDepth"/> request buffers.</summary>
    /// <param name="rw">read, write, randread or randwrite.</param>
    /// <param name="blockSize">Bytes per request (a multiple of 512).</param>
    /// <param name="queueDepth">Requests in flight per kick.</param>
    /// <param name="seed">Seed of the random offsets.</param>
    public BlkBench(string rw, int blockSize, int queueDepth, int seed = 1)
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
        int ringSize = (int)Math.Max(64, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)queueDepth));
        _memory = GuestMemory.Create((64UL << 20) + (2 * (ulong)blockSize * (ulong)queueDepth));
        var backend = new MemoryBlockBackend(DiskBytes);
        _device = new BlockDevice(_memory, backend, new BlockDeviceOptions { Device = new VirtioDeviceOptions { QueueSize = ringSize } });
        var mmio = new VirtioMmioTransport(_device);
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
