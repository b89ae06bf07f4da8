using Virtio.Notifications;
using Virtio.Rings;

namespace Virtio.Testing;

/// <summary>
/// A driver on the test's thread and a device on a thread of its own, on one <see cref="RingHarness"/>, for real: the
/// device loop runs until <see cref="Dispose"/> stops it, its exception fails the test, and every sleep (the device's
/// on the kick notifier, the driver's on the call notifier) has a deadline that fails the test with the progress made,
/// instead of hanging it on a lost wake-up.
/// </summary>
public sealed class TwoThreadRing : IDisposable
{
    /// <summary>How long either side sleeps before it reports a lost wake-up.</summary>
    public const int WaitMs = 20_000;

    private readonly Thread _device;
    private Exception? _deviceError;
    private int _stop;

    /// <summary>Starts <paramref name="deviceLoop"/> on its own thread; it should return once <see cref="Stopping"/>.</summary>
    /// <param name="harness">The ring (the caller owns it).</param>
    /// <param name="sleep">Whether the driver kicks <see cref="KickChannel"/> (the device sleeps) or not (it polls).</param>
    /// <param name="deviceLoop">The device side.</param>
    public TwoThreadRing(RingHarness harness, bool sleep, Action<TwoThreadRing> deviceLoop)
    {
        Harness = harness;
        harness.Driver.KickChannel = sleep ? KickChannel : null;
        _device = new Thread(() =>
        {
            try
            {
                deviceLoop(this);
            }
            catch (Exception e)
            {
                _deviceError = e;
            }
        });
        _device.Start();
    }

    /// <summary>The ring.</summary>
    public RingHarness Harness { get; }

    /// <summary>The driver's kick channel when the device sleeps.</summary>
    public EventNotifier KickChannel { get; } = new();

    /// <summary>The device's call channel.</summary>
    public EventNotifier CallChannel { get; } = new();

    /// <summary>Whether the test asked the device loop to end.</summary>
    public bool Stopping => Volatile.Read(ref _stop) != 0;

    /// <summary>Driver side: fails the test (the driver's view and the device thread's exception) when either side broke.</summary>
    public void ThrowIfFailed()
    {
        Assert.False(Harness.Driver.IsBroken, Harness.Driver.Error?.Message);
        if (_deviceError is not null)
        {
            throw new InvalidOperationException("device thread failed", _deviceError);
        }
    }

    /// <summary>
    /// Driver side, with nothing used and nothing to add: enables callbacks through <paramref name="enable"/> (Linux's
    /// <c>virtqueue_enable_cb</c> or its delayed form) and, when that says to sleep, sleeps on the call notifier;
    /// then disables callbacks again.
    /// </summary>
    public void DriverSleep(Func<bool> enable, string progress)
    {
        if (enable())
        {
            Assert.True(CallChannel.Wait(WaitMs), $"driver slept {WaitMs} ms: lost interrupt ({progress})");
            CallChannel.TestAndClear();
        }

        Harness.Driver.DisableCallbacks();
    }

    /// <summary>
    /// Device side, after a round that found nothing: enables notifications and checks the ring once more (QEMU's
    /// <c>virtio_queue_set_notification</c> then <c>virtio_queue_empty</c>), and sleeps on the kick notifier only when
    /// it is still empty.
    /// </summary>
    public void DeviceSleep(SplitQueue queue, string progress)
    {
        if (!queue.EnableNotificationAndRecheck())
        {
            if (!KickChannel.Wait(WaitMs) && !Stopping)
            {
                throw new TimeoutException($"device slept {WaitMs} ms: lost kick ({progress})");
            }

            KickChannel.TestAndClear();
        }
    }

    /// <summary>
    /// Stops the device thread and fails the test if it does not end, or ended by an exception; then checks both sides
    /// agree nothing is outstanding.
    /// </summary>
    public void StopAndAssertDrained()
    {
        Dispose();
        Assert.Null(_deviceError);
        Assert.Equal(0, Harness.Driver.InFlight);
        Assert.Equal(0, Harness.Device.InUse);
    }

    /// <summary>Stops the device loop and waits for its thread (it fails the test if the thread does not end).</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _stop, 1) == 0)
        {
            KickChannel.Signal();
            Assert.True(_device.Join(WaitMs * 2), "the device thread did not end");
        }
    }
}
