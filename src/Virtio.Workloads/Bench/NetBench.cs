using System.Numerics;
using Microsoft.Extensions.Logging;
using Virtio.Device;
using Virtio.Devices.Net;
using Virtio.Driver;
using Virtio.Memory;
using Virtio.Transport;

namespace Virtio.Workloads.Bench;

/// <summary>
/// virtio-net frame throughput on one thread: a guest driver posts rx buffers and sends <c>batch</c> frames per tx kick
/// to a <see cref="VirtioNetDevice"/> on the loopback backend, through virtio-mmio, and reclaims both rings. Every frame
/// crosses the whole device: tx pop and gather, header check, backend, rx backlog, rx pop, placement, used rings.
/// </summary>
public sealed class NetBench : IDisposable
{
    /// <summary>Linux's mergeable rx buffer size.</summary>
    public const int MergeableBufferBytes = 1536;

    private readonly GuestMemory _memory;
    private readonly VirtioNetDevice _device;
    private readonly VirtioMmioGuestDriver<int> _driver;
    private readonly DriverQueue<int> _rx;
    private readonly DriverQueue<int> _tx;
    private readonly GuestSegment[] _rxBuffers;
    private readonly GuestSegment[] _txPackets;
    private readonly int _batch;
    private readonly int _perFrame;
    private readonly int _frameSize;
    private readonly bool _mergeable;
    private readonly bool _callbacks;

    /// <summary>Rx buffers one frame of <paramref name="frameSize"/> bytes takes: several 1536-byte ones with MRG_RXBUF, else one.</summary>
    public static int BuffersPerFrame(int frameSize, bool mergeable)
    {
        int packet = VirtioNetHeader.Size + frameSize;
        return mergeable ? (packet + MergeableBufferBytes - 1) / MergeableBufferBytes : 1;
    }

