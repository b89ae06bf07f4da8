using Virtio.Devices.Net;

namespace Virtio.Devices.Tests.Net;

/// <summary>
/// A device's receive side for backend tests: records every frame it takes, can refuse frames the way a full backlog
/// does (and then calls <see cref="INetBackend.ReceiveReady"/> the way the device does once it has room), and counts
/// the backend's <see cref="TransmitReady"/> calls.
/// </summary>
internal sealed class RecordingFrameSink : INetFrameSink
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly object _gate = new();
    private readonly List<byte[]> _frames = [];
    private readonly List<(int Count, TaskCompletionSource Done)> _waiters = [];
    private readonly TaskCompletionSource _firstRefusal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _nextTransmitReady = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _refuseNext;
    private bool _blocked;
    private int _refusals;
    private int _dropsOffered;
    private int _transmitReadyCalls;

    /// <summary>The backend to wake after a refusal; the test sets it once the backend is built.</summary>
    public INetBackend? Backend { get; set; }

    /// <summary>False to skip copying frames (counts only), for floods whose content is checked on the fly.</summary>
    public bool Record { get; init; } = true;

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _frames.Count;
            }
        }
    }

    public int Refusals => Volatile.Read(ref _refusals);

    public int TransmitReadyCalls => Volatile.Read(ref _transmitReadyCalls);

    /// <summary>Frames offered through the dropping <see cref="Receive"/> (backends that must not drop use TryReceive).</summary>
    public int DropsOffered => Volatile.Read(ref _dropsOffered);

    public Task FirstRefusal => _firstRefusal.Task;

    public IReadOnlyList<byte[]> Frames
    {
        get
        {
            lock (_gate)
            {
                return [.. _frames];
            }
        }
    }

    /// <summary>Refuses the next <paramref name="count"/> offers, signalling ReceiveReady from the thread pool after each.</summary>
    public void RefuseNext(int count)
    {
        lock (_gate)
        {
            _refuseNext = count;
        }
    }

    /// <summary>Refuses every offer, without signalling, until <see cref="Unblock"/>: a device whose driver posts no rx buffers.</summary>
    public void Block()
    {
        lock (_gate)
        {
            _blocked = true;
        }
    }

    public void Unblock()
    {
        lock (_gate)
        {
            _blocked = false;
        }

        Backend!.ReceiveReady();
    }

    public Task WaitForFramesAsync(int count)
    {
        lock (_gate)
        {
            if (_frames.Count >= count)
            {
                return Task.CompletedTask;
            }

            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((count, done));
            return done.Task.WaitAsync(Timeout);
        }
    }

    /// <summary>
    /// Completes at the first TransmitReady after it was read (the device kicks every tx queue then): read it before
    /// Transmit, await it after Busy, and no wake-up can be missed.
    /// </summary>
    public Task NextTransmitReady => Volatile.Read(ref _nextTransmitReady).Task;

    public NetReceiveResult Receive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        Interlocked.Increment(ref _dropsOffered);
        return TryReceive(queuePair, header, frame) ? NetReceiveResult.Accepted : NetReceiveResult.Dropped;
    }

    public bool TryReceive(int queuePair, in VirtioNetHeader header, ReadOnlySpan<byte> frame)
    {
        Assert.Equal(0, queuePair);
        Assert.Equal(default, header);
        bool signal = false;
        lock (_gate)
        {
            if (_blocked || _refuseNext > 0)
            {
                signal = !_blocked;
                _refuseNext -= signal ? 1 : 0;
                _refusals++;
            }
            else
            {
                _frames.Add(Record ? frame.ToArray() : []);
                _waiters.RemoveAll(w =>
                {
                    bool reached = _frames.Count >= w.Count;
                    if (reached)
                    {
                        w.Done.TrySetResult();
                    }

                    return reached;
                });
                return true;
            }
        }

        _firstRefusal.TrySetResult();
        if (signal)
        {
            // The device calls ReceiveReady later, from its rx handler: here possibly before the backend starts waiting.
            INetBackend backend = Backend!;
            ThreadPool.QueueUserWorkItem(_ => backend.ReceiveReady());
        }

        return false;
    }

    public void TransmitReady()
    {
        Interlocked.Increment(ref _transmitReadyCalls);
        Interlocked.Exchange(ref _nextTransmitReady, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }
}
