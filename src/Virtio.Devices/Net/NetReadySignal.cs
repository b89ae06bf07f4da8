using System.Threading.Tasks.Sources;

namespace Virtio.Devices.Net;

/// <summary>
/// An auto-reset signal with a single awaiter and no allocation per wait: a backend's receive loop waits on it after
/// the device refused a frame, and <see cref="INetBackend.ReceiveReady"/> sets it. A set with nobody waiting is kept,
/// so a signal that comes between the refusal and the wait is not lost; a stale one only causes one more retry.
/// </summary>
internal sealed class NetReadySignal : IValueTaskSource
{
    private readonly Lock _gate = new();
    private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
    private bool _set;
    private bool _waiting;

    /// <summary>Wakes the waiter, or the next wait when there is none. Cheap and non-blocking: callable under a device lock.</summary>
    public void Set()
    {
        lock (_gate)
        {
            if (!_waiting)
            {
                _set = true;
                return;
            }

            _waiting = false;
        }

        // Continuations run on the thread pool, never inline on the (locked) caller.
        _core.SetResult(true);
    }

    /// <summary>Completes at the next <see cref="Set"/>, or at once when one came since the last wait. One waiter at a time.</summary>
    public ValueTask WaitAsync()
    {
        lock (_gate)
        {
            if (_set)
            {
                _set = false;
                return ValueTask.CompletedTask;
            }

            _core.Reset();
            _waiting = true;
            return new ValueTask(this, _core.Version);
        }
    }

    void IValueTaskSource.GetResult(short token) => _core.GetResult(token);

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