    /// <summary>Sets up guest RAM, the device and the driver, and pre-builds one batch of tx packets and rx buffers.</summary>
    /// <param name="frameSize">Ethernet frame bytes, without the 12-byte header: 14..65550.</param>
    /// <param name="mergeable">Negotiate MRG_RXBUF (1536-byte rx buffers, a frame spans as many as it needs); otherwise one rx buffer per frame.</param>
    /// <param name="batch">Frames per tx kick.</param>
    /// <param name="callbacks">
    /// Keep the guest driver's used-buffer callbacks on, as Linux does between NAPI polls: it then writes
    /// <c>used_event</c> and a full fence for every buffer it reclaims, and the device decides on an interrupt per
    /// handler run. Off (the default), the driver polls with callbacks disabled, as DPDK's virtio PMD does and Linux
    /// does while NAPI polls: a loop on one thread never waits for an interrupt.
    /// </param>
    /// <param name="loggerFactory">Where the device and its transport log (status changes, errors); nothing is logged when null.</param>
    public NetBench(int frameSize, bool mergeable, int batch = 32, bool callbacks = false, ILoggerFactory? loggerFactory = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(frameSize, VirtioNetDevice.MinFrameLength);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(frameSize, VirtioNetDevice.MaxFrameLength);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        _batch = batch;
        _frameSize = frameSize;
        _mergeable = mergeable;
        _callbacks = callbacks;
        int packet = VirtioNetHeader.Size + frameSize;
        int bufferBytes = mergeable ? MergeableBufferBytes : packet;
        _perFrame = BuffersPerFrame(frameSize, mergeable);
        int ringSize = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(64, batch * _perFrame));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ringSize, 32768, nameof(batch));
        _memory = GuestMemory.Create((16UL << 20) + ((ulong)ringSize * 64) + ((ulong)batch * (ulong)(packet + (_perFrame * bufferBytes))));
        _device = new VirtioNetDevice(
            _memory,
            new LoopbackNetBackend(),
            new VirtioNetDeviceOptions { MergeableRxBuffers = mergeable },
            new VirtioDeviceOptions { QueueSize = ringSize, LoggerFactory = loggerFactory });
        _driver = new VirtioMmioGuestDriver<int>(new VirtioMmioTransport(_device, loggerFactory), _memory, 0x10_0000, _memory.EndAddress - 0x10_0000);
        _driver.Probe(VirtioFeature.RingEventIdx | (mergeable ? NetFeature.MrgRxBuf : 0), _device.Queues.Count, ringSize);
        _rx = _driver.Queues[0];
        _tx = _driver.Queues[1];
        if (!callbacks)
        {
            _rx.DisableCallbacks();
            _tx.DisableCallbacks();
        }

        // One packet per batch slot: a zero header, then a frame to the device's own MAC (the loopback's receive filter accepts it).
        byte[] frame = new byte[packet];
        ReadOnlySpan<byte> mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
        mac.CopyTo(frame.AsSpan(VirtioNetHeader.Size));
        _txPackets = new GuestSegment[batch];
        for (int i = 0; i < batch; i++)
        {
            _txPackets[i] = new GuestSegment(_driver.Allocate((ulong)packet, 64), (uint)packet);
            frame.CopyTo(_memory.GetSpan(_txPackets[i].Address, packet));
        }

        _rxBuffers = new GuestSegment[batch * _perFrame];
        for (int i = 0; i < _rxBuffers.Length; i++)
        {
            _rxBuffers[i] = new GuestSegment(_driver.Allocate((ulong)bufferBytes, 64), (uint)bufferBytes);
        }
    }

    /// <summary>The device under test.</summary>
    public VirtioNetDevice Device => _device;

    /// <summary>
    /// Checks that one batch of rx buffers fits a ring, as <c>virtio bench net</c> takes its options.
    /// </summary>
    /// <returns>Why it will not, naming the options, or null.</returns>
    public static string? Validate(int frameSize, bool mergeable, int batch)
    {
        int buffersPerBatch = batch * BuffersPerFrame(frameSize, mergeable);
        return buffersPerBatch > Virtio.Rings.SplitRing.MaxQueueSize
            ? $"--batch {batch} with --frame-size {frameSize}: {buffersPerBatch} rx buffers per batch, more than a ring of {Virtio.Rings.SplitRing.MaxQueueSize} holds; lower --batch"
            : null;
    }

    /// <summary>Runs <paramref name="frames"/> frames after <paramref name="warmup"/> unmeasured ones, and reports them with the kicks per frame.</summary>
    public NetBenchReport Measure(long frames, long warmup)
    {
        var (elapsed, done, allocated, failed) = Run(frames, warmup);
        return new NetBenchReport(_frameSize, _mergeable, _batch, _callbacks, done, elapsed, allocated, failed, RxKicks, TxKicks);
    }

    /// <summary>Runs <paramref name="frames"/> frames (after <paramref name="warmup"/> unmeasured ones).</summary>
    /// <returns>
    /// Elapsed time, frames sent, bytes allocated by this thread during the measured run, and failures (frames that
    /// did not come back, or came back in the wrong number of buffers).
    /// </returns>
    public (TimeSpan Elapsed, long Frames, long AllocatedBytes, long Failed) Run(long frames, long warmup)
    {
        Loop(warmup);
        long rx = _rx.KicksSent, tx = _tx.KicksSent;
        var result = BenchRun.Measure(Loop, frames, 0);
        RxKicks = _rx.KicksSent - rx;
        TxKicks = _tx.KicksSent - tx;
        return result;
    }

    /// <summary>Kicks the guest driver sent on the rx queue during the last measured <see cref="Run"/> (refills the device asked to hear of).</summary>
    public long RxKicks { get; private set; }

    /// <summary>Kicks the guest driver sent on the tx queue during the last measured <see cref="Run"/>.</summary>
    public long TxKicks { get; private set; }

    /// <inheritdoc/>
    public void Dispose()
    {
        _driver.Dispose();
        _device.Dispose();
        _memory.Dispose();
    }

    private long Loop(long frames)
    {
        long done = 0, failed = 0;
        while (done < frames)
        {
            int n = (int)Math.Min(_batch, frames - done);
            failed += RunBatch(n);
            done += n;
        }

        return failed;
    }

    /// <summary>
    /// One batch: post the rx buffers, send <paramref name="n"/> frames, reclaim both rings. A method of its own so
    /// the JIT tiers it up as a whole instead of patching a long-running loop (on-stack replacement code was slower).
    /// </summary>
    /// <returns>Frames that failed: <paramref name="n"/> when a frame or rx buffer did not come back, else 0.</returns>
    private int RunBatch(int n)
    {
        for (int i = 0; i < n * _perFrame; i++)
        {
            _rx.Add(ReadOnlySpan<GuestSegment>.Empty, _rxBuffers.AsSpan(i, 1), i);
        }

        _rx.Kick();
        for (int i = 0; i < n; i++)
        {
            _tx.Add(_txPackets.AsSpan(i, 1), ReadOnlySpan<GuestSegment>.Empty, i);
        }

        _tx.Kick();
        int sent = 0, buffers = 0;
        while (_tx.TryGetBuffer(out _, out _))
        {
            sent++;
        }

        while (_rx.TryGetBuffer(out _, out _))
        {
            buffers++;
        }

        return sent == n && buffers == n * _perFrame ? 0 : n;
    }
}
